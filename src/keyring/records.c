/* records.c - keyring store keys, record encodings, wrap associated data. */
#include <string.h>

#include <sodium.h>

#include "../core/core.h"
#include "records.h"

size_t tg__kr_key(uint8_t *out, int kind, const char *ws, size_t ws_len, const uint8_t *suffix,
                  size_t suffix_len)
{
    out[0] = TG__KR_TAG;
    out[1] = (uint8_t)kind;
    out[2] = (uint8_t)ws_len;
    memcpy(out + 3, ws, ws_len);
    if (suffix_len)
        memcpy(out + 3 + ws_len, suffix, suffix_len);
    return 3 + ws_len + suffix_len;
}

size_t tg__kr_version_key(uint8_t *out, const char *ws, size_t ws_len, uint32_t version)
{
    uint8_t v[4];
    tg__put_u32(v, version);
    return tg__kr_key(out, TG__KR_VERSION, ws, ws_len, v, sizeof v);
}

static int bad_format(const char *what, const char *ws, uint8_t format)
{
    return tg__error(TG_EVERSION, "keyring: the store holds a keyring record newer than this "
                                  "library: the %s record of workspace '%s' has record format "
                                  "%u (this library knows %d)",
                     what, ws, format, TG__KR_RECORD_FORMAT);
}

static int corrupt(const char *what, const char *ws)
{
    return tg__error(TG_ESTORE, "keyring: %s record of workspace '%s' is corrupt", what, ws);
}

/* ---- workspace record: format, state, primary u32, created u64, u16 len, wrapped ---- */

size_t tg__ws_rec_encode(uint8_t *out, const tg__ws_rec *r)
{
    out[0] = TG__KR_RECORD_FORMAT;
    out[1] = r->state;
    tg__put_u32(out + 2, r->primary);
    tg__put_u64(out + 6, r->created_ms);
    out[14] = (uint8_t)(r->wrapped_len >> 8);
    out[15] = (uint8_t)r->wrapped_len;
    memcpy(out + 16, r->wrapped, r->wrapped_len);
    return 16 + r->wrapped_len;
}

int tg__ws_rec_decode(tg__ws_rec *r, const uint8_t *v, size_t n, const char *ws)
{
    if (n >= 1 && v[0] != TG__KR_RECORD_FORMAT)
        return bad_format("workspace", ws, v[0]);
    if (n < 16)
        return corrupt("workspace", ws);
    r->state = v[1];
    r->primary = tg__get_u32(v + 2);
    r->created_ms = tg__get_u64(v + 6);
    r->wrapped_len = (size_t)v[14] << 8 | v[15];
    if (r->wrapped_len != n - 16 || r->wrapped_len > TG_KMS_WRAPPED_MAX || r->primary == 0 ||
        (r->state == TG__WS_ACTIVE ? r->wrapped_len == 0
                                   : r->state != TG__WS_SHREDDED || r->wrapped_len != 0))
        return corrupt("workspace", ws);
    memcpy(r->wrapped, v + 16, r->wrapped_len);
    return TG_OK;
}

/* ---- version record: format, state, created u64, u16 len, wrapped ---- */

size_t tg__ver_rec_encode(uint8_t *out, const tg__ver_rec *r)
{
    out[0] = TG__KR_RECORD_FORMAT;
    out[1] = r->state;
    tg__put_u64(out + 2, r->created_ms);
    out[10] = (uint8_t)(r->wrapped_len >> 8);
    out[11] = (uint8_t)r->wrapped_len;
    memcpy(out + 12, r->wrapped, r->wrapped_len);
    return 12 + r->wrapped_len;
}

int tg__ver_rec_decode(tg__ver_rec *r, const uint8_t *v, size_t n, const char *ws)
{
    if (n >= 1 && v[0] != TG__KR_RECORD_FORMAT)
        return bad_format("key version", ws, v[0]);
    if (n < 12)
        return corrupt("key version", ws);
    r->state = v[1];
    r->created_ms = tg__get_u64(v + 2);
    r->wrapped_len = (size_t)v[10] << 8 | v[11];
    if (r->wrapped_len != n - 12 || r->wrapped_len > TG_KMS_WRAPPED_MAX ||
        (r->state == TG__VER_ACTIVE ? r->wrapped_len == 0
                                    : r->state != TG__VER_RETIRED || r->wrapped_len != 0))
        return corrupt("key version", ws);
    memcpy(r->wrapped, v + 12, r->wrapped_len);
    return TG_OK;
}

/* ---- subject key record: format, state, version u32, u16 len, wrapped ---- */

size_t tg__subj_rec_encode(uint8_t *out, const tg__subj_rec *r)
{
    out[0] = TG__KR_RECORD_FORMAT;
    out[1] = r->state;
    tg__put_u32(out + 2, r->version);
    out[6] = (uint8_t)(r->wrapped_len >> 8);
    out[7] = (uint8_t)r->wrapped_len;
    memcpy(out + 8, r->wrapped, r->wrapped_len);
    return 8 + r->wrapped_len;
}

int tg__subj_rec_decode(tg__subj_rec *r, const uint8_t *v, size_t n, const char *ws)
{
    if (n >= 1 && v[0] != TG__KR_RECORD_FORMAT)
        return bad_format("subject key", ws, v[0]);
    if (n < 8)
        return corrupt("subject key", ws);
    r->state = v[1];
    r->version = tg__get_u32(v + 2);
    r->wrapped_len = (size_t)v[6] << 8 | v[7];
    if (r->wrapped_len != n - 8 ||
        (r->state == TG__SUBJ_LIVE ? r->wrapped_len != TG__SUBJ_WRAPPED_BYTES || r->version == 0
                                   : r->state != TG__SUBJ_SHREDDED || r->wrapped_len != 0))
        return corrupt("subject key", ws);
    memcpy(r->wrapped, v + 8, r->wrapped_len);
    return TG_OK;
}

/* ---- associated data ---- */

static size_t ad_start(uint8_t *ad, const char *label, const char *ws, size_t ws_len)
{
    size_t n = strlen(label);
    memcpy(ad, label, n);
    ad[n++] = (uint8_t)ws_len;
    memcpy(ad + n, ws, ws_len);
    return n + ws_len;
}

size_t tg__ad_ws_key(uint8_t *ad, const char *ws, size_t ws_len, uint32_t version)
{
    size_t n = ad_start(ad, "tenantguard/wskey/v1", ws, ws_len);
    tg__put_u32(ad + n, version);
    return n + 4;
}

size_t tg__ad_index_key(uint8_t *ad, const char *ws, size_t ws_len)
{
    return ad_start(ad, "tenantguard/wsindex/v1", ws, ws_len);
}

size_t tg__ad_subject(uint8_t *ad, const char *ws, size_t ws_len,
                      const uint8_t keyid[TG__KR_ID_BYTES], uint32_t version)
{
    size_t n = ad_start(ad, "tenantguard/subject/v1", ws, ws_len);
    memcpy(ad + n, keyid, TG__KR_ID_BYTES);
    n += TG__KR_ID_BYTES;
    tg__put_u32(ad + n, version);
    return n + 4;
}

/* ---- subject keys under workspace keys ---- */

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

void tg__subject_wrap(uint8_t out[TG__SUBJ_WRAPPED_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                      const uint8_t *ad, size_t ad_len, const uint8_t key[TG_KEY_BYTES])
{
    randombytes_buf(out, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, key, TG_KEY_BYTES, ad,
                                               ad_len, NULL, out, ws_key);
}

int tg__subject_unwrap(uint8_t key[TG_KEY_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                       const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                       size_t wrapped_len)
{
    if (wrapped_len != TG__SUBJ_WRAPPED_BYTES ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped + NONCE_BYTES,
                                                   wrapped_len - NONCE_BYTES, ad, ad_len, wrapped,
                                                   ws_key) != 0)
        return TG_EAUTH;
    return TG_OK;
}

void tg__subject_tag(uint8_t tag[TG__KR_ID_BYTES], const uint8_t index_key[TG_KEY_BYTES],
                     const char *subject, size_t subject_len)
{
    crypto_generichash(tag, TG__KR_ID_BYTES, (const uint8_t *)subject, subject_len, index_key,
                       TG_KEY_BYTES);
}
