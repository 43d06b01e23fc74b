/*
 * scan.c - one scan: the prefilter says where each built-in detector may
 * match, its pattern runs only there, validators and context words set the
 * confidence; then blocked domains and content filters. The ruleset is
 * only read; each thread keeps its own scratch (PCRE2 match data and the
 * prefilter's lists) for the next scan.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/core.h"
#include "dlp_impl.h"

typedef struct scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* limits are set before each use */
    tg__dlp_spans *windows; /* per built-in detector */
    size_t window_lists;
    tg__dlp_clusters clusters;
    tg__dlp_spans digit_windows;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_rc;

static void scratch_free(void *p)
{
    scratch *s = p;
    if (!s)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    for (size_t i = 0; i < s->window_lists; i++)
        tg__dlp_spans_free(&s->windows[i]);
    free(s->windows);
    tg__dlp_clusters_free(&s->clusters);
    tg__dlp_spans_free(&s->digit_windows);
    free(s);
}

static void scratch_key_create(void)
{
    scratch_key_rc = pthread_key_create(&scratch_key, scratch_free);
}

/* The calling thread's scratch with room for `detectors` window lists. */
static scratch *thread_scratch(size_t detectors)
{
    pthread_once(&scratch_once, scratch_key_create);
    if (scratch_key_rc != 0)
        return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = tg__dlp_calloc(1, sizeof *s);
        if (!s)
            return NULL;
        /* Ten pairs: a detector reports group 1; filters use group 0. */
        s->md = pcre2_match_data_create(10, tg__dlp_pcre2_general());
        s->mctx = pcre2_match_context_create(tg__dlp_pcre2_general());
        if (!s->md || !s->mctx || pthread_setspecific(scratch_key, s) != 0) {
            scratch_free(s);
            return NULL;
        }
    }
    if (s->window_lists < detectors) {
        tg__dlp_spans *w = tg__dlp_realloc(s->windows, detectors * sizeof *w);
        if (!w)
            return NULL;
        memset(w + s->window_lists, 0, (detectors - s->window_lists) * sizeof *w);
        s->windows = w;
        s->window_lists = detectors;
    }
    for (size_t i = 0; i < detectors; i++)
        s->windows[i].count = 0;
    return s;
}

/* True if one of the '|'-separated lowercase words occurs within
 * TG__DLP_CONTEXT_BYTES of text[start..end), ignoring ASCII case. */
static bool context_near(const char *words, const uint8_t *text, size_t len, size_t start,
                         size_t end)
{
    size_t from = start > TG__DLP_CONTEXT_BYTES ? start - TG__DLP_CONTEXT_BYTES : 0;
    size_t to = len - end > TG__DLP_CONTEXT_BYTES ? end + TG__DLP_CONTEXT_BYTES : len;
    for (const char *w = words; *w;) {
        size_t n = strcspn(w, "|");
        uint8_t first = (uint8_t)w[0]; /* lowercase; test it before a call */
        for (size_t i = from; n > 0 && i + n <= to; i++)
            if ((text[i] == first || (text[i] ^ 0x20) == first) &&
                strncasecmp((const char *)text + i, w, n) == 0)
                return true;
        w += n + (w[n] == '|');
    }
    return false;
}

/* Runs one detector's pattern for matches that start in text[from..to)
 * (the offset limit; the subject is the whole text, so a long match is
 * not cut at the window's end) and adds what passes. */
static int run_window(const tg__dlp_builtin *b, size_t rank, tg_dlp_report *r,
                      const uint8_t *text, size_t len, size_t from, size_t to, scratch *s)
{
    const tg__dlp_detector_def *def = b->def;
    pcre2_match_data *md = s->md;
    pcre2_set_match_limit(s->mctx, TG__DLP_BUILTIN_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, TG__DLP_BUILTIN_MATCH_LIMIT);
    pcre2_set_offset_limit(s->mctx, to - 1);
    size_t at = from;
    while (at < to) {
        int rc = pcre2_match(b->code, text, len, at, 0, md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            return TG_OK;
        if (rc == PCRE2_ERROR_NOMEMORY)
            return tg__error(TG_ENOMEM, "dlp: out of memory");
        if (rc < 0) { /* a limit or the JIT stack: unknown here */
            r->incomplete++;
            return TG_OK;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        if ((rc == 0 || rc > 1) && ov[2] != PCRE2_UNSET) {
            start = ov[2];
            end = ov[3];
        }
        at = ov[1] > at ? ov[1] : tg__dlp_next_char(text, len, at);
        if (end <= start)
            continue;
        double confidence = def->base_confidence;
        if (def->validate) {
            if (!def->validate(text + start, end - start))
                continue;
            confidence += (1.0 - confidence) * 0.6;
        }
        if (def->context) {
            if (context_near(def->context, text, len, start, end))
                confidence += (1.0 - confidence) * 0.5;
            else if (def->context_required)
                continue;
        }
        int add = tg__dlp_report_add(r, text, len, start, end, def->id, rank, def->category,
                                     def->severity, b->action, confidence, def->mask,
                                     def->mask_prefix);
        if (add != TG_OK)
            return add;
    }
    return TG_OK;
}

/* Windows around the clusters of at least `digits` digits. */
static bool digit_windows(scratch *s, size_t len, size_t digits)
{
    s->digit_windows.count = 0;
    for (size_t i = 0; i < s->clusters.count; i++) {
        const tg__dlp_cluster *c = &s->clusters.v[i];
        if (c->digits < digits)
            continue;
        size_t from = c->start > TG__DLP_DIGITS_AROUND ? c->start - TG__DLP_DIGITS_AROUND : 0;
        size_t to = len - c->end > TG__DLP_DIGITS_AROUND ? c->end + TG__DLP_DIGITS_AROUND : len;
        if (!tg__dlp_spans_add(&s->digit_windows, from, to))
            return false;
    }
    return true;
}

/* Moves a window start back to the start of a code point. */
static size_t char_start(const uint8_t *text, size_t at)
{
    while (at > 0 && (text[at] & 0xC0) == 0x80)
        at--;
    return at;
}

static int run_builtins(const tg_dlp_ruleset *rules, scratch *s, tg_dlp_report *r,
                        const uint8_t *text, size_t len)
{
    if (rules->builtin_count == 0)
        return TG_OK;
    if (!tg__dlp_prefilter_run(&rules->prefilter, text, len, s->windows, rules->builtin_count) ||
        !tg__dlp_find_clusters(&s->clusters, text, len, rules->min_digits))
        return tg__error(TG_ENOMEM, "dlp: out of memory for the prefilter");
    /* Most severe first: if the report fills up, what matters most is in it. */
    for (size_t o = 0; o < rules->builtin_count; o++) {
        size_t i = rules->order[o];
        const tg__dlp_builtin *b = &rules->builtins[i];
        const tg__dlp_spans *w;
        if (b->def->anchors && *b->def->anchors) {
            w = &s->windows[i];
        } else if (b->def->min_digits) {
            if (!digit_windows(s, len, b->def->min_digits))
                return tg__error(TG_ENOMEM, "dlp: out of memory for the prefilter");
            w = &s->digit_windows;
        } else {
            int rc = len ? run_window(b, i, r, text, len, 0, len, s) : TG_OK;
            if (rc != TG_OK)
                return rc;
            continue;
        }
        for (size_t k = 0; k < w->count; k++) {
            int rc = run_window(b, i, r, text, len, char_start(text, w->v[k].start),
                                w->v[k].end, s);
            if (rc != TG_OK)
                return rc;
        }
    }
    return TG_OK;
}

/* Scratch that a huge text grew is given back, so a thread does not keep
 * hundreds of megabytes for the rest of its life. */
#define SCRATCH_KEEP 4096 /* list entries kept between scans */

static void shrink(scratch *s)
{
    if (s->clusters.capacity > SCRATCH_KEEP)
        tg__dlp_clusters_free(&s->clusters);
    if (s->digit_windows.capacity > SCRATCH_KEEP)
        tg__dlp_spans_free(&s->digit_windows);
    for (size_t i = 0; i < s->window_lists; i++)
        if (s->windows[i].capacity > SCRATCH_KEEP)
            tg__dlp_spans_free(&s->windows[i]);
}

typedef struct domain_hit {
    const tg_dlp_ruleset *rules;
    tg_dlp_report *report;
    const uint8_t *text;
    size_t len;
} domain_hit;

static int add_domain(void *user, size_t start, size_t end, const char *rule)
{
    domain_hit *h = user;
    int rc = tg__dlp_report_add(h->report, h->text, h->len, start, end, "blocked_domain",
                                SIZE_MAX, TG_DLP_NETWORK, TG_DLP_HIGH, h->rules->domain_action,
                                1.0, TG__MASK_ALL, 0);
    if (rc == TG_OK) {
        /* The rule, not the text, is the preview: it is the policy's own
         * words and says why the finding was made. */
        tg__dlp_item *it = &h->report->items[h->report->count - 1];
        size_t n = strlen(rule);
        if (n >= sizeof it->preview)
            n = sizeof it->preview - 1;
        memcpy(it->preview, rule, n);
        it->preview[n] = '\0';
    }
    return rc;
}

int tg_dlp_scan(tg_dlp_report **out, const tg_dlp_ruleset *rules, const char *text, size_t len,
                double min_confidence)
{
    if (!out)
        return tg__error(TG_EINVAL, "dlp: NULL out");
    *out = NULL;
    if (!rules)
        return tg__error(TG_EINVAL, "dlp: NULL ruleset");
    if (!text && len > 0)
        return tg__error(TG_EINVAL, "dlp: NULL text with length %zu", len);
    if (!(min_confidence >= 0.0 && min_confidence <= 1.0))
        return tg__error(TG_EINVAL, "dlp: min_confidence must be in [0,1]");
    if (len > TG_DLP_TEXT_MAX)
        return tg__error(TG_ERANGE, "dlp: text of %zu bytes; at most %u per scan", len,
                         TG_DLP_TEXT_MAX);
    tg_dlp_report *r = tg__dlp_calloc(1, sizeof *r);
    scratch *s = thread_scratch(rules->builtin_count);
    if (!r || !s) {
        free(r);
        return tg__error(TG_ENOMEM, "dlp: out of memory for a scan");
    }
    r->text_len = len;
    const uint8_t *t = (const uint8_t *)(text ? text : "");
    domain_hit hit = {rules, r, t, len};
    /* The workspace's own rules first, then the built-ins. */
    int rc = tg__dlp_domains_scan(&rules->domains, t, len, add_domain, &hit);
    if (rc == TG_OK)
        rc = tg__dlp_run_filters(rules, r, t, len, s->md, s->mctx);
    if (rc == TG_OK)
        rc = run_builtins(rules, s, r, t, len);
    if (rc == TG_ERANGE) {
        /* TG_DLP_FINDINGS_MAX reached: what was found stands, the rest is
         * unexamined, and the report fails closed (tg__dlp_report_finish). */
        r->incomplete++;
        r->full = true;
        rc = TG_OK;
    }
    shrink(s);
    if (rc == TG_OK)
        rc = tg__dlp_report_finish(r, min_confidence);
    if (rc != TG_OK) {
        tg_dlp_report_free(r);
        return rc;
    }
    *out = r;
    return TG_OK;
}
