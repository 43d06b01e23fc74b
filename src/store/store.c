/*
 * store.c - the tg_store handle: validation of a host's tg_store_ops, the
 * checked tg__store_* calls every module uses, and the constructors of the
 * built-in stores.
 *
 * A host implementation is not trusted to keep the contract: its results
 * and the rows it hands to callbacks are checked, and a violation becomes
 * TG_ECALLBACK, so a broken store cannot make a module act on rows it did
 * not ask for. Built-in stores are trusted and called directly.
 */
#include <string.h>

#include "tenantguard/store.h"
#include "store_internal.h"

struct tg_store {
    tg_store_ops ops;
    bool host; /* implemented by the host, not built in */
    int (*purge_freed)(void *user); /* built-ins only; NULL: nothing to purge */
};

const uint8_t tg__store_empty[1];

size_t tg_store_key_max(void) { return TG_STORE_KEY_MAX; }
size_t tg_store_value_max(void) { return TG_STORE_VALUE_MAX; }

const tg_store_ops *tg__store_ops(const tg_store *s) { return &s->ops; }

/* ---- opening and closing ------------------------------------------------ */

static int check_ops(const tg_store_ops *ops)
{
    if (!ops)
        return tg__error(TG_EINVAL, "store: ops is NULL");
    if (ops->version < 1 || ops->version > TG_STORE_OPS_VERSION)
        return tg__error(TG_EVERSION, "store: ops version %u is not supported (1..%d)",
                         ops->version, TG_STORE_OPS_VERSION);
    if (ops->struct_size < sizeof(tg_store_ops))
        return tg__error(TG_EVERSION, "store: ops struct_size %u is smaller than %zu",
                         ops->struct_size, sizeof(tg_store_ops));
    const struct { const char *name; bool missing; } members[] = {
        { "begin", !ops->begin }, { "commit", !ops->commit }, { "rollback", !ops->rollback },
        { "get", !ops->get },     { "put", !ops->put },       { "insert", !ops->insert },
        { "del", !ops->del },     { "scan", !ops->scan },
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        if (members[i].missing)
            return tg__error(TG_EINVAL, "store: ops->%s is NULL", members[i].name);
    return TG_OK;
}

static int wrap(tg_store **out, const tg_store_ops *ops, bool host,
                int (*purge_freed)(void *user))
{
    tg_store *s = tg__malloc(tg__default_allocator(), sizeof *s);
    if (!s)
        return TG_ENOMEM;
    /* struct_size >= sizeof: copy the members this build knows. */
    memcpy(&s->ops, ops, sizeof s->ops);
    s->host = host;
    s->purge_freed = purge_freed;
    *out = s;
    return TG_OK;
}

int tg_store_open(tg_store **out, const tg_store_ops *ops)
{
    if (!out)
        return tg__error(TG_EINVAL, "store: out is NULL");
    *out = NULL;
    int rc = check_ops(ops);
    return rc ? rc : wrap(out, ops, true, NULL);
}

int tg__store_open_builtin(tg_store **out, const tg_store_ops *ops,
                           int (*purge_freed)(void *user))
{
    int rc = wrap(out, ops, false, purge_freed);
    if (rc && ops->close)
        ops->close(ops->user);
    return rc;
}

static int open_builtin_checked(tg_store **out, int rc, const tg_store_ops *ops,
                                int (*purge_freed)(void *user))
{
    return rc ? rc : tg__store_open_builtin(out, ops, purge_freed);
}

int tg_store_open_memory(tg_store **out)
{
    if (!out)
        return tg__error(TG_EINVAL, "store: out is NULL");
    *out = NULL;
    tg_store_ops ops;
    return open_builtin_checked(out, tg__memory_store_ops(&ops), &ops, NULL);
}

void tg_sqlite_options_init(tg_sqlite_options *opts)
{
    if (!opts)
        return;
    *opts = (tg_sqlite_options){
        .version = TG_SQLITE_OPTIONS_VERSION, .struct_size = sizeof *opts,
        .sync = TG_SQLITE_SYNC_NORMAL, .busy_timeout_ms = 10000,
    };
}

int tg_store_open_sqlite(tg_store **out, const char *path, const tg_sqlite_options *opts)
{
    if (!out)
        return tg__error(TG_EINVAL, "store: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return tg__error(TG_EINVAL, "sqlite store: path is NULL or empty");
    tg_sqlite_options o;
    tg_sqlite_options_init(&o);
    if (opts) {
        if (opts->version < 1 || opts->version > TG_SQLITE_OPTIONS_VERSION)
            return tg__error(TG_EVERSION, "sqlite store: options version %u is not supported",
                             opts->version);
        if (opts->struct_size < sizeof o)
            return tg__error(TG_EVERSION, "sqlite store: options struct_size %u is too small",
                             opts->struct_size);
        if (opts->sync != TG_SQLITE_SYNC_NORMAL && opts->sync != TG_SQLITE_SYNC_FULL)
            return tg__error(TG_EINVAL, "sqlite store: sync must be TG_SQLITE_SYNC_NORMAL or "
                                        "TG_SQLITE_SYNC_FULL, not %u", opts->sync);
        o.sync = opts->sync;
        o.busy_timeout_ms = opts->busy_timeout_ms;
    }
    tg_store_ops ops;
    return open_builtin_checked(out, tg__sqlite_store_ops(&ops, path, &o), &ops,
                                tg__sqlite_purge_freed);
}

void tg_store_close(tg_store *s)
{
    if (!s)
        return;
    if (s->ops.close)
        s->ops.close(s->ops.user);
    tg__free(tg__default_allocator(), s);
}

/* ---- checking a host's results ----------------------------------------- */

/* The codes in common.h; anything else from a host is a contract breach. */
static bool known_code(int rc)
{
    return rc <= TG_EINVAL && rc >= TG_EINTERNAL;
}

/* Turns a host implementation's result into the caller's: a positive or
 * unknown code is TG_ECALLBACK, a failure gets a message (a host cannot
 * set one). Built-in results pass through with their own messages. */
static int host_result(const tg_store *s, const char *op, int rc)
{
    if (!s->host || rc == TG_OK)
        return rc;
    if (!known_code(rc))
        return tg__error(TG_ECALLBACK, "store: host %s returned %d, not a TG_E* code", op, rc);
    return tg__error(rc, "store: %s failed: %s", op, tg_strerror(rc));
}

/*
 * Sits between a host's get/scan and the caller's row callback, checking
 * each row: a valid key and value, the requested key for get, within the
 * bounds and in strictly increasing (or decreasing) order for scan. Once it
 * or the caller said stop or abort, later rows are refused and the saved
 * result wins whatever the host returns.
 */
typedef struct row_check {
    const char *op;
    tg_store_row_cb cb;
    void *cb_user;
    const uint8_t *lo, *hi; /* for get: lo is the key and hi is NULL */
    size_t lo_len, hi_len;
    bool exact, reverse;
    uint8_t prev[TG_STORE_KEY_MAX];
    size_t prev_len;        /* 0 until the first row */
    int result;             /* non-zero: the stop or abort already returned */
} row_check;

static const char *row_problem(const row_check *rc, const uint8_t *key, size_t key_len,
                               const uint8_t *value, size_t value_len)
{
    if (!key || key_len == 0 || key_len > TG_STORE_KEY_MAX)
        return "an invalid key";
    if ((!value && value_len) || value_len > TG_STORE_VALUE_MAX)
        return "an invalid value";
    if (rc->exact)
        return tg__key_cmp(key, key_len, rc->lo, rc->lo_len) ? "a key it was not asked for"
               : rc->prev_len ? "more than one row" : NULL;
    if ((rc->lo && tg__key_cmp(key, key_len, rc->lo, rc->lo_len) < 0) ||
        (rc->hi && tg__key_cmp(key, key_len, rc->hi, rc->hi_len) >= 0))
        return "a key outside the scan bounds";
    if (rc->prev_len) {
        int c = tg__key_cmp(key, key_len, rc->prev, rc->prev_len);
        if (rc->reverse ? c >= 0 : c <= 0)
            return "keys out of order";
    }
    return NULL;
}

static int checked_row(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    row_check *rc = user;
    if (rc->result)
        return rc->result;
    const char *problem = row_problem(rc, key, key_len, value, value_len);
    if (problem)
        return rc->result = tg__error(TG_ECALLBACK, "store: host %s passed %s to the row callback",
                                      rc->op, problem);
    memcpy(rc->prev, key, key_len);
    rc->prev_len = key_len;
    return rc->result = rc->cb(rc->cb_user, key, key_len, value ? value : tg__store_empty, value_len);
}

/* The result of a checked get or scan given the host's own result. */
static int checked_result(const tg_store *s, const row_check *rc, int host_rc)
{
    if (rc->result < 0)
        return rc->result; /* the caller's abort, or our TG_ECALLBACK */
    if (host_rc == TG_OK && rc->exact && !rc->prev_len)
        return tg__error(TG_ECALLBACK, "store: host get returned TG_OK without calling the callback");
    if (host_rc == TG_ENOTFOUND && rc->exact && rc->prev_len)
        return tg__error(TG_ECALLBACK, "store: host get returned TG_ENOTFOUND after a row");
    return host_result(s, rc->op, host_rc);
}

/* ---- argument checks --------------------------------------------------- */

static int check_store(const tg_store *s, const char *op)
{
    return s ? TG_OK : tg__error(TG_EINVAL, "store: %s: store is NULL", op);
}

static int check_key(const tg_store *s, const char *op, const uint8_t *key, size_t key_len)
{
    int rc = check_store(s, op);
    if (rc)
        return rc;
    if (!key)
        return tg__error(TG_EINVAL, "store: %s: key is NULL", op);
    if (key_len == 0)
        return tg__error(TG_EINVAL, "store: %s: key is empty", op);
    if (key_len > TG_STORE_KEY_MAX)
        return tg__error(TG_EINVAL, "store: %s: key of %zu bytes is longer than %d", op, key_len,
                         TG_STORE_KEY_MAX);
    return TG_OK;
}

static int check_write(const tg_store *s, const char *op, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len)
{
    int rc = check_key(s, op, key, key_len);
    if (rc)
        return rc;
    if (!value && value_len)
        return tg__error(TG_EINVAL, "store: %s: value is NULL but its length is %zu", op,
                         value_len);
    if (value_len > TG_STORE_VALUE_MAX)
        return tg__error(TG_EINVAL, "store: %s: value of %zu bytes is longer than %u", op,
                         value_len, TG_STORE_VALUE_MAX);
    return TG_OK;
}

static int check_bound(const char *name, const uint8_t *bound, size_t len)
{
    if (!bound && len)
        return tg__error(TG_EINVAL, "store: scan: %s is NULL but its length is %zu", name, len);
    if (len > TG_STORE_KEY_MAX)
        return tg__error(TG_EINVAL, "store: scan: %s of %zu bytes is longer than %d", name, len,
                         TG_STORE_KEY_MAX);
    return TG_OK;
}

static int check_cb(tg_store_row_cb cb, const char *op)
{
    return cb ? TG_OK : tg__error(TG_EINVAL, "store: %s: callback is NULL", op);
}

static int check_txn(const tg_store *s, const tg_store_txn *txn, const char *op)
{
    int rc = check_store(s, op);
    if (rc == TG_OK && !txn)
        rc = tg__error(TG_EINVAL, "store: %s: transaction is NULL", op);
    return rc;
}

/* ---- the calls modules make -------------------------------------------- */

int tg__store_begin(tg_store *s, tg_store_txn **out)
{
    int rc = check_store(s, "begin");
    if (rc)
        return rc;
    if (!out)
        return tg__error(TG_EINVAL, "store: begin: out is NULL");
    *out = NULL;
    rc = host_result(s, "begin", s->ops.begin(s->ops.user, out));
    if (rc == TG_OK && !*out)
        return tg__error(TG_ECALLBACK, "store: host begin returned TG_OK but no transaction");
    return rc;
}

int tg__store_commit(tg_store *s, tg_store_txn *txn)
{
    int rc = check_txn(s, txn, "commit");
    return rc ? rc : host_result(s, "commit", s->ops.commit(s->ops.user, txn));
}

void tg__store_rollback(tg_store *s, tg_store_txn *txn)
{
    if (s && txn)
        s->ops.rollback(s->ops.user, txn);
}

int tg__store_get(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  tg_store_row_cb cb, void *cb_user)
{
    int rc = check_key(s, "get", key, key_len);
    if (rc || (rc = check_cb(cb, "get")))
        return rc;
    if (!s->host)
        return s->ops.get(s->ops.user, txn, key, key_len, cb, cb_user);
    row_check check = { .op = "get", .cb = cb, .cb_user = cb_user, .lo = key, .lo_len = key_len,
                        .exact = true };
    return checked_result(s, &check,
                          s->ops.get(s->ops.user, txn, key, key_len, checked_row, &check));
}

typedef struct buf_dest {
    uint8_t *buf;
    size_t cap;
    size_t len;
} buf_dest;

static int copy_value(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t value_len)
{
    (void)key; (void)key_len;
    buf_dest *d = user;
    d->len = value_len;
    if (value_len > d->cap)
        return tg__error(TG_ERANGE, "store: value of %zu bytes does not fit in %zu", value_len,
                         d->cap);
    memcpy(d->buf, value, value_len);
    return 0;
}

int tg__store_get_buf(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                      uint8_t *buf, size_t cap, size_t *out_len)
{
    if (!buf && cap)
        return tg__error(TG_EINVAL, "store: get: buffer is NULL but its capacity is %zu", cap);
    buf_dest d = { buf ? buf : (uint8_t *)tg__store_empty, cap, 0 };
    int rc = tg__store_get(s, txn, key, key_len, copy_value, &d);
    if (out_len)
        *out_len = d.len;
    return rc;
}

int tg__store_put(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len)
{
    int rc = check_write(s, "put", key, key_len, value, value_len);
    if (rc)
        return rc;
    rc = s->ops.put(s->ops.user, txn, key, key_len, value ? value : tg__store_empty, value_len);
    return host_result(s, "put", rc);
}

int tg__store_insert(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    int rc = check_write(s, "insert", key, key_len, value, value_len);
    if (rc)
        return rc;
    rc = s->ops.insert(s->ops.user, txn, key, key_len, value ? value : tg__store_empty, value_len);
    return host_result(s, "insert", rc);
}

int tg__store_del(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len)
{
    int rc = check_key(s, "del", key, key_len);
    return rc ? rc : host_result(s, "del", s->ops.del(s->ops.user, txn, key, key_len));
}

int tg__store_scan(tg_store *s, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                   const uint8_t *hi, size_t hi_len, unsigned flags,
                   tg_store_row_cb cb, void *cb_user)
{
    int rc = check_store(s, "scan");
    if (rc || (rc = check_bound("lo", lo, lo_len)) || (rc = check_bound("hi", hi, hi_len)) ||
        (rc = check_cb(cb, "scan")))
        return rc;
    if (flags & ~TG_STORE_SCAN_REVERSE)
        return tg__error(TG_EINVAL, "store: scan: unknown flags 0x%x", flags);
    /* An empty bound is no bound (see store_internal.h). */
    if (!lo_len)
        lo = NULL;
    if (!hi_len)
        hi = NULL;
    if (!s->host)
        return s->ops.scan(s->ops.user, txn, lo, lo_len, hi, hi_len, flags, cb, cb_user);
    row_check check = { .op = "scan", .cb = cb, .cb_user = cb_user, .lo = lo, .lo_len = lo_len,
                        .hi = hi, .hi_len = hi_len,
                        .reverse = (flags & TG_STORE_SCAN_REVERSE) != 0 };
    rc = s->ops.scan(s->ops.user, txn, lo, lo_len, hi, hi_len, flags, checked_row, &check);
    return checked_result(s, &check, rc);
}

int tg__store_purge_freed(tg_store *s)
{
    int rc = check_store(s, "purge");
    return rc || !s->purge_freed ? rc : s->purge_freed(s->ops.user);
}

size_t tg__store_prefix_end(const uint8_t *prefix, size_t len, uint8_t *out)
{
    while (len && prefix[len - 1] == 0xFF)
        len--;
    if (!len)
        return 0;
    memcpy(out, prefix, len);
    out[len - 1]++;
    return len;
}
