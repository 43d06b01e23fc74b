/*
 * test_keyring_threads.c - one context shared by several threads: workers
 * encrypt and decrypt across workspaces and subjects (and open each
 * other's envelopes) while another thread rotates the workspaces' keys and
 * a third creates and shreds subjects in a workspace of its own. Every
 * decrypt must round-trip. Built for ThreadSanitizer too:
 *   make CC=clang SANITIZE=thread lib/.build-thread/tests/test_keyring_threads
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define WORKERS 4
#define ROUNDS 1000
#define SLOTS 64
#define TEXT_MAX 64

static const char *const WORKSPACES[] = {"acme", "globex", "initech"};
static const char *const SUBJECTS[] = {"alice", "bob", "carol", "dave", "erin"};

typedef struct slot {
    char ws[16], msg_id[32], text[TEXT_MAX];
    uint8_t env[TEXT_MAX + TG_ENVELOPE_OVERHEAD];
    size_t env_len;
    bool full;
} slot;

typedef struct shared {
    tg_ctx *ctx;
    pthread_mutex_t lock;
    slot slots[SLOTS];
    atomic_int workers_left;
    atomic_int failures;
    atomic_int rotations;
} shared;

static void failure(shared *s, const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, tg_strerror(rc), tg_ctx_errmsg(s->ctx));
    atomic_fetch_add(&s->failures, 1);
}

static void open_and_check(shared *s, const char *ws, const char *msg_id, const uint8_t *env,
                           size_t env_len, const char *text)
{
    uint8_t out[TEXT_MAX];
    size_t out_len = 0;
    int rc = tg_keyring_decrypt(s->ctx, out, sizeof out, &out_len, ws, msg_id, env, env_len);
    if (rc != TG_OK)
        failure(s, "decrypt", rc);
    else if (out_len != strlen(text) || memcmp(out, text, out_len) != 0)
        failure(s, "decrypt returned other bytes", TG_EINTERNAL);
}

typedef struct worker_arg {
    shared *s;
    int id;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    shared *s = a->s;
    uint32_t seed = (uint32_t)a->id * 2654435761u + 1;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *ws = WORKSPACES[(seed >> 8) % 3];
        const char *subject = SUBJECTS[(seed >> 12) % 5];
        char msg_id[32], text[TEXT_MAX];
        uint8_t env[TEXT_MAX + TG_ENVELOPE_OVERHEAD];
        size_t env_len = 0;
        snprintf(msg_id, sizeof msg_id, "w%d-m%d", a->id, i);
        snprintf(text, sizeof text, "worker %d message %d for %s", a->id, i, subject);
        int rc = tg_keyring_encrypt(s->ctx, env, sizeof env, &env_len, ws, subject, msg_id,
                                    (const uint8_t *)text, strlen(text));
        if (rc != TG_OK) {
            failure(s, "encrypt", rc);
            continue;
        }
        open_and_check(s, ws, msg_id, env, env_len, text);

        /* Leave it for the others, and open one somebody else left. */
        slot mine, theirs;
        memset(&mine, 0, sizeof mine);
        snprintf(mine.ws, sizeof mine.ws, "%s", ws);
        snprintf(mine.msg_id, sizeof mine.msg_id, "%s", msg_id);
        snprintf(mine.text, sizeof mine.text, "%s", text);
        memcpy(mine.env, env, env_len);
        mine.env_len = env_len;
        mine.full = true;
        pthread_mutex_lock(&s->lock);
        theirs = s->slots[(seed >> 16) % SLOTS];
        s->slots[(seed >> 4) % SLOTS] = mine;
        pthread_mutex_unlock(&s->lock);
        if (theirs.full)
            open_and_check(s, theirs.ws, theirs.msg_id, theirs.env, theirs.env_len, theirs.text);
    }
    atomic_fetch_sub(&s->workers_left, 1);
    return NULL;
}

static void *rotator(void *p)
{
    shared *s = p;
    for (int i = 0; atomic_load(&s->workers_left) > 0 || i < 6; i++) {
        uint32_t v = 0;
        int rc = tg_keyring_rotate(s->ctx, &v, WORKSPACES[i % 3]);
        if (rc != TG_OK)
            failure(s, "rotate", rc);
        else
            atomic_fetch_add(&s->rotations, 1);
        struct timespec ts = {0, 100 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Purges of its own workspace while the others use theirs. */
static void *shredder(void *p)
{
    shared *s = p;
    for (int i = 0; atomic_load(&s->workers_left) > 0; i++) {
        char subject[32], text[] = "short-lived";
        uint8_t env[64 + TG_ENVELOPE_OVERHEAD], out[64];
        size_t env_len = 0, out_len = 0;
        snprintf(subject, sizeof subject, "temp-%d", i % 4);
        int rc = tg_keyring_encrypt(s->ctx, env, sizeof env, &env_len, "churn", subject, "m",
                                    (const uint8_t *)text, strlen(text));
        if (rc != TG_OK) {
            failure(s, "churn encrypt", rc);
            continue;
        }
        open_and_check(s, "churn", "m", env, env_len, text);
        if ((rc = tg_keyring_shred_subject(s->ctx, "churn", subject)) != TG_OK)
            failure(s, "churn shred", rc);
        rc = tg_keyring_decrypt(s->ctx, out, sizeof out, &out_len, "churn", "m", env, env_len);
        if (rc != TG_ESHREDDED)
            failure(s, "churn decrypt after shred", rc);
    }
    return NULL;
}

static void run(uint32_t cache_entries)
{
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_memory(&store), TG_OK);
    tg_config cfg;
    tgt_config(&cfg, store, NULL);
    cfg.key_cache_entries = cache_entries;
    static shared s;
    memset(&s, 0, sizeof s);
    assert_int_equal(tg_ctx_open(&s.ctx, &cfg), TG_OK);
    pthread_mutex_init(&s.lock, NULL);
    atomic_store(&s.workers_left, WORKERS);

    pthread_t workers[WORKERS], rot, shred;
    worker_arg args[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        args[i].s = &s;
        args[i].id = i;
        assert_int_equal(pthread_create(&workers[i], NULL, worker, &args[i]), 0);
    }
    assert_int_equal(pthread_create(&rot, NULL, rotator, &s), 0);
    assert_int_equal(pthread_create(&shred, NULL, shredder, &s), 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i], NULL);
    pthread_join(rot, NULL);
    pthread_join(shred, NULL);

    assert_int_equal(atomic_load(&s.failures), 0);
    assert_true(atomic_load(&s.rotations) >= 6);
    printf("# %d rotations during the run\n", atomic_load(&s.rotations));
    /* Every envelope left behind still opens after all the rotations. */
    for (int i = 0; i < SLOTS; i++)
        if (s.slots[i].full)
            open_and_check(&s, s.slots[i].ws, s.slots[i].msg_id, s.slots[i].env,
                           s.slots[i].env_len, s.slots[i].text);
    assert_int_equal(atomic_load(&s.failures), 0);
    pthread_mutex_destroy(&s.lock);
    tg_ctx_close(s.ctx);
    tg_store_close(store);
}

static void test_shared_ctx_default_cache(void **state)
{
    (void)state;
    run(0);
}

static void test_shared_ctx_tiny_cache(void **state)
{
    (void)state;
    run(8); /* constant eviction: the slow paths race each other */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_ctx_default_cache),
        cmocka_unit_test(test_shared_ctx_tiny_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
