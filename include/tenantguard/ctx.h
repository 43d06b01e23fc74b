/*
 * tenantguard/ctx.h - the library context, its configuration and the
 * host-supplied allocator, clock and key service.
 *
 * A tg_ctx is safe to use from many threads at once: a gateway opens one
 * and shares it. Objects it hands out belong to the caller.
 */
#ifndef TENANTGUARD_CTX_H
#define TENANTGUARD_CTX_H

#include "common.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_ctx tg_ctx;

#define TG_ALLOCATOR_VERSION 1

/*
 * Allocator for the context's ordinary memory. Secrets never go through it:
 * they live in libsodium's guarded memory. A function returning NULL is an
 * allocation failure, which the library reports as TG_ENOMEM.
 */
typedef struct tg_allocator {
    uint32_t version;     /* TG_ALLOCATOR_VERSION */
    uint32_t struct_size; /* sizeof(tg_allocator) */
    void *user;
    void *(*malloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
} tg_allocator;

#define TG_KMS_VERSION 1
#define TG_KMS_WRAPPED_MAX 1024
TG_API size_t tg_kms_wrapped_max(void);

/*
 * Key service: wraps and unwraps workspace keys with a root key the host's
 * KMS holds. `ad` is associated data the wrap must be bound to: unwrap with
 * different ad must fail. A wrapped key is at most TG_KMS_WRAPPED_MAX bytes.
 * Both functions return TG_OK or a negative TG_E* code (TG_EKMS for a
 * service failure, TG_EAUTH for a wrapped key that does not authenticate,
 * TG_ERANGE when out_cap is too small). Must be thread-safe.
 *
 * Without a key service the library uses a local 32-byte master key (see
 * tg_config): a development default, not a substitute for a KMS.
 */
typedef struct tg_kms_ops {
    uint32_t version;     /* TG_KMS_VERSION */
    uint32_t struct_size; /* sizeof(tg_kms_ops) */
    void *user;
    int (*wrap)(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *key,
                size_t key_len, uint8_t *out, size_t out_cap, size_t *out_len);
    int (*unwrap)(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                  size_t wrapped_len, uint8_t *out, size_t out_cap, size_t *out_len);
} tg_kms_ops;

/* Name of the environment variable that may hold the local master key as
 * 64 hexadecimal digits. */
#define TG_MASTER_KEY_ENV "TENANTGUARD_MASTER_KEY"

/* Declared in tenantguard/limiter.h. */
struct tg_limiter_options;

#define TG_CONFIG_VERSION 2

/*
 * Context configuration. Initialise with tg_config_init(), then set what you
 * need. Pointers are only read during tg_ctx_open(); the strings and structs
 * are copied.
 *
 * Store: `store` (borrowed: it must outlive the context) or `store_path` (the
 * context opens the SQLite store there and closes it). One is required.
 *
 * Root key, first match wins:
 *   1. `kms`, the host's key service;
 *   2. `master_key`, 32 bytes given directly (copied into guarded memory);
 *   3. `master_key_path`, a file of 32 raw bytes;
 *   4. the environment variable TENANTGUARD_MASTER_KEY (64 hex digits);
 *   5. the file "<store_path>.key", created with mode 0600 on first use
 *      (written to a temporary file, synced, then linked into place, so it
 *      never exists half-written).
 * A key file must be a regular file owned by the process's effective user
 * that group and others may neither read nor write; anything else is refused
 * (TG_EPERM). The default file must not be a symbolic link (master_key_path
 * may be one; its target is checked). A key file of another size, or empty,
 * is TG_EFORMAT: an empty file is never replaced by a new key.
 */
typedef struct tg_config {
    uint32_t version;     /* TG_CONFIG_VERSION */
    uint32_t struct_size; /* sizeof(tg_config) */

    tg_store *store;
    const char *store_path;

    const tg_kms_ops *kms;
    const uint8_t *master_key; /* 32 bytes */
    const char *master_key_path;

    const tg_allocator *allocator; /* NULL: malloc/realloc/free */

    /* Milliseconds since the Unix epoch; NULL: the system clock. */
    int64_t (*clock)(void *user);
    void *clock_user;

    /* Bound of the unwrapped-key cache (entries; 0: 4096) and how long an
     * entry may be used before the store is consulted again (ms; 0: 60000).
     * The time-to-live bounds how long another instance sharing the store
     * may go on using a key this one shredded. */
    uint32_t key_cache_entries;
    uint32_t key_cache_ttl_ms;

    /* Rate limiter settings (tenantguard/limiter.h); NULL: defaults. */
    const struct tg_limiter_options *limiter;

    /* Since version 2. Audit settings (tenantguard/audit.h); NULL: defaults. */
    const struct tg_audit_options *audit;
} tg_config;

/* Fills `cfg` with defaults and the version fields. Accepts NULL (no-op). */
TG_API void tg_config_init(tg_config *cfg);

/*
 * Opens a context. Initialises libsodium (idempotent, thread-safe).
 * Errors: TG_EINVAL (bad config; the message names the field), TG_EVERSION
 * (config, allocator or kms struct version; a store_path file with a newer
 * schema), TG_ENOMEM, TG_ESTORE, TG_EPERM (unsafe or unusable key file),
 * TG_EFORMAT (key file of the wrong size, or empty), TG_ECRYPTO.
 * Neither the key service nor the master key is used here, so a wrong
 * master key or a failing KMS is not detected at open: it shows as TG_EKMS
 * from the first keyring call that needs to unwrap a key.
 * On error *out is NULL and nothing is left open.
 */
TG_API int tg_ctx_open(tg_ctx **out, const tg_config *cfg);

/* Closes a context and wipes its keys. Accepts NULL. No other call on the
 * context may be running or follow. */
TG_API void tg_ctx_close(tg_ctx *ctx);

/*
 * Detail of the most recent failure of a tenantguard call on the calling
 * thread, e.g. "keyring: envelope is for another workspace". Calls that
 * take no context (tg_store_open_sqlite) report here too: pass NULL. The
 * string is owned by the library and valid until the thread's next
 * tenantguard call. Never NULL; "" if nothing failed yet.
 */
TG_API const char *tg_ctx_errmsg(const tg_ctx *ctx);

/* The context's current time in ms (its injected clock or the system's). */
TG_API int64_t tg_ctx_now_ms(const tg_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_CTX_H */
