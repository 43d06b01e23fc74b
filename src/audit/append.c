/*
 * append.c - appending records and signing checkpoints.
 *
 * An append reads the chain's head (its last record) inside the store
 * transaction, which the store serialises against every other writer, and
 * inserts the next sequence number if absent. The head is never taken
 * from memory: another context may have appended, or pruned records a
 * remembered head would re-use. So writers never fork a chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"

/* ---- heads --------------------------------------------------------------- */

typedef struct head {
    uint64_t seq;
    uint8_t hash[TG_AUDIT_HASH_BYTES];
} head;

static int last_record(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    head *h = user;
    if (key_len < 8)
        return tg__error(TG_EFORMAT, "audit: a record key is malformed");
    h->seq = tg__get_u64(key + key_len - 8);
    tg__audit_hash(h->hash, value, value_len);
    return 1; /* the first row of a reverse scan is the last record */
}

/* Reads a chain's head from the store: its last record, else the anchor
 * pruning left, else the empty chain (seq 0, hash of zeros). */
int tg__audit_read_head(tg_store *store, tg_store_txn *txn, const char *chain, size_t len,
                        uint64_t *seq, uint8_t hash[TG_AUDIT_HASH_BYTES])
{
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_key(lo, TG__AK_RECORD, chain, len, NULL, 0);
    size_t hi_len = tg__store_prefix_end(lo, lo_len, hi);
    head h = {0, {0}};
    int rc = tg__store_scan(store, txn, lo, lo_len, hi, hi_len, TG_STORE_SCAN_REVERSE,
                            last_record, &h);
    if (rc != TG_OK)
        return rc;
    if (h.seq == 0) {
        uint8_t key[TG__AUDIT_KEY_MAX], value[TG__AUDIT_CHECKPOINT_BYTES];
        size_t klen = tg__audit_key(key, TG__AK_ANCHOR, chain, len, NULL, 0), n = 0;
        rc = tg__store_get_buf(store, txn, key, klen, value, sizeof value, &n);
        tg__audit_checkpoint anchor;
        if (rc == TG_OK && tg__audit_checkpoint_decode(&anchor, value, n) == TG_OK) {
            h.seq = anchor.seq;
            memcpy(h.hash, anchor.hash, sizeof h.hash);
        } else if (rc == TG_OK || rc == TG_ERANGE) {
            return tg__error(TG_EFORMAT, "audit: the retention anchor is malformed");
        } else if (rc != TG_ENOTFOUND) {
            return rc;
        }
    }
    *seq = h.seq;
    memcpy(hash, h.hash, sizeof h.hash);
    return TG_OK;
}

/* ---- checkpoints --------------------------------------------------------- */

/* Signs and stores a checkpoint of record `seq` with hash `hash`.
 * TG_EEXISTS (no message) if that record already has one. */
static int sign_checkpoint(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                           size_t len, uint64_t seq, const uint8_t hash[TG_AUDIT_HASH_BYTES])
{
    tg__audit_checkpoint c = {seq, tg__ctx_now(a->ctx), {0}, {0}};
    memcpy(c.hash, hash, TG_AUDIT_HASH_BYTES);
    uint8_t msg[TG__AUDIT_SIGNED_MAX], value[TG__AUDIT_CHECKPOINT_BYTES], key[TG__AUDIT_KEY_MAX];
    size_t n = tg__audit_checkpoint_message(msg, chain, len, &c);
    crypto_sign_detached(c.sig, NULL, msg, n, TG__AUDIT_SK(a));
    tg__audit_checkpoint_encode(value, &c);
    size_t klen = tg__audit_seq_key(key, TG__AK_CHECKPOINT, chain, len, seq);
    return tg__store_insert(tg__ctx_store(a->ctx), txn, key, klen, value, sizeof value);
}

/* ---- events --------------------------------------------------------------- */

/* An event checked and put into the form a record needs. */
typedef struct prepared {
    const char *chain;
    size_t chain_len;
    const char *actor, *target;
    size_t actor_len, target_len;
    char network[TG__AUDIT_NETWORK_MAX + 1];
    const char *details; /* checked JSON object text; "{}" when none */
    size_t details_len;
    char actor_pseudonym[TG__AUDIT_ACTOR_MAX + 1];
    bool cache_actor; /* looked up in the store: cache it once committed */
    int64_t looked_up_ms;
    const tg_audit_event *e;
} prepared;

static int check_optional_id(const char *what, const char *id, size_t *len)
{
    *len = 0;
    return id ? tg__check_id(what, id, len) : TG_OK;
}

static int prepare(prepared *p, const tg_audit_event *e)
{
    memset(p, 0, sizeof *p);
    p->e = e;
    if (e->version != TG_AUDIT_EVENT_VERSION || e->struct_size < sizeof *e)
        return tg__error(TG_EVERSION, "audit: event version %u size %u (use "
                                      "tg_audit_event_init)", e->version, e->struct_size);
    if (!tg_audit_action_name(e->action))
        return tg__error(TG_EINVAL, "audit: unknown action %d", e->action);
    if (!tg_audit_outcome_name(e->outcome))
        return tg__error(TG_EINVAL, "audit: unknown outcome %d", e->outcome);
    if (!tg_audit_severity_name(e->severity))
        return tg__error(TG_EINVAL, "audit: unknown severity %d", e->severity);
    if (e->tags & ~TG_AUDIT_TAGS_ALL)
        return tg__error(TG_EINVAL, "audit: unknown compliance tags 0x%x", e->tags);
    if (e->target_is_subject != 0 && e->target_is_subject != 1)
        return tg__error(TG_EINVAL, "audit: target_is_subject must be 0 or 1");
    if (e->target_is_subject && !e->target)
        return tg__error(TG_EINVAL, "audit: target_is_subject without a target");
    int rc;
    p->chain = e->workspace ? e->workspace : "";
    if ((rc = check_optional_id("workspace id", e->workspace, &p->chain_len)) != TG_OK ||
        (rc = check_optional_id("actor", e->actor, &p->actor_len)) != TG_OK ||
        (rc = check_optional_id("target", e->target, &p->target_len)) != TG_OK)
        return rc;
    p->actor = e->actor;
    p->target = e->target;
    if (e->actor_ip && (rc = tg__audit_network(p->network, e->actor_ip)) != TG_OK)
        return rc;
    p->details = e->details ? e->details : "{}";
    p->details_len = strnlen(p->details, TG_AUDIT_DETAILS_MAX + 1);
    return tg__audit_details_check(p->details, p->details_len);
}

/* Heads of the chains a batch has written, not yet committed. */
typedef struct pending {
    const char *chain;
    size_t len;
    head h;
} pending;

static pending *pending_of(pending *list, size_t n, const char *chain, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].len == len && memcmp(list[i].chain, chain, len) == 0)
            return &list[i];
    return NULL;
}

/* Appends one prepared event inside txn. */
static int append_one(struct tg_audit *a, tg_store_txn *txn, prepared *p, pending *pend,
                      size_t *n_pend, uint64_t *out_seq)
{
    tg_store *store = tg__ctx_store(a->ctx);
    pending *pe = pending_of(pend, *n_pend, p->chain, p->chain_len);
    head h;
    if (pe) {
        h = pe->h;
    } else {
        int rc = tg__audit_read_head(store, txn, p->chain, p->chain_len, &h.seq, h.hash);
        if (rc != TG_OK)
            return rc;
    }

    char *actor = p->actor_pseudonym, target[TG__AUDIT_ACTOR_MAX + 1];
    int64_t now = tg__ctx_now(a->ctx);
    int rc;
    actor[0] = '\0';
    if (p->actor && !tg__audit_pcache_get(a, p->chain, p->chain_len, p->actor, p->actor_len,
                                          now, actor)) {
        if ((rc = tg__audit_pseudonym(a, txn, p->chain, p->chain_len, p->actor, p->actor_len,
                                      actor)) != TG_OK)
            return rc;
        p->cache_actor = true;
        p->looked_up_ms = now;
    }
    if (p->e->target_is_subject && p->actor && p->actor_len == p->target_len &&
        memcmp(p->actor, p->target, p->target_len) == 0) {
        /* One person, one pseudonym in a record: a cached (and meanwhile
         * erased) one beside a fresh one would link the two. */
        memcpy(target, actor, sizeof target);
    } else if (p->e->target_is_subject &&
               (rc = tg__audit_pseudonym(a, txn, p->chain, p->chain_len, p->target,
                                         p->target_len, target)) != TG_OK) {
        return rc;
    }

    tg__audit_record r = {0};
    r.time_ms = now;
    r.action = p->e->action;
    r.outcome = p->e->outcome;
    r.severity = p->e->severity;
    r.tags = p->e->tags ? p->e->tags : tg__audit_default_tags(p->e->action);
    r.target_is_pseudonym = p->e->target_is_subject;
    r.chain = p->chain, r.chain_len = p->chain_len;
    r.actor = actor, r.actor_len = strlen(actor);
    r.network = p->network, r.network_len = strlen(p->network);
    r.target = p->e->target_is_subject ? target : p->target;
    r.target_len = p->e->target_is_subject ? strlen(target) : p->target_len;
    r.details = p->details, r.details_len = p->details_len;

    size_t size = tg__audit_record_size(&r);
    uint8_t buf[TG__AUDIT_RECORD_MAX]; /* records are small: no allocation */
    uint8_t key[TG__AUDIT_KEY_MAX];
    r.seq = h.seq + 1;
    memcpy(r.prev, h.hash, sizeof r.prev);
    tg__audit_record_encode(buf, &r);
    size_t klen = tg__audit_seq_key(key, TG__AK_RECORD, p->chain, p->chain_len, r.seq);
    rc = tg__store_insert(store, txn, key, klen, buf, size);
    if (rc == TG_EEXISTS) /* the head was read in this transaction: a store that
                             does not serialise transactions */
        rc = tg__error(TG_ESTORE, "audit: sequence %llu of chain '%.*s' exists, but the "
                                  "head read in this transaction is before it",
                       (unsigned long long)r.seq, (int)p->chain_len, p->chain);
    if (rc == TG_OK) {
        h.seq = r.seq;
        tg__audit_hash(h.hash, buf, size);
        if (r.seq % a->checkpoint_interval == 0) {
            rc = sign_checkpoint(a, txn, p->chain, p->chain_len, r.seq, h.hash);
            if (rc == TG_EEXISTS)
                rc = tg__error(TG_ESTORE, "audit: a checkpoint already names record %llu",
                               (unsigned long long)r.seq);
        }
    }
    if (rc != TG_OK)
        return rc;
    if (!pe) {
        pe = &pend[(*n_pend)++];
        pe->chain = p->chain;
        pe->len = p->chain_len;
    }
    pe->h = h;
    if (out_seq)
        *out_seq = r.seq;
    return TG_OK;
}

static int append_events(tg_ctx *ctx, const tg_audit_event *events, size_t count,
                         uint64_t *out_first_seq)
{
    struct tg_audit *a = tg__ctx_audit(ctx);
    tg_store *store = tg__ctx_store(ctx);
    /* One event, the common case, needs no allocation. */
    prepared one_prep;
    pending one_pend;
    prepared *prep = count == 1 ? &one_prep : calloc(count, sizeof *prep);
    pending *pend = count == 1 ? &one_pend : calloc(count, sizeof *pend);
    int rc = prep && pend ? TG_OK : tg__error(TG_ENOMEM, "audit: out of memory");
    size_t ready = 0;
    for (; rc == TG_OK && ready < count; ready++) {
        rc = prepare(&prep[ready], &events[ready]);
        if (rc != TG_OK && count > 1) {
            char why[256]; /* the message is about to be replaced */
            snprintf(why, sizeof why, "%s", tg_ctx_errmsg(NULL));
            rc = tg__error(rc, "audit: events[%zu]: %s", ready, why);
        }
    }
    size_t n_pend = 0;
    if (rc == TG_OK) {
        pthread_mutex_lock(&a->lock);
        tg_store_txn *txn = NULL;
        /* The keys first, in a commit of their own: a secret made inside
         * this transaction would be lost if it rolled back. */
        rc = tg__audit_keys(a, true);
        if (rc == TG_OK)
            rc = tg__store_begin(store, &txn);
        for (size_t i = 0; rc == TG_OK && i < count; i++)
            rc = append_one(a, txn, &prep[i], pend, &n_pend, i == 0 ? out_first_seq : NULL);
        if (txn && rc == TG_OK)
            rc = tg__store_commit(store, txn);
        else if (txn)
            tg__store_rollback(store, txn);
        for (size_t i = 0; rc == TG_OK && i < count; i++)
            if (prep[i].cache_actor)
                tg__audit_pcache_put(a, prep[i].chain, prep[i].chain_len, prep[i].actor,
                                     prep[i].actor_len, prep[i].looked_up_ms,
                                     prep[i].actor_pseudonym);
        pthread_mutex_unlock(&a->lock);
    }
    if (count > 1) {
        free(prep);
        free(pend);
    }
    return rc;
}

int tg__audit_append_in_txn(struct tg_audit *a, tg_store_txn *txn, const tg_audit_event *event,
                            uint64_t *out_seq)
{
    prepared p;
    pending pend;
    size_t n_pend = 0;
    int rc = prepare(&p, event);
    if (rc == TG_OK)
        rc = append_one(a, txn, &p, &pend, &n_pend, out_seq);
    return rc;
}

int tg_audit_append(tg_ctx *ctx, const tg_audit_event *event, uint64_t *out_seq)
{
    if (!ctx || !event)
        return tg__error(TG_EINVAL, "audit: NULL %s", ctx ? "event" : "context");
    return append_events(ctx, event, 1, out_seq);
}

int tg_audit_append_batch(tg_ctx *ctx, const tg_audit_event *events, size_t count,
                          uint64_t *out_first_seq)
{
    if (!ctx || !events || count == 0)
        return tg__error(TG_EINVAL, "audit: %s", !ctx ? "NULL context"
                                                 : !events ? "NULL events"
                                                           : "an empty batch");
    if (count > 100000)
        return tg__error(TG_EINVAL, "audit: a batch of %zu events; at most 100000", count);
    return append_events(ctx, events, count, out_first_seq);
}

static int checkpoint_head(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                           size_t len, void *arg)
{
    head h;
    int rc = tg__audit_read_head(tg__ctx_store(a->ctx), txn, chain, len, &h.seq, h.hash);
    if (rc == TG_OK && h.seq == 0)
        rc = tg__error(TG_ENOTFOUND, "audit: chain '%.*s' has no records to sign", (int)len,
                       chain);
    if (rc == TG_OK) {
        rc = sign_checkpoint(a, txn, chain, len, h.seq, h.hash);
        if (rc == TG_EEXISTS)
            rc = TG_OK; /* already signed: that checkpoint stands */
    }
    if (rc == TG_OK)
        *(uint64_t *)arg = h.seq;
    return rc;
}

int tg_audit_checkpoint(tg_ctx *ctx, const char *workspace, uint64_t *out_seq)
{
    uint64_t seq = 0;
    int rc = tg__audit_run(ctx, workspace, false, checkpoint_head, &seq);
    if (rc == TG_OK && out_seq)
        *out_seq = seq;
    return rc;
}
