/* table.c - the limiter's sharded entry table (see table.h). */
#include <pthread.h>
#include <string.h>

#include "table.h"
#include "bucket.h"

#define FREE_KIND 0xFF
#define MIN_BUCKETS 16u

typedef struct shard {
    pthread_mutex_t lock;
    tg__lentry **pages;
    uint32_t npages, pages_cap;
    uint32_t *buckets; /* NULL until the first insert */
    uint32_t mask;     /* buckets - 1 */
    uint32_t count;    /* live entries */
    uint32_t used;     /* entry numbers handed out so far */
    uint32_t free;     /* free list through `chain` */
    uint32_t newest, oldest;
    uint32_t cursor;     /* idle sweep position; TG__LNIL: from the oldest */
    uint32_t cap;
    int64_t next_sweep;  /* no entry can be idle before this */
    char pad[64];        /* keeps two shards' locks off one cache line */
} shard;

struct tg__ltable {
    const tg_allocator *alloc;
    shard *shards;
    uint32_t nshards;
    uint32_t idle_ms;
};

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline tg__lentry *at(const shard *s, uint32_t i)
{
    return &s->pages[i / TG__LPAGE][i % TG__LPAGE];
}

int tg__ltable_open(tg__ltable **out, const tg_allocator *a, uint32_t max_keys,
                    uint32_t shards, uint32_t idle_ms)
{
    *out = NULL;
    if (max_keys == 0)
        max_keys = 1;
    if (shards == 0) {
        /* 64 shards, fewer for small caps so that each keeps >= 1024
         * entries and LRU order stays meaningful. */
        shards = 64;
        while (shards > 1 && max_keys / shards < 1024)
            shards /= 2;
    }
    tg__ltable *t = tg__calloc(a, 1, sizeof *t);
    if (!t)
        return TG_ENOMEM;
    t->shards = tg__calloc(a, shards, sizeof *t->shards);
    if (!t->shards) {
        tg__free(a, t);
        return TG_ENOMEM;
    }
    t->alloc = a;
    t->nshards = shards;
    t->idle_ms = idle_ms;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
#if defined(PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)
    /* Critical sections are tens of ns: spin a little before sleeping. */
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    for (uint32_t i = 0; i < shards; i++) {
        shard *s = &t->shards[i];
        pthread_mutex_init(&s->lock, &attr);
        s->cap = max_keys / shards + (i < max_keys % shards ? 1 : 0);
        s->free = s->newest = s->oldest = s->cursor = TG__LNIL;
    }
    pthread_mutexattr_destroy(&attr);
    *out = t;
    return TG_OK;
}

void tg__ltable_close(tg__ltable *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nshards; i++) {
        shard *s = &t->shards[i];
        pthread_mutex_destroy(&s->lock);
        for (uint32_t p = 0; p < s->npages; p++)
            tg__free(t->alloc, s->pages[p]);
        tg__free(t->alloc, s->pages);
        tg__free(t->alloc, s->buckets);
    }
    tg__free(t->alloc, t->shards);
    tg__free(t->alloc, t);
}

uint32_t tg__ltable_shards(const tg__ltable *t)
{
    return t->nshards;
}

uint32_t tg__ltable_shard_of(const tg__ltable *t, const uint8_t digest[TG__LDIGEST])
{
    return (uint32_t)(load64(digest + 8) & (t->nshards - 1));
}

void tg__ltable_lock(tg__ltable *t, uint32_t i)
{
    pthread_mutex_lock(&t->shards[i].lock);
}

void tg__ltable_unlock(tg__ltable *t, uint32_t i)
{
    pthread_mutex_unlock(&t->shards[i].lock);
}

/* ---- use order ---- */

static void lru_unlink(shard *s, uint32_t i)
{
    tg__lentry *e = at(s, i);
    if (s->cursor == i)
        s->cursor = e->newer;
    if (e->newer != TG__LNIL)
        at(s, e->newer)->older = e->older;
    else
        s->newest = e->older;
    if (e->older != TG__LNIL)
        at(s, e->older)->newer = e->newer;
    else
        s->oldest = e->newer;
}

static void lru_push_newest(shard *s, uint32_t i)
{
    tg__lentry *e = at(s, i);
    e->newer = TG__LNIL;
    e->older = s->newest;
    if (s->newest != TG__LNIL)
        at(s, s->newest)->newer = i;
    s->newest = i;
    if (s->oldest == TG__LNIL)
        s->oldest = i;
}

/* ---- index ---- */

static uint32_t *bucket_of(shard *s, const uint8_t *digest)
{
    return &s->buckets[load64(digest) & s->mask];
}

static uint32_t find_index(shard *s, const uint8_t *digest)
{
    if (!s->buckets)
        return TG__LNIL;
    for (uint32_t i = *bucket_of(s, digest); i != TG__LNIL; i = at(s, i)->chain)
        if (memcmp(at(s, i)->digest, digest, TG__LDIGEST) == 0)
            return i;
    return TG__LNIL;
}

/* Doubles the index; on allocation failure keeps the old one (chains only
 * get longer). */
static void grow(tg__ltable *t, shard *s)
{
    uint32_t n = s->mask + 1;
    if (n >= (1u << 30))
        return;
    uint32_t *nb = tg__malloc(t->alloc, (size_t)n * 2 * sizeof *nb);
    if (!nb)
        return;
    memset(nb, 0xFF, (size_t)n * 2 * sizeof *nb);
    uint32_t *old = s->buckets;
    s->buckets = nb;
    s->mask = n * 2 - 1;
    for (uint32_t i = s->newest; i != TG__LNIL; i = at(s, i)->older) {
        uint32_t *b = bucket_of(s, at(s, i)->digest);
        at(s, i)->chain = *b;
        *b = i;
    }
    tg__free(t->alloc, old);
}

static void remove_index(shard *s, uint32_t i)
{
    tg__lentry *e = at(s, i);
    uint32_t *link = bucket_of(s, e->digest);
    while (*link != i)
        link = &at(s, *link)->chain;
    *link = e->chain;
    lru_unlink(s, i);
    e->kind = FREE_KIND;
    e->flags = 0;
    e->chain = s->free;
    s->free = i;
    s->count--;
}

/* A free entry number, or TG__LNIL (out of memory). */
static uint32_t take_index(tg__ltable *t, shard *s)
{
    if (s->free != TG__LNIL) {
        uint32_t i = s->free;
        s->free = at(s, i)->chain;
        return i;
    }
    uint32_t page = s->used / TG__LPAGE;
    if (page >= s->npages) {
        if (s->npages == s->pages_cap) {
            uint32_t ncap = s->pages_cap ? s->pages_cap * 2 : 4;
            tg__lentry **np = tg__malloc(t->alloc, (size_t)ncap * sizeof *np);
            if (!np)
                return TG__LNIL;
            if (s->npages)
                memcpy(np, s->pages, (size_t)s->npages * sizeof *np);
            tg__free(t->alloc, s->pages);
            s->pages = np;
            s->pages_cap = ncap;
        }
        tg__lentry *p = tg__malloc(t->alloc, (size_t)TG__LPAGE * sizeof *p);
        if (!p)
            return TG__LNIL;
        s->pages[s->npages++] = p;
    }
    return s->used++;
}

tg__lentry *tg__ltable_find(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST])
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, digest);
    return i == TG__LNIL ? NULL : at(s, i);
}

int tg__ltable_get(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST], int kind,
                   int64_t now, tg__lentry **out)
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, digest);
    if (i != TG__LNIL) {
        if (s->newest != i) {
            lru_unlink(s, i);
            lru_push_newest(s, i);
        }
        at(s, i)->flags |= TG__LF_PINNED;
        *out = at(s, i);
        return TG_OK;
    }
    if (!s->buckets) {
        s->buckets = tg__malloc(t->alloc, MIN_BUCKETS * sizeof *s->buckets);
        if (!s->buckets)
            return TG_ENOMEM;
        memset(s->buckets, 0xFF, MIN_BUCKETS * sizeof *s->buckets);
        s->mask = MIN_BUCKETS - 1;
    }
    if (s->count >= s->cap && s->oldest != TG__LNIL && !(at(s, s->oldest)->flags & TG__LF_PINNED))
        remove_index(s, s->oldest);
    i = take_index(t, s);
    if (i == TG__LNIL)
        return TG_ENOMEM;
    tg__lentry *e = at(s, i);
    memset(e, 0, sizeof *e);
    memcpy(e->digest, digest, TG__LDIGEST);
    e->kind = (uint8_t)kind;
    e->flags = TG__LF_PINNED;
    e->tokens = TG__FULL;
    e->last = now;
    e->trust = 0.5;
    uint32_t *b = bucket_of(s, digest);
    e->chain = *b;
    *b = i;
    lru_push_newest(s, i);
    s->count++;
    if (s->count > s->mask + 1)
        grow(t, s);
    *out = e;
    return TG_OK;
}

void tg__ltable_remove(tg__ltable *t, uint32_t shard_no, tg__lentry *e)
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, e->digest);
    if (i != TG__LNIL)
        remove_index(s, i);
}

void tg__ltable_sweep(tg__ltable *t, uint32_t shard_no, int64_t now, tg__ltable_evictable fn,
                      void *arg)
{
    shard *s = &t->shards[shard_no];
    if (now < s->next_sweep)
        return;
    uint32_t i = s->cursor != TG__LNIL ? s->cursor : s->oldest;
    for (int budget = TG__LSWEEP; budget > 0 && i != TG__LNIL; budget--) {
        tg__lentry *e = at(s, i);
        if (now < e->last || (uint64_t)now - (uint64_t)e->last < t->idle_ms) {
            /* Used recently, and so was everything newer: nothing can be
             * idle before this one is. */
            s->cursor = TG__LNIL;
            s->next_sweep = e->last > INT64_MAX - (int64_t)t->idle_ms
                                ? INT64_MAX
                                : e->last + (int64_t)t->idle_ms;
            return;
        }
        uint32_t next = e->newer;
        if (!(e->flags & TG__LF_PINNED) && fn(e, now, arg))
            remove_index(s, i);
        i = next;
    }
    if (i == TG__LNIL) {
        /* A whole pass: what is left is kept on purpose (settings, trust,
         * penalties, buckets still filling). Look again in a while. */
        s->cursor = TG__LNIL;
        s->next_sweep = now > INT64_MAX - (int64_t)t->idle_ms ? INT64_MAX
                                                               : now + (int64_t)t->idle_ms;
    } else {
        s->cursor = i;
    }
}

void tg__ltable_release(tg__ltable *t, uint32_t shard_no)
{
    shard *s = &t->shards[shard_no];
    for (uint32_t i = s->newest; i != TG__LNIL && (at(s, i)->flags & TG__LF_PINNED);
         i = at(s, i)->older)
        at(s, i)->flags &= (uint8_t)~TG__LF_PINNED;
    while (s->count > s->cap && s->oldest != TG__LNIL)
        remove_index(s, s->oldest);
}

size_t tg__ltable_count(tg__ltable *t)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->nshards; i++) {
        pthread_mutex_lock(&t->shards[i].lock);
        n += t->shards[i].count;
        pthread_mutex_unlock(&t->shards[i].lock);
    }
    return n;
}

void tg__ltable_shard_stats(tg__ltable *t, uint32_t shard_no, uint32_t *entries,
                            uint32_t *buckets, uint32_t *cap)
{
    shard *s = &t->shards[shard_no];
    if (entries)
        *entries = s->count;
    if (buckets)
        *buckets = s->buckets ? s->mask + 1 : 0;
    if (cap)
        *cap = s->cap;
}
