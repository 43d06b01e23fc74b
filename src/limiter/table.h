/*
 * table.h - the limiter's sharded table of tracked entries.
 *
 * An entry is found by a 16-byte digest (SipHash-128 of its dimension and
 * identifiers under the context's random key; see keys.c): the table never
 * holds identifiers. The digest's first 8 bytes pick the hash bucket, the
 * next 8 the shard. Each shard has its own mutex, a chained hash index (a
 * power-of-two array of 32-bit entry numbers, doubled when the load passes
 * 1), its entries in fixed pages of TG__LPAGE entries (so an entry never
 * moves while its shard is locked), a free list, and a doubly linked list
 * in order of use for LRU eviction.
 *
 * Eviction:
 *  - at the cap: a shard holds at most `cap` entries (max_keys split evenly
 *    across shards); inserting into a full shard drops its least recently
 *    used entry, unless that entry is pinned by the running operation (then
 *    the shard is over its cap until tg__ltable_release trims it);
 *  - when idle: tg__ltable_sweep walks a cursor from the least recently used
 *    end, at most TG__LSWEEP entries a call, removing those the caller's
 *    predicate calls evictable. It stops at the first entry used within
 *    `idle_ms` (every newer one was used later) and then sleeps until that
 *    entry could go idle, so a sweep costs one comparison most of the time.
 *
 * Every function except open, close, count and shard_of needs the shard's
 * lock held by the caller.
 */
#ifndef TG_LIMITER_TABLE_H
#define TG_LIMITER_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

#define TG__LDIGEST 16
#define TG__LPAGE 256 /* entries per page */
#define TG__LSWEEP 16 /* entries a sweep may visit per call */
#define TG__LNIL UINT32_MAX

/* flags */
#define TG__LF_PINNED 1u   /* used by the running operation */
#define TG__LF_FALLBACK 2u /* shared dimension whose backend failed */

typedef struct tg__lentry {
    uint8_t digest[TG__LDIGEST];
    int64_t tokens;      /* bucket level in units at `last`; TG__FULL: full */
    int64_t last;        /* ms of the last refill; idleness counts from here */
    int64_t pen_until;   /* penalty state (users and IPs), see penalty.h */
    int64_t pen_quiet;
    int64_t pen_window;
    double trust;        /* users: trust score, 0.5 by default */
    int64_t lease_until; /* shared dimension: end of the lease, or in fallback
                            when to try the backend again */
    uint32_t rate, burst; /* the limit last applied (for the idle test) */
    uint32_t chain;       /* next entry in the hash bucket, or in the free list */
    uint32_t newer, older; /* use order */
    uint32_t pool;        /* shared dimension: leased whole tokens left */
    union {
        uint32_t violations; /* users and IPs: in the current window */
        uint32_t override;   /* workspaces: per-user rate, 0 = the tier's */
    };
    uint8_t kind;  /* TG_LIMIT_*; 0xFF when free */
    uint8_t flags; /* TG__LF_* */
    uint8_t level; /* penalty level */
    uint8_t tier;  /* workspaces: TG_TIER_* */
} tg__lentry;

typedef struct tg__ltable tg__ltable;

/* Upper bound of the bytes one entry costs: itself plus its share of the
 * hash index when the load is lowest (1/2, just after a doubling). */
#define TG__LBYTES_PER_KEY (sizeof(tg__lentry) + 2 * sizeof(uint32_t))

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

/* The entry with `digest`, or NULL. Does not change the use order. */
tg__lentry *tg__ltable_find(tg__ltable *t, uint32_t shard, const uint8_t digest[TG__LDIGEST]);

/* The entry with `digest`, created if absent (zeroed, then kind, digest,
 * tokens = TG__FULL, last = now, trust = 0.5): made the most recently used
 * and pinned until tg__ltable_release. TG_ENOMEM (nothing changed). */
int tg__ltable_get(tg__ltable *t, uint32_t shard, const uint8_t digest[TG__LDIGEST], int kind,
                   int64_t now, tg__lentry **out);

/* Removes an entry. */
void tg__ltable_remove(tg__ltable *t, uint32_t shard, tg__lentry *e);

/* Idle eviction (see above). */
typedef bool (*tg__ltable_evictable)(const tg__lentry *e, int64_t now, void *arg);
void tg__ltable_sweep(tg__ltable *t, uint32_t shard, int64_t now, tg__ltable_evictable fn,
                      void *arg);

/* Ends an operation on the shard: unpins its entries and trims it to its
 * cap. */
void tg__ltable_release(tg__ltable *t, uint32_t shard);

/* Entries in the whole table (takes each shard's lock in turn). */
size_t tg__ltable_count(tg__ltable *t);

/* Entries and hash buckets of one shard (lock held), for tests. */
void tg__ltable_shard_stats(tg__ltable *t, uint32_t shard, uint32_t *entries,
                            uint32_t *buckets, uint32_t *cap);

#endif
