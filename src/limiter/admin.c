/*
 * admin.c - the limiter's administrative calls: reset, tiers and
 * overrides, trust, explicit penalties. Each touches one entry under its
 * shard's lock (or the global bucket's lock), so they need no lock order.
 */
#include <string.h>

#include "bucket.h"
#include "limiter_impl.h"

typedef struct admin {
    struct tg_limiter *lim;
    tg__largs a;
    int kind;
    uint8_t digest[TG__LDIGEST];
    uint32_t shard;
    int64_t now;
} admin;

static const char *dimension_name(int d)
{
    switch (d) {
    case TG_LIMIT_USER: return "TG_LIMIT_USER";
    case TG_LIMIT_WORKSPACE: return "TG_LIMIT_WORKSPACE";
    case TG_LIMIT_IP: return "TG_LIMIT_IP";
    default: return "TG_LIMIT_GLOBAL";
    }
}

/* Validates the identifiers of `kind`: USER (ws, key = user id), WORKSPACE
 * (ws, key NULL), IP (ws NULL, key = address), GLOBAL (both NULL). */
static int prepare(admin *ad, tg_ctx *ctx, const char *what, int kind, const char *ws,
                   const char *key)
{
    if (!ctx)
        return tg__error(TG_EINVAL, "limiter: ctx is NULL");
    memset(ad, 0, sizeof *ad);
    ad->lim = tg__ctx_limiter(ctx);
    ad->kind = kind;
    int rc = TG_OK;
    switch (kind) {
    case TG_LIMIT_USER:
        if ((rc = tg__largs_ws(&ad->a, ws)) || (rc = tg__largs_user(&ad->a, key)))
            return rc;
        break;
    case TG_LIMIT_WORKSPACE:
        if ((rc = tg__largs_ws(&ad->a, ws)))
            return rc;
        if (key)
            return tg__error(TG_EINVAL, "limiter: %s: key must be NULL for TG_LIMIT_WORKSPACE",
                             what);
        break;
    case TG_LIMIT_IP:
        if (ws)
            return tg__error(TG_EINVAL, "limiter: %s: workspace_id must be NULL for TG_LIMIT_IP",
                             what);
        if ((rc = tg__largs_ip(&ad->a, key)))
            return rc;
        break;
    case TG_LIMIT_GLOBAL:
        if (ws || key)
            return tg__error(TG_EINVAL, "limiter: %s: workspace_id and key must be NULL for "
                             "TG_LIMIT_GLOBAL", what);
        break;
    default:
        return tg__error(TG_EINVAL, "limiter: %s: dimension %d is not a TG_LIMIT_* value", what,
                         kind);
    }
    if (kind != TG_LIMIT_GLOBAL) {
        tg__lkey_digest(ad->lim, kind, &ad->a, ad->digest);
        ad->shard = tg__ltable_shard_of(ad->lim->table, ad->digest);
    }
    ad->now = tg__ctx_now(ctx);
    return TG_OK;
}

static void enter(admin *ad)
{
    tg__ltable_lock(ad->lim->table, ad->shard);
}

static void leave(admin *ad, tg__lref *r)
{
    if (r && r->e)
        tg__lentry_unpin(r->e);
    tg__ltable_release(ad->lim->table, ad->shard);
    tg__ltable_unlock(ad->lim->table, ad->shard);
}

/* The entry, created if need be (lock held). */
static int get(admin *ad, tg__lref *r)
{
    tg__ltable_sweep(ad->lim->table, ad->shard, ad->now, tg__lentry_evictable, ad->lim);
    return tg__ltable_get(ad->lim->table, ad->shard, ad->digest, ad->kind, ad->now, r);
}

int tg_limiter_reset(tg_ctx *ctx, int dimension, const char *workspace_id, const char *key)
{
    admin ad;
    int rc = prepare(&ad, ctx, "reset", dimension, workspace_id, key);
    if (rc)
        return rc;
    if (dimension == TG_LIMIT_GLOBAL) {
        tg__lock_acquire(&ad.lim->global_lock);
        ad.lim->global.tokens = TG__FULL;
        tg__lock_release(&ad.lim->global_lock);
        return TG_OK;
    }
    enter(&ad);
    tg__lref r;
    if (tg__ltable_find(ad.lim->table, ad.shard, ad.digest, &r)) {
        r.e->tokens = TG__FULL;
        if (dimension != TG_LIMIT_WORKSPACE) {
            tg__penalty clear = {0, 0, 0, 0, 0};
            tg__lentry_set_penalty(r.e, r.c, &clear);
        }
    }
    leave(&ad, NULL);
    return TG_OK;
}

/* A workspace's override and the burst that goes with it in its tier. */
static void set_override(tg__lentry *e, uint32_t per_minute)
{
    e->override = per_minute;
    e->override_burst =
        per_minute ? tg__limit_override(tg__tier_limit(e->tier, TG_LIMIT_USER), per_minute).burst
                   : 0;
}

int tg_limiter_set_tier(tg_ctx *ctx, const char *workspace_id, int tier)
{
    admin ad;
    int rc = prepare(&ad, ctx, "set_tier", TG_LIMIT_WORKSPACE, workspace_id, NULL);
    if (rc)
        return rc;
    if (tier < 0 || tier >= TG_TIER_COUNT)
        return tg__error(TG_EINVAL, "limiter: tier %d is not a TG_TIER_* value", tier);
    tg__lref r = {NULL, NULL};
    enter(&ad);
    if (!(rc = get(&ad, &r))) {
        r.e->tier = (uint8_t)tier;
        set_override(r.e, r.e->override);
    }
    leave(&ad, &r);
    return rc;
}

int tg_limiter_set_user_limit(tg_ctx *ctx, const char *workspace_id, uint32_t messages_per_minute)
{
    admin ad;
    int rc = prepare(&ad, ctx, "set_user_limit", TG_LIMIT_WORKSPACE, workspace_id, NULL);
    if (rc)
        return rc;
    if (messages_per_minute > TG_LIMIT_RATE_MAX)
        return tg__error(TG_ERANGE, "limiter: messages_per_minute %u is above "
                         "TG_LIMIT_RATE_MAX (%u)", messages_per_minute, TG_LIMIT_RATE_MAX);
    tg__lref r = {NULL, NULL};
    enter(&ad);
    if (!(rc = get(&ad, &r)))
        set_override(r.e, messages_per_minute);
    leave(&ad, &r);
    return rc;
}

int tg_limiter_get_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                         const char *user_id)
{
    admin ad;
    int rc = prepare(&ad, ctx, "get_trust", TG_LIMIT_USER, workspace_id, user_id);
    if (rc)
        return rc;
    if (!out_trust)
        return tg__error(TG_EINVAL, "limiter: get_trust: out_trust is NULL");
    enter(&ad);
    tg__lref r;
    *out_trust = tg__ltable_find(ad.lim->table, ad.shard, ad.digest, &r) ? r.e->trust : 0.5;
    tg__ltable_unlock(ad.lim->table, ad.shard);
    return TG_OK;
}

int tg_limiter_set_trust(tg_ctx *ctx, const char *workspace_id, const char *user_id,
                         double trust)
{
    admin ad;
    int rc = prepare(&ad, ctx, "set_trust", TG_LIMIT_USER, workspace_id, user_id);
    if (rc)
        return rc;
    if (!(trust >= 0.0 && trust <= 1.0)) /* false for NaN too */
        return tg__error(TG_EINVAL, "limiter: trust %g is not in [0,1]", trust);
    tg__lref r = {NULL, NULL};
    enter(&ad);
    if (!(rc = get(&ad, &r)))
        r.e->trust = trust;
    leave(&ad, &r);
    return rc;
}

int tg_limiter_adjust_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                            const char *user_id, double delta)
{
    admin ad;
    int rc = prepare(&ad, ctx, "adjust_trust", TG_LIMIT_USER, workspace_id, user_id);
    if (rc)
        return rc;
    if (delta != delta)
        return tg__error(TG_EINVAL, "limiter: trust delta is NaN");
    tg__lref r = {NULL, NULL};
    enter(&ad);
    if (!(rc = get(&ad, &r))) {
        double t = r.e->trust + delta;
        r.e->trust = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
        if (out_trust)
            *out_trust = r.e->trust;
    }
    leave(&ad, &r);
    return rc;
}

int tg_limiter_apply_penalty(tg_ctx *ctx, int dimension, const char *workspace_id,
                             const char *key, uint32_t duration_ms)
{
    if (ctx && dimension != TG_LIMIT_USER && dimension != TG_LIMIT_IP)
        return tg__error(TG_EINVAL, "limiter: apply_penalty: dimension %s has no penalties "
                         "(TG_LIMIT_USER or TG_LIMIT_IP)",
                         dimension == TG_LIMIT_WORKSPACE || dimension == TG_LIMIT_GLOBAL
                             ? dimension_name(dimension) : "(unknown)");
    admin ad;
    int rc = prepare(&ad, ctx, "apply_penalty", dimension, workspace_id, key);
    if (rc)
        return rc;
    tg__lref r = {NULL, NULL};
    enter(&ad);
    if (!(rc = get(&ad, &r))) {
        tg__penalty p = tg__lentry_penalty(r.e, r.c);
        tg__penalty_start(&ad.lim->o.pen, &p, ad.now, duration_ms);
        tg__lentry_set_penalty(r.e, r.c, &p);
    }
    leave(&ad, &r);
    return rc;
}
