/*
 * validate_credentials.c - validators of the credential detectors.
 *
 * Provider tokens have formats the patterns check; what is left is telling
 * a real random token from the made-up ones people paste in examples
 * ("ghp_xxxx...", "sk_live_1234567890abcdef..."). Generic assignments
 * ("password = ...") need more: entropy, character classes and a list of
 * placeholders, since most such lines in chat are not secrets.
 */
#include "validate_credentials.h"
#include "dlp_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sodium.h>

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* m[0..len) contains `word` (lowercase), ignoring ASCII case. */
static bool contains_ci(const uint8_t *m, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= len; i++) {
        size_t j = 0;
        while (j < n && lower(m[i + j]) == word[j])
            j++;
        if (j == n)
            return true;
    }
    return false;
}

static bool contains_any_ci(const uint8_t *m, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (contains_ci(m, len, *words))
            return true;
    return false;
}

double tg__dlp_shannon_entropy(const uint8_t *m, size_t len)
{
    if (len == 0)
        return 0;
    size_t count[256] = {0};
    for (size_t i = 0; i < len; i++)
        count[m[i]]++;
    double h = 0;
    for (size_t c = 0; c < 256; c++) {
        if (count[c]) {
            double p = (double)count[c] / (double)len;
            h -= p * log2(p);
        }
    }
    return h;
}

static size_t distinct(const uint8_t *m, size_t len)
{
    bool seen[256] = {false};
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!seen[m[i]]) {
            seen[m[i]] = true;
            n++;
        }
    }
    return n;
}

static bool has_run(const uint8_t *m, size_t len, size_t run)
{
    size_t same = 1;
    for (size_t i = 1; i < len; i++) {
        same = m[i] == m[i - 1] ? same + 1 : 1;
        if (same >= run)
            return true;
    }
    return false;
}

/* "abcdef", "12345678", "9876", "ABCdef123": at least half of the
 * neighbouring pairs are one apart (letters compared ignoring case). A
 * random string has about one such pair in thirty. */
static bool is_sequence(const uint8_t *m, size_t len)
{
    if (len < 3)
        return false;
    size_t steps = 0;
    for (size_t i = 1; i < len; i++) {
        int d = lower(m[i]) - lower(m[i - 1]);
        if (d == 1 || d == -1)
            steps++;
    }
    return 2 * steps >= len - 1;
}

bool tg__dlp_valid_cred_token(const uint8_t *m, size_t len)
{
    static const char *const fake[] = {"xxxx", "your_", "your-", "_here", "-here", NULL};
    size_t want = len / 3 < 10 ? len / 3 : 10;
    if (len < 8 || distinct(m, len) < want)
        return false;
    return !has_run(m, len, 5) && !is_sequence(m, len) && !contains_any_ci(m, len, fake);
}

bool tg__dlp_valid_aws_secret(const uint8_t *m, size_t len)
{
    bool up = false, low = false;
    for (size_t i = 0; i < len; i++) {
        up |= m[i] >= 'A' && m[i] <= 'Z';
        low |= m[i] >= 'a' && m[i] <= 'z';
    }
    return up && low && tg__dlp_valid_cred_token(m, len);
}

bool tg__dlp_valid_azure_key(const uint8_t *m, size_t len)
{
    unsigned char bin[66];
    size_t bin_len = 0;
    if (sodium_base642bin(bin, sizeof bin, (const char *)m, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return bin_len == 64 && tg__dlp_valid_cred_token(m, len);
}

/* Decodes one unpadded base64url JWT segment and parses it as a JSON
 * object; NULL if it is not one. The caller deletes the result. */
static cJSON *jwt_segment(const uint8_t *seg, size_t len)
{
    if (len == 0)
        return NULL;
    size_t max = len / 4 * 3 + 3;
    char *bin = tg__dlp_malloc(max + 1);
    if (!bin)
        return NULL;
    size_t bin_len = 0;
    cJSON *json = NULL;
    if (sodium_base642bin((unsigned char *)bin, max, (const char *)seg, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
        bin[bin_len] = '\0'; /* cJSON then rejects anything after the value */
        json = cJSON_ParseWithLengthOpts(bin, bin_len + 1, NULL, 1);
        if (json && !cJSON_IsObject(json)) {
            cJSON_Delete(json);
            json = NULL;
        }
    }
    free(bin);
    return json;
}

bool tg__dlp_valid_jwt(const uint8_t *m, size_t len)
{
    const uint8_t *d1 = memchr(m, '.', len);
    if (!d1)
        return false;
    const uint8_t *p = d1 + 1, *end = m + len;
    const uint8_t *d2 = memchr(p, '.', (size_t)(end - p));
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)))
        return false;

    size_t sig_len = (size_t)(end - d2 - 1);
    if (sig_len > 0) {
        /* The signature is binary; only its encoding can be checked. */
        size_t max = sig_len / 4 * 3 + 3;
        unsigned char *sig = tg__dlp_malloc(max);
        size_t sig_bin = 0;
        int rc = sig ? sodium_base642bin(sig, max, (const char *)d2 + 1, sig_len, NULL, &sig_bin,
                                         NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
                     : -1;
        free(sig);
        if (rc != 0)
            return false;
    }

    cJSON *header = jwt_segment(m, (size_t)(d1 - m));
    if (!header)
        return false;
    bool ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(header, "alg"));
    cJSON_Delete(header);
    if (!ok)
        return false;
    cJSON *payload = jwt_segment(p, (size_t)(d2 - p));
    cJSON_Delete(payload);
    return payload != NULL;
}

static const uint8_t *find(const uint8_t *m, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(m + i, needle, n) == 0)
            return m + i;
    return NULL;
}

bool tg__dlp_valid_private_key(const uint8_t *m, size_t len)
{
    /* The BEGIN line ends at the second "-----". */
    const uint8_t *begin_end = len > 5 ? find(m + 5, len - 5, "-----") : NULL;
    if (!begin_end)
        return false;
    const uint8_t *body = begin_end + 5, *end = m + len;
    const uint8_t *end_line = find(body, (size_t)(end - body), "-----END");
    if (!end_line)
        return true;
    size_t b64 = 0;
    for (const uint8_t *c = body; c < end_line; c++) {
        if (*c == '\\') { /* a JSON or shell escape such as \n is not key material */
            c++;
            continue;
        }
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '+' || *c == '/')
            b64++;
    }
    return b64 >= 64;
}

static bool ident_start(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool ident_char(uint8_t c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* "process.env.DB_PASS", "os.getenv(", "settings.API_KEY", "vault[": a
 * dotted name, or a name called or indexed, is code that fetches the
 * secret, not the secret. */
static bool code_reference(const uint8_t *m, size_t len)
{
    size_t i = 0;
    bool dotted = false;
    for (;;) {
        if (i >= len || !ident_start(m[i]))
            return false;
        while (i < len && ident_char(m[i]))
            i++;
        if (i == len)
            return dotted;
        if (m[i] == '(' || m[i] == '[')
            return true;
        if (m[i] != '.')
            return false;
        dotted = true;
        i++;
    }
}

bool tg__dlp_placeholder(const uint8_t *m, size_t len)
{
    static const char *const words[] = {
        "changeme", "change_me", "change-me", "password", "passwd", "secret", "example",
        "test", "dummy", "sample", "placeholder", "redacted", "your_", "your-", "yourkey",
        "yourtoken", "yourpass", "_here", "-here", "xxxx", "****", "fake", "replace",
        "insert", "qwerty", "asdf", "todo", "fixme", "undefined", "null", "${", "{{",
        "%(", "<", ">", NULL};
    if (len == 0 || contains_any_ci(m, len, words))
        return true;
    /* $VAR, %VAR%, @Value: a variable or template, not its value */
    if (m[0] == '$' || m[0] == '%' || m[0] == '@')
        return true;
    return distinct(m, len) == 1 || is_sequence(m, len) || code_reference(m, len);
}

/* "customer_id_2", "MY-DB-HOST": words of one case joined by '_', '-'
 * or '.' name something; random secrets mix cases or start with digits. */
static bool word_chain(const uint8_t *m, size_t len)
{
    bool low = m[0] >= 'a' && m[0] <= 'z', up = m[0] >= 'A' && m[0] <= 'Z';
    size_t seps = 0;
    if (!low && !up)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = m[i];
        if (c == '_' || c == '-' || c == '.') {
            if (i + 1 == len || m[i + 1] == c)
                return false;
            seps++;
        } else if (!(c >= '0' && c <= '9') && !(low && c >= 'a' && c <= 'z') &&
                   !(up && c >= 'A' && c <= 'Z')) {
            return false;
        }
    }
    return seps > 0;
}

/* "customerId2", "dbHostName": a camelCase name - lowercase words, each
 * further one capitalised, maybe a few digits at the end. */
static bool camel_name(const uint8_t *m, size_t len)
{
    size_t i = 0, humps = 0;
    while (i < len && m[i] >= 'a' && m[i] <= 'z')
        i++;
    if (i < 2)
        return false;
    while (i < len && m[i] >= 'A' && m[i] <= 'Z') {
        size_t start = ++i;
        while (i < len && m[i] >= 'a' && m[i] <= 'z')
            i++;
        if (i == start)
            return false;
        humps++;
    }
    size_t digits = 0;
    while (i < len && m[i] >= '0' && m[i] <= '9' && digits < 3) {
        i++;
        digits++;
    }
    return humps > 0 && i == len;
}

bool tg__dlp_valid_generic_secret(const uint8_t *m, size_t len)
{
    if (len < 8 || tg__dlp_placeholder(m, len) || word_chain(m, len) || camel_name(m, len))
        return false;
    bool low = false, up = false, dig = false;
    for (size_t i = 0; i < len; i++) {
        low |= m[i] >= 'a' && m[i] <= 'z';
        up |= m[i] >= 'A' && m[i] <= 'Z';
        dig |= m[i] >= '0' && m[i] <= '9';
    }
    if ((int)low + (int)up + (int)dig < 2)
        return false;
    /* A random 8-character value has entropy near 3 bits per byte; longer
     * ones more. Words and repeated patterns fall below. */
    double need = log2((double)len) - 0.5;
    if (need > 3.0)
        need = 3.0;
    return tg__dlp_shannon_entropy(m, len) >= need;
}

bool tg__dlp_valid_url_password(const uint8_t *m, size_t len)
{
    static const char *const weak[] = {"pass", "pwd", "user", "token", "key", "pw", NULL};
    if (len < 3 || tg__dlp_placeholder(m, len))
        return false;
    for (size_t i = 0; weak[i]; i++)
        if (strlen(weak[i]) == len && contains_ci(m, len, weak[i]))
            return false;
    return true;
}
