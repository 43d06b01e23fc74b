/*
 * envelope.h - the message envelope, format version 1 (docs/ENVELOPE.md):
 * header layout, workspace fingerprint, associated data, message-key
 * derivation, sealing and opening. Pure functions: no store, no cache.
 */
#ifndef TG_KEYRING_ENVELOPE_H
#define TG_KEYRING_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "tenantguard/keyring.h"

#define TG__ENV_FORMAT_V1 0x01
#define TG__ENV_ALG_XCHACHA20POLY1305 0x01
#define TG__ENV_FP_BYTES 8
#define TG__ENV_KEYID_BYTES 16
#define TG__ENV_NONCE_BYTES 24
#define TG__ENV_TAG_BYTES 16

/* Offsets of the header fields. */
#define TG__ENV_OFF_MAGIC 0
#define TG__ENV_OFF_FORMAT 2
#define TG__ENV_OFF_ALG 3
#define TG__ENV_OFF_FP 4
#define TG__ENV_OFF_VERSION 12
#define TG__ENV_OFF_KEYID 16
#define TG__ENV_OFF_NONCE 32

/* Largest associated data: header, then u8 length and up to TG_ID_MAX bytes
 * for the workspace id and for the message id. */
#define TG__ENV_AD_MAX (TG_ENVELOPE_HEADER_BYTES + 2 * (1 + TG_ID_MAX))

/* A parsed header. `nonce` points into the envelope. */
typedef struct tg__env_header {
    uint8_t fp[TG__ENV_FP_BYTES];
    uint32_t version;
    uint8_t keyid[TG__ENV_KEYID_BYTES];
    const uint8_t *nonce;
} tg__env_header;

/* fp = first 8 bytes of BLAKE2b-256("tenantguard/wsfp/v1" || ws). */
void tg__env_fingerprint(uint8_t fp[TG__ENV_FP_BYTES], const char *ws, size_t ws_len);

/* Message key = BLAKE2b-256(key = workspace key, "tenantguard/msgkey/v1" ||
 * subject key). */
void tg__env_message_key(uint8_t mk[TG_KEY_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                         const uint8_t subject_key[TG_KEY_BYTES]);

/* Checks length, magic, format and algorithm and fills *h. TG_EFORMAT or
 * TG_EVERSION (with a message) on failure. */
int tg__env_parse(tg__env_header *h, const uint8_t *env, size_t env_len);

/* Writes the 56-byte header. */
void tg__env_write_header(uint8_t hdr[TG_ENVELOPE_HEADER_BYTES], const uint8_t fp[TG__ENV_FP_BYTES],
                          uint32_t version, const uint8_t keyid[TG__ENV_KEYID_BYTES],
                          const uint8_t nonce[TG__ENV_NONCE_BYTES]);

/* AD = header || u8 len(ws) || ws || u8 len(msg) || msg into ad (capacity
 * TG__ENV_AD_MAX); returns its length. Ids must be <= TG_ID_MAX bytes. */
size_t tg__env_ad(uint8_t *ad, const uint8_t hdr[TG_ENVELOPE_HEADER_BYTES], const char *ws,
                  size_t ws_len, const char *msg, size_t msg_len);

/* Seals plain into out (plain_len + TG_ENVELOPE_OVERHEAD bytes; the caller
 * checked the capacity) under the message key, with the given header
 * fields. plain and out must not overlap. */
void tg__env_seal(uint8_t *out, const uint8_t mk[TG_KEY_BYTES], const uint8_t fp[TG__ENV_FP_BYTES],
                  uint32_t version, const uint8_t keyid[TG__ENV_KEYID_BYTES],
                  const uint8_t nonce[TG__ENV_NONCE_BYTES], const char *ws, size_t ws_len,
                  const char *msg, size_t msg_len, const uint8_t *plain, size_t plain_len);

/* Opens a parsed envelope into out (env_len - TG_ENVELOPE_OVERHEAD bytes;
 * the caller checked the capacity). TG_OK, or TG_EAUTH with a message:
 * libsodium verifies the tag before it writes any plaintext (on failure it
 * zeroes out[0..plain_len)). */
int tg__env_open(uint8_t *out, const uint8_t mk[TG_KEY_BYTES], const uint8_t *env,
                 size_t env_len, const char *ws, size_t ws_len, const char *msg,
                 size_t msg_len);

/*
 * Known-answer entry point: seals with explicit workspace key, subject key,
 * key version, key id and nonce (what tg_keyring_encrypt draws at random or
 * loads from the store). Ids are checked like the public API's.
 * TG_EINVAL, TG_ERANGE (out_cap or plain_len), or TG_OK.
 */
int tg__envelope_seal_with_keys(uint8_t *out, size_t out_cap, size_t *out_len,
                                const uint8_t ws_key[TG_KEY_BYTES],
                                const uint8_t subject_key[TG_KEY_BYTES], uint32_t version,
                                const uint8_t keyid[TG__ENV_KEYID_BYTES],
                                const uint8_t nonce[TG__ENV_NONCE_BYTES], const char *ws,
                                const char *msg, const uint8_t *plain, size_t plain_len);

#endif
