/*
 * audit.c - the audit module's life with a context, and the small public
 * helpers (initialisers, free).
 */
#include <stdlib.h>
#include <string.h>

#include "audit_impl.h"
#include "audit_internal.h"
#include "../store/store_internal.h"

void tg_audit_options_init(tg_audit_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->version = TG_AUDIT_OPTIONS_VERSION;
    opts->struct_size = sizeof *opts;
}

void tg_audit_event_init(tg_audit_event *event)
{
    if (!event)
        return;
    memset(event, 0, sizeof *event);
    event->version = TG_AUDIT_EVENT_VERSION;
    event->struct_size = sizeof *event;
}

void tg_audit_verdict_init(tg_audit_verdict *verdict)
{
    if (!verdict)
        return;
    memset(verdict, 0, sizeof *verdict);
    verdict->version = TG_AUDIT_VERDICT_VERSION;
    verdict->struct_size = sizeof *verdict;
}

void tg_audit_query_init(tg_audit_query *q)
{
    if (!q)
        return;
    memset(q, 0, sizeof *q);
    q->version = TG_AUDIT_QUERY_VERSION;
    q->struct_size = sizeof *q;
    q->outcome = -1;
}

void tg_audit_free(char *str)
{
    free(str);
}

int tg__audit_run(tg_ctx *ctx, const char *workspace, bool workspace_required,
                  tg__audit_txn_fn fn, void *arg)
{
    size_t len = 0;
    int rc;
    if (!ctx)
        return tg__error(TG_EINVAL, "audit: NULL context");
    if ((workspace || workspace_required) &&
        (rc = tg__check_id("workspace id", workspace, &len)) != TG_OK)
        return rc;
    struct tg_audit *a = tg__ctx_audit(ctx);
    tg_store *store = tg__ctx_store(ctx);
    tg_store_txn *txn;
    pthread_mutex_lock(&a->lock);
    rc = tg__audit_keys(a, true); /* before the transaction: see tg__audit_keys */
    if (rc == TG_OK)
        rc = tg__store_begin(store, &txn);
    if (rc == TG_OK) {
        rc = fn(a, txn, workspace ? workspace : "", len, arg);
        if (rc == TG_OK)
            rc = tg__store_commit(store, txn);
        else
            tg__store_rollback(store, txn);
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

int tg__audit_open(tg_ctx *ctx, const tg_audit_options *opts, struct tg_audit **out)
{
    *out = NULL;
    if (opts && (opts->version != TG_AUDIT_OPTIONS_VERSION || opts->struct_size < sizeof *opts))
        return tg__error(TG_EVERSION, "config: audit options version %u size %u are not "
                                      "supported (use tg_audit_options_init)",
                         opts->version, opts->struct_size);
    struct tg_audit *a = tg__calloc(tg__ctx_allocator(ctx), 1, sizeof *a);
    if (!a)
        return TG_ENOMEM;
    a->keys = tg__secure_alloc(crypto_sign_SECRETKEYBYTES + crypto_generichash_KEYBYTES);
    if (!a->keys) {
        tg__free(tg__ctx_allocator(ctx), a);
        return TG_ENOMEM;
    }
    a->ctx = ctx;
    randombytes_buf(a->pcache_key, sizeof a->pcache_key);
    a->checkpoint_interval = opts && opts->checkpoint_interval ? opts->checkpoint_interval
                                                               : TG__AUDIT_DEFAULT_INTERVAL;
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return TG_OK;
}

void tg__audit_close(struct tg_audit *a)
{
    if (!a)
        return;
    tg__secure_free(a->keys);
    pthread_mutex_destroy(&a->lock);
    tg__free(tg__ctx_allocator(a->ctx), a);
}
