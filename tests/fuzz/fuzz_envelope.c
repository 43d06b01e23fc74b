/*
 * fuzz_envelope.c - libFuzzer target for envelope parsing and opening.
 *
 * Each input is tried twice against one context (opened on first use, on a
 * memory store with a fixed master key, holding a few real envelopes):
 *   1. as a whole envelope of workspace "acme", message "m1";
 *   2. spliced: data[0] picks a real envelope, data[1] how many of its first
 *      bytes to keep, and data[2..] follows them, opened with that
 *      envelope's workspace and message id. This reaches the paths behind a
 *      valid header (key lookup, retired and shredded keys, the AEAD).
 * Any result other than the documented decrypt errors aborts, and so does a
 * success that returns other bytes than were sealed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenantguard.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed {
    const char *ws, *subject, *msg_id;
    size_t plain_len;
    uint8_t plain[200];
    uint8_t env[200 + TG_ENVELOPE_OVERHEAD];
    size_t env_len;
} seed;

static seed seeds[] = {
    {"acme", "alice", "m1", 5, "hello", {0}, 0},      /* key version 1 */
    {"acme", "bob", "m2", 0, "", {0}, 0},             /* version 2, empty */
    {"globex", "carol", "m3", 200, "", {0}, 0},       /* another workspace */
    {"acme", "eve", "m4", 7, "shredme", {0}, 0},      /* subject shredded */
    {"old", "frank", "m5", 7, "retired", {0}, 0},     /* version retired */
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

static tg_ctx *ctx;

static void die(const char *what, int rc)
{
    fprintf(stderr, "fuzz_envelope: %s: %s (%s)\n", what, tg_strerror(rc), tg_ctx_errmsg(NULL));
    abort();
}

static void seal(seed *s)
{
    int rc = tg_keyring_encrypt(ctx, s->env, sizeof s->env, &s->env_len, s->ws, s->subject,
                                s->msg_id, s->plain, s->plain_len);
    if (rc)
        die("seed encrypt", rc);
}

static void init(void)
{
    static const uint8_t master[32] = "fuzz-master-key-not-for-prod-32b";
    tg_store *store = NULL;
    tg_config cfg;
    uint32_t v;
    int rc = tg_store_open_memory(&store);
    if (rc)
        die("store", rc);
    tg_config_init(&cfg);
    cfg.store = store; /* both live for the whole process */
    cfg.master_key = master;
    if ((rc = tg_ctx_open(&ctx, &cfg)))
        die("open", rc);
    for (size_t i = 0; i < 200; i++)
        seeds[2].plain[i] = (uint8_t)i;
    seal(&seeds[0]);
    if ((rc = tg_keyring_rotate(ctx, &v, "acme")))
        die("rotate", rc);
    seal(&seeds[1]);
    seal(&seeds[2]);
    seal(&seeds[3]);
    if ((rc = tg_keyring_shred_subject(ctx, "acme", "eve")))
        die("shred", rc);
    seal(&seeds[4]);
    if ((rc = tg_keyring_rotate(ctx, &v, "old")) || (rc = tg_keyring_retire(ctx, "old", 1)))
        die("retire", rc);
}

static void try_open(const char *ws, const char *msg_id, const uint8_t *env, size_t len,
                     const seed *expect)
{
    size_t cap = len > TG_ENVELOPE_OVERHEAD ? len - TG_ENVELOPE_OVERHEAD : 1;
    uint8_t *out = malloc(cap);
    size_t out_len = 0;
    if (!out)
        abort();
    int rc = tg_keyring_decrypt(ctx, out, cap, &out_len, ws, msg_id, env, len);
    switch (rc) {
    case TG_OK:
        if (out_len != len - TG_ENVELOPE_OVERHEAD)
            die("decrypt returned a wrong length", rc);
        /* Only an untouched real envelope may open. */
        if (!expect || out_len != expect->plain_len || memcmp(out, expect->plain, out_len) != 0)
            die("decrypt opened a changed envelope", rc);
        break;
    case TG_EFORMAT: case TG_EVERSION: case TG_EWORKSPACE: case TG_EKEYVERSION:
    case TG_ERETIRED: case TG_ESHREDDED: case TG_ENOTFOUND: case TG_EAUTH:
        if (!tg_ctx_errmsg(ctx)[0])
            die("error without a message", rc);
        break;
    default:
        die("unexpected decrypt result", rc);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        init();
    /* 1. The input as it is. Only a byte-exact copy of seed 0 can open. */
    bool is_seed0 = size == seeds[0].env_len && memcmp(data, seeds[0].env, size) == 0;
    try_open("acme", "m1", data, size, is_seed0 ? &seeds[0] : NULL);

    /* 2. A real envelope's first bytes, then the input. */
    if (size < 2)
        return 0;
    const seed *s = &seeds[data[0] % NSEEDS];
    size_t keep = data[1] % (s->env_len + 1), rest = size - 2;
    uint8_t *env = malloc(keep + rest + 1);
    if (!env)
        abort();
    memcpy(env, s->env, keep);
    memcpy(env + keep, data + 2, rest);
    bool exact = keep + rest == s->env_len && memcmp(env, s->env, s->env_len) == 0;
    try_open(s->ws, s->msg_id, env, keep + rest, exact ? s : NULL);
    free(env);
    return 0;
}
