/*
 * test_audit_threads.c - appends from several threads at once (run under
 * ThreadSanitizer by `make check-threads`):
 *  - two contexts, each on its own handle of ONE SQLite file, two threads
 *    appending to the same workspace chain: every append succeeds, the
 *    sequence numbers returned are exactly 1..2N with none twice, and the
 *    chain verifies (insert-if-absent: the writers never fork it);
 *  - four threads on one shared context, with a fifth verifying the chain
 *    over and over while they append: every verdict is valid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "audit_test.h"

#define PER_THREAD 2000

typedef struct appender {
    tg_ctx *ctx;
    const char *actor;
    int count;
    uint64_t *seqs;
    int failures;
    char first_error[256];
} appender;

static void *append_loop(void *p)
{
    appender *a = p;
    tg_audit_event e;
    at_event(&e, "acme", a->actor);
    for (int i = 0; i < a->count; i++) {
        uint64_t seq = 0;
        int rc = tg_audit_append(a->ctx, &e, &seq);
        if (rc != TG_OK) {
            if (a->failures++ == 0)
                snprintf(a->first_error, sizeof a->first_error, "%s: %s", tg_strerror(rc),
                         tg_ctx_errmsg(NULL));
            continue;
        }
        a->seqs[i] = seq;
    }
    return NULL;
}

/* The seqs of all appenders are exactly 1..total, each once. */
static void expect_exact_seqs(appender *as, int n, uint64_t total)
{
    uint8_t *seen = calloc(total + 1, 1);
    assert_non_null(seen);
    for (int t = 0; t < n; t++) {
        if (as[t].failures)
            print_error("thread %d: %d appends failed, the first with %s\n", t, as[t].failures,
                        as[t].first_error);
        assert_int_equal(as[t].failures, 0);
        uint64_t last = 0;
        for (int i = 0; i < as[t].count; i++) {
            uint64_t s = as[t].seqs[i];
            assert_true(s >= 1 && s <= total);
            assert_int_equal(seen[s], 0);
            assert_true(s > last); /* one thread's records keep their order */
            last = s;
            seen[s] = 1;
        }
    }
    for (uint64_t s = 1; s <= total; s++)
        assert_int_equal(seen[s], 1);
    free(seen);
}

static void expect_valid_chain(tg_ctx *ctx, uint64_t records)
{
    tg_audit_verdict v;
    assert_true(at_chain_valid(ctx, "acme", &v));
    assert_int_equal(v.records, records);
}

static void test_two_contexts_one_sqlite_file(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    tg_store *s1 = NULL, *s2 = NULL;
    assert_int_equal(tg_store_open_sqlite(&s1, path, NULL), TG_OK);
    assert_int_equal(tg_store_open_sqlite(&s2, path, NULL), TG_OK);
    tg_ctx *c1 = at_ctx(s1, NULL, 100), *c2 = at_ctx(s2, NULL, 100);
    assert_non_null(c1);
    assert_non_null(c2);
    appender as[2] = {
        {c1, "alice", PER_THREAD, calloc(PER_THREAD, 8), 0, ""},
        {c2, "bob", PER_THREAD, calloc(PER_THREAD, 8), 0, ""},
    };
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, append_loop, &as[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    expect_exact_seqs(as, 2, 2 * PER_THREAD);
    expect_valid_chain(c1, 2 * PER_THREAD);
    expect_valid_chain(c2, 2 * PER_THREAD);
    /* Both agree on the key, made once, and checkpoints every 100. */
    uint8_t k1[32], k2[32];
    assert_int_equal(tg_audit_public_key(c1, k1), TG_OK);
    assert_int_equal(tg_audit_public_key(c2, k2), TG_OK);
    assert_memory_equal(k1, k2, 32);
    assert_int_equal(at_count(s1, TG__AK_CHECKPOINT, "acme"), 2 * PER_THREAD / 100);
    /* alice keeps one pseudonym though two contexts wrote for her... */
    tg_ctx_close(c1);
    tg_ctx_close(c2);
    tg_store_close(s1);
    tg_store_close(s2);
    /* ... and a reopened store verifies the same. */
    assert_int_equal(tg_store_open_sqlite(&s1, path, NULL), TG_OK);
    c1 = at_ctx(s1, NULL, 100);
    expect_valid_chain(c1, 2 * PER_THREAD);
    tg_ctx_close(c1);
    tg_store_close(s1);
    free(as[0].seqs);
    free(as[1].seqs);
    tgt_rmtree(dir);
}

typedef struct verifier {
    tg_ctx *ctx;
    atomic_int *done;
    int runs, bad;
    char first[200];
} verifier;

static void *verify_loop(void *p)
{
    verifier *v = p;
    while (!atomic_load(v->done)) {
        tg_audit_verdict d;
        int rc = at_verify(v->ctx, &d, "acme", 0, 0);
        v->runs++;
        if ((rc != TG_OK || d.problem != TG_AUDIT_VALID) && v->bad++ == 0)
            snprintf(v->first, sizeof v->first, "rc %d, %s at %llu: %s", rc,
                     tg_audit_problem_name(d.problem), (unsigned long long)d.bad_seq, d.reason);
    }
    return NULL;
}

static void shared_context(tg_store *store, int per_thread)
{
    tg_ctx *ctx = at_ctx(store, NULL, 50);
    assert_non_null(ctx);
    static const char *const actors[4] = {"alice", "bob", "carol", "dave"};
    appender as[4];
    pthread_t th[4], vt;
    atomic_int done = 0;
    verifier ver = {ctx, &done, 0, 0, ""};
    assert_int_equal(pthread_create(&vt, NULL, verify_loop, &ver), 0);
    for (int t = 0; t < 4; t++) {
        as[t] = (appender){ctx, actors[t], per_thread, calloc((size_t)per_thread, 8), 0, ""};
        assert_int_equal(pthread_create(&th[t], NULL, append_loop, &as[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(th[t], NULL);
    atomic_store(&done, 1);
    pthread_join(vt, NULL);
    if (ver.bad)
        print_error("%d of %d verifications during the appends failed; the first: %s\n",
                    ver.bad, ver.runs, ver.first);
    assert_int_equal(ver.bad, 0);
    assert_true(ver.runs > 0);
    expect_exact_seqs(as, 4, 4 * (uint64_t)per_thread);
    expect_valid_chain(ctx, 4 * (uint64_t)per_thread);
    for (int t = 0; t < 4; t++)
        free(as[t].seqs);
    tg_ctx_close(ctx);
}

static void test_four_threads_one_context_memory(void **state)
{
    (void)state;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    shared_context(store, 1000);
    tg_store_close(store);
}

static void test_four_threads_one_context_sqlite(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/shared.db", dir);
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_sqlite(&store, path, NULL), TG_OK);
    shared_context(store, 500);
    tg_store_close(store);
    tgt_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_contexts_one_sqlite_file),
        cmocka_unit_test(test_four_threads_one_context_memory),
        cmocka_unit_test(test_four_threads_one_context_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
