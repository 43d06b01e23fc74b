/*
 * dlp_impl.h - the DLP module's shared internals: the compiled ruleset, the
 * report, and the pieces of a scan. Internal to src/dlp.
 */
#ifndef TG_DLP_IMPL_H
#define TG_DLP_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "detector.h"
#include "domains.h"
#include "prefilter.h"

/* What every pattern is compiled with: UTF-8, tolerant of invalid UTF-8 in
 * the subject (scans accept any bytes). */
#define TG__DLP_PCRE2_OPTIONS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_USE_OFFSET_LIMIT)

/* Match and depth limit of a built-in pattern: far above what any of them
 * needs, there only so a bug cannot become a hang. */
#define TG__DLP_BUILTIN_MATCH_LIMIT 1000000

#define TG__DLP_DETECTOR_NAME_MAX 24 /* "filter:1023", "blocked_domain" */
#define TG__DLP_PREVIEW_MAX 48

typedef struct tg__dlp_builtin {
    const tg__dlp_detector_def *def;
    pcre2_code *code;
    int action;
} tg__dlp_builtin;

typedef struct tg__dlp_filter {
    pcre2_code *code;
    int action;
    char name[TG__DLP_DETECTOR_NAME_MAX];
} tg__dlp_filter;

struct tg_dlp_ruleset {
    tg__dlp_builtin *builtins; /* empty when built-ins are disabled */
    size_t builtin_count;
    size_t *order;      /* built-in indices, most severe first */
    size_t min_digits;  /* the fewest digits a numeric detector needs */
    tg__dlp_prefilter prefilter; /* anchors of the built-ins */
    tg__dlp_filter *filters;
    size_t filter_count;
    uint32_t filter_match_limit, filter_depth_limit, filter_time_limit_ms;
    tg__dlp_domains domains;
    int domain_action;
};

/* A finding as the report keeps it: the public struct plus the storage its
 * strings point to (set once the report is final). */
typedef struct tg__dlp_item {
    tg_dlp_finding pub;
    size_t rank; /* built-in index; SIZE_MAX for filters and domains */
    char detector[TG__DLP_DETECTOR_NAME_MAX];
    char preview[TG__DLP_PREVIEW_MAX];
} tg__dlp_item;

struct tg_dlp_report {
    tg__dlp_item *items;
    size_t count, capacity;
    size_t text_len;   /* what tg_dlp_redact checks it is given */
    size_t incomplete; /* rules whose answer is unknown for this text */
    bool full;         /* TG_DLP_FINDINGS_MAX was reached */
    int action;
    double threat;
};

/* Allocation (alloc.c). Fault-injection tests set tg__dlp_alloc_should_fail
 * to fail chosen calls; NULL in production. Free with free(). */
extern bool (*tg__dlp_alloc_should_fail)(void);
void *tg__dlp_malloc(size_t size);
void *tg__dlp_calloc(size_t n, size_t size);
void *tg__dlp_realloc(void *ptr, size_t size);
/* The PCRE2 general context that allocates through the above; created on
 * first use and kept for the process. NULL: out of memory. */
pcre2_general_context *tg__dlp_pcre2_general(void);

/* The offset of the code point after the one at `at` (at + 1 for a byte
 * that is not UTF-8), so a search never restarts inside a character. */
static inline size_t tg__dlp_next_char(const uint8_t *text, size_t len, size_t at)
{
    at++;
    while (at < len && (text[at] & 0xC0) == 0x80)
        at++;
    return at;
}

/* Adds a finding for text[start..end) to the report, with its span moved
 * out to whole UTF-8 code points. TG_OK, or TG_ERANGE when the report is
 * full (TG_DLP_FINDINGS_MAX), or TG_ENOMEM. */
int tg__dlp_report_add(tg_dlp_report *r, const uint8_t *text, size_t len, size_t start,
                       size_t end, const char *detector, size_t rank, int category,
                       int severity, int action, double confidence,
                       enum tg__dlp_mask mask, size_t mask_prefix);

/* Orders the findings, resolves overlapping built-ins, computes the action
 * and threat score, and points the public strings at their storage.
 * TG_OK or TG_ENOMEM. */
int tg__dlp_report_finish(tg_dlp_report *r, double min_confidence);

/* Writes a masked preview of m[0..len) into out (TG__DLP_PREVIEW_MAX). */
void tg__dlp_mask(char *out, const uint8_t *m, size_t len, enum tg__dlp_mask style,
                  size_t prefix);

/* Runs the content filters over the text, adding their findings. */
int tg__dlp_run_filters(const tg_dlp_ruleset *rules, tg_dlp_report *r, const uint8_t *text,
                        size_t len, pcre2_match_data *md, pcre2_match_context *mctx);

/* Compiles the options' filters into rules->filters. */
int tg__dlp_compile_filters(tg_dlp_ruleset *rules, const tg_dlp_options *opts,
                            pcre2_compile_context *cc);

#endif /* TG_DLP_IMPL_H */
