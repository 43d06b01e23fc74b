/*
 * tenantguard/limiter.h - rate limiting in four dimensions.
 *
 * Token buckets (a rate per minute and a burst) per user (within a
 * workspace), per workspace, per client IP and for the whole instance. One
 * check covers every dimension that applies and is all-or-nothing: a denied
 * check consumes nothing in any dimension. A denial is an outcome, not an
 * error: the call returns TG_OK with a verdict saying which dimension
 * denied, its limit, the tokens left there and how long to wait.
 *
 * Limits: a workspace's tier (TG_TIER_*; TG_TIER_FREE until set) gives the
 * user and workspace limits (docs/LIMITER.md has the table;
 * tg_limiter_tier_default() reads it); a workspace may override its
 * per-user rate (messages_per_minute); the IP and global limits come from
 * tg_limiter_options. A user's trust score in [0,1] scales that user's
 * rate and burst: 0 gives 0.25x, the default 0.5 gives 1x, 1 gives 2x,
 * linearly in between.
 *
 * Penalties: a user or IP denied `violations_to_penalize` times within
 * `violation_window_ms` enters a penalty period during which every check
 * it is part of is denied. Periods grow by `penalty_factor` per level (1,
 * 5, 25 minutes ...) up to `penalty_max_ms`; each quiet `penalty_decay_ms`
 * lowers the level by one. Checks denied by a penalty do not count as new
 * violations.
 *
 * State is in memory, per context, sharded (no global lock); entries idle
 * for `idle_evict_ms` with a full bucket and no penalty are evicted, and at
 * most `max_keys` entries are kept (at the cap, entries not used recently
 * go first: a CLOCK approximation of least-recently-used).
 * Workspace settings (tier, override) and non-default trust are kept until
 * the entry is evicted at the cap. Several instances can share limits
 * through a tg_limiter_backend_ops (see below).
 *
 * All functions are thread-safe on a shared tg_ctx. Identifiers follow the
 * keyring's rules (1..TG_ID_MAX bytes of UTF-8, no control characters); an
 * IP is a textual IPv4 or IPv6 address, compared in binary form (so
 * "::ffff:1.2.3.4" and "1.2.3.4" are different keys, "::1" and "0::1" the
 * same).
 */
#ifndef TENANTGUARD_LIMITER_H
#define TENANTGUARD_LIMITER_H

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dimensions. */
#define TG_LIMIT_NONE (-1)
#define TG_LIMIT_USER 0
#define TG_LIMIT_WORKSPACE 1
#define TG_LIMIT_IP 2
#define TG_LIMIT_GLOBAL 3
#define TG_LIMIT_DIMENSIONS 4

/* Tiers. */
#define TG_TIER_FREE 0
#define TG_TIER_STANDARD 1
#define TG_TIER_PROFESSIONAL 2
#define TG_TIER_ENTERPRISE 3
#define TG_TIER_COUNT 4

/* Bounds of what a limit may say. */
#define TG_LIMIT_RATE_MAX 100000000u /* tokens per minute */
#define TG_LIMIT_BURST_MAX 10000000u /* tokens */
TG_API uint32_t tg_limit_rate_max(void);
TG_API uint32_t tg_limit_burst_max(void);

/* A token bucket: refills `per_minute` tokens a minute up to `burst`. */
typedef struct tg_limit {
    uint32_t per_minute; /* 1..TG_LIMIT_RATE_MAX */
    uint32_t burst;      /* 1..TG_LIMIT_BURST_MAX */
} tg_limit;

/* The default limit of `dimension` (TG_LIMIT_USER or TG_LIMIT_WORKSPACE)
 * for `tier`. Errors: TG_EINVAL (NULL out, unknown tier or dimension). */
TG_API int tg_limiter_tier_default(tg_limit *out, int tier, int dimension);

#define TG_LIMITER_BACKEND_VERSION 1

/*
 * A shared backend lets several server instances enforce one limit. The
 * host implements one atomic operation on a token bucket it keeps (for
 * example in Redis, as one Lua script): refill bucket `key` at `per_minute`
 * up to `burst` as of `now_ms`, then grant min(want, whole tokens
 * available), subtract them, and report how many were granted and, when
 * fewer than `want`, in how many ms `want` tokens would be available.
 * Returns TG_OK or a negative TG_E* code. While the backend fails, the
 * library enforces that dimension with a local bucket of the same limit
 * for this instance alone, so an outage neither blocks all traffic nor
 * lifts the limit.
 *
 * The library keeps its hot path local: for a shared dimension it leases
 * `lease_tokens` at a time from the backend and spends them locally;
 * unspent leased tokens are given up after `lease_ms` (a remainder smaller
 * than one check's cost is carried into the next lease, so a multi-token
 * check cannot starve). So a limit is exact per instance and
 * accurate across instances to within (instances x lease_tokens) tokens:
 * tokens one instance has leased and not spent are unavailable to the
 * others until spent or expired. `take` is called while the check holds
 * its shard locks: it must be quick, thread-safe, and must not call back
 * into the limiter.
 */
typedef struct tg_limiter_backend_ops {
    uint32_t version;     /* TG_LIMITER_BACKEND_VERSION */
    uint32_t struct_size; /* sizeof(tg_limiter_backend_ops) */
    void *user;
    int (*take)(void *user, const uint8_t *key, size_t key_len, uint32_t per_minute,
                uint32_t burst, uint32_t want, int64_t now_ms, uint32_t *out_granted,
                int64_t *out_retry_after_ms);
} tg_limiter_backend_ops;

#define TG_LIMITER_OPTIONS_VERSION 1

/* Limiter settings, given in tg_config.limiter (NULL: all defaults). Zero
 * in any field means its default. Initialise with tg_limiter_options_init. */
typedef struct tg_limiter_options {
    uint32_t version;     /* TG_LIMITER_OPTIONS_VERSION */
    uint32_t struct_size; /* sizeof(tg_limiter_options) */
    tg_limit ip;          /* per client IP; default 600/min, burst 100 */
    tg_limit global;      /* whole instance; default 600000/min, burst 20000 */
    uint32_t max_keys;    /* tracked entries; default 2,000,000 */
    uint32_t idle_evict_ms;           /* default 600000 (10 min) */
    uint32_t violations_to_penalize;  /* default 5 */
    uint32_t violation_window_ms;     /* default 60000 */
    uint32_t penalty_base_ms;         /* first period; default 60000 */
    uint32_t penalty_factor;          /* growth per level; default 5 */
    uint32_t penalty_max_ms;          /* cap; default 3600000 (1 h) */
    uint32_t penalty_decay_ms;        /* quiet time per level; default 1800000 */
    const tg_limiter_backend_ops *backend; /* NULL: in-process only */
    uint32_t backend_dimensions; /* bit mask of (1 << TG_LIMIT_*); default
                                    workspace and global when a backend is set */
    uint32_t lease_tokens;       /* default: burst / 16, at least 1 */
    uint32_t lease_ms;           /* default 1000 */
} tg_limiter_options;

/* Fills `opts` with zeros (meaning defaults) and the version fields. */
TG_API void tg_limiter_options_init(tg_limiter_options *opts);

#define TG_LIMIT_VERDICT_VERSION 1

/* The answer to a check. The caller initialises it with
 * tg_limit_verdict_init(); the library writes only what struct_size
 * covers, so a program built against older headers stays safe. */
typedef struct tg_limit_verdict {
    uint32_t version;
    uint32_t struct_size;
    int allowed;             /* 1: allowed (tokens taken), 0: denied */
    int dimension;           /* TG_LIMIT_* that denied; TG_LIMIT_NONE if allowed */
    int penalized;           /* 1 if denied by a penalty period */
    uint32_t penalty_level;  /* of the denying user or IP; 0 if none */
    tg_limit limit;          /* effective limit of the denying dimension (or,
                                if allowed, of the one with fewest tokens left) */
    uint32_t tokens_left;    /* whole tokens left there after the check */
    int64_t retry_after_ms;  /* 0 if allowed; else when the same check could pass */
} tg_limit_verdict;

/* Sets the version fields and clears the rest. Accepts NULL. */
TG_API void tg_limit_verdict_init(tg_limit_verdict *v);

/*
 * Checks and, if every applicable dimension has `cost` tokens, takes them.
 * The user dimension applies when user_id is not NULL (it needs
 * workspace_id), the workspace dimension when workspace_id is not NULL, the
 * IP dimension when ip is not NULL; the global one always.
 * Errors: TG_EINVAL (NULL ctx/out, bad id or IP, user without workspace,
 * cost 0), TG_ERANGE (cost larger than a dimension's burst: it could never
 * pass), TG_EVERSION (verdict not initialised), TG_ENOMEM.
 */
TG_API int tg_limiter_check(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                            const char *user_id, const char *ip, uint32_t cost);

/* The same verdict tg_limiter_check would give now, consuming nothing and
 * counting no violation. For a dimension shared through a backend, peek
 * asks the backend nothing: it answers from this instance's lease and from
 * the backend's last refusal, which stands until its retry time. Same
 * errors. */
TG_API int tg_limiter_peek(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                           const char *user_id, const char *ip, uint32_t cost);

/*
 * Prepared keys. A server checks the same workspace, user and IP for every
 * message of a connection. A key prepared once for them does their
 * validation and hashing once and remembers where their entries are, so
 * each check on it does only the lookups, the locking and the arithmetic.
 * A check on a key uses the same entries as tg_limiter_check with the same
 * identifiers and gives the same verdict; the two may be mixed freely.
 *
 * A prepared key is not a tracked entry: it does not count towards
 * max_keys, and an entry it refers to may be evicted like any other (the
 * key then finds or creates it again).
 *
 * tg_limiter_key_new takes the identifiers as tg_limiter_check does (any
 * may be NULL; user_id needs workspace_id) and copies them; the key is
 * allocated with the context's allocator. The key is used only with `ctx`
 * while `ctx` is open (checking it with another context, even one opened
 * later at the same address, is TG_EINVAL), by any number of threads at
 * once. Free it with tg_limiter_key_free, before or after closing `ctx`
 * (the allocator must still be usable then); free accepts NULL. Errors:
 * TG_EINVAL (NULL ctx/out, bad id or IP, user without workspace),
 * TG_ENOMEM; *out is then NULL.
 */
typedef struct tg_limiter_key tg_limiter_key;
TG_API int tg_limiter_key_new(tg_ctx *ctx, tg_limiter_key **out, const char *workspace_id,
                              const char *user_id, const char *ip);
TG_API void tg_limiter_key_free(tg_limiter_key *key);

/* tg_limiter_check and tg_limiter_peek on a prepared key. Same errors, and
 * TG_EINVAL for a NULL key or one prepared for another context. The key is
 * not const: each call may update (atomically) where it remembers its
 * entries to be. */
TG_API int tg_limiter_check_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key,
                                uint32_t cost);
TG_API int tg_limiter_peek_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key,
                               uint32_t cost);

/*
 * Admin reset of one entry: refills its bucket and clears its violations
 * and penalty (trust and workspace settings stay). `dimension` selects the
 * key: USER (workspace_id and key = user id), WORKSPACE (workspace_id, key
 * NULL), IP (key = address, workspace_id NULL), GLOBAL (both NULL).
 * Resetting an untracked entry is TG_OK. Errors: TG_EINVAL.
 */
TG_API int tg_limiter_reset(tg_ctx *ctx, int dimension, const char *workspace_id,
                            const char *key);

/* Sets the workspace's tier (TG_TIER_*). Errors: TG_EINVAL. */
TG_API int tg_limiter_set_tier(tg_ctx *ctx, const char *workspace_id, int tier);

/* Overrides the per-user rate in a workspace (the policy's
 * messages_per_minute); the burst scales with it from the tier's ratio
 * (at least 1). 0 returns to the tier default. Errors: TG_EINVAL, TG_ERANGE
 * (above TG_LIMIT_RATE_MAX). */
TG_API int tg_limiter_set_user_limit(tg_ctx *ctx, const char *workspace_id,
                                     uint32_t messages_per_minute);

/* A user's trust score in [0,1] (default 0.5). set clamps nothing: a value
 * outside [0,1] or NaN is TG_EINVAL; adjust adds `delta` and clamps to
 * [0,1], returning the new score in *out_trust (may be NULL). */
TG_API int tg_limiter_get_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                                const char *user_id);
TG_API int tg_limiter_set_trust(tg_ctx *ctx, const char *workspace_id, const char *user_id,
                                double trust);
TG_API int tg_limiter_adjust_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                                   const char *user_id, double delta);

/*
 * Puts a user (dimension TG_LIMIT_USER, with workspace_id) or an IP
 * (TG_LIMIT_IP, workspace_id NULL) into a penalty period: `duration_ms`
 * from now, or with 0 the next escalation level's period, as if it had
 * just crossed the violation threshold. Errors: TG_EINVAL.
 */
TG_API int tg_limiter_apply_penalty(tg_ctx *ctx, int dimension, const char *workspace_id,
                                    const char *key, uint32_t duration_ms);

/* Number of entries tracked now (buckets with their trust and penalty
 * state; the global bucket is not counted), for monitoring and for sizing
 * max_keys. */
TG_API int tg_limiter_tracked(tg_ctx *ctx, size_t *out_count);

/* Upper bound of the memory one tracked entry costs, in bytes, including
 * its share of the hash table at the maximum load factor. */
TG_API size_t tg_limiter_bytes_per_key(void);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_LIMITER_H */
