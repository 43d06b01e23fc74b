/* ctx.c - opening and closing a context from a tg_config. */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "../keyring/keyring_internal.h"
#include "../audit/audit_internal.h"
#include "../limiter/limiter_internal.h"

struct tg_ctx {
    tg_allocator alloc;
    tg_store *store;
    bool owns_store;
    int64_t (*clock)(void *user);
    void *clock_user;
    struct tg_keyring *keyring;
    struct tg_limiter *limiter;
    struct tg_audit *audit;
};

void tg_config_init(tg_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->version = TG_CONFIG_VERSION;
    cfg->struct_size = sizeof *cfg;
}

const tg_allocator *tg__ctx_allocator(const tg_ctx *ctx) { return &ctx->alloc; }
tg_store *tg__ctx_store(const tg_ctx *ctx) { return ctx->store; }
struct tg_keyring *tg__ctx_keyring(const tg_ctx *ctx) { return ctx->keyring; }
struct tg_limiter *tg__ctx_limiter(const tg_ctx *ctx) { return ctx->limiter; }
struct tg_audit *tg__ctx_audit(const tg_ctx *ctx) { return ctx->audit; }

static int64_t system_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg__ctx_now(const tg_ctx *ctx)
{
    return ctx->clock ? ctx->clock(ctx->clock_user) : system_clock_ms();
}

int64_t tg_ctx_now_ms(const tg_ctx *ctx)
{
    return ctx ? tg__ctx_now(ctx) : system_clock_ms();
}

static int check_allocator(const tg_allocator *a)
{
    if (a->version < 1 || a->version > TG_ALLOCATOR_VERSION)
        return tg__error(TG_EVERSION, "config: allocator version %u is not supported", a->version);
    if (a->struct_size < sizeof(tg_allocator))
        return tg__error(TG_EVERSION, "config: allocator struct_size %u is too small", a->struct_size);
    if (!a->malloc || !a->realloc || !a->free)
        return tg__error(TG_EINVAL, "config: allocator needs malloc, realloc and free");
    return TG_OK;
}

static int check_config(const tg_config *cfg)
{
    if (!cfg)
        return tg__error(TG_EINVAL, "config is NULL");
    if (cfg->version < 1 || cfg->version > TG_CONFIG_VERSION)
        return tg__error(TG_EVERSION, "config: version %u is not supported (use tg_config_init)",
                         cfg->version);
    /* Version 1 ended before `audit`. */
    size_t need = cfg->version == 1 ? offsetof(tg_config, audit) : sizeof(tg_config);
    if (cfg->struct_size < need)
        return tg__error(TG_EVERSION, "config: struct_size %u is too small for version %u",
                         cfg->struct_size, cfg->version);
    if (cfg->allocator) {
        int rc = check_allocator(cfg->allocator);
        if (rc)
            return rc;
    }
    if (!cfg->store && (!cfg->store_path || !cfg->store_path[0]))
        return tg__error(TG_EINVAL, "config: store or store_path is required");
    return TG_OK;
}

int tg_ctx_open(tg_ctx **out, const tg_config *cfg)
{
    if (!out)
        return tg__error(TG_EINVAL, "tg_ctx_open: out is NULL");
    *out = NULL;
    int rc = tg__sodium_ready();
    if (rc)
        return rc;
    if ((rc = check_config(cfg)))
        return rc;

    const tg_allocator *a = cfg->allocator ? cfg->allocator : tg__default_allocator();
    tg_ctx *ctx = tg__calloc(a, 1, sizeof *ctx);
    if (!ctx)
        return TG_ENOMEM;
    ctx->alloc = *a;
    ctx->clock = cfg->clock;
    ctx->clock_user = cfg->clock_user;

    if (cfg->store) {
        ctx->store = cfg->store;
    } else {
        rc = tg_store_open_sqlite(&ctx->store, cfg->store_path, NULL);
        if (rc)
            goto fail;
        ctx->owns_store = true;
    }
    rc = tg__keyring_open(ctx, cfg, &ctx->keyring);
    if (rc)
        goto fail;
    rc = tg__limiter_open(ctx, cfg->limiter, &ctx->limiter);
    if (rc)
        goto fail;
    rc = tg__audit_open(ctx, cfg->version >= 2 ? cfg->audit : NULL, &ctx->audit);
    if (rc)
        goto fail;
    *out = ctx;
    return TG_OK;
fail:
    tg_ctx_close(ctx);
    return rc;
}

void tg_ctx_close(tg_ctx *ctx)
{
    if (!ctx)
        return;
    tg__audit_close(ctx->audit);
    tg__limiter_close(ctx->limiter);
    tg__keyring_close(ctx->keyring);
    if (ctx->owns_store)
        tg_store_close(ctx->store);
    tg_allocator a = ctx->alloc;
    tg__free(&a, ctx);
}
