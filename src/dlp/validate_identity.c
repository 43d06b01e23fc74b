/*
 * validate_identity.c - checksums and range checks for personal, financial
 * and network identifiers. The patterns find the shape; these decide
 * whether the thing could have been issued, so a checksum failure drops a
 * finding instead of merely lowering it.
 */
#include "validate_identity.h"

#include <arpa/inet.h>
#include <string.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(uint8_t c)
{
    return c >= 'A' && c <= 'Z';
}

static uint8_t to_upper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

static int hex_value(uint8_t c)
{
    if (is_digit(c))
        return c - '0';
    c = to_upper(c);
    return (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Copies the digits of m into d (at most cap of them, as values 0-9) and
 * returns how many there were; cap + 1 when there were more. */
static size_t digits_of(const uint8_t *m, size_t len, uint8_t *d, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(m[i]))
            continue;
        if (n == cap)
            return cap + 1;
        d[n++] = (uint8_t)(m[i] - '0');
    }
    return n;
}

/* The number formed by d[0..k). */
static unsigned prefix_of(const uint8_t *d, size_t k)
{
    unsigned v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + d[i];
    return v;
}

/* Placeholders such as 111-11-1111 or 0000 0000 are typed, not issued. */
static bool one_repeated_digit(const uint8_t *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0])
            return false;
    return true;
}

/* ---- US SSN and ITIN ---------------------------------------------------- */

bool tg__dlp_valid_us_ssn(const uint8_t *m, size_t len)
{
    /* Published or advertised numbers that appear in examples everywhere:
     * the Woolworth wallet card, the 1940s SSA pamphlet, the textbook
     * sequence and the LifeLock advertisement. */
    static const unsigned examples[] = {78051120, 219099999, 123456789, 457555462};
    uint8_t d[9];
    if (digits_of(m, len, d, 9) != 9 || one_repeated_digit(d, 9))
        return false;
    unsigned area = prefix_of(d, 3), group = prefix_of(d + 3, 2), serial = prefix_of(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return false;
    unsigned all = prefix_of(d, 9);
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        if (all == examples[i])
            return false;
    return true;
}

bool tg__dlp_valid_us_itin(const uint8_t *m, size_t len)
{
    uint8_t d[9];
    if (digits_of(m, len, d, 9) != 9 || d[0] != 9)
        return false;
    /* The IRS issues ITINs with these group numbers only (since 2011). */
    unsigned g = prefix_of(d + 3, 2);
    return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) || g >= 94;
}

/* ---- UK National Insurance number ---------------------------------------- */

bool tg__dlp_valid_uk_nino(const uint8_t *m, size_t len)
{
    static const char *const unallocated[] = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"};
    uint8_t c[9];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == ' ')
            continue;
        if (n == sizeof c)
            return false;
        c[n++] = to_upper(m[i]);
    }
    if (n != 9 || !is_upper(c[0]) || !is_upper(c[1]) || c[8] < 'A' || c[8] > 'D')
        return false;
    for (size_t i = 2; i < 8; i++)
        if (!is_digit(c[i]))
            return false;
    if (strchr("DFIQUV", c[0]) || strchr("DFIOQUV", c[1]))
        return false;
    for (size_t i = 0; i < sizeof unallocated / sizeof unallocated[0]; i++)
        if (c[0] == unallocated[i][0] && c[1] == unallocated[i][1])
            return false;
    return true;
}

/* ---- e-mail --------------------------------------------------------------- */

static bool tld_is_file_extension(const uint8_t *t, size_t n)
{
    /* "icon@2x.png", "logo@3x.webp": asset names, not addresses. */
    static const char *const ext[] = {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "ico"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        if (strlen(ext[i]) != n)
            continue;
        size_t k = 0;
        while (k < n && to_upper(t[k]) == to_upper((uint8_t)ext[i][k]))
            k++;
        if (k == n)
            return true;
    }
    return false;
}

bool tg__dlp_valid_email(const uint8_t *m, size_t len)
{
    const uint8_t *at = memchr(m, '@', len);
    if (!at || len > 254)
        return false;
    size_t local = (size_t)(at - m);
    const uint8_t *dom = at + 1;
    size_t dlen = len - local - 1;
    if (local == 0 || local > 64 || dlen == 0 || m[0] == '.' || m[local - 1] == '.')
        return false;
    for (size_t i = 1; i < local; i++)
        if (m[i] == '.' && m[i - 1] == '.')
            return false;
    /* "git@github.com:org/repo" is an SSH remote, not a person. */
    if (local == 3 && memcmp(m, "git", 3) == 0)
        return false;
    size_t label = 0, last = 0;
    for (size_t i = 0; i <= dlen; i++) {
        if (i == dlen || dom[i] == '.') {
            size_t n = i - label;
            if (n == 0 || n > 63 || dom[label] == '-' || dom[i - 1] == '-')
                return false;
            last = label;
            label = i + 1;
        }
    }
    return !tld_is_file_extension(dom + last, dlen - last);
}

/* ---- phone ---------------------------------------------------------------- */

bool tg__dlp_valid_phone(const uint8_t *m, size_t len)
{
    uint8_t d[16];
    size_t n = digits_of(m, len, d, sizeof d);
    if (n < 8 || n > 15 || one_repeated_digit(d, n))
        return false;
    bool plus = len > 0 && m[0] == '+';
    /* North American numbering plan: +1 or a bare ten digits starting
     * 2-9; area code and exchange both start 2-9. */
    const uint8_t *nanp = NULL;
    if (plus && d[0] == 1)
        nanp = d + 1;
    else if (!plus && n == 11 && d[0] == 1)
        nanp = d + 1;
    else if (!plus && n == 10 && d[0] != 0)
        nanp = d;
    if (nanp) {
        if ((size_t)(nanp - d) + 10 != n)
            return false;
        return nanp[0] >= 2 && nanp[3] >= 2;
    }
    /* An international number starts with a country code, never 0; a
     * national one with its trunk prefix 0 and has ten digits or more
     * (UK, France, most of Germany), which leaves out dates like
     * 05-11-2026. */
    if (plus)
        return d[0] != 0;
    return d[0] == 0 && n >= 10;
}

/* ---- dates of birth ------------------------------------------------------- */

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool date_exists(unsigned y, unsigned mo, unsigned day)
{
    static const unsigned days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2099 || mo < 1 || mo > 12 || day < 1 || day > days[mo - 1])
        return false;
    return !(mo == 2 && day == 29 && !leap(y));
}

static unsigned month_named(const uint8_t *w, size_t n)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (n < 3)
        return 0;
    for (unsigned i = 0; i < 12; i++)
        if ((w[0] | 32) == months[3 * i] && (w[1] | 32) == months[3 * i + 1] &&
            (w[2] | 32) == months[3 * i + 2])
            return i + 1;
    return 0;
}

bool tg__dlp_valid_date(const uint8_t *m, size_t len)
{
    unsigned num[3], ndig[3], month = 0;
    size_t nums = 0;
    for (size_t i = 0; i < len;) {
        if (is_digit(m[i])) {
            unsigned v = 0, k = 0;
            while (i < len && is_digit(m[i]) && k < 5)
                v = v * 10 + (unsigned)(m[i++] - '0'), k++;
            if (nums == 3 || k > 4)
                return false;
            num[nums] = v;
            ndig[nums++] = k;
        } else if (is_upper(to_upper(m[i]))) {
            size_t s = i;
            while (i < len && is_upper(to_upper(m[i])))
                i++;
            /* "14th" is a day; any other word must be a month. */
            bool ordinal = s > 0 && is_digit(m[s - 1]);
            if (!ordinal) {
                if (month || !(month = month_named(m + s, i - s)))
                    return false;
            }
        } else {
            i++;
        }
    }
    if (month) {
        if (nums != 2)
            return false;
        unsigned y = ndig[0] == 4 ? num[0] : num[1], day = ndig[0] == 4 ? num[1] : num[0];
        return date_exists(y, month, day);
    }
    if (nums != 3)
        return false;
    if (ndig[0] == 4)
        return date_exists(num[0], num[1], num[2]);
    if (ndig[2] != 4)
        return false;
    /* 03/04/1985 is ambiguous: either reading will do. */
    return date_exists(num[2], num[1], num[0]) || date_exists(num[2], num[0], num[1]);
}

/* ---- US passport ---------------------------------------------------------- */

bool tg__dlp_valid_us_passport(const uint8_t *m, size_t len)
{
    uint8_t d[9];
    size_t n = digits_of(m, len, d, sizeof d);
    if (n + (len > 0 && is_upper(m[0])) != 9 || len != 9 || one_repeated_digit(d, n))
        return false;
    /* 123456789 / 12345678: a placeholder, not a passport. */
    for (size_t i = 1; i < n; i++)
        if (d[i] != (d[i - 1] + 1) % 10)
            return true;
    return false;
}

/* ---- payment cards -------------------------------------------------------- */

static bool luhn(const uint8_t *d, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = d[n - 1 - i];
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

/* Whether the IIN of d[0..n) belongs to a brand that issues cards of n
 * digits. Several brands share a range (Discover and UnionPay on 622);
 * one match is enough. */
static bool card_brand(const uint8_t *d, size_t n)
{
    unsigned p2 = prefix_of(d, 2), p3 = prefix_of(d, 3), p4 = prefix_of(d, 4),
             p6 = prefix_of(d, 6);
    bool n16_19 = n >= 16 && n <= 19;
    if (d[0] == 4) /* Visa */
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) /* Mastercard */
        return n == 16;
    if (p2 == 34 || p2 == 37) /* American Express */
        return n == 15;
    if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925)) &&
        n16_19) /* Discover */
        return true;
    if (p4 >= 3528 && p4 <= 3589 && n16_19) /* JCB */
        return true;
    if (((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14 && n <= 19)
        return true; /* Diners Club */
    if (p2 == 62 && n16_19) /* UnionPay */
        return true;
    return (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5893 || p4 == 6304 || p4 == 6759 ||
            (p4 >= 6761 && p4 <= 6763)) &&
           n >= 12 && n <= 19; /* Maestro */
}

bool tg__dlp_valid_card(const uint8_t *m, size_t len)
{
    uint8_t d[19];
    size_t n = digits_of(m, len, d, sizeof d);
    if (n < 12 || n > 19 || one_repeated_digit(d, n))
        return false;
    return card_brand(d, n) && luhn(d, n);
}

/* ---- IBAN ----------------------------------------------------------------- */

/* Every country of the SWIFT IBAN registry (release 2024) and its IBAN
 * length, sorted. */
static const struct {
    char cc[3];
    uint8_t len;
} iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
    {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
    {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
    {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24},
    {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
    {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

static size_t iban_length(uint8_t a, uint8_t b)
{
    for (size_t i = 0; i < sizeof iban_countries / sizeof iban_countries[0]; i++)
        if (iban_countries[i].cc[0] == a && iban_countries[i].cc[1] == b)
            return iban_countries[i].len;
    return 0;
}

bool tg__dlp_valid_iban(const uint8_t *m, size_t len)
{
    uint8_t c[34];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (m[i] == ' ')
            continue;
        uint8_t u = to_upper(m[i]);
        if (n == sizeof c || !(is_digit(u) || is_upper(u)))
            return false;
        c[n++] = u;
    }
    if (n < 4 || !is_upper(c[0]) || !is_upper(c[1]) || !is_digit(c[2]) || !is_digit(c[3]) ||
        iban_length(c[0], c[1]) != n)
        return false;
    /* ISO 7064 MOD 97-10: the first four characters move to the end,
     * letters count as 10..35, and the number must leave 1. */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t ch = c[(k + 4) % n];
        if (is_digit(ch))
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    return rem == 1;
}

/* ---- ABA routing number --------------------------------------------------- */

bool tg__dlp_valid_aba(const uint8_t *m, size_t len)
{
    uint8_t d[9];
    if (digits_of(m, len, d, 9) != 9 || one_repeated_digit(d, 9))
        return false;
    /* 00-12 Federal Reserve banks, 21-32 thrifts, 61-72 electronic, 80
     * traveller's cheques. */
    unsigned p = prefix_of(d, 2);
    if (!(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80))
        return false;
    unsigned sum = 3u * (d[0] + d[3] + d[6]) + 7u * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8];
    return sum % 10 == 0;
}

/* ---- SWIFT / BIC ---------------------------------------------------------- */

/* ISO 3166-1 alpha-2, plus XK (Kosovo), which SWIFT uses. */
static const char iso_countries[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
    "CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFO"
    "FRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJE"
    "JMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMO"
    "MPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPW"
    "PYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTM"
    "TNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSXKYEYTZAZMZW";

static bool iso_country(uint8_t a, uint8_t b)
{
    for (size_t i = 0; iso_countries[i]; i += 2)
        if (iso_countries[i] == a && iso_countries[i + 1] == b)
            return true;
    return false;
}

bool tg__dlp_valid_bic(const uint8_t *m, size_t len)
{
    if (len != 8 && len != 11)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (i < 6 ? !is_upper(m[i]) : !(is_upper(m[i]) || is_digit(m[i])))
            return false;
    }
    return iso_country(m[4], m[5]);
}

/* ---- network addresses ---------------------------------------------------- */

/* inet_pton on the span, which is not NUL-terminated. */
static bool parse_ip(int af, const uint8_t *m, size_t len, void *out)
{
    char buf[INET6_ADDRSTRLEN];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, m, len);
    buf[len] = '\0';
    return inet_pton(af, buf, out) == 1;
}

bool tg__dlp_valid_ipv4(const uint8_t *m, size_t len)
{
    struct in_addr a;
    if (!parse_ip(AF_INET, m, len, &a))
        return false;
    uint32_t v = ntohl(a.s_addr);
    /* 0.0.0.0 means "any", and 255.255.255.0 and friends are netmasks:
     * neither identifies a host. */
    if (v == 0)
        return false;
    uint32_t inv = ~v;
    bool netmask = (inv & (inv + 1)) == 0;
    return !(netmask && v >= 0xFF000000u);
}

bool tg__dlp_valid_ipv6(const uint8_t *m, size_t len)
{
    struct in6_addr a;
    if (!parse_ip(AF_INET6, m, len, &a))
        return false;
    /* Code parses as IPv6 too: "a[1::2]" (a Python slice), "A::B". An
     * address written down has at least two groups and four hex digits. */
    size_t groups = 0, hex = 0;
    for (size_t i = 0; i < len; i++) {
        if (hex_value(m[i]) >= 0) {
            hex++;
            groups += i == 0 || m[i - 1] == ':' || m[i - 1] == '.';
        }
    }
    if (groups < 2 || hex < 4)
        return false;
    /* "::1" (loopback) identifies nobody. */
    static const uint8_t loopback[16] = {[15] = 1};
    return memcmp(a.s6_addr, loopback, 16) != 0;
}

bool tg__dlp_valid_mac(const uint8_t *m, size_t len)
{
    uint8_t h[12];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = hex_value(m[i]);
        if (v < 0)
            continue;
        if (n == sizeof h)
            return false;
        h[n++] = (uint8_t)v;
    }
    if (n != 12)
        return false;
    /* All zeros (unset) and all ones (broadcast) are not a device. */
    bool zero = true, ones = true;
    for (size_t i = 0; i < n; i++) {
        zero = zero && h[i] == 0;
        ones = ones && h[i] == 15;
    }
    return !zero && !ones;
}
