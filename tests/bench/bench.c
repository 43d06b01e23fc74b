/* bench.c - timing, medians and JSON output for `make bench`. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* q in [0,1]; sorts v. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

typedef struct run_state {
    uint64_t next_op; /* operation numbers keep increasing across runs */
} run_state;

static bench_result run_once(const bench_case *c, const bench_plan *p, run_state *st,
                             double *lat)
{
    if (c->setup)
        c->setup(c->arg);
    uint64_t total = 0;
    for (size_t s = 0; s < p->samples; s++) {
        uint64_t t0 = bench_now_ns();
        for (size_t k = 0; k < p->batch; k++)
            c->fn(c->arg, st->next_op++);
        uint64_t dt = bench_now_ns() - t0;
        total += dt;
        lat[s] = (double)dt / (double)p->batch;
    }
    bench_result r;
    r.ops_per_s = (double)(p->samples * p->batch) * 1e9 / (double)(total ? total : 1);
    r.p99_ns = quantile(lat, p->samples, 0.99);
    r.p50_ns = quantile(lat, p->samples, 0.50);
    return r;
}

static bench_result medians(bench_result *rs, int n, double *scratch)
{
    bench_result m;
    for (int i = 0; i < n; i++) scratch[i] = rs[i].ops_per_s;
    m.ops_per_s = quantile(scratch, (size_t)n, 0.5);
    for (int i = 0; i < n; i++) scratch[i] = rs[i].p50_ns;
    m.p50_ns = quantile(scratch, (size_t)n, 0.5);
    for (int i = 0; i < n; i++) scratch[i] = rs[i].p99_ns;
    m.p99_ns = quantile(scratch, (size_t)n, 0.5);
    return m;
}

bench_result bench_compare(const bench_case *c, const bench_case *base,
                           const bench_plan *plan, const char *extra, double *out_ratio)
{
    double *lat = calloc(plan->samples, sizeof *lat);
    bench_result *rc = calloc((size_t)plan->runs, sizeof *rc);
    bench_result *rb = calloc((size_t)plan->runs, sizeof *rb);
    double *ratio = calloc((size_t)plan->runs, sizeof *ratio);
    double *scratch = calloc((size_t)plan->runs, sizeof *scratch);
    if (!lat || !rc || !rb || !ratio || !scratch) {
        fprintf(stderr, "bench: out of memory\n");
        exit(2);
    }
    run_state sc = {0}, sb = {0};
    for (int r = 0; r < plan->runs; r++) {
        /* Alternate which goes first so neither always gets the warm cache. */
        if (base && (r & 1))
            rb[r] = run_once(base, plan, &sb, lat);
        rc[r] = run_once(c, plan, &sc, lat);
        if (base && !(r & 1))
            rb[r] = run_once(base, plan, &sb, lat);
        ratio[r] = base ? rb[r].ops_per_s / rc[r].ops_per_s : 1.0;
    }
    bench_result m = medians(rc, plan->runs, scratch);
    double med_ratio = quantile(ratio, (size_t)plan->runs, 0.5);
    printf("{\"bench\":\"%s\",\"ops_per_s\":%.0f,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"runs\":%d",
           c->name, m.ops_per_s, m.p50_ns, m.p99_ns, plan->runs);
    if (base) {
        bench_result mb = medians(rb, plan->runs, scratch);
        printf(",\"baseline\":\"%s\",\"baseline_ops_per_s\":%.0f,\"baseline_p50_ns\":%.0f,"
               "\"ratio\":%.3f",
               base->name, mb.ops_per_s, mb.p50_ns, med_ratio);
    }
    if (extra)
        printf(",%s", extra);
    printf("}\n");
    fflush(stdout);
    if (out_ratio)
        *out_ratio = med_ratio;
    free(lat); free(rc); free(rb); free(ratio); free(scratch);
    return m;
}

/* ---- bare SQLite ----------------------------------------------------------- */

static void sqlite_die(bench_sqlite *b, const char *what)
{
    fprintf(stderr, "bench: bare sqlite: %s: %s\n", what, sqlite3_errmsg(b->db));
    exit(1);
}

static void step(bench_sqlite *b, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        sqlite_die(b, "step");
    sqlite3_reset(st);
}

void bench_sqlite_open(bench_sqlite *b, const char *path, int full_sync, uint64_t per_txn)
{
    memset(b, 0, sizeof *b);
    b->per_txn = per_txn;
    if (sqlite3_open(path, &b->db) != SQLITE_OK)
        sqlite_die(b, "open");
    char setup[256];
    snprintf(setup, sizeof setup,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA secure_delete=ON;"
             "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
             full_sync ? "FULL" : "NORMAL");
    if (sqlite3_exec(b->db, setup, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(b->db, "INSERT INTO kv(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO NOTHING",
                           -1, &b->insert, NULL) ||
        sqlite3_prepare_v2(b->db, "BEGIN IMMEDIATE", -1, &b->begin, NULL) ||
        sqlite3_prepare_v2(b->db, "COMMIT", -1, &b->commit, NULL))
        sqlite_die(b, "setup");
}

void bench_sqlite_insert(bench_sqlite *b, uint64_t i, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len)
{
    if (i % b->per_txn == 0)
        step(b, b->begin);
    sqlite3_bind_blob(b->insert, 1, key, (int)key_len, SQLITE_STATIC);
    sqlite3_bind_blob(b->insert, 2, value, (int)value_len, SQLITE_STATIC);
    step(b, b->insert);
    if (i % b->per_txn == b->per_txn - 1)
        step(b, b->commit);
}

void bench_sqlite_close(bench_sqlite *b)
{
    sqlite3_finalize(b->insert);
    sqlite3_finalize(b->begin);
    sqlite3_finalize(b->commit);
    sqlite3_close(b->db);
}
