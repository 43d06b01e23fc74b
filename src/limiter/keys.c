/*
 * keys.c - a check's identifiers: validation, the digest that finds an
 * entry, and the stable key that names it to a shared backend.
 *
 * Digest input (SipHash-128 under the context's random key):
 *   user:      'u' | len(ws) (1 byte) | ws | user
 *   workspace: 'w' | ws
 *   IP:        'i' | 4 or 16 address bytes
 * Backend keys (the same on every instance, readable in Redis):
 *   "tg:rl:g", "tg:rl:w:" ws, "tg:rl:u:" len(ws) ":" ws ":" user (the
 *   length makes it unambiguous: identifiers may contain ':'), and
 *   "tg:rl:i:" + the address in canonical text (inet_ntop).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "limiter_impl.h"
#include "tenantguard/keyring.h"

#define IP_TEXT_MAX 64

#if defined(__GNUC__)
#define tg__attr_always_inline __attribute__((always_inline))
#else
#define tg__attr_always_inline
#endif

int tg__largs_ws(tg__largs *a, const char *ws)
{
    a->ws = ws;
    return tg__check_id("limiter: workspace_id", ws, &a->ws_len);
}

int tg__largs_user(tg__largs *a, const char *user)
{
    a->user = user;
    return tg__check_id("limiter: user_id", user, &a->user_len);
}

bool tg__parse_ipv4(const char *s, uint8_t out[4])
{
    for (int part = 0; part < 4; part++) {
        /* Each digit is read only if the one before it was a digit, so
         * nothing past the terminating NUL is read. */
        unsigned v = (unsigned)(unsigned char)s[0] - '0';
        if (v > 9)
            return false;
        s++;
        unsigned d = (unsigned)(unsigned char)*s - '0';
        if (d <= 9 && v != 0) { /* no leading zeros, as inet_pton */
            v = v * 10 + d;
            d = (unsigned)(unsigned char)*++s - '0';
            if (d <= 9) {
                v = v * 10 + d;
                s++;
            }
        }
        if (v > 255)
            return false;
        out[part] = (uint8_t)v;
        if (*s++ != (part < 3 ? '.' : '\0'))
            return false;
    }
    return true;
}

int tg__largs_ip(tg__largs *a, const char *ip)
{
    if (!ip)
        return tg__error(TG_EINVAL, "limiter: ip is NULL");
    if (tg__parse_ipv4(ip, a->ip)) { /* the common case, without inet_pton */
        a->ip_len = 4;
        return TG_OK;
    }
    size_t len = strnlen(ip, IP_TEXT_MAX);
    if (len == 0)
        return tg__error(TG_EINVAL, "limiter: ip is empty");
    if (len >= IP_TEXT_MAX)
        return tg__error(TG_EINVAL, "limiter: ip is longer than %d bytes", IP_TEXT_MAX - 1);
    bool v6 = memchr(ip, ':', len) != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, a->ip) != 1)
        return tg__error(TG_EINVAL, "limiter: ip is not a textual IPv%c address", v6 ? '6' : '4');
    a->ip_len = v6 ? 16 : 4;
    return TG_OK;
}

/* memcpy for the short identifiers of a check, without a library call:
 * `dst` has room for 8 bytes more than len (words may overlap). */
static inline void copy_id(uint8_t *dst, const char *src, size_t len)
{
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            memcpy(dst + i, src + i, 8);
        if (i < len)
            memcpy(dst + len - 8, src + len - 8, 8);
    } else if (len >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + len - 4, src + len - 4, 4);
    } else {
        for (size_t i = 0; i < len; i++)
            dst[i] = (uint8_t)src[i];
    }
}

/* A little-endian 64-bit word at p. */
static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                  \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                     \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                     \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                  \
    } while (0)

/*
 * SipHash-2-4 with a 128-bit output: exactly libsodium's
 * crypto_shorthash_siphashx24 (a unit test compares them), inline and
 * without its byte-at-a-time tail. `in` holds `len` bytes followed by at
 * least 8 zero bytes, so the last block is one word load.
 */
tg__attr_always_inline
static inline void siphash128(uint8_t out[16], const uint8_t *in, size_t len, const uint8_t key[16])
{
    const uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL ^ 0xee,
             v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    const uint8_t *end = in + (len & ~(size_t)7);
    for (; in != end; in += 8) {
        uint64_t m = le64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56 | le64(in); /* the bytes past `len` are zero */
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xee;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    put_le64(out, v0 ^ v1 ^ v2 ^ v3);
    v1 ^= 0xdd;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    put_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

void tg__lkey_siphash128(uint8_t out[16], const uint8_t *in, size_t len, const uint8_t key[16])
{
    uint8_t buf[2 * TG_ID_MAX + 2 + 8];
    if (len > sizeof buf - 8)
        len = sizeof buf - 8;
    memcpy(buf, in, len);
    memset(buf + len, 0, 8);
    siphash128(out, buf, len, key);
}

tg__attr_always_inline
static inline void lkey_digest(const struct tg_limiter *lim, int kind, const tg__largs *a,
                               uint8_t out[TG__LDIGEST])
{
    uint8_t buf[2 + 2 * TG_ID_MAX + 8];
    size_t n = 0;
    switch (kind) {
    case TG_LIMIT_USER:
        buf[n++] = 'u';
        buf[n++] = (uint8_t)a->ws_len;
        copy_id(buf + n, a->ws, a->ws_len);
        n += a->ws_len;
        copy_id(buf + n, a->user, a->user_len);
        n += a->user_len;
        break;
    case TG_LIMIT_WORKSPACE:
        buf[n++] = 'w';
        copy_id(buf + n, a->ws, a->ws_len);
        n += a->ws_len;
        break;
    default: /* TG_LIMIT_IP */
        buf[n++] = 'i';
        memcpy(buf + n, a->ip, 16);
        n += a->ip_len;
        break;
    }
    memset(buf + n, 0, 8);
    siphash128(out, buf, n, lim->hash_key);
}

void tg__lkey_digest(const struct tg_limiter *lim, int kind, const tg__largs *a,
                     uint8_t out[TG__LDIGEST])
{
    lkey_digest(lim, kind, a, out);
}

static size_t put(uint8_t *out, size_t n, const void *p, size_t len)
{
    memcpy(out + n, p, len);
    return n + len;
}

size_t tg__lkey_backend(int kind, const tg__largs *a, uint8_t out[TG__LKEY_MAX])
{
    size_t n = put(out, 0, "tg:rl:", 6);
    switch (kind) {
    case TG_LIMIT_USER: {
        char len[8];
        int m = snprintf(len, sizeof len, "u:%zu:", a->ws_len);
        n = put(out, n, len, (size_t)m);
        n = put(out, n, a->ws, a->ws_len);
        n = put(out, n, ":", 1);
        return put(out, n, a->user, a->user_len);
    }
    case TG_LIMIT_WORKSPACE:
        n = put(out, n, "w:", 2);
        return put(out, n, a->ws, a->ws_len);
    case TG_LIMIT_IP: {
        char text[INET6_ADDRSTRLEN];
        if (!inet_ntop(a->ip_len == 16 ? AF_INET6 : AF_INET, a->ip, text, sizeof text))
            text[0] = '\0'; /* cannot happen for a parsed address */
        n = put(out, n, "i:", 2);
        return put(out, n, text, strlen(text));
    }
    default:
        return put(out, n, "g", 1);
    }
}
