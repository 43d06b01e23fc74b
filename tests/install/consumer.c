/* consumer.c - a program built against an installed tenantguard through
 * pkg-config (shared and static) by `make check-install`. It checks that the
 * headers and library agree and that a round trip works. */
#include <stdio.h>
#include <string.h>

#include <tenantguard.h>

int main(void)
{
    if (tg_version_number() != TG_VERSION_NUMBER ||
        strcmp(tg_version_string(), TG_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s but library %s\n", TG_VERSION_STRING,
                tg_version_string());
        return 1;
    }
    static const uint8_t key[TG_KEY_BYTES] = {1, 2, 3};
    tg_store *store = NULL;
    tg_ctx *ctx = NULL;
    tg_config cfg;
    tg_config_init(&cfg);
    int rc = tg_store_open_memory(&store);
    if (rc == TG_OK) {
        cfg.store = store;
        cfg.master_key = key;
        rc = tg_ctx_open(&ctx, &cfg);
    }
    uint8_t env[64 + TG_ENVELOPE_OVERHEAD], plain[64];
    size_t env_len = 0, plain_len = 0;
    if (rc == TG_OK)
        rc = tg_keyring_encrypt(ctx, env, sizeof env, &env_len, "ws", "alice", "m1",
                                (const uint8_t *)"hello", 5);
    if (rc == TG_OK)
        rc = tg_keyring_decrypt(ctx, plain, sizeof plain, &plain_len, "ws", "m1", env, env_len);
    if (rc == TG_OK && (plain_len != 5 || memcmp(plain, "hello", 5) != 0))
        rc = TG_EINTERNAL;
    if (rc != TG_OK)
        fprintf(stderr, "consumer: %s: %s\n", tg_strerror(rc), tg_ctx_errmsg(ctx));
    tg_ctx_close(ctx);
    tg_store_close(store);
    if (rc == TG_OK)
        printf("consumer: tenantguard %s round trip ok\n", tg_version_string());
    return rc == TG_OK ? 0 : 1;
}
