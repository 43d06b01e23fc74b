/*
 * backend.h - leases from a shared backend (tg_limiter_backend_ops).
 *
 * A dimension the backend keeps is enforced from a local pool of leased
 * whole tokens: a check spends from the pool under the entry's lock and
 * calls the backend only when the pool cannot cover it, asking for
 * max(lease tokens, what is missing). The pool is good until lease_ms
 * after the lease that filled it; a remainder too small for the check
 * that triggered a new lease is kept with it (so partial grants are not
 * lost when tokens are scarce).
 *
 * While leasing, the entry's local bucket is charged too (without ever
 * denying), so that if the backend fails the local bucket that takes over
 * already reflects this instance's traffic. A failure (an error code, or a
 * grant larger than asked) switches the entry to that local bucket until
 * lease_ms later, when the backend is tried again.
 *
 * A refusal (too few tokens granted) is remembered with its retry time:
 * until then a check that the pool cannot cover is denied without asking
 * the backend again, and a peek (which never asks the backend) gives the
 * same answer as a check would.
 */
#ifndef TG_LIMITER_BACKEND_H
#define TG_LIMITER_BACKEND_H

#include "table.h"
#include "tenantguard/limiter.h"

enum {
    TG__LEASE_OK = 0, /* the pool covers the check */
    TG__LEASE_SHORT,  /* the backend granted too little: *retry_ms says when to retry */
    TG__LEASE_FAILED, /* the backend failed: the entry is in fallback */
};

/* True if the entry is enforced by its local bucket at `now` (fallback). */
static inline bool tg__lease_fallback(tg__lref r, int64_t now)
{
    return (r.e->flags & TG__LF_FALLBACK) && now < r.c->lease_until;
}

/* ms until the backend's last refusal lapses; 0 if none stands at `now`. */
static inline int64_t tg__lease_refused_for(tg__lref r, int64_t now)
{
    return now < r.c->refused_until ? r.c->refused_until - now : 0;
}

/* Leased tokens usable at `now`. */
static inline uint32_t tg__lease_pool(tg__lref r, int64_t now)
{
    return !(r.e->flags & TG__LF_FALLBACK) && now < r.c->lease_until ? r.c->pool : 0;
}

/* Lease size for a dimension of limit `lim`: lease_tokens (0: burst / 16),
 * at least 1 and at most the burst. */
uint32_t tg__lease_size(uint32_t lease_tokens, tg_limit lim);

/* Fills the entry's pool from the backend so that it covers `cost`, if
 * the backend grants enough. */
int tg__lease_take(const tg_limiter_backend_ops *b, tg__lref r, const uint8_t *key,
                   size_t key_len, tg_limit lim, uint32_t cost, uint32_t lease_tokens,
                   uint32_t lease_ms, int64_t now, int64_t *retry_ms);

#endif
