/*
 * filters.c - a workspace's own content filters: PCRE2 patterns compiled
 * once with JIT, run under a match and depth limit so that a catastrophic
 * pattern ends a scan of that filter instead of hanging the thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "dlp_impl.h"

#define FILTER_PATTERN_MAX 4096
#define DEFAULT_MATCH_LIMIT 100000
#define DEFAULT_DEPTH_LIMIT 1000

int tg__dlp_compile_filters(tg_dlp_ruleset *rules, const tg_dlp_options *opts,
                            pcre2_compile_context *cc)
{
    if (opts->filter_count == 0)
        return TG_OK;
    if (opts->filter_count > TG_DLP_FILTERS_MAX)
        return tg__error(TG_EINVAL, "dlp: %zu content filters; at most %d", opts->filter_count,
                         TG_DLP_FILTERS_MAX);
    if (!opts->filters)
        return tg__error(TG_EINVAL, "dlp: filter_count is %zu but filters is NULL",
                         opts->filter_count);
    rules->filter_limits = pcre2_match_context_create(tg__dlp_pcre2_general());
    rules->filters = tg__dlp_calloc(opts->filter_count, sizeof *rules->filters);
    if (!rules->filter_limits || !rules->filters)
        return tg__error(TG_ENOMEM, "dlp: out of memory for content filters");
    pcre2_set_match_limit(rules->filter_limits,
                          opts->filter_match_limit ? opts->filter_match_limit : DEFAULT_MATCH_LIMIT);
    pcre2_set_depth_limit(rules->filter_limits,
                          opts->filter_depth_limit ? opts->filter_depth_limit : DEFAULT_DEPTH_LIMIT);

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

int tg__dlp_run_filters(const tg_dlp_ruleset *rules, tg_dlp_report *r, const uint8_t *text,
                        size_t len, pcre2_match_data *md)
{
    for (size_t f = 0; f < rules->filter_count; f++) {
        const tg__dlp_filter *filter = &rules->filters[f];
        size_t at = 0;
        while (at <= len) {
            int rc = pcre2_match(filter->code, text, len, at, 0, md, rules->filter_limits);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0) {
                /* Match or depth limit, JIT stack: the answer is unknown. */
                r->incomplete++;
                break;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] > ov[0]) {
                int add = tg__dlp_report_add(r, text, len, ov[0], ov[1], filter->name, SIZE_MAX,
                                             TG_DLP_CUSTOM, TG_DLP_HIGH, filter->action, 1.0,
                                             TG__MASK_ALL, 0);
                if (add != TG_OK)
                    return add;
            }
            at = ov[1] > at ? ov[1] : tg__dlp_next_char(text, len, at);
        }
    }
    return TG_OK;
}
