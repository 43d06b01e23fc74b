/*
 * tenantguard/keyring.h - per-workspace keys and message encryption.
 *
 * Key hierarchy: the root key (tg_kms_ops or the local master key) wraps
 * each workspace's key versions; a workspace key wraps one key per data
 * subject (the person a message belongs to). A message is encrypted with
 * XChaCha20-Poly1305 under a key derived from its subject key and the
 * workspace key version that was primary when it was written, with the
 * workspace id, the message id and the envelope header bound as associated
 * data. docs/ENVELOPE.md specifies the envelope byte by byte.
 *
 *  - Rotation makes a new primary version and rewraps the subject keys;
 *    messages are untouched and older versions still decrypt them.
 *  - Retiring a version destroys it: messages written under it no longer
 *    decrypt (TG_ERETIRED).
 *  - Shredding a subject destroys that person's key: all their messages are
 *    unreadable (TG_ESHREDDED). Shredding a workspace destroys all its keys.
 *
 * A workspace's keys are created on its first encryption. Identifiers
 * (workspace, subject, message) are NUL-terminated UTF-8 strings of 1 to
 * TG_ID_MAX bytes without control characters.
 *
 * Besides the errors listed with each function, any of them may return
 * TG_ESTORE (the store failed, or holds a corrupt keyring record),
 * TG_EVERSION (the store holds a keyring record in a newer record format,
 * written by a newer tenantguard), TG_EKMS (the key service or master key
 * cannot wrap or unwrap a key: wrong master key, KMS down), TG_ECALLBACK (a
 * host key service or store broke its contract) and TG_ENOMEM.
 *
 * All functions are thread-safe on a shared tg_ctx. Unwrapped keys are
 * cached (see tg_config) in guarded memory. Rotation, retirement and
 * shredding take effect at once in the context that makes them; other
 * contexts sharing the store see them when their cached keys expire
 * (key_cache_ttl_ms), so until then they may still decrypt what was
 * shredded elsewhere (docs/ENVELOPE.md).
 */
#ifndef TENANTGUARD_KEYRING_H
#define TENANTGUARD_KEYRING_H

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_KEY_BYTES 32
#define TG_ID_MAX 255
#define TG_ENVELOPE_HEADER_BYTES 56
#define TG_ENVELOPE_OVERHEAD 72 /* header + 16-byte authentication tag */
#define TG_MESSAGE_MAX (TG_STORE_VALUE_MAX - TG_ENVELOPE_OVERHEAD)
TG_API size_t tg_key_bytes(void);
TG_API size_t tg_id_max(void);
TG_API size_t tg_envelope_header_bytes(void);
TG_API size_t tg_envelope_overhead(void);
TG_API size_t tg_message_max(void);

/*
 * Encrypts `plain` for `subject_id` in `workspace_id`, binding `message_id`.
 * Writes plain_len + TG_ENVELOPE_OVERHEAD bytes to `out` and that length to
 * *out_len. plain may be NULL when plain_len is 0.
 * Errors:
 *   TG_EINVAL      a bad id or argument, or `out` (its first
 *                  plain_len + TG_ENVELOPE_OVERHEAD bytes) overlaps `plain`
 *   TG_ERANGE      out_cap too small, or plain_len > TG_MESSAGE_MAX
 *   TG_ESHREDDED   the workspace was shredded
 *   TG_ERETIRED, TG_EKEYVERSION
 *                  the primary version this context had cached was rotated
 *                  away and retired (or removed) by another instance, and
 *                  re-reading the workspace once did not settle it (it kept
 *                  changing); retrying the call is safe
 *   TG_ESTORE, TG_EVERSION, TG_EKMS, TG_ECALLBACK, TG_ENOMEM (see above)
 */
TG_API int tg_keyring_encrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                              const char *workspace_id, const char *subject_id,
                              const char *message_id, const uint8_t *plain,
                              size_t plain_len);

/*
 * Decrypts an envelope read as belonging to `workspace_id` and
 * `message_id`. Writes env_len - TG_ENVELOPE_OVERHEAD bytes to `out`.
 * No plaintext is written to `out` unless the envelope authenticates: on
 * TG_EAUTH those bytes of `out` are zeroed, on other errors `out` is
 * untouched.
 * Errors, each for its own cause:
 *   TG_EINVAL      a bad id or NULL argument, or `out` (its first
 *                  envelope_len - TG_ENVELOPE_OVERHEAD bytes) overlaps
 *                  `envelope`
 *   TG_EFORMAT     truncated, or not a tenantguard envelope
 *   TG_EVERSION    envelope format or algorithm this build does not know;
 *                  also a keyring record in the store in a newer record
 *                  format (the message says which: "the envelope has
 *                  format version ..." or "the store holds a keyring record
 *                  newer than this library ...")
 *   TG_EWORKSPACE  the envelope was written for another workspace
 *   TG_EKEYVERSION its workspace key version does not exist
 *   TG_ERETIRED    its key version was retired
 *   TG_ESHREDDED   its subject (or the whole workspace) was shredded; also
 *                  when another instance shredded the workspace and a key
 *                  record the envelope needs is gone, even while this
 *                  context's cached workspace metadata is still fresh
 *   TG_ENOTFOUND   its subject key is unknown (forged header)
 *   TG_EAUTH       authentication failed: the envelope, the message id or
 *                  the workspace id does not match what was encrypted
 *   TG_ERANGE      out_cap too small
 *   TG_ESTORE, TG_EKMS, TG_ECALLBACK, TG_ENOMEM (see above)
 */
TG_API int tg_keyring_decrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                              const char *workspace_id, const char *message_id,
                              const uint8_t *envelope, size_t envelope_len);

/*
 * Makes a new primary key version for the workspace (creating the
 * workspace's keys if it has none) and rewraps every subject key under it,
 * in one store transaction. Writes the new version to *out_version.
 * Errors: TG_EINVAL, TG_ESHREDDED, TG_ESTORE, TG_EKMS, TG_ENOMEM.
 */
TG_API int tg_keyring_rotate(tg_ctx *ctx, uint32_t *out_version, const char *workspace_id);

/* Current primary key version of a workspace. TG_ENOTFOUND if the workspace
 * has no keys yet, TG_ESHREDDED if they were shredded. */
TG_API int tg_keyring_primary_version(tg_ctx *ctx, uint32_t *out_version,
                                      const char *workspace_id);

/*
 * Retires (destroys) a non-primary key version: messages written under it
 * become unreadable (TG_ERETIRED). Subject keys still wrapped under it are
 * rewrapped first, in the same transaction.
 * Errors: TG_EINVAL (primary version, version 0), TG_EKEYVERSION (no such
 * version), TG_ERETIRED (already retired), TG_ESHREDDED, TG_ESTORE.
 */
TG_API int tg_keyring_retire(tg_ctx *ctx, const char *workspace_id, uint32_t version);

/*
 * Crypto-shreds one data subject: their key is destroyed, so every message
 * encrypted for them is unreadable from now on; later messages for the same
 * subject get a new key. The store is then asked to make the old key bytes
 * unrecoverable from its files (best effort; copies taken before, such as
 * backups, still hold the key: docs/ENVELOPE.md, "Erasure").
 * Errors: TG_EINVAL, TG_ENOTFOUND (no key for that subject), TG_ESHREDDED
 * (workspace shredded), TG_ESTORE.
 */
TG_API int tg_keyring_shred_subject(tg_ctx *ctx, const char *workspace_id,
                                    const char *subject_id);

/*
 * Crypto-shreds a whole workspace: all its key versions and subject keys
 * are destroyed and the workspace can no longer encrypt or decrypt.
 * Errors: TG_EINVAL, TG_ENOTFOUND (no keys), TG_ESHREDDED (already), TG_ESTORE.
 */
TG_API int tg_keyring_shred_workspace(tg_ctx *ctx, const char *workspace_id);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_KEYRING_H */
