/*
 * alloc.c - every allocation of the DLP module, PCRE2's included, goes
 * through here, so the fault-injection tests can fail the N-th one.
 */
#include <pthread.h>
#include <stdlib.h>

#include "dlp_impl.h"

bool (*tg__dlp_alloc_should_fail)(void);

void *tg__dlp_malloc(size_t size)
{
    if (tg__dlp_alloc_should_fail && tg__dlp_alloc_should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *tg__dlp_calloc(size_t n, size_t size)
{
    if (tg__dlp_alloc_should_fail && tg__dlp_alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *tg__dlp_realloc(void *ptr, size_t size)
{
    if (tg__dlp_alloc_should_fail && tg__dlp_alloc_should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

static void *pcre2_alloc(size_t size, void *data)
{
    (void)data;
    return tg__dlp_malloc(size);
}

static void pcre2_release(void *ptr, void *data)
{
    (void)data;
    free(ptr);
}

static pthread_mutex_t general_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_general_context *general;

pcre2_general_context *tg__dlp_pcre2_general(void)
{
    pthread_mutex_lock(&general_lock);
    if (!general)
        general = pcre2_general_context_create(pcre2_alloc, pcre2_release, NULL);
    pcre2_general_context *g = general;
    pthread_mutex_unlock(&general_lock);
    return g;
}
