/*
 * test_audit_durability.c - an append the call acknowledged survives the
 * writer being killed. A child process appends to a SQLite store in a
 * loop and writes each sequence number to a pipe once tg_audit_append
 * returned TG_OK; the parent SIGKILLs it at some moment (after N acks, or
 * after a delay), reopens the store and checks that every acknowledged
 * record is there and the chain verifies. A last record the child
 * committed but had no time to acknowledge may or may not be there. The
 * next child continues the same chain, so each round also checks that a
 * chain left by a killed writer can be appended to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit_test.h"

#define INTERVAL 7

static char db_path[4200];

/* The child: appends until killed. Never returns. */
static void writer(int fd)
{
    tg_store *store = NULL;
    if (tg_store_open_sqlite(&store, db_path, NULL) != TG_OK)
        _exit(2);
    tg_ctx *ctx = at_ctx(store, NULL, INTERVAL);
    if (!ctx)
        _exit(3);
    tg_audit_event e;
    at_event(&e, "acme", "alice");
    for (;;) {
        uint64_t seq = 0;
        if (tg_audit_append(ctx, &e, &seq) != TG_OK)
            _exit(4);
        if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
            _exit(5);
    }
}

static uint64_t read_ack(int fd, bool *eof)
{
    uint64_t seq = 0;
    size_t got = 0;
    while (got < sizeof seq) {
        ssize_t n = read(fd, (uint8_t *)&seq + got, sizeof seq - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *eof = true;
            return 0;
        }
        got += (size_t)n;
    }
    return seq;
}

/* One round: a child appends after `head`; killed after `acks`
 * acknowledgements, or `delay_ms` after it started when acks is 0.
 * Returns the new head. */
static uint64_t round_trip(uint64_t head, int acks, int delay_ms)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        writer(fds[1]);
    }
    close(fds[1]);
    uint64_t last_ack = head, count = 0;
    bool eof = false;
    if (acks > 0) {
        while (count < (uint64_t)acks && !eof) {
            uint64_t s = read_ack(fds[0], &eof);
            if (eof)
                break;
            assert_int_equal(s, last_ack + 1); /* the only writer: consecutive */
            last_ack = s;
            count++;
        }
    } else {
        struct timespec ts = {0, (long)delay_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        print_error("the writer ended by itself (status %d) before it was killed\n", status);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* Acknowledgements still in the pipe count too. */
    for (;;) {
        uint64_t s = read_ack(fds[0], &eof);
        if (eof)
            break;
        assert_int_equal(s, last_ack + 1);
        last_ack = s;
        count++;
    }
    close(fds[0]);

    tg_store *store = NULL;
    assert_int_equal(tg_store_open_sqlite(&store, db_path, NULL), TG_OK);
    tg_ctx *ctx = at_ctx(store, NULL, INTERVAL);
    assert_non_null(ctx);
    for (uint64_t s = head + 1; s <= last_ack; s++) {
        at_bytes b;
        tg__audit_record r;
        int rc = at_get(store, TG__AK_RECORD, "acme", s, &b);
        if (rc != TG_OK)
            print_error("acknowledged record %llu is gone (%s)\n", (unsigned long long)s,
                        tg_strerror(rc));
        assert_int_equal(rc, TG_OK);
        assert_int_equal(tg__audit_record_decode(&r, b.b, b.n), TG_OK);
        assert_int_equal(r.seq, s);
    }
    tg_audit_verdict v;
    assert_true(at_chain_valid(ctx, "acme", &v));
    /* Every acknowledged record, and at most one more. */
    assert_true(v.last_seq >= last_ack);
    assert_true(v.last_seq <= last_ack + 1);
    assert_int_equal(v.records, v.last_seq);
    uint64_t new_head = v.last_seq;
    tg_ctx_close(ctx);
    tg_store_close(store);
    return new_head;
}

static void test_killed_writer(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    snprintf(db_path, sizeof db_path, "%s/audit.db", dir);
    uint64_t head = 0;
    /* Killed after a count of acknowledgements... */
    static const int acks[] = {1, 300, 57, 1000, 300};
    for (size_t i = 0; i < sizeof acks / sizeof acks[0]; i++) {
        uint64_t before = head;
        head = round_trip(head, acks[i], 0);
        assert_true(head >= before + (uint64_t)acks[i]);
    }
    /* ... or at a moment unrelated to them (possibly mid-commit, or before
     * the child opened the store at all). */
    static const int delays[] = {0, 3, 17, 40, 75};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++)
        head = round_trip(head, 0, delays[i]);
    /* The checkpoints are all there. */
    tg_store *store = NULL;
    assert_int_equal(tg_store_open_sqlite(&store, db_path, NULL), TG_OK);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "acme"), head / INTERVAL);
    tg_store_close(store);
    tgt_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
