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

/* A word with a flag bit set in each byte that is not printable ASCII
 * (below 0x20, 0x7F, or with the high bit set); zero if every byte is.
 * (Borrows can flag a byte above one that really is, never alone.) */
static inline uint64_t unprintable64(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t del = x ^ (ones * 0x7F);
    return (x & highs) | ((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs);
}

static inline uint32_t unprintable32(uint32_t x)
{
    const uint32_t ones = 0x01010101u, highs = 0x80808080u;
    uint32_t del = x ^ (ones * 0x7F);
    return (x & highs) | ((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs);
}

/* True if id[0..len) is all printable ASCII, reading no byte outside it:
 * whole words, the last one overlapping the one before. */
static inline bool printable_ascii(const char *id, size_t len)
{
    if (len >= 8) {
        uint64_t x, bad = 0;
        for (size_t i = 0; i + 8 <= len; i += 8) {
            memcpy(&x, id + i, sizeof x);
            bad |= unprintable64(x);
        }
        memcpy(&x, id + len - 8, sizeof x);
        return !(bad | unprintable64(x));
    }
    if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, id, sizeof a);
        memcpy(&b, id + len - 4, sizeof b);
        return !(unprintable32(a) | unprintable32(b));
    }
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        bad |= c < 0x20 || c >= 0x7F;
    }
    return !bad;
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
    /* Identifiers are checked on every encrypt, decrypt and rate-limit
     * check, so: word at a time while they are printable ASCII (the usual
     * case); byte by byte, for the position of a control character and
     * the UTF-8 check, only when they are not. */
    if (!printable_ascii(id, len)) {
        unsigned char high = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)id[i];
            if (c < 0x20 || c == 0x7F)
                return tg__error(TG_EINVAL, "%s has a control character at byte %zu", what, i);
            high |= c;
        }
        if ((high & 0x80) && !tg__utf8_valid((const uint8_t *)id, len))
            return tg__error(TG_EINVAL, "%s is not valid UTF-8", what);
    }
    if (out_len)
        *out_len = len;
    return TG_OK;
}
