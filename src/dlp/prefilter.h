/*
 * prefilter.h - decides where a detector's pattern is worth running: near
 * its literal anchors, or near digit clusters. One pass over the text, no
 * regular expression. Internal to src/dlp.
 */
#ifndef TG_DLP_PREFILTER_H
#define TG_DLP_PREFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing list of byte ranges [start, end), kept sorted and merged. */
typedef struct tg__dlp_spans {
    struct tg__dlp_span { size_t start, end; } *v;
    size_t count, capacity;
} tg__dlp_spans;

/* Appends [start, end), merging it into the last range when they touch;
 * ranges must come in order of start. false: out of memory. */
bool tg__dlp_spans_add(tg__dlp_spans *s, size_t start, size_t end);
void tg__dlp_spans_free(tg__dlp_spans *s);

/* An anchor as the search sees it. A long one (3+ bytes) has an entry per
 * spelling of its bytes 0-2 and 1-3 (1-2 for three bytes), so caseless
 * anchors cost nothing extra per byte. A short one is found with memchr on
 * its pivot, its least common byte. */
typedef struct tg__dlp_anchor {
    uint32_t code;     /* long: three bytes (6 bits each); short: the pivot */
    const char *bytes;
    uint16_t len;
    uint16_t detector; /* index in the ruleset's built-ins */
    uint32_t reach;    /* bytes after the anchor a match may end */
    uint8_t pivot_at;  /* offset of the pivot byte or of the three bytes */
    bool caseless;
} tg__dlp_anchor;

typedef struct tg__dlp_prefilter {
    uint64_t tri_seen[(1u << 18) / 64]; /* codes of long anchors */
    uint64_t pair_seen[(1u << 16) / 64]; /* bytes 1-2 of 3-byte anchors */
    tg__dlp_anchor *anchors;            /* long, sorted by code */
    size_t anchor_count;
    tg__dlp_anchor *pair_anchors;       /* sorted by code */
    size_t pair_count;
    tg__dlp_anchor *short_anchors;      /* short, sorted by pivot */
    size_t short_count;
} tg__dlp_prefilter;

struct tg__dlp_builtin;

/* Collects the anchors of `count` built-ins. false: out of memory. */
bool tg__dlp_prefilter_build(tg__dlp_prefilter *pf, const struct tg__dlp_builtin *builtins,
                             size_t count);
void tg__dlp_prefilter_free(tg__dlp_prefilter *pf);

/* Finds every anchor occurrence in text[0..len) and adds its window (the
 * detector's reach after it, as much before it up to
 * TG__DLP_ANCHOR_BEFORE, clipped) to windows[detector], sorted and merged.
 * `detectors` is the number of lists. */
bool tg__dlp_prefilter_run(const tg__dlp_prefilter *pf, const uint8_t *text, size_t len,
                           tg__dlp_spans *windows, size_t detectors);

/* A run of digits joined by at most two of " -./()+". */
typedef struct tg__dlp_cluster {
    size_t start, end;
    size_t digits;
} tg__dlp_cluster;

typedef struct tg__dlp_clusters {
    tg__dlp_cluster *v;
    size_t count, capacity;
} tg__dlp_clusters;

/* Replaces c's contents with the digit clusters of text[0..len) that hold
 * at least `min_digits` digits (fewer interest no detector). */
bool tg__dlp_find_clusters(tg__dlp_clusters *c, const uint8_t *text, size_t len,
                           size_t min_digits);
void tg__dlp_clusters_free(tg__dlp_clusters *c);

#endif /* TG_DLP_PREFILTER_H */
