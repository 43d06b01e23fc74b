/*
 * check.c - tg_limiter_check and tg_limiter_peek, on strings or on a
 * prepared key (key.c makes those).
 *
 * One check locks the shards of its user, workspace and IP entries in
 * increasing shard order and holds them to the end; the global bucket's
 * lock comes last and only briefly (see decide). Every caller takes locks
 * in this order, so there is no deadlock. A check that passes takes `cost`
 * in every dimension, a denied one takes nothing anywhere; with N tokens
 * left, exactly N concurrent checks pass.
 *
 * Order of the decision: a running penalty of the user or IP denies
 * first; then any local bucket short of the cost denies (the dimension
 * reported is the one that needs longest to refill; the user and IP short
 * of tokens each count a violation); then shared dimensions spend leased
 * tokens, taking a new lease from the backend if needed (only when every
 * local dimension would pass, so denials cost the backend nothing).
 */
#include <string.h>

#include "backend.h"
#include "bucket.h"
#include "limiter_impl.h"

#define MAXD 4

typedef struct dim {
    int kind;
    tg__lentry *e; /* the entry's two parts */
    tg__lcold *c;
    tg_limit lim;
    bool lease;   /* spends leased tokens now (shared, backend not failed) */
    int64_t have; /* local bucket, units, at `now` */
    int64_t wait; /* ms until the local bucket covers the cost; 0: it does */
} dim;

typedef struct op {
    struct tg_limiter *lim;
    const tg__lplan *p; /* the entries of d[0..n-1) */
    bool commit;
    int64_t now;
    uint32_t cost;
    int64_t need; /* the cost in units */
    dim d[MAXD];  /* user, workspace, IP (those given, in this order), global */
    int n;
    tg__lref refs[MAXD - 1];
    tg__lentry blank; /* an untracked entry, for peek */
    tg__lcold blank_cold;
    tg_limit_verdict v;
} op;

static bool is_penalizable(int kind)
{
    return kind == TG_LIMIT_USER || kind == TG_LIMIT_IP;
}

static tg__lref ref_of(const dim *d)
{
    tg__lref r = {d->e, d->c};
    return r;
}

bool tg__lentry_evictable(const tg__lentry *e, const tg__lcold *c, int64_t now, void *arg)
{
    const struct tg_limiter *lim = arg;
    switch (e->kind) {
    case TG_LIMIT_WORKSPACE:
        if (e->tier != TG__LDEFAULT_TIER || e->override != 0)
            return false;
        break;
    case TG_LIMIT_USER:
        if (e->trust != 0.5)
            return false;
        /* fall through */
    default: {
        tg__penalty p = tg__lentry_penalty(e, c);
        if (!tg__penalty_clear(&lim->o.pen, &p, now))
            return false;
    }
    }
    return tg__bucket_full(e->tokens, e->last, now, e->rate, e->burst);
}

/* ---- setup ---- */

static inline void add_key(const struct tg_limiter *lim, tg__lplan *p, int kind)
{
    tg__lkey *k = &p->keys[p->n++];
    k->kind = kind;
    tg__lkey_digest(lim, kind, &p->a, k->digest);
    /* Its lock and hash bucket load while the rest of the check is set up
     * (the other digests, the clock). */
    k->shard = tg__ltable_locate(lim->table, k->digest);
}

static inline void order2(uint32_t *a, uint32_t *b)
{
    uint32_t lo = *a < *b ? *a : *b, hi = *a < *b ? *b : *a;
    *a = lo;
    *b = hi;
}

int tg__lplan_make(const struct tg_limiter *lim, tg__lplan *p, const char *ws, const char *user,
                   const char *ip)
{
    int rc;
    if (user && !ws)
        return tg__error(TG_EINVAL, "limiter: user_id needs a workspace_id");
    if ((ws && (rc = tg__largs_ws(&p->a, ws))) || (user && (rc = tg__largs_user(&p->a, user))) ||
        (ip && (rc = tg__largs_ip(&p->a, ip))))
        return rc;
    p->n = 0;
    if (user)
        add_key(lim, p, TG_LIMIT_USER);
    if (ws)
        add_key(lim, p, TG_LIMIT_WORKSPACE);
    if (ip)
        add_key(lim, p, TG_LIMIT_IP);
    p->kinds = (user ? 1u << TG_LIMIT_USER : 0) | (ws ? 1u << TG_LIMIT_WORKSPACE : 0) |
               (ip ? 1u << TG_LIMIT_IP : 0) | 1u << TG_LIMIT_GLOBAL;
    /* The keys' shards, distinct and increasing: the order of locking. At
     * most three, sorted by compare-and-swap (a loop here became a
     * memmove call). */
    int n = p->n;
    uint32_t sh[MAXD - 1];
    for (int k = 0; k < n; k++)
        sh[k] = p->keys[k].shard;
    if (n >= 2) {
        order2(&sh[0], &sh[1]);
        if (n == 3) {
            order2(&sh[1], &sh[2]);
            order2(&sh[0], &sh[1]);
        }
    }
    int ns = 0;
    for (int k = 0; k < n; k++)
        if (ns == 0 || sh[k] != p->shards[ns - 1])
            p->shards[ns++] = sh[k];
    p->nshards = ns;
    return TG_OK;
}

static const char *dim_name(int kind)
{
    switch (kind) {
    case TG_LIMIT_USER: return "user";
    case TG_LIMIT_WORKSPACE: return "workspace";
    case TG_LIMIT_IP: return "ip";
    default: return "global";
    }
}

/* Effective limits; TG_ERANGE if the cost exceeds a burst. */
static int limits(op *o)
{
    const tg__lentry *ws = NULL;
    for (int i = 0; i < o->n; i++)
        if (o->d[i].kind == TG_LIMIT_WORKSPACE)
            ws = o->d[i].e;
    int tier = ws ? ws->tier : TG__LDEFAULT_TIER;
    for (int i = 0; i < o->n; i++) {
        dim *d = &o->d[i];
        switch (d->kind) {
        case TG_LIMIT_USER: {
            tg_limit base = tg__tier_limit(tier, TG_LIMIT_USER);
            if (ws->override) {
                base.per_minute = ws->override;
                base.burst = ws->override_burst;
            }
            d->lim = d->e->trust == 0.5 ? base : tg__limit_scale(base, d->e->trust);
            break;
        }
        case TG_LIMIT_WORKSPACE: d->lim = tg__tier_limit(tier, TG_LIMIT_WORKSPACE); break;
        case TG_LIMIT_IP: d->lim = o->lim->o.ip; break;
        default: d->lim = o->lim->o.global; break;
        }
        if (o->cost > d->lim.burst)
            return tg__error(TG_ERANGE,
                             "limiter: cost %u is above the %s burst of %u: the check could "
                             "never pass", o->cost, dim_name(d->kind), d->lim.burst);
    }
    return TG_OK;
}

/* ---- the decision ---- */

static uint32_t penalty_level(const op *o, const dim *d)
{
    if (!is_penalizable(d->kind))
        return 0;
    tg__penalty p = tg__lentry_penalty(d->e, d->c);
    return tg__penalty_level(&o->lim->o.pen, &p, o->now);
}

static int64_t max_wait(const op *o)
{
    int64_t w = 0;
    for (int i = 0; i < o->n; i++)
        if (o->d[i].wait > w)
            w = o->d[i].wait;
    return w;
}

static void deny(op *o, const dim *d, int penalized, int64_t retry)
{
    o->v.allowed = 0;
    o->v.dimension = d->kind;
    o->v.penalized = penalized;
    o->v.penalty_level = penalty_level(o, d);
    o->v.limit = d->lim;
    o->v.tokens_left = d->lease ? tg__lease_pool(ref_of(d), o->now) : tg__bucket_whole(d->have);
    o->v.retry_after_ms = retry > 0 ? retry : 1;
}

/* Denied by a running penalty: the one that ends last. */
static bool deny_penalized(op *o)
{
    const dim *worst = NULL;
    for (int i = 0; i < o->n; i++) {
        const dim *d = &o->d[i];
        if (is_penalizable(d->kind) && tg__penalty_until_active(d->e->pen_until, o->now) &&
            (!worst || d->e->pen_until > worst->e->pen_until))
            worst = d;
    }
    if (!worst)
        return false;
    int64_t retry = worst->e->pen_until - o->now, w = max_wait(o);
    deny(o, worst, 1, retry > w ? retry : w);
    return true;
}

/* Counts a violation for `d` (a user or IP short of tokens); true if it
 * started a penalty period. */
static bool violate(op *o, dim *d)
{
    if (!o->commit || !is_penalizable(d->kind))
        return false;
    tg__penalty p = tg__lentry_penalty(d->e, d->c);
    bool started = tg__penalty_violation(&o->lim->o.pen, &p, o->now);
    tg__lentry_set_penalty(d->e, d->c, &p);
    return started;
}

/* Denied by local buckets short of the cost. */
static bool deny_short(op *o)
{
    dim *worst = NULL;
    bool started = false;
    for (int i = 0; i < o->n; i++) {
        dim *d = &o->d[i];
        if (d->wait == 0)
            continue;
        if (!worst || d->wait > worst->wait)
            worst = d;
        started |= violate(o, d);
    }
    if (!worst)
        return false;
    if (!started || !deny_penalized(o))
        deny(o, worst, 0, worst->wait);
    return true;
}

static int64_t local_wait(const op *o, const dim *d)
{
    if (d->have >= o->need)
        return 0;
    return tg__bucket_wait(d->have, d->e->last, o->now, d->lim.per_minute, o->need);
}

/* Shared dimensions d[from..to) whose pool cannot cover the cost: lease
 * more. */
static bool deny_shared(op *o, int from, int to)
{
    const struct tg_limiter *lim = o->lim;
    for (int i = from; i < to; i++) {
        dim *d = &o->d[i];
        if (!d->lease || tg__lease_pool(ref_of(d), o->now) >= o->cost)
            continue;
        int64_t refused = tg__lease_refused_for(ref_of(d), o->now);
        if (refused > 0) { /* the backend said no until then: do not ask again */
            if (!violate(o, d) || !deny_penalized(o))
                deny(o, d, 0, refused);
            return true;
        }
        if (!o->commit) { /* peek: estimate with the local bucket */
            d->lease = false;
            d->wait = local_wait(o, d);
            if (d->wait > 0) {
                deny(o, d, 0, d->wait);
                return true;
            }
            continue;
        }
        uint8_t key[TG__LKEY_MAX];
        size_t key_len = tg__lkey_backend(d->kind, &o->p->a, key);
        int64_t retry = 0;
        int r = tg__lease_take(&lim->backend, ref_of(d), key, key_len, d->lim, o->cost,
                               lim->o.lease_tokens, lim->o.lease_ms, o->now, &retry);
        if (r == TG__LEASE_OK)
            continue;
        if (r == TG__LEASE_FAILED) {
            d->lease = false;
            d->wait = local_wait(o, d);
            if (d->wait == 0)
                continue;
            retry = d->wait;
        }
        if (!violate(o, d) || !deny_penalized(o))
            deny(o, d, 0, retry);
        return true;
    }
    return false;
}

/* An allowed verdict, naming the dimension with fewest tokens left. */
static void verdict_allowed(op *o, tg_limit lim, uint32_t tokens_left)
{
    o->v.allowed = 1;
    o->v.dimension = TG_LIMIT_NONE;
    o->v.penalized = 0;
    o->v.penalty_level = 0;
    o->v.limit = lim;
    o->v.tokens_left = tokens_left;
    o->v.retry_after_ms = 0;
}

static void allow(op *o)
{
    const dim *best = NULL;
    int64_t best_left = 0;
    for (int i = 0; i < o->n; i++) {
        dim *d = &o->d[i];
        int64_t left;
        if (d->lease) {
            left = tg__lease_pool(ref_of(d), o->now) - (int64_t)o->cost;
            if (o->commit)
                d->c->pool -= o->cost;
        } else {
            left = tg__bucket_whole(d->have - o->need);
        }
        /* The local bucket pays in both modes (when leasing it never denies). */
        d->have = d->have > o->need ? d->have - o->need : 0;
        if (!best || left < best_left) {
            best = d;
            best_left = left;
        }
    }
    verdict_allowed(o, best->lim, (uint32_t)best_left);
}

static void eval(op *o, dim *d)
{
    d->lease = (o->lim->o.shared >> d->kind & 1) && !tg__lease_fallback(ref_of(d), o->now);
    d->have = tg__bucket_level(d->e->tokens, d->e->last, o->now, d->lim.per_minute, d->lim.burst);
    d->wait = d->lease ? 0 : local_wait(o, d);
}

/* Writes a refilled (and, if allowed, charged) bucket back. */
static void settle(op *o, dim *d)
{
    tg__lentry *e = d->e;
    e->tokens = d->have;
    if (o->now > e->last)
        e->last = o->now;
    e->rate = d->lim.per_minute;
    e->burst = d->lim.burst;
}

/*
 * The global bucket is the one every check shares, so its lock is held
 * only around what needs it: reading it for a denial's wait, or deciding
 * and taking from it once every other dimension (whose shards stay locked
 * throughout) has passed. Its critical section is a few arithmetic steps,
 * unless it is shared through a backend and needs a new lease.
 */
static void decide(op *o)
{
    int nt = o->n - 1; /* d[nt] is the global bucket */
    dim *g = &o->d[nt];
    tg__lock *glock = &o->lim->global_lock;
    bool denied = false;
    for (int i = 0; i < nt; i++) {
        dim *d = &o->d[i];
        eval(o, d);
        denied |= d->wait > 0 || (is_penalizable(d->kind) &&
                                  tg__penalty_until_active(d->e->pen_until, o->now));
    }
    g->wait = 0;
    if (denied) {
        tg__lock_acquire(glock);
        eval(o, g); /* for the wait it adds, and the verdict if it binds */
        if (!deny_penalized(o))
            deny_short(o);
        tg__lock_release(glock);
        return;
    }
    if (deny_shared(o, 0, nt))
        return;
    tg__lock_acquire(glock);
    eval(o, g);
    if (!deny_short(o) && !deny_shared(o, nt, o->n)) {
        allow(o);
        if (o->commit)
            settle(o, g);
    }
    tg__lock_release(glock);
}

/*
 * The common case, decided without the general machinery above: a check
 * (not a peek) in which no dimension is kept by a backend, no entry is in
 * a penalty period and every bucket holds the cost (within its burst).
 * Then it takes the cost everywhere (the global bucket under its lock,
 * last, as decide does), writes the buckets back and gives the verdict
 * allow() would. Returns false, having changed nothing, when any of that
 * does not hold: limits() and decide() then give the verdict (or the
 * error).
 */
static bool allow_fast(op *o)
{
    const struct tg_limiter *lim = o->lim;
    const uint32_t kinds = o->p->kinds;
    if (lim->o.shared & kinds)
        return false;
    const int64_t now = o->now, need = o->need;
    const int nt = o->n - 1; /* d[nt] is the global bucket */
    int tier = TG__LDEFAULT_TIER;
    const tg__lentry *ws = NULL;
    if (kinds & 1u << TG_LIMIT_WORKSPACE) { /* after the user if there is one */
        ws = o->refs[(kinds & 1u << TG_LIMIT_USER) ? 1 : 0].e;
        tier = ws->tier;
    }
    for (int i = 0; i < nt; i++) {
        dim *d = &o->d[i];
        const tg__lentry *e = o->refs[i].e;
        if (tg__penalty_until_active(e->pen_until, now)) /* only users and IPs have one */
            return false;
        switch (d->kind) {
        case TG_LIMIT_USER:
            if (ws->override) {
                d->lim.per_minute = ws->override;
                d->lim.burst = ws->override_burst;
            } else {
                d->lim = tg__tier_limit(tier, TG_LIMIT_USER);
            }
            if (e->trust != 0.5)
                d->lim = tg__limit_scale(d->lim, e->trust);
            break;
        case TG_LIMIT_WORKSPACE: d->lim = tg__tier_limit(tier, TG_LIMIT_WORKSPACE); break;
        default: d->lim = lim->o.ip; break;
        }
        if (o->cost > d->lim.burst ||
            (d->have = tg__bucket_level(e->tokens, e->last, now, d->lim.per_minute,
                                        d->lim.burst)) < need)
            return false;
    }
    dim *g = &o->d[nt];
    g->lim = lim->o.global;
    if (o->cost > g->lim.burst)
        return false;
    tg__lock *glock = &o->lim->global_lock;
    tg__lentry *ge = &o->lim->global;
    tg__lock_acquire(glock);
    g->have = tg__bucket_level(ge->tokens, ge->last, now, g->lim.per_minute, g->lim.burst);
    if (g->have < need) {
        tg__lock_release(glock);
        return false;
    }
    g->have -= need;
    ge->tokens = g->have;
    if (now > ge->last)
        ge->last = now;
    ge->rate = g->lim.per_minute;
    ge->burst = g->lim.burst;
    tg__lock_release(glock);
    /* Write back; the verdict names the dimension with the fewest whole
     * tokens left (the first of equals). */
    const dim *best = g;
    uint32_t best_left = tg__bucket_whole(g->have);
    for (int i = nt - 1; i >= 0; i--) {
        dim *d = &o->d[i];
        tg__lentry *e = o->refs[i].e;
        d->have -= need;
        e->tokens = d->have;
        if (now > e->last)
            e->last = now;
        e->rate = d->lim.per_minute;
        e->burst = d->lim.burst;
        uint32_t left = tg__bucket_whole(d->have);
        if (left <= best_left) {
            best = d;
            best_left = left;
        }
    }
    verdict_allowed(o, best->lim, best_left);
    return true;
}

static inline int check_verdict(const tg_limit_verdict *v)
{
    if (!v)
        return tg__error(TG_EINVAL, "limiter: out is NULL");
    /* A struct from older headers is written only as far as its
     * struct_size reaches; it must at least hold `allowed`. */
    if (v->version < 1 || v->version > TG_LIMIT_VERDICT_VERSION ||
        v->struct_size < offsetof(tg_limit_verdict, allowed) + sizeof v->allowed)
        return tg__error(TG_EVERSION,
                         "limiter: out has version %u, struct_size %u: initialise it with "
                         "tg_limit_verdict_init", v->version, v->struct_size);
    return TG_OK;
}

/* The arguments every check and peek has. */
static inline int check_args(tg_ctx *ctx, const tg_limit_verdict *out, uint32_t cost)
{
    if (!ctx)
        return tg__error(TG_EINVAL, "limiter: ctx is NULL");
    int rc = check_verdict(out);
    if (rc)
        return rc;
    if (cost == 0)
        return tg__error(TG_EINVAL, "limiter: cost is 0");
    return TG_OK;
}

static inline void op_init(op *o, tg_ctx *ctx, uint32_t cost, bool commit)
{
    o->lim = tg__ctx_limiter(ctx);
    o->commit = commit;
    o->cost = cost;
    o->need = tg__units(cost);
}

static void write_verdict(const op *o, tg_limit_verdict *out)
{
    if (out->struct_size >= sizeof *out) {
        out->allowed = o->v.allowed;
        out->dimension = o->v.dimension;
        out->penalized = o->v.penalized;
        out->penalty_level = o->v.penalty_level;
        out->limit = o->v.limit;
        out->tokens_left = o->v.tokens_left;
        out->retry_after_ms = o->v.retry_after_ms;
    } else { /* a struct from older headers: only as far as it reaches */
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        v.allowed = o->v.allowed;
        v.dimension = o->v.dimension;
        v.penalized = o->v.penalized;
        v.penalty_level = o->v.penalty_level;
        v.limit = o->v.limit;
        v.tokens_left = o->v.tokens_left;
        v.retry_after_ms = o->v.retry_after_ms;
        size_t skip = offsetof(tg_limit_verdict, allowed);
        memcpy((char *)out + skip, (const char *)&v + skip, out->struct_size - skip);
    }
}

/* Decides the check or peek set up in `o` (its plan chosen): looks its
 * entries up (`where` as tg__ltable_enter takes it) and writes the verdict.
 * Inlined into its callers, so that each is compiled for its own `commit`
 * (and no wrapper call sits in front of the work). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int execute(tg_ctx *ctx, op *o, tg_limit_verdict *out, uint32_t *where)
{
    const tg__lplan *p = o->p;
    const bool commit = o->commit;
    const int nk = p->n; /* d[nk] is the global bucket */
    for (int i = 0; i < nk; i++)
        o->d[i].kind = p->keys[i].kind;
    o->d[nk].kind = TG_LIMIT_GLOBAL;
    o->n = nk + 1;
    if (!commit) {
        memset(&o->blank, 0, sizeof o->blank);
        memset(&o->blank_cold, 0, sizeof o->blank_cold);
        o->blank.tokens = TG__FULL;
        o->blank.trust = 0.5;
        o->blank.tier = TG__LDEFAULT_TIER;
    }
    o->now = tg__ctx_now(ctx);

    tg__ltable *t = o->lim->table;
    int rc = tg__ltable_enter(t, p->shards, p->nshards, p->keys, nk, commit, o->now,
                              tg__lentry_evictable, o->lim, o->refs, where);
    if (!rc && !(commit && allow_fast(o))) {
        for (int i = 0; i < nk; i++) {
            if (o->refs[i].e) {
                o->d[i].e = o->refs[i].e;
                o->d[i].c = o->refs[i].c;
            } else { /* peek: not tracked */
                o->d[i].e = &o->blank;
                o->d[i].c = &o->blank_cold;
            }
        }
        o->d[nk].e = &o->lim->global;
        o->d[nk].c = &o->lim->global_cold;
        if (!(rc = limits(o))) {
            decide(o);
            if (commit)
                for (int i = 0; i < nk; i++) /* the global bucket settled in decide */
                    settle(o, &o->d[i]);
        }
    }
    tg__ltable_leave(t, p->shards, p->nshards, o->refs, commit ? nk : 0, commit);
    if (rc)
        return rc;
    write_verdict(o, out);
    return TG_OK;
}

#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int run(tg_ctx *ctx, tg_limit_verdict *out, const char *ws, const char *user,
                      const char *ip, uint32_t cost, bool commit)
{
    int rc = check_args(ctx, out, cost);
    if (rc)
        return rc;
    op o;
    op_init(&o, ctx, cost, commit);
    tg__lplan plan;
    if ((rc = tg__lplan_make(o.lim, &plan, ws, user, ip)))
        return rc;
    o.p = &plan;
    return execute(ctx, &o, out, NULL);
}

/* A check or peek on a prepared key: its entries' lines start loading
 * before anything else, and each is looked for first where it was found
 * last. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int run_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key,
                          uint32_t cost, bool commit)
{
    int rc = check_args(ctx, out, cost);
    if (rc)
        return rc;
    if (!key)
        return tg__error(TG_EINVAL, "limiter: key is NULL");
    if (key->ctx != ctx || key->limiter_id != tg__ctx_limiter(ctx)->id)
        return tg__error(TG_EINVAL, "limiter: key was prepared for another context");
    const int nk = key->plan.n;
    uint32_t where[TG__LENTER_MAX], before[TG__LENTER_MAX];
    for (int k = 0; k < nk; k++) {
        before[k] = where[k] = atomic_load_explicit(&key->where[k], memory_order_relaxed);
#if defined(__GNUC__)
        __builtin_prefetch(atomic_load_explicit(&key->line[k], memory_order_relaxed), 1);
#endif
    }
    op o;
    op_init(&o, ctx, cost, commit);
    o.p = &key->plan;
    rc = execute(ctx, &o, out, where);
    for (int k = 0; k < nk; k++) {
        if (where[k] == before[k])
            continue;
        atomic_store_explicit(&key->where[k], where[k], memory_order_relaxed);
        if (o.refs[k].e)
            atomic_store_explicit(&key->line[k], o.refs[k].e, memory_order_relaxed);
    }
    return rc;
}

int tg_limiter_check(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                     const char *user_id, const char *ip, uint32_t cost)
{
    return run(ctx, out, workspace_id, user_id, ip, cost, true);
}

int tg_limiter_peek(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                    const char *user_id, const char *ip, uint32_t cost)
{
    return run(ctx, out, workspace_id, user_id, ip, cost, false);
}

int tg_limiter_check_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key, uint32_t cost)
{
    return run_key(ctx, out, key, cost, true);
}

int tg_limiter_peek_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key, uint32_t cost)
{
    return run_key(ctx, out, key, cost, false);
}
