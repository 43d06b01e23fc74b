/* test_dlp_validate_credentials.c - the credential family's validators
 * (tokens, AWS and Azure keys, JWTs, PEM blocks, generic secrets, URL
 * passwords, placeholders, entropy) called directly at the edges of their
 * rules; the family's detector table; and a few scans through the public
 * API for what the table decides (spans, previews, actions).
 *
 * Every token here is random characters in the right shape, not a secret.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlp/detector.h"
#include "dlp/validate_credentials.h"
#include "tenantguard/dlp.h"

typedef bool (*validator)(const uint8_t *m, size_t len);

static void expect(validator v, const char *s, bool want)
{
    if (v((const uint8_t *)s, strlen(s)) != want)
        fail_msg("%s \"%s\"", want ? "rejected" : "accepted", s);
}
#define ACCEPT(v, s) expect(v, s, true)
#define REJECT(v, s) expect(v, s, false)

#define JWT_HS256 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_SUB42 "eyJzdWIiOiI0MiJ9"
#define JWT_SIG "Sw2YLoW7VbZyqHJjes10Zvy2Dg6P8YRjsOSyuilwNHQ"

static void test_entropy(void **state)
{
    (void)state;
    assert_true(tg__dlp_shannon_entropy((const uint8_t *)"", 0) == 0.0);
    assert_true(tg__dlp_shannon_entropy((const uint8_t *)"aaaaaaaa", 8) == 0.0);
    assert_true(fabs(tg__dlp_shannon_entropy((const uint8_t *)"abababab", 8) - 1.0) < 1e-9);
    assert_true(fabs(tg__dlp_shannon_entropy((const uint8_t *)"abcdefgh", 8) - 3.0) < 1e-9);
    /* every byte value once: 8 bits */
    uint8_t all[256];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (uint8_t)i;
    assert_true(fabs(tg__dlp_shannon_entropy(all, sizeof all) - 8.0) < 1e-9);
}

static void test_cred_token(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_cred_token;
    ACCEPT(v, "ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d");
    ACCEPT(v, "AKIAIOSFODNN7EXAMPLE"); /* AWS's documented example stays a finding */
    ACCEPT(v, "xoxb-735379907511-6372651676122-ibjL5DZPjN0MEQ7wjJJibaZU");
    ACCEPT(v, "SK8a2f61c3d9e04b7795ac3e1f0d6b2c48");
    REJECT(v, "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    REJECT(v, "ghp_1234567890abcdefghijklmnopqrstuvwxyz"); /* a sequence */
    REJECT(v, "ghp_ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrq");
    REJECT(v, "AKIAXXXXXXXXXXXXXXXX");
    REJECT(v, "AKIA0000000000000000");
    REJECT(v, "AKIAABABABABABABABAB"); /* 3 distinct characters in 20 */
    REJECT(v, "sk_live_4eC39HqLyjWDarjtT1zdp7dcAAAAAkq"); /* a run of five */
    REJECT(v, "xoxb-your-bot-token-here");
    REJECT(v, "xoxb-1234-YOUR_TOKEN_abcdef");
    REJECT(v, "ghp_");
    REJECT(v, "");
}

static void test_aws_secret(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_aws_secret;
    ACCEPT(v, "YgCfrL1spNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt");
    ACCEPT(v, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    REJECT(v, "3f786850e387550fdab836ed7e6dc881de23001b"); /* a git SHA */
    REJECT(v, "3F786850E387550FDAB836ED7E6DC881DE23001B");
    REJECT(v, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    REJECT(v, "aBaBaBaBaBaBaBaBaBaBaBaBaBaBaBaBaBaBaBaB");
}

/* 86 base64 digits of a random 64-byte key, less its last group */
#define AZURE_HEAD                                                                      \
    "+tcUJ6Cus/7pIy+K8iEfnuSRxbEL7LVWO/web5NCfsvI/ilV5c2ORtyO1LfCdk0qWk12dwb4XYaQAkrWvaNA"

static void test_azure_key(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_azure_key;
    ACCEPT(v, AZURE_HEAD "Gw==");
    /* 64 bytes, but not canonical base64: the last digit has stray low bits */
    REJECT(v, AZURE_HEAD "Gx==");
    REJECT(v, "6cjLzMk19s0fYSJq4VM4rho0AE0zug0kasBMgbG68j47+e71958rSTSvh/VSC2m5"); /* 48 bytes */
    REJECT(v, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
              "AAAAAAAA==");
    REJECT(v, "not base64 at all");
}

static void test_jwt(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_jwt;
    ACCEPT(v, JWT_HS256 "." JWT_SUB42 "." JWT_SIG);
    ACCEPT(v, "eyJhbGciOiJub25lIn0." JWT_SUB42 "."); /* alg none, no signature */
    REJECT(v, "eyJ0eXAiOiJKV1QifQ." JWT_SUB42 "." JWT_SIG);  /* no alg */
    REJECT(v, "eyJhbGciOjF9." JWT_SUB42 "." JWT_SIG);        /* alg is a number */
    REJECT(v, "eyJhbGciOiJIUzI1NiJ9.WzEsMl0." JWT_SIG);      /* payload [1,2] */
    REJECT(v, "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfXg." JWT_SIG);  /* {"a":1}x */
    REJECT(v, "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl");          /* cut JSON */
    /* the last digit has stray low bits */
    REJECT(v, JWT_HS256 "." JWT_SUB42 ".Sw2YLoW7VbZyqHJjes10Zvy2Dg6P8YRjsOSyuilwNHR");
    REJECT(v, JWT_HS256 "." JWT_SUB42 "." JWT_SIG ".x"); /* four segments */
    REJECT(v, JWT_HS256 "." JWT_SUB42);
    REJECT(v, JWT_HS256 ".." JWT_SIG);
    REJECT(v, "eyJhbGciOiJIUzI1NiJ9=." JWT_SUB42 "." JWT_SIG); /* padding */
    REJECT(v, "");
}

#define PEM_BODY                                                                        \
    "nr3yBdGBLEPH1qhT61qtc4xatws8phP9nhFyJfm5di4PzJ59FHz5r1pY4OjE2jBM\n"               \
    "ptUsGr7CmY+uCu3ZR1zTOlUcR64cXQLioDnkHIfxIq2HZt/PlJhx2jIclHkCiHp6\n"

static void test_private_key(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_private_key;
    ACCEPT(v, "-----BEGIN RSA PRIVATE KEY-----\n" PEM_BODY "-----END RSA PRIVATE KEY-----");
    ACCEPT(v, "-----BEGIN PRIVATE KEY-----"); /* a key cut short: the BEGIN line is enough */
    ACCEPT(v, "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\n" PEM_BODY
              "-----END RSA PRIVATE KEY-----");
    REJECT(v, "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----");
    REJECT(v, "-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----");
    /* in a JSON string, \n escapes are not key material */
    REJECT(v, "-----BEGIN PRIVATE KEY-----\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n"
              "\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n"
              "\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n\\n"
              "-----END PRIVATE KEY-----");
    REJECT(v, "-----BEGIN");
}

static void test_placeholder(void **state)
{
    (void)state;
    validator v = tg__dlp_placeholder;
    static const char *const stand_ins[] = {
        "changeme", "ChangeMe!", "password123", "MySecret", "example-key", "test1234",
        "dummy_value", "your_api_key_here", "xxxxxxxxxx", "**********", "<YOUR_KEY>",
        "${DB_PASSWORD}", "{{ secrets.TOKEN }}", "%(db_password)s", "$PGPASSWORD",
        "%APPDATA%", "@Value", "aaaaaaaaaa", "abcdefghij", "12345678", "987654321", "qwerty123",
        "process.env.DB_PASS", "os.getenv(", "settings.API_KEY", "vault[", "getToken()",
        "REDACTED", "TODO", "null", "undefined", "",
    };
    for (size_t i = 0; i < sizeof stand_ins / sizeof *stand_ins; i++)
        ACCEPT(v, stand_ins[i]);
    REJECT(v, "Tr0ub4dor&3");
    REJECT(v, "hunter2x");
    REJECT(v, "pF4TFJ&6uF?x");
    REJECT(v, "Tr0ub.4dor"); /* a segment starting with a digit is not a name */
    REJECT(v, "550e8400-e29b-41d4-a716-446655440000");
}

static void test_generic_secret(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_generic_secret;
    ACCEPT(v, "Tr0ub4dor&3");
    ACCEPT(v, "Mx#nTq6epSD1KOG~OdClgwtB");
    ACCEPT(v, "8a2f61c3d9e04b7795ac3e1f0d6b2c48"); /* hex: lowercase and digits */
    ACCEPT(v, "hunter2!");                         /* 8 characters, all different */
    ACCEPT(v, "s3cr1tValue9");
    REJECT(v, "hunter2");   /* shorter than 8 */
    REJECT(v, "k9Xk9Xk9Xq"); /* entropy 1.9, below min(3, log2(10) - 0.5) = 2.82 */
    REJECT(v, "aab1aab1aab1aab1"); /* 1.5 bits */
    REJECT(v, "onlylowercaseletters");
    REJECT(v, "ONLY_UPPER_CASE");
    REJECT(v, "1234567890123"); /* digits only */
    REJECT(v, "customer_id_2"); /* a name, not a secret */
    REJECT(v, "MY-DB-HOST-01");
    REJECT(v, "customerId2");
    REJECT(v, "dbHostNameValue");
    ACCEPT(v, "cuStomerId2x"); /* a letter after the digits: not a name */
    ACCEPT(v, "aB3kd9XzQ2");
    REJECT(v, "password=aaaaaaaa");
    REJECT(v, "********");
    REJECT(v, "changeme123");
}

static void test_url_password(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_url_password;
    ACCEPT(v, "pF4TFJ&6uF~x");
    ACCEPT(v, "s3cr1t");
    ACCEPT(v, "db1");
    REJECT(v, "password");
    REJECT(v, "pass");
    REJECT(v, "PWD");
    REJECT(v, "${MYSQL_ROOT_PASSWORD}");
    REJECT(v, "%3Cpassword%3E");
    REJECT(v, "***");
    REJECT(v, "pw");
}

static void test_detector_table(void **state)
{
    (void)state;
    assert_true(tg__dlp_detectors_credentials_count >= 24);
    for (size_t i = 0; i < tg__dlp_detectors_credentials_count; i++) {
        const tg__dlp_detector_def *d = &tg__dlp_detectors_credentials[i];
        assert_non_null(d->id);
        assert_non_null(d->name);
        assert_non_null(d->pattern);
        assert_non_null(d->anchors); /* every credential detector is prefiltered */
        assert_int_equal(strspn(d->id, "abcdefghijklmnopqrstuvwxyz0123456789_"), strlen(d->id));
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(d->id, tg__dlp_detectors_credentials[k].id);
        assert_int_equal(d->category, TG_DLP_CREDENTIAL);
        assert_true(d->severity >= TG_DLP_LOW && d->severity <= TG_DLP_CRITICAL);
        assert_true(d->base_confidence > 0 && d->base_confidence < 1);
        if (d->context_required)
            assert_non_null(d->context);
        for (const char *c = d->context; c && *c; c++)
            assert_false(*c >= 'A' && *c <= 'Z');
        if (d->mask == TG__MASK_PREFIX) /* the kept prefix is the anchor, public */
            assert_true(d->mask_prefix > 0 && d->mask_prefix <= 24);
    }
}

/* One scan with the default ruleset; the report has exactly one finding. */
static const tg_dlp_finding *scan_one(tg_dlp_ruleset *rules, const char *text,
                                      tg_dlp_report **report)
{
    assert_int_equal(tg_dlp_scan(report, rules, text, strlen(text), 0.0), TG_OK);
    if (tg_dlp_report_count(*report) != 1)
        fail_msg("%zu findings in \"%s\"", tg_dlp_report_count(*report), text);
    return tg_dlp_report_finding(*report, 0);
}

static void test_scans(void **state)
{
    (void)state;
    tg_dlp_ruleset *rules = NULL;
    assert_int_equal(tg_dlp_ruleset_new(&rules, NULL), TG_OK);
    tg_dlp_report *r = NULL;

    /* the public prefix stays in the preview, nothing of the random part */
    const char *text = "export GITHUB_TOKEN=ghp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d";
    const tg_dlp_finding *f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "github_pat");
    assert_int_equal(f->offset, 20);
    assert_int_equal(f->length, 40);
    assert_int_equal(f->action, TG_DLP_REDACT);
    assert_non_null(strstr(f->preview, "ghp_"));
    assert_null(strstr(f->preview, "u8jz"));
    tg_dlp_report_free(r);

    /* a URL's password alone is the span: scheme, user and host remain */
    text = "DATABASE_URL=postgres://app:pF4TFJ6uFx@db-primary:5432/app";
    f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "url_credentials");
    char *out = NULL;
    assert_int_equal(tg_dlp_redact(&out, NULL, r, text, strlen(text)), TG_OK);
    assert_string_equal(out, "DATABASE_URL=postgres://app:[REDACTED:url_credentials]"
                             "@db-primary:5432/app");
    tg_dlp_free(out);
    tg_dlp_report_free(r);

    /* a private key blocks the message and spans the whole block */
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\n" PEM_BODY
           "-----END RSA PRIVATE KEY-----\nthanks";
    f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "private_key");
    assert_int_equal(f->action, TG_DLP_BLOCK);
    assert_int_equal(f->offset, 5);
    assert_int_equal(f->length, strlen(text) - 5 - strlen("\nthanks"));
    assert_int_equal(tg_dlp_report_action(r), TG_DLP_BLOCK);
    tg_dlp_report_free(r);

    /* an account SID is reported and left alone */
    text = "TWILIO_ACCOUNT_SID=AC8a2f61c3d9e04b7795ac3e1f0d6b2c48";
    f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "twilio_account_sid");
    assert_int_equal(f->action, TG_DLP_ALLOW);
    tg_dlp_report_free(r);

    /* the AWS secret needs its context; the same string elsewhere is nothing */
    text = "aws_secret_access_key = YgCfrL1spNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt";
    f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "aws_secret_access_key");
    assert_int_equal(f->severity, TG_DLP_CRITICAL);
    tg_dlp_report_free(r);
    text = "the blob YgCfrL1spNxnyVmihA/2O76UMFxFkM/R5Kjp1vRt from the cache";
    assert_int_equal(tg_dlp_scan(&r, rules, text, strlen(text), 0.0), TG_OK);
    assert_int_equal(tg_dlp_report_count(r), 0);
    tg_dlp_report_free(r);

    /* "secret: dbSecret=..." reports the inner value, not "dbSecret=..." */
    text = "the secret: dbSecret=Mx#nTq6epSD1KOG~OdClgwtB";
    f = scan_one(rules, text, &r);
    assert_string_equal(f->detector, "generic_secret");
    assert_int_equal(f->offset, strlen("the secret: dbSecret="));
    tg_dlp_report_free(r);

    tg_dlp_ruleset_free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_cred_token),
        cmocka_unit_test(test_aws_secret),
        cmocka_unit_test(test_azure_key),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_private_key),
        cmocka_unit_test(test_placeholder),
        cmocka_unit_test(test_generic_secret),
        cmocka_unit_test(test_url_password),
        cmocka_unit_test(test_detector_table),
        cmocka_unit_test(test_scans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
