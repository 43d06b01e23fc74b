/* lock.c - the contended halves of the limiter's mutex (see lock.h). */
#include "lock.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Critical sections are tens of ns: spin that long before sleeping, as
 * glibc's adaptive mutex does. */
#define SPINS 100

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void tg__lock_wait(tg__lock *l)
{
    for (int i = 0; i < SPINS; i++) {
        relax();
        uint32_t c = atomic_load_explicit(&l->state, memory_order_relaxed);
        if (c == 0 && atomic_compare_exchange_weak_explicit(&l->state, &c, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
    }
    /* Mark the lock waited for; whoever holds it wakes one sleeper on
     * release. Taken by exchange, it stays marked: a waiter cannot know it
     * was the last. */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        syscall(SYS_futex, (uint32_t *)&l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void tg__lock_wake(tg__lock *l)
{
    syscall(SYS_futex, (uint32_t *)&l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#else
typedef int tg__lock_unused; /* ISO C wants something in a translation unit */
#endif
