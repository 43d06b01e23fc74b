/*
 * tenantguard/store.h - the persistence interface.
 *
 * tenantguard keeps everything it persists (keys, policies, envelopes,
 * audit chains) in an ordered key-value store with transactions. The host
 * can implement tg_store_ops over any database; the library ships two
 * implementations of the same interface: SQLite (the default, one file in
 * WAL mode) and memory (for tests). tg_store_conformance_run() proves that an
 * implementation behaves as the library needs.
 *
 * Keys and values are byte strings. Keys compare as unsigned bytes
 * (memcmp order, a shorter key before its extensions), like SQLite's BLOB
 * collation. Keys are 1..TG_STORE_KEY_MAX bytes, values 0..TG_STORE_VALUE_MAX.
 */
#ifndef TENANTGUARD_STORE_H
#define TENANTGUARD_STORE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_STORE_KEY_MAX 1024
#define TG_STORE_VALUE_MAX (16u * 1024u * 1024u)
TG_API size_t tg_store_key_max(void);
TG_API size_t tg_store_value_max(void);

/* A store handle: thread-safe, shareable by several contexts. */
typedef struct tg_store tg_store;

/* A write transaction, defined by the implementation. */
typedef struct tg_store_txn tg_store_txn;

/*
 * Receives one key/value pair. The pointers are valid only during the call.
 * Return 0 to go on, a positive value to stop a scan early (the scan then
 * returns TG_OK), or a negative TG_E* code to abort (the operation returns it).
 */
typedef int (*tg_store_row_cb)(void *cb_user, const uint8_t *key, size_t key_len,
                               const uint8_t *value, size_t value_len);

/* Scan direction flag. */
#define TG_STORE_SCAN_REVERSE 1u

#define TG_STORE_OPS_VERSION 1

/*
 * A store implementation. Every member of version 1 is required. Functions
 * return TG_OK or a negative TG_E* code (TG_ESTORE for a database failure).
 *
 * `txn` is either a transaction from begin() or NULL, meaning a single
 * operation committed on its own. Reads inside a transaction see its own
 * writes; reads outside see only committed data. Transactions are
 * serializable: two of them never both commit conflicting writes. An
 * implementation may block in begin() while another transaction is open.
 * After any operation inside a transaction fails, the library calls
 * rollback(); after rollback() or a failed commit(), the store must hold
 * exactly what it held before begin(). commit() ends the transaction
 * whether it succeeds or fails: rollback() is never called after it.
 *
 * The implementation must be safe to call from several threads at once; a
 * given transaction is used by one thread at a time, not necessarily the
 * one that began it.
 *
 * The built-in stores allow one transaction at a time per handle. While it
 * is open, NULL-txn writes on that handle (on the memory store, all NULL-txn
 * operations) wait for it to end, except from the thread holding it: the
 * one that began it or, after a hand-over, the last one that made an
 * operation in it. That thread gets TG_ESTORE ("would wait for itself")
 * instead of deadlocking. A thread given a transaction must make its first
 * operation in it before any NULL-txn call on the same store, or it waits
 * for itself (docs/STORE.md).
 */
typedef struct tg_store_ops {
    uint32_t version;     /* TG_STORE_OPS_VERSION the host was written for */
    uint32_t struct_size; /* sizeof(tg_store_ops) as the host compiled it */
    void *user;           /* passed as the first argument of every member */

    int (*begin)(void *user, tg_store_txn **out);
    int (*commit)(void *user, tg_store_txn *txn);
    void (*rollback)(void *user, tg_store_txn *txn);

    /* Calls cb once with the value; TG_ENOTFOUND if the key is absent. */
    int (*get)(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
               tg_store_row_cb cb, void *cb_user);
    /* Inserts or replaces. */
    int (*put)(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
               const uint8_t *value, size_t value_len);
    /* Inserts only if absent; TG_EEXISTS (and nothing written) otherwise.
     * This must hold against other handles and processes on the same data:
     * it is how audit chains avoid forking. */
    int (*insert)(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len);
    /* Deletes; TG_ENOTFOUND if the key was absent. */
    int (*del)(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len);
    /* Calls cb for every key k with lo <= k < hi, ascending, or descending
     * with TG_STORE_SCAN_REVERSE. lo NULL means from the first key, hi NULL
     * up to the last. */
    int (*scan)(void *user, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                const uint8_t *hi, size_t hi_len, unsigned flags,
                tg_store_row_cb cb, void *cb_user);
    /* Releases the implementation; called once by tg_store_close(). May be
     * NULL if there is nothing to release. */
    void (*close)(void *user);
} tg_store_ops;

/* Durability of a commit in the SQLite store (tg_sqlite_options.sync). */
#define TG_SQLITE_SYNC_NORMAL 0 /* survives a crash of the process; an OS crash or
                                   power loss may roll back the last commits */
#define TG_SQLITE_SYNC_FULL 1   /* survives power loss too: one fsync per commit */

#define TG_SQLITE_OPTIONS_VERSION 1

/* Options of the built-in SQLite store. Initialise with
 * tg_sqlite_options_init(), then change what you need. */
typedef struct tg_sqlite_options {
    uint32_t version;         /* TG_SQLITE_OPTIONS_VERSION */
    uint32_t struct_size;     /* sizeof(tg_sqlite_options) */
    uint32_t sync;            /* TG_SQLITE_SYNC_NORMAL (default) or _FULL */
    uint32_t busy_timeout_ms; /* wait for another writer's lock; default 10000 */
} tg_sqlite_options;

/* Fills `opts` with the defaults and the version fields. Accepts NULL. */
TG_API void tg_sqlite_options_init(tg_sqlite_options *opts);

/*
 * Opens (creating if needed) the built-in SQLite store at `path`: one file
 * in WAL mode, schema version recorded for later migrations. Several
 * handles, in one process or several, may open the same file. `opts` may be
 * NULL for the defaults (it is read during the call only).
 * Errors: TG_EINVAL (NULL/empty path, unknown sync value), TG_EVERSION
 * (options version or a schema newer than this library), TG_ESTORE (cannot
 * open or not a tenantguard store), TG_ENOMEM.
 */
TG_API int tg_store_open_sqlite(tg_store **out, const char *path,
                                const tg_sqlite_options *opts);

/* Opens an empty in-memory store (for tests). Errors: TG_ENOMEM. */
TG_API int tg_store_open_memory(tg_store **out);

/*
 * Wraps a host implementation. `ops` is validated and copied; ops->close is
 * called by tg_store_close(). Errors: TG_EINVAL (NULL ops or member),
 * TG_EVERSION (version 0 or struct_size too small), TG_ENOMEM.
 */
TG_API int tg_store_open(tg_store **out, const tg_store_ops *ops);

/* Closes a store. Accepts NULL. Every context using it must be closed first. */
TG_API void tg_store_close(tg_store *store);

/*
 * Receives each conformance test's result: its name, whether it passed,
 * and on failure what was wrong.
 */
typedef void (*tg_conformance_cb)(void *user, const char *test, int passed,
                                  const char *detail);

/*
 * Runs the store conformance suite against `store`: binary key ordering,
 * scans in both directions and with bounds, atomic commit, rollback,
 * insert-if-absent against a concurrent writer, and fault injection (an
 * operation failing at every position of a transaction leaves the data as
 * it was before). `second` is another handle onto the same data (for
 * example the same SQLite file opened twice) used as the concurrent
 * writer; NULL uses `store` from another thread.
 *
 * The suite only touches keys under a random prefix beginning with the byte
 * 0xFF and deletes them afterwards, so it can run against a store in use.
 * Returns TG_OK if every test passed, TG_ECONFORMANCE otherwise, or the
 * error that stopped it (TG_EINVAL for NULL store). `cb` may be NULL.
 */
TG_API int tg_store_conformance_run(tg_store *store, tg_store *second,
                                    tg_conformance_cb cb, void *user);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_STORE_H */
