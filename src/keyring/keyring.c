/*
 * keyring.c - the keyring's public API, and opening and closing it with a
 * context. The hot paths (encrypt and decrypt with warm keys) touch only the
 * cache: no store, no key service, no allocation.
 */
#include <string.h>

#include <sodium.h>

#include "keyring_impl.h"
#include "kms_local.h"

#define DEFAULT_CACHE_ENTRIES 4096
#define DEFAULT_CACHE_TTL_MS 60000

size_t tg_key_bytes(void) { return TG_KEY_BYTES; }
size_t tg_id_max(void) { return TG_ID_MAX; }
size_t tg_envelope_header_bytes(void) { return TG_ENVELOPE_HEADER_BYTES; }
size_t tg_envelope_overhead(void) { return TG_ENVELOPE_OVERHEAD; }
size_t tg_message_max(void) { return TG_MESSAGE_MAX; }
size_t tg_kms_wrapped_max(void) { return TG_KMS_WRAPPED_MAX; }

/* ---- open / close ---- */

static int check_kms(const tg_kms_ops *k)
{
    if (k->version < 1 || k->version > TG_KMS_VERSION)
        return tg__error(TG_EVERSION, "config: kms version %u is not supported (this library "
                                      "knows 1..%d)", k->version, TG_KMS_VERSION);
    if (k->struct_size < sizeof(tg_kms_ops))
        return tg__error(TG_EVERSION, "config: kms struct_size %u is too small (%zu needed)",
                         k->struct_size, sizeof(tg_kms_ops));
    if (!k->wrap || !k->unwrap)
        return tg__error(TG_EINVAL, "config: kms needs both wrap and unwrap");
    return TG_OK;
}

int tg__keyring_open(tg_ctx *ctx, const tg_config *cfg, struct tg_keyring **out)
{
    *out = NULL;
    const tg_allocator *a = tg__ctx_allocator(ctx);
    int rc;
    if (cfg->kms && (rc = check_kms(cfg->kms)))
        return rc;
    tg_keyring *kr = tg__calloc(a, 1, sizeof *kr);
    if (!kr)
        return TG_ENOMEM;
    kr->store = tg__ctx_store(ctx);
    kr->alloc = a;
    if (cfg->kms) {
        memcpy(&kr->kms, cfg->kms, sizeof kr->kms);
        kr->kms.struct_size = sizeof kr->kms;
    } else {
        if ((rc = tg__kms_local_load(&kr->master, cfg, a)))
            goto fail;
        kr->kms.version = TG_KMS_VERSION;
        kr->kms.struct_size = sizeof kr->kms;
        kr->kms.user = kr->master;
        kr->kms.wrap = tg__kms_local_wrap;
        kr->kms.unwrap = tg__kms_local_unwrap;
    }
    rc = tg__cache_open(&kr->cache, a,
                        cfg->key_cache_entries ? cfg->key_cache_entries : DEFAULT_CACHE_ENTRIES,
                        cfg->key_cache_ttl_ms ? cfg->key_cache_ttl_ms : DEFAULT_CACHE_TTL_MS);
    if (rc)
        goto fail;
    *out = kr;
    return TG_OK;
fail:
    tg__keyring_close(kr);
    return rc;
}

void tg__keyring_close(struct tg_keyring *kr)
{
    if (!kr)
        return;
    tg__cache_close(kr->cache);
    tg__secure_free(kr->master);
    const tg_allocator *a = kr->alloc;
    sodium_memzero(kr, sizeof *kr);
    tg__free(a, kr);
}

/* ---- argument checks ---- */

static int null_ctx(void)
{
    return tg__error(TG_EINVAL, "keyring: ctx is NULL");
}

static int ws_init(tg_keyring *kr, tg__ws *ws, const char *id)
{
    int rc = tg__check_id("workspace id", id, &ws->len);
    if (rc)
        return rc;
    ws->id = id;
    tg__cache_digest(kr->cache, ws->digest, id, ws->len);
    return TG_OK;
}

static bool overlap(const void *a, size_t a_len, const void *b, size_t b_len)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    return a_len && b_len && pa < pb + b_len && pb < pa + a_len;
}

/* ---- encrypt / decrypt ---- */

/* Encrypt without a cached key for the subject: the workspace (created on
 * first use) and the subject's key from the store. */
static int encrypt_slow(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const char *subject,
                        size_t subject_len, const uint8_t subject_digest[TG__CACHE_DIGEST_BYTES],
                        int64_t now, uint8_t keyid[TG__KR_ID_BYTES], uint32_t *version,
                        uint8_t fp[TG__ENV_FP_BYTES], uint8_t mk[TG_KEY_BYTES])
{
    tg__ws_meta wm;
    int64_t loaded;
    for (int attempt = 0;; attempt++) {
        /* Before anything is read: a purge from here on keeps what we load
         * out of the cache. */
        uint64_t epoch = tg__cache_epoch(kr->cache);
        int rc = tg__ws_meta_get(ctx, kr, ws, now, true, attempt > 0, &wm, NULL, &loaded);
        if (rc)
            return rc;
        if (wm.state != TG__WS_ACTIVE)
            return tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
        rc = tg__encrypt_key(ctx, kr, ws, subject, subject_len, subject_digest, &wm, loaded,
                             epoch, keyid, mk);
        if (rc == TG_OK) {
            *version = wm.primary;
            memcpy(fp, wm.fp, TG__ENV_FP_BYTES);
            return TG_OK;
        }
        /* Our idea of the primary is stale (another instance rotated and
         * retired it): read the workspace again, once. */
        if ((rc != TG_ERETIRED && rc != TG_EKEYVERSION) || attempt > 0)
            return rc;
    }
}

int tg_keyring_encrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                       const char *workspace_id, const char *subject_id,
                       const char *message_id, const uint8_t *plain, size_t plain_len)
{
    size_t subject_len, msg_len;
    tg__ws ws;
    int rc;
    if (out_len)
        *out_len = 0;
    if (!ctx)
        return null_ctx();
    if (!out || !out_len)
        return tg__error(TG_EINVAL, "keyring: encrypt: out and out_len must not be NULL");
    if (!plain && plain_len)
        return tg__error(TG_EINVAL, "keyring: encrypt: plain is NULL but plain_len is %zu",
                         plain_len);
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)) ||
        (rc = tg__check_id("subject id", subject_id, &subject_len)) ||
        (rc = tg__check_id("message id", message_id, &msg_len)))
        return rc;
    if (plain_len > TG_MESSAGE_MAX)
        return tg__error(TG_ERANGE, "keyring: message of %zu bytes is longer than %zu",
                         plain_len, (size_t)TG_MESSAGE_MAX);
    if (out_cap < plain_len + TG_ENVELOPE_OVERHEAD)
        return tg__error(TG_ERANGE, "keyring: encrypt needs %zu bytes of output, out_cap is %zu",
                         plain_len + TG_ENVELOPE_OVERHEAD, out_cap);
    if (overlap(out, plain_len + TG_ENVELOPE_OVERHEAD, plain, plain_len))
        return tg__error(TG_EINVAL, "keyring: encrypt: out and plain overlap");

    uint8_t subject_digest[TG__CACHE_DIGEST_BYTES], meta[TG__CACHE_META_BYTES];
    uint8_t mk[TG_KEY_BYTES], keyid[TG__KR_ID_BYTES], fp[TG__ENV_FP_BYTES];
    uint8_t nonce[TG__ENV_NONCE_BYTES];
    uint32_t version = 0;
    tg__cache_key ck;
    int64_t now = tg__ctx_now(ctx);
    tg__cache_digest(kr->cache, subject_digest, subject_id, subject_len);
    tg__cache_key_make(&ck, TG__CK_SUBJECT, ws.digest, subject_digest, 0);
    /* Hot path: one probe gives key id, primary version, fingerprint and
     * message key. The entry is no older than the workspace metadata it was
     * made from, and this context purges it on rotate, retire and shred. */
    if (tg__cache_get(kr->cache, &ck, now, mk, meta, NULL)) {
        memcpy(keyid, meta + TG__E_META_KEYID, TG__KR_ID_BYTES);
        version = tg__get_u32(meta + TG__E_META_VERSION);
        memcpy(fp, meta + TG__E_META_FP, TG__ENV_FP_BYTES);
    } else if ((rc = encrypt_slow(ctx, kr, &ws, subject_id, subject_len, subject_digest, now,
                                  keyid, &version, fp, mk))) {
        return rc;
    }
    tg__random_nonce(nonce, sizeof nonce);
    tg__env_seal(out, mk, fp, version, keyid, nonce, ws.id, ws.len, message_id, msg_len, plain,
                 plain_len);
    sodium_memzero(mk, sizeof mk);
    *out_len = plain_len + TG_ENVELOPE_OVERHEAD;
    return TG_OK;
}

/* Decrypt without a cached message key: the checks in the documented
 * order, then the keys from the store. */
static int decrypt_slow(tg_ctx *ctx, tg_keyring *kr, const tg__ws *ws, const tg__env_header *h,
                        int64_t now, uint8_t mk[TG_KEY_BYTES])
{
    uint8_t meta[TG__CACHE_META_BYTES];
    tg__ws_meta wm;
    tg__cache_key ck;
    int64_t loaded = now;
    uint64_t epoch = tg__cache_epoch(kr->cache); /* before anything is read */
    int rc;
    tg__cache_key_make(&ck, TG__CK_WORKSPACE, ws->digest, NULL, 0);
    bool cached = tg__cache_get(kr->cache, &ck, now, NULL, meta, &loaded);
    if (cached)
        tg__ws_meta_unpack(&wm, meta);
    else
        tg__env_fingerprint(wm.fp, ws->id, ws->len);
    /* The fingerprint is public: no need for a constant-time comparison. */
    if (memcmp(wm.fp, h->fp, TG__ENV_FP_BYTES) != 0)
        return tg__error(TG_EWORKSPACE, "keyring: envelope was written for another workspace");
    if (!cached) {
        rc = tg__ws_meta_get(ctx, kr, ws, now, false, true, &wm, NULL, &loaded);
        if (rc == TG_ENOTFOUND)
            return tg__error(TG_EKEYVERSION, "keyring: workspace '%s' has no keys, so no key "
                                             "version %u", ws->id, h->version);
        if (rc)
            return rc;
    }
    if (wm.state != TG__WS_ACTIVE)
        return tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws->id);
    return tg__decrypt_key(ctx, kr, ws, &wm, loaded, epoch, h->keyid, h->version, mk);
}

int tg_keyring_decrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                       const char *workspace_id, const char *message_id,
                       const uint8_t *envelope, size_t envelope_len)
{
    size_t msg_len;
    tg__ws ws;
    tg__env_header h;
    int rc;
    if (out_len)
        *out_len = 0;
    if (!ctx)
        return null_ctx();
    if (!out || !out_len || !envelope)
        return tg__error(TG_EINVAL, "keyring: decrypt: out, out_len and envelope must not be NULL");
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)) ||
        (rc = tg__check_id("message id", message_id, &msg_len)))
        return rc;
    if ((rc = tg__env_parse(&h, envelope, envelope_len)))
        return rc;
    size_t plain_len = envelope_len - TG_ENVELOPE_OVERHEAD;
    if (out_cap < plain_len)
        return tg__error(TG_ERANGE, "keyring: decrypt needs %zu bytes of output, out_cap is %zu",
                         plain_len, out_cap);
    if (overlap(out, plain_len, envelope, envelope_len))
        return tg__error(TG_EINVAL, "keyring: decrypt: out and envelope overlap");

    uint8_t meta[TG__CACHE_META_BYTES], mk[TG_KEY_BYTES];
    tg__cache_key ck;
    int64_t now = tg__ctx_now(ctx);
    /* Hot path: one probe by (workspace, key id, version). A hit means the
     * workspace, the version and the subject key were live when cached, so
     * the only checks left are the fingerprint and the AEAD. */
    tg__cache_key_make(&ck, TG__CK_MESSAGE, ws.digest, h.keyid, h.version);
    if (tg__cache_get(kr->cache, &ck, now, mk, meta, NULL)) {
        if (memcmp(meta + TG__M_META_FP, h.fp, TG__ENV_FP_BYTES) != 0) {
            sodium_memzero(mk, sizeof mk);
            return tg__error(TG_EWORKSPACE, "keyring: envelope was written for another workspace");
        }
    } else if ((rc = decrypt_slow(ctx, kr, &ws, &h, now, mk))) {
        return rc;
    }
    rc = tg__env_open(out, mk, envelope, envelope_len, ws.id, ws.len, message_id, msg_len);
    sodium_memzero(mk, sizeof mk);
    if (rc == TG_OK)
        *out_len = plain_len;
    return rc;
}

/* ---- administration ---- */

int tg_keyring_rotate(tg_ctx *ctx, uint32_t *out_version, const char *workspace_id)
{
    tg__ws ws;
    int rc;
    if (!ctx)
        return null_ctx();
    if (!out_version)
        return tg__error(TG_EINVAL, "keyring: rotate: out_version is NULL");
    *out_version = 0;
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)))
        return rc;
    return tg__admin_rotate(ctx, kr, &ws, out_version);
}

int tg_keyring_primary_version(tg_ctx *ctx, uint32_t *out_version, const char *workspace_id)
{
    tg__ws ws;
    tg__ws_meta wm;
    int rc;
    if (!ctx)
        return null_ctx();
    if (!out_version)
        return tg__error(TG_EINVAL, "keyring: primary_version: out_version is NULL");
    *out_version = 0;
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)) ||
        (rc = tg__ws_meta_get(ctx, kr, &ws, tg__ctx_now(ctx), false, false, &wm, NULL, NULL)))
        return rc;
    if (wm.state != TG__WS_ACTIVE)
        return tg__error(TG_ESHREDDED, "keyring: workspace '%s' was crypto-shredded", ws.id);
    *out_version = wm.primary;
    return TG_OK;
}

int tg_keyring_retire(tg_ctx *ctx, const char *workspace_id, uint32_t version)
{
    tg__ws ws;
    int rc;
    if (!ctx)
        return null_ctx();
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)))
        return rc;
    return tg__admin_retire(ctx, kr, &ws, version);
}

int tg_keyring_shred_subject(tg_ctx *ctx, const char *workspace_id, const char *subject_id)
{
    tg__ws ws;
    size_t subject_len;
    int rc;
    if (!ctx)
        return null_ctx();
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)) ||
        (rc = tg__check_id("subject id", subject_id, &subject_len)))
        return rc;
    return tg__admin_shred_subject(ctx, kr, &ws, subject_id, subject_len);
}

int tg_keyring_shred_workspace(tg_ctx *ctx, const char *workspace_id)
{
    tg__ws ws;
    int rc;
    if (!ctx)
        return null_ctx();
    tg_keyring *kr = tg__ctx_keyring(ctx);
    if ((rc = ws_init(kr, &ws, workspace_id)))
        return rc;
    return tg__admin_shred_workspace(ctx, kr, &ws);
}
