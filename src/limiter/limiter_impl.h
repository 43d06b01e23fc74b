/*
 * limiter_impl.h - what the limiter's own files share: the limiter object,
 * its resolved options, parsed arguments and keys. Not for other modules
 * (they use limiter_internal.h).
 */
#ifndef TG_LIMITER_IMPL_H
#define TG_LIMITER_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "limiter_internal.h"
#include "tenantguard/keyring.h"
#include "lock.h"
#include "penalty.h"
#include "table.h"

#define TG__LDEFAULT_TIER TG_TIER_FREE
#define TG__LMAX_KEYS_LIMIT (1u << 30)

/* Options with every default applied. */
typedef struct tg__lopts {
    tg_limit ip, global;
    uint32_t max_keys;
    uint32_t idle_evict_ms;
    tg__penalty_cfg pen;
    uint32_t shared;       /* bit (1 << TG_LIMIT_*) per dimension kept by the backend */
    uint32_t lease_tokens; /* 0: burst / 16 of the dimension, at least 1 */
    uint32_t lease_ms;
} tg__lopts;

struct tg_limiter {
    uint64_t id; /* unique in the process: what a prepared key is checked against */
    const tg_allocator *alloc;
    tg__lopts o;
    tg__ltable *table;
    uint8_t *hash_key; /* guarded memory: the SipHash key of entry digests */
    bool has_backend;
    tg_limiter_backend_ops backend;
    char pad0[64];
    tg__lock global_lock; /* the global bucket has a lock of its own */
    tg__lentry global;
    tg__lcold global_cold;
    char pad1[64];
};

/* A check's identifiers, validated. */
typedef struct tg__largs {
    const char *ws, *user;
    size_t ws_len, user_len;
    uint8_t ip[16];
    uint8_t ip_len; /* 0 (no IP), 4 or 16 */
} tg__largs;

/* A check's identifiers, validated and hashed: the entries it looks up
 * and the order it locks their shards in. A check on strings makes one on
 * the stack; a prepared key (tg_limiter_key) keeps one. */
typedef struct tg__lplan {
    tg__largs a;
    int n;                             /* keys[0..n): user, workspace, IP (those given) */
    uint32_t kinds;                    /* bit (1 << TG_LIMIT_*) per dimension, global included */
    int nshards;
    uint32_t shards[TG__LENTER_MAX];   /* the keys' shards, distinct, increasing */
    tg__lkey keys[TG__LENTER_MAX];
} tg__lplan;

/* check.c: validates and hashes the identifiers (setup of a check). */
int tg__lplan_make(const struct tg_limiter *lim, tg__lplan *p, const char *ws, const char *user,
                   const char *ip);

struct tg_limiter_key {
    /* The context it was prepared for. A context opened after that one
     * was closed may have its address, so its limiter's id is kept too. */
    tg_ctx *ctx;
    uint64_t limiter_id;
    tg_allocator alloc;
    tg__lplan plan; /* its ws and user point into text[] */
    /* Where each entry was found last (entry number, TG__LNIL: not known),
     * tried before the hash index under the shard's lock; and its address,
     * only ever prefetched before the locks are taken. Relaxed atomics: a
     * key may be used by several threads at once. */
    _Atomic uint32_t where[TG__LENTER_MAX];
    _Atomic(tg__lentry *) line[TG__LENTER_MAX];
    char text[];
};

/* Longest backend key: "tg:rl:u:" + "255:" + ws + ":" + user. */
#define TG__LKEY_MAX (8 + 4 + TG_ID_MAX + 1 + TG_ID_MAX)

/* keys.c: validation ("limiter: workspace_id is empty"), digests, keys. */
int tg__largs_ws(tg__largs *a, const char *ws);
int tg__largs_user(tg__largs *a, const char *user);
int tg__largs_ip(tg__largs *a, const char *ip);
/* A dotted-quad IPv4 address exactly as inet_pton(AF_INET) accepts it
 * (four decimal parts 0..255, no leading zeros); false otherwise. */
bool tg__parse_ipv4(const char *s, uint8_t out[4]);
void tg__lkey_digest(const struct tg_limiter *lim, int kind, const tg__largs *a,
                     uint8_t out[TG__LDIGEST]);
size_t tg__lkey_backend(int kind, const tg__largs *a, uint8_t out[TG__LKEY_MAX]);

/* tiers.c: per tier, the per-user limit, then the whole workspace's. */
extern const tg_limit tg__tiers[TG_TIER_COUNT][2];
static inline tg_limit tg__tier_limit(int tier, int dimension)
{
    return tg__tiers[tier][dimension == TG_LIMIT_WORKSPACE];
}

/* check.c: the evictability test the sweeps use. */
bool tg__lentry_evictable(const tg__lentry *e, const tg__lcold *c, int64_t now, void *lim);

/* Penalty state of an entry, in and out. */
static inline tg__penalty tg__lentry_penalty(const tg__lentry *e, const tg__lcold *c)
{
    tg__penalty p = {e->pen_until, c->pen_quiet, c->pen_window, c->violations, e->level};
    return p;
}
static inline void tg__lentry_set_penalty(tg__lentry *e, tg__lcold *c, const tg__penalty *p)
{
    e->pen_until = p->until;
    c->pen_quiet = p->quiet;
    c->pen_window = p->window;
    c->violations = p->violations;
    e->level = (uint8_t)(p->level > TG__PENALTY_LEVEL_MAX ? TG__PENALTY_LEVEL_MAX : p->level);
}

#endif
