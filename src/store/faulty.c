/* faulty.c - a store that fails its N-th operation, for fault-injection
 * tests (see tg__store_open_faulty in store_internal.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "tenantguard/store.h"
#include "store_internal.h"

typedef struct faulty {
    tg_store *inner;
    long fail_at;
    atomic_long count;
} faulty;

/* Counts one operation; true (with the error message set) if it is the one
 * to fail. */
static bool fault(faulty *f)
{
    long n = atomic_fetch_add(&f->count, 1) + 1;
    if (n != f->fail_at)
        return false;
    tg__error(TG_ESTORE, "store: injected fault at operation %ld", n);
    return true;
}

static int f_begin(void *user, tg_store_txn **out)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE : tg__store_begin(f->inner, out);
}

static int f_commit(void *user, tg_store_txn *txn)
{
    faulty *f = user;
    if (!fault(f))
        return tg__store_commit(f->inner, txn);
    /* A failed commit ends the transaction with nothing written. */
    tg__store_rollback(f->inner, txn);
    return TG_ESTORE;
}

static void f_rollback(void *user, tg_store_txn *txn)
{
    faulty *f = user;
    tg__store_rollback(f->inner, txn);
}

static int f_get(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                 tg_store_row_cb cb, void *cb_user)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE : tg__store_get(f->inner, txn, key, key_len, cb, cb_user);
}

static int f_put(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                 const uint8_t *value, size_t value_len)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE : tg__store_put(f->inner, txn, key, key_len, value, value_len);
}

static int f_insert(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                    const uint8_t *value, size_t value_len)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE : tg__store_insert(f->inner, txn, key, key_len, value, value_len);
}

static int f_del(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE : tg__store_del(f->inner, txn, key, key_len);
}

static int f_scan(void *user, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                  const uint8_t *hi, size_t hi_len, unsigned flags, tg_store_row_cb cb,
                  void *cb_user)
{
    faulty *f = user;
    return fault(f) ? TG_ESTORE
                    : tg__store_scan(f->inner, txn, lo, lo_len, hi, hi_len, flags, cb, cb_user);
}

/* Not an operation of tg_store_ops: passed through, never counted or
 * failed, so the fault-injection counts stay those of the ops. */
static int f_purge(void *user)
{
    faulty *f = user;
    return tg__store_purge_freed(f->inner);
}

static void f_close(void *user)
{
    free(user);
}

int tg__store_open_faulty(tg_store **out, tg_store *inner, long fail_at)
{
    if (!out || !inner)
        return tg__error(TG_EINVAL, "store: faulty: out or inner store is NULL");
    *out = NULL;
    faulty *f = malloc(sizeof *f);
    if (!f)
        return tg__error(TG_ENOMEM, "store: faulty: out of memory");
    f->inner = inner;
    f->fail_at = fail_at;
    atomic_init(&f->count, 0);
    const tg_store_ops ops = {
        .version = TG_STORE_OPS_VERSION, .struct_size = sizeof ops, .user = f,
        .begin = f_begin, .commit = f_commit, .rollback = f_rollback,
        .get = f_get, .put = f_put, .insert = f_insert, .del = f_del,
        .scan = f_scan, .close = f_close,
    };
    /* Built in, so the inner store's messages and ours pass through. */
    return tg__store_open_builtin(out, &ops, f_purge);
}

long tg__store_faulty_count(tg_store *s)
{
    const tg_store_ops *ops = s ? tg__store_ops(s) : NULL;
    if (!ops || ops->begin != f_begin)
        return -1;
    return atomic_load(&((faulty *)ops->user)->count);
}
