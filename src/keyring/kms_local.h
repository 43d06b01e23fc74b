/*
 * kms_local.h - the local key service: a 32-byte master key in guarded
 * memory, found per tg_config's precedence (master_key, master_key_path,
 * $TENANTGUARD_MASTER_KEY, "<store_path>.key" created 0600), wrapping with
 * XChaCha20-Poly1305: wrapped = nonce(24) || ciphertext || tag(16).
 */
#ifndef TG_KEYRING_KMS_LOCAL_H
#define TG_KEYRING_KMS_LOCAL_H

#include "../core/core.h"

/* Bytes a local wrap adds to the key it wraps. */
#define TG__KMS_LOCAL_OVERHEAD 40

/* Loads (or, last resort, creates) the master key into guarded memory
 * (freed with tg__secure_free). cfg->kms is not looked at. Key files must be
 * regular files owned by the effective user with mode & 077 == 0; the
 * default one must not be a symbolic link and is created atomically
 * (temporary file, fsync, link). Errors: TG_EINVAL, TG_EPERM, TG_EFORMAT
 * (wrong size, or empty), TG_ENOMEM. */
int tg__kms_local_load(uint8_t **out_master, const tg_config *cfg, const tg_allocator *a);

/* tg_kms_ops members; `user` is the master key. */
int tg__kms_local_wrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *key,
                       size_t key_len, uint8_t *out, size_t out_cap, size_t *out_len);
int tg__kms_local_unwrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                         size_t wrapped_len, uint8_t *out, size_t out_cap, size_t *out_len);

#endif
