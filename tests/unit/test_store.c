/* test_store.c - the store module: the conformance suite on both built-in
 * stores and on host stores (correct and broken), tg_store_open's checks
 * of host ops, the checked calls' argument checks and their policing of a
 * misbehaving host, and the SQLite store's files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store/store_internal.h"
#include "support.h"

#define K(s) (const uint8_t *)(s), (sizeof(s) - 1)

static const char *errmsg(void) { return tg_ctx_errmsg(NULL); }

/* ---- temporary files ----------------------------------------------------------- */

static char *temp_path(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tgt_tmpdir(), name);
    return path;
}

static void remove_temp(const char *path)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    tgt_rmtree(dir);
}

/* ---- conformance reports ------------------------------------------------------ */

typedef struct report {
    int passed, failed;
    char failures[1024]; /* " name name ..." */
} report;

static void record(void *user, const char *test, int passed, const char *detail)
{
    report *r = user;
    if (passed) {
        r->passed++;
        return;
    }
    r->failed++;
    assert_non_null(detail);
    assert_true(detail[0] != '\0');
    size_t n = strlen(r->failures);
    snprintf(r->failures + n, sizeof r->failures - n, " %s", test);
}

static void assert_conforms(tg_store *s, tg_store *second)
{
    report r = { 0 };
    int rc = tg_store_conformance_run(s, second, record, &r);
    if (rc != TG_OK)
        fail_msg("conformance: %d: %s; failed:%s", rc, errmsg(), r.failures);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.passed, 17);
}

/* ---- a host store over the memory store, optionally with a bug --------------- */

enum bug { NO_BUG, SCAN_IGNORES_REVERSE, ROLLBACK_COMMITS, INSERT_REPLACES };

typedef struct host {
    tg_store *inner;
    enum bug bug;
    int closed;
} host;

static int h_begin(void *u, tg_store_txn **out) { return tg__store_begin(((host *)u)->inner, out); }
static int h_commit(void *u, tg_store_txn *t) { return tg__store_commit(((host *)u)->inner, t); }

static void h_rollback(void *u, tg_store_txn *t)
{
    host *h = u;
    if (h->bug == ROLLBACK_COMMITS)
        tg__store_commit(h->inner, t);
    else
        tg__store_rollback(h->inner, t);
}

static int h_get(void *u, tg_store_txn *t, const uint8_t *k, size_t kl, tg_store_row_cb cb,
                 void *cbu)
{
    return tg__store_get(((host *)u)->inner, t, k, kl, cb, cbu);
}

static int h_put(void *u, tg_store_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                 size_t vl)
{
    return tg__store_put(((host *)u)->inner, t, k, kl, v, vl);
}

static int h_insert(void *u, tg_store_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                    size_t vl)
{
    host *h = u;
    if (h->bug == INSERT_REPLACES)
        return tg__store_put(h->inner, t, k, kl, v, vl);
    return tg__store_insert(h->inner, t, k, kl, v, vl);
}

static int h_del(void *u, tg_store_txn *t, const uint8_t *k, size_t kl)
{
    return tg__store_del(((host *)u)->inner, t, k, kl);
}

static int h_scan(void *u, tg_store_txn *t, const uint8_t *lo, size_t lol, const uint8_t *hi,
                  size_t hil, unsigned flags, tg_store_row_cb cb, void *cbu)
{
    host *h = u;
    if (h->bug == SCAN_IGNORES_REVERSE)
        flags &= ~TG_STORE_SCAN_REVERSE;
    return tg__store_scan(h->inner, t, lo, lol, hi, hil, flags, cb, cbu);
}

static void h_close(void *u)
{
    host *h = u;
    h->closed++;
    tg_store_close(h->inner);
}

static const tg_store_ops host_ops = {
    TG_STORE_OPS_VERSION, sizeof(tg_store_ops), NULL,
    h_begin, h_commit, h_rollback, h_get, h_put, h_insert, h_del, h_scan, h_close,
};

static tg_store *open_host(host *h, enum bug bug)
{
    h->bug = bug;
    h->closed = 0;
    assert_int_equal(tg_store_open_memory(&h->inner), TG_OK);
    tg_store_ops ops = host_ops;
    ops.user = h;
    tg_store *s = NULL;
    assert_int_equal(tg_store_open(&s, &ops), TG_OK);
    return s;
}

/* ---- conformance ------------------------------------------------------------------ */

static void test_conformance_memory(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    assert_conforms(s, NULL);
    tg_store_close(s);
}

static void test_conformance_sqlite_two_handles(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", tgt_tmpdir());
    snprintf(path, sizeof path, "%s/store.db", dir);
    tg_store *a, *b;
    assert_int_equal(tg_store_open_sqlite(&a, path, NULL), TG_OK);
    assert_int_equal(tg_store_open_sqlite(&b, path, NULL), TG_OK);
    assert_conforms(a, b);
    tg_store_close(b);
    assert_conforms(a, NULL); /* the concurrent writer on another thread, same handle */
    tg_store_close(a);
    tgt_rmtree(dir);
}

static void test_conformance_host_store(void **state)
{
    (void)state;
    host h;
    tg_store *s = open_host(&h, NO_BUG);
    assert_conforms(s, NULL);
    tg_store_close(s);
    assert_int_equal(h.closed, 1);
}

/* The suite must be able to fail: each bug is caught by the named test. */
static void expect_caught(enum bug bug, const char *test)
{
    host h;
    tg_store *s = open_host(&h, bug);
    report r = { 0 };
    assert_int_equal(tg_store_conformance_run(s, NULL, record, &r), TG_ECONFORMANCE);
    assert_true(r.failed > 0);
    if (!strstr(r.failures, test))
        fail_msg("bug %d not caught by %s (failed:%s)", bug, test, r.failures);
    assert_non_null(strstr(errmsg(), "conformance"));
    tg_store_close(s);
}

static void test_conformance_catches_bugs(void **state)
{
    (void)state;
    expect_caught(SCAN_IGNORES_REVERSE, " scan_reverse");
    expect_caught(ROLLBACK_COMMITS, " txn_rollback");
    expect_caught(ROLLBACK_COMMITS, " fault_injection");
    expect_caught(INSERT_REPLACES, " insert_if_absent");
    expect_caught(INSERT_REPLACES, " insert_race");
}

static void test_conformance_null_store(void **state)
{
    (void)state;
    assert_int_equal(tg_store_conformance_run(NULL, NULL, NULL, NULL), TG_EINVAL);
}

/* ---- tg_store_open --------------------------------------------------------------- */

static void expect_open(const tg_store_ops *ops, int want, const char *msg)
{
    tg_store *s = (tg_store *)1;
    assert_int_equal(tg_store_open(&s, ops), want);
    assert_null(s);
    if (!strstr(errmsg(), msg))
        fail_msg("message \"%s\" does not contain \"%s\"", errmsg(), msg);
}

static void test_open_rejects_bad_ops(void **state)
{
    (void)state;
    tg_store_ops ops = host_ops;
    expect_open(NULL, TG_EINVAL, "ops is NULL");
    assert_int_equal(tg_store_open(NULL, &ops), TG_EINVAL);

    ops.version = 0;
    expect_open(&ops, TG_EVERSION, "version 0");
    ops.version = TG_STORE_OPS_VERSION + 1;
    expect_open(&ops, TG_EVERSION, "not supported");
    ops = host_ops;
    ops.struct_size = sizeof ops - 1;
    expect_open(&ops, TG_EVERSION, "struct_size");

    static const struct { size_t offset; const char *msg; } members[] = {
        { offsetof(tg_store_ops, begin), "ops->begin is NULL" },
        { offsetof(tg_store_ops, commit), "ops->commit is NULL" },
        { offsetof(tg_store_ops, rollback), "ops->rollback is NULL" },
        { offsetof(tg_store_ops, get), "ops->get is NULL" },
        { offsetof(tg_store_ops, put), "ops->put is NULL" },
        { offsetof(tg_store_ops, insert), "ops->insert is NULL" },
        { offsetof(tg_store_ops, del), "ops->del is NULL" },
        { offsetof(tg_store_ops, scan), "ops->scan is NULL" },
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        ops = host_ops;
        memset((char *)&ops + members[i].offset, 0, sizeof(void (*)(void)));
        expect_open(&ops, TG_EINVAL, members[i].msg);
    }
}

static void test_open_copies_ops_and_close_is_optional(void **state)
{
    (void)state;
    host h;
    assert_int_equal(tg_store_open_memory(&h.inner), TG_OK);
    h.bug = NO_BUG;
    tg_store_ops ops = host_ops;
    ops.user = &h;
    ops.close = NULL;               /* optional */
    ops.struct_size = sizeof ops + 16; /* a newer host's larger struct */
    tg_store *s;
    assert_int_equal(tg_store_open(&s, &ops), TG_OK);
    memset(&ops, 0, sizeof ops);    /* the store keeps its own copy */
    assert_int_equal(tg__store_put(s, NULL, K("k"), K("v")), TG_OK);
    uint8_t buf[4];
    size_t len;
    assert_int_equal(tg__store_get_buf(s, NULL, K("k"), buf, sizeof buf, &len), TG_OK);
    assert_int_equal(len, 1);
    tg_store_close(s);
    tg_store_close(h.inner);
    tg_store_close(NULL);
}

static void test_limits(void **state)
{
    (void)state;
    assert_int_equal(tg_store_key_max(), TG_STORE_KEY_MAX);
    assert_int_equal(tg_store_value_max(), TG_STORE_VALUE_MAX);
}

/* ---- the checked calls ------------------------------------------------------------ */

static int count_row(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k; (void)kl; (void)v; (void)vl;
    (*(int *)user)++;
    return 0;
}

#define EXPECT_EINVAL(expr, msg)                                              \
    do {                                                                      \
        assert_int_equal((expr), TG_EINVAL);                                  \
        if (!strstr(errmsg(), msg))                                           \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #expr, errmsg(), msg); \
    } while (0)

static void test_checked_calls_reject_bad_input(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    static uint8_t big[TG_STORE_KEY_MAX + 1];
    int n = 0;
    EXPECT_EINVAL(tg__store_put(s, NULL, NULL, 1, K("v")), "key is NULL");
    EXPECT_EINVAL(tg__store_put(s, NULL, K(""), K("v")), "key is empty");
    EXPECT_EINVAL(tg__store_put(s, NULL, big, sizeof big, K("v")), "longer than");
    EXPECT_EINVAL(tg__store_insert(s, NULL, K("k"), NULL, 3), "value is NULL");
    EXPECT_EINVAL(tg__store_put(s, NULL, K("k"), big, (size_t)TG_STORE_VALUE_MAX + 1),
                  "longer than");
    EXPECT_EINVAL(tg__store_get(s, NULL, NULL, 0, count_row, &n), "key is NULL");
    EXPECT_EINVAL(tg__store_get(s, NULL, K("k"), NULL, NULL), "callback is NULL");
    EXPECT_EINVAL(tg__store_del(s, NULL, K("")), "key is empty");
    EXPECT_EINVAL(tg__store_del(NULL, NULL, K("k")), "store is NULL");
    EXPECT_EINVAL(tg__store_scan(s, NULL, NULL, 2, NULL, 0, 0, count_row, &n), "lo is NULL");
    EXPECT_EINVAL(tg__store_scan(s, NULL, NULL, 0, big, sizeof big, 0, count_row, &n),
                  "hi of");
    EXPECT_EINVAL(tg__store_scan(s, NULL, NULL, 0, NULL, 0, 4, count_row, &n), "unknown flags");
    EXPECT_EINVAL(tg__store_begin(s, NULL), "out is NULL");
    EXPECT_EINVAL(tg__store_commit(s, NULL), "transaction is NULL");
    EXPECT_EINVAL(tg__store_get_buf(s, NULL, K("k"), NULL, 4, NULL), "buffer is NULL");
    tg__store_rollback(s, NULL); /* nothing to roll back */
    assert_int_equal(n, 0);
    /* A NULL value of length 0 is the empty value. */
    assert_int_equal(tg__store_put(s, NULL, K("k"), NULL, 0), TG_OK);
    size_t len = 99;
    assert_int_equal(tg__store_get_buf(s, NULL, K("k"), NULL, 0, &len), TG_OK);
    assert_int_equal(len, 0);
    tg_store_close(s);
}

static void test_get_buf_and_prefix_end(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, K("k"), K("hello")), TG_OK);
    uint8_t buf[8];
    size_t len = 0;
    assert_int_equal(tg__store_get_buf(s, NULL, K("k"), buf, 5, &len), TG_OK);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(tg__store_get_buf(s, NULL, K("k"), buf, 4, &len), TG_ERANGE);
    assert_int_equal(len, 5); /* the size it needs */
    assert_int_equal(tg__store_get_buf(s, NULL, K("nope"), buf, 8, &len), TG_ENOTFOUND);
    tg_store_close(s);

    uint8_t out[8];
    assert_int_equal(tg__store_prefix_end(K("ab"), out), 2);
    assert_memory_equal(out, "ac", 2);
    assert_int_equal(tg__store_prefix_end(K("a\xff\xff"), out), 1);
    assert_memory_equal(out, "b", 1);
    assert_int_equal(tg__store_prefix_end(K("\x00\xff"), out), 1);
    assert_int_equal(out[0], 1);
    assert_int_equal(tg__store_prefix_end(K("\xff\xff"), out), 0);
    assert_int_equal(tg__store_prefix_end(K(""), out), 0);
}

/* An empty bound is no bound, so prefix_end's 0 can be passed as hi. */
static void test_scan_empty_bound_is_unbounded(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, K("\xff\xff"), K("")), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, K("\xff\xff\x01"), K("")), TG_OK);
    uint8_t hi[2];
    size_t hi_len = tg__store_prefix_end(K("\xff\xff"), hi);
    int n = 0;
    assert_int_equal(tg__store_scan(s, NULL, K("\xff\xff"), hi, hi_len, 0, count_row, &n), TG_OK);
    assert_int_equal(n, 2);
    tg_store_close(s);
}

/* ---- a host that breaks the contract ---------------------------------------------- */

enum lie {
    PUT_POSITIVE, PUT_UNKNOWN_CODE, PUT_STORE_FAILURE, GET_NO_ROW, GET_WRONG_KEY,
    GET_TWO_ROWS, SCAN_OUT_OF_BOUNDS, SCAN_UNORDERED, SCAN_IGNORES_STOP, BEGIN_NO_TXN,
};

typedef struct liar {
    enum lie lie;
    int rows_after_stop;
} liar;

static int l_begin(void *u, tg_store_txn **out)
{
    (void)u;
    *out = NULL;
    return TG_OK;
}
static int l_commit(void *u, tg_store_txn *t) { (void)u; (void)t; return TG_OK; }
static void l_rollback(void *u, tg_store_txn *t) { (void)u; (void)t; }

static int l_get(void *u, tg_store_txn *t, const uint8_t *k, size_t kl, tg_store_row_cb cb,
                 void *cbu)
{
    liar *l = u;
    (void)t;
    if (l->lie == GET_NO_ROW)
        return TG_OK;
    if (l->lie == GET_WRONG_KEY)
        return cb(cbu, K("other"), K("v")) < 0 ? -1 : TG_OK;
    cb(cbu, k, kl, K("v"));
    cb(cbu, k, kl, K("v"));
    return TG_OK;
}

static int l_put(void *u, tg_store_txn *t, const uint8_t *k, size_t kl, const uint8_t *v,
                 size_t vl)
{
    liar *l = u;
    (void)t; (void)k; (void)kl; (void)v; (void)vl;
    return l->lie == PUT_POSITIVE ? 7 : l->lie == PUT_UNKNOWN_CODE ? -999 : TG_ESTORE;
}

static int l_del(void *u, tg_store_txn *t, const uint8_t *k, size_t kl)
{
    (void)u; (void)t; (void)k; (void)kl;
    return TG_OK;
}

static int l_scan(void *u, tg_store_txn *t, const uint8_t *lo, size_t lol, const uint8_t *hi,
                  size_t hil, unsigned flags, tg_store_row_cb cb, void *cbu)
{
    liar *l = u;
    (void)t; (void)lo; (void)lol; (void)hi; (void)hil; (void)flags;
    if (l->lie == SCAN_OUT_OF_BOUNDS)
        cb(cbu, K("a"), K(""));
    else if (l->lie == SCAN_UNORDERED) {
        cb(cbu, K("m2"), K(""));
        cb(cbu, K("m1"), K(""));
    } else
        for (int i = 0; i < 3; i++)
            l->rows_after_stop += cb(cbu, K("m1"), K("")) != 0;
    return TG_OK;
}

static int stop_at_once(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k; (void)kl; (void)v; (void)vl;
    (*(int *)user)++;
    return 1;
}

static tg_store *open_liar(liar *l, enum lie lie)
{
    l->lie = lie;
    l->rows_after_stop = 0;
    tg_store_ops ops = {
        TG_STORE_OPS_VERSION, sizeof ops, l,
        l_begin, l_commit, l_rollback, l_get, l_put, l_put, l_del, l_scan, NULL,
    };
    tg_store *s;
    assert_int_equal(tg_store_open(&s, &ops), TG_OK);
    return s;
}

static void expect_callback_error(int rc, const char *msg)
{
    assert_int_equal(rc, TG_ECALLBACK);
    if (!strstr(errmsg(), msg))
        fail_msg("message \"%s\" lacks \"%s\"", errmsg(), msg);
}

static void test_host_contract_breaches(void **state)
{
    (void)state;
    liar l;
    tg_store *s;
    int n = 0;
    tg_store_txn *t;

    s = open_liar(&l, PUT_POSITIVE);
    expect_callback_error(tg__store_put(s, NULL, K("k"), K("v")), "returned 7");
    tg_store_close(s);
    s = open_liar(&l, PUT_UNKNOWN_CODE);
    expect_callback_error(tg__store_insert(s, NULL, K("k"), K("v")), "returned -999");
    tg_store_close(s);
    s = open_liar(&l, PUT_STORE_FAILURE); /* a legitimate failure gets a message */
    assert_int_equal(tg__store_put(s, NULL, K("k"), K("v")), TG_ESTORE);
    assert_string_equal(errmsg(), "store: put failed: store failure");
    tg_store_close(s);
    s = open_liar(&l, GET_NO_ROW);
    expect_callback_error(tg__store_get(s, NULL, K("k"), count_row, &n), "without calling");
    tg_store_close(s);
    s = open_liar(&l, GET_WRONG_KEY);
    expect_callback_error(tg__store_get(s, NULL, K("k"), count_row, &n), "not asked for");
    tg_store_close(s);
    s = open_liar(&l, GET_TWO_ROWS);
    expect_callback_error(tg__store_get(s, NULL, K("k"), count_row, &n), "more than one row");
    tg_store_close(s);
    s = open_liar(&l, SCAN_OUT_OF_BOUNDS);
    expect_callback_error(tg__store_scan(s, NULL, K("m"), K("n"), 0, count_row, &n),
                          "outside the scan bounds");
    tg_store_close(s);
    s = open_liar(&l, SCAN_UNORDERED);
    expect_callback_error(tg__store_scan(s, NULL, K("m"), K("n"), 0, count_row, &n),
                          "out of order");
    tg_store_close(s);
    assert_int_equal(n, 2); /* only the valid rows reached the caller */
    s = open_liar(&l, BEGIN_NO_TXN);
    expect_callback_error(tg__store_begin(s, &t), "no transaction");
    tg_store_close(s);

    /* A host that keeps calling after "stop": the caller sees one row. */
    s = open_liar(&l, SCAN_IGNORES_STOP);
    n = 0;
    assert_int_equal(tg__store_scan(s, NULL, K("m"), K("n"), 0, stop_at_once, &n), TG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(l.rows_after_stop, 3);
    tg_store_close(s);
}

/* ---- the memory store ------------------------------------------------------------- */

static void test_memory_same_thread_does_not_deadlock(void **state)
{
    (void)state;
    tg_store *s;
    tg_store_txn *t, *t2;
    int n = 0;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_get(s, NULL, K("k"), count_row, &n), TG_ESTORE);
    assert_non_null(strstr(errmsg(), "wait for itself"));
    assert_int_equal(tg__store_begin(s, &t2), TG_ESTORE);
    tg__store_rollback(s, t);
    assert_int_equal(tg__store_put(s, NULL, K("k"), K("v")), TG_OK);
    tg_store_close(s);
}

/* A transaction handed to another thread: the gate follows it. The thread
 * now using it gets "would wait for itself" from a NULL-txn call that would
 * wait for it (instead of waiting forever), and the thread that began it
 * and handed it over waits for it to end (instead of being refused). */
static void assert_stored(tg_store *s, const char *key, const char *want);

typedef struct handover {
    tg_store *s;
    tg_store_txn *t;
    bool memory;
    int put_rc, null_rc, commit_rc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 1: receiver used it; 2: sender about to wait */
} handover;

static void set_stage(handover *h, int stage)
{
    pthread_mutex_lock(&h->mu);
    h->stage = stage;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void wait_stage(handover *h, int stage)
{
    pthread_mutex_lock(&h->mu);
    while (h->stage < stage)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void *receive_txn(void *p)
{
    handover *h = p;
    int n = 0;
    h->put_rc = tg__store_put(h->s, h->t, K("handed"), K("1"));
    /* Memory store: a NULL-txn read waits for the transaction; SQLite: a
     * NULL-txn write does (reads go to another connection). */
    h->null_rc = h->memory ? tg__store_get(h->s, NULL, K("handed"), count_row, &n)
                           : tg__store_put(h->s, NULL, K("other"), K("2"));
    set_stage(h, 1);
    wait_stage(h, 2);
    usleep(100 * 1000); /* let the sender start waiting */
    h->commit_rc = tg__store_commit(h->s, h->t);
    return NULL;
}

static void handover_on(tg_store *s, bool memory)
{
    handover h = { .s = s, .memory = memory, .stage = 0 };
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t th;
    assert_int_equal(tg__store_begin(s, &h.t), TG_OK);
    assert_int_equal(pthread_create(&th, NULL, receive_txn, &h), 0);
    wait_stage(&h, 1);
    set_stage(&h, 2);
    /* The sender's NULL-txn write waits for the receiver's commit. */
    assert_int_equal(tg__store_put(s, NULL, K("sender"), K("3")), TG_OK);
    pthread_join(th, NULL);
    assert_int_equal(h.put_rc, TG_OK);
    assert_int_equal(h.null_rc, TG_ESTORE);
    assert_int_equal(h.commit_rc, TG_OK);
    assert_stored(s, "handed", "1");
    assert_stored(s, "sender", "3");
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);
}

static void test_gate_follows_handed_over_transaction(void **state)
{
    (void)state;
    alarm(60); /* the bug this guards against is a deadlock */
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    handover_on(s, true);
    tg_store_close(s);
    char *path = temp_path("handover.db");
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    handover_on(s, false);
    tg_store_close(s);
    remove_temp(path);
    alarm(0);
}

/* A callback may change the store under a running scan. */
static int delete_each(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v; (void)vl;
    tg_store *s = user;
    return tg__store_del(s, NULL, k, kl);
}

static void test_memory_scan_survives_changes(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    for (int i = 0; i < 100; i++) {
        uint8_t k[2] = { 'k', (uint8_t)i };
        assert_int_equal(tg__store_put(s, NULL, k, 2, k, 2), TG_OK);
    }
    assert_int_equal(tg__store_scan(s, NULL, NULL, 0, NULL, 0, TG_STORE_SCAN_REVERSE, delete_each,
                                    s), TG_OK);
    int n = 0;
    assert_int_equal(tg__store_scan(s, NULL, NULL, 0, NULL, 0, 0, count_row, &n), TG_OK);
    assert_int_equal(n, 0);
    tg_store_close(s);
}

/* Several threads: writers in transactions and readers outside them. A
 * lost wake-up in the single-writer gate would hang here; a reader seeing
 * half a transaction would find a pair of keys that disagree. */
#define MIXERS 4

typedef struct mixer {
    tg_store *s;
    uint8_t id;
    int rounds;
    int bad; /* the first unexpected result, or a torn pair (1) */
} mixer;

typedef struct pairs {
    uint32_t last[MIXERS];
    bool torn;
} pairs;

/* Rows come as (id, 'a'), (id, 'b'): both must hold the same round. */
static int check_pair(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    pairs *p = user;
    if (kl != 3 || vl != 4 || k[1] >= MIXERS)
        return p->torn = true;
    uint32_t round = tg__get_u32(v);
    if (k[2] == 'a')
        p->last[k[1]] = round;
    else if (round != p->last[k[1]])
        p->torn = true;
    return 0;
}

static int mix_write(mixer *m, uint32_t round)
{
    uint8_t ka[3] = { 'm', m->id, 'a' }, kb[3] = { 'm', m->id, 'b' }, v[4];
    tg__put_u32(v, round);
    tg_store_txn *t;
    int rc = tg__store_begin(m->s, &t);
    if (rc)
        return rc;
    if ((rc = tg__store_put(m->s, t, ka, 3, v, 4)) || (rc = tg__store_put(m->s, t, kb, 3, v, 4))) {
        tg__store_rollback(m->s, t);
        return rc;
    }
    return tg__store_commit(m->s, t);
}

static void *mix(void *p)
{
    mixer *m = p;
    for (int i = 0; i < m->rounds && !m->bad; i++) {
        pairs seen = { { 0 }, false };
        int rc = i % 2 ? tg__store_scan(m->s, NULL, K("m"), K("n"), 0, check_pair, &seen)
                       : mix_write(m, (uint32_t)i);
        m->bad = rc ? rc : seen.torn;
    }
    return NULL;
}

static void run_mixers(tg_store *s, int rounds)
{
    mixer m[MIXERS];
    pthread_t th[MIXERS];
    for (int i = 0; i < MIXERS; i++) {
        m[i] = (mixer){ s, (uint8_t)i, rounds, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, mix, &m[i]), 0);
    }
    for (int i = 0; i < MIXERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < MIXERS; i++)
        assert_int_equal(m[i].bad, 0);
}

static void test_threads_mix_readers_and_writers(void **state)
{
    (void)state;
    tg_store *s;
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    run_mixers(s, 20000);
    tg_store_close(s);
    char *path = temp_path("mix.db");
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    run_mixers(s, 200); /* each commit syncs the disk */
    tg_store_close(s);
    remove_temp(path);
}

/* ---- the fault proxy --------------------------------------------------------------- */

static void test_faulty_store(void **state)
{
    (void)state;
    tg_store *m, *f;
    tg_store_txn *t;
    assert_int_equal(tg_store_open_memory(&m), TG_OK);
    assert_int_equal(tg__store_open_faulty(&f, m, 3), TG_OK);
    assert_int_equal(tg__store_begin(f, &t), TG_OK);
    assert_int_equal(tg__store_put(f, t, K("a"), K("1")), TG_OK);
    assert_int_equal(tg__store_put(f, t, K("b"), K("2")), TG_ESTORE);
    assert_string_equal(errmsg(), "store: injected fault at operation 3");
    tg__store_rollback(f, t); /* not counted */
    assert_int_equal(tg__store_faulty_count(f), 3);
    assert_int_equal(tg__store_faulty_count(m), -1);
    int n = 0;
    assert_int_equal(tg__store_scan(m, NULL, NULL, 0, NULL, 0, 0, count_row, &n), TG_OK);
    assert_int_equal(n, 0);
    tg_store_close(f);
    tg_store_close(m);
}

/* ---- the SQLite store's files ------------------------------------------------------ */

static void assert_stored(tg_store *s, const char *key, const char *want)
{
    uint8_t buf[64];
    size_t len;
    int rc = tg__store_get_buf(s, NULL, (const uint8_t *)key, strlen(key), buf, sizeof buf, &len);
    if (rc)
        fail_msg("get %s: %d: %s", key, rc, errmsg());
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

static void test_sqlite_reopen_keeps_data(void **state)
{
    (void)state;
    char *path = temp_path("reopen.db");
    tg_store *s;
    tg_store_txn *t;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, K("alone"), K("1")), TG_OK);
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_put(s, t, K("txn"), K("2")), TG_OK);
    assert_int_equal(tg__store_insert(s, t, K("empty"), NULL, 0), TG_OK);
    assert_int_equal(tg__store_commit(s, t), TG_OK);
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_put(s, t, K("dropped"), K("3")), TG_OK);
    tg__store_rollback(s, t);
    tg_store_close(s);

    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    assert_stored(s, "alone", "1");
    assert_stored(s, "txn", "2");
    assert_stored(s, "empty", "");
    assert_int_equal(tg__store_get_buf(s, NULL, K("dropped"), NULL, 0, NULL), TG_ENOTFOUND);
    tg_store_close(s);
    remove_temp(path);
}

/* A process that dies right after its commit returned, without closing
 * anything, has still written it durably. */
static void test_sqlite_acknowledged_write_survives_crash(void **state)
{
    (void)state;
    char *path = temp_path("crash.db");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tg_store *s;
        tg_store_txn *t;
        if (tg_store_open_sqlite(&s, path, NULL) || tg__store_begin(s, &t) ||
            tg__store_put(s, t, K("acked"), K("yes")) || tg__store_commit(s, t))
            _exit(1);
        _exit(0); /* no close, no checkpoint */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tg_store *s;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    assert_stored(s, "acked", "yes");
    tg_store_close(s);
    remove_temp(path);
}

static bool always(void) { return true; }

/* A ROLLBACK that fails must not leave the writer connection inside the
 * transaction: the next NULL-txn write would run in it, return TG_OK and
 * never be committed (and the write lock would never be released). */
static void test_sqlite_failed_rollback_leaves_no_transaction(void **state)
{
    (void)state;
    char *path = temp_path("rollback.db");
    tg_store *s, *other;
    tg_store_txn *t;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    assert_int_equal(tg_store_open_sqlite(&other, path, NULL), TG_OK);
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_put(s, t, K("dropped"), K("1")), TG_OK);
    tg__sqlite_rollback_should_fail = always;
    tg__store_rollback(s, t);
    tg__sqlite_rollback_should_fail = NULL;

    /* A NULL-txn write commits on its own: another handle sees it, and
     * not what the rolled-back transaction wrote. */
    assert_int_equal(tg__store_put(s, NULL, K("after"), K("2")), TG_OK);
    assert_stored(other, "after", "2");
    assert_int_equal(tg__store_get_buf(other, NULL, K("dropped"), NULL, 0, NULL), TG_ENOTFOUND);
    assert_int_equal(tg__store_get_buf(s, NULL, K("dropped"), NULL, 0, NULL), TG_ENOTFOUND);
    /* The other handle can write: no lock was left behind. */
    assert_int_equal(tg__store_put(other, NULL, K("other"), K("3")), TG_OK);

    /* The same when the failed rollback follows a failed operation, and
     * transactions work as before afterwards. */
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_put(s, t, K("dropped"), K("4")), TG_OK);
    tg__sqlite_rollback_should_fail = always;
    tg__store_rollback(s, t);
    tg__sqlite_rollback_should_fail = NULL;
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_put(s, t, K("txn"), K("5")), TG_OK);
    assert_int_equal(tg__store_commit(s, t), TG_OK);
    assert_stored(other, "txn", "5");
    assert_int_equal(tg__store_get_buf(other, NULL, K("dropped"), NULL, 0, NULL), TG_ENOTFOUND);
    tg_store_close(other);
    tg_store_close(s);
    remove_temp(path);
}

/* Reads a whole file (empty if it does not exist); free() the result. */
static uint8_t *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(1);
    assert_non_null(buf);
    if (!f)
        return buf;
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf = realloc(buf, *len + n);
        assert_non_null(buf);
        memcpy(buf + *len, chunk, n);
        *len += n;
    }
    fclose(f);
    return buf;
}

/* Whether the bytes occur in the database file or its -wal file. */
static bool on_disk(const char *path, const uint8_t *needle, size_t n)
{
    char wal[4300];
    const char *files[2] = { path, wal };
    snprintf(wal, sizeof wal, "%s-wal", path);
    bool found = false;
    for (int i = 0; i < 2 && !found; i++) {
        size_t len;
        uint8_t *buf = slurp(files[i], &len);
        for (size_t j = 0; j + n <= len && !found; j++)
            found = memcmp(buf + j, needle, n) == 0;
        free(buf);
    }
    return found;
}

/* After tg__store_purge_freed, overwritten and deleted values are in
 * neither the database file nor the -wal file (secure_delete zeroes them in
 * new page images, the TRUNCATE checkpoint removes the old images). */
static void test_sqlite_purge_freed(void **state)
{
    (void)state;
    char *path = temp_path("purge.db");
    tg_sqlite_options o;
    tg_sqlite_options_init(&o);
    o.busy_timeout_ms = 100;
    tg_store *s;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_OK);
    uint8_t a[48], b[48], c[48];
    randombytes_buf(a, sizeof a);
    randombytes_buf(b, sizeof b);
    randombytes_buf(c, sizeof c);
    for (int i = 0; i < 20; i++) { /* some neighbours on the same pages */
        uint8_t k[3] = { 'n', (uint8_t)i, 0 };
        assert_int_equal(tg__store_put(s, NULL, k, sizeof k, k, sizeof k), TG_OK);
    }
    assert_int_equal(tg__store_put(s, NULL, K("overwritten"), a, sizeof a), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, K("deleted"), b, sizeof b), TG_OK);
    assert_true(on_disk(path, a, sizeof a));
    assert_int_equal(tg__store_put(s, NULL, K("overwritten"), K("tombstone")), TG_OK);
    assert_int_equal(tg__store_del(s, NULL, K("deleted")), TG_OK);
    assert_int_equal(tg__store_purge_freed(s), TG_OK);
    assert_false(on_disk(path, a, sizeof a));
    assert_false(on_disk(path, b, sizeof b));
    assert_stored(s, "overwritten", "tombstone");

    /* A reader of another connection holding an old snapshot keeps the WAL
     * from being emptied: the purge says so, and works once it is gone. */
    assert_int_equal(tg__store_put(s, NULL, K("later"), c, sizeof c), TG_OK);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM kv", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tg__store_del(s, NULL, K("later")), TG_OK);
    assert_int_equal(tg__store_purge_freed(s), TG__PURGE_INCOMPLETE);
    assert_non_null(strstr(errmsg(), "-wal"));
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(tg__store_purge_freed(s), TG_OK);
    assert_false(on_disk(path, c, sizeof c));

    /* Not in a transaction of one's own; nothing to do for other stores. */
    tg_store_txn *t;
    assert_int_equal(tg__store_begin(s, &t), TG_OK);
    assert_int_equal(tg__store_purge_freed(s), TG_ESTORE);
    tg__store_rollback(s, t);
    tg_store_close(s);
    assert_int_equal(tg__store_purge_freed(NULL), TG_EINVAL);
    assert_int_equal(tg_store_open_memory(&s), TG_OK);
    assert_int_equal(tg__store_purge_freed(s), TG_OK);
    tg_store *f;
    assert_int_equal(tg__store_open_faulty(&f, s, 1), TG_OK);
    assert_int_equal(tg__store_purge_freed(f), TG_OK); /* not counted, never failed */
    assert_int_equal(tg__store_faulty_count(f), 0);
    tg_store_close(f);
    tg_store_close(s);
    host h;
    s = open_host(&h, NO_BUG); /* a host's own business (docs/STORE.md) */
    assert_int_equal(tg__store_purge_freed(s), TG_OK);
    tg_store_close(s);
    remove_temp(path);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void run_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void expect_open_sqlite(const char *path, int want, const char *msg)
{
    tg_store *s = (tg_store *)1;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), want);
    assert_null(s);
    if (!strstr(errmsg(), msg))
        fail_msg("message \"%s\" lacks \"%s\"", errmsg(), msg);
}

/* The options are validated, and a store opened with FULL sync stores and
 * reads like the default one (the journal mode and sync level are visible
 * to a second connection through SQLite itself). */
static void test_sqlite_options(void **state)
{
    (void)state;
    char *path = temp_path("options.db");
    tg_sqlite_options o;
    tg_sqlite_options_init(NULL); /* accepted */
    tg_sqlite_options_init(&o);
    assert_int_equal(o.sync, TG_SQLITE_SYNC_NORMAL);
    tg_store *s = NULL;

    o.version = 0;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_EVERSION);
    o.version = TG_SQLITE_OPTIONS_VERSION + 1;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_EVERSION);
    tg_sqlite_options_init(&o);
    o.struct_size = 4;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_EVERSION);
    tg_sqlite_options_init(&o);
    o.sync = 7;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_EINVAL);
    assert_non_null(strstr(errmsg(), "sync"));
    assert_null(s);

    tg_sqlite_options_init(&o);
    o.sync = TG_SQLITE_SYNC_FULL;
    o.busy_timeout_ms = 50;
    assert_int_equal(tg_store_open_sqlite(&s, path, &o), TG_OK);
    assert_int_equal(tg__store_put(s, NULL, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1),
                     TG_OK);
    tg_store_close(s);
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    uint8_t buf[4];
    size_t len = 0;
    assert_int_equal(tg__store_get_buf(s, NULL, (const uint8_t *)"k", 1, buf, sizeof buf, &len),
                     TG_OK);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 'v');
    tg_store_close(s);
    remove_temp(path);
}

static void test_sqlite_rejects_bad_files(void **state)
{
    (void)state;
    expect_open_sqlite(NULL, TG_EINVAL, "path");
    expect_open_sqlite("", TG_EINVAL, "path");
    assert_int_equal(tg_store_open_sqlite(NULL, "x.db", NULL), TG_EINVAL);

    char *path = temp_path("garbage.db");
    write_file(path, "this is not an SQLite database, just some text long enough to matter\n");
    expect_open_sqlite(path, TG_ESTORE, "not a database");
    remove_temp(path);

    path = temp_path("foreign.db");
    run_sql(path, "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT)");
    expect_open_sqlite(path, TG_ESTORE, "not a tenantguard store");
    remove_temp(path);

    path = temp_path("newer.db");
    tg_store *s;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK);
    tg_store_close(s);
    run_sql(path, "PRAGMA user_version = 2");
    expect_open_sqlite(path, TG_EVERSION, "schema version 2");
    run_sql(path, "PRAGMA user_version = 1; CREATE TABLE extra(x)");
    expect_open_sqlite(path, TG_ESTORE, "unexpected schema");
    remove_temp(path);

    expect_open_sqlite("/nonexistent-dir/x/store.db", TG_ESTORE, "cannot open");
}

/* Several handles opening one new file at the same moment (servers started
 * together) all succeed: creating the schema and switching to WAL mode race
 * each other, and the loser must wait rather than fail "database is
 * locked". */
#define OPENERS 4

typedef struct first_open {
    const char *path;
    pthread_barrier_t *go;
    tg_store *s;
    int rc;
    char msg[512];
} first_open;

static void *open_new(void *p)
{
    first_open *o = p;
    pthread_barrier_wait(o->go);
    o->rc = tg_store_open_sqlite(&o->s, o->path, NULL);
    snprintf(o->msg, sizeof o->msg, "%s", errmsg());
    return NULL;
}

static void test_sqlite_concurrent_first_open(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", tgt_tmpdir());
    for (int round = 0; round < 50; round++) {
        snprintf(path, sizeof path, "%s/new%d.db", dir, round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, OPENERS);
        first_open o[OPENERS];
        pthread_t th[OPENERS];
        for (int i = 0; i < OPENERS; i++) {
            o[i] = (first_open){ path, &go, NULL, -1, "" };
            assert_int_equal(pthread_create(&th[i], NULL, open_new, &o[i]), 0);
        }
        for (int i = 0; i < OPENERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < OPENERS; i++)
            if (o[i].rc != TG_OK)
                fail_msg("round %d, opener %d: %s", round, i, o[i].msg);
        assert_int_equal(tg__store_insert(o[0].s, NULL, K("k"), K("v")), TG_OK);
        for (int i = 0; i < OPENERS; i++) {
            assert_stored(o[i].s, "k", "v");
            tg_store_close(o[i].s);
        }
    }
    tgt_rmtree(dir);
}

/* Two handles on one file, two threads each, insert the same keys: each key
 * has exactly one winner, and holds the winner's value. */
#define RACE_KEYS 200
#define RACERS 4

/* Runs in threads and child processes: no cmocka asserts here. */
typedef struct racer {
    tg_store *s;
    uint8_t id;
    int rc[RACE_KEYS];
} racer;

static void *race(void *p)
{
    racer *r = p;
    for (int i = 0; i < RACE_KEYS; i++) {
        uint8_t k[3] = { 'r', (uint8_t)(i >> 8), (uint8_t)i };
        r->rc[i] = tg__store_insert(r->s, NULL, k, sizeof k, &r->id, 1);
    }
    return NULL;
}

/* 1 if r won key i, 0 if it lost, -1 on any other result. */
static int won(const racer *r, int i)
{
    return r->rc[i] == TG_OK ? 1 : r->rc[i] == TG_EEXISTS ? 0 : -1;
}

static void test_sqlite_insert_race_two_handles(void **state)
{
    (void)state;
    char *path = temp_path("race.db");
    tg_store *h[2];
    assert_int_equal(tg_store_open_sqlite(&h[0], path, NULL), TG_OK);
    assert_int_equal(tg_store_open_sqlite(&h[1], path, NULL), TG_OK);
    racer r[RACERS];
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){ h[i % 2], (uint8_t)('A' + i), { 0 } };
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    for (int k = 0; k < RACE_KEYS; k++) {
        int wins = 0, winner = 0;
        for (int i = 0; i < RACERS; i++) {
            assert_int_not_equal(won(&r[i], k), -1);
            if (won(&r[i], k)) {
                wins++;
                winner = i;
            }
        }
        assert_int_equal(wins, 1);
        uint8_t key[3] = { 'r', (uint8_t)(k >> 8), (uint8_t)k }, v;
        size_t len;
        assert_int_equal(tg__store_get_buf(h[1 - winner % 2], NULL, key, 3, &v, 1, &len), TG_OK);
        assert_int_equal(v, r[winner].id);
    }
    tg_store_close(h[0]);
    tg_store_close(h[1]);
    remove_temp(path);
}

/* The same across processes: the sum of wins is the number of keys. */
static void test_sqlite_insert_race_two_processes(void **state)
{
    (void)state;
    char *path = temp_path("procs.db");
    tg_store *s;
    assert_int_equal(tg_store_open_sqlite(&s, path, NULL), TG_OK); /* create before forking */
    tg_store_close(s);
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            racer r = { NULL, (uint8_t)('P' + p), { 0 } };
            if (tg_store_open_sqlite(&r.s, path, NULL))
                _exit(255);
            race(&r);
            tg_store_close(r.s);
            int wins = 0;
            for (int i = 0; i < RACE_KEYS; i++) {
                if (won(&r, i) < 0)
                    _exit(255);
                wins += won(&r, i);
            }
            _exit(wins); /* <= RACE_KEYS < 255 */
        }
    }
    int total = 0;
    for (int p = 0; p < 2; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 255);
        total += WEXITSTATUS(status);
    }
    assert_int_equal(total, RACE_KEYS);
    remove_temp(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conformance_memory),
        cmocka_unit_test(test_conformance_sqlite_two_handles),
        cmocka_unit_test(test_conformance_host_store),
        cmocka_unit_test(test_conformance_catches_bugs),
        cmocka_unit_test(test_conformance_null_store),
        cmocka_unit_test(test_open_rejects_bad_ops),
        cmocka_unit_test(test_open_copies_ops_and_close_is_optional),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_checked_calls_reject_bad_input),
        cmocka_unit_test(test_get_buf_and_prefix_end),
        cmocka_unit_test(test_scan_empty_bound_is_unbounded),
        cmocka_unit_test(test_host_contract_breaches),
        cmocka_unit_test(test_memory_same_thread_does_not_deadlock),
        cmocka_unit_test(test_memory_scan_survives_changes),
        cmocka_unit_test(test_gate_follows_handed_over_transaction),
        cmocka_unit_test(test_threads_mix_readers_and_writers),
        cmocka_unit_test(test_faulty_store),
        cmocka_unit_test(test_sqlite_reopen_keeps_data),
        cmocka_unit_test(test_sqlite_acknowledged_write_survives_crash),
        cmocka_unit_test(test_sqlite_failed_rollback_leaves_no_transaction),
        cmocka_unit_test(test_sqlite_purge_freed),
        cmocka_unit_test(test_sqlite_rejects_bad_files),
        cmocka_unit_test(test_sqlite_options),
        cmocka_unit_test(test_sqlite_concurrent_first_open),
        cmocka_unit_test(test_sqlite_insert_race_two_handles),
        cmocka_unit_test(test_sqlite_insert_race_two_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
