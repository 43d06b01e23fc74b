/*
 * test_audit.c - the audit log's API: sequence numbers per chain, the
 * stored record's fields (read back with the internal decoder), pseudonyms
 * and the absence of raw identifiers, network cuts, details kept as given,
 * default tags, checkpoints, the public key, erasure, retention, batches,
 * bad input to every public audit function, and store faults in the middle
 * of an append or a prune (each returns an error and leaves a chain that
 * verifies with exactly the records acknowledged before).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "audit_test.h"

#define expect_rc(call, want)                                                                  \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != (want))                                                                     \
            print_error("%s: got %s (%d), want %s: %s\n", #call, tg_strerror(rc_), rc_,        \
                        tg_strerror(want), tg_ctx_errmsg(NULL));                               \
        assert_int_equal(rc_, (want));                                                         \
    } while (0)

/* Appends one event to `ws` by `actor`; returns its seq. */
static uint64_t append(tg_ctx *ctx, const char *ws, const char *actor)
{
    tg_audit_event e;
    at_event(&e, ws, actor);
    uint64_t seq = 0;
    expect_rc(tg_audit_append(ctx, &e, &seq), TG_OK);
    return seq;
}

static void expect_valid(tg_ctx *ctx, const char *ws, uint64_t records)
{
    tg_audit_verdict v;
    assert_true(at_chain_valid(ctx, ws, &v));
    assert_int_equal(v.records, records);
}

/* A stored record, decoded (its strings point into *buf). */
static void read_record(tg_store *s, const char *ws, uint64_t seq, at_bytes *buf,
                        tg__audit_record *r)
{
    expect_rc(at_get(s, TG__AK_RECORD, ws, seq, buf), TG_OK);
    expect_rc(tg__audit_record_decode(r, buf->b, buf->n), TG_OK);
}

static void expect_str(const char *s, size_t n, const char *want)
{
    if (n != strlen(want) || memcmp(s, want, n) != 0)
        print_error("got '%.*s', want '%s'\n", (int)n, s, want);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

/* The actor pseudonym of a stored record, NUL-terminated. */
static void actor_of(tg_store *s, const char *ws, uint64_t seq, char out[TG__AUDIT_ACTOR_MAX + 1])
{
    at_bytes buf;
    tg__audit_record r;
    read_record(s, ws, seq, &buf, &r);
    assert_true(r.actor_len < TG__AUDIT_ACTOR_MAX + 1);
    memcpy(out, r.actor, r.actor_len);
    out[r.actor_len] = '\0';
}

/* ---- sequence numbers and chains ------------------------------------------------ */

static void test_seqs_per_chain(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1700000000000, NULL);
    /* Interleaved: each chain counts on its own from 1. */
    assert_int_equal(append(f.ctx, "acme", "u1"), 1);
    assert_int_equal(append(f.ctx, "beta", "u1"), 1);
    assert_int_equal(append(f.ctx, "acme", "u2"), 2);
    assert_int_equal(append(f.ctx, NULL, NULL), 1);
    assert_int_equal(append(f.ctx, "acme", "u1"), 3);
    assert_int_equal(append(f.ctx, NULL, "u9"), 2);
    assert_int_equal(append(f.ctx, "beta", NULL), 2);
    /* out_seq may be NULL. */
    tg_audit_event e;
    at_event(&e, "acme", "u1");
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK);
    assert_int_equal(append(f.ctx, "acme", "u1"), 5);
    expect_valid(f.ctx, "acme", 5);
    expect_valid(f.ctx, "beta", 2);
    expect_valid(f.ctx, NULL, 2);
    expect_valid(f.ctx, "nobody", 0);
    assert_int_equal(at_count(f.store, TG__AK_RECORD, "acme"), 5);
    assert_int_equal(at_count(f.store, TG__AK_RECORD, NULL), 2);

    /* A chain's records name their own chain and the hash before them. */
    at_bytes b1, b2;
    tg__audit_record r1, r2;
    read_record(f.store, "beta", 1, &b1, &r1);
    read_record(f.store, "beta", 2, &b2, &r2);
    expect_str(r1.chain, r1.chain_len, "beta");
    uint8_t zero[TG_AUDIT_HASH_BYTES] = {0}, h1[TG_AUDIT_HASH_BYTES];
    assert_memory_equal(r1.prev, zero, sizeof zero);
    tg__audit_hash(h1, b1.b, b1.n);
    assert_memory_equal(r2.prev, h1, sizeof h1);
    read_record(f.store, NULL, 2, &b1, &r1);
    assert_int_equal(r1.chain_len, 0);

    /* A second context on the same store continues each chain. */
    tg_ctx *other = at_ctx(f.store, &f.clock, 0);
    assert_non_null(other);
    assert_int_equal(append(other, "acme", "u3"), 6);
    assert_int_equal(append(f.ctx, "acme", "u3"), 7); /* its cached head was stale */
    expect_valid(other, "acme", 7);
    tg_ctx_close(other);
    tgt_fixture_close(&f);
}

/* ---- what a record holds ---------------------------------------------------------- */

static void test_record_fields(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1700000000123, NULL);
    tg_audit_event e;
    tg_audit_event_init(&e);
    e.workspace = "acme";
    e.actor = "alice@example.com";
    e.actor_ip = "198.51.100.200";
    e.action = TG_AUDIT_MESSAGE_BLOCKED;
    e.target = "msg-42";
    e.outcome = TG_AUDIT_DENIED;
    e.severity = TG_AUDIT_HIGH;
    e.tags = TG_AUDIT_GDPR | TG_AUDIT_PCI_DSS;
    e.details = "{ \"rule\" : \"cards\",\n  \"count\": 2, \"nested\": {\"a\": [1, 2.5, true, null]} }";
    uint64_t seq = 0;
    expect_rc(tg_audit_append(f.ctx, &e, &seq), TG_OK);
    assert_int_equal(seq, 1);

    at_bytes b;
    tg__audit_record r;
    read_record(f.store, "acme", 1, &b, &r);
    assert_int_equal(b.n, tg__audit_record_size(&r));
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.time_ms, 1700000000123);
    assert_int_equal(r.action, TG_AUDIT_MESSAGE_BLOCKED);
    assert_int_equal(r.outcome, TG_AUDIT_DENIED);
    assert_int_equal(r.severity, TG_AUDIT_HIGH);
    assert_int_equal(r.tags, TG_AUDIT_GDPR | TG_AUDIT_PCI_DSS);
    expect_str(r.chain, r.chain_len, "acme");
    assert_int_equal(r.actor_len, TG__AUDIT_ACTOR_MAX);
    assert_memory_equal(r.actor, "p-", 2);
    for (size_t i = 2; i < r.actor_len; i++)
        assert_non_null(strchr("0123456789abcdef", r.actor[i]));
    expect_str(r.network, r.network_len, "198.51.100.0/24");
    expect_str(r.target, r.target_len, "msg-42");
    assert_false(r.target_is_pseudonym);
    /* details are kept as given (an export carries these exact bytes) */
    expect_str(r.details, r.details_len, e.details);

    /* Absent fields: no actor, no network, no target, details {}. */
    f.clock.now_ms += 5;
    tg_audit_event_init(&e);
    e.action = TG_AUDIT_KEY_ROTATED;
    expect_rc(tg_audit_append(f.ctx, &e, &seq), TG_OK);
    read_record(f.store, NULL, seq, &b, &r);
    assert_int_equal(r.time_ms, 1700000000128);
    assert_int_equal(r.actor_len, 0);
    assert_int_equal(r.network_len, 0);
    assert_int_equal(r.target_len, 0);
    expect_str(r.details, r.details_len, "{}");
    assert_int_equal(r.outcome, TG_AUDIT_SUCCESS);
    assert_int_equal(r.severity, TG_AUDIT_INFO);
    tgt_fixture_close(&f);
}

static void test_network_cut(void **state)
{
    (void)state;
    static const struct {
        const char *ip, *net;
    } cases[] = {
        {"10.1.2.3", "10.1.2.0/24"},
        {"255.255.255.255", "255.255.255.0/24"},
        {"0.0.0.0", "0.0.0.0/24"},
        {"2001:db8:abcd:1234:5678:9abc:def0:1234", "2001:db8:abcd::/48"},
        {"2001:DB8:ABCD:1::1", "2001:db8:abcd::/48"},
        {"::1", "::/48"},
        {"fe80::1", "fe80::/48"},
        /* IPv4 inside IPv6 is cut as IPv4; 6to4 keeps only the IPv4 /24 */
        {"::ffff:198.51.100.23", "198.51.100.0/24"},
        {"64:ff9b::203.0.113.77", "203.0.113.0/24"},
        {"::203.0.113.77", "203.0.113.0/24"},
        {"2002:cb00:714d::1", "2002:cb00:7100::/40"},
    };
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_audit_event e;
        at_event(&e, "acme", "u");
        e.actor_ip = cases[i].ip;
        uint64_t seq;
        expect_rc(tg_audit_append(f.ctx, &e, &seq), TG_OK);
        at_bytes b;
        tg__audit_record r;
        read_record(f.store, "acme", seq, &b, &r);
        expect_str(r.network, r.network_len, cases[i].net);
    }
    tgt_fixture_close(&f);
}

static void test_default_tags(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    static const struct {
        int action;
        uint32_t tags;
    } cases[] = {
        {TG_AUDIT_MESSAGE_SENT, TG_AUDIT_SOC2 | TG_AUDIT_HIPAA},
        {TG_AUDIT_RATELIMIT_DENIED, TG_AUDIT_SOC2},
        {TG_AUDIT_DSR_RECEIVED, TG_AUDIT_GDPR | TG_AUDIT_CCPA | TG_AUDIT_FERPA},
        {TG_AUDIT_SUBJECT_ERASED, TG_AUDIT_GDPR | TG_AUDIT_CCPA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_audit_event e;
        at_event(&e, "acme", NULL);
        e.action = cases[i].action;
        uint64_t seq;
        expect_rc(tg_audit_append(f.ctx, &e, &seq), TG_OK);
        at_bytes b;
        tg__audit_record r;
        read_record(f.store, "acme", seq, &b, &r);
        assert_int_equal(r.tags, cases[i].tags);
        /* Given tags replace the default. */
        e.tags = TG_AUDIT_FERPA;
        expect_rc(tg_audit_append(f.ctx, &e, &seq), TG_OK);
        read_record(f.store, "acme", seq, &b, &r);
        assert_int_equal(r.tags, TG_AUDIT_FERPA);
    }
    /* Every action of the catalogue has a name that maps back, and tags. */
    for (int a = 1; a <= TG_AUDIT_ACTION_COUNT; a++) {
        assert_non_null(tg_audit_action_name(a));
        assert_int_equal(tg_audit_action_from_name(tg_audit_action_name(a)), a);
        assert_int_not_equal(tg__audit_default_tags(a), 0);
    }
    tgt_fixture_close(&f);
}

/* ---- pseudonyms and raw identifiers ------------------------------------------------- */

typedef struct needle_scan {
    const char *needles[4];
    int hits;
} needle_scan;

static int scan_for_needles(void *user, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len)
{
    needle_scan *n = user;
    for (int i = 0; i < 4 && n->needles[i]; i++) {
        size_t l = strlen(n->needles[i]);
        if (memmem(value, value_len, n->needles[i], l) || memmem(key, key_len, n->needles[i], l))
            n->hits++;
    }
    return 0;
}

/* Rows between lo and hi (prefixes) holding any of the needles. */
static int rows_holding(tg_store *s, const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                        size_t hi_len, const char *a, const char *b, const char *c)
{
    needle_scan n = {{a, b, c, NULL}, 0};
    expect_rc(tg__store_scan(s, NULL, lo, lo_len, hi, hi_len, 0, scan_for_needles, &n), TG_OK);
    return n.hits;
}

static void test_pseudonyms(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    const char *alice = "alice-7731@corp.example", *bob = "bob-0042@corp.example";
    tg_audit_event e;
    at_event(&e, "acme", alice);
    e.actor_ip = "203.0.113.77";
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* acme 1 */
    e.actor_ip = "2001:db8:77:1:2:3:4:5";
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* acme 2 */
    at_event(&e, "acme", bob);
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* acme 3 */
    at_event(&e, "beta", alice);
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* beta 1 */
    at_event(&e, NULL, alice);
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* system 1 */
    /* bob acts on alice: the target is a person. */
    at_event(&e, "acme", bob);
    e.action = TG_AUDIT_ROLE_CHANGED;
    e.target = alice;
    e.target_is_subject = 1;
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK); /* acme 4 */

    char a1[40], a2[40], b3[40], beta1[40], sys1[40], b4[40];
    actor_of(f.store, "acme", 1, a1);
    actor_of(f.store, "acme", 2, a2);
    actor_of(f.store, "acme", 3, b3);
    actor_of(f.store, "beta", 1, beta1);
    actor_of(f.store, NULL, 1, sys1);
    actor_of(f.store, "acme", 4, b4);
    assert_string_equal(a1, a2);       /* same user, same workspace */
    assert_string_not_equal(a1, b3);   /* another user */
    assert_string_not_equal(a1, beta1); /* another workspace */
    assert_string_not_equal(a1, sys1);
    assert_string_not_equal(beta1, sys1);
    assert_string_equal(b3, b4);
    at_bytes b;
    tg__audit_record r;
    read_record(f.store, "acme", 4, &b, &r);
    assert_true(r.target_is_pseudonym);
    expect_str(r.target, r.target_len, a1);

    /* No record holds a raw user id or a full IP address. */
    uint8_t lo[2] = {'A', TG__AK_RECORD}, hi[2] = {'A', TG__AK_RECORD + 1};
    assert_int_equal(at_count(f.store, TG__AK_RECORD, "acme"), 4);
    assert_int_equal(rows_holding(f.store, lo, 2, hi, 2, alice, bob, "203.0.113.77"), 0);
    assert_int_equal(rows_holding(f.store, lo, 2, hi, 2, "2001:db8:77:1", "alice", "bob"), 0);
    /* ... while the scan does find what is there (so it can fail). */
    assert_int_equal(rows_holding(f.store, lo, 2, hi, 2, a1, NULL, NULL), 3); /* acme 1, 2, 4 */
    assert_int_equal(rows_holding(f.store, lo, 2, hi, 2, "203.0.113.0/24", NULL, NULL), 5);
    assert_int_equal(rows_holding(f.store, lo, 2, hi, 2, "2001:db8:77::/48", NULL, NULL), 1);
    tgt_fixture_close(&f);
}

/* ---- checkpoints and the public key ------------------------------------------------ */

static void test_checkpoints(void **state)
{
    (void)state;
    tgt_clock clock = {5000};
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = at_ctx(store, &clock, 5);
    assert_non_null(ctx);
    for (int i = 1; i <= 12; i++) {
        clock.now_ms++;
        assert_int_equal(append(ctx, "acme", "u"), (uint64_t)i);
    }
    /* Signed with the record that reaches a multiple of 5, none else. */
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "acme"), 2);
    uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES];
    expect_rc(tg_audit_public_key(ctx, pk), TG_OK);
    for (uint64_t s = 5; s <= 10; s += 5) {
        at_bytes cb, rb;
        tg__audit_checkpoint c;
        expect_rc(at_get(store, TG__AK_CHECKPOINT, "acme", s, &cb), TG_OK);
        expect_rc(tg__audit_checkpoint_decode(&c, cb.b, cb.n), TG_OK);
        assert_int_equal(c.seq, s);
        assert_int_equal(c.time_ms, 5000 + (int64_t)s);
        expect_rc(at_get(store, TG__AK_RECORD, "acme", s, &rb), TG_OK);
        uint8_t h[TG_AUDIT_HASH_BYTES];
        tg__audit_hash(h, rb.b, rb.n);
        assert_memory_equal(c.hash, h, sizeof h);
        assert_true(tg__audit_checkpoint_valid(pk, "acme", 4, &c));
        assert_false(tg__audit_checkpoint_valid(pk, "acmf", 4, &c)); /* bound to its chain */
    }
    at_bytes none;
    expect_rc(at_get(store, TG__AK_CHECKPOINT, "acme", 4, &none), TG_ENOTFOUND);

    /* On demand: the head; again is the same checkpoint. */
    uint64_t seq = 0;
    expect_rc(tg_audit_checkpoint(ctx, "acme", &seq), TG_OK);
    assert_int_equal(seq, 12);
    expect_rc(tg_audit_checkpoint(ctx, "acme", NULL), TG_OK);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "acme"), 3);
    tg_audit_verdict v;
    expect_rc(at_verify(ctx, &v, "acme", 0, 0), TG_OK);
    assert_int_equal(v.problem, TG_AUDIT_VALID);
    assert_int_equal(v.checkpoints, 3);
    assert_int_equal(v.records, 12);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, 12);
    assert_string_equal(tg_audit_problem_name(v.problem), "valid");

    /* The chain goes on; the interval still counts from 1. */
    for (int i = 13; i <= 15; i++)
        assert_int_equal(append(ctx, "acme", "u"), (uint64_t)i);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "acme"), 4);

    /* An empty chain has nothing to sign. */
    seq = 77;
    expect_rc(tg_audit_checkpoint(ctx, "empty", &seq), TG_ENOTFOUND);
    assert_int_equal(seq, 77);
    expect_rc(tg_audit_checkpoint(ctx, NULL, &seq), TG_ENOTFOUND);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "empty"), 0);
    /* The system chain can be signed once it has records. */
    assert_int_equal(append(ctx, NULL, NULL), 1);
    expect_rc(tg_audit_checkpoint(ctx, NULL, &seq), TG_OK);
    assert_int_equal(seq, 1);
    tg_ctx_close(ctx);

    /* Interval 1: every record. Options with a bad version are refused. */
    ctx = at_ctx(store, &clock, 1);
    assert_non_null(ctx);
    assert_int_equal(append(ctx, "one", "u"), 1);
    assert_int_equal(append(ctx, "one", "u"), 2);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "one"), 2);
    tg_ctx_close(ctx);
    tg_config cfg;
    tgt_config(&cfg, store, &clock);
    tg_audit_options ao;
    tg_audit_options_init(&ao);
    ao.version = 2;
    cfg.audit = &ao;
    expect_rc(tg_ctx_open(&ctx, &cfg), TG_EVERSION);
    tg_audit_options_init(&ao);
    ao.struct_size = 4;
    expect_rc(tg_ctx_open(&ctx, &cfg), TG_EVERSION);
    tg_store_close(store);
}

static void test_public_key(void **state)
{
    (void)state;
    tg_store *store = NULL, *other = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    expect_rc(tg_store_open_memory(&other), TG_OK);
    tg_ctx *a = at_ctx(store, NULL, 2), *b = at_ctx(store, NULL, 2), *c = at_ctx(other, NULL, 2);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    uint8_t pa[32], pb[32], pc[32], again[32];
    /* Asked before any record: there is none yet (asking never writes),
     * then the first record makes it, the same for all. */
    expect_rc(tg_audit_public_key(b, pb), TG_ENOTFOUND);
    assert_int_equal(append(a, "acme", "u"), 1);
    assert_int_equal(append(a, "acme", "u"), 2);
    expect_rc(tg_audit_public_key(b, pb), TG_OK);
    expect_rc(tg_audit_public_key(a, pa), TG_OK);
    assert_memory_equal(pa, pb, 32);
    assert_int_equal(append(c, "acme", "u"), 1);
    expect_rc(tg_audit_public_key(c, pc), TG_OK);
    assert_memory_not_equal(pa, pc, 32); /* another store, another key */
    /* It verifies the checkpoint a wrote, and the other does not. */
    at_bytes cb;
    tg__audit_checkpoint cp;
    expect_rc(at_get(store, TG__AK_CHECKPOINT, "acme", 2, &cb), TG_OK);
    expect_rc(tg__audit_checkpoint_decode(&cp, cb.b, cb.n), TG_OK);
    assert_true(tg__audit_checkpoint_valid(pb, "acme", 4, &cp));
    assert_false(tg__audit_checkpoint_valid(pc, "acme", 4, &cp));
    /* Stable across a new context on the same store. */
    tg_ctx_close(a);
    a = at_ctx(store, NULL, 2);
    expect_rc(tg_audit_public_key(a, again), TG_OK);
    assert_memory_equal(again, pb, 32);
    assert_int_equal(at_count(store, TG__AK_SECRET, NULL), 1);
    expect_valid(a, "acme", 2);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_ctx_close(c);
    tg_store_close(store);
    tg_store_close(other);
}

/* ---- erasure -------------------------------------------------------------------------- */

static void test_erasure(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    const char *alice = "alice-7731@corp.example";
    append(f.ctx, "acme", alice);
    append(f.ctx, "acme", "bob");
    append(f.ctx, "acme", alice);
    append(f.ctx, "beta", alice);
    char before[40], bob_before[40];
    actor_of(f.store, "acme", 1, before);
    actor_of(f.store, "acme", 2, bob_before);
    /* The mapping is stored somewhere (so the scan below can fail). */
    assert_true(rows_holding(f.store, NULL, 0, NULL, 0, alice, NULL, NULL) > 0);

    expect_rc(tg_audit_erase_subject(f.ctx, "acme", alice), TG_OK);
    expect_valid(f.ctx, "acme", 3);
    /* The store holds alice's id once more: beta's mapping. */
    assert_int_equal(rows_holding(f.store, (const uint8_t *)"A", 1, (const uint8_t *)"B", 1, alice,
                                  NULL, NULL),
                     1);
    /* Records keep the pseudonym they had. */
    char kept[40];
    actor_of(f.store, "acme", 3, kept);
    assert_string_equal(kept, before);
    /* Again: nothing to erase. Another workspace, or a user never seen. */
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", alice), TG_ENOTFOUND);
    expect_rc(tg_audit_erase_subject(f.ctx, "gamma", alice), TG_ENOTFOUND);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", "carol"), TG_ENOTFOUND);
    /* Her next event gets a new pseudonym; bob keeps his. */
    assert_int_equal(append(f.ctx, "acme", alice), 4);
    assert_int_equal(append(f.ctx, "acme", "bob"), 5);
    char after[40], bob_after[40];
    actor_of(f.store, "acme", 4, after);
    actor_of(f.store, "acme", 5, bob_after);
    assert_string_not_equal(after, before);
    assert_string_equal(bob_after, bob_before);
    expect_valid(f.ctx, "acme", 5);
    /* beta is untouched. */
    expect_rc(tg_audit_erase_subject(f.ctx, "beta", alice), TG_OK);
    assert_int_equal(rows_holding(f.store, (const uint8_t *)"A", 1, (const uint8_t *)"B", 1, alice,
                                  NULL, NULL),
                     1); /* acme's new mapping only */
    tgt_fixture_close(&f);
}

/* ---- retention -------------------------------------------------------------------------- */

/* 12 records in acme, record i at time 1000 * i, checkpoints at 5 and 10. */
static void retention_chain(tg_ctx *ctx, tgt_clock *clock)
{
    for (uint64_t i = 1; i <= 12; i++) {
        clock->now_ms = 1000 * (int64_t)i;
        assert_int_equal(append(ctx, "acme", "u"), i);
    }
}

static void test_retention(void **state)
{
    (void)state;
    tgt_clock clock = {0};
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = at_ctx(store, &clock, 5);
    retention_chain(ctx, &clock);
    clock.now_ms = 100000;

    /* Records 1..3 are older than 4000, but no checkpoint is: nothing. */
    uint64_t pruned = 99;
    expect_rc(tg_audit_prune(ctx, "acme", 4000, &pruned), TG_OK);
    assert_int_equal(pruned, 0);
    assert_int_equal(at_count(store, TG__AK_RECORD, "acme"), 12);
    assert_int_equal(at_count(store, TG__AK_RECORD, NULL), 0); /* nothing to record */
    at_bytes anchor;
    uint8_t akey[TG__AUDIT_KEY_MAX];
    size_t alen = tg__audit_key(akey, TG__AK_ANCHOR, "acme", 4, NULL, 0);
    expect_rc(tg__store_get_buf(store, NULL, akey, alen, anchor.b, sizeof anchor.b, &anchor.n),
              TG_ENOTFOUND);

    /* Older than 8000: records 1..7; the last checkpoint among them is 5. */
    expect_rc(tg_audit_prune(ctx, "acme", 8000, &pruned), TG_OK);
    assert_int_equal(pruned, 5);
    assert_int_equal(at_count(store, TG__AK_RECORD, "acme"), 7);
    assert_int_equal(at_count(store, TG__AK_CHECKPOINT, "acme"), 1); /* 10 */
    at_bytes r6;
    expect_rc(at_get(store, TG__AK_RECORD, "acme", 5, &r6), TG_ENOTFOUND);
    expect_rc(at_get(store, TG__AK_RECORD, "acme", 6, &r6), TG_OK);
    expect_rc(tg__store_get_buf(store, NULL, akey, alen, anchor.b, sizeof anchor.b, &anchor.n),
              TG_OK);
    tg__audit_checkpoint a;
    expect_rc(tg__audit_checkpoint_decode(&a, anchor.b, anchor.n), TG_OK);
    assert_int_equal(a.seq, 5);
    tg_audit_verdict v;
    expect_rc(at_verify(ctx, &v, "acme", 0, 0), TG_OK);
    assert_int_equal(v.problem, TG_AUDIT_VALID);
    assert_int_equal(v.records, 7);
    assert_int_equal(v.first_seq, 6);
    assert_int_equal(v.last_seq, 12);
    /* A new context verifies from the anchor too, and appends after the head. */
    tg_ctx *fresh = at_ctx(store, &clock, 5);
    expect_valid(fresh, "acme", 7);
    tg_ctx_close(fresh);
    assert_int_equal(append(ctx, "acme", "u"), 13);
    expect_valid(ctx, "acme", 8);

    /* The pruning is in the system chain. */
    assert_int_equal(at_count(store, TG__AK_RECORD, NULL), 1);
    at_bytes sb;
    tg__audit_record sr;
    read_record(store, NULL, 1, &sb, &sr);
    assert_int_equal(sr.action, TG_AUDIT_RETENTION_PRUNED);
    expect_str(sr.target, sr.target_len, "acme");
    expect_str(sr.details, sr.details_len,
               "{\"chain\":\"acme\",\"records\":5,\"anchor_seq\":5,\"older_than_ms\":8000}");
    expect_valid(ctx, NULL, 1);

    /* Tampering after the anchor is still caught. */
    at_bytes t;
    expect_rc(at_get(store, TG__AK_RECORD, "acme", 7, &t), TG_OK);
    t.b[t.n - 2] ^= 0x20; /* a letter of the details */
    expect_rc(at_put(store, TG__AK_RECORD, "acme", 7, &t), TG_OK);
    expect_rc(at_verify(ctx, &v, "acme", 0, 0), TG_OK);
    assert_int_equal(v.problem, TG_AUDIT_BAD_HASH);
    assert_int_equal(v.bad_seq, 8);
    t.b[t.n - 2] ^= 0x20;
    expect_rc(at_put(store, TG__AK_RECORD, "acme", 7, &t), TG_OK);
    /* So is a record put back before the anchor? It is outside the chain
     * that verifies; the anchor itself, forged, is not accepted. */
    anchor.b[20] ^= 1;
    expect_rc(tg__store_put(store, NULL, akey, alen, anchor.b, anchor.n), TG_OK);
    expect_rc(at_verify(ctx, &v, "acme", 0, 0), TG_OK);
    assert_int_equal(v.problem, TG_AUDIT_BAD_SIGNATURE);
    assert_int_equal(v.bad_seq, 5);
    anchor.b[20] ^= 1;
    expect_rc(tg__store_put(store, NULL, akey, alen, anchor.b, anchor.n), TG_OK);

    /* Pruning again up to 10, then everything: the anchor moves on. */
    expect_rc(tg_audit_prune(ctx, "acme", 1000000, &pruned), TG_OK);
    assert_int_equal(pruned, 5); /* 6..10: 13 has no checkpoint */
    expect_valid(ctx, "acme", 3);
    expect_rc(tg_audit_checkpoint(ctx, "acme", NULL), TG_OK);
    expect_rc(tg_audit_prune(ctx, "acme", 1000000, &pruned), TG_OK);
    assert_int_equal(pruned, 3); /* all of it: the anchor is the head */
    assert_int_equal(at_count(store, TG__AK_RECORD, "acme"), 0);
    expect_valid(ctx, "acme", 0);
    assert_int_equal(append(ctx, "acme", "u"), 14);
    expect_valid(ctx, "acme", 1);
    expect_valid(ctx, NULL, 3);
    /* out_pruned may be NULL; a chain never written prunes nothing. */
    expect_rc(tg_audit_prune(ctx, "nobody", 1000000, NULL), TG_OK);
    expect_rc(tg_audit_prune(ctx, "acme", INT64_MIN, &pruned), TG_OK);
    assert_int_equal(pruned, 0);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* Pruning the system chain records the pruning in that chain, after its
 * new anchor. */
static void test_retention_system_chain(void **state)
{
    (void)state;
    tgt_clock clock = {0};
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *ctx = at_ctx(store, &clock, 4);
    for (uint64_t i = 1; i <= 9; i++) {
        clock.now_ms = 1000 * (int64_t)i;
        assert_int_equal(append(ctx, NULL, "admin"), i);
    }
    clock.now_ms = 50000;
    uint64_t pruned = 0;
    expect_rc(tg_audit_prune(ctx, NULL, 10000, &pruned), TG_OK);
    assert_int_equal(pruned, 8);
    expect_valid(ctx, NULL, 2); /* 9 and the retention record, 10 */
    at_bytes b;
    tg__audit_record r;
    read_record(store, NULL, 10, &b, &r);
    assert_int_equal(r.action, TG_AUDIT_RETENTION_PRUNED);
    expect_str(r.details, r.details_len,
               "{\"chain\":\"system\",\"records\":8,\"anchor_seq\":8,\"older_than_ms\":10000}");
    tg_ctx *fresh = at_ctx(store, &clock, 4);
    expect_valid(fresh, NULL, 2);
    tg_ctx_close(fresh);
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* A context whose cached head predates another context's pruning must not
 * write under the pruned sequence numbers: its record would sit below the
 * anchor, where verification never looks, and fork the chain. */
static void test_prune_then_stale_context_appends(void **state)
{
    (void)state;
    tgt_clock clock = {0};
    tg_store *store = NULL;
    expect_rc(tg_store_open_memory(&store), TG_OK);
    tg_ctx *a = at_ctx(store, &clock, 5), *b = at_ctx(store, &clock, 5);
    clock.now_ms = 1000;
    assert_int_equal(append(b, "acme", "u"), 1);
    assert_int_equal(append(b, "acme", "u"), 2); /* b remembers head 2 */
    for (uint64_t i = 3; i <= 12; i++) {
        clock.now_ms = 1000 * (int64_t)i;
        assert_int_equal(append(a, "acme", "u"), i);
    }
    uint64_t pruned = 0;
    expect_rc(tg_audit_prune(a, "acme", 11000, &pruned), TG_OK);
    assert_int_equal(pruned, 10);
    clock.now_ms = 20000;
    uint64_t seq = 0;
    tg_audit_event e;
    at_event(&e, "acme", "u");
    expect_rc(tg_audit_append(b, &e, &seq), TG_OK);
    assert_int_equal(seq, 13);
    assert_int_equal(at_count(store, TG__AK_RECORD, "acme"), 3);
    expect_valid(a, "acme", 3);

    /* The pruning context's own head may be the stale one: b appends 14,
     * a (which remembers 12) checkpoints and prunes everything, then
     * appends. */
    assert_int_equal(append(b, "acme", "u"), 14);
    expect_rc(tg_audit_checkpoint(a, "acme", &seq), TG_OK);
    assert_int_equal(seq, 14);
    expect_rc(tg_audit_prune(a, "acme", 1000000, &pruned), TG_OK);
    assert_int_equal(pruned, 4);
    expect_rc(tg_audit_append(a, &e, &seq), TG_OK);
    assert_int_equal(seq, 15);
    tg_ctx_close(a);
    tg_ctx_close(b);
    tg_store_close(store);
}

/* ---- batches ------------------------------------------------------------------------------ */

static void test_batch(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    append(f.ctx, "beta", "u");
    tg_audit_event ev[5];
    at_event(&ev[0], "acme", "u1");
    at_event(&ev[1], "beta", "u2");
    at_event(&ev[2], "acme", "u1");
    at_event(&ev[3], NULL, NULL);
    at_event(&ev[4], "beta", "u1");
    uint64_t first = 0;
    expect_rc(tg_audit_append_batch(f.ctx, ev, 5, &first), TG_OK);
    assert_int_equal(first, 1); /* acme's */
    expect_valid(f.ctx, "acme", 2);
    expect_valid(f.ctx, "beta", 3);
    expect_valid(f.ctx, NULL, 1);
    char a1[40], a3[40];
    actor_of(f.store, "acme", 1, a1);
    actor_of(f.store, "acme", 2, a3);
    assert_string_equal(a1, a3); /* one pseudonym made and reused in one transaction */
    /* The first event's chain decides out_first_seq. */
    at_event(&ev[0], "beta", "u1");
    expect_rc(tg_audit_append_batch(f.ctx, ev, 1, &first), TG_OK);
    assert_int_equal(first, 4);
    expect_rc(tg_audit_append_batch(f.ctx, ev, 1, NULL), TG_OK);

    /* A bad event in the middle: nothing written, the index named. */
    at_event(&ev[0], "acme", "u1");
    ev[2].action = 999;
    first = 77;
    expect_rc(tg_audit_append_batch(f.ctx, ev, 5, &first), TG_EINVAL);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "events[2]"));
    assert_int_equal(first, 77);
    ev[2].action = TG_AUDIT_MESSAGE_SENT;
    ev[4].details = "[1]";
    expect_rc(tg_audit_append_batch(f.ctx, ev, 5, &first), TG_EINVAL);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "events[4]"));
    assert_int_equal(at_count(f.store, TG__AK_RECORD, "acme"), 2);
    assert_int_equal(at_count(f.store, TG__AK_RECORD, "beta"), 5);
    assert_int_equal(at_count(f.store, TG__AK_RECORD, NULL), 1);
    /* Then a good batch carries on after the heads. */
    ev[4].details = NULL;
    expect_rc(tg_audit_append_batch(f.ctx, ev, 5, &first), TG_OK);
    assert_int_equal(first, 3);
    expect_valid(f.ctx, "acme", 4);
    expect_valid(f.ctx, "beta", 7);

    /* Bounds. */
    expect_rc(tg_audit_append_batch(NULL, ev, 1, NULL), TG_EINVAL);
    expect_rc(tg_audit_append_batch(f.ctx, NULL, 1, NULL), TG_EINVAL);
    expect_rc(tg_audit_append_batch(f.ctx, ev, 0, NULL), TG_EINVAL);
    expect_rc(tg_audit_append_batch(f.ctx, ev, 100001, NULL), TG_EINVAL);
    tgt_fixture_close(&f);
}

/* The message of a batch error quotes the event's own error: it must read
 * as written, not as its own buffer copied over itself. */
static void test_batch_error_message(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    tg_audit_event ev[3];
    for (int i = 0; i < 3; i++)
        at_event(&ev[i], "acme", "u");
    ev[1].severity = 9;
    expect_rc(tg_audit_append_batch(f.ctx, ev, 3, NULL), TG_EINVAL);
    assert_string_equal(tg_ctx_errmsg(NULL), "audit: events[1]: audit: unknown severity 9");
    tgt_fixture_close(&f);
}

/* ---- bad input ----------------------------------------------------------------------------- */

/* Appending e fails with `want` and writes nothing. */
static void expect_refused(tg_ctx *ctx, tg_store *store, const tg_audit_event *e, int want)
{
    uint64_t before = at_count(store, TG__AK_RECORD, e->workspace);
    uint64_t seq = 1234;
    expect_rc(tg_audit_append(ctx, e, &seq), want);
    assert_int_equal(seq, 1234);
    assert_true(tg_ctx_errmsg(NULL)[0] != '\0');
    if (e->workspace && strlen(e->workspace) <= TG_ID_MAX)
        assert_int_equal(at_count(store, TG__AK_RECORD, e->workspace), before);
}

static void test_bad_events(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    char long_id[300], max_id[TG_ID_MAX + 1];
    memset(long_id, 'x', 256);
    long_id[256] = '\0';
    memset(max_id, 'y', TG_ID_MAX);
    max_id[TG_ID_MAX] = '\0';
    append(f.ctx, "acme", "u");
    tg_audit_event e;

    expect_rc(tg_audit_append(NULL, &e, NULL), TG_EINVAL);
    expect_rc(tg_audit_append(f.ctx, NULL, NULL), TG_EINVAL);
    /* Versions. */
    at_event(&e, "acme", "u");
    e.version = 0;
    expect_refused(f.ctx, f.store, &e, TG_EVERSION);
    e.version = 2;
    expect_refused(f.ctx, f.store, &e, TG_EVERSION);
    at_event(&e, "acme", "u");
    e.struct_size = sizeof e - 1;
    expect_refused(f.ctx, f.store, &e, TG_EVERSION);
    /* Catalogue values. */
    static const int bad_actions[] = {0, -1, TG_AUDIT_ACTION_COUNT + 1, 256, 65536 + 1};
    for (size_t i = 0; i < sizeof bad_actions / sizeof bad_actions[0]; i++) {
        at_event(&e, "acme", "u");
        e.action = bad_actions[i];
        expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    }
    at_event(&e, "acme", "u");
    e.outcome = 3;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    e.outcome = -1;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    at_event(&e, "acme", "u");
    e.severity = 5;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    e.severity = -1;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    at_event(&e, "acme", "u");
    e.tags = 1u << 6;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    e.tags = 0x80000000u | TG_AUDIT_SOC2;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    at_event(&e, "acme", "u");
    e.target_is_subject = 2;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    e.target_is_subject = 1;
    e.target = NULL;
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);

    /* Identifiers: empty, 256 bytes, invalid UTF-8, a control character. */
    static const char *const bad_ids[] = {"", "\xc3\x28", "ok\xff", "a\nb", "\xed\xa0\x80", NULL};
    for (int field = 0; field < 3; field++) {
        for (int i = 0; i <= 5; i++) {
            at_event(&e, "acme", "u");
            const char *id = bad_ids[i] ? bad_ids[i] : long_id;
            if (field == 0)
                e.workspace = id;
            else if (field == 1)
                e.actor = id;
            else
                e.target = id;
            expect_refused(f.ctx, f.store, &e, TG_EINVAL);
        }
    }
    /* The longest id is fine everywhere; a subject target too. */
    at_event(&e, max_id, max_id);
    e.target = max_id;
    e.target_is_subject = 1;
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK);
    expect_valid(f.ctx, max_id, 1);

    /* Addresses that do not parse. */
    static const char *const bad_ips[] = {"",         "1.2.3",          "1.2.3.256",
                                          "::g",      "203.0.113.7/24", " 10.0.0.1",
                                          "10.0.0.1 ", "fe80::1%eth0",  "localhost",
                                          "1:2:3:4:5:6:7:8:9",
                                          "111111111111111111111111111111111111111111111111111111"};
    for (size_t i = 0; i < sizeof bad_ips / sizeof bad_ips[0]; i++) {
        at_event(&e, "acme", "u");
        e.actor_ip = bad_ips[i];
        expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    }

    /* Details: not an object, invalid JSON, invalid UTF-8, too long. */
    static const char *const bad_details[] = {"",          "[]",         "1",
                                              "\"text\"",  "null",       "true",
                                              "{",         "{\"a\":}",   "{\"a\":1,}",
                                              "{'a':1}",   "{\"a\":\"\xff\"}",
                                              "{\"a\":\"\xc0\xaf\"}", " "};
    for (size_t i = 0; i < sizeof bad_details / sizeof bad_details[0]; i++) {
        at_event(&e, "acme", "u");
        e.details = bad_details[i];
        expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    }
    /* Exactly the maximum is accepted; a byte more is not. */
    static char big[TG_AUDIT_DETAILS_MAX + 2];
    memset(big, 'z', sizeof big);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + TG_AUDIT_DETAILS_MAX - 2, "\"}", 3);
    assert_int_equal(strlen(big), TG_AUDIT_DETAILS_MAX);
    at_event(&e, "acme", "u");
    e.details = big;
    expect_rc(tg_audit_append(f.ctx, &e, NULL), TG_OK);
    memset(big + TG_AUDIT_DETAILS_MAX - 2, 'z', 1);
    memcpy(big + TG_AUDIT_DETAILS_MAX - 1, "\"}", 3);
    assert_int_equal(strlen(big), TG_AUDIT_DETAILS_MAX + 1);
    expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    expect_valid(f.ctx, "acme", 2);
    tgt_fixture_close(&f);
}

/* Details are one JSON object and nothing after it: trailing bytes would
 * make the stored text something other than the object that was checked. */
static void test_details_trailing_bytes(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    static const char *const bad[] = {"{} x", "{}{\"secret\":1}", "{\"a\":1}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_audit_event e;
        at_event(&e, "acme", "u");
        e.details = bad[i];
        expect_refused(f.ctx, f.store, &e, TG_EINVAL);
    }
    tgt_fixture_close(&f);
}

static int stop_at_first(void *user, uint64_t done, uint64_t total)
{
    uint64_t *calls = user;
    ++*calls;
    assert_true(done > 0);
    assert_true(total >= done);
    return 1;
}

static void test_bad_calls(void **state)
{
    (void)state;
    tgt_fixture f;
    tgt_fixture_open(&f, 1000, NULL);
    char long_id[300];
    memset(long_id, 'x', 256);
    long_id[256] = '\0';
    append(f.ctx, "acme", "alice");
    tg_audit_verdict v;
    uint8_t pk[32];

    /* Initialisers and names accept NULL and values out of range. */
    tg_audit_options_init(NULL);
    tg_audit_event_init(NULL);
    tg_audit_verdict_init(NULL);
    tg_audit_query_init(NULL);
    tg_audit_free(NULL);
    assert_null(tg_audit_action_name(0));
    assert_null(tg_audit_action_name(TG_AUDIT_ACTION_COUNT + 1));
    assert_null(tg_audit_action_name(-5));
    assert_string_equal(tg_audit_action_name(TG_AUDIT_RETENTION_PRUNED), "retention.pruned");
    assert_int_equal(tg_audit_action_from_name(NULL), 0);
    assert_int_equal(tg_audit_action_from_name(""), 0);
    assert_int_equal(tg_audit_action_from_name("message.sent "), 0);
    assert_int_equal(tg_audit_action_from_name("MESSAGE.SENT"), 0);
    assert_null(tg_audit_outcome_name(3));
    assert_null(tg_audit_outcome_name(-1));
    assert_string_equal(tg_audit_outcome_name(TG_AUDIT_DENIED), "denied");
    assert_null(tg_audit_severity_name(5));
    assert_string_equal(tg_audit_severity_name(TG_AUDIT_CRITICAL), "critical");
    assert_null(tg_audit_tag_name(0));
    assert_null(tg_audit_tag_name(3));
    assert_null(tg_audit_tag_name(1u << 6));
    assert_string_equal(tg_audit_tag_name(TG_AUDIT_PCI_DSS), "pci_dss");
    assert_null(tg_audit_problem_name(-1));
    assert_null(tg_audit_problem_name(7));
    assert_string_equal(tg_audit_problem_name(TG_AUDIT_TRUNCATED), "truncated");
    assert_int_equal(tg_audit_details_max(), TG_AUDIT_DETAILS_MAX);
    assert_int_equal(tg_audit_hash_bytes(), 32);
    assert_int_equal(tg_audit_public_key_bytes(), 32);

    /* checkpoint */
    expect_rc(tg_audit_checkpoint(NULL, "acme", NULL), TG_EINVAL);
    expect_rc(tg_audit_checkpoint(f.ctx, "", NULL), TG_EINVAL);
    expect_rc(tg_audit_checkpoint(f.ctx, long_id, NULL), TG_EINVAL);
    expect_rc(tg_audit_checkpoint(f.ctx, "\xff", NULL), TG_EINVAL);
    /* public key */
    expect_rc(tg_audit_public_key(NULL, pk), TG_EINVAL);
    expect_rc(tg_audit_public_key(f.ctx, NULL), TG_EINVAL);
    /* verify */
    expect_rc(tg_audit_verify(NULL, &v, "acme", 0, 0, NULL, NULL), TG_EINVAL);
    expect_rc(tg_audit_verify(f.ctx, NULL, "acme", 0, 0, NULL, NULL), TG_EINVAL);
    tg_audit_verdict_init(&v);
    v.version = 2;
    expect_rc(tg_audit_verify(f.ctx, &v, "acme", 0, 0, NULL, NULL), TG_EVERSION);
    tg_audit_verdict_init(&v);
    v.struct_size = sizeof v - 1;
    expect_rc(tg_audit_verify(f.ctx, &v, "acme", 0, 0, NULL, NULL), TG_EVERSION);
    expect_rc(at_verify(f.ctx, &v, "", 0, 0), TG_EINVAL);
    expect_rc(at_verify(f.ctx, &v, long_id, 0, 0), TG_EINVAL);
    expect_rc(at_verify(f.ctx, &v, "a\x01", 0, 0), TG_EINVAL);
    expect_rc(at_verify(f.ctx, &v, "acme", 3, 2), TG_EINVAL);
    expect_rc(at_verify(f.ctx, &v, "acme", 2, 0), TG_OK); /* to 0: to the end */
    assert_int_equal(v.problem, TG_AUDIT_VALID);
    /* prune */
    expect_rc(tg_audit_prune(NULL, "acme", 0, NULL), TG_EINVAL);
    expect_rc(tg_audit_prune(f.ctx, "", 0, NULL), TG_EINVAL);
    expect_rc(tg_audit_prune(f.ctx, long_id, 0, NULL), TG_EINVAL);
    /* erase */
    expect_rc(tg_audit_erase_subject(NULL, "acme", "alice"), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, NULL, "alice"), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, "", "alice"), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", NULL), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", ""), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", long_id), TG_EINVAL);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", "al\xffice"), TG_EINVAL);
    expect_valid(f.ctx, "acme", 1);
    expect_rc(tg_audit_erase_subject(f.ctx, "acme", "alice"), TG_OK);

    /* A progress callback that stops the verification. */
    static tg_audit_event many[65536];
    for (size_t i = 0; i < 65536; i++)
        at_event(&many[i], "big", NULL);
    expect_rc(tg_audit_append_batch(f.ctx, many, 65536, NULL), TG_OK);
    uint64_t calls = 0;
    tg_audit_verdict_init(&v);
    expect_rc(tg_audit_verify(f.ctx, &v, "big", 0, 0, stop_at_first, &calls), TG_ECALLBACK);
    assert_int_equal(calls, 1);
    expect_valid(f.ctx, "big", 65536);
    tgt_fixture_close(&f);
}

/* ---- store faults ---------------------------------------------------------------------------- */

/* A scenario run on a store that fails its fail_at-th operation: `before`
 * appends (all acknowledged), then the operation under test. */
typedef struct fault_plan {
    uint32_t interval;
    int before;   /* records appended to acme first */
    int op;       /* 0: one append, 1: a batch over two chains, 2: a prune */
} fault_plan;

static void plan_before(tg_ctx *ctx, tgt_clock *clock, const fault_plan *p)
{
    for (int i = 1; i <= p->before; i++) {
        clock->now_ms = 1000 * i;
        assert_int_equal(append(ctx, "acme", "alice"), (uint64_t)i);
    }
    clock->now_ms = 1000000;
}

static int plan_op(tg_ctx *ctx, const fault_plan *p)
{
    tg_audit_event ev[3];
    switch (p->op) {
    case 0:
        at_event(&ev[0], "acme", "bob");
        return tg_audit_append(ctx, ev, NULL);
    case 1:
        at_event(&ev[0], "acme", "carol");
        at_event(&ev[1], "beta", "carol");
        at_event(&ev[2], "acme", "alice");
        return tg_audit_append_batch(ctx, ev, 3, NULL);
    default:
        return tg_audit_prune(ctx, "acme", 10000, NULL);
    }
}

static void run_faults(const fault_plan *p)
{
    /* Count the operations of the scenario without faults. */
    tgt_clock clock = {0};
    tg_store *inner = NULL, *fs = NULL;
    expect_rc(tg_store_open_memory(&inner), TG_OK);
    expect_rc(tg__store_open_faulty(&fs, inner, 0), TG_OK);
    tg_ctx *ctx = at_ctx(fs, &clock, p->interval);
    plan_before(ctx, &clock, p);
    long first = tg__store_faulty_count(fs) + 1;
    expect_rc(plan_op(ctx, p), TG_OK);
    long last = tg__store_faulty_count(fs);
    assert_true(last >= first);
    tg_ctx_close(ctx);
    tg_store_close(fs);
    tg_store_close(inner);

    /* What acme verifies as once the operation succeeded, and its head. */
    uint64_t acme_after_ok, head_after_ok;
    if (p->op == 2) {
        uint64_t anchor = (9 / p->interval) * p->interval; /* records 1..9 are older than 10000 */
        acme_after_ok = (uint64_t)p->before - anchor;
        head_after_ok = (uint64_t)p->before;
    } else {
        head_after_ok = (uint64_t)p->before + (p->op == 1 ? 2 : 1);
        acme_after_ok = head_after_ok;
    }
    for (long n = first; n <= last; n++) {
        expect_rc(tg_store_open_memory(&inner), TG_OK);
        expect_rc(tg__store_open_faulty(&fs, inner, n), TG_OK);
        clock.now_ms = 0;
        ctx = at_ctx(fs, &clock, p->interval);
        plan_before(ctx, &clock, p);
        int rc = plan_op(ctx, p);
        if (rc != TG_ESTORE)
            print_error("fault at operation %ld (of %ld..%ld): %s: %s\n", n, first, last,
                        tg_strerror(rc), tg_ctx_errmsg(NULL));
        assert_int_equal(rc, TG_ESTORE);

        /* A fresh context sees exactly what was acknowledged before, under
         * the key the failed context holds. */
        tg_ctx *fresh = at_ctx(inner, &clock, p->interval);
        uint8_t pk_failed[32], pk_fresh[32];
        /* The key is committed before the operation's transaction; a
         * fault in making it leaves none (and nothing else). */
        int key_rc = tg_audit_public_key(ctx, pk_failed);
        assert_true(key_rc == TG_OK || (key_rc == TG_ENOTFOUND && p->before == 0));
        if (p->before) {
            expect_valid(fresh, "acme", (uint64_t)p->before);
            expect_rc(tg_audit_public_key(fresh, pk_fresh), TG_OK);
            assert_memory_equal(pk_failed, pk_fresh, 32);
        }
        assert_int_equal(at_count(inner, TG__AK_RECORD, "acme"), (uint64_t)p->before);
        assert_int_equal(at_count(inner, TG__AK_RECORD, "beta"), 0);
        assert_int_equal(at_count(inner, TG__AK_RECORD, NULL), 0);

        /* The failed context carries on: the operation now succeeds. */
        expect_rc(plan_op(ctx, p), TG_OK);
        expect_rc(tg_audit_public_key(fresh, pk_fresh), TG_OK);
        if (key_rc == TG_ENOTFOUND)
            expect_rc(tg_audit_public_key(ctx, pk_failed), TG_OK);
        if (memcmp(pk_failed, pk_fresh, 32) != 0)
            print_error("fault at operation %ld: the context signs with a key the store does "
                        "not hold\n", n);
        assert_memory_equal(pk_failed, pk_fresh, 32);
        tg_ctx_close(fresh);
        fresh = at_ctx(inner, &clock, p->interval);
        expect_valid(fresh, "acme", acme_after_ok);
        expect_valid(ctx, "acme", acme_after_ok);
        if (p->op == 1)
            expect_valid(fresh, "beta", 1);
        if (p->op == 2)
            expect_valid(fresh, NULL, 1);
        /* And appends after it. */
        assert_int_equal(append(ctx, "acme", "dave"), head_after_ok + 1);
        tg_ctx_close(fresh);
        tg_ctx_close(ctx);
        tg_store_close(fs);
        tg_store_close(inner);
    }
}

static void test_faults_append(void **state)
{
    (void)state;
    fault_plan p = {5, 4, 0}; /* the append that signs checkpoint 5 */
    run_faults(&p);
    fault_plan q = {5, 6, 0};
    run_faults(&q);
}

static void test_faults_batch(void **state)
{
    (void)state;
    fault_plan p = {5, 3, 1}; /* acme 4 and 5 (checkpoint), beta 1 */
    run_faults(&p);
}

static void test_faults_prune(void **state)
{
    (void)state;
    fault_plan p = {5, 12, 2}; /* prunes 1..5, anchors at 5 */
    run_faults(&p);
}

/* The first append of a store also creates the audit secret in its
 * transaction: when that transaction fails, the secret must not stay in
 * use, or later checkpoints are signed by a key the store never holds. */
static void test_faults_first_append(void **state)
{
    (void)state;
    fault_plan p = {1, 0, 0};
    run_faults(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seqs_per_chain),
        cmocka_unit_test(test_record_fields),
        cmocka_unit_test(test_network_cut),
        cmocka_unit_test(test_default_tags),
        cmocka_unit_test(test_pseudonyms),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_public_key),
        cmocka_unit_test(test_erasure),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_retention_system_chain),
        cmocka_unit_test(test_prune_then_stale_context_appends),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_batch_error_message),
        cmocka_unit_test(test_bad_events),
        cmocka_unit_test(test_details_trailing_bytes),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_faults_append),
        cmocka_unit_test(test_faults_batch),
        cmocka_unit_test(test_faults_prune),
        cmocka_unit_test(test_faults_first_append),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
