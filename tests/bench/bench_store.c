/*
 * bench_store.c - the SQLite store's puts of 200-byte values, one per
 * transaction and 1,000 per transaction, against bare SQLite inserting the
 * same rows into the same schema with the same durability setting (WAL with
 * synchronous=NORMAL, the default, and with FULL), in the same run. Also
 * the memory store.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "store/store_internal.h"
#include "support.h"

#define VALUE_BYTES 200

static uint8_t value[VALUE_BYTES];

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, detail);
    exit(1);
}

/* Keys are "bench/" + a big-endian counter, so both sides insert the same
 * rows in the same order. */
static size_t make_key(uint8_t *key, uint64_t i)
{
    memcpy(key, "bench/", 6);
    tg__put_u64(key + 6, i);
    return 14;
}

typedef struct tg_arg {
    tg_store *store;
    tg_store_txn *txn;
    uint64_t per_txn;
} tg_arg;

static void tg_put(void *p, uint64_t i)
{
    tg_arg *a = p;
    uint8_t key[14];
    size_t klen = make_key(key, i);
    if (i % a->per_txn == 0 && tg__store_begin(a->store, &a->txn) != TG_OK)
        die("begin", tg_ctx_errmsg(NULL));
    if (tg__store_put(a->store, a->txn, key, klen, value, sizeof value) != TG_OK)
        die("put", tg_ctx_errmsg(NULL));
    if (i % a->per_txn == a->per_txn - 1 && tg__store_commit(a->store, a->txn) != TG_OK)
        die("commit", tg_ctx_errmsg(NULL));
}

static void bare_insert(void *p, uint64_t i)
{
    uint8_t key[14];
    size_t klen = make_key(key, i);
    bench_sqlite_insert(p, i, key, klen, value, sizeof value);
}

static void compare_sqlite(const char *dir, uint64_t per_txn, bool full_sync,
                           const bench_plan *plan)
{
    char tg_path[4096], bare_path[4096], name[64], base_name[64], extra[128];
    const char *sync = full_sync ? "full" : "normal";
    unsigned long long n = (unsigned long long)per_txn;
    snprintf(tg_path, sizeof tg_path, "%s/tg-%llu-%s.db", dir, n, sync);
    snprintf(bare_path, sizeof bare_path, "%s/bare-%llu-%s.db", dir, n, sync);
    tg_arg t = {NULL, NULL, per_txn};
    tg_sqlite_options opts;
    tg_sqlite_options_init(&opts);
    opts.sync = full_sync ? TG_SQLITE_SYNC_FULL : TG_SQLITE_SYNC_NORMAL;
    if (tg_store_open_sqlite(&t.store, tg_path, &opts) != TG_OK)
        die("tg_store_open_sqlite", tg_ctx_errmsg(NULL));
    bench_sqlite b;
    bench_sqlite_open(&b, bare_path, full_sync, per_txn);

    snprintf(name, sizeof name, "store_sqlite_%s_put_200b_%llu_per_txn", sync, n);
    snprintf(base_name, sizeof base_name, "sqlite_%s_insert_200b_%llu_per_txn", sync, n);
    snprintf(extra, sizeof extra, "\"unit\":\"row\",\"rows_per_txn\":%llu,\"target_ratio_max\":1.5",
             (unsigned long long)per_txn);
    bench_case c = {name, tg_put, &t, NULL};
    bench_case base = {base_name, bare_insert, &b, NULL};
    bench_compare(&c, &base, plan, extra, NULL);
    bench_sqlite_close(&b);
    tg_store_close(t.store);
}

int main(void)
{
    if (sodium_init() < 0)
        die("sodium_init", "failed");
    randombytes_buf(value, sizeof value);
    const char *dir = tgt_tmpdir();

    bench_plan single = {.batch = 10, .samples = 300, .runs = 5};
    compare_sqlite(dir, 1, false, &single);
    bench_plan batched = {.batch = 1000, .samples = 20, .runs = 5};
    compare_sqlite(dir, 1000, false, &batched);
    /* With FULL, one commit per row is bounded by the disk's fsync rate. */
    bench_plan synced = {.batch = 1, .samples = 200, .runs = 5};
    compare_sqlite(dir, 1, true, &synced);

    tg_arg m = {NULL, NULL, 1};
    if (tg_store_open_memory(&m.store) != TG_OK)
        die("tg_store_open_memory", tg_ctx_errmsg(NULL));
    bench_plan mem = {.batch = 100, .samples = 1000, .runs = 5};
    bench_case mc = {"store_memory_put_200b_1_per_txn", tg_put, &m, NULL};
    bench_compare(&mc, NULL, &mem, "\"unit\":\"row\"", NULL);
    tg_store_close(m.store);
    tgt_rmtree(dir);
    return 0;
}
