/*
 * table.h - the limiter's sharded table of tracked entries.
 *
 * An entry is found by a 16-byte digest (SipHash-128 of its dimension and
 * identifiers under the context's random key; see keys.c): the table never
 * holds identifiers. The digest's first 8 bytes pick the hash bucket, the
 * next 8 the shard. Each shard has its own mutex, a chained hash index (a
 * power-of-two array of 32-bit entry numbers, doubled when the load passes
 * 1), and its entries in pages of TG__LPAGE (an entry never moves; freed
 * entries are reused). An entry is 96 bytes in two parts (see below).
 *
 * Eviction, with bounded work per call and no list to maintain on the hot
 * path:
 *  - at the cap: a shard holds at most `cap` entries (max_keys split evenly
 *    across shards). Inserting into a full shard evicts by CLOCK, the
 *    classic approximation of least-recently-used: a hand walks the
 *    entries, clearing the "referenced" bit each use of an entry sets, and
 *    evicts the first entry found unreferenced (after TG__LCLOCK steps,
 *    the first it cleared). A new entry starts unreferenced, so a flood of
 *    one-off keys evicts itself before established ones. Entries pinned by
 *    the running operation are skipped (the shard may then exceed its cap
 *    until tg__ltable_release trims it).
 *  - when idle: tg__ltable_sweep visits TG__LSWEEP entries from a cursor
 *    that walks the shard, removing those the caller's predicate calls
 *    evictable; it runs at most so often that a whole pass of the shard
 *    takes about idle_ms / 2, so an entry goes within about 1.5 x idle_ms
 *    of its last use, provided checks keep reaching its shard.
 *
 * Every function except open, close, count, shards and shard_of needs the
 * shard's lock held by the caller.
 */
#ifndef TG_LIMITER_TABLE_H
#define TG_LIMITER_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

#define TG__LDIGEST 16
#define TG__LPAGE 256  /* entries per page */
#define TG__LSWEEP 16  /* entries a sweep visits */
#define TG__LCLOCK 64  /* steps of the CLOCK hand per eviction, at most */
#define TG__LNIL UINT32_MAX
#define TG__LENTER_MAX 3 /* keys of one tg__ltable_enter */

/* flags */
#define TG__LF_PINNED 1u   /* used by the running operation */
#define TG__LF_REF 2u      /* used since the CLOCK hand last passed */
#define TG__LF_FALLBACK 4u /* shared dimension whose backend failed */

/* An entry is split in two: the hot part, one 64-byte-aligned cache line,
 * holds everything an allowed check reads and writes; the cold part holds
 * penalty details and leases, read only on denials, sweeps and shared
 * dimensions. */
typedef struct tg__lentry {
    uint8_t digest[TG__LDIGEST];
    int64_t tokens;    /* bucket level in units at `last`; TG__FULL: full */
    int64_t last;      /* ms of the last refill; idleness counts from here */
    int64_t pen_until; /* users and IPs: end of the penalty period */
    union {
        double trust; /* users: trust score, 0.5 by default */
        struct {
            uint32_t override;       /* workspaces: per-user rate, 0 = the tier's */
            uint32_t override_burst; /* and its burst (from the tier's ratio) */
        };
    };
    uint32_t rate, burst; /* the limit last applied (for the idle test) */
    uint32_t chain;       /* next entry in the hash bucket, or in the free list */
    uint8_t kind;         /* TG_LIMIT_*; 0xFF when free */
    uint8_t flags;        /* TG__LF_* */
    uint8_t level;        /* users and IPs: penalty level */
    uint8_t tier;         /* workspaces: TG_TIER_* */
} tg__lentry;

typedef struct tg__lcold {
    int64_t pen_quiet;   /* users and IPs: see penalty.h */
    int64_t pen_window;
    int64_t lease_until; /* shared dimension: end of the lease, or in fallback
                            when to try the backend again */
    int64_t refused_until; /* shared dimension: the backend's last refusal
                              stands until then (0: none) */
    uint32_t pool;       /* shared dimension: leased whole tokens left */
    uint32_t violations; /* users and IPs: in the current window */
} tg__lcold;

/* Both parts of one entry. */
typedef struct tg__lref {
    tg__lentry *e;
    tg__lcold *c;
} tg__lref;

typedef struct tg__ltable tg__ltable;

typedef bool (*tg__ltable_evictable)(const tg__lentry *e, const tg__lcold *c, int64_t now,
                                     void *arg);

/* Upper bound of the bytes one entry costs: its two parts, its share of
 * the hash index when the load is lowest (1/2, just after a doubling), and
 * its share of the per-page costs (alignment, the page table at its
 * emptiest, two allocator headers of up to 16 bytes). On top of that a
 * shard has a fixed cost that does not grow with its entries: at most one
 * partly used page, the smallest index, the smallest page table. */
size_t tg__ltable_bytes_per_key(void);

/* Sets up an empty table: max_keys >= 1 entries in all; `shards` a power of
 * two (0: chosen from max_keys). Allocates only the shard array; the rest
 * grows on demand. TG_ENOMEM. */
int tg__ltable_open(tg__ltable **out, const tg_allocator *a, uint32_t max_keys,
                    uint32_t shards, uint32_t idle_ms);
void tg__ltable_close(tg__ltable *t);

uint32_t tg__ltable_shards(const tg__ltable *t);
uint32_t tg__ltable_shard_of(const tg__ltable *t, const uint8_t digest[TG__LDIGEST]);
void tg__ltable_lock(tg__ltable *t, uint32_t shard);
void tg__ltable_unlock(tg__ltable *t, uint32_t shard);

/* Starts loading what a lookup of `digest` will read, so that the lookups
 * of one check overlap: stage 0, before taking the lock, the lock's cache
 * line and the hash bucket; stage 1, with the lock held, the bucket's
 * first entry. */
void tg__ltable_prefetch(tg__ltable *t, uint32_t shard, const uint8_t digest[TG__LDIGEST],
                         int stage);

/* tg__ltable_shard_of, and tg__ltable_prefetch stage 0 of the digest in
 * that shard. */
uint32_t tg__ltable_locate(tg__ltable *t, const uint8_t digest[TG__LDIGEST]);

/* The entry with `digest` in *out and true, or false. Changes nothing. */
bool tg__ltable_find(tg__ltable *t, uint32_t shard, const uint8_t digest[TG__LDIGEST],
                     tg__lref *out);

/* The entry with `digest`, marked used and pinned (the caller unpins it
 * with tg__lentry_unpin before tg__ltable_release), created if absent:
 * zeroed, then kind, digest, tokens = TG__FULL, last = now, and for a user
 * trust = 0.5. TG_ENOMEM (nothing created). */
int tg__ltable_get(tg__ltable *t, uint32_t shard, const uint8_t digest[TG__LDIGEST], int kind,
                   int64_t now, tg__lref *out);

static inline void tg__lentry_unpin(tg__lentry *e)
{
    e->flags &= (uint8_t)~TG__LF_PINNED;
}

/* A check's view of the table: the entries of one check, each found by
 * its digest in its shard. */
typedef struct tg__lkey {
    uint8_t digest[TG__LDIGEST];
    uint32_t shard;
    int kind;
} tg__lkey;

/* For one operation on several entries at once (a check), whose caller
 * has started loading each key with tg__ltable_prefetch stage 0: locks
 * shards[0..ns) (the keys' shards, distinct, increasing), then looks up
 * keys[0..nk) into out[0..nk), their bucket heads' entries all loading
 * before the first is read. With `create`: first sweeps each shard whose
 * time has come (tg__ltable_sweep with `fn`), then gets each entry as
 * tg__ltable_get does (pinned, created if absent), stopping at the first
 * error; without: finds each (changing nothing; {NULL, NULL} if absent).
 * `where` may be NULL; if not, where[k] is an entry number at which key k
 * may still be (TG__LNIL: not known), tried before the hash index (any
 * value is safe: it is checked), and gets the entry number key k was found
 * or created at (TG__LNIL if it is absent).
 * Whatever it returns, tg__ltable_leave ends the operation. */
int tg__ltable_enter(tg__ltable *t, const uint32_t *shards, int ns, const tg__lkey *keys,
                     int nk, bool create, int64_t now, tg__ltable_evictable fn, void *arg,
                     tg__lref *out, uint32_t *where);

/* Ends what tg__ltable_enter began: unpins the entries of refs[0..nr) that
 * are not NULL; with `release`, trims each shard to its cap; unlocks the
 * shards in decreasing order. */
void tg__ltable_leave(tg__ltable *t, const uint32_t *shards, int ns, tg__lref *refs, int nr,
                      bool release);

/* Removes an entry. */
void tg__ltable_remove(tg__ltable *t, uint32_t shard, tg__lentry *e);

/* Ends an operation on the shard: trims it to its cap. */
void tg__ltable_release(tg__ltable *t, uint32_t shard);

/* Idle eviction (see above); `fn` is only asked about entries idle for
 * idle_ms and not pinned. */
void tg__ltable_sweep(tg__ltable *t, uint32_t shard, int64_t now, tg__ltable_evictable fn,
                      void *arg);

/* Entries in the whole table (takes each shard's lock in turn). */
size_t tg__ltable_count(tg__ltable *t);

/* One shard's entries, hash buckets, cap and entry slots allocated (lock
 * held), for tests. */
void tg__ltable_shard_stats(tg__ltable *t, uint32_t shard, uint32_t *entries,
                            uint32_t *buckets, uint32_t *cap, uint32_t *slots);

#endif
