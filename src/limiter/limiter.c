/* limiter.c - the limiter's public API (placeholder until the module lands:
 * the context opens and closes it; the checks are not implemented yet). */
#include <string.h>

#include "limiter_internal.h"

struct tg_limiter {
    const tg_allocator *alloc;
};

int tg__limiter_open(tg_ctx *ctx, const tg_limiter_options *opts, struct tg_limiter **out)
{
    (void)opts;
    *out = NULL;
    const tg_allocator *a = tg__ctx_allocator(ctx);
    struct tg_limiter *lim = tg__calloc(a, 1, sizeof *lim);
    if (!lim)
        return TG_ENOMEM;
    lim->alloc = a;
    *out = lim;
    return TG_OK;
}

void tg__limiter_close(struct tg_limiter *lim)
{
    if (!lim)
        return;
    tg__free(lim->alloc, lim);
}
