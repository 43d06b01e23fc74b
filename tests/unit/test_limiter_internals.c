/*
 * test_limiter_internals.c - the limiter's parts on their own (white box):
 * token bucket arithmetic at its edges (huge and negative elapsed times,
 * 1 token a minute, the largest bursts, against 128-bit reference math),
 * trust scaling, the penalty schedule, the sharded table (growth, CLOCK
 * eviction at the cap, pinning, the paced idle sweep, reuse of freed
 * entries, allocation failure, memory per entry), keys (digests, backend
 * key strings, the IPv4 parser against inet_pton), and leases from a shared
 * backend driven through the public API with a fake backend.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "support.h"
#include "limiter/backend.h"
#include "limiter/bucket.h"
#include "limiter/limiter_impl.h"
#include "limiter/penalty.h"
#include "limiter/table.h"

#define U TG__UNITS
#define T0 INT64_C(1760000000000)

/* ---- bucket arithmetic ------------------------------------------------------ */

/* The same as tg__bucket_level, in 128-bit arithmetic. */
static int64_t ref_level(int64_t tokens, int64_t last, int64_t now, uint32_t rate, uint32_t burst)
{
    __int128 cap = (__int128)burst * U;
    if (tokens >= cap)
        return (int64_t)cap;
    if (tokens < 0)
        tokens = 0;
    if (now <= last || rate == 0)
        return tokens;
    __int128 v = (__int128)tokens + ((__int128)now - last) * rate;
    return (int64_t)(v > cap ? cap : v);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_bucket_level_edges(void **state)
{
    (void)state;
    /* 1 token a minute: 1 unit a ms, a whole token after exactly 60 s. */
    assert_int_equal(tg__bucket_level(0, 0, 59999, 1, 10), 59999);
    assert_int_equal(tg__bucket_whole(tg__bucket_level(0, 0, 59999, 1, 10)), 0);
    assert_int_equal(tg__bucket_whole(tg__bucket_level(0, 0, 60000, 1, 10)), 1);
    /* Full, TG__FULL and above the cap all read as the cap. */
    assert_int_equal(tg__bucket_level(TG__FULL, 0, 0, 1, 10), 10 * U);
    assert_int_equal(tg__bucket_level(11 * U, 5, 0, 1, 10), 10 * U);
    /* A clock that went back refills nothing; negative levels read as 0. */
    assert_int_equal(tg__bucket_level(5, 1000, 10, 7, 10), 5);
    assert_int_equal(tg__bucket_level(-5, 1000, 10, 7, 10), 0);
    /* Elapsed times that overflow anything narrower than 128 bits. */
    assert_int_equal(tg__bucket_level(0, INT64_MIN, INT64_MAX, UINT32_MAX, UINT32_MAX),
                     (int64_t)UINT32_MAX * U);
    assert_int_equal(tg__bucket_level(0, 0, INT64_MAX, 1, TG_LIMIT_BURST_MAX),
                     (int64_t)TG_LIMIT_BURST_MAX * U);
    assert_int_equal(tg__bucket_level(0, -1, INT64_MAX, TG_LIMIT_RATE_MAX, 1), U);
    /* Just below and above 2^31 ms elapsed (the multiply's guard). */
    int64_t e = INT64_C(1) << 31;
    assert_int_equal(tg__bucket_level(0, 0, e - 1, 1, TG_LIMIT_BURST_MAX), e - 1);
    assert_int_equal(tg__bucket_level(0, 0, e, 1, TG_LIMIT_BURST_MAX), e);
    assert_int_equal(tg__bucket_level(0, 0, e + 1, 2, UINT32_MAX), 2 * (e + 1));
    /* Random inputs against the 128-bit reference. */
    for (int i = 0; i < 200000; i++) {
        uint32_t burst = (uint32_t)(next_rand() % 4 == 0 ? next_rand() : next_rand() % 1000 + 1);
        uint32_t rate = (uint32_t)(next_rand() % 4 == 0 ? next_rand() : next_rand() % 100000);
        int64_t tokens = (int64_t)(next_rand() % ((uint64_t)burst * U + 2)) - 1;
        int64_t last = (int64_t)next_rand();
        __int128 when;
        switch (next_rand() % 4) {
        case 0: when = (__int128)last + (int64_t)(next_rand() % 100000); break;
        case 1: when = (int64_t)next_rand(); break;
        case 2: when = (__int128)last - (int64_t)(next_rand() % 1000); break;
        default: when = (__int128)last + (int64_t)(next_rand() % (UINT64_C(1) << 40)); break;
        }
        if (when > INT64_MAX || when < INT64_MIN)
            continue; /* not a time int64 can hold */
        int64_t now = (int64_t)when;
        int64_t got = tg__bucket_level(tokens, last, now, rate, burst);
        int64_t want = ref_level(tokens, last, now, rate, burst);
        if (got != want)
            fail_msg("level(%lld, %lld, %lld, %u, %u) = %lld, want %lld", (long long)tokens,
                     (long long)last, (long long)now, rate, burst, (long long)got,
                     (long long)want);
    }
}

static void test_bucket_wait_and_full(void **state)
{
    (void)state;
    assert_int_equal(tg__bucket_wait(5 * U, 0, 0, 7, 5 * U), 0);
    /* 3 tokens at 7 a minute: ceil(180000 / 7) = 25715 ms. */
    assert_int_equal(tg__bucket_wait(U, 0, 0, 7, 4 * U), 25715);
    assert_int_equal(tg__bucket_wait(0, 0, 0, 1, U), 60000);
    assert_int_equal(tg__bucket_wait(U - 1, 0, 0, 1, U), 1);
    assert_int_equal(tg__bucket_wait(-100, 0, 0, 1, U), 60000);
    assert_int_equal(tg__bucket_wait(0, 0, 0, 0, U), INT64_MAX);
    /* Refilling starts at `last` when the clock is behind it. */
    assert_int_equal(tg__bucket_wait(0, 1000, 400, 60000, U), 601);
    assert_int_equal(tg__bucket_wait(0, INT64_MAX, INT64_MIN, 1, U), INT64_MAX);
    /* The largest bucket, drained, at the slowest rate. */
    assert_int_equal(tg__bucket_wait(0, 0, 0, 1, (int64_t)TG_LIMIT_BURST_MAX * U),
                     (int64_t)TG_LIMIT_BURST_MAX * U);

    assert_int_equal(tg__bucket_whole(-1), 0);
    assert_int_equal(tg__bucket_whole(U - 1), 0);
    assert_int_equal(tg__bucket_whole(U), 1);
    assert_int_equal(tg__bucket_whole(INT64_MAX), UINT32_MAX);

    assert_true(tg__bucket_full(TG__FULL, 0, 0, 0, 0));
    assert_true(tg__bucket_full(10 * U, 0, 0, 1, 10));
    assert_false(tg__bucket_full(10 * U - 1, 0, 0, 1, 10));
    assert_true(tg__bucket_full(10 * U - 1, 0, 1, 1, 10));
    assert_false(tg__bucket_full(0, 0, 1000, 0, 10)); /* no rate: never refills */
}

static void test_trust_scaling(void **state)
{
    (void)state;
    assert_int_equal(tg__trust_factor_ppm(0.0), 250000);
    assert_int_equal(tg__trust_factor_ppm(0.25), 625000);
    assert_int_equal(tg__trust_factor_ppm(0.5), 1000000);
    assert_int_equal(tg__trust_factor_ppm(0.7), 1400000);
    assert_int_equal(tg__trust_factor_ppm(0.75), 1500000);
    assert_int_equal(tg__trust_factor_ppm(1.0), 2000000);
    assert_int_equal(tg__trust_factor_ppm(-3.0), 250000);
    assert_int_equal(tg__trust_factor_ppm(7.0), 2000000);
    assert_int_equal(tg__trust_factor_ppm(0.0 / 0.0), 1000000);
    /* Monotonic over the whole range. */
    uint32_t prev = 0;
    for (int i = 0; i <= 1000; i++) {
        uint32_t f = tg__trust_factor_ppm(i / 1000.0);
        assert_true(f >= prev);
        prev = f;
    }

    tg_limit base = {30, 10}, l;
    l = tg__limit_scale(base, 0.5);
    assert_int_equal(l.per_minute, 30);
    assert_int_equal(l.burst, 10);
    l = tg__limit_scale(base, 0.0); /* 7.5 and 2.5, rounded down */
    assert_int_equal(l.per_minute, 7);
    assert_int_equal(l.burst, 2);
    l = tg__limit_scale(base, 0.7); /* exactly 1.4x despite 0.7's binary form */
    assert_int_equal(l.per_minute, 42);
    assert_int_equal(l.burst, 14);
    l = tg__limit_scale((tg_limit){1, 1}, 0.0); /* at least 1 */
    assert_int_equal(l.per_minute, 1);
    assert_int_equal(l.burst, 1);
    l = tg__limit_scale((tg_limit){TG_LIMIT_RATE_MAX, TG_LIMIT_BURST_MAX}, 1.0); /* capped */
    assert_int_equal(l.per_minute, TG_LIMIT_RATE_MAX);
    assert_int_equal(l.burst, TG_LIMIT_BURST_MAX);

    l = tg__limit_override((tg_limit){30, 10}, 6);
    assert_int_equal(l.per_minute, 6);
    assert_int_equal(l.burst, 2);
    l = tg__limit_override((tg_limit){30, 10}, 1); /* 1/3, at least 1 */
    assert_int_equal(l.burst, 1);
    l = tg__limit_override((tg_limit){30, 10}, TG_LIMIT_RATE_MAX); /* capped */
    assert_int_equal(l.burst, TG_LIMIT_BURST_MAX);
}

/* ---- penalties ------------------------------------------------------------------ */

static const tg__penalty_cfg PEN = {3, 10000, 60000, 5, 3600000, 1800000};

static void test_penalty_schedule(void **state)
{
    (void)state;
    assert_int_equal(tg__penalty_period(&PEN, 1), 60000);
    assert_int_equal(tg__penalty_period(&PEN, 2), 300000);
    assert_int_equal(tg__penalty_period(&PEN, 3), 1500000);
    assert_int_equal(tg__penalty_period(&PEN, 4), 3600000);
    assert_int_equal(tg__penalty_period(&PEN, 255), 3600000);
    tg__penalty_cfg flat = PEN;
    flat.factor = 1;
    assert_int_equal(tg__penalty_period(&flat, 200), 60000);
    tg__penalty_cfg wide = {1, 1, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1};
    assert_int_equal(tg__penalty_period(&wide, 255), UINT32_MAX); /* no overflow */

    tg__penalty p = {0, 0, 0, 0, 0};
    int64_t t = T0;
    assert_false(tg__penalty_violation(&PEN, &p, t));
    assert_false(tg__penalty_violation(&PEN, &p, t + 5000));
    assert_false(tg__penalty_clear(&PEN, &p, t + 5000)); /* violations in a live window */
    assert_true(tg__penalty_violation(&PEN, &p, t + 9999));
    assert_int_equal(p.level, 1);
    assert_int_equal(p.until, t + 9999 + 60000);
    assert_true(tg__penalty_active(&p, t + 9999 + 59999));
    assert_false(tg__penalty_active(&p, t + 9999 + 60000));
    /* The level decays one step per quiet decay period after the period. */
    int64_t end = p.until;
    assert_int_equal(tg__penalty_level(&PEN, &p, end + 1799999), 1);
    assert_int_equal(tg__penalty_level(&PEN, &p, end + 1800000), 0);
    assert_false(tg__penalty_clear(&PEN, &p, end + 1799999));
    assert_true(tg__penalty_clear(&PEN, &p, end + 1800000));

    /* Violations further apart than the window never add up. */
    tg__penalty q = {0, 0, 0, 0, 0};
    for (int i = 0; i < 10; i++)
        assert_false(tg__penalty_violation(&PEN, &q, t + i * 10000));
    assert_int_equal(q.level, 0);

    /* Escalation from a decayed level. */
    tg__penalty r = {0, 0, 0, 0, 0};
    tg__penalty_start(&PEN, &r, t, 0);
    tg__penalty_start(&PEN, &r, r.until, 0);
    assert_int_equal(r.level, 2);
    assert_int_equal(r.until - r.quiet, 0);
    tg__penalty_start(&PEN, &r, r.until + 2 * 1800000, 0); /* decayed to 0, then 1 */
    assert_int_equal(r.level, 1);
    /* An explicit duration, and times at the end of int64. */
    tg__penalty_start(&PEN, &r, INT64_MAX - 10, 1000); /* long decayed: level 1 again */
    assert_int_equal(r.until, INT64_MAX);
    assert_int_equal(r.level, 1);
    tg__penalty_start(&PEN, &r, INT64_MAX - 5, 0);
    assert_int_equal(r.level, 2);
    assert_int_equal(r.until, INT64_MAX);
    tg__penalty s = {0, 0, 0, 0, TG__PENALTY_LEVEL_MAX};
    tg__penalty_start(&PEN, &s, 0, 0);
    assert_int_equal(s.level, TG__PENALTY_LEVEL_MAX);
}

/* ---- the table ------------------------------------------------------------------ */

static void digest_of(uint8_t d[TG__LDIGEST], uint32_t n)
{
    /* Spread like SipHash output would be. */
    crypto_generichash(d, TG__LDIGEST, (const uint8_t *)&n, sizeof n, NULL, 0);
}

static tg__lref get_new(tg__ltable *t, uint32_t shard, uint32_t n, int64_t now)
{
    uint8_t d[TG__LDIGEST];
    digest_of(d, n);
    tg__lref r;
    assert_int_equal(tg__ltable_get(t, shard, d, TG_LIMIT_IP, now, &r), TG_OK);
    return r;
}

static bool present(tg__ltable *t, uint32_t shard, uint32_t n)
{
    uint8_t d[TG__LDIGEST];
    digest_of(d, n);
    tg__lref r;
    return tg__ltable_find(t, shard, d, &r);
}

static void put(tg__ltable *t, uint32_t n, int64_t now)
{
    uint8_t d[TG__LDIGEST];
    digest_of(d, n);
    uint32_t s = tg__ltable_shard_of(t, d);
    tg__ltable_lock(t, s);
    tg__lref r;
    assert_int_equal(tg__ltable_get(t, s, d, TG_LIMIT_IP, now, &r), TG_OK);
    tg__lentry_unpin(r.e);
    tg__ltable_release(t, s);
    tg__ltable_unlock(t, s);
}

/* A clock before 0 (tests drive one): the zero state is no period, and a
 * period that would end at exactly 0 ends at 1 instead. */
static void test_penalty_before_zero(void **state)
{
    (void)state;
    tg__penalty none = {0, 0, 0, 0, 0};
    assert_false(tg__penalty_active(&none, -1));
    assert_false(tg__penalty_active(&none, INT64_MIN));
    assert_true(tg__penalty_clear(&PEN, &none, -5000000));
    tg__penalty p = {0, 0, 0, 0, 0};
    tg__penalty_start(&PEN, &p, -60000, 0); /* the first period is 60000 ms */
    assert_int_equal(p.until, 1);
    assert_true(tg__penalty_active(&p, -60000));
    assert_true(tg__penalty_active(&p, 0));
    assert_false(tg__penalty_active(&p, 1));
    tg__penalty q = {0, 0, 0, 0, 0};
    tg__penalty_start(&PEN, &q, -120000, 0);
    assert_int_equal(q.until, -60000);
    assert_true(tg__penalty_active(&q, -60001));
    assert_false(tg__penalty_active(&q, -60000));
}

static void test_table_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(tg__lentry), 64); /* one cache line */
    assert_int_equal(sizeof(tg__lcold), 40);
    assert_int_equal(tg_limiter_bytes_per_key(), tg__ltable_bytes_per_key());
    /* 64 + 40, 8 of index at load 1/2, 1 for page overheads */
    assert_int_equal(tg_limiter_bytes_per_key(), 64 + 40 + 8 + 1);
}

static void test_table_growth_and_lookup(void **state)
{
    (void)state;
    tg__ltable *t = NULL;
    const uint32_t n = 20000;
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), n, 1, 1000), TG_OK);
    assert_int_equal(tg__ltable_shards(t), 1);
    tg__ltable_lock(t, 0);
    uint32_t buckets = 0, entries = 0, cap = 0, slots = 0;
    tg__ltable_shard_stats(t, 0, &entries, &buckets, &cap, &slots);
    assert_int_equal(buckets, 0); /* nothing allocated before the first entry */
    assert_int_equal(cap, n);
    for (uint32_t i = 0; i < n; i++) {
        tg__lref r = get_new(t, 0, i, T0);
        assert_int_equal(r.e->kind, TG_LIMIT_IP);
        assert_true(r.e->tokens == TG__FULL);
        assert_int_equal(r.e->last, T0);
        assert_true((uintptr_t)r.e % 64 == 0);
        r.e->rate = i; /* a mark to find again */
        tg__lentry_unpin(r.e);
        tg__ltable_shard_stats(t, 0, &entries, &buckets, NULL, NULL);
        assert_int_equal(entries, i + 1);
        assert_true(entries <= buckets && buckets <= 2 * entries + 16); /* load in (1/2, 1] */
    }
    for (uint32_t i = 0; i < n; i++) {
        uint8_t d[TG__LDIGEST];
        digest_of(d, i);
        tg__lref r;
        assert_true(tg__ltable_find(t, 0, d, &r));
        assert_int_equal(r.e->rate, i);
        assert_memory_equal(r.e->digest, d, TG__LDIGEST);
    }
    assert_false(present(t, 0, n + 1));
    tg__ltable_unlock(t, 0);
    assert_int_equal(tg__ltable_count(t), n);
    tg__ltable_close(t);

    /* The default shard count follows max_keys. */
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 2000000, 0, 1000), TG_OK);
    assert_int_equal(tg__ltable_shards(t), 64);
    /* and digests spread across shards */
    uint32_t hits[64] = {0};
    for (uint32_t i = 0; i < 64000; i++) {
        uint8_t d[TG__LDIGEST];
        digest_of(d, i);
        hits[tg__ltable_shard_of(t, d)]++;
    }
    for (int s = 0; s < 64; s++)
        assert_true(hits[s] > 800 && hits[s] < 1200);
    tg__ltable_close(t);
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 1000, 0, 1000), TG_OK);
    assert_int_equal(tg__ltable_shards(t), 1);
    tg__ltable_close(t);
}

static void test_table_clock_eviction(void **state)
{
    (void)state;
    tg__ltable *t = NULL;
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 8, 1, 1000), TG_OK);
    for (uint32_t i = 0; i < 8; i++)
        put(t, i, T0);
    /* 0..3 used again: referenced. */
    for (uint32_t i = 0; i < 4; i++)
        put(t, i, T0);
    /* Four newcomers evict the four unreferenced entries, not 0..3. */
    for (uint32_t i = 100; i < 104; i++)
        put(t, i, T0);
    assert_int_equal(tg__ltable_count(t), 8);
    tg__ltable_lock(t, 0);
    for (uint32_t i = 0; i < 4; i++)
        assert_true(present(t, 0, i));
    for (uint32_t i = 4; i < 8; i++)
        assert_false(present(t, 0, i));
    for (uint32_t i = 100; i < 104; i++)
        assert_true(present(t, 0, i));
    tg__ltable_unlock(t, 0);
    /* A flood of one-off keys keeps the cap and evicts itself. */
    for (uint32_t i = 1000; i < 2000; i++) {
        put(t, i, T0);
        assert_true(tg__ltable_count(t) <= 8);
    }
    tg__ltable_close(t);
}

static void test_table_pinned_entries_survive_the_cap(void **state)
{
    (void)state;
    tg__ltable *t = NULL;
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 2, 1, 1000), TG_OK);
    tg__ltable_lock(t, 0);
    tg__lref a = get_new(t, 0, 1, T0), b = get_new(t, 0, 2, T0), c = get_new(t, 0, 3, T0);
    /* All three pinned: the shard is over its cap, every entry intact. */
    uint32_t entries = 0;
    tg__ltable_shard_stats(t, 0, &entries, NULL, NULL, NULL);
    assert_int_equal(entries, 3);
    assert_true(present(t, 0, 1) && present(t, 0, 2) && present(t, 0, 3));
    a.e->rate = 11;
    b.e->rate = 22;
    c.e->rate = 33;
    tg__lentry_unpin(a.e);
    tg__lentry_unpin(b.e);
    tg__lentry_unpin(c.e);
    tg__ltable_release(t, 0); /* trims back to the cap */
    tg__ltable_shard_stats(t, 0, &entries, NULL, NULL, NULL);
    assert_int_equal(entries, 2);
    tg__ltable_unlock(t, 0);
    tg__ltable_close(t);
}

static void test_table_reuses_freed_entries(void **state)
{
    (void)state;
    tg__ltable *t = NULL;
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 1000, 1, 1000), TG_OK);
    tg__ltable_lock(t, 0);
    for (uint32_t round = 0; round < 10; round++) {
        for (uint32_t i = 0; i < 300; i++)
            tg__lentry_unpin(get_new(t, 0, round * 1000 + i, T0).e);
        for (uint32_t i = 0; i < 300; i++) {
            uint8_t d[TG__LDIGEST];
            digest_of(d, round * 1000 + i);
            tg__lref r;
            assert_true(tg__ltable_find(t, 0, d, &r));
            tg__ltable_remove(t, 0, r.e);
        }
    }
    uint32_t entries = 0, slots = 0;
    tg__ltable_shard_stats(t, 0, &entries, NULL, NULL, &slots);
    assert_int_equal(entries, 0);
    assert_int_equal(slots, 2 * TG__LPAGE); /* 300 entries' worth, reused ten times */
    tg__ltable_unlock(t, 0);
    tg__ltable_close(t);
}

static bool evict_even(const tg__lentry *e, const tg__lcold *c, int64_t now, void *arg)
{
    (void)c;
    (void)now;
    int *asked = arg;
    (*asked)++;
    return e->rate % 2 == 0;
}

static bool evict_all(const tg__lentry *e, const tg__lcold *c, int64_t now, void *arg)
{
    (void)e;
    (void)c;
    (void)now;
    (*(int *)arg)++;
    return true;
}

static void test_table_idle_sweep(void **state)
{
    (void)state;
    tg__ltable *t = NULL;
    assert_int_equal(tg__ltable_open(&t, tg__default_allocator(), 1000, 1, 1000), TG_OK);
    tg__ltable_lock(t, 0);
    for (uint32_t i = 0; i < 100; i++) {
        tg__lref r = get_new(t, 0, i, T0);
        r.e->rate = i;
        tg__lentry_unpin(r.e);
    }
    int asked = 0;
    /* Nothing is idle yet: the predicate is never asked. */
    tg__ltable_sweep(t, 0, T0 + 999, evict_even, &asked);
    assert_int_equal(asked, 0);
    /* Idle later; each sweep visits TG__LSWEEP entries, and sweeps are
     * paced: a second one at the same time does nothing. */
    tg__ltable_sweep(t, 0, T0 + 2000, evict_even, &asked);
    assert_int_equal(asked, TG__LSWEEP);
    tg__ltable_sweep(t, 0, T0 + 2000, evict_even, &asked);
    assert_int_equal(asked, TG__LSWEEP);
    /* A whole pass within the idle time (about half of it per pass at a
     * steady count; here the count falls as entries go). */
    int64_t now = T0 + 2000;
    for (int k = 0; k < 1000 && asked < 100; k++) {
        now += 10;
        tg__ltable_sweep(t, 0, now, evict_even, &asked);
    }
    assert_true(asked >= 100);
    assert_true(now - (T0 + 2000) <= 1000);
    uint32_t entries = 0;
    tg__ltable_shard_stats(t, 0, &entries, NULL, NULL, NULL);
    assert_int_equal(entries, 50); /* the odd ones were kept */
    for (uint32_t i = 0; i < 100; i++)
        assert_int_equal(present(t, 0, i), i % 2 == 1);
    /* Pinned entries are never offered. */
    tg__lref p = get_new(t, 0, 1, T0 - 5000); /* existing, pinned */
    asked = 0;
    for (int k = 0; k < 50; k++)
        tg__ltable_sweep(t, 0, now + 1000 * (k + 1), evict_all, &asked);
    assert_true(present(t, 0, 1));
    tg__ltable_shard_stats(t, 0, &entries, NULL, NULL, NULL);
    assert_int_equal(entries, 1);
    tg__lentry_unpin(p.e);
    tg__ltable_unlock(t, 0);
    tg__ltable_close(t);
}

/* An allocator that counts live bytes and can fail. */
typedef struct counting {
    tg_allocator ops;
    size_t live, peak;
    long calls, fail_at;
} counting;

typedef struct hdr {
    size_t n;
    max_align_t pad;
} hdr;

static void *c_malloc(void *user, size_t n)
{
    counting *c = user;
    if (++c->calls == c->fail_at)
        return NULL;
    hdr *h = malloc(sizeof *h + n);
    if (!h)
        return NULL;
    h->n = n;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return h + 1;
}

static void *c_realloc(void *user, void *p, size_t n)
{
    (void)user;
    (void)p;
    (void)n;
    return NULL; /* the limiter never reallocates */
}

static void c_free(void *user, void *p)
{
    counting *c = user;
    if (!p)
        return;
    hdr *h = (hdr *)p - 1;
    c->live -= h->n;
    free(h);
}

static void counting_init(counting *c, long fail_at)
{
    memset(c, 0, sizeof *c);
    c->ops = (tg_allocator){TG_ALLOCATOR_VERSION, sizeof(tg_allocator), c, c_malloc, c_realloc,
                            c_free};
    c->fail_at = fail_at;
}

/* What tg_limiter_bytes_per_key promises: per entry, at most that, plus a
 * fixed part per shard (one partly used page, the page table, the smallest
 * index) that does not grow with the number of entries. */
static void test_table_memory_per_key(void **state)
{
    (void)state;
    const size_t per_shard_fixed = TG__LPAGE * (sizeof(tg__lentry) + sizeof(tg__lcold)) + 64 +
                                   4 * 3 * sizeof(void *) + 16 * sizeof(uint32_t);
    const uint32_t counts[] = {1, 255, 256, 257, 4097, 65537, 200000};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        counting c;
        counting_init(&c, 0);
        tg__ltable *t = NULL;
        assert_int_equal(tg__ltable_open(&t, &c.ops, counts[k], 1, 1000), TG_OK);
        size_t base = c.live;
        tg__ltable_lock(t, 0);
        for (uint32_t i = 0; i < counts[k]; i++)
            tg__lentry_unpin(get_new(t, 0, i, T0).e);
        tg__ltable_unlock(t, 0);
        size_t used = c.live - base;
        size_t bound = (size_t)counts[k] * tg_limiter_bytes_per_key() + per_shard_fixed;
        if (used > bound)
            fail_msg("%u entries use %zu bytes, bound %zu", counts[k], used, bound);
        if (counts[k] >= 65537)
            printf("# %u entries: %.1f bytes each (bound %zu)\n", counts[k],
                   (double)used / counts[k], tg_limiter_bytes_per_key());
        tg__ltable_close(t);
        assert_int_equal(c.live, 0);
    }
}

static void test_table_allocation_failures(void **state)
{
    (void)state;
    /* Every allocation of a growing table fails once, in turn: the call
     * that hit it says TG_ENOMEM or carries on without growing the index,
     * and the table stays whole. */
    for (long fail = 1; fail < 40; fail++) {
        counting c;
        counting_init(&c, fail);
        tg__ltable *t = NULL;
        if (tg__ltable_open(&t, &c.ops, 5000, 2, 1000) != TG_OK) {
            assert_int_equal(c.live, 0);
            continue;
        }
        uint32_t ok = 0;
        for (uint32_t i = 0; i < 1000; i++) {
            uint8_t d[TG__LDIGEST];
            digest_of(d, i);
            uint32_t s = tg__ltable_shard_of(t, d);
            tg__ltable_lock(t, s);
            tg__lref r;
            int rc = tg__ltable_get(t, s, d, TG_LIMIT_USER, T0, &r);
            if (rc == TG_OK) {
                ok++;
                tg__lentry_unpin(r.e);
            } else {
                assert_int_equal(rc, TG_ENOMEM);
                assert_false(tg__ltable_find(t, s, d, &r));
            }
            tg__ltable_release(t, s);
            tg__ltable_unlock(t, s);
        }
        assert_true(ok >= 999);
        assert_int_equal(tg__ltable_count(t), ok);
        for (uint32_t i = 0; i < 1000; i++) {
            uint8_t d[TG__LDIGEST];
            digest_of(d, i);
            uint32_t s = tg__ltable_shard_of(t, d);
            tg__lref r;
            tg__ltable_lock(t, s);
            bool found = tg__ltable_find(t, s, d, &r);
            tg__ltable_unlock(t, s);
            if (found)
                assert_memory_equal(r.e->digest, d, TG__LDIGEST);
        }
        tg__ltable_close(t);
        assert_int_equal(c.live, 0);
    }
}

/* ---- keys ----------------------------------------------------------------------- */

static void test_ipv4_parser_matches_inet_pton(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "0.0.0.0", "1.2.3.4", "255.255.255.255", "10.0.12.34", "01.2.3.4", "1.2.3.04",
        "1.2.3.256", "256.1.1.1", "1.2.3", "1.2.3.4.", "1.2.3.4.5", ".1.2.3", "1..2.3",
        "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.+4", "1234.1.1.1", "1.2.3.4x", "",
        "::1", "1.2.3.4/8", "0.0.0.00", "00.0.0.0", "9.99.199.255", "1.2.3.999",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t a[4] = {0}, b[4] = {0};
        bool mine = tg__parse_ipv4(cases[i], a);
        bool theirs = inet_pton(AF_INET, cases[i], b) == 1;
        if (mine && (!theirs || memcmp(a, b, 4) != 0))
            fail_msg("\"%s\": parsed %d.%d.%d.%d, inet_pton %s", cases[i], a[0], a[1], a[2],
                     a[3], theirs ? "differs" : "refuses");
        if (theirs && !mine)
            fail_msg("\"%s\": inet_pton accepts it, the fast parser does not", cases[i]);
    }
    /* Random strings over the alphabet that matters. */
    const char alpha[] = "0123456789.:a ";
    for (int i = 0; i < 300000; i++) {
        char s[20];
        size_t len = next_rand() % 18;
        for (size_t k = 0; k < len; k++)
            s[k] = alpha[next_rand() % (sizeof alpha - 1)];
        s[len] = '\0';
        uint8_t a[4], b[4];
        bool mine = tg__parse_ipv4(s, a), theirs = inet_pton(AF_INET, s, b) == 1;
        if (mine != theirs || (mine && memcmp(a, b, 4) != 0))
            fail_msg("\"%s\": fast parser %d, inet_pton %d", s, mine, theirs);
    }
    /* Random valid addresses. */
    for (int i = 0; i < 100000; i++) {
        uint32_t v = (uint32_t)next_rand();
        char s[20];
        snprintf(s, sizeof s, "%u.%u.%u.%u", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255);
        uint8_t a[4];
        assert_true(tg__parse_ipv4(s, a));
        assert_int_equal(a[0], v >> 24);
        assert_int_equal(a[3], v & 255);
    }
}

static void test_backend_keys(void **state)
{
    (void)state;
    tg__largs a;
    memset(&a, 0, sizeof a);
    uint8_t key[TG__LKEY_MAX];
    size_t n;
    assert_int_equal(tg__largs_ws(&a, "ac:me"), TG_OK);
    assert_int_equal(tg__largs_user(&a, "al:ice"), TG_OK);
    assert_int_equal(tg__largs_ip(&a, "2001:DB8:0::1"), TG_OK);
    n = tg__lkey_backend(TG_LIMIT_USER, &a, key);
    assert_int_equal(n, strlen("tg:rl:u:5:ac:me:al:ice"));
    assert_memory_equal(key, "tg:rl:u:5:ac:me:al:ice", n);
    n = tg__lkey_backend(TG_LIMIT_WORKSPACE, &a, key);
    assert_memory_equal(key, "tg:rl:w:ac:me", n);
    n = tg__lkey_backend(TG_LIMIT_IP, &a, key);
    assert_int_equal(n, strlen("tg:rl:i:2001:db8::1"));
    assert_memory_equal(key, "tg:rl:i:2001:db8::1", n);
    n = tg__lkey_backend(TG_LIMIT_GLOBAL, &a, key);
    assert_int_equal(n, 7);
    assert_memory_equal(key, "tg:rl:g", 7);
    assert_int_equal(tg__largs_ip(&a, "192.0.2.1"), TG_OK);
    n = tg__lkey_backend(TG_LIMIT_IP, &a, key);
    assert_memory_equal(key, "tg:rl:i:192.0.2.1", n);
    /* The longest key fits. */
    char big[TG_ID_MAX + 1];
    memset(big, 'z', TG_ID_MAX);
    big[TG_ID_MAX] = '\0';
    assert_int_equal(tg__largs_ws(&a, big), TG_OK);
    assert_int_equal(tg__largs_user(&a, big), TG_OK);
    n = tg__lkey_backend(TG_LIMIT_USER, &a, key);
    assert_int_equal(n, 8 + 4 + 2 * TG_ID_MAX + 1);
    assert_true(n <= TG__LKEY_MAX);
}

/* ---- shared backend, through the public API ---------------------------------- */

/* The bucket a Redis script would keep, in the same units as the library. */
typedef struct fake_bucket {
    char key[128];
    int64_t tokens, last;
} fake_bucket;

typedef struct fake {
    tg_limiter_backend_ops ops;
    fake_bucket b[16];
    int nb;
    int calls, fail, overgrant;
    uint32_t last_want;
    char last_key[128];
} fake;

static int fake_take(void *user, const uint8_t *key, size_t key_len, uint32_t per_minute,
                     uint32_t burst, uint32_t want, int64_t now, uint32_t *granted,
                     int64_t *retry)
{
    fake *f = user;
    f->calls++;
    f->last_want = want;
    snprintf(f->last_key, sizeof f->last_key, "%.*s", (int)key_len, (const char *)key);
    if (f->fail)
        return TG_ESTORE;
    fake_bucket *b = NULL;
    for (int i = 0; i < f->nb; i++)
        if (!strcmp(f->b[i].key, f->last_key))
            b = &f->b[i];
    if (!b) {
        b = &f->b[f->nb++];
        snprintf(b->key, sizeof b->key, "%s", f->last_key);
        b->tokens = (int64_t)burst * U;
        b->last = now;
    }
    b->tokens = tg__bucket_level(b->tokens, b->last, now, per_minute, burst);
    if (now > b->last)
        b->last = now;
    uint32_t g = (uint32_t)(b->tokens / U);
    if (g > want)
        g = want;
    b->tokens -= (int64_t)g * U;
    *granted = g + (f->overgrant ? want + 1 : 0);
    *retry = g < want ? tg__bucket_wait(b->tokens, b->last, now, per_minute,
                                        (int64_t)want * U)
                      : 0;
    return TG_OK;
}

static void fake_init(fake *f)
{
    memset(f, 0, sizeof *f);
    f->ops = (tg_limiter_backend_ops){TG_LIMITER_BACKEND_VERSION, sizeof(tg_limiter_backend_ops),
                                      f, fake_take};
}

typedef struct inst {
    tgt_clock clock;
    tg_store *store;
    tg_ctx *ctx;
} inst;

static void inst_open(inst *in, const tg_limiter_options *o, int64_t now)
{
    in->clock.now_ms = now;
    assert_int_equal(tg_store_open_memory(&in->store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, in->store, &in->clock);
    cfg.limiter = o;
    assert_int_equal(tg_ctx_open(&in->ctx, &cfg), TG_OK);
}

static void inst_close(inst *in)
{
    tg_ctx_close(in->ctx);
    tg_store_close(in->store);
}

static tg_limit_verdict chk(tg_ctx *ctx, const char *ws, const char *user, const char *ip)
{
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    assert_int_equal(tg_limiter_check(ctx, &v, ws, user, ip, 1), TG_OK);
    return v;
}

static void backend_opts(tg_limiter_options *o, fake *f)
{
    tg_limiter_options_init(o);
    o->global.per_minute = 60;
    o->global.burst = 40;
    o->backend = &f->ops;
    o->backend_dimensions = 1u << TG_LIMIT_GLOBAL;
    o->lease_tokens = 4;
    o->lease_ms = 1000;
}

static void test_backend_leases(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    tg_limiter_options o;
    backend_opts(&o, &f);
    inst a;
    inst_open(&a, &o, T0);

    /* One backend call per lease of 4 tokens. */
    for (int i = 0; i < 8; i++)
        assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    assert_int_equal(f.calls, 2);
    assert_string_equal(f.last_key, "tg:rl:g");
    assert_int_equal(f.last_want, 4);
    /* Peek never calls the backend. */
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tg_limiter_peek(a.ctx, &v, NULL, NULL, NULL, 1), TG_OK);
    assert_int_equal(f.calls, 2);
    /* Leased tokens expire with the lease. */
    assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1); /* a third lease: 3 left */
    a.clock.now_ms += 1000;
    assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    assert_int_equal(f.calls, 4);

    /* The shared bucket runs out: a denial with the backend's wait. */
    f.calls = 0;
    int passed = 0;
    for (int i = 0; i < 100; i++) {
        v = chk(a.ctx, NULL, NULL, NULL);
        if (!v.allowed)
            break;
        passed++;
    }
    assert_true(passed < 40);
    assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
    assert_int_equal(v.penalized, 0);
    assert_int_equal(v.retry_after_ms, 1000); /* one token at 60 a minute */
    a.clock.now_ms += 1000;
    assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    inst_close(&a);
}

static void test_backend_failure_falls_back_to_a_local_bucket(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    tg_limiter_options o;
    backend_opts(&o, &f);
    inst a;
    inst_open(&a, &o, T0);
    assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    assert_int_equal(f.calls, 1);

    /* The backend fails: the same limit, locally, and the backend is not
     * asked again until lease_ms has passed. The local bucket was charged
     * while leasing, so it holds 40 - 1 = 39. */
    f.fail = 1;
    for (int i = 0; i < 3; i++) /* the rest of the lease */
        assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    int passed = 3;
    tg_limit_verdict v;
    for (;;) {
        v = chk(a.ctx, NULL, NULL, NULL);
        if (!v.allowed)
            break;
        passed++;
    }
    assert_int_equal(passed, 39);
    assert_int_equal(f.calls, 2); /* the failure, then no call until lease_ms */
    assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
    assert_int_equal(v.retry_after_ms, 1000);
    assert_int_equal(v.limit.burst, 40);

    /* lease_ms later the backend is tried again; it works: leases again. */
    a.clock.now_ms += 1000;
    f.fail = 0;
    int before = f.calls;
    assert_int_equal(chk(a.ctx, NULL, NULL, NULL).allowed, 1);
    assert_int_equal(f.calls, before + 1);
    /* A grant larger than asked is a misbehaving backend: fallback. */
    a.clock.now_ms += 1000;
    f.overgrant = 1;
    for (int i = 0; i < 4; i++)
        chk(a.ctx, NULL, NULL, NULL);
    before = f.calls;
    for (int i = 0; i < 5; i++)
        chk(a.ctx, NULL, NULL, NULL);
    assert_int_equal(f.calls, before); /* in fallback: not asked */
    inst_close(&a);
}

static void test_backend_instances_share_one_limit(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    tg_limiter_options o;
    backend_opts(&o, &f);
    o.global.per_minute = 1; /* no refill to speak of */
    o.global.burst = 100;
    o.lease_tokens = 5;
    o.lease_ms = 60000;
    enum { N = 3 };
    inst in[N];
    for (int i = 0; i < N; i++)
        inst_open(&in[i], &o, T0);
    int passed = 0;
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < N; i++)
            passed += chk(in[i].ctx, NULL, NULL, NULL).allowed;
    /* Never more than the shared burst; short of it by at most what the
     * instances hold leased and unspent (here: nothing, they drained). */
    assert_true(passed <= 100);
    assert_true(passed >= 100 - N * 5);
    for (int i = 0; i < N; i++)
        inst_close(&in[i]);
}

static void test_backend_user_dimension_and_bad_ops(void **state)
{
    (void)state;
    fake f;
    fake_init(&f);
    tg_limiter_options o;
    backend_opts(&o, &f);
    o.backend_dimensions = 1u << TG_LIMIT_USER | 1u << TG_LIMIT_IP;
    o.lease_tokens = 0; /* burst / 16, at least 1 */
    inst a;
    inst_open(&a, &o, T0);
    assert_int_equal(tg_limiter_set_tier(a.ctx, "w:1", TG_TIER_FREE), TG_OK);
    assert_int_equal(chk(a.ctx, "w:1", "u:1", NULL).allowed, 1);
    assert_string_equal(f.last_key, "tg:rl:u:3:w:1:u:1");
    tg_limit user;
    assert_int_equal(tg_limiter_tier_default(&user, TG_TIER_FREE, TG_LIMIT_USER), TG_OK);
    assert_int_equal(f.last_want, user.burst / 16 ? user.burst / 16 : 1);
    assert_int_equal(chk(a.ctx, NULL, NULL, "::ffff:10.0.0.1").allowed, 1);
    assert_string_equal(f.last_key, "tg:rl:i:::ffff:10.0.0.1");
    /* A user drained through the backend: denied by the user dimension,
     * and the violations still count. */
    tg_limit_verdict v;
    int n = 0;
    while ((v = chk(a.ctx, "w:1", "u:1", NULL)).allowed)
        n++;
    assert_int_equal(n, (int)user.burst - 1);
    assert_int_equal(v.dimension, TG_LIMIT_USER);
    inst_close(&a);

    /* Bad backend structs are refused when the context opens. */
    tg_limiter_backend_ops bad = f.ops;
    o.backend = &bad;
    const struct { uint32_t version, size; int null_take, code; } cases[] = {
        {0, sizeof bad, 0, TG_EVERSION},
        {TG_LIMITER_BACKEND_VERSION + 1, sizeof bad, 0, TG_EVERSION},
        {TG_LIMITER_BACKEND_VERSION, sizeof bad - 1, 0, TG_EVERSION},
        {TG_LIMITER_BACKEND_VERSION, sizeof bad, 1, TG_EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = f.ops;
        bad.version = cases[i].version;
        bad.struct_size = cases[i].size;
        if (cases[i].null_take)
            bad.take = NULL;
        tg_store *store = NULL;
        assert_int_equal(tg_store_open_memory(&store), TG_OK);
        tg_config cfg;
        tgt_config(&cfg, store, NULL);
        cfg.limiter = &o;
        tg_ctx *ctx = NULL;
        assert_int_equal(tg_ctx_open(&ctx, &cfg), cases[i].code);
        assert_null(ctx);
        tg_store_close(store);
    }
    /* backend_dimensions without a backend, or with unknown bits. */
    tg_limiter_options_init(&o);
    o.backend_dimensions = 1u << TG_LIMIT_GLOBAL;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    cfg.limiter = &o;
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_EINVAL);
    o.backend = &f.ops;
    o.backend_dimensions = 1u << 7;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_EINVAL);
    o.backend_dimensions = 0;
    o.lease_tokens = TG_LIMIT_BURST_MAX + 1;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_EINVAL);
    o.lease_tokens = 0;
    o.penalty_base_ms = 10;
    o.penalty_max_ms = 5;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_EINVAL);
    tg_store_close(store);
}

/* ---- the limiter's own idle test, through the public API ----------------------- */

static void test_idle_eviction_keeps_what_it_must(void **state)
{
    (void)state;
    tg_limiter_options o;
    tg_limiter_options_init(&o);
    o.idle_evict_ms = 1000;
    o.max_keys = 1000; /* one shard: every check sweeps the same one */
    o.ip.per_minute = 1;
    o.ip.burst = 10;
    inst a;
    inst_open(&a, &o, T0);
    /* An IP that took a token from a bucket refilling one a minute is not
     * full for a minute: idle, but not evicted before. */
    assert_int_equal(chk(a.ctx, NULL, NULL, "10.0.0.1").allowed, 1);
    size_t n = 0;
    a.clock.now_ms += 30000;
    for (int i = 0; i < 50; i++)
        chk(a.ctx, NULL, NULL, "10.0.0.2");
    tg_limiter_tracked(a.ctx, &n);
    assert_int_equal(n, 2);
    a.clock.now_ms += 30000 + 1000; /* full now, and idle */
    for (int i = 0; i < 50; i++) {
        a.clock.now_ms += 100;
        chk(a.ctx, NULL, NULL, "10.0.0.2");
    }
    tg_limiter_tracked(a.ctx, &n);
    assert_int_equal(n, 1);
    inst_close(&a);
}

/* ---- threads: eviction and leases under contention (run under TSAN too) ------- */

typedef struct locked_fake {
    fake f;
    pthread_mutex_t lock;
} locked_fake;

static int locked_take(void *user, const uint8_t *key, size_t key_len, uint32_t per_minute,
                       uint32_t burst, uint32_t want, int64_t now, uint32_t *granted,
                       int64_t *retry)
{
    locked_fake *lf = user;
    pthread_mutex_lock(&lf->lock);
    int rc = fake_take(&lf->f, key, key_len, per_minute, burst, want, now, granted, retry);
    pthread_mutex_unlock(&lf->lock);
    return rc;
}

typedef struct racer {
    pthread_t th;
    tg_ctx *ctx;
    int id;
    int passed;
    int errors;
} racer;

static void *race(void *p)
{
    racer *r = p;
    char user[32], ip[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(user, sizeof user, "u-%d-%d", r->id, i % 500);
        snprintf(ip, sizeof ip, "10.%d.%d.%d", r->id, i / 256 % 256, i % 256);
        tg_limit_verdict v;
        tg_limit_verdict_init(&v);
        /* cmocka's asserts belong to the main thread: count errors here. */
        if (tg_limiter_check(r->ctx, &v, i % 3 ? "shared-ws" : "other-ws", user, ip, 1))
            r->errors++;
        r->passed += v.allowed;
        if (i % 97 == 0) {
            size_t n;
            if (tg_limiter_adjust_trust(r->ctx, NULL, "shared-ws", user, 0.01) ||
                tg_limiter_tracked(r->ctx, &n))
                r->errors++;
        }
    }
    return NULL;
}

static void test_threads_evict_and_lease(void **state)
{
    (void)state;
    locked_fake lf;
    fake_init(&lf.f);
    pthread_mutex_init(&lf.lock, NULL);
    lf.f.ops.user = &lf;
    lf.f.ops.take = locked_take;
    tg_limiter_options o;
    tg_limiter_options_init(&o);
    o.max_keys = 3000; /* one shard, far fewer than the keys: constant eviction */
    o.idle_evict_ms = 1;
    o.global.per_minute = 1;
    o.global.burst = 5000;
    o.backend = &lf.f.ops;
    o.backend_dimensions = 1u << TG_LIMIT_GLOBAL;
    o.lease_tokens = 7;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, store, NULL); /* the system clock: idle entries go all the time */
    cfg.limiter = &o;
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    assert_int_equal(tg_limiter_set_tier(ctx, "shared-ws", TG_TIER_ENTERPRISE), TG_OK);
    assert_int_equal(tg_limiter_set_tier(ctx, "other-ws", TG_TIER_ENTERPRISE), TG_OK);
    enum { N = 4 };
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.ctx = ctx, .id = i};
        assert_int_equal(pthread_create(&r[i].th, NULL, race, &r[i]), 0);
    }
    int passed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(r[i].th, NULL);
        passed += r[i].passed;
        assert_int_equal(r[i].errors, 0);
    }
    /* The shared global bucket (5000, refilling 1 a minute) bounds them all. */
    assert_true(passed <= 5001);
    assert_true(passed > 0);
    size_t n = 0;
    assert_int_equal(tg_limiter_tracked(ctx, &n), TG_OK);
    assert_true(n <= 3000);
    tg_ctx_close(ctx);
    tg_store_close(store);
    pthread_mutex_destroy(&lf.lock);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_level_edges),
        cmocka_unit_test(test_bucket_wait_and_full),
        cmocka_unit_test(test_trust_scaling),
        cmocka_unit_test(test_penalty_schedule),
        cmocka_unit_test(test_penalty_before_zero),
        cmocka_unit_test(test_table_layout),
        cmocka_unit_test(test_table_growth_and_lookup),
        cmocka_unit_test(test_table_clock_eviction),
        cmocka_unit_test(test_table_pinned_entries_survive_the_cap),
        cmocka_unit_test(test_table_reuses_freed_entries),
        cmocka_unit_test(test_table_idle_sweep),
        cmocka_unit_test(test_table_memory_per_key),
        cmocka_unit_test(test_table_allocation_failures),
        cmocka_unit_test(test_ipv4_parser_matches_inet_pton),
        cmocka_unit_test(test_backend_keys),
        cmocka_unit_test(test_backend_leases),
        cmocka_unit_test(test_backend_failure_falls_back_to_a_local_bucket),
        cmocka_unit_test(test_backend_instances_share_one_limit),
        cmocka_unit_test(test_backend_user_dimension_and_bad_ops),
        cmocka_unit_test(test_idle_eviction_keeps_what_it_must),
        cmocka_unit_test(test_threads_evict_and_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
