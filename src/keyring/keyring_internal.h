/* keyring_internal.h - what the context needs from the keyring module. */
#ifndef TG_KEYRING_INTERNAL_H
#define TG_KEYRING_INTERNAL_H

#include "../core/core.h"
#include "tenantguard/keyring.h"

struct tg_keyring;

/* Sets up the root key (per cfg's precedence) and the key cache. */
int tg__keyring_open(tg_ctx *ctx, const tg_config *cfg, struct tg_keyring **out);
/* Wipes and frees everything; accepts NULL. */
void tg__keyring_close(struct tg_keyring *kr);

/* Wrap and unwrap another module's 32-byte secret with the root key (the
 * KMS or the master key), bound to the associated data `ad`. `what` names
 * the secret in errors. Wrapped forms are at most TG_KMS_WRAPPED_MAX. */
int tg__keyring_wrap_secret(struct tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                            const uint8_t secret[TG_KEY_BYTES], uint8_t *out, size_t *out_len);
int tg__keyring_unwrap_secret(struct tg_keyring *kr, const uint8_t *ad, size_t ad_len,
                              const uint8_t *wrapped, size_t wrapped_len,
                              uint8_t secret[TG_KEY_BYTES], const char *what);

#endif
