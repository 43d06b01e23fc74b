/*
 * penalty.h - escalating penalty periods for users and IPs (pure
 * functions on a small state, so the schedule is easy to test).
 *
 * Violations (denied checks) are counted in a fixed window that starts at
 * the first violation after the previous window ended; the
 * `threshold`-th violation in a window starts a penalty period. Each
 * period raises the level by one and lasts base * factor^(level - 1) ms,
 * at most max_ms. The level drops by one per `decay_ms` of quiet, counted
 * from the later of the last violation and the end of the last period.
 */
#ifndef TG_LIMITER_PENALTY_H
#define TG_LIMITER_PENALTY_H

#include <stdbool.h>
#include <stdint.h>

#define TG__PENALTY_LEVEL_MAX 255u

typedef struct tg__penalty_cfg {
    uint32_t threshold; /* violations that start a period, >= 1 */
    uint32_t window_ms; /* >= 1 */
    uint32_t base_ms;   /* first period, >= 1 */
    uint32_t factor;    /* growth per level, >= 1 */
    uint32_t max_ms;    /* >= base_ms */
    uint32_t decay_ms;  /* quiet time per level, >= 1 */
} tg__penalty_cfg;

typedef struct tg__penalty {
    int64_t until;       /* end of the running or last period; 0: none yet (a
                            period never ends at 0: see tg__penalty_start) */
    int64_t quiet;       /* decay counts from here */
    int64_t window;      /* start of the counting window */
    uint32_t violations; /* counted in the window */
    uint32_t level;      /* as of `quiet` (before decay) */
} tg__penalty;

/* The level at `now`, after decay. */
uint32_t tg__penalty_level(const tg__penalty_cfg *c, const tg__penalty *p, int64_t now);

/* True while a penalty period runs at `now`, which may be before 0 (a
 * test clock): `until` 0 is no period at all. */
static inline bool tg__penalty_until_active(int64_t until, int64_t now)
{
    return until != 0 && now < until;
}

static inline bool tg__penalty_active(const tg__penalty *p, int64_t now)
{
    return tg__penalty_until_active(p->until, now);
}

/* The period of `level` (>= 1): base * factor^(level - 1), at most max_ms. */
uint32_t tg__penalty_period(const tg__penalty_cfg *c, uint32_t level);

/* Counts one violation at `now`; returns true if it started a period. */
bool tg__penalty_violation(const tg__penalty_cfg *c, tg__penalty *p, int64_t now);

/* Starts a period at `now` one level up from the decayed level, lasting
 * `duration_ms`, or with 0 that level's period. Clears the window. */
void tg__penalty_start(const tg__penalty_cfg *c, tg__penalty *p, int64_t now,
                       uint32_t duration_ms);

/* True if the state is as good as new at `now`: no period running, level 0
 * after decay, no violation counted in a live window. */
bool tg__penalty_clear(const tg__penalty_cfg *c, const tg__penalty *p, int64_t now);

#endif
