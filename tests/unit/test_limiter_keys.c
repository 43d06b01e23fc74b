/*
 * test_limiter_keys.c - prepared keys (tg_limiter_key_new, tg_limiter_key_free,
 * tg_limiter_check_key, tg_limiter_peek_key in tenantguard/limiter.h), one
 * thread, every clock injected:
 *
 *  - bad input on every new function: the error, its message, *out NULL, and
 *    that none of it took a token or created an entry;
 *  - equivalence: two contexts with the same options and the same clock
 *    readings, one driven with strings (tg_limiter_check/peek) and the other
 *    with prepared keys through the same script, every verdict and error
 *    compared field by field, and the number of tracked entries after every
 *    step: burst and refill, cost, a denial by each dimension, TG_ERANGE,
 *    penalties and their decay, trust, tiers, overrides, reset, explicit
 *    penalties made between checks, then a long pseudo-random run; keys of
 *    every combination of dimensions, IPv4 and IPv6 (spelled differently
 *    in the key);
 *  - strings and keys mixed in one context use the same buckets and create
 *    no second entry;
 *  - stale hints: a key remembers where its entries were; after they were
 *    evicted (idle, or at the cap) and their slots were freed or taken by
 *    other entries, a check on the key gives what a string check gives in a
 *    second context driven the same way (both have one shard, so their
 *    tables evolve alike), and the entries now in those slots are not
 *    charged;
 *  - peek on a key creates no entry and consumes nothing (nor does
 *    preparing a key);
 *  - lifetime: a key freed after its context was closed (ASan, and the
 *    allocator's live count), a key whose source buffers were overwritten;
 *  - allocation failure: in key_new (TG_ENOMEM, *out NULL, no leak) and in
 *    checks on keys (nothing taken, later checks right).
 *
 * The stale-hint tests also look inside the key (limiter_impl.h) to be sure
 * they built the situation they mean: that the slot the key remembers now
 * holds another entry (or none). Everything they assert about behaviour goes
 * through the public API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "limiter/limiter_impl.h"
#include "limiter_test.h"

#define FREE_SLOT 0xFF /* an entry's kind while it is free (table.c) */

/* ---- helpers ---------------------------------------------------------------- */

static tg_limit tier_user[TG_TIER_COUNT], tier_ws[TG_TIER_COUNT];

static int load_tiers(void **state)
{
    (void)state;
    for (int t = 0; t < TG_TIER_COUNT; t++)
        if (tg_limiter_tier_default(&tier_user[t], t, TG_LIMIT_USER) != TG_OK ||
            tg_limiter_tier_default(&tier_ws[t], t, TG_LIMIT_WORKSPACE) != TG_OK ||
            tier_user[t].burst < 2 || tier_ws[t].burst <= tier_user[t].burst)
            return -1;
    return 0;
}

/* Checks of cost 1 until one is denied, which must be by `dim`; returns how
 * many passed. */
static uint32_t kdrain(tg_ctx *ctx, tg_limiter_key *key, int dim)
{
    for (uint32_t n = 0; n <= 3 * TG_LIMIT_BURST_MAX; n++) {
        tg_limit_verdict v = kchk(ctx, key, 1);
        if (!v.allowed) {
            if (v.dimension != dim)
                fail_msg("kdrain: denied by dimension %d after %u passes, expected %d",
                         v.dimension, n, dim);
            return n;
        }
    }
    fail_msg("kdrain: never denied");
    return 0;
}

/* A context whose allocations go through `fa`, none of them failing yet,
 * on a new memory store (in *store). */
static tg_ctx *counted_ctx(tg_store **store, tgt_clock *clock, const tg_limiter_options *o,
                           tgt_failing_alloc *fa)
{
    tgt_failing_alloc_init(fa, 0);
    tg_config cfg;
    counted_config(&cfg, store, clock, o, fa);
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    return ctx;
}

/* ---- two contexts driven alike: strings in f[0], keys in f[1] ------------------ */

typedef struct target {
    const char *ws, *user, *ip; /* as the string context is given them */
    const char *key_ip;         /* as key_new is given the IP (NULL: ip) */
    tg_limiter_key *key;          /* prepared in f[1] */
} target;

typedef struct twin {
    tgt_fixture f[2];
    int step;
    /* what the script reached, so that a test can check it covered what it
     * says it covers */
    unsigned allowed, denied_by[TG_LIMIT_DIMENSIONS], penalized, erange;
    uint32_t max_level;
    /* white box: key entries looked up with a remembered slot that still
     * held them, and with one that held another entry or none */
    unsigned hint_fresh, hint_stale;
} twin;

/* Counts the key's remembered slots as they are before a check (see the
 * header comment: only for the tests to know what they exercised). */
static void count_hints(twin *tw, tg_limiter_key *k)
{
    for (int i = 0; i < k->plan.n; i++) {
        const tg__lentry *e = atomic_load(&k->line[i]);
        if (atomic_load(&k->where[i]) == TG__LNIL || !e)
            continue;
        if (e->kind == k->plan.keys[i].kind &&
            memcmp(e->digest, k->plan.keys[i].digest, TG__LDIGEST) == 0)
            tw->hint_fresh++;
        else
            tw->hint_stale++;
    }
}

static void tw_same_tracked(twin *tw)
{
    size_t a = tracked(tw->f[0].ctx), b = tracked(tw->f[1].ctx);
    if (a != b)
        fail_msg("step %d: %zu entries tracked with strings, %zu with keys", tw->step, a, b);
}

static void tw_open(twin *tw, const tg_limiter_options *o, target *t, size_t nt)
{
    memset(tw, 0, sizeof *tw);
    tgt_fixture_open(&tw->f[0], T0, o);
    tgt_fixture_open(&tw->f[1], T0, o);
    for (size_t i = 0; i < nt; i++)
        t[i].key = key_new(tw->f[1].ctx, t[i].ws, t[i].user, t[i].key_ip ? t[i].key_ip : t[i].ip);
    tw_same_tracked(tw); /* preparing keys created nothing */
    assert_int_equal(tracked(tw->f[1].ctx), 0);
}

static void tw_close(twin *tw, target *t, size_t nt)
{
    for (size_t i = 0; i < nt; i++) {
        tg_limiter_key_free(t[i].key);
        t[i].key = NULL;
    }
    tgt_fixture_close(&tw->f[0]);
    tgt_fixture_close(&tw->f[1]);
}

static void tw_advance(twin *tw, int64_t ms)
{
    tw->f[0].clock.now_ms += ms;
    tw->f[1].clock.now_ms += ms;
}

/* One check (commit) or peek of `t` in both contexts: the same return code
 * and, if TG_OK, the same verdict. Returns the code; the verdict in *out. */
static int tw_run(twin *tw, const target *t, uint32_t cost, bool commit, tg_limit_verdict *out)
{
    tw->step++;
    count_hints(tw, t->key);
    tg_limit_verdict a, b;
    tg_limit_verdict_init(&a);
    tg_limit_verdict_init(&b);
    int ra = commit ? tg_limiter_check(tw->f[0].ctx, &a, t->ws, t->user, t->ip, cost)
                    : tg_limiter_peek(tw->f[0].ctx, &a, t->ws, t->user, t->ip, cost);
    int rb = commit ? tg_limiter_check_key(tw->f[1].ctx, &b, t->key, cost)
                    : tg_limiter_peek_key(tw->f[1].ctx, &b, t->key, cost);
    char what[512];
    snprintf(what, sizeof what, "step %d: %s(%s, %s, %s, cost %u)", tw->step,
             commit ? "check" : "peek", S(t->ws), S(t->user), S(t->ip), cost);
    if (ra != rb)
        fail_msg("%s: strings returned %d (%s), the key %d (%s)", what, ra, tg_strerror(ra), rb,
                 tg_strerror(rb));
    if (ra == TG_OK) {
        sane(&a, what);
        expect_same(&a, &b, what);
        if (commit) {
            if (b.allowed)
                tw->allowed++;
            else
                tw->denied_by[b.dimension]++;
            if (b.penalized)
                tw->penalized++;
            if (b.penalty_level > tw->max_level)
                tw->max_level = b.penalty_level;
        }
    } else if (ra == TG_ERANGE) {
        tw->erange++;
    } else {
        fail_msg("%s: %s: %s", what, tg_strerror(ra), tg_ctx_errmsg(NULL));
    }
    tw_same_tracked(tw);
    if (out)
        *out = b;
    return ra;
}

/* tw_run of a check (commit) or peek that must work. */
static tg_limit_verdict tw_ok(twin *tw, const target *t, uint32_t cost, bool commit)
{
    tg_limit_verdict v;
    if (tw_run(tw, t, cost, commit, &v) != TG_OK)
        fail_msg("step %d: %s(%s, %s, %s, cost %u) failed", tw->step, commit ? "check" : "peek",
                 S(t->ws), S(t->user), S(t->ip), cost);
    return v;
}

static tg_limit_verdict tw_check(twin *tw, const target *t, uint32_t cost)
{
    return tw_ok(tw, t, cost, true);
}

static tg_limit_verdict tw_peek(twin *tw, const target *t, uint32_t cost)
{
    return tw_ok(tw, t, cost, false);
}

/* Checks of cost 1 in both until one is denied, by `dim`; the passes. */
static uint32_t tw_drain(twin *tw, const target *t, int dim)
{
    for (uint32_t n = 0; n <= 3 * TG_LIMIT_BURST_MAX; n++) {
        tg_limit_verdict v = tw_check(tw, t, 1);
        if (!v.allowed) {
            if (v.dimension != dim)
                fail_msg("step %d: drain(%s, %s, %s): denied by dimension %d after %u passes, "
                         "expected %d", tw->step, S(t->ws), S(t->user), S(t->ip), v.dimension,
                         n, dim);
            return n;
        }
    }
    fail_msg("drain(%s, %s, %s): never denied", S(t->ws), S(t->user), S(t->ip));
    return 0;
}

/* The same admin call on both contexts (`expr` uses ctx_), which must work. */
#define BOTH(tw, expr)                                                                        \
    do {                                                                                      \
        for (int i_ = 0; i_ < 2; i_++) {                                                      \
            tg_ctx *ctx_ = (tw)->f[i_].ctx;                                                   \
            int rc_ = (expr);                                                                 \
            if (rc_ != TG_OK)                                                                 \
                fail_msg("%s: %s: %s", #expr, tg_strerror(rc_), tg_ctx_errmsg(NULL));         \
        }                                                                                     \
        tw_same_tracked(tw);                                                                  \
    } while (0)

/* ---- 1. bad input ----------------------------------------------------------- */

static void test_key_new_rejects_bad_input(void **state)
{
    (void)state;
    make_ids();
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    static char dummy_storage;
    tg_limiter_key *const dummy = (tg_limiter_key *)(void *)&dummy_storage;
    tg_limiter_key *k = dummy;

#define EXPECT_BAD_KEY(ctx, ws, user, ip)                                                     \
    do {                                                                                      \
        k = dummy;                                                                            \
        EXPECT_ERR(TG_EINVAL, tg_limiter_key_new((ctx), &k, (ws), (user), (ip)));             \
        if (k != NULL)                                                                        \
            fail_msg("key_new(%s, %s, %s) failed and left *out set", S(ws), S(user), S(ip)); \
    } while (0)

    EXPECT_ERR(TG_EINVAL, tg_limiter_key_new(f.ctx, NULL, "acme", "alice", "192.0.2.1"));
    EXPECT_ERR(TG_EINVAL, tg_limiter_key_new(NULL, NULL, "acme", "alice", "192.0.2.1"));
    EXPECT_BAD_KEY(NULL, "acme", "alice", "192.0.2.1");
    EXPECT_BAD_KEY(NULL, NULL, NULL, NULL);
    /* a user without a workspace */
    EXPECT_BAD_KEY(f.ctx, NULL, "alice", NULL);
    EXPECT_BAD_KEY(f.ctx, NULL, "alice", "192.0.2.1");
    for (size_t i = 0; i < N_BAD_IDS; i++) {
        EXPECT_BAD_KEY(f.ctx, bad_ids[i], NULL, NULL);
        EXPECT_BAD_KEY(f.ctx, bad_ids[i], "alice", NULL);
        EXPECT_BAD_KEY(f.ctx, bad_ids[i], NULL, "192.0.2.1");
        EXPECT_BAD_KEY(f.ctx, "acme", bad_ids[i], NULL);
        EXPECT_BAD_KEY(f.ctx, "acme", bad_ids[i], "192.0.2.1");
    }
    for (size_t i = 0; i < N_BAD_IPS; i++) {
        EXPECT_BAD_KEY(f.ctx, NULL, NULL, bad_ips[i]);
        EXPECT_BAD_KEY(f.ctx, "acme", NULL, bad_ips[i]);
        EXPECT_BAD_KEY(f.ctx, "acme", "alice", bad_ips[i]);
    }
    /* An identifier of exactly TG_ID_MAX bytes, UTF-8 and the edge
     * addresses are fine. */
    const char *good[][3] = {
        {max_id, max_id, "::"},
        {NULL, NULL, NULL},
        {NULL, NULL, "255.255.255.255"},
        {"\xc3\xa9t\xc3\xa9", "\xe7\x94\xa8\xe6\x88\xb7", "::ffff:1.2.3.4"},
        {"a:b", "c:d", "0.0.0.0"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        k = dummy;
        int rc = tg_limiter_key_new(f.ctx, &k, good[i][0], good[i][1], good[i][2]);
        if (rc != TG_OK)
            fail_msg("key_new(%s, %s, %s): %s: %s", S(good[i][0]), S(good[i][1]), S(good[i][2]),
                     tg_strerror(rc), tg_ctx_errmsg(NULL));
        assert_non_null(k);
        assert_ptr_not_equal(k, dummy);
        tg_limit_verdict v = kchk(f.ctx, k, 1);
        assert_int_equal(v.allowed, 1);
        tg_limiter_key_free(k);
    }
    tg_limiter_key_free(NULL); /* a no-op */
#undef EXPECT_BAD_KEY
    tgt_fixture_close(&f);
}

static void test_check_and_peek_key_reject_bad_input(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 7;
    tgt_fixture f, g;
    tgt_fixture_open(&f, T0, &o);
    tgt_fixture_open(&g, T0, &o);
    tg_limiter_key *k = key_new(f.ctx, "acme", "alice", "192.0.2.1");
    tg_limiter_key *other = key_new(g.ctx, "acme", "alice", "192.0.2.1"); /* g's */

    typedef int (*key_fn)(tg_ctx *, tg_limit_verdict *, tg_limiter_key *, uint32_t);
    key_fn fns[2] = {tg_limiter_check_key, tg_limiter_peek_key};
    for (int i = 0; i < 2; i++) {
        key_fn fn = fns[i];
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        EXPECT_ERR(TG_EINVAL, fn(NULL, &v, k, 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, NULL, k, 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, NULL, 1));
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, k, 0));
        EXPECT_ERR(TG_EINVAL, fn(NULL, NULL, NULL, 0));
        /* a key prepared for another context, both ways */
        EXPECT_ERR(TG_EINVAL, fn(f.ctx, &v, other, 1));
        EXPECT_ERR(TG_EINVAL, fn(g.ctx, &v, k, 1));
        /* The verdict must be initialised, by a version this build knows. */
        tg_limit_verdict raw;
        memset(&raw, 0, sizeof raw);
        EXPECT_ERR(TG_EVERSION, fn(f.ctx, &raw, k, 1));
        tg_limit_verdict_init(&raw);
        raw.version = TG_LIMIT_VERDICT_VERSION + 1;
        EXPECT_ERR(TG_EVERSION, fn(f.ctx, &raw, k, 1));
    }
    /* None of it created an entry or took a token, in either context. */
    assert_int_equal(tracked(f.ctx), 0);
    assert_int_equal(tracked(g.ctx), 0);
    tg_limit_verdict v = kpk(f.ctx, k, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, o.ip.burst - 1); /* the IP has the fewest */
    assert_int_equal(pk(f.ctx, "acme", "alice", NULL, 1).tokens_left,
                     tier_user[TG_TIER_FREE].burst - 1);
    assert_int_equal(pk(f.ctx, "acme", NULL, NULL, 1).tokens_left,
                     tier_ws[TG_TIER_FREE].burst - 1);
    assert_int_equal(pk(f.ctx, NULL, NULL, NULL, 1).tokens_left, TG_LIMIT_BURST_MAX - 1);
    assert_int_equal(kpk(g.ctx, other, 1).tokens_left, o.ip.burst - 1);
    /* A cost no bucket could ever hold: an error, not a denial; it takes
     * nothing either (it may create the entries, as a string check does). */
    for (int i = 0; i < 2; i++) {
        tg_limit_verdict v2;
        tg_limit_verdict_init(&v2);
        EXPECT_ERR(TG_ERANGE, fns[i](f.ctx, &v2, k, o.ip.burst + 1));
    }
    assert_int_equal(kpk(f.ctx, k, 1).tokens_left, o.ip.burst - 1);
    /* ... and the IP still holds its whole burst. */
    assert_int_equal(kdrain(f.ctx, k, TG_LIMIT_IP), o.ip.burst);
    tg_limiter_key_free(k);
    tg_limiter_key_free(other);
    tgt_fixture_close(&f);
    tgt_fixture_close(&g);
}

/* A verdict from older headers (a smaller struct_size) is written only as
 * far as its struct_size reaches, by a key check as by a string check. */
static void test_key_verdict_struct_size_is_respected(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    tg_limiter_key *k = key_new(f.ctx, NULL, NULL, "192.0.2.1");
    for (int commit = 0; commit < 2; commit++) {
        short_verdict buf;
        tg_limit_verdict *v = short_verdict_init(&buf);
        int rc = commit ? tg_limiter_check_key(f.ctx, v, k, 1)
                        : tg_limiter_peek_key(f.ctx, v, k, 1);
        assert_int_equal(rc, TG_OK);
        assert_int_equal(buf.v.allowed, 1);
        assert_int_equal(buf.v.dimension, TG_LIMIT_NONE);
        assert_int_equal(buf.v.tokens_left, 99); /* the default IP burst is 100 */
        expect_short_verdict_intact(&buf);
    }
    tg_limiter_key_free(k);
    tgt_fixture_close(&f);
}

/* ---- 2. equivalence with strings -------------------------------------------- */

enum {
    G,     /* global only */
    IP4,   /* an IPv4 address only */
    IP6,   /* an IPv6 address only, spelled differently in the key */
    WS,    /* a workspace only */
    WSU,   /* workspace + user */
    WSUI,  /* workspace + user + IP */
    WSUI2, /* another IP for the same user (the IP of IP4) */
    WSI,   /* workspace + IP, no user */
    WSU6,  /* another workspace and user behind the IPv6 address of IP6 */
    UNI,   /* UTF-8 identifiers and ::1 */
    PEN,   /* a user to penalise */
    PENI,  /* an IP to penalise */
    NTARGETS
};

static void eq_targets(target *t)
{
    memset(t, 0, NTARGETS * sizeof *t);
    t[G] = (target){NULL, NULL, NULL, NULL, NULL};
    t[IP4] = (target){NULL, NULL, "192.0.2.10", NULL, NULL};
    t[IP6] = (target){NULL, NULL, "2001:db8::7", "2001:DB8:0:0:0:0:0:7", NULL};
    t[WS] = (target){"acme", NULL, NULL, NULL, NULL};
    t[WSU] = (target){"acme", "alice", NULL, NULL, NULL};
    t[WSUI] = (target){"acme", "bob", "192.0.2.11", NULL, NULL};
    t[WSUI2] = (target){"acme", "alice", "192.0.2.10", NULL, NULL};
    t[WSI] = (target){"acme", NULL, "192.0.2.12", NULL, NULL};
    t[WSU6] = (target){"beta", "carol", "2001:db8::7", "2001:db8:0::7", NULL};
    t[UNI] = (target){"\xc3\xa9quipe", "\xe7\x94\xa8\xe6\x88\xb7", "::1", "0:0::1", NULL};
    t[PEN] = (target){"pen-ws", "mallory", NULL, NULL, NULL};
    t[PENI] = (target){NULL, NULL, "192.0.2.66", NULL, NULL};
}

static void eq_opts(tg_limiter_options *o)
{
    base_opts(o);
    o->ip.per_minute = 60;
    o->ip.burst = 8;
    o->global.per_minute = 6000;
    o->global.burst = 400;
    o->violations_to_penalize = 3;
    o->violation_window_ms = 60000;
    o->penalty_base_ms = 5000;
    o->penalty_factor = 2;
    o->penalty_max_ms = 60000;
    o->penalty_decay_ms = 20000;
}

/* A scripted scenario, each step on both contexts. */
static void eq_script(twin *tw, target *t, const tg_limiter_options *o)
{
    const tg_limit tu = tier_user[TG_TIER_FREE], tws = tier_ws[TG_TIER_FREE];
    tg_limit_verdict v;
    double trust = 0;

    /* Burst, refill, cost > 1. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    assert_int_equal(tw_drain(tw, &t[WSU], TG_LIMIT_USER), tu.burst);
    tw_advance(tw, ms_for(1, tu.per_minute));
    assert_int_equal(tw_check(tw, &t[WSU], 1).allowed, 1);
    assert_int_equal(tw_check(tw, &t[WSU], 1).dimension, TG_LIMIT_USER);
    tw_peek(tw, &t[WSU], 1);
    tw_advance(tw, 60000);
    assert_int_equal(tw_check(tw, &t[WSUI], 3).allowed, 1);
    assert_int_equal(tw_check(tw, &t[WSUI], 3).allowed, 1);
    v = tw_check(tw, &t[WSUI], 3); /* the IP has 2 left */
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    v = tw_check(tw, &t[WSUI], 2);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 0);
    tw_peek(tw, &t[WSUI], 1);
    tw_peek(tw, &t[WSUI], 5);
    tw_advance(tw, 1500);
    tw_peek(tw, &t[WSUI], 1);
    tw_check(tw, &t[WSUI], 2);
    tw_advance(tw, ms_for(o->ip.burst, o->ip.per_minute));

    /* A denial by the workspace, for every key in it. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    tw_drain(tw, &t[WS], TG_LIMIT_WORKSPACE);
    assert_int_equal(tw_check(tw, &t[WSU], 1).dimension, TG_LIMIT_WORKSPACE);
    assert_int_equal(tw_check(tw, &t[WSI], 1).dimension, TG_LIMIT_WORKSPACE);
    assert_int_equal(tw_peek(tw, &t[WSUI], 1).dimension, TG_LIMIT_WORKSPACE);
    tw_check(tw, &t[WSUI2], 1);
    tw_advance(tw, 250);
    tw_check(tw, &t[WSU], 3);
    tw_check(tw, &t[WSU], 2);
    tw_advance(tw, ms_for(tws.burst, tws.per_minute));

    /* A denial by the IP, IPv4 and IPv6. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    assert_int_equal(tw_drain(tw, &t[IP4], TG_LIMIT_IP), o->ip.burst);
    assert_int_equal(tw_check(tw, &t[WSUI2], 1).dimension, TG_LIMIT_IP);
    assert_int_equal(tw_drain(tw, &t[IP6], TG_LIMIT_IP), o->ip.burst);
    assert_int_equal(tw_check(tw, &t[WSU6], 1).dimension, TG_LIMIT_IP);
    assert_int_equal(tw_check(tw, &t[UNI], 1).allowed, 1);
    tw_advance(tw, 999);
    tw_check(tw, &t[WSU6], 1);
    tw_check(tw, &t[WSU6], 1);
    tw_advance(tw, 60000);

    /* A denial by the global bucket, for every kind of key. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    assert_int_equal(tw_drain(tw, &t[G], TG_LIMIT_GLOBAL), o->global.burst);
    for (int i = 0; i < NTARGETS; i++)
        assert_int_equal(tw_check(tw, &t[i], 1).dimension, TG_LIMIT_GLOBAL);
    tw_advance(tw, 35);
    tw_check(tw, &t[WSUI], 4);
    tw_check(tw, &t[WSUI], 3);
    tw_check(tw, &t[G], 1);
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));

    /* TG_ERANGE: a cost above a burst, on check and peek alike. */
    for (int commit = 0; commit < 2; commit++) {
        assert_int_equal(tw_run(tw, &t[WSU], tu.burst + 1, commit, NULL), TG_ERANGE);
        assert_int_equal(tw_run(tw, &t[IP4], o->ip.burst + 1, commit, NULL), TG_ERANGE);
        assert_int_equal(tw_run(tw, &t[WSUI], o->ip.burst + 1, commit, NULL), TG_ERANGE);
        assert_int_equal(tw_run(tw, &t[WS], tws.burst + 1, commit, NULL), TG_ERANGE);
        assert_int_equal(tw_run(tw, &t[G], o->global.burst + 1, commit, NULL), TG_ERANGE);
        assert_int_equal(tw_run(tw, &t[UNI], UINT32_MAX, commit, NULL), TG_ERANGE);
    }
    assert_int_equal(tw_peek(tw, &t[WSU], tu.burst).allowed, 1); /* nothing was taken */

    /* Penalties: a user denied violations_to_penalize times, again at the
     * next level, then decay; the same for an IP. */
    assert_int_equal(tw_drain(tw, &t[PEN], TG_LIMIT_USER), tu.burst);
    for (uint32_t i = 1; i < o->violations_to_penalize; i++)
        v = tw_check(tw, &t[PEN], 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.penalty_level, 1);
    tw_peek(tw, &t[PEN], 1);
    for (int i = 0; i < 400 && !(v.penalized && v.penalty_level >= 2); i++) {
        tw_advance(tw, 500);
        v = tw_check(tw, &t[PEN], 1);
    }
    if (!(v.penalized && v.penalty_level >= 2))
        fail_msg("the penalty never reached level 2");
    tw_peek(tw, &t[PEN], 1);
    tw_advance(tw, o->penalty_max_ms + o->penalty_decay_ms); /* over, and one level decayed */
    v = tw_peek(tw, &t[PEN], tu.burst);
    assert_int_equal(v.allowed, 1);
    tw_drain(tw, &t[PEN], TG_LIMIT_USER);
    tw_advance(tw, 10 * (int64_t)o->penalty_decay_ms); /* fully decayed */
    tw_drain(tw, &t[PEN], TG_LIMIT_USER);
    assert_int_equal(tw_check(tw, &t[PEN], 1).penalty_level, 0);
    tw_advance(tw, 60000);
    assert_int_equal(tw_drain(tw, &t[PENI], TG_LIMIT_IP), o->ip.burst);
    for (uint32_t i = 1; i < o->violations_to_penalize; i++)
        v = tw_check(tw, &t[PENI], 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    tw_advance(tw, o->penalty_base_ms - 1);
    assert_int_equal(tw_check(tw, &t[PENI], 1).penalized, 1);
    tw_advance(tw, 1);
    tw_check(tw, &t[PENI], 1);
    tw_advance(tw, 60000);

    /* Trust, changed between checks. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    BOTH(tw, tg_limiter_set_trust(ctx_, "acme", "alice", 1.0));
    v = tw_check(tw, &t[WSU], 1);
    assert_int_equal(v.limit.per_minute, 2 * tu.per_minute);
    tw_drain(tw, &t[WSU], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_set_trust(ctx_, "acme", "alice", 0.0));
    tw_check(tw, &t[WSU], 1);
    tw_advance(tw, 60000);
    tw_drain(tw, &t[WSUI2], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_adjust_trust(ctx_, &trust, "acme", "alice", 0.7));
    tw_check(tw, &t[WSUI2], 1);
    tw_advance(tw, 60000);
    tw_check(tw, &t[WSUI2], 2);
    BOTH(tw, tg_limiter_set_trust(ctx_, "\xc3\xa9quipe", "\xe7\x94\xa8\xe6\x88\xb7", 0.25));
    tw_drain(tw, &t[UNI], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_set_trust(ctx_, "acme", "alice", 0.5));

    /* Tiers and per-user overrides, changed between checks. */
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    tw_advance(tw, 60000);
    BOTH(tw, tg_limiter_set_tier(ctx_, "acme", TG_TIER_ENTERPRISE));
    v = tw_check(tw, &t[WSU], 1);
    tw_drain(tw, &t[WSU], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_set_user_limit(ctx_, "acme", 6));
    v = tw_check(tw, &t[WSU], 1);
    tw_check(tw, &t[WSUI], 1);
    tw_advance(tw, 10000);
    tw_drain(tw, &t[WSUI], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_set_tier(ctx_, "acme", TG_TIER_STANDARD));
    tw_check(tw, &t[WSUI], 1);
    BOTH(tw, tg_limiter_set_user_limit(ctx_, "acme", 0));
    tw_advance(tw, 2000);
    tw_check(tw, &t[WSUI], 1);
    tw_peek(tw, &t[WS], 1);
    BOTH(tw, tg_limiter_set_tier(ctx_, "acme", TG_TIER_FREE));
    tw_check(tw, &t[WSI], 1);
    tw_advance(tw, 60000);

    /* Reset of each dimension between checks. */
    tw_drain(tw, &t[WSUI], TG_LIMIT_IP);
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_IP, NULL, "192.0.2.11"));
    tw_check(tw, &t[WSUI], 1);
    tw_drain(tw, &t[WSU], TG_LIMIT_USER);
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_USER, "acme", "alice"));
    assert_int_equal(tw_check(tw, &t[WSU], 1).allowed, 1);
    tw_drain(tw, &t[WS], TG_LIMIT_WORKSPACE);
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_WORKSPACE, "acme", NULL));
    assert_int_equal(tw_check(tw, &t[WS], 1).allowed, 1);
    tw_drain(tw, &t[G], TG_LIMIT_GLOBAL);
    BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL));
    assert_int_equal(tw_check(tw, &t[G], 1).allowed, 1);

    /* Explicit penalties between checks. */
    tw_advance(tw, 60000);
    BOTH(tw, tg_limiter_apply_penalty(ctx_, TG_LIMIT_USER, "acme", "bob", 0));
    v = tw_check(tw, &t[WSUI], 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.dimension, TG_LIMIT_USER);
    BOTH(tw, tg_limiter_apply_penalty(ctx_, TG_LIMIT_IP, NULL, "192.0.2.10", 7000));
    v = tw_check(tw, &t[IP4], 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.retry_after_ms, 7000);
    assert_int_equal(tw_check(tw, &t[WSUI2], 1).penalized, 1);
    tw_advance(tw, 7000);
    assert_int_equal(tw_check(tw, &t[IP4], 1).allowed, 1);
    BOTH(tw, tg_limiter_apply_penalty(ctx_, TG_LIMIT_IP, NULL, "2001:db8:0:0::7", 0));
    assert_int_equal(tw_check(tw, &t[WSU6], 1).penalized, 1);
    assert_int_equal(tw_peek(tw, &t[IP6], 1).penalized, 1);
}

/* A long pseudo-random run over every target: checks and peeks of random
 * costs (some above a burst), clock steps small and large, admin calls. */
static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng_state >> 33) % n;
}

static void eq_random(twin *tw, target *t, int steps)
{
    static const char *const wss[] = {"acme", "beta", "pen-ws", "\xc3\xa9quipe"};
    static const double trusts[] = {0.0, 0.25, 0.5, 0.7, 1.0};
    static const uint32_t limits[] = {0, 6, 45, 200};
    static const uint32_t costs[] = {1, 1, 1, 1, 2, 2, 3, 5, 9, 11};
    double out_trust = 0;
    rng_state = 0x5eed;
    for (int s = 0; s < steps; s++) {
        uint32_t r = rnd(100);
        uint32_t a = rnd(100);
        if (a < 60)
            ;
        else if (a < 90)
            tw_advance(tw, 1 + rnd(500));
        else if (a < 99)
            tw_advance(tw, 500 + rnd(5000));
        else
            tw_advance(tw, 30000 + rnd(90000));
        const target *x = &t[rnd(NTARGETS)];
        if (r < 70) {
            tw_run(tw, x, costs[rnd(sizeof costs / sizeof costs[0])], true, NULL);
        } else if (r < 85) {
            tw_run(tw, x, costs[rnd(sizeof costs / sizeof costs[0])], false, NULL);
        } else {
            /* an admin call on an entity of a random target */
            const target *u = &t[(const int[]){WSU, WSUI, WSU6, UNI, PEN}[rnd(5)]];
            const target *ip = &t[(const int[]){IP4, IP6, WSUI, PENI, UNI}[rnd(5)]];
            const char *ws = wss[rnd(4)];
            double tr = trusts[rnd(5)];
            int tier = (int)rnd(TG_TIER_COUNT);
            uint32_t lim = limits[rnd(4)];
            uint32_t dur = rnd(2) ? 0 : 1 + rnd(10000);
            double delta = rnd(2) ? 0.1 : -0.1; /* drawn once: BOTH evaluates its call twice */
            switch (rnd(10)) {
            case 0: BOTH(tw, tg_limiter_set_trust(ctx_, u->ws, u->user, tr)); break;
            case 1:
                BOTH(tw, tg_limiter_adjust_trust(ctx_, &out_trust, u->ws, u->user, delta));
                break;
            case 2: BOTH(tw, tg_limiter_set_tier(ctx_, ws, tier)); break;
            case 3: BOTH(tw, tg_limiter_set_user_limit(ctx_, ws, lim)); break;
            case 4: BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_USER, u->ws, u->user)); break;
            case 5: BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_WORKSPACE, ws, NULL)); break;
            case 6: BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_IP, NULL, ip->ip)); break;
            case 7: BOTH(tw, tg_limiter_reset(ctx_, TG_LIMIT_GLOBAL, NULL, NULL)); break;
            case 8:
                BOTH(tw, tg_limiter_apply_penalty(ctx_, TG_LIMIT_USER, u->ws, u->user, dur));
                break;
            default:
                BOTH(tw, tg_limiter_apply_penalty(ctx_, TG_LIMIT_IP, NULL, ip->ip, dur));
                break;
            }
        }
    }
}

static void test_keys_give_the_verdicts_strings_give(void **state)
{
    (void)state;
    tg_limiter_options o;
    eq_opts(&o);
    target t[NTARGETS];
    eq_targets(t);
    twin tw;
    tw_open(&tw, &o, t, NTARGETS);
    eq_script(&tw, t, &o);
    /* The script did reach what it says it covers. */
    for (int d = 0; d < TG_LIMIT_DIMENSIONS; d++)
        if (tw.denied_by[d] == 0)
            fail_msg("no check was denied by dimension %d", d);
    assert_true(tw.allowed > 0);
    assert_true(tw.penalized > 0);
    assert_true(tw.max_level >= 2);
    assert_true(tw.erange >= 12);

    unsigned denied = 0, allowed = tw.allowed;
    for (int d = 0; d < TG_LIMIT_DIMENSIONS; d++)
        denied += tw.denied_by[d];
    eq_random(&tw, t, 6000);
    unsigned denied_after = 0;
    for (int d = 0; d < TG_LIMIT_DIMENSIONS; d++)
        denied_after += tw.denied_by[d];
    assert_true(tw.allowed > allowed + 1000);
    assert_true(denied_after > denied + 200);
    assert_true(tw.hint_fresh > 5000); /* the keys did look where they remembered */

    /* Everything ends alike. */
    for (int i = 0; i < NTARGETS; i++)
        for (uint32_t cost = 1; cost <= 3; cost++)
            tw_run(&tw, &t[i], cost, false, NULL); /* (a small burst may make 3 TG_ERANGE) */
    tw_close(&tw, t, NTARGETS);
}

/* The same in a context whose table is tiny (eviction at the cap all the
 * time): both tables have one shard and evolve alike, so the verdicts stay
 * equal although entries come and go under the keys' remembered slots. */
static void test_keys_give_the_verdicts_strings_give_at_the_cap(void **state)
{
    (void)state;
    tg_limiter_options o;
    eq_opts(&o);
    o.max_keys = 6;
    o.idle_evict_ms = 3000;
    target t[NTARGETS];
    eq_targets(t);
    twin tw;
    tw_open(&tw, &o, t, NTARGETS);
    eq_random(&tw, t, 6000);
    assert_true(tracked(tw.f[1].ctx) <= 6);
    if (tw.hint_stale < 100 || tw.hint_fresh < 100)
        fail_msg("%u lookups with a stale hint, %u with a good one: the run did not exercise "
                 "both", tw.hint_stale, tw.hint_fresh);
    for (int i = 0; i < NTARGETS; i++)
        tw_peek(&tw, &t[i], 1);
    tw_close(&tw, t, NTARGETS);
}

/* ---- 3. strings and keys in one context ------------------------------------ */

static void test_strings_and_keys_share_buckets(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 50;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    const uint32_t ub = tier_user[TG_TIER_FREE].burst, wb = tier_ws[TG_TIER_FREE].burst;

    /* Strings first: the key finds their entries. */
    chk(f.ctx, "acme", "alice", "192.0.2.1", 1);
    chk(f.ctx, "acme", "alice", "192.0.2.1", 1);
    size_t n = tracked(f.ctx);
    assert_int_equal(n, 3);
    tg_limiter_key *k = key_new(f.ctx, "acme", "alice", "192.0.2.1");
    assert_int_equal(tracked(f.ctx), n);
    assert_int_equal(kpk(f.ctx, k, 1).tokens_left, ub - 3);
    tg_limit_verdict v = kchk(f.ctx, k, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, ub - 3);
    assert_int_equal(tracked(f.ctx), n);
    v = kchk(f.ctx, k, 2); /* now with the slots it remembers */
    assert_int_equal(v.tokens_left, ub - 5);
    assert_int_equal(tracked(f.ctx), n);
    /* ... and the strings see what the key took, in every dimension */
    assert_int_equal(pk(f.ctx, "acme", "alice", NULL, 1).tokens_left, ub - 6);
    assert_int_equal(pk(f.ctx, "acme", NULL, NULL, 1).tokens_left, wb - 6);
    assert_int_equal(pk(f.ctx, NULL, NULL, "192.0.2.1", 1).tokens_left, o.ip.burst - 6);
    assert_int_equal(pk(f.ctx, NULL, NULL, NULL, 1).tokens_left, TG_LIMIT_BURST_MAX - 6);
    /* ... and the other way round. */
    chk(f.ctx, "acme", "alice", "192.0.2.1", 2);
    assert_int_equal(kpk(f.ctx, k, 1).tokens_left, ub - 8);
    assert_int_equal(tracked(f.ctx), n);

    /* Keys first: strings find the key's entries (no new ones). */
    tg_limiter_key *k2 = key_new(f.ctx, "beta", "bob", "2001:db8::1");
    assert_int_equal(tracked(f.ctx), n);
    v = kchk(f.ctx, k2, 3);
    assert_int_equal(tracked(f.ctx), n + 3);
    v = chk(f.ctx, "beta", "bob", "2001:DB8:0:0::1", 1);
    assert_int_equal(v.tokens_left, ub - 4);
    assert_int_equal(tracked(f.ctx), n + 3);
    assert_int_equal(kchk(f.ctx, k2, 1).tokens_left, ub - 5);
    assert_int_equal(tracked(f.ctx), n + 3);

    /* Keys for subsets of the same ids, and a second key for the same ids. */
    tg_limiter_key *kws = key_new(f.ctx, "acme", NULL, NULL);
    tg_limiter_key *kip = key_new(f.ctx, NULL, NULL, "192.0.2.1");
    tg_limiter_key *kwu = key_new(f.ctx, "acme", "alice", NULL);
    tg_limiter_key *same = key_new(f.ctx, "acme", "alice", "192.0.2.1");
    /* 7 taken so far from alice, acme and 192.0.2.1 */
    assert_int_equal(kpk(f.ctx, kws, 1).tokens_left, wb - 8);
    assert_int_equal(kpk(f.ctx, kip, 1).tokens_left, o.ip.burst - 8);
    assert_int_equal(kpk(f.ctx, kwu, 1).tokens_left, ub - 8);
    assert_int_equal(kchk(f.ctx, same, 1).tokens_left, ub - 8);
    assert_int_equal(kchk(f.ctx, kwu, 1).tokens_left, ub - 9);
    assert_int_equal(kchk(f.ctx, kwu, 1).tokens_left, ub - 10);
    assert_int_equal(kchk(f.ctx, kip, 1).tokens_left, o.ip.burst - 9);
    assert_int_equal(pk(f.ctx, "acme", NULL, NULL, 1).tokens_left, wb - 11);
    assert_int_equal(kpk(f.ctx, k, 1).allowed, 0); /* alice has no token left */
    assert_int_equal(kpk(f.ctx, k, 1).dimension, TG_LIMIT_USER);
    assert_int_equal(tracked(f.ctx), n + 3);

    /* IPv4 and IPv4-mapped IPv6 are two buckets; spellings of one are one. */
    tg_limiter_key *mapped = key_new(f.ctx, NULL, NULL, "::ffff:192.0.2.1");
    assert_int_equal(kpk(f.ctx, mapped, 1).tokens_left, o.ip.burst - 1);
    tg_limiter_key *spelled = key_new(f.ctx, NULL, NULL, "2001:db8:0:0:0:0:0:1");
    assert_int_equal(kpk(f.ctx, spelled, 1).tokens_left, o.ip.burst - 6); /* k2 took 5 */

    /* Admin calls on strings apply to keys. */
    assert_int_equal(tg_limiter_reset(f.ctx, TG_LIMIT_USER, "acme", "alice"), TG_OK);
    assert_int_equal(kpk(f.ctx, kwu, 1).tokens_left, ub - 1);
    assert_int_equal(tg_limiter_set_trust(f.ctx, "acme", "alice", 1.0), TG_OK);
    v = kpk(f.ctx, kwu, 1);
    assert_int_equal(v.limit.per_minute, 2 * tier_user[TG_TIER_FREE].per_minute);
    assert_int_equal(tg_limiter_apply_penalty(f.ctx, TG_LIMIT_IP, NULL, "192.0.2.1", 5000),
                     TG_OK);
    v = kchk(f.ctx, k, 1);
    assert_int_equal(v.penalized, 1);
    assert_int_equal(v.dimension, TG_LIMIT_IP);
    assert_int_equal(v.retry_after_ms, 5000);
    assert_int_equal(kchk(f.ctx, kwu, 1).allowed, 1); /* the user is not penalised */

    tg_limiter_key_free(k);
    tg_limiter_key_free(k2);
    tg_limiter_key_free(kws);
    tg_limiter_key_free(kip);
    tg_limiter_key_free(kwu);
    tg_limiter_key_free(same);
    tg_limiter_key_free(mapped);
    tg_limiter_key_free(spelled);
    tgt_fixture_close(&f);
}

/* ---- 4. stale hints --------------------------------------------------------- */

/* The entries a key remembers (white box: see the header comment). */
typedef struct hints {
    int n;
    tg__lentry *e[TG__LENTER_MAX];
    uint8_t kind[TG__LENTER_MAX];
} hints;

static hints remembered(tg_limiter_key *k)
{
    hints h;
    memset(&h, 0, sizeof h);
    h.n = k->plan.n;
    for (int i = 0; i < h.n; i++) {
        if (atomic_load(&k->where[i]) == TG__LNIL)
            fail_msg("key entry %d: no slot remembered after a check that found it", i);
        h.e[i] = atomic_load(&k->line[i]);
        assert_non_null(h.e[i]);
        assert_memory_equal(h.e[i]->digest, k->plan.keys[i].digest, TG__LDIGEST);
        h.kind[i] = (uint8_t)k->plan.keys[i].kind;
    }
    return h;
}

/* How many of the remembered slots now hold another entry (of the same
 * kind in *same_kind) or none (in *freed); every slot must be one or the
 * other - the key's own entries must be gone. */
static int stale(const hints *h, tg_limiter_key *k, int *same_kind, int *freed)
{
    int other = 0;
    *same_kind = *freed = 0;
    for (int i = 0; i < h->n; i++) {
        const tg__lentry *e = h->e[i];
        if (e->kind == FREE_SLOT) {
            (*freed)++;
            continue;
        }
        if (memcmp(e->digest, k->plan.keys[i].digest, TG__LDIGEST) == 0)
            fail_msg("key entry %d is still where the key remembers it: the test did not "
                     "make its hint stale", i);
        other++;
        if (e->kind == h->kind[i])
            (*same_kind)++;
    }
    return other;
}

/* The flood: entries of every kind, each charged once. */
#define FLOOD 24

static target flood_target(int i, char (*buf)[3][40])
{
    snprintf(buf[i][0], sizeof buf[i][0], "flood-ws-%d", i);
    snprintf(buf[i][1], sizeof buf[i][1], "flood-user-%d", i);
    snprintf(buf[i][2], sizeof buf[i][2], "198.51.100.%d", i + 1);
    target t = {NULL, NULL, NULL, NULL, NULL};
    switch (i % 3) {
    case 0: t.ip = buf[i][2]; break;                        /* an IP */
    case 1: t.ws = buf[i][0]; break;                        /* a workspace */
    default: t.ws = buf[i][0], t.user = buf[i][1]; break;   /* a user (+ its workspace) */
    }
    return t;
}

/* Peeks of every dimension of the flood's entries, strings, in f[which]. */
static void flood_levels(twin *tw, int which, int nf, const target *ft, uint32_t *out)
{
    for (int i = 0; i < nf; i++) {
        tg_ctx *c = tw->f[which].ctx;
        out[3 * i] = ft[i].ws ? pk(c, ft[i].ws, NULL, NULL, 1).tokens_left : 0;
        out[3 * i + 1] = ft[i].user ? pk(c, ft[i].ws, ft[i].user, NULL, 1).tokens_left : 0;
        out[3 * i + 2] = ft[i].ip ? pk(c, NULL, NULL, ft[i].ip, 1).tokens_left : 0;
    }
}

static void stale_opts(tg_limiter_options *o)
{
    base_opts(o);
    o->ip.per_minute = 60;
    o->ip.burst = 8; /* a key of all three: the IP has the fewest tokens */
}

/* Strings in both contexts (the flood, and other traffic). */
static tg_limit_verdict both_strings(twin *tw, const target *t, uint32_t cost)
{
    tg_limit_verdict a = chk(tw->f[0].ctx, t->ws, t->user, t->ip, cost);
    tg_limit_verdict b = chk(tw->f[1].ctx, t->ws, t->user, t->ip, cost);
    expect_same(&a, &b, "the same string check in both contexts");
    tw_same_tracked(tw);
    return b;
}

/* Checks of the key after its hints went stale: what strings give in the
 * twin, a fresh bucket (the entries were evicted), and the entries now in
 * the remembered slots - all of the flood's - not charged. */
static void after_stale(twin *tw, target *k, int nf, const target *ft)
{
    uint32_t before[2][3 * FLOOD], after[2][3 * FLOOD];
    memset(before, 0, sizeof before);
    memset(after, 0, sizeof after);
    for (int w = 0; w < 2; w++)
        flood_levels(tw, w, nf, ft, before[w]);
    assert_memory_equal(before[0], before[1], sizeof before[0]);

    tg_limit_verdict v = tw_check(tw, k, 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(v.tokens_left, 8 - 1); /* all full again: the IP binds */

    for (int w = 0; w < 2; w++)
        flood_levels(tw, w, nf, ft, after[w]);
    assert_memory_equal(after[0], after[1], sizeof after[0]);
    for (int i = 0; i < 3 * nf; i++)
        if (after[1][i] < before[1][i])
            fail_msg("the key's check took a token from flood entry %d (dimension %d): %u -> %u",
                     i / 3, i % 3, before[1][i], after[1][i]);
    /* Later checks, with the slots found this time, stay equal. */
    for (int i = 0; i < 4; i++)
        tw_check(tw, k, 2);
    tw_peek(tw, k, 1);
    tw_advance(tw, 1000); /* (with a small idle_evict_ms this may sweep the key's entries) */
    tw_check(tw, k, 1);
    tw_check(tw, k, 1); /* found where the last one left them: hints known again */
}

/* (a) idle eviction, the freed slots taken by entries of the same kinds. */
static void test_stale_hints_after_idle_eviction(void **state)
{
    (void)state;
    tg_limiter_options o;
    stale_opts(&o);
    o.idle_evict_ms = 1000;
    o.max_keys = 1000; /* one shard: both contexts' tables evolve alike */
    target k = {"stale-ws", "stale-user", "203.0.113.5", NULL, NULL};
    twin tw;
    tw_open(&tw, &o, &k, 1);
    tw_check(&tw, &k, 1); /* creates the entries */
    tw_check(&tw, &k, 1); /* finds them: the key remembers where */
    hints h = remembered(k.key);
    assert_int_equal(h.n, 3);

    /* An hour later every bucket is full and idle; the next check sweeps
     * them away and new entries take the slots: an IP, a workspace, a user
     * (the order the slots were freed in, latest first). */
    tw_advance(&tw, 3600000);
    char buf[FLOOD][3][40];
    target ft[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        ft[i] = flood_target(i, buf);
    for (int i = 0; i < FLOOD; i++)
        both_strings(&tw, &ft[i], 1);
    /* the key's three entries are gone: only the flood's are left */
    assert_int_equal(tracked(tw.f[1].ctx), FLOOD + FLOOD / 3);
    int same_kind = 0, freed = 0;
    int other = stale(&h, k.key, &same_kind, &freed);
    assert_int_equal(other, 3);
    assert_true(same_kind >= 1);
    after_stale(&tw, &k, FLOOD, ft);
    tw_close(&tw, &k, 1);
}

/* (a') idle eviction, the slots left free: an admin call sweeps and
 * creates nothing. */
static void test_stale_hints_to_free_slots(void **state)
{
    (void)state;
    tg_limiter_options o;
    stale_opts(&o);
    o.idle_evict_ms = 1000;
    o.max_keys = 1000;
    target k = {"stale-ws", "stale-user", "203.0.113.5", NULL, NULL};
    twin tw;
    tw_open(&tw, &o, &k, 1);
    BOTH(&tw, tg_limiter_set_trust(ctx_, "keep-ws", "keeper", 0.9)); /* never idle-evicted */
    tw_check(&tw, &k, 1);
    tw_check(&tw, &k, 1);
    hints h = remembered(k.key);
    tw_advance(&tw, 3600000);
    BOTH(&tw, tg_limiter_set_trust(ctx_, "keep-ws", "keeper", 0.8)); /* sweeps */
    assert_int_equal(tracked(tw.f[1].ctx), 1);
    int same_kind = 0, freed = 0;
    assert_int_equal(stale(&h, k.key, &same_kind, &freed), 0);
    assert_int_equal(freed, 3);
    after_stale(&tw, &k, 0, NULL);
    /* and once more, the new entries having been created in other slots */
    h = remembered(k.key);
    tw_advance(&tw, 3600000);
    BOTH(&tw, tg_limiter_set_trust(ctx_, "keep-ws", "keeper", 0.7));
    assert_int_equal(tracked(tw.f[1].ctx), 1);
    assert_int_equal(stale(&h, k.key, &same_kind, &freed), 0);
    assert_int_equal(freed, 3);
    after_stale(&tw, &k, 0, NULL);
    tw_close(&tw, &k, 1);
}

/* (b) eviction at the cap: the slots reused by other keys' entries. */
static void test_stale_hints_after_eviction_at_the_cap(void **state)
{
    (void)state;
    tg_limiter_options o;
    stale_opts(&o);
    o.max_keys = 4; /* room for the key's three entries and one more */
    target k = {"cap-ws", "cap-user", "203.0.113.9", NULL, NULL};
    twin tw;
    tw_open(&tw, &o, &k, 1);
    tw_check(&tw, &k, 1);
    tw_check(&tw, &k, 1);
    tw_check(&tw, &k, 1);
    hints h = remembered(k.key);
    tg_limit_verdict full = tw_peek(&tw, &k, 1);
    assert_int_equal(full.tokens_left, 8 - 4);

    char buf[FLOOD][3][40];
    target ft[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        ft[i] = flood_target(i, buf);
    /* Each flood entry is used twice (so that it is not the first to go),
     * until the key's entries have all been evicted. */
    int nf = 0, other = 0, same_kind = 0, freed = 0;
    for (; nf < FLOOD; nf++) {
        both_strings(&tw, &ft[nf], 1);
        both_strings(&tw, &ft[nf], 1);
        assert_true(tracked(tw.f[1].ctx) <= 4);
        bool gone = true;
        for (int i = 0; i < h.n; i++)
            if (h.e[i]->kind != FREE_SLOT &&
                memcmp(h.e[i]->digest, k.key->plan.keys[i].digest, TG__LDIGEST) == 0)
                gone = false;
        if (gone) {
            nf++;
            break;
        }
    }
    other = stale(&h, k.key, &same_kind, &freed);
    assert_int_equal(other + freed, 3);
    assert_true(other >= 1);
    /* From the outside: the key's entries come back full. */
    assert_int_equal(pk(tw.f[1].ctx, k.ws, k.user, NULL, 1).tokens_left,
                     tier_user[TG_TIER_FREE].burst - 1);
    assert_int_equal(pk(tw.f[0].ctx, k.ws, k.user, NULL, 1).tokens_left,
                     tier_user[TG_TIER_FREE].burst - 1);
    after_stale(&tw, &k, nf, ft);
    tw_close(&tw, &k, 1);
}

/* ---- 5. peek on a key ------------------------------------------------------- */

static void test_peek_key_creates_and_consumes_nothing(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 5;
    o.violations_to_penalize = 1; /* any violation would start a penalty */
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    tg_limiter_key *keys[] = {
        key_new(f.ctx, "acme", "alice", "192.0.2.1"), key_new(f.ctx, "acme", "alice", NULL),
        key_new(f.ctx, "acme", NULL, NULL),           key_new(f.ctx, NULL, NULL, "::1"),
        key_new(f.ctx, NULL, NULL, NULL),
    };
    const size_t nk = sizeof keys / sizeof keys[0];
    assert_int_equal(tracked(f.ctx), 0); /* preparing a key creates nothing */
    for (size_t i = 0; i < nk; i++)
        for (uint32_t cost = 1; cost <= 5; cost++) {
            tg_limit_verdict v = kpk(f.ctx, keys[i], cost);
            assert_int_equal(v.allowed, 1);
            assert_int_equal(tracked(f.ctx), 0);
        }

    /* Tracked entries: peeks take nothing, however often. */
    tg_limit_verdict v = kchk(f.ctx, keys[0], 2);
    size_t n = tracked(f.ctx);
    assert_int_equal(n, 3);
    tg_limit_verdict first = kpk(f.ctx, keys[0], 1);
    assert_int_equal(first.allowed, 1);
    assert_int_equal(first.tokens_left, v.tokens_left - 1);
    for (int i = 0; i < 20; i++) {
        tg_limit_verdict p = kpk(f.ctx, keys[0], 1);
        expect_same(&first, &p, "a peek after peeks");
    }
    assert_int_equal(tracked(f.ctx), n);
    assert_int_equal(kchk(f.ctx, keys[0], 3).tokens_left, 0); /* 5 - 2 - 3 */

    /* Denied peeks count no violation: with violations_to_penalize 1, one
     * would start a penalty. */
    for (int i = 0; i < 20; i++) {
        tg_limit_verdict p = kpk(f.ctx, keys[0], 1);
        assert_int_equal(p.allowed, 0);
        assert_int_equal(p.penalized, 0);
        assert_int_equal(p.dimension, TG_LIMIT_IP);
    }
    f.clock.now_ms += ms_for(1, o.ip.per_minute);
    v = kchk(f.ctx, keys[0], 1);
    assert_int_equal(v.allowed, 1);
    assert_int_equal(tracked(f.ctx), n);
    tg_limit_verdict p = kpk(f.ctx, keys[3], 1); /* still untracked */
    assert_int_equal(p.tokens_left, o.ip.burst - 1);
    assert_int_equal(tracked(f.ctx), n);
    for (size_t i = 0; i < nk; i++)
        tg_limiter_key_free(keys[i]);
    tgt_fixture_close(&f);
}

/* ---- 6. lifetime ------------------------------------------------------------ */

static void test_key_outlives_its_context(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    tg_store *store = NULL;
    tgt_clock clock = {T0};
    tgt_failing_alloc fa;
    tg_ctx *ctx = counted_ctx(&store, &clock, &o, &fa);
    tg_limiter_key *keys[3] = {
        key_new(ctx, "acme", "alice", "192.0.2.1"),
        key_new(ctx, max_id, max_id, "2001:db8::1"),
        key_new(ctx, NULL, NULL, NULL),
    };
    for (int i = 0; i < 3; i++)
        assert_int_equal(kchk(ctx, keys[i], 1).allowed, 1);
    long with_keys = fa.live;
    tg_limiter_key_free(keys[2]); /* one freed before the close */
    assert_true(fa.live < with_keys);
    tg_ctx_close(ctx);
    /* The others are still allocated, through the context's allocator, and
     * can be freed now (under ASan: without touching the context). */
    assert_true(fa.live > 0);
    tg_limiter_key_free(keys[0]);
    tg_limiter_key_free(keys[1]);
    assert_int_equal(fa.live, 0);
    tg_store_close(store);
}

/* An allocator that hands the block freed last back to the next request
 * of its size (as malloc's caches do), so that a context opened after
 * another was closed gets the same address for certain. */
typedef struct pool_block {
    void *p;
    size_t size;
    unsigned long freed; /* when it was freed (0: in use) */
} pool_block;

static pool_block pool_blocks[4096];
static int pool_n;
static unsigned long pool_clock;

static pool_block *pool_find(const void *p)
{
    for (int i = 0; i < pool_n; i++)
        if (pool_blocks[i].p == p)
            return &pool_blocks[i];
    fail_msg("pool: %p was not allocated here", p);
    return NULL;
}

static void *pool_malloc(void *user, size_t size)
{
    (void)user;
    pool_block *last = NULL;
    for (int i = 0; i < pool_n; i++)
        if (pool_blocks[i].freed && pool_blocks[i].size == size &&
            (!last || pool_blocks[i].freed > last->freed))
            last = &pool_blocks[i];
    if (last) {
        last->freed = 0;
        return last->p;
    }
    if (pool_n == (int)(sizeof pool_blocks / sizeof pool_blocks[0]))
        fail_msg("pool: full");
    void *p = malloc(size);
    if (p)
        pool_blocks[pool_n++] = (pool_block){p, size, 0};
    return p;
}

static void pool_free(void *user, void *p)
{
    (void)user;
    if (p)
        pool_find(p)->freed = ++pool_clock;
}

static void *pool_realloc(void *user, void *p, size_t size)
{
    void *q = pool_malloc(user, size);
    if (q && p) {
        pool_block *old = pool_find(p);
        memcpy(q, p, old->size < size ? old->size : size);
        pool_free(user, p);
    }
    return q;
}

static tg_ctx *pool_ctx(tg_store *store, tgt_clock *clock, uint32_t max_keys)
{
    static const tg_allocator pool = {TG_ALLOCATOR_VERSION, sizeof(tg_allocator), NULL,
                                      pool_malloc, pool_realloc, pool_free};
    tg_limiter_options o;
    base_opts(&o);
    o.max_keys = max_keys;
    tg_config cfg;
    tgt_config(&cfg, store, clock);
    cfg.limiter = &o;
    cfg.allocator = &pool;
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    return ctx;
}

/* A key kept after its context closed is refused by the next context, even
 * one at the same address: its digests are under the old context's hash
 * key and its shard numbers for the old shard count (with fewer shards,
 * taking its locks would write outside the shard array). */
static void test_key_refused_by_a_later_context_at_the_same_address(void **state)
{
    (void)state;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tgt_clock clock = {T0};
    /* The same cap first: without the check that is a wrong verdict, with
     * fewer shards a write outside the shard array. */
    for (int same_size = 1; same_size >= 0; same_size--) {
        tg_ctx *a = pool_ctx(store, &clock, 0); /* the default cap: 64 shards */
        tg_limiter_key *key = key_new(a, "acme", "alice", "192.0.2.1");
        assert_int_equal(kchk(a, key, 1).allowed, 1);
        tg_ctx_close(a);
        tg_ctx *b = pool_ctx(store, &clock, same_size ? 0 : 1000); /* 1000: one shard */
        assert_ptr_equal(b, a); /* what the test is about */
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        EXPECT_ERR(TG_EINVAL, tg_limiter_check_key(b, &v, key, 1));
        EXPECT_ERR(TG_EINVAL, tg_limiter_peek_key(b, &v, key, 1));
        assert_int_equal(tracked(b), 0);
        tg_limiter_key_free(key);
        tg_ctx_close(b);
    }
    tg_store_close(store);
    for (int i = 0; i < pool_n; i++) {
        assert_true(pool_blocks[i].freed); /* nothing leaked */
        free(pool_blocks[i].p);
    }
    pool_n = 0;
}

static void test_key_copies_its_identifiers(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 50;
    tgt_fixture f;
    tgt_fixture_open(&f, T0, &o);
    char ws[TG_ID_MAX + 1], user[TG_ID_MAX + 1], ip[64];
    snprintf(ws, sizeof ws, "copied-ws");
    snprintf(user, sizeof user, "copied-user");
    snprintf(ip, sizeof ip, "2001:db8::42");
    tg_limiter_key *k = key_new(f.ctx, ws, user, ip);
    /* Overwrite the sources (other valid ids, then garbage). */
    snprintf(ws, sizeof ws, "other-ws");
    snprintf(user, sizeof user, "other-user");
    snprintf(ip, sizeof ip, "192.0.2.99");
    assert_int_equal(kchk(f.ctx, k, 3).allowed, 1);
    memset(ws, 0xff, sizeof ws - 1);
    memset(user, '\n', sizeof user - 1);
    memset(ip, 'z', sizeof ip - 1);
    assert_int_equal(kchk(f.ctx, k, 2).allowed, 1);
    /* The key charged the ids it was given, not what its buffers hold now. */
    const uint32_t ub = tier_user[TG_TIER_FREE].burst;
    assert_int_equal(pk(f.ctx, "copied-ws", "copied-user", NULL, 1).tokens_left, ub - 6);
    assert_int_equal(pk(f.ctx, NULL, NULL, "2001:db8::42", 1).tokens_left, o.ip.burst - 6);
    assert_int_equal(pk(f.ctx, "other-ws", "other-user", NULL, 1).tokens_left, ub - 1);
    assert_int_equal(pk(f.ctx, NULL, NULL, "192.0.2.99", 1).tokens_left, o.ip.burst - 1);
    assert_int_equal(tracked(f.ctx), 3);
    tg_limiter_key_free(k);
    tgt_fixture_close(&f);
}

/* ---- 7. allocation failure -------------------------------------------------- */

static void test_key_allocation_failures(void **state)
{
    (void)state;
    tg_limiter_options o;
    base_opts(&o);
    o.ip.per_minute = 60;
    o.ip.burst = 5000;
    tg_store *store = NULL;
    tgt_clock clock = {T0};
    tgt_failing_alloc fa;
    tg_ctx *ctx = counted_ctx(&store, &clock, &o, &fa);
    static char dummy_storage;
    tg_limiter_key *const dummy = (tg_limiter_key *)(void *)&dummy_storage;

    /* key_new: each of its allocations in turn fails, until none does. */
    long k;
    tg_limiter_key *key = NULL;
    for (k = 1; k < 100; k++) {
        long live = fa.live;
        fa.fail_at = fa.calls + k;
        key = dummy;
        arm();
        int rc = tg_limiter_key_new(ctx, &key, "acme", "alice", "192.0.2.1");
        fa.fail_at = 0;
        if (rc == TG_OK)
            break;
        assert_int_equal(rc, TG_ENOMEM);
        assert_null(key);
        assert_int_equal(fa.live, live);
        expect_own_message("key_new: TG_ENOMEM");
    }
    assert_true(k > 1); /* a key is allocated through the context's allocator */
    assert_true(k < 100);
    assert_non_null(key);
    assert_int_equal(tracked(ctx), 0);
    tg_limiter_key_free(key);

    /* Checks on keys: every other check's first allocation fails; it takes
     * nothing, and the same key's next check works. */
    char ws[32], user[32];
    uint32_t passed = 0, enomem = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(ws, sizeof ws, "nomem-ws-%d", i);
        snprintf(user, sizeof user, "nomem-user-%d", i);
        key = key_new(ctx, ws, user, "192.0.2.1");
        uint32_t took = 0;
        if (i % 2 == 0) {
            fa.fail_at = fa.calls + 1;
            tg_limit_verdict v;
            tg_limit_verdict_init(&v);
            arm();
            int rc = tg_limiter_check_key(ctx, &v, key, 1);
            fa.fail_at = 0;
            if (rc == TG_ENOMEM) {
                enomem++;
                expect_own_message("check_key: TG_ENOMEM");
                tg_limit_verdict p = kpk(ctx, key, 1);
                assert_int_equal(p.allowed, 1);
                assert_int_equal(p.tokens_left, tier_user[TG_TIER_FREE].burst - 1);
            } else {
                assert_int_equal(rc, TG_OK);
                assert_int_equal(v.allowed, 1);
                passed++;
                took++;
            }
        }
        for (int j = 0; j < 2; j++) {
            tg_limit_verdict v = kchk(ctx, key, 1);
            assert_int_equal(v.allowed, 1);
            passed++;
            took++;
        }
        /* the user paid for this key's checks that passed, and only those */
        assert_int_equal(pk(ctx, ws, user, NULL, 1).tokens_left,
                         tier_user[TG_TIER_FREE].burst - 1 - took);
        tg_limiter_key_free(key);
    }
    if (enomem == 0)
        fail_msg("1000 new users and workspaces and not one allocation through the "
                 "context's allocator");
    /* The IP paid for the checks that passed, not for those that failed. */
    tg_limiter_key *ipk = key_new(ctx, NULL, NULL, "192.0.2.1");
    assert_int_equal(kdrain(ctx, ipk, TG_LIMIT_IP), 5000 - passed);
    tg_limiter_key_free(ipk);
    tg_ctx_close(ctx);
    assert_int_equal(fa.live, 0);
    tg_store_close(store);
}

int main(void)
{
    make_ids();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_new_rejects_bad_input),
        cmocka_unit_test(test_check_and_peek_key_reject_bad_input),
        cmocka_unit_test(test_key_verdict_struct_size_is_respected),
        cmocka_unit_test(test_keys_give_the_verdicts_strings_give),
        cmocka_unit_test(test_keys_give_the_verdicts_strings_give_at_the_cap),
        cmocka_unit_test(test_strings_and_keys_share_buckets),
        cmocka_unit_test(test_stale_hints_after_idle_eviction),
        cmocka_unit_test(test_stale_hints_to_free_slots),
        cmocka_unit_test(test_stale_hints_after_eviction_at_the_cap),
        cmocka_unit_test(test_peek_key_creates_and_consumes_nothing),
        cmocka_unit_test(test_key_outlives_its_context),
        cmocka_unit_test(test_key_refused_by_a_later_context_at_the_same_address),
        cmocka_unit_test(test_key_copies_its_identifiers),
        cmocka_unit_test(test_key_allocation_failures),
    };
    return cmocka_run_group_tests(tests, load_tiers, NULL);
}
