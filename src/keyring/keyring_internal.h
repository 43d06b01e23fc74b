/* keyring_internal.h - what the context needs from the keyring module. */
#ifndef TG_KEYRING_INTERNAL_H
#define TG_KEYRING_INTERNAL_H

#include "../core/core.h"

struct tg_keyring;

/* Sets up the root key (per cfg's precedence) and the key cache. */
int tg__keyring_open(tg_ctx *ctx, const tg_config *cfg, struct tg_keyring **out);
/* Wipes and frees everything; accepts NULL. */
void tg__keyring_close(struct tg_keyring *kr);

#endif
