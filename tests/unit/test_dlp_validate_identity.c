/* test_dlp_validate_identity.c - the identity family's validators (SSN,
 * ITIN, NINO, e-mail, phone, dates, passports, cards, IBAN, ABA, BIC,
 * IPv4, IPv6, MAC) called directly, each at the edges of its rules, and
 * the family's detector table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dlp/detector.h"
#include "dlp/validate_identity.h"

typedef bool (*validator)(const uint8_t *m, size_t len);

static void accepts(validator v, const char *s)
{
    if (!v((const uint8_t *)s, strlen(s)))
        fail_msg("rejected \"%s\"", s);
}

static void rejects(validator v, const char *s)
{
    if (v((const uint8_t *)s, strlen(s)))
        fail_msg("accepted \"%s\"", s);
}

static void test_ssn(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_us_ssn;
    accepts(v, "536-22-9817");
    accepts(v, "536 22 9817");
    accepts(v, "536229817");
    accepts(v, "001-01-0001");
    accepts(v, "899-99-9999");
    accepts(v, "665-12-3456");
    accepts(v, "667-12-3456");
    rejects(v, "000-12-3456"); /* area 000 */
    rejects(v, "666-12-3456"); /* area 666 */
    rejects(v, "900-12-3456"); /* 900-999: ITINs, never SSNs */
    rejects(v, "999-12-3456");
    rejects(v, "536-00-9817"); /* group 00 */
    rejects(v, "536-22-0000"); /* serial 0000 */
    rejects(v, "078-05-1120"); /* the Woolworth wallet card */
    rejects(v, "219-09-9999"); /* the SSA pamphlet */
    rejects(v, "123-45-6789");
    rejects(v, "457-55-5462");
    rejects(v, "111-11-1111"); /* a placeholder */
    rejects(v, "536-22-981");  /* 8 digits */
    rejects(v, "536-22-98170");
    rejects(v, "");
}

static void test_itin(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_us_itin;
    accepts(v, "912-50-4567");
    accepts(v, "912-65-4567");
    accepts(v, "912-70-4567");
    accepts(v, "912-88-4567");
    accepts(v, "912-90-4567");
    accepts(v, "912-92-4567");
    accepts(v, "912-94-4567");
    accepts(v, "999-99-9999");
    accepts(v, "935912345");
    rejects(v, "912-49-4567");
    rejects(v, "912-66-4567");
    rejects(v, "912-69-4567");
    rejects(v, "912-89-4567");
    rejects(v, "912-93-4567");
    rejects(v, "812-73-4567"); /* area must be 9xx */
    rejects(v, "912-73-456");
}

static void test_nino(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_uk_nino;
    accepts(v, "JG 10 37 29 A");
    accepts(v, "CE123456B");
    accepts(v, "AB 654321 C");
    accepts(v, "ZY 12 34 56 D");
    accepts(v, "jg103729a"); /* the validator folds case; the pattern does not */
    rejects(v, "QQ 12 34 56 C"); /* Q never first: HMRC's own example */
    rejects(v, "DA 12 34 56 B");
    rejects(v, "FA123456A");
    rejects(v, "IA123456A");
    rejects(v, "UA123456A");
    rejects(v, "VA123456A");
    rejects(v, "AO123456A"); /* O never second */
    rejects(v, "AD123456A");
    rejects(v, "BG123456A"); /* unallocated prefixes */
    rejects(v, "GB123456A");
    rejects(v, "NK123456A");
    rejects(v, "KN123456A");
    rejects(v, "TN123456A");
    rejects(v, "NT123456A");
    rejects(v, "ZZ123456A");
    rejects(v, "JG103729E"); /* suffix A-D */
    rejects(v, "JG10372A");
    rejects(v, "JG1037299A");
    rejects(v, "J7103729A");
}

static void test_email(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_email;
    accepts(v, "jane.doe@example.com");
    accepts(v, "billing+acme@corp.example.co.uk");
    accepts(v, "o'neil@example.org");
    accepts(v, "a@b.io");
    accepts(v, "support@xn--80ak6aa92e.com");
    rejects(v, "logo@2x.png");
    rejects(v, "icon@3x.WEBP");
    rejects(v, "git@github.com");
    rejects(v, ".jane@example.com");
    rejects(v, "jane.@example.com");
    rejects(v, "ja..ne@example.com");
    rejects(v, "jane@-example.com");
    rejects(v, "jane@example-.com");
    rejects(v, "jane@example..com");
    rejects(v, "jane@");
    rejects(v, "@example.com");
    rejects(v, "no-at-sign.example.com");
    char local[80];
    memset(local, 'a', 65);
    memcpy(local + 65, "@example.com", 13);
    rejects(v, local); /* local part over 64 */
}

static void test_phone(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_phone;
    accepts(v, "(415) 555-0132");
    accepts(v, "415-555-0132");
    accepts(v, "1-800-555-0199");
    accepts(v, "+1 415 555 0132");
    accepts(v, "+14155550132");
    accepts(v, "+44 20 7946 0958");
    accepts(v, "+44 (0)20 7946 0958");
    accepts(v, "020 7946 0958");
    accepts(v, "06 12 34 56 78");
    accepts(v, "+33 1 23 45 67 89");
    rejects(v, "123-456-7890");    /* NANP area codes start 2-9 */
    rejects(v, "415-155-0132");    /* so do exchanges */
    rejects(v, "+1 415 555 013");  /* +1 takes ten digits */
    rejects(v, "+0 20 7946 0958"); /* no country code starts with 0 */
    rejects(v, "05-11-2026");      /* too few digits */
    rejects(v, "555-0132");
    rejects(v, "+1234567890123456"); /* over 15 digits */
    rejects(v, "000 000 0000");
    rejects(v, "7946 0958 123");   /* national numbers start with trunk 0 */
    rejects(v, "030 12345");       /* national numbers have ten digits or more */
}

static void test_date(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_date;
    accepts(v, "1985-03-14");
    accepts(v, "14/03/1985");
    accepts(v, "03/14/1985"); /* US order */
    accepts(v, "14.03.1985");
    accepts(v, "29.02.1992"); /* leap year */
    accepts(v, "29.02.2000");
    accepts(v, "March 14, 1985");
    accepts(v, "14th March 1985");
    accepts(v, "7 Feb 1990");
    accepts(v, "Sept. 3, 1971");
    rejects(v, "1985-02-30");
    rejects(v, "29.02.1900"); /* not a leap year */
    rejects(v, "29.02.1991");
    rejects(v, "31/04/1985");
    rejects(v, "14/13/1985");
    rejects(v, "1899-12-31");
    rejects(v, "14/03/85");
    rejects(v, "Smarch 14, 1985");
    rejects(v, "14 March");
    rejects(v, "1985-03");
}

static void test_passport(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_us_passport;
    accepts(v, "488839667");
    accepts(v, "A12345671");
    rejects(v, "123456789");
    rejects(v, "A12345678");
    rejects(v, "000000000");
    rejects(v, "1234567");
    rejects(v, "12345678");   /* 8 digits need a letter first */
    rejects(v, "4888396671"); /* 10 */
    rejects(v, "AB2345671");
}

static void test_card_brands(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_card;
    accepts(v, "4111 1111 1111 1111");    /* Visa 16 */
    accepts(v, "4222222222222");          /* Visa 13 */
    accepts(v, "4909960308246281946");    /* Visa 19 */
    accepts(v, "5555-5555-5555-4444");    /* Mastercard 51-55 */
    accepts(v, "2221378657975438");       /* Mastercard 2221 */
    accepts(v, "2720231948757493");       /* Mastercard 2720 */
    accepts(v, "3782 822463 10005");      /* Amex 37 */
    accepts(v, "341186252760181");        /* Amex 34 */
    accepts(v, "6011111111111117");       /* Discover 6011 */
    accepts(v, "6452917034236674");       /* Discover 644-649 */
    accepts(v, "6512768426846563218");    /* Discover 65, 19 digits */
    accepts(v, "6222002233079248");       /* Discover/UnionPay 622126-622925 */
    accepts(v, "3530111333300000");       /* JCB 3528-3589 */
    accepts(v, "3589907866661760311");    /* JCB 19 */
    accepts(v, "30569309025904");         /* Diners 300-305, 14 */
    accepts(v, "36281590139626");         /* Diners 36 */
    accepts(v, "3845957117777411");       /* Diners 38, 16 */
    accepts(v, "62215472803852807");      /* UnionPay 17 */
    accepts(v, "501884148526");           /* Maestro 12 */
    accepts(v, "6759538885393362");       /* Maestro 6759 */
    accepts(v, "6762338750047439577");    /* Maestro 19 */
    accepts(v, "5893551313735376");       /* Maestro 5893 */
}

static void test_card_rejects(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_card;
    rejects(v, "4111 1111 1111 1112");  /* Luhn */
    rejects(v, "429022279180589");      /* Visa has no 15-digit cards */
    rejects(v, "2220990751163728");     /* below the 2-series */
    rejects(v, "2721651676122207");     /* above it */
    rejects(v, "27207887838483729");    /* Mastercard is 16 digits only */
    rejects(v, "3457986828288078");     /* Amex is 15 digits only */
    rejects(v, "3527297299752881");     /* below JCB */
    rejects(v, "30620018263300");       /* Diners stops at 305 */
    rejects(v, "6434348395486208");     /* Discover starts at 644 */
    rejects(v, "6764801759898343");     /* Maestro stops at 6763 */
    rejects(v, "50188871805");          /* 11 digits */
    rejects(v, "1616751361341250");     /* no brand starts with 1 */
    rejects(v, "9242731672326864");     /* or 9 */
    rejects(v, "0000 0000 0000 0000");  /* passes Luhn, a placeholder */
    rejects(v, "41111111111111111111"); /* 20 digits */
    rejects(v, "");
}

static void test_iban(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_iban;
    accepts(v, "DE89 3704 0044 0532 0130 00");
    accepts(v, "DE89370400440532013000");
    accepts(v, "GB82 WEST 1234 5698 7654 32");
    accepts(v, "FR1420041010050500013M02606");
    accepts(v, "NL91ABNA0417164300");
    accepts(v, "BE68539007547034");         /* shortest but one: 16 */
    accepts(v, "NO9386011117947");          /* shortest: 15 */
    accepts(v, "PL61109010140000071219812874");
    accepts(v, "gb82west12345698765432");   /* the validator folds case */
    rejects(v, "DE88 3704 0044 0532 0130 00"); /* check digits */
    rejects(v, "GB00 WEST 1234 5698 7654 32");
    rejects(v, "DE89 3704 0044 0532 0130");    /* German IBANs are 22 */
    rejects(v, "DE89 3704 0044 0532 0130 000");
    rejects(v, "XX89 3704 0044 0532 0130 00"); /* no such country */
    rejects(v, "US64 SVBK US6S 3300 9673 86"); /* the US has no IBAN */
    rejects(v, "DE89-3704-0044-0532-0130-00");
    rejects(v, "DE");
    rejects(v, "");
}

static void test_aba(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_aba;
    accepts(v, "021000021");
    accepts(v, "121000358");
    accepts(v, "322271627");
    accepts(v, "011000015");
    accepts(v, "261073614"); /* 21-32 */
    rejects(v, "021000022"); /* checksum */
    rejects(v, "991000021"); /* no such prefix */
    rejects(v, "131000022"); /* 13-20 are unused */
    rejects(v, "000000000");
    rejects(v, "02100002");
}

static void test_bic(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_bic;
    accepts(v, "DEUTDEFF");
    accepts(v, "NWBKGB2L");
    accepts(v, "BOFAUS3NXXX");
    accepts(v, "COBADEFFXXX");
    rejects(v, "ABCDXX12");    /* XX is no country */
    rejects(v, "DEUTDEF");     /* 7 */
    rejects(v, "DEUTDEFFXX");  /* 10 */
    rejects(v, "DEU1DEFF");    /* the bank code is letters */
    rejects(v, "deutdeff");
}

static void test_ipv4(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_ipv4;
    accepts(v, "203.0.113.42");
    accepts(v, "192.168.1.1");
    accepts(v, "10.0.0.1");
    accepts(v, "255.255.255.253"); /* an address, not a mask */
    accepts(v, "128.0.0.1");
    rejects(v, "0.0.0.0");
    rejects(v, "255.255.255.0");
    rejects(v, "255.255.0.0");
    rejects(v, "255.0.0.0");
    rejects(v, "255.255.255.255");
    rejects(v, "256.1.1.1");
    rejects(v, "1.2.3");
    rejects(v, "1.2.3.4.5");
    rejects(v, "1111.2.3.4");
}

static void test_ipv6(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_ipv6;
    accepts(v, "2001:db8:85a3::8a2e:370:7334");
    accepts(v, "2001:0db8:0000:0000:0000:ff00:0042:8329");
    accepts(v, "fe80::1ff:fe23:4567:890a");
    accepts(v, "::ffff:192.0.2.128");
    accepts(v, "2606:4700:4700::1111");
    accepts(v, "2001:db8::");
    rejects(v, "::1");
    rejects(v, "::");
    rejects(v, "1::2");  /* a slice, a[1::2] */
    rejects(v, "A::B");
    rejects(v, "12:30:45");
    rejects(v, "00:1A:2B:3C:4D:5E");
    rejects(v, "2001:db8:::1");
    rejects(v, "2001:db8::g");
    rejects(v, "1:2:3:4:5:6:7:8:9");
    rejects(v, "2001:0db8:0000:0000:0000:ff00:0042:8329:1234:5678"); /* too long */
}

static void test_mac(void **state)
{
    (void)state;
    validator v = tg__dlp_valid_mac;
    accepts(v, "00:1A:2B:3C:4D:5E");
    accepts(v, "3c-22-fb-91-0a-7d");
    rejects(v, "00:00:00:00:00:00");
    rejects(v, "ff:ff:ff:ff:ff:ff");
    rejects(v, "FF-FF-FF-FF-FF-FF");
    rejects(v, "00:1A:2B:3C:4D");
    rejects(v, "00:1A:2B:3C:4D:5E:6F");
}

/* Garbage never crashes a validator or passes one. */
static void test_validators_refuse_garbage(void **state)
{
    (void)state;
    const validator all[] = {
        tg__dlp_valid_us_ssn, tg__dlp_valid_us_itin, tg__dlp_valid_uk_nino,
        tg__dlp_valid_email,  tg__dlp_valid_phone,   tg__dlp_valid_date,
        tg__dlp_valid_us_passport, tg__dlp_valid_card, tg__dlp_valid_iban,
        tg__dlp_valid_aba,    tg__dlp_valid_bic,     tg__dlp_valid_ipv4,
        tg__dlp_valid_ipv6,   tg__dlp_valid_mac,
    };
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        if (all[k](junk, 0) || all[k](junk, sizeof junk) ||
            all[k]((const uint8_t *)"\xff\xfe\x00", 3))
            fail_msg("validator %zu accepted garbage", k);
    }
}

/* The table: ids unique and [a-z0-9_], lowercase context words, and every
 * detector limited to anchors or digit clusters so prose costs nothing. */
static void test_detector_table(void **state)
{
    (void)state;
    assert_true(tg__dlp_detectors_identity_count >= 14);
    for (size_t i = 0; i < tg__dlp_detectors_identity_count; i++) {
        const tg__dlp_detector_def *d = &tg__dlp_detectors_identity[i];
        assert_non_null(d->id);
        assert_non_null(d->name);
        assert_non_null(d->pattern);
        assert_true(strspn(d->id, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(d->id));
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(d->id, tg__dlp_detectors_identity[j].id);
        assert_true((d->anchors && *d->anchors) || d->min_digits > 0);
        assert_true(d->base_confidence > 0.0 && d->base_confidence < 1.0);
        assert_true(d->severity >= TG_DLP_LOW && d->severity <= TG_DLP_CRITICAL);
        assert_true(d->default_action >= TG_DLP_ALLOW && d->default_action <= TG_DLP_BLOCK);
        assert_true(d->category == TG_DLP_PII || d->category == TG_DLP_FINANCIAL ||
                    d->category == TG_DLP_NETWORK);
        if (d->context_required)
            assert_non_null(d->context);
        for (const char *c = d->context; c && *c; c++)
            assert_false(*c >= 'A' && *c <= 'Z');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssn),
        cmocka_unit_test(test_itin),
        cmocka_unit_test(test_nino),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_passport),
        cmocka_unit_test(test_card_brands),
        cmocka_unit_test(test_card_rejects),
        cmocka_unit_test(test_iban),
        cmocka_unit_test(test_aba),
        cmocka_unit_test(test_bic),
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_mac),
        cmocka_unit_test(test_validators_refuse_garbage),
        cmocka_unit_test(test_detector_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
