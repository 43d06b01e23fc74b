/*
 * keyring_impl.h - shared by the keyring's own files: the keyring object,
 * the root key, and loading or creating keys through the cache and the
 * store (keys.c) and the administrative transactions (admin.c).
 */
#ifndef TG_KEYRING_IMPL_H
#define TG_KEYRING_IMPL_H

#include "../core/core.h"
#include "../store/store_internal.h"
#include "cache.h"
#include "envelope.h"
#include "keyring_internal.h"
#include "records.h"

struct tg_keyring {
    tg_store *store;
    const tg_allocator *alloc;
    tg_kms_ops kms;  /* the host's, copied, or the local one */
    uint8_t *master; /* local master key (guarded), NULL with a host KMS */
    tg__cache *cache;
};
typedef struct tg_keyring tg_keyring;

/* A workspace identifier with its length and cache digest. */
typedef struct tg__ws {
    const char *id;
    size_t len;
    uint8_t digest[TG__CACHE_DIGEST_BYTES];
} tg__ws;

/* A workspace's metadata as cached (TG__CK_WORKSPACE meta). */
typedef struct tg__ws_meta {
    uint8_t state; /* TG__WS_ACTIVE or TG__WS_SHREDDED */
    uint32_t primary;
    uint8_t fp[TG__ENV_FP_BYTES];
} tg__ws_meta;

void tg__ws_meta_pack(uint8_t meta[TG__CACHE_META_BYTES], const tg__ws_meta *m);
void tg__ws_meta_unpack(tg__ws_meta *m, const uint8_t meta[TG__CACHE_META_BYTES]);

/* ---- root key (keys.c) ---- */

/* Wraps a 32-byte key with the root key into out (TG_KMS_WRAPPED_MAX).
 * TG_EKMS or TG_ECALLBACK on failure. */
int tg__root_wrap(tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                  const uint8_t key[TG_KEY_BYTES], uint8_t *out, size_t *out_len);
/* Unwraps to exactly 32 bytes. `what` names the key in the message. */
int tg__root_unwrap(tg_keyring *kr, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                    size_t wrapped_len, uint8_t key[TG_KEY_BYTES], const char *what,
                    const tg__ws *ws);

/* ---- loading and creating keys (keys.c) ---- */

/* Reads and decodes the workspace record. TG_ENOTFOUND (no message) if
 * absent. */
int tg__ws_rec_read(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, tg__ws_rec *rec);

/* A workspace's metadata, and its index key if `index_key` is not NULL,
 * from the cache or the store (then cached). With `create`, an absent
 * workspace gets its keys (version 1); without, it is TG_ENOTFOUND with a
 * message. `fresh` skips the cache lookup. `now` is the context's time,
 * read by the caller before any store access. *loaded_at (if not NULL)
 * receives the time the metadata was read from the store: entries derived
 * from it must not be cached as fresher than that. */
int tg__ws_meta_get(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, int64_t now, bool create,
                    bool fresh, tg__ws_meta *meta, uint8_t *index_key, int64_t *loaded_at);

/* Creates a workspace's records (version 1) in one transaction. TG_EEXISTS
 * if another writer created it first. On success fills meta/index key. */
int tg__ws_create(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, tg__ws_meta *meta,
                  uint8_t *index_key);

/* Workspace key `version`: TG_EKEYVERSION if it does not exist,
 * TG_ERETIRED if retired. Outside a transaction (txn NULL) it goes through
 * the cache; inside, it reads the transaction's view. *loaded_at (if not
 * NULL) receives when the key was read from the store: a cache entry's
 * stored time, or now. Entries derived from the key must not be cached as
 * fresher than that. */
int tg__ws_key_get(tg_ctx *ctx, tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws,
                   uint32_t version, uint8_t key[TG_KEY_BYTES], int64_t *loaded_at);

/* Cache metadata of the encrypt (TG__CK_SUBJECT) and decrypt
 * (TG__CK_MESSAGE) entries. */
#define TG__E_META_KEYID 0
#define TG__E_META_VERSION 16
#define TG__E_META_FP 20
#define TG__M_META_FP 0

/* The message key for a subject under the primary version of `wm` (read
 * from the store at w_loaded), creating the subject's key if it has none;
 * fills keyid and caches the encrypt and decrypt entries. `epoch` is the
 * cache epoch read before `wm` was. */
int tg__encrypt_key(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const char *subject,
                    size_t subject_len, const uint8_t subject_digest[TG__CACHE_DIGEST_BYTES],
                    const tg__ws_meta *wm, int64_t w_loaded, uint64_t epoch,
                    uint8_t keyid[TG__KR_ID_BYTES], uint8_t mk[TG_KEY_BYTES]);

/* The message key for (keyid, version) of an envelope of a workspace whose
 * metadata was read at w_loaded, after the cache epoch `epoch`; errors in
 * the decrypt order: TG_EKEYVERSION, TG_ERETIRED, TG_ENOTFOUND,
 * TG_ESHREDDED. */
int tg__decrypt_key(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const tg__ws_meta *wm,
                    int64_t w_loaded, uint64_t epoch, const uint8_t keyid[TG__KR_ID_BYTES],
                    uint32_t version, uint8_t mk[TG_KEY_BYTES]);

/* ---- administration, each one transaction (admin.c) ---- */

int tg__admin_rotate(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, uint32_t *out_version);
int tg__admin_retire(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, uint32_t version);
int tg__admin_shred_subject(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const char *subject,
                            size_t subject_len);
int tg__admin_shred_workspace(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws);

/* Ends a transaction: rollback if rc is an error, else commit. */
int tg__txn_finish(tg_store *s, tg_store_txn *txn, int rc);

#endif
