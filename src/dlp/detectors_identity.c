/*
 * detectors_identity.c - built-in detectors for personal data (national
 * ids, e-mail, phone, dates of birth), financial identifiers (cards, IBAN,
 * routing numbers, BIC) and network addresses.
 *
 * Numeric detectors use min_digits, so they run only near digit clusters;
 * their patterns bound the number with lookarounds that refuse a
 * neighbouring word character, '-' or another digit group ("\d "), so a
 * piece of a longer number (an IBAN, a tracking number, a UUID) is never
 * taken for a shorter one. Ids with a weak shape (9 bare digits, 8 capital
 * letters, any date) need a context word, and those words are then their
 * anchors too, so their patterns run only near "passport", "routing",
 * "born" ... Short `reach` values keep anchor windows no larger than the
 * context rule or the longest match needs. docs/DLP.md describes each
 * detector.
 */
#include "detector.h"
#include "validate_identity.h"

/* A number starts here: no word character, '-' or '.' before it, and no
 * digit group ("12 ") just before it. */
#define NUM_BEFORE "(?<![\\w\\-.]|\\d[ ])"
/* A number ends here: no word character or '-' after it, and no decimal
 * or further group ("5.1", " 7") either. */
#define NUM_AFTER "(?![\\w\\-]|[.,]\\d|[ ]\\d)"

#define MONTH                                                                              \
    "(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"     \
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
#define DAY "(?:0?[1-9]|[12]\\d|3[01])"
#define OCTET "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
#define HEX2 "[0-9A-Fa-f]{2}"

/* IPv6 and MAC addresses have no digit cluster (':' joins nothing) and ':'
 * alone is everywhere in prose ("Heads up:"). Nearly every address holds
 * a digit right before a ':' (or "::"), which prose seldom does outside
 * clock times. An address without one ("dead:beef:cafe:babe:...",
 * "aa:bb:cc:dd:ee:ff") is missed; a short `reach` keeps the window that
 * each clock time opens small. */
#define DIGIT_COLON "0:|1:|2:|3:|4:|5:|6:|7:|8:|9:"

const tg__dlp_detector_def tg__dlp_detectors_identity[] = {
    /* ---- personal data -------------------------------------------------- */
    {
        .id = "us_ssn",
        .name = "US Social Security number",
        .category = TG_DLP_PII,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.5,
        .default_action = TG_DLP_REDACT,
        /* ddd-dd-dddd anywhere; spaced or bare digits only right after
         * "SSN" or "social security (number)". Branch reset: the number is
         * group 1 either way. */
        .pattern = "(?|" NUM_BEFORE "(\\d{3}-\\d{2}-\\d{4})" NUM_AFTER
                   "|(?i:\\bssn\\b|social[ \\-]security(?:[ \\-](?:number|no\\.?|num|#))?)"
                   "[^\\w\\n]{0,3}(?:(?i:is|was|of)[ ]{1,2}[:#]?[ ]?)?"
                   "(\\d{3}[ \\-]?\\d{2}[ \\-]?\\d{4})" NUM_AFTER ")",
        .min_digits = 9,
        .validate = tg__dlp_valid_us_ssn,
        .context = "ssn|social security|social sec",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "us_itin",
        .name = "US Individual Taxpayer Identification number",
        .category = TG_DLP_PII,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.5,
        .default_action = TG_DLP_REDACT,
        .pattern = "(?|" NUM_BEFORE "(9\\d{2}-\\d{2}-\\d{4})" NUM_AFTER
                   "|(?i:\\bitin\\b|taxpayer id(?:entification)?(?: number| no\\.?)?)"
                   "[^\\w\\n]{0,3}(?:(?i:is|was)[ ]{1,2})?"
                   "(9\\d{2}[ \\-]?\\d{2}[ \\-]?\\d{4})" NUM_AFTER ")",
        .min_digits = 9,
        .validate = tg__dlp_valid_us_itin,
        .context = "itin|taxpayer|tax id|irs|w-7",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "uk_nino",
        .name = "UK National Insurance number",
        .category = TG_DLP_PII,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.5,
        .default_action = TG_DLP_REDACT,
        /* The letter classes leave out D, F, I, Q, U, V (and O second);
         * the validator refuses the unallocated prefixes. */
        .pattern = "(?<![\\w\\-])([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z](?:[ ]?\\d{2}){3}[ ]?[A-D])"
                   "(?![\\w\\-])",
        .min_digits = 6,
        .validate = tg__dlp_valid_uk_nino,
        .context = "national insurance|nino|ni number|ni no|hmrc",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "email",
        .name = "E-mail address",
        .category = TG_DLP_PII,
        .severity = TG_DLP_LOW,
        .base_confidence = 0.8,
        .default_action = TG_DLP_MASK,
        /* dot-atom local part (no quoted strings, no '/', '=' or '?', which
         * belong to URLs), host names with a letter TLD or punycode. */
        .pattern = "(?<![\\w.%+\\-/'!#$&*^~])"
                   "([A-Za-z0-9][\\w.%+\\-'!#$&*^~]{0,63}+"
                   "@(?:[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?\\.)+"
                   "(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9]{2,20}))"
                   "(?![\\w\\-]|\\.[A-Za-z0-9])",
        .anchors = "@",
        .reach = 96, /* 64 bytes of local part before, a host name after */
        .validate = tg__dlp_valid_email,
        .context = "email|e-mail|mail|contact|reach",
        .mask = TG__MASK_EMAIL,
    },
    {
        .id = "phone",
        .name = "Phone number",
        .category = TG_DLP_PII,
        .severity = TG_DLP_MEDIUM,
        .base_confidence = 0.5,
        .default_action = TG_DLP_MASK,
        /* Three shapes, each with separators a date, time, version or bare
         * digit run does not have:
         *   +<country> groups    +44 20 7946 0958, +1 (415) 555-0132, +14155550132
         *   North American       (415) 555-0132, 415-555-0132, 1-800-555-0199
         *   national, trunk 0    020 7946 0958, 030/12345678, 01 23 45 67 89
         * The validator counts digits and checks NANP and trunk rules. */
        .pattern = "(?<![\\w\\-.+/]|\\d[ ])("
                   "\\+[1-9]\\d{0,2}(?:[ .\\-]?\\(0\\))?(?:[ .\\-]?\\(?\\d{1,4}+\\)?){2,5}"
                   "|(?:1[ .\\-]?)?(?:\\(\\d{3}\\)[ ]?\\d{3}[ .\\-]|\\d{3}([ .\\-])\\d{3}\\2)\\d{4}"
                   "|(?:0\\d{2,4}[ \\-/]|\\(0\\d{2,4}\\)[ ]?)\\d{3,8}(?:[ \\-]\\d{2,4}){0,2}"
                   "|0[1-9]([ .\\-])\\d{2}(?:\\3\\d{2}){3}"
                   ")(?![\\w\\-]|[.\\-/:]\\d)",
        .min_digits = 8,
        .validate = tg__dlp_valid_phone,
        .context = "phone|call|tel|mobile|cell|whatsapp|fax|contact|reach me|text me",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "date_of_birth",
        .name = "Date of birth",
        .category = TG_DLP_PII,
        .severity = TG_DLP_MEDIUM,
        .base_confidence = 0.5,
        .default_action = TG_DLP_MASK,
        /* Any date is a date of birth only next to "born", "DOB" ... */
        .pattern = "(?<![\\w\\-./:])("
                   "(?:19|20)\\d{2}([\\-/.])(?:0?[1-9]|1[0-2])\\2" DAY
                   "|" DAY "([\\-/.])" DAY "\\3(?:19|20)\\d{2}"
                   "|" DAY "(?i:st|nd|rd|th)?[ ]" MONTH "\\.?,?[ ](?:19|20)\\d{2}"
                   "|" MONTH "\\.?[ ]" DAY "(?i:st|nd|rd|th)?,?[ ](?:19|20)\\d{2}"
                   ")(?![\\w\\-]|[./:]\\d)",
        /* The context words are required, so they are also the anchors:
         * the pattern never runs on the dates of ordinary chat. */
        .anchors = "born|birth|dob:|dob |dob=|(dob|d.o.b",
        .anchors_caseless = true,
        .reach = 64,
        .validate = tg__dlp_valid_date,
        .context = "dob|d.o.b|born|birth",
        .context_required = true,
        .mask = TG__MASK_ALL,
    },
    {
        .id = "us_passport",
        .name = "US passport number",
        .category = TG_DLP_PII,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.4,
        .default_action = TG_DLP_REDACT,
        /* 9 digits, or a letter and 8 digits (next-generation books): far
         * too common a shape without the word "passport" nearby. */
        .pattern = NUM_BEFORE "([A-Z]\\d{8}|\\d{9})" NUM_AFTER,
        .anchors = "passport",
        .anchors_caseless = true,
        .reach = 64,
        .validate = tg__dlp_valid_us_passport,
        .context = "passport",
        .context_required = true,
        .mask = TG__MASK_LAST4,
    },

    /* ---- financial ------------------------------------------------------ */
    {
        .id = "credit_card",
        .name = "Payment card number",
        .category = TG_DLP_FINANCIAL,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.5,
        .default_action = TG_DLP_REDACT,
        /* 12-19 digits: bare, in groups of four (one separator used
         * throughout), or 4-6-5 / 4-6-4 (Amex, Diners). A trailing group of
         * three is taken only when no digit or '/' follows, so an expiry
         * date after the number ("... 1111 12/27") is left alone. */
        .pattern = "(?<![\\w\\-.,]|\\d[ ])("
                   "\\d{4}([ \\-])\\d{4}\\2\\d{4}(?:\\2\\d{4}(?:\\2\\d{3}(?![\\d/]))?|\\2\\d{1,3})?"
                   "|\\d{4}([ \\-])\\d{6}\\3\\d{4,5}"
                   "|\\d{12,19}"
                   ")(?![\\w\\-]|[.,]\\d)",
        .min_digits = 12,
        .validate = tg__dlp_valid_card,
        .context = "card|visa|amex|american express|discover|jcb|diners|maestro|unionpay|"
                   "credit|debit|cvv|cvc|expir|payment",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "iban",
        .name = "International Bank Account Number",
        .category = TG_DLP_FINANCIAL,
        .severity = TG_DLP_HIGH,
        .base_confidence = 0.5,
        .default_action = TG_DLP_REDACT,
        /* Country, check digits, then the BBAN bare or in groups of four. */
        .pattern = "(?<![\\w\\-])([A-Z]{2}\\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?)"
                   "(?![\\w\\-])",
        .min_digits = 10,
        .validate = tg__dlp_valid_iban,
        .context = "iban|account|bank|transfer|sepa|wire|payee|beneficiary",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "aba_routing",
        .name = "US ABA routing number",
        .category = TG_DLP_FINANCIAL,
        .severity = TG_DLP_MEDIUM,
        .base_confidence = 0.3,
        .default_action = TG_DLP_MASK,
        /* Nine bare digits are everywhere and one in ten passes the
         * checksum, so the number needs a banking word next to it. */
        .pattern = NUM_BEFORE "(\\d{9})" NUM_AFTER,
        /* Four bytes at least, for the prefilter's table; " ach" rather
         * than "ach " which every "each " would hit, "aba " rather than
         * " aba" which "abacus" would. */
        .anchors = "routing|rtn:|rtn | rtn|aba:|aba |bank|transit|ach:| ach|wire",
        .anchors_caseless = true,
        .reach = 64,
        .validate = tg__dlp_valid_aba,
        .context = "routing|aba|rtn|transit|bank|ach|wire",
        .context_required = true,
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "swift_bic",
        .name = "SWIFT/BIC code",
        .category = TG_DLP_FINANCIAL,
        .severity = TG_DLP_LOW,
        .base_confidence = 0.3,
        .default_action = TG_DLP_ALLOW,
        /* Bank codes are public and look like any capitalised word: only
         * next to "SWIFT" or "BIC", which are also the anchors. */
        .pattern = "(?<![\\w\\-])([A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)(?![\\w\\-])",
        /* Long enough for the prefilter's table: a bare "bic" would stop
         * it at every "b" of the text. */
        .anchors = "SWIFT|Swift|swift| BIC|BIC:|BIC/|(BIC| bic",
        .reach = 64,
        .validate = tg__dlp_valid_bic,
        .context = "swift|bic",
        .context_required = true,
        .mask = TG__MASK_LAST4,
    },

    /* ---- network -------------------------------------------------------- */
    {
        .id = "ipv4",
        .name = "IPv4 address",
        .category = TG_DLP_NETWORK,
        .severity = TG_DLP_LOW,
        .base_confidence = 0.5,
        .default_action = TG_DLP_ALLOW,
        /* Four octets without leading zeros; not part of a longer dotted
         * run (1.2.3.4.5, 10.0.19045.2130), not after "v"/"version ", and
         * not the tail of an IPv4-mapped IPv6 address ("ffff:1.2.3.4").
         * Private and loopback ranges are reported too: an internal
         * address in a message leaks topology as much as a public one. */
        .pattern = "(?<![\\w.\\-]|[0-9A-Fa-f]:|\\d[ ])(?<!\\b[Vv]ersion |\\bver )"
                   "((?:" OCTET "\\.){3}" OCTET ")(?![\\w\\-]|\\.\\w)",
        .min_digits = 4,
        .validate = tg__dlp_valid_ipv4,
        .context = "ip|address|host|server|addr|subnet|gateway|dns",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "ipv6",
        .name = "IPv6 address",
        .category = TG_DLP_NETWORK,
        .severity = TG_DLP_LOW,
        .base_confidence = 0.5,
        .default_action = TG_DLP_ALLOW,
        /* A loose shape (hex groups and colons, an optional IPv4 tail) that
         * inet_pton then parses; clock times and MAC addresses fail it. */
        .pattern = "(?<![\\w:.\\-])((?:[0-9A-Fa-f]{0,4}:){2,7}"
                   "(?:[0-9A-Fa-f]{1,4}|(?:\\d{1,3}\\.){3}\\d{1,3})?)"
                   "(?![\\w:\\-]|\\.\\w)",
        .anchors = "::|" DIGIT_COLON,
        .reach = 48, /* the anchor lies inside an address of 45 bytes at most */
        .validate = tg__dlp_valid_ipv6,
        .context = "ip|address|host|server|addr|subnet|gateway|dns",
        .mask = TG__MASK_LAST4,
    },
    {
        .id = "mac_address",
        .name = "MAC address",
        .category = TG_DLP_NETWORK,
        .severity = TG_DLP_LOW,
        .base_confidence = 0.4,
        .default_action = TG_DLP_ALLOW,
        /* Six octets with one separator, ':' or '-'. */
        .pattern = "(?<![\\w:.\\-])(" HEX2 "([:\\-])" HEX2 "(?:\\2" HEX2 "){4})"
                   "(?![\\w:\\-]|\\.\\w)",
        .anchors = DIGIT_COLON "|0-|1-|2-|3-|4-|5-|6-|7-|8-|9-",
        .reach = 24, /* the anchor lies inside 17 bytes */
        .validate = tg__dlp_valid_mac,
        .context = "mac|ethernet|wifi|wi-fi|nic|hardware|device|bssid",
        .mask = TG__MASK_LAST4,
    },
};

const size_t tg__dlp_detectors_identity_count =
    sizeof tg__dlp_detectors_identity / sizeof tg__dlp_detectors_identity[0];
