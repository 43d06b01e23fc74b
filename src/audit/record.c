/*
 * record.c - the byte formats of records, checkpoints and store keys, and
 * the canonical forms of what goes into a record (network, details).
 *
 * A record is encoded as (big-endian):
 *   u8 format (1) | u64 seq | i64 time_ms | u16 action | u8 outcome |
 *   u8 severity | u32 tags | 32 prev | u8 target_is_pseudonym |
 *   L chain | L actor | L network | L target | L details
 * where L is a u16 length and the bytes. Its hash is BLAKE2b-256 of those
 * bytes: the stored value is exactly what is hashed.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_impl.h"

static size_t put_lp(uint8_t *out, const char *s, size_t n)
{
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    if (n)
        memcpy(out + 2, s, n);
    return 2 + n;
}

size_t tg__audit_key(uint8_t *out, enum tg__audit_kind kind, const char *chain,
                     size_t chain_len, const uint8_t *tail, size_t tail_len)
{
    size_t n = 0;
    out[n++] = 'A';
    out[n++] = (uint8_t)kind;
    if (kind == TG__AK_SECRET)
        return n;
    n += put_lp(out + n, chain, chain_len);
    if (tail_len)
        memcpy(out + n, tail, tail_len);
    return n + tail_len;
}

size_t tg__audit_seq_key(uint8_t *out, enum tg__audit_kind kind, const char *chain,
                         size_t chain_len, uint64_t seq)
{
    uint8_t be[8];
    tg__put_u64(be, seq);
    return tg__audit_key(out, kind, chain, chain_len, be, 8);
}

#define FIXED (1 + 8 + 8 + 2 + 1 + 1 + 4 + TG_AUDIT_HASH_BYTES + 1)
_Static_assert(FIXED + 5 * 2 + TG_ID_MAX + TG__AUDIT_ACTOR_MAX + TG__AUDIT_NETWORK_MAX +
                       TG_AUDIT_TARGET_MAX + TG_AUDIT_DETAILS_MAX ==
                   TG__AUDIT_RECORD_MAX,
               "TG__AUDIT_RECORD_MAX matches the format");

size_t tg__audit_record_size(const tg__audit_record *r)
{
    return FIXED + 2 * 5 + r->chain_len + r->actor_len + r->network_len + r->target_len +
           r->details_len;
}

void tg__audit_record_encode(uint8_t *out, const tg__audit_record *r)
{
    size_t n = 0;
    out[n++] = TG__AUDIT_FORMAT;
    tg__put_u64(out + n, r->seq), n += 8;
    tg__put_u64(out + n, (uint64_t)r->time_ms), n += 8;
    out[n++] = (uint8_t)(r->action >> 8);
    out[n++] = (uint8_t)r->action;
    out[n++] = (uint8_t)r->outcome;
    out[n++] = (uint8_t)r->severity;
    tg__put_u32(out + n, r->tags), n += 4;
    memcpy(out + n, r->prev, TG_AUDIT_HASH_BYTES), n += TG_AUDIT_HASH_BYTES;
    out[n++] = r->target_is_pseudonym;
    n += put_lp(out + n, r->chain, r->chain_len);
    n += put_lp(out + n, r->actor, r->actor_len);
    n += put_lp(out + n, r->network, r->network_len);
    n += put_lp(out + n, r->target, r->target_len);
    put_lp(out + n, r->details, r->details_len);
}

/* Reads an L field; false if it runs past the end or over `max`. */
static bool get_lp(const uint8_t *in, size_t len, size_t *at, const char **s, size_t *n,
                   size_t max)
{
    if (len - *at < 2)
        return false;
    size_t l = (size_t)in[*at] << 8 | in[*at + 1];
    if (l > max || len - *at - 2 < l)
        return false;
    *s = (const char *)in + *at + 2;
    *n = l;
    *at += 2 + l;
    return true;
}

int tg__audit_record_decode(tg__audit_record *r, const uint8_t *in, size_t len)
{
    memset(r, 0, sizeof *r);
    if (len < FIXED || in[0] != TG__AUDIT_FORMAT)
        return TG_EFORMAT;
    size_t n = 1;
    r->seq = tg__get_u64(in + n), n += 8;
    r->time_ms = (int64_t)tg__get_u64(in + n), n += 8;
    r->action = in[n] << 8 | in[n + 1], n += 2;
    r->outcome = in[n++];
    r->severity = in[n++];
    r->tags = tg__get_u32(in + n), n += 4;
    memcpy(r->prev, in + n, TG_AUDIT_HASH_BYTES), n += TG_AUDIT_HASH_BYTES;
    if (in[n] > 1)
        return TG_EFORMAT;
    r->target_is_pseudonym = in[n++];
    if (!get_lp(in, len, &n, &r->chain, &r->chain_len, TG_ID_MAX) ||
        !get_lp(in, len, &n, &r->actor, &r->actor_len, TG__AUDIT_ACTOR_MAX) ||
        !get_lp(in, len, &n, &r->network, &r->network_len, TG__AUDIT_NETWORK_MAX) ||
        !get_lp(in, len, &n, &r->target, &r->target_len, TG_AUDIT_TARGET_MAX) ||
        !get_lp(in, len, &n, &r->details, &r->details_len, TG_AUDIT_DETAILS_MAX) || n != len)
        return TG_EFORMAT;
    if (!tg_audit_action_name(r->action) || !tg_audit_outcome_name(r->outcome) ||
        !tg_audit_severity_name(r->severity) || (r->tags & ~TG_AUDIT_TAGS_ALL) || r->seq == 0)
        return TG_EFORMAT;
    return TG_OK;
}

void tg__audit_hash(uint8_t out[TG_AUDIT_HASH_BYTES], const uint8_t *encoded, size_t len)
{
    crypto_generichash(out, TG_AUDIT_HASH_BYTES, encoded, len, NULL, 0);
}

void tg__audit_checkpoint_encode(uint8_t out[TG__AUDIT_CHECKPOINT_BYTES],
                                 const tg__audit_checkpoint *c)
{
    out[0] = TG__AUDIT_FORMAT;
    tg__put_u64(out + 1, c->seq);
    tg__put_u64(out + 9, (uint64_t)c->time_ms);
    memcpy(out + 17, c->hash, TG_AUDIT_HASH_BYTES);
    memcpy(out + 17 + TG_AUDIT_HASH_BYTES, c->sig, TG__AUDIT_SIG_BYTES);
}

int tg__audit_checkpoint_decode(tg__audit_checkpoint *c, const uint8_t *in, size_t len)
{
    if (len != TG__AUDIT_CHECKPOINT_BYTES || in[0] != TG__AUDIT_FORMAT)
        return TG_EFORMAT;
    c->seq = tg__get_u64(in + 1);
    c->time_ms = (int64_t)tg__get_u64(in + 9);
    memcpy(c->hash, in + 17, TG_AUDIT_HASH_BYTES);
    memcpy(c->sig, in + 17 + TG_AUDIT_HASH_BYTES, TG__AUDIT_SIG_BYTES);
    return c->seq ? TG_OK : TG_EFORMAT;
}

size_t tg__audit_checkpoint_message(uint8_t *out, const char *chain, size_t chain_len,
                                    const tg__audit_checkpoint *c)
{
    static const char domain[32] = "tenantguard/audit-checkpoint/v1";
    size_t n = 0;
    memcpy(out, domain, sizeof domain), n += sizeof domain;
    n += put_lp(out + n, chain, chain_len);
    tg__put_u64(out + n, c->seq), n += 8;
    tg__put_u64(out + n, (uint64_t)c->time_ms), n += 8;
    memcpy(out + n, c->hash, TG_AUDIT_HASH_BYTES);
    return n + TG_AUDIT_HASH_BYTES;
}

bool tg__audit_checkpoint_valid(const uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES], const char *chain,
                                size_t chain_len, const tg__audit_checkpoint *c)
{
    uint8_t msg[TG__AUDIT_SIGNED_MAX];
    size_t n = tg__audit_checkpoint_message(msg, chain, chain_len, c);
    return crypto_sign_verify_detached(c->sig, msg, n, pk) == 0;
}

void tg__audit_hex(char *out, const uint8_t *in, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}

int tg__audit_network(char *out, const char *ip)
{
    uint8_t addr[16];
    char text[INET6_ADDRSTRLEN];
    if (strlen(ip) < sizeof text && inet_pton(AF_INET, ip, addr) == 1) {
        /* "a.b.c.0/24", written by hand: this runs on every append */
        size_t n = 0;
        for (int k = 0; k < 3; k++) {
            unsigned v = addr[k];
            if (v >= 100)
                out[n++] = (char)('0' + v / 100);
            if (v >= 10)
                out[n++] = (char)('0' + v / 10 % 10);
            out[n++] = (char)('0' + v % 10);
            out[n++] = '.';
        }
        memcpy(out + n, "0/24", 5);
        return TG_OK;
    }
    if (strlen(ip) < sizeof text && inet_pton(AF_INET6, ip, addr) == 1) {
        /* An IPv4 address inside IPv6 (mapped ::ffff:a.b.c.d, compatible
         * ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) is cut as the IPv4 it is, and
         * 6to4 (2002:aabb:ccdd::) keeps only its IPv4 /24: a /48 would keep
         * the whole IPv4 address of the client. */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
        static const uint8_t zero[12] = {0};
        int bits = 48;
        if (memcmp(addr, mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0 ||
            (memcmp(addr, zero, 12) == 0 && addr[12])) {
            char v4[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, addr + 12, v4, sizeof v4);
            return tg__audit_network(out, v4);
        }
        if (addr[0] == 0x20 && addr[1] == 0x02)
            bits = 40; /* 2002: then the IPv4 address's first three bytes */
        memset(addr + bits / 8, 0, 16 - (size_t)bits / 8);
        inet_ntop(AF_INET6, addr, text, sizeof text);
        snprintf(out, TG__AUDIT_NETWORK_MAX + 1, "%s/%d", text, bits);
        return TG_OK;
    }
    return tg__error(TG_EINVAL, "audit: actor_ip is not an IPv4 or IPv6 address");
}

int tg__audit_details_check(const char *text, size_t len)
{
    if (len > TG_AUDIT_DETAILS_MAX)
        return tg__error(TG_EINVAL, "audit: details of %zu bytes; at most %d", len,
                         TG_AUDIT_DETAILS_MAX);
    if (!tg__utf8_valid((const uint8_t *)text, len))
        return tg__error(TG_EINVAL, "audit: details are not valid UTF-8");
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, false);
    while (json && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' ||
                                        *end == '\r'))
        end++;
    bool object = json && cJSON_IsObject(json) && end == text + len;
    cJSON_Delete(json); /* "{} and more" is not an object either */
    if (!object)
        return tg__error(TG_EINVAL, "audit: details must be one JSON object");
    return TG_OK;
}
