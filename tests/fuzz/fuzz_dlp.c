/*
 * fuzz_dlp.c - libFuzzer target for the DLP scanner and redaction.
 *
 * The input is scanned by two rulesets (the built-in detectors, and one with
 * content filters and blocked domains), then redacted. A scan or redaction
 * that fails, a finding outside the text or splitting a UTF-8 code point,
 * findings out of order, a score outside [0,1], or a preview that contains
 * a finding's raw bytes (when they hold more than four letters or digits)
 * aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenantguard.h>

#include "../support/utf8_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tg_dlp_ruleset *builtin, *custom;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_dlp: %s (%s)\n", what, tg_ctx_errmsg(NULL));
    abort();
}

static void open_rulesets(void)
{
    if (tg_dlp_ruleset_new(&builtin, NULL) != TG_OK)
        fail("default ruleset");
    static const char *const filters[] = {"(?i)confidential", "(a|b)*c", "\\d{3}-\\d{4}"};
    static const char *const domains[] = {"evil.com", "tracker.example"};
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = filters;
    o.filter_count = 3;
    o.blocked_domains = domains;
    o.blocked_domain_count = 2;
    tg_dlp_action_rule actions[] = {{"email", TG_DLP_MASK}, {"filter:2", TG_DLP_ALLOW}};
    o.actions = actions;
    o.action_count = 2;
    if (tg_dlp_ruleset_new(&custom, &o) != TG_OK)
        fail("custom ruleset");
}

/* Previews may show four characters of a match, so a match of at most four
 * letters and digits ("::8.0.1.1") may appear whole. */
static size_t alnum_count(const uint8_t *m, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (m[i] >= '0' && m[i] <= '9') || ((m[i] | 0x20) >= 'a' && (m[i] | 0x20) <= 'z');
    return count;
}

static void check(const tg_dlp_ruleset *rules, const uint8_t *data, size_t size)
{
    tg_dlp_report *r;
    if (tg_dlp_scan(&r, rules, (const char *)data, size, 0.0) != TG_OK)
        fail("scan failed");
    size_t last = 0;
    for (size_t i = 0; i < tg_dlp_report_count(r); i++) {
        const tg_dlp_finding *f = tg_dlp_report_finding(r, i);
        if (f->length == 0 || f->offset + f->length > size || f->offset < last)
            fail("finding span");
        if (tgt_inside_char(data, size, f->offset) || tgt_inside_char(data, size, f->offset + f->length))
            fail("finding splits a code point");
        if (!(f->confidence >= 0.0 && f->confidence <= 1.0))
            fail("confidence");
        if (alnum_count(data + f->offset, f->length) > 4 &&
            strcmp(f->detector, "blocked_domain") != 0 &&
            memmem(f->preview, strlen(f->preview), data + f->offset, f->length))
            fail("preview shows the raw match");
        last = f->offset;
    }
    double score = tg_dlp_report_threat_score(r);
    if (!(score >= 0.0 && score <= 1.0))
        fail("threat score");
    char *out;
    size_t out_len;
    if (tg_dlp_redact(&out, &out_len, r, (const char *)data, size) != TG_OK)
        fail("redact failed");
    if (strlen(out) > out_len)
        fail("redacted length");
    tg_dlp_free(out);
    tg_dlp_report_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!builtin)
        open_rulesets();
    check(builtin, data, size);
    check(custom, data, size);
    return 0;
}
