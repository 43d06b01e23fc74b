/*
 * verify.c - verifying a chain in the store, whole or a range. The public
 * key comes from the store's wrapped audit secret through the root key, so
 * a store whose key was replaced does not verify.
 */
#include <stdlib.h>
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"

#define PROGRESS_EVERY 65536

typedef struct walk {
    tg__audit_verifier v;
    tg__audit_checkpoint *cps; /* checkpoints after the start, ascending */
    size_t n_cps, cap_cps, next_cp;
    uint64_t to_seq, total;
    tg_audit_progress_cb progress;
    void *user;
    bool stopped;
} walk;

static int collect_checkpoint(void *user, const uint8_t *key, size_t key_len,
                              const uint8_t *value, size_t value_len)
{
    walk *w = user;
    tg__audit_checkpoint c;
    if (tg__audit_checkpoint_decode(&c, value, value_len) != TG_OK ||
        c.seq != tg__get_u64(key + key_len - 8)) {
        tg__audit_problem(w->v.out, TG_AUDIT_MALFORMED, tg__get_u64(key + key_len - 8),
                          "the checkpoint stored for record %llu is malformed",
                          (unsigned long long)tg__get_u64(key + key_len - 8));
        return 1;
    }
    if (w->n_cps == w->cap_cps) {
        size_t cap = w->cap_cps ? w->cap_cps * 2 : 64;
        void *p = realloc(w->cps, cap * sizeof *w->cps);
        if (!p)
            return tg__error(TG_ENOMEM, "audit: out of memory for checkpoints");
        w->cps = p;
        w->cap_cps = cap;
    }
    w->cps[w->n_cps++] = c;
    return 0;
}

static int check_record(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                        size_t value_len)
{
    walk *w = user;
    uint64_t seq = tg__get_u64(key + key_len - 8);
    if (!tg__audit_verifier_record(&w->v, seq, value, value_len))
        return 1;
    while (w->next_cp < w->n_cps && w->cps[w->next_cp].seq <= seq)
        if (!tg__audit_verifier_checkpoint(&w->v, &w->cps[w->next_cp++]))
            return 1;
    if (w->progress && w->v.out->records % PROGRESS_EVERY == 0 &&
        w->progress(w->user, w->v.out->records, w->total) != 0) {
        w->stopped = true;
        return tg__error(TG_ECALLBACK, "audit: verification stopped by its progress callback");
    }
    return 0;
}

static int read_checkpoint(tg_store *store, enum tg__audit_kind kind, const char *chain,
                           size_t len, tg__audit_checkpoint *c, bool *found)
{
    uint8_t key[TG__AUDIT_KEY_MAX], value[TG__AUDIT_CHECKPOINT_BYTES];
    size_t klen = tg__audit_key(key, kind, chain, len, NULL, 0), n = 0;
    int rc = tg__store_get_buf(store, NULL, key, klen, value, sizeof value, &n);
    *found = rc == TG_OK || rc == TG_ERANGE;
    if (rc == TG_ENOTFOUND)
        return TG_OK;
    if (rc != TG_OK && rc != TG_ERANGE)
        return rc;
    return tg__audit_checkpoint_decode(c, value, n) == TG_OK ? TG_OK : TG_EFORMAT;
}

/* The last checkpoint with seq in [lo, hi) (0 for none), by a reverse scan. */
static int last_checkpoint_row(void *user, const uint8_t *key, size_t key_len,
                               const uint8_t *value, size_t value_len)
{
    tg__audit_checkpoint *c = user;
    if (tg__audit_checkpoint_decode(c, value, value_len) != TG_OK)
        c->seq = tg__get_u64(key + key_len - 8), c->time_ms = -1; /* marked malformed */
    return 1;
}

static int last_checkpoint(tg_store *store, const char *chain, size_t len, uint64_t below,
                           tg__audit_checkpoint *c)
{
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_key(lo, TG__AK_CHECKPOINT, chain, len, NULL, 0), hi_len;
    if (below)
        hi_len = tg__audit_seq_key(hi, TG__AK_CHECKPOINT, chain, len, below);
    else
        hi_len = tg__store_prefix_end(lo, lo_len, hi);
    memset(c, 0, sizeof *c);
    return tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, TG_STORE_SCAN_REVERSE,
                          last_checkpoint_row, c);
}

static int first_row_seq(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                         size_t value_len)
{
    (void)value, (void)value_len;
    *(uint64_t *)user = tg__get_u64(key + key_len - 8);
    return 1;
}

/* *to becomes the seq of the first checkpoint at or after `from`, or 0
 * (the end of the chain) when there is none. */
static int first_checkpoint_from(tg_store *store, const char *chain, size_t len, uint64_t from,
                                 uint64_t *to)
{
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_seq_key(lo, TG__AK_CHECKPOINT, chain, len, from);
    size_t hi_len = tg__store_prefix_end(lo, lo_len - 8, hi);
    uint64_t seq = 0;
    int rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, first_row_seq, &seq);
    *to = seq;
    return rc;
}

static int run(struct tg_audit *a, walk *w, const char *chain, size_t len, uint64_t from_seq)
{
    tg_store *store = tg__ctx_store(a->ctx);
    tg_audit_verdict *out = w->v.out;
    tg__audit_checkpoint start, latest;
    bool found;
    uint64_t start_seq = 0;

    /* Where to start: the retention anchor, or a later checkpoint at or
     * before the range's first record. */
    int rc = read_checkpoint(store, TG__AK_ANCHOR, chain, len, &start, &found);
    if (rc == TG_EFORMAT) {
        tg__audit_problem(out, TG_AUDIT_MALFORMED, 0, "the retention anchor is malformed");
        return TG_OK;
    }
    if (rc != TG_OK)
        return rc;
    if (found) {
        if (!tg__audit_verifier_anchor(&w->v, &start))
            return TG_OK;
        start_seq = start.seq;
        /* Pruning deleted every record up to the anchor: one still there
         * (or put back) would be read by queries but never verified. */
        uint64_t below = 0;
        uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
        size_t lo_len = tg__audit_seq_key(lo, TG__AK_RECORD, chain, len, 0);
        size_t hi_len = tg__audit_seq_key(hi, TG__AK_RECORD, chain, len, start_seq + 1);
        if ((rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, first_row_seq,
                                 &below)) != TG_OK)
            return rc;
        if (below) {
            tg__audit_problem(out, TG_AUDIT_REORDERED, below,
                              "record %llu is at or before the retention anchor (record "
                              "%llu), where pruning left none",
                              (unsigned long long)below, (unsigned long long)start_seq);
            return TG_OK;
        }
    }
    if (from_seq > start_seq + 1) {
        if ((rc = last_checkpoint(store, chain, len, from_seq, &latest)) != TG_OK)
            return rc;
        if (latest.seq > start_seq) {
            if (latest.time_ms == -1) {
                tg__audit_problem(out, TG_AUDIT_MALFORMED, latest.seq,
                                  "the checkpoint of record %llu is malformed",
                                  (unsigned long long)latest.seq);
                return TG_OK;
            }
            if (!tg__audit_verifier_anchor(&w->v, &latest))
                return TG_OK;
            start_seq = latest.seq;
        }
    }

    /* The end: a range runs on to the first checkpoint at or after its last
     * record (else the end of the chain), so a record near its end is bound
     * by a signature on that side too. */
    if (w->to_seq && (rc = first_checkpoint_from(store, chain, len, w->to_seq, &w->to_seq)) !=
                         TG_OK)
        return rc;

    /* The checkpoints after the start, and the chain's latest. */
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_seq_key(lo, TG__AK_CHECKPOINT, chain, len, start_seq + 1);
    size_t hi_len = w->to_seq ? tg__audit_seq_key(hi, TG__AK_CHECKPOINT, chain, len, w->to_seq + 1)
                              : tg__store_prefix_end(lo, lo_len - 8, hi);
    if ((rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, collect_checkpoint, w)) !=
            TG_OK ||
        out->problem != TG_AUDIT_VALID)
        return rc;
    if ((rc = last_checkpoint(store, chain, len, 0, &latest)) != TG_OK)
        return rc;
    uint64_t head_seq;
    uint8_t head_hash[TG_AUDIT_HASH_BYTES];
    if ((rc = tg__audit_read_head(store, NULL, chain, len, &head_seq, head_hash)) != TG_OK)
        return rc;
    uint64_t end = w->to_seq && w->to_seq < head_seq ? w->to_seq : head_seq;
    w->total = end > start_seq ? end - start_seq : 0;

    /* The records. */
    lo_len = tg__audit_seq_key(lo, TG__AK_RECORD, chain, len, start_seq + 1);
    hi_len = w->to_seq ? tg__audit_seq_key(hi, TG__AK_RECORD, chain, len, w->to_seq + 1)
                       : tg__store_prefix_end(lo, lo_len - 8, hi);
    rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, check_record, w);
    if (rc != TG_OK || out->problem != TG_AUDIT_VALID)
        return rc;
    /* Checkpoints left over name records that were not there. */
    uint64_t signed_up_to = latest.seq;
    if (w->to_seq && signed_up_to > w->to_seq)
        signed_up_to = w->to_seq;
    tg__audit_verifier_finish(&w->v, signed_up_to);
    return TG_OK;
}

int tg_audit_verify(tg_ctx *ctx, tg_audit_verdict *out, const char *workspace, uint64_t from_seq,
                    uint64_t to_seq, tg_audit_progress_cb progress, void *user)
{
    size_t len = 0;
    int rc;
    if (!ctx || !out)
        return tg__error(TG_EINVAL, "audit: NULL %s", ctx ? "verdict" : "context");
    if (out->version != TG_AUDIT_VERDICT_VERSION || out->struct_size < sizeof *out)
        return tg__error(TG_EVERSION, "audit: verdict version %u size %u (use "
                                      "tg_audit_verdict_init)", out->version, out->struct_size);
    if (workspace && (rc = tg__check_id("workspace id", workspace, &len)) != TG_OK)
        return rc;
    if (to_seq && from_seq > to_seq)
        return tg__error(TG_EINVAL, "audit: from_seq %llu is after to_seq %llu",
                         (unsigned long long)from_seq, (unsigned long long)to_seq);
    const char *chain = workspace ? workspace : "";
    struct tg_audit *a = tg__ctx_audit(ctx);
    uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES];
    pthread_mutex_lock(&a->lock);
    rc = tg__audit_keys(a, false); /* verifying never makes a key */
    memcpy(pk, a->public_key, sizeof pk);
    pthread_mutex_unlock(&a->lock);

    walk w;
    memset(&w, 0, sizeof w);
    w.to_seq = to_seq;
    w.progress = progress;
    w.user = user;
    tg__audit_verifier_start(&w.v, out, pk, chain, len);
    if (rc == TG_ENOTFOUND) {
        /* No key: fine for a store without audit data, tampering for one
         * that has some. */
        tg_store *store = tg__ctx_store(ctx);
        uint64_t head;
        uint8_t hash[TG_AUDIT_HASH_BYTES];
        tg__audit_checkpoint latest;
        if ((rc = tg__audit_read_head(store, NULL, chain, len, &head, hash)) != TG_OK ||
            (rc = last_checkpoint(store, chain, len, 0, &latest)) != TG_OK)
            return rc;
        if (!head && !latest.seq)
            return TG_OK;
        /* The key is committed before the first record: if records are
         * here now, it was made meanwhile, unless it was removed. */
        pthread_mutex_lock(&a->lock);
        rc = tg__audit_keys(a, false);
        memcpy(pk, a->public_key, sizeof pk);
        pthread_mutex_unlock(&a->lock);
        if (rc == TG_ENOTFOUND) {
            tg__audit_problem(out, TG_AUDIT_BAD_SIGNATURE, 0,
                              "the chain has records but the store has no audit key: it was "
                              "removed");
            return TG_OK;
        }
    }
    if (rc != TG_OK)
        return rc;
    rc = run(a, &w, chain, len, from_seq);
    free(w.cps);
    return rc;
}
