/*
 * test_dlp_alloc_faults.c - every allocation of a ruleset build, a scan
 * and a redaction fails in turn (PCRE2's included). Each failure must be
 * TG_ENOMEM with nothing returned, never a crash; AddressSanitizer's leak
 * check (make check-unit SANITIZE=address,undefined) sees that nothing
 * leaks. Each round runs in a fresh thread, so the per-thread scratch is
 * allocated (and can fail) every time.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dlp/dlp_impl.h"
#include "support.h"

static long calls, fail_at;

static bool nth_fails(void)
{
    return ++calls == fail_at;
}

typedef struct round {
    int result;      /* TG_OK when every step succeeded */
    bool clean_fail; /* a failure returned TG_ENOMEM and no object */
    size_t findings;
} round;

static const char text[] = "mail jane.doe@example.com, card 4111 1111 1111 1111, "
                           "key AKIAIOSFODNN7EXAMPLE, see https://evil.com/x, project falcon";

static void *run_round(void *arg)
{
    round *out = arg;
    const char *filters[] = {"(?i)project\\s+falcon", "secret-\\d+"};
    const char *domains[] = {"evil.com", "bad.example"};
    tg_dlp_action_rule actions[] = {{"email", TG_DLP_MASK}};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 2;
    o.blocked_domains = domains;
    o.blocked_domain_count = 2;
    o.actions = actions;
    o.action_count = 1;

    tg_dlp_ruleset *rules = (tg_dlp_ruleset *)1;
    out->result = tg_dlp_ruleset_new(&rules, &o);
    out->clean_fail = out->result == TG_ENOMEM && rules == NULL;
    if (out->result != TG_OK)
        return NULL;
    tg_dlp_report *report = (tg_dlp_report *)1;
    out->result = tg_dlp_scan(&report, rules, text, sizeof text - 1, 0.0);
    out->clean_fail = out->result == TG_ENOMEM && report == NULL;
    if (out->result == TG_OK) {
        out->findings = tg_dlp_report_count(report);
        char *red = (char *)1;
        out->result = tg_dlp_redact(&red, NULL, report, text, sizeof text - 1);
        out->clean_fail = out->result == TG_ENOMEM && red == NULL;
        tg_dlp_free(out->result == TG_OK ? red : NULL);
        tg_dlp_report_free(report);
    }
    tg_dlp_ruleset_free(rules);
    return NULL;
}

static round in_thread(void)
{
    round r = {0, false, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_round, &r), 0);
    pthread_join(t, NULL);
    return r;
}

static void test_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    /* The PCRE2 general context lives for the process: make it first. */
    assert_non_null(tg__dlp_pcre2_general());
    tg__dlp_alloc_should_fail = nth_fails;
    fail_at = 0;
    calls = 0;
    round clean = in_thread();
    long total = calls;
    assert_int_equal(clean.result, TG_OK);
    assert_true(clean.findings >= 5);
    assert_true(total > 50);

    long failures = 0;
    for (fail_at = 1; fail_at <= total; fail_at++) {
        calls = 0;
        round r = in_thread();
        if (r.result == TG_OK) {
            /* Some allocations only have a cheaper fallback (a JIT that
             * cannot be compiled runs interpreted); the answer is the
             * same. */
            assert_int_equal(r.findings, clean.findings);
            continue;
        }
        if (!r.clean_fail)
            fail_msg("allocation %ld of %ld: result %d without a clean TG_ENOMEM", fail_at,
                     total, r.result);
        failures++;
    }
    tg__dlp_alloc_should_fail = NULL;
    print_message("%ld allocations, %ld of them failed the call cleanly\n", total, failures);
    /* Most of the allocations are PCRE2's JIT compiler's, whose failure
     * only means the interpreter runs that pattern; the rest must fail. */
    assert_true(failures >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
