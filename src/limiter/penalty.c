/* penalty.c - the penalty schedule (see penalty.h). */
#include "penalty.h"

uint32_t tg__penalty_level(const tg__penalty_cfg *c, const tg__penalty *p, int64_t now)
{
    if (p->level == 0 || now <= p->quiet)
        return p->level;
    uint64_t steps = ((uint64_t)now - (uint64_t)p->quiet) / c->decay_ms;
    return steps >= p->level ? 0 : p->level - (uint32_t)steps;
}

uint32_t tg__penalty_period(const tg__penalty_cfg *c, uint32_t level)
{
    uint64_t period = c->base_ms;
    for (uint32_t l = 1; l < level && period < c->max_ms; l++)
        period *= c->factor; /* < 2^32 * 2^32: no overflow */
    return period > c->max_ms ? c->max_ms : (uint32_t)period;
}

static bool window_live(const tg__penalty_cfg *c, const tg__penalty *p, int64_t now)
{
    return p->violations > 0 && now >= p->window &&
           (uint64_t)now - (uint64_t)p->window < c->window_ms;
}

bool tg__penalty_violation(const tg__penalty_cfg *c, tg__penalty *p, int64_t now)
{
    if (!window_live(c, p, now)) {
        p->window = now;
        p->violations = 0;
    }
    /* Bring the level up to date before `quiet` moves. */
    p->level = tg__penalty_level(c, p, now);
    if (now > p->quiet)
        p->quiet = now;
    if (++p->violations < c->threshold)
        return false;
    tg__penalty_start(c, p, now, 0);
    return true;
}

void tg__penalty_start(const tg__penalty_cfg *c, tg__penalty *p, int64_t now,
                       uint32_t duration_ms)
{
    uint32_t level = tg__penalty_level(c, p, now);
    if (level < TG__PENALTY_LEVEL_MAX)
        level++;
    uint32_t period = duration_ms ? duration_ms : tg__penalty_period(c, level);
    p->level = level;
    p->until = now > INT64_MAX - (int64_t)period ? INT64_MAX : now + (int64_t)period;
    if (p->until == 0) /* 0 means no period: end it 1 ms later */
        p->until = 1;
    p->quiet = p->until;
    p->violations = 0;
    p->window = now;
}

bool tg__penalty_clear(const tg__penalty_cfg *c, const tg__penalty *p, int64_t now)
{
    return !tg__penalty_active(p, now) && tg__penalty_level(c, p, now) == 0 &&
           !window_live(c, p, now);
}
