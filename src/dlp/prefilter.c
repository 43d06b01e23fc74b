/*
 * prefilter.c - anchors and digit clusters: where detectors need to look.
 *
 * Anchors of three bytes or more: one pass over every second position,
 * where three bytes (6 bits of each) index a 256 Kbit table holding each
 * anchor's bytes 0-2 and 1-3 (a three-byte anchor's bytes 1-2 go to a
 * pair table), every case spelling of a caseless anchor included, so prose
 * almost never stops; only a hit compares anchors (binary search by code).
 * Shorter anchors: memchr for their rarest byte.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlp_impl.h"

static uint32_t tri_code(uint8_t a, uint8_t b, uint8_t c)
{
    return (uint32_t)(a & 63) << 12 | (uint32_t)(b & 63) << 6 | (c & 63);
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
        void *v = tg__dlp_realloc(s->v, cap * sizeof *s->v);
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

static int by_code(const void *a, const void *b)
{
    const tg__dlp_anchor *x = a, *y = b;
    return x->code < y->code ? -1 : x->code > y->code;
}

/* The other-case spelling of an ASCII letter, or c itself. */
static uint8_t other_case(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return c ^ 0x20;
    return c;
}

/* Adds one entry per case spelling of the `n` bytes (3, or 2 for the
 * tail of a three-byte anchor) at `offset` of an anchor to the trigram or
 * pair table. */
static void add_gram(tg__dlp_prefilter *pf, const tg__dlp_anchor *proto, uint8_t offset,
                     size_t n)
{
    const uint8_t *p = (const uint8_t *)proto->bytes + offset;
    size_t variants = proto->caseless ? (size_t)1 << n : 1;
    for (size_t v = 0; v < variants; v++) {
        uint8_t b[3] = {0, 0, 0};
        bool redundant = false;
        for (size_t k = 0; k < n; k++) {
            b[k] = (v >> k & 1) ? other_case(p[k]) : p[k];
            redundant |= (v >> k & 1) && b[k] == p[k]; /* no case: spelled already */
        }
        if (redundant)
            continue;
        tg__dlp_anchor *an;
        if (n == 3) {
            uint32_t t = tri_code(b[0], b[1], b[2]);
            an = &pf->anchors[pf->anchor_count++];
            *an = *proto;
            an->code = t;
            pf->tri_seen[t >> 6] |= UINT64_C(1) << (t & 63);
        } else {
            uint32_t t = (uint32_t)b[0] << 8 | b[1];
            an = &pf->pair_anchors[pf->pair_count++];
            *an = *proto;
            an->code = t;
            pf->pair_seen[t >> 6] |= UINT64_C(1) << (t & 63);
        }
        an->pivot_at = offset;
    }
}

/* How common a byte is in chat text, roughly (higher: more common). The
 * pivot of a short anchor is its rarest byte, so memchr stops seldom. */
static int commonness(uint8_t c)
{
    static const char by_frequency[] = "zqxjkvbpygfwmucldrhsnioate"; /* English */
    if (c >= 'A' && c <= 'Z')
        return 3;
    if (c >= '0' && c <= '9')
        return 2;
    if (c == ' ' || c == '.' || c == ',' || c == '\'')
        return 40;
    const char *f = c ? strchr(by_frequency, c) : NULL;
    return f ? 10 + (int)(f - by_frequency) : 1;
}

static void add_short(tg__dlp_prefilter *pf, const tg__dlp_anchor *proto)
{
    const uint8_t *p = (const uint8_t *)proto->bytes;
    uint8_t at = 0;
    for (uint8_t k = 1; k < proto->len; k++) {
        int ck = commonness(proto->caseless ? (uint8_t)(p[k] | 0x20) : p[k]);
        int ca = commonness(proto->caseless ? (uint8_t)(p[at] | 0x20) : p[at]);
        if (ck <= ca)
            at = k;
    }
    for (int spelling = 0; spelling < (proto->caseless ? 2 : 1); spelling++) {
        uint8_t pivot = spelling ? other_case(p[at]) : p[at];
        if (spelling && pivot == p[at])
            break;
        tg__dlp_anchor *an = &pf->short_anchors[pf->short_count++];
        *an = *proto;
        an->code = pivot;
        an->pivot_at = at;
    }
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
    /* At most 2 x 8 spellings of a long anchor, 4 of a pair, 2 of a
     * short one. */
    pf->anchors = tg__dlp_calloc(total * 16, sizeof *pf->anchors);
    pf->pair_anchors = tg__dlp_calloc(total * 4, sizeof *pf->pair_anchors);
    pf->short_anchors = tg__dlp_calloc(total * 2, sizeof *pf->short_anchors);
    if (!pf->anchors || !pf->pair_anchors || !pf->short_anchors) {
        tg__dlp_prefilter_free(pf);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        const tg__dlp_detector_def *def = builtins[i].def;
        for (const char *p = def->anchors; p && *p;) {
            size_t n = strcspn(p, "|");
            tg__dlp_anchor proto = {0, p, (uint16_t)n, (uint16_t)i,
                                    (uint32_t)(def->reach ? def->reach : TG__DLP_REACH_DEFAULT),
                                    0, def->anchors_caseless};
            if (n >= 3) {
                add_gram(pf, &proto, 0, 3);
                add_gram(pf, &proto, 1, n > 3 ? 3 : 2);
            } else if (n > 0) {
                add_short(pf, &proto);
            }
            p += n + (p[n] == '|');
        }
    }
    qsort(pf->anchors, pf->anchor_count, sizeof *pf->anchors, by_code);
    qsort(pf->pair_anchors, pf->pair_count, sizeof *pf->pair_anchors, by_code);
    qsort(pf->short_anchors, pf->short_count, sizeof *pf->short_anchors, by_code);
    return true;
}

void tg__dlp_prefilter_free(tg__dlp_prefilter *pf)
{
    free(pf->anchors);
    free(pf->pair_anchors);
    free(pf->short_anchors);
    memset(pf, 0, sizeof *pf);
}

/* If the anchor is at text[i], adds its window to its detector's list. */
static inline bool try_anchor(const tg__dlp_anchor *an, const uint8_t *text, size_t len, size_t i,
                       tg__dlp_spans *windows)
{
    if (an->len > len - i)
        return true;
    /* Byte by byte, inline: anchors are short and most candidates fail at
     * the first or second byte. */
    for (size_t k = 0; k < an->len; k++) {
        uint8_t want = (uint8_t)an->bytes[k];
        if (text[i + k] != want && !(an->caseless && text[i + k] == other_case(want)))
            return true;
    }
    size_t before = an->reach < TG__DLP_ANCHOR_BEFORE ? an->reach : TG__DLP_ANCHOR_BEFORE;
    size_t start = i > before ? i - before : 0;
    size_t end = len - i > an->reach ? i + an->reach : len;
    return tg__dlp_spans_add(&windows[an->detector], start, end);
}

/* Tries the anchors of a sorted list whose code is `code`, placed so that
 * their byte `pivot_at` is at text[i]. */
static bool try_code(const tg__dlp_anchor *list, size_t count, uint32_t code,
                     const uint8_t *text, size_t len, size_t i, tg__dlp_spans *windows)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (list[mid].code < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < count && list[lo].code == code; lo++)
        if (i >= list[lo].pivot_at && !try_anchor(&list[lo], text, len, i - list[lo].pivot_at, windows))
            return false;
    return true;
}

/* Long anchors, at every second position. An anchor starting at i covers
 * an even position at i or i + 1: there the trigram table holds its bytes
 * 0-2 or 1-3, or for a three-byte anchor the pair table its bytes 1-2. */
static bool find_long(const tg__dlp_prefilter *pf, const uint8_t *text, size_t len,
                      tg__dlp_spans *windows)
{
    if (pf->anchor_count == 0 || len < 3)
        return true;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint32_t pair = (uint32_t)text[i] << 8 | text[i + 1];
        if (pf->pair_seen[pair >> 6] >> (pair & 63) & 1 &&
            !try_code(pf->pair_anchors, pf->pair_count, pair, text, len, i, windows))
            return false;
        if (i + 2 == len)
            break;
        uint32_t code = tri_code(text[i], text[i + 1], text[i + 2]);
        if (pf->tri_seen[code >> 6] >> (code & 63) & 1 &&
            !try_code(pf->anchors, pf->anchor_count, code, text, len, i, windows))
            return false;
    }
    return true;
}

/* Short anchors: memchr for each pivot byte, then the anchors around it.
 * Their windows come out of order, so the caller sorts them. */
static bool find_short(const tg__dlp_prefilter *pf, const uint8_t *text, size_t len,
                       tg__dlp_spans *windows)
{
    for (size_t g = 0; g < pf->short_count;) {
        size_t end = g;
        while (end < pf->short_count && pf->short_anchors[end].code == pf->short_anchors[g].code)
            end++;
        const uint8_t *p = text, *stop = text + len;
        while ((p = memchr(p, (int)pf->short_anchors[g].code, (size_t)(stop - p)))) {
            size_t hit = (size_t)(p - text);
            for (size_t k = g; k < end; k++) {
                const tg__dlp_anchor *an = &pf->short_anchors[k];
                if (hit >= an->pivot_at && !try_anchor(an, text, len, hit - an->pivot_at, windows))
                    return false;
            }
            p++;
        }
        g = end;
    }
    return true;
}

static int by_start(const void *a, const void *b)
{
    const struct tg__dlp_span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts a list of windows and merges those that touch. */
static void normalise(tg__dlp_spans *s)
{
    bool sorted = true;
    for (size_t i = 1; i < s->count && sorted; i++)
        sorted = s->v[i - 1].end < s->v[i].start;
    if (sorted)
        return;
    qsort(s->v, s->count, sizeof *s->v, by_start);
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (n > 0 && s->v[i].start <= s->v[n - 1].end) {
            if (s->v[i].end > s->v[n - 1].end)
                s->v[n - 1].end = s->v[i].end;
        } else {
            s->v[n++] = s->v[i];
        }
    }
    s->count = n;
}

bool tg__dlp_prefilter_run(const tg__dlp_prefilter *pf, const uint8_t *text, size_t len,
                           tg__dlp_spans *windows, size_t detectors)
{
    if (!find_long(pf, text, len, windows) || !find_short(pf, text, len, windows))
        return false;
    if (pf->short_count)
        for (size_t d = 0; d < detectors; d++)
            normalise(&windows[d]);
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

/* The offset of the first ASCII digit in text[i..len), or len. Eight
 * bytes at a time: most chat text has few digits. A byte y < 0x80 is a
 * digit when y + 0x50 has its top bit set (y >= 0x30) and y + 0x46 has
 * not (y <= 0x39); neither sum carries into the next byte. */
static size_t next_digit(const uint8_t *text, size_t len, size_t i)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, text + i, 8);
        uint64_t y = x & ~high;
        uint64_t digits = (y + ones * 0x50) & ~(y + ones * 0x46) & ~x & high;
        if (digits) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return i + (size_t)__builtin_clzll(digits) / 8;
#else
            return i + (size_t)__builtin_ctzll(digits) / 8;
#endif
        }
    }
    while (i < len && !is_digit(text[i]))
        i++;
    return i;
}

bool tg__dlp_find_clusters(tg__dlp_clusters *c, const uint8_t *text, size_t len,
                           size_t min_digits)
{
    c->count = 0;
    size_t i = 0;
    while ((i = next_digit(text, len, i)) < len) {
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
        if (cl.digits < min_digits)
            continue;
        if (c->count == c->capacity) {
            size_t cap = c->capacity ? c->capacity * 2 : 16;
            void *v = tg__dlp_realloc(c->v, cap * sizeof *c->v);
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
