/*
 * redact.c - the text to keep: each MASK finding becomes its preview, each
 * REDACT or BLOCK finding "[REDACTED:<detector>]". Overlapping findings
 * merge into one region that takes the strongest action among them.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "dlp_impl.h"

/* A growing output string. */
typedef struct buffer {
    char *p;
    size_t len, cap;
} buffer;

static bool put(buffer *b, const void *data, size_t n)
{
    if (b->cap - b->len <= n) {
        size_t cap = b->cap;
        while (cap - b->len <= n)
            cap = cap ? cap * 2 : 256;
        char *p = tg__dlp_realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

int tg_dlp_redact(char **out, size_t *out_len, const tg_dlp_report *report, const char *text,
                  size_t len)
{
    if (!out)
        return tg__error(TG_EINVAL, "dlp: NULL out");
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!report)
        return tg__error(TG_EINVAL, "dlp: NULL report");
    if (!text && len > 0)
        return tg__error(TG_EINVAL, "dlp: NULL text with length %zu", len);
    if (len != report->text_len)
        return tg__error(TG_EINVAL, "dlp: text of %zu bytes, but the report is of %zu bytes",
                         len, report->text_len);
    buffer b = {0};
    bool ok = put(&b, "", 0);
    size_t done = 0;
    for (size_t i = 0; ok && i < report->count;) {
        const tg__dlp_item *first = &report->items[i];
        if (first->pub.action == TG_DLP_ALLOW) {
            i++;
            continue;
        }
        /* The region: this finding and every acting one overlapping it. */
        const tg__dlp_item *strongest = first;
        size_t start = first->pub.offset, end = start + first->pub.length;
        for (i++; i < report->count && report->items[i].pub.offset < end; i++) {
            const tg__dlp_item *it = &report->items[i];
            if (it->pub.action == TG_DLP_ALLOW)
                continue;
            if (it->pub.offset + it->pub.length > end)
                end = it->pub.offset + it->pub.length;
            if (it->pub.action > strongest->pub.action)
                strongest = it;
        }
        ok = put(&b, text + done, start - done);
        if (ok && strongest->pub.action == TG_DLP_MASK) {
            ok = put(&b, strongest->preview, strlen(strongest->preview));
        } else if (ok) {
            ok = put(&b, "[REDACTED:", 10) &&
                 put(&b, strongest->detector, strlen(strongest->detector)) && put(&b, "]", 1);
        }
        done = end;
    }
    if (ok)
        ok = put(&b, text ? text + done : "", len - done);
    if (!ok) {
        free(b.p);
        return tg__error(TG_ENOMEM, "dlp: out of memory for the redacted text");
    }
    *out = b.p;
    if (out_len)
        *out_len = b.len;
    return TG_OK;
}

void tg_dlp_free(char *str)
{
    free(str);
}
