/*
 * test_limiter.c - the rate limiter's public contract (tenantguard/limiter.h),
 * one thread, every clock injected: tier defaults, burst and refill, cost,
 * all-or-nothing checks, verdicts, peek, reset, per-workspace overrides,
 * trust, penalties and their decay, IP parsing, bad input on every public
 * function, and bounded memory.
 *
 * Written from the header alone. The tier table is read at run time with
 * tg_limiter_tier_default(); the tests only assume what they check up front
 * (see pick_tier): a tier whose workspace burst is well above its per-user
 * burst, so that the user dimension can be the one that binds.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "limiter_test.h"

/* ---- helpers ---------------------------------------------------------------- */

static tg_limit tier_user[TG_TIER_COUNT], tier_ws[TG_TIER_COUNT];
static int T; /* the tier the tests use: largest workspace/user burst ratio */

static int load_tiers(void **state)
{
    (void)state;
    double best = 0;
    for (int t = 0; t < TG_TIER_COUNT; t++) {
        if (tg_limiter_tier_default(&tier_user[t], t, TG_LIMIT_USER) != TG_OK ||
            tg_limiter_tier_default(&tier_ws[t], t, TG_LIMIT_WORKSPACE) != TG_OK)
            return -1;
        if (tier_user[t].burst == 0 || tier_user[t].per_minute == 0)
            return -1;
        double ratio = (double)tier_ws[t].burst / tier_user[t].burst;
        if (ratio > best) {
            best = ratio;
            T = t;
        }
    }
    return 0;
}

/* The assumption the user-dimension tests rest on (not part of the contract,
 * but a tier table without it would make a per-user limit meaningless). */
static void pick_tier(void)
{
    if (!(tier_ws[T].burst > 2 * tier_user[T].burst) || tier_user[T].burst < 2)
        fail_msg("tier table: no tier has a workspace burst above twice its user burst "
                 "(best: tier %d, user burst %u, workspace burst %u)",
                 T, tier_user[T].burst, tier_ws[T].burst);
}

/* Empties a workspace through distinct users, each taking at most `cost`
 * (not more than a user's burst); returns the tokens it took in all. */
static uint32_t drain_ws(tg_ctx *ctx, const char *ws, uint32_t cost, tg_limit_verdict *out)
{
    static unsigned next; /* users never seen before, across calls */
    uint32_t total = 0;
    char user[64];
    for (;;) {
        snprintf(user, sizeof user, "drain-%u", next++);
        tg_limit_verdict v = chk(ctx, ws, user, NULL, cost);
        if (v.allowed) {
            total += cost;
            continue;
        }
        if (v.dimension != TG_LIMIT_WORKSPACE)
            fail_msg("drain_ws(%s): denied by dimension %d", ws, v.dimension);
        if (v.tokens_left == 0) {
            if (out)
                *out = v;
            return total;
        }
        cost = v.tokens_left < cost ? v.tokens_left : cost;
    }
}

/* Empties a user's bucket, refilling the workspace whenever it runs out
 * first; returns how many passed and the user's denial in *out. */
static uint32_t drain_user(tg_ctx *ctx, const char *ws, const char *user, tg_limit_verdict *out)
{
    uint32_t n = 0;
    for (;;) {
        tg_limit_verdict v = chk(ctx, ws, user, NULL, 1);
        if (v.allowed) {
            n++;
            continue;
        }
        if (v.dimension == TG_LIMIT_WORKSPACE) {
            assert_int_equal(tg_limiter_reset(ctx, TG_LIMIT_WORKSPACE, ws, NULL), TG_OK);
            continue;
        }
        if (v.dimension != TG_LIMIT_USER)
            fail_msg("drain_user(%s, %s): denied by dimension %d", ws, user, v.dimension);
        if (out)
            *out = v;
        return n;
    }
}

static void assert_limit(tg_limit got, tg_limit want)
{
    if (got.per_minute != want.per_minute || got.burst != want.burst)
        fail_msg("limit %u/min burst %u, expected %u/min burst %u", got.per_minute, got.burst,
                 want.per_minute, want.burst);
}

/* `got` must be base * num / den, rounded either way, at least 1. */
static void assert_scaled(uint32_t got, uint32_t base, double factor, const char *what)
{
    double exact = base * factor;
    double lo = floor(exact), hi = ceil(exact);
    if (lo < 1)
        lo = 1;
    if (hi < 1)
        hi = 1;
    if (got < lo || got > hi)
        fail_msg("%s: %u, expected %u x %.4f = %.3f (rounded either way, at least 1)", what,
                 got, base, factor, exact);
}

/* ---- constants, init functions, tier table ---------------------------------- */

static void test_init_functions_and_constants(void **state)
{
    (void)state;
    tg_limiter_options_init(NULL);
    tg_limit_verdict_init(NULL);

    tg_limiter_options o;
    memset(&o, 0xAB, sizeof o);
    tg_limiter_options_init(&o);
    assert_int_equal(o.version, TG_LIMITER_OPTIONS_VERSION);
    assert_int_equal(o.struct_size, sizeof o);
    assert_int_equal(o.ip.per_minute, 0);
    assert_int_equal(o.ip.burst, 0);
    assert_int_equal(o.global.per_minute, 0);
    assert_int_equal(o.global.burst, 0);
    assert_int_equal(o.max_keys, 0);
    assert_int_equal(o.idle_evict_ms, 0);
    assert_int_equal(o.violations_to_penalize, 0);
    assert_int_equal(o.violation_window_ms, 0);
    assert_int_equal(o.penalty_base_ms, 0);
    assert_int_equal(o.penalty_factor, 0);
    assert_int_equal(o.penalty_max_ms, 0);
    assert_int_equal(o.penalty_decay_ms, 0);
    assert_null(o.backend);
    assert_int_equal(o.backend_dimensions, 0);
    assert_int_equal(o.lease_tokens, 0);
    assert_int_equal(o.lease_ms, 0);

    tg_limit_verdict v;
    memset(&v, 0xAB, sizeof v);
    tg_limit_verdict_init(&v);
    assert_int_equal(v.version, TG_LIMIT_VERDICT_VERSION);
    assert_int_equal(v.struct_size, sizeof v);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.penalized, 0);
    assert_int_equal(v.penalty_level, 0);
    assert_int_equal(v.limit.per_minute, 0);
    assert_int_equal(v.limit.burst, 0);
    assert_int_equal(v.tokens_left, 0);
    assert_int_equal(v.retry_after_ms, 0);

    assert_int_equal(tg_limit_rate_max(), TG_LIMIT_RATE_MAX);
    assert_int_equal(tg_limit_burst_max(), TG_LIMIT_BURST_MAX);
    size_t per_key = tg_limiter_bytes_per_key();
    assert_true(per_key > 0);
    assert_true(per_key < 65536); /* an upper bound, not a promise of a size */
}

static void test_tier_defaults(void **state)
{
    (void)state;
    const int dims[2] = {TG_LIMIT_USER, TG_LIMIT_WORKSPACE};
    for (int d = 0; d < 2; d++) {
        tg_limit prev = {0, 0};
        for (int t = TG_TIER_FREE; t <= TG_TIER_ENTERPRISE; t++) {
            tg_limit l;
            memset(&l, 0xAB, sizeof l);
            assert_int_equal(tg_limiter_tier_default(&l, t, dims[d]), TG_OK);
            assert_true(l.per_minute >= 1 && l.per_minute <= TG_LIMIT_RATE_MAX);
            assert_true(l.burst >= 1 && l.burst <= TG_LIMIT_BURST_MAX);
            if (l.per_minute < prev.per_minute || l.burst < prev.burst)
                fail_msg("dimension %d: tier %d (%u/min, %u) below tier %d (%u/min, %u)",
                         dims[d], t, l.per_minute, l.burst, t - 1, prev.per_minute, prev.burst);
            prev = l;
        }
        tg_limit free_l, ent;
        assert_int_equal(tg_limiter_tier_default(&free_l, TG_TIER_FREE, dims[d]), TG_OK);
        assert_int_equal(tg_limiter_tier_default(&ent, TG_TIER_ENTERPRISE, dims[d]), TG_OK);
        assert_true(ent.per_minute > free_l.per_minute); /* the tiers differ at all */
    }
    /* The same answer every time. */
    tg_limit a, b;
    assert_int_equal(tg_limiter_tier_default(&a, TG_TIER_STANDARD, TG_LIMIT_USER), TG_OK);
    assert_int_equal(tg_limiter_tier_default(&b, TG_TIER_STANDARD, TG_LIMIT_USER), TG_OK);
    assert_limit(a, b);

    tg_limit l;
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(NULL, TG_TIER_FREE, TG_LIMIT_USER));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, -1, TG_LIMIT_USER));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, TG_TIER_COUNT, TG_LIMIT_USER));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, 1000, TG_LIMIT_WORKSPACE));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, TG_TIER_FREE, TG_LIMIT_IP));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, TG_TIER_FREE, TG_LIMIT_GLOBAL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, TG_TIER_FREE, TG_LIMIT_NONE));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tier_default(&l, TG_TIER_FREE, TG_LIMIT_DIMENSIONS));
}

/* ---- burst, refill, retry-after, verdict fields ------------------------------- */

static void test_user_burst_then_refill(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);

    tg_limit_verdict v;
    uint32_t passed = drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, &v);
    assert_int_equal(passed, tier_user[T].burst);
    assert_limit(v.limit, tier_user[T]);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.penalized, 0);
    assert_int_equal(v.tokens_left, 0);
    int64_t one = ms_for(1, v.limit.per_minute);
    if (v.retry_after_ms != one)
        fail_msg("retry_after %lld ms, one token at %u/min takes %lld ms",
                 (long long)v.retry_after_ms, v.limit.per_minute, (long long)one);

    /* Still denied a millisecond early, allowed on time. */
    f.clock.now_ms += one - 1;
    tg_limit_verdict early = pk(f.ctx, "acme", "alice", NULL, 1);
    assert_int_equal(early.allowed, 0);
    assert_int_equal(early.dimension, TG_LIMIT_USER);
    assert_int_equal(early.retry_after_ms, 1);
    f.clock.now_ms += 1;
    assert_int_equal(chk(f.ctx, "acme", "alice", NULL, 1).allowed, 1);
    if (v.limit.per_minute <= 60000) /* less than a token a ms: nothing left over */
        assert_int_equal(chk(f.ctx, "acme", "alice", NULL, 1).allowed, 0);

    /* A long quiet time refills up to the burst, not beyond. */
    f.clock.now_ms += 1000LL * 60000;
    assert_int_equal(drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, NULL),
                     tier_user[T].burst);
    /* Another user in the same workspace has a bucket of their own. */
    assert_int_equal(chk(f.ctx, "acme", "bob", NULL, 1).allowed, 1);
    tgt_fixture_close(&f);
}

/* The IP dimension, whose limit the options set exactly: verdict fields on
 * allow and deny, tokens left, retry-after with a rate that does not divide
 * a minute, and cost. */
static void test_ip_bucket_verdicts_and_cost(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 7;
    o.ip.burst = 10;
    const tg_limit ip_limit = {7, 10};
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    const char *ip = "192.0.2.1";

    tg_limit_verdict v = chk(f.ctx, NULL, NULL, ip, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.dimension, TG_LIMIT_NONE);
    assert_int_equal(v.penalized, 0);
    assert_int_equal(v.penalty_level, 0);
    assert_int_equal(v.retry_after_ms, 0);
    assert_limit(v.limit, ip_limit); /* the dimension with fewest tokens left */
    assert_int_equal(v.tokens_left, 9);

    v = chk(f.ctx, NULL, NULL, ip, 4); /* cost 4 takes 4 */
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 5);
    v = chk(f.ctx, NULL, NULL, ip, 4);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 1);

    v = chk(f.ctx, NULL, NULL, ip, 4); /* 1 left, 4 wanted: 3 more in ceil(3 x 60000/7) */
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    assert_int_equal(v.penalized, 0);
    assert_limit(v.limit, ip_limit);
    assert_int_equal(v.tokens_left, 1);
    assert_int_equal(v.retry_after_ms, 25715);

    v = chk(f.ctx, NULL, NULL, ip, 1); /* the denial took nothing: the last token is there */
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 0);
    v = chk(f.ctx, NULL, NULL, ip, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.tokens_left, 0);
    assert_int_equal(v.retry_after_ms, 8572); /* ceil(60000 / 7) */
    v = chk(f.ctx, NULL, NULL, ip, 10);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.retry_after_ms, 85715); /* ceil(600000 / 7) */

    /* Cost above the burst could never pass; cost 0 is meaningless. */
    tg_limit_verdict e;
    tg_limit_verdict_init(&e);
    EXPECT_ERR(TG_ERANGE, tg_limiter_check(f.ctx, &e, NULL, NULL, ip, 11));
    EXPECT_ERR(TG_ERANGE, tg_limiter_peek(f.ctx, &e, NULL, NULL, ip, 11));
    EXPECT_ERR(TG_EINVAL, tg_limiter_check(f.ctx, &e, NULL, NULL, ip, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_peek(f.ctx, &e, NULL, NULL, ip, 0));
    EXPECT_ERR(TG_ERANGE, tg_limiter_check(f.ctx, &e, NULL, NULL, ip, UINT32_MAX));

    f.clock.now_ms += 8571;
    assert_int_equal(pk(f.ctx, NULL, NULL, ip, 1).allowed, 0);
    f.clock.now_ms += 1;
    v = chk(f.ctx, NULL, NULL, ip, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 0);

    /* A full bucket passes one check of the whole burst. */
    v = chk(f.ctx, NULL, NULL, "192.0.2.2", 10);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 0);
    tgt_fixture_close(&f);
}

static void test_cost_on_user_workspace_and_global(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = 2 * tier_ws[T].burst;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    uint32_t ub = tier_user[T].burst;

    /* cost 2 then cost 1 until denied: ub - 2 more. */
    assert_int_equal(chk(f.ctx, "acme", "alice", NULL, 2).allowed, 1);
    assert_int_equal(drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, NULL), ub - 2);

    tg_limit_verdict e;
    tg_limit_verdict_init(&e);
    EXPECT_ERR(TG_ERANGE, tg_limiter_check(f.ctx, &e, "acme", "bob", NULL, ub + 1));
    EXPECT_ERR(TG_ERANGE, tg_limiter_peek(f.ctx, &e, "acme", "bob", NULL, ub + 1));
    EXPECT_ERR(TG_ERANGE, tg_limiter_check(f.ctx, &e, "acme", NULL, NULL, tier_ws[T].burst + 1));
    EXPECT_ERR(TG_ERANGE, tg_limiter_check(f.ctx, &e, NULL, NULL, NULL, o.global.burst + 1));
    /* bob's bucket is untouched by those errors. */
    assert_int_equal(chk(f.ctx, "acme", "bob", NULL, ub).allowed, 1);
    tgt_fixture_close(&f);
}

/* ---- all-or-nothing ------------------------------------------------------------ */

static void test_denied_by_ip_consumes_nothing_elsewhere(void **state)
{
    (void)state;
    pick_tier();
    uint32_t ub = tier_user[T].burst, wb = tier_ws[T].burst, k = tier_user[T].burst / 2;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = k;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "ws-ip", T), TG_OK);

    for (uint32_t i = 0; i < k; i++)
        assert_int_equal(chk(f.ctx, "ws-ip", "alice", "203.0.113.9", 1).allowed, 1);
    for (int i = 0; i < 4; i++) {
        tg_limit_verdict v = chk(f.ctx, "ws-ip", "alice", "203.0.113.9", 1);
        assert_int_equal(v.allowed, 0);
        assert_int_equal(v.dimension, TG_LIMIT_IP);
        assert_limit(v.limit, (tg_limit){60, k});
        assert_int_equal(v.tokens_left, 0);
        assert_int_equal(v.retry_after_ms, 1000);
    }
    /* alice and the workspace lost k tokens each, not k + 4. */
    assert_int_equal(drain(f.ctx, "ws-ip", "alice", NULL, TG_LIMIT_USER, NULL), ub - k);
    tg_limit_verdict v;
    assert_int_equal(drain(f.ctx, "ws-ip", NULL, NULL, TG_LIMIT_WORKSPACE, &v), wb - ub);
    assert_limit(v.limit, tier_ws[T]);
    /* and the global bucket lost exactly the workspace's burst. */
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.allowed, 1);
    assert_limit(v.limit, (tg_limit){TG_LIMIT_RATE_MAX, TG_LIMIT_BURST_MAX});
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - wb - 1);
    tgt_fixture_close(&f);
}

static void test_denied_by_workspace_consumes_nothing_elsewhere(void **state)
{
    (void)state;
    pick_tier();
    uint32_t ub = tier_user[T].burst, wb = tier_ws[T].burst, k = tier_user[T].burst / 2;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = k;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "ws-full", T), TG_OK);

    tg_limit_verdict v;
    assert_int_equal(drain_ws(f.ctx, "ws-full", ub, &v), wb);
    assert_limit(v.limit, tier_ws[T]);
    for (int i = 0; i < 4; i++) {
        v = chk(f.ctx, "ws-full", "carol", "198.51.100.7", 1);
        assert_int_equal(v.allowed, 0);
        assert_int_equal(v.dimension, TG_LIMIT_WORKSPACE);
        assert_limit(v.limit, tier_ws[T]);
        assert_int_equal(v.tokens_left, 0);
        assert_int_equal(v.retry_after_ms, ms_for(1, tier_ws[T].per_minute));
    }
    /* The IP and carol kept every token. */
    assert_int_equal(drain(f.ctx, NULL, NULL, "198.51.100.7", TG_LIMIT_IP, NULL), k);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "ws-full", NULL), TG_OK);
    assert_int_equal(drain(f.ctx, "ws-full", "carol", NULL, TG_LIMIT_USER, &v), ub);
    assert_limit(v.limit, tier_user[T]);
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.tokens_left, TG_LIMIT_BURST_MAX - wb - k - ub - 1);
    tgt_fixture_close(&f);
}

static void test_denied_by_global_consumes_nothing_elsewhere(void **state)
{
    (void)state;
    pick_tier();
    uint32_t ub = tier_user[T].burst, wb = tier_ws[T].burst, k = tier_user[T].burst / 2;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = k;
    o.global.per_minute = 120;
    o.global.burst = wb + k + 10;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "ws-g", T), TG_OK);

    tg_limit_verdict v;
    assert_int_equal(drain(f.ctx, NULL, NULL, NULL, TG_LIMIT_GLOBAL, &v), o.global.burst);
    assert_limit(v.limit, o.global);
    assert_int_equal(v.retry_after_ms, 500);
    for (int i = 0; i < 4; i++) {
        v = chk(f.ctx, "ws-g", "dave", "2001:db8::7", 1);
        assert_int_equal(v.allowed, 0);
        assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
        assert_limit(v.limit, o.global);
        assert_int_equal(v.tokens_left, 0);
    }
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, NULL, NULL), TG_OK);
    assert_int_equal(drain(f.ctx, NULL, NULL, "2001:db8::7", TG_LIMIT_IP, NULL), k);
    assert_int_equal(drain(f.ctx, "ws-g", "dave", NULL, TG_LIMIT_USER, NULL), ub);
    assert_int_equal(drain(f.ctx, "ws-g", NULL, NULL, TG_LIMIT_WORKSPACE, NULL), wb - ub);
    v = pk(f.ctx, NULL, NULL, NULL, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 10 - 1);
    tgt_fixture_close(&f);
}

static void test_denied_by_user_consumes_nothing_elsewhere(void **state)
{
    (void)state;
    pick_tier();
    uint32_t ub = tier_user[T].burst, wb = tier_ws[T].burst;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 2 * ub + 5;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "ws-u", T), TG_OK);

    tg_limit_verdict v;
    assert_int_equal(drain(f.ctx, "ws-u", "erin", "10.9.8.7", TG_LIMIT_USER, &v), ub);
    assert_limit(v.limit, tier_user[T]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(chk(f.ctx, "ws-u", "erin", "10.9.8.7", 1).dimension, TG_LIMIT_USER);
    assert_int_equal(drain(f.ctx, NULL, NULL, "10.9.8.7", TG_LIMIT_IP, NULL), ub + 5);
    assert_int_equal(drain(f.ctx, "ws-u", NULL, NULL, TG_LIMIT_WORKSPACE, NULL), wb - ub);
    tgt_fixture_close(&f);
}

/* Limits in the verdict equal the documented defaults when no option is set. */
static void test_default_ip_and_global_limits(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, NULL);
    tg_limit_verdict v;
    assert_int_equal(drain(f.ctx, NULL, NULL, "10.0.0.1", TG_LIMIT_IP, &v), 100);
    assert_limit(v.limit, (tg_limit){600, 100});
    assert_int_equal(v.retry_after_ms, 100);
    assert_int_equal(drain(f.ctx, NULL, NULL, NULL, TG_LIMIT_GLOBAL, &v), 20000 - 100);
    assert_limit(v.limit, (tg_limit){600000, 20000});
    assert_int_equal(v.retry_after_ms, 1); /* 0.1 ms for a token, rounded up */
    tgt_fixture_close(&f);
}

/* The clock is an int64_t of ms since the epoch; a time before 1970 is
 * still a time. A first check at such a time finds full buckets. */
static void test_fresh_buckets_are_full_at_any_time(void **state)
{
    (void)state;
    const int64_t times[] = {0, 1, -1, -5000000, INT64_C(-1760000000000)};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        tg_limiter_options o;
        base_opts(&o);
        o.ip.per_minute = 60;
        o.ip.burst = 3;
        tgt_fixture f;
        tgt_fixture_open(&f, T0, &o);
        f.clock.now_ms = times[i];
        tg_limit_verdict v;
        uint32_t n = 0;
        do
            v = chk(f.ctx, NULL, NULL, "192.0.2.1", 1);
        while (v.allowed && ++n < 10);
        int64_t retry = v.retry_after_ms;
        f.clock.now_ms += 1000;
        int later = chk(f.ctx, NULL, NULL, "192.0.2.1", 1).allowed;
        tgt_fixture_close(&f); /* before failing, so that a failure leaks nothing */
        if (n != 3)
            fail_msg("clock at %lld ms: a new IP passed %u checks, burst 3",
                     (long long)times[i], n);
        assert_int_equal(retry, 1000);
        assert_int_equal(later, 1);
    }
}

/* A workspace on which set_tier was never called has some tier's limits. */
static void test_unset_tier_is_a_tier(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    tg_limit_verdict v;
    uint32_t n = drain_ws(f.ctx, "untiered", 1, &v);
    int found = -1;
    for (int t = 0; t < TG_TIER_COUNT; t++)
        if (v.limit.per_minute == tier_ws[t].per_minute && v.limit.burst == tier_ws[t].burst)
            found = t;
    if (found < 0)
        fail_msg("workspace limit %u/min burst %u is no tier's", v.limit.per_minute,
                 v.limit.burst);
    assert_int_equal(n, tier_ws[found].burst);
    tgt_fixture_close(&f);
}

/* ---- keys ------------------------------------------------------------------- */

/* Distinct entities never share a bucket, however their ids are spelled. */
static void test_keys_are_distinct_per_entity(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    static const char *const pairs[][4] = {
        {"a:b", "c", "a", "b:c"},
        {"a/b", "c", "a", "b/c"},
        {"a|b", "c", "a", "b|c"},
        {"a b", "c", "a", "b c"},
        {"w1", "u", "w2", "u"},
        {"ab", "c", "a", "bc"},
        {"a", "bc", "ab", "c"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        assert_int_equal(tg_limiter_set_tier(f.ctx, pairs[i][0], T), TG_OK);
        assert_int_equal(tg_limiter_set_tier(f.ctx, pairs[i][2], T), TG_OK);
        assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, pairs[i][0], NULL), TG_OK);
        assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, pairs[i][2], NULL), TG_OK);
        drain(f.ctx, pairs[i][0], pairs[i][1], NULL, TG_LIMIT_USER, NULL);
        tg_limit_verdict v = chk(f.ctx, pairs[i][2], pairs[i][3], NULL, 1);
        if (!v.allowed)
            fail_msg("user (%s, %s) shares a bucket with (%s, %s)", pairs[i][2], pairs[i][3],
                     pairs[i][0], pairs[i][1]);
        assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, pairs[i][0], pairs[i][1]),
                         TG_OK);
        assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, pairs[i][2], pairs[i][3]),
                         TG_OK);
    }
    /* A workspace named like an IP is not that IP; a user named like their
     * workspace is not the workspace. */
    assert_int_equal(tg_limiter_set_tier(f.ctx, "10.1.1.1", T), TG_OK);
    drain_ws(f.ctx, "10.1.1.1", 1, NULL);
    assert_int_equal(chk(f.ctx, NULL, NULL, "10.1.1.1", 1).allowed, 1);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "same", T), TG_OK);
    drain(f.ctx, "same", "same", NULL, TG_LIMIT_USER, NULL);
    assert_int_equal(chk(f.ctx, "same", NULL, NULL, 1).allowed, 1);
    /* Non-ASCII and the longest ids work. */
    assert_int_equal(tg_limiter_set_tier(f.ctx, max_id, T), TG_OK);
    assert_int_equal(chk(f.ctx, max_id, max_id, NULL, 1).allowed, 1);
    assert_int_equal(chk(f.ctx, "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", NULL, 1).allowed, 1);
    tgt_fixture_close(&f);
}

static void test_ip_parsing(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 3;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);

    /* Same address, different spellings: one bucket. */
    static const char *const same[][3] = {
        {"::1", "0:0::1", "0::1"},
        {"2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:0db8::0001"},
        {"::ffff:1.2.3.4", "::FFFF:1.2.3.4", "0:0:0:0:0:ffff:102:304"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(drain(f.ctx, NULL, NULL, same[i][0], TG_LIMIT_IP, NULL), 3);
        for (int j = 1; j < 3; j++) {
            tg_limit_verdict v = chk(f.ctx, NULL, NULL, same[i][j], 1);
            if (v.allowed || v.dimension != TG_LIMIT_IP)
                fail_msg("\"%s\" is not the same key as \"%s\"", same[i][j], same[i][0]);
        }
    }
    /* Different addresses: different buckets. "1.2.3.4" differs from its
     * IPv4-mapped form, drained above. */
    static const char *const other[] = {"1.2.3.4", "::2", "1.2.3.5", "255.255.255.255",
                                        "0.0.0.0", "::"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        tg_limit_verdict v = chk(f.ctx, NULL, NULL, other[i], 1);
        if (!v.allowed)
            fail_msg("\"%s\" shares a bucket with an address drained before", other[i]);
    }

    /* Other spellings of an address are refused or are the same key: never
     * a fresh bucket to get round the limit with. */
    assert_int_equal(drain(f.ctx, NULL, NULL, "198.51.100.20", TG_LIMIT_IP, NULL), 3);
    assert_int_equal(drain(f.ctx, NULL, NULL, "2001:db8::20", TG_LIMIT_IP, NULL), 3);
    static const char *const spellings[] = {
        "198.51.100.020", "0198.51.100.20", "198.051.100.20", "198.51.0100.20",
        "198.51.100.0020", "0xc6.51.100.20", "198.51.25620", "3325256724",
        "::ffff:198.51.100.20x", "2001:db8:0::20", "2001:0DB8:0000:0000:0000:0000:0000:0020",
        "2001:db8::0:20", "2001:db8:0:0:0:0:0.0.0.32",
    };
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        tg_limit_verdict sv;
        tg_limit_verdict_init(&sv);
        int rc = tg_limiter_check(f.ctx, &sv, NULL, NULL, spellings[i], 1);
        if (rc == TG_OK && (sv.allowed || sv.dimension != TG_LIMIT_IP))
            fail_msg("\"%s\" is accepted as an address with a bucket of its own",
                     spellings[i]);
        if (rc != TG_OK && rc != TG_EINVAL)
            fail_msg("\"%s\": %s", spellings[i], tg_strerror(rc));
    }

    char big[301];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    for (size_t i = 0; i < N_BAD_IPS; i++) {
        EXPECT_ERR(TG_EINVAL, tg_limiter_check(f.ctx, &v, NULL, NULL, bad_ips[i], 1));
        EXPECT_ERR(TG_EINVAL, tg_limiter_peek(f.ctx, &v, "acme", "alice", bad_ips[i], 1));
        EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_IP, NULL, bad_ips[i]));
        EXPECT_ERR(TG_EINVAL,
                   tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, bad_ips[i], 0));
    }
    EXPECT_ERR(TG_EINVAL, tg_limiter_check(f.ctx, &v, NULL, NULL, big, 1));
    tgt_fixture_close(&f);
}

/* ---- peek ----------------------------------------------------------------- */

static void test_peek_consumes_nothing_and_counts_no_violation(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    o.violations_to_penalize = 3;
    o.violation_window_ms = 60000;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    uint32_t ub = tier_user[T].burst;

    for (int i = 0; i < 100; i++) {
        tg_limit_verdict v = pk(f.ctx, "acme", "alice", NULL, 1);
        assert_int_equal(v.allowed, 1);
        assert_int_equal(v.dimension, TG_LIMIT_NONE);
        assert_int_equal(v.tokens_left, ub - 1); /* what the check would leave */
        assert_limit(v.limit, tier_user[T]);
    }
    /* The first check gives the verdict the peeks announced. */
    tg_limit_verdict first = chk(f.ctx, "acme", "alice", NULL, 1);
    assert_int_equal(first.tokens_left, ub - 1);
    assert_int_equal(pk(f.ctx, "acme", "alice", NULL, 1).tokens_left, ub - 2);
    assert_int_equal(drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, NULL), ub - 1);
    /* That drain ended in one denied check: one violation of three. */

    tg_limit_verdict p;
    for (int i = 0; i < 50; i++) {
        p = pk(f.ctx, "acme", "alice", NULL, 1);
        assert_int_equal(p.allowed, 0);
        assert_int_equal(p.dimension, TG_LIMIT_USER);
        assert_int_equal(p.penalized, 0);
    }
    /* The check gives what the peek said; it is the second violation. */
    tg_limit_verdict c = chk(f.ctx, "acme", "alice", NULL, 1);
    assert_int_equal(c.allowed, p.allowed);
    assert_int_equal(c.dimension, p.dimension);
    assert_int_equal(c.penalized, p.penalized);
    assert_limit(c.limit, p.limit);
    assert_int_equal(c.tokens_left, p.tokens_left);
    assert_int_equal(c.retry_after_ms, p.retry_after_ms);
    assert_int_equal(pk(f.ctx, "acme", "alice", NULL, 1).penalized, 0);
    /* The third violation: now penalized (so violations are counted at
     * all, and the 50 denied peeks were not). */
    assert_int_equal(chk(f.ctx, "acme", "alice", NULL, 1).allowed, 0);
    p = pk(f.ctx, "acme", "alice", NULL, 1);
    assert_int_equal(p.allowed, 0);
    assert_int_equal(p.penalized, 1);
    assert_int_equal(p.penalty_level, 1);

    /* A user who only peeks while denied is never penalized. */
    drain(f.ctx, "acme", "bob", NULL, TG_LIMIT_USER, NULL); /* one violation */
    for (int i = 0; i < 200; i++)
        assert_int_equal(pk(f.ctx, "acme", "bob", NULL, 1).penalized, 0);
    f.clock.now_ms += ms_for(1, tier_user[T].per_minute);
    assert_int_equal(chk(f.ctx, "acme", "bob", NULL, 1).allowed, 1);
    tgt_fixture_close(&f);
}

/* ---- reset ----------------------------------------------------------------- */

static void test_reset(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 4;
    o.global.per_minute = 60;
    o.global.burst = 4 * tier_ws[T].burst + 100;
    o.violations_to_penalize = 3;
    o.violation_window_ms = 60000;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    uint32_t ub = tier_user[T].burst, wb = tier_ws[T].burst;

    /* user */
    drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, NULL);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", "alice"), TG_OK);
    assert_int_equal(drain(f.ctx, "acme", "alice", NULL, TG_LIMIT_USER, NULL), ub);
    /* workspace */
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    drain_ws(f.ctx, "acme", ub, NULL);
    assert_int_equal(chk(f.ctx, "acme", "zed", NULL, 1).dimension, TG_LIMIT_WORKSPACE);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    assert_int_equal(drain_ws(f.ctx, "acme", ub, NULL), wb);
    /* ip */
    drain(f.ctx, NULL, NULL, "192.0.2.44", TG_LIMIT_IP, NULL);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_IP, NULL, "192.0.2.44"), TG_OK);
    assert_int_equal(drain(f.ctx, NULL, NULL, "192.0.2.44", TG_LIMIT_IP, NULL), 4);
    /* global */
    drain(f.ctx, NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, NULL, NULL), TG_OK);
    assert_int_equal(drain(f.ctx, NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL), o.global.burst);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, NULL, NULL), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);

    /* A penalty is cleared, user and IP. */
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", "pat", 3600000),
                     TG_OK);
    assert_int_equal(pk(f.ctx, "acme", "pat", NULL, 1).penalized, 1);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", "pat"), TG_OK);
    assert_int_equal(chk(f.ctx, "acme", "pat", NULL, 1).allowed, 1);
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, "192.0.2.45", 3600000),
                     TG_OK);
    assert_int_equal(pk(f.ctx, NULL, NULL, "192.0.2.45", 1).penalized, 1);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_IP, NULL, "192.0.2.45"), TG_OK);
    assert_int_equal(chk(f.ctx, NULL, NULL, "192.0.2.45", 1).allowed, 1);

    /* Violations are cleared: two before the reset and one after do not
     * make the three that would penalize. */
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    drain(f.ctx, "acme", "val", NULL, TG_LIMIT_USER, NULL);
    assert_int_equal(chk(f.ctx, "acme", "val", NULL, 1).allowed, 0);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", "val"), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    drain(f.ctx, "acme", "val", NULL, TG_LIMIT_USER, NULL);
    assert_int_equal(pk(f.ctx, "acme", "val", NULL, 1).penalized, 0);
    /* (and without a reset, three do) */
    assert_int_equal(chk(f.ctx, "acme", "val", NULL, 1).allowed, 0);
    assert_int_equal(chk(f.ctx, "acme", "val", NULL, 1).allowed, 0);
    assert_int_equal(pk(f.ctx, "acme", "val", NULL, 1).penalized, 1);

    /* Trust and workspace settings stay. */
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "tess", 1.0), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", "tess"), TG_OK);
    double trust = 0;
    assert_int_equal(tg_limiter_get_trust(f.ctx, &trust, "acme", "tess"), TG_OK);
    assert_true(trust == 1.0);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "kept", T), TG_OK);
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "kept", 6), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "kept", NULL), TG_OK);
    tg_limit_verdict v;
    drain(f.ctx, "kept", "u1", NULL, TG_LIMIT_USER, &v);
    assert_int_equal(v.limit.per_minute, 6);

    /* Untracked entries. */
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "never", "seen"), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "never", NULL), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_IP, NULL, "2001:db8::99"), TG_OK);

    /* Bad arguments. */
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(NULL, TG_LIMIT_GLOBAL, NULL, NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_NONE, NULL, NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_DIMENSIONS, NULL, NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, 99, "acme", "alice"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_USER, NULL, "alice"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, NULL, NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_IP, NULL, NULL));
    /* The header names which ids each dimension takes; the others are NULL. */
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", "alice"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_IP, "acme", "192.0.2.44"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, "acme", NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_GLOBAL, NULL, "192.0.2.44"));
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_USER, bad_ids[i], "alice"));
        EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", bad_ids[i]));
        EXPECT_ERR(TG_EINVAL, tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, bad_ids[i], NULL));
    }
    tgt_fixture_close(&f);
}

/* ---- tiers and the per-workspace override ------------------------------------ */

static void test_set_tier_and_user_limit_override(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    tg_limit_verdict v;
    double ratio = (double)tier_user[T].burst / tier_user[T].per_minute;

    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "acme", 6), TG_OK);
    uint32_t n = drain_user(f.ctx, "acme", "u1", &v);
    assert_int_equal(v.limit.per_minute, 6);
    assert_scaled(v.limit.burst, 6, ratio, "overridden burst");
    assert_int_equal(n, v.limit.burst);
    assert_int_equal(v.retry_after_ms, 10000);
    /* Another workspace of the same tier is not overridden. */
    assert_int_equal(tg_limiter_set_tier(f.ctx, "other", T), TG_OK);
    drain(f.ctx, "other", "u1", NULL, TG_LIMIT_USER, &v);
    assert_limit(v.limit, tier_user[T]);

    /* A larger override. */
    uint32_t big = tier_user[T].per_minute * 3 / 2 + 1;
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "acme", big), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    n = drain_user(f.ctx, "acme", "u2", &v);
    assert_int_equal(v.limit.per_minute, big);
    assert_scaled(v.limit.burst, big, ratio, "overridden burst");
    assert_int_equal(n, v.limit.burst);

    /* 0 returns to the tier default. */
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "acme", 0), TG_OK);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL), TG_OK);
    n = drain(f.ctx, "acme", "u3", NULL, TG_LIMIT_USER, &v);
    assert_limit(v.limit, tier_user[T]);
    assert_int_equal(n, tier_user[T].burst);

    /* An override is scaled by trust like the default. */
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "acme", big), TG_OK);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "u4", 1.0), TG_OK);
    drain_user(f.ctx, "acme", "u4", &v);
    assert_int_equal(v.limit.per_minute, 2 * big);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "u5", 0.0), TG_OK);
    drain_user(f.ctx, "acme", "u5", &v);
    assert_scaled(v.limit.per_minute, big, 0.25, "overridden rate at trust 0");
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "acme", 0), TG_OK);

    /* The bounds. */
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "bounds", TG_LIMIT_RATE_MAX), TG_OK);
    EXPECT_ERR(TG_ERANGE, tg_limiter_set_user_limit(f.ctx, "bounds", TG_LIMIT_RATE_MAX + 1));
    EXPECT_ERR(TG_ERANGE, tg_limiter_set_user_limit(f.ctx, "bounds", UINT32_MAX));

    /* set_tier changes both the user and the workspace limits. */
    for (int t = 0; t < TG_TIER_COUNT; t++) {
        char ws[32], user[32];
        snprintf(ws, sizeof ws, "tiered-%d", t);
        assert_int_equal(tg_limiter_set_tier(f.ctx, ws, t), TG_OK);
        uint32_t total = drain_ws(f.ctx, ws, tier_user[t].burst < tier_ws[t].burst
                                                  ? tier_user[t].burst : tier_ws[t].burst, &v);
        assert_limit(v.limit, tier_ws[t]);
        assert_int_equal(total, tier_ws[t].burst);
        assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, ws, NULL), TG_OK);
        if (tier_user[t].burst < tier_ws[t].burst) {
            snprintf(user, sizeof user, "solo-%d", t);
            drain(f.ctx, ws, user, NULL, TG_LIMIT_USER, &v);
            assert_limit(v.limit, tier_user[t]);
        }
    }
    /* and a tier change applies to a workspace already in use. */
    int other = T == TG_TIER_FREE ? TG_TIER_ENTERPRISE : TG_TIER_FREE;
    assert_int_equal(tg_limiter_set_tier(f.ctx, "switch", T), TG_OK);
    assert_int_equal(chk(f.ctx, "switch", "first", NULL, 1).allowed, 1);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "switch", other), TG_OK);
    drain_ws(f.ctx, "switch", 1, &v);
    assert_limit(v.limit, tier_ws[other]);
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_WORKSPACE, "switch", NULL), TG_OK);
    if (tier_user[other].burst < tier_ws[other].burst) {
        drain(f.ctx, "switch", "second", NULL, TG_LIMIT_USER, &v);
        assert_limit(v.limit, tier_user[other]);
    }

    EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(NULL, "acme", TG_TIER_FREE));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(f.ctx, NULL, TG_TIER_FREE));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(f.ctx, "acme", -1));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(f.ctx, "acme", TG_TIER_COUNT));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_user_limit(NULL, "acme", 6));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_user_limit(f.ctx, NULL, 6));
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(f.ctx, bad_ids[i], TG_TIER_FREE));
        EXPECT_ERR(TG_EINVAL, tg_limiter_set_user_limit(f.ctx, bad_ids[i], 6));
    }
    /* A failed set_tier changed nothing. */
    assert_int_equal(tg_limiter_set_tier(f.ctx, "stay", T), TG_OK);
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_tier(f.ctx, "stay", 7));
    drain(f.ctx, "stay", "s", NULL, TG_LIMIT_USER, &v);
    assert_limit(v.limit, tier_user[T]);
    tgt_fixture_close(&f);
}

/* ---- trust ----------------------------------------------------------------- */

static void expect_trust(tgt_fixture *f, const char *user, double trust, double factor)
{
    char ws[64];
    snprintf(ws, sizeof ws, "trust-ws-%s", user);
    assert_int_equal(tg_limiter_set_tier(f->ctx, ws, T), TG_OK);
    assert_int_equal(tg_limiter_set_trust(f->ctx, ws, user, trust), TG_OK);
    tg_limit_verdict v;
    uint32_t n = drain_user(f->ctx, ws, user, &v);
    assert_scaled(v.limit.per_minute, tier_user[T].per_minute, factor, "trusted rate");
    assert_scaled(v.limit.burst, tier_user[T].burst, factor, "trusted burst");
    assert_int_equal(n, v.limit.burst);
    assert_int_equal(v.retry_after_ms, ms_for(1, v.limit.per_minute));
}

static void test_trust(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    double t = -1;

    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "acme", "nobody"), TG_OK);
    assert_true(t == 0.5);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "alice", 0.3), TG_OK);
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "acme", "alice"), TG_OK);
    assert_true(fabs(t - 0.3) < 1e-9);
    /* per workspace: the same user id elsewhere is someone else */
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "globex", "alice"), TG_OK);
    assert_true(t == 0.5);

    expect_trust(&f, "t0", 0.0, 0.25);
    expect_trust(&f, "t025", 0.25, 0.625);
    expect_trust(&f, "t05", 0.5, 1.0);
    expect_trust(&f, "t075", 0.75, 1.5);
    expect_trust(&f, "t1", 1.0, 2.0);

    /* adjust adds and clamps, and says where it landed */
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", 0.25), TG_OK);
    assert_true(fabs(t - 0.75) < 1e-9);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", 0.5), TG_OK);
    assert_true(t == 1.0);
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "acme", "bob"), TG_OK);
    assert_true(t == 1.0);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", -0.1), TG_OK);
    assert_true(fabs(t - 0.9) < 1e-9);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", -5.0), TG_OK);
    assert_true(t == 0.0);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", INFINITY), TG_OK);
    assert_true(t == 1.0);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "bob", -INFINITY), TG_OK);
    assert_true(t == 0.0);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, NULL, "acme", "bob", 0.4), TG_OK);
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "acme", "bob"), TG_OK);
    assert_true(fabs(t - 0.4) < 1e-9);
    /* adjusted trust scales the limit too */
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    assert_int_equal(tg_limiter_adjust_trust(f.ctx, &t, "acme", "carl", 0.5), TG_OK);
    tg_limit_verdict v;
    drain_user(f.ctx, "acme", "carl", &v);
    assert_scaled(v.limit.per_minute, tier_user[T].per_minute, 2.0, "adjusted rate");

    /* set refuses what it would have to clamp, and changes nothing then */
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "dan", 0.8), TG_OK);
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", NAN));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", -0.1));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", 1.1));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", INFINITY));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", -INFINITY));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", "dan", 1.0000001));
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "acme", "dan"), TG_OK);
    assert_true(fabs(t - 0.8) < 1e-9);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "dan", 0.0), TG_OK);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "dan", 1.0), TG_OK);

    /* bad arguments */
    EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(NULL, &t, "acme", "dan"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(f.ctx, NULL, "acme", "dan"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(f.ctx, &t, NULL, "dan"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(f.ctx, &t, "acme", NULL));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(NULL, "acme", "dan", 0.5));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, NULL, "dan", 0.5));
    EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", NULL, 0.5));
    EXPECT_ERR(TG_EINVAL, tg_limiter_adjust_trust(NULL, &t, "acme", "dan", 0.1));
    EXPECT_ERR(TG_EINVAL, tg_limiter_adjust_trust(f.ctx, &t, NULL, "dan", 0.1));
    EXPECT_ERR(TG_EINVAL, tg_limiter_adjust_trust(f.ctx, &t, "acme", NULL, 0.1));
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(f.ctx, &t, bad_ids[i], "dan"));
        EXPECT_ERR(TG_EINVAL, tg_limiter_get_trust(f.ctx, &t, "acme", bad_ids[i]));
        EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, bad_ids[i], "dan", 0.5));
        EXPECT_ERR(TG_EINVAL, tg_limiter_set_trust(f.ctx, "acme", bad_ids[i], 0.5));
        EXPECT_ERR(TG_EINVAL, tg_limiter_adjust_trust(f.ctx, &t, bad_ids[i], "dan", 0.1));
        EXPECT_ERR(TG_EINVAL, tg_limiter_adjust_trust(f.ctx, &t, "acme", bad_ids[i], 0.1));
    }
    tgt_fixture_close(&f);
}

/* ---- penalties -------------------------------------------------------------- */

#define P_VIOL 3u
#define P_WINDOW 10000u
#define P_BASE 60000u
#define P_FACTOR 5u
#define P_MAX 1000000u
#define P_DECAY 2000000u /* above P_MAX: decay cannot happen during a period */

static void penalty_opts(tg_limiter_options *o)
{
    base_opts(o);
    o->ip.per_minute = 60;
    o->ip.burst = 5;
    o->violations_to_penalize = P_VIOL;
    o->violation_window_ms = P_WINDOW;
    o->penalty_base_ms = P_BASE;
    o->penalty_factor = P_FACTOR;
    o->penalty_max_ms = P_MAX;
    o->penalty_decay_ms = P_DECAY;
    o->idle_evict_ms = 4000000000u; /* so long decays do not meet idle eviction */
}

typedef struct target {
    const char *ws, *user, *ip;
    int dim;
} target;

/* Denied `n` times in a row (draining the bucket first). */
static void offend(tgt_fixture *f, const target *t, uint32_t n)
{
    if (t->ws)
        assert_int_equal(tg_limiter_reset(f->ctx, TG_LIMIT_WORKSPACE, t->ws, NULL), TG_OK);
    drain(f->ctx, t->ws, t->user, t->ip, t->dim, NULL); /* ends in the first denial */
    for (uint32_t i = 1; i < n; i++) {
        tg_limit_verdict v = chk(f->ctx, t->ws, t->user, t->ip, 1);
        assert_int_equal(v.allowed, 0);
        assert_int_equal(v.dimension, t->dim);
    }
}

static void expect_penalty(tgt_fixture *f, const target *t, uint32_t level, int64_t retry)
{
    tg_limit_verdict v = pk(f->ctx, t->ws, t->user, t->ip, 1);
    if (v.allowed || !v.penalized || v.dimension != t->dim ||
        (level && v.penalty_level != level) ||
        v.retry_after_ms != retry)
        fail_msg("expected a level %u penalty from dimension %d for %lld ms; got allowed %d "
                 "penalized %d dimension %d level %u retry %lld",
                 level, t->dim, (long long)retry, v.allowed, v.penalized, v.dimension,
                 v.penalty_level, (long long)v.retry_after_ms);
}

/* Sits out the current penalty and checks the check at its end passes. */
static void serve(tgt_fixture *f, const target *t)
{
    tg_limit_verdict v = pk(f->ctx, t->ws, t->user, t->ip, 1);
    assert_int_equal(v.penalized, 1);
    f->clock.now_ms += v.retry_after_ms;
    if (t->ws)
        assert_int_equal(tg_limiter_reset(f->ctx, TG_LIMIT_WORKSPACE, t->ws, NULL), TG_OK);
    v = chk(f->ctx, t->ws, t->user, t->ip, 1);
    if (!v.allowed)
        fail_msg("still denied (dimension %d, penalized %d, retry %lld) when the penalty ended",
                 v.dimension, v.penalized, (long long)v.retry_after_ms);
}

static void penalty_escalation(const target *t)
{
    tg_limiter_options o;
    penalty_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    if (t->ws)
        assert_int_equal(tg_limiter_set_tier(f.ctx, t->ws, T), TG_OK);

    /* One short of the threshold: denied, not penalized. */
    offend(&f, t, P_VIOL - 1);
    tg_limit_verdict v = pk(f.ctx, t->ws, t->user, t->ip, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.penalized, 0);
    /* The threshold: a base-length penalty at level 1. */
    assert_int_equal(chk(f.ctx, t->ws, t->user, t->ip, 1).allowed, 0);
    expect_penalty(&f, t, 1, P_BASE);
    /* The period runs down with the clock, and denials during it are
     * penalized and do not escalate. */
    f.clock.now_ms += 1000;
    expect_penalty(&f, t, 1, P_BASE - 1000);
    for (int i = 0; i < 20; i++) {
        v = chk(f.ctx, t->ws, t->user, t->ip, 1);
        assert_int_equal(v.allowed, 0);
        assert_int_equal(v.penalized, 1);
        assert_int_equal(v.dimension, t->dim);
        assert_int_equal(v.penalty_level, 1);
    }
    expect_penalty(&f, t, 1, P_BASE - 1000);
    /* A penalty covers every check the user or IP is part of. */
    if (t->user) {
        v = chk(f.ctx, t->ws, t->user, "192.0.2.200", 1);
        assert_int_equal(v.penalized, 1);
        assert_int_equal(v.dimension, TG_LIMIT_USER);
    } else {
        assert_int_equal(tg_limiter_set_tier(f.ctx, "via-ip", T), TG_OK);
        v = chk(f.ctx, "via-ip", "someone", t->ip, 1);
        assert_int_equal(v.penalized, 1);
        assert_int_equal(v.dimension, TG_LIMIT_IP);
    }
    serve(&f, t);

    /* Offend again: level 2, base x factor. */
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 2, (int64_t)P_BASE * P_FACTOR);
    serve(&f, t);
    /* Level 3: base x factor^2 = 1.5 M, capped at 1 M. */
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 3, P_MAX);
    serve(&f, t);
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 0, P_MAX); /* still the cap (the level past it: unspecified) */
    serve(&f, t);
    tgt_fixture_close(&f);
}

static void test_user_penalty_escalates(void **state)
{
    (void)state;
    pick_tier();
    target t = {"pen-ws", "mallory", NULL, TG_LIMIT_USER};
    penalty_escalation(&t);
}

static void test_ip_penalty_escalates(void **state)
{
    (void)state;
    pick_tier();
    target t = {NULL, NULL, "203.0.113.66", TG_LIMIT_IP};
    penalty_escalation(&t);
}

static void penalty_decay(const target *t)
{
    tg_limiter_options o;
    penalty_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    if (t->ws)
        assert_int_equal(tg_limiter_set_tier(f.ctx, t->ws, T), TG_OK);

    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 1, P_BASE);
    serve(&f, t);
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 2, (int64_t)P_BASE * P_FACTOR);
    serve(&f, t);
    /* One quiet decay period: level 2 -> 1, so the next penalty is level 2
     * again, not 3. */
    f.clock.now_ms += P_DECAY + 1000;
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 2, (int64_t)P_BASE * P_FACTOR);
    serve(&f, t);
    /* Two quiet periods: level 2 -> 0, the next penalty is level 1. */
    f.clock.now_ms += 2 * (int64_t)P_DECAY + 1000;
    offend(&f, t, P_VIOL);
    expect_penalty(&f, t, 1, P_BASE);
    serve(&f, t);

    /* Violations spread wider than the window never add up. */
    f.clock.now_ms += 10 * (int64_t)P_DECAY;
    offend(&f, t, P_VIOL - 1);
    f.clock.now_ms += P_WINDOW + 1;
    offend(&f, t, P_VIOL - 1);
    assert_int_equal(pk(f.ctx, t->ws, t->user, t->ip, 1).penalized, 0);
    /* but P_VIOL within it do */
    assert_int_equal(chk(f.ctx, t->ws, t->user, t->ip, 1).allowed, 0);
    assert_int_equal(pk(f.ctx, t->ws, t->user, t->ip, 1).penalized, 1);
    tgt_fixture_close(&f);
}

static void test_user_penalty_decays(void **state)
{
    (void)state;
    pick_tier();
    target t = {"decay-ws", "trudy", NULL, TG_LIMIT_USER};
    penalty_decay(&t);
}

static void test_ip_penalty_decays(void **state)
{
    (void)state;
    target t = {NULL, NULL, "2001:db8::bad", TG_LIMIT_IP};
    penalty_decay(&t);
}

static void test_apply_penalty(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    penalty_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "acme", T), TG_OK);
    tg_limit_verdict v;

    /* An explicit duration, on a user with a full bucket. */
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", "eve", 7000), TG_OK);
    v = pk(f.ctx, "acme", "eve", NULL, 1);
    assert_int_equal(v.allowed, 0);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.dimension, TG_LIMIT_USER);
    assert_int_equal(v.retry_after_ms, 7000);
    v = chk(f.ctx, "acme", "eve", NULL, 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.retry_after_ms, 7000);
    /* other users and the workspace are not penalized */
    assert_int_equal(chk(f.ctx, "acme", "frank", NULL, 1).allowed, 1);
    assert_int_equal(chk(f.ctx, "acme", NULL, NULL, 1).allowed, 1);
    f.clock.now_ms += 6999;
    assert_int_equal(chk(f.ctx, "acme", "eve", NULL, 1).allowed, 0);
    f.clock.now_ms += 1;
    assert_int_equal(chk(f.ctx, "acme", "eve", NULL, 1).allowed, 1);

    /* 0: the next level's period, as if the threshold had been crossed. */
    target u = {"acme", "gina", NULL, TG_LIMIT_USER};
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", "gina", 0), TG_OK);
    expect_penalty(&f, &u, 1, P_BASE);
    serve(&f, &u);
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", "gina", 0), TG_OK);
    expect_penalty(&f, &u, 2, (int64_t)P_BASE * P_FACTOR);
    serve(&f, &u);
    /* and it escalates with violations that follow */
    offend(&f, &u, P_VIOL);
    expect_penalty(&f, &u, 3, P_MAX);

    target ip = {NULL, NULL, "198.51.100.99", TG_LIMIT_IP};
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, "198.51.100.99", 0),
                     TG_OK);
    expect_penalty(&f, &ip, 1, P_BASE);
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, "::1", 1234), TG_OK);
    v = pk(f.ctx, "acme", "harry", "0::1", 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    assert_int_equal(v.retry_after_ms, 1234);

    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(NULL, TG_LIMIT_USER, "acme", "eve", 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_WORKSPACE, "acme", NULL, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_GLOBAL, NULL, NULL, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_NONE, NULL, NULL, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, 42, "acme", "eve", 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, NULL, "eve", 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", NULL, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, NULL, 0));
    EXPECT_ERR(TG_EINVAL, tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, "acme", "::1", 0));
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        EXPECT_ERR(TG_EINVAL,
                   tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, bad_ids[i], "eve", 0));
        EXPECT_ERR(TG_EINVAL,
                   tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "acme", bad_ids[i], 0));
    }
    tgt_fixture_close(&f);
}

/* The documented penalty defaults: 5 violations, then 1 minute. */
static void test_default_penalty(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, NULL);
    target t = {NULL, NULL, "10.20.30.40", TG_LIMIT_IP};
    offend(&f, &t, 4);
    assert_int_equal(pk(f.ctx, NULL, NULL, t.ip, 1).penalized, 0);
    assert_int_equal(chk(f.ctx, NULL, NULL, t.ip, 1).allowed, 0);
    expect_penalty(&f, &t, 1, 60000);
    serve(&f, &t);
    offend(&f, &t, 5);
    expect_penalty(&f, &t, 2, 300000);
    tgt_fixture_close(&f);
}

/* ---- bad input ---------------------------------------------------------------- */

static void test_check_and_peek_reject_bad_input(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    typedef int (*check_fn)(tg_ctx *, tg_limit_verdict *, const char *, const char *,
                            const char *, uint32_t);
    check_fn fns[2] = {tg_limiter_check, tg_limiter_peek};
    for (int k = 0; k < 2; k++) {
        check_fn fn = fns[k];
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        EXPECT_ERR(TG_EINVAL, fn(NULL, &v, "acme", "alice", "1.2.3.4", 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, NULL, "acme", "alice", "1.2.3.4", 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, NULL, "alice", NULL, 1)); /* user, no workspace */
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, NULL, "alice", "1.2.3.4", 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, "acme", "alice", NULL, 0));
        for (size_t i = 0; i < N_BAD_IDS; i++) {
            EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, bad_ids[i], NULL, NULL, 1));
            EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, bad_ids[i], "alice", NULL, 1));
            EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, "acme", bad_ids[i], NULL, 1));
            EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, "acme", bad_ids[i], "1.2.3.4", 1));
        }
        /* The verdict must be initialised, by a version this build knows. */
        tg_limit_verdict raw;
        memset(&raw, 0, sizeof raw);
        EXPECT_ERR(TG_EVERSION, fn(f.ctx, &raw, "acme", "alice", NULL, 1));
        tg_limit_verdict_init(&raw);
        raw.version = TG_LIMIT_VERDICT_VERSION + 1;
        EXPECT_ERR(TG_EVERSION, fn(f.ctx, &raw, "acme", "alice", NULL, 1));
        /* Valid edge cases. */
        tg_limit_verdict_init(&v);
        assert_int_equal(fn(f.ctx, &v, max_id, max_id, "::", 1), TG_OK);
        assert_int_equal(fn(f.ctx, &v, NULL, NULL, NULL, 1), TG_OK); /* global only */
        assert_int_equal(fn(f.ctx, &v, "acme", NULL, "1.2.3.4", 1), TG_OK);
    }
    /* None of the failed checks took a token: a fresh IP-only bucket of the
     * default burst 100 for the one address the bad calls named... */
    assert_int_equal(drain(f.ctx, NULL, NULL, "1.2.3.4", TG_LIMIT_IP, NULL), 100 - 1);
    /* (the -1 is the valid ("acme", NULL, "1.2.3.4") check above) */
    tgt_fixture_close(&f);
}

/* A verdict from older headers (a smaller struct_size) is written only as
 * far as its struct_size reaches. */
static void test_verdict_struct_size_is_respected(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    short_verdict buf;
    int rc = tg_limiter_check(f.ctx, short_verdict_init(&buf), NULL, NULL, "1.2.3.4", 1);
    if (rc == TG_OK) {
        assert_int_equal(buf.v.allowed, 1);
        assert_int_equal(buf.v.dimension, TG_LIMIT_NONE);
        assert_int_equal(buf.v.tokens_left, 99);
    } else {
        assert_int_equal(rc, TG_EVERSION);
    }
    expect_short_verdict_intact(&buf);
    tgt_fixture_close(&f);
}

static void test_tracked_and_misc_reject_bad_input(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, NULL);
    size_t n = 0;
    EXPECT_ERR(TG_EINVAL, tg_limiter_tracked(NULL, &n));
    EXPECT_ERR(TG_EINVAL, tg_limiter_tracked(f.ctx, NULL));
    assert_int_equal(tg_limiter_tracked(f.ctx, &n), TG_OK);
    size_t before = n;
    char user[32];
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof user, "user-%d", i);
        chk(f.ctx, "acme", user, NULL, 1);
    }
    assert_int_equal(tg_limiter_tracked(f.ctx, &n), TG_OK);
    assert_true(n >= before + 10);
    tgt_fixture_close(&f);
}

static void expect_open_works(const tg_limiter_options *o)
{
    tgt_fixture f;
    tgt_fixture_open(&f, T0, o);
    tgt_fixture_close(&f);
}

static void test_bad_options(void **state)
{
    (void)state;
    tg_limiter_options o;

    tg_limiter_options_init(&o);
    expect_open_works(&o);
    o.version = 0;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    o.version = TG_LIMITER_OPTIONS_VERSION + 1;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    tg_limiter_options_init(&o);
    o.struct_size = sizeof o - 4;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    o.struct_size = 0;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);

    /* The largest limits are allowed, one more is not. */
    tg_limiter_options_init(&o);
    o.ip.per_minute = TG_LIMIT_RATE_MAX;
    o.ip.burst = TG_LIMIT_BURST_MAX;
    o.global.per_minute = TG_LIMIT_RATE_MAX;
    o.global.burst = TG_LIMIT_BURST_MAX;
    expect_open_works(&o);
    o.ip.burst = TG_LIMIT_BURST_MAX + 1;
    expect_open_fails(&o, TG_EINVAL, TG_ERANGE);
    o.ip.burst = TG_LIMIT_BURST_MAX;
    o.ip.per_minute = TG_LIMIT_RATE_MAX + 1;
    expect_open_fails(&o, TG_EINVAL, TG_ERANGE);
    o.ip.per_minute = TG_LIMIT_RATE_MAX;
    o.global.burst = UINT32_MAX;
    expect_open_fails(&o, TG_EINVAL, TG_ERANGE);
    o.global.burst = TG_LIMIT_BURST_MAX;
    o.global.per_minute = UINT32_MAX;
    expect_open_fails(&o, TG_EINVAL, TG_ERANGE);
}

/* ---- allocation failures --------------------------------------------------- */

/* The limiter's memory comes from the context's allocator; a check that
 * cannot allocate fails with TG_ENOMEM and takes nothing; nothing leaks. */
static void test_allocation_failures(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 5000;
    tg_store *store = NULL;
    tgt_clock clock = {T0};
    tgt_failing_alloc fa;
    tg_config cfg;
    counted_config(&cfg, &store, &clock, &o, &fa);

    /* Opening: each allocation in turn fails, until none does. */
    long k;
    for (k = 1; k < 10000; k++) {
        tgt_failing_alloc_init(&fa, k);
        tg_ctx *ctx = NULL;
        int rc = tg_ctx_open(&ctx, &cfg);
        if (rc == TG_OK) {
            tg_ctx_close(ctx);
            assert_int_equal(fa.live, 0);
            break;
        }
        assert_int_equal(rc, TG_ENOMEM);
        assert_null(ctx);
        assert_int_equal(fa.live, 0);
    }
    assert_true(k < 10000);

    /* Checking: every other check's first allocation fails. */
    tgt_failing_alloc_init(&fa, 0);
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    char ws[32], user[32];
    uint32_t passed = 0, enomem = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(ws, sizeof ws, "nomem-ws-%d", i);
        snprintf(user, sizeof user, "nomem-user-%d", i);
        fa.fail_at = (i % 2) ? 0 : fa.calls + 1;
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        arm();
        int rc = tg_limiter_check(ctx, &v, ws, user, "192.0.2.1", 1);
        if (rc == TG_ENOMEM) {
            enomem++;
            expect_own_message("check: TG_ENOMEM");
            continue;
        }
        assert_int_equal(rc, TG_OK);
        assert_int_equal(v.allowed, 1);
        passed++;
    }
    fa.fail_at = 0;
    if (enomem == 0)
        fail_msg("3000 new users and workspaces and not one allocation through the "
                 "context's allocator");
    /* The IP paid for the checks that passed, not for those that failed. */
    assert_int_equal(drain(ctx, NULL, NULL, "192.0.2.1", TG_LIMIT_IP, NULL), 5000 - passed);
    tg_ctx_close(ctx);
    assert_int_equal(fa.live, 0);
    tg_store_close(store);
}

/* ---- bounded memory --------------------------------------------------------- */

static void test_max_keys_bounds_tracked_entries(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.max_keys = 100;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    char ws[32], user[32];
    size_t n = 0, most = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(ws, sizeof ws, "cap-ws-%d", i % 7);
        snprintf(user, sizeof user, "cap-user-%d", i);
        tg_limit_verdict v = chk(f.ctx, ws, user, NULL, 1);
        if (!v.allowed && v.dimension == TG_LIMIT_USER)
            fail_msg("a first check of %s was denied by the user dimension", user);
        assert_int_equal(tg_limiter_tracked(f.ctx, &n), TG_OK);
        if (n > 100)
            fail_msg("%zu entries tracked after %d checks, max_keys is 100", n, i + 1);
        if (n > most)
            most = n;
    }
    assert_true(most >= 50); /* it does keep entries, up to about the cap */
    tgt_fixture_close(&f);

    /* A cap smaller than one check's entries (user, workspace, IP). */
    o.max_keys = 2;
    tgt_fixture_open(&f, T0, &o);
    for (int i = 0; i < 50; i++) {
        snprintf(ws, sizeof ws, "tiny-ws-%d", i);
        snprintf(user, sizeof user, "tiny-user-%d", i);
        chk(f.ctx, ws, user, "192.0.2.3", 1);
        assert_int_equal(tg_limiter_tracked(f.ctx, &n), TG_OK);
        if (n > 2)
            fail_msg("%zu entries tracked, max_keys is 2", n);
    }
    tgt_fixture_close(&f);
}

static void test_idle_entries_are_evicted(void **state)
{
    (void)state;
    pick_tier();
    tg_limiter_options o;
    base_opts(&o);
    o.idle_evict_ms = 1000;
    o.ip.per_minute = 60;
    o.ip.burst = 5;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "idle", T), TG_OK);
    char user[32], ip[32];
    for (int i = 0; i < 50; i++) {
        snprintf(user, sizeof user, "idle-%d", i);
        assert_int_equal(chk(f.ctx, "idle", user, NULL, 1).allowed, 1);
    }
    /* Kept although idle: non-default trust, a penalty still running,
     * a workspace's override. */
    assert_int_equal(tg_limiter_set_trust(f.ctx, "idle", "trusted", 0.9), TG_OK);
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_USER, "idle", "punished",
                                              36000000), TG_OK);
    assert_int_equal(tg_limiter_set_tier(f.ctx, "keep", T), TG_OK);
    assert_int_equal(tg_limiter_set_user_limit(f.ctx, "keep", 6), TG_OK);
    size_t before = 0, after = 0;
    assert_int_equal(tg_limiter_tracked(f.ctx, &before), TG_OK);
    assert_true(before >= 50);

    /* An hour later every bucket has refilled; other traffic comes in. */
    f.clock.now_ms += 3600000;
    const int others = 256;
    for (int i = 0; i < others; i++) {
        snprintf(ip, sizeof ip, "10.77.%d.%d", i / 200, i % 200);
        assert_int_equal(chk(f.ctx, NULL, NULL, ip, 1).allowed, 1);
    }
    assert_int_equal(tg_limiter_tracked(f.ctx, &after), TG_OK);
    if (after > before + others - 25)
        fail_msg("%zu tracked before, %zu after %d new keys: idle entries were not evicted",
                 before, after, others);

    double t = 0;
    assert_int_equal(tg_limiter_get_trust(f.ctx, &t, "idle", "trusted"), TG_OK);
    assert_true(fabs(t - 0.9) < 1e-9);
    tg_limit_verdict v = pk(f.ctx, "idle", "punished", NULL, 1);
    assert_int_equal(v.penalized, 1);
    drain(f.ctx, "keep", "newcomer", NULL, TG_LIMIT_USER, &v);
    assert_int_equal(v.limit.per_minute, 6);
    /* A user back after the hour has a full bucket. */
    assert_int_equal(drain(f.ctx, "idle", "idle-0", NULL, TG_LIMIT_USER, NULL),
                     tier_user[T].burst);
    tgt_fixture_close(&f);
}

int main(void)
{
    make_ids();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_functions_and_constants),
        cmocka_unit_test(test_tier_defaults),
        cmocka_unit_test(test_user_burst_then_refill),
        cmocka_unit_test(test_ip_bucket_verdicts_and_cost),
        cmocka_unit_test(test_cost_on_user_workspace_and_global),
        cmocka_unit_test(test_denied_by_ip_consumes_nothing_elsewhere),
        cmocka_unit_test(test_denied_by_workspace_consumes_nothing_elsewhere),
        cmocka_unit_test(test_denied_by_global_consumes_nothing_elsewhere),
        cmocka_unit_test(test_denied_by_user_consumes_nothing_elsewhere),
        cmocka_unit_test(test_default_ip_and_global_limits),
        cmocka_unit_test(test_fresh_buckets_are_full_at_any_time),
        cmocka_unit_test(test_unset_tier_is_a_tier),
        cmocka_unit_test(test_keys_are_distinct_per_entity),
        cmocka_unit_test(test_ip_parsing),
        cmocka_unit_test(test_peek_consumes_nothing_and_counts_no_violation),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_set_tier_and_user_limit_override),
        cmocka_unit_test(test_trust),
        cmocka_unit_test(test_user_penalty_escalates),
        cmocka_unit_test(test_ip_penalty_escalates),
        cmocka_unit_test(test_user_penalty_decays),
        cmocka_unit_test(test_ip_penalty_decays),
        cmocka_unit_test(test_apply_penalty),
        cmocka_unit_test(test_default_penalty),
        cmocka_unit_test(test_check_and_peek_reject_bad_input),
        cmocka_unit_test(test_verdict_struct_size_is_respected),
        cmocka_unit_test(test_tracked_and_misc_reject_bad_input),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_max_keys_bounds_tracked_entries),
        cmocka_unit_test(test_idle_entries_are_evicted),
    };
    return cmocka_run_group_tests(tests, load_tiers, NULL);
}
