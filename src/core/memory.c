/* memory.c - ordinary allocation through the host's allocator, and guarded
 * allocation of secrets through libsodium. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core.h"

bool (*tg__secure_alloc_should_fail)(void);

static void *std_malloc(void *user, size_t size) { (void)user; return malloc(size); }
static void *std_realloc(void *user, void *p, size_t size) { (void)user; return realloc(p, size); }
static void std_free(void *user, void *p) { (void)user; free(p); }

static const tg_allocator default_allocator = {
    TG_ALLOCATOR_VERSION, sizeof(tg_allocator), NULL, std_malloc, std_realloc, std_free,
};

const tg_allocator *tg__default_allocator(void) { return &default_allocator; }

void *tg__malloc(const tg_allocator *a, size_t size)
{
    void *p = a->malloc(a->user, size ? size : 1);
    if (!p)
        tg__error(TG_ENOMEM, "out of memory allocating %zu bytes", size);
    return p;
}

void *tg__calloc(const tg_allocator *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        tg__error(TG_ENOMEM, "out of memory: %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = tg__malloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void tg__free(const tg_allocator *a, void *ptr)
{
    if (ptr)
        a->free(a->user, ptr);
}

void *tg__secure_alloc(size_t size)
{
    if (tg__secure_alloc_should_fail && tg__secure_alloc_should_fail()) {
        tg__error(TG_ENOMEM, "out of guarded memory for key material");
        return NULL;
    }
    void *p = sodium_malloc(size);
    if (!p)
        tg__error(TG_ENOMEM, "out of guarded memory for key material");
    return p;
}

void tg__secure_free(void *ptr)
{
    sodium_free(ptr); /* wipes first; accepts NULL */
}

int tg__sodium_ready(void)
{
    /* sodium_init is idempotent and thread-safe: 0 first time, 1 after. */
    if (sodium_init() < 0)
        return tg__error(TG_ECRYPTO, "libsodium failed to initialise");
    return TG_OK;
}
