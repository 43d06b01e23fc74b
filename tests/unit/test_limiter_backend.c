/*
 * test_limiter_backend.c - limits shared through tg_limiter_backend_ops.
 *
 * A fake backend, shared by two contexts (two memory stores, one clock),
 * keeps exact token buckets keyed by the key bytes it is given, with its
 * own fixed-point refill, behind a mutex, and counts and records its calls.
 * Checked: a shared limit holds across both contexts within the documented
 * accuracy (instances x lease_tokens); leasing batches calls; a lease never
 * outlives lease_ms; a failing backend falls back to a local bucket of the
 * same limit; bad backend ops are refused; both contexts name an entity
 * with the same key bytes, whether they check with strings or through a
 * prepared key (tg_limiter_key_new).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"
#include "limiter_test.h"

#define UNIT 60000u /* fixed point: one token is 60000 units; a ms at r/min adds r */
#define MAX_BUCKETS 64
#define MAX_KEY 4096

typedef struct fbucket {
    uint8_t *key;
    size_t len;
    uint64_t level; /* units */
    int64_t last_ms;
} fbucket;

typedef struct fake {
    pthread_mutex_t lock;
    const tgt_clock *clock;
    fbucket b[MAX_BUCKETS];
    int nb;
    int fail;              /* take returns TG_ESTORE */
    long calls;            /* every take */
    long calls_by[2];      /* per client */
    long bad_args;         /* arguments the contract rules out */
    uint64_t granted;      /* tokens handed out, all buckets */
    uint32_t want_min, want_max; /* of the calls that got as far as a bucket */
    /* keys each client named, in first-seen order */
    uint8_t *seen[2][MAX_BUCKETS];
    size_t seen_len[2][MAX_BUCKETS];
    int nseen[2];
    /* the limits last passed for each bucket */
    uint32_t per_minute[MAX_BUCKETS], burst[MAX_BUCKETS];
} fake;

typedef struct fake_client {
    fake *f;
    int id;
} fake_client;

static int find_key(uint8_t *const *keys, const size_t *lens, int n, const uint8_t *key,
                    size_t len)
{
    for (int i = 0; i < n; i++)
        if (lens[i] == len && memcmp(keys[i], key, len) == 0)
            return i;
    return -1;
}

static uint8_t *dup_key(const uint8_t *key, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        abort();
    memcpy(p, key, len);
    return p;
}

static int fake_take(void *user, const uint8_t *key, size_t key_len, uint32_t per_minute,
                     uint32_t burst, uint32_t want, int64_t now_ms, uint32_t *out_granted,
                     int64_t *out_retry_after_ms)
{
    fake_client *c = user;
    fake *f = c->f;
    pthread_mutex_lock(&f->lock);
    f->calls++;
    f->calls_by[c->id]++;
    if (!key || key_len == 0 || key_len > MAX_KEY || per_minute == 0 ||
        per_minute > TG_LIMIT_RATE_MAX || burst == 0 || burst > TG_LIMIT_BURST_MAX ||
        want == 0 || !out_granted || !out_retry_after_ms || now_ms != f->clock->now_ms) {
        f->bad_args++;
        pthread_mutex_unlock(&f->lock);
        return TG_EINVAL;
    }
    uint8_t **keys_seen = f->seen[c->id];
    if (find_key(keys_seen, f->seen_len[c->id], f->nseen[c->id], key, key_len) < 0 &&
        f->nseen[c->id] < MAX_BUCKETS) {
        int i = f->nseen[c->id]++;
        keys_seen[i] = dup_key(key, key_len);
        f->seen_len[c->id][i] = key_len;
    }
    if (f->fail) {
        pthread_mutex_unlock(&f->lock);
        return TG_ESTORE;
    }
    int i = -1;
    for (int k = 0; k < f->nb; k++)
        if (f->b[k].len == key_len && memcmp(f->b[k].key, key, key_len) == 0)
            i = k;
    if (i < 0) {
        if (f->nb == MAX_BUCKETS) {
            f->bad_args++;
            pthread_mutex_unlock(&f->lock);
            return TG_ENOMEM;
        }
        i = f->nb++;
        f->b[i].key = dup_key(key, key_len);
        f->b[i].len = key_len;
        f->b[i].level = (uint64_t)burst * UNIT;
        f->b[i].last_ms = now_ms;
    }
    fbucket *b = &f->b[i];
    if (want < f->want_min)
        f->want_min = want;
    if (want > f->want_max)
        f->want_max = want;
    f->per_minute[i] = per_minute;
    f->burst[i] = burst;
    if (now_ms > b->last_ms) {
        b->level += (uint64_t)(now_ms - b->last_ms) * per_minute;
        b->last_ms = now_ms;
    }
    if (b->level > (uint64_t)burst * UNIT)
        b->level = (uint64_t)burst * UNIT;
    uint64_t whole = b->level / UNIT;
    uint32_t g = whole < want ? (uint32_t)whole : want;
    b->level -= (uint64_t)g * UNIT;
    f->granted += g;
    *out_granted = g;
    *out_retry_after_ms =
        g < want ? (int64_t)(((uint64_t)want * UNIT - b->level + per_minute - 1) / per_minute)
                 : 0;
    pthread_mutex_unlock(&f->lock);
    return TG_OK;
}

static void fake_init(fake *f, const tgt_clock *clock)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->clock = clock;
    f->want_min = UINT32_MAX;
}

static void fake_free(fake *f)
{
    for (int i = 0; i < f->nb; i++)
        free(f->b[i].key);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < f->nseen[c]; i++)
            free(f->seen[c][i]);
    pthread_mutex_destroy(&f->lock);
}

/* Every take so far asked for exactly `n` tokens: leases of lease_tokens. */
static void expect_wants(fake *f, uint32_t n)
{
    pthread_mutex_lock(&f->lock);
    uint32_t lo = f->want_min, hi = f->want_max;
    pthread_mutex_unlock(&f->lock);
    if (lo != n || hi != n)
        fail_msg("the backend was asked for %u to %u tokens at a time; lease is %u", lo, hi, n);
}

static long fake_calls(fake *f)
{
    pthread_mutex_lock(&f->lock);
    long n = f->calls;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* ---- two contexts, one fake ---------------------------------------------------- */

typedef struct pair {
    tgt_clock clock;
    fake fk;
    fake_client client[2];
    tg_limiter_backend_ops ops[2];
    tg_store *store[2];
    tg_ctx *ctx[2];
} pair;

static void ops_init(tg_limiter_backend_ops *ops, void *user)
{
    memset(ops, 0, sizeof *ops);
    ops->version = TG_LIMITER_BACKEND_VERSION;
    ops->struct_size = sizeof *ops;
    ops->user = user;
    ops->take = fake_take;
}

/* Opens both contexts with `o` (its backend field is set here). */
static void pair_open(pair *p, const tg_limiter_options *o)
{
    memset(p, 0, sizeof *p);
    p->clock.now_ms = T0;
    fake_init(&p->fk, &p->clock);
    for (int i = 0; i < 2; i++) {
        p->client[i].f = &p->fk;
        p->client[i].id = i;
        ops_init(&p->ops[i], &p->client[i]);
        tg_limiter_options oi = *o;
        oi.backend = &p->ops[i];
        assert_int_equal(tg_store_open_memory(&p->store[i]), TG_OK);
        tg_config cfg;
        tgt_config(&cfg, p->store[i], &p->clock);
        cfg.limiter = &oi;
        int rc = tg_ctx_open(&p->ctx[i], &cfg);
        if (rc != TG_OK)
            fail_msg("tg_ctx_open: %s: %s", tg_strerror(rc), tg_ctx_errmsg(NULL));
    }
}

static void pair_close(pair *p)
{
    for (int i = 0; i < 2; i++) {
        tg_ctx_close(p->ctx[i]);
        tg_store_close(p->store[i]);
    }
    if (p->fk.bad_args)
        fail_msg("the backend was called %ld times with arguments the contract rules out",
                 p->fk.bad_args);
    fake_free(&p->fk);
}

/* Options the tests here start from: the library's defaults, with penalties
 * out of the way. */
static void pair_opts(tg_limiter_options *o)
{
    tg_limiter_options_init(o);
    o->violations_to_penalize = 1000000;
}

/* ---- the shared limit holds across both contexts -------------------------------- */

static void test_global_limit_holds_across_contexts(void **state)
{
    (void)state;
    tg_limiter_options o;
    pair_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = 1000;
    o.lease_tokens = 10;
    pair p;
    pair_open(&p, &o);

    /* Well below the limit, every check passes and leases batch calls. */
    uint32_t passes = 0;
    for (int i = 0; i < 400; i++) {
        tg_limit_verdict v = chk(p.ctx[i % 2], NULL, NULL, NULL, 1);
        assert_int_equal(v.allowed, 1);
        passes++;
    }
    long calls = fake_calls(&p.fk);
    if (calls < 1 || calls > 400 / 10 + 4)
        fail_msg("%ld backend calls for 400 checks with leases of 10", calls);
    expect_wants(&p.fk, 10);
    assert_true(p.fk.granted >= passes);           /* every pass was leased */
    assert_true(p.fk.granted <= passes + 2 * 10);  /* at most a lease unspent each */

    /* Until both are denied: never more than the burst (the clock is
     * frozen, nothing refills), never less than burst - 2 x lease. */
    int denied[2] = {0, 0};
    for (int i = 0; i < 4000 && !(denied[0] >= 3 && denied[1] >= 3); i++) {
        tg_limit_verdict v = chk(p.ctx[i % 2], NULL, NULL, NULL, 1);
        if (v.allowed) {
            passes++;
            continue;
        }
        denied[i % 2]++;
        assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
        assert_int_equal(v.limit.per_minute, 60);
        assert_int_equal(v.limit.burst, 1000);
    }
    if (passes > 1000 || passes < 1000 - 2 * 10)
        fail_msg("%u passes across two contexts, limit 1000, leases of 10", passes);
    assert_true(p.fk.granted <= 1000);
    pair_close(&p);
}

static void test_default_lease_is_a_sixteenth(void **state)
{
    (void)state;
    tg_limiter_options o;
    pair_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = 1600; /* default lease: 100 */
    pair p;
    pair_open(&p, &o);
    for (int i = 0; i < 800; i++)
        assert_int_equal(chk(p.ctx[i % 2], NULL, NULL, NULL, 1).allowed, 1);
    long calls = fake_calls(&p.fk);
    if (calls < 1 || calls > 800 / 100 + 4)
        fail_msg("%ld backend calls for 800 checks with the default lease (100)", calls);
    expect_wants(&p.fk, 100);
    uint32_t passes = 800;
    passes += drain(p.ctx[0], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    passes += drain(p.ctx[1], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    passes += drain(p.ctx[0], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    if (passes > 1600 || passes < 1600 - 2 * 100)
        fail_msg("%u passes across two contexts, limit 1600, leases of 100", passes);
    pair_close(&p);
}

static void test_workspace_limit_holds_across_contexts(void **state)
{
    (void)state;
    tg_limit ws_limit;
    int tier = TG_TIER_FREE;
    assert_int_equal(tg_limiter_tier_default(&ws_limit, tier, TG_LIMIT_WORKSPACE), TG_OK);
    tg_limiter_options o;
    pair_opts(&o);
    o.global.per_minute = TG_LIMIT_RATE_MAX;
    o.global.burst = TG_LIMIT_BURST_MAX;
    o.lease_tokens = 4;
    pair p;
    pair_open(&p, &o);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tg_limiter_set_tier(p.ctx[i], "acme", tier), TG_OK);

    /* A new user each time, so only the workspace binds. */
    uint32_t passes = 0, limit = ws_limit.burst;
    int denied[2] = {0, 0};
    char user[32];
    for (uint32_t i = 0; i < 3 * limit + 100 && !(denied[0] >= 3 && denied[1] >= 3); i++) {
        snprintf(user, sizeof user, "u-%u", i);
        tg_limit_verdict v = chk(p.ctx[i % 2], "acme", user, NULL, 1);
        if (v.allowed) {
            passes++;
            continue;
        }
        denied[i % 2]++;
        assert_int_equal(v.dimension, TG_LIMIT_WORKSPACE);
        assert_int_equal(v.limit.burst, ws_limit.burst);
        assert_int_equal(v.limit.per_minute, ws_limit.per_minute);
    }
    uint32_t slack = 2 * (4 < limit ? 4 : limit);
    if (passes > limit || passes + slack < limit)
        fail_msg("%u passes across two contexts, workspace burst %u, leases of 4", passes,
                 limit);
    /* Another workspace is not affected. */
    assert_int_equal(tg_limiter_set_tier(p.ctx[0], "globex", tier), TG_OK);
    assert_int_equal(chk(p.ctx[0], "globex", "someone", NULL, 1).allowed, 1);
    pair_close(&p);
}

/* ---- leases ------------------------------------------------------------------ */

static void lease_opts(tg_limiter_options *o)
{
    pair_opts(o);
    o->global.per_minute = 1; /* nothing refills within a few seconds */
    o->global.burst = 40;
    o->lease_tokens = 10;
    o->lease_ms = 1000;
    o->backend_dimensions = 1u << TG_LIMIT_GLOBAL;
}

static void test_leased_tokens_are_spent_by_their_holder(void **state)
{
    (void)state;
    tg_limiter_options o;
    lease_opts(&o);
    pair p;
    pair_open(&p, &o);
    assert_int_equal(chk(p.ctx[0], NULL, NULL, NULL, 1).allowed, 1); /* A leases */
    long after_first = fake_calls(&p.fk);
    assert_true(after_first >= 1);
    assert_int_equal(chk(p.ctx[0], NULL, NULL, NULL, 1).allowed, 1); /* spent locally */
    assert_int_equal(fake_calls(&p.fk), after_first);
    expect_wants(&p.fk, 10);
    uint32_t b = drain(p.ctx[1], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    assert_true(b >= 40 - 2 * 10 && b <= 40 - 2);
    /* Within lease_ms A still spends what it leased: nothing is lost. */
    p.clock.now_ms += 500;
    uint32_t a = 2 + drain(p.ctx[0], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    if (a + b != 40)
        fail_msg("A passed %u, B %u: %u of 40 tokens", a, b, a + b);
    pair_close(&p);
}

static void test_lease_expires_after_lease_ms(void **state)
{
    (void)state;
    tg_limiter_options o;
    lease_opts(&o);
    pair p;
    pair_open(&p, &o);
    assert_int_equal(chk(p.ctx[0], NULL, NULL, NULL, 1).allowed, 1); /* A leases, spends 1 */
    uint32_t b = drain(p.ctx[1], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL);
    assert_true(b >= 40 - 2 * 10 && b <= 40 - 2);
    long before = fake_calls(&p.fk);
    /* Past lease_ms, A's unspent tokens are gone: it asks the backend again,
     * which has nothing (1/min for 1 s is no whole token). */
    p.clock.now_ms += 1001;
    tg_limit_verdict v = chk(p.ctx[0], NULL, NULL, NULL, 1);
    if (fake_calls(&p.fk) <= before)
        fail_msg("A did not go back to the backend after its lease expired");
    if (v.allowed)
        fail_msg("A spent tokens from a lease older than lease_ms");
    assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
    assert_true(v.retry_after_ms > 0);
    pair_close(&p);
}

/* ---- a failing backend ------------------------------------------------------------ */

static void test_failing_backend_falls_back_to_a_local_bucket(void **state)
{
    (void)state;
    tg_limiter_options o;
    pair_opts(&o);
    o.global.per_minute = 60;
    o.global.burst = 50;
    o.lease_tokens = 5;
    o.backend_dimensions = 1u << TG_LIMIT_GLOBAL;
    pair p;
    pair_open(&p, &o);
    p.fk.fail = 1;

    /* Each instance alone, with the same limit: neither blocked nor unlimited. */
    for (int i = 0; i < 2; i++) {
        tg_limit_verdict v;
        uint32_t n = 0;
        for (;;) {
            v = chk(p.ctx[i], NULL, NULL, NULL, 1);
            if (!v.allowed)
                break;
            if (++n > 1000)
                fail_msg("context %d: unlimited while the backend fails", i);
        }
        if (n != 50)
            fail_msg("context %d: %u passes while the backend fails, limit 50", i, n);
        assert_int_equal(v.dimension, TG_LIMIT_GLOBAL);
        assert_int_equal(v.limit.per_minute, 60);
        assert_int_equal(v.limit.burst, 50);
        assert_int_equal(v.retry_after_ms, 1000);
    }
    assert_true(fake_calls(&p.fk) >= 1); /* it did try */

    /* The backend recovers: within a minute the instance uses it again. */
    p.fk.fail = 0;
    long before = fake_calls(&p.fk);
    p.clock.now_ms += 60000;
    for (int i = 0; i < 10; i++)
        assert_int_equal(chk(p.ctx[0], NULL, NULL, NULL, 1).allowed, 1);
    if (fake_calls(&p.fk) <= before)
        fail_msg("a minute after the backend recovered, it is still not used");
    assert_true(p.fk.granted >= 1);
    pair_close(&p);
}

/* ---- bad backend ops ------------------------------------------------------------ */

static void test_bad_backend_ops(void **state)
{
    (void)state;
    tgt_clock clock = {T0};
    fake fk;
    fake_init(&fk, &clock);
    fake_client fc = {&fk, 0};
    tg_limiter_backend_ops ops;
    tg_limiter_options o;
    pair_opts(&o);
    o.backend = &ops;

    ops_init(&ops, &fc);
    ops.version = 0;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    ops.version = TG_LIMITER_BACKEND_VERSION + 1;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    ops_init(&ops, &fc);
    ops.struct_size = sizeof ops - 1;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    ops.struct_size = 0;
    expect_open_fails(&o, TG_EVERSION, TG_EVERSION);
    ops_init(&ops, &fc);
    ops.take = NULL;
    expect_open_fails(&o, TG_EINVAL, TG_EINVAL);
    ops_init(&ops, &fc);
    o.backend_dimensions = 1u << TG_LIMIT_DIMENSIONS; /* no such dimension */
    expect_open_fails(&o, TG_EINVAL, TG_EINVAL);
    o.backend_dimensions = 0;
    assert_int_equal(fk.calls, 0);

    /* and good ops open */
    ops_init(&ops, &fc);
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, store, &clock);
    cfg.limiter = &o;
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    tg_ctx_close(ctx);
    tg_store_close(store);
    fake_free(&fk);
}

/* ---- keys ------------------------------------------------------------------ */

static int same_key_sets(fake *f)
{
    if (f->nseen[0] != f->nseen[1])
        return 0;
    for (int i = 0; i < f->nseen[0]; i++)
        if (find_key(f->seen[1], f->seen_len[1], f->nseen[1], f->seen[0][i],
                     f->seen_len[0][i]) < 0)
            return 0;
    return 1;
}

/* Both contexts share every dimension through the backend, which every
 * check asks (leases of one token); "acme" is on the standard tier. */
static void pair_open_all_shared(pair *p)
{
    tg_limiter_options o;
    pair_opts(&o);
    o.backend_dimensions = (1u << TG_LIMIT_USER) | (1u << TG_LIMIT_WORKSPACE) |
                           (1u << TG_LIMIT_IP) | (1u << TG_LIMIT_GLOBAL);
    o.lease_tokens = 1;
    pair_open(p, &o);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tg_limiter_set_tier(p->ctx[i], "acme", TG_TIER_STANDARD), TG_OK);
}

static void test_both_contexts_use_the_same_key_bytes(void **state)
{
    (void)state;
    pair p;
    pair_open_all_shared(&p);

    /* The same entities, addresses spelled differently in B. */
    assert_int_equal(chk(p.ctx[0], "acme", "alice", "192.0.2.1", 1).allowed, 1);
    assert_int_equal(chk(p.ctx[0], "acme", "bob", "2001:db8::1", 1).allowed, 1);
    assert_int_equal(chk(p.ctx[1], "acme", "bob", "2001:DB8:0:0::1", 1).allowed, 1);
    assert_int_equal(chk(p.ctx[1], "acme", "alice", "192.0.2.1", 1).allowed, 1);

    /* six entities: two users, a workspace, two IPs, the instance */
    if (p.fk.nseen[0] != 6 || p.fk.nseen[1] != 6)
        fail_msg("keys named: %d by A, %d by B; expected 6 each", p.fk.nseen[0],
                 p.fk.nseen[1]);
    if (!same_key_sets(&p.fk))
        fail_msg("the two contexts name the same entities with different key bytes");

    /* Distinct entities have distinct keys, however ids are spelled. */
    assert_int_equal(tg_limiter_set_tier(p.ctx[0], "a:b", TG_TIER_STANDARD), TG_OK);
    assert_int_equal(tg_limiter_set_tier(p.ctx[0], "a", TG_TIER_STANDARD), TG_OK);
    int before = p.fk.nseen[0];
    assert_int_equal(chk(p.ctx[0], "a:b", "c", NULL, 1).allowed, 1);  /* +workspace +user */
    assert_int_equal(chk(p.ctx[0], "a", "b:c", NULL, 1).allowed, 1);  /* +workspace +user */
    assert_int_equal(p.fk.nseen[0], before + 4);
    pair_close(&p);
}

/* A check through a prepared key names each entity to the backend with the
 * same bytes as a check on strings: A checks strings, B prepared keys, made
 * from buffers that are overwritten before the checks (the key must have
 * copied them) and with the addresses spelled differently. */
static void test_a_prepared_key_uses_the_same_key_bytes(void **state)
{
    (void)state;
    pair p;
    pair_open_all_shared(&p);

    static const char *const ids[][4] = {
        /* A's spelling: ws, user, ip; B's ip */
        {"acme", "alice", "192.0.2.1", "192.0.2.1"},
        {"acme", "bob", "2001:db8::1", "2001:DB8:0:0::1"},
        {"a:b", "c", NULL, NULL}, /* ids with ':' stay unambiguous */
        {"a", "b:c", NULL, NULL},
        {NULL, NULL, "::ffff:192.0.2.1", "0:0:0:0:0:ffff:c000:201"},
    };
    const int n = (int)(sizeof ids / sizeof ids[0]);
    tg_limiter_key *keys[sizeof ids / sizeof ids[0]];
    for (int i = 0; i < n; i++) {
        char ws[64], user[64], ip[64];
        snprintf(ws, sizeof ws, "%s", ids[i][0] ? ids[i][0] : "");
        snprintf(user, sizeof user, "%s", ids[i][1] ? ids[i][1] : "");
        snprintf(ip, sizeof ip, "%s", ids[i][3] ? ids[i][3] : "");
        keys[i] = key_new(p.ctx[1], ids[i][0] ? ws : NULL, ids[i][1] ? user : NULL,
                          ids[i][3] ? ip : NULL);
        memset(ws, 'X', sizeof ws - 1);
        ws[sizeof ws - 1] = '\0';
        memset(user, 'Y', sizeof user - 1);
        user[sizeof user - 1] = '\0';
        snprintf(ip, sizeof ip, "198.51.100.99");
    }
    for (int i = 0; i < n; i++) {
        int before = p.fk.nseen[1];
        assert_int_equal(chk(p.ctx[0], ids[i][0], ids[i][1], ids[i][2], 1).allowed, 1);
        assert_int_equal(kchk(p.ctx[1], keys[i], 1).allowed, 1);
        assert_true(p.fk.nseen[1] > before); /* each row names something new */
        if (!same_key_sets(&p.fk))
            fail_msg("after %d: a string check and a key check named the same entities with "
                     "different key bytes", i);
    }
    /* global, acme, alice, bob, two IPs, a:b and its user, a and its user,
     * the mapped address */
    if (p.fk.nseen[0] != 11 || p.fk.nseen[1] != 11)
        fail_msg("keys named: %d by A, %d by B; expected 11 each", p.fk.nseen[0],
                 p.fk.nseen[1]);
    /* And a second check through each key (now with leases and remembered
     * entries) names nothing new. */
    for (int i = 0; i < n; i++)
        assert_int_equal(kchk(p.ctx[1], keys[i], 1).allowed, 1);
    assert_int_equal(p.fk.nseen[1], 11);
    assert_true(same_key_sets(&p.fk));
    for (int i = 0; i < n; i++)
        tg_limiter_key_free(keys[i]);
    pair_close(&p);
}

/* The limit passed to the backend is the effective limit of the dimension. */
static void test_backend_gets_the_configured_limit(void **state)
{
    (void)state;
    tg_limiter_options o;
    pair_opts(&o);
    o.global.per_minute = 1234;
    o.global.burst = 567;
    o.ip.per_minute = 89;
    o.ip.burst = 12;
    o.backend_dimensions = (1u << TG_LIMIT_IP) | (1u << TG_LIMIT_GLOBAL);
    o.lease_tokens = 3;
    pair p;
    pair_open(&p, &o);
    assert_int_equal(chk(p.ctx[0], NULL, NULL, "192.0.2.9", 1).allowed, 1);
    assert_int_equal(p.fk.nb, 2);
    int found_ip = 0, found_global = 0;
    for (int i = 0; i < p.fk.nb; i++) {
        if (p.fk.per_minute[i] == 89 && p.fk.burst[i] == 12)
            found_ip = 1;
        if (p.fk.per_minute[i] == 1234 && p.fk.burst[i] == 567)
            found_global = 1;
    }
    assert_true(found_ip);
    assert_true(found_global);
    /* The IP is shared too: A alone takes all 12 (the clock is frozen)... */
    assert_int_equal(1 + drain(p.ctx[0], NULL, NULL, "192.0.2.9", TG_LIMIT_IP, NULL), 12);
    /* ...and B, which shares it, finds none left. */
    assert_int_equal(drain(p.ctx[1], NULL, NULL, "192.0.2.9", TG_LIMIT_IP, NULL), 0);
    pair_close(&p);
}

/* peek gives "the same verdict tg_limiter_check would give now": once this
 * instance has been told by the backend that the shared bucket is empty
 * (its own check was just denied by it, clock frozen), a peek must not
 * announce a pass that the next check will refuse. Here B has taken all the
 * shared tokens, so A's own bucket is still full but the backend's is not. */
static void test_peek_agrees_with_check_on_a_shared_dimension(void **state)
{
    (void)state;
    tg_limiter_options o;
    lease_opts(&o);
    pair p;
    pair_open(&p, &o);
    assert_int_equal(drain(p.ctx[1], NULL, NULL, NULL, TG_LIMIT_GLOBAL, NULL), 40);
    tg_limit_verdict first = chk(p.ctx[0], NULL, NULL, NULL, 1);
    assert_int_equal(first.allowed, 0); /* the backend has nothing for A */
    assert_int_equal(first.dimension, TG_LIMIT_GLOBAL);
    tg_limit_verdict pv[3], cv[3];
    int prc[3], crc[3];
    for (int i = 0; i < 3; i++) {
        tg_limit_verdict_init(&pv[i]);
        tg_limit_verdict_init(&cv[i]);
        prc[i] = tg_limiter_peek(p.ctx[0], &pv[i], NULL, NULL, NULL, 1);
        crc[i] = tg_limiter_check(p.ctx[0], &cv[i], NULL, NULL, NULL, 1);
    }
    pair_close(&p); /* before failing, so that a failure leaks nothing */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(prc[i], TG_OK);
        assert_int_equal(crc[i], TG_OK);
        assert_int_equal(cv[i].allowed, 0);
        if (pv[i].allowed != cv[i].allowed || pv[i].dimension != cv[i].dimension)
            fail_msg("peek said allowed %d (dimension %d), the check right after said allowed "
                     "%d (dimension %d)", pv[i].allowed, pv[i].dimension, cv[i].allowed,
                     cv[i].dimension);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_global_limit_holds_across_contexts),
        cmocka_unit_test(test_default_lease_is_a_sixteenth),
        cmocka_unit_test(test_workspace_limit_holds_across_contexts),
        cmocka_unit_test(test_leased_tokens_are_spent_by_their_holder),
        cmocka_unit_test(test_lease_expires_after_lease_ms),
        cmocka_unit_test(test_failing_backend_falls_back_to_a_local_bucket),
        cmocka_unit_test(test_bad_backend_ops),
        cmocka_unit_test(test_both_contexts_use_the_same_key_bytes),
        cmocka_unit_test(test_a_prepared_key_uses_the_same_key_bytes),
        cmocka_unit_test(test_backend_gets_the_configured_limit),
        cmocka_unit_test(test_peek_agrees_with_check_on_a_shared_dimension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
