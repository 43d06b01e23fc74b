/*
 * limiter_test.h - helpers shared by the limiter tests (test_limiter.c,
 * test_limiter_keys.c, test_limiter_threads.c, test_limiter_backend.c): the
 * options most tests start from; checks and peeks, on strings or through a
 * prepared key, that fail the test on an error or on a verdict no call may
 * give; draining a bucket; the check that a failing call left a message of
 * its own (arm, EXPECT_ERR); the identifiers and addresses every function
 * that takes them must refuse; a verdict as older headers declare it; a
 * config for allocation-failure tests. Include after cmocka.h, and call
 * from the main thread only (cmocka's failures are not thread-safe);
 * everything is static inline.
 */
#ifndef TG_LIMITER_TEST_H
#define TG_LIMITER_TEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#define T0 INT64_C(1760000000000) /* an ordinary "now", ms since the epoch */
#define S(x) ((x) ? (x) : "(null)")

/* Options most tests start from: a global limit too large to bind, no
 * penalties unless a test asks for them, nothing evicted while idle. */
static inline void base_opts(tg_limiter_options *o)
{
    tg_limiter_options_init(o);
    o->global.per_minute = TG_LIMIT_RATE_MAX;
    o->global.burst = TG_LIMIT_BURST_MAX;
    o->violations_to_penalize = 1000;
    o->idle_evict_ms = 86400000u; /* a day */
}

/* ms until `tokens` whole tokens are back in an empty bucket at `per_minute`. */
static inline int64_t ms_for(uint32_t tokens, uint32_t per_minute)
{
    return (int64_t)(((uint64_t)tokens * 60000u + per_minute - 1) / per_minute);
}

/* A config for allocation-failure tests: a new memory store (in *store),
 * `clock`, the limiter options `o` and the counting allocator `fa` (which
 * the caller initialises, and may re-initialise between opens). */
static inline void counted_config(tg_config *cfg, tg_store **store, tgt_clock *clock,
                                  const tg_limiter_options *o, tgt_failing_alloc *fa)
{
    assert_int_equal(tg_store_open_memory(store), TG_OK);
    tgt_config(cfg, *store, clock);
    cfg->limiter = o;
    cfg->allocator = &fa->ops;
}

/* ---- error reporting --------------------------------------------------------- */

/* arm() leaves a known message; after a failing call the message must be
 * non-empty and a new one (expect_own_message). */
static char armed[512];

static inline void arm(void)
{
    tg_ctx *c = NULL;
    (void)tg_ctx_open(&c, NULL);
    snprintf(armed, sizeof armed, "%s", tg_ctx_errmsg(NULL));
}

static inline void expect_own_message(const char *what)
{
    const char *m = tg_ctx_errmsg(NULL);
    if (!m[0] || strcmp(m, armed) == 0)
        fail_msg("%s: no message of its own (\"%s\")", what, m);
}

#define EXPECT_ERR(code, call)                                                                \
    do {                                                                                      \
        arm();                                                                                \
        int rc_ = (call);                                                                     \
        if (rc_ != (code))                                                                    \
            fail_msg("%s: got %d (%s), expected %d", #call, rc_, tg_strerror(rc_), (code));   \
        expect_own_message(#call);                                                            \
    } while (0)

/* Opening a context with limiter options `o` fails with code1 or code2,
 * with a message of its own and *ctx NULL. */
static inline void expect_open_fails(const tg_limiter_options *o, int code1, int code2)
{
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    cfg.limiter = o;
    tg_ctx *ctx = (tg_ctx *)&ctx;
    arm();
    int rc = tg_ctx_open(&ctx, &cfg);
    if (rc != code1 && rc != code2)
        fail_msg("tg_ctx_open: %d (%s), expected %d or %d", rc, tg_strerror(rc), code1, code2);
    assert_null(ctx);
    expect_own_message("tg_ctx_open");
    tg_store_close(store);
}

/* ---- input every function must refuse ---------------------------------------- */

/* Filled by make_ids(), which main() calls first. */
static char long_id[TG_ID_MAX + 2]; /* TG_ID_MAX + 1 bytes */
static char max_id[TG_ID_MAX + 1];  /* TG_ID_MAX bytes */

static inline void make_ids(void)
{
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    memset(max_id, 'y', sizeof max_id - 1);
    max_id[sizeof max_id - 1] = '\0';
}

/* Not an identifier: empty, too long, not UTF-8, control characters. */
static const char *const bad_ids[] = {
    "",              /* empty */
    long_id,         /* one byte too long */
    "\xff",          /* not UTF-8 */
    "abc\xe2\x82",   /* truncated sequence */
    "\xc0\xaf",      /* overlong */
    "\xed\xa0\x80",  /* surrogate */
    "a\nb",          /* control characters */
    "tab\there",
    "del\x7f",
};
#define N_BAD_IDS (sizeof bad_ids / sizeof bad_ids[0])

/* Not an address: malformed, out of range, with a prefix, a zone or
 * surrounding junk, not UTF-8, far too long. */
static const char *const bad_ips[] = {
    "999.1.1.1", "", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/32",
    "1.2.3.4/24", "1.2.3.-1", "1.2.3.-4", "fe80::1%eth0", "2001:db8::/32", "::ffff:1.2.3",
    "2001:db8:::1", ":::1", "1:2:3:4:5:6:7:8:9", "12345::1", "g::1", "::1\n", "acme", "abc",
    "\xff\xfe",
    "1111111111111111111111111111111111111111111111111111111111111111111111.1.1.1",
};
#define N_BAD_IPS (sizeof bad_ips / sizeof bad_ips[0])

/* ---- checks and peeks that must work ----------------------------------------- */

static inline const char *vstr(const tg_limit_verdict *v, char *buf, size_t n)
{
    snprintf(buf, n,
             "{allowed %d, dimension %d, penalized %d, level %u, limit %u/min burst %u, "
             "tokens_left %u, retry_after_ms %lld}",
             v->allowed, v->dimension, v->penalized, v->penalty_level, v->limit.per_minute,
             v->limit.burst, v->tokens_left, (long long)v->retry_after_ms);
    return buf;
}

static inline bool verdict_is_sane(const tg_limit_verdict *v)
{
    bool ok = v->version == TG_LIMIT_VERDICT_VERSION && v->struct_size == sizeof *v;
    if (v->allowed == 1)
        return ok && v->dimension == TG_LIMIT_NONE && v->retry_after_ms == 0 &&
               v->penalized == 0;
    return ok && v->allowed == 0 && v->dimension >= TG_LIMIT_USER &&
           v->dimension <= TG_LIMIT_GLOBAL && v->retry_after_ms > 0;
}

/* What every verdict must look like, allowed or denied. */
static inline void sane(const tg_limit_verdict *v, const char *what)
{
    char b[256];
    if (!verdict_is_sane(v))
        fail_msg("%s: an impossible verdict %s", what, vstr(v, b, sizeof b));
}

/* The verdict of a check or peek that returned rc: the test fails if rc is
 * an error or the verdict is impossible, naming the call by the printf
 * format `call` and what follows (formatted only then). */
__attribute__((format(printf, 3, 4))) static inline tg_limit_verdict
verdict_of(int rc, const tg_limit_verdict *v, const char *call, ...)
{
    if (rc == TG_OK && verdict_is_sane(v))
        return *v;
    const char *msg = tg_ctx_errmsg(NULL);
    char what[512];
    va_list ap;
    va_start(ap, call);
    vsnprintf(what, sizeof what, call, ap);
    va_end(ap);
    if (rc != TG_OK)
        fail_msg("%s: %s: %s", what, tg_strerror(rc), msg);
    sane(v, what);
    return *v;
}

/* A check (commit) or a peek on strings, which must work. */
static inline tg_limit_verdict strings_call(bool commit, tg_ctx *ctx, const char *ws,
                                            const char *user, const char *ip, uint32_t cost)
{
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    int rc = commit ? tg_limiter_check(ctx, &v, ws, user, ip, cost)
                    : tg_limiter_peek(ctx, &v, ws, user, ip, cost);
    return verdict_of(rc, &v, "%s(%s, %s, %s, %u)", commit ? "check" : "peek", S(ws), S(user),
                      S(ip), cost);
}

/* A check (commit) or a peek through a prepared key, which must work. */
static inline tg_limit_verdict key_call(bool commit, tg_ctx *ctx, tg_limiter_key *key,
                                        uint32_t cost)
{
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    int rc = commit ? tg_limiter_check_key(ctx, &v, key, cost)
                    : tg_limiter_peek_key(ctx, &v, key, cost);
    return verdict_of(rc, &v, "%s(cost %u)", commit ? "check_key" : "peek_key", cost);
}

static inline tg_limit_verdict chk(tg_ctx *ctx, const char *ws, const char *user, const char *ip,
                                   uint32_t cost)
{
    return strings_call(true, ctx, ws, user, ip, cost);
}

static inline tg_limit_verdict pk(tg_ctx *ctx, const char *ws, const char *user, const char *ip,
                                  uint32_t cost)
{
    return strings_call(false, ctx, ws, user, ip, cost);
}

static inline tg_limit_verdict kchk(tg_ctx *ctx, tg_limiter_key *key, uint32_t cost)
{
    return key_call(true, ctx, key, cost);
}

static inline tg_limit_verdict kpk(tg_ctx *ctx, tg_limiter_key *key, uint32_t cost)
{
    return key_call(false, ctx, key, cost);
}

/* A prepared key that must be made. */
static inline tg_limiter_key *key_new(tg_ctx *ctx, const char *ws, const char *user,
                                    const char *ip)
{
    tg_limiter_key *k = NULL;
    int rc = tg_limiter_key_new(ctx, &k, ws, user, ip);
    if (rc != TG_OK)
        fail_msg("key_new(%s, %s, %s): %s: %s", S(ws), S(user), S(ip), tg_strerror(rc),
                 tg_ctx_errmsg(NULL));
    assert_non_null(k);
    return k;
}

/* Checks of cost 1 until one is denied, which must be by `dim`; returns how
 * many passed and the denial in *out (may be NULL). */
static inline uint32_t drain(tg_ctx *ctx, const char *ws, const char *user, const char *ip,
                             int dim, tg_limit_verdict *out)
{
    uint32_t n = 0;
    for (;;) {
        tg_limit_verdict v = chk(ctx, ws, user, ip, 1);
        if (!v.allowed) {
            if (v.dimension != dim)
                fail_msg("drain(%s, %s, %s): denied by dimension %d after %u passes, "
                         "expected %d", S(ws), S(user), S(ip), v.dimension, n, dim);
            if (out)
                *out = v;
            return n;
        }
        if (++n > 3 * TG_LIMIT_BURST_MAX)
            fail_msg("drain(%s, %s, %s): never denied", S(ws), S(user), S(ip));
    }
}

/* How many entries the limiter tracks. */
static inline size_t tracked(tg_ctx *ctx)
{
    size_t n = 0;
    assert_int_equal(tg_limiter_tracked(ctx, &n), TG_OK);
    return n;
}

static inline bool same_verdict(const tg_limit_verdict *a, const tg_limit_verdict *b)
{
    return a->version == b->version && a->struct_size == b->struct_size &&
           a->allowed == b->allowed && a->dimension == b->dimension &&
           a->penalized == b->penalized && a->penalty_level == b->penalty_level &&
           a->limit.per_minute == b->limit.per_minute && a->limit.burst == b->limit.burst &&
           a->tokens_left == b->tokens_left && a->retry_after_ms == b->retry_after_ms;
}

/* Two verdicts equal in every field: a call on strings and the same call
 * through a prepared key. */
static inline void expect_same(const tg_limit_verdict *strings, const tg_limit_verdict *key,
                               const char *what)
{
    char a[256], b[256];
    if (!same_verdict(strings, key))
        fail_msg("%s: strings gave %s, the key %s", what, vstr(strings, a, sizeof a),
                 vstr(key, b, sizeof b));
}

/* ---- a verdict from older headers -------------------------------------------- */

/* A verdict as older headers would declare it, struct_size stopping short
 * of retry_after_ms, with canary bytes after it: a call may write it only as
 * far as struct_size reaches. */
typedef struct short_verdict {
    tg_limit_verdict v;
    unsigned char canary[16];
} short_verdict;

static inline tg_limit_verdict *short_verdict_init(short_verdict *b)
{
    memset(b, 0x5A, sizeof *b);
    tg_limit_verdict_init(&b->v);
    b->v.struct_size = (uint32_t)offsetof(tg_limit_verdict, retry_after_ms);
    b->v.retry_after_ms = 0x5A5A5A5A;
    return &b->v;
}

/* Nothing past struct_size was written. */
static inline void expect_short_verdict_intact(const short_verdict *b)
{
    assert_int_equal(b->v.retry_after_ms, 0x5A5A5A5A);
    for (size_t i = 0; i < sizeof b->canary; i++)
        assert_int_equal(b->canary[i], 0x5A);
}

#endif
