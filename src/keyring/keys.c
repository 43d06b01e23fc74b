/*
 * keys.c - the root key, and loading or creating workspace and subject keys
 * when the cache does not have them. Key material lives on the stack only
 * as long as a call needs it and is wiped before returning.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "keyring_impl.h"

/* ---- cached workspace metadata ---- */

void tg__ws_meta_pack(uint8_t meta[TG__CACHE_META_BYTES], const tg__ws_meta *m)
{
    memset(meta, 0, TG__CACHE_META_BYTES);
    meta[0] = m->state;
    tg__put_u32(meta + 1, m->primary);
    memcpy(meta + 5, m->fp, TG__ENV_FP_BYTES);
}

void tg__ws_meta_unpack(tg__ws_meta *m, const uint8_t meta[TG__CACHE_META_BYTES])
{
    m->state = meta[0];
    m->primary = tg__get_u32(meta + 1);
    memcpy(m->fp, meta + 5, TG__ENV_FP_BYTES);
}

/* ---- root key ---- */

int tg__root_wrap(tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                  const uint8_t key[TG_KEY_BYTES], uint8_t *out, size_t *out_len)
{
    size_t n = 0;
    int rc = kr->kms.wrap(kr->kms.user, ad, ad_len, key, TG_KEY_BYTES, out, TG_KMS_WRAPPED_MAX, &n);
    if (rc > 0 || (rc == TG_OK && (n == 0 || n > TG_KMS_WRAPPED_MAX)))
        return tg__error(TG_ECALLBACK, "keyring: key service wrap returned %d with %zu bytes",
                         rc, n);
    if (rc == TG_ENOMEM)
        return tg__error(TG_ENOMEM, "keyring: key service is out of memory");
    if (rc < 0)
        return tg__error(TG_EKMS, "keyring: key service cannot wrap a key (%s)", tg_strerror(rc));
    *out_len = n;
    return TG_OK;
}

/* Unwraps with the root key; `owner` (may be NULL) names whose key it is. */
static int root_unwrap(tg_keyring *kr, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                       size_t wrapped_len, uint8_t key[TG_KEY_BYTES], const char *what,
                       const char *owner)
{
    size_t n = 0;
    int rc = kr->kms.unwrap(kr->kms.user, ad, ad_len, wrapped, wrapped_len, key, TG_KEY_BYTES, &n);
    if (rc == TG_OK && n == TG_KEY_BYTES)
        return TG_OK;
    sodium_memzero(key, TG_KEY_BYTES);
    if (rc > 0 || rc == TG_OK)
        return tg__error(TG_ECALLBACK, "keyring: key service unwrap returned %d with %zu bytes",
                         rc, n);
    if (rc == TG_ENOMEM)
        return tg__error(TG_ENOMEM, "keyring: key service is out of memory");
    return tg__error(TG_EKMS,
                     "keyring: the root key cannot unwrap the %s%s%s%s (%s): "
                     "wrong master key or KMS, or a corrupt store",
                     what, owner ? " of workspace '" : "", owner ? owner : "", owner ? "'" : "",
                     tg_strerror(rc));
}

int tg__root_unwrap(tg_keyring *kr, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                    size_t wrapped_len, uint8_t key[TG_KEY_BYTES], const char *what,
                    const tg__ws *ws)
{
    return root_unwrap(kr, ad, ad_len, wrapped, wrapped_len, key, what, ws->id);
}

int tg__keyring_wrap_secret(tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                            const uint8_t secret[TG_KEY_BYTES], uint8_t *out, size_t *out_len)
{
    return tg__root_wrap(kr, ad, ad_len, secret, out, out_len);
}

int tg__keyring_unwrap_secret(tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                              const uint8_t *wrapped, size_t wrapped_len,
                              uint8_t secret[TG_KEY_BYTES], const char *what)
{
    return root_unwrap(kr, ad, ad_len, wrapped, wrapped_len, secret, what, NULL);
}

/* ---- workspace records ---- */

int tg__ws_rec_read(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, tg__ws_rec *rec)
{
    uint8_t key[TG__KR_KEY_MAX], buf[TG__WS_REC_MAX];
    size_t klen = tg__kr_key(key, TG__KR_WORKSPACE, ws->id, ws->len, NULL, 0), n = 0;
    int rc = tg__store_get_buf(kr->store, txn, key, klen, buf, sizeof buf, &n);
    if (rc == TG_ERANGE)
        return tg__error(TG_ESTORE, "keyring: workspace record of '%s' is too long", ws->id);
    if (rc)
        return rc;
    return tg__ws_rec_decode(rec, buf, n, ws->id);
}

int tg__ws_create(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, tg__ws_meta *meta,
                  uint8_t *index_key)
{
    uint8_t ik[TG_KEY_BYTES], wk[TG_KEY_BYTES], ad[TG__KR_AD_MAX];
    uint8_t wkey[TG__KR_KEY_MAX], vkey[TG__KR_KEY_MAX];
    uint8_t wbuf[TG__WS_REC_MAX], vbuf[TG__VER_REC_MAX];
    tg__ws_rec wrec;
    tg__ver_rec vrec;
    int64_t now = tg__ctx_now(ctx);
    uint64_t epoch = tg__cache_epoch(kr->cache);
    tg_store_txn *txn = NULL;

    randombytes_buf(ik, sizeof ik);
    randombytes_buf(wk, sizeof wk);
    wrec.state = TG__WS_ACTIVE;
    wrec.primary = 1;
    wrec.created_ms = (uint64_t)now;
    vrec.state = TG__VER_ACTIVE;
    vrec.created_ms = (uint64_t)now;
    int rc = tg__root_wrap(kr, ad, tg__ad_index_key(ad, ws->id, ws->len), ik, wrec.wrapped,
                           &wrec.wrapped_len);
    if (!rc)
        rc = tg__root_wrap(kr, ad, tg__ad_ws_key(ad, ws->id, ws->len, 1), wk, vrec.wrapped,
                           &vrec.wrapped_len);
    if (rc)
        goto out;
    size_t wlen = tg__ws_rec_encode(wbuf, &wrec), vlen = tg__ver_rec_encode(vbuf, &vrec);
    size_t wklen = tg__kr_key(wkey, TG__KR_WORKSPACE, ws->id, ws->len, NULL, 0);
    size_t vklen = tg__kr_version_key(vkey, ws->id, ws->len, 1);

    if ((rc = tg__store_begin(kr->store, &txn)))
        goto out;
    rc = tg__store_insert(kr->store, txn, wkey, wklen, wbuf, wlen);
    if (!rc) {
        rc = tg__store_insert(kr->store, txn, vkey, vklen, vbuf, vlen);
        if (rc == TG_EEXISTS)
            rc = tg__error(TG_ESTORE, "keyring: workspace '%s' has a key version but no "
                                      "workspace record", ws->id);
    }
    if ((rc = tg__txn_finish(kr->store, txn, rc)))
        goto out;

    tg__cache_key ck;
    tg__cache_key_make(&ck, TG__CK_VERSION, ws->digest, NULL, 1);
    tg__cache_put(kr->cache, &ck, now, epoch, wk, NULL);
    meta->state = TG__WS_ACTIVE;
    meta->primary = 1;
    tg__env_fingerprint(meta->fp, ws->id, ws->len);
    if (index_key)
        memcpy(index_key, ik, TG_KEY_BYTES);
out:
    sodium_memzero(ik, sizeof ik);
    sodium_memzero(wk, sizeof wk);
    return rc;
}

int tg__ws_meta_get(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, int64_t now, bool create,
                    bool fresh, tg__ws_meta *meta, uint8_t *index_key, int64_t *loaded_at)
{
    tg__cache_key ck;
    uint8_t packed[TG__CACHE_META_BYTES];
    int64_t stored = now;
    tg__cache_key_make(&ck, TG__CK_WORKSPACE, ws->digest, NULL, 0);
    if (!fresh && tg__cache_get(kr->cache, &ck, now, index_key, packed, &stored)) {
        tg__ws_meta_unpack(meta, packed);
        if (loaded_at)
            *loaded_at = stored;
        return TG_OK;
    }
    if (loaded_at)
        *loaded_at = now;
    for (int attempt = 0; attempt < 3; attempt++) {
        uint64_t epoch = tg__cache_epoch(kr->cache);
        uint8_t ik[TG_KEY_BYTES] = {0}, ad[TG__KR_AD_MAX];
        tg__ws_rec rec;
        int rc = tg__ws_rec_read(kr, NULL, ws, &rec);
        if (rc == TG_OK) {
            meta->state = rec.state;
            meta->primary = rec.primary;
            tg__env_fingerprint(meta->fp, ws->id, ws->len);
            if (rec.state == TG__WS_ACTIVE)
                rc = tg__root_unwrap(kr, ad, tg__ad_index_key(ad, ws->id, ws->len), rec.wrapped,
                                     rec.wrapped_len, ik, "index key", ws);
        } else if (rc == TG_ENOTFOUND) {
            if (!create)
                return tg__error(TG_ENOTFOUND, "keyring: workspace '%s' has no keys", ws->id);
            rc = tg__ws_create(ctx, kr, ws, meta, ik);
            if (rc == TG_EEXISTS)
                continue; /* another writer created it: read theirs */
        }
        if (rc == TG_OK) {
            tg__ws_meta_pack(packed, meta);
            tg__cache_put(kr->cache, &ck, now, epoch, ik, packed);
            if (index_key)
                memcpy(index_key, ik, TG_KEY_BYTES);
        }
        sodium_memzero(ik, sizeof ik);
        return rc;
    }
    return tg__error(TG_ESTORE, "keyring: workspace '%s' was created but cannot be read", ws->id);
}

/* ---- workspace key versions ---- */

/* Reads version record `version`; EKEYVERSION / ERETIRED with a message. */
static int ver_rec_read(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws, uint32_t version,
                        tg__ver_rec *rec)
{
    uint8_t key[TG__KR_KEY_MAX], buf[TG__VER_REC_MAX];
    size_t klen = tg__kr_version_key(key, ws->id, ws->len, version), n = 0;
    int rc = tg__store_get_buf(kr->store, txn, key, klen, buf, sizeof buf, &n);
    if (rc == TG_ENOTFOUND)
        return tg__error(TG_EKEYVERSION, "keyring: workspace '%s' has no key version %u", ws->id,
                         version);
    if (rc == TG_ERANGE)
        return tg__error(TG_ESTORE, "keyring: key version record of '%s' is too long", ws->id);
    if (rc || (rc = tg__ver_rec_decode(rec, buf, n, ws->id)))
        return rc;
    if (rec->state == TG__VER_RETIRED)
        return tg__error(TG_ERETIRED, "keyring: key version %u of workspace '%s' was retired",
                         version, ws->id);
    return TG_OK;
}

int tg__ws_key_get(tg_ctx *ctx, tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws,
                   uint32_t version, uint8_t key[TG_KEY_BYTES], int64_t *loaded_at)
{
    tg__cache_key ck;
    int64_t now = tg__ctx_now(ctx);
    if (loaded_at)
        *loaded_at = now;
    tg__cache_key_make(&ck, TG__CK_VERSION, ws->digest, NULL, version);
    if (!txn && tg__cache_get(kr->cache, &ck, now, key, NULL, loaded_at))
        return TG_OK;
    if (version == 0)
        return tg__error(TG_EKEYVERSION, "keyring: workspace '%s' has no key version 0", ws->id);
    uint64_t epoch = tg__cache_epoch(kr->cache);
    uint8_t ad[TG__KR_AD_MAX];
    tg__ver_rec rec;
    int rc = ver_rec_read(kr, txn, ws, version, &rec);
    if (!rc)
        rc = tg__root_unwrap(kr, ad, tg__ad_ws_key(ad, ws->id, ws->len, version), rec.wrapped,
                             rec.wrapped_len, key, "key version", ws);
    /* Inside a transaction the version might not survive a rollback. */
    if (!rc && !txn)
        tg__cache_put(kr->cache, &ck, now, epoch, key, NULL);
    return rc;
}

/* ---- subject keys ---- */

/* Reads the subject key record of keyid. TG_ENOTFOUND if absent (no
 * message). */
static int subj_rec_read(tg_keyring *kr, tg_store_txn *txn, const tg__ws *ws,
                         const uint8_t keyid[TG__KR_ID_BYTES], tg__subj_rec *rec)
{
    uint8_t key[TG__KR_KEY_MAX], buf[TG__SUBJ_REC_MAX];
    size_t klen = tg__kr_key(key, TG__KR_SUBJECT, ws->id, ws->len, keyid, TG__KR_ID_BYTES), n = 0;
    int rc = tg__store_get_buf(kr->store, txn, key, klen, buf, sizeof buf, &n);
    if (rc == TG_ERANGE)
        return tg__error(TG_ESTORE, "keyring: subject key record of '%s' is too long", ws->id);
    if (rc)
        return rc;
    return tg__subj_rec_decode(rec, buf, n, ws->id);
}

/* A record of the workspace that decryption needs (a key version, a
 * subject key) is missing, with the failure `rc` and its message already
 * set. If the workspace was shredded meanwhile (by another instance, after
 * the metadata this context has cached was read), that is the answer:
 * reads the workspace record from the store, bypassing the cache, and
 * returns TG_ESHREDDED, purging the workspace from the cache since it is
 * known to be gone. Otherwise returns rc with its message, or the error of
 * the re-read. */
static int missing_or_shredded(tg_keyring *kr, const tg__ws *ws, int rc)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tg_ctx_errmsg(NULL));
    tg__ws_rec rec;
    int r = tg__ws_rec_read(kr, NULL, ws, &rec);
    if (r == TG_OK && rec.state == TG__WS_SHREDDED) {
        tg__cache_purge_workspace(kr->cache, ws->digest);
        return tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
    }
    if (r != TG_OK && r != TG_ENOTFOUND)
        return r;
    return tg__error(rc, "%s", msg);
}

/* Unwraps a live subject record's key. `wk` is workspace key `wk_version`;
 * a record wrapped under another version loads that one. */
static int subject_key_unwrap(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws,
                              const uint8_t keyid[TG__KR_ID_BYTES], const tg__subj_rec *rec,
                              const uint8_t wk[TG_KEY_BYTES], uint32_t wk_version,
                              uint8_t sk[TG_KEY_BYTES])
{
    uint8_t other[TG_KEY_BYTES], ad[TG__KR_AD_MAX];
    const uint8_t *wrap_key = wk;
    int rc = TG_OK;
    if (rec->version != wk_version) {
        rc = tg__ws_key_get(ctx, kr, NULL, ws, rec->version, other, NULL);
        if (rc == TG_EKEYVERSION)
            rc = missing_or_shredded(kr, ws, rc);
        if (rc == TG_ERETIRED || rc == TG_EKEYVERSION)
            rc = tg__error(TG_ESTORE, "keyring: a subject key of workspace '%s' is wrapped under "
                                      "key version %u, which is gone", ws->id, rec->version);
        wrap_key = other;
    }
    if (!rc && tg__subject_unwrap(sk, wrap_key, ad,
                                  tg__ad_subject(ad, ws->id, ws->len, keyid, rec->version),
                                  rec->wrapped, rec->wrapped_len) != TG_OK)
        rc = tg__error(TG_ESTORE, "keyring: a subject key record of workspace '%s' does not "
                                  "authenticate (corrupt store)", ws->id);
    sodium_memzero(other, sizeof other);
    return rc;
}

static int64_t oldest(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Caches the message key of (keyid, version) for decryption and, when
 * subject_digest is given, as that subject's current encryption key.
 * `stored` is when the oldest store data it depends on was read: the
 * workspace metadata, the key version (perhaps itself from the cache) or
 * the subject key record, whichever is oldest. An entry derived from a
 * cached one must not outlive it, or a version retired elsewhere would stay
 * usable here for up to two TTLs. */
static void cache_message_key(tg_keyring *kr, const tg__ws *ws, const tg__ws_meta *wm,
                              int64_t stored, uint64_t epoch, const uint8_t *subject_digest,
                              const uint8_t keyid[TG__KR_ID_BYTES], uint32_t version,
                              const uint8_t mk[TG_KEY_BYTES])
{
    tg__cache_key ck;
    uint8_t meta[TG__CACHE_META_BYTES] = {0};
    memcpy(meta + TG__M_META_FP, wm->fp, TG__ENV_FP_BYTES);
    tg__cache_key_make(&ck, TG__CK_MESSAGE, ws->digest, keyid, version);
    tg__cache_put(kr->cache, &ck, stored, epoch, mk, meta);
    if (subject_digest) {
        memset(meta, 0, sizeof meta);
        memcpy(meta + TG__E_META_KEYID, keyid, TG__KR_ID_BYTES);
        tg__put_u32(meta + TG__E_META_VERSION, version);
        memcpy(meta + TG__E_META_FP, wm->fp, TG__ENV_FP_BYTES);
        tg__cache_key_make(&ck, TG__CK_SUBJECT, ws->digest, subject_digest, 0);
        tg__cache_put(kr->cache, &ck, stored, epoch, mk, meta);
    }
}

/* Creates a subject key wrapped under `primary` (workspace key wk), mapped
 * from tag, in one transaction. TG_EEXISTS if another writer mapped the
 * subject first. */
static int subject_create(tg_keyring *kr, const tg__ws *ws,
                          const uint8_t tag[TG__KR_ID_BYTES], uint32_t primary,
                          const uint8_t wk[TG_KEY_BYTES], uint8_t keyid[TG__KR_ID_BYTES],
                          uint8_t sk[TG_KEY_BYTES])
{
    uint8_t ad[TG__KR_AD_MAX], mkey[TG__KR_KEY_MAX], skey[TG__KR_KEY_MAX], buf[TG__SUBJ_REC_MAX];
    tg__subj_rec rec;
    tg__ver_rec vrec;
    tg_store_txn *txn = NULL;

    randombytes_buf(sk, TG_KEY_BYTES);
    randombytes_buf(keyid, TG__KR_ID_BYTES);
    rec.state = TG__SUBJ_LIVE;
    rec.version = primary;
    rec.wrapped_len = TG__SUBJ_WRAPPED_BYTES;
    tg__subject_wrap(rec.wrapped, wk, ad, tg__ad_subject(ad, ws->id, ws->len, keyid, primary), sk);
    size_t len = tg__subj_rec_encode(buf, &rec);
    size_t mlen = tg__kr_key(mkey, TG__KR_MAP, ws->id, ws->len, tag, TG__KR_ID_BYTES);
    size_t slen = tg__kr_key(skey, TG__KR_SUBJECT, ws->id, ws->len, keyid, TG__KR_ID_BYTES);

    int rc = tg__store_begin(kr->store, &txn);
    if (rc)
        return rc;
    /* The version must still be live when the key lands under it: another
     * instance may have rotated and retired it meanwhile. */
    rc = ver_rec_read(kr, txn, ws, primary, &vrec);
    if (!rc)
        rc = tg__store_insert(kr->store, txn, mkey, mlen, keyid, TG__KR_ID_BYTES);
    if (!rc) {
        rc = tg__store_insert(kr->store, txn, skey, slen, buf, len);
        if (rc == TG_EEXISTS)
            rc = tg__error(TG_ESTORE, "keyring: subject key id collision in workspace '%s'",
                           ws->id);
    }
    return tg__txn_finish(kr->store, txn, rc);
}

int tg__encrypt_key(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const char *subject,
                    size_t subject_len, const uint8_t subject_digest[TG__CACHE_DIGEST_BYTES],
                    const tg__ws_meta *wm, int64_t w_loaded, uint64_t epoch,
                    uint8_t keyid[TG__KR_ID_BYTES], uint8_t mk[TG_KEY_BYTES])
{
    uint8_t ik[TG_KEY_BYTES], wk[TG_KEY_BYTES], sk[TG_KEY_BYTES];
    uint8_t tag[TG__KR_ID_BYTES], mkey[TG__KR_KEY_MAX];
    int64_t now = tg__ctx_now(ctx);
    uint32_t primary = wm->primary;
    tg__ws_meta meta;
    tg__subj_rec rec;

    int rc = tg__ws_meta_get(ctx, kr, ws, now, false, false, &meta, ik, NULL);
    if (rc == TG_OK && meta.state != TG__WS_ACTIVE)
        rc = tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
    if (rc) {
        sodium_memzero(ik, sizeof ik);
        return rc;
    }
    tg__subject_tag(tag, ik, subject, subject_len);
    sodium_memzero(ik, sizeof ik);
    int64_t wk_loaded;
    if ((rc = tg__ws_key_get(ctx, kr, NULL, ws, primary, wk, &wk_loaded)))
        return rc;

    size_t mlen = tg__kr_key(mkey, TG__KR_MAP, ws->id, ws->len, tag, TG__KR_ID_BYTES);
    rc = TG_ESTORE;
    for (int attempt = 0; attempt < 4; attempt++) {
        size_t n = 0;
        rc = tg__store_get_buf(kr->store, NULL, mkey, mlen, keyid, TG__KR_ID_BYTES, &n);
        if (rc == TG_OK && n != TG__KR_ID_BYTES)
            rc = tg__error(TG_ESTORE, "keyring: subject map entry of '%s' is corrupt", ws->id);
        else if (rc == TG_ERANGE)
            rc = tg__error(TG_ESTORE, "keyring: subject map entry of '%s' is too long", ws->id);
        if (rc == TG_OK) {
            rc = subj_rec_read(kr, NULL, ws, keyid, &rec);
            if (rc == TG_ENOTFOUND || (rc == TG_OK && rec.state != TG__SUBJ_LIVE)) {
                rc = tg__error(TG_ESTORE, "keyring: subject key of workspace '%s' vanished",
                               ws->id);
                continue; /* shredded while we looked: the map entry is going away */
            }
            if (rc == TG_OK)
                rc = subject_key_unwrap(ctx, kr, ws, keyid, &rec, wk, primary, sk);
            break;
        }
        if (rc != TG_ENOTFOUND)
            break;
        rc = subject_create(kr, ws, tag, primary, wk, keyid, sk);
        if (rc != TG_EEXISTS)
            break; /* created, or failed; on EEXISTS read the winner's key */
        rc = tg__error(TG_ESTORE, "keyring: subject key of workspace '%s' keeps changing", ws->id);
    }
    if (rc == TG_OK) {
        tg__env_message_key(mk, wk, sk);
        cache_message_key(kr, ws, wm, oldest(now, w_loaded, wk_loaded), epoch, subject_digest,
                          keyid, primary, mk);
    }
    sodium_memzero(wk, sizeof wk);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int tg__decrypt_key(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const tg__ws_meta *wm,
                    int64_t w_loaded, uint64_t epoch, const uint8_t keyid[TG__KR_ID_BYTES],
                    uint32_t version, uint8_t mk[TG_KEY_BYTES])
{
    uint8_t wk[TG_KEY_BYTES], sk[TG_KEY_BYTES];
    int64_t now = tg__ctx_now(ctx);
    tg__subj_rec rec;

    /* A missing version or subject record may mean that the workspace was
     * shredded since its metadata was cached: then say TG_ESHREDDED. */
    int64_t wk_loaded;
    int rc = tg__ws_key_get(ctx, kr, NULL, ws, version, wk, &wk_loaded);
    if (rc == TG_EKEYVERSION)
        rc = missing_or_shredded(kr, ws, rc);
    if (rc)
        return rc;
    rc = subj_rec_read(kr, NULL, ws, keyid, &rec);
    if (rc == TG_ENOTFOUND)
        rc = missing_or_shredded(kr, ws,
                                 tg__error(TG_ENOTFOUND, "keyring: the envelope's subject key is "
                                                         "unknown to workspace '%s' (forged or "
                                                         "foreign header)", ws->id));
    else if (rc == TG_OK && rec.state == TG__SUBJ_SHREDDED)
        rc = tg__error(TG_ESHREDDED, "keyring: the envelope's subject was crypto-shredded");
    else if (rc == TG_OK)
        rc = subject_key_unwrap(ctx, kr, ws, keyid, &rec, wk, version, sk);
    if (rc == TG_OK) {
        tg__env_message_key(mk, wk, sk);
        cache_message_key(kr, ws, wm, oldest(now, w_loaded, wk_loaded), epoch, NULL, keyid,
                          version, mk);
    }
    sodium_memzero(wk, sizeof wk);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int tg__txn_finish(tg_store *s, tg_store_txn *txn, int rc)
{
    if (rc) {
        tg__store_rollback(s, txn);
        return rc;
    }
    return tg__store_commit(s, txn);
}
