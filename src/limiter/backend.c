/* backend.c - leasing tokens from a shared backend (see backend.h). */
#include "backend.h"
#include "bucket.h"

static int64_t add_ms(int64_t t, uint32_t ms)
{
    return t > INT64_MAX - (int64_t)ms ? INT64_MAX : t + (int64_t)ms;
}

uint32_t tg__lease_size(uint32_t lease_tokens, tg_limit lim)
{
    uint32_t n = lease_tokens ? lease_tokens : lim.burst / 16;
    if (n < 1)
        n = 1;
    return n > lim.burst ? lim.burst : n;
}

int tg__lease_take(const tg_limiter_backend_ops *b, tg__lref r, const uint8_t *key,
                   size_t key_len, tg_limit lim, uint32_t cost, uint32_t lease_tokens,
                   uint32_t lease_ms, int64_t now, int64_t *retry_ms)
{
    uint32_t have = tg__lease_pool(r, now);
    uint32_t missing = cost > have ? cost - have : 0;
    uint32_t want = tg__lease_size(lease_tokens, lim);
    if (want < missing)
        want = missing;
    uint32_t granted = 0;
    int64_t retry = 0;
    int rc = b->take(b->user, key, key_len, lim.per_minute, lim.burst, want, now, &granted,
                     &retry);
    if (rc != TG_OK || granted > want || retry < 0) {
        r.e->flags |= TG__LF_FALLBACK;
        r.c->pool = 0;
        r.c->lease_until = add_ms(now, lease_ms); /* when to try the backend again */
        return TG__LEASE_FAILED;
    }
    r.e->flags &= (uint8_t)~TG__LF_FALLBACK;
    uint64_t pool = (uint64_t)have + granted;
    r.c->pool = pool > UINT32_MAX ? UINT32_MAX : (uint32_t)pool;
    r.c->lease_until = add_ms(now, lease_ms);
    if (r.c->pool >= cost)
        return TG__LEASE_OK;
    /* The backend's retry is for `want` tokens; the missing ones alone
     * come back no later than an empty bucket refills them. */
    int64_t need = tg__bucket_wait(0, now, now, lim.per_minute, tg__units(cost - r.c->pool));
    *retry_ms = retry > 0 && retry < need ? retry : need;
    if (*retry_ms < 1)
        *retry_ms = 1;
    r.c->refused_until = now + *retry_ms; /* retry <= need, a bucket's refill time */
    return TG__LEASE_SHORT;
}
