/*
 * memory.c - the in-memory store: an ordered skip list with a doubly linked
 * bottom level (for reverse scans), one writer at a time, rollback by undo
 * log.
 *
 * Concurrency (see tg__gate in store_internal.h): a write transaction holds
 * the gate from begin to commit or rollback and touches the list without
 * further locking; a NULL-txn operation holds the gate's mutex while no
 * transaction is open. So readers never see uncommitted writes: they wait
 * for the commit. The list is only ever changed by one thread at a time.
 *
 * Rollback must not fail, so it never allocates: a transaction keeps what it
 * replaced (old values, unlinked nodes) in its undo log and puts them back,
 * or frees them at commit.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tenantguard/store.h"
#include "store_internal.h"

/* With p = 1/4 per level, 20 levels index ~4^20 keys: far beyond need. */
#define MAX_LEVEL 20

static const char WHO[] = "memory store";

typedef struct node {
    uint8_t *value;      /* malloc'd; NULL when value_len is 0 */
    size_t value_len;
    struct node *prev;   /* bottom level; the head for the first node */
    uint16_t key_len;
    uint8_t level;
    struct node *next[]; /* `level` pointers, then the key bytes */
} node;

typedef enum undo_kind {
    UNDO_INSERTED, /* node was linked: unlink and free it */
    UNDO_REPLACED, /* node's value was replaced: restore old_value */
    UNDO_UNLINKED, /* node was unlinked: link it again */
} undo_kind;

typedef struct undo {
    undo_kind kind;
    node *node;
    uint8_t *old_value;
    size_t old_len;
} undo;

/* The store's one transaction: only one can be open at a time. */
struct tg_store_txn {
    undo *log;
    size_t len, cap;
};

typedef struct memstore {
    tg__gate gate;
    node *head;          /* MAX_LEVEL pointers, no key */
    int level;           /* levels in use, 1..MAX_LEVEL */
    uint64_t rng;        /* xorshift64* state for node levels */
    uint64_t generation; /* bumped by every change, so scans notice them */
    tg_store_txn txn;
} memstore;

/* Undo logs larger than this are freed after their transaction rather than
 * kept for the next, so one huge transaction does not pin its memory. */
#define UNDO_KEEP 4096

/* ---- the skip list ------------------------------------------------------ */

static const uint8_t *node_key(const node *n)
{
    return (const uint8_t *)(n->next + n->level);
}

static int node_cmp(const node *n, const uint8_t *key, size_t key_len)
{
    return tg__key_cmp(node_key(n), n->key_len, key, key_len);
}

/* Fills pred[i] with the last node at level i whose key is < key (key NULL:
 * the last node at that level) and returns the first node >= key, or NULL. */
static node *seek(const memstore *ms, const uint8_t *key, size_t key_len, node **pred)
{
    node *x = ms->head;
    for (int i = ms->level - 1; i >= 0; i--) {
        while (x->next[i] && (!key || node_cmp(x->next[i], key, key_len) < 0))
            x = x->next[i];
        pred[i] = x;
    }
    return x->next[0];
}

static node *find(const memstore *ms, const uint8_t *key, size_t key_len)
{
    node *pred[MAX_LEVEL];
    node *n = seek(ms, key, key_len, pred);
    return n && node_cmp(n, key, key_len) == 0 ? n : NULL;
}

static int random_level(memstore *ms)
{
    /* xorshift64*: statistically fine for balancing, and cheap; the seed
     * comes from libsodium so levels cannot be predicted. */
    ms->rng ^= ms->rng >> 12;
    ms->rng ^= ms->rng << 25;
    ms->rng ^= ms->rng >> 27;
    uint64_t r = ms->rng * 0x2545F4914F6CDD1DULL;
    int level = 1;
    while (level < MAX_LEVEL && (r & 3) == 0) {
        level++;
        r >>= 2;
    }
    return level;
}

/* Links n in after the predecessors a seek for its key found. */
static void link_at(memstore *ms, node *n, node **pred, node *after)
{
    for (int i = ms->level; i < n->level; i++)
        pred[i] = ms->head;
    if (n->level > ms->level)
        ms->level = n->level;
    for (int i = 0; i < n->level; i++) {
        n->next[i] = pred[i]->next[i];
        pred[i]->next[i] = n;
    }
    n->prev = pred[0];
    if (after)
        after->prev = n;
    ms->generation++;
}

static void link_node(memstore *ms, node *n)
{
    node *pred[MAX_LEVEL];
    node *after = seek(ms, node_key(n), n->key_len, pred);
    link_at(ms, n, pred, after);
}

static void unlink_node(memstore *ms, node *n)
{
    node *pred[MAX_LEVEL];
    seek(ms, node_key(n), n->key_len, pred);
    for (int i = 0; i < n->level; i++)
        pred[i]->next[i] = n->next[i];
    if (n->next[0])
        n->next[0]->prev = n->prev;
    ms->generation++;
}

static void free_node(node *n)
{
    free(n->value);
    free(n);
}

/* A copy of value, NULL for an empty one; false when out of memory. */
static bool copy_value(const uint8_t *value, size_t len, uint8_t **out)
{
    *out = NULL;
    if (!len)
        return true;
    *out = malloc(len);
    if (!*out)
        return false;
    memcpy(*out, value, len);
    return true;
}

static node *new_node(memstore *ms, const uint8_t *key, size_t key_len, const uint8_t *value,
                      size_t value_len)
{
    int level = random_level(ms);
    node *n = malloc(sizeof *n + (size_t)level * sizeof(node *) + key_len);
    if (!n)
        return NULL;
    if (!copy_value(value, value_len, &n->value)) {
        free(n);
        return NULL;
    }
    n->value_len = value_len;
    n->key_len = (uint16_t)key_len;
    n->level = (uint8_t)level;
    memcpy((uint8_t *)(n->next + level), key, key_len);
    return n;
}

/* ---- transactions --------------------------------------------------------- */

static int out_of_memory(const char *op)
{
    return tg__error(TG_ENOMEM, "%s: %s: out of memory", WHO, op);
}

/* Makes room for one undo entry before a change, so recording it cannot
 * fail after the change was made. */
static bool reserve_undo(tg_store_txn *txn)
{
    if (txn->len < txn->cap)
        return true;
    size_t cap = txn->cap ? txn->cap * 2 : 64;
    undo *log = realloc(txn->log, cap * sizeof *log);
    if (!log)
        return false;
    txn->log = log;
    txn->cap = cap;
    return true;
}

static void record(tg_store_txn *txn, undo_kind kind, node *n, uint8_t *old_value,
                   size_t old_len)
{
    txn->log[txn->len++] = (undo){ kind, n, old_value, old_len };
}

static void reset_log(tg_store_txn *txn)
{
    txn->len = 0;
    if (txn->cap > UNDO_KEEP) {
        free(txn->log);
        txn->log = NULL;
        txn->cap = 0;
    }
}

static memstore *owner_of(void *user, tg_store_txn *txn, const char *op, int *rc)
{
    memstore *ms = user;
    *rc = TG_OK;
    if (txn && txn != &ms->txn)
        *rc = tg__error(TG_EINVAL, "%s: %s: the transaction belongs to another store", WHO, op);
    return ms;
}

static int ms_begin(void *user, tg_store_txn **out)
{
    memstore *ms = user;
    int rc = tg__gate_begin(&ms->gate);
    if (rc == TG_OK)
        *out = &ms->txn;
    return rc;
}

static int ms_commit(void *user, tg_store_txn *txn)
{
    int rc;
    memstore *ms = owner_of(user, txn, "commit", &rc);
    if (rc)
        return rc;
    for (size_t i = 0; i < txn->len; i++) {
        undo *u = &txn->log[i];
        if (u->kind == UNDO_REPLACED)
            free(u->old_value);
        else if (u->kind == UNDO_UNLINKED)
            free_node(u->node);
    }
    reset_log(txn);
    tg__gate_end(&ms->gate);
    return TG_OK;
}

static void ms_rollback(void *user, tg_store_txn *txn)
{
    int rc;
    memstore *ms = owner_of(user, txn, "rollback", &rc);
    if (rc)
        return;
    /* Newest first, so each entry finds the list as it was right after its
     * change. */
    for (size_t i = txn->len; i-- > 0;) {
        undo *u = &txn->log[i];
        switch (u->kind) {
        case UNDO_INSERTED:
            unlink_node(ms, u->node);
            free_node(u->node);
            break;
        case UNDO_REPLACED:
            free(u->node->value);
            u->node->value = u->old_value;
            u->node->value_len = u->old_len;
            ms->generation++;
            break;
        case UNDO_UNLINKED:
            link_node(ms, u->node);
            break;
        }
    }
    reset_log(txn);
    tg__gate_end(&ms->gate);
}

/* ---- operations ------------------------------------------------------------
 * Each public op takes the gate's mutex when it runs outside a transaction
 * (the transaction's owner already has the list to itself) and calls the
 * matching do_* function, which works on the list. */

static int enter(memstore *ms, tg_store_txn *txn)
{
    if (!txn)
        return tg__gate_lock(&ms->gate);
    tg__gate_hold(&ms->gate); /* it may have been handed to this thread */
    return TG_OK;
}

static void leave(memstore *ms, tg_store_txn *txn)
{
    if (!txn)
        tg__gate_unlock(&ms->gate);
}

static int emit(const node *n, tg_store_row_cb cb, void *cb_user)
{
    return cb(cb_user, node_key(n), n->key_len, n->value ? n->value : tg__store_empty, n->value_len);
}

static int do_get(memstore *ms, const uint8_t *key, size_t key_len, tg_store_row_cb cb,
                  void *cb_user)
{
    node *n = find(ms, key, key_len);
    if (!n)
        return tg__error(TG_ENOTFOUND, "%s: get: key not found", WHO);
    int rc = emit(n, cb, cb_user);
    return rc < 0 ? rc : TG_OK;
}

static int ms_get(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  tg_store_row_cb cb, void *cb_user)
{
    int rc;
    memstore *ms = owner_of(user, txn, "get", &rc);
    if (rc || (rc = enter(ms, txn)))
        return rc;
    rc = do_get(ms, key, key_len, cb, cb_user);
    leave(ms, txn);
    return rc;
}

/* Replaces n's value; in a transaction the old one goes to the undo log. */
static int replace_value(memstore *ms, tg_store_txn *txn, node *n, const uint8_t *value,
                         size_t value_len)
{
    uint8_t *copy;
    if ((txn && !reserve_undo(txn)) || !copy_value(value, value_len, &copy))
        return out_of_memory("put");
    if (txn)
        record(txn, UNDO_REPLACED, n, n->value, n->value_len);
    else
        free(n->value);
    n->value = copy;
    n->value_len = value_len;
    ms->generation++;
    return TG_OK;
}

/* Adds a node where the seek that found its key absent left `pred`. */
static int add_node(memstore *ms, tg_store_txn *txn, const char *op, const uint8_t *key,
                    size_t key_len, const uint8_t *value, size_t value_len, node **pred,
                    node *after)
{
    node *n;
    if ((txn && !reserve_undo(txn)) || !(n = new_node(ms, key, key_len, value, value_len)))
        return out_of_memory(op);
    link_at(ms, n, pred, after);
    if (txn)
        record(txn, UNDO_INSERTED, n, NULL, 0);
    return TG_OK;
}

static int do_write(memstore *ms, tg_store_txn *txn, bool replace, const uint8_t *key,
                    size_t key_len, const uint8_t *value, size_t value_len)
{
    /* One seek serves both the lookup and, when absent, the link. */
    node *pred[MAX_LEVEL];
    node *n = seek(ms, key, key_len, pred);
    if (!n || node_cmp(n, key, key_len) != 0)
        return add_node(ms, txn, replace ? "put" : "insert", key, key_len, value, value_len,
                        pred, n);
    if (!replace)
        return tg__error(TG_EEXISTS, "%s: insert: key already present", WHO);
    return replace_value(ms, txn, n, value, value_len);
}

static int write_op(void *user, tg_store_txn *txn, bool replace, const uint8_t *key,
                    size_t key_len, const uint8_t *value, size_t value_len)
{
    int rc;
    memstore *ms = owner_of(user, txn, replace ? "put" : "insert", &rc);
    if (rc || (rc = enter(ms, txn)))
        return rc;
    rc = do_write(ms, txn, replace, key, key_len, value, value_len);
    leave(ms, txn);
    return rc;
}

static int ms_put(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len)
{
    return write_op(user, txn, true, key, key_len, value, value_len);
}

static int ms_insert(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    return write_op(user, txn, false, key, key_len, value, value_len);
}

static int do_del(memstore *ms, tg_store_txn *txn, const uint8_t *key, size_t key_len)
{
    node *n = find(ms, key, key_len);
    if (!n)
        return tg__error(TG_ENOTFOUND, "%s: del: key not found", WHO);
    if (txn && !reserve_undo(txn))
        return out_of_memory("del");
    unlink_node(ms, n);
    if (txn)
        record(txn, UNDO_UNLINKED, n, NULL, 0);
    else
        free_node(n);
    return TG_OK;
}

static int ms_del(void *user, tg_store_txn *txn, const uint8_t *key, size_t key_len)
{
    int rc;
    memstore *ms = owner_of(user, txn, "del", &rc);
    if (rc || (rc = enter(ms, txn)))
        return rc;
    rc = do_del(ms, txn, key, key_len);
    leave(ms, txn);
    return rc;
}

/* ---- scans ------------------------------------------------------------------ */

typedef struct scan_range {
    const uint8_t *lo, *hi;
    size_t lo_len, hi_len;
    bool reverse;
} scan_range;

static bool in_range(const memstore *ms, const scan_range *r, const node *n)
{
    if (r->reverse)
        return n != ms->head && (!r->lo || node_cmp(n, r->lo, r->lo_len) >= 0);
    return n && (!r->hi || node_cmp(n, r->hi, r->hi_len) < 0);
}

/* Where a scan starts, or goes on after its callback changed the list:
 * forward, the first node >= key (> key if `after`; key NULL: the first
 * node); reverse, the last node < key (key NULL: the last node). */
static node *start_at(const memstore *ms, const scan_range *r, const uint8_t *key,
                      size_t key_len, bool after)
{
    node *pred[MAX_LEVEL];
    if (r->reverse) {
        seek(ms, key, key_len, pred);
        return pred[0];
    }
    if (!key)
        return ms->head->next[0];
    node *n = seek(ms, key, key_len, pred);
    return after && n && node_cmp(n, key, key_len) == 0 ? n->next[0] : n;
}

static int do_scan(memstore *ms, const scan_range *r, tg_store_row_cb cb, void *cb_user)
{
    node *n = r->reverse ? start_at(ms, r, r->hi, r->hi_len, false)
                         : start_at(ms, r, r->lo, r->lo_len, false);
    /* The callback may change the store (through its transaction, or on
     * this thread outside one), which can free n: remember its key and, if
     * anything changed, find the next row again from there. */
    uint8_t last[TG_STORE_KEY_MAX];
    while (in_range(ms, r, n)) {
        size_t last_len = n->key_len;
        memcpy(last, node_key(n), last_len);
        uint64_t generation = ms->generation;
        int rc = emit(n, cb, cb_user);
        if (rc)
            return rc < 0 ? rc : TG_OK;
        if (ms->generation == generation)
            n = r->reverse ? n->prev : n->next[0];
        else
            n = start_at(ms, r, last, last_len, true);
    }
    return TG_OK;
}

static int ms_scan(void *user, tg_store_txn *txn, const uint8_t *lo, size_t lo_len,
                   const uint8_t *hi, size_t hi_len, unsigned flags, tg_store_row_cb cb,
                   void *cb_user)
{
    int rc;
    memstore *ms = owner_of(user, txn, "scan", &rc);
    if (rc || (rc = enter(ms, txn)))
        return rc;
    scan_range r = { lo, hi, lo_len, hi_len, (flags & TG_STORE_SCAN_REVERSE) != 0 };
    rc = do_scan(ms, &r, cb, cb_user);
    leave(ms, txn);
    return rc;
}

/* ---- lifetime ----------------------------------------------------------------- */

static void ms_close(void *user)
{
    memstore *ms = user;
    if (ms->gate.busy) /* closed with a transaction open: drop it */
        ms_rollback(ms, &ms->txn);
    node *n = ms->head;
    while (n) {
        node *next = n->next[0];
        free_node(n);
        n = next;
    }
    free(ms->txn.log);
    tg__gate_destroy(&ms->gate);
    free(ms);
}

static memstore *new_memstore(void)
{
    memstore *ms = calloc(1, sizeof *ms);
    if (!ms)
        return NULL;
    ms->head = calloc(1, sizeof *ms->head + MAX_LEVEL * sizeof(node *));
    if (!ms->head) {
        free(ms);
        return NULL;
    }
    ms->head->level = MAX_LEVEL;
    ms->level = 1;
    do
        randombytes_buf(&ms->rng, sizeof ms->rng);
    while (ms->rng == 0); /* xorshift's one bad seed */
    return ms;
}

int tg__memory_store_ops(tg_store_ops *ops)
{
    int rc = tg__sodium_ready();
    if (rc)
        return rc;
    memstore *ms = new_memstore();
    if (!ms)
        return out_of_memory("open");
    if ((rc = tg__gate_init(&ms->gate, WHO))) {
        free(ms->head);
        free(ms);
        return rc;
    }
    *ops = (tg_store_ops){
        .version = TG_STORE_OPS_VERSION, .struct_size = sizeof *ops, .user = ms,
        .begin = ms_begin, .commit = ms_commit, .rollback = ms_rollback,
        .get = ms_get, .put = ms_put, .insert = ms_insert, .del = ms_del,
        .scan = ms_scan, .close = ms_close,
    };
    return TG_OK;
}
