/*
 * nonce.c - random nonces without a system call per message.
 *
 * libsodium's default generator asks the kernel for every call (about half
 * a microsecond here), a fifth of the cost of sealing a 1 KiB message. Nonces
 * are public, so each thread draws them from a buffer it refills per
 * NONCE_POOL_BYTES: a fresh 32-byte seed from randombytes_buf(), expanded
 * with randombytes_buf_deterministic() (ChaCha20) and then wiped. Asking the
 * kernel for the whole buffer instead costs about 5 us per KiB here, over
 * 100 ns per message; the seed and expansion cost about 15. A forked child
 * must never reuse its parent's buffered bytes under the same keys: an atfork handler
 * bumps a generation number and a buffer from an older generation is
 * discarded before use.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

#define NONCE_POOL_BYTES 4096

static atomic_uint fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static _Thread_local struct {
    unsigned generation; /* 0: never filled */
    size_t used;
    uint8_t bytes[NONCE_POOL_BYTES];
} pool;

void tg__random_nonce(uint8_t *out, size_t len)
{
    pthread_once(&atfork_once, register_atfork);
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (len > NONCE_POOL_BYTES) {
        randombytes_buf(out, len);
        return;
    }
    if (pool.generation != gen || NONCE_POOL_BYTES - pool.used < len) {
        uint8_t seed[randombytes_SEEDBYTES];
        randombytes_buf(seed, sizeof seed);
        randombytes_buf_deterministic(pool.bytes, sizeof pool.bytes, seed);
        sodium_memzero(seed, sizeof seed);
        pool.generation = gen;
        pool.used = 0;
    }
    memcpy(out, pool.bytes + pool.used, len);
    /* Each byte is handed out once. */
    sodium_memzero(pool.bytes + pool.used, len);
    pool.used += len;
}
