/*
 * validate_credentials.h - validators of the credential detectors
 * (detectors_credentials.c). Internal. Each takes the span a pattern
 * matched and says whether it is a real-looking secret rather than a
 * placeholder, a hash or prose.
 */
#ifndef TG_DLP_VALIDATE_CREDENTIALS_H
#define TG_DLP_VALIDATE_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shannon entropy of the bytes, in bits per byte (0 for an empty span). */
double tg__dlp_shannon_entropy(const uint8_t *m, size_t len);

/* A provider token whose format the pattern already checked: true unless
 * it looks made up - fewer distinct characters than min(10, len/3), a run
 * of 5 identical characters, an ascending or descending sequence (half of
 * the neighbouring pairs one apart), "xxxx", "your_"/"your-",
 * "_here"/"-here". */
bool tg__dlp_valid_cred_token(const uint8_t *m, size_t len);

/* An AWS secret access key (40 base64 characters): a token as above that
 * holds both upper- and lowercase letters, which rules out hex digests. */
bool tg__dlp_valid_aws_secret(const uint8_t *m, size_t len);

/* An Azure storage account key: a token whose 88 base64 characters decode
 * to exactly 64 bytes. */
bool tg__dlp_valid_azure_key(const uint8_t *m, size_t len);

/* A JWT "h.p.s": header and payload decode as unpadded base64url to JSON
 * objects, the header names its "alg" as a string, and the signature (may
 * be empty) is base64url too. */
bool tg__dlp_valid_jwt(const uint8_t *m, size_t len);

/* A PEM private key block. A span that reaches its END line must hold at
 * least 64 base64 characters between the lines (a format description such
 * as "BEGIN ... \n...\n END" is not a key); a lone BEGIN line passes. */
bool tg__dlp_valid_private_key(const uint8_t *m, size_t len);

/* The value of a "password = value" assignment: at least 8 bytes, Shannon
 * entropy at least min(3.0, log2(len) - 0.5) bits per byte, two of
 * lowercase / uppercase / digits, not one-case words joined by '_', '-' or
 * '.' (customer_id_2) nor a camelCase name (customerId2), and not a
 * placeholder or a reference to the secret (see tg__dlp_placeholder). */
bool tg__dlp_valid_generic_secret(const uint8_t *m, size_t len);

/* The password of a scheme://user:password@host URL: not a placeholder,
 * at least 3 bytes, not all one character. */
bool tg__dlp_valid_url_password(const uint8_t *m, size_t len);

/* True if a value is a stand-in for a secret rather than one: an
 * ignore-case placeholder word (changeme, password, secret, example, test,
 * dummy, sample, placeholder, redacted, your_ ... , xxxx ...), a template
 * or variable (<...>, ${...}, {{...}}, %(...)s, $VAR), masking (****), one
 * repeated character, a simple sequence (abcdef, 12345678, qwerty), or
 * code that fetches it (process.env.X, os.getenv(...), config.db.pass). */
bool tg__dlp_placeholder(const uint8_t *m, size_t len);

#endif /* TG_DLP_VALIDATE_CREDENTIALS_H */
