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

#include <sodium.h>

#include "limiter_impl.h"
#include "tenantguard/keyring.h"

#define IP_TEXT_MAX 64

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

void tg__lkey_digest(const struct tg_limiter *lim, int kind, const tg__largs *a,
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
        memcpy(buf + n, a->ip, a->ip_len);
        n += a->ip_len;
        break;
    }
    crypto_shorthash_siphashx24(out, buf, n, lim->hash_key);
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
