/* support.h - helpers shared by the C unit tests (cmocka). */
#ifndef TG_TEST_SUPPORT_H
#define TG_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tenantguard.h>

/* Makes a fresh empty directory for one test (under $TG_TEST_TMP or /tmp)
 * and returns its path (static storage, overwritten by the next call). */
const char *tgt_tmpdir(void);
/* Removes a directory tree made by tgt_tmpdir. */
void tgt_rmtree(const char *path);

/* An allocator that fails its N-th call (1-based; 0 never fails) and counts
 * calls and live blocks, for allocation-failure tests. */
typedef struct tgt_failing_alloc {
    tg_allocator ops;
    long fail_at;
    long calls;
    long live;
} tgt_failing_alloc;
void tgt_failing_alloc_init(tgt_failing_alloc *fa, long fail_at);

/* A clock the test sets by hand. */
typedef struct tgt_clock {
    int64_t now_ms;
} tgt_clock;
int64_t tgt_clock_read(void *user);

/* A fixed, test-only 32-byte master key. */
extern const uint8_t tgt_master_key[32];

/* Initialises cfg for a test: the given store, the test master key and the
 * given clock (may be NULL for the system clock). */
void tgt_config(tg_config *cfg, tg_store *store, tgt_clock *clock);

/* A context on its own memory store with an injected clock, for tests
 * that open and close one per case. Opening aborts the test program with a
 * message if it fails. */
typedef struct tgt_fixture {
    tgt_clock clock;
    tg_store *store;
    tg_ctx *ctx;
} tgt_fixture;
void tgt_fixture_open(tgt_fixture *f, int64_t now_ms, const struct tg_limiter_options *limiter);
void tgt_fixture_close(tgt_fixture *f);

/* Opens a context on a new memory store with the test master key and the
 * given clock (may be NULL). The store is closed by tgt_ctx_close. */
tg_ctx *tgt_ctx_memory(tgt_clock *clock);
void tgt_ctx_close(tg_ctx *ctx);

#endif
