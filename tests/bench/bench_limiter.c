/*
 * bench_limiter.c - the rate limiter's hot path, memory and contention.
 *
 *  - limiter_check_global: a check with no user, workspace or IP (the
 *    global bucket only), against the floor of one uncontended mutex
 *    lock/unlock plus a SipHash-128 of a 16-byte id;
 *  - limiter_check_ip: an IP (plus the global bucket, which every check
 *    has), 4096 addresses in turn, against one mutex pair and the SipHash of
 *    the 5 bytes that key an IPv4 address;
 *  - limiter_check_4d: user + workspace + IP + global, 65536 users in 1024
 *    workspaces behind 65536 addresses, timed one check per sample (so p50
 *    and p99 are real per-check percentiles, each including ~30 ns of
 *    clock reads), against the floor of its locks and hashes: 4 mutex pairs
 *    and 3 SipHashes of the same ids; _hot the same over 4096 users;
 *  - limiter_check_key_4d(_hot): the same checks through prepared keys (one
 *    per user: in these benchmarks a user's workspace and address never
 *    change), against the floor of 4 mutex pairs;
 *  - limiter_1m_users_memory: RSS growth (from /proc/self/statm) for one
 *    million users tracked, and bytes per entry against
 *    tg_limiter_bytes_per_key();
 *  - limiter_check_4d_threads: total ops/s of 1 and 2 threads doing 4d
 *    checks on one shared context (users and addresses per thread,
 *    workspaces and the global bucket shared), and the ratio 2 to 1;
 *    limiter_check_key_4d_threads the same through prepared keys.
 *
 * Every check is allowed: limits are set high (and the global and
 * workspace buckets are refilled before each run), so the path timed is the
 * one that takes tokens and writes every bucket. The system clock is used throughout (reading
 * it is part of a check's real cost).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "support.h"

#define N_USERS 65536
#define N_WS 1024
#define N_IPS 65536
#define N_IP_SMALL 4096

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_limiter: %s: %s: %s\n", what, tg_strerror(rc), tg_ctx_errmsg(NULL));
    exit(1);
}

typedef struct ids {
    char users[N_USERS][16];
    char ws[N_WS][16];
    char ips[N_IPS][16];
} ids;

static ids *make_ids(unsigned salt)
{
    ids *d = calloc(1, sizeof *d);
    if (!d)
        die("calloc", TG_ENOMEM);
    for (unsigned i = 0; i < N_USERS; i++)
        snprintf(d->users[i], sizeof d->users[i], "user-%u-%u", salt, i);
    for (unsigned i = 0; i < N_WS; i++)
        snprintf(d->ws[i], sizeof d->ws[i], "ws-%u", i);
    for (unsigned i = 0; i < N_IPS; i++)
        snprintf(d->ips[i], sizeof d->ips[i], "10.%u.%u.%u", salt & 0xFF, i >> 8, i & 0xFF);
    return d;
}

/* Prepared keys for users 0..n-1, with the workspace and address
 * check_4d (n = N_USERS) or check_4d_hot (n = 4096) pairs each user with. */
static tg_limiter_key **make_keys(tg_ctx *ctx, const ids *d, unsigned n, unsigned n_ws,
                                unsigned n_ips)
{
    tg_limiter_key **keys = calloc(n, sizeof *keys);
    if (!keys)
        die("calloc", TG_ENOMEM);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = i * 40503u;
        int rc = tg_limiter_key_new(ctx, &keys[i], d->ws[k % n_ws], d->users[i], d->ips[k % n_ips]);
        if (rc)
            die("key_new", rc);
    }
    return keys;
}

static void free_keys(tg_limiter_key **keys, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        tg_limiter_key_free(keys[i]);
    free(keys);
}

static tg_store *stores[8];
static int nstores;

/* A context on the system clock whose limits never bind in a benchmark. */
static tg_ctx *open_ctx(uint32_t max_keys)
{
    tg_limiter_options o;
    tg_limiter_options_init(&o);
    o.ip.per_minute = TG_LIMIT_RATE_MAX;
    o.ip.burst = TG_LIMIT_BURST_MAX;
    o.global.per_minute = TG_LIMIT_RATE_MAX;
    o.global.burst = TG_LIMIT_BURST_MAX;
    o.max_keys = max_keys;
    tg_store *store = NULL;
    int rc = tg_store_open_memory(&store);
    if (rc)
        die("store", rc);
    stores[nstores++] = store; /* closed at the end of main */
    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    cfg.limiter = &o;
    tg_ctx *ctx = NULL;
    if ((rc = tg_ctx_open(&ctx, &cfg)))
        die("open", rc);
    for (unsigned i = 0; i < N_WS; i++) {
        char ws[16];
        snprintf(ws, sizeof ws, "ws-%u", i);
        if ((rc = tg_limiter_set_tier(ctx, ws, TG_TIER_ENTERPRISE)) ||
            (rc = tg_limiter_set_user_limit(ctx, ws, TG_LIMIT_RATE_MAX)))
            die("set_tier", rc);
    }
    return ctx;
}

static void check(tg_ctx *ctx, const char *ws, const char *user, const char *ip)
{
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    int rc = tg_limiter_check(ctx, &v, ws, user, ip, 1);
    if (rc)
        die("check", rc);
    if (!v.allowed) {
        fprintf(stderr, "bench_limiter: denied by dimension %d (retry %lld ms)\n", v.dimension,
                (long long)v.retry_after_ms);
        exit(1);
    }
}

/* ---- candidates ---- */

typedef struct lim_arg {
    tg_ctx *ctx;
    ids *ids;
    tg_limiter_key **keys;
    unsigned nkeys;
} lim_arg;

/* Before each run: the buckets every check shares (the global one and the
 * workspaces') full again, so that no run is denied however fast and
 * however many the runs before it were. */
static void reset_shared(void *p)
{
    lim_arg *a = p;
    int rc = tg_limiter_reset(a->ctx, TG_LIMIT_GLOBAL, NULL, NULL);
    for (unsigned i = 0; i < N_WS && !rc; i++)
        rc = tg_limiter_reset(a->ctx, TG_LIMIT_WORKSPACE, a->ids->ws[i], NULL);
    if (rc)
        die("reset", rc);
}

static void check_global(void *p, uint64_t i)
{
    (void)i;
    check(((lim_arg *)p)->ctx, NULL, NULL, NULL);
}

static void check_ip(void *p, uint64_t i)
{
    lim_arg *a = p;
    check(a->ctx, NULL, NULL, a->ids->ips[i % N_IP_SMALL]);
}

/* Workspace, user and address vary independently (coprime strides). */
static void check_4d(void *p, uint64_t i)
{
    lim_arg *a = p;
    uint64_t k = i * 40503u;
    check(a->ctx, a->ids->ws[k % N_WS], a->ids->users[i % N_USERS], a->ids->ips[k % N_IPS]);
}

/* The same over a hot set: 4096 users in 256 workspaces behind 4096
 * addresses (about 1 MB of entries, cache-resident). */
static void check_4d_hot(void *p, uint64_t i)
{
    lim_arg *a = p;
    uint64_t k = i * 40503u;
    check(a->ctx, a->ids->ws[k % 256], a->ids->users[i % 4096], a->ids->ips[k % 4096]);
}

static void check_key(void *p, uint64_t i)
{
    lim_arg *a = p;
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    int rc = tg_limiter_check_key(a->ctx, &v, a->keys[i % a->nkeys], 1);
    if (rc)
        die("check_key", rc);
    if (!v.allowed) {
        fprintf(stderr, "bench_limiter: key denied by dimension %d\n", v.dimension);
        exit(1);
    }
}

static void nothing(void *p, uint64_t i)
{
    (void)p;
    (void)i;
}

/* ---- floors ---- */

typedef struct floor_arg {
    pthread_mutex_t locks[4];
    uint8_t key[crypto_shorthash_siphashx24_KEYBYTES];
    uint8_t id[16];
    ids *ids;
    volatile uint8_t sink;
} floor_arg;

static void floor_global(void *p, uint64_t i)
{
    floor_arg *a = p;
    uint8_t d[16];
    a->id[0] = (uint8_t)i;
    crypto_shorthash_siphashx24(d, a->id, sizeof a->id, a->key);
    pthread_mutex_lock(&a->locks[0]);
    a->sink ^= d[0];
    pthread_mutex_unlock(&a->locks[0]);
}

static void floor_ip(void *p, uint64_t i)
{
    floor_arg *a = p;
    uint8_t d[16], in[5] = {'i', 10, 0, (uint8_t)(i >> 8), (uint8_t)i};
    crypto_shorthash_siphashx24(d, in, sizeof in, a->key);
    pthread_mutex_lock(&a->locks[0]);
    a->sink ^= d[0];
    pthread_mutex_unlock(&a->locks[0]);
    pthread_mutex_lock(&a->locks[1]);
    a->sink ^= d[1];
    pthread_mutex_unlock(&a->locks[1]);
}

static void floor_4d(void *p, uint64_t i)
{
    floor_arg *a = p;
    uint64_t k = i * 40503u;
    const char *ws = a->ids->ws[k % N_WS], *user = a->ids->users[i % N_USERS];
    uint8_t d[3][16], ip[5] = {'i', 10, 0, (uint8_t)(k >> 8), (uint8_t)k};
    crypto_shorthash_siphashx24(d[0], (const uint8_t *)user, strlen(user), a->key);
    crypto_shorthash_siphashx24(d[1], (const uint8_t *)ws, strlen(ws), a->key);
    crypto_shorthash_siphashx24(d[2], ip, sizeof ip, a->key);
    for (int l = 0; l < 4; l++) {
        pthread_mutex_lock(&a->locks[l]);
        a->sink ^= d[l % 3][l];
        pthread_mutex_unlock(&a->locks[l]);
    }
}

static void floor_4d_key(void *p, uint64_t i)
{
    floor_arg *a = p;
    for (int l = 0; l < 4; l++) {
        pthread_mutex_lock(&a->locks[l]);
        a->sink ^= (uint8_t)(i >> l);
        pthread_mutex_unlock(&a->locks[l]);
    }
}

#define TARGET_4D \
    "\"dimensions\":4,\"batch\":1,\"target_p50_ns_max\":300,\"target_p99_ns_max\":1000,"
#define HOT_SET "\"users\":4096,\"workspaces\":256,\"ips\":4096"
#define ALL_SET "\"users\":65536,\"workspaces\":1024,\"ips\":65536"

/* check_key over prepared keys for users 0..n-1 (see make_keys). */
static void bench_keys(tg_ctx *ctx, ids *d, unsigned n, unsigned n_ws, unsigned n_ips,
                       const char *name, const bench_case *floor, const bench_plan *plan,
                       const char *extra)
{
    lim_arg a = {ctx, d, make_keys(ctx, d, n, n_ws, n_ips), n};
    bench_case c = {name, check_key, &a, reset_shared};
    bench_compare(&c, floor, plan, extra, NULL);
    free_keys(a.keys, n);
}

/* ---- memory ---- */

static const char *d_ws(unsigned i)
{
    static char ws[16];
    snprintf(ws, sizeof ws, "ws-%u", i % N_WS);
    return ws;
}

static long rss_pages(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    if (f)
        fclose(f);
    return resident;
}

static void memory_1m(void)
{
    const unsigned n = 1000000;
    tg_ctx *ctx = open_ctx(0);
    size_t before_keys = 0, after_keys = 0;
    tg_limiter_tracked(ctx, &before_keys);
    long page = sysconf(_SC_PAGESIZE);
    long before = rss_pages();
    uint64_t t0 = bench_now_ns();
    char user[32];
    for (unsigned i = 0; i < n; i++) {
        snprintf(user, sizeof user, "member-%u", i);
        check(ctx, d_ws(i), user, NULL);
    }
    uint64_t dt = bench_now_ns() - t0;
    long after = rss_pages();
    tg_limiter_tracked(ctx, &after_keys);
    double grown = (double)(after - before) * (double)page;
    double keys = (double)(after_keys - before_keys);
    printf("{\"bench\":\"limiter_1m_users_memory\",\"users\":%u,\"entries_added\":%.0f,"
           "\"rss_growth_bytes\":%.0f,\"rss_growth_mb\":%.1f,\"bytes_per_key\":%.1f,"
           "\"bytes_per_key_bound\":%zu,\"insert_ops_per_s\":%.0f,\"target_mb_max\":150}\n",
           n, keys, grown, grown / 1e6, grown / keys, tg_limiter_bytes_per_key(),
           (double)n * 1e9 / (double)dt);
    fflush(stdout);
    tg_ctx_close(ctx);
}

/* ---- threads ---- */

typedef struct worker {
    pthread_t th;
    lim_arg arg;
    bench_fn check; /* check_4d or check_key */
    atomic_bool *go, *stop;
    uint64_t ops;
} worker;

static void *work(void *p)
{
    worker *w = p;
    while (!atomic_load(w->go))
        ;
    uint64_t i = 0;
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        for (int k = 0; k < 64; k++)
            w->check(&w->arg, i++);
    }
    w->ops = i;
    return NULL;
}

/* ops/s of `n` threads, thread t calling `fn` with per_thread[t], for
 * `ms`. */
static double run_threads(bench_fn fn, lim_arg *per_thread, int n, unsigned ms)
{
    reset_shared(&per_thread[0]);
    worker w[2];
    atomic_bool go = false, stop = false;
    for (int t = 0; t < n; t++) {
        w[t] = (worker){.arg = per_thread[t], .check = fn, .go = &go, .stop = &stop};
        if (pthread_create(&w[t].th, NULL, work, &w[t]))
            die("pthread_create", TG_EINTERNAL);
    }
    uint64_t t0 = bench_now_ns();
    atomic_store(&go, true);
    usleep(ms * 1000u);
    atomic_store(&stop, true);
    uint64_t total = 0;
    for (int t = 0; t < n; t++) {
        pthread_join(w[t].th, NULL);
        total += w[t].ops;
    }
    return (double)total * 1e9 / (double)(bench_now_ns() - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 thread against 2 on one context, each thread with its own users and
 * addresses (workspaces and the global bucket shared). */
static void threads_compare(const char *name, bench_fn fn, lim_arg *per_thread)
{
    enum { RUNS = 7 };
    double one[RUNS], two[RUNS], ratio[RUNS];
    run_threads(fn, per_thread, 2, 100); /* warm up: every entry exists */
    for (int r = 0; r < RUNS; r++) {
        one[r] = run_threads(fn, per_thread, 1, 300);
        two[r] = run_threads(fn, per_thread, 2, 300);
        ratio[r] = two[r] / one[r];
    }
    qsort(one, RUNS, sizeof one[0], cmp_double);
    qsort(two, RUNS, sizeof two[0], cmp_double);
    qsort(ratio, RUNS, sizeof ratio[0], cmp_double);
    printf("{\"bench\":\"%s\",\"threads\":2,\"ops_per_s\":%.0f,"
           "\"one_thread_ops_per_s\":%.0f,\"ratio_to_1_thread\":%.3f,\"runs\":%d,"
           "\"cpus\":%ld}\n",
           name, two[RUNS / 2], one[RUNS / 2], ratio[RUNS / 2], RUNS,
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
}

static void threads_bench(ids *mine, ids *theirs)
{
    tg_ctx *ctx = open_ctx(0);
    lim_arg per_thread[2] = {{ctx, mine, NULL, 0}, {ctx, theirs, NULL, 0}};
    threads_compare("limiter_check_4d_threads", check_4d, per_thread);
    for (int t = 0; t < 2; t++) {
        per_thread[t].keys = make_keys(ctx, per_thread[t].ids, N_USERS, N_WS, N_IPS);
        per_thread[t].nkeys = N_USERS;
    }
    threads_compare("limiter_check_key_4d_threads", check_key, per_thread);
    for (int t = 0; t < 2; t++)
        free_keys(per_thread[t].keys, N_USERS);
    tg_ctx_close(ctx);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        die("sodium_init", TG_ECRYPTO);
    const char *only = argc > 1 ? argv[1] : NULL;
    ids *d = make_ids(0), *d2 = make_ids(1);

    static floor_arg fa;
    for (int l = 0; l < 4; l++)
        pthread_mutex_init(&fa.locks[l], NULL);
    randombytes_buf(fa.key, sizeof fa.key);
    randombytes_buf(fa.id, sizeof fa.id);
    fa.ids = d;

    if (!only || !strcmp(only, "global") || !strcmp(only, "ip") || !strcmp(only, "4d")) {
        lim_arg la = {open_ctx(0), d, NULL, 0};
        for (uint64_t i = 0; i < N_USERS; i++) /* every entry exists before timing */
            check_4d(&la, i);
        bench_plan fast = {.batch = 1000, .samples = 200, .runs = 7};
        if (!only || !strcmp(only, "global")) {
            bench_case c = {"limiter_check_global", check_global, &la, reset_shared};
            bench_case b = {"mutex_pair_siphash_16b", floor_global, &fa, NULL};
            bench_compare(&c, &b, &fast, "\"dimensions\":1,\"target_ops_per_s_min\":5000000",
                          NULL);
        }
        if (!only || !strcmp(only, "ip")) {
            bench_case c = {"limiter_check_ip", check_ip, &la, reset_shared};
            bench_case b = {"mutex_2pairs_siphash_ip", floor_ip, &fa, NULL};
            bench_compare(&c, &b, &fast, "\"dimensions\":2,\"target_ops_per_s_min\":5000000",
                          NULL);
        }
        if (!only || !strcmp(only, "4d")) {
            bench_plan one = {.batch = 1, .samples = 200000, .runs = 7};
            /* What timing one operation per sample adds by itself. */
            bench_case e = {"bench_sample_overhead", nothing, NULL, NULL};
            bench_compare(&e, NULL, &one, "\"batch\":1", NULL);
            bench_case b = {"mutex_4pairs_3siphash", floor_4d, &fa, NULL};
            bench_case hot = {"limiter_check_4d_hot", check_4d_hot, &la, reset_shared};
            bench_compare(&hot, &b, &one, TARGET_4D HOT_SET, NULL);
            bench_case c = {"limiter_check_4d", check_4d, &la, reset_shared};
            bench_compare(&c, &b, &one, TARGET_4D ALL_SET, NULL);
            /* The same checks through prepared keys. */
            bench_case bk = {"mutex_4pairs", floor_4d_key, &fa, NULL};
            bench_keys(la.ctx, d, 4096, 256, 4096, "limiter_check_key_4d_hot", &bk, &one,
                       TARGET_4D HOT_SET);
            bench_keys(la.ctx, d, N_USERS, N_WS, N_IPS, "limiter_check_key_4d", &bk, &one,
                       TARGET_4D ALL_SET);
        }
        tg_ctx_close(la.ctx);
    }
    if (!only || !strcmp(only, "memory"))
        memory_1m();
    if (!only || !strcmp(only, "threads"))
        threads_bench(d, d2);
    free(d);
    free(d2);
    for (int i = 0; i < nstores; i++)
        tg_store_close(stores[i]);
    return 0;
}
