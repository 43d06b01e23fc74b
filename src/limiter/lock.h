/*
 * lock.h - the limiter's mutex.
 *
 * A check takes up to four locks (three shards and the global bucket), so
 * their cost counts: an uncontended pthread mutex lock/unlock pair costs
 * about 15 ns here, of which the two atomic instructions are about 6. On
 * Linux this lock is those two instructions, inline: a compare-and-swap
 * 0 -> 1 to take it, an exchange to 0 to release it, and only when there
 * was contention a spin and then a futex wait (Drepper, "Futexes Are
 * Tricky", mutex 3: state 0 free, 1 held, 2 held and maybe waited for).
 * Elsewhere it is a pthread mutex.
 */
#ifndef TG_LIMITER_LOCK_H
#define TG_LIMITER_LOCK_H

#include <stdint.h>

#if defined(__linux__)
#include <stdatomic.h>

typedef struct tg__lock {
    _Atomic uint32_t state;
} tg__lock;

/* The contended halves (lock.c). */
void tg__lock_wait(tg__lock *l);
void tg__lock_wake(tg__lock *l);

static inline void tg__lock_init(tg__lock *l)
{
    atomic_init(&l->state, 0);
}

static inline void tg__lock_destroy(tg__lock *l)
{
    (void)l;
}

static inline void tg__lock_acquire(tg__lock *l)
{
    uint32_t free_ = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->state, &free_, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        tg__lock_wait(l);
}

static inline void tg__lock_release(tg__lock *l)
{
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2)
        tg__lock_wake(l);
}

#else
#include <pthread.h>

typedef struct tg__lock {
    pthread_mutex_t m;
} tg__lock;

static inline void tg__lock_init(tg__lock *l)
{
    pthread_mutex_init(&l->m, NULL);
}

static inline void tg__lock_destroy(tg__lock *l)
{
    pthread_mutex_destroy(&l->m);
}

static inline void tg__lock_acquire(tg__lock *l)
{
    pthread_mutex_lock(&l->m);
}

static inline void tg__lock_release(tg__lock *l)
{
    pthread_mutex_unlock(&l->m);
}
#endif

#endif
