/*
 * filters.c - a workspace's own content filters: PCRE2 patterns compiled
 * once with JIT. Three bounds keep a hostile pattern from hanging a scan:
 * the match and depth limits bound the work at one starting position;
 * the offset limit makes each pcre2_match call try at most CHUNK starting
 * positions; and between calls a filter's time in this scan is checked
 * against its limit. A filter stopped by any of them counts as incomplete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "dlp_impl.h"

#define FILTER_PATTERN_MAX 4096
#define DEFAULT_MATCH_LIMIT 100000
#define DEFAULT_DEPTH_LIMIT 1000
#define DEFAULT_TIME_LIMIT_MS 250
#define CHUNK 4096 /* starting positions per pcre2_match call */

int tg__dlp_compile_filters(tg_dlp_ruleset *rules, const tg_dlp_options *opts,
                            pcre2_compile_context *cc)
{
    rules->filter_match_limit = opts->filter_match_limit ? opts->filter_match_limit
                                                         : DEFAULT_MATCH_LIMIT;
    rules->filter_depth_limit = opts->filter_depth_limit ? opts->filter_depth_limit
                                                         : DEFAULT_DEPTH_LIMIT;
    rules->filter_time_limit_ms = opts->filter_time_limit_ms ? opts->filter_time_limit_ms
                                                             : DEFAULT_TIME_LIMIT_MS;
    if (opts->filter_count == 0)
        return TG_OK;
    if (opts->filter_count > TG_DLP_FILTERS_MAX)
        return tg__error(TG_EINVAL, "dlp: %zu content filters; at most %d", opts->filter_count,
                         TG_DLP_FILTERS_MAX);
    if (!opts->filters)
        return tg__error(TG_EINVAL, "dlp: filter_count is %zu but filters is NULL",
                         opts->filter_count);
    rules->filters = tg__dlp_calloc(opts->filter_count, sizeof *rules->filters);
    if (!rules->filters)
        return tg__error(TG_ENOMEM, "dlp: out of memory for content filters");

    for (size_t i = 0; i < opts->filter_count; i++) {
        const char *pattern = opts->filters[i];
        size_t n = pattern ? strnlen(pattern, FILTER_PATTERN_MAX + 1) : 0;
        if (n == 0 || n > FILTER_PATTERN_MAX)
            return tg__error(TG_EINVAL, "dlp: filters[%zu]: %s", i,
                             !pattern ? "NULL pattern"
                             : n == 0 ? "empty pattern"
                                      : "pattern longer than 4096 bytes");
        if (!tg__utf8_valid((const uint8_t *)pattern, n))
            return tg__error(TG_EINVAL, "dlp: filters[%zu]: pattern is not valid UTF-8", i);
        int err;
        PCRE2_SIZE at;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, n, TG__DLP_PCRE2_OPTIONS, &err,
                                         &at, cc);
        if (!code && (err == PCRE2_ERROR_HEAP_FAILED || err == PCRE2_ERROR_NOMEMORY))
            return tg__error(TG_ENOMEM, "dlp: out of memory compiling filters[%zu]", i);
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            return tg__error(TG_EINVAL, "dlp: filters[%zu]: PCRE2 error at offset %zu: %s", i,
                             (size_t)at, (const char *)msg);
        }
        uint32_t min_length = 1;
        pcre2_pattern_info(code, PCRE2_INFO_MINLENGTH, &min_length);
        if (min_length == 0) {
            pcre2_code_free(code);
            return tg__error(TG_EINVAL, "dlp: filters[%zu]: the pattern can match the empty "
                                        "string, so a match would mark nothing; make it "
                                        "consume at least one character", i);
        }
        /* Without JIT (an unsupported CPU) the interpreter runs the same
         * pattern under the same limits: slower, never wrong. */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        rules->filters[i].code = code;
        rules->filters[i].action = TG_DLP_BLOCK;
        snprintf(rules->filters[i].name, sizeof rules->filters[i].name, "filter:%u", (unsigned)(i % 10000));
        rules->filter_count = i + 1;
    }
    return TG_OK;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Runs one filter; false if it could not finish. */
static int run_filter(const tg_dlp_ruleset *rules, const tg__dlp_filter *filter,
                      tg_dlp_report *r, const uint8_t *text, size_t len, pcre2_match_data *md,
                      pcre2_match_context *mctx, bool *finished)
{
    int64_t deadline = now_ns() + (int64_t)rules->filter_time_limit_ms * 1000000;
    size_t at = 0;
    *finished = false;
    while (at < len) {
        if (now_ns() > deadline)
            return TG_OK;
        size_t last_start = len - at > CHUNK ? at + CHUNK - 1 : len - 1;
        pcre2_set_offset_limit(mctx, last_start);
        int rc = pcre2_match(filter->code, text, len, at, 0, md, mctx);
        if (rc == PCRE2_ERROR_NOMATCH) {
            at = last_start + 1;
            continue;
        }
        if (rc == PCRE2_ERROR_NOMEMORY)
            return tg__error(TG_ENOMEM, "dlp: out of memory");
        if (rc < 0)
            return TG_OK; /* match or depth limit, JIT stack: unknown */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* Compile refuses patterns that match the empty string, but \K can
         * still leave an empty match: it marks nothing. */
        if (ov[1] > ov[0]) {
            int add = tg__dlp_report_add(r, text, len, ov[0], ov[1], filter->name, SIZE_MAX,
                                         TG_DLP_CUSTOM, TG_DLP_HIGH, filter->action, 1.0,
                                         TG__MASK_ALL, 0);
            if (add != TG_OK)
                return add;
        }
        at = ov[1] > at ? ov[1] : tg__dlp_next_char(text, len, at);
    }
    *finished = true;
    return TG_OK;
}

int tg__dlp_run_filters(const tg_dlp_ruleset *rules, tg_dlp_report *r, const uint8_t *text,
                        size_t len, pcre2_match_data *md, pcre2_match_context *mctx)
{
    pcre2_set_match_limit(mctx, rules->filter_match_limit);
    pcre2_set_depth_limit(mctx, rules->filter_depth_limit);
    for (size_t f = 0; f < rules->filter_count; f++) {
        bool finished;
        int rc = run_filter(rules, &rules->filters[f], r, text, len, md, mctx, &finished);
        if (rc != TG_OK)
            return rc;
        if (!finished)
            r->incomplete++;
    }
    return TG_OK;
}
