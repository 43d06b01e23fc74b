/*
 * test_limiter_threads.c - the limiter is exact under concurrency: with the
 * injected clock frozen (no refill), THREADS threads hammer one shared
 * context and exactly as many checks pass as the binding dimension has
 * tokens - for a user, an IP, a workspace and the global bucket in turn,
 * then for mixed traffic where some checks share a workspace and others do
 * not, with and without a shared IP that binds across all of them; then
 * through one prepared key (workspace + user + IP) that every thread
 * shares, alone and mixed with string checks of the same ids (and, without
 * exactness, while a flood evicts the key's entries under it). Denied
 * checks must take nothing anywhere (all-or-nothing), which the tokens left
 * afterwards show. Built for ThreadSanitizer too:
 *   make CC=clang SANITIZE=thread lib/.build-thread/tests/test_limiter_threads
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "limiter_test.h"

#define THREADS 4

enum {
    SC_USER, SC_IP, SC_WORKSPACE, SC_GLOBAL, SC_MIXED, SC_MIXED_IP, SC_MIXED_GLOBAL,
    SC_KEY,      /* one prepared key, every thread */
    SC_KEY_MIXED /* the same ids: the key in even threads, strings in odd ones */
};

static const char *const SHARED_IP = "192.0.2.77";
static const char *const KEY_IP = "2001:db8::77";

typedef struct run {
    tg_ctx *ctx;
    tg_limiter_key *key; /* SC_KEY, SC_KEY_MIXED */
    int scenario;
    uint32_t attempts; /* per thread */
    pthread_barrier_t start;
    atomic_uint passes;
    atomic_uint wrong_dimension; /* denials by a dimension that should not bind */
    atomic_uint errors;
    atomic_int first_error;
    /* Written by thread t only, read after the join. */
    uint32_t shared_ws_passes[THREADS], own_passes[THREADS];
} run;

typedef struct slot {
    run *r;
    int tid;
} slot;

static void *worker(void *arg)
{
    slot *s = arg;
    run *r = s->r;
    int tid = s->tid;
    char ws[64], user[64], ip[64];
    pthread_barrier_wait(&r->start);
    for (uint32_t i = 0; i < r->attempts; i++) {
        const char *w = NULL, *u = NULL, *a = NULL;
        int shared_ws = 0, ok_dim = -2, ok_dim2 = -2;
        switch (r->scenario) {
        case SC_USER: /* one user, every thread */
        case SC_KEY:
        case SC_KEY_MIXED:
            w = "hot-ws";
            u = "hot";
            if (r->scenario != SC_USER)
                a = KEY_IP;
            ok_dim = TG_LIMIT_USER;
            break;
        case SC_IP: /* one IP; alone or with a workspace and user never seen again */
            a = "198.51.100.1";
            if (i % 2) {
                snprintf(ws, sizeof ws, "ipws-%d-%u", tid, i);
                snprintf(user, sizeof user, "ipu-%d-%u", tid, i);
                w = ws;
                u = user;
            }
            ok_dim = TG_LIMIT_IP;
            break;
        case SC_WORKSPACE: /* one workspace, a new user each time */
            w = "hot-ws";
            snprintf(user, sizeof user, "wsu-%d-%u", tid, i);
            u = user;
            ok_dim = TG_LIMIT_WORKSPACE;
            break;
        case SC_GLOBAL: /* nothing shared but the instance */
            if (i % 3 == 1) {
                snprintf(ws, sizeof ws, "gws-%d-%u", tid, i);
                snprintf(user, sizeof user, "gu-%d-%u", tid, i);
                w = ws;
                u = user;
            } else if (i % 3 == 2) {
                snprintf(ip, sizeof ip, "10.%d.%u.%u", tid, i / 250 % 250, i % 250);
                a = ip;
            }
            ok_dim = TG_LIMIT_GLOBAL;
            break;
        case SC_MIXED:
        case SC_MIXED_IP:
        case SC_MIXED_GLOBAL:
            if (i % 2 == 0) { /* the shared workspace, a new user each time */
                w = "mix-shared";
                snprintf(user, sizeof user, "mu-%d-%u", tid, i);
                u = user;
                shared_ws = 1;
                ok_dim = TG_LIMIT_WORKSPACE;
            } else { /* this thread's own workspace, one user */
                snprintf(ws, sizeof ws, "mix-own-%d", tid);
                w = ws;
                u = "regular";
                ok_dim = TG_LIMIT_USER;
            }
            if (r->scenario == SC_MIXED_IP) {
                a = SHARED_IP;
                ok_dim2 = TG_LIMIT_IP;
            }
            if (r->scenario == SC_MIXED_GLOBAL)
                ok_dim2 = TG_LIMIT_GLOBAL;
            break;
        }
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        bool by_key = r->scenario == SC_KEY || (r->scenario == SC_KEY_MIXED && tid % 2 == 0);
        int rc = by_key ? tg_limiter_check_key(r->ctx, &v, r->key, 1)
                        : tg_limiter_check(r->ctx, &v, w, u, a, 1);
        if (rc != TG_OK) {
            atomic_fetch_add(&r->errors, 1);
            atomic_store(&r->first_error, rc);
            continue;
        }
        if (v.allowed) {
            atomic_fetch_add(&r->passes, 1);
            if (shared_ws)
                r->shared_ws_passes[tid]++;
            else
                r->own_passes[tid]++;
        } else if (v.dimension != ok_dim && v.dimension != ok_dim2) {
            atomic_fetch_add(&r->wrong_dimension, 1);
        }
    }
    return NULL;
}

static void hammer(run *r)
{
    pthread_t th[THREADS];
    slot slots[THREADS];
    atomic_init(&r->passes, 0);
    atomic_init(&r->wrong_dimension, 0);
    atomic_init(&r->errors, 0);
    atomic_init(&r->first_error, 0);
    memset(r->shared_ws_passes, 0, sizeof r->shared_ws_passes);
    memset(r->own_passes, 0, sizeof r->own_passes);
    assert_int_equal(pthread_barrier_init(&r->start, NULL, THREADS), 0);
    for (int t = 0; t < THREADS; t++) {
        slots[t].r = r;
        slots[t].tid = t;
        assert_int_equal(pthread_create(&th[t], NULL, worker, &slots[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&r->start);
    if (atomic_load(&r->errors))
        fail_msg("%u checks failed (e.g. %s)", atomic_load(&r->errors),
                 tg_strerror(atomic_load(&r->first_error)));
    if (atomic_load(&r->wrong_dimension))
        fail_msg("%u checks denied by a dimension that should not bind",
                 atomic_load(&r->wrong_dimension));
}

/* A thread beside the workers: step(ctx, i), i = 0, 1, ..., until stopped,
 * counting the steps that did not work (a step is one or more calls). */
typedef struct side {
    tg_ctx *ctx;
    bool (*step)(tg_ctx *ctx, unsigned i);
    atomic_int stop;
    atomic_uint errors;
    pthread_t thread;
} side;

static void *side_main(void *arg)
{
    side *s = arg;
    for (unsigned i = 0; !atomic_load(&s->stop); i++)
        if (!s->step(s->ctx, i))
            atomic_fetch_add(&s->errors, 1);
    return NULL;
}

static void side_start(side *s, tg_ctx *ctx, bool (*step)(tg_ctx *ctx, unsigned i))
{
    s->ctx = ctx;
    s->step = step;
    atomic_init(&s->stop, 0);
    atomic_init(&s->errors, 0);
    assert_int_equal(pthread_create(&s->thread, NULL, side_main, s), 0);
}

/* Stops and joins the thread; every one of its steps must have worked. */
static void side_stop(side *s)
{
    atomic_store(&s->stop, 1);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    assert_int_equal(atomic_load(&s->errors), 0);
}

/* ---- fixture ------------------------------------------------------------------ */

/* base_opts, with penalties further off still: they are not what this file
 * tests. (The clock stays frozen, so nothing is ever idle.) */
static void exact_opts(tg_limiter_options *o)
{
    base_opts(o);
    o->violations_to_penalize = 100000;
}

static tg_limit tier_user[TG_TIER_COUNT], tier_ws[TG_TIER_COUNT];

static void load_tiers(void)
{
    for (int t = 0; t < TG_TIER_COUNT; t++) {
        assert_int_equal(tg_limiter_tier_default(&tier_user[t], t, TG_LIMIT_USER), TG_OK);
        assert_int_equal(tg_limiter_tier_default(&tier_ws[t], t, TG_LIMIT_WORKSPACE), TG_OK);
    }
}

/* The tier with the largest workspace/user burst ratio (it must be above
 * 2 for the user to be the dimension that binds in its own workspace). */
static int ratio_tier(void)
{
    load_tiers();
    int best = 0;
    for (int t = 1; t < TG_TIER_COUNT; t++)
        if ((double)tier_ws[t].burst / tier_user[t].burst >
            (double)tier_ws[best].burst / tier_user[best].burst)
            best = t;
    if (!(tier_ws[best].burst > 2 * tier_user[best].burst))
        fail_msg("tier table: no workspace burst above twice the user burst");
    return best;
}

/* The tier with the smallest workspace burst (cheapest to drain). */
static int small_tier(void)
{
    load_tiers();
    int best = 0;
    for (int t = 1; t < TG_TIER_COUNT; t++)
        if (tier_ws[t].burst < tier_ws[best].burst)
            best = t;
    return best;
}

/* ---- one binding dimension at a time ------------------------------------------ */

/* Puts "hot-ws" in tier T with an override that makes its users' burst
 * about half the workspace's (at most 2000), so that many checks race for
 * it; returns the users' rate it set. */
static uint32_t hot_user_limit(tg_ctx *ctx, int T)
{
    uint32_t target = tier_ws[T].burst / 2 < 2000 ? tier_ws[T].burst / 2 : 2000;
    uint64_t m = (uint64_t)target * tier_user[T].per_minute / tier_user[T].burst;
    if (m < 1)
        m = 1;
    assert_int_equal(tg_limiter_set_tier(ctx, "hot-ws", T), TG_OK);
    assert_int_equal(tg_limiter_set_user_limit(ctx, "hot-ws", (uint32_t)m), TG_OK);
    return (uint32_t)m;
}

/* N, the user's burst, from the verdict of a first peek of "hot" in
 * "hot-ws" (the user has the fewest tokens), at the rate hot_user_limit set. */
static uint32_t hot_user_burst(tg_limit_verdict v, uint32_t per_minute, int T)
{
    assert_int_equal(v.allowed, 1);
    uint32_t n = v.limit.burst;
    assert_int_equal(v.limit.per_minute, per_minute);
    assert_int_equal(v.tokens_left, n - 1);
    assert_true(n >= 1 && n < tier_ws[T].burst);
    return n;
}

/* After n passes of "hot": the user has no token left; the workspace and
 * the global bucket paid for the passes only. */
static void expect_hot_user_drained(tg_ctx *ctx, int T, uint32_t n)
{
    tg_limit_verdict v = pk(ctx, "hot-ws", "hot", NULL, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_USER);
    assert_int_equal(v.tokens_left, 0);
    v = pk(ctx, "hot-ws", NULL, NULL, 1);
    assert_int_equal(v.tokens_left, tier_ws[T].burst - n - 1);
    v = pk(ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - n - 1);
}

static void test_user_is_exact(void **state)
{
    (void)state;
    int T = ratio_tier();
    tg_limiter_options o;
    exact_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    uint32_t m = hot_user_limit(f.ctx, T);
    uint32_t n = hot_user_burst(pk(f.ctx, "hot-ws", "hot", NULL, 1), m, T);

    run r = {.ctx = f.ctx, .scenario = SC_USER, .attempts = n};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), n);
    expect_hot_user_drained(f.ctx, T, n);
    tgt_fixture_close(&f);
}

static void test_ip_is_exact(void **state)
{
    (void)state;
    tg_limiter_options o;
    exact_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 500;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    run r = {.ctx = f.ctx, .scenario = SC_IP, .attempts = 400};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), 500);
    tg_limit_verdict v = pk(f.ctx, NULL, NULL, "198.51.100.1", 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    assert_int_equal(v.tokens_left, 0);
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - 500 - 1);
    tgt_fixture_close(&f);
}

static void test_workspace_is_exact(void **state)
{
    (void)state;
    int T = small_tier();
    uint32_t wb = tier_ws[T].burst;
    tg_limiter_options o;
    exact_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "hot-ws", T), TG_OK);
    run r = {.ctx = f.ctx, .scenario = SC_WORKSPACE, .attempts = wb / 2 + 16};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), wb);
    tg_limit_verdict v = pk(f.ctx, "hot-ws", "someone-new", NULL, 1);
    assert_int_equal(v.dimension, TG_LIMIT_WORKSPACE);
    assert_int_equal(v.tokens_left, 0);
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - wb - 1);
    tgt_fixture_close(&f);
}

static void test_global_is_exact(void **state)
{
    (void)state;
    tg_limiter_options o;
    exact_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = 1000;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    run r = {.ctx = f.ctx, .scenario = SC_GLOBAL, .attempts = 600};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), 1000);
    tg_limit_verdict v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
    assert_int_equal(v.tokens_left, 0);
    tgt_fixture_close(&f);
}

/* ---- mixed traffic ---------------------------------------------------------- */

typedef struct mixed {
    int shared_tier, own_tier;
    uint32_t shared_burst, user_burst;
} mixed;

static void mixed_setup(tgt_fixture *f, mixed *m, tg_limiter_options *o, uint32_t *attempts)
{
    m->own_tier = ratio_tier();
    m->shared_tier = small_tier();
    m->shared_burst = tier_ws[m->shared_tier].burst;
    m->user_burst = tier_user[m->own_tier].burst;
    tgt_fixture_open(f, T0, o);
    assert_int_equal(tg_limiter_set_tier(f->ctx, "mix-shared", m->shared_tier), TG_OK);
    char ws[32];
    for (int t = 0; t < THREADS; t++) {
        snprintf(ws, sizeof ws, "mix-own-%d", t);
        assert_int_equal(tg_limiter_set_tier(f->ctx, ws, m->own_tier), TG_OK);
    }
    /* Half the attempts go to each kind; enough to drain both. */
    uint32_t half = m->shared_burst / 2 + 8;
    if (half < 2 * m->user_burst)
        half = 2 * m->user_burst;
    *attempts = 2 * half;
}

/* After mixed traffic that another dimension (an IP, the global bucket)
 * cut short: each thread's user, and the shared workspace, have left
 * exactly what did not pass. */
static void expect_users_and_shared_left(tg_ctx *ctx, const mixed *m, const run *r)
{
    uint32_t shared = 0;
    char ws[32];
    for (int t = 0; t < THREADS; t++) {
        shared += r->shared_ws_passes[t];
        assert_true(r->own_passes[t] <= m->user_burst);
        snprintf(ws, sizeof ws, "mix-own-%d", t);
        if (r->own_passes[t] < m->user_burst) {
            tg_limit_verdict v = pk(ctx, ws, "regular", NULL, 1);
            assert_int_equal(v.allowed, 1);
            assert_int_equal(v.tokens_left, m->user_burst - r->own_passes[t] - 1);
        }
    }
    assert_true(shared <= m->shared_burst);
    if (shared < m->shared_burst) {
        tg_limit_verdict v = pk(ctx, "mix-shared", NULL, NULL, 1);
        assert_int_equal(v.allowed, 1);
        assert_int_equal(v.tokens_left, m->shared_burst - shared - 1);
    }
}

static void test_mixed_workspaces_are_exact(void **state)
{
    (void)state;
    tg_limiter_options o;
    exact_opts(&o);
    tgt_fixture f;
    mixed m;
    uint32_t attempts;
    mixed_setup(&f, &m, &o, &attempts);

    run r = {.ctx = f.ctx, .scenario = SC_MIXED, .attempts = attempts};
    hammer(&r);
    uint32_t shared = 0;
    for (int t = 0; t < THREADS; t++) {
        shared += r.shared_ws_passes[t];
        if (r.own_passes[t] != m.user_burst)
            fail_msg("thread %d: its own user passed %u times, burst %u", t, r.own_passes[t],
                     m.user_burst);
    }
    assert_int_equal(shared, m.shared_burst);
    assert_int_equal(atomic_load(&r.passes), m.shared_burst + THREADS * m.user_burst);

    char ws[32];
    for (int t = 0; t < THREADS; t++) {
        snprintf(ws, sizeof ws, "mix-own-%d", t);
        tg_limit_verdict v = pk(f.ctx, ws, NULL, NULL, 1);
        assert_int_equal(v.tokens_left, tier_ws[m.own_tier].burst - m.user_burst - 1);
    }
    tg_limit_verdict v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - atomic_load(&r.passes) - 1);
    tgt_fixture_close(&f);
}

/* The same traffic behind one IP whose burst is half of what the
 * workspaces and users would allow: the IP binds across all of them, and a
 * check the IP denies takes nothing from the workspace or user. */
static void test_mixed_behind_one_ip_is_exact(void **state)
{
    (void)state;
    load_tiers();
    int own = ratio_tier(), sh = small_tier();
    uint32_t bi = (tier_ws[sh].burst + THREADS * tier_user[own].burst) / 2;
    if (bi < 1)
        bi = 1;
    tg_limiter_options o;
    exact_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = bi;
    tgt_fixture f;
    mixed m;
    uint32_t attempts;
    mixed_setup(&f, &m, &o, &attempts);

    run r = {.ctx = f.ctx, .scenario = SC_MIXED_IP, .attempts = attempts};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), bi);

    char ws[32];
    for (int t = 0; t < THREADS; t++) { /* what each own workspace has left is what passed */
        snprintf(ws, sizeof ws, "mix-own-%d", t);
        tg_limit_verdict v = pk(f.ctx, ws, NULL, NULL, 1);
        assert_int_equal(v.tokens_left, tier_ws[m.own_tier].burst - r.own_passes[t] - 1);
    }
    expect_users_and_shared_left(f.ctx, &m, &r);
    tg_limit_verdict v = pk(f.ctx, NULL, NULL, SHARED_IP, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    assert_int_equal(v.tokens_left, 0);
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - bi - 1);
    tgt_fixture_close(&f);
}

/* The same traffic with a global burst of half what the workspaces and
 * users would allow: the global bucket binds last, after every other
 * dimension has passed, and a check it denies takes nothing elsewhere. */
static void test_mixed_under_a_small_global_is_exact(void **state)
{
    (void)state;
    load_tiers();
    int own = ratio_tier(), sh = small_tier();
    uint32_t g = (tier_ws[sh].burst + THREADS * tier_user[own].burst) / 2;
    if (g < 1)
        g = 1;
    tg_limiter_options o;
    exact_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = g;
    tgt_fixture f;
    mixed m;
    uint32_t attempts;
    mixed_setup(&f, &m, &o, &attempts);

    run r = {.ctx = f.ctx, .scenario = SC_MIXED_GLOBAL, .attempts = attempts};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), g);

    /* Refill the global bucket, then read what the others have left (each
     * of them has fewer tokens than the global bucket's burst). */
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, NULL, NULL), TG_OK);
    assert_true(m.user_burst < g && m.shared_burst < g);
    expect_users_and_shared_left(f.ctx, &m, &r);
    tgt_fixture_close(&f);
}

/* Readers and admin calls race with checks: peek, trust, reset of other
 * entries, tier changes of another workspace, tracked. Only exactness of the
 * checked user is asserted; the rest is for ThreadSanitizer. */
static bool churn_step(tg_ctx *ctx, unsigned i)
{
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    size_t n;
    double t;
    char user[32];
    snprintf(user, sizeof user, "side-%u", i % 64);
    return tg_limiter_peek(ctx, &v, "hot-ws", "hot", NULL, 1) == TG_OK &&
           tg_limiter_check(ctx, &v, "side-ws", user, "10.0.0.1", 1) == TG_OK &&
           tg_limiter_adjust_trust(ctx, &t, "side-ws", user, (i & 1) ? 0.1 : -0.1) == TG_OK &&
           tg_limiter_reset(ctx, TG_LIMIT_USER, "side-ws", user) == TG_OK &&
           tg_limiter_reset(ctx, TG_LIMIT_IP, NULL, "10.0.0.1") == TG_OK &&
           tg_limiter_set_tier(ctx, "side-ws", (int)(i % TG_TIER_COUNT)) == TG_OK &&
           tg_limiter_tracked(ctx, &n) == TG_OK &&
           tg_limiter_get_trust(ctx, &t, "hot-ws", "hot") == TG_OK;
}

static void test_exact_while_admin_calls_race(void **state)
{
    (void)state;
    int T = ratio_tier();
    tg_limiter_options o;
    exact_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "hot-ws", T), TG_OK);
    uint32_t n = tier_user[T].burst;
    side churn;
    side_start(&churn, f.ctx, churn_step);
    run r = {.ctx = f.ctx, .scenario = SC_USER, .attempts = 4 * n + 100};
    hammer(&r);
    side_stop(&churn);
    assert_int_equal(atomic_load(&r.passes), n);
    tgt_fixture_close(&f);
}

/* ---- one prepared key shared by every thread --------------------------------- */

static void shared_key_is_exact(int scenario)
{
    int T = ratio_tier();
    tg_limiter_options o;
    exact_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 100000; /* the IP never binds */
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    uint32_t m = hot_user_limit(f.ctx, T); /* as in test_user_is_exact */
    tg_limiter_key *key = key_new(f.ctx, "hot-ws", "hot", KEY_IP);
    uint32_t n = hot_user_burst(kpk(f.ctx, key, 1), m, T);

    run r = {.ctx = f.ctx, .key = key, .scenario = scenario, .attempts = n};
    hammer(&r);
    assert_int_equal(atomic_load(&r.passes), n);

    tg_limit_verdict v = kpk(f.ctx, key, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_USER);
    assert_int_equal(v.tokens_left, 0);
    expect_hot_user_drained(f.ctx, T, n); /* the strings see the same buckets */
    v = pk(f.ctx, NULL, NULL, KEY_IP, 1); /* the IP paid for passes only too */
    assert_int_equal(v.tokens_left, o.ip.burst - n - 1);
    assert_int_equal(tracked(f.ctx), 3); /* one entry per dimension, however many threads */
    tg_limiter_key_free(key);
    tgt_fixture_close(&f);
}

static void test_shared_key_is_exact(void **state)
{
    (void)state;
    shared_key_is_exact(SC_KEY);
}

static void test_shared_key_mixed_with_strings_is_exact(void **state)
{
    (void)state;
    shared_key_is_exact(SC_KEY_MIXED);
}

/* The key's entries evicted and their slots reused while the threads check
 * through it: a table of 8 entries and a thread flooding it with new IPs.
 * Exactness is lost (an evicted user comes back with a full bucket); what
 * must hold is that every check works, is denied only by the user, and that
 * afterwards the key and the strings agree. Mostly for the sanitizers. */
static bool flood_step(tg_ctx *ctx, unsigned i)
{
    char ip[32];
    snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    return tg_limiter_check(ctx, &v, NULL, NULL, ip, 1) == TG_OK;
}

static void test_shared_key_while_its_entries_are_evicted(void **state)
{
    (void)state;
    tg_limiter_options o;
    exact_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 100000;
    o.max_keys = 8;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    tg_limiter_key *key = key_new(f.ctx, "hot-ws", "hot", KEY_IP);
    side flood;
    side_start(&flood, f.ctx, flood_step);
    for (int round = 0; round < 20; round++) {
        run r = {.ctx = f.ctx, .key = key, .scenario = SC_KEY_MIXED, .attempts = 50};
        hammer(&r); /* no error, no denial but by the user */
    }
    side_stop(&flood);
    assert_true(tracked(f.ctx) <= 8);
    /* Quiet now: the key and the strings give the same verdict. */
    tg_limit_verdict a = pk(f.ctx, "hot-ws", "hot", KEY_IP, 1), b = kpk(f.ctx, key, 1);
    expect_same(&a, &b, "a peek after the flood");
    tg_limiter_key_free(key);
    tgt_fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_is_exact),
        cmocka_unit_test(test_ip_is_exact),
        cmocka_unit_test(test_workspace_is_exact),
        cmocka_unit_test(test_global_is_exact),
        cmocka_unit_test(test_mixed_workspaces_are_exact),
        cmocka_unit_test(test_mixed_behind_one_ip_is_exact),
        cmocka_unit_test(test_mixed_under_a_small_global_is_exact),
        cmocka_unit_test(test_exact_while_admin_calls_race),
        cmocka_unit_test(test_shared_key_is_exact),
        cmocka_unit_test(test_shared_key_mixed_with_strings_is_exact),
        cmocka_unit_test(test_shared_key_while_its_entries_are_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
