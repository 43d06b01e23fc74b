/*
 * pseudonym.c - people in records are pseudonyms: "p-" and 16 random
 * bytes in hex, one per (workspace, user). The mapping lives outside the
 * chains, in two rows per person:
 *   "A" 03 L chain tag16       -> pseudonym16   (tag: keyed BLAKE2b of the
 *                                                user id, so the store
 *                                                never indexes raw ids)
 *   "A" 04 L chain pseudonym16 -> user id       (to answer who it was)
 * Erasure deletes both: the records keep a pseudonym nobody can resolve,
 * and since it was random, nobody can recompute it from the user id.
 */
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"

static void index_tag(struct tg_audit *a, const char *chain, size_t chain_len, const char *user,
                      size_t user_len, uint8_t tag[16])
{
    crypto_generichash_state st;
    uint8_t lp[2] = {(uint8_t)(chain_len >> 8), (uint8_t)chain_len};
    crypto_generichash_init(&st, TG__AUDIT_INDEX_KEY(a), crypto_generichash_KEYBYTES, 16);
    crypto_generichash_update(&st, lp, 2);
    crypto_generichash_update(&st, (const uint8_t *)chain, chain_len);
    crypto_generichash_update(&st, (const uint8_t *)user, user_len);
    crypto_generichash_final(&st, tag, 16);
}

static void render(char *out, const uint8_t p[TG__AUDIT_PSEUDONYM_BYTES])
{
    out[0] = 'p';
    out[1] = '-';
    tg__audit_hex(out + 2, p, TG__AUDIT_PSEUDONYM_BYTES);
}

/* ---- the cache ---------------------------------------------------------- */

static tg__audit_pcache_entry *pcache_slot(struct tg_audit *a, const char *chain,
                                           size_t chain_len, const char *user, size_t user_len,
                                           uint8_t id[crypto_shorthash_siphashx24_BYTES])
{
    uint8_t buf[2 + 2 * TG_ID_MAX];
    buf[0] = (uint8_t)(chain_len >> 8);
    buf[1] = (uint8_t)chain_len;
    memcpy(buf + 2, chain, chain_len);
    memcpy(buf + 2 + chain_len, user, user_len);
    crypto_shorthash_siphashx24(id, buf, 2 + chain_len + user_len, a->pcache_key);
    return &a->pcache[(id[0] | (size_t)id[1] << 8) % TG__AUDIT_PCACHE];
}

bool tg__audit_pcache_get(struct tg_audit *a, const char *chain, size_t chain_len,
                          const char *user, size_t user_len, int64_t now_ms, char *out)
{
    uint8_t id[crypto_shorthash_siphashx24_BYTES];
    tg__audit_pcache_entry *e = pcache_slot(a, chain, chain_len, user, user_len, id);
    if (e->expires_ms <= now_ms || memcmp(e->id, id, sizeof id) != 0)
        return false;
    memcpy(out, e->pseudonym, sizeof e->pseudonym);
    return true;
}

void tg__audit_pcache_put(struct tg_audit *a, const char *chain, size_t chain_len,
                          const char *user, size_t user_len, int64_t now_ms,
                          const char *pseudonym)
{
    uint8_t id[crypto_shorthash_siphashx24_BYTES];
    tg__audit_pcache_entry *e = pcache_slot(a, chain, chain_len, user, user_len, id);
    memcpy(e->id, id, sizeof id);
    memcpy(e->pseudonym, pseudonym, sizeof e->pseudonym);
    e->expires_ms = now_ms + TG__AUDIT_PCACHE_TTL_MS;
}

void tg__audit_pcache_forget(struct tg_audit *a, const char *chain, size_t chain_len,
                             const char *user, size_t user_len)
{
    uint8_t id[crypto_shorthash_siphashx24_BYTES];
    tg__audit_pcache_entry *e = pcache_slot(a, chain, chain_len, user, user_len, id);
    if (memcmp(e->id, id, sizeof id) == 0)
        memset(e, 0, sizeof *e);
}

/* ---- the store ------------------------------------------------------------ */

int tg__audit_pseudonym(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                        size_t chain_len, const char *user, size_t user_len, char *out)
{
    tg_store *store = tg__ctx_store(a->ctx);
    uint8_t tag[16], key[TG__AUDIT_KEY_MAX], rkey[TG__AUDIT_KEY_MAX];
    uint8_t p[TG__AUDIT_PSEUDONYM_BYTES];
    index_tag(a, chain, chain_len, user, user_len, tag);
    size_t klen = tg__audit_key(key, TG__AK_INDEX, chain, chain_len, tag, sizeof tag), n = 0;
    int rc = tg__store_get_buf(store, txn, key, klen, p, sizeof p, &n);
    if (rc == TG_OK && n == sizeof p) {
        render(out, p);
        return TG_OK;
    }
    if (rc == TG_OK || rc == TG_ERANGE)
        return tg__error(TG_EFORMAT, "audit: a stored pseudonym is malformed");
    if (rc != TG_ENOTFOUND)
        return rc;
    randombytes_buf(p, sizeof p);
    size_t rlen = tg__audit_key(rkey, TG__AK_REVERSE, chain, chain_len, p, sizeof p);
    rc = tg__store_insert(store, txn, key, klen, p, sizeof p);
    if (rc == TG_OK)
        rc = tg__store_put(store, txn, rkey, rlen, (const uint8_t *)user, user_len);
    if (rc == TG_OK)
        render(out, p);
    return rc;
}

int tg__audit_pseudonym_find(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                             size_t chain_len, const char *user, size_t user_len, char *out)
{
    uint8_t tag[16], key[TG__AUDIT_KEY_MAX], p[TG__AUDIT_PSEUDONYM_BYTES];
    index_tag(a, chain, chain_len, user, user_len, tag);
    size_t klen = tg__audit_key(key, TG__AK_INDEX, chain, chain_len, tag, sizeof tag), n = 0;
    int rc = tg__store_get_buf(tg__ctx_store(a->ctx), txn, key, klen, p, sizeof p, &n);
    if (rc == TG_OK && n == sizeof p)
        render(out, p);
    else if (rc == TG_OK || rc == TG_ERANGE)
        rc = tg__error(TG_EFORMAT, "audit: a stored pseudonym is malformed");
    return rc;
}

static int erase(struct tg_audit *a, tg_store_txn *txn, const char *chain, size_t len,
                 void *arg)
{
    const char *user = arg;
    tg_store *store = tg__ctx_store(a->ctx);
    uint8_t tag[16], key[TG__AUDIT_KEY_MAX], rkey[TG__AUDIT_KEY_MAX];
    uint8_t p[TG__AUDIT_PSEUDONYM_BYTES];
    index_tag(a, chain, len, user, strlen(user), tag);
    size_t klen = tg__audit_key(key, TG__AK_INDEX, chain, len, tag, sizeof tag), n = 0;
    int rc = tg__store_get_buf(store, txn, key, klen, p, sizeof p, &n);
    if (rc == TG_ENOTFOUND)
        return tg__error(TG_ENOTFOUND, "audit: workspace '%.*s' has no pseudonym for that user",
                         (int)len, chain);
    if (rc == TG_OK && n != sizeof p)
        return tg__error(TG_EFORMAT, "audit: a stored pseudonym is malformed");
    if (rc != TG_OK)
        return rc;
    size_t rlen = tg__audit_key(rkey, TG__AK_REVERSE, chain, len, p, sizeof p);
    tg__audit_pcache_forget(a, chain, len, user, strlen(user));
    rc = tg__store_del(store, txn, key, klen);
    if (rc == TG_OK)
        rc = tg__store_del(store, txn, rkey, rlen);
    return rc;
}

int tg_audit_erase_subject(tg_ctx *ctx, const char *workspace, const char *user)
{
    size_t user_len;
    int rc = tg__check_id("user id", user, &user_len);
    if (rc == TG_OK)
        rc = tg__audit_run(ctx, workspace, true, erase, (void *)user);
    if (rc == TG_OK)
        (void)tg__store_purge_freed(tg__ctx_store(ctx)); /* best effort: store_internal.h */
    return rc;
}
