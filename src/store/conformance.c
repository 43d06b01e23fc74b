/*
 * conformance.c - the store conformance suite (tg_store_conformance_run).
 *
 * Every test works under its own sub-prefix: the suite's random prefix
 * (0xFF and 16 random bytes) plus the test's number, and deletes it when
 * done, so the suite can run against a store in use and one test's debris
 * cannot confuse the next. Tests go through the checked tg__store_* calls,
 * as the library's modules do.
 *
 * A test returns TG_OK (passed), TG_ECONFORMANCE (failed, su->detail says
 * why) or another code when the suite itself cannot go on (out of memory,
 * no thread). Within tests, EXPECT and CHECK return a failure; a test that
 * opens a transaction runs its body in a separate function so that any
 * failure rolls the transaction back before the next test.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "tenantguard/store.h"
#include "store_internal.h"

#define PREFIX_LEN 17          /* 0xFF and 16 random bytes */
#define SUB_LEN (PREFIX_LEN + 1) /* and the test's number */

typedef struct suite {
    tg_store *store;
    tg_store *second;   /* another handle on the same data, or store */
    uint8_t sub[SUB_LEN];
    char detail[512];
} suite;

/* A byte string that may contain NUL bytes: B("\x00\xFF") as a value,
 * BYTES("...") in a static initializer. */
typedef struct bytes {
    const void *p;
    size_t n;
} bytes;
#define BYTES(lit) { (lit), sizeof(lit) - 1 }
#define B(lit) ((bytes)BYTES(lit))

/* A full key: the running test's sub-prefix and a suffix. */
typedef struct key {
    size_t len;
    uint8_t b[TG_STORE_KEY_MAX];
} key;

static key mk(const suite *su, bytes suffix)
{
    key k;
    memcpy(k.b, su->sub, SUB_LEN);
    memcpy(k.b + SUB_LEN, suffix.p, suffix.n);
    k.len = SUB_LEN + suffix.n;
    return k;
}

/* The key's suffix in hex, for messages. */
typedef struct keyname {
    char s[48];
} keyname;

/* Keys of SUB_LEN bytes or more are shown as "[sub]+" and their suffix. */
static keyname kname(const uint8_t *k, size_t len)
{
    keyname out;
    size_t skip = len >= SUB_LEN ? SUB_LEN : 0, n = len - skip;
    int at = snprintf(out.s, sizeof out.s, "%s", skip ? "[sub]+" : "");
    for (size_t i = 0; i < n && i < 16; i++)
        at += snprintf(out.s + at, sizeof out.s - (size_t)at, "%02x", k[skip + i]);
    snprintf(out.s + at, sizeof out.s - (size_t)at, "%s", n > 16 ? ".." : "");
    return out;
}
#define KNAME(k) (kname((k)->b, (k)->len).s)

/* ---- failing ------------------------------------------------------------------ */

TG_PRINTF(2, 3)
static int fail(suite *su, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(su->detail, sizeof su->detail, fmt, ap);
    va_end(ap);
    return TG_ECONFORMANCE;
}

static int unexpected(suite *su, const char *what, int got, int want)
{
    return fail(su, "%s returned %d (%s), expected %d (%s)%s%s", what, got, tg_strerror(got),
                want, tg_strerror(want), got < 0 ? ": " : "", got < 0 ? tg_ctx_errmsg(NULL) : "");
}

/* In a test: fail unless expr returns want. */
#define EXPECT(want, expr)                                   \
    do {                                                     \
        int rc_ = (expr);                                    \
        if (rc_ != (want))                                   \
            return unexpected(su, #expr, rc_, (want));       \
    } while (0)

/* In a test: fail with a message unless cond holds. */
#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond))                                         \
            return fail(su, __VA_ARGS__);                    \
    } while (0)

/* In a test: pass on a failure or an error that stops the suite. */
#define TRY(expr)                                            \
    do {                                                     \
        int rc_ = (expr);                                    \
        if (rc_)                                             \
            return rc_;                                      \
    } while (0)

/* ---- store calls with keys and byte strings ----------------------------------- */

static int put(tg_store *s, tg_store_txn *t, const key *k, bytes v)
{
    return tg__store_put(s, t, k->b, k->len, v.p, v.n);
}

static int ins(tg_store *s, tg_store_txn *t, const key *k, bytes v)
{
    return tg__store_insert(s, t, k->b, k->len, v.p, v.n);
}

static int del(tg_store *s, tg_store_txn *t, const key *k)
{
    return tg__store_del(s, t, k->b, k->len);
}

typedef struct probe {
    bytes want;
    int calls;
    bool equal;
} probe;

static int probe_row(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k; (void)kl;
    probe *p = user;
    p->calls++;
    p->equal = vl == p->want.n && memcmp(v, p->want.p, vl) == 0;
    return 0;
}

/* Passes if k holds exactly `want` (as seen in t, or committed if NULL). */
static int expect_value(suite *su, tg_store *s, tg_store_txn *t, const key *k, bytes want)
{
    probe p = { want, 0, false };
    int rc = tg__store_get(s, t, k->b, k->len, probe_row, &p);
    if (rc != TG_OK)
        return unexpected(su, "get", rc, TG_OK);
    CHECK(p.calls == 1, "get %s called the callback %d times, expected once", KNAME(k), p.calls);
    CHECK(p.equal, "get %s returned the wrong value", KNAME(k));
    return TG_OK;
}

static int expect_absent(suite *su, tg_store *s, tg_store_txn *t, const key *k)
{
    probe p = { B(""), 0, false };
    int rc = tg__store_get(s, t, k->b, k->len, probe_row, &p);
    CHECK(rc == TG_ENOTFOUND, "get %s of an absent key returned %d (%s), expected TG_ENOTFOUND",
          KNAME(k), rc, tg_strerror(rc));
    CHECK(p.calls == 0, "get %s of an absent key called the callback", KNAME(k));
    return TG_OK;
}

/* ---- collecting scanned rows ---------------------------------------------------- */

#define MAX_ROWS 32
#define SUFFIX_MAX 8

/* Rows of a scan, by suffix. In the scan tests every value equals its key's
 * suffix, which collect() checks. */
typedef struct rows {
    const suite *su;
    int stop_after;    /* return 1 after this many rows (0: never) */
    int abort_at;      /* return abort_code at this row (0: never) */
    int abort_code;
    bool stop_outside; /* a key outside the sub-prefix ends the scan (unbounded scans) */
    size_t n;
    struct {
        uint8_t suffix[SUFFIX_MAX];
        size_t len;
    } r[MAX_ROWS];
    char problem[128];
} rows;

static int collect(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    rows *rs = user;
    if (kl < SUB_LEN || memcmp(k, rs->su->sub, SUB_LEN) != 0) {
        if (!rs->stop_outside)
            snprintf(rs->problem, sizeof rs->problem, "a key outside the range: %s",
                     kname(k, kl).s);
        return 1;
    }
    size_t len = kl - SUB_LEN;
    if (rs->n == MAX_ROWS || len > SUFFIX_MAX) {
        snprintf(rs->problem, sizeof rs->problem, "unexpected row %s", kname(k, kl).s);
        return 1;
    }
    if (vl != len || memcmp(v, k + SUB_LEN, len) != 0)
        snprintf(rs->problem, sizeof rs->problem, "the wrong value for %s", kname(k, kl).s);
    memcpy(rs->r[rs->n].suffix, k + SUB_LEN, len);
    rs->r[rs->n++].len = len;
    if (rs->abort_at && (int)rs->n == rs->abort_at)
        return rs->abort_code;
    return rs->stop_after && (int)rs->n == rs->stop_after;
}

/* Passes if the scan returned exactly want[0..n), in that order. */
static int expect_rows(suite *su, const char *what, const rows *rs, const bytes *want, size_t n)
{
    CHECK(!rs->problem[0], "%s: %s", what, rs->problem);
    CHECK(rs->n == n, "%s returned %zu rows, expected %zu", what, rs->n, n);
    for (size_t i = 0; i < n; i++)
        CHECK(rs->r[i].len == want[i].n && !memcmp(rs->r[i].suffix, want[i].p, want[i].n),
              "%s: row %zu is %s, expected %s", what, i, kname(rs->r[i].suffix, rs->r[i].len).s,
              kname(want[i].p, want[i].n).s);
    return TG_OK;
}

/* The end of the running test's key range. */
static key sub_end(const suite *su)
{
    key end;
    end.len = tg__store_prefix_end(su->sub, SUB_LEN, end.b);
    return end;
}

/* Scans [sub+lo, sub+hi) (NULL: the sub-prefix's start or end) into rs and
 * passes if it returned `want_rc`. */
static int scan_sub(suite *su, tg_store_txn *t, const bytes *lo, const bytes *hi, unsigned flags,
                    rows *rs, int want_rc)
{
    key l = lo ? mk(su, *lo) : mk(su, B("")), h = hi ? mk(su, *hi) : sub_end(su);
    rs->su = su;
    int rc = tg__store_scan(su->store, t, l.b, l.len, h.b, h.len, flags, collect, rs);
    return rc == want_rc ? TG_OK : unexpected(su, "scan", rc, want_rc);
}

static int add_all(suite *su, const bytes *suffixes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        key k = mk(su, suffixes[i]);
        EXPECT(TG_OK, put(su->store, NULL, &k, suffixes[i]));
    }
    return TG_OK;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a digest of everything under the sub-prefix --------------------------------- */

static void hash_len(crypto_generichash_state *h, size_t n)
{
    uint8_t b[8];
    tg__put_u64(b, n);
    crypto_generichash_update(h, b, sizeof b);
}

static int hash_row(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    crypto_generichash_state *h = user;
    hash_len(h, kl);
    crypto_generichash_update(h, k, kl);
    hash_len(h, vl);
    crypto_generichash_update(h, v, vl);
    return 0;
}

/* BLAKE2b of every key and value under the sub-prefix, as committed. */
static int take_snapshot(suite *su, uint8_t digest[crypto_generichash_BYTES])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, crypto_generichash_BYTES);
    key lo = mk(su, B("")), hi = sub_end(su);
    EXPECT(TG_OK, tg__store_scan(su->store, NULL, lo.b, lo.len, hi.b, hi.len, 0, hash_row, &h));
    crypto_generichash_final(&h, digest, crypto_generichash_BYTES);
    return TG_OK;
}

/* ---- waiting in threads ------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The suite itself cannot go on (code is not TG_ECONFORMANCE). */
static int cannot_run(suite *su, int code, const char *why)
{
    snprintf(su->detail, sizeof su->detail, "%s", why);
    return code;
}

/* ==== the tests ======================================================================== */

static int t_ordering(suite *su)
{
    /* Shorter keys before their extensions, bytes unsigned (0x80 > 0x7F). */
    static const bytes sorted[] = {
        BYTES("\x01"), BYTES("\x01\x00"), BYTES("\x01\x00\x00"), BYTES("\x02"), BYTES("a"), BYTES("ab"), BYTES("abc"),
        BYTES("b"), BYTES("\x7f\xff"), BYTES("\x80"), BYTES("\xfe\xff\xff"), BYTES("\xff"),
    };
    size_t order[COUNT(sorted)];
    for (size_t i = 0; i < COUNT(sorted); i++)
        order[i] = i;
    for (size_t i = COUNT(sorted) - 1; i > 0; i--) { /* insert in random order */
        size_t j = randombytes_uniform((uint32_t)i + 1), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (size_t i = 0; i < COUNT(sorted); i++)
        TRY(add_all(su, &sorted[order[i]], 1));
    rows rs = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &rs, TG_OK));
    return expect_rows(su, "scan of keys inserted in random order", &rs, sorted, COUNT(sorted));
}

static const bytes ten[] = {
    BYTES("\x10"), BYTES("\x20"), BYTES("\x30"), BYTES("\x40"), BYTES("\x50"),
    BYTES("\x60"), BYTES("\x70"), BYTES("\x80"), BYTES("\x90"), BYTES("\xa0"),
};

static int t_scan_bounds(suite *su)
{
    TRY(add_all(su, ten, COUNT(ten)));
    static const struct { bytes lo, hi; size_t first, n; const char *what; } cases[] = {
        { BYTES("\x20"), BYTES("\x50"), 1, 3, "scan [20, 50)" },
        { BYTES("\x15"), BYTES("\x50"), 1, 3, "scan [15, 50) from between keys" },
        { BYTES("\x20"), BYTES("\x55"), 1, 4, "scan [20, 55) to between keys" },
        { BYTES("\x20\x00"), BYTES("\x40\x00"), 2, 2, "scan [20 00, 40 00) with extended bounds" },
        { BYTES("\x20"), BYTES("\x20"), 0, 0, "scan [20, 20)" },
        { BYTES("\x50"), BYTES("\x20"), 0, 0, "scan [50, 20) with lo > hi" },
        { BYTES("\xb0"), BYTES("\xc0"), 0, 0, "scan [b0, c0) past the last key" },
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        rows rs = { 0 };
        TRY(scan_sub(su, NULL, &cases[i].lo, &cases[i].hi, 0, &rs, TG_OK));
        TRY(expect_rows(su, cases[i].what, &rs, ten + cases[i].first, cases[i].n));
    }
    /* No upper bound: runs to the end of the store; stop on leaving ours. */
    key lo = mk(su, B("\x80"));
    rows rs = { .su = su, .stop_outside = true };
    EXPECT(TG_OK, tg__store_scan(su->store, NULL, lo.b, lo.len, NULL, 0, 0, collect, &rs));
    TRY(expect_rows(su, "scan [80, end)", &rs, ten + 7, 3));
    rows all = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &all, TG_OK));
    return expect_rows(su, "scan of the whole range", &all, ten, COUNT(ten));
}

static int t_scan_reverse(suite *su)
{
    TRY(add_all(su, ten, COUNT(ten)));
    static const bytes rev[] = {
        BYTES("\xa0"), BYTES("\x90"), BYTES("\x80"), BYTES("\x70"), BYTES("\x60"),
        BYTES("\x50"), BYTES("\x40"), BYTES("\x30"), BYTES("\x20"), BYTES("\x10"),
    };
    rows all = { 0 }, mid = { 0 }, empty = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, TG_STORE_SCAN_REVERSE, &all, TG_OK));
    TRY(expect_rows(su, "reverse scan of the whole range", &all, rev, COUNT(rev)));
    TRY(scan_sub(su, NULL, &B("\x20"), &B("\x50"), TG_STORE_SCAN_REVERSE, &mid, TG_OK));
    TRY(expect_rows(su, "reverse scan [20, 50)", &mid, rev + 6, 3));
    TRY(scan_sub(su, NULL, &B("\x20"), &B("\x20"), TG_STORE_SCAN_REVERSE, &empty, TG_OK));
    TRY(expect_rows(su, "reverse scan [20, 20)", &empty, NULL, 0));
    /* No lower bound: runs to the start of the store; stop on leaving ours. */
    key hi = mk(su, B("\x30"));
    rows rs = { .su = su, .stop_outside = true };
    EXPECT(TG_OK, tg__store_scan(su->store, NULL, NULL, 0, hi.b, hi.len, TG_STORE_SCAN_REVERSE,
                                 collect, &rs));
    return expect_rows(su, "reverse scan [start, 30)", &rs, rev + 8, 2);
}

static int t_scan_stop(suite *su)
{
    TRY(add_all(su, ten, COUNT(ten)));
    static const bytes rev3[] = { BYTES("\xa0"), BYTES("\x90"), BYTES("\x80") };
    rows fwd = { .stop_after = 3 }, back = { .stop_after = 3 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &fwd, TG_OK));
    TRY(expect_rows(su, "scan stopped after 3 rows", &fwd, ten, 3));
    TRY(scan_sub(su, NULL, NULL, NULL, TG_STORE_SCAN_REVERSE, &back, TG_OK));
    TRY(expect_rows(su, "reverse scan stopped after 3 rows", &back, rev3, 3));
    /* A negative result aborts the scan and is its result. */
    rows ab = { .abort_at = 2, .abort_code = TG_EFORMAT };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &ab, TG_EFORMAT));
    TRY(expect_rows(su, "scan aborted at row 2", &ab, ten, 2));
    key k = mk(su, ten[0]);
    rows one = { .su = su, .abort_at = 1, .abort_code = TG_EFORMAT };
    EXPECT(TG_EFORMAT, tg__store_get(su->store, NULL, k.b, k.len, collect, &one));
    return TG_OK;
}

static int t_get_missing(suite *su)
{
    key abc = mk(su, B("abc")), ab = mk(su, B("ab")), abcd = mk(su, B("abcd"));
    key none = mk(su, B("zz"));
    EXPECT(TG_OK, put(su->store, NULL, &abc, B("v")));
    TRY(expect_absent(su, su->store, NULL, &none));
    TRY(expect_absent(su, su->store, NULL, &ab));   /* a prefix of a key */
    TRY(expect_absent(su, su->store, NULL, &abcd)); /* an extension of a key */
    EXPECT(TG_ENOTFOUND, del(su->store, NULL, &none));
    return expect_value(su, su->store, NULL, &abc, B("v"));
}

static int t_put_replace(suite *su)
{
    key k = mk(su, B("k"));
    EXPECT(TG_OK, put(su->store, NULL, &k, B("first")));
    EXPECT(TG_OK, put(su->store, NULL, &k, B("second, and longer")));
    TRY(expect_value(su, su->store, NULL, &k, B("second, and longer")));
    EXPECT(TG_OK, put(su->store, NULL, &k, B("k")));
    TRY(expect_value(su, su->store, NULL, &k, B("k")));
    rows rs = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &rs, TG_OK));
    static const bytes one[] = { BYTES("k") };
    return expect_rows(su, "scan after replacing a value", &rs, one, 1);
}

static int insert_in_txn(suite *su, tg_store_txn *t, const key *k, const key *n)
{
    EXPECT(TG_EEXISTS, ins(su->store, t, k, B("txn")));
    EXPECT(TG_OK, ins(su->store, t, n, B("n1")));
    EXPECT(TG_EEXISTS, ins(su->store, t, n, B("n2"))); /* its own earlier write */
    EXPECT(TG_OK, del(su->store, t, k));
    EXPECT(TG_OK, ins(su->store, t, k, B("v3")));      /* absent again after its delete */
    return TG_OK;
}

static int t_insert_if_absent(suite *su)
{
    key k = mk(su, B("k")), n = mk(su, B("n"));
    EXPECT(TG_OK, ins(su->store, NULL, &k, B("v1")));
    EXPECT(TG_EEXISTS, ins(su->store, NULL, &k, B("v2")));
    TRY(expect_value(su, su->store, NULL, &k, B("v1")));
    tg_store_txn *t;
    EXPECT(TG_OK, tg__store_begin(su->store, &t));
    int rc = insert_in_txn(su, t, &k, &n);
    if (rc) {
        tg__store_rollback(su->store, t);
        return rc;
    }
    EXPECT(TG_OK, tg__store_commit(su->store, t));
    TRY(expect_value(su, su->store, NULL, &k, B("v3")));
    return expect_value(su, su->store, NULL, &n, B("n1"));
}

static int t_delete(suite *su)
{
    static const bytes abc[] = { BYTES("a"), BYTES("b"), BYTES("c") }, ac[] = { BYTES("a"), BYTES("c") };
    TRY(add_all(su, abc, COUNT(abc)));
    key b = mk(su, B("b"));
    EXPECT(TG_OK, del(su->store, NULL, &b));
    TRY(expect_absent(su, su->store, NULL, &b));
    EXPECT(TG_ENOTFOUND, del(su->store, NULL, &b));
    rows rs = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &rs, TG_OK));
    return expect_rows(su, "scan after a delete", &rs, ac, COUNT(ac));
}

static int t_empty_value(suite *su)
{
    key e = mk(su, B("e")), f = mk(su, B("f"));
    EXPECT(TG_OK, put(su->store, NULL, &e, B("")));
    TRY(expect_value(su, su->store, NULL, &e, B("")));
    EXPECT(TG_OK, ins(su->store, NULL, &f, B("")));
    EXPECT(TG_EEXISTS, ins(su->store, NULL, &f, B("x"))); /* empty is not absent */
    TRY(expect_value(su, su->store, NULL, &f, B("")));
    probe empty = { B(""), 0, false };
    key lo = mk(su, B("")), hi = sub_end(su);
    EXPECT(TG_OK, tg__store_scan(su->store, NULL, lo.b, lo.len, hi.b, hi.len, 0, probe_row,
                                 &empty));
    CHECK(empty.calls == 2 && empty.equal, "scan of two empty values: %d rows, last %s",
          empty.calls, empty.equal ? "empty" : "not empty");
    return TG_OK;
}

static int large_value(suite *su, uint8_t *big)
{
    key k = mk(su, B("big"));
    bytes v = { big, TG_STORE_VALUE_MAX };
    EXPECT(TG_OK, put(su->store, NULL, &k, v));
    TRY(expect_value(su, su->store, NULL, &k, v));
    /* The longest key. */
    key longest = mk(su, B(""));
    memset(longest.b + SUB_LEN, 0xAB, TG_STORE_KEY_MAX - SUB_LEN);
    longest.len = TG_STORE_KEY_MAX;
    EXPECT(TG_OK, put(su->store, NULL, &longest, B("long key")));
    TRY(expect_value(su, su->store, NULL, &longest, B("long key")));
    longest.len--; /* its prefix is another key */
    return expect_absent(su, su->store, NULL, &longest);
}

static int t_large_value(suite *su)
{
    uint8_t *big = malloc(TG_STORE_VALUE_MAX);
    if (!big)
        return cannot_run(su, TG_ENOMEM, "out of memory for the largest value");
    randombytes_buf(big, TG_STORE_VALUE_MAX);
    int rc = large_value(su, big);
    free(big);
    return rc;
}

static int commit_body(suite *su, tg_store_txn *t)
{
    key a = mk(su, B("a")), b = mk(su, B("b")), c = mk(su, B("c"));
    key x = mk(su, B("x")), d = mk(su, B("d"));
    EXPECT(TG_OK, put(su->store, t, &a, B("1")));
    EXPECT(TG_OK, put(su->store, t, &b, B("2")));
    EXPECT(TG_OK, ins(su->store, t, &c, B("3")));
    EXPECT(TG_OK, put(su->store, t, &x, B("new")));
    EXPECT(TG_OK, del(su->store, t, &d));
    return TG_OK;
}

/* The state commit_body leaves, as seen through handle s. */
static int expect_committed(suite *su, tg_store *s)
{
    key a = mk(su, B("a")), b = mk(su, B("b")), c = mk(su, B("c"));
    key x = mk(su, B("x")), d = mk(su, B("d"));
    TRY(expect_value(su, s, NULL, &a, B("1")));
    TRY(expect_value(su, s, NULL, &b, B("2")));
    TRY(expect_value(su, s, NULL, &c, B("3")));
    TRY(expect_value(su, s, NULL, &x, B("new")));
    return expect_absent(su, s, NULL, &d);
}

static int t_txn_commit_atomic(suite *su)
{
    key x = mk(su, B("x")), d = mk(su, B("d"));
    EXPECT(TG_OK, put(su->store, NULL, &x, B("old")));
    EXPECT(TG_OK, put(su->store, NULL, &d, B("d")));
    tg_store_txn *t;
    EXPECT(TG_OK, tg__store_begin(su->store, &t));
    int rc = commit_body(su, t);
    if (rc) {
        tg__store_rollback(su->store, t);
        return rc;
    }
    EXPECT(TG_OK, tg__store_commit(su->store, t));
    TRY(expect_committed(su, su->store));
    TRY(expect_committed(su, su->second));
    EXPECT(TG_OK, tg__store_begin(su->store, &t)); /* an empty transaction */
    EXPECT(TG_OK, tg__store_commit(su->store, t));
    return TG_OK;
}

static int rollback_body(suite *su, tg_store_txn *t)
{
    key a = mk(su, B("a")), b = mk(su, B("b")), c = mk(su, B("c"));
    key d = mk(su, B("d")), e = mk(su, B("e"));
    EXPECT(TG_OK, put(su->store, t, &a, B("a2")));
    EXPECT(TG_OK, del(su->store, t, &b));
    EXPECT(TG_OK, ins(su->store, t, &d, B("d")));
    EXPECT(TG_OK, put(su->store, t, &e, B("e")));
    EXPECT(TG_OK, del(su->store, t, &d));
    EXPECT(TG_OK, put(su->store, t, &b, B("b3")));
    EXPECT(TG_OK, put(su->store, t, &a, B("a3")));
    EXPECT(TG_OK, put(su->store, t, &c, B("")));
    return TG_OK;
}

static int t_txn_rollback(suite *su)
{
    static const bytes abc[] = { BYTES("a"), BYTES("b"), BYTES("c") };
    TRY(add_all(su, abc, COUNT(abc)));
    uint8_t before[crypto_generichash_BYTES], after[crypto_generichash_BYTES];
    TRY(take_snapshot(su, before));
    tg_store_txn *t;
    EXPECT(TG_OK, tg__store_begin(su->store, &t));
    int rc = rollback_body(su, t);
    tg__store_rollback(su->store, t);
    TRY(rc);
    TRY(take_snapshot(su, after));
    CHECK(!memcmp(before, after, sizeof before),
          "after rollback the data differs from before begin");
    rows rs = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &rs, TG_OK));
    TRY(expect_rows(su, "scan after rollback", &rs, abc, COUNT(abc)));
    EXPECT(TG_OK, tg__store_begin(su->store, &t)); /* rolling back nothing */
    tg__store_rollback(su->store, t);
    return TG_OK;
}

static int own_writes_body(suite *su, tg_store_txn *t)
{
    key x = mk(su, B("x")), y = mk(su, B("y"));
    static const bytes xy[] = { BYTES("x"), BYTES("y") }, only_x[] = { BYTES("x") };
    EXPECT(TG_OK, put(su->store, t, &x, B("x")));
    TRY(expect_value(su, su->store, t, &x, B("x")));
    rows both = { 0 }, one = { 0 };
    TRY(scan_sub(su, t, NULL, NULL, 0, &both, TG_OK));
    TRY(expect_rows(su, "scan in the transaction after a put", &both, xy, 2));
    EXPECT(TG_OK, del(su->store, t, &y));
    TRY(expect_absent(su, su->store, t, &y));
    TRY(scan_sub(su, t, NULL, NULL, TG_STORE_SCAN_REVERSE, &one, TG_OK));
    TRY(expect_rows(su, "reverse scan in the transaction after a delete", &one, only_x, 1));
    EXPECT(TG_OK, put(su->store, t, &x, B("x2")));
    TRY(expect_value(su, su->store, t, &x, B("x2")));
    EXPECT(TG_EEXISTS, ins(su->store, t, &x, B("x3")));
    return TG_OK;
}

static int t_txn_read_own_writes(suite *su)
{
    key x = mk(su, B("x")), y = mk(su, B("y"));
    EXPECT(TG_OK, put(su->store, NULL, &y, B("y")));
    tg_store_txn *t;
    EXPECT(TG_OK, tg__store_begin(su->store, &t));
    int rc = own_writes_body(su, t);
    tg__store_rollback(su->store, t);
    TRY(rc);
    TRY(expect_absent(su, su->store, NULL, &x));
    return expect_value(su, su->store, NULL, &y, B("y"));
}

/* txn_isolation: a reader on another thread, through `second`, while the
 * main thread holds a write transaction. A store may let it read at once
 * (it must then see the data as before the transaction) or block it until
 * the commit (it may then see either state, key by key). */
typedef struct seen {
    int rc;
    uint8_t value[8];
    size_t len;
} seen;

static int see(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)k; (void)kl;
    seen *s = user;
    s->len = vl < sizeof s->value ? vl : sizeof s->value;
    memcpy(s->value, v, s->len);
    return 0;
}

static bool saw(const seen *s, int rc, bytes value)
{
    return s->rc == rc && (rc || (s->len == value.n && !memcmp(s->value, value.p, value.n)));
}

typedef struct reader {
    suite *su;
    atomic_int done;
    seen k, n, d;
} reader;

static void *read_three(void *p)
{
    reader *r = p;
    key k = mk(r->su, B("k")), n = mk(r->su, B("n")), d = mk(r->su, B("d"));
    tg_store *s = r->su->second;
    r->k.rc = tg__store_get(s, NULL, k.b, k.len, see, &r->k);
    r->n.rc = tg__store_get(s, NULL, n.b, n.len, see, &r->n);
    r->d.rc = tg__store_get(s, NULL, d.b, d.len, see, &r->d);
    atomic_store(&r->done, 1);
    return NULL;
}

static int isolation_body(suite *su, tg_store_txn *t)
{
    key k = mk(su, B("k")), n = mk(su, B("n")), d = mk(su, B("d"));
    EXPECT(TG_OK, put(su->store, t, &k, B("new")));
    EXPECT(TG_OK, ins(su->store, t, &n, B("n")));
    EXPECT(TG_OK, del(su->store, t, &d));
    return TG_OK;
}

static bool saw_old(const reader *r)
{
    return saw(&r->k, TG_OK, B("old")) && saw(&r->n, TG_ENOTFOUND, B("")) &&
           saw(&r->d, TG_OK, B("d"));
}

static bool saw_each_old_or_new(const reader *r)
{
    return (saw(&r->k, TG_OK, B("old")) || saw(&r->k, TG_OK, B("new"))) &&
           (saw(&r->n, TG_ENOTFOUND, B("")) || saw(&r->n, TG_OK, B("n"))) &&
           (saw(&r->d, TG_OK, B("d")) || saw(&r->d, TG_ENOTFOUND, B("")));
}

/* Gives the reader up to 300 ms to finish while the transaction is open. */
static bool finished_during(reader *r)
{
    for (int i = 0; i < 300 && !atomic_load(&r->done); i++)
        sleep_ms(1);
    return atomic_load(&r->done);
}

static int t_txn_isolation(suite *su)
{
    key k = mk(su, B("k")), d = mk(su, B("d"));
    EXPECT(TG_OK, put(su->store, NULL, &k, B("old")));
    EXPECT(TG_OK, put(su->store, NULL, &d, B("d")));
    reader r = { .su = su };
    atomic_init(&r.done, 0);
    tg_store_txn *t;
    EXPECT(TG_OK, tg__store_begin(su->store, &t));
    int rc = isolation_body(su, t);
    pthread_t th;
    if (rc == TG_OK && pthread_create(&th, NULL, read_three, &r))
        rc = cannot_run(su, TG_EINTERNAL, "cannot start a thread");
    if (rc) {
        tg__store_rollback(su->store, t);
        return rc;
    }
    bool early = finished_during(&r);
    rc = tg__store_commit(su->store, t);
    pthread_join(th, NULL);
    if (rc)
        return unexpected(su, "commit", rc, TG_OK);
    CHECK(!early || saw_old(&r), "a reader saw uncommitted writes of another transaction "
          "(get k: %d, get n: %d, get d: %d)", r.k.rc, r.n.rc, r.d.rc);
    CHECK(saw_each_old_or_new(&r), "a reader blocked by a transaction failed "
          "(get k: %d, get n: %d, get d: %d)", r.k.rc, r.n.rc, r.d.rc);
    return expect_value(su, su->second, NULL, &k, B("new"));
}

/* insert_race: two writers insert the same keys; exactly one wins each. */
#define RACE_KEYS 100

typedef struct racer {
    suite *su;
    tg_store *s;
    uint8_t id;
    pthread_barrier_t *start;
    int rc[RACE_KEYS];
} racer;

static key race_key(const suite *su, int i)
{
    uint8_t suffix[3] = { 'r', (uint8_t)(i >> 8), (uint8_t)i };
    return mk(su, (bytes){ suffix, sizeof suffix });
}

/* Even keys insert on their own, odd ones in a transaction. */
static int race_one(racer *r, int i)
{
    key k = race_key(r->su, i);
    bytes v = { &r->id, 1 };
    if (i % 2 == 0)
        return ins(r->s, NULL, &k, v);
    tg_store_txn *t;
    int rc = tg__store_begin(r->s, &t);
    if (rc)
        return rc;
    if ((rc = ins(r->s, t, &k, v))) {
        tg__store_rollback(r->s, t);
        return rc;
    }
    return tg__store_commit(r->s, t);
}

static void *race(void *p)
{
    racer *r = p;
    pthread_barrier_wait(r->start);
    for (int i = 0; i < RACE_KEYS; i++)
        r->rc[i] = race_one(r, i);
    return NULL;
}

static int check_race(suite *su, const racer *a, const racer *b)
{
    for (int i = 0; i < RACE_KEYS; i++) {
        int x = a->rc[i], y = b->rc[i];
        CHECK((x == TG_OK && y == TG_EEXISTS) || (x == TG_EEXISTS && y == TG_OK),
              "insert race on key %d: the writers got %d (%s) and %d (%s), expected one "
              "TG_OK and one TG_EEXISTS", i, x, tg_strerror(x), y, tg_strerror(y));
        key k = race_key(su, i);
        uint8_t winner = x == TG_OK ? a->id : b->id;
        TRY(expect_value(su, su->store, NULL, &k, (bytes){ &winner, 1 }));
    }
    return TG_OK;
}

static int t_insert_race(suite *su)
{
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, 2))
        return cannot_run(su, TG_EINTERNAL, "cannot make a barrier");
    racer a = { su, su->store, 'A', &start, { 0 } }, b = { su, su->second, 'B', &start, { 0 } };
    pthread_t ta;
    int rc = pthread_create(&ta, NULL, race, &a);
    if (rc == 0) {
        race(&b); /* this thread is the second writer */
        pthread_join(ta, NULL);
    }
    pthread_barrier_destroy(&start);
    return rc ? cannot_run(su, TG_EINTERNAL, "cannot start a thread") : check_race(su, &a, &b);
}

/* fault_injection: the same transaction failing at each operation leaves
 * the data exactly as before. */
typedef struct step {
    enum { PUT, INS, DEL, GET, SCAN } op;
    bytes suffix, value;
    int want;
} step;

static const step FAULT_STEPS[] = {
    { PUT, BYTES("a"), BYTES("a2"), TG_OK },      { PUT, BYTES("n1"), BYTES("n1"), TG_OK },
    { INS, BYTES("n2"), BYTES("n2"), TG_OK },     { INS, BYTES("b"), BYTES("x"), TG_EEXISTS },
    { DEL, BYTES("c"), BYTES(""), TG_OK },        { GET, BYTES("a"), BYTES("a2"), TG_OK },
    { PUT, BYTES("n1"), BYTES("n1b"), TG_OK },    { SCAN, BYTES(""), BYTES(""), TG_OK },
    { PUT, BYTES("e"), BYTES(""), TG_OK },        { DEL, BYTES("n2"), BYTES(""), TG_OK },
};

static int run_step(suite *su, tg_store *s, tg_store_txn *t, const step *st)
{
    key k = mk(su, st->suffix), end = sub_end(su);
    probe p = { st->value, 0, false };
    switch (st->op) {
    case PUT: return put(s, t, &k, st->value);
    case INS: return ins(s, t, &k, st->value);
    case DEL: return del(s, t, &k);
    case GET: return tg__store_get(s, t, k.b, k.len, probe_row, &p);
    case SCAN: return tg__store_scan(s, t, k.b, k.len, end.b, end.len, 0, probe_row, &p);
    }
    return TG_EINTERNAL;
}

/* Runs the transaction through s. A step failing with TG_ESTORE (as an
 * injected fault does) rolls back and returns it; any other surprise is a
 * conformance failure. */
static int faulty_txn(suite *su, tg_store *s)
{
    tg_store_txn *t;
    int rc = tg__store_begin(s, &t);
    if (rc)
        return rc;
    for (size_t i = 0; i < COUNT(FAULT_STEPS); i++) {
        int want = FAULT_STEPS[i].want;
        if ((rc = run_step(su, s, t, &FAULT_STEPS[i])) != want) {
            tg__store_rollback(s, t);
            return rc == TG_ESTORE ? rc : unexpected(su, "a step of the transaction", rc, want);
        }
    }
    return tg__store_commit(s, t);
}

static int fault_at(suite *su, long n, const uint8_t *before)
{
    tg_store *f;
    TRY(tg__store_open_faulty(&f, su->store, n));
    int rc = faulty_txn(su, f);
    long count = tg__store_faulty_count(f);
    tg_store_close(f);
    if (rc == TG_ECONFORMANCE)
        return rc;
    CHECK(rc == TG_ESTORE && count == n,
          "a transaction failing at operation %ld returned %d (%s) after %ld operations", n, rc,
          tg_strerror(rc), count);
    uint8_t after[crypto_generichash_BYTES];
    TRY(take_snapshot(su, after));
    CHECK(!memcmp(before, after, crypto_generichash_BYTES),
          "a transaction failing at operation %ld of %zu left the data changed", n,
          COUNT(FAULT_STEPS) + 2);
    return TG_OK;
}

static int t_fault_injection(suite *su)
{
    static const bytes abc[] = { BYTES("a"), BYTES("b"), BYTES("c") };
    TRY(add_all(su, abc, COUNT(abc)));
    uint8_t before[crypto_generichash_BYTES];
    TRY(take_snapshot(su, before));
    long ops = (long)COUNT(FAULT_STEPS) + 2; /* begin, the steps, commit */
    for (long n = 1; n <= ops; n++)
        TRY(fault_at(su, n, before));
    tg_store *f;
    TRY(tg__store_open_faulty(&f, su->store, 0));
    int rc = faulty_txn(su, f);
    tg_store_close(f);
    if (rc == TG_ECONFORMANCE)
        return rc;
    if (rc)
        return unexpected(su, "the transaction without a fault", rc, TG_OK);
    key a = mk(su, B("a")), c = mk(su, B("c")), n1 = mk(su, B("n1")), n2 = mk(su, B("n2"));
    TRY(expect_value(su, su->store, NULL, &a, B("a2")));
    TRY(expect_value(su, su->store, NULL, &n1, B("n1b")));
    TRY(expect_absent(su, su->store, NULL, &c));
    return expect_absent(su, su->store, NULL, &n2);
}

static int t_binary_keys(suite *su)
{
    /* The sub-prefix itself is a key; the others extend it or each other,
     * and contain 0x00 (a C string would cut them) and 0xFF. */
    static const bytes keys[] = {
        BYTES(""), BYTES("\x00"), BYTES("\x00\x00"), BYTES("\x00\xff"), BYTES("\x01"),
        BYTES("\x7f"), BYTES("\x80"), BYTES("\xff"), BYTES("\xff\x00"), BYTES("\xff\xff"),
    };
    TRY(add_all(su, keys, COUNT(keys)));
    for (size_t i = 0; i < COUNT(keys); i++) {
        key k = mk(su, keys[i]);
        TRY(expect_value(su, su->store, NULL, &k, keys[i]));
    }
    key zero = mk(su, B("\x00"));
    EXPECT(TG_OK, del(su->store, NULL, &zero));
    rows rs = { 0 };
    TRY(scan_sub(su, NULL, NULL, NULL, 0, &rs, TG_OK));
    static const bytes left[] = {
        BYTES(""), BYTES("\x00\x00"), BYTES("\x00\xff"), BYTES("\x01"),
        BYTES("\x7f"), BYTES("\x80"), BYTES("\xff"), BYTES("\xff\x00"), BYTES("\xff\xff"),
    };
    TRY(expect_rows(su, "scan of binary keys after deleting 00", &rs, left, COUNT(left)));
    /* Everything under sub+FF, bounded by tg__store_prefix_end. */
    key ff = mk(su, B("\xff")), end;
    end.len = tg__store_prefix_end(ff.b, ff.len, end.b);
    rows pre = { .su = su };
    EXPECT(TG_OK, tg__store_scan(su->store, NULL, ff.b, ff.len, end.b, end.len, 0, collect, &pre));
    return expect_rows(su, "prefix scan of sub+ff", &pre, left + 6, 3);
}

/* ---- the runner -------------------------------------------------------------------- */

typedef struct first_key {
    key k;
    bool found;
} first_key;

static int take_first(void *user, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)v; (void)vl;
    first_key *f = user;
    memcpy(f->k.b, k, kl);
    f->k.len = kl;
    f->found = true;
    return 1;
}

static int delete_range(tg_store *s, tg_store_txn *t, const uint8_t *lo, size_t lo_len,
                        const key *hi)
{
    for (;;) {
        first_key f = { .found = false };
        int rc = tg__store_scan(s, t, lo, lo_len, hi->b, hi->len, 0, take_first, &f);
        if (rc || !f.found)
            return rc;
        if ((rc = tg__store_del(s, t, f.k.b, f.k.len)))
            return rc;
    }
}

/* Deletes every key starting with prefix[0..len), in one transaction. */
static int delete_prefix(tg_store *s, const uint8_t *prefix, size_t len)
{
    key hi;
    hi.len = tg__store_prefix_end(prefix, len, hi.b);
    tg_store_txn *t;
    int rc = tg__store_begin(s, &t);
    if (rc)
        return rc;
    if ((rc = delete_range(s, t, prefix, len, &hi))) {
        tg__store_rollback(s, t);
        return rc;
    }
    return tg__store_commit(s, t);
}

typedef int (*test_fn)(suite *su);

static const struct {
    const char *name;
    test_fn run;
} TESTS[] = {
    { "ordering", t_ordering },
    { "scan_bounds", t_scan_bounds },
    { "scan_reverse", t_scan_reverse },
    { "scan_stop", t_scan_stop },
    { "get_missing", t_get_missing },
    { "put_replace", t_put_replace },
    { "insert_if_absent", t_insert_if_absent },
    { "delete", t_delete },
    { "empty_value", t_empty_value },
    { "large_value", t_large_value },
    { "txn_commit_atomic", t_txn_commit_atomic },
    { "txn_rollback", t_txn_rollback },
    { "txn_read_own_writes", t_txn_read_own_writes },
    { "txn_isolation", t_txn_isolation },
    { "insert_race", t_insert_race },
    { "fault_injection", t_fault_injection },
    { "binary_keys", t_binary_keys },
};

/* Runs test i and deletes its keys; a failed cleanup fails the test. */
static int run_test(suite *su, size_t i)
{
    su->sub[PREFIX_LEN] = (uint8_t)(i + 1);
    su->detail[0] = '\0';
    int rc = TESTS[i].run(su);
    int clean = delete_prefix(su->store, su->sub, SUB_LEN);
    if (rc == TG_OK && clean)
        rc = fail(su, "cleanup failed: %d (%s): %s", clean, tg_strerror(clean),
                  tg_ctx_errmsg(NULL));
    return rc;
}

int tg_store_conformance_run(tg_store *store, tg_store *second, tg_conformance_cb cb,
                             void *user)
{
    if (!store)
        return tg__error(TG_EINVAL, "conformance: store is NULL");
    int rc = tg__sodium_ready();
    if (rc)
        return rc;
    suite *su = calloc(1, sizeof *su);
    if (!su)
        return tg__error(TG_ENOMEM, "conformance: out of memory");
    su->store = store;
    su->second = second ? second : store;
    su->sub[0] = 0xFF;
    randombytes_buf(su->sub + 1, PREFIX_LEN - 1);

    int result = TG_OK, failed = 0;
    char first[sizeof su->detail + 64] = "";
    for (size_t i = 0; i < COUNT(TESTS) && (result == TG_OK || result == TG_ECONFORMANCE); i++) {
        rc = run_test(su, i);
        if (cb)
            cb(user, TESTS[i].name, rc == TG_OK, rc == TG_OK ? NULL : su->detail);
        if (rc && !failed++)
            snprintf(first, sizeof first, "%s: %s", TESTS[i].name, su->detail);
        if (rc && (result == TG_OK || rc != TG_ECONFORMANCE))
            result = rc; /* an error that stops the suite outranks failures */
    }
    delete_prefix(store, su->sub, PREFIX_LEN); /* in case a test stopped early */
    if (result == TG_ECONFORMANCE)
        tg__error(result, "conformance: %d test(s) failed, first %s", failed, first);
    else if (result)
        tg__error(result, "conformance: the suite could not go on: %s", su->detail);
    free(su);
    return result;
}
