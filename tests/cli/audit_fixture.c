/*
 * audit_fixture.c - makes audit data for the tests of the command and the
 * fuzz corpus. test_cli_audit.sh compiles it against the static library.
 *
 *   audit_fixture store PATH N [WORKSPACE]
 *       appends N events (checkpoint every 10) to WORKSPACE's chain (the
 *       system chain without it) in the SQLite store PATH, whose master key
 *       is PATH.key (created if missing, unless $TENANTGUARD_MASTER_KEY is
 *       set). Every 5th event is a message.blocked by user-1, denied; the
 *       others message.sent by user-0 or user-2. Times are 1000 ms apart
 *       from 1700000000000.
 *   audit_fixture corpus DIR
 *       writes the seed exports of tests/fuzz/corpus/audit/ into DIR and
 *       prints the public key they are signed with (fuzz_audit.c pins it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenantguard.h>

static int64_t now_ms = 1700000000000LL;

static int64_t clock_read(void *user)
{
    (void)user;
    return now_ms;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "audit_fixture: %s: %s (%s)\n", what, tg_strerror(rc), tg_ctx_errmsg(NULL));
    exit(1);
}

static tg_ctx *open_ctx(const char *path, tg_store *store)
{
    static const uint8_t master[32] = "audit-fixture-master-key-32bytes";
    tg_config cfg;
    tg_audit_options ao;
    tg_config_init(&cfg);
    tg_audit_options_init(&ao);
    ao.checkpoint_interval = 10;
    cfg.audit = &ao;
    cfg.clock = clock_read;
    cfg.store_path = path;
    cfg.store = store;
    if (store)
        cfg.master_key = master;
    tg_ctx *ctx;
    int rc = tg_ctx_open(&ctx, &cfg);
    if (rc != TG_OK)
        die("open", rc);
    return ctx;
}

static void append(tg_ctx *ctx, const char *ws, int n, const char *details)
{
    for (int i = 1; i <= n; i++) {
        tg_audit_event e;
        tg_audit_event_init(&e);
        e.workspace = ws;
        e.actor_ip = i % 2 ? "203.0.113.77" : "2001:db8:5::1";
        if (i % 5 == 0) {
            e.actor = "user-1";
            e.action = TG_AUDIT_MESSAGE_BLOCKED;
            e.outcome = TG_AUDIT_DENIED;
            e.severity = TG_AUDIT_HIGH;
        } else {
            e.actor = i % 2 ? "user-0" : "user-2";
            e.action = TG_AUDIT_MESSAGE_SENT;
        }
        e.target = "msg-0001";
        e.details = details ? details : "{\"bytes\":280,\"findings\":0}";
        now_ms += 1000;
        int rc = tg_audit_append(ctx, &e, NULL);
        if (rc != TG_OK)
            die("append", rc);
    }
}

typedef struct file_sink {
    FILE *f;
} file_sink;

static int to_file(void *user, const char *line, size_t len)
{
    return fwrite(line, 1, len, ((file_sink *)user)->f) == len ? TG_OK : TG_ESTORE;
}

static void export_to(tg_ctx *ctx, const char *ws, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    file_sink s = {fopen(path, "wb")};
    if (!s.f) {
        perror(path);
        exit(1);
    }
    int rc = tg_audit_export(ctx, ws, to_file, &s);
    if (rc != TG_OK)
        die("export", rc);
    fclose(s.f);
}

static int corpus(const char *dir)
{
    tg_store *store;
    int rc = tg_store_open_memory(&store);
    if (rc != TG_OK)
        die("store", rc);
    tg_ctx *ctx = open_ctx(NULL, store);
    append(ctx, NULL, 3, NULL);
    export_to(ctx, NULL, dir, "valid-system-3");
    append(ctx, "acme", 12, NULL);
    export_to(ctx, "acme", dir, "valid-acme-12");
    append(ctx, "odd", 4,
           "{\"s\":\"\\u0001 \\\"q\\\" \\u00e9 \\ud83d\\ude00\",\"n\":[1.5e300,-0,{}],\"d\":1,\"d\":2}");
    export_to(ctx, "odd", dir, "valid-odd-details");
    append(ctx, "pruned", 25, NULL);
    uint64_t n;
    if ((rc = tg_audit_prune(ctx, "pruned", now_ms - 3500, &n)) != TG_OK)
        die("prune", rc);
    append(ctx, "pruned", 2, NULL);
    export_to(ctx, "pruned", dir, "valid-anchor");
    uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES];
    if ((rc = tg_audit_public_key(ctx, pk)) != TG_OK)
        die("public key", rc);
    for (size_t i = 0; i < sizeof pk; i++)
        printf("%02x", pk[i]);
    printf("\n");
    tg_ctx_close(ctx);
    tg_store_close(store);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "corpus") == 0)
        return corpus(argv[2]);
    if ((argc != 4 && argc != 5) || strcmp(argv[1], "store") != 0) {
        fprintf(stderr, "usage: audit_fixture store PATH N [WORKSPACE] | corpus DIR\n");
        return 2;
    }
    tg_ctx *ctx = open_ctx(argv[2], NULL);
    append(ctx, argc == 5 ? argv[4] : NULL, atoi(argv[3]), NULL);
    tg_ctx_close(ctx);
    return 0;
}
