/* cache.c - sharded LRU cache of unwrapped keys (see cache.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "cache.h"

#define NIL UINT32_MAX
#define OFF_KIND 0
#define OFF_VERSION 4
#define OFF_WS 8
#define OFF_X 24

typedef struct entry {
    tg__cache_key key;
    uint8_t meta[TG__CACHE_META_BYTES];
    int64_t stored; /* context time its content was read from the store */
    uint32_t chain; /* next entry in the same bucket */
    uint32_t newer, older; /* LRU list; also the free list (older) */
    uint32_t bucket;
} entry;

typedef struct shard {
    pthread_mutex_t lock;
    entry *entries;
    uint32_t *buckets;
    uint8_t *secrets; /* cap * TG__CACHE_SECRET_BYTES, inside the guarded slab */
    uint32_t cap, mask, count;
    uint32_t newest, oldest, free;
    char pad[64]; /* keeps two shards' locks off one cache line */
} shard;

struct tg__cache {
    const tg_allocator *alloc;
    shard *shards;
    uint32_t nshards;
    uint32_t ttl_ms;
    _Atomic uint64_t epoch;
    uint8_t *slab; /* guarded: every shard's secrets, then the digest key */
    const uint8_t *digest_key;
};

static uint64_t key_hash(const tg__cache_key *k)
{
    uint64_t ws, x;
    uint32_t ver;
    memcpy(&ws, k->b + OFF_WS, sizeof ws);
    memcpy(&x, k->b + OFF_X, sizeof x);
    memcpy(&ver, k->b + OFF_VERSION, sizeof ver);
    uint64_t h = ws ^ (x * 0x9E3779B97F4A7C15ull) ^
                 (((uint64_t)k->b[OFF_KIND] << 32 | ver) * 0xC2B2AE3D27D4EB4Full);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int tg__cache_open(tg__cache **out, const tg_allocator *a, uint32_t entries, uint32_t ttl_ms)
{
    *out = NULL;
    if (entries == 0)
        entries = 1;
    tg__cache *c = tg__calloc(a, 1, sizeof *c);
    if (!c)
        return TG_ENOMEM;
    c->alloc = a;
    c->ttl_ms = ttl_ms ? ttl_ms : 1;
    c->nshards = entries >= 1024 ? 16 : entries >= 64 ? 4 : 1;
    atomic_init(&c->epoch, 1);
    c->shards = tg__calloc(a, c->nshards, sizeof *c->shards);
    if (!c->shards)
        goto fail;
    c->slab = tg__secure_alloc((size_t)entries * TG__CACHE_SECRET_BYTES +
                               crypto_shorthash_siphashx24_KEYBYTES);
    if (!c->slab)
        goto fail;
    uint8_t *digest_key = c->slab + (size_t)entries * TG__CACHE_SECRET_BYTES;
    randombytes_buf(digest_key, crypto_shorthash_siphashx24_KEYBYTES);
    c->digest_key = digest_key;

    size_t offset = 0;
    for (uint32_t i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        s->cap = entries / c->nshards + (i < entries % c->nshards ? 1 : 0);
        s->mask = pow2_at_least(s->cap) - 1;
        s->entries = tg__calloc(a, s->cap, sizeof *s->entries);
        s->buckets = tg__malloc(a, ((size_t)s->mask + 1) * sizeof *s->buckets);
        if (!s->entries || !s->buckets)
            goto fail;
        memset(s->buckets, 0xFF, ((size_t)s->mask + 1) * sizeof *s->buckets);
        s->secrets = c->slab + offset;
        offset += (size_t)s->cap * TG__CACHE_SECRET_BYTES;
        s->newest = s->oldest = NIL;
        for (uint32_t e = 0; e < s->cap; e++)
            s->entries[e].older = e + 1 < s->cap ? e + 1 : NIL;
        s->free = 0;
    }
    for (uint32_t i = 0; i < c->nshards; i++)
        pthread_mutex_init(&c->shards[i].lock, NULL);
    memset(c->slab, 0, (size_t)entries * TG__CACHE_SECRET_BYTES);
    *out = c;
    return TG_OK;
fail:
    if (c->shards) {
        for (uint32_t i = 0; i < c->nshards; i++) {
            tg__free(a, c->shards[i].entries);
            tg__free(a, c->shards[i].buckets);
        }
        tg__free(a, c->shards);
    }
    tg__secure_free(c->slab);
    tg__free(a, c);
    return TG_ENOMEM;
}

void tg__cache_close(tg__cache *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->nshards; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_destroy(&s->lock);
        sodium_memzero(s->entries, (size_t)s->cap * sizeof *s->entries);
        tg__free(c->alloc, s->entries);
        tg__free(c->alloc, s->buckets);
    }
    tg__free(c->alloc, c->shards);
    tg__secure_free(c->slab); /* wipes */
    tg__free(c->alloc, c);
}

void tg__cache_digest(const tg__cache *c, uint8_t d[TG__CACHE_DIGEST_BYTES], const char *id,
                      size_t len)
{
    crypto_shorthash_siphashx24(d, (const uint8_t *)id, len, c->digest_key);
}

void tg__cache_key_make(tg__cache_key *k, int kind, const uint8_t ws[TG__CACHE_DIGEST_BYTES],
                        const uint8_t *x, uint32_t version)
{
    memset(k->b, 0, sizeof k->b);
    k->b[OFF_KIND] = (uint8_t)kind;
    memcpy(k->b + OFF_VERSION, &version, sizeof version);
    memcpy(k->b + OFF_WS, ws, TG__CACHE_DIGEST_BYTES);
    if (x)
        memcpy(k->b + OFF_X, x, TG__CACHE_DIGEST_BYTES);
}

static shard *shard_of(tg__cache *c, uint64_t h)
{
    return &c->shards[(h >> 56) & (c->nshards - 1)];
}

/* ---- per-shard list operations, under the shard's lock ---- */

static void lru_unlink(shard *s, uint32_t i)
{
    entry *e = &s->entries[i];
    if (e->newer != NIL)
        s->entries[e->newer].older = e->older;
    else
        s->newest = e->older;
    if (e->older != NIL)
        s->entries[e->older].newer = e->newer;
    else
        s->oldest = e->newer;
}

static void lru_push_newest(shard *s, uint32_t i)
{
    entry *e = &s->entries[i];
    e->newer = NIL;
    e->older = s->newest;
    if (s->newest != NIL)
        s->entries[s->newest].newer = i;
    s->newest = i;
    if (s->oldest == NIL)
        s->oldest = i;
}

static uint32_t find(shard *s, uint32_t bucket, const tg__cache_key *k)
{
    for (uint32_t i = s->buckets[bucket]; i != NIL; i = s->entries[i].chain)
        if (memcmp(s->entries[i].key.b, k->b, sizeof k->b) == 0)
            return i;
    return NIL;
}

/* Unlinks entry i from its bucket and the LRU list, wipes it, frees it. */
static void remove_entry(shard *s, uint32_t i)
{
    entry *e = &s->entries[i];
    uint32_t *link = &s->buckets[e->bucket];
    while (*link != i)
        link = &s->entries[*link].chain;
    *link = e->chain;
    lru_unlink(s, i);
    sodium_memzero(s->secrets + (size_t)i * TG__CACHE_SECRET_BYTES, TG__CACHE_SECRET_BYTES);
    memset(e, 0, sizeof *e);
    e->older = s->free;
    s->free = i;
    s->count--;
}

static bool fresh(const tg__cache *c, const entry *e, int64_t now)
{
    return now >= e->stored && (uint64_t)now - (uint64_t)e->stored < c->ttl_ms;
}

bool tg__cache_get(tg__cache *c, const tg__cache_key *k, int64_t now, uint8_t *secret,
                   uint8_t *meta, int64_t *stored)
{
    uint64_t h = key_hash(k);
    shard *s = shard_of(c, h);
    bool hit = false;
    pthread_mutex_lock(&s->lock);
    uint32_t i = find(s, (uint32_t)h & s->mask, k);
    if (i != NIL) {
        if (!fresh(c, &s->entries[i], now)) {
            remove_entry(s, i);
        } else {
            if (s->newest != i) {
                lru_unlink(s, i);
                lru_push_newest(s, i);
            }
            if (secret)
                memcpy(secret, s->secrets + (size_t)i * TG__CACHE_SECRET_BYTES,
                       TG__CACHE_SECRET_BYTES);
            if (meta)
                memcpy(meta, s->entries[i].meta, TG__CACHE_META_BYTES);
            if (stored)
                *stored = s->entries[i].stored;
            hit = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

uint64_t tg__cache_epoch(tg__cache *c)
{
    return atomic_load(&c->epoch);
}

void tg__cache_put(tg__cache *c, const tg__cache_key *k, int64_t stored, uint64_t epoch,
                   const uint8_t *secret, const uint8_t *meta)
{
    uint64_t h = key_hash(k);
    shard *s = shard_of(c, h);
    uint32_t bucket = (uint32_t)h & s->mask;
    pthread_mutex_lock(&s->lock);
    if (atomic_load(&c->epoch) != epoch)
        goto out; /* a purge ran since the caller read the store */
    uint32_t i = find(s, bucket, k);
    if (i != NIL) {
        lru_unlink(s, i);
    } else {
        if (s->free == NIL)
            remove_entry(s, s->oldest);
        i = s->free;
        s->free = s->entries[i].older;
        s->entries[i].key = *k;
        s->entries[i].bucket = bucket;
        s->entries[i].chain = s->buckets[bucket];
        s->buckets[bucket] = i;
        s->count++;
    }
    entry *e = &s->entries[i];
    e->stored = stored;
    if (meta)
        memcpy(e->meta, meta, TG__CACHE_META_BYTES);
    else
        memset(e->meta, 0, TG__CACHE_META_BYTES);
    uint8_t *dst = s->secrets + (size_t)i * TG__CACHE_SECRET_BYTES;
    if (secret)
        memcpy(dst, secret, TG__CACHE_SECRET_BYTES);
    else
        sodium_memzero(dst, TG__CACHE_SECRET_BYTES);
    lru_push_newest(s, i);
out:
    pthread_mutex_unlock(&s->lock);
}

void tg__cache_purge_workspace(tg__cache *c, const uint8_t ws[TG__CACHE_DIGEST_BYTES])
{
    atomic_fetch_add(&c->epoch, 1);
    for (uint32_t n = 0; n < c->nshards; n++) {
        shard *s = &c->shards[n];
        pthread_mutex_lock(&s->lock);
        uint32_t i = s->newest;
        while (i != NIL) {
            uint32_t next = s->entries[i].older;
            if (memcmp(s->entries[i].key.b + OFF_WS, ws, TG__CACHE_DIGEST_BYTES) == 0)
                remove_entry(s, i);
            i = next;
        }
        pthread_mutex_unlock(&s->lock);
    }
}

uint32_t tg__cache_count(tg__cache *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->nshards; i++) {
        pthread_mutex_lock(&c->shards[i].lock);
        n += c->shards[i].count;
        pthread_mutex_unlock(&c->shards[i].lock);
    }
    return n;
}
