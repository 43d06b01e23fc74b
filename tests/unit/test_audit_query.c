/*
 * test_audit_query.c - tg_audit_query_json: each filter alone and
 * combined, paging (every record exactly once across pages), the system
 * chain, erased actors and targets, records that no longer parse, the
 * result's allocation (freed with free() even when the host hooks cJSON's
 * allocator), and bad input. Every result is parsed back with cJSON.
 *
 * Contexts run on a memory store (one test on SQLite) with an injected
 * clock, so record times are known.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "audit_test.h"

#define T0 INT64_C(1760000000000)

/* ---- helpers ---------------------------------------------------------------- */

typedef struct env {
    tgt_clock clock;
    tg_store *store;
    tg_ctx *ctx;
} env;

static void env_open(env *e, tg_store *store, uint32_t checkpoint_interval)
{
    memset(e, 0, sizeof *e);
    e->clock.now_ms = T0;
    if (store)
        e->store = store;
    else
        assert_int_equal(tg_store_open_memory(&e->store), TG_OK);
    e->ctx = at_ctx(e->store, &e->clock, checkpoint_interval);
    assert_non_null(e->ctx);
}

static void env_close(env *e)
{
    tg_ctx_close(e->ctx);
    tg_store_close(e->store);
}

typedef struct ev {
    const char *workspace, *actor, *target;
    int action, outcome, target_is_subject;
} ev;

/* Appends one event at the clock's time; returns its sequence number. */
static uint64_t add(env *e, ev x)
{
    tg_audit_event event;
    tg_audit_event_init(&event);
    event.workspace = x.workspace;
    event.actor = x.actor;
    event.action = x.action ? x.action : TG_AUDIT_MESSAGE_SENT;
    event.outcome = x.outcome;
    event.target = x.target;
    event.target_is_subject = x.target_is_subject;
    event.details = "{\"n\":1}";
    uint64_t seq = 0;
    int rc = tg_audit_append(e->ctx, &event, &seq);
    if (rc != TG_OK)
        fail_msg("tg_audit_append: %s: %s", tg_strerror(rc), tg_ctx_errmsg(NULL));
    return seq;
}

/* Runs a query that must succeed and returns the parsed result. */
static cJSON *query(env *e, const tg_audit_query *q)
{
    char *out = (char *)"untouched";
    int rc = tg_audit_query_json(e->ctx, &out, q);
    if (rc != TG_OK)
        fail_msg("tg_audit_query_json: %s: %s", tg_strerror(rc), tg_ctx_errmsg(NULL));
    assert_non_null(out);
    cJSON *doc = cJSON_Parse(out);
    if (!doc)
        fail_msg("the result is not valid JSON: %s", out);
    tg_audit_free(out);
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "records")));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(doc, "next_after_seq"));
    return doc;
}

static cJSON *records_of(cJSON *doc)
{
    return cJSON_GetObjectItemCaseSensitive(doc, "records");
}

static int count_of(cJSON *doc)
{
    return cJSON_GetArraySize(records_of(doc));
}

static cJSON *record_at(cJSON *doc, int i)
{
    cJSON *r = cJSON_GetArrayItem(records_of(doc), i);
    assert_non_null(r);
    return r;
}

static double num(cJSON *o, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v))
        fail_msg("field %s is not a number", name);
    return v->valuedouble;
}

static const char *str(cJSON *o, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        fail_msg("field %s is not a string", name);
    return v->valuestring;
}

static bool flag(cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* next_after_seq, or 0 for null. */
static uint64_t next_of(cJSON *doc)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "next_after_seq");
    if (cJSON_IsNull(v))
        return 0;
    assert_true(cJSON_IsNumber(v));
    return (uint64_t)v->valuedouble;
}

/* The sequence numbers a query returned, as a comma-separated string. */
static const char *seqs_of(cJSON *doc)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = '\0';
    cJSON *r;
    cJSON_ArrayForEach(r, records_of(doc))
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.0f", n ? "," : "", num(r, "seq"));
    return buf;
}

static tg_audit_query q_init(const char *workspace)
{
    tg_audit_query q;
    tg_audit_query_init(&q);
    q.workspace = workspace;
    return q;
}

/* Fixtures: a context with the default checkpoint interval, empty or
 * with fill()'s records. */
static void fill(env *e);
static void expect(env *e, const tg_audit_query *q, const char *seqs);

static int open_empty(void **state)
{
    env *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    env_open(e, NULL, 0);
    *state = e;
    return 0;
}

static int open_filled(void **state)
{
    int rc = open_empty(state);
    if (rc == 0)
        fill(*state);
    return rc;
}

static int close_env(void **state)
{
    env_close(*state);
    free(*state);
    return 0;
}

/* ---- the basics ------------------------------------------------------------------ */

static void test_init_defaults(void **state)
{
    (void)state;
    tg_audit_query q;
    memset(&q, 0x5a, sizeof q);
    tg_audit_query_init(&q);
    assert_int_equal(q.version, TG_AUDIT_QUERY_VERSION);
    assert_int_equal(q.struct_size, sizeof q);
    assert_null(q.workspace);
    assert_null(q.actor);
    assert_int_equal(q.outcome, -1);
    assert_int_equal(q.action, 0);
    assert_int_equal(q.limit, 0);
    tg_audit_query_init(NULL); /* no crash */
    tg_audit_free(NULL);
}

static void test_all_records_of_one_chain(void **state)
{
    (void)state;
    env e;
    env_open(&e, NULL, 4);
    for (int i = 0; i < 5; i++) {
        add(&e, (ev){.workspace = "acme", .actor = "alice", .target = "m1"});
        add(&e, (ev){.workspace = "globex", .actor = "bob"});
        e.clock.now_ms += 1000;
    }
    tg_audit_query q = q_init("acme");
    cJSON *doc = query(&e, &q);
    assert_string_equal(seqs_of(doc), "1,2,3,4,5");
    assert_int_equal(next_of(doc), 0);
    const char *prev_hash = NULL;
    for (int i = 0; i < 5; i++) {
        cJSON *r = record_at(doc, i);
        assert_string_equal(str(r, "type"), "record");
        assert_string_equal(str(r, "chain"), "acme");
        assert_true(num(r, "time_ms") == (double)(T0 + 1000 * i));
        assert_string_equal(str(r, "action"), "message.sent");
        assert_string_equal(str(r, "outcome"), "success");
        assert_string_equal(str(r, "target"), "m1");
        assert_false(flag(r, "target_is_pseudonym"));
        /* the actor is a pseudonym, never the user id */
        assert_int_equal(strncmp(str(r, "actor"), "p-", 2), 0);
        assert_int_equal(strlen(str(r, "actor")), 34);
        assert_null(strstr(str(r, "actor"), "alice"));
        assert_null(cJSON_GetObjectItemCaseSensitive(r, "actor_erased"));
        assert_null(cJSON_GetObjectItemCaseSensitive(r, "target_erased"));
        cJSON *details = cJSON_GetObjectItemCaseSensitive(r, "details");
        assert_true(cJSON_IsObject(details));
        assert_true(num(details, "n") == 1);
        assert_int_equal(strlen(str(r, "hash")), 64);
        if (prev_hash)
            assert_string_equal(str(r, "prev"), prev_hash);
        prev_hash = str(r, "hash");
    }
    cJSON_Delete(doc);

    q = q_init("globex");
    doc = query(&e, &q);
    assert_string_equal(seqs_of(doc), "1,2,3,4,5");
    assert_string_equal(str(record_at(doc, 0), "chain"), "globex");
    cJSON_Delete(doc);

    q = q_init("initech"); /* a chain with no records */
    doc = query(&e, &q);
    assert_int_equal(count_of(doc), 0);
    assert_int_equal(next_of(doc), 0);
    cJSON_Delete(doc);
    env_close(&e);
}

static void test_system_chain(void **state)
{
    env *e = *state;
    add(e, (ev){.action = TG_AUDIT_CONFIG_CHANGED, .actor = "admin"});
    add(e, (ev){.workspace = "acme", .actor = "alice"});
    add(e, (ev){.action = TG_AUDIT_KEY_ROTATED});
    tg_audit_query q = q_init(NULL);
    cJSON *doc = query(e, &q);
    assert_string_equal(seqs_of(doc), "1,2");
    assert_string_equal(str(record_at(doc, 0), "chain"), "");
    assert_string_equal(str(record_at(doc, 0), "action"), "config.changed");
    assert_string_equal(str(record_at(doc, 1), "action"), "key.rotated");
    assert_string_equal(str(record_at(doc, 1), "actor"), "");
    cJSON_Delete(doc);

    /* the actor filter works on the system chain too */
    q.actor = "admin";
    doc = query(e, &q);
    assert_string_equal(seqs_of(doc), "1");
    cJSON_Delete(doc);
}

/* An actor filter on a store with no audit records writes nothing (not
 * even the audit secret, which the pseudonym lookup needs). */
static void test_actor_query_on_an_empty_store_writes_nothing(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.actor = "alice";
    expect(e, &q, "");
    q.workspace = NULL;
    expect(e, &q, "");
    uint8_t key[TG__AUDIT_KEY_MAX];
    size_t klen = tg__audit_key(key, TG__AK_SECRET, NULL, 0, NULL, 0);
    assert_int_equal(tg__store_get_buf(e->store, NULL, key, klen, NULL, 0, NULL),
                     TG_ENOTFOUND);
    /* and once there are records, the lookup works */
    add(e, (ev){.workspace = "acme", .actor = "alice"});
    q.workspace = "acme";
    expect(e, &q, "1");
}

/* ---- filters --------------------------------------------------------------------- */

/* Ten records in "acme" at T0 + 10 s * i: actors alternate alice/bob, the
 * action cycles sent/blocked/auth.failed, outcomes cycle success/failure/
 * denied/success, plus noise in "globex". */
static void fill(env *e)
{
    static const int actions[3] = {TG_AUDIT_MESSAGE_SENT, TG_AUDIT_MESSAGE_BLOCKED,
                                   TG_AUDIT_AUTH_FAILED};
    static const int outcomes[4] = {TG_AUDIT_SUCCESS, TG_AUDIT_FAILURE, TG_AUDIT_DENIED,
                                    TG_AUDIT_SUCCESS};
    for (int i = 0; i < 10; i++) {
        e->clock.now_ms = T0 + 10000 * i;
        add(e, (ev){.workspace = "acme", .actor = i % 2 ? "bob" : "alice",
                    .action = actions[i % 3], .outcome = outcomes[i % 4]});
        add(e, (ev){.workspace = "globex", .actor = "alice", .action = actions[i % 3]});
    }
}

static void expect(env *e, const tg_audit_query *q, const char *seqs)
{
    cJSON *doc = query(e, q);
    if (strcmp(seqs_of(doc), seqs) != 0)
        fail_msg("expected records [%s], got [%s]", seqs, seqs_of(doc));
    cJSON_Delete(doc);
}

static void test_filter_time(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.since_ms = T0 + 30000; /* inclusive */
    expect(e, &q, "4,5,6,7,8,9,10");
    q.until_ms = T0 + 60000; /* exclusive */
    expect(e, &q, "4,5,6");
    q.since_ms = 0;
    expect(e, &q, "1,2,3,4,5,6");
    q.since_ms = q.until_ms = T0 + 50000; /* an empty range is valid */
    expect(e, &q, "");
    q.since_ms = T0 + 50001;
    q.until_ms = 0;
    expect(e, &q, "7,8,9,10");
    q.since_ms = T0 + 100000; /* after every record */
    expect(e, &q, "");
}

static void test_filter_action(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.action = TG_AUDIT_MESSAGE_BLOCKED;
    expect(e, &q, "2,5,8");
    q.action = TG_AUDIT_AUTH_FAILED;
    expect(e, &q, "3,6,9");
    q.action = TG_AUDIT_KEY_SHREDDED; /* in the catalogue, never recorded */
    expect(e, &q, "");
    cJSON *doc = query(e, &(tg_audit_query){TG_AUDIT_QUERY_VERSION, sizeof(tg_audit_query),
                                             "acme", 0, 0, TG_AUDIT_MESSAGE_SENT, NULL, -1, 0,
                                             0});
    assert_string_equal(seqs_of(doc), "1,4,7,10");
    cJSON *r;
    cJSON_ArrayForEach(r, records_of(doc))
        assert_string_equal(str(r, "action"), "message.sent");
    cJSON_Delete(doc);
}

static void test_filter_outcome(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.outcome = TG_AUDIT_SUCCESS; /* 0 is an outcome, not "any" */
    expect(e, &q, "1,4,5,8,9");
    q.outcome = TG_AUDIT_FAILURE;
    expect(e, &q, "2,6,10");
    q.outcome = TG_AUDIT_DENIED;
    expect(e, &q, "3,7");
    q.outcome = -1;
    expect(e, &q, "1,2,3,4,5,6,7,8,9,10");
}

static void test_filter_actor(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.actor = "alice";
    cJSON *doc = query(e, &q);
    assert_string_equal(seqs_of(doc), "1,3,5,7,9");
    const char *alice = str(record_at(doc, 0), "actor");
    cJSON *r;
    cJSON_ArrayForEach(r, records_of(doc))
        assert_string_equal(str(r, "actor"), alice);
    q.actor = "bob";
    cJSON *bob = query(e, &q);
    assert_string_equal(seqs_of(bob), "2,4,6,8,10");
    assert_string_not_equal(str(record_at(bob, 0), "actor"), alice);
    cJSON_Delete(bob);

    /* pseudonyms are per workspace: alice has another one in globex */
    tg_audit_query g = q_init("globex");
    g.actor = "alice";
    cJSON *gdoc = query(e, &g);
    assert_int_equal(count_of(gdoc), 10);
    assert_string_not_equal(str(record_at(gdoc, 0), "actor"), alice);
    cJSON_Delete(gdoc);
    cJSON_Delete(doc);

    /* an unknown user matches nothing, and asking creates no pseudonym:
     * erasing carol afterwards finds nothing to erase */
    q.actor = "carol";
    expect(e, &q, "");
    assert_int_equal(tg_audit_erase_subject(e->ctx, "acme", "carol"), TG_ENOTFOUND);
    /* bob has no pseudonym in globex */
    g.actor = "bob";
    expect(e, &g, "");
    assert_int_equal(tg_audit_erase_subject(e->ctx, "globex", "bob"), TG_ENOTFOUND);
    /* matching is exact: not a prefix, not case-folded */
    q.actor = "alic";
    expect(e, &q, "");
    q.actor = "Alice";
    expect(e, &q, "");
}

static void test_filters_combined(void **state)
{
    env *e = *state;
    tg_audit_query q = q_init("acme");
    q.actor = "alice";
    q.outcome = TG_AUDIT_SUCCESS;
    expect(e, &q, "1,5,9");
    q.since_ms = T0 + 10000;
    expect(e, &q, "5,9");
    q.until_ms = T0 + 80000;
    expect(e, &q, "5");
    q.action = TG_AUDIT_MESSAGE_BLOCKED; /* record 5 is blocked */
    expect(e, &q, "5");
    q.action = TG_AUDIT_AUTH_FAILED;
    expect(e, &q, "");
    q = q_init("acme");
    q.action = TG_AUDIT_MESSAGE_SENT;
    q.outcome = TG_AUDIT_SUCCESS;
    expect(e, &q, "1,4");
    q.after_seq = 1;
    expect(e, &q, "4");
    q.after_seq = 4;
    expect(e, &q, "");
}

/* ---- paging -------------------------------------------------------------------- */

/* Pages through `q` with `limit`; checks each record comes exactly once,
 * in order, and that the union equals the unpaged answer. */
static void page_through(env *e, tg_audit_query q, uint32_t limit, int expected_total)
{
    tg_audit_query all = q;
    all.limit = 10000;
    all.after_seq = 0;
    cJSON *whole = query(e, &all);
    assert_int_equal(count_of(whole), expected_total);
    assert_int_equal(next_of(whole), 0);
    char want[4096];
    snprintf(want, sizeof want, "%s", seqs_of(whole));
    cJSON_Delete(whole);

    char got[4096] = "";
    size_t n = 0;
    int pages = 0;
    q.limit = limit;
    q.after_seq = 0;
    double last = 0;
    for (;;) {
        cJSON *doc = query(e, &q);
        pages++;
        assert_true(count_of(doc) <= (int)limit);
        cJSON *r;
        cJSON_ArrayForEach(r, records_of(doc)) {
            assert_true(num(r, "seq") > last); /* ascending, never repeated */
            last = num(r, "seq");
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%.0f", n ? "," : "", last);
        }
        uint64_t next = next_of(doc);
        if (next) { /* a full page; next is its last record */
            assert_int_equal(count_of(doc), limit);
            assert_true((double)next == last);
        }
        cJSON_Delete(doc);
        if (!next)
            break;
        q.after_seq = next;
        assert_true(pages < 1000);
    }
    assert_string_equal(got, want);
    assert_true(pages >= expected_total / (int)limit);
}

static void test_paging_every_record_once(void **state)
{
    (void)state;
    env e;
    env_open(&e, NULL, 50);
    for (int i = 0; i < 250; i++) {
        e.clock.now_ms = T0 + i;
        add(&e, (ev){.workspace = "acme", .actor = i % 3 ? "bob" : "alice",
                     .outcome = i % 5 == 0 ? TG_AUDIT_DENIED : TG_AUDIT_SUCCESS});
    }
    tg_audit_query q = q_init("acme");
    page_through(&e, q, 7, 250);
    page_through(&e, q, 1, 250);
    page_through(&e, q, 250, 250);
    page_through(&e, q, 10000, 250);
    q.actor = "alice";
    page_through(&e, q, 9, 84);
    q.outcome = TG_AUDIT_DENIED;
    page_through(&e, q, 4, 17); /* i % 15 == 0 */
    q = q_init("acme");
    q.since_ms = T0 + 100;
    q.until_ms = T0 + 200;
    page_through(&e, q, 30, 100);
    env_close(&e);
}

static void test_paging_edges(void **state)
{
    env *e = *state;
    for (int i = 0; i < 150; i++)
        add(e, (ev){.workspace = "acme", .outcome = i < 10 ? TG_AUDIT_DENIED : 0});

    /* limit 0 means 100 */
    tg_audit_query q = q_init("acme");
    cJSON *doc = query(e, &q);
    assert_int_equal(count_of(doc), 100);
    assert_int_equal(next_of(doc), 100);
    cJSON_Delete(doc);

    /* a page that takes the chain's last record: nothing may follow */
    q.after_seq = 140;
    q.limit = 10;
    doc = query(e, &q);
    assert_string_equal(seqs_of(doc), "141,142,143,144,145,146,147,148,149,150");
    assert_int_equal(next_of(doc), 0);
    cJSON_Delete(doc);

    /* a full page with records after it that may or may not match: the
     * caller gets a cursor, and the next page is empty with null */
    q = q_init("acme");
    q.outcome = TG_AUDIT_DENIED;
    q.limit = 10;
    doc = query(e, &q);
    assert_int_equal(count_of(doc), 10);
    assert_int_equal(next_of(doc), 10);
    cJSON_Delete(doc);
    q.after_seq = 10;
    doc = query(e, &q);
    assert_int_equal(count_of(doc), 0);
    assert_int_equal(next_of(doc), 0);
    cJSON_Delete(doc);

    /* after_seq at or past the head, and at the largest value */
    q = q_init("acme");
    q.after_seq = 150;
    expect(e, &q, "");
    q.after_seq = UINT64_MAX - 1;
    expect(e, &q, "");
    q.after_seq = UINT64_MAX;
    expect(e, &q, "");
    /* the largest limit is accepted */
    q.after_seq = 0;
    q.limit = 10000;
    doc = query(e, &q);
    assert_int_equal(count_of(doc), 150);
    cJSON_Delete(doc);
}

/* ---- erasure ----------------------------------------------------------------- */

static void test_erased_actor_and_target(void **state)
{
    env *e = *state;
    add(e, (ev){.workspace = "acme", .actor = "alice", .target = "bob", .target_is_subject = 1});
    add(e, (ev){.workspace = "acme", .actor = "bob", .target = "alice", .target_is_subject = 1});
    add(e, (ev){.workspace = "acme", .actor = "alice", .target = "m9"});
    add(e, (ev){.workspace = "globex", .actor = "alice"});

    tg_audit_query q = q_init("acme");
    cJSON *before = query(e, &q);
    for (int i = 0; i < 3; i++) {
        assert_false(flag(record_at(before, i), "actor_erased"));
        assert_false(flag(record_at(before, i), "target_erased"));
    }
    assert_true(flag(record_at(before, 0), "target_is_pseudonym"));
    assert_null(strstr(str(record_at(before, 0), "target"), "bob"));

    assert_int_equal(tg_audit_erase_subject(e->ctx, "acme", "alice"), TG_OK);
    cJSON *after = query(e, &q);
    assert_string_equal(seqs_of(after), "1,2,3");
    cJSON *r0 = record_at(after, 0), *r1 = record_at(after, 1), *r2 = record_at(after, 2);
    assert_true(flag(r0, "actor_erased"));
    assert_false(flag(r0, "target_erased")); /* bob is still known */
    assert_false(flag(r1, "actor_erased"));
    assert_true(flag(r1, "target_erased"));
    assert_true(flag(r2, "actor_erased"));
    assert_null(cJSON_GetObjectItemCaseSensitive(r2, "target_erased")); /* not a person */
    /* the records themselves did not change */
    for (int i = 0; i < 3; i++) {
        assert_string_equal(str(record_at(after, i), "hash"), str(record_at(before, i), "hash"));
        assert_string_equal(str(record_at(after, i), "actor"),
                            str(record_at(before, i), "actor"));
    }
    /* her pseudonym in globex is untouched */
    tg_audit_query g = q_init("globex");
    cJSON *gdoc = query(e, &g);
    assert_false(flag(record_at(gdoc, 0), "actor_erased"));
    cJSON_Delete(gdoc);

    /* the erased user no longer matches her old records; a new event gets
     * a new pseudonym, and only it matches */
    q.actor = "alice";
    expect(e, &q, "");
    add(e, (ev){.workspace = "acme", .actor = "alice"});
    cJSON *fresh = query(e, &q);
    assert_string_equal(seqs_of(fresh), "4");
    assert_string_not_equal(str(record_at(fresh, 0), "actor"), str(r0, "actor"));
    assert_false(flag(record_at(fresh, 0), "actor_erased"));
    cJSON_Delete(fresh);

    /* the chain still verifies */
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    assert_int_equal(tg_audit_verify(e->ctx, &v, "acme", 0, 0, NULL, NULL), TG_OK);
    assert_int_equal(v.problem, TG_AUDIT_VALID);
    cJSON_Delete(before);
    cJSON_Delete(after);
}

/* The erasure look-ups run inside the record scan: on SQLite they take a
 * second reader connection. */
static void test_sqlite_store(void **state)
{
    (void)state;
    const char *dir = tgt_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/audit.db", dir);
    tg_store *store;
    assert_int_equal(tg_store_open_sqlite(&store, path, NULL), TG_OK);
    env e;
    env_open(&e, store, 3);
    for (int i = 0; i < 20; i++)
        add(&e, (ev){.workspace = "acme", .actor = i % 2 ? "bob" : "alice"});
    assert_int_equal(tg_audit_erase_subject(e.ctx, "acme", "bob"), TG_OK);
    tg_audit_query q = q_init("acme");
    q.limit = 6;
    cJSON *doc = query(&e, &q);
    assert_string_equal(seqs_of(doc), "1,2,3,4,5,6");
    assert_int_equal(next_of(doc), 6);
    for (int i = 0; i < 6; i++)
        assert_true(flag(record_at(doc, i), "actor_erased") == (i % 2 == 1));
    cJSON_Delete(doc);
    q.actor = "alice";
    q.limit = 0;
    doc = query(&e, &q);
    assert_int_equal(count_of(doc), 10);
    cJSON_Delete(doc);
    env_close(&e);
    tgt_rmtree(dir);
}

/* ---- stored bytes that do not parse ------------------------------------------ */

static void test_malformed_record(void **state)
{
    env *e = *state;
    for (int i = 0; i < 4; i++)
        add(e, (ev){.workspace = "acme", .actor = "alice"});
    at_bytes junk = {{9, 9, 9}, 3};
    assert_int_equal(at_put(e->store, TG__AK_RECORD, "acme", 3, &junk), TG_OK);

    tg_audit_query q = q_init("acme");
    char *out = (char *)"untouched";
    assert_int_equal(tg_audit_query_json(e->ctx, &out, &q), TG_EFORMAT);
    assert_null(out);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "record 3"));
    /* a page that ends before it still works */
    q.limit = 2;
    expect(e, &q, "1,2");
    /* and one that starts after it */
    q.after_seq = 3;
    q.limit = 0;
    expect(e, &q, "4");
}

/* ---- the result's memory ------------------------------------------------------- */

/* cJSON hooks that hand out blocks 16 bytes into a malloc'd region, so a
 * cJSON string passed to free() would abort. */
static long hooked_live;

static void *offset_malloc(size_t n)
{
    char *p = malloc(n + 16);
    if (!p)
        return NULL;
    hooked_live++;
    return p + 16;
}

static void offset_free(void *p)
{
    if (!p)
        return;
    hooked_live--;
    free((char *)p - 16);
}

static void test_result_freed_with_free_under_cjson_hooks(void **state)
{
    env *e = *state;
    for (int i = 0; i < 3; i++)
        add(e, (ev){.workspace = "acme", .actor = "alice"});
    cJSON_Hooks hooks = {offset_malloc, offset_free};
    cJSON_InitHooks(&hooks);
    hooked_live = 0;
    tg_audit_query q = q_init("acme");
    char *out = NULL;
    int rc = tg_audit_query_json(e->ctx, &out, &q);
    long live = hooked_live;
    cJSON_InitHooks(NULL);
    assert_int_equal(rc, TG_OK);
    assert_int_equal(live, 0); /* every cJSON block was given back */
    cJSON *doc = cJSON_Parse(out);
    assert_non_null(doc);
    assert_int_equal(count_of(doc), 3);
    cJSON_Delete(doc);
    tg_audit_free(out); /* free(): aborts if out came from the hooks */
}

/* ---- bad input --------------------------------------------------------------- */

static void bad(env *e, const tg_audit_query *q, int want, const char *msg_part)
{
    char *out = (char *)"untouched";
    int rc = tg_audit_query_json(e->ctx, &out, q);
    if (rc != want)
        fail_msg("expected %s, got %s (%s)", tg_strerror(want), tg_strerror(rc),
                 tg_ctx_errmsg(NULL));
    assert_null(out);
    if (msg_part && !strstr(tg_ctx_errmsg(NULL), msg_part))
        fail_msg("error message '%s' does not mention '%s'", tg_ctx_errmsg(NULL), msg_part);
}

static void test_bad_input(void **state)
{
    env *e = *state;
    add(e, (ev){.workspace = "acme", .actor = "alice"});
    tg_audit_query q = q_init("acme");
    char *out = (char *)"untouched";

    assert_int_equal(tg_audit_query_json(NULL, &out, &q), TG_EINVAL);
    assert_null(out);
    assert_int_equal(tg_audit_query_json(e->ctx, NULL, &q), TG_EINVAL);
    out = (char *)"untouched";
    assert_int_equal(tg_audit_query_json(e->ctx, &out, NULL), TG_EINVAL);
    assert_null(out);

    q.version = 2;
    bad(e, &q, TG_EVERSION, "version");
    q.version = 0;
    bad(e, &q, TG_EVERSION, "version");
    q = q_init("acme");
    q.struct_size = sizeof q - 1;
    bad(e, &q, TG_EVERSION, "size");

    q = q_init("acme");
    q.action = TG_AUDIT_ACTION_COUNT + 1;
    bad(e, &q, TG_EINVAL, "action");
    q.action = -1;
    bad(e, &q, TG_EINVAL, "action");
    q = q_init("acme");
    q.outcome = 3;
    bad(e, &q, TG_EINVAL, "outcome");
    q.outcome = -2;
    bad(e, &q, TG_EINVAL, "outcome");

    q = q_init("acme");
    q.since_ms = T0 + 1;
    q.until_ms = T0;
    bad(e, &q, TG_EINVAL, "since_ms");
    q.since_ms = -5;
    q.until_ms = -6;
    bad(e, &q, TG_EINVAL, "since_ms");

    q = q_init("acme");
    q.limit = 10001;
    bad(e, &q, TG_EINVAL, "limit");
    q.limit = UINT32_MAX;
    bad(e, &q, TG_EINVAL, "limit");

    char long_id[TG_ID_MAX + 2];
    memset(long_id, 'w', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *bad_ids[] = {"", "\xff\xfe", "ac\xc3", "a\x01z", "\xed\xa0\x80", long_id};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        q = q_init(bad_ids[i]);
        bad(e, &q, TG_EINVAL, "workspace");
        q = q_init("acme");
        q.actor = bad_ids[i];
        bad(e, &q, TG_EINVAL, "actor");
    }
    /* TG_ID_MAX bytes is still an id */
    long_id[TG_ID_MAX] = '\0';
    q = q_init(long_id);
    expect(e, &q, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults),
        cmocka_unit_test(test_all_records_of_one_chain),
        cmocka_unit_test_setup_teardown(test_system_chain, open_empty, close_env),
        cmocka_unit_test_setup_teardown(test_actor_query_on_an_empty_store_writes_nothing,
                                        open_empty, close_env),
        cmocka_unit_test_setup_teardown(test_filter_time, open_filled, close_env),
        cmocka_unit_test_setup_teardown(test_filter_action, open_filled, close_env),
        cmocka_unit_test_setup_teardown(test_filter_outcome, open_filled, close_env),
        cmocka_unit_test_setup_teardown(test_filter_actor, open_filled, close_env),
        cmocka_unit_test_setup_teardown(test_filters_combined, open_filled, close_env),
        cmocka_unit_test(test_paging_every_record_once),
        cmocka_unit_test_setup_teardown(test_paging_edges, open_empty, close_env),
        cmocka_unit_test_setup_teardown(test_erased_actor_and_target, open_empty, close_env),
        cmocka_unit_test(test_sqlite_store),
        cmocka_unit_test_setup_teardown(test_malformed_record, open_empty, close_env),
        cmocka_unit_test_setup_teardown(test_result_freed_with_free_under_cjson_hooks, open_empty, close_env),
        cmocka_unit_test_setup_teardown(test_bad_input, open_empty, close_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
