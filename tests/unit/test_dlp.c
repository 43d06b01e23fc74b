/*
 * test_dlp.c - the DLP engine: rulesets and their errors, content filters
 * (including a catastrophic one), blocked domains, findings, redaction,
 * the threat score, and bad input of every kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support.h"
#include "utf8_check.h"

static tg_dlp_ruleset *rules_with(const char *const *filters, size_t nf,
                                  const char *const *domains, size_t nd)
{
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = nf;
    o.blocked_domains = domains;
    o.blocked_domain_count = nd;
    tg_dlp_ruleset *r = NULL;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    return r;
}

static tg_dlp_report *scan(const tg_dlp_ruleset *r, const char *text)
{
    tg_dlp_report *rep = NULL;
    assert_int_equal(tg_dlp_scan(&rep, r, text, strlen(text), 0.0), TG_OK);
    return rep;
}

/* The report's first finding of `detector`, or NULL. */
static const tg_dlp_finding *finding_of(const tg_dlp_report *rep, const char *detector)
{
    for (size_t i = 0; i < tg_dlp_report_count(rep); i++)
        if (strcmp(tg_dlp_report_finding(rep, i)->detector, detector) == 0)
            return tg_dlp_report_finding(rep, i);
    return NULL;
}

static bool found(const tg_dlp_report *rep, const char *detector)
{
    return finding_of(rep, detector) != NULL;
}

static void test_detector_catalogue(void **state)
{
    (void)state;
    size_t n = tg_dlp_detector_count();
    assert_true(n >= 35);
    for (size_t i = 0; i < n; i++) {
        tg_dlp_detector d;
        assert_int_equal(tg_dlp_detector_info(&d, i), TG_OK);
        assert_true(strlen(d.id) > 0 && strspn(d.id, "abcdefghijklmnopqrstuvwxyz0123456789_") ==
                                            strlen(d.id));
        assert_true(d.category >= TG_DLP_PII && d.category <= TG_DLP_NETWORK);
        assert_true(d.severity >= TG_DLP_LOW && d.severity <= TG_DLP_CRITICAL);
        assert_true(d.base_confidence > 0.0 && d.base_confidence <= 1.0);
        assert_true(d.default_action >= TG_DLP_ALLOW && d.default_action <= TG_DLP_BLOCK);
        assert_non_null(d.name);
        for (size_t j = 0; j < i; j++) {
            tg_dlp_detector e;
            tg_dlp_detector_info(&e, j);
            assert_string_not_equal(d.id, e.id);
        }
    }
    tg_dlp_detector d;
    assert_int_equal(tg_dlp_detector_info(&d, n), TG_ERANGE);
    assert_int_equal(tg_dlp_detector_info(NULL, 0), TG_EINVAL);
    assert_string_equal(tg_dlp_category_name(TG_DLP_CREDENTIAL), "credential");
    assert_string_equal(tg_dlp_category_name(99), "unknown");
    assert_string_equal(tg_dlp_action_name(TG_DLP_REDACT), "redact");
    assert_string_equal(tg_dlp_action_name(-1), "unknown");
    assert_string_equal(tg_dlp_severity_name(TG_DLP_CRITICAL), "critical");
    assert_string_equal(tg_dlp_severity_name(0), "unknown");
    assert_int_equal(tg_dlp_text_max(), TG_DLP_TEXT_MAX);
    assert_int_equal(tg_dlp_filters_max(), TG_DLP_FILTERS_MAX);
    assert_int_equal(tg_dlp_domains_max(), TG_DLP_DOMAINS_MAX);
    assert_int_equal(tg_dlp_findings_max(), TG_DLP_FINDINGS_MAX);
}

static void expect_ruleset_error(const tg_dlp_options *o, int code, const char *msg_part)
{
    tg_dlp_ruleset *r = (tg_dlp_ruleset *)1;
    assert_int_equal(tg_dlp_ruleset_new(&r, o), code);
    assert_null(r);
    if (!strstr(tg_ctx_errmsg(NULL), msg_part))
        fail_msg("error message \"%s\" lacks \"%s\"", tg_ctx_errmsg(NULL), msg_part);
}

static void test_ruleset_errors(void **state)
{
    (void)state;
    assert_int_equal(tg_dlp_ruleset_new(NULL, NULL), TG_EINVAL);
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.version = 99;
    expect_ruleset_error(&o, TG_EVERSION, "version");

    const char *bad[] = {"card \\d{4}", "ok", "(unclosed"};
    tg_dlp_options_init(&o);
    o.filters = bad;
    o.filter_count = 3;
    expect_ruleset_error(&o, TG_EINVAL, "filters[2]: PCRE2 error at offset 9");

    const char *nulls[] = {NULL};
    o.filters = nulls;
    o.filter_count = 1;
    expect_ruleset_error(&o, TG_EINVAL, "filters[0]: NULL pattern");
    const char *empty[] = {""};
    o.filters = empty;
    expect_ruleset_error(&o, TG_EINVAL, "filters[0]: empty pattern");
    const char *invalid_utf8[] = {"caf\xc3"};
    o.filters = invalid_utf8;
    expect_ruleset_error(&o, TG_EINVAL, "not valid UTF-8");
    char *huge = malloc(5000);
    memset(huge, 'a', 4999);
    huge[4999] = '\0';
    const char *long_one[] = {huge};
    o.filters = long_one;
    expect_ruleset_error(&o, TG_EINVAL, "longer than 4096");
    free(huge);
    o.filters = NULL;
    expect_ruleset_error(&o, TG_EINVAL, "filters is NULL");
    o.filter_count = TG_DLP_FILTERS_MAX + 1;
    expect_ruleset_error(&o, TG_EINVAL, "at most");

    tg_dlp_options_init(&o);
    const char *domains[] = {"ok.example", "not a domain"};
    o.blocked_domains = domains;
    o.blocked_domain_count = 2;
    expect_ruleset_error(&o, TG_EINVAL, "blocked_domains[1]");
    const char *unicode[] = {"b\xc3\xbc" "cher.de"};
    o.blocked_domains = unicode;
    o.blocked_domain_count = 1;
    expect_ruleset_error(&o, TG_EINVAL, "punycode");
    const char *dots[] = {"..."};
    o.blocked_domains = dots;
    expect_ruleset_error(&o, TG_EINVAL, "blocked_domains[0]");

    tg_dlp_options_init(&o);
    tg_dlp_action_rule unknown = {"no_such_detector", TG_DLP_BLOCK};
    o.actions = &unknown;
    o.action_count = 1;
    expect_ruleset_error(&o, TG_EINVAL, "unknown detector \"no_such_detector\"");
    tg_dlp_action_rule bad_action = {"credit_card", 7};
    o.actions = &bad_action;
    expect_ruleset_error(&o, TG_EINVAL, "unknown action 7");
    tg_dlp_action_rule no_filter = {"filter:3", TG_DLP_BLOCK};
    o.actions = &no_filter;
    expect_ruleset_error(&o, TG_EINVAL, "no content filter");
    tg_dlp_options_init(&o);
    const char *empty_match[] = {"(?i)(?=.*project)(?=.*falcon)"};
    o.filters = empty_match;
    o.filter_count = 1;
    expect_ruleset_error(&o, TG_EINVAL, "filters[0]: the pattern can match the empty string");
    tg_dlp_options_init(&o);
    o.action_count = 1;
    tg_dlp_action_rule unnamed = {NULL, TG_DLP_BLOCK};
    o.actions = &unnamed;
    expect_ruleset_error(&o, TG_EINVAL, "no detector named");

    /* With the built-ins off, an action for one of them is accepted. */
    tg_dlp_options_init(&o);
    tg_dlp_action_rule email = {"email", TG_DLP_BLOCK};
    o.builtin_disabled = 1;
    o.actions = &email;
    o.action_count = 1;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    tg_dlp_ruleset_free(r);

    tg_dlp_ruleset_free(NULL);
    tg_dlp_options_init(NULL);
}

static void test_scan_bad_input(void **state)
{
    (void)state;
    tg_dlp_ruleset *r = rules_with(NULL, 0, NULL, 0);
    tg_dlp_report *rep = (tg_dlp_report *)1;
    assert_int_equal(tg_dlp_scan(NULL, r, "x", 1, 0), TG_EINVAL);
    assert_int_equal(tg_dlp_scan(&rep, NULL, "x", 1, 0), TG_EINVAL);
    assert_null(rep);
    assert_int_equal(tg_dlp_scan(&rep, r, NULL, 5, 0), TG_EINVAL);
    assert_int_equal(tg_dlp_scan(&rep, r, "x", 1, -0.1), TG_EINVAL);
    assert_int_equal(tg_dlp_scan(&rep, r, "x", 1, 1.5), TG_EINVAL);
    assert_int_equal(tg_dlp_scan(&rep, r, "x", 1, 0.0 / 0.0), TG_EINVAL);
    /* The length is checked before a byte is read. */
    assert_int_equal(tg_dlp_scan(&rep, r, "x", (size_t)TG_DLP_TEXT_MAX + 1, 0), TG_ERANGE);

    /* Empty text, NULL or not: a report with nothing in it. */
    assert_int_equal(tg_dlp_scan(&rep, r, NULL, 0, 0), TG_OK);
    assert_int_equal(tg_dlp_report_count(rep), 0);
    assert_int_equal(tg_dlp_report_action(rep), TG_DLP_ALLOW);
    assert_true(tg_dlp_report_threat_score(rep) == 0.0);
    assert_null(tg_dlp_report_finding(rep, 0));
    char *out;
    size_t out_len = 99;
    assert_int_equal(tg_dlp_redact(&out, &out_len, rep, NULL, 0), TG_OK);
    assert_string_equal(out, "");
    assert_int_equal(out_len, 0);
    tg_dlp_free(out);
    tg_dlp_report_free(rep);

    /* NULL reports answer as empty ones. */
    assert_int_equal(tg_dlp_report_count(NULL), 0);
    assert_null(tg_dlp_report_finding(NULL, 0));
    assert_int_equal(tg_dlp_report_action(NULL), TG_DLP_ALLOW);
    assert_true(tg_dlp_report_threat_score(NULL) == 0.0);
    assert_int_equal(tg_dlp_report_incomplete(NULL), 0);
    tg_dlp_report_free(NULL);
    tg_dlp_free(NULL);
    tg_dlp_ruleset_free(r);
}

/* A pattern with exponential backtracking ends at its match limit, fast,
 * and the report says the filter's verdict is unknown. */
static void test_catastrophic_filter(void **state)
{
    (void)state;
    const char *filters[] = {"(a+)+$", "(x+x+)+y", "secret"};
    tg_dlp_ruleset *r = rules_with(filters, 3, NULL, 0);
    char text[4096];
    memset(text, 'a', 40);
    strcpy(text + 40, "! and xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx! yes, the secret");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tg_dlp_report *rep = scan(r, text);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 2.0); /* unbounded, it would take years */
    assert_int_equal(tg_dlp_report_incomplete(rep), 2);
    assert_true(found(rep, "filter:2"));
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

static void test_filters_find_and_act(void **state)
{
    (void)state;
    const char *filters[] = {"(?i)project\\s+falcon", "internal-only"};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 2;
    o.builtin_disabled = 1;
    tg_dlp_action_rule act[] = {{"filter", TG_DLP_REDACT}, {"filter:1", TG_DLP_ALLOW}};
    o.actions = act;
    o.action_count = 2;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    const char *text = "About PROJECT  Falcon: internal-only, really.";
    tg_dlp_report *rep = scan(r, text);
    assert_int_equal(tg_dlp_report_count(rep), 2);
    const tg_dlp_finding *f = tg_dlp_report_finding(rep, 0);
    assert_string_equal(f->detector, "filter:0");
    assert_int_equal(f->category, TG_DLP_CUSTOM);
    assert_int_equal(f->offset, 6);
    assert_int_equal(f->length, 15);
    assert_int_equal(f->action, TG_DLP_REDACT);
    assert_null(strstr(f->preview, "Falcon"));
    assert_int_equal(tg_dlp_report_finding(rep, 1)->action, TG_DLP_ALLOW);
    assert_int_equal(tg_dlp_report_action(rep), TG_DLP_REDACT);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    assert_string_equal(out, "About [REDACTED:filter:0]: internal-only, really.");
    tg_dlp_free(out);
    /* The report is of that text only. */
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, 3), TG_EINVAL);
    assert_null(out);
    assert_int_equal(tg_dlp_redact(NULL, NULL, rep, text, strlen(text)), TG_EINVAL);
    assert_int_equal(tg_dlp_redact(&out, NULL, NULL, text, strlen(text)), TG_EINVAL);
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, NULL, strlen(text)), TG_EINVAL);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

static void test_blocked_domains(void **state)
{
    (void)state;
    const char *domains[] = {"Evil.com.", "*.tracker.example", "bad-site.org"};
    tg_dlp_ruleset *r = rules_with(NULL, 0, domains, 3);
    const char *hits[] = {
        "see https://user:pw@Evil.COM./login now",
        "mail bob@mail.evil.com please",
        "http://%65vil.com/x",
        "http://evil%2Ecom/",
        "plain evil.com.",
        "cdn.eu.tracker.example/pixel.gif",
        "EVIL.COM",
        "go to BAD-SITE.ORG today",
        "(https://sub.evil.com:8443/path?q=1)",
        "in Markdown _evil.com_ renders as a link",
        "__evil.com__ and evil.com- too",
    };
    for (size_t i = 0; i < sizeof hits / sizeof *hits; i++) {
        tg_dlp_report *rep = scan(r, hits[i]);
        const tg_dlp_finding *f = finding_of(rep, "blocked_domain");
        if (!f)
            fail_msg("not caught: %s", hits[i]);
        assert_int_equal(f->category, TG_DLP_NETWORK);
        assert_int_equal(f->action, TG_DLP_BLOCK);
        assert_int_equal(tg_dlp_report_action(rep), TG_DLP_BLOCK);
        tg_dlp_report_free(rep);
    }
    const char *misses[] = {
        "notevil.com", "evil.com.au", "evil.co", "evilcom", "tracker.example.net",
        "the evil comedian", "bad-site.organic", "evil-com.net",
    };
    for (size_t i = 0; i < sizeof misses / sizeof *misses; i++) {
        tg_dlp_report *rep = scan(r, misses[i]);
        if (found(rep, "blocked_domain"))
            fail_msg("caught wrongly: %s", misses[i]);
        tg_dlp_report_free(rep);
    }
    /* The span is the host; the preview is the rule. */
    const char *text = "link: https://www.evil.com/a";
    tg_dlp_report *rep = scan(r, text);
    const tg_dlp_finding *f = finding_of(rep, "blocked_domain");
    assert_non_null(f);
    assert_int_equal(f->offset, 14);
    assert_int_equal(f->length, 12);
    assert_string_equal(f->preview, "evil.com");
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    assert_string_equal(out, "link: https://[REDACTED:blocked_domain]/a");
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* Built-in detectors through the engine: spans, previews, actions. */
static void test_builtin_findings(void **state)
{
    (void)state;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, NULL), TG_OK);
    const char *text = "my card is 4111 1111 1111 1111, thanks";
    tg_dlp_report *rep = scan(r, text);
    const tg_dlp_finding *f = finding_of(rep, "credit_card");
    assert_non_null(f);
    assert_int_equal(f->offset, 11);
    assert_int_equal(f->length, 19);
    assert_string_equal(f->preview, "**** **** **** 1111");
    assert_int_equal(f->category, TG_DLP_FINANCIAL);
    assert_true(f->confidence > 0.8);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    assert_string_equal(out, "my card is [REDACTED:credit_card], thanks");
    tg_dlp_free(out);
    tg_dlp_report_free(rep);

    /* A number that fails Luhn is dropped, not reported weakly. */
    rep = scan(r, "order 4111 1111 1111 1112 shipped");
    assert_false(found(rep, "credit_card"));
    tg_dlp_report_free(rep);

    /* min_confidence leaves out weaker findings. */
    assert_int_equal(tg_dlp_scan(&rep, r, text, strlen(text), 1.0), TG_OK);
    assert_int_equal(tg_dlp_report_count(rep), 0);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);

    /* A per-detector action: mask shows the preview in the text. */
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    tg_dlp_action_rule mask = {"credit_card", TG_DLP_MASK};
    o.actions = &mask;
    o.action_count = 1;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    rep = scan(r, text);
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    assert_string_equal(out, "my card is **** **** **** 1111, thanks");
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* A match may run far past its anchor: a whole PEM block is one finding
 * and is redacted whole. */
static void test_long_match(void **state)
{
    (void)state;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, NULL), TG_OK);
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "here:\n-----BEGIN RSA PRIVATE KEY-----\n");
    for (int line = 0; line < 40; line++) {
        for (int k = 0; k < 64; k++)
            text[n++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(line * 7 + k * 13) % 64];
        text[n++] = '\n';
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "-----END RSA PRIVATE KEY-----\nbye");
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, n, 0.0), TG_OK);
    const tg_dlp_finding *f = finding_of(rep, "private_key");
    assert_non_null(f);
    assert_int_equal(f->offset, 6);
    assert_int_equal(f->offset + f->length, n - 4);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, n), TG_OK);
    assert_string_equal(out, "here:\n[REDACTED:private_key]\nbye");
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* The reviewer's cases: what a hostile or unlucky text must not get
 * past. */

/* Thousands of cheap findings do not hide a card, a blocked domain or a
 * filter hit, and a report that overflows blocks. */
static void test_findings_cap_fails_closed(void **state)
{
    (void)state;
    const char *filters[] = {"(?i)project falcon"};
    const char *domains[] = {"evil.example"};
    tg_dlp_ruleset *r = rules_with(filters, 1, domains, 1);
    const char *head = "card 4111 1111 1111 1111 project falcon https://evil.example/ ";
    size_t n = strlen(head) + 7 * (TG_DLP_FINDINGS_MAX + 1);
    char *text = malloc(n + 1);
    strcpy(text, head);
    for (size_t o = strlen(head); o < n; o += 7)
        memcpy(text + o, "a@b.cc ", 7);
    text[n] = '\0';
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, n, 0.0), TG_OK);
    assert_true(found(rep, "credit_card"));
    assert_true(found(rep, "filter:0"));
    assert_true(found(rep, "blocked_domain"));
    assert_true(tg_dlp_report_incomplete(rep) >= 1);
    assert_int_equal(tg_dlp_report_action(rep), TG_DLP_BLOCK);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, n), TG_OK);
    assert_null(strstr(out, "4111 1111"));
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    free(text);
    tg_dlp_ruleset_free(r);
}

/* A filter whose work per position stays under the match limit still
 * cannot take more than its time limit over a long text. */
static void test_filter_time_limit(void **state)
{
    (void)state;
    const char *filters[] = {"[ab]{0,300}[ac]{0,300}[de]", "needle"};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 2;
    o.builtin_disabled = 1;
    o.filter_time_limit_ms = 100;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    size_t n = 200000;
    char *text = malloc(n);
    memset(text, 'a', n);
    memcpy(text + n - 10, "needle", 6);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, n, 0.0), TG_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s < 2.0); /* unbounded: about 14 s on the reference machine */
    assert_int_equal(tg_dlp_report_incomplete(rep), 1);
    assert_true(found(rep, "filter:1")); /* the other filter still ran */
    tg_dlp_report_free(rep);
    free(text);
    tg_dlp_ruleset_free(r);
}

/* True if the redaction of `text` keeps none of `secret`'s 8-byte pieces. */
static bool redacted_away(const tg_dlp_ruleset *r, const char *text, const char *secret)
{
    tg_dlp_report *rep = scan(r, text);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    bool clean = true;
    for (size_t i = 0; clean && i + 8 <= strlen(secret); i++) {
        char piece[9];
        memcpy(piece, secret + i, 8);
        piece[8] = '\0';
        clean = strstr(out, piece) == NULL;
    }
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    return clean;
}

/* Long matches are redacted whole: a key cut short (no END line), a long
 * secret value. */
static void test_long_matches_redacted_whole(void **state)
{
    (void)state;
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    tg_dlp_action_rule act = {"private_key", TG_DLP_REDACT};
    o.actions = &act;
    o.action_count = 1;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);

    char body[26 * 65 + 1], text[4096];
    for (int line = 0; line < 26; line++) {
        for (int k = 0; k < 64; k++)
            body[line * 65 + k] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(line * 5 + k * 11) % 64];
        body[line * 65 + 64] = '\n';
    }
    body[sizeof body - 1] = '\0';
    snprintf(text, sizeof text, "oops:\n-----BEGIN RSA PRIVATE KEY-----\n%s", body);
    assert_true(redacted_away(r, text, body));

    char value[151], line[300];
    for (int k = 0; k < 150; k++)
        value[k] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(k * 7 + k / 5) % 62];
    value[150] = '\0';
    snprintf(line, sizeof line, "password=%s end", value);
    assert_true(redacted_away(r, line, value));
    tg_dlp_ruleset_free(r);
}

/* A masked preview never shows a short match whole. */
static void test_mask_short_matches(void **state)
{
    (void)state;
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    tg_dlp_action_rule act = {"ipv4", TG_DLP_MASK};
    o.actions = &act;
    o.action_count = 1;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    const char *text = "dns at 8.8.8.8 and 1.1.1.1, gateway 10.0.0.1";
    tg_dlp_report *rep = scan(r, text);
    assert_int_equal(tg_dlp_report_count(rep), 3);
    char *out;
    assert_int_equal(tg_dlp_redact(&out, NULL, rep, text, strlen(text)), TG_OK);
    assert_null(strstr(out, "8.8.8.8"));
    assert_null(strstr(out, "1.1.1.1"));
    assert_null(strstr(out, "10.0.0.1"));
    assert_string_equal(tg_dlp_report_finding(rep, 0)->preview, "*.*.8.8");
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* Stray continuation bytes after a match are not swallowed into it. */
static void test_stray_continuation_bytes(void **state)
{
    (void)state;
    const char *domains[] = {"evil.example"};
    tg_dlp_ruleset *r = rules_with(NULL, 0, domains, 1);
    const char text[] = "go evil.example\x80\x80\x80\x80\x80\x80\x80\x80 now";
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, sizeof text - 1, 0.0), TG_OK);
    const tg_dlp_finding *f = finding_of(rep, "blocked_domain");
    assert_non_null(f);
    assert_int_equal(f->offset, 3);
    assert_int_equal(f->length, 12);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* Each finding raises the score; so do confidence and severity. */
static void test_threat_score(void **state)
{
    (void)state;
    const char *filters[] = {"alpha", "beta"};
    tg_dlp_ruleset *r = rules_with(filters, 2, NULL, 0);
    tg_dlp_report *none = scan(r, "nothing here"), *one = scan(r, "alpha"),
                  *two = scan(r, "alpha beta");
    double s0 = tg_dlp_report_threat_score(none), s1 = tg_dlp_report_threat_score(one),
           s2 = tg_dlp_report_threat_score(two);
    assert_true(s0 == 0.0);
    assert_true(s1 > 0.0 && s2 > s1 && s2 <= 1.0);
    /* filters are HIGH (weight 0.75) with confidence 1: 1 - 0.25^2 */
    assert_true(s2 > 0.937 && s2 < 0.938);
    tg_dlp_report_free(none);
    tg_dlp_report_free(one);
    tg_dlp_report_free(two);
    tg_dlp_ruleset_free(r);
}

/* Overlapping findings merge into one region with the strongest action. */
static void test_redact_overlaps(void **state)
{
    (void)state;
    const char *filters[] = {"abc def", "def ghi", "xyz"};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 3;
    o.builtin_disabled = 1;
    tg_dlp_action_rule act[] = {{"filter:0", TG_DLP_MASK}, {"filter:1", TG_DLP_REDACT},
                                {"filter:2", TG_DLP_MASK}};
    o.actions = act;
    o.action_count = 3;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, &o), TG_OK);
    const char *text = "1 abc def ghi 2 xyz 3";
    tg_dlp_report *rep = scan(r, text);
    assert_int_equal(tg_dlp_report_count(rep), 3);
    char *out;
    size_t n;
    assert_int_equal(tg_dlp_redact(&out, &n, rep, text, strlen(text)), TG_OK);
    assert_string_equal(out, "1 [REDACTED:filter:1] 2 [3 bytes] 3");
    assert_int_equal(n, strlen(out));
    tg_dlp_free(out);
    tg_dlp_report_free(rep);
    tg_dlp_ruleset_free(r);
}

/* Garbage, invalid UTF-8, NUL bytes: no crash, spans on code points. */
static void test_garbage(void **state)
{
    (void)state;
    const char *filters[] = {"\xc3\xa9t\xc3\xa9", "."};
    tg_dlp_ruleset *r = rules_with(filters, 2, (const char *[]){"evil.com"}, 1);
    uint8_t buf[65536];
    uint32_t x = 12345;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (uint8_t)(x >> 16);
        }
        static const char planted[] = "\xc3\xa9t\xc3\xa9 4111-1111-1111-1111 evil.com \xff\xfe";
        if (round % 2)
            memcpy(buf + 100, planted, sizeof planted - 1);
        tg_dlp_report *rep;
        assert_int_equal(tg_dlp_scan(&rep, r, (const char *)buf, sizeof buf, 0), TG_OK);
        for (size_t i = 0; i < tg_dlp_report_count(rep); i++) {
            const tg_dlp_finding *f = tg_dlp_report_finding(rep, i);
            assert_true(f->offset + f->length <= sizeof buf);
            assert_false(tgt_inside_char(buf, sizeof buf, f->offset));
            assert_false(tgt_inside_char(buf, sizeof buf, f->offset + f->length));
        }
        if (round % 2) {
            assert_true(found(rep, "filter:0"));
            assert_true(found(rep, "blocked_domain"));
        }
        char *out;
        assert_int_equal(tg_dlp_redact(&out, NULL, rep, (const char *)buf, sizeof buf), TG_OK);
        tg_dlp_free(out);
        tg_dlp_report_free(rep);
    }
    tg_dlp_ruleset_free(r);
}

/* 10 MB of chat-like text with a few findings: it completes, and finds
 * what was planted at the end. */
static void test_ten_megabytes(void **state)
{
    (void)state;
    tg_dlp_ruleset *r;
    assert_int_equal(tg_dlp_ruleset_new(&r, NULL), TG_OK);
    size_t len = 10u << 20;
    char *text = malloc(len + 1);
    const char *line = "Hey team, the standup moved to 10:30 tomorrow; please review PR 4821 "
                       "before then and ping me with questions. ";
    size_t ll = strlen(line);
    for (size_t o = 0; o < len; o += ll)
        memcpy(text + o, line, len - o < ll ? len - o : ll);
    const char *planted = " card 4111 1111 1111 1111 ";
    memcpy(text + len - strlen(planted), planted, strlen(planted));
    text[len] = '\0';
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, len, 0.0), TG_OK);
    assert_true(found(rep, "credit_card"));
    tg_dlp_report_free(rep);
    free(text);
    tg_dlp_ruleset_free(r);
}

/* More findings than a report keeps: the report is capped and says so. */
static void test_findings_cap(void **state)
{
    (void)state;
    const char *filters[] = {"x"};
    tg_dlp_ruleset *r = rules_with(filters, 1, NULL, 0);
    size_t len = TG_DLP_FINDINGS_MAX * 2 + 10;
    char *text = malloc(len);
    memset(text, 'x', len);
    tg_dlp_report *rep;
    assert_int_equal(tg_dlp_scan(&rep, r, text, len, 0.0), TG_OK);
    assert_int_equal(tg_dlp_report_count(rep), TG_DLP_FINDINGS_MAX);
    assert_int_equal(tg_dlp_report_incomplete(rep), 1);
    tg_dlp_report_free(rep);
    free(text);
    tg_dlp_ruleset_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector_catalogue),
        cmocka_unit_test(test_ruleset_errors),
        cmocka_unit_test(test_scan_bad_input),
        cmocka_unit_test(test_catastrophic_filter),
        cmocka_unit_test(test_filters_find_and_act),
        cmocka_unit_test(test_blocked_domains),
        cmocka_unit_test(test_builtin_findings),
        cmocka_unit_test(test_long_match),
        cmocka_unit_test(test_threat_score),
        cmocka_unit_test(test_redact_overlaps),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_ten_megabytes),
        cmocka_unit_test(test_findings_cap),
        cmocka_unit_test(test_findings_cap_fails_closed),
        cmocka_unit_test(test_filter_time_limit),
        cmocka_unit_test(test_long_matches_redacted_whole),
        cmocka_unit_test(test_mask_short_matches),
        cmocka_unit_test(test_stray_continuation_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
