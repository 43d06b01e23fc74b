/*
 * domains.c - blocked domains.
 *
 * Rules are normalised once (lowercase, no trailing dot, no leading "*.")
 * into a hash set. A scan takes each run of host characters in the text
 * (letters, digits, '-', '_', '.', and %XX escapes, which are decoded), so
 * "https://user@Evil.COM./x", "bob@mail.evil.com" and "%65vil.com" all
 * yield a host, and looks up the host and each parent domain: a rule
 * blocks its domain and every subdomain, and nothing else ("evil.com"
 * does not block "notevil.com" or "evil.com.au").
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "dlp_impl.h"

static bool host_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

static bool edge_char(char c)
{
    return c == '.' || c == '-' || c == '_';
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (uint8_t)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static uint64_t slot_hash(const tg__dlp_domains *d, const char *s, size_t n)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)s, n, d->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return v;
}

static const char *lookup(const tg__dlp_domains *d, const char *s, size_t n)
{
    size_t mask = d->slot_count - 1;
    for (size_t i = slot_hash(d, s, n) & mask;; i = (i + 1) & mask) {
        const char *slot = d->slots[i];
        if (!slot)
            return NULL;
        if (strlen(slot) == n && memcmp(slot, s, n) == 0)
            return slot;
    }
}

/* Lowercases and trims a rule into out; false if it is not a domain. */
static bool normalise_rule(char *out, const char *rule)
{
    size_t n = strlen(rule);
    if (n >= 2 && rule[0] == '*' && rule[1] == '.')
        rule += 2, n -= 2;
    while (n > 0 && rule[n - 1] == '.')
        n--;
    if (n == 0 || n > TG__DLP_DOMAIN_MAX || rule[0] == '.')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)rule[i];
        if (!host_char(c))
            return false;
        if (c == '.') {
            if (label == 0 || label > 63)
                return false;
            label = 0;
        } else {
            label++;
        }
        out[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out[n] = '\0';
    return label > 0 && label <= 63;
}

int tg__dlp_domains_build(tg__dlp_domains *d, const char *const *rules, size_t count)
{
    memset(d, 0, sizeof *d);
    if (count == 0)
        return TG_OK;
    if (tg__sodium_ready() != TG_OK)
        return TG_ECRYPTO;
    randombytes_buf(d->hash_key, sizeof d->hash_key);
    size_t slots = 16;
    while (slots < count * 2)
        slots *= 2;
    d->slots = tg__dlp_calloc(slots, sizeof *d->slots);
    if (!d->slots)
        return tg__error(TG_ENOMEM, "dlp: out of memory for %zu blocked domains", count);
    d->slot_count = slots;
    for (size_t i = 0; i < count; i++) {
        char norm[TG__DLP_DOMAIN_MAX + 1];
        if (!rules[i] || !normalise_rule(norm, rules[i])) {
            tg__dlp_domains_free(d);
            return tg__error(TG_EINVAL, "dlp: blocked_domains[%zu]: not a domain name "
                                        "(ASCII letters, digits, '-', '_', dots; "
                                        "at most 253 bytes; use punycode for IDNs)", i);
        }
        size_t n = strlen(norm);
        if (lookup(d, norm, n))
            continue;
        char *copy = tg__dlp_malloc(n + 1);
        if (!copy) {
            tg__dlp_domains_free(d);
            return tg__error(TG_ENOMEM, "dlp: out of memory for blocked domains");
        }
        memcpy(copy, norm, n + 1);
        size_t mask = d->slot_count - 1, s = slot_hash(d, norm, n) & mask;
        while (d->slots[s])
            s = (s + 1) & mask;
        d->slots[s] = copy;
        d->count++;
    }
    return TG_OK;
}

void tg__dlp_domains_free(tg__dlp_domains *d)
{
    for (size_t i = 0; i < d->slot_count; i++)
        free(d->slots[i]);
    free(d->slots);
    memset(d, 0, sizeof *d);
}

/* The rule blocking host[0..n) (lowercase, no trailing dot), or NULL. */
static const char *blocked(const tg__dlp_domains *d, const char *host, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || host[i - 1] == '.') {
            const char *rule = lookup(d, host + i, n - i);
            if (rule)
                return rule;
        }
    }
    return NULL;
}

/* Looks up one host (lowercase, decoded) found at text[start..end). */
static int check_host(const tg__dlp_domains *d, const char *host, size_t n, const uint8_t *text,
                      size_t start, size_t end, tg__dlp_domain_cb cb, void *user)
{
    /* Dots, hyphens and underscores at either end are punctuation around
     * the host ("_evil.com_" in Markdown), not part of it. */
    while (n > 0 && edge_char(host[n - 1]))
        n--;
    size_t lead = 0;
    while (lead < n && edge_char(host[lead]))
        lead++;
    const char *rule = n > lead ? blocked(d, host + lead, n - lead) : NULL;
    if (!rule)
        return TG_OK;
    while (end > start && edge_char((char)text[end - 1]))
        end--;
    while (start < end && edge_char((char)text[start]))
        start++;
    return cb(user, start, end, rule);
}

/* Checks one run text[start..end) of host characters and %XX escapes. An
 * escape that decodes to something else ("%2F") separates two hosts. A
 * piece longer than any host name (253 bytes) is not one and is skipped. */
static int check_run(const tg__dlp_domains *d, const uint8_t *text, size_t start, size_t end,
                     tg__dlp_domain_cb cb, void *user)
{
    char host[TG__DLP_DOMAIN_MAX];
    size_t n = 0, piece = start;
    bool too_long = false;
    for (size_t i = start; i < end;) {
        uint8_t c = text[i];
        size_t step = 1;
        if (c == '%' && end - i >= 3 && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            c = (uint8_t)(hex_value(text[i + 1]) << 4 | hex_value(text[i + 2]));
            step = 3;
        }
        if (!host_char(c)) {
            int rc = too_long ? TG_OK : check_host(d, host, n, text, piece, i, cb, user);
            if (rc != TG_OK)
                return rc;
            n = 0;
            too_long = false;
            piece = i + step;
        } else if (n == sizeof host) {
            too_long = true;
        } else {
            host[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        i += step;
    }
    return too_long ? TG_OK : check_host(d, host, n, text, piece, end, cb, user);
}

int tg__dlp_domains_scan(const tg__dlp_domains *d, const uint8_t *text, size_t len,
                         tg__dlp_domain_cb cb, void *user)
{
    if (d->count == 0)
        return TG_OK;
    size_t i = 0;
    while (i < len) {
        if (!host_char(text[i]) && text[i] != '%') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && (host_char(text[i]) || text[i] == '%'))
            i++;
        int rc = check_run(d, text, start, i, cb, user);
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}
