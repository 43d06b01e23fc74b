/*
 * cache.h - the bounded, thread-safe cache of unwrapped keys.
 *
 * Entries are found by a fixed-size key: a kind, a key version, and two
 * 16-byte fields, the first always the workspace's digest. Digests of
 * identifiers are SipHash-128 (crypto_shorthash_siphashx24) under a random
 * key drawn when the cache is opened, so the cache never needs the
 * identifiers themselves and nobody can aim collisions at it; two different
 * identifiers share a digest with probability 2^-128.
 *
 * Each entry holds a 32-byte secret, in one guarded (sodium_malloc) slab,
 * and 32 bytes of non-secret metadata. Entries expire `ttl_ms` after the
 * time they were read from the store, measured on the context's clock; the least recently used
 * entry of a shard makes room for a new one. Expiry, eviction and purges
 * wipe the secret. Lookups copy the secret out: the caller wipes its copy.
 *
 * The cache is split into shards, each with its own mutex; a lookup is one
 * hash probe under one lock and never allocates.
 */
#ifndef TG_KEYRING_CACHE_H
#define TG_KEYRING_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

#define TG__CACHE_SECRET_BYTES 32
#define TG__CACHE_META_BYTES 32
#define TG__CACHE_DIGEST_BYTES 16
#define TG__CACHE_KEY_BYTES 40

/* What an entry holds. */
enum {
    TG__CK_WORKSPACE = 1, /* ws: meta = state, primary, fingerprint; secret = index key */
    TG__CK_SUBJECT = 2,   /* ws, subject digest: meta = key id, version, fingerprint;
                             secret = message key (what encrypt needs, in one probe) */
    TG__CK_MESSAGE = 3,   /* ws, key id, version: meta = fingerprint; secret = message key
                             (what decrypt needs, in one probe) */
    TG__CK_VERSION = 4,   /* ws, version: secret = workspace key */
};

typedef struct tg__cache_key {
    uint8_t b[TG__CACHE_KEY_BYTES];
} tg__cache_key;

typedef struct tg__cache tg__cache;

/* entries: total bound (>= 1); ttl_ms: lifetime of an entry (>= 1).
 * TG_ENOMEM on failure. */
int tg__cache_open(tg__cache **out, const tg_allocator *a, uint32_t entries, uint32_t ttl_ms);
/* Wipes and frees everything. Accepts NULL. */
void tg__cache_close(tg__cache *c);

/* The 16-byte digest of an identifier. */
void tg__cache_digest(const tg__cache *c, uint8_t d[TG__CACHE_DIGEST_BYTES], const char *id,
                      size_t len);

/* Builds a key; `x` may be NULL (zeros). */
void tg__cache_key_make(tg__cache_key *k, int kind, const uint8_t ws[TG__CACHE_DIGEST_BYTES],
                        const uint8_t *x, uint32_t version);

/* Copies a live entry's secret (if `secret` is not NULL), metadata (if
 * `meta` is not NULL) and the time it was stored with (if `stored` is not
 * NULL) and returns true; false if absent or expired. */
bool tg__cache_get(tg__cache *c, const tg__cache_key *k, int64_t now, uint8_t *secret,
                   uint8_t *meta, int64_t *stored);

/* The purge epoch. Read it before loading from the store what you will
 * cache, and pass it to tg__cache_put: the entry is dropped if a purge ran
 * in between, so a load racing a shred cannot resurrect the shredded key. */
uint64_t tg__cache_epoch(tg__cache *c);

/* Stores (or replaces) an entry; `secret`/`meta` NULL store zeros.
 * `stored` is the context time at which what it holds was read from the
 * store (its age counts from then). */
void tg__cache_put(tg__cache *c, const tg__cache_key *k, int64_t stored, uint64_t epoch,
                   const uint8_t *secret, const uint8_t *meta);

/* Wipes every entry of a workspace and bumps the epoch. */
void tg__cache_purge_workspace(tg__cache *c, const uint8_t ws[TG__CACHE_DIGEST_BYTES]);

/* Number of live entries (for tests). */
uint32_t tg__cache_count(tg__cache *c);

#endif
