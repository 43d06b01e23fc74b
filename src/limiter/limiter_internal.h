/* limiter_internal.h - what the context needs from the limiter module. */
#ifndef TG_LIMITER_INTERNAL_H
#define TG_LIMITER_INTERNAL_H

#include "../core/core.h"
#include "tenantguard/limiter.h"

struct tg_limiter;

/* Validates `opts` (NULL: defaults) and sets up empty limiter state. */
int tg__limiter_open(tg_ctx *ctx, const tg_limiter_options *opts, struct tg_limiter **out);
/* Frees everything; accepts NULL. */
void tg__limiter_close(struct tg_limiter *lim);

#endif
