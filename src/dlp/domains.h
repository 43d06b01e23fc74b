/*
 * domains.h - blocked domains: a set of normalised domain names, and the
 * search for host names in text (URLs, e-mail addresses, bare domains).
 * Internal to src/dlp.
 */
#ifndef TG_DLP_DOMAINS_H
#define TG_DLP_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG__DLP_DOMAIN_MAX 253

typedef struct tg__dlp_domains {
    char **slots;        /* open addressing; NULL = empty */
    size_t slot_count;   /* a power of two, at least twice the rules */
    size_t count;
    uint8_t hash_key[16]; /* SipHash key, random per ruleset */
} tg__dlp_domains;

/* Builds the set from `count` rules. TG_OK, TG_EINVAL naming the rule's
 * index when one is not a domain name, or TG_ENOMEM. */
int tg__dlp_domains_build(tg__dlp_domains *d, const char *const *rules, size_t count);
void tg__dlp_domains_free(tg__dlp_domains *d);

/* Called for each host in the text that is a blocked domain or below one:
 * the host's span and the rule it matched. Returns TG_OK to go on. */
typedef int (*tg__dlp_domain_cb)(void *user, size_t start, size_t end, const char *rule);

/* Finds the hosts of text[0..len) that the set blocks. */
int tg__dlp_domains_scan(const tg__dlp_domains *d, const uint8_t *text, size_t len,
                         tg__dlp_domain_cb cb, void *user);

#endif /* TG_DLP_DOMAINS_H */
