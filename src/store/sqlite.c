/*
 * sqlite.c - the default store: one SQLite file in WAL mode holding
 *
 *     CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID
 *
 * and nothing else. PRAGMA application_id marks the file as a tenantguard
 * store and PRAGMA user_version records the schema version (1), so a later
 * release can migrate it and this one refuses a newer file (TG_EVERSION).
 *
 * Connections: one writer connection per handle, used by the open write
 * transaction and by NULL-txn writes, one at a time through the gate (see
 * store_internal.h); and a pool of reader connections for NULL-txn reads,
 * which WAL lets run alongside the writer and see only committed data.
 * Several handles and processes on one file serialise their writes through
 * SQLite's own lock (BEGIN IMMEDIATE, with a busy timeout). Every
 * connection caches its prepared statements.
 *
 * The library never calls sqlite3_config() or other process-wide settings:
 * the host may be using SQLite too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "tenantguard/store.h"
#include "store_internal.h"

static const char WHO[] = "sqlite store";

bool (*tg__sqlite_rollback_should_fail)(void);

#define APPLICATION_ID 0x54475354 /* "TGST" */
#define SCHEMA_VERSION 1

static const char KV_SQL[] = "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID";

/* Statements a connection prepares on first use and keeps. */
enum {
    ST_GET, ST_SCAN, ST_SCAN_REVERSE, ST_PUT, ST_INSERT, ST_DEL,
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_COUNT
};

static const char *const SQL[ST_COUNT] = {
    [ST_GET] = "SELECT k, v FROM kv WHERE k = ?1",
    /* Absent bounds are bound as the empty blob (below every key) and as
     * TOP (above every key), so one statement serves every range. */
    [ST_SCAN] = "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k",
    [ST_SCAN_REVERSE] = "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k DESC",
    [ST_PUT] = "INSERT INTO kv(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
    /* Insert-if-absent is one statement under SQLite's write lock, so it
     * holds across handles and processes: no read-then-write race. */
    [ST_INSERT] = "INSERT INTO kv(k, v) VALUES (?1, ?2) ON CONFLICT(k) DO NOTHING",
    [ST_DEL] = "DELETE FROM kv WHERE k = ?1",
    /* IMMEDIATE takes the write lock at once: a deferred transaction that
     * read first could fail to upgrade (SQLITE_BUSY) halfway through. */
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    struct conn *next; /* in the idle reader list */
} conn;

/* The handle's one write transaction: the gate allows one at a time. */
struct tg_store_txn {
    char unused;
};

typedef struct sqlstore {
    tg__gate gate;
    char *path;
    tg_sqlite_options opts;
    conn *writer;
    pthread_mutex_t pool_mu;
    conn *idle;    /* reader connections not in use */
    tg_store_txn txn;
} sqlstore;

/* Greater than every key (keys have at most TG_STORE_KEY_MAX bytes): the
 * upper bound of a scan without one. Filled once by top_bound(). */
static uint8_t TOP[TG_STORE_KEY_MAX + 1];
static pthread_once_t top_once = PTHREAD_ONCE_INIT;
static void fill_top(void) { memset(TOP, 0xFF, sizeof TOP); }

/* ---- errors ------------------------------------------------------------------ */

static int db_error(sqlite3 *db, int sqlite_rc, const char *op)
{
    int code = (sqlite_rc & 0xFF) == SQLITE_NOMEM ? TG_ENOMEM : TG_ESTORE;
    return tg__error(code, "%s: %s: %s", WHO, op, sqlite3_errmsg(db));
}

/* ---- connections --------------------------------------------------------------- */

static void close_conn(conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close_v2(c->db); /* never left open: a statement still out finalizes it later */
    free(c);
}

static int exec(sqlite3 *db, const char *sql, const char *op)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TG_OK : db_error(db, rc, op);
}

/* Settings of one connection. Durability: in WAL mode, synchronous=NORMAL
 * writes every commit to the WAL before returning, so it survives the
 * process being killed, and syncs only at checkpoints; an OS crash or power
 * loss may roll back the last commits (never corrupt the file). FULL syncs
 * the WAL at every commit and survives power loss, at about a tenth of the
 * commit rate on this project's reference machine (docs/PERFORMANCE.md). */
static int configure(sqlite3 *db, const char *path, bool writer, const tg_sqlite_options *o)
{
    sqlite3_busy_timeout(db, o->busy_timeout_ms > INT32_MAX ? INT32_MAX : (int)o->busy_timeout_ms);
    /* Harden against a crafted file: no writes to the schema tables, no
     * functions with side effects run from the schema. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    if (!writer)
        return exec(db, "PRAGMA query_only=1", path);
    /* Erasure: deleted cells and freed pages are zeroed in every page image
     * this connection writes (see tg__sqlite_purge_freed for the WAL). */
    int rc = exec(db, "PRAGMA secure_delete=ON", path);
    if (rc)
        return rc;
    return exec(db, o->sync == TG_SQLITE_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                                   : "PRAGMA synchronous=NORMAL", path);
}

static int open_conn(const char *path, bool writer, const tg_sqlite_options *o, conn **out)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return tg__error(TG_ENOMEM, "%s: out of memory", WHO);
    /* NOMUTEX: a connection is only ever used by one thread at a time (the
     * gate's owner, or the thread that took a reader from the pool). */
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        int code = c->db ? tg__error(TG_ESTORE, "%s: cannot open %s: %s", WHO, path,
                                     sqlite3_errmsg(c->db))
                         : tg__error(TG_ENOMEM, "%s: out of memory opening %s", WHO, path);
        close_conn(c);
        return code;
    }
    if ((rc = configure(c->db, path, writer, o))) {
        close_conn(c);
        return rc;
    }
    *out = c;
    return TG_OK;
}

/* The cached statement `which`, or, when a row callback calls the store
 * again while it is still stepping, a fresh one to finalize afterwards. */
static int get_stmt(conn *c, int which, sqlite3_stmt **out)
{
    if (c->st[which] && !sqlite3_stmt_busy(c->st[which])) {
        *out = c->st[which];
        return TG_OK;
    }
    bool cache = !c->st[which];
    int rc = sqlite3_prepare_v3(c->db, SQL[which], -1, cache ? SQLITE_PREPARE_PERSISTENT : 0,
                                out, NULL);
    if (rc != SQLITE_OK)
        return db_error(c->db, rc, "prepare");
    if (cache)
        c->st[which] = *out;
    return TG_OK;
}

static void put_stmt(conn *c, int which, sqlite3_stmt *s)
{
    if (s == c->st[which])
        sqlite3_reset(s); /* also ends a reader's implicit read transaction */
    else
        sqlite3_finalize(s);
}

/* Runs a statement that returns no rows. */
static int run(conn *c, int which, const char *op)
{
    sqlite3_stmt *s;
    int rc = get_stmt(c, which, &s);
    if (rc)
        return rc;
    int step = sqlite3_step(s);
    rc = step == SQLITE_DONE ? TG_OK : db_error(c->db, step, op);
    put_stmt(c, which, s);
    return rc;
}

/* ---- the reader pool ------------------------------------------------------------ */

static int take_reader(sqlstore *st, conn **out)
{
    pthread_mutex_lock(&st->pool_mu);
    conn *c = st->idle;
    if (c)
        st->idle = c->next;
    pthread_mutex_unlock(&st->pool_mu);
    if (c) {
        *out = c;
        return TG_OK;
    }
    /* No idle reader: one more connection. The pool grows to the number of
     * threads reading at once and keeps them for reuse. */
    return open_conn(st->path, false, &st->opts, out);
}

static void give_reader(sqlstore *st, conn *c)
{
    pthread_mutex_lock(&st->pool_mu);
    c->next = st->idle;
    st->idle = c;
    pthread_mutex_unlock(&st->pool_mu);
}

/* ---- choosing a connection for an operation -------------------------------------- */

static int own_txn(sqlstore *st, tg_store_txn *txn, const char *op)
{
    if (txn != &st->txn)
        return tg__error(TG_EINVAL, "%s: %s: the transaction belongs to another store", WHO, op);
    return TG_OK;
}

/* SQLite rolls a transaction back by itself after some errors (disk full,
 * I/O error); going on would commit the rest of it piecemeal. */
static int txn_alive(sqlstore *st, const char *op)
{
    if (sqlite3_get_autocommit(st->writer->db))
        return tg__error(TG_ESTORE, "%s: %s: the transaction was already rolled back by an "
                                    "earlier error", WHO, op);
    return TG_OK;
}

/* With the gate held and no transaction open: makes sure the writer
 * connection exists and is outside any transaction. A ROLLBACK that failed
 * can leave it inside the old one, and a NULL-txn write would then run in
 * that transaction, return TG_OK and never be committed. So: roll back
 * again, and if the connection is still in a transaction, close it (which
 * rolls back and releases its locks) and open a new one. If that fails the
 * store has no writer until a later call manages to open one. */
static int writer_ready(sqlstore *st, const char *op)
{
    if (st->writer && sqlite3_get_autocommit(st->writer->db))
        return TG_OK;
    if (st->writer) {
        run(st->writer, ST_ROLLBACK, "rollback");
        if (sqlite3_get_autocommit(st->writer->db))
            return TG_OK;
        close_conn(st->writer);
        st->writer = NULL;
    }
    int rc = open_conn(st->path, true, &st->opts, &st->writer);
    if (rc) {
        char why[256]; /* the message is about to be replaced */
        snprintf(why, sizeof why, "%s", tg_ctx_errmsg(NULL));
        return tg__error(rc == TG_ENOMEM ? TG_ENOMEM : TG_ESTORE,
                         "%s: %s: the writer connection was dropped after a failed rollback and "
                         "cannot be reopened (%s)", WHO, op, why);
    }
    return TG_OK;
}

/* In a transaction: the writer. Outside: a reader for reads; for writes the
 * writer, once no transaction is open (each write commits on its own). */
static int acquire(sqlstore *st, tg_store_txn *txn, bool write, const char *op, conn **out)
{
    int rc;
    if (txn) {
        *out = st->writer;
        if (own_txn(st, txn, op))
            return TG_EINVAL;
        tg__gate_hold(&st->gate); /* it may have been handed to this thread */
        return txn_alive(st, op);
    }
    if (!write)
        return take_reader(st, out);
    if ((rc = tg__gate_begin(&st->gate)))
        return rc;
    if ((rc = writer_ready(st, op))) {
        tg__gate_end(&st->gate);
        return rc;
    }
    *out = st->writer;
    return TG_OK;
}

static void release(sqlstore *st, tg_store_txn *txn, bool write, conn *c)
{
    if (txn)
        return;
    if (write)
        tg__gate_end(&st->gate);
    else
        give_reader(st, c);
}

/* ---- transactions ------------------------------------------------------------------ */

static int sq_begin(void *user, tg_store_txn **out)
{
    sqlstore *st = user;
    int rc = tg__gate_begin(&st->gate);
    if (rc)
        return rc;
    if ((rc = writer_ready(st, "begin")) || (rc = run(st->writer, ST_BEGIN, "begin"))) {
        tg__gate_end(&st->gate);
        return rc;
    }
    *out = &st->txn;
    return TG_OK;
}

/* Ends the writer's transaction if SQLite has not already: a failed commit
 * must leave the data as before begin. If the ROLLBACK fails and the
 * connection is still inside the transaction, it is closed (which rolls
 * back and releases its locks) before the gate lets anyone else in; the
 * next begin or write opens a new one (writer_ready). */
static void end_txn(sqlstore *st)
{
    if (!sqlite3_get_autocommit(st->writer->db) &&
        !(tg__sqlite_rollback_should_fail && tg__sqlite_rollback_should_fail()))
        run(st->writer, ST_ROLLBACK, "rollback");
    if (!sqlite3_get_autocommit(st->writer->db)) {
        close_conn(st->writer);
        st->writer = NULL;
    }
    tg__gate_end(&st->gate);
}

static int sq_commit(void *user, tg_store_txn *txn)
{
    sqlstore *st = user;
    int rc = own_txn(st, txn, "commit");
    if (rc)
        return rc;
    if ((rc = txn_alive(st, "commit")) == TG_OK)
        rc = run(st->writer, ST_COMMIT, "commit");
    end_txn(st);
    return rc;
}

static void sq_rollback(void *user, tg_store_txn *txn)
{
    sqlstore *st = user;
    if (txn == &st->txn)
        end_txn(st);
}

/* ---- erasure ---------------------------------------------------------------------- */

/* secure_delete keeps deleted bytes out of the page images written from now
 * on, but the -wal file still holds the images written before (and the
 * database file the pages not yet checkpointed). A TRUNCATE checkpoint
 * copies the newest images into the database file and empties the WAL.
 * It waits (busy timeout) for readers and writers of other connections;
 * if they keep it from finishing, SQLite checkpoints what it can and says
 * SQLITE_BUSY. */
int tg__sqlite_purge_freed(void *user)
{
    sqlstore *st = user;
    int rc = tg__gate_begin(&st->gate);
    if (rc)
        return rc;
    if ((rc = writer_ready(st, "purge")) == TG_OK) {
        int src = sqlite3_wal_checkpoint_v2(st->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                            NULL, NULL);
        if ((src & 0xFF) == SQLITE_BUSY || (src & 0xFF) == SQLITE_LOCKED)
            rc = tg__error(TG__PURGE_INCOMPLETE,
                           "%s: purge: another connection to %s kept its WAL from being fully "
                           "checkpointed and truncated; deleted data may stay in the -wal file "
                           "until a later checkpoint", WHO, st->path);
        else if (src != SQLITE_OK)
            rc = db_error(st->writer->db, src, "purge (wal_checkpoint)");
    }
    tg__gate_end(&st->gate);
    return rc;
}

/* ---- operations --------------------------------------------------------------------- */

static int bind_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
    /* bind_blob with a NULL pointer would bind SQL NULL, not an empty blob. */
    return len ? sqlite3_bind_blob(s, i, p, (int)len, SQLITE_STATIC) : sqlite3_bind_zeroblob(s, i, 0);
}

static int emit_row(sqlite3_stmt *s, tg_store_row_cb cb, void *cb_user)
{
    const uint8_t *key = sqlite3_column_blob(s, 0);
    size_t key_len = (size_t)sqlite3_column_bytes(s, 0);
    const uint8_t *value = sqlite3_column_blob(s, 1);
    size_t value_len = (size_t)sqlite3_column_bytes(s, 1);
    return cb(cb_user, key, key_len, value ? value : tg__store_empty, value_len);
}

/* Steps a query, handing each row to cb until it is done or cb says stop
 * (TG_OK) or abort (its code). `expect_row`: no row is TG_ENOTFOUND. */
static int query(conn *c, int which, sqlite3_stmt *s, bool expect_row, tg_store_row_cb cb,
                 void *cb_user, const char *op)
{
    int rc = TG_OK, step = SQLITE_DONE, rows = 0;
    while (rc == TG_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        rows++;
        rc = emit_row(s, cb, cb_user);
    }
    if (rc == TG_OK && step != SQLITE_DONE)
        rc = db_error(c->db, step, op);
    else if (rc == TG_OK && expect_row && !rows)
        rc = tg__error(TG_ENOTFOUND, "%s: get: key not found", WHO);
    put_stmt(c, which, s);
    return rc < 0 ? rc : TG_OK;
}

static int sq_get(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  tg_store_row_cb cb, void *cb_user)
{
    sqlstore *st = user;
    conn *c;
    sqlite3_stmt *s;
    int rc = acquire(st, txn, false, "get", &c);
    if (rc)
        return rc;
    if ((rc = get_stmt(c, ST_GET, &s)) == TG_OK) {
        bind_blob(s, 1, key, key_len);
        rc = query(c, ST_GET, s, true, cb, cb_user, "get");
    }
    release(st, txn, false, c);
    return rc;
}

static int sq_scan(void *user, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                   const uint8_t *hi, size_t hi_len, unsigned flags, tg_store_row_cb cb,
                   void *cb_user)
{
    sqlstore *st = user;
    int which = flags & TG_STORE_SCAN_REVERSE ? ST_SCAN_REVERSE : ST_SCAN;
    conn *c;
    sqlite3_stmt *s;
    int rc = acquire(st, txn, false, "scan", &c);
    if (rc)
        return rc;
    if ((rc = get_stmt(c, which, &s)) == TG_OK) {
        bind_blob(s, 1, lo, lo_len);
        if (hi)
            bind_blob(s, 2, hi, hi_len);
        else
            bind_blob(s, 2, TOP, sizeof TOP);
        rc = query(c, which, s, false, cb, cb_user, "scan");
    }
    release(st, txn, false, c);
    return rc;
}

/* Runs a write statement; `none_code` is returned (with `none_msg`) when
 * it changed no row. */
static int write_op(void *user, tg_store_txn *txn, int which, const char *op,
                    const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                    int none_code, const char *none_msg)
{
    sqlstore *st = user;
    conn *c;
    sqlite3_stmt *s;
    int rc = acquire(st, txn, true, op, &c);
    if (rc)
        return rc;
    if ((rc = get_stmt(c, which, &s)) == TG_OK) {
        bind_blob(s, 1, key, key_len);
        if (value)
            bind_blob(s, 2, value, value_len);
        int step = sqlite3_step(s);
        if (step != SQLITE_DONE)
            rc = db_error(c->db, step, op);
        else if (none_code && sqlite3_changes(c->db) == 0)
            rc = tg__error(none_code, "%s: %s: %s", WHO, op, none_msg);
        put_stmt(c, which, s);
    }
    release(st, txn, true, c);
    return rc;
}

static int sq_put(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len)
{
    return write_op(user, txn, ST_PUT, "put", key, key_len, value, value_len, TG_OK, NULL);
}

static int sq_insert(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    return write_op(user, txn, ST_INSERT, "insert", key, key_len, value, value_len, TG_EEXISTS,
                    "key already present");
}

static int sq_del(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len)
{
    return write_op(user, txn, ST_DEL, "del", key, key_len, NULL, 0, TG_ENOTFOUND,
                    "key not found");
}

/* ---- the schema -------------------------------------------------------------------------- */

typedef struct schema_info {
    int application_id;
    int version;
    int objects;  /* rows in sqlite_schema */
    bool kv_ok;   /* kv is exactly KV_SQL */
} schema_info;

static int read_schema(sqlite3 *db, const char *path, schema_info *info)
{
    static const char sql[] =
        "SELECT (SELECT application_id FROM pragma_application_id),"
        " (SELECT user_version FROM pragma_user_version),"
        " (SELECT count(*) FROM sqlite_schema),"
        " (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'kv' AND sql = ?1)";
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(s, 1, KV_SQL, -1, SQLITE_STATIC);
        rc = sqlite3_step(s);
    }
    if (rc == SQLITE_ROW) {
        info->application_id = sqlite3_column_int(s, 0);
        info->version = sqlite3_column_int(s, 1);
        info->objects = sqlite3_column_int(s, 2);
        info->kv_ok = sqlite3_column_int(s, 3) == 1;
    }
    int code = rc == SQLITE_ROW ? TG_OK
               : tg__error((rc & 0xFF) == SQLITE_NOMEM ? TG_ENOMEM : TG_ESTORE,
                           "%s: cannot read %s: %s", WHO, path, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return code;
}

static bool blank(const schema_info *info)
{
    return info->application_id == 0 && info->version == 0 && info->objects == 0;
}

/* Creates the schema in a new file. Under the write lock it looks again:
 * another handle or process may have created it meanwhile. */
static int create_schema(sqlite3 *db, const char *path, schema_info *info)
{
    int rc = exec(db, "BEGIN IMMEDIATE", "create schema");
    if (rc)
        return rc;
    if ((rc = read_schema(db, path, info)) == TG_OK && blank(info)) {
        char sql[256];
        snprintf(sql, sizeof sql, "%s; PRAGMA application_id=%d; PRAGMA user_version=%d;",
                 KV_SQL, APPLICATION_ID, SCHEMA_VERSION);
        if ((rc = exec(db, sql, "create schema")) == TG_OK)
            rc = read_schema(db, path, info);
    }
    if (rc == TG_OK)
        return exec(db, "COMMIT", "create schema");
    exec(db, "ROLLBACK", "create schema");
    return rc;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Switching a new file to WAL needs an exclusive lock, taken from a shared
 * one: when another connection is doing the same (two openers of a new
 * store), SQLite answers SQLITE_BUSY at once rather than calling the busy
 * handler, which could deadlock. So this retries for up to the busy
 * timeout itself. */
static int enable_wal(sqlite3 *db, const char *path, uint32_t timeout_ms)
{
    sqlite3_stmt *s = NULL;
    int rc;
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(s);
        if ((rc & 0xFF) != SQLITE_BUSY && (rc & 0xFF) != SQLITE_LOCKED)
            break;
        if (monotonic_ms() >= deadline)
            break;
        sqlite3_finalize(s);
        s = NULL;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    int code = mode && strcmp(mode, "wal") == 0 ? TG_OK
               : mode ? tg__error(TG_ESTORE, "%s: %s: cannot use WAL mode (journal mode is %s)",
                                  WHO, path, mode)
                      : tg__error(TG_ESTORE, "%s: %s: cannot enable WAL mode: %s", WHO, path,
                                  sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return code;
}

/* Makes sure `db` is a tenantguard store of a version this build knows,
 * creating the schema in an empty file, and switches it to WAL. */
static int prepare_schema(sqlite3 *db, const char *path, uint32_t busy_timeout_ms)
{
    schema_info info;
    int rc = read_schema(db, path, &info);
    if (rc || (blank(&info) && (rc = create_schema(db, path, &info))))
        return rc;
    if (info.application_id != APPLICATION_ID)
        return tg__error(TG_ESTORE, "%s: %s is an SQLite database but not a tenantguard store",
                         WHO, path);
    if (info.version > SCHEMA_VERSION)
        return tg__error(TG_EVERSION, "%s: %s has schema version %d; this library knows up to %d",
                         WHO, path, info.version, SCHEMA_VERSION);
    if (info.version != SCHEMA_VERSION || info.objects != 1 || !info.kv_ok)
        return tg__error(TG_ESTORE, "%s: %s has an unexpected schema (version %d, %d objects)",
                         WHO, path, info.version, info.objects);
    /* Only now: a file that is not ours is left as it was. */
    return enable_wal(db, path, busy_timeout_ms);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

static void sq_close(void *user)
{
    sqlstore *st = user;
    if (st->gate.busy) /* closed with a transaction open: drop it */
        end_txn(st);
    while (st->idle) {
        conn *c = st->idle;
        st->idle = c->next;
        close_conn(c);
    }
    close_conn(st->writer);
    pthread_mutex_destroy(&st->pool_mu);
    tg__gate_destroy(&st->gate);
    free(st->path);
    free(st);
}

static int open_writer(sqlstore *st)
{
    int rc = open_conn(st->path, true, &st->opts, &st->writer);
    return rc ? rc : prepare_schema(st->writer->db, st->path, st->opts.busy_timeout_ms);
}

int tg__sqlite_store_ops(tg_store_ops *ops, const char *path, const tg_sqlite_options *opts)
{
    pthread_once(&top_once, fill_top);
    sqlstore *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return tg__error(TG_ENOMEM, "%s: out of memory", WHO);
    }
    st->opts = *opts;
    int rc = tg__gate_init(&st->gate, WHO);
    if (rc) {
        free(st->path);
        free(st);
        return rc;
    }
    pthread_mutex_init(&st->pool_mu, NULL);
    if ((rc = open_writer(st))) {
        sq_close(st);
        return rc;
    }
    *ops = (tg_store_ops){
        .version = TG_STORE_OPS_VERSION, .struct_size = sizeof *ops, .user = st,
        .begin = sq_begin, .commit = sq_commit, .rollback = sq_rollback,
        .get = sq_get, .put = sq_put, .insert = sq_insert, .del = sq_del,
        .scan = sq_scan, .close = sq_close,
    };
    return TG_OK;
}
