/*
 * core.h - internal services every module uses: error reporting, the
 * context's allocator and clock, guarded memory for secrets, identifier
 * validation. Not installed; modules reach the context only through here.
 */
#ifndef TG_CORE_H
#define TG_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenantguard/ctx.h"

#if defined(__GNUC__)
#  define TG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define TG_PRINTF(f, a)
#endif

/* Records "fmt ..." as the calling thread's error message and returns code,
 * so a failure reads: return tg__error(TG_EINVAL, "keyring: ..."). */
int tg__error(int code, const char *fmt, ...) TG_PRINTF(2, 3);

/* Makes sure libsodium is initialised. TG_OK or TG_ECRYPTO. */
int tg__sodium_ready(void);

/* Fills out[0..len) with fresh random bytes for a public nonce. Cheaper than
 * randombytes_buf per call; safe across fork(). Never use it for keys. */
void tg__random_nonce(uint8_t *out, size_t len);

/* Ordinary memory through an allocator (never NULL here: the default
 * allocator is used when the host gave none). On failure these record
 * TG_ENOMEM's message and return NULL. */
const tg_allocator *tg__default_allocator(void);
void *tg__malloc(const tg_allocator *a, size_t size);
void *tg__calloc(const tg_allocator *a, size_t n, size_t size);
void tg__free(const tg_allocator *a, void *ptr);

/* Guarded memory for key material (libsodium's sodium_malloc): wiped and
 * freed by tg__secure_free, which accepts NULL. */
void *tg__secure_alloc(size_t size);
void tg__secure_free(void *ptr);

/* Test hook: when set, a secure allocation fails whenever it returns true.
 * NULL in production; only the fault-injection tests set it. */
extern bool (*tg__secure_alloc_should_fail)(void);

/* Context accessors for modules. */
struct tg_keyring;
struct tg_limiter;
struct tg_audit;
const tg_allocator *tg__ctx_allocator(const tg_ctx *ctx);
tg_store *tg__ctx_store(const tg_ctx *ctx);
struct tg_keyring *tg__ctx_keyring(const tg_ctx *ctx);
struct tg_limiter *tg__ctx_limiter(const tg_ctx *ctx);
struct tg_audit *tg__ctx_audit(const tg_ctx *ctx);
int64_t tg__ctx_now(const tg_ctx *ctx);

/* Checks an identifier: 1..TG_ID_MAX bytes of UTF-8 without control
 * characters. `what` names it in the error ("workspace id"). On success
 * stores its length in *out_len. */
int tg__check_id(const char *what, const char *id, size_t *out_len);

/* True if buf[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool tg__utf8_valid(const uint8_t *buf, size_t len);

/* Big-endian integer helpers for on-disk formats. */
static inline void tg__put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}
static inline uint32_t tg__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tg__put_u64(uint8_t *p, uint64_t v)
{
    tg__put_u32(p, (uint32_t)(v >> 32));
    tg__put_u32(p + 4, (uint32_t)v);
}
static inline uint64_t tg__get_u64(const uint8_t *p)
{
    return (uint64_t)tg__get_u32(p) << 32 | tg__get_u32(p + 4);
}

#endif /* TG_CORE_H */
