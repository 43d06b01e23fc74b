/*
 * report.c - collecting findings, resolving overlaps, the strongest action
 * and the threat score; the report accessors.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "dlp_impl.h"

static bool continuation(uint8_t c)
{
    return (c & 0xC0) == 0x80;
}

/* The length a UTF-8 lead byte announces (0 for anything else). */
static size_t sequence_length(uint8_t c)
{
    return c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4
                                                                                         : 0;
}

/* Moves a span edge at `at` out of a character it would split: back to
 * the character's lead byte for a start, past its end for an end. */
static size_t char_bounds(const uint8_t *text, size_t len, size_t at, bool is_end)
{
    if (at >= len || !continuation(text[at]))
        return at;
    for (size_t back = 1; back <= 3 && back <= at; back++) {
        uint8_t lead = text[at - back];
        if (continuation(lead))
            continue;
        size_t n = sequence_length(lead);
        if (n <= back || at - back + n > len)
            return at; /* not a character that spans `at` */
        for (size_t k = 1; k < n; k++)
            if (!continuation(text[at - back + k]))
                return at;
        return is_end ? at - back + n : at - back;
    }
    return at;
}

int tg__dlp_report_add(tg_dlp_report *r, const uint8_t *text, size_t len, size_t start,
                       size_t end, const char *detector, size_t rank, int category,
                       int severity, int action, double confidence,
                       enum tg__dlp_mask mask, size_t mask_prefix)
{
    if (r->count == TG_DLP_FINDINGS_MAX)
        return TG_ERANGE;
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? r->capacity * 2 : 8;
        if (cap > TG_DLP_FINDINGS_MAX)
            cap = TG_DLP_FINDINGS_MAX;
        void *items = tg__dlp_realloc(r->items, cap * sizeof *r->items);
        if (!items)
            return tg__error(TG_ENOMEM, "dlp: out of memory for findings");
        r->items = items;
        r->capacity = cap;
    }
    /* Whole code points only: a span that starts or ends inside a
     * well-formed character takes all of it. Stray continuation bytes
     * (invalid UTF-8) belong to no character and stay outside. */
    start = char_bounds(text, len, start, false);
    end = char_bounds(text, len, end, true);
    tg__dlp_item *it = &r->items[r->count++];
    memset(it, 0, sizeof *it);
    it->rank = rank;
    size_t n = strlen(detector);
    memcpy(it->detector, detector, n < sizeof it->detector ? n : sizeof it->detector - 1);
    it->pub.category = category;
    it->pub.severity = severity;
    it->pub.action = action;
    it->pub.offset = start;
    it->pub.length = end - start;
    it->pub.confidence = confidence;
    tg__dlp_mask(it->preview, text + start, end - start, mask, mask_prefix);
    return TG_OK;
}

static int by_offset(const void *a, const void *b)
{
    const tg__dlp_item *x = a, *y = b;
    if (x->pub.offset != y->pub.offset)
        return x->pub.offset < y->pub.offset ? -1 : 1;
    if (x->pub.length != y->pub.length)
        return x->pub.length > y->pub.length ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Order of strength among built-in findings: the stronger action first
 * (so a span is never left less protected), then confidence, severity,
 * and the order detectors are listed in. */
static int by_strength(const void *a, const void *b)
{
    const tg__dlp_item *x = a, *y = b;
    if (x->pub.action != y->pub.action)
        return x->pub.action > y->pub.action ? -1 : 1;
    if (x->pub.confidence != y->pub.confidence)
        return x->pub.confidence > y->pub.confidence ? -1 : 1;
    if (x->pub.severity != y->pub.severity)
        return x->pub.severity > y->pub.severity ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Keeps, among overlapping built-in findings, the strongest: strongest
 * first, each is kept unless it overlaps one kept before. Kept spans are
 * disjoint, held sorted by offset, so a binary search finds the two
 * neighbours a new span could overlap. Filters and blocked domains are
 * the workspace's own rules and always stay. Returns the new count. */
static int resolve_overlaps(tg_dlp_report *r)
{
    tg__dlp_item *builtin = tg__dlp_malloc((r->count ? r->count : 1) * sizeof *builtin);
    struct tg__dlp_span *kept = tg__dlp_malloc((r->count ? r->count : 1) * sizeof *kept);
    if (!builtin || !kept) {
        free(builtin);
        free(kept);
        return tg__error(TG_ENOMEM, "dlp: out of memory for findings");
    }
    size_t nb = 0, nk = 0, out = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (r->items[i].rank == SIZE_MAX)
            r->items[out++] = r->items[i];
        else
            builtin[nb++] = r->items[i];
    }
    qsort(builtin, nb, sizeof *builtin, by_strength);
    for (size_t i = 0; i < nb; i++) {
        size_t start = builtin[i].pub.offset, end = start + builtin[i].pub.length;
        size_t lo = 0, hi = nk; /* first kept span starting at or after start */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (kept[mid].start < start)
                lo = mid + 1;
            else
                hi = mid;
        }
        if ((lo > 0 && kept[lo - 1].end > start) || (lo < nk && kept[lo].start < end))
            continue;
        memmove(&kept[lo + 1], &kept[lo], (nk - lo) * sizeof *kept);
        kept[lo].start = start;
        kept[lo].end = end;
        nk++;
        r->items[out++] = builtin[i];
    }
    r->count = out;
    free(builtin);
    free(kept);
    return TG_OK;
}

static double severity_weight(int severity)
{
    return severity >= TG_DLP_LOW && severity <= TG_DLP_CRITICAL ? severity * 0.25 : 0.0;
}

int tg__dlp_report_finish(tg_dlp_report *r, double min_confidence)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        if (r->items[i].pub.confidence >= min_confidence)
            r->items[n++] = r->items[i];
    r->count = n;
    int rc = resolve_overlaps(r);
    if (rc != TG_OK)
        return rc;
    if (r->count > 1)
        qsort(r->items, r->count, sizeof *r->items, by_offset);

    double keep_clean = 1.0;
    r->action = TG_DLP_ALLOW;
    for (size_t i = 0; i < r->count; i++) {
        tg__dlp_item *it = &r->items[i];
        it->pub.detector = it->detector;
        it->pub.preview = it->preview;
        if (it->pub.action > r->action)
            r->action = it->pub.action;
        keep_clean *= 1.0 - it->pub.confidence * severity_weight(it->pub.severity);
    }
    r->threat = 1.0 - keep_clean;
    if (r->full)
        r->action = TG_DLP_BLOCK; /* part of the text is unexamined: fail closed */
    return TG_OK;
}

size_t tg_dlp_report_count(const tg_dlp_report *report)
{
    return report ? report->count : 0;
}

const tg_dlp_finding *tg_dlp_report_finding(const tg_dlp_report *report, size_t index)
{
    return report && index < report->count ? &report->items[index].pub : NULL;
}

int tg_dlp_report_action(const tg_dlp_report *report)
{
    return report ? report->action : TG_DLP_ALLOW;
}

double tg_dlp_report_threat_score(const tg_dlp_report *report)
{
    return report ? report->threat : 0.0;
}

size_t tg_dlp_report_incomplete(const tg_dlp_report *report)
{
    return report ? report->incomplete : 0;
}

void tg_dlp_report_free(tg_dlp_report *report)
{
    if (!report)
        return;
    free(report->items);
    free(report);
}
