/* support.c - helpers shared by the C unit tests. */
#include "support.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const uint8_t tgt_master_key[32] = {
    0x74, 0x67, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x2d, 0x6d, 0x61, 0x73, 0x74, 0x65, 0x72, 0x2d, 0x6b,
    0x65, 0x79, 0x2d, 0x6e, 0x6f, 0x74, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x70, 0x72, 0x6f, 0x64, 0x21,
};

const char *tgt_tmpdir(void)
{
    static char path[PATH_MAX];
    const char *base = getenv("TG_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700);
    snprintf(path, sizeof path, "%s/tgtest-XXXXXX", base);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

void tgt_rmtree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool fa_should_fail(tgt_failing_alloc *fa)
{
    fa->calls++;
    return fa->fail_at > 0 && fa->calls == fa->fail_at;
}

static void *fa_malloc(void *user, size_t n)
{
    tgt_failing_alloc *fa = user;
    if (fa_should_fail(fa))
        return NULL;
    void *p = malloc(n);
    if (p)
        fa->live++;
    return p;
}

static void *fa_realloc(void *user, void *ptr, size_t n)
{
    tgt_failing_alloc *fa = user;
    if (fa_should_fail(fa))
        return NULL;
    void *p = realloc(ptr, n);
    if (p && !ptr)
        fa->live++;
    return p;
}

static void fa_free(void *user, void *ptr)
{
    tgt_failing_alloc *fa = user;
    if (ptr)
        fa->live--;
    free(ptr);
}

void tgt_failing_alloc_init(tgt_failing_alloc *fa, long fail_at)
{
    fa->ops.version = TG_ALLOCATOR_VERSION;
    fa->ops.struct_size = sizeof fa->ops;
    fa->ops.user = fa;
    fa->ops.malloc = fa_malloc;
    fa->ops.realloc = fa_realloc;
    fa->ops.free = fa_free;
    fa->fail_at = fail_at;
    fa->calls = 0;
    fa->live = 0;
}

int64_t tgt_clock_read(void *user)
{
    return ((tgt_clock *)user)->now_ms;
}

void tgt_config(tg_config *cfg, tg_store *store, tgt_clock *clock)
{
    tg_config_init(cfg);
    cfg->store = store;
    cfg->master_key = tgt_master_key;
    if (clock) {
        cfg->clock = tgt_clock_read;
        cfg->clock_user = clock;
    }
}

void tgt_fixture_open(tgt_fixture *f, int64_t now_ms, const struct tg_limiter_options *limiter)
{
    memset(f, 0, sizeof *f);
    f->clock.now_ms = now_ms;
    tg_config cfg;
    int rc = tg_store_open_memory(&f->store);
    if (rc == TG_OK) {
        tgt_config(&cfg, f->store, &f->clock);
        cfg.limiter = limiter;
        rc = tg_ctx_open(&f->ctx, &cfg);
    }
    if (rc != TG_OK) {
        fprintf(stderr, "tgt_fixture_open: %s: %s\n", tg_strerror(rc), tg_ctx_errmsg(NULL));
        abort();
    }
}

void tgt_fixture_close(tgt_fixture *f)
{
    tg_ctx_close(f->ctx);
    tg_store_close(f->store);
}

/* The store each tgt_ctx_memory context owns, closed with it. */
#define MAX_OPEN 64
static struct { tg_ctx *ctx; tg_store *store; } opened[MAX_OPEN];

tg_ctx *tgt_ctx_memory(tgt_clock *clock)
{
    tg_store *store = NULL;
    if (tg_store_open_memory(&store) != TG_OK)
        return NULL;
    tg_config cfg;
    tgt_config(&cfg, store, clock);
    tg_ctx *ctx = NULL;
    if (tg_ctx_open(&ctx, &cfg) != TG_OK) {
        tg_store_close(store);
        return NULL;
    }
    for (int i = 0; i < MAX_OPEN; i++) {
        if (!opened[i].ctx) {
            opened[i].ctx = ctx;
            opened[i].store = store;
            return ctx;
        }
    }
    abort();
}

void tgt_ctx_close(tg_ctx *ctx)
{
    for (int i = 0; i < MAX_OPEN; i++) {
        if (opened[i].ctx == ctx && ctx) {
            tg_ctx_close(ctx);
            tg_store_close(opened[i].store);
            opened[i].ctx = NULL;
            opened[i].store = NULL;
            return;
        }
    }
    tg_ctx_close(ctx);
}
