/*
 * bucket.h - token bucket arithmetic in integer fixed point.
 *
 * A bucket holds "units": 1 token = TG__UNITS units, so a bucket that
 * refills R tokens a minute gains exactly R units per elapsed millisecond
 * and no rounding ever creeps in. A limit of B tokens caps the bucket at
 * B * TG__UNITS units (at most 2^40 for TG_LIMIT_BURST_MAX). TG__FULL
 * stands for "full, whatever the burst": a new or reset bucket.
 *
 * Pure functions only; none of them can overflow for any input (elapsed
 * times up to INT64_MAX, rates up to UINT32_MAX).
 */
#ifndef TG_LIMITER_BUCKET_H
#define TG_LIMITER_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "tenantguard/limiter.h"

#define TG__UNITS 60000
#define TG__FULL INT64_MAX

/* `n` tokens in units. */
static inline int64_t tg__units(uint32_t n)
{
    return (int64_t)n * TG__UNITS;
}

/* Units held at `now` by a bucket that held `tokens` at `last`, refilling
 * `rate` units a ms up to burst * TG__UNITS. No refill while now <= last
 * (a clock that went back gives nothing). rate 0 means no refill. */
static inline int64_t tg__bucket_level(int64_t tokens, int64_t last, int64_t now, uint32_t rate,
                                       uint32_t burst)
{
    int64_t cap = tg__units(burst);
    if (tokens >= cap)
        return cap;
    if (tokens < 0)
        tokens = 0;
    if (now <= last || rate == 0)
        return tokens;
    uint64_t elapsed = (uint64_t)now - (uint64_t)last; /* two's complement: exact */
    uint64_t deficit = (uint64_t)(cap - tokens);
    if (elapsed >= deficit) /* rate >= 1 */
        return cap;
    /* elapsed < deficit <= 2^40 and rate < 2^32: check before multiplying. */
    if (elapsed >= ((uint64_t)1 << 31) && elapsed > deficit / rate)
        return cap;
    uint64_t gain = elapsed * rate; /* < 2^63 here */
    return gain >= deficit ? cap : tokens + (int64_t)gain;
}

/* Milliseconds from `now` until the bucket (holding `have` units at
 * `now`, refilling `rate` units a ms from max(now, last)) holds `need`
 * units; 0 if it already does. rate 0: INT64_MAX. */
int64_t tg__bucket_wait(int64_t have, int64_t last, int64_t now, uint32_t rate, int64_t need);

/* Whole tokens in `units`: 0 if negative, at most UINT32_MAX. */
static inline uint32_t tg__bucket_whole(int64_t units)
{
    if (units <= 0)
        return 0;
    int64_t whole = units / TG__UNITS;
    return whole > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)whole;
}

/* True if the bucket is full at `now`. */
bool tg__bucket_full(int64_t tokens, int64_t last, int64_t now, uint32_t rate, uint32_t burst);

/* The trust factor in millionths: 0 -> 250000 (0.25x), 0.5 -> 1000000,
 * 1 -> 2000000, linear in between; `trust` is clamped to [0,1] (NaN: 0.5). */
uint32_t tg__trust_factor_ppm(double trust);

/* `base` scaled by a trust score: each of rate and burst times the factor,
 * rounded down, at least 1, at most TG_LIMIT_RATE_MAX / TG_LIMIT_BURST_MAX.
 * Trust 0.5 returns `base` unchanged. */
tg_limit tg__limit_scale(tg_limit base, double trust);

/* A workspace's override of the per-user rate: `per_minute` with a burst
 * in the tier's ratio burst/rate, rounded down, 1..TG_LIMIT_BURST_MAX. */
tg_limit tg__limit_override(tg_limit tier, uint32_t per_minute);

#endif
