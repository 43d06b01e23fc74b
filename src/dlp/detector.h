/*
 * detector.h - how a built-in DLP detector is described. Internal.
 *
 * A detector is data: a PCRE2 pattern, a prefilter that says when the
 * pattern is worth running, an optional validator, context words and a
 * masking style. The engine (scan.c) compiles every pattern once per
 * ruleset and never combines patterns.
 *
 * Prefilter: a detector runs only where one of its `anchors` occurs
 * (literal strings separated by '|', compared case-sensitively, or ignoring
 * ASCII case when `anchors_caseless`): its matches may start from `reach`
 * bytes (at most TG__DLP_ANCHOR_BEFORE) before each occurrence to `reach`
 * bytes after it (TG__DLP_REACH_DEFAULT when 0). A detector without anchors
 * has its matches start within TG__DLP_DIGITS_AROUND bytes of a digit
 * cluster of at least `min_digits` digits (digits joined by at most two of
 * " -./()+"). Prose without anchors or long numbers costs nothing. A
 * detector with neither runs on the whole text. Only where a match may
 * start is bounded (PCRE2's offset limit): the subject is always the whole
 * text, so a long match (a PEM block) is never cut short.
 *
 * Overlaps: where spans of two built-in detectors overlap, the stronger
 * stays: the stronger action, then the higher confidence, the higher
 * severity, the detector listed first. Filters and blocked domains never
 * displace or get displaced.
 *
 * Span: capture group 1 when the pattern has one and it matched (so a
 * pattern may require surrounding text without reporting it), else the
 * whole match.
 *
 * Confidence: base_confidence; a validator that passes moves it 60% of the
 * way to 1, one that fails drops the finding; a context word within
 * TG__DLP_CONTEXT_BYTES of the span moves it another 50% of the way to 1.
 */
#ifndef TG_DLP_DETECTOR_H
#define TG_DLP_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantguard/dlp.h"

#define TG__DLP_CONTEXT_BYTES 48
#define TG__DLP_ANCHOR_BEFORE 128
#define TG__DLP_REACH_DEFAULT 256
#define TG__DLP_DIGITS_AROUND 40

/* How a finding's preview hides the match. Every style keeps the length
 * and shape readable and shows at most 4 characters of the secret, and
 * never more than half of them (e-mail keeps the domain). */
enum tg__dlp_mask {
    TG__MASK_LAST4,  /* "************1111": digits/letters but the last 4 become '*' */
    TG__MASK_EMAIL,  /* "j***@example.com": the domain stays */
    TG__MASK_PREFIX, /* "ghp_****": the public, well-known prefix stays */
    TG__MASK_ALL     /* "[40 bytes]": nothing of the match */
};

typedef struct tg__dlp_detector_def {
    const char *id;   /* stable, lowercase, [a-z0-9_] */
    const char *name; /* human-readable */
    int category;     /* TG_DLP_PII ... */
    int severity;     /* TG_DLP_LOW ... */
    double base_confidence;
    int default_action;
    const char *pattern;   /* PCRE2, compiled with UTF | MATCH_INVALID_UTF */
    uint32_t pcre2_flags;  /* added compile options, e.g. PCRE2_CASELESS */
    const char *anchors;   /* "|"-separated literals; NULL: see min_digits */
    bool anchors_caseless;
    uint8_t min_digits;
    /* Returns true if m[0..len) (the span) is well-formed: a checksum, a
     * known range, a decodable structure. NULL: no validator. */
    bool (*validate)(const uint8_t *m, size_t len);
    const char *context;   /* "|"-separated lowercase words; NULL: none */
    bool context_required; /* drop the finding unless a context word is near */
    enum tg__dlp_mask mask;
    size_t mask_prefix;    /* TG__MASK_PREFIX: bytes of prefix kept */
    size_t reach;          /* see Prefilter; 0: TG__DLP_REACH_DEFAULT */
} tg__dlp_detector_def;

/* The built-in detector tables, one per family (detectors_*.c). */
extern const tg__dlp_detector_def tg__dlp_detectors_credentials[];
extern const size_t tg__dlp_detectors_credentials_count;
extern const tg__dlp_detector_def tg__dlp_detectors_identity[];
extern const size_t tg__dlp_detectors_identity_count;

/* All built-in detectors in one order (detectors.c). */
size_t tg__dlp_detector_total(void);
const tg__dlp_detector_def *tg__dlp_detector_at(size_t index);

#endif /* TG_DLP_DETECTOR_H */
