/*
 * bench_audit.c - the audit log's figures (issue 5):
 *  (a) appends/s on the memory store, with a realistic event (workspace,
 *      actor, IP, action, target, small details); target >= 300k/s;
 *  (b) SQLite, one record per transaction, against bare SQLite inserting
 *      rows of the same key and value sizes one per transaction, with the
 *      pragmas the store uses (WAL, synchronous=NORMAL, secure_delete=ON),
 *      in the same run; target ratio <= 1.5;
 *  (c) SQLite, tg_audit_append_batch of 1,000 records per transaction,
 *      against bare SQLite with 1,000 rows per transaction; target
 *      >= 100k records/s;
 *  (d) verification records/s of a whole chain, memory store (target
 *      >= 1M/s) and SQLite.
 * One JSON line each on stdout.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../unit/audit_test.h"
#include "bench.h"

#define BATCH 1000

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_audit: %s: %s\n", what, detail);
    exit(1);
}

static tg_ctx *open_ctx(tg_store *store)
{
    tg_ctx *ctx = at_ctx(store, NULL, 0); /* the default checkpoint interval */
    if (!ctx)
        die("tg_ctx_open", tg_ctx_errmsg(NULL));
    return ctx;
}

/* ---- the library ----------------------------------------------------------- */

typedef struct tg_arg {
    tg_ctx *ctx;
    tg_audit_event events[BATCH];
    size_t per_call;
} tg_arg;

static void tg_arg_init(tg_arg *a, tg_ctx *ctx, size_t per_call)
{
    a->ctx = ctx;
    a->per_call = per_call;
    for (size_t i = 0; i < BATCH; i++)
        at_event(&a->events[i], "acme", i % 3 ? "alice@corp.example" : "bob@corp.example");
}

static void tg_append(void *p, uint64_t i)
{
    tg_arg *a = p;
    if (a->per_call == 1) {
        if (tg_audit_append(a->ctx, &a->events[i % BATCH], NULL) != TG_OK)
            die("tg_audit_append", tg_ctx_errmsg(NULL));
    } else if (i % a->per_call == 0) {
        if (tg_audit_append_batch(a->ctx, a->events, a->per_call, NULL) != TG_OK)
            die("tg_audit_append_batch", tg_ctx_errmsg(NULL));
    }
}

/* ---- bare SQLite --------------------------------------------------------------- */

typedef struct bare_arg {
    bench_sqlite sql;
    uint8_t value[1024];
    size_t value_len;
} bare_arg;

static void bare_insert(void *p, uint64_t i)
{
    bare_arg *a = p;
    uint8_t key[TG__AUDIT_KEY_MAX];
    size_t klen = at_key(key, TG__AK_RECORD, "acme", i + 1); /* the same key as a record's */
    bench_sqlite_insert(&a->sql, i, key, klen, a->value, a->value_len);
}

/* The encoded size of the benchmark's event as a record. */
static size_t record_size(void)
{
    tg_store *store = NULL;
    if (tg_store_open_memory(&store) != TG_OK)
        die("tg_store_open_memory", tg_ctx_errmsg(NULL));
    tg_ctx *ctx = open_ctx(store);
    tg_arg *a = malloc(sizeof *a);
    if (!a)
        die("malloc", "out of memory");
    tg_arg_init(a, ctx, 1);
    tg_append(a, 0);
    at_bytes b;
    if (at_get(store, TG__AK_RECORD, "acme", 1, &b) != TG_OK)
        die("read back", tg_ctx_errmsg(NULL));
    free(a);
    tg_ctx_close(ctx);
    tg_store_close(store);
    return b.n;
}

static void compare_sqlite(const char *dir, size_t per_txn, size_t value_len,
                           const bench_plan *plan)
{
    char tg_path[4200], bare_path[4200], name[96], base_name[96], extra[200];
    snprintf(tg_path, sizeof tg_path, "%s/audit-%zu.db", dir, per_txn);
    snprintf(bare_path, sizeof bare_path, "%s/bare-%zu.db", dir, per_txn);
    tg_store *store = NULL;
    if (tg_store_open_sqlite(&store, tg_path, NULL) != TG_OK)
        die("tg_store_open_sqlite", tg_ctx_errmsg(NULL));
    tg_ctx *ctx = open_ctx(store);
    tg_arg *t = malloc(sizeof *t);
    bare_arg *b = calloc(1, sizeof *b);
    if (!t || !b)
        die("malloc", "out of memory");
    tg_arg_init(t, ctx, per_txn);
    b->value_len = value_len;
    randombytes_buf(b->value, value_len);
    bench_sqlite_open(&b->sql, bare_path, 0, per_txn);
    if (per_txn == 1) {
        snprintf(name, sizeof name, "audit_sqlite_append_1_per_txn");
        snprintf(extra, sizeof extra,
                 "\"unit\":\"record\",\"record_bytes\":%zu,\"records_per_txn\":1,"
                 "\"target_ratio_max\":1.5",
                 value_len);
    } else {
        snprintf(name, sizeof name, "audit_sqlite_append_batch_%zu_per_txn", per_txn);
        snprintf(extra, sizeof extra,
                 "\"unit\":\"record\",\"record_bytes\":%zu,\"records_per_txn\":%zu,"
                 "\"target_ops_per_s_min\":100000",
                 value_len, per_txn);
    }
    snprintf(base_name, sizeof base_name, "sqlite_insert_%zub_%zu_per_txn", value_len, per_txn);
    bench_case c = {name, tg_append, t, NULL};
    bench_case base = {base_name, bare_insert, b, NULL};
    bench_compare(&c, &base, plan, extra, NULL);
    bench_sqlite_close(&b->sql);
    free(b);
    free(t);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* ---- verification ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Builds a chain of `records` in `store` and times whole verifications. */
static void bench_verify(const char *name, tg_store *store, uint64_t records)
{
    tg_ctx *ctx = open_ctx(store);
    tg_arg *a = malloc(sizeof *a);
    if (!a)
        die("malloc", "out of memory");
    tg_arg_init(a, ctx, BATCH);
    for (uint64_t i = 0; i < records; i += BATCH)
        tg_append(a, i);
    free(a);
    enum { RUNS = 5 };
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++) {
        tg_audit_verdict v;
        uint64_t t0 = bench_now_ns();
        int rc = at_verify(ctx, &v, "acme", 0, 0);
        uint64_t t1 = bench_now_ns();
        if (rc != TG_OK || v.problem != TG_AUDIT_VALID || v.records != records)
            die("verify", rc != TG_OK ? tg_ctx_errmsg(NULL) : v.reason);
        rate[r] = (double)records * 1e9 / (double)(t1 - t0);
    }
    qsort(rate, RUNS, sizeof rate[0], cmp_double);
    printf("{\"bench\":\"%s\",\"records\":%llu,\"records_per_s\":%.0f,\"runs\":%d,"
           "\"target_min\":1000000}\n",
           name, (unsigned long long)records, rate[RUNS / 2], RUNS);
    fflush(stdout);
    tg_ctx_close(ctx);
}

int main(void)
{
    if (sodium_init() < 0)
        die("sodium_init", "failed");
    const char *dir = tgt_tmpdir();
    size_t value_len = record_size();

    /* (a) memory store, one record per call. */
    tg_store *mem = NULL;
    if (tg_store_open_memory(&mem) != TG_OK)
        die("tg_store_open_memory", tg_ctx_errmsg(NULL));
    tg_ctx *ctx = open_ctx(mem);
    tg_arg *m = malloc(sizeof *m);
    if (!m)
        die("malloc", "out of memory");
    tg_arg_init(m, ctx, 1);
    char extra[128];
    snprintf(extra, sizeof extra,
             "\"unit\":\"record\",\"record_bytes\":%zu,\"target_ops_per_s_min\":300000",
             value_len);
    bench_plan mem_plan = {.batch = 1000, .samples = 100, .runs = 5};
    bench_case mc = {"audit_memory_append", tg_append, m, NULL};
    bench_compare(&mc, NULL, &mem_plan, extra, NULL);
    free(m);
    tg_ctx_close(ctx);
    tg_store_close(mem);

    /* (b) and (c): SQLite against bare SQLite. */
    bench_plan single = {.batch = 10, .samples = 300, .runs = 5};
    compare_sqlite(dir, 1, value_len, &single);
    bench_plan batched = {.batch = BATCH, .samples = 20, .runs = 5};
    compare_sqlite(dir, BATCH, value_len, &batched);

    /* (d) verification. */
    if (tg_store_open_memory(&mem) != TG_OK)
        die("tg_store_open_memory", tg_ctx_errmsg(NULL));
    bench_verify("audit_verify_memory", mem, 200000);
    tg_store_close(mem);
    char path[4200];
    snprintf(path, sizeof path, "%s/verify.db", dir);
    tg_store *sq = NULL;
    if (tg_store_open_sqlite(&sq, path, NULL) != TG_OK)
        die("tg_store_open_sqlite", tg_ctx_errmsg(NULL));
    bench_verify("audit_verify_sqlite", sq, 200000);
    tg_store_close(sq);
    tgt_rmtree(dir);
    return 0;
}
