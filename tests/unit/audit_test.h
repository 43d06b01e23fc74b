/*
 * audit_test.h - helpers shared by the audit tests (test_audit*.c and
 * bench_audit.c): contexts with a checkpoint interval, a realistic event,
 * and direct access to the stored rows of a chain, for tests that read or
 * tamper with the bytes the library wrote. Include after cmocka.h (tests)
 * or alone (the benchmark); everything is static inline.
 */
#ifndef TG_AUDIT_TEST_H
#define TG_AUDIT_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_impl.h"
#include "store/store_internal.h"
#include "support.h"

/* Opens a context on `store` with the test master key, `clock` (may be
 * NULL) and a checkpoint interval (0: the default). NULL on failure, with
 * the reason on stderr. */
static inline tg_ctx *at_ctx(tg_store *store, tgt_clock *clock, uint32_t interval)
{
    tg_config cfg;
    tgt_config(&cfg, store, clock);
    tg_audit_options ao;
    tg_audit_options_init(&ao);
    ao.checkpoint_interval = interval;
    cfg.audit = &ao;
    tg_ctx *ctx = NULL;
    int rc = tg_ctx_open(&ctx, &cfg);
    if (rc != TG_OK) {
        fprintf(stderr, "at_ctx: %s: %s\n", tg_strerror(rc), tg_ctx_errmsg(NULL));
        return NULL;
    }
    return ctx;
}

/* A realistic event: a message sent by `actor` from an IPv4 address, with
 * a message id as target and small details. */
static inline void at_event(tg_audit_event *e, const char *workspace, const char *actor)
{
    tg_audit_event_init(e);
    e->workspace = workspace;
    e->actor = actor;
    e->actor_ip = "203.0.113.77";
    e->action = TG_AUDIT_MESSAGE_SENT;
    e->target = "msg-0001";
    e->details = "{\"bytes\":280,\"findings\":0,\"rule\":\"default\"}";
}

/* Store keys of a chain's rows (NULL workspace: the system chain). */
static inline size_t at_key(uint8_t *key, enum tg__audit_kind kind, const char *workspace,
                            uint64_t seq)
{
    const char *chain = workspace ? workspace : "";
    return tg__audit_seq_key(key, kind, chain, strlen(chain), seq);
}

/* A copy of a stored value (NULL txn). TG_OK, TG_ENOTFOUND or an error. */
typedef struct at_bytes {
    uint8_t b[8192];
    size_t n;
} at_bytes;

static inline int at_get(tg_store *s, enum tg__audit_kind kind, const char *ws, uint64_t seq,
                         at_bytes *out)
{
    uint8_t key[TG__AUDIT_KEY_MAX];
    size_t klen = at_key(key, kind, ws, seq);
    out->n = 0;
    return tg__store_get_buf(s, NULL, key, klen, out->b, sizeof out->b, &out->n);
}

static inline int at_put(tg_store *s, enum tg__audit_kind kind, const char *ws, uint64_t seq,
                         const at_bytes *v)
{
    uint8_t key[TG__AUDIT_KEY_MAX];
    size_t klen = at_key(key, kind, ws, seq);
    return tg__store_put(s, NULL, key, klen, v->b, v->n);
}

static inline int at_del(tg_store *s, enum tg__audit_kind kind, const char *ws, uint64_t seq)
{
    uint8_t key[TG__AUDIT_KEY_MAX];
    size_t klen = at_key(key, kind, ws, seq);
    return tg__store_del(s, NULL, key, klen);
}

/* Verifies a chain (all of it when from and to are 0); returns the call's
 * result code, the verdict in *v. */
static inline int at_verify(tg_ctx *ctx, tg_audit_verdict *v, const char *ws, uint64_t from,
                            uint64_t to)
{
    tg_audit_verdict_init(v);
    return tg_audit_verify(ctx, v, ws, from, to, NULL, NULL);
}

/* Verifies a whole chain: true when it is valid, else false with the
 * error or the problem on stderr. The verdict is in *v either way. */
static inline bool at_chain_valid(tg_ctx *ctx, const char *ws, tg_audit_verdict *v)
{
    int rc = at_verify(ctx, v, ws, 0, 0);
    if (rc != TG_OK) {
        fprintf(stderr, "verify '%s': %s: %s\n", ws ? ws : "", tg_strerror(rc),
                tg_ctx_errmsg(NULL));
        return false;
    }
    if (v->problem != TG_AUDIT_VALID) {
        fprintf(stderr, "verify '%s': %s at %llu: %s\n", ws ? ws : "",
                tg_audit_problem_name(v->problem), (unsigned long long)v->bad_seq, v->reason);
        return false;
    }
    return true;
}

/* Rows of one kind of a chain, in key order (for counting and scanning). */
typedef int (*at_row_fn)(void *user, uint64_t seq, const uint8_t *value, size_t len);
typedef struct at_rows {
    at_row_fn fn;
    void *user;
} at_rows;

static inline int at_rows_cb(void *user, const uint8_t *key, size_t key_len,
                             const uint8_t *value, size_t value_len)
{
    at_rows *r = user;
    return r->fn(r->user, tg__get_u64(key + key_len - 8), value, value_len);
}

static inline int at_scan(tg_store *s, enum tg__audit_kind kind, const char *ws, at_row_fn fn,
                          void *user)
{
    const char *chain = ws ? ws : "";
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_key(lo, kind, chain, strlen(chain), NULL, 0);
    size_t hi_len = tg__store_prefix_end(lo, lo_len, hi);
    at_rows r = {fn, user};
    return tg__store_scan(s, NULL, lo, lo_len, hi, hi_len, 0, at_rows_cb, &r);
}

static inline int at_count_row(void *user, uint64_t seq, const uint8_t *value, size_t len)
{
    (void)seq, (void)value, (void)len;
    ++*(uint64_t *)user;
    return 0;
}

/* How many rows of a kind a chain has. */
static inline uint64_t at_count(tg_store *s, enum tg__audit_kind kind, const char *ws)
{
    uint64_t n = 0;
    if (at_scan(s, kind, ws, at_count_row, &n) != TG_OK)
        return UINT64_MAX;
    return n;
}

#endif
