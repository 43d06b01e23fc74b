/*
 * bench_dlp.c - DLP scanning throughput and latency.
 *
 *   dlp_scan_chat_1mb      the default ruleset over 1 MiB blocks of English
 *                          chat text with one message in 50 carrying
 *                          something to find; MB/s. Baseline: one PCRE2 JIT
 *                          search for a literal over the same block (the
 *                          cost of merely reading the text with PCRE2).
 *   dlp_scan_message_280b  one 280-byte chat message; p50 and p99.
 *   dlp_filters_<n>        the default ruleset plus n content filters,
 *                          n = 10, 50, 100, 200: how throughput falls.
 *   dlp_ruleset_new        compiling the default ruleset (a policy load).
 *
 * `bench_dlp quick` runs fewer samples (for a smoke test).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "bench.h"
#include "support.h"

#define BLOCK (1u << 20)
#define BLOCKS 4
#define MESSAGE 280

static const char *const chat[] = {
    "Morning all, standup is moved to 10:30 today because of the offsite.",
    "Can someone review my PR before lunch? It touches the billing service.",
    "I think the flaky test is in the integration suite, not the unit tests.",
    "Thanks! That fixed it. Deploying to staging now.",
    "Heads up: the VPN will be down for maintenance tonight from 11pm to 1am.",
    "Who owns the onboarding docs? A few links are broken.",
    "Let's sync after the design review, maybe around 3pm?",
    "The customer asked for an export of last quarter's usage numbers.",
    "I'm out on Friday, Maria will cover the on-call rotation.",
    "Ack. I'll update the ticket and close it once QA signs off.",
    "Is the new dashboard live yet? The old one still shows yesterday's data.",
    "Great work on the launch everyone, the feedback has been really positive.",
    "Quick question about the retry policy: do we back off exponentially?",
    "Please don't merge anything into main until the release branch is cut.",
    "The meeting notes are in the shared drive under Planning / Q3.",
    "Latency went up by about 20 percent after the cache change, looking into it.",
    "Sure, happy to pair on that this afternoon.",
    "Reminder: performance reviews are due by the end of next week.",
    "Does anyone know why the build takes twice as long since Tuesday?",
    "I left a few comments on the RFC, mostly about the migration plan.",
};
static const char *const sensitive[] = {
    "You can reach me at jane.doe@example.com if Slack is down.",
    "Call me on +1 415 555 0132 when you land.",
    "The test card is 4111 1111 1111 1111, expiry 12/29.",
    "Found this in the logs: AKIAIOSFODNN7EXAMPLE, please rotate it.",
    "The server is at 203.0.113.42, ssh in with your usual key.",
    "Wire it to DE89 3704 0044 0532 0130 00 please.",
};

static void die(const char *what)
{
    fprintf(stderr, "bench_dlp: %s: %s\n", what, tg_ctx_errmsg(NULL));
    exit(1);
}

/* Fills buf with chat lines; every 50th carries a sensitive item. */
static void fill_chat(char *buf, size_t len, unsigned seed)
{
    size_t o = 0;
    for (unsigned n = seed; o < len; n++) {
        const char *line = n % 50 == 49 ? sensitive[(n / 50) % 6] : chat[(n * 7) % 20];
        size_t l = strlen(line);
        if (l + 1 > len - o)
            l = len - o - 1;
        memcpy(buf + o, line, l);
        buf[o + l] = '\n';
        o += l + 1;
    }
}

typedef struct scan_arg {
    const tg_dlp_ruleset *rules;
    const char *text;
    size_t len, count; /* `count` pieces of `len` bytes */
} scan_arg;

static void scan_piece(void *p, uint64_t i)
{
    scan_arg *a = p;
    tg_dlp_report *r;
    if (tg_dlp_scan(&r, a->rules, a->text + (i % a->count) * a->len, a->len, 0.0) != TG_OK)
        die("scan");
    tg_dlp_report_free(r);
}

typedef struct pcre_arg {
    pcre2_code *code;
    pcre2_match_data *md;
    const char *text;
    size_t len, count;
} pcre_arg;

static void pcre_piece(void *p, uint64_t i)
{
    pcre_arg *a = p;
    const char *t = a->text + (i % a->count) * a->len;
    if (pcre2_match(a->code, (PCRE2_SPTR)t, a->len, 0, 0, a->md, NULL) != PCRE2_ERROR_NOMATCH)
        die("baseline matched");
}

static tg_dlp_ruleset *ruleset_with_filters(size_t n)
{
    static char patterns[200][64];
    const char *list[200];
    static const char *const forms[] = {"(?i)\\bproject\\s+%s\\b", "\\b%s-\\d{4,}\\b",
                                        "(?i)codename[:=]\\s*%s", "\\b%s(?:ing|ed)\\b"};
    for (size_t i = 0; i < n; i++) {
        char word[16];
        snprintf(word, sizeof word, "zq%zux", i);
        snprintf(patterns[i], sizeof patterns[i], forms[i % 4], word);
        list[i] = patterns[i];
    }
    tg_dlp_options o;
    tg_dlp_options_init(&o);
    o.filters = list;
    o.filter_count = n;
    tg_dlp_ruleset *r;
    if (tg_dlp_ruleset_new(&r, &o) != TG_OK)
        die("ruleset");
    return r;
}

static void compile_default(void *p, uint64_t i)
{
    (void)p, (void)i;
    tg_dlp_ruleset *r;
    if (tg_dlp_ruleset_new(&r, NULL) != TG_OK)
        die("ruleset");
    tg_dlp_ruleset_free(r);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    char *blocks = malloc((size_t)BLOCK * BLOCKS);
    if (!blocks)
        die("malloc");
    fill_chat(blocks, (size_t)BLOCK * BLOCKS, 0);

    tg_dlp_ruleset *rules = ruleset_with_filters(0);
    scan_arg sa = {rules, blocks, BLOCK, BLOCKS};
    int err;
    PCRE2_SIZE at;
    pcre_arg pa = {pcre2_compile((PCRE2_SPTR) "zqzqzq", PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err,
                                 &at, NULL),
                   NULL, blocks, BLOCK, BLOCKS};
    if (!pa.code || pcre2_jit_compile(pa.code, PCRE2_JIT_COMPLETE) != 0)
        die("baseline pattern");
    pa.md = pcre2_match_data_create_from_pattern(pa.code, NULL);

    bench_plan big = {1, quick ? 4 : 20, quick ? 1 : 5};
    bench_case c = {"dlp_scan_chat_1mb", scan_piece, &sa, NULL};
    bench_case base = {"pcre2_jit_literal_1mb", pcre_piece, &pa, NULL};
    char extra[160];
    snprintf(extra, sizeof extra, "\"bytes\":%u,\"findings_per_message\":0.02", BLOCK);
    bench_result res = bench_compare(&c, &base, &big, extra, NULL);
    printf("{\"bench\":\"dlp_scan_chat_mb_per_s\",\"mb_per_s\":%.1f,\"target_min\":200}\n",
           res.ops_per_s * BLOCK / 1e6);

    /* 280-byte messages cut from the same text, one per sample. */
    static char messages[64][MESSAGE];
    for (size_t i = 0; i < 64; i++) {
        fill_chat(messages[i], MESSAGE, (unsigned)i * 3 + 46); /* some carry findings */
    }
    scan_arg ma = {rules, &messages[0][0], MESSAGE, 64};
    bench_plan small = {1, quick ? 2000 : 100000, quick ? 1 : 5};
    bench_case m = {"dlp_scan_message_280b", scan_piece, &ma, NULL};
    bench_compare(&m, NULL, &small, "\"bytes\":280,\"target_p50_ns_max\":3000", NULL);

    static const size_t counts[] = {10, 50, 100, 200};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        tg_dlp_ruleset *with = ruleset_with_filters(counts[k]);
        scan_arg fa = {with, blocks, BLOCK, BLOCKS};
        char name[64];
        snprintf(name, sizeof name, "dlp_scan_chat_1mb_%zu_filters", counts[k]);
        bench_case f = {name, scan_piece, &fa, NULL};
        bench_case f0 = {"dlp_scan_chat_1mb_0_filters", scan_piece, &sa, NULL};
        bench_plan fp = {1, quick ? 2 : 8, quick ? 1 : 3};
        snprintf(extra, sizeof extra, "\"filters\":%zu,\"bytes\":%u", counts[k], BLOCK);
        bench_result fr = bench_compare(&f, &f0, &fp, extra, NULL);
        printf("{\"bench\":\"dlp_filters_mb_per_s\",\"filters\":%zu,\"mb_per_s\":%.1f}\n",
               counts[k], fr.ops_per_s * BLOCK / 1e6);
        tg_dlp_ruleset_free(with);
    }
    bench_plan once = {1, quick ? 3 : 20, quick ? 1 : 3};
    bench_case compile = {"dlp_ruleset_new_default", compile_default, NULL, NULL};
    bench_compare(&compile, NULL, &once, NULL, NULL);

    pcre2_match_data_free(pa.md);
    pcre2_code_free(pa.code);
    tg_dlp_ruleset_free(rules);
    free(blocks);
    return 0;
}
