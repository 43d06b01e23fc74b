/*
 * admin.c - rotation, retirement and crypto-shredding. Each is one store
 * transaction (rolled back on any failure, so a failed call changes
 * nothing), followed by a purge of the workspace from this context's cache.
 * Other contexts sharing the store see the change when their cached entries
 * expire (tg_config.key_cache_ttl_ms). After a retirement or a shred has
 * committed, the store is asked to make the destroyed keys' old bytes
 * unrecoverable from its files (tg__store_purge_freed).
 */
#include <string.h>

#include <sodium.h>

#include "keyring_impl.h"

/* ---- batched scans of one kind of record of a workspace ---- */

#define BATCH 32
#define SUFFIX_MAX TG__KR_ID_BYTES

typedef struct batch {
    size_t prefix_len;
    bool with_values;
    size_t n;
    uint8_t suffix[BATCH][SUFFIX_MAX];
    size_t suffix_len[BATCH];
    uint8_t value[BATCH][TG__SUBJ_REC_MAX];
    size_t value_len[BATCH];
} batch;

static int collect(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len)
{
    batch *b = user;
    if (key_len <= b->prefix_len || key_len - b->prefix_len > SUFFIX_MAX ||
        (b->with_values && value_len > TG__SUBJ_REC_MAX))
        return tg__error(TG_ESTORE, "keyring: unexpected record in the keyring's key range");
    size_t i = b->n++;
    b->suffix_len[i] = key_len - b->prefix_len;
    memcpy(b->suffix[i], key + b->prefix_len, b->suffix_len[i]);
    if (b->with_values) {
        b->value_len[i] = value_len;
        memcpy(b->value[i], value, value_len);
    }
    return b->n == BATCH ? 1 : 0;
}

/* Collects up to BATCH records of `kind` whose suffix sorts after `after`
 * (NULL: from the first). */
static int scan_batch(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, int kind,
                      const uint8_t *after, size_t after_len, batch *b)
{
    uint8_t lo[TG__KR_KEY_MAX + 1], hi[TG__KR_KEY_MAX];
    size_t plen = tg__kr_key(lo, kind, ws->id, ws->len, NULL, 0);
    size_t hlen = tg__store_prefix_end(lo, plen, hi);
    size_t llen = plen;
    if (after) {
        memcpy(lo + plen, after, after_len);
        lo[plen + after_len] = 0; /* the smallest key after `after` */
        llen += after_len + 1;
    }
    b->prefix_len = plen;
    b->n = 0;
    return tg__store_scan(kr->store, txn, lo, llen, hlen ? hi : NULL, hlen, 0, collect, b);
}

/* ---- rewrapping subject keys ---- */

/* A few workspace keys loaded during one transaction. */
typedef struct key_memo {
    uint32_t version[4];
    uint8_t key[4][TG_KEY_BYTES];
    unsigned n, next;
} key_memo;

static int memo_key(tg_ctx *ctx, tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws,
                    key_memo *m, uint32_t version, const uint8_t **out)
{
    for (unsigned i = 0; i < m->n; i++) {
        if (m->version[i] == version) {
            *out = m->key[i];
            return TG_OK;
        }
    }
    unsigned slot = m->n < 4 ? m->n++ : (m->next++ % 4);
    m->version[slot] = 0;
    int rc = tg__ws_key_get(ctx, kr, txn, ws, version, m->key[slot], NULL);
    if (rc == TG_ERETIRED || rc == TG_EKEYVERSION)
        rc = tg__error(TG_ESTORE, "keyring: a subject key of workspace '%s' is wrapped under key "
                                  "version %u, which is gone", ws->id, version);
    if (rc)
        return rc;
    m->version[slot] = version;
    *out = m->key[slot];
    return TG_OK;
}

/* Rewraps under (to, to_key) every live subject key wrapped under `from`,
 * or under any other version when from is 0. */
static int rewrap_subjects(tg_ctx *ctx, tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws,
                           uint32_t from, uint32_t to, const uint8_t to_key[TG_KEY_BYTES])
{
    batch local, *b = &local;
    key_memo memo;
    uint8_t sk[TG_KEY_BYTES], ad[TG__KR_AD_MAX], key[TG__KR_KEY_MAX], buf[TG__SUBJ_REC_MAX];
    uint8_t last[SUFFIX_MAX];
    size_t last_len = 0;
    int rc = TG_OK;
    b->with_values = true;
    memo.n = memo.next = 0;

    for (bool more = true; more && rc == TG_OK;) {
        rc = scan_batch(kr, txn, ws, TG__KR_SUBJECT, last_len ? last : NULL, last_len, b);
        for (size_t i = 0; rc == TG_OK && i < b->n; i++) {
            tg__subj_rec rec;
            const uint8_t *from_key;
            if (b->suffix_len[i] != TG__KR_ID_BYTES) {
                rc = tg__error(TG_ESTORE, "keyring: bad subject key id in workspace '%s'", ws->id);
                break;
            }
            const uint8_t *keyid = b->suffix[i];
            if ((rc = tg__subj_rec_decode(&rec, b->value[i], b->value_len[i], ws->id)))
                break;
            if (rec.state != TG__SUBJ_LIVE || rec.version == to || (from && rec.version != from))
                continue;
            if ((rc = memo_key(ctx, kr, txn, ws, &memo, rec.version, &from_key)))
                break;
            if (tg__subject_unwrap(sk, from_key, ad,
                                   tg__ad_subject(ad, ws->id, ws->len, keyid, rec.version),
                                   rec.wrapped, rec.wrapped_len) != TG_OK) {
                rc = tg__error(TG_ESTORE, "keyring: a subject key record of workspace '%s' does "
                                          "not authenticate (corrupt store)", ws->id);
                break;
            }
            rec.version = to;
            tg__subject_wrap(rec.wrapped, to_key, ad,
                             tg__ad_subject(ad, ws->id, ws->len, keyid, to), sk);
            size_t klen = tg__kr_key(key, TG__KR_SUBJECT, ws->id, ws->len, keyid, TG__KR_ID_BYTES);
            rc = tg__store_put(kr->store, txn, key, klen, buf, tg__subj_rec_encode(buf, &rec));
        }
        more = b->n == BATCH;
        if (b->n) {
            last_len = b->suffix_len[b->n - 1];
            memcpy(last, b->suffix[b->n - 1], last_len);
        }
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(&memo, sizeof memo);
    return rc;
}

/* ---- the operations ---- */

/* After a commit that destroyed keys: best effort, the operation has
 * succeeded either way (an incomplete purge leaves its message). */
static void purge_destroyed(tg_keyring *kr, int rc)
{
    if (rc == TG_OK)
        (void)tg__store_purge_freed(kr->store);
}

static int ws_rec_put(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, const tg__ws_rec *rec)
{
    uint8_t key[TG__KR_KEY_MAX], buf[TG__WS_REC_MAX];
    size_t klen = tg__kr_key(key, TG__KR_WORKSPACE, ws->id, ws->len, NULL, 0);
    return tg__store_put(kr->store, txn, key, klen, buf, tg__ws_rec_encode(buf, rec));
}

/* Reads the workspace record in txn; `absent` is the code (with message)
 * for a workspace without keys. Shredded is TG_ESHREDDED. */
static int ws_rec_live(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, tg__ws_rec *rec,
                       int absent)
{
    int rc = tg__ws_rec_read(kr, txn, ws, rec);
    if (rc == TG_ENOTFOUND) {
        if (absent == TG_EKEYVERSION)
            return tg__error(absent, "keyring: workspace '%s' has no keys, so no key versions",
                             ws->id);
        return tg__error(absent, "keyring: workspace '%s' has no keys", ws->id);
    }
    if (rc == TG_OK && rec->state != TG__WS_ACTIVE)
        return tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
    return rc;
}

int tg__admin_rotate(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, uint32_t *out_version)
{
    uint8_t nk[TG_KEY_BYTES], ad[TG__KR_AD_MAX], key[TG__KR_KEY_MAX], buf[TG__VER_REC_MAX];
    int rc = TG_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        tg_store_txn *txn = NULL;
        tg__ws_rec rec;
        tg__ver_rec vrec;
        if ((rc = tg__store_begin(kr->store, &txn)))
            break;
        rc = tg__ws_rec_read(kr, txn, ws, &rec);
        if (rc == TG_ENOTFOUND) {
            /* No keys yet: creating them makes version 1 the primary. */
            tg__store_rollback(kr->store, txn);
            tg__ws_meta meta;
            rc = tg__ws_create(ctx, kr, ws, &meta, NULL);
            if (rc == TG_EEXISTS)
                continue;
            if (rc == TG_OK)
                *out_version = 1;
            break;
        }
        if (rc == TG_OK && rec.state != TG__WS_ACTIVE)
            rc = tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
        if (rc == TG_OK && rec.primary == UINT32_MAX)
            rc = tg__error(TG_ERANGE, "keyring: workspace '%s' has used every key version", ws->id);
        uint32_t v = rc == TG_OK ? rec.primary + 1 : 0;
        randombytes_buf(nk, sizeof nk);
        if (rc == TG_OK) {
            vrec.state = TG__VER_ACTIVE;
            vrec.created_ms = (uint64_t)tg__ctx_now(ctx);
            rc = tg__root_wrap(kr, ad, tg__ad_ws_key(ad, ws->id, ws->len, v), nk, vrec.wrapped,
                               &vrec.wrapped_len);
        }
        if (rc == TG_OK) {
            size_t klen = tg__kr_version_key(key, ws->id, ws->len, v);
            rc = tg__store_insert(kr->store, txn, key, klen, buf, tg__ver_rec_encode(buf, &vrec));
            if (rc == TG_EEXISTS)
                rc = tg__error(TG_ESTORE, "keyring: workspace '%s' already has key version %u "
                                          "beyond its primary", ws->id, v);
        }
        if (rc == TG_OK)
            rc = rewrap_subjects(ctx, kr, txn, ws, 0, v, nk);
        if (rc == TG_OK) {
            rec.primary = v;
            rc = ws_rec_put(kr, txn, ws, &rec);
        }
        rc = tg__txn_finish(kr->store, txn, rc);
        if (rc == TG_OK)
            *out_version = v;
        break;
    }
    sodium_memzero(nk, sizeof nk);
    tg__cache_purge_workspace(kr->cache, ws->digest);
    return rc;
}

int tg__admin_retire(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, uint32_t version)
{
    uint8_t pk[TG_KEY_BYTES], key[TG__KR_KEY_MAX], buf[TG__VER_REC_MAX];
    tg_store_txn *txn = NULL;
    tg__ws_rec rec;
    tg__ver_rec vrec;
    if (version == 0)
        return tg__error(TG_EINVAL, "keyring: key version 0 does not exist (versions start at 1)");
    int rc = tg__store_begin(kr->store, &txn);
    if (rc)
        return rc;
    rc = ws_rec_live(kr, txn, ws, &rec, TG_EKEYVERSION);
    if (rc == TG_OK && version == rec.primary)
        rc = tg__error(TG_EINVAL, "keyring: key version %u is the primary of workspace '%s'; "
                                  "rotate before retiring it", version, ws->id);
    if (rc == TG_OK)
        rc = tg__ws_key_get(ctx, kr, txn, ws, version, pk, NULL); /* EKEYVERSION, ERETIRED */
    if (rc == TG_OK)
        rc = tg__ws_key_get(ctx, kr, txn, ws, rec.primary, pk, NULL);
    if (rc == TG_OK)
        rc = rewrap_subjects(ctx, kr, txn, ws, version, rec.primary, pk);
    if (rc == TG_OK) {
        size_t klen = tg__kr_version_key(key, ws->id, ws->len, version);
        size_t n = 0;
        rc = tg__store_get_buf(kr->store, txn, key, klen, buf, sizeof buf, &n);
        if (rc == TG_OK)
            rc = tg__ver_rec_decode(&vrec, buf, n, ws->id);
        if (rc == TG_OK) {
            vrec.state = TG__VER_RETIRED;
            vrec.wrapped_len = 0;
            rc = tg__store_put(kr->store, txn, key, klen, buf, tg__ver_rec_encode(buf, &vrec));
        }
    }
    rc = tg__txn_finish(kr->store, txn, rc);
    sodium_memzero(pk, sizeof pk);
    tg__cache_purge_workspace(kr->cache, ws->digest);
    purge_destroyed(kr, rc);
    return rc;
}

int tg__admin_shred_subject(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const char *subject,
                            size_t subject_len)
{
    uint8_t ik[TG_KEY_BYTES], tag[TG__KR_ID_BYTES], keyid[TG__KR_ID_BYTES], ad[TG__KR_AD_MAX];
    uint8_t mkey[TG__KR_KEY_MAX], skey[TG__KR_KEY_MAX], buf[TG__SUBJ_REC_MAX];
    tg_store_txn *txn = NULL;
    tg__ws_rec rec;
    (void)ctx;
    int rc = tg__store_begin(kr->store, &txn);
    if (rc)
        return rc;
    rc = ws_rec_live(kr, txn, ws, &rec, TG_ENOTFOUND);
    if (rc == TG_OK)
        rc = tg__root_unwrap(kr, ad, tg__ad_index_key(ad, ws->id, ws->len), rec.wrapped,
                             rec.wrapped_len, ik, "index key", ws);
    if (rc == TG_OK) {
        tg__subject_tag(tag, ik, subject, subject_len);
        size_t mlen = tg__kr_key(mkey, TG__KR_MAP, ws->id, ws->len, tag, TG__KR_ID_BYTES), n = 0;
        rc = tg__store_get_buf(kr->store, txn, mkey, mlen, keyid, sizeof keyid, &n);
        if (rc == TG_ENOTFOUND)
            rc = tg__error(TG_ENOTFOUND, "keyring: workspace '%s' has no key for that subject",
                           ws->id);
        else if (rc == TG_ERANGE || (rc == TG_OK && n != TG__KR_ID_BYTES))
            rc = tg__error(TG_ESTORE, "keyring: subject map entry of '%s' is corrupt", ws->id);
        if (rc == TG_OK) {
            /* A tombstone, so decryption can say "shredded" rather than "unknown". */
            tg__subj_rec tomb = {TG__SUBJ_SHREDDED, 0, 0, {0}};
            size_t slen = tg__kr_key(skey, TG__KR_SUBJECT, ws->id, ws->len, keyid, TG__KR_ID_BYTES);
            rc = tg__store_put(kr->store, txn, skey, slen, buf, tg__subj_rec_encode(buf, &tomb));
            if (rc == TG_OK)
                rc = tg__store_del(kr->store, txn, mkey, mlen);
        }
    }
    rc = tg__txn_finish(kr->store, txn, rc);
    sodium_memzero(ik, sizeof ik);
    tg__cache_purge_workspace(kr->cache, ws->digest);
    purge_destroyed(kr, rc);
    return rc;
}

/* Deletes every record of `kind` of the workspace. */
static int delete_kind(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, int kind, batch *b)
{
    uint8_t key[TG__KR_KEY_MAX];
    b->with_values = false;
    for (;;) {
        int rc = scan_batch(kr, txn, ws, kind, NULL, 0, b);
        for (size_t i = 0; rc == TG_OK && i < b->n; i++) {
            size_t klen = tg__kr_key(key, kind, ws->id, ws->len, b->suffix[i], b->suffix_len[i]);
            rc = tg__store_del(kr->store, txn, key, klen);
        }
        if (rc || b->n < BATCH)
            return rc;
    }
}

int tg__admin_shred_workspace(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws)
{
    tg_store_txn *txn = NULL;
    tg__ws_rec rec;
    batch b;
    (void)ctx;
    int rc = tg__store_begin(kr->store, &txn);
    if (rc)
        return rc;
    rc = ws_rec_live(kr, txn, ws, &rec, TG_ENOTFOUND);
    for (int kind = TG__KR_VERSION; rc == TG_OK && kind <= TG__KR_SUBJECT; kind++)
        rc = delete_kind(kr, txn, ws, kind, &b);
    if (rc == TG_OK) {
        rec.state = TG__WS_SHREDDED;
        rec.wrapped_len = 0;
        rc = ws_rec_put(kr, txn, ws, &rec);
    }
    rc = tg__txn_finish(kr->store, txn, rc);
    tg__cache_purge_workspace(kr->cache, ws->digest);
    purge_destroyed(kr, rc);
    return rc;
}
