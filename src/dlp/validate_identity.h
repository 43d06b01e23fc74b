/*
 * validate_identity.h - validators of the identity family (personal,
 * financial and network identifiers). Internal to src/dlp.
 *
 * Each takes a detector's span m[0..len) as the pattern matched it (so
 * separators may be present) and answers whether it is well-formed: a
 * checksum, a range that is issued, a structure that parses. They never
 * read outside the span and accept any bytes.
 */
#ifndef TG_DLP_VALIDATE_IDENTITY_H
#define TG_DLP_VALIDATE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* US SSN, 9 digits with or without separators: area not 000, 666 or
 * 900-999, group not 00, serial not 0000, and not a published example. */
bool tg__dlp_valid_us_ssn(const uint8_t *m, size_t len);
/* US ITIN: area 9xx, group in the IRS ranges 50-65, 70-88, 90-92, 94-99. */
bool tg__dlp_valid_us_itin(const uint8_t *m, size_t len);
/* UK National Insurance number: allocated prefix letters, suffix A-D. */
bool tg__dlp_valid_uk_nino(const uint8_t *m, size_t len);
/* E-mail address: local part and domain lengths, no ".." and a top-level
 * domain that is not a file extension ("icon@2x.png"). */
bool tg__dlp_valid_email(const uint8_t *m, size_t len);
/* Phone number: 8-15 digits, not all one digit; +<country code> (not 0),
 * a NANP number (area code and exchange 2-9xx) or a national number with
 * trunk prefix 0 and at least ten digits. */
bool tg__dlp_valid_phone(const uint8_t *m, size_t len);
/* A calendar date (YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY or
 * "14 March 1985" / "March 14, 1985") that exists, year 1900-2099. */
bool tg__dlp_valid_date(const uint8_t *m, size_t len);
/* US passport number: 9 digits or a letter and 8 digits, not one repeated
 * digit and not 123456789. */
bool tg__dlp_valid_us_passport(const uint8_t *m, size_t len);
/* Payment card: length and IIN range of a known brand, Luhn. */
bool tg__dlp_valid_card(const uint8_t *m, size_t len);
/* IBAN: known country, its length, BBAN alphanumeric, ISO 7064 mod 97 == 1. */
bool tg__dlp_valid_iban(const uint8_t *m, size_t len);
/* US ABA routing number: Federal Reserve prefix, 3-7-1 weighted checksum. */
bool tg__dlp_valid_aba(const uint8_t *m, size_t len);
/* SWIFT/BIC: 8 or 11 characters, letters for bank and a real country. */
bool tg__dlp_valid_bic(const uint8_t *m, size_t len);
/* IPv4 dotted quad that parses (inet_pton) and is not a netmask. */
bool tg__dlp_valid_ipv4(const uint8_t *m, size_t len);
/* IPv6 address that parses (inet_pton), with at least two groups and four
 * hex digits (not a slice "1::2"), not the loopback "::1". */
bool tg__dlp_valid_ipv6(const uint8_t *m, size_t len);
/* MAC address: six octets, not all-zero or broadcast. */
bool tg__dlp_valid_mac(const uint8_t *m, size_t len);

#endif /* TG_DLP_VALIDATE_IDENTITY_H */
