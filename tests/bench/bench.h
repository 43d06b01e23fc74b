/*
 * bench.h - the benchmark harness behind `make bench`.
 *
 * A benchmark is a function timed in samples of `batch` operations. Each
 * run gives ops/s and per-operation p50/p99 (a sample's time divided by its
 * batch). A comparison alternates runs of the candidate and its baseline in
 * the same process, so both see the same machine state, and reports the
 * median over runs of each figure and of the per-run time ratio
 * candidate/baseline. Output: one JSON line per benchmark on stdout.
 */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Performs operation number i (0-based, increasing across samples). */
typedef void (*bench_fn)(void *arg, uint64_t i);

typedef struct bench_case {
    const char *name;
    bench_fn fn;
    void *arg;
    void (*setup)(void *arg); /* before each run (may be NULL) */
} bench_case;

typedef struct bench_plan {
    size_t batch;   /* operations per timed sample */
    size_t samples; /* samples per run */
    int runs;       /* runs per case; medians are over these */
} bench_plan;

typedef struct bench_result {
    double ops_per_s, p50_ns, p99_ns;
} bench_result;

/* Runs `c` (and `base` alternately, if not NULL) per `plan`, prints the
 * JSON line with `extra` (a JSON fragment like "\"bytes\":1024" or NULL)
 * and returns the candidate's medians. *out_ratio gets the median time
 * ratio candidate/baseline (1.0 without a baseline); may be NULL. */
bench_result bench_compare(const bench_case *c, const bench_case *base,
                           const bench_plan *plan, const char *extra, double *out_ratio);

/*
 * Bare SQLite, the stores' baseline: a WAL file with the built-in store's
 * table and settings (src/store/sqlite.c), inserting rows if absent,
 * `per_txn` to a transaction. Failures end the program.
 */
struct sqlite3;
struct sqlite3_stmt;
typedef struct bench_sqlite {
    struct sqlite3 *db;
    struct sqlite3_stmt *insert, *begin, *commit;
    uint64_t per_txn;
} bench_sqlite;

void bench_sqlite_open(bench_sqlite *b, const char *path, int full_sync, uint64_t per_txn);
/* Inserts one row as operation number i: a transaction begins before
 * every per_txn-th and commits after. */
void bench_sqlite_insert(bench_sqlite *b, uint64_t i, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len);
void bench_sqlite_close(bench_sqlite *b);

/* Monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
