/*
 * test_alloc_faults.c - the keyring under injected faults. One scenario
 * (open, encrypt, decrypt, rotate, encrypt, shred a subject, retire, close)
 * runs once for every position at which the context's allocator, the
 * guarded allocator, or the store can fail. Each call either succeeds or
 * fails cleanly (TG_ENOMEM / TG_ESTORE with a message); a failed call
 * changes nothing (checked from a fresh context on the same data); retrying
 * it then succeeds; nothing leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "core/core.h"
#include "store/store_internal.h"

#define OVH TG_ENVELOPE_OVERHEAD

typedef struct env {
    uint8_t buf[64 + OVH];
    size_t len;
} env_t;

typedef struct world {
    tg_ctx *ctx;
    env_t m1, m2, m3;
} world;

enum { STEPS = 11 };

/* ---- the guarded allocator's fault hook ---- */

static long secure_calls, secure_fail_at;

static bool secure_should_fail(void)
{
    return ++secure_calls == secure_fail_at;
}

/* ---- the scenario ---- */

static int seal(tg_ctx *ctx, env_t *e, const char *subject, const char *id, const char *text)
{
    return tg_keyring_encrypt(ctx, e->buf, sizeof e->buf, &e->len, "acme", subject, id,
                              (const uint8_t *)text, strlen(text));
}

/* TG_OK if the envelope opens to `text` (or, with text NULL, fails with
 * `want`); the failure code otherwise. */
static int check_open(tg_ctx *ctx, const env_t *e, const char *id, const char *text, int want)
{
    uint8_t out[64];
    size_t len = 0;
    int rc = tg_keyring_decrypt(ctx, out, sizeof out, &len, "acme", id, e->buf, e->len);
    if (!text)
        return rc == want ? TG_OK : (rc ? rc : TG_EINTERNAL);
    if (rc)
        return rc;
    assert_int_equal(len, strlen(text));
    assert_memory_equal(out, text, len);
    return TG_OK;
}

static int step(world *w, int k)
{
    uint32_t v = 0;
    int rc;
    switch (k) {
    case 0: return seal(w->ctx, &w->m1, "alice", "m1", "one");
    case 1: return seal(w->ctx, &w->m2, "bob", "m2", "two");
    case 2: return check_open(w->ctx, &w->m1, "m1", "one", TG_OK);
    case 3:
        rc = tg_keyring_rotate(w->ctx, &v, "acme");
        if (rc == TG_OK)
            assert_int_equal(v, 2);
        return rc;
    case 4:
        rc = seal(w->ctx, &w->m3, "alice", "m3", "three");
        if (rc == TG_OK)
            assert_int_equal(tg__get_u32(w->m3.buf + 12), 2);
        return rc;
    case 5: return check_open(w->ctx, &w->m1, "m1", "one", TG_OK);
    case 6: return tg_keyring_shred_subject(w->ctx, "acme", "bob");
    case 7: return check_open(w->ctx, &w->m2, "m2", NULL, TG_ESHREDDED);
    case 8: return tg_keyring_retire(w->ctx, "acme", 1);
    case 9: return check_open(w->ctx, &w->m1, "m1", NULL, TG_ERETIRED);
    case 10: return check_open(w->ctx, &w->m3, "m3", "three", TG_OK);
    }
    return TG_EINTERNAL;
}

/* From a fresh, fault-free context on the same data: the state after
 * steps 0..done-1 and nothing else. */
static void verify(tg_store *inner, const world *w, int done)
{
    bool (*hook)(void) = tg__secure_alloc_should_fail;
    tg__secure_alloc_should_fail = NULL;
    tg_config cfg;
    tgt_config(&cfg, inner, NULL);
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    uint32_t v = 0;
    if (done > 0) {
        assert_int_equal(tg_keyring_primary_version(ctx, &v, "acme"), TG_OK);
        assert_int_equal(v, done > 3 ? 2 : 1);
    }
    if (done > 0)
        assert_int_equal(check_open(ctx, &w->m1, "m1", done > 8 ? NULL : "one", TG_ERETIRED),
                         TG_OK);
    if (done > 1)
        assert_int_equal(check_open(ctx, &w->m2, "m2", done > 6 ? NULL : "two",
                                    done > 8 ? TG_ERETIRED : TG_ESHREDDED),
                         TG_OK);
    if (done > 4)
        assert_int_equal(check_open(ctx, &w->m3, "m3", "three", TG_OK), TG_OK);
    tg_ctx_close(ctx);
    tg__secure_alloc_should_fail = hook;
}

typedef struct counts {
    long alloc_calls, secure_calls, store_ops;
    int failures;
} counts;

static counts scenario(long alloc_fail, long secure_fail, long store_fail)
{
    counts c = {0, 0, 0, 0};
    tg_store *inner = NULL, *store = NULL;
    assert_int_equal(tg_store_open_memory(&inner), TG_OK);
    assert_int_equal(tg__store_open_faulty(&store, inner, store_fail), TG_OK);
    tgt_failing_alloc fa;
    tgt_failing_alloc_init(&fa, alloc_fail);
    secure_calls = 0;
    secure_fail_at = secure_fail;
    tg__secure_alloc_should_fail = secure_should_fail;

    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    cfg.allocator = &fa.ops;
    static world w;
    memset(&w, 0, sizeof w);
    int rc = tg_ctx_open(&w.ctx, &cfg);
    if (rc != TG_OK) {
        if (rc != TG_ENOMEM)
            fail_msg("open: %s (%s)", tg_strerror(rc), tg_ctx_errmsg(NULL));
        assert_true(strlen(tg_ctx_errmsg(NULL)) > 0);
        assert_null(w.ctx);
        c.failures++;
    } else {
        for (int k = 0; k < STEPS; k++) {
            rc = step(&w, k);
            if (rc != TG_OK) {
                if (rc != TG_ENOMEM && rc != TG_ESTORE)
                    fail_msg("step %d: %s (%s)", k, tg_strerror(rc), tg_ctx_errmsg(NULL));
                assert_true(strlen(tg_ctx_errmsg(NULL)) > 0);
                c.failures++;
                verify(inner, &w, k); /* the failed step changed nothing */
                rc = step(&w, k);     /* and works when tried again */
                if (rc != TG_OK)
                    fail_msg("step %d retried: %s (%s)", k, tg_strerror(rc),
                             tg_ctx_errmsg(NULL));
            }
        }
        tg_ctx_close(w.ctx);
        verify(inner, &w, STEPS);
    }
    assert_int_equal(fa.live, 0);
    c.alloc_calls = fa.calls;
    c.secure_calls = secure_calls;
    c.store_ops = tg__store_faulty_count(store);
    tg__secure_alloc_should_fail = NULL;
    tg_store_close(store);
    tg_store_close(inner);
    return c;
}

static void test_allocator_faults(void **state)
{
    (void)state;
    counts clean = scenario(0, 0, 0);
    assert_int_equal(clean.failures, 0);
    assert_true(clean.alloc_calls > 0);
    for (long n = 1; n <= clean.alloc_calls; n++)
        assert_int_equal(scenario(n, 0, 0).failures, 1);
}

static void test_secure_alloc_faults(void **state)
{
    (void)state;
    counts clean = scenario(0, 0, 0);
    assert_true(clean.secure_calls > 0);
    for (long n = 1; n <= clean.secure_calls; n++)
        assert_int_equal(scenario(0, n, 0).failures, 1);
}

static void test_store_faults(void **state)
{
    (void)state;
    counts clean = scenario(0, 0, 0);
    assert_true(clean.store_ops > 10);
    for (long n = 1; n <= clean.store_ops; n++)
        assert_int_equal(scenario(0, 0, n).failures, 1);
    printf("# %ld allocator calls, %ld guarded allocations, %ld store operations: each failed "
           "once\n", clean.alloc_calls, clean.secure_calls, clean.store_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_faults),
        cmocka_unit_test(test_secure_alloc_faults),
        cmocka_unit_test(test_store_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
