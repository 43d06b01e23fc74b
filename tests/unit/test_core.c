/* test_core.c - the context, its configuration, result codes, versions and
 * the clock: every public core function, with bad input. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "support.h"

static void expect_open_fails(const tg_config *cfg, int want, const char *words)
{
    tg_ctx *ctx = (tg_ctx *)&ctx; /* not NULL: the call must clear it */
    assert_int_equal(tg_ctx_open(&ctx, cfg), want);
    assert_null(ctx);
    if (!strstr(tg_ctx_errmsg(NULL), words))
        fail_msg("message \"%s\" lacks \"%s\"", tg_ctx_errmsg(NULL), words);
}

static void test_ctx_open_rejects_bad_config(void **state)
{
    (void)state;
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;

    assert_int_equal(tg_ctx_open(NULL, NULL), TG_EINVAL);
    expect_open_fails(NULL, TG_EINVAL, "config is NULL");

    tgt_config(&cfg, store, NULL);
    cfg.version = 0;
    expect_open_fails(&cfg, TG_EVERSION, "version 0");
    cfg.version = TG_CONFIG_VERSION + 1;
    expect_open_fails(&cfg, TG_EVERSION, "not supported");

    tgt_config(&cfg, store, NULL);
    cfg.struct_size = sizeof cfg - 1;
    expect_open_fails(&cfg, TG_EVERSION, "struct_size");

    tgt_config(&cfg, NULL, NULL);
    expect_open_fails(&cfg, TG_EINVAL, "store or store_path");
    cfg.store_path = "";
    expect_open_fails(&cfg, TG_EINVAL, "store or store_path");

    tgt_failing_alloc fa;
    tgt_failing_alloc_init(&fa, 0);
    tgt_config(&cfg, store, NULL);
    cfg.allocator = &fa.ops;
    fa.ops.version = 0;
    expect_open_fails(&cfg, TG_EVERSION, "allocator version");
    tgt_failing_alloc_init(&fa, 0);
    fa.ops.struct_size = 8;
    expect_open_fails(&cfg, TG_EVERSION, "allocator struct_size");
    tgt_failing_alloc_init(&fa, 0);
    fa.ops.free = NULL;
    expect_open_fails(&cfg, TG_EINVAL, "malloc, realloc and free");
    assert_int_equal(fa.calls, 0); /* refused before allocating anything */

    /* An allocator that fails at once: TG_ENOMEM, nothing left allocated. */
    tgt_failing_alloc_init(&fa, 1);
    expect_open_fails(&cfg, TG_ENOMEM, "out of memory");
    assert_int_equal(fa.live, 0);

    tg_store_close(store);
}

static void test_ctx_open_with_store_path_owns_the_store(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/owned.db", dir);
    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store_path = path;
    cfg.master_key = tgt_master_key;
    tg_ctx *ctx = NULL;
    assert_int_equal(tg_ctx_open(&ctx, &cfg), TG_OK);
    tg_ctx_close(ctx); /* closes the SQLite store it opened (valgrind/ASan: no leak) */

    snprintf(path, sizeof path, "%s/no-such-dir/x.db", dir);
    expect_open_fails(&cfg, TG_ESTORE, "cannot open");
    tgt_rmtree(dir);
}

static void test_close_and_init_accept_null(void **state)
{
    (void)state;
    tg_ctx_close(NULL);
    tg_store_close(NULL);
    tg_config_init(NULL);
    tg_config cfg;
    memset(&cfg, 0xAB, sizeof cfg);
    tg_config_init(&cfg);
    assert_int_equal(cfg.version, TG_CONFIG_VERSION);
    assert_int_equal(cfg.struct_size, sizeof cfg);
    assert_null(cfg.store);
    assert_null(cfg.store_path);
    assert_int_equal(cfg.key_cache_entries, 0);
}

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(tg_strerror(TG_OK), "success");
    for (int code = TG_EINTERNAL; code < 0; code++) {
        const char *s = tg_strerror(code);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        for (int other = code + 1; other < 0; other++)
            assert_string_not_equal(s, tg_strerror(other)); /* each its own name */
    }
    assert_string_equal(tg_strerror(TG_EINTERNAL - 1), "unknown error");
    assert_string_equal(tg_strerror(1), "unknown error");
    assert_string_equal(tg_strerror(INT32_MIN), "unknown error");
}

static void test_version_agrees_with_header(void **state)
{
    (void)state;
    assert_int_equal(tg_version_number(), TG_VERSION_NUMBER);
    assert_string_equal(tg_version_string(), TG_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", TG_VERSION_MAJOR, TG_VERSION_MINOR,
             TG_VERSION_PATCH);
    assert_string_equal(tg_version_string(), expect);
}

static void test_clock_is_injected(void **state)
{
    (void)state;
    tgt_clock clock = {.now_ms = 1234567};
    tg_ctx *ctx = tgt_ctx_memory(&clock);
    assert_non_null(ctx);
    assert_int_equal(tg_ctx_now_ms(ctx), 1234567);
    clock.now_ms += 60000;
    assert_int_equal(tg_ctx_now_ms(ctx), 1234567 + 60000);
    tgt_ctx_close(ctx);
    /* Without a context: the system clock, well after 2020. */
    assert_true(tg_ctx_now_ms(NULL) > INT64_C(1577836800000));
}

static void *fail_in_other_thread(void *arg)
{
    (void)arg;
    const char *before = tg_ctx_errmsg(NULL);
    int fresh = before[0] == '\0';
    tg_ctx_open(NULL, NULL); /* fails: a message on this thread only */
    return fresh ? (void *)1 : NULL;
}

static void test_errmsg_is_per_thread_and_never_null(void **state)
{
    (void)state;
    assert_non_null(tg_ctx_errmsg(NULL));
    expect_open_fails(NULL, TG_EINVAL, "config is NULL");
    /* Another thread starts with no message and its failure leaves ours. */
    pthread_t t;
    void *fresh = NULL;
    assert_int_equal(pthread_create(&t, NULL, fail_in_other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &fresh), 0);
    assert_non_null(fresh);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "config is NULL"));
}

static void test_identifier_checks(void **state)
{
    (void)state;
    size_t len = 0;
    assert_int_equal(tg__check_id("id", "acme", &len), TG_OK);
    assert_int_equal(len, 4);
    assert_int_equal(tg__check_id("id", "caf\xc3\xa9", &len), TG_OK);
    assert_int_equal(tg__check_id("id", NULL, &len), TG_EINVAL);
    assert_int_equal(tg__check_id("id", "", &len), TG_EINVAL);
    assert_int_equal(tg__check_id("id", "a\x7f", &len), TG_EINVAL);
    assert_int_equal(tg__check_id("id", "\xc0\xaf", &len), TG_EINVAL);       /* overlong */
    assert_int_equal(tg__check_id("id", "\xed\xa0\x80", &len), TG_EINVAL);   /* surrogate */
    assert_int_equal(tg__check_id("id", "\xf4\x90\x80\x80", &len), TG_EINVAL); /* > U+10FFFF */
    assert_int_equal(tg__check_id("id", "abc\xe2\x82", &len), TG_EINVAL);   /* truncated */
    char long_id[TG_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(tg__check_id("id", long_id, &len), TG_EINVAL);
    long_id[TG_ID_MAX] = '\0';
    assert_int_equal(tg__check_id("id", long_id, &len), TG_OK);
    assert_int_equal(len, TG_ID_MAX);
}

/* The word-at-a-time check agrees with a byte-by-byte one for every
 * length a word boundary can fall in and every position of every byte
 * value (a lone byte >= 0x80 is invalid UTF-8, so only printable ASCII
 * passes), and names the first control character's position. The id is
 * copied to the end of a heap block so that ASan sees any read past it. */
static void test_identifier_check_every_byte_at_every_position(void **state)
{
    (void)state;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (int c = 1; c < 256; c++) {
                char *id = malloc(len + 1);
                assert_non_null(id);
                memset(id, 'a', len);
                id[pos] = (char)c;
                id[len] = '\0';
                size_t got_len = 0;
                int rc = tg__check_id("id", id, &got_len);
                int want = c >= 0x20 && c < 0x7F ? TG_OK : TG_EINVAL;
                if (rc != want)
                    fail_msg("len %zu, byte 0x%02x at %zu: %d, want %d", len, c, pos, rc, want);
                if (rc == TG_OK)
                    assert_int_equal(got_len, len);
                if (c < 0x20 || c == 0x7F) {
                    char where[48];
                    snprintf(where, sizeof where, "control character at byte %zu", pos);
                    assert_non_null(strstr(tg_ctx_errmsg(NULL), where));
                }
                free(id);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_open_rejects_bad_config),
        cmocka_unit_test(test_ctx_open_with_store_path_owns_the_store),
        cmocka_unit_test(test_close_and_init_accept_null),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_version_agrees_with_header),
        cmocka_unit_test(test_clock_is_injected),
        cmocka_unit_test(test_errmsg_is_per_thread_and_never_null),
        cmocka_unit_test(test_identifier_checks),
        cmocka_unit_test(test_identifier_check_every_byte_at_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
