/*
 * keys.c - the audit secret: 32 random bytes made with the store's first
 * audit record, kept wrapped by the keyring's root key at "A" 00, from
 * which the Ed25519 checkpoint key and the pseudonym index key are
 * derived (crypto_kdf, context "tgaudit_", ids 1 and 2). Several contexts
 * sharing a store agree on it: creation is an insert-if-absent.
 */
#include <string.h>

#include "../keyring/keyring_internal.h"
#include "../store/store_internal.h"
#include "audit_impl.h"

static const uint8_t secret_ad[] = "tenantguard/audit-secret/v1";

enum { SUBKEY_SIGNING = 1, SUBKEY_INDEX = 2 };

static int derive(struct tg_audit *a, const uint8_t secret[TG_KEY_BYTES])
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    crypto_kdf_derive_from_key(seed, sizeof seed, SUBKEY_SIGNING, "tgaudit_", secret);
    crypto_sign_seed_keypair(a->public_key, TG__AUDIT_SK(a), seed);
    sodium_memzero(seed, sizeof seed);
    crypto_kdf_derive_from_key(TG__AUDIT_INDEX_KEY(a), crypto_generichash_KEYBYTES,
                               SUBKEY_INDEX, "tgaudit_", secret);
    a->keys_loaded = true;
    return TG_OK;
}

/* Unwraps a stored secret record: u8 format | wrapped bytes. */
static int unwrap(struct tg_audit *a, const uint8_t *value, size_t len,
                  uint8_t secret[TG_KEY_BYTES])
{
    if (len < 2 || value[0] != TG__AUDIT_FORMAT)
        return tg__error(TG_EFORMAT, "audit: the stored audit secret is malformed");
    return tg__keyring_unwrap_secret(tg__ctx_keyring(a->ctx), secret_ad, sizeof secret_ad - 1,
                                     value + 1, len - 1, secret, "audit secret");
}

int tg__audit_keys(struct tg_audit *a, bool create)
{
    tg_store_txn *txn = NULL; /* each store call commits on its own */
    if (a->keys_loaded)
        return TG_OK;
    tg_store *store = tg__ctx_store(a->ctx);
    uint8_t key[4], value[1 + TG_KMS_WRAPPED_MAX], secret[TG_KEY_BYTES];
    size_t klen = tg__audit_key(key, TG__AK_SECRET, NULL, 0, NULL, 0), n = 0;
    int rc = tg__store_get_buf(store, txn, key, klen, value, sizeof value, &n);
    if (rc == TG_ENOTFOUND && !create)
        return tg__error(TG_ENOTFOUND, "audit: this store has no audit key yet (it is made "
                                       "with the first record)");
    if (rc == TG_ENOTFOUND) {
        randombytes_buf(secret, sizeof secret);
        value[0] = TG__AUDIT_FORMAT;
        rc = tg__keyring_wrap_secret(tg__ctx_keyring(a->ctx), secret_ad, sizeof secret_ad - 1,
                                     secret, value + 1, &n);
        if (rc == TG_OK)
            rc = tg__store_insert(store, txn, key, klen, value, n + 1);
        if (rc == TG_OK)
            rc = derive(a, secret);
        else if (rc == TG_EEXISTS) /* another context made it first: use theirs */
            rc = tg__store_get_buf(store, txn, key, klen, value, sizeof value, &n);
        if (rc != TG_OK || a->keys_loaded) {
            sodium_memzero(secret, sizeof secret);
            return rc;
        }
    } else if (rc == TG_ERANGE) {
        return tg__error(TG_EFORMAT, "audit: the stored audit secret is too long");
    } else if (rc != TG_OK) {
        return rc;
    }
    rc = unwrap(a, value, n, secret);
    if (rc == TG_OK)
        rc = derive(a, secret);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int tg_audit_public_key(tg_ctx *ctx, uint8_t out[TG_AUDIT_PUBLIC_KEY_BYTES])
{
    if (!ctx || !out)
        return tg__error(TG_EINVAL, "audit: NULL argument");
    struct tg_audit *a = tg__ctx_audit(ctx);
    pthread_mutex_lock(&a->lock);
    int rc = tg__audit_keys(a, false);
    if (rc == TG_OK)
        memcpy(out, a->public_key, TG_AUDIT_PUBLIC_KEY_BYTES);
    pthread_mutex_unlock(&a->lock);
    return rc;
}
