/*
 * test_dlp_threads.c - one ruleset shared by several threads: every thread
 * gets the same findings as a scan on its own would. Run under
 * ThreadSanitizer by `make check-threads SANITIZE=thread`.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define THREADS 4
#define ROUNDS 200

static const char *const texts[] = {
    "card 4111 1111 1111 1111 and mail jane.doe@example.com",
    "key AKIAIOSFODNN7EXAMPLE, see https://evil.com/x",
    "nothing here at 10:30 tomorrow",
    "project falcon is confidential; ssn 123-45-6780",
};
#define NTEXTS (sizeof texts / sizeof *texts)

typedef struct shared {
    const tg_dlp_ruleset *rules;
    size_t expected[NTEXTS];
    int mismatches;
} shared;

static size_t count_of(const tg_dlp_ruleset *rules, const char *text)
{
    tg_dlp_report *r;
    if (tg_dlp_scan(&r, rules, text, strlen(text), 0.0) != TG_OK)
        return SIZE_MAX;
    size_t n = tg_dlp_report_count(r);
    char *out;
    if (tg_dlp_redact(&out, NULL, r, text, strlen(text)) != TG_OK)
        n = SIZE_MAX;
    tg_dlp_free(out);
    tg_dlp_report_free(r);
    return n;
}

static void *worker(void *arg)
{
    shared *s = arg;
    int bad = 0;
    for (int i = 0; i < ROUNDS; i++)
        for (size_t t = 0; t < NTEXTS; t++)
            bad += count_of(s->rules, texts[t]) != s->expected[t];
    return (void *)(intptr_t)bad;
}

static void test_shared_ruleset(void **state)
{
    (void)state;
    const char *filters[] = {"(?i)project\\s+falcon", "confidential"};
    const char *domains[] = {"evil.com"};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 2;
    o.blocked_domains = domains;
    o.blocked_domain_count = 1;
    tg_dlp_ruleset *rules;
    assert_int_equal(tg_dlp_ruleset_new(&rules, &o), TG_OK);
    shared s = {rules, {0}, 0};
    for (size_t t = 0; t < NTEXTS; t++) {
        s.expected[t] = count_of(rules, texts[t]);
        assert_true(s.expected[t] != SIZE_MAX);
    }
    assert_true(s.expected[0] >= 2 && s.expected[1] >= 2 && s.expected[3] >= 2);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &s), 0);
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        bad += (int)(intptr_t)ret;
    }
    assert_int_equal(bad, 0);
    tg_dlp_ruleset_free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_ruleset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
