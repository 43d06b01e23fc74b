/*
 * test_keyring_cache.c - the keyring's key cache on its own: lookups,
 * replacement, the bound and LRU eviction, time-to-live on the given clock
 * (also when the clock goes backwards), purges by workspace, and the purge
 * epoch that keeps a racing load from caching a key shredded meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "support.h"
#include "keyring/cache.h"

static void ws_digest(tg__cache *c, uint8_t d[16], const char *ws)
{
    tg__cache_digest(c, d, ws, strlen(ws));
}

static void key_for(tg__cache *c, tg__cache_key *k, const char *ws, uint32_t n)
{
    uint8_t d[16], x[16] = {0};
    ws_digest(c, d, ws);
    memcpy(x, &n, sizeof n);
    tg__cache_key_make(k, TG__CK_MESSAGE, d, x, 1);
}

static void secret_for(uint8_t s[32], uint32_t n)
{
    memset(s, 0, 32);
    memcpy(s, &n, sizeof n);
    s[31] = 0x5A;
}

static void test_get_put_replace(void **state)
{
    (void)state;
    tg__cache *c = NULL;
    assert_int_equal(tg__cache_open(&c, tg__default_allocator(), 64, 1000), TG_OK);
    tg__cache_key k;
    uint8_t s[32], got[32], meta[TG__CACHE_META_BYTES], got_meta[TG__CACHE_META_BYTES];
    int64_t stored = 0;
    key_for(c, &k, "acme", 1);
    assert_false(tg__cache_get(c, &k, 100, got, NULL, NULL));
    secret_for(s, 1);
    memset(meta, 7, sizeof meta);
    tg__cache_put(c, &k, 100, tg__cache_epoch(c), s, meta);
    assert_true(tg__cache_get(c, &k, 150, got, got_meta, &stored));
    assert_memory_equal(got, s, 32);
    assert_memory_equal(got_meta, meta, sizeof meta);
    assert_int_equal(stored, 100);
    /* Replacing keeps one entry. */
    secret_for(s, 2);
    tg__cache_put(c, &k, 120, tg__cache_epoch(c), s, NULL);
    assert_true(tg__cache_get(c, &k, 150, got, got_meta, NULL));
    assert_memory_equal(got, s, 32);
    assert_int_equal(got_meta[0], 0);
    assert_int_equal(tg__cache_count(c), 1);
    /* Digests differ per identifier and per cache (random key). */
    uint8_t a[16], b[16], a2[16];
    ws_digest(c, a, "acme");
    ws_digest(c, b, "acme2");
    assert_memory_not_equal(a, b, 16);
    tg__cache *other = NULL;
    assert_int_equal(tg__cache_open(&other, tg__default_allocator(), 1, 1), TG_OK);
    ws_digest(other, a2, "acme");
    assert_memory_not_equal(a, a2, 16);
    tg__cache_close(other);
    tg__cache_close(c);
    tg__cache_close(NULL);
}

static void test_ttl(void **state)
{
    (void)state;
    tg__cache *c = NULL;
    assert_int_equal(tg__cache_open(&c, tg__default_allocator(), 8, 1000), TG_OK);
    tg__cache_key k;
    uint8_t s[32];
    secret_for(s, 9);
    key_for(c, &k, "acme", 9);
    tg__cache_put(c, &k, 5000, tg__cache_epoch(c), s, NULL);
    assert_true(tg__cache_get(c, &k, 5999, NULL, NULL, NULL));
    assert_false(tg__cache_get(c, &k, 6000, NULL, NULL, NULL)); /* expired and wiped */
    assert_int_equal(tg__cache_count(c), 0);
    /* A clock that went backwards does not make an entry live longer. */
    tg__cache_put(c, &k, 5000, tg__cache_epoch(c), s, NULL);
    assert_false(tg__cache_get(c, &k, 4999, NULL, NULL, NULL));
    tg__cache_close(c);
}

static void test_bound_and_lru(void **state)
{
    (void)state;
    /* Small caches have one shard, so LRU order is global and exact. */
    tg__cache *c = NULL;
    assert_int_equal(tg__cache_open(&c, tg__default_allocator(), 4, 1000000), TG_OK);
    tg__cache_key k[6];
    uint8_t s[32];
    for (uint32_t i = 0; i < 4; i++) {
        key_for(c, &k[i], "acme", i);
        secret_for(s, i);
        tg__cache_put(c, &k[i], 0, tg__cache_epoch(c), s, NULL);
    }
    assert_int_equal(tg__cache_count(c), 4);
    assert_true(tg__cache_get(c, &k[0], 1, NULL, NULL, NULL)); /* 0 is now the newest */
    key_for(c, &k[4], "acme", 4);
    tg__cache_put(c, &k[4], 1, tg__cache_epoch(c), s, NULL); /* evicts 1, the oldest */
    assert_int_equal(tg__cache_count(c), 4);
    assert_false(tg__cache_get(c, &k[1], 2, NULL, NULL, NULL));
    assert_true(tg__cache_get(c, &k[0], 2, NULL, NULL, NULL));
    assert_true(tg__cache_get(c, &k[2], 2, NULL, NULL, NULL));
    assert_true(tg__cache_get(c, &k[4], 2, NULL, NULL, NULL));

    /* Many more keys than room, in a sharded cache: never above the bound,
     * and every hit returns its own secret. */
    tg__cache *big = NULL;
    assert_int_equal(tg__cache_open(&big, tg__default_allocator(), 1024, 1000000), TG_OK);
    for (uint32_t i = 0; i < 5000; i++) {
        tg__cache_key kk;
        key_for(big, &kk, "acme", i);
        secret_for(s, i);
        tg__cache_put(big, &kk, 0, tg__cache_epoch(big), s, NULL);
    }
    assert_true(tg__cache_count(big) <= 1024);
    uint32_t hits = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        tg__cache_key kk;
        uint8_t got[32], want[32];
        key_for(big, &kk, "acme", i);
        secret_for(want, i);
        if (tg__cache_get(big, &kk, 1, got, NULL, NULL)) {
            hits++;
            assert_memory_equal(got, want, 32);
        }
    }
    assert_true(hits > 500 && hits <= 1024);
    tg__cache_close(big);
    tg__cache_close(c);
}

static void test_purge_and_epoch(void **state)
{
    (void)state;
    tg__cache *c = NULL;
    assert_int_equal(tg__cache_open(&c, tg__default_allocator(), 4096, 1000000), TG_OK);
    uint8_t s[32], acme[16];
    secret_for(s, 1);
    for (uint32_t i = 0; i < 100; i++) {
        tg__cache_key k;
        key_for(c, &k, "acme", i);
        tg__cache_put(c, &k, 0, tg__cache_epoch(c), s, NULL);
        key_for(c, &k, "globex", i);
        tg__cache_put(c, &k, 0, tg__cache_epoch(c), s, NULL);
    }
    assert_int_equal(tg__cache_count(c), 200);
    ws_digest(c, acme, "acme");
    uint64_t before = tg__cache_epoch(c);
    tg__cache_purge_workspace(c, acme);
    assert_int_equal(tg__cache_count(c), 100);
    tg__cache_key k;
    key_for(c, &k, "acme", 5);
    assert_false(tg__cache_get(c, &k, 1, NULL, NULL, NULL));
    key_for(c, &k, "globex", 5);
    assert_true(tg__cache_get(c, &k, 1, NULL, NULL, NULL));
    /* A load that began before the purge is not cached. */
    assert_int_not_equal(tg__cache_epoch(c), before);
    key_for(c, &k, "acme", 5);
    tg__cache_put(c, &k, 1, before, s, NULL);
    assert_false(tg__cache_get(c, &k, 1, NULL, NULL, NULL));
    tg__cache_put(c, &k, 1, tg__cache_epoch(c), s, NULL);
    assert_true(tg__cache_get(c, &k, 1, NULL, NULL, NULL));
    tg__cache_close(c);
}

static void test_open_failures_clean(void **state)
{
    (void)state;
    tgt_failing_alloc fa;
    tgt_failing_alloc_init(&fa, 0);
    tg__cache *c = NULL;
    assert_int_equal(tg__cache_open(&c, &fa.ops, 4096, 1000), TG_OK);
    tg__cache_close(c);
    long calls = fa.calls;
    assert_int_equal(fa.live, 0);
    for (long n = 1; n <= calls; n++) {
        tgt_failing_alloc_init(&fa, n);
        assert_int_equal(tg__cache_open(&c, &fa.ops, 4096, 1000), TG_ENOMEM);
        assert_null(c);
        assert_int_equal(fa.live, 0);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_replace),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_bound_and_lru),
        cmocka_unit_test(test_purge_and_epoch),
        cmocka_unit_test(test_open_failures_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
