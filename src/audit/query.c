/*
 * query.c - reading a chain back as JSON: records filtered by time,
 * action, actor and outcome, a page at a time.
 *
 * A query walks the chain's records in order of sequence from after_seq + 1
 * (a NULL-txn scan, without the audit lock, so appends go on), keeps those
 * that match, and stops at the first record after the `limit`-th match:
 * next_after_seq is then the last match's sequence (the caller passes it
 * back as after_seq), or null when the chain ended first. An actor filter
 * is looked up as the user's pseudonym without creating one, so asking
 * about a user never writes and an unknown user matches nothing. People
 * whose mapping was deleted (erasure) read as "actor_erased":true and
 * "target_erased":true.
 *
 * The result is copied into malloc'd memory: cJSON's allocator is a
 * process-wide hook the host may set (cJSON_InitHooks), and tg_audit_free
 * calls free().
 */
#include <stdlib.h>
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"
#include "audit_json.h"

#define QUERY_DEFAULT_LIMIT 100
#define QUERY_MAX_LIMIT 10000
#define ERASED_CACHE 32 /* pseudonyms whose mapping a query remembers */

typedef struct pseudonym_state {
    char name[TG__AUDIT_ACTOR_MAX];
    size_t len;
    bool erased;
} pseudonym_state;

typedef struct query_run {
    const tg_audit_query *q;
    tg_store *store;
    const char *chain;
    size_t chain_len;
    char actor[TG__AUDIT_ACTOR_MAX + 1]; /* the actor filter's pseudonym */
    size_t actor_len;
    uint32_t limit, matched;
    uint64_t last_seq; /* the last match's sequence */
    bool more;         /* a record follows the last match */
    cJSON *records;
    pseudonym_state cache[ERASED_CACHE];
    size_t cached, next_slot;
} query_run;

/* Whether a pseudonym's reverse mapping is gone. */
static int erased(query_run *run, const char *name, size_t len, bool *out)
{
    for (size_t i = 0; i < run->cached; i++)
        if (run->cache[i].len == len && memcmp(run->cache[i].name, name, len) == 0) {
            *out = run->cache[i].erased;
            return TG_OK;
        }
    uint8_t p[TG__AUDIT_PSEUDONYM_BYTES], key[TG__AUDIT_KEY_MAX];
    size_t bin_len = 0, n = 0;
    if (len != TG__AUDIT_ACTOR_MAX || name[0] != 'p' || name[1] != '-' ||
        sodium_hex2bin(p, sizeof p, name + 2, len - 2, NULL, &bin_len, NULL) != 0 ||
        bin_len != sizeof p) {
        *out = true; /* not a pseudonym this library made: nobody it can name */
        return TG_OK;
    }
    size_t klen = tg__audit_key(key, TG__AK_REVERSE, run->chain, run->chain_len, p, sizeof p);
    int rc = tg__store_get_buf(run->store, NULL, key, klen, NULL, 0, &n);
    if (rc != TG_OK && rc != TG_ERANGE && rc != TG_ENOTFOUND)
        return rc;
    *out = rc == TG_ENOTFOUND;
    pseudonym_state *slot = &run->cache[run->cached < ERASED_CACHE ? run->cached++
                                                                   : run->next_slot++ % ERASED_CACHE];
    memcpy(slot->name, name, len);
    slot->len = len;
    slot->erased = *out;
    return TG_OK;
}

static bool matches(const query_run *run, const tg__audit_record *r)
{
    const tg_audit_query *q = run->q;
    return (!q->since_ms || r->time_ms >= q->since_ms) &&
           (!q->until_ms || r->time_ms < q->until_ms) &&
           (!q->action || r->action == q->action) &&
           (q->outcome < 0 || r->outcome == q->outcome) &&
           (!q->actor || (r->actor_len == run->actor_len &&
                          memcmp(r->actor, run->actor, run->actor_len) == 0));
}

/* Adds "<field>":true to o when the pseudonym's mapping is gone. */
static int mark_erased(query_run *run, cJSON *o, const char *field, const char *name,
                       size_t len)
{
    bool gone;
    int rc = erased(run, name, len, &gone);
    if (rc != TG_OK)
        return rc;
    if (gone && !cJSON_AddBoolToObject(o, field, 1))
        return tg__error(TG_ENOMEM, "audit: out of memory for a query result");
    return TG_OK;
}

static int row(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
               size_t value_len)
{
    query_run *run = user;
    if (run->matched == run->limit) { /* a record follows the last match */
        run->more = true;
        return 1;
    }
    uint64_t seq = tg__get_u64(key + key_len - 8);
    tg__audit_record r;
    if (tg__audit_record_decode(&r, value, value_len) != TG_OK)
        return tg__error(TG_EFORMAT, "audit: record %llu of chain '%.*s' is malformed (see "
                                     "tg_audit_verify)",
                         (unsigned long long)seq, (int)run->chain_len, run->chain);
    if (!matches(run, &r))
        return 0;
    uint8_t hash[TG_AUDIT_HASH_BYTES];
    tg__audit_hash(hash, value, value_len);
    cJSON *o = tg__audit_record_json(&r, hash, false);
    if (!o) {
        /* Its details were checked when it was written: if they do not
         * parse now, they were altered in the store. */
        cJSON *d = cJSON_ParseWithLength(r.details, r.details_len);
        bool altered = !cJSON_IsObject(d);
        cJSON_Delete(d);
        return altered ? tg__error(TG_EFORMAT, "audit: record %llu has details that are not "
                                               "a JSON object; run tg_audit_verify",
                                   (unsigned long long)seq)
                       : tg__error(TG_ENOMEM, "audit: out of memory rendering record %llu",
                                   (unsigned long long)seq);
    }
    if (!cJSON_AddItemToArray(run->records, o)) {
        cJSON_Delete(o);
        return tg__error(TG_ENOMEM, "audit: out of memory rendering record %llu",
                         (unsigned long long)seq);
    }
    int rc = TG_OK;
    if (r.actor_len)
        rc = mark_erased(run, o, "actor_erased", r.actor, r.actor_len);
    if (rc == TG_OK && r.target_is_pseudonym && r.target_len)
        rc = mark_erased(run, o, "target_erased", r.target, r.target_len);
    if (rc != TG_OK)
        return rc;
    run->matched++;
    run->last_seq = seq;
    return 0;
}

static int check_query(const tg_audit_query *q, size_t *chain_len, size_t *actor_len)
{
    int rc;
    if (q->version != TG_AUDIT_QUERY_VERSION || q->struct_size < sizeof *q)
        return tg__error(TG_EVERSION, "audit: query version %u size %u (use "
                                      "tg_audit_query_init)", q->version, q->struct_size);
    *chain_len = *actor_len = 0;
    if (q->workspace && (rc = tg__check_id("workspace id", q->workspace, chain_len)) != TG_OK)
        return rc;
    if (q->actor && (rc = tg__check_id("actor", q->actor, actor_len)) != TG_OK)
        return rc;
    if (q->since_ms && q->until_ms && q->since_ms > q->until_ms)
        return tg__error(TG_EINVAL, "audit: since_ms %lld is after until_ms %lld",
                         (long long)q->since_ms, (long long)q->until_ms);
    if (q->action && !tg_audit_action_name(q->action))
        return tg__error(TG_EINVAL, "audit: unknown action %d", q->action);
    if (q->outcome != -1 && !tg_audit_outcome_name(q->outcome))
        return tg__error(TG_EINVAL, "audit: unknown outcome %d (-1 for any)", q->outcome);
    if (q->limit > QUERY_MAX_LIMIT)
        return tg__error(TG_EINVAL, "audit: limit %u; at most %d", q->limit, QUERY_MAX_LIMIT);
    return TG_OK;
}

/* Looks the actor filter up as its pseudonym. *found false: the user has
 * none in this chain, so nothing matches. */
static int find_actor(tg_ctx *ctx, query_run *run, const char *actor, size_t actor_len,
                      bool *found)
{
    struct tg_audit *a = tg__ctx_audit(ctx);
    pthread_mutex_lock(&a->lock);
    int rc = tg__audit_keys(a, false);
    pthread_mutex_unlock(&a->lock);
    if (rc == TG_OK)
        rc = tg__audit_pseudonym_find(a, NULL, run->chain, run->chain_len, actor, actor_len,
                                      run->actor);
    *found = rc == TG_OK;
    if (rc == TG_ENOTFOUND)
        return TG_OK;
    run->actor_len = strlen(run->actor);
    return rc;
}

static int any_row(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len)
{
    (void)key, (void)key_len, (void)value, (void)value_len;
    *(bool *)user = true;
    return 1;
}

static int render(char **out, cJSON *result)
{
    char *printed = cJSON_PrintUnformatted(result);
    if (!printed)
        return tg__error(TG_ENOMEM, "audit: out of memory for a query result");
    size_t n = strlen(printed) + 1;
    *out = malloc(n);
    if (*out)
        memcpy(*out, printed, n);
    cJSON_free(printed);
    return *out ? TG_OK : tg__error(TG_ENOMEM, "audit: out of memory for a query result");
}

int tg_audit_query_json(tg_ctx *ctx, char **out, const tg_audit_query *q)
{
    if (out)
        *out = NULL;
    if (!ctx || !out || !q)
        return tg__error(TG_EINVAL, "audit: NULL %s",
                         !ctx ? "context" : !out ? "output" : "query");
    size_t chain_len, actor_len;
    int rc = check_query(q, &chain_len, &actor_len);
    if (rc != TG_OK)
        return rc;

    query_run *run = calloc(1, sizeof *run);
    cJSON *result = cJSON_CreateObject();
    if (!run || !result || !(run->records = cJSON_AddArrayToObject(result, "records"))) {
        free(run);
        cJSON_Delete(result);
        return tg__error(TG_ENOMEM, "audit: out of memory for a query");
    }
    run->q = q;
    run->store = tg__ctx_store(ctx);
    run->chain = q->workspace ? q->workspace : "";
    run->chain_len = chain_len;
    run->limit = q->limit ? q->limit : QUERY_DEFAULT_LIMIT;

    /* The records after after_seq. With an actor filter, first whether
     * there are any: the keys (which the pseudonym lookup needs) are made
     * with a store's first record, so a query on an empty store writes
     * nothing. */
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_seq_key(lo, TG__AK_RECORD, run->chain, chain_len,
                                      q->after_seq + 1);
    size_t hi_len = tg__store_prefix_end(lo, lo_len - 8, hi);
    bool go = q->after_seq != UINT64_MAX;
    if (go && q->actor) {
        go = false;
        rc = tg__store_scan(run->store, NULL, lo, lo_len, hi, hi_len, 0, any_row, &go);
        if (rc == TG_OK && go)
            rc = find_actor(ctx, run, q->actor, actor_len, &go);
    }
    if (rc == TG_OK && go)
        rc = tg__store_scan(run->store, NULL, lo, lo_len, hi, hi_len, 0, row, run);
    if (rc == TG_OK) {
        cJSON *next = run->more ? cJSON_CreateNumber((double)run->last_seq) : cJSON_CreateNull();
        if (!next || !cJSON_AddItemToObject(result, "next_after_seq", next)) {
            cJSON_Delete(next);
            rc = tg__error(TG_ENOMEM, "audit: out of memory for a query result");
        }
    }
    if (rc == TG_OK)
        rc = render(out, result);
    cJSON_Delete(result);
    free(run);
    return rc;
}
