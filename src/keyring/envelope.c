/* envelope.c - envelope format v1: header, fingerprint, AD, seal and open. */
#include <string.h>

#include <sodium.h>

#include "../core/core.h"
#include "envelope.h"

static const char FP_LABEL[] = "tenantguard/wsfp/v1";
static const char MSGKEY_LABEL[] = "tenantguard/msgkey/v1";
#define FP_LABEL_LEN (sizeof FP_LABEL - 1)
#define MSGKEY_LABEL_LEN (sizeof MSGKEY_LABEL - 1)

void tg__env_fingerprint(uint8_t fp[TG__ENV_FP_BYTES], const char *ws, size_t ws_len)
{
    uint8_t msg[FP_LABEL_LEN + TG_ID_MAX];
    uint8_t digest[crypto_generichash_BYTES];
    memcpy(msg, FP_LABEL, FP_LABEL_LEN);
    memcpy(msg + FP_LABEL_LEN, ws, ws_len);
    crypto_generichash(digest, sizeof digest, msg, FP_LABEL_LEN + ws_len, NULL, 0);
    memcpy(fp, digest, TG__ENV_FP_BYTES);
}

void tg__env_message_key(uint8_t mk[TG_KEY_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                         const uint8_t subject_key[TG_KEY_BYTES])
{
    uint8_t msg[MSGKEY_LABEL_LEN + TG_KEY_BYTES];
    memcpy(msg, MSGKEY_LABEL, MSGKEY_LABEL_LEN);
    memcpy(msg + MSGKEY_LABEL_LEN, subject_key, TG_KEY_BYTES);
    crypto_generichash(mk, TG_KEY_BYTES, msg, sizeof msg, ws_key, TG_KEY_BYTES);
    sodium_memzero(msg, sizeof msg);
}

int tg__env_parse(tg__env_header *h, const uint8_t *env, size_t env_len)
{
    if (env_len < TG_ENVELOPE_OVERHEAD)
        return tg__error(TG_EFORMAT, "keyring: envelope is truncated (%zu bytes, at least %d needed)",
                         env_len, TG_ENVELOPE_OVERHEAD);
    if (env[0] != 'T' || env[1] != 'G')
        return tg__error(TG_EFORMAT, "keyring: not a tenantguard envelope (bad magic)");
    if (env[TG__ENV_OFF_FORMAT] != TG__ENV_FORMAT_V1)
        return tg__error(TG_EVERSION, "keyring: the envelope has format version %u, which this "
                                      "library does not know (it reads format %u)",
                         env[TG__ENV_OFF_FORMAT], TG__ENV_FORMAT_V1);
    if (env[TG__ENV_OFF_ALG] != TG__ENV_ALG_XCHACHA20POLY1305)
        return tg__error(TG_EVERSION, "keyring: the envelope names algorithm %u, which this "
                                      "library does not know", env[TG__ENV_OFF_ALG]);
    memcpy(h->fp, env + TG__ENV_OFF_FP, TG__ENV_FP_BYTES);
    h->version = tg__get_u32(env + TG__ENV_OFF_VERSION);
    memcpy(h->keyid, env + TG__ENV_OFF_KEYID, TG__ENV_KEYID_BYTES);
    h->nonce = env + TG__ENV_OFF_NONCE;
    return TG_OK;
}

void tg__env_write_header(uint8_t hdr[TG_ENVELOPE_HEADER_BYTES], const uint8_t fp[TG__ENV_FP_BYTES],
                          uint32_t version, const uint8_t keyid[TG__ENV_KEYID_BYTES],
                          const uint8_t nonce[TG__ENV_NONCE_BYTES])
{
    hdr[0] = 'T';
    hdr[1] = 'G';
    hdr[TG__ENV_OFF_FORMAT] = TG__ENV_FORMAT_V1;
    hdr[TG__ENV_OFF_ALG] = TG__ENV_ALG_XCHACHA20POLY1305;
    memcpy(hdr + TG__ENV_OFF_FP, fp, TG__ENV_FP_BYTES);
    tg__put_u32(hdr + TG__ENV_OFF_VERSION, version);
    memcpy(hdr + TG__ENV_OFF_KEYID, keyid, TG__ENV_KEYID_BYTES);
    memcpy(hdr + TG__ENV_OFF_NONCE, nonce, TG__ENV_NONCE_BYTES);
}

size_t tg__env_ad(uint8_t *ad, const uint8_t hdr[TG_ENVELOPE_HEADER_BYTES], const char *ws,
                  size_t ws_len, const char *msg, size_t msg_len)
{
    size_t n = TG_ENVELOPE_HEADER_BYTES;
    memcpy(ad, hdr, n);
    ad[n++] = (uint8_t)ws_len;
    memcpy(ad + n, ws, ws_len);
    n += ws_len;
    ad[n++] = (uint8_t)msg_len;
    memcpy(ad + n, msg, msg_len);
    return n + msg_len;
}

void tg__env_seal(uint8_t *out, const uint8_t mk[TG_KEY_BYTES], const uint8_t fp[TG__ENV_FP_BYTES],
                  uint32_t version, const uint8_t keyid[TG__ENV_KEYID_BYTES],
                  const uint8_t nonce[TG__ENV_NONCE_BYTES], const char *ws, size_t ws_len,
                  const char *msg, size_t msg_len, const uint8_t *plain, size_t plain_len)
{
    uint8_t ad[TG__ENV_AD_MAX];
    tg__env_write_header(out, fp, version, keyid, nonce);
    size_t ad_len = tg__env_ad(ad, out, ws, ws_len, msg, msg_len);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + TG_ENVELOPE_HEADER_BYTES, NULL, plain,
                                               plain_len, ad, ad_len, NULL,
                                               out + TG__ENV_OFF_NONCE, mk);
}

int tg__env_open(uint8_t *out, const uint8_t mk[TG_KEY_BYTES], const uint8_t *env,
                 size_t env_len, const char *ws, size_t ws_len, const char *msg,
                 size_t msg_len)
{
    uint8_t ad[TG__ENV_AD_MAX];
    size_t ad_len = tg__env_ad(ad, env, ws, ws_len, msg, msg_len);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, env + TG_ENVELOPE_HEADER_BYTES,
                                                   env_len - TG_ENVELOPE_HEADER_BYTES, ad, ad_len,
                                                   env + TG__ENV_OFF_NONCE, mk) != 0)
        return tg__error(TG_EAUTH, "keyring: envelope does not authenticate (changed, forged, "
                                   "or opened with another message id)");
    return TG_OK;
}

int tg__envelope_seal_with_keys(uint8_t *out, size_t out_cap, size_t *out_len,
                                const uint8_t ws_key[TG_KEY_BYTES],
                                const uint8_t subject_key[TG_KEY_BYTES], uint32_t version,
                                const uint8_t keyid[TG__ENV_KEYID_BYTES],
                                const uint8_t nonce[TG__ENV_NONCE_BYTES], const char *ws,
                                const char *msg, const uint8_t *plain, size_t plain_len)
{
    size_t ws_len, msg_len;
    int rc;
    if (!out || !out_len || !ws_key || !subject_key || !keyid || !nonce || (!plain && plain_len))
        return tg__error(TG_EINVAL, "keyring: NULL argument");
    if ((rc = tg__check_id("workspace id", ws, &ws_len)) ||
        (rc = tg__check_id("message id", msg, &msg_len)))
        return rc;
    if (plain_len > TG_MESSAGE_MAX || out_cap < plain_len + TG_ENVELOPE_OVERHEAD)
        return tg__error(TG_ERANGE, "keyring: output buffer too small");
    if (tg__sodium_ready())
        return TG_ECRYPTO;
    uint8_t fp[TG__ENV_FP_BYTES], mk[TG_KEY_BYTES];
    tg__env_fingerprint(fp, ws, ws_len);
    tg__env_message_key(mk, ws_key, subject_key);
    tg__env_seal(out, mk, fp, version, keyid, nonce, ws, ws_len, msg, msg_len, plain, plain_len);
    sodium_memzero(mk, sizeof mk);
    *out_len = plain_len + TG_ENVELOPE_OVERHEAD;
    return TG_OK;
}
