/*
 * store_internal.h - how modules use a tg_store. Each call validates its
 * arguments, forwards to the implementation's ops and turns a misbehaving
 * host callback into TG_ECALLBACK. Errors carry a message.
 *
 * Transactions: tg__store_commit() ends the transaction whether it succeeds
 * or fails (a failed commit has rolled back); never call tg__store_rollback()
 * after it. After any other operation in a transaction fails, call
 * tg__store_rollback(). While a transaction is open on a built-in store,
 * NULL-txn writes (and, on the memory store, NULL-txn reads) on that store
 * wait for it to end, except from the thread holding it, where they fail
 * with TG_ESTORE instead of waiting for themselves forever. The holder is
 * the thread that began it or, once it is handed over, the last thread that
 * made an operation in it (see tg__gate).
 *
 * Scan bounds: a bound of length 0 means no bound, like NULL, so the result
 * of tg__store_prefix_end() can be passed as `hi` directly. Bounds are at
 * most TG_STORE_KEY_MAX bytes. The row callback always gets a non-NULL
 * value pointer, also for an empty value.
 */
#ifndef TG_STORE_INTERNAL_H
#define TG_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "../core/core.h"

int tg__store_begin(tg_store *s, tg_store_txn **out);
int tg__store_commit(tg_store *s, tg_store_txn *txn);
void tg__store_rollback(tg_store *s, tg_store_txn *txn);
int tg__store_get(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  tg_store_row_cb cb, void *cb_user);
/* get into a caller buffer: TG_ERANGE if the value is longer than cap.
 * *out_len (out_len may be NULL) receives the value's length, also on
 * TG_ERANGE so the caller can size a buffer. buf may be NULL if cap is 0. */
int tg__store_get_buf(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                      uint8_t *buf, size_t cap, size_t *out_len);
int tg__store_put(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len);
int tg__store_insert(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len);
int tg__store_del(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len);
int tg__store_scan(tg_store *s, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                   const uint8_t *hi, size_t hi_len, unsigned flags,
                   tg_store_row_cb cb, void *cb_user);

/*
 * Erasure support. Called after a commit that deleted or overwrote secrets
 * (a shredded subject or workspace, a retired key version), it makes the
 * old bytes unrecoverable from the store's own files as far as the store
 * can:
 *  - SQLite: the writer connection runs with PRAGMA secure_delete=ON, so
 *    deleted cells and freed pages are zeroed in the page images it writes;
 *    this then runs PRAGMA wal_checkpoint(TRUNCATE), copying the new images
 *    over the old ones in the database file and emptying the -wal file,
 *    which still held the old images.
 *  - memory and host stores: nothing to do here (TG_OK). A host store must
 *    make its own deletes and overwrites unrecoverable (docs/STORE.md).
 * Returns TG_OK when done; TG__PURGE_INCOMPLETE (positive, with a message)
 * when another connection reading or writing the file kept the WAL from
 * being fully checkpointed and truncated, so old bytes may stay in the -wal
 * file until a later checkpoint; or a negative TG_E* code. Best effort:
 * callers do not fail their own operation because of it. Waits for an open
 * transaction like a NULL-txn write (TG_ESTORE if it is this thread's).
 */
#define TG__PURGE_INCOMPLETE 1
int tg__store_purge_freed(tg_store *s);

/* Compares keys in store order: unsigned bytes, a key before its own
 * extensions (memcmp, then length). */
static inline int tg__key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* A non-NULL pointer for an empty value, so implementations and row
 * callbacks may hand it to memcpy and friends. */
extern const uint8_t tg__store_empty[1];

/* The smallest key greater than every key starting with prefix[0..len):
 * the prefix with trailing 0xFF bytes dropped and its last byte incremented.
 * Writes to out (capacity >= len) and returns its length, or 0 when no such
 * key exists (prefix is all 0xFF: scan to the end). */
size_t tg__store_prefix_end(const uint8_t *prefix, size_t len, uint8_t *out);

/* ---- inside the store module ------------------------------------------ */

/* Wraps a built-in implementation: like tg_store_open(), but errors from it
 * pass through untouched because it sets its own detailed messages. On
 * failure ops->close is called. `purge_freed` (may be NULL: nothing to do)
 * implements tg__store_purge_freed, called with ops->user. */
int tg__store_open_builtin(tg_store **out, const tg_store_ops *ops,
                           int (*purge_freed)(void *user));

/* The ops a handle was opened with, so a built-in can find its own state. */
const tg_store_ops *tg__store_ops(const tg_store *s);

/* Fill *ops with a new instance of a built-in implementation (ops->user owns
 * it; ops->close frees it). */
int tg__memory_store_ops(tg_store_ops *ops);
int tg__sqlite_store_ops(tg_store_ops *ops, const char *path, const tg_sqlite_options *opts);
/* tg__store_purge_freed of the SQLite store; `user` is its ops->user. */
int tg__sqlite_purge_freed(void *user);

/*
 * The single-writer gate the built-in stores share: at most one write
 * transaction per handle, and a way to run a NULL-txn operation while none
 * is open. `who` names the store in error messages.
 *
 * A transaction may move between threads (one at a time, store.h). The
 * gate takes as its holder the thread that began it, then each thread that
 * makes an operation in it (the stores call tg__gate_hold), so a thread
 * that waits for the transaction to end is refused only if it is the one
 * using it. The gate cannot see a hand-over itself: between the hand-over
 * and the receiver's first operation in the transaction, the sender still
 * counts as the holder (docs/STORE.md).
 */
typedef struct tg__gate {
    pthread_mutex_t mu; /* recursive: a row callback may call the store again */
    pthread_cond_t idle;
    bool busy;          /* a transaction is open */
    int waiters;        /* threads waiting for it to end */
    pthread_t owner;    /* the thread holding it (see above) */
    const char *who;
} tg__gate;

int tg__gate_init(tg__gate *g, const char *who);
void tg__gate_destroy(tg__gate *g);
/* Waits until no transaction is open, then marks one open for this thread.
 * TG_ESTORE if this thread holds the one that is open. */
int tg__gate_begin(tg__gate *g);
/* The calling thread makes an operation in the open transaction: it is now
 * its holder. */
void tg__gate_hold(tg__gate *g);
void tg__gate_end(tg__gate *g);
/* Waits until no transaction is open and returns holding the gate's mutex,
 * so none can begin until tg__gate_unlock(). Nests on one thread. TG_ESTORE
 * if this thread holds the open transaction. */
int tg__gate_lock(tg__gate *g);
void tg__gate_unlock(tg__gate *g);

/* ---- fault injection (tests and the conformance suite) ----------------- */

/*
 * A proxy over `inner` (borrowed: close it after the proxy) whose fail_at-th
 * operation (1-based, counting begin, commit, get, put, insert, del and scan;
 * rollback never fails; 0 never fails) returns TG_ESTORE with the message
 * "store: injected fault at operation N" without calling inner. An injected
 * commit failure rolls the inner transaction back, as a failed commit must.
 */
int tg__store_open_faulty(tg_store **out, tg_store *inner, long fail_at);
/* Operations counted so far by a store from tg__store_open_faulty(); -1
 * for any other store. */
long tg__store_faulty_count(tg_store *s);

/* Test hook: when set and it returns true, the SQLite store skips a
 * ROLLBACK as if it had failed, leaving its writer connection inside the
 * transaction. NULL in production; only tests set it. */
extern bool (*tg__sqlite_rollback_should_fail)(void);

#endif
