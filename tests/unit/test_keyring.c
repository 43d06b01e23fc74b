/*
 * test_keyring.c - the keyring's public API: round trips, isolation between
 * workspaces, tampering, rotation, retirement, crypto-shredding, bad input,
 * root-key sources, a host key service, and the cache's time-to-live
 * across contexts sharing a store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "support.h"
#include "core/core.h"
#include "keyring/envelope.h"
#include "store/store_internal.h"

#define HDR TG_ENVELOPE_HEADER_BYTES
#define OVH TG_ENVELOPE_OVERHEAD

/* ---- helpers ---- */

/* Checks an expected error and that it comes with a name and a message. */
#define expect_rc(expr, code)                                                   \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        if (rc_ != (code))                                                      \
            fail_msg("%s: got %d (%s: %s), expected %d", #expr, rc_,            \
                     tg_strerror(rc_), tg_ctx_errmsg(NULL), (code));            \
        if ((code) != TG_OK) {                                                  \
            assert_true(strlen(tg_strerror(rc_)) > 0);                          \
            assert_string_not_equal(tg_strerror(rc_), "unknown error");         \
            assert_true(strlen(tg_ctx_errmsg(NULL)) > 0);                       \
        }                                                                       \
    } while (0)

typedef struct env {
    uint8_t buf[4096 + OVH];
    size_t len;
} env_t;

static void seal(tg_ctx *ctx, env_t *e, const char *ws, const char *subject, const char *msg_id,
                 const char *text)
{
    expect_rc(tg_keyring_encrypt(ctx, e->buf, sizeof e->buf, &e->len, ws, subject, msg_id,
                                 (const uint8_t *)text, strlen(text)),
              TG_OK);
    assert_int_equal(e->len, strlen(text) + OVH);
}

/* Opens and checks the text; returns the result code. */
static int open_env(tg_ctx *ctx, const env_t *e, const char *ws, const char *msg_id,
                    const char *expect_text)
{
    uint8_t out[4096];
    size_t out_len = 12345;
    memset(out, 0xA5, sizeof out);
    int rc = tg_keyring_decrypt(ctx, out, sizeof out, &out_len, ws, msg_id, e->buf, e->len);
    if (rc == TG_OK && !expect_text)
        fail_msg("envelope of '%s' decrypted; a failure was expected", msg_id);
    if (rc == TG_OK) {
        assert_int_equal(out_len, strlen(expect_text));
        assert_memory_equal(out, expect_text, out_len);
    } else {
        assert_int_equal(out_len, 0);
        /* No plaintext on failure: zeroed by the AEAD on TG_EAUTH,
         * untouched otherwise. */
        size_t n = e->len > OVH ? e->len - OVH : 0;
        for (size_t i = 0; i < sizeof out; i++)
            assert_int_equal(out[i], rc == TG_EAUTH && i < n ? 0 : 0xA5);
        assert_true(strlen(tg_ctx_errmsg(ctx)) > 0);
    }
    return rc;
}

static uint32_t env_version(const env_t *e)
{
    return tg__get_u32(e->buf + 12);
}

static tg_ctx *open_ctx(tg_store *store, tgt_clock *clock, uint32_t ttl_ms, uint32_t entries)
{
    tg_config cfg;
    tgt_config(&cfg, store, clock);
    cfg.key_cache_ttl_ms = ttl_ms;
    cfg.key_cache_entries = entries;
    tg_ctx *ctx = NULL;
    expect_rc(tg_ctx_open(&ctx, &cfg), TG_OK);
    return ctx;
}

/* A workspace's key of one kind ("K" kind L ws suffix). */
static size_t kr_key(uint8_t *out, int kind, const char *ws, const uint8_t *suffix, size_t n)
{
    size_t l = strlen(ws);
    out[0] = 'K';
    out[1] = (uint8_t)kind;
    out[2] = (uint8_t)l;
    memcpy(out + 3, ws, l);
    if (n)
        memcpy(out + 3 + l, suffix, n);
    return 3 + l + n;
}

/* ---- round trips ---- */

static void test_round_trip_sizes(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    assert_non_null(ctx);
    const size_t sizes[] = {0, 1, 1024, 1u << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *plain = malloc(n + 1), *env = malloc(n + OVH), *back = malloc(n + 1);
        assert_true(plain && env && back);
        randombytes_buf(plain, n);
        size_t env_len = 0, back_len = 99;
        expect_rc(tg_keyring_encrypt(ctx, env, n + OVH, &env_len, "acme", "alice", "m1",
                                     n ? plain : NULL, n),
                  TG_OK);
        assert_int_equal(env_len, n + OVH);
        assert_memory_equal(env, "TG\x01\x01", 4);
        assert_int_equal(tg__get_u32(env + 12), 1);
        expect_rc(tg_keyring_decrypt(ctx, back, n + 1, &back_len, "acme", "m1", env, env_len),
                  TG_OK);
        assert_int_equal(back_len, n);
        if (n)
            assert_memory_equal(back, plain, n);
        /* Exactly-sized output works too (1 byte for the empty message). */
        expect_rc(tg_keyring_decrypt(ctx, back, n, &back_len, "acme", "m1", env, env_len), TG_OK);
        free(plain);
        free(env);
        free(back);
    }
    /* Two encryptions of the same message differ (random nonces). */
    env_t a, b;
    seal(ctx, &a, "acme", "alice", "m1", "same");
    seal(ctx, &b, "acme", "alice", "m1", "same");
    assert_memory_not_equal(a.buf + 32, b.buf + 32, 24);
    assert_memory_equal(a.buf + 16, b.buf + 16, 16); /* same subject key id */
    tgt_ctx_close(ctx);
}

static void test_two_workspaces_isolated(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    env_t a, b, forged;
    seal(ctx, &a, "acme", "alice", "m1", "acme's secret");
    seal(ctx, &b, "globex", "alice", "m2", "globex's secret");
    assert_int_equal(open_env(ctx, &a, "acme", "m1", "acme's secret"), TG_OK);
    assert_int_equal(open_env(ctx, &b, "globex", "m2", "globex's secret"), TG_OK);
    /* The same subject id in two workspaces has unrelated keys. */
    assert_memory_not_equal(a.buf + 16, b.buf + 16, 16);
    assert_memory_not_equal(a.buf + 4, b.buf + 4, 8);

    /* An envelope from acme presented as globex's. */
    expect_rc(open_env(ctx, &a, "globex", "m1", NULL), TG_EWORKSPACE);
    assert_non_null(strstr(tg_ctx_errmsg(ctx), "another workspace"));
    /* ... with globex's fingerprint forged in: its key id is unknown there. */
    forged = a;
    memcpy(forged.buf + 4, b.buf + 4, 8);
    expect_rc(open_env(ctx, &forged, "globex", "m1", NULL), TG_ENOTFOUND);
    /* ... with globex's whole header (fingerprint, version, a real key id). */
    forged = a;
    memcpy(forged.buf, b.buf, 32);
    expect_rc(open_env(ctx, &forged, "globex", "m1", NULL), TG_EAUTH);
    expect_rc(open_env(ctx, &forged, "globex", "m2", NULL), TG_EAUTH);
    /* Opened with another message id. */
    expect_rc(open_env(ctx, &a, "acme", "m2", NULL), TG_EAUTH);
    expect_rc(open_env(ctx, &a, "acme", "m1 ", NULL), TG_EAUTH);
    tgt_ctx_close(ctx);
}

/* Every single-byte change is refused with the error of the field hit. */
static void test_flip_every_byte(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    env_t e, t;
    seal(ctx, &e, "acme", "alice", "m1", "a message of some forty bytes, roughly.");
    const uint8_t masks[] = {0x01, 0x80, 0xFF};
    for (size_t m = 0; m < sizeof masks; m++) {
        for (size_t i = 0; i < e.len; i++) {
            t = e;
            t.buf[i] ^= masks[m];
            int want = i < 2 ? TG_EFORMAT
                     : i < 4 ? TG_EVERSION
                     : i < 12 ? TG_EWORKSPACE
                     : i < 16 ? TG_EKEYVERSION
                     : i < 32 ? TG_ENOTFOUND
                     : TG_EAUTH;
            int rc = open_env(ctx, &t, "acme", "m1", NULL);
            if (rc != want)
                fail_msg("byte %zu ^ 0x%02x: got %s, expected %s", i, masks[m], tg_strerror(rc),
                         tg_strerror(want));
        }
    }
    /* Still fine untouched. */
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "a message of some forty bytes, roughly."),
                     TG_OK);
    tgt_ctx_close(ctx);
}

static void test_truncated_every_length(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    env_t e, t;
    seal(ctx, &e, "acme", "alice", "m1", "truncate me, please");
    for (size_t len = 0; len < e.len; len++) {
        t = e;
        t.len = len;
        int rc = open_env(ctx, &t, "acme", "m1", NULL);
        assert_int_equal(rc, len < OVH ? TG_EFORMAT : TG_EAUTH);
    }
    /* Appended bytes do not authenticate either. */
    t = e;
    t.buf[t.len++] = 0;
    assert_int_equal(open_env(ctx, &t, "acme", "m1", NULL), TG_EAUTH);
    tgt_ctx_close(ctx);
}

static void test_unknown_format_and_version(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    env_t e, t;
    seal(ctx, &e, "acme", "alice", "m1", "hello");
    t = e;
    t.buf[2] = 2;
    expect_rc(open_env(ctx, &t, "acme", "m1", NULL), TG_EVERSION);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "the envelope has format version 2"));
    t = e;
    t.buf[3] = 9;
    expect_rc(open_env(ctx, &t, "acme", "m1", NULL), TG_EVERSION);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "the envelope names algorithm 9"));
    t = e;
    tg__put_u32(t.buf + 12, 7);
    expect_rc(open_env(ctx, &t, "acme", "m1", NULL), TG_EKEYVERSION);
    t = e;
    tg__put_u32(t.buf + 12, 0);
    expect_rc(open_env(ctx, &t, "acme", "m1", NULL), TG_EKEYVERSION);
    /* A workspace that has no keys at all: its versions do not exist. */
    tg__env_fingerprint(t.buf + 4, "nokeys", 6);
    expect_rc(open_env(ctx, &t, "nokeys", "m1", NULL), TG_EKEYVERSION);
    t = e;
    memcpy(t.buf, "XG", 2);
    expect_rc(open_env(ctx, &t, "acme", "m1", NULL), TG_EFORMAT);
    tgt_ctx_close(ctx);
}

/* ---- rotation and retirement ---- */

static void test_rotation(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    uint32_t v = 0;
    expect_rc(tg_keyring_primary_version(ctx, &v, "acme"), TG_ENOTFOUND);
    env_t a1, b1, a2, c2;
    seal(ctx, &a1, "acme", "alice", "m1", "alice before");
    seal(ctx, &b1, "acme", "bob", "m2", "bob before");
    expect_rc(tg_keyring_primary_version(ctx, &v, "acme"), TG_OK);
    assert_int_equal(v, 1);
    assert_int_equal(env_version(&a1), 1);

    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    assert_int_equal(v, 2);
    expect_rc(tg_keyring_primary_version(ctx, &v, "acme"), TG_OK);
    assert_int_equal(v, 2);
    seal(ctx, &a2, "acme", "alice", "m3", "alice after");
    seal(ctx, &c2, "acme", "carol", "m4", "carol after");
    assert_int_equal(env_version(&a2), 2);
    assert_int_equal(env_version(&c2), 2);
    assert_memory_equal(a1.buf + 16, a2.buf + 16, 16); /* alice keeps her key */
    assert_int_equal(open_env(ctx, &a1, "acme", "m1", "alice before"), TG_OK);
    assert_int_equal(open_env(ctx, &b1, "acme", "m2", "bob before"), TG_OK);
    assert_int_equal(open_env(ctx, &a2, "acme", "m3", "alice after"), TG_OK);

    /* The subject key records were rewrapped under version 2. */
    uint8_t key[300], rec[128];
    size_t rec_len = 0;
    size_t klen = kr_key(key, 4, "acme", b1.buf + 16, 16);
    expect_rc(tg__store_get_buf(store, NULL, key, klen, rec, sizeof rec, &rec_len), TG_OK);
    assert_int_equal(rec[0], 1);
    assert_int_equal(rec[1], 1);
    assert_int_equal(tg__get_u32(rec + 2), 2);

    /* A workspace without keys gets version 1 from rotate. */
    expect_rc(tg_keyring_rotate(ctx, &v, "fresh"), TG_OK);
    assert_int_equal(v, 1);
    expect_rc(tg_keyring_rotate(ctx, &v, "fresh"), TG_OK);
    assert_int_equal(v, 2);

    /* Another context on the same store sees everything. */
    tg_ctx *other = open_ctx(store, NULL, 0, 0);
    assert_int_equal(open_env(other, &a1, "acme", "m1", "alice before"), TG_OK);
    assert_int_equal(open_env(other, &c2, "acme", "m4", "carol after"), TG_OK);
    tg_ctx_close(other);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

static void test_retire(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    uint32_t v = 0;
    env_t a1, b1, a2, a3;
    seal(ctx, &a1, "acme", "alice", "m1", "v1 message");
    seal(ctx, &b1, "acme", "bob", "m2", "bob v1");
    expect_rc(tg_keyring_retire(ctx, "acme", 1), TG_EINVAL); /* primary */
    expect_rc(tg_keyring_retire(ctx, "acme", 0), TG_EINVAL);
    expect_rc(tg_keyring_retire(ctx, "acme", 2), TG_EKEYVERSION);
    expect_rc(tg_keyring_retire(ctx, "nokeys", 1), TG_EKEYVERSION);
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    seal(ctx, &a2, "acme", "alice", "m3", "v2 message");
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    assert_int_equal(v, 3);
    expect_rc(tg_keyring_retire(ctx, "acme", 3), TG_EINVAL);
    expect_rc(tg_keyring_retire(ctx, "acme", 1), TG_OK);
    expect_rc(tg_keyring_retire(ctx, "acme", 1), TG_ERETIRED);
    expect_rc(open_env(ctx, &a1, "acme", "m1", NULL), TG_ERETIRED);
    expect_rc(open_env(ctx, &b1, "acme", "m2", NULL), TG_ERETIRED);
    assert_int_equal(open_env(ctx, &a2, "acme", "m3", "v2 message"), TG_OK);
    expect_rc(tg_keyring_retire(ctx, "acme", 2), TG_OK);
    expect_rc(open_env(ctx, &a2, "acme", "m3", NULL), TG_ERETIRED);
    /* Subjects survive retirement of every old version. */
    seal(ctx, &a3, "acme", "alice", "m4", "v3 message");
    assert_int_equal(env_version(&a3), 3);
    assert_memory_equal(a3.buf + 16, a1.buf + 16, 16);
    assert_int_equal(open_env(ctx, &a3, "acme", "m4", "v3 message"), TG_OK);
    tgt_ctx_close(ctx);
}

/* Retirement also rewraps keys still wrapped under the version retired:
 * a subject created by a context that still believed in version 1. */
static void test_retire_rewraps_stragglers(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tgt_clock clock = {1000};
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = open_ctx(store, &clock, 5000, 0);
    tg_ctx *b = open_ctx(store, &clock, 5000, 0);
    env_t e1, e2;
    uint32_t v;
    seal(a, &e1, "acme", "alice", "m1", "warm up");
    assert_int_equal(open_env(b, &e1, "acme", "m1", "warm up"), TG_OK); /* b caches v1 */
    expect_rc(tg_keyring_rotate(a, &v, "acme"), TG_OK);
    /* b still thinks version 1 is the primary: dave's key lands under v1. */
    seal(b, &e2, "acme", "dave", "m2", "from a stale cache");
    assert_int_equal(env_version(&e2), 1);
    clock.now_ms += 10000;
    expect_rc(tg_keyring_rotate(a, &v, "acme"), TG_OK); /* rewraps dave too */
    assert_int_equal(v, 3);
    expect_rc(tg_keyring_retire(a, "acme", 2), TG_OK);
    seal(b, &e2, "acme", "dave", "m3", "after retire");
    assert_int_equal(env_version(&e2), 3);
    assert_int_equal(open_env(a, &e2, "acme", "m3", "after retire"), TG_OK);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_store_close(store);
}

/* An instance whose cached primary was rotated and retired elsewhere
 * notices when it next needs the store, and re-reads the workspace. */
static void test_stale_primary_refreshes(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tgt_clock clock = {1000};
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = open_ctx(store, &clock, 60000, 0);
    tg_ctx *b = open_ctx(store, &clock, 60000, 0);
    env_t e;
    uint32_t v;
    seal(b, &e, "acme", "alice", "m1", "b knows v1");
    expect_rc(tg_keyring_rotate(a, &v, "acme"), TG_OK);
    expect_rc(tg_keyring_retire(a, "acme", 1), TG_OK);
    /* b: workspace meta says v1 is primary, but a new subject needs the
     * store, which says v1 is retired: b re-reads and uses v2. */
    seal(b, &e, "acme", "erin", "m2", "new subject");
    assert_int_equal(env_version(&e), 2);
    assert_int_equal(open_env(a, &e, "acme", "m2", "new subject"), TG_OK);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_store_close(store);
}

/* TG_EVERSION from decrypt also covers a keyring record in the store
 * written in a newer record format; the message tells the two apart. */
static void test_newer_store_record(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "hello");
    tg_ctx_close(ctx);
    uint8_t key[300], rec[128];
    size_t rec_len = 0, klen = kr_key(key, 4, "acme", e.buf + 16, 16);
    expect_rc(tg__store_get_buf(store, NULL, key, klen, rec, sizeof rec, &rec_len), TG_OK);
    rec[0] = 2; /* a record format from the future */
    expect_rc(tg__store_put(store, NULL, key, klen, rec, rec_len), TG_OK);
    ctx = open_ctx(store, NULL, 0, 0);
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_EVERSION);
    const char *msg = tg_ctx_errmsg(NULL);
    if (!strstr(msg, "the store holds a keyring record newer") || !strstr(msg, "format 2"))
        fail_msg("message: %s", msg);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* ---- shredding ---- *//* ---- shredding ---- */

static void test_shred_subject(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    env_t a, b, a_new;
    seal(ctx, &a, "acme", "alice", "m1", "alice's");
    seal(ctx, &b, "acme", "bob", "m2", "bob's");
    expect_rc(tg_keyring_shred_subject(ctx, "acme", "alice"), TG_OK);
    expect_rc(open_env(ctx, &a, "acme", "m1", NULL), TG_ESHREDDED);
    assert_int_equal(open_env(ctx, &b, "acme", "m2", "bob's"), TG_OK);
    expect_rc(tg_keyring_shred_subject(ctx, "acme", "alice"), TG_ENOTFOUND);
    expect_rc(tg_keyring_shred_subject(ctx, "acme", "nobody"), TG_ENOTFOUND);
    expect_rc(tg_keyring_shred_subject(ctx, "nokeys", "alice"), TG_ENOTFOUND);

    /* The tombstone holds no key. */
    uint8_t key[300], rec[128];
    size_t rec_len = 0, klen = kr_key(key, 4, "acme", a.buf + 16, 16);
    expect_rc(tg__store_get_buf(store, NULL, key, klen, rec, sizeof rec, &rec_len), TG_OK);
    assert_int_equal(rec_len, 8);
    assert_int_equal(rec[1], 2);

    /* Alice writes again: a new key, readable; the old messages stay gone. */
    seal(ctx, &a_new, "acme", "alice", "m3", "alice again");
    assert_memory_not_equal(a_new.buf + 16, a.buf + 16, 16);
    assert_int_equal(open_env(ctx, &a_new, "acme", "m3", "alice again"), TG_OK);
    expect_rc(open_env(ctx, &a, "acme", "m1", NULL), TG_ESHREDDED);

    /* No raw subject id anywhere in the store's keyring records. */
    tg_ctx *fresh = open_ctx(store, NULL, 0, 0);
    expect_rc(open_env(fresh, &a, "acme", "m1", NULL), TG_ESHREDDED);
    assert_int_equal(open_env(fresh, &b, "acme", "m2", "bob's"), TG_OK);
    tg_ctx_close(fresh);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

typedef struct scan_find {
    const char *needle;
    int found;
    int rows;
} scan_find;

static int find_needle(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    scan_find *f = user;
    size_t n = strlen(f->needle);
    f->rows++;
    for (size_t i = 0; i + n <= key_len; i++)
        if (memcmp(key + i, f->needle, n) == 0)
            f->found++;
    for (size_t i = 0; i + n <= value_len; i++)
        if (memcmp(value + i, f->needle, n) == 0)
            f->found++;
    return 0;
}

static void test_store_holds_no_subject_ids(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    env_t e;
    seal(ctx, &e, "acme", "subject-alice@example.com", "m1", "x");
    scan_find f = {"subject-alice", 0, 0};
    expect_rc(tg__store_scan(store, NULL, NULL, 0, NULL, 0, 0, find_needle, &f), TG_OK);
    assert_int_equal(f.rows, 4); /* workspace, version, map, subject key */
    assert_int_equal(f.found, 0);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

static void test_shred_workspace(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    env_t a, b, g;
    uint32_t v;
    seal(ctx, &a, "acme", "alice", "m1", "alice's");
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    seal(ctx, &b, "acme", "bob", "m2", "bob's");
    seal(ctx, &g, "globex", "alice", "m3", "globex stays");
    expect_rc(tg_keyring_shred_workspace(ctx, "acme"), TG_OK);
    expect_rc(open_env(ctx, &a, "acme", "m1", NULL), TG_ESHREDDED);
    expect_rc(open_env(ctx, &b, "acme", "m2", NULL), TG_ESHREDDED);
    expect_rc(tg_keyring_encrypt(ctx, a.buf, sizeof a.buf, &a.len, "acme", "carol", "m4",
                                 (const uint8_t *)"x", 1),
              TG_ESHREDDED);
    expect_rc(tg_keyring_primary_version(ctx, &v, "acme"), TG_ESHREDDED);
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_ESHREDDED);
    expect_rc(tg_keyring_retire(ctx, "acme", 1), TG_ESHREDDED);
    expect_rc(tg_keyring_shred_subject(ctx, "acme", "alice"), TG_ESHREDDED);
    expect_rc(tg_keyring_shred_workspace(ctx, "acme"), TG_ESHREDDED);
    expect_rc(tg_keyring_shred_workspace(ctx, "nokeys"), TG_ENOTFOUND);
    assert_int_equal(open_env(ctx, &g, "globex", "m3", "globex stays"), TG_OK);

    /* Only the tombstone is left of acme. */
    scan_find f = {"acme", 0, 0};
    uint8_t lo[8] = {'K', 1}, hi[8] = {'K', 5};
    expect_rc(tg__store_scan(store, NULL, lo, 2, hi, 2, 0, find_needle, &f), TG_OK);
    assert_int_equal(f.found, 1);
    /* A fresh context agrees. */
    tg_ctx *fresh = open_ctx(store, NULL, 0, 0);
    expect_rc(open_env(fresh, &b, "acme", "m2", NULL), TG_ESHREDDED);
    tg_ctx_close(fresh);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* Many subjects: rotation and shredding work across scan batches. */
static void test_many_subjects(void **state)
{
    (void)state;
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 16); /* a small cache: evictions */
    enum { N = 150 };
    static env_t e[N];
    char subject[32], msg[32], text[64];
    for (int i = 0; i < N; i++) {
        snprintf(subject, sizeof subject, "user-%d", i);
        snprintf(msg, sizeof msg, "m%d", i);
        snprintf(text, sizeof text, "text %d", i);
        seal(ctx, &e[i], "acme", subject, msg, text);
    }
    uint32_t v;
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    expect_rc(tg_keyring_retire(ctx, "acme", 2), TG_OK);
    for (int i = 0; i < N; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        snprintf(text, sizeof text, "text %d", i);
        assert_int_equal(open_env(ctx, &e[i], "acme", msg, text), TG_OK);
    }
    expect_rc(tg_keyring_shred_workspace(ctx, "acme"), TG_OK);
    scan_find f = {"acme", 0, 0};
    expect_rc(tg__store_scan(store, NULL, NULL, 0, NULL, 0, 0, find_needle, &f), TG_OK);
    assert_int_equal(f.rows, 1);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* ---- erasure on disk ---- */

/* Whether the bytes occur in the SQLite database file or its -wal file. */
static bool on_disk(const char *db, const uint8_t *needle, size_t n)
{
    char path[700];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", db, i ? "-wal" : "");
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        size_t len = 0, cap = 0, got;
        uint8_t *buf = NULL, chunk[65536];
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (len + got > cap) {
                cap = 2 * (len + got);
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
            memcpy(buf + len, chunk, got);
            len += got;
        }
        fclose(f);
        bool found = false;
        for (size_t j = 0; j + n <= len && !found; j++)
            found = memcmp(buf + j, needle, n) == 0;
        free(buf);
        if (found)
            return true;
    }
    return false;
}

/* The wrapped key of a keyring record: `skip` header bytes, then `n`. */
static void wrapped_of(tg_store *store, const uint8_t *key, size_t klen, size_t skip,
                       uint8_t *out, size_t n)
{
    uint8_t rec[1100];
    size_t len = 0;
    expect_rc(tg__store_get_buf(store, NULL, key, klen, rec, sizeof rec, &len), TG_OK);
    assert_int_equal(len, skip + n);
    memcpy(out, rec + skip, n);
}

/* Shredding and retiring leave none of the destroyed wrapped keys in the
 * SQLite store's files: not in freed space of the database file, not in
 * old page images in the -wal file. */
static void test_erasure_leaves_no_bytes_on_disk(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char dirbuf[512], db[600];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    snprintf(db, sizeof db, "%s/erase.db", dirbuf);
    tg_store *store = NULL;
    expect_rc(tg_store_open_sqlite(&store, db, NULL), TG_OK);
    tg_ctx *ctx = open_ctx(store, NULL, 0, 0);
    env_t a, b;
    uint32_t v;
    seal(ctx, &a, "acme", "alice", "m1", "alice's");
    seal(ctx, &b, "acme", "bob", "m2", "bob's");

    /* Subject key record: format, state, version u32, u16 len, 72 bytes. */
    uint8_t key[300], alice[72], v1[72], v2[72], index_key[72];
    size_t klen = kr_key(key, 4, "acme", a.buf + 16, 16);
    wrapped_of(store, key, klen, 8, alice, sizeof alice);
    assert_true(on_disk(db, alice, sizeof alice));
    expect_rc(tg_keyring_shred_subject(ctx, "acme", "alice"), TG_OK);
    assert_false(on_disk(db, alice, sizeof alice));
    expect_rc(open_env(ctx, &a, "acme", "m1", NULL), TG_ESHREDDED);

    /* Version record: format, state, created u64, u16 len, wrapped. */
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    uint8_t vsuffix[4];
    tg__put_u32(vsuffix, 1);
    klen = kr_key(key, 2, "acme", vsuffix, 4);
    wrapped_of(store, key, klen, 12, v1, sizeof v1);
    assert_true(on_disk(db, v1, sizeof v1));
    expect_rc(tg_keyring_retire(ctx, "acme", 1), TG_OK);
    assert_false(on_disk(db, v1, sizeof v1));
    expect_rc(open_env(ctx, &b, "acme", "m2", NULL), TG_ERETIRED);

    /* Shredding the workspace: its versions and its index key. */
    tg__put_u32(vsuffix, 2);
    klen = kr_key(key, 2, "acme", vsuffix, 4);
    wrapped_of(store, key, klen, 12, v2, sizeof v2);
    klen = kr_key(key, 1, "acme", NULL, 0);
    wrapped_of(store, key, klen, 16, index_key, sizeof index_key);
    expect_rc(tg_keyring_shred_workspace(ctx, "acme"), TG_OK);
    assert_false(on_disk(db, v2, sizeof v2));
    assert_false(on_disk(db, index_key, sizeof index_key));
    tg_ctx_close(ctx);
    tg_store_close(store);
    tgt_rmtree(dirbuf);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
    (void)state;
    tg_ctx *ctx = tgt_ctx_memory(NULL);
    uint8_t out[256], big[300];
    size_t len = 0;
    uint32_t v;
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "hello");
    char long_id[257];
    memset(long_id, 'x', 256);
    long_id[256] = '\0';
    const char *bad_ids[] = {NULL, "", long_id, "\xff\xfe", "\xc0\x80", "\xed\xa0\x80",
                             "tab\there", "nl\n", "del\x7f"};
    const uint8_t *p = (const uint8_t *)"hello";

    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        const char *id = bad_ids[i];
        expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, id, "alice", "m1", p, 5),
                  TG_EINVAL);
        expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, "acme", id, "m1", p, 5),
                  TG_EINVAL);
        expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, "acme", "alice", id, p, 5),
                  TG_EINVAL);
        expect_rc(tg_keyring_decrypt(ctx, out, sizeof out, &len, id, "m1", e.buf, e.len),
                  TG_EINVAL);
        expect_rc(tg_keyring_decrypt(ctx, out, sizeof out, &len, "acme", id, e.buf, e.len),
                  TG_EINVAL);
        expect_rc(tg_keyring_rotate(ctx, &v, id), TG_EINVAL);
        expect_rc(tg_keyring_primary_version(ctx, &v, id), TG_EINVAL);
        expect_rc(tg_keyring_retire(ctx, id, 1), TG_EINVAL);
        expect_rc(tg_keyring_shred_subject(ctx, id, "alice"), TG_EINVAL);
        expect_rc(tg_keyring_shred_subject(ctx, "acme", id), TG_EINVAL);
        expect_rc(tg_keyring_shred_workspace(ctx, id), TG_EINVAL);
    }
    /* 255 bytes is fine. */
    long_id[255] = '\0';
    expect_rc(tg_keyring_encrypt(ctx, big, sizeof big, &len, long_id, long_id, long_id, p, 5),
              TG_OK);
    expect_rc(tg_keyring_decrypt(ctx, out, sizeof out, &len, long_id, long_id, big, len), TG_OK);

    /* NULL context. */
    expect_rc(tg_keyring_encrypt(NULL, out, sizeof out, &len, "acme", "alice", "m1", p, 5),
              TG_EINVAL);
    expect_rc(tg_keyring_decrypt(NULL, out, sizeof out, &len, "acme", "m1", e.buf, e.len),
              TG_EINVAL);
    expect_rc(tg_keyring_rotate(NULL, &v, "acme"), TG_EINVAL);
    expect_rc(tg_keyring_primary_version(NULL, &v, "acme"), TG_EINVAL);
    expect_rc(tg_keyring_retire(NULL, "acme", 1), TG_EINVAL);
    expect_rc(tg_keyring_shred_subject(NULL, "acme", "alice"), TG_EINVAL);
    expect_rc(tg_keyring_shred_workspace(NULL, "acme"), TG_EINVAL);
    /* NULL outputs and inputs. */
    expect_rc(tg_keyring_encrypt(ctx, NULL, sizeof out, &len, "acme", "alice", "m1", p, 5),
              TG_EINVAL);
    expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, NULL, "acme", "alice", "m1", p, 5),
              TG_EINVAL);
    expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, "acme", "alice", "m1", NULL, 5),
              TG_EINVAL);
    expect_rc(tg_keyring_decrypt(ctx, NULL, sizeof out, &len, "acme", "m1", e.buf, e.len),
              TG_EINVAL);
    expect_rc(tg_keyring_decrypt(ctx, out, sizeof out, NULL, "acme", "m1", e.buf, e.len),
              TG_EINVAL);
    expect_rc(tg_keyring_decrypt(ctx, out, sizeof out, &len, "acme", "m1", NULL, e.len),
              TG_EINVAL);
    expect_rc(tg_keyring_rotate(ctx, NULL, "acme"), TG_EINVAL);
    expect_rc(tg_keyring_primary_version(ctx, NULL, "acme"), TG_EINVAL);
    /* Sizes. */
    expect_rc(tg_keyring_encrypt(ctx, out, 5 + OVH - 1, &len, "acme", "alice", "m1", p, 5),
              TG_ERANGE);
    expect_rc(tg_keyring_encrypt(ctx, out, 0, &len, "acme", "alice", "m1", NULL, 0), TG_ERANGE);
    expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, "acme", "alice", "m1", p,
                                 (size_t)TG_MESSAGE_MAX + 1),
              TG_ERANGE);
    expect_rc(tg_keyring_encrypt(ctx, out, sizeof out, &len, "acme", "alice", "m1", p, SIZE_MAX),
              TG_ERANGE);
    expect_rc(tg_keyring_decrypt(ctx, out, 4, &len, "acme", "m1", e.buf, e.len), TG_ERANGE);
    /* Overlapping buffers. */
    memcpy(big, "hello", 5);
    expect_rc(tg_keyring_encrypt(ctx, big, sizeof big, &len, "acme", "alice", "m1", big + 3, 5),
              TG_EINVAL);
    memcpy(big, e.buf, e.len);
    expect_rc(tg_keyring_decrypt(ctx, big + 10, 100, &len, "acme", "m1", big, e.len), TG_EINVAL);
    /* The empty message with an empty output buffer. */
    expect_rc(tg_keyring_encrypt(ctx, big, sizeof big, &len, "acme", "alice", "m0", NULL, 0),
              TG_OK);
    size_t zero = 7;
    expect_rc(tg_keyring_decrypt(ctx, out, 0, &zero, "acme", "m0", big, len), TG_OK);
    assert_int_equal(zero, 0);

    /* Constants as functions. */
    assert_int_equal(tg_key_bytes(), TG_KEY_BYTES);
    assert_int_equal(tg_id_max(), TG_ID_MAX);
    assert_int_equal(tg_envelope_header_bytes(), 56);
    assert_int_equal(tg_envelope_overhead(), 72);
    assert_int_equal(tg_message_max(), TG_MESSAGE_MAX);
    assert_int_equal(tg_kms_wrapped_max(), TG_KMS_WRAPPED_MAX);
    tgt_ctx_close(ctx);
}

/* ---- root key sources ---- */

static void write_file(const char *path, const uint8_t *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static int open_with(tg_ctx **ctx, tg_store *store, const char *store_path, const uint8_t *key,
                     const char *key_path)
{
    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store = store;
    cfg.store_path = store_path;
    cfg.master_key = key;
    cfg.master_key_path = key_path;
    return tg_ctx_open(ctx, &cfg);
}

static void test_master_key_file(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char dirbuf[512], path[600];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    tg_store *store = NULL;
    tg_ctx *ctx = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    unsetenv(TG_MASTER_KEY_ENV);

    snprintf(path, sizeof path, "%s/master.key", dirbuf);
    write_file(path, tgt_master_key, 32, 0644);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EPERM);
    assert_null(ctx);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "0644"));
    chmod(path, 0640);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EPERM);
    chmod(path, 0602);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EPERM);
    chmod(path, 0600);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_OK);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "keyed by a file");
    tg_ctx_close(ctx);
    /* The same key given directly opens it. */
    expect_rc(open_with(&ctx, store, NULL, tgt_master_key, NULL), TG_OK);
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "keyed by a file"), TG_OK);
    tg_ctx_close(ctx);
    chmod(path, 0400);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_OK);
    tg_ctx_close(ctx);

    /* Wrong sizes. */
    write_file(path, tgt_master_key, 31, 0600);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EFORMAT);
    uint8_t long_key[33] = {0};
    write_file(path, long_key, 33, 0600);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EFORMAT);
    write_file(path, long_key, 0, 0600);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EFORMAT);
    /* Not a regular file, absent, empty path. */
    expect_rc(open_with(&ctx, store, NULL, NULL, dirbuf), TG_EPERM);
    snprintf(path, sizeof path, "%s/fifo", dirbuf);
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EPERM);
    snprintf(path, sizeof path, "%s/absent.key", dirbuf);
    expect_rc(open_with(&ctx, store, NULL, NULL, path), TG_EPERM);
    expect_rc(open_with(&ctx, store, NULL, NULL, ""), TG_EINVAL);

    /* A wrong key (given directly) cannot unwrap: TG_EKMS, not a crash. */
    uint8_t wrong[32];
    memset(wrong, 7, sizeof wrong);
    expect_rc(open_with(&ctx, store, NULL, wrong, NULL), TG_OK);
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_EKMS);
    tg_ctx_close(ctx);

    tg_store_close(store);
    tgt_rmtree(dirbuf);
}

static void test_master_key_env(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tg_ctx *ctx = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, tgt_master_key, 32);
    const char *bad[] = {"", "00", "zz", "0123", hex + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(TG_MASTER_KEY_ENV, bad[i], 1);
        expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_EINVAL);
        assert_non_null(strstr(tg_ctx_errmsg(NULL), TG_MASTER_KEY_ENV));
        assert_null(ctx);
    }
    char bad_hex[70];
    snprintf(bad_hex, sizeof bad_hex, "%s", hex);
    bad_hex[10] = 'g';
    setenv(TG_MASTER_KEY_ENV, bad_hex, 1);
    expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_EINVAL);
    snprintf(bad_hex, sizeof bad_hex, "%s00", hex);
    setenv(TG_MASTER_KEY_ENV, bad_hex, 1);
    expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_EINVAL);
    snprintf(bad_hex, sizeof bad_hex, "%s ", hex);
    setenv(TG_MASTER_KEY_ENV, bad_hex, 1);
    expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_EINVAL);

    setenv(TG_MASTER_KEY_ENV, hex, 1);
    expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_OK);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "keyed by the environment");
    tg_ctx_close(ctx);
    /* master_key beats the environment; both are the same key here. */
    expect_rc(open_with(&ctx, store, NULL, tgt_master_key, NULL), TG_OK);
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "keyed by the environment"), TG_OK);
    tg_ctx_close(ctx);
    unsetenv(TG_MASTER_KEY_ENV);

    /* No source at all with a store handle. */
    expect_rc(open_with(&ctx, store, NULL, NULL, NULL), TG_EINVAL);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "no root key"));
    tg_store_close(store);
}

static void test_default_key_file_sqlite(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char dirbuf[512], db[600], key[620];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    snprintf(db, sizeof db, "%s/tg.db", dirbuf);
    snprintf(key, sizeof key, "%s.key", db);
    unsetenv(TG_MASTER_KEY_ENV);
    tg_ctx *ctx = NULL;
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_OK);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "persisted");
    tg_ctx_close(ctx);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);

    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_OK);
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "persisted"), TG_OK);
    uint32_t v;
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    tg_ctx_close(ctx);
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_OK);
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "persisted"), TG_OK);
    expect_rc(tg_keyring_primary_version(ctx, &v, "acme"), TG_OK);
    assert_int_equal(v, 2);
    tg_ctx_close(ctx);

    /* The default key file is checked like any other. */
    chmod(key, 0644);
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_EPERM);
    assert_null(ctx);
    tgt_rmtree(dirbuf);
}

/* The default key file must be a regular file (not a symbolic link, which
 * whoever can write the directory could plant), owned by this user, with
 * 32 bytes; an empty one is reported, never overwritten. An explicit
 * master_key_path may be a symbolic link (the host chose it), but its
 * target is checked the same way. */
static void test_default_key_file_checks(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char dirbuf[512], db[600], key[620], real[620];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    snprintf(db, sizeof db, "%s/tg.db", dirbuf);
    snprintf(key, sizeof key, "%s.key", db);
    snprintf(real, sizeof real, "%s/real.key", dirbuf);
    unsetenv(TG_MASTER_KEY_ENV);
    tg_ctx *ctx = NULL;

    /* A symbolic link to a perfectly good key file. */
    write_file(real, tgt_master_key, 32, 0600);
    assert_int_equal(symlink(real, key), 0);
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_EPERM);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "symbolic link"));
    assert_null(ctx);
    expect_rc(open_with(&ctx, NULL, db, NULL, key), TG_OK); /* explicit: followed */
    tg_ctx_close(ctx);
    unlink(key);
    /* A dangling one is not replaced by a new key either. */
    char absent[640];
    snprintf(absent, sizeof absent, "%s/absent", dirbuf);
    assert_int_equal(symlink(absent, key), 0);
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_EPERM);
    assert_int_equal(access(absent, F_OK), -1);
    unlink(key);

    /* Empty: a person must look at it; it is left as it is. */
    write_file(key, tgt_master_key, 0, 0600);
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_EFORMAT);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "empty"));
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_size, 0);
    unlink(key);

    /* Owned by another user (needs root to arrange). */
    write_file(key, tgt_master_key, 32, 0600);
    if (chown(key, 65534, 65534) == 0) {
        expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_EPERM);
        assert_non_null(strstr(tg_ctx_errmsg(NULL), "owned by uid 65534"));
        expect_rc(open_with(&ctx, NULL, db, NULL, key), TG_EPERM);
        expect_rc(open_with(&ctx, NULL, db, NULL, real), TG_OK); /* ours */
        tg_ctx_close(ctx);
    } else {
        fprintf(stderr, "# skipped the other-owner check: chown: %s\n", strerror(errno));
    }
    tgt_rmtree(dirbuf);
}

/* Two openers of a new store at once: exactly one key is created, both use
 * it, and no temporary file is left behind. Threads, then processes. */
typedef struct opener {
    const char *db;
    pthread_barrier_t *go;
    tg_ctx *ctx;
    int rc;
    char msg[512];
} opener;

static void *open_concurrently(void *p)
{
    opener *o = p;
    pthread_barrier_wait(o->go);
    o->rc = open_with(&o->ctx, NULL, o->db, NULL, NULL);
    snprintf(o->msg, sizeof o->msg, "%s", tg_ctx_errmsg(NULL));
    return NULL;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".key"))
            n++;
    closedir(d);
    return n;
}

static void test_default_key_file_concurrent_open(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char dirbuf[512], db[600];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    unsetenv(TG_MASTER_KEY_ENV);
    for (int round = 0; round < 20; round++) {
        snprintf(db, sizeof db, "%s/t%d.db", dirbuf, round);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        opener o[2] = {{db, &go, NULL, -1, ""}, {db, &go, NULL, -1, ""}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, open_concurrently, &o[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < 2; i++)
            if (o[i].rc != TG_OK)
                fail_msg("round %d, opener %d: %s: %s", round, i, tg_strerror(o[i].rc), o[i].msg);
        env_t e;
        seal(o[0].ctx, &e, "acme", "alice", "m1", "one key for both");
        assert_int_equal(open_env(o[1].ctx, &e, "acme", "m1", "one key for both"), TG_OK);
        tg_ctx_close(o[0].ctx);
        tg_ctx_close(o[1].ctx);
    }
    assert_int_equal(count_entries(dirbuf), 20); /* the keys, no temporary files */

    /* Processes: each child seals a message; the parent opens both. */
    snprintf(db, sizeof db, "%s/procs.db", dirbuf);
    env_t e[2];
    int pipes[2][2];
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(pipes[i]), 0);
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0) {
            tg_ctx *ctx = NULL;
            env_t mine;
            char id[8];
            snprintf(id, sizeof id, "p%d", i);
            if (open_with(&ctx, NULL, db, NULL, NULL) != TG_OK ||
                tg_keyring_encrypt(ctx, mine.buf, sizeof mine.buf, &mine.len, "acme", "alice",
                                   id, (const uint8_t *)"hi", 2) != TG_OK ||
                write(pipes[i][1], &mine, sizeof mine) != (ssize_t)sizeof mine)
                _exit(1);
            tg_ctx_close(ctx);
            _exit(0);
        }
        close(pipes[i][1]);
    }
    for (int i = 0; i < 2; i++) {
        int status;
        assert_int_equal(read(pipes[i][0], &e[i], sizeof e[i]), (ssize_t)sizeof e[i]);
        close(pipes[i][0]);
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    tg_ctx *ctx = NULL;
    expect_rc(open_with(&ctx, NULL, db, NULL, NULL), TG_OK);
    assert_int_equal(open_env(ctx, &e[0], "acme", "p0", "hi"), TG_OK);
    assert_int_equal(open_env(ctx, &e[1], "acme", "p1", "hi"), TG_OK);
    tg_ctx_close(ctx);
    assert_int_equal(count_entries(dirbuf), 21);
    tgt_rmtree(dirbuf);
}

/* ---- a host key service ---- */

typedef struct test_kms {
    uint8_t key[32];
    int wraps, unwraps;
    int fail; /* return this from both when non-zero */
    size_t bad_len; /* unwrap reports this length when non-zero */
} test_kms;

static int kms_wrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *key,
                    size_t key_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    test_kms *k = user;
    k->wraps++;
    if (k->fail)
        return k->fail;
    if (out_cap < key_len + 40)
        return TG_ERANGE;
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, key, key_len, ad, ad_len, NULL,
                                               out, k->key);
    *out_len = key_len + 40;
    return TG_OK;
}

static int kms_unwrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                      size_t wrapped_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    test_kms *k = user;
    k->unwraps++;
    if (k->fail)
        return k->fail;
    if (wrapped_len < 40 || out_cap < wrapped_len - 40)
        return TG_ERANGE;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, wrapped + 24, wrapped_len - 24,
                                                   ad, ad_len, wrapped, k->key) != 0)
        return TG_EAUTH;
    *out_len = k->bad_len ? k->bad_len : wrapped_len - 40;
    return TG_OK;
}

static int open_kms(tg_ctx **ctx, tg_store *store, const tg_kms_ops *ops)
{
    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store = store;
    cfg.kms = ops;
    cfg.master_key = tgt_master_key; /* ignored: kms wins */
    return tg_ctx_open(ctx, &cfg);
}

static void test_host_kms(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tg_ctx *ctx = NULL;
    test_kms k = {{0}, 0, 0, 0, 0};
    memset(k.key, 0x42, sizeof k.key);
    tg_kms_ops ops = {TG_KMS_VERSION, sizeof ops, &k, kms_wrap, kms_unwrap};
    expect_rc(tg_store_open_memory(&store), TG_OK);

    tg_kms_ops bad = ops;
    bad.version = 0;
    expect_rc(open_kms(&ctx, store, &bad), TG_EVERSION);
    bad.version = TG_KMS_VERSION + 1;
    expect_rc(open_kms(&ctx, store, &bad), TG_EVERSION);
    bad = ops;
    bad.struct_size = sizeof bad - 1;
    expect_rc(open_kms(&ctx, store, &bad), TG_EVERSION);
    bad = ops;
    bad.wrap = NULL;
    expect_rc(open_kms(&ctx, store, &bad), TG_EINVAL);
    bad = ops;
    bad.unwrap = NULL;
    expect_rc(open_kms(&ctx, store, &bad), TG_EINVAL);
    assert_null(ctx);

    /* The ops are copied: changing ours after open changes nothing. */
    bad = ops;
    expect_rc(open_kms(&ctx, store, &bad), TG_OK);
    memset(&bad, 0, sizeof bad);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "kms wrapped");
    assert_int_equal(k.wraps, 2);   /* index key and version 1 */
    assert_int_equal(k.unwraps, 0); /* the fresh keys were used directly */
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "kms wrapped"), TG_OK);
    tg_ctx_close(ctx);

    /* A new context unwraps through the service, then caches. */
    expect_rc(open_kms(&ctx, store, &ops), TG_OK);
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "kms wrapped"), TG_OK);
    int unwraps = k.unwraps;
    assert_true(unwraps >= 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(open_env(ctx, &e, "acme", "m1", "kms wrapped"), TG_OK);
    assert_int_equal(k.unwraps, unwraps);
    /* Rotation wraps the new version once. */
    uint32_t v;
    int wraps = k.wraps;
    expect_rc(tg_keyring_rotate(ctx, &v, "acme"), TG_OK);
    assert_int_equal(k.wraps, wraps + 1);
    tg_ctx_close(ctx);

    /* A failing service: TG_EKMS; a lying one: TG_ECALLBACK. */
    expect_rc(open_kms(&ctx, store, &ops), TG_OK);
    k.fail = TG_EKMS;
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_EKMS);
    env_t scratch;
    expect_rc(tg_keyring_encrypt(ctx, scratch.buf, sizeof scratch.buf, &scratch.len, "newws",
                                 "bob", "m2", (const uint8_t *)"x", 1),
              TG_EKMS);
    k.fail = 5;
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_ECALLBACK);
    k.fail = 0;
    k.bad_len = 16;
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_ECALLBACK);
    k.bad_len = 0;
    expect_rc(tg_keyring_primary_version(ctx, &v, "newws"), TG_ENOTFOUND); /* nothing half-made */
    tg_ctx_close(ctx);

    /* A service with another key cannot unwrap: TG_EKMS. */
    test_kms other = k;
    memset(other.key, 0x43, sizeof other.key);
    tg_kms_ops other_ops = {TG_KMS_VERSION, sizeof other_ops, &other, kms_wrap, kms_unwrap};
    expect_rc(open_kms(&ctx, store, &other_ops), TG_OK);
    expect_rc(open_env(ctx, &e, "acme", "m1", NULL), TG_EKMS);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* ---- the cache ---- */

static void test_cache_ttl_across_contexts(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tgt_clock clock = {1700000000000};
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = open_ctx(store, &clock, 1000, 0);
    tg_ctx *b = open_ctx(store, &clock, 1000, 0);
    env_t e, f;
    seal(a, &e, "acme", "alice", "m1", "cached elsewhere");
    seal(a, &f, "acme", "bob", "m2", "bob's");
    assert_int_equal(open_env(b, &e, "acme", "m1", "cached elsewhere"), TG_OK);

    /* a shreds alice: at once for a, but b may use its cached key until the
     * entry's time-to-live has passed on its clock. */
    expect_rc(tg_keyring_shred_subject(a, "acme", "alice"), TG_OK);
    expect_rc(open_env(a, &e, "acme", "m1", NULL), TG_ESHREDDED);
    clock.now_ms += 999;
    assert_int_equal(open_env(b, &e, "acme", "m1", "cached elsewhere"), TG_OK);
    clock.now_ms += 1;
    expect_rc(open_env(b, &e, "acme", "m1", NULL), TG_ESHREDDED);
    assert_int_equal(open_env(b, &f, "acme", "m2", "bob's"), TG_OK);

    /* The same for a whole workspace. */
    assert_int_equal(open_env(b, &f, "acme", "m2", "bob's"), TG_OK);
    expect_rc(tg_keyring_shred_workspace(a, "acme"), TG_OK);
    assert_int_equal(open_env(b, &f, "acme", "m2", "bob's"), TG_OK);
    clock.now_ms += 1000;
    expect_rc(open_env(b, &f, "acme", "m2", NULL), TG_ESHREDDED);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_store_close(store);
}

/* An instance whose cached metadata still says "active" learns of a
 * workspace shredded elsewhere as soon as it misses a key version or a
 * subject key in the store: TG_ESHREDDED, not TG_EKEYVERSION or
 * TG_ENOTFOUND, and it forgets the workspace's cached keys. */
static void test_shredded_elsewhere_is_reported_as_shredded(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tgt_clock clock = {1700000000000};
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = open_ctx(store, &clock, 60000, 0);
    tg_ctx *b = open_ctx(store, &clock, 60000, 0);
    tg_ctx *c = open_ctx(store, &clock, 60000, 0);
    env_t m1, m2, m3;
    uint32_t v;
    seal(a, &m1, "acme", "alice", "m1", "under version 1");
    expect_rc(tg_keyring_rotate(a, &v, "acme"), TG_OK);
    seal(a, &m2, "acme", "bob", "m2", "bob under version 2");
    seal(a, &m3, "acme", "carol", "m3", "carol under version 2");
    /* b caches the metadata, version 2 and bob's message key; c only the
     * metadata. */
    assert_int_equal(open_env(b, &m2, "acme", "m2", "bob under version 2"), TG_OK);
    expect_rc(tg_keyring_primary_version(c, &v, "acme"), TG_OK);
    expect_rc(tg_keyring_shred_workspace(a, "acme"), TG_OK);
    clock.now_ms += 1000;
    /* b: version 2 cached, carol's subject key gone from the store. */
    expect_rc(open_env(b, &m3, "acme", "m3", NULL), TG_ESHREDDED);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "crypto-shredded"));
    /* ... and b no longer uses what it had cached for the workspace. */
    expect_rc(open_env(b, &m2, "acme", "m2", NULL), TG_ESHREDDED);
    /* c: version 1 gone from the store. */
    expect_rc(open_env(c, &m1, "acme", "m1", NULL), TG_ESHREDDED);
    /* A forged key id in a live workspace is still "unknown". */
    env_t g, forged;
    seal(a, &g, "globex", "alice", "g1", "live");
    forged = g;
    forged.buf[20] ^= 1;
    expect_rc(open_env(c, &forged, "globex", "g1", NULL), TG_ENOTFOUND);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "unknown"));
    forged = g;
    tg__put_u32(forged.buf + 12, 9);
    expect_rc(open_env(c, &forged, "globex", "g1", NULL), TG_EKEYVERSION);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "no key version 9"));
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_ctx_close(c);
    tg_store_close(store);
}

/* A message key derived from a cached version key is no fresher than that
 * version key: another instance stops decrypting a version retired
 * elsewhere one TTL after the retirement, not up to two. */
static void test_cache_ttl_counts_from_the_oldest_read(void **state)
{
    (void)state;
    tg_store *store = NULL;
    tgt_clock clock = {1700000000000};
    const int64_t t0 = clock.now_ms;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = open_ctx(store, &clock, 60000, 0);
    tg_ctx *b = open_ctx(store, &clock, 60000, 0);
    env_t e, f;
    uint32_t v;
    seal(a, &e, "acme", "alice", "m1", "sealed under version 1");
    /* b caches the workspace metadata at 0 s and version 1's key at 30 s. */
    expect_rc(tg_keyring_primary_version(b, &v, "acme"), TG_OK);
    clock.now_ms = t0 + 30000;
    assert_int_equal(open_env(b, &e, "acme", "m1", "sealed under version 1"), TG_OK);
    /* a rotates and retires version 1 at 31 s. */
    clock.now_ms = t0 + 31000;
    expect_rc(tg_keyring_rotate(a, &v, "acme"), TG_OK);
    expect_rc(tg_keyring_retire(a, "acme", 1), TG_OK);
    expect_rc(open_env(a, &e, "acme", "m1", NULL), TG_ERETIRED);
    /* At 61 s b reads the metadata again but still has version 1's key:
     * within one TTL of the retirement it may still decrypt. */
    clock.now_ms = t0 + 61000;
    assert_int_equal(open_env(b, &e, "acme", "m1", "sealed under version 1"), TG_OK);
    /* One TTL after the retirement it must not (it did until 121 s). */
    clock.now_ms = t0 + 91000;
    expect_rc(open_env(b, &e, "acme", "m1", NULL), TG_ERETIRED);
    clock.now_ms = t0 + 120000;
    expect_rc(open_env(b, &e, "acme", "m1", NULL), TG_ERETIRED);
    /* b's encryption moved on to version 2 as well. */
    seal(b, &f, "acme", "alice", "m2", "sealed under version 2");
    assert_int_equal(env_version(&f), 2);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_store_close(store);
}

/* With warm keys, encrypt and decrypt touch neither the store, nor the
 * allocator, nor the key service. */
static void test_hot_path_is_cache_only(void **state)
{
    (void)state;
    tg_store *mem = NULL, *store = NULL;
    tgt_failing_alloc fa;
    tgt_failing_alloc_init(&fa, 0);
    test_kms k = {{0}, 0, 0, 0, 0};
    tg_kms_ops ops = {TG_KMS_VERSION, sizeof ops, &k, kms_wrap, kms_unwrap};
    expect_rc(tg_store_open_memory(&mem), TG_OK);
    expect_rc(tg__store_open_faulty(&store, mem, 0), TG_OK);
    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store = store;
    cfg.kms = &ops;
    cfg.allocator = &fa.ops;
    tg_ctx *ctx = NULL;
    expect_rc(tg_ctx_open(&ctx, &cfg), TG_OK);
    env_t e;
    seal(ctx, &e, "acme", "alice", "m1", "warm");
    assert_int_equal(open_env(ctx, &e, "acme", "m1", "warm"), TG_OK);
    long ops_before = tg__store_faulty_count(store), calls = fa.calls;
    int kms_calls = k.wraps + k.unwraps;
    for (int i = 0; i < 100; i++) {
        seal(ctx, &e, "acme", "alice", "m1", "hot");
        assert_int_equal(open_env(ctx, &e, "acme", "m1", "hot"), TG_OK);
    }
    assert_int_equal(tg__store_faulty_count(store), ops_before);
    assert_int_equal(fa.calls, calls);
    assert_int_equal(k.wraps + k.unwraps, kms_calls);
    tg_ctx_close(ctx);
    assert_int_equal(fa.live, 0);
    tg_store_close(store);
    tg_store_close(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sizes),
        cmocka_unit_test(test_two_workspaces_isolated),
        cmocka_unit_test(test_flip_every_byte),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_unknown_format_and_version),
        cmocka_unit_test(test_newer_store_record),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_retire),
        cmocka_unit_test(test_retire_rewraps_stragglers),
        cmocka_unit_test(test_stale_primary_refreshes),
        cmocka_unit_test(test_shred_subject),
        cmocka_unit_test(test_store_holds_no_subject_ids),
        cmocka_unit_test(test_shred_workspace),
        cmocka_unit_test(test_many_subjects),
        cmocka_unit_test(test_erasure_leaves_no_bytes_on_disk),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_master_key_file),
        cmocka_unit_test(test_master_key_env),
        cmocka_unit_test(test_default_key_file_sqlite),
        cmocka_unit_test(test_default_key_file_checks),
        cmocka_unit_test(test_default_key_file_concurrent_open),
        cmocka_unit_test(test_host_kms),
        cmocka_unit_test(test_cache_ttl_across_contexts),
        cmocka_unit_test(test_shredded_elsewhere_is_reported_as_shredded),
        cmocka_unit_test(test_cache_ttl_counts_from_the_oldest_read),
        cmocka_unit_test(test_hot_path_is_cache_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
