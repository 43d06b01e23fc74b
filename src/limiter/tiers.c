/* tiers.c - the default limits of each tier (docs/LIMITER.md has the table). */
#include "limiter_impl.h"

/* Per tier: the per-user limit, then the whole workspace's. Bursts let a
 * user send a short flurry (about a third of a minute's allowance) and a
 * workspace absorb everyone doing so at once. */
const tg_limit tg__tiers[TG_TIER_COUNT][2] = {
    [TG_TIER_FREE] = {{30, 10}, {600, 100}},
    [TG_TIER_STANDARD] = {{60, 20}, {3000, 500}},
    [TG_TIER_PROFESSIONAL] = {{120, 40}, {12000, 2000}},
    [TG_TIER_ENTERPRISE] = {{300, 100}, {60000, 10000}},
};

int tg_limiter_tier_default(tg_limit *out, int tier, int dimension)
{
    if (!out)
        return tg__error(TG_EINVAL, "limiter: tier_default: out is NULL");
    if (tier < 0 || tier >= TG_TIER_COUNT)
        return tg__error(TG_EINVAL, "limiter: tier %d is not a TG_TIER_* value", tier);
    if (dimension != TG_LIMIT_USER && dimension != TG_LIMIT_WORKSPACE)
        return tg__error(TG_EINVAL,
                         "limiter: dimension %d has no tier default (TG_LIMIT_USER or "
                         "TG_LIMIT_WORKSPACE)", dimension);
    *out = tg__tier_limit(tier, dimension);
    return TG_OK;
}
