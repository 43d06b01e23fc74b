/*
 * key.c - prepared keys: a check's identifiers validated and hashed once
 * (tg__lplan), with copies of the identifiers the backend keys are made
 * from. The checks themselves are in check.c.
 */
#include <string.h>

#include "limiter_impl.h"

int tg_limiter_key_new(tg_ctx *ctx, tg_limiter_key **out, const char *workspace_id,
                       const char *user_id, const char *ip)
{
    if (!out)
        return tg__error(TG_EINVAL, "limiter: out is NULL");
    *out = NULL;
    if (!ctx)
        return tg__error(TG_EINVAL, "limiter: ctx is NULL");
    tg__lplan plan;
    memset(&plan, 0, sizeof plan);
    int rc = tg__lplan_make(tg__ctx_limiter(ctx), &plan, workspace_id, user_id, ip);
    if (rc)
        return rc;
    const size_t ws_len = plan.a.ws_len, user_len = plan.a.user_len;
    const tg_allocator *a = tg__ctx_allocator(ctx);
    tg_limiter_key *key = tg__malloc(a, sizeof *key + ws_len + 1 + user_len + 1);
    if (!key)
        return TG_ENOMEM;
    key->ctx = ctx;
    key->limiter_id = tg__ctx_limiter(ctx)->id;
    key->alloc = *a;
    key->plan = plan;
    char *ws_copy = key->text, *user_copy = key->text + ws_len + 1;
    memcpy(ws_copy, workspace_id ? workspace_id : "", ws_len + 1);
    memcpy(user_copy, user_id ? user_id : "", user_len + 1);
    key->plan.a.ws = workspace_id ? ws_copy : NULL;
    key->plan.a.user = user_id ? user_copy : NULL;
    for (int k = 0; k < TG__LENTER_MAX; k++) {
        atomic_init(&key->where[k], TG__LNIL);
        atomic_init(&key->line[k], NULL);
    }
    *out = key;
    return TG_OK;
}

void tg_limiter_key_free(tg_limiter_key *key)
{
    if (!key)
        return;
    tg_allocator a = key->alloc; /* the key holds it: copy before freeing */
    tg__free(&a, key);
}
