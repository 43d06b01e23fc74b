/*
 * utf8_check.h - for tests and fuzz targets: whether a position lies inside
 * a well-formed UTF-8 character, so span checks can tell a split character
 * from a stray continuation byte. Header-only: fuzz targets link no
 * support code.
 */
#ifndef TG_TEST_UTF8_CHECK_H
#define TG_TEST_UTF8_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if position p of text[0..len) is inside a well-formed UTF-8
 * character (after its lead byte). Stray continuation bytes are not. */
static inline bool tgt_inside_char(const uint8_t *text, size_t len, size_t p)
{
    if (p >= len || (text[p] & 0xC0) != 0x80)
        return false;
    for (size_t back = 1; back <= 3 && back <= p; back++) {
        uint8_t lead = text[p - back];
        if ((lead & 0xC0) == 0x80)
            continue;
        size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
        if (n <= back || p - back + n > len)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((text[p - back + k] & 0xC0) != 0x80)
                return false;
        return true;
    }
    return false;
}

#endif
