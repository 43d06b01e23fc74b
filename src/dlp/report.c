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
    /* Whole code points only: a span never starts or ends inside one. */
    while (start > 0 && continuation(text[start]))
        start--;
    while (end < len && continuation(text[end]))
        end++;
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

/* True if built-in finding a should stay rather than b. */
static bool wins(const tg__dlp_item *a, const tg__dlp_item *b)
{
    if (a->pub.confidence != b->pub.confidence)
        return a->pub.confidence > b->pub.confidence;
    if (a->pub.severity != b->pub.severity)
        return a->pub.severity > b->pub.severity;
    return a->rank < b->rank;
}

static bool overlap(const tg__dlp_item *a, const tg__dlp_item *b)
{
    return a->pub.offset < b->pub.offset + b->pub.length &&
           b->pub.offset < a->pub.offset + a->pub.length;
}

static double severity_weight(int severity)
{
    return severity >= TG_DLP_LOW && severity <= TG_DLP_CRITICAL ? severity * 0.25 : 0.0;
}

void tg__dlp_report_finish(tg_dlp_report *r, double min_confidence)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        if (r->items[i].pub.confidence >= min_confidence)
            r->items[n++] = r->items[i];
    r->count = n;
    if (r->count > 1)
        qsort(r->items, r->count, sizeof *r->items, by_offset);

    /* Overlapping built-ins: the stronger stays. `reach` is the furthest
     * end of any finding up to this one, so the walk back stops as soon as
     * nothing earlier can overlap. */
    size_t reach = 0;
    for (size_t i = 0; i < r->count; i++) {
        tg__dlp_item *it = &r->items[i];
        size_t end = it->pub.offset + it->pub.length;
        reach = end > reach ? end : reach;
        it->reach = reach;
        if (it->rank == SIZE_MAX)
            continue;
        for (size_t k = i; k-- > 0 && r->items[k].reach > it->pub.offset;) {
            tg__dlp_item *prev = &r->items[k];
            if (prev->rank == SIZE_MAX || prev->displaced || !overlap(prev, it))
                continue;
            if (wins(prev, it)) {
                it->displaced = true;
                break;
            }
            prev->displaced = true;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < r->count; i++)
        if (!r->items[i].displaced)
            r->items[kept++] = r->items[i];
    r->count = kept;

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
