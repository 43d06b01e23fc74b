/*
 * tenantguard/dlp.h - data-loss prevention: finding sensitive data in text.
 *
 * A ruleset holds the built-in detectors (payment cards, national ids,
 * IBANs, credentials and tokens of the common providers, private keys,
 * JWTs, e-mail, phone, IP addresses ...; tg_dlp_detector_info lists them),
 * a workspace's own content filters (PCRE2 patterns) and its blocked
 * domains, with an action per detector. It is compiled once by
 * tg_dlp_ruleset_new, is immutable afterwards, and may be shared by any
 * number of threads. It needs no tg_ctx: errors are reported through
 * tg_ctx_errmsg(NULL) on the calling thread.
 *
 * tg_dlp_scan finds what a text contains and returns a report: findings
 * (detector, category, byte span, confidence, action, a masked preview;
 * never the raw match), the strongest action and a threat score.
 * tg_dlp_redact applies the report's actions and returns the text to keep.
 * Finding something is an outcome, not an error.
 *
 * Text is bytes: a scan accepts anything, including invalid UTF-8 and NUL
 * bytes. Spans never split a UTF-8 code point. docs/DLP.md describes every
 * detector, the confidence rules and the threat score formula.
 */
#ifndef TENANTGUARD_DLP_H
#define TENANTGUARD_DLP_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Categories of what a detector finds. */
#define TG_DLP_PII 0        /* personal data: national ids, e-mail, phone */
#define TG_DLP_FINANCIAL 1  /* payment cards, bank accounts */
#define TG_DLP_CREDENTIAL 2 /* keys, tokens, passwords */
#define TG_DLP_NETWORK 3    /* IP addresses, blocked domains */
#define TG_DLP_CUSTOM 4     /* a workspace's own content filters */

/* Actions, weakest first: the report's action is the strongest of its
 * findings'. ALLOW reports a finding and changes nothing; MASK replaces it
 * with its masked preview; REDACT with "[REDACTED:<detector>]"; BLOCK asks
 * the host to refuse the message (tg_dlp_redact then redacts it). */
#define TG_DLP_ALLOW 0
#define TG_DLP_MASK 1
#define TG_DLP_REDACT 2
#define TG_DLP_BLOCK 3

/* Severity of a detector, used by the threat score. */
#define TG_DLP_LOW 1
#define TG_DLP_MEDIUM 2
#define TG_DLP_HIGH 3
#define TG_DLP_CRITICAL 4

/* Limits. */
#define TG_DLP_TEXT_MAX (64u * 1024 * 1024) /* bytes one scan accepts */
#define TG_DLP_FILTERS_MAX 1024             /* content filters per ruleset */
#define TG_DLP_DOMAINS_MAX 100000           /* blocked domains per ruleset */
#define TG_DLP_FINDINGS_MAX 10000           /* findings one report keeps */
TG_API size_t tg_dlp_text_max(void);
TG_API size_t tg_dlp_filters_max(void);
TG_API size_t tg_dlp_domains_max(void);
TG_API size_t tg_dlp_findings_max(void);

/* A built-in detector, as tg_dlp_detector_info describes it. */
typedef struct tg_dlp_detector {
    const char *id;         /* "credit_card", "aws_access_key_id" ... static */
    const char *name;       /* a human-readable name; static */
    int category;           /* TG_DLP_PII ... */
    int severity;           /* TG_DLP_LOW ... */
    double base_confidence; /* before validators and context words */
    int default_action;     /* TG_DLP_ALLOW ... */
    int has_validator;      /* 1: a checksum or structure check runs */
} tg_dlp_detector;

/* Number of built-in detectors, and the description of the index-th.
 * Errors: TG_EINVAL (NULL out), TG_ERANGE (index >= count). */
TG_API size_t tg_dlp_detector_count(void);
TG_API int tg_dlp_detector_info(tg_dlp_detector *out, size_t index);

/* Overrides the action of one detector: a built-in id, "blocked_domain",
 * "filter" (every content filter) or "filter:<index>". */
typedef struct tg_dlp_action_rule {
    const char *detector;
    int action; /* TG_DLP_ALLOW ... TG_DLP_BLOCK */
} tg_dlp_action_rule;

#define TG_DLP_OPTIONS_VERSION 1

/* How to build a ruleset. Zero means the default in every field;
 * initialise with tg_dlp_options_init. The library copies what it needs:
 * nothing here must outlive tg_dlp_ruleset_new. */
typedef struct tg_dlp_options {
    uint32_t version;     /* TG_DLP_OPTIONS_VERSION */
    uint32_t struct_size; /* sizeof(tg_dlp_options) */
    /* Content filters: PCRE2 patterns (UTF mode), each reported as
     * "filter:<index>" with category TG_DLP_CUSTOM, confidence 1 and
     * default action BLOCK. */
    const char *const *filters;
    size_t filter_count;
    uint32_t filter_match_limit; /* PCRE2 match limit; default 100000 */
    uint32_t filter_depth_limit; /* PCRE2 depth limit; default 1000 */
    /* Blocked domains ("example.com"): a rule matches that domain and its
     * subdomains in URLs, bare domains and e-mail addresses, ignoring case
     * and a trailing dot. Default action BLOCK. */
    const char *const *blocked_domains;
    size_t blocked_domain_count;
    /* Per-detector actions that replace the defaults. */
    const tg_dlp_action_rule *actions;
    size_t action_count;
    /* 1: no built-in detectors; only filters and blocked domains. */
    int builtin_disabled;
    /* Time one content filter may take on one text (ms; default 250). The
     * match and depth limits bound the work at each starting position;
     * this bounds the whole. */
    uint32_t filter_time_limit_ms;
} tg_dlp_options;

/* Fills `opts` with zeros (meaning defaults) and the version fields. */
TG_API void tg_dlp_options_init(tg_dlp_options *opts);

typedef struct tg_dlp_ruleset tg_dlp_ruleset;

/*
 * Compiles a ruleset. `opts` may be NULL (built-in detectors with their
 * default actions). On success *out is the ruleset; free it with
 * tg_dlp_ruleset_free. Errors: TG_EINVAL (NULL out; a NULL, empty or
 * invalid pattern, naming its index and the PCRE2 message and offset; a
 * pattern that can match the empty string; an invalid domain or action;
 * an unknown detector id; too many filters or domains), TG_EVERSION,
 * TG_ENOMEM, TG_ECRYPTO (libsodium failed to start), TG_EINTERNAL (a
 * built-in pattern does not compile: a bug). Thread-safe.
 */
TG_API int tg_dlp_ruleset_new(tg_dlp_ruleset **out, const tg_dlp_options *opts);

/* Frees a ruleset. Accepts NULL. No scan may be using it. */
TG_API void tg_dlp_ruleset_free(tg_dlp_ruleset *rules);

/* One finding. Strings are owned by the report. */
typedef struct tg_dlp_finding {
    const char *detector; /* built-in id, "blocked_domain" or "filter:<i>" */
    int category;         /* TG_DLP_PII ... */
    int severity;         /* TG_DLP_LOW ... */
    int action;           /* TG_DLP_ALLOW ... */
    size_t offset;        /* byte offset of the match in the text */
    size_t length;        /* its length in bytes */
    double confidence;    /* in [0,1] */
    const char *preview;  /* masked, e.g. "************1111"; never the secret */
} tg_dlp_finding;

typedef struct tg_dlp_report tg_dlp_report;

/*
 * Scans text[0..len). Findings below `min_confidence` (in [0,1]) are left
 * out. On success *out is a report (free with tg_dlp_report_free), even
 * when nothing was found. `text` may be NULL when len is 0.
 * Errors: TG_EINVAL (NULL out or rules, NULL text with len > 0,
 * min_confidence outside [0,1]), TG_ERANGE (len > TG_DLP_TEXT_MAX),
 * TG_ENOMEM. A content filter that reaches its match, depth or time limit
 * is skipped for this text and the report says so
 * (tg_dlp_report_incomplete). The workspace's own rules (blocked domains,
 * filters) run first, then the built-ins, most severe first; a text with
 * more findings than TG_DLP_FINDINGS_MAX is left partly unexamined and its
 * report's action is TG_DLP_BLOCK.
 * Thread-safe: many threads may scan with one ruleset at once.
 */
TG_API int tg_dlp_scan(tg_dlp_report **out, const tg_dlp_ruleset *rules, const char *text,
                       size_t len, double min_confidence);

/* Findings in order of offset. tg_dlp_report_finding returns NULL when
 * index >= count; the pointer is valid until the report is freed. */
TG_API size_t tg_dlp_report_count(const tg_dlp_report *report);
TG_API const tg_dlp_finding *tg_dlp_report_finding(const tg_dlp_report *report, size_t index);

/* The strongest action of the findings (TG_DLP_ALLOW if none). */
TG_API int tg_dlp_report_action(const tg_dlp_report *report);

/* Threat score in [0,1]: 1 - prod(1 - confidence_i * weight(severity_i))
 * over the findings, weights 0.25, 0.5, 0.75, 1 for LOW .. CRITICAL.
 * 0 with no findings; rises with every finding, its confidence and its
 * severity. */
TG_API double tg_dlp_report_threat_score(const tg_dlp_report *report);

/* Number of rules whose verdict on this text is unknown: content filters
 * that hit a limit, built-ins that hit theirs, plus 1 if the findings cap
 * was reached. 0 normally. */
TG_API size_t tg_dlp_report_incomplete(const tg_dlp_report *report);

/* Frees a report. Accepts NULL. */
TG_API void tg_dlp_report_free(tg_dlp_report *report);

/*
 * Applies a report's actions to the text it was made from: MASK findings
 * become their preview, REDACT and BLOCK findings "[REDACTED:<detector>]";
 * ALLOW findings stay. Where findings overlap, the stronger action covers
 * their union. *out is a new NUL-terminated string of *out_len bytes (free
 * with tg_dlp_free); out_len may be NULL. Errors: TG_EINVAL (NULL
 * argument, or text/len that do not match the report's), TG_ENOMEM.
 */
TG_API int tg_dlp_redact(char **out, size_t *out_len, const tg_dlp_report *report,
                         const char *text, size_t len);

/* Frees a string tg_dlp_redact returned. Accepts NULL. */
TG_API void tg_dlp_free(char *str);

/* The name of a category ("pii"), action ("redact") or severity ("high");
 * "unknown" for anything else. Static strings. */
TG_API const char *tg_dlp_category_name(int category);
TG_API const char *tg_dlp_action_name(int action);
TG_API const char *tg_dlp_severity_name(int severity);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_DLP_H */
