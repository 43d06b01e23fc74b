/* gate.c - the single-writer gate of the built-in stores (see
 * store_internal.h). A condition variable rather than a mutex held for the
 * whole transaction, so the transaction may end on another thread than the
 * one that began it, and so a thread can be told it would wait for itself.
 *
 * Waking: whenever the gate becomes free with waiters, exactly one is
 * signalled; it passes the turn on when it is done (or the holder that
 * got in first does). Broadcasting instead woke every waiter at each
 * commit, and with several writer threads that herd halved throughput. */
#include "store_internal.h"

int tg__gate_init(tg__gate *g, const char *who)
{
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr))
        return tg__error(TG_ENOMEM, "%s: cannot create a mutex", who);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&g->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc)
        return tg__error(TG_ENOMEM, "%s: cannot create a mutex", who);
    if (pthread_cond_init(&g->idle, NULL)) {
        pthread_mutex_destroy(&g->mu);
        return tg__error(TG_ENOMEM, "%s: cannot create a condition variable", who);
    }
    g->busy = false;
    g->waiters = 0;
    g->who = who;
    return TG_OK;
}

void tg__gate_destroy(tg__gate *g)
{
    pthread_cond_destroy(&g->idle);
    pthread_mutex_destroy(&g->mu);
}

/* With g->mu held: waits for the open transaction to end, unless the
 * calling thread holds it: it would never end while we wait. */
static int wait_idle(tg__gate *g)
{
    if (g->busy && pthread_equal(g->owner, pthread_self()))
        return tg__error(TG_ESTORE, "%s: this thread holds the transaction open on this "
                                    "store and would wait for itself", g->who);
    g->waiters++;
    while (g->busy)
        pthread_cond_wait(&g->idle, &g->mu);
    g->waiters--;
    return TG_OK;
}

/* With g->mu held and the gate free: lets the next waiter in. */
static void wake_next(tg__gate *g)
{
    if (g->waiters)
        pthread_cond_signal(&g->idle);
}

int tg__gate_begin(tg__gate *g)
{
    pthread_mutex_lock(&g->mu);
    int rc = wait_idle(g);
    if (rc == TG_OK) {
        g->busy = true;
        g->owner = pthread_self();
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void tg__gate_hold(tg__gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->owner = pthread_self();
    pthread_mutex_unlock(&g->mu);
}

void tg__gate_end(tg__gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->busy = false;
    wake_next(g);
    pthread_mutex_unlock(&g->mu);
}

int tg__gate_lock(tg__gate *g)
{
    pthread_mutex_lock(&g->mu);
    int rc = wait_idle(g);
    if (rc)
        pthread_mutex_unlock(&g->mu);
    return rc;
}

void tg__gate_unlock(tg__gate *g)
{
    if (!g->busy) /* a callback may have begun a transaction meanwhile */
        wake_next(g);
    pthread_mutex_unlock(&g->mu);
}
