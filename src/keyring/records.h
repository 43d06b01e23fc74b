/*
 * records.h - the keyring's store layout (docs/ENVELOPE.md, "Store
 * layout"): binary keys "K" kind len(ws) ws [suffix], record encodings,
 * the associated data of each wrap, and wrapping a subject key under a
 * workspace key. Pure functions.
 */
#ifndef TG_KEYRING_RECORDS_H
#define TG_KEYRING_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "tenantguard/keyring.h"

#define TG__KR_TAG 'K'
enum {
    TG__KR_WORKSPACE = 1, /* "K" 01 L ws            -> workspace record */
    TG__KR_VERSION = 2,   /* "K" 02 L ws u32 version -> version record */
    TG__KR_MAP = 3,       /* "K" 03 L ws tag16       -> subject key id */
    TG__KR_SUBJECT = 4,   /* "K" 04 L ws keyid16     -> subject key record */
};
#define TG__KR_ID_BYTES 16 /* subject key ids and lookup tags */
#define TG__KR_KEY_MAX (3 + TG_ID_MAX + TG__KR_ID_BYTES)
#define TG__KR_RECORD_FORMAT 1

enum { TG__WS_ACTIVE = 1, TG__WS_SHREDDED = 2 };
enum { TG__VER_ACTIVE = 1, TG__VER_RETIRED = 2 };
enum { TG__SUBJ_LIVE = 1, TG__SUBJ_SHREDDED = 2 };

/* A subject key wrapped under a workspace key: nonce || ciphertext || tag. */
#define TG__SUBJ_WRAPPED_BYTES (24 + TG_KEY_BYTES + 16)

/* Largest associated data of a wrap. */
#define TG__KR_AD_MAX (32 + 1 + TG_ID_MAX + TG__KR_ID_BYTES + 4)

typedef struct tg__ws_rec {
    uint8_t state;
    uint32_t primary;
    uint64_t created_ms;
    size_t wrapped_len; /* index key wrapped by the root; 0 when shredded */
    uint8_t wrapped[TG_KMS_WRAPPED_MAX];
} tg__ws_rec;
#define TG__WS_REC_MAX (16 + TG_KMS_WRAPPED_MAX)

typedef struct tg__ver_rec {
    uint8_t state;
    uint64_t created_ms;
    size_t wrapped_len; /* workspace key wrapped by the root; 0 when retired */
    uint8_t wrapped[TG_KMS_WRAPPED_MAX];
} tg__ver_rec;
#define TG__VER_REC_MAX (12 + TG_KMS_WRAPPED_MAX)

typedef struct tg__subj_rec {
    uint8_t state;
    uint32_t version;   /* workspace key version it is wrapped under */
    size_t wrapped_len; /* TG__SUBJ_WRAPPED_BYTES, or 0 when shredded */
    uint8_t wrapped[TG__SUBJ_WRAPPED_BYTES];
} tg__subj_rec;
#define TG__SUBJ_REC_MAX (8 + TG__SUBJ_WRAPPED_BYTES)

/* "K" kind L ws suffix; returns the length (<= TG__KR_KEY_MAX). */
size_t tg__kr_key(uint8_t *out, int kind, const char *ws, size_t ws_len, const uint8_t *suffix,
                  size_t suffix_len);
size_t tg__kr_version_key(uint8_t *out, const char *ws, size_t ws_len, uint32_t version);

/* Encoders return the length written; decoders return TG_OK, TG_EVERSION
 * (a record format this build does not know) or TG_ESTORE (corrupt), with
 * a message naming the workspace. */
size_t tg__ws_rec_encode(uint8_t *out, const tg__ws_rec *r);
int tg__ws_rec_decode(tg__ws_rec *r, const uint8_t *v, size_t n, const char *ws);
size_t tg__ver_rec_encode(uint8_t *out, const tg__ver_rec *r);
int tg__ver_rec_decode(tg__ver_rec *r, const uint8_t *v, size_t n, const char *ws);
size_t tg__subj_rec_encode(uint8_t *out, const tg__subj_rec *r);
int tg__subj_rec_decode(tg__subj_rec *r, const uint8_t *v, size_t n, const char *ws);

/* Associated data: "tenantguard/wskey/v1" || L ws || u32 version,
 * "tenantguard/wsindex/v1" || L ws, and
 * "tenantguard/subject/v1" || L ws || keyid16 || u32 version. */
size_t tg__ad_ws_key(uint8_t *ad, const char *ws, size_t ws_len, uint32_t version);
size_t tg__ad_index_key(uint8_t *ad, const char *ws, size_t ws_len);
size_t tg__ad_subject(uint8_t *ad, const char *ws, size_t ws_len,
                      const uint8_t keyid[TG__KR_ID_BYTES], uint32_t version);

/* Wraps a subject key under a workspace key (XChaCha20-Poly1305, random
 * nonce), and back: TG_OK or TG_EAUTH. */
void tg__subject_wrap(uint8_t out[TG__SUBJ_WRAPPED_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                      const uint8_t *ad, size_t ad_len, const uint8_t key[TG_KEY_BYTES]);
int tg__subject_unwrap(uint8_t key[TG_KEY_BYTES], const uint8_t ws_key[TG_KEY_BYTES],
                       const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                       size_t wrapped_len);

/* tag16 = BLAKE2b-128(key = index key, subject id). */
void tg__subject_tag(uint8_t tag[TG__KR_ID_BYTES], const uint8_t index_key[TG_KEY_BYTES],
                     const char *subject, size_t subject_len);

#endif
