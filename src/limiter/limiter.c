/* limiter.c - opening and closing the limiter, its options, and the small
 * public functions (see tenantguard/limiter.h and docs/LIMITER.md). */
#include <string.h>

#include <sodium.h>

#include "bucket.h"
#include "limiter_impl.h"

#define ALL_DIMENSIONS ((1u << TG_LIMIT_DIMENSIONS) - 1)

uint32_t tg_limit_rate_max(void) { return TG_LIMIT_RATE_MAX; }
uint32_t tg_limit_burst_max(void) { return TG_LIMIT_BURST_MAX; }
size_t tg_limiter_bytes_per_key(void) { return tg__ltable_bytes_per_key(); }

void tg_limiter_options_init(tg_limiter_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->version = TG_LIMITER_OPTIONS_VERSION;
    opts->struct_size = sizeof *opts;
}

void tg_limit_verdict_init(tg_limit_verdict *v)
{
    if (!v)
        return;
    memset(v, 0, sizeof *v);
    v->version = TG_LIMIT_VERDICT_VERSION;
    v->struct_size = sizeof *v;
    v->dimension = TG_LIMIT_NONE;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

static int resolve_limit(const char *name, tg_limit in, tg_limit def, tg_limit *out)
{
    out->per_minute = or_default(in.per_minute, def.per_minute);
    out->burst = or_default(in.burst, def.burst);
    if (out->per_minute > TG_LIMIT_RATE_MAX)
        return tg__error(TG_EINVAL,
                         "config: limiter.%s.per_minute %u is above TG_LIMIT_RATE_MAX (%u)",
                         name, out->per_minute, TG_LIMIT_RATE_MAX);
    if (out->burst > TG_LIMIT_BURST_MAX)
        return tg__error(TG_EINVAL, "config: limiter.%s.burst %u is above TG_LIMIT_BURST_MAX (%u)",
                         name, out->burst, TG_LIMIT_BURST_MAX);
    return TG_OK;
}

static int check_backend(const tg_limiter_backend_ops *b)
{
    if (b->version < 1 || b->version > TG_LIMITER_BACKEND_VERSION)
        return tg__error(TG_EVERSION, "config: limiter.backend version %u is not supported",
                         b->version);
    if (b->struct_size < sizeof *b)
        return tg__error(TG_EVERSION, "config: limiter.backend struct_size %u is too small "
                         "(%zu needed)", b->struct_size, sizeof *b);
    if (!b->take)
        return tg__error(TG_EINVAL, "config: limiter.backend.take is NULL");
    return TG_OK;
}

/* Applies the defaults and checks every field. */
static int resolve(const tg_limiter_options *in, tg__lopts *o, tg_limiter_backend_ops *backend,
                   bool *has_backend)
{
    tg_limiter_options zero;
    if (!in) {
        tg_limiter_options_init(&zero);
        in = &zero;
    }
    if (in->version < 1 || in->version > TG_LIMITER_OPTIONS_VERSION)
        return tg__error(TG_EVERSION, "config: limiter options version %u is not supported "
                         "(use tg_limiter_options_init)", in->version);
    if (in->struct_size < sizeof *in)
        return tg__error(TG_EVERSION, "config: limiter options struct_size %u is too small "
                         "(%zu needed)", in->struct_size, sizeof *in);
    int rc;
    if ((rc = resolve_limit("ip", in->ip, (tg_limit){600, 100}, &o->ip)) ||
        (rc = resolve_limit("global", in->global, (tg_limit){600000, 20000}, &o->global)))
        return rc;
    o->max_keys = or_default(in->max_keys, 2000000);
    if (o->max_keys > TG__LMAX_KEYS_LIMIT)
        return tg__error(TG_EINVAL, "config: limiter.max_keys %u is above %u", o->max_keys,
                         TG__LMAX_KEYS_LIMIT);
    o->idle_evict_ms = or_default(in->idle_evict_ms, 600000);
    o->pen.threshold = or_default(in->violations_to_penalize, 5);
    o->pen.window_ms = or_default(in->violation_window_ms, 60000);
    o->pen.base_ms = or_default(in->penalty_base_ms, 60000);
    o->pen.factor = or_default(in->penalty_factor, 5);
    o->pen.max_ms = or_default(in->penalty_max_ms, 3600000);
    o->pen.decay_ms = or_default(in->penalty_decay_ms, 1800000);
    if (o->pen.base_ms > o->pen.max_ms)
        return tg__error(TG_EINVAL, "config: limiter.penalty_base_ms %u is above "
                         "limiter.penalty_max_ms %u", o->pen.base_ms, o->pen.max_ms);
    *has_backend = in->backend != NULL;
    if (in->backend) {
        if ((rc = check_backend(in->backend)))
            return rc;
        *backend = *in->backend;
        backend->struct_size = sizeof *backend;
        o->shared = in->backend_dimensions
                        ? in->backend_dimensions
                        : (1u << TG_LIMIT_WORKSPACE) | (1u << TG_LIMIT_GLOBAL);
    } else if (in->backend_dimensions) {
        return tg__error(TG_EINVAL, "config: limiter.backend_dimensions is set but "
                         "limiter.backend is NULL");
    }
    if (in->backend_dimensions & ~ALL_DIMENSIONS)
        return tg__error(TG_EINVAL, "config: limiter.backend_dimensions 0x%x has bits other "
                         "than (1 << TG_LIMIT_*)", in->backend_dimensions);
    o->lease_tokens = in->lease_tokens;
    if (o->lease_tokens > TG_LIMIT_BURST_MAX)
        return tg__error(TG_EINVAL, "config: limiter.lease_tokens %u is above "
                         "TG_LIMIT_BURST_MAX (%u)", o->lease_tokens, TG_LIMIT_BURST_MAX);
    o->lease_ms = or_default(in->lease_ms, 1000);
    return TG_OK;
}

int tg__limiter_open(tg_ctx *ctx, const tg_limiter_options *opts, struct tg_limiter **out)
{
    *out = NULL;
    tg__lopts o;
    memset(&o, 0, sizeof o);
    tg_limiter_backend_ops backend;
    memset(&backend, 0, sizeof backend);
    bool has_backend = false;
    int rc = resolve(opts, &o, &backend, &has_backend);
    if (rc)
        return rc;

    const tg_allocator *a = tg__ctx_allocator(ctx);
    struct tg_limiter *lim = tg__calloc(a, 1, sizeof *lim);
    if (!lim)
        return TG_ENOMEM;
    static _Atomic uint64_t last_id;
    lim->id = atomic_fetch_add_explicit(&last_id, 1, memory_order_relaxed) + 1;
    lim->alloc = a;
    lim->o = o;
    lim->backend = backend;
    lim->has_backend = has_backend;
    lim->hash_key = tg__secure_alloc(crypto_shorthash_siphashx24_KEYBYTES);
    if (!lim->hash_key) {
        tg__free(a, lim);
        return TG_ENOMEM;
    }
    randombytes_buf(lim->hash_key, crypto_shorthash_siphashx24_KEYBYTES);
    if ((rc = tg__ltable_open(&lim->table, a, o.max_keys, 0, o.idle_evict_ms))) {
        tg__secure_free(lim->hash_key);
        tg__free(a, lim);
        return rc;
    }
    tg__lock_init(&lim->global_lock);
    lim->global.kind = TG_LIMIT_GLOBAL;
    lim->global.tokens = TG__FULL;
    lim->global.last = tg__ctx_now(ctx);
    *out = lim;
    return TG_OK;
}

void tg__limiter_close(struct tg_limiter *lim)
{
    if (!lim)
        return;
    tg__ltable_close(lim->table);
    tg__secure_free(lim->hash_key);
    tg__lock_destroy(&lim->global_lock);
    tg__free(lim->alloc, lim);
}

int tg_limiter_tracked(tg_ctx *ctx, size_t *out_count)
{
    if (!ctx)
        return tg__error(TG_EINVAL, "limiter: ctx is NULL");
    if (!out_count)
        return tg__error(TG_EINVAL, "limiter: out_count is NULL");
    *out_count = tg__ltable_count(tg__ctx_limiter(ctx)->table);
    return TG_OK;
}
