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

/* A scan's whole answer as one string: every finding and the redacted
 * text, so threads can be compared exactly. */
#define ANSWER_MAX 2048

typedef struct shared {
    const tg_dlp_ruleset *rules;
    char expected[NTEXTS][ANSWER_MAX];
} shared;

static void answer(const tg_dlp_ruleset *rules, const char *text, char out[ANSWER_MAX])
{
    tg_dlp_report *r;
    out[0] = '\0';
    if (tg_dlp_scan(&r, rules, text, strlen(text), 0.0) != TG_OK)
        return;
    size_t n = 0;
    for (size_t i = 0; i < tg_dlp_report_count(r); i++) {
        const tg_dlp_finding *f = tg_dlp_report_finding(r, i);
        n += (size_t)snprintf(out + n, ANSWER_MAX - n, "%s@%zu+%zu:%s:%.3f|", f->detector,
                              f->offset, f->length, f->preview, f->confidence);
    }
    char *red;
    if (tg_dlp_redact(&red, NULL, r, text, strlen(text)) == TG_OK) {
        snprintf(out + n, ANSWER_MAX - n, "%s", red);
        tg_dlp_free(red);
    }
    tg_dlp_report_free(r);
}

static void *worker(void *arg)
{
    shared *s = arg;
    int bad = 0;
    char got[ANSWER_MAX];
    for (int i = 0; i < ROUNDS; i++)
        for (size_t t = 0; t < NTEXTS; t++) {
            answer(s->rules, texts[t], got);
            bad += strcmp(got, s->expected[t]) != 0;
        }
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
    static shared s;
    s.rules = rules;
    for (size_t t = 0; t < NTEXTS; t++)
        answer(rules, texts[t], s.expected[t]);
    /* what each text must give, so a broken scan cannot pass by being
     * consistently broken */
    assert_non_null(strstr(s.expected[0], "credit_card@5+19"));
    assert_non_null(strstr(s.expected[1], "blocked_domain@"));
    assert_non_null(strstr(s.expected[3], "filter:0@0+14"));
    assert_string_equal(s.expected[2], "nothing here at 10:30 tomorrow");
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
