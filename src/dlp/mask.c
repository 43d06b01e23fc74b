/*
 * mask.c - previews of findings that show the shape of what was found and
 * at most four characters of it, so a report can be logged and displayed.
 */
#include <stdio.h>
#include <string.h>

#include "dlp_impl.h"

static bool is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* "4111 1111 1111 1111" -> "**** **** **** 1111": separators stay. At
 * most half of the letters and digits show, so a short match ("8.8.8.8")
 * is never shown whole. */
static void mask_last4(char *out, const uint8_t *m, size_t len)
{
    size_t alnum = 0;
    for (size_t i = 0; i < len; i++)
        alnum += is_alnum(m[i]);
    size_t show = alnum / 2 < 4 ? alnum / 2 : 4, shown = 0, keep_from = len;
    while (keep_from > 0 && shown < show)
        shown += is_alnum(m[--keep_from]);
    if (show == 0)
        keep_from = len;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < TG__DLP_PREVIEW_MAX; i++) {
        uint8_t c = m[i];
        if (c >= 0x80 || c < 0x20)
            c = '?';
        out[n++] = (char)(is_alnum(c) && i < keep_from ? '*' : c);
    }
    out[n] = '\0';
}

/* "jane.doe@example.com" -> "j***@example.com". */
static void mask_email(char *out, const uint8_t *m, size_t len)
{
    const uint8_t *at = memchr(m, '@', len);
    if (!at || at == m) {
        snprintf(out, TG__DLP_PREVIEW_MAX, "[%zu bytes]", len);
        return;
    }
    size_t domain = len - (size_t)(at - m), n = 0;
    if (domain > TG__DLP_PREVIEW_MAX - 6)
        domain = TG__DLP_PREVIEW_MAX - 6;
    out[n++] = m[0] >= 0x20 && m[0] < 0x80 ? (char)m[0] : '?';
    memcpy(out + n, "***", 3), n += 3;
    for (size_t i = 0; i < domain; i++) /* the domain, in printable ASCII */
        out[n++] = at[i] >= 0x20 && at[i] < 0x80 ? (char)at[i] : '?';
    out[n] = '\0';
}

void tg__dlp_mask(char *out, const uint8_t *m, size_t len, enum tg__dlp_mask style,
                  size_t prefix)
{
    switch (style) {
    case TG__MASK_LAST4:
        mask_last4(out, m, len);
        return;
    case TG__MASK_EMAIL:
        mask_email(out, m, len);
        return;
    case TG__MASK_PREFIX:
        if (prefix > TG__DLP_PREVIEW_MAX - 8 || prefix >= len)
            prefix = 0;
        snprintf(out, TG__DLP_PREVIEW_MAX, "%.*s****", (int)prefix, (const char *)m);
        return;
    case TG__MASK_ALL:
        break;
    }
    snprintf(out, TG__DLP_PREVIEW_MAX, "[%zu bytes]", len);
}
