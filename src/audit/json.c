/*
 * json.c - records and checkpoints as JSON objects, for queries and
 * exports, and back. A record's JSON holds every field of its encoding,
 * so an export can be re-encoded byte for byte and its hashes recomputed:
 * strings are copied as they are, details are the stored text (as a JSON
 * string in exports, where the bytes must survive; as an object in
 * queries, for people), hashes and signatures are lowercase hex.
 */
#include <string.h>

#include "audit_impl.h"
#include "audit_json.h"

static bool add_string_n(cJSON *o, const char *name, const char *s, size_t n)
{
    char buf[TG_AUDIT_DETAILS_MAX + 1];
    if (n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

static bool add_hex(cJSON *o, const char *name, const uint8_t *bin, size_t n)
{
    char hex[2 * TG__AUDIT_SIG_BYTES + 1];
    tg__audit_hex(hex, bin, n);
    return cJSON_AddStringToObject(o, name, hex) != NULL;
}

cJSON *tg__audit_record_json(const tg__audit_record *r, const uint8_t hash[TG_AUDIT_HASH_BYTES],
                             bool details_as_text)
{
    cJSON *o = cJSON_CreateObject(), *tags = cJSON_CreateArray(), *details;
    if (details_as_text) {
        char text[TG_AUDIT_DETAILS_MAX + 1];
        memcpy(text, r->details, r->details_len);
        text[r->details_len] = '\0';
        details = cJSON_CreateString(text);
    } else {
        details = cJSON_ParseWithLength(r->details, r->details_len);
    }
    bool ok = o && tags && details;
    ok = ok && cJSON_AddStringToObject(o, "type", "record");
    ok = ok && add_string_n(o, "chain", r->chain, r->chain_len);
    ok = ok && cJSON_AddNumberToObject(o, "seq", (double)r->seq);
    ok = ok && cJSON_AddNumberToObject(o, "time_ms", (double)r->time_ms);
    ok = ok && cJSON_AddStringToObject(o, "action", tg_audit_action_name(r->action));
    ok = ok && add_string_n(o, "actor", r->actor, r->actor_len);
    ok = ok && add_string_n(o, "network", r->network, r->network_len);
    ok = ok && add_string_n(o, "target", r->target, r->target_len);
    ok = ok && cJSON_AddBoolToObject(o, "target_is_pseudonym", r->target_is_pseudonym);
    ok = ok && cJSON_AddStringToObject(o, "outcome", tg_audit_outcome_name(r->outcome));
    ok = ok && cJSON_AddStringToObject(o, "severity", tg_audit_severity_name(r->severity));
    for (uint32_t t = 1; ok && t <= TG_AUDIT_TAGS_ALL; t <<= 1)
        if (r->tags & t)
            ok = cJSON_AddItemToArray(tags, cJSON_CreateString(tg_audit_tag_name(t)));
    if (ok && cJSON_AddItemToObject(o, "tags", tags))
        tags = NULL;
    else
        ok = false;
    if (ok && cJSON_AddItemToObject(o, "details", details))
        details = NULL;
    else
        ok = false;
    ok = ok && add_hex(o, "prev", r->prev, TG_AUDIT_HASH_BYTES);
    ok = ok && add_hex(o, "hash", hash, TG_AUDIT_HASH_BYTES);
    cJSON_Delete(tags);
    cJSON_Delete(details);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *tg__audit_checkpoint_json(const char *type, const char *chain, size_t chain_len,
                                 const tg__audit_checkpoint *c)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "type", type);
    ok = ok && add_string_n(o, "chain", chain, chain_len);
    ok = ok && cJSON_AddNumberToObject(o, "seq", (double)c->seq);
    ok = ok && cJSON_AddNumberToObject(o, "time_ms", (double)c->time_ms);
    ok = ok && add_hex(o, "hash", c->hash, TG_AUDIT_HASH_BYTES);
    ok = ok && add_hex(o, "signature", c->sig, TG__AUDIT_SIG_BYTES);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- reading back ---------------------------------------------------- */

static const char *string_of(const cJSON *o, const char *name, size_t max, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || !v->valuestring)
        return NULL;
    *len = strlen(v->valuestring);
    return *len <= max ? v->valuestring : NULL;
}

/* A JSON number that is a whole number within [lo, hi]. */
static bool integer_of(const cJSON *o, const char *name, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return false;
    *out = v->valuedouble;
    return true;
}

static bool hex_of(const cJSON *o, const char *name, uint8_t *out, size_t n)
{
    size_t len, bin_len = 0;
    const char *hex = string_of(o, name, 2 * n, &len);
    return hex && len == 2 * n &&
           sodium_hex2bin(out, n, hex, len, NULL, &bin_len, NULL) == 0 && bin_len == n;
}

/* JSON numbers are doubles: sequence numbers and times past 2^53 cannot
 * round-trip, so exports refuse them as malformed. */
#define EXACT_MAX 9007199254740992.0

int tg__audit_record_from_json(const cJSON *o, tg__audit_record *r,
                               uint8_t hash[TG_AUDIT_HASH_BYTES])
{
    memset(r, 0, sizeof *r);
    double seq, time_ms;
    size_t n;
    const char *s;
    if (!integer_of(o, "seq", 1, EXACT_MAX, &seq) ||
        !integer_of(o, "time_ms", -EXACT_MAX, EXACT_MAX, &time_ms))
        return TG_EFORMAT;
    r->seq = (uint64_t)seq;
    r->time_ms = (int64_t)time_ms;
    if (!(r->chain = string_of(o, "chain", TG_ID_MAX, &r->chain_len)) ||
        !(r->actor = string_of(o, "actor", TG__AUDIT_ACTOR_MAX, &r->actor_len)) ||
        !(r->network = string_of(o, "network", TG__AUDIT_NETWORK_MAX, &r->network_len)) ||
        !(r->target = string_of(o, "target", TG_AUDIT_TARGET_MAX, &r->target_len)))
        return TG_EFORMAT;
    if (!(s = string_of(o, "action", 64, &n)) || !(r->action = tg_audit_action_from_name(s)))
        return TG_EFORMAT;
    r->outcome = -1;
    r->severity = -1;
    if ((s = string_of(o, "outcome", 16, &n)))
        for (int k = TG_AUDIT_SUCCESS; k <= TG_AUDIT_DENIED; k++)
            if (strcmp(s, tg_audit_outcome_name(k)) == 0)
                r->outcome = k;
    if ((s = string_of(o, "severity", 16, &n)))
        for (int k = TG_AUDIT_INFO; k <= TG_AUDIT_CRITICAL; k++)
            if (strcmp(s, tg_audit_severity_name(k)) == 0)
                r->severity = k;
    const cJSON *pseudo = cJSON_GetObjectItemCaseSensitive(o, "target_is_pseudonym");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
    if (r->outcome < 0 || r->severity < 0 || !cJSON_IsBool(pseudo) || !cJSON_IsArray(tags))
        return TG_EFORMAT;
    r->target_is_pseudonym = cJSON_IsTrue(pseudo);
    const cJSON *t;
    cJSON_ArrayForEach(t, tags) {
        uint32_t bit = 0;
        for (uint32_t k = 1; cJSON_IsString(t) && k <= TG_AUDIT_TAGS_ALL; k <<= 1)
            if (strcmp(t->valuestring, tg_audit_tag_name(k)) == 0)
                bit = k;
        if (!bit || (r->tags & bit))
            return TG_EFORMAT;
        r->tags |= bit;
    }
    if (!hex_of(o, "prev", r->prev, TG_AUDIT_HASH_BYTES) ||
        !hex_of(o, "hash", hash, TG_AUDIT_HASH_BYTES))
        return TG_EFORMAT;
    if (!(r->details = string_of(o, "details", TG_AUDIT_DETAILS_MAX, &r->details_len)))
        return TG_EFORMAT;
    return TG_OK;
}

int tg__audit_checkpoint_from_json(const cJSON *o, tg__audit_checkpoint *c, const char **chain,
                                   size_t *chain_len)
{
    double seq, time_ms;
    if (!integer_of(o, "seq", 1, EXACT_MAX, &seq) ||
        !integer_of(o, "time_ms", -EXACT_MAX, EXACT_MAX, &time_ms) ||
        !(*chain = string_of(o, "chain", TG_ID_MAX, chain_len)) ||
        !hex_of(o, "hash", c->hash, TG_AUDIT_HASH_BYTES) ||
        !hex_of(o, "signature", c->sig, TG__AUDIT_SIG_BYTES))
        return TG_EFORMAT;
    c->seq = (uint64_t)seq;
    c->time_ms = (int64_t)time_ms;
    return TG_OK;
}
