/*
 * store_internal.h - how modules use a tg_store. Each call validates its
 * arguments, forwards to the implementation's ops and turns a misbehaving
 * host callback into TG_ECALLBACK. Errors carry a message.
 */
#ifndef TG_STORE_INTERNAL_H
#define TG_STORE_INTERNAL_H

#include "../core/core.h"

int tg__store_begin(tg_store *s, tg_store_txn **out);
int tg__store_commit(tg_store *s, tg_store_txn *txn);
void tg__store_rollback(tg_store *s, tg_store_txn *txn);
int tg__store_get(tg_store *s, tg_store_txn *txn, const uint8_t *key, size_t key_len,
                  tg_store_row_cb cb, void *cb_user);
/* get into a caller buffer: TG_ERANGE if the value is longer than cap. */
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

/* The smallest key greater than every key starting with prefix[0..len):
 * the prefix with trailing 0xFF bytes dropped and its last byte incremented.
 * Writes to out (capacity >= len) and returns its length, or 0 when no such
 * key exists (prefix is all 0xFF: scan to the end). */
size_t tg__store_prefix_end(const uint8_t *prefix, size_t len, uint8_t *out);

#endif
