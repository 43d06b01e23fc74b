/*
 * prune.c - retention. Records older than the cut-off go, but only up to
 * the latest signed checkpoint among them: that checkpoint becomes the
 * chain's anchor ("A" 05 L chain), from which verification starts and
 * which the next record names as its predecessor. All of it, and the
 * retention.pruned record in the system chain, is one transaction.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"

#define DELETE_BATCH 1024

typedef struct old_records {
    int64_t cutoff;
    uint64_t last_old; /* the last record older than the cut-off */
} old_records;

static int find_old(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                    size_t value_len)
{
    old_records *o = user;
    (void)value_len;
    /* time_ms sits at offset 9 of an encoded record (docs/AUDIT.md) */
    if (value_len < 17 || (int64_t)tg__get_u64(value + 9) >= o->cutoff)
        return 1;
    o->last_old = tg__get_u64(key + key_len - 8);
    return 0;
}

typedef struct keys {
    uint8_t (*k)[TG__AUDIT_KEY_MAX];
    size_t *len;
    size_t n;
} keys;

static int collect(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len)
{
    keys *ks = user;
    (void)value, (void)value_len;
    memcpy(ks->k[ks->n], key, key_len);
    ks->len[ks->n++] = key_len;
    return ks->n == DELETE_BATCH;
}

/* Deletes the rows of `kind` with seq in [1, upto]; counts them. */
static int delete_upto(tg_store *store, tg_store_txn *txn, enum tg__audit_kind kind,
                       const char *chain, size_t len, uint64_t upto, uint64_t *count)
{
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_seq_key(lo, kind, chain, len, 0);
    size_t hi_len = tg__audit_seq_key(hi, kind, chain, len, upto + 1);
    keys ks = {malloc(DELETE_BATCH * sizeof *ks.k), malloc(DELETE_BATCH * sizeof *ks.len), 0};
    int rc = ks.k && ks.len ? TG_OK : tg__error(TG_ENOMEM, "audit: out of memory");
    do {
        ks.n = 0;
        if (rc == TG_OK)
            rc = tg__store_scan(store, txn, lo, lo_len, hi, hi_len, 0, collect, &ks);
        for (size_t i = 0; rc == TG_OK && i < ks.n; i++)
            rc = tg__store_del(store, txn, ks.k[i], ks.len[i]);
        if (count)
            *count += ks.n;
    } while (rc == TG_OK && ks.n == DELETE_BATCH);
    free(ks.k);
    free(ks.len);
    return rc;
}

/* The first row of a scan, if it fits a checkpoint. */
typedef struct row {
    uint8_t value[TG__AUDIT_CHECKPOINT_BYTES];
    size_t len;
    bool found;
} row;

static int first_row(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                     size_t value_len)
{
    row *r = user;
    (void)key, (void)key_len;
    r->found = true;
    r->len = value_len;
    if (value_len <= sizeof r->value)
        memcpy(r->value, value, value_len);
    return 1;
}

/* The retention.pruned record, in the system chain. */
static int record_pruning(struct tg_audit *a, tg_store_txn *txn, const char *chain, size_t len,
                          uint64_t pruned, uint64_t anchor_seq, int64_t cutoff)
{
    cJSON *d = cJSON_CreateObject();
    char name[TG_ID_MAX + 1];
    memcpy(name, chain, len);
    name[len] = '\0';
    if (!d || !cJSON_AddStringToObject(d, "chain", len ? name : "system") ||
        !cJSON_AddNumberToObject(d, "records", (double)pruned) ||
        !cJSON_AddNumberToObject(d, "anchor_seq", (double)anchor_seq) ||
        !cJSON_AddNumberToObject(d, "older_than_ms", (double)cutoff)) {
        cJSON_Delete(d);
        return tg__error(TG_ENOMEM, "audit: out of memory");
    }
    char *details = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!details)
        return tg__error(TG_ENOMEM, "audit: out of memory");
    tg_audit_event e;
    tg_audit_event_init(&e);
    e.action = TG_AUDIT_RETENTION_PRUNED;
    e.target = len ? name : NULL;
    e.details = details;
    int rc = tg__audit_append_in_txn(a, txn, &e, NULL);
    cJSON_free(details);
    return rc;
}

typedef struct prune_args {
    int64_t cutoff;
    uint64_t pruned;
} prune_args;

static int prune(struct tg_audit *a, tg_store_txn *txn, const char *chain, size_t len, void *arg)
{
    int64_t cutoff = ((prune_args *)arg)->cutoff;
    uint64_t *pruned = &((prune_args *)arg)->pruned;
    tg_store *store = tg__ctx_store(a->ctx);
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_key(lo, TG__AK_RECORD, chain, len, NULL, 0);
    size_t hi_len = tg__store_prefix_end(lo, lo_len, hi);
    old_records o = {cutoff, 0};
    int rc = tg__store_scan(store, txn, lo, lo_len, hi, hi_len, 0, find_old, &o);
    if (rc != TG_OK || o.last_old == 0)
        return rc;

    /* The latest checkpoint at or before the last old record. */
    tg__audit_checkpoint anchor = {0};
    lo_len = tg__audit_seq_key(lo, TG__AK_CHECKPOINT, chain, len, 0);
    hi_len = tg__audit_seq_key(hi, TG__AK_CHECKPOINT, chain, len, o.last_old + 1);
    row last = {{0}, 0, false};
    rc = tg__store_scan(store, txn, lo, lo_len, hi, hi_len, TG_STORE_SCAN_REVERSE, first_row,
                        &last);
    if (rc != TG_OK || !last.found)
        return rc;
    if (tg__audit_checkpoint_decode(&anchor, last.value, last.len) != TG_OK)
        return tg__error(TG_EFORMAT, "audit: a checkpoint of chain '%.*s' is malformed",
                         (int)len, chain);
    if (!tg__audit_checkpoint_valid(a->public_key, chain, len, &anchor))
        return tg__error(TG_EAUTH, "audit: the checkpoint of record %llu is not signed by the "
                                   "audit key; verify the chain before pruning it",
                         (unsigned long long)anchor.seq);

    if ((rc = delete_upto(store, txn, TG__AK_RECORD, chain, len, anchor.seq, pruned)) != TG_OK ||
        (rc = delete_upto(store, txn, TG__AK_CHECKPOINT, chain, len, anchor.seq, NULL)) != TG_OK)
        return rc;
    uint8_t key[TG__AUDIT_KEY_MAX];
    uint8_t value[TG__AUDIT_CHECKPOINT_BYTES];
    size_t klen = tg__audit_key(key, TG__AK_ANCHOR, chain, len, NULL, 0);
    tg__audit_checkpoint_encode(value, &anchor);
    if ((rc = tg__store_put(store, txn, key, klen, value, sizeof value)) != TG_OK)
        return rc;

    return record_pruning(a, txn, chain, len, *pruned, anchor.seq, cutoff);
}

int tg_audit_prune(tg_ctx *ctx, const char *workspace, int64_t older_than_ms,
                   uint64_t *out_pruned)
{
    prune_args args = {older_than_ms, 0};
    if (out_pruned)
        *out_pruned = 0;
    int rc = tg__audit_run(ctx, workspace, false, prune, &args);
    if (rc == TG_OK && out_pruned)
        *out_pruned = args.pruned;
    return rc;
}
