/* bucket.c - token bucket arithmetic (see bucket.h). */
#include <math.h>

#include "bucket.h"

int64_t tg__bucket_wait(int64_t have, int64_t last, int64_t now, uint32_t rate, int64_t need)
{
    if (have >= need)
        return 0;
    if (rate == 0)
        return INT64_MAX;
    if (have < 0)
        have = 0;
    uint64_t missing = (uint64_t)need - (uint64_t)have;
    int64_t wait = (int64_t)((missing + rate - 1) / rate); /* < 2^63 / 1 */
    if (last > now) { /* refilling starts at `last` */
        uint64_t lag = (uint64_t)last - (uint64_t)now;
        if (lag > (uint64_t)(INT64_MAX - wait))
            return INT64_MAX;
        wait += (int64_t)lag;
    }
    return wait;
}

bool tg__bucket_full(int64_t tokens, int64_t last, int64_t now, uint32_t rate, uint32_t burst)
{
    if (tokens == TG__FULL)
        return true;
    return tg__bucket_level(tokens, last, now, rate, burst) >= tg__units(burst);
}

uint32_t tg__trust_factor_ppm(double trust)
{
    if (isnan(trust))
        trust = 0.5;
    if (trust <= 0.0)
        return 250000;
    if (trust >= 1.0)
        return 2000000;
    /* 0.25 + 1.5 t below 0.5, 1 + 2 (t - 0.5) above; rounded to the
     * nearest millionth so that 0.7 gives exactly 1.4x. */
    double f = trust <= 0.5 ? 250000.0 + 1500000.0 * trust : 1000000.0 + 2000000.0 * (trust - 0.5);
    return (uint32_t)(f + 0.5);
}

static uint32_t scale_one(uint32_t v, uint32_t ppm, uint32_t max)
{
    uint64_t s = (uint64_t)v * ppm / 1000000u;
    if (s < 1)
        s = 1;
    return s > max ? max : (uint32_t)s;
}

tg_limit tg__limit_scale(tg_limit base, double trust)
{
    uint32_t ppm = tg__trust_factor_ppm(trust);
    if (ppm == 1000000u)
        return base;
    tg_limit out = {scale_one(base.per_minute, ppm, TG_LIMIT_RATE_MAX),
                    scale_one(base.burst, ppm, TG_LIMIT_BURST_MAX)};
    return out;
}

tg_limit tg__limit_override(tg_limit tier, uint32_t per_minute)
{
    uint64_t burst = tier.per_minute ? (uint64_t)per_minute * tier.burst / tier.per_minute : 1;
    if (burst < 1)
        burst = 1;
    if (burst > TG_LIMIT_BURST_MAX)
        burst = TG_LIMIT_BURST_MAX;
    tg_limit out = {per_minute, (uint32_t)burst};
    return out;
}
