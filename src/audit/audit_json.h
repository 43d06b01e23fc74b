/*
 * audit_json.h - records and checkpoints as cJSON objects (json.c), for
 * queries, exports and the offline verifier. Internal to src/audit.
 */
#ifndef TG_AUDIT_JSON_H
#define TG_AUDIT_JSON_H

#include <cjson/cJSON.h>

#include "audit_impl.h"

/* {"type":"record","chain","seq","time_ms","action","actor","network",
 *  "target","target_is_pseudonym","outcome","severity","tags":[...],
 *  "details","prev","hash"}, with details as the stored text (a JSON
 * string: exports) or as the object it holds (queries). NULL when out of
 * memory, or when the stored details do not parse as an object. */
cJSON *tg__audit_record_json(const tg__audit_record *r, const uint8_t hash[TG_AUDIT_HASH_BYTES],
                             bool details_as_text);

/* {"type":<type>,"chain","seq","time_ms","hash","signature"}. */
cJSON *tg__audit_checkpoint_json(const char *type, const char *chain, size_t chain_len,
                                 const tg__audit_checkpoint *c);

/* The reverse of tg__audit_record_json with details as text. Strings of r
 * point into `o`; `hash` gets the hash the JSON claims. TG_OK or
 * TG_EFORMAT (a field is missing, of the wrong type, out of range, or a
 * number past 2^53). */
int tg__audit_record_from_json(const cJSON *o, tg__audit_record *r,
                               uint8_t hash[TG_AUDIT_HASH_BYTES]);

/* The reverse of tg__audit_checkpoint_json (any type). *chain points into
 * `o`. TG_OK or TG_EFORMAT. */
int tg__audit_checkpoint_from_json(const cJSON *o, tg__audit_checkpoint *c, const char **chain,
                                   size_t *chain_len);

#endif /* TG_AUDIT_JSON_H */
