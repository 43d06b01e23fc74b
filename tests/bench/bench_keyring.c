/*
 * bench_keyring.c - encrypt + decrypt of a 1 KiB message with a warm key
 * cache, against bare libsodium XChaCha20-Poly1305 sealing and opening the
 * same buffer (fixed key and nonce, no associated data: the floor).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench.h"
#include "support.h"

#define MSG_BYTES 1024

typedef struct keyring_arg {
    tg_ctx *ctx;
    uint8_t plain[MSG_BYTES];
    uint8_t env[MSG_BYTES + TG_ENVELOPE_OVERHEAD];
    uint8_t out[MSG_BYTES];
} keyring_arg;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_keyring: %s: %s: %s\n", what, tg_strerror(rc), tg_ctx_errmsg(NULL));
    exit(1);
}

static void keyring_round_trip(void *p, uint64_t i)
{
    keyring_arg *a = p;
    size_t env_len, out_len;
    (void)i;
    int rc = tg_keyring_encrypt(a->ctx, a->env, sizeof a->env, &env_len, "workspace-1",
                                "user-42", "message-id-0001", a->plain, sizeof a->plain);
    if (rc == TG_OK)
        rc = tg_keyring_decrypt(a->ctx, a->out, sizeof a->out, &out_len, "workspace-1",
                                "message-id-0001", a->env, env_len);
    if (rc != TG_OK)
        die("round trip", rc);
}

typedef struct bare_arg {
    uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t plain[MSG_BYTES];
    uint8_t sealed[MSG_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES];
    uint8_t out[MSG_BYTES];
} bare_arg;

static void bare_round_trip(void *p, uint64_t i)
{
    bare_arg *a = p;
    unsigned long long sealed_len;
    (void)i;
    crypto_aead_xchacha20poly1305_ietf_encrypt(a->sealed, &sealed_len, a->plain, MSG_BYTES,
                                               NULL, 0, NULL, a->nonce, a->key);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(a->out, NULL, NULL, a->sealed, sealed_len,
                                                   NULL, 0, a->nonce, a->key) != 0)
        die("bare round trip", TG_EAUTH);
}

int main(void)
{
    if (sodium_init() < 0)
        die("sodium_init", TG_ECRYPTO);
    static keyring_arg ka;
    static bare_arg ba;
    randombytes_buf(ka.plain, sizeof ka.plain);
    memcpy(ba.plain, ka.plain, sizeof ba.plain);
    randombytes_buf(ba.key, sizeof ba.key);
    randombytes_buf(ba.nonce, sizeof ba.nonce);

    ka.ctx = tgt_ctx_memory(NULL);
    if (!ka.ctx)
        die("open", TG_EINTERNAL);
    keyring_round_trip(&ka, 0); /* creates the keys and warms the cache */

    bench_case c = {"keyring_encrypt_decrypt_1k", keyring_round_trip, &ka, NULL};
    bench_case b = {"libsodium_xchacha20poly1305_1k", bare_round_trip, &ba, NULL};
    bench_plan plan = {.batch = 16, .samples = 2000, .runs = 7};
    bench_compare(&c, &b, &plan, "\"bytes\":1024,\"target_ratio_max\":1.3", NULL);
    tgt_ctx_close(ka.ctx);
    return 0;
}
