/*
 * prefilter.c - anchors and digit clusters: where detectors need to look.
 *
 * The anchor search keys on the first two bytes of each anchor, folded to
 * lowercase: a 64 Kbit table answers "could an anchor start here" with one
 * load per byte, and only a hit compares anchors (binary search by key).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlp_impl.h"

static uint8_t fold(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

bool tg__dlp_spans_add(tg__dlp_spans *s, size_t start, size_t end)
{
    if (s->count > 0 && start <= s->v[s->count - 1].end) {
        if (end > s->v[s->count - 1].end)
            s->v[s->count - 1].end = end;
        return true;
    }
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 16;
        void *v = realloc(s->v, cap * sizeof *s->v);
        if (!v)
            return false;
        s->v = v;
        s->capacity = cap;
    }
    s->v[s->count].start = start;
    s->v[s->count].end = end;
    s->count++;
    return true;
}

void tg__dlp_spans_free(tg__dlp_spans *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int anchor_order(const void *a, const void *b)
{
    const tg__dlp_anchor *x = a, *y = b;
    int xs = x->len == 1, ys = y->len == 1;
    if (xs != ys)
        return xs - ys; /* one-byte anchors last */
    return (int)x->key - (int)y->key;
}

bool tg__dlp_prefilter_build(tg__dlp_prefilter *pf, const tg__dlp_builtin *builtins,
                             size_t count)
{
    memset(pf, 0, sizeof *pf);
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const char *a = builtins[i].def->anchors;
        if (a && *a) {
            total++;
            for (; *a; a++)
                total += *a == '|';
        }
    }
    if (total == 0)
        return true;
    pf->anchors = calloc(total, sizeof *pf->anchors);
    if (!pf->anchors)
        return false;
    for (size_t i = 0; i < count; i++) {
        const tg__dlp_detector_def *def = builtins[i].def;
        for (const char *p = def->anchors; p && *p;) {
            size_t n = strcspn(p, "|");
            if (n > 0) {
                tg__dlp_anchor *an = &pf->anchors[pf->anchor_count++];
                an->bytes = p;
                an->len = (uint16_t)n;
                an->detector = (uint16_t)i;
                an->caseless = def->anchors_caseless;
                an->key = (uint16_t)(fold((uint8_t)p[0]) << 8 | (n > 1 ? fold((uint8_t)p[1]) : 0));
                if (n == 1)
                    pf->byte_seen[fold((uint8_t)p[0])] = true;
                else
                    pf->pair_seen[an->key >> 6] |= UINT64_C(1) << (an->key & 63);
            }
            p += n + (p[n] == '|');
        }
    }
    qsort(pf->anchors, pf->anchor_count, sizeof *pf->anchors, anchor_order);
    while (pf->pair_anchor_count < pf->anchor_count && pf->anchors[pf->pair_anchor_count].len > 1)
        pf->pair_anchor_count++;
    return true;
}

void tg__dlp_prefilter_free(tg__dlp_prefilter *pf)
{
    free(pf->anchors);
    memset(pf, 0, sizeof *pf);
}

static bool anchor_at(const tg__dlp_anchor *an, const uint8_t *text, size_t len, size_t i)
{
    if (an->len > len - i)
        return false;
    if (an->caseless)
        return strncasecmp((const char *)text + i, an->bytes, an->len) == 0;
    return memcmp(text + i, an->bytes, an->len) == 0;
}

static bool add_window(tg__dlp_spans *w, size_t len, size_t at)
{
    size_t start = at > TG__DLP_ANCHOR_BEFORE ? at - TG__DLP_ANCHOR_BEFORE : 0;
    size_t end = len - at > TG__DLP_ANCHOR_AFTER ? at + TG__DLP_ANCHOR_AFTER : len;
    return tg__dlp_spans_add(w, start, end);
}

bool tg__dlp_prefilter_run(const tg__dlp_prefilter *pf, const uint8_t *text, size_t len,
                           tg__dlp_spans *windows)
{
    if (pf->anchor_count == 0 || len == 0)
        return true;
    bool singles = pf->pair_anchor_count < pf->anchor_count;
    const tg__dlp_anchor *pairs = pf->anchors;
    for (size_t i = 0; i < len; i++) {
        uint8_t a = fold(text[i]);
        if (singles && pf->byte_seen[a]) {
            for (size_t k = pf->pair_anchor_count; k < pf->anchor_count; k++)
                if (fold((uint8_t)pf->anchors[k].bytes[0]) == a &&
                    anchor_at(&pf->anchors[k], text, len, i) &&
                    !add_window(&windows[pf->anchors[k].detector], len, i))
                    return false;
        }
        if (i + 1 == len)
            break;
        uint16_t key = (uint16_t)(a << 8 | fold(text[i + 1]));
        if (!(pf->pair_seen[key >> 6] >> (key & 63) & 1))
            continue;
        size_t lo = 0, hi = pf->pair_anchor_count;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (pairs[mid].key < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < pf->pair_anchor_count && pairs[lo].key == key; lo++)
            if (anchor_at(&pairs[lo], text, len, i) &&
                !add_window(&windows[pairs[lo].detector], len, i))
                return false;
    }
    return true;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_joiner(uint8_t c)
{
    return c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '+';
}

bool tg__dlp_find_clusters(tg__dlp_clusters *c, const uint8_t *text, size_t len)
{
    c->count = 0;
    size_t i = 0;
    while (i < len) {
        if (!is_digit(text[i])) {
            i++;
            continue;
        }
        tg__dlp_cluster cl = {i, i, 0};
        while (i < len) {
            if (is_digit(text[i])) {
                cl.digits++;
                cl.end = ++i;
                continue;
            }
            size_t j = i;
            while (j < len && j - i < 2 && is_joiner(text[j]))
                j++;
            if (j > i && j < len && is_digit(text[j]))
                i = j;
            else
                break;
        }
        if (c->count == c->capacity) {
            size_t cap = c->capacity ? c->capacity * 2 : 16;
            void *v = realloc(c->v, cap * sizeof *c->v);
            if (!v)
                return false;
            c->v = v;
            c->capacity = cap;
        }
        c->v[c->count++] = cl;
    }
    return true;
}

void tg__dlp_clusters_free(tg__dlp_clusters *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}
