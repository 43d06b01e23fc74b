/* table.c - the limiter's sharded entry table (see table.h). */
#include <stdatomic.h>
#include <string.h>

#include "table.h"
#include "bucket.h"
#include "lock.h"
#include "tenantguard/limiter.h"

#define FREE_KIND 0xFF
#define MIN_BUCKETS 16u
#define LINE 64

typedef struct page {
    tg__lentry *e; /* TG__LPAGE hot parts, 64-byte aligned */
    tg__lcold *c;  /* TG__LPAGE cold parts */
    void *raw;     /* what the allocator returned for e */
} page;

/* A shard fills two whole cache lines (the table aligns them), so that no
 * two shards share one and locating one is a shift. */
typedef union shard {
    struct {
        tg__lock lock;
        page *pages;
        uint32_t npages, pages_cap;
        uint32_t *buckets; /* NULL until the first insert */
        uint32_t mask;     /* buckets - 1 */
        uint32_t count;    /* live entries */
        uint32_t used;     /* entry numbers handed out so far */
        uint32_t free;     /* free list through `chain` */
        uint32_t hand;     /* CLOCK hand */
        uint32_t cursor;   /* idle sweep position */
        uint32_t cap;
        int64_t next_sweep;
        /* Copies of buckets and mask that tg__ltable_prefetch reads without
         * the lock (only to issue a prefetch, which never faults). */
        _Atomic(uint32_t *) hint_buckets;
        _Atomic uint32_t hint_mask;
    };
    char lines[2 * LINE];
} shard;

_Static_assert(sizeof(shard) == 2 * LINE, "a shard is two cache lines");

struct tg__ltable {
    const tg_allocator *alloc;
    shard *shards;     /* LINE-aligned */
    void *shards_raw;  /* what the allocator returned for them */
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
    return &s->pages[i / TG__LPAGE].e[i % TG__LPAGE];
}

static inline tg__lcold *cold_at(const shard *s, uint32_t i)
{
    return &s->pages[i / TG__LPAGE].c[i % TG__LPAGE];
}

static inline tg__lref ref(const shard *s, uint32_t i)
{
    tg__lref r = {at(s, i), cold_at(s, i)};
    return r;
}

int tg__ltable_open(tg__ltable **out, const tg_allocator *a, uint32_t max_keys,
                    uint32_t shards, uint32_t idle_ms)
{
    *out = NULL;
    if (max_keys == 0)
        max_keys = 1;
    if (shards == 0) {
        /* 64 shards, fewer for small caps so that each keeps >= 1024
         * entries and eviction order stays meaningful. */
        shards = 64;
        while (shards > 1 && max_keys / shards < 1024)
            shards /= 2;
    }
    tg__ltable *t = tg__calloc(a, 1, sizeof *t);
    if (!t)
        return TG_ENOMEM;
    t->shards_raw = tg__calloc(a, 1, (size_t)shards * sizeof *t->shards + LINE);
    t->shards = (shard *)(((uintptr_t)t->shards_raw + LINE - 1) & ~(uintptr_t)(LINE - 1));
    if (!t->shards_raw) {
        tg__free(a, t);
        return TG_ENOMEM;
    }
    t->alloc = a;
    t->nshards = shards;
    t->idle_ms = idle_ms ? idle_ms : 1;
    for (uint32_t i = 0; i < shards; i++) {
        shard *s = &t->shards[i];
        tg__lock_init(&s->lock);
        s->cap = max_keys / shards + (i < max_keys % shards ? 1 : 0);
        s->free = TG__LNIL;
    }
    *out = t;
    return TG_OK;
}

void tg__ltable_close(tg__ltable *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nshards; i++) {
        shard *s = &t->shards[i];
        tg__lock_destroy(&s->lock);
        for (uint32_t p = 0; p < s->npages; p++) {
            tg__free(t->alloc, s->pages[p].raw);
            tg__free(t->alloc, s->pages[p].c);
        }
        tg__free(t->alloc, s->pages);
        tg__free(t->alloc, s->buckets);
    }
    tg__free(t->alloc, t->shards_raw);
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
    tg__lock_acquire(&t->shards[i].lock);
}

void tg__ltable_unlock(tg__ltable *t, uint32_t i)
{
    tg__lock_release(&t->shards[i].lock);
}

/* ---- index ---- */

static uint32_t *bucket_of(const shard *s, const uint8_t *digest)
{
    return &s->buckets[load64(digest) & s->mask];
}

static uint32_t find_index(const shard *s, const uint8_t *digest)
{
    if (!s->buckets)
        return TG__LNIL;
    for (uint32_t i = *bucket_of(s, digest); i != TG__LNIL; i = at(s, i)->chain)
        if (memcmp(at(s, i)->digest, digest, TG__LDIGEST) == 0)
            return i;
    return TG__LNIL;
}

static void publish_hint(shard *s)
{
    atomic_store_explicit(&s->hint_mask, s->mask, memory_order_relaxed);
    atomic_store_explicit(&s->hint_buckets, s->buckets, memory_order_relaxed);
}

void tg__ltable_prefetch(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST],
                         int stage)
{
#if defined(__GNUC__)
    const shard *s = &t->shards[shard_no];
    if (stage == 0) { /* without the lock: the lock's line and the bucket */
        __builtin_prefetch(&s->lock, 1);
        uint32_t *b = atomic_load_explicit(&((shard *)s)->hint_buckets, memory_order_relaxed);
        uint32_t mask = atomic_load_explicit(&((shard *)s)->hint_mask, memory_order_relaxed);
        if (b)
            __builtin_prefetch(b + (load64(digest) & mask));
    } else if (s->buckets) { /* with the lock: the first entry of the bucket */
        uint32_t i = *bucket_of(s, digest);
        if (i != TG__LNIL)
            __builtin_prefetch(at(s, i), 1);
    }
#else
    (void)t; (void)shard_no; (void)digest; (void)stage;
#endif
}

uint32_t tg__ltable_locate(tg__ltable *t, const uint8_t digest[TG__LDIGEST])
{
    uint32_t shard_no = (uint32_t)(load64(digest + 8) & (t->nshards - 1));
    tg__ltable_prefetch(t, shard_no, digest, 0);
    return shard_no;
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
    publish_hint(s);
    for (uint32_t i = 0; i < s->used; i++) {
        tg__lentry *e = at(s, i);
        if (e->kind == FREE_KIND)
            continue;
        uint32_t *b = bucket_of(s, e->digest);
        e->chain = *b;
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
    uint32_t p = s->used / TG__LPAGE;
    if (p >= s->npages) {
        if (s->npages == s->pages_cap) {
            uint32_t ncap = s->pages_cap ? s->pages_cap * 2 : 4;
            page *np = tg__malloc(t->alloc, (size_t)ncap * sizeof *np);
            if (!np)
                return TG__LNIL;
            if (s->npages)
                memcpy(np, s->pages, (size_t)s->npages * sizeof *np);
            tg__free(t->alloc, s->pages);
            s->pages = np;
            s->pages_cap = ncap;
        }
        void *raw = tg__malloc(t->alloc, (size_t)TG__LPAGE * sizeof(tg__lentry) + LINE);
        tg__lcold *cold = raw ? tg__malloc(t->alloc, (size_t)TG__LPAGE * sizeof *cold) : NULL;
        if (!cold) {
            tg__free(t->alloc, raw);
            return TG__LNIL;
        }
        uintptr_t aligned = ((uintptr_t)raw + LINE - 1) & ~(uintptr_t)(LINE - 1);
        s->pages[s->npages].raw = raw;
        s->pages[s->npages].e = (tg__lentry *)aligned;
        s->pages[s->npages].c = cold;
        s->npages++;
    }
    return s->used++;
}

/* CLOCK: evicts one unpinned entry; false if it found none. */
static bool evict_one(shard *s)
{
    uint32_t fallback = TG__LNIL;
    for (int step = 0; step < TG__LCLOCK && s->used > 0; step++) {
        uint32_t i = s->hand < s->used ? s->hand : 0;
        s->hand = i + 1;
        tg__lentry *e = at(s, i);
        if (e->kind == FREE_KIND || (e->flags & TG__LF_PINNED))
            continue;
        if (!(e->flags & TG__LF_REF)) {
            remove_index(s, i);
            return true;
        }
        e->flags &= (uint8_t)~TG__LF_REF;
        if (fallback == TG__LNIL)
            fallback = i;
    }
    if (fallback == TG__LNIL)
        return false;
    remove_index(s, fallback);
    return true;
}

bool tg__ltable_find(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST],
                     tg__lref *out)
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, digest);
    if (i == TG__LNIL)
        return false;
    *out = ref(s, i);
    return true;
}

/* tg__ltable_get, also giving the entry's number in *index. */
static int get_entry(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST],
                     int kind, int64_t now, tg__lref *out, uint32_t *index)
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, digest);
    if (i != TG__LNIL) {
        at(s, i)->flags |= TG__LF_PINNED | TG__LF_REF;
        *out = ref(s, i);
        *index = i;
        return TG_OK;
    }
    if (!s->buckets) {
        s->buckets = tg__malloc(t->alloc, MIN_BUCKETS * sizeof *s->buckets);
        if (!s->buckets)
            return TG_ENOMEM;
        memset(s->buckets, 0xFF, MIN_BUCKETS * sizeof *s->buckets);
        s->mask = MIN_BUCKETS - 1;
        publish_hint(s);
    }
    if (s->count >= s->cap)
        evict_one(s);
    i = take_index(t, s);
    if (i == TG__LNIL)
        return TG_ENOMEM;
    tg__lentry *e = at(s, i);
    memset(e, 0, sizeof *e);
    memset(cold_at(s, i), 0, sizeof(tg__lcold));
    memcpy(e->digest, digest, TG__LDIGEST);
    e->kind = (uint8_t)kind;
    e->flags = TG__LF_PINNED; /* not referenced yet: see CLOCK in table.h */
    e->tokens = TG__FULL;
    e->last = now;
    if (kind == TG_LIMIT_USER)
        e->trust = 0.5;
    uint32_t *b = bucket_of(s, digest);
    e->chain = *b;
    *b = i;
    s->count++;
    if (s->count > s->mask + 1)
        grow(t, s);
    *out = ref(s, i);
    *index = i;
    return TG_OK;
}

int tg__ltable_get(tg__ltable *t, uint32_t shard_no, const uint8_t digest[TG__LDIGEST], int kind,
                   int64_t now, tg__lref *out)
{
    uint32_t index;
    return get_entry(t, shard_no, digest, kind, now, out, &index);
}

void tg__ltable_remove(tg__ltable *t, uint32_t shard_no, tg__lentry *e)
{
    shard *s = &t->shards[shard_no];
    uint32_t i = find_index(s, e->digest);
    if (i != TG__LNIL)
        remove_index(s, i);
}

size_t tg__ltable_bytes_per_key(void)
{
    const size_t page_costs = LINE + 2 * sizeof(page) + 2 * 16;
    return sizeof(tg__lentry) + sizeof(tg__lcold) + 2 * sizeof(uint32_t) +
           (page_costs + TG__LPAGE - 1) / TG__LPAGE;
}

void tg__ltable_release(tg__ltable *t, uint32_t shard_no)
{
    shard *s = &t->shards[shard_no];
    while (s->count > s->cap && evict_one(s))
        ;
}

void tg__ltable_sweep(tg__ltable *t, uint32_t shard_no, int64_t now, tg__ltable_evictable fn,
                      void *arg)
{
    shard *s = &t->shards[shard_no];
    if (now < s->next_sweep)
        return;
    uint32_t n = s->used < TG__LSWEEP ? s->used : TG__LSWEEP;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = s->cursor < s->used ? s->cursor : 0;
        s->cursor = i + 1;
        tg__lentry *e = at(s, i);
        if (e->kind == FREE_KIND || (e->flags & TG__LF_PINNED) || now < e->last ||
            (uint64_t)now - (uint64_t)e->last < t->idle_ms)
            continue;
        if (fn(e, cold_at(s, i), now, arg))
            remove_index(s, i);
    }
    /* Pace the cursor so that a whole pass takes about idle_ms / 2. */
    uint64_t passes = s->count / TG__LSWEEP + 1;
    int64_t wait = (int64_t)((t->idle_ms / 2) / passes);
    if (wait < 1)
        wait = 1;
    s->next_sweep = now > INT64_MAX - wait ? INT64_MAX : now + wait;
}

int tg__ltable_enter(tg__ltable *t, const uint32_t *shards, int ns, const tg__lkey *keys,
                     int nk, bool create, int64_t now, tg__ltable_evictable fn, void *arg,
                     tg__lref *out, uint32_t *where)
{
    for (int i = 0; i < ns; i++) {
        shard *s = &t->shards[shards[i]];
        tg__lock_acquire(&s->lock);
        if (create && now >= s->next_sweep)
            tg__ltable_sweep(t, shards[i], now, fn, arg);
    }
    uint32_t head[TG__LENTER_MAX];
    for (int k = 0; k < nk; k++) {
        const shard *s = &t->shards[keys[k].shard];
        uint32_t hint = where ? where[k] : TG__LNIL;
        if (hint < s->used && at(s, hint)->kind == keys[k].kind &&
            memcmp(at(s, hint)->digest, keys[k].digest, TG__LDIGEST) == 0) {
            head[k] = hint; /* still there: the walk below stops at once */
            continue;
        }
        head[k] = s->buckets ? *bucket_of(s, keys[k].digest) : TG__LNIL;
#if defined(__GNUC__)
        if (head[k] != TG__LNIL)
            __builtin_prefetch(at(s, head[k]), 1);
#endif
    }
    bool changed = false; /* an insert may have evicted or rehashed: heads are stale */
    for (int k = 0; k < nk; k++) {
        shard *s = &t->shards[keys[k].shard];
        uint32_t i = changed ? find_index(s, keys[k].digest) : head[k];
        while (i != TG__LNIL) {
            const page *p = &s->pages[i / TG__LPAGE];
            tg__lentry *e = &p->e[i % TG__LPAGE];
            if (memcmp(e->digest, keys[k].digest, TG__LDIGEST) == 0) {
                if (create)
                    e->flags |= TG__LF_PINNED | TG__LF_REF;
                out[k].e = e;
                out[k].c = &p->c[i % TG__LPAGE];
                break;
            }
            i = e->chain;
        }
        if (i != TG__LNIL) {
            if (where)
                where[k] = i;
            continue;
        } else if (create) {
            uint32_t created = TG__LNIL;
            int rc = get_entry(t, keys[k].shard, keys[k].digest, keys[k].kind, now, &out[k],
                               &created);
            if (where)
                where[k] = created;
            changed = true;
            if (rc) {
                for (int j = k; j < nk; j++) {
                    out[j].e = NULL, out[j].c = NULL;
                    if (where)
                        where[j] = TG__LNIL;
                }
                return rc;
            }
        } else {
            out[k].e = NULL;
            out[k].c = NULL;
            if (where)
                where[k] = TG__LNIL;
        }
    }
    return TG_OK;
}

void tg__ltable_leave(tg__ltable *t, const uint32_t *shards, int ns, tg__lref *refs, int nr,
                      bool release)
{
    for (int i = 0; i < nr; i++)
        if (refs[i].e)
            tg__lentry_unpin(refs[i].e);
    for (int i = ns - 1; i >= 0; i--) {
        shard *s = &t->shards[shards[i]];
        if (release)
            while (s->count > s->cap && evict_one(s))
                ;
        tg__lock_release(&s->lock);
    }
}

size_t tg__ltable_count(tg__ltable *t)
{
    size_t n = 0;
    for (uint32_t i = 0; i < t->nshards; i++) {
        tg__lock_acquire(&t->shards[i].lock);
        n += t->shards[i].count;
        tg__lock_release(&t->shards[i].lock);
    }
    return n;
}

void tg__ltable_shard_stats(tg__ltable *t, uint32_t shard_no, uint32_t *entries,
                            uint32_t *buckets, uint32_t *cap, uint32_t *slots)
{
    shard *s = &t->shards[shard_no];
    if (entries)
        *entries = s->count;
    if (buckets)
        *buckets = s->buckets ? s->mask + 1 : 0;
    if (cap)
        *cap = s->cap;
    if (slots)
        *slots = s->npages * TG__LPAGE;
}
