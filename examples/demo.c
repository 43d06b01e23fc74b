/*
 * demo.c - tenantguard in one sitting: two workspaces sharing one SQLite
 * store, each with its own keys; a cross-workspace read refused; a key
 * rotation; a person crypto-shredded; a connection rate-limited.
 *
 * Build and run: make demo (links libtenantguard.a statically).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, unsetenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tenantguard.h>

#define MSG_MAX 256

typedef struct sealed {
    const char *workspace, *subject, *message_id, *text;
    uint8_t env[MSG_MAX + TG_ENVELOPE_OVERHEAD];
    size_t env_len;
} sealed;

static void check(tg_ctx *ctx, int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, "demo: %s failed: %s (%s)\n", what, tg_strerror(rc), tg_ctx_errmsg(ctx));
        exit(1);
    }
}

static void seal(tg_ctx *ctx, sealed *m)
{
    check(ctx, tg_keyring_encrypt(ctx, m->env, sizeof m->env, &m->env_len, m->workspace,
                                  m->subject, m->message_id, (const uint8_t *)m->text,
                                  strlen(m->text)),
          "encrypt");
    uint32_t version = (uint32_t)m->env[12] << 24 | (uint32_t)m->env[13] << 16 |
                       (uint32_t)m->env[14] << 8 | m->env[15];
    printf("  %-8s %-6s %-4s \"%s\" -> %zu-byte envelope (key version %u)\n", m->workspace,
           m->subject, m->message_id, m->text, m->env_len, version);
}

/* Opens m as belonging to `workspace`; prints the text or why it failed. */
static int open_as(tg_ctx *ctx, const sealed *m, const char *workspace)
{
    char text[MSG_MAX + 1];
    size_t len = 0;
    int rc = tg_keyring_decrypt(ctx, (uint8_t *)text, MSG_MAX, &len, workspace, m->message_id,
                                m->env, m->env_len);
    if (rc == TG_OK) {
        text[len] = '\0';
        printf("  %-4s opened as %-8s -> \"%s\"\n", m->message_id, workspace, text);
    } else {
        printf("  %-4s opened as %-8s -> refused: %s (%s)\n", m->message_id, workspace,
               tg_strerror(rc), tg_ctx_errmsg(ctx));
    }
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/tenantguard-demo-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("demo: mkdtemp");
        return 1;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/store.db", dir);

    printf("tenantguard %s demo\n", tg_version_string());
    printf("store: %s (SQLite, WAL); master key: %s.key (created 0600)\n\n", path, path);

    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store_path = path;
    tg_ctx *ctx = NULL;
    /* The demo's key must come from the file next to the store, not from
     * the environment of whoever runs it. */
    unsetenv(TG_MASTER_KEY_ENV);
    check(ctx, tg_ctx_open(&ctx, &cfg), "open");

    sealed msgs[] = {
        {"acme", "alice", "m1", "Q3 numbers look good", {0}, 0},
        {"acme", "bob", "m2", "Lunch at noon?", {0}, 0},
        {"globex", "carol", "m3", "Launch moved to Friday", {0}, 0},
    };
    printf("1. Two workspaces encrypt under their own keys\n");
    for (size_t i = 0; i < 3; i++)
        seal(ctx, &msgs[i]);
    for (size_t i = 0; i < 3; i++)
        check(ctx, open_as(ctx, &msgs[i], msgs[i].workspace), "decrypt");

    printf("\n2. An acme envelope presented as globex's is refused\n");
    if (open_as(ctx, &msgs[0], "globex") != TG_EWORKSPACE)
        return 1;

    printf("\n3. acme rotates its key; old messages still open, new ones use the new version\n");
    uint32_t version = 0;
    check(ctx, tg_keyring_rotate(ctx, &version, "acme"), "rotate");
    printf("  acme primary key version is now %u\n", version);
    check(ctx, open_as(ctx, &msgs[0], "acme"), "decrypt after rotation");
    sealed later = {"acme", "alice", "m4", "Rotated and still readable", {0}, 0};
    seal(ctx, &later);
    check(ctx, open_as(ctx, &later, "acme"), "decrypt new message");

    printf("\n4. alice exercises her right to erasure: her key is crypto-shredded\n");
    check(ctx, tg_keyring_shred_subject(ctx, "acme", "alice"), "shred");
    if (open_as(ctx, &msgs[0], "acme") != TG_ESHREDDED || open_as(ctx, &later, "acme") != TG_ESHREDDED)
        return 1;
    check(ctx, open_as(ctx, &msgs[1], "acme"), "other subjects unaffected");

    printf("\n5. bob's connection sends a flurry; the limiter stops it at his burst\n");
    /* Prepared once per connection, checked once per message. */
    tg_limiter_key *conn = NULL;
    check(ctx, tg_limiter_key_new(ctx, &conn, "acme", "bob", "203.0.113.7"), "key_new");
    tg_limit_verdict v;
    tg_limit_verdict_init(&v);
    int sent = 0;
    for (; sent < 100; sent++) {
        check(ctx, tg_limiter_check_key(ctx, &v, conn, 1), "check_key");
        if (!v.allowed)
            break;
    }
    tg_limiter_key_free(conn);
    if (v.allowed)
        return 1;
    printf("  %d messages allowed, then denied by the %s limit (%u/min, burst %u): "
           "retry in %lld ms\n", sent, v.dimension == TG_LIMIT_USER ? "user" : "other",
           v.limit.per_minute, v.limit.burst, (long long)v.retry_after_ms);

    tg_ctx_close(ctx);
    char key_path[sizeof path + 8];
    snprintf(key_path, sizeof key_path, "%s.key", path);
    unlink(key_path);
    snprintf(key_path, sizeof key_path, "%s-wal", path);
    unlink(key_path);
    snprintf(key_path, sizeof key_path, "%s-shm", path);
    unlink(key_path);
    unlink(path);
    rmdir(dir);
    printf("\ndone.\n");
    return 0;
}
