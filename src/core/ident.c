/* ident.c - validation of identifiers and UTF-8. */
#include <string.h>

#include "core.h"
#include "tenantguard/keyring.h"

bool tg__utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

int tg__check_id(const char *what, const char *id, size_t *out_len)
{
    if (!id)
        return tg__error(TG_EINVAL, "%s is NULL", what);
    size_t len = strnlen(id, TG_ID_MAX + 1);
    if (len == 0)
        return tg__error(TG_EINVAL, "%s is empty", what);
    if (len > TG_ID_MAX)
        return tg__error(TG_EINVAL, "%s is longer than %d bytes", what, TG_ID_MAX);
    /* Identifiers are checked on every encrypt and decrypt, so: eight bytes
     * at a time while they are printable ASCII, then byte by byte from the
     * first word that may hold a control character or a non-ASCII byte;
     * the UTF-8 check only when there is a non-ASCII byte. */
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, del;
        memcpy(&x, id + i, sizeof x);
        del = x ^ (ones * 0x7F);
        if ((x & highs) | ((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs))
            break;
    }
    unsigned char high = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7F)
            return tg__error(TG_EINVAL, "%s has a control character at byte %zu", what, i);
        high |= c;
    }
    if ((high & 0x80) && !tg__utf8_valid((const uint8_t *)id, len))
        return tg__error(TG_EINVAL, "%s is not valid UTF-8", what);
    if (out_len)
        *out_len = len;
    return TG_OK;
}
