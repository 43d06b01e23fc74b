/*
 * test_audit_export.c - tg_audit_export and tg_audit_verify_export: the
 * JSON Lines layout, offline verification with and without a pinned key,
 * every kind of tampering with the file (each found with its problem and
 * sequence number), malformed input, exports after pruning and erasure,
 * exports of a store that was tampered with, progress and bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "audit_test.h"
#include "audit/audit_json.h"

#define INTERVAL 10
#define T0 1700000000000LL

/* ---- helpers ------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n, cap;
    size_t lines;
    long stop_after; /* the writer fails after this many lines (0: never) */
    int stop_code;   /* with this code (0: TG_ESTORE) */
} buf;

static int write_line(void *user, const char *line, size_t len)
{
    buf *b = user;
    if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
        return TG_EINTERNAL; /* one whole line per call */
    if (b->stop_after && (long)b->lines == b->stop_after)
        return b->stop_code ? b->stop_code : TG_ESTORE;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return TG_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, line, len);
    b->n += len;
    b->p[b->n] = '\0';
    b->lines++;
    return TG_OK;
}

typedef struct fixture {
    tgt_clock clock;
    tg_store *store;
    tg_ctx *ctx;
    uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES];
} fixture;

static void append_n(fixture *f, const char *ws, int n)
{
    for (int i = 0; i < n; i++) {
        tg_audit_event e;
        char actor[32];
        snprintf(actor, sizeof actor, "user-%d", i % 3);
        at_event(&e, ws, actor);
        f->clock.now_ms += 1000;
        assert_int_equal(tg_audit_append(f->ctx, &e, NULL), TG_OK);
    }
}

/* A context with `n` records in "acme" (checkpoints at 10, 20, ...). */
static fixture *open_fixture(int n)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->clock.now_ms = T0;
    assert_int_equal(tg_store_open_memory(&f->store), TG_OK);
    f->ctx = at_ctx(f->store, &f->clock, INTERVAL);
    assert_non_null(f->ctx);
    append_n(f, "acme", n);
    /* the key exists once there is a record; fixtures of 0 fetch it later */
    if (n)
        assert_int_equal(tg_audit_public_key(f->ctx, f->pk), TG_OK);
    return f;
}

static void close_fixture(fixture *f)
{
    tg_ctx_close(f->ctx);
    tg_store_close(f->store);
    free(f);
}

static buf export_of(fixture *f, const char *ws)
{
    buf b = {0};
    assert_int_equal(tg_audit_export(f->ctx, ws, write_line, &b), TG_OK);
    assert_non_null(b.p);
    return b;
}

static tg_audit_verdict verify_text(const char *text, size_t len, const uint8_t *pk)
{
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    assert_int_equal(tg_audit_verify_export(&v, text, len, pk, NULL, NULL), TG_OK);
    return v;
}

static tg_audit_verdict verify_str(const char *text, const uint8_t *pk)
{
    return verify_text(text, strlen(text), pk);
}

#define assert_verdict(v, prob, seq)                                                         \
    do {                                                                                     \
        if ((v).problem != (prob) || (v).bad_seq != (uint64_t)(seq))                         \
            fail_msg("verdict %s at %llu (%s); wanted %s at %llu",                           \
                     tg_audit_problem_name((v).problem), (unsigned long long)(v).bad_seq,    \
                     (v).reason, tg_audit_problem_name(prob), (unsigned long long)(seq));    \
    } while (0)

/* An export split into lines (without their "\n"), to edit and join. */
typedef struct lines {
    char **l;
    size_t n;
} lines;

static lines split(const char *text)
{
    lines L = {NULL, 0};
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        L.l = realloc(L.l, (L.n + 1) * sizeof *L.l);
        assert_non_null(L.l);
        L.l[L.n] = strndup(p, len);
        assert_non_null(L.l[L.n]);
        L.n++;
        p += len + (nl ? 1 : 0);
    }
    return L;
}

static char *join(const lines *L)
{
    size_t total = 1;
    for (size_t i = 0; i < L->n; i++)
        total += strlen(L->l[i]) + 1;
    char *out = malloc(total), *p = out;
    assert_non_null(out);
    for (size_t i = 0; i < L->n; i++) {
        size_t len = strlen(L->l[i]);
        memcpy(p, L->l[i], len);
        p += len;
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}

static void lines_free(lines *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->l[i]);
    free(L->l);
}

static void drop(lines *L, size_t i)
{
    free(L->l[i]);
    memmove(L->l + i, L->l + i + 1, (L->n - i - 1) * sizeof *L->l);
    L->n--;
}

static void replace(lines *L, size_t i, char *line)
{
    free(L->l[i]);
    L->l[i] = line;
}

/* The index of the line of `type` with "seq": seq; fails the test if none. */
static size_t find(const lines *L, const char *type, uint64_t seq)
{
    for (size_t i = 0; i < L->n; i++) {
        cJSON *o = cJSON_Parse(L->l[i]);
        const cJSON *t = cJSON_GetObjectItem(o, "type"), *s = cJSON_GetObjectItem(o, "seq");
        bool hit = cJSON_IsString(t) && strcmp(t->valuestring, type) == 0 && cJSON_IsNumber(s) &&
                   s->valuedouble == (double)seq;
        cJSON_Delete(o);
        if (hit)
            return i;
    }
    fail_msg("no %s line for %llu", type, (unsigned long long)seq);
    return 0;
}

/* Replaces the first `from` in line i by `to`. */
static void edit(lines *L, size_t i, const char *from, const char *to)
{
    char *at = strstr(L->l[i], from);
    if (!at)
        fail_msg("no \"%s\" in line %zu: %s", from, i, L->l[i]);
    size_t head = (size_t)(at - L->l[i]), tail = strlen(at + strlen(from));
    char *out = malloc(head + strlen(to) + tail + 1);
    assert_non_null(out);
    memcpy(out, L->l[i], head);
    memcpy(out + head, to, strlen(to));
    memcpy(out + head + strlen(to), at + strlen(from), tail + 1);
    replace(L, i, out);
}

/* Sets string field `name` of line i (its place in the line kept). */
static void set_string(lines *L, size_t i, const char *name, const char *value)
{
    cJSON *o = cJSON_Parse(L->l[i]);
    assert_non_null(o);
    assert_true(cJSON_ReplaceItemInObject(o, name, cJSON_CreateString(value)));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    replace(L, i, strdup(text));
    cJSON_free(text);
}

static tg_audit_verdict verify_lines(const lines *L, const uint8_t *pk)
{
    char *text = join(L);
    tg_audit_verdict v = verify_str(text, pk);
    free(text);
    return v;
}

/* Re-hashes record line i after its fields changed, naming `prev` (hex, 64)
 * as its predecessor's hash; returns its new hash in hash_hex. */
static void rehash(lines *L, size_t i, const char *prev, char hash_hex[65])
{
    cJSON *o = cJSON_Parse(L->l[i]);
    assert_non_null(o);
    cJSON_ReplaceItemInObject(o, "prev", cJSON_CreateString(prev));
    tg__audit_record r;
    uint8_t claimed[32], hash[32], enc[8192];
    assert_int_equal(tg__audit_record_from_json(o, &r, claimed), TG_OK);
    size_t n = tg__audit_record_size(&r);
    assert_true(n <= sizeof enc);
    tg__audit_record_encode(enc, &r);
    tg__audit_hash(hash, enc, n);
    tg__audit_hex(hash_hex, hash, 32);
    cJSON_ReplaceItemInObject(o, "hash", cJSON_CreateString(hash_hex));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    replace(L, i, strdup(text));
    cJSON_free(text);
}

static const char *field(const char *line, const char *name, char *out, size_t cap)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *v = cJSON_GetObjectItem(o, name);
    assert_true(cJSON_IsString(v));
    snprintf(out, cap, "%s", v->valuestring);
    cJSON_Delete(o);
    return out;
}

/* ---- layout and round trip ---------------------------------------------- */

static void test_export_layout(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    assert_int_equal(b.lines, 1 + 25 + 2);
    assert_true(b.p[b.n - 1] == '\n');
    lines L = split(b.p);
    assert_int_equal(L.n, 28);

    cJSON *h = cJSON_Parse(L.l[0]);
    assert_string_equal(cJSON_GetObjectItem(h, "type")->valuestring, "header");
    assert_string_equal(cJSON_GetObjectItem(h, "format")->valuestring,
                        "tenantguard-audit-export");
    assert_int_equal(cJSON_GetObjectItem(h, "version")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(h, "chain")->valuestring, "acme");
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, f->pk, sizeof f->pk);
    assert_string_equal(cJSON_GetObjectItem(h, "public_key")->valuestring, hex);
    assert_true(cJSON_GetObjectItem(h, "exported_ms")->valuedouble == (double)f->clock.now_ms);
    cJSON_Delete(h);

    /* Records in order, each checkpoint right after its record. */
    assert_int_equal(find(&L, "record", 1), 1);
    assert_int_equal(find(&L, "record", 10), 10);
    assert_int_equal(find(&L, "checkpoint", 10), 11);
    assert_int_equal(find(&L, "record", 11), 12);
    assert_int_equal(find(&L, "checkpoint", 20), 22);
    assert_int_equal(find(&L, "record", 25), 27);
    /* No raw user id in the file. */
    assert_null(strstr(b.p, "user-1"));

    tg_audit_verdict v = verify_text(b.p, b.n, NULL);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 25);
    assert_int_equal(v.checkpoints, 2);
    assert_int_equal(v.first_seq, 1);
    assert_int_equal(v.last_seq, 25);
    assert_non_null(strstr(v.reason, "not pinned"));
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_pinned_key(void **state)
{
    (void)state;
    fixture *f = open_fixture(12);
    buf b = export_of(f, "acme");
    assert_int_equal(tg_audit_public_key(f->ctx, f->pk), TG_OK);
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_null(strstr(v.reason, "not pinned"));
    assert_int_equal(v.records, 12);

    uint8_t wrong[32];
    memcpy(wrong, f->pk, 32);
    wrong[31] ^= 1;
    v = verify_text(b.p, b.n, wrong);
    assert_verdict(v, TG_AUDIT_BAD_SIGNATURE, 0);
    assert_int_equal(v.records, 0);
    free(b.p);
    close_fixture(f);
}

static void test_system_chain_and_empty_chain(void **state)
{
    (void)state;
    fixture *f = open_fixture(3);
    append_n(f, NULL, 4);
    buf b = export_of(f, NULL);
    lines L = split(b.p);
    char chain[8];
    assert_string_equal(field(L.l[0], "chain", chain, sizeof chain), "");
    assert_int_equal(L.n, 5);
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 4);
    lines_free(&L);
    free(b.p);

    /* A chain without records: a header alone, which verifies. */
    b = export_of(f, "nobody-here");
    assert_int_equal(b.lines, 1);
    v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 0);
    free(b.p);
    close_fixture(f);
}

/* Every byte of details, strings and numbers survives the round trip. */
static void test_awkward_fields_round_trip(void **state)
{
    (void)state;
    fixture *f = open_fixture(0);
    static const char *details[] = {
        "{}",
        "{\"n\":1.5e300,\"neg\":-0.25,\"big\":9007199254740993,\"e\":1E-7}",
        "{\"s\":\"tab\\t nl\\n quote\\\" bs\\\\ ctl\\u0001 \\u00e9 \xe2\x82\xac \\ud83d\\ude00\"}",
        "{\"a\":[1,[2,{\"b\":null}],true,false],\"a\":\"dup\"}",
        "{\"deep\":{\"x\":{\"y\":{\"z\":[]}}}}",
    };
    for (size_t i = 0; i < sizeof details / sizeof *details; i++) {
        tg_audit_event e;
        at_event(&e, "acme", "zoë");
        e.details = details[i];
        e.target = i % 2 ? "ünïcode \"target\" \\ slash" : "bob";
        e.target_is_subject = i == 2;
        e.actor_ip = i % 2 ? "2001:db8:1:2::7" : "198.51.100.9";
        e.outcome = (int)i % 3;
        e.severity = (int)i % 5;
        e.tags = TG_AUDIT_TAGS_ALL >> i;
        assert_int_equal(tg_audit_append(f->ctx, &e, NULL), TG_OK);
    }
    assert_int_equal(tg_audit_public_key(f->ctx, f->pk), TG_OK);
    buf b = export_of(f, "acme");
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 5);
    free(b.p);
    close_fixture(f);
}

/* ---- tampering with the file -------------------------------------------- */

static void test_tamper_details_byte(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    edit(&L, find(&L, "record", 5), "\\\"bytes\\\":280", "\\\"bytes\\\":281");
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 5);
    lines_free(&L);
    /* A field outside details, too. */
    L = split(b.p);
    edit(&L, find(&L, "record", 17), "\"outcome\":\"success\"", "\"outcome\":\"failure\"");
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 17);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_delete_record(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    drop(&L, find(&L, "record", 7));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_GAP, 7);
    lines_free(&L);
    /* The record a checkpoint names. */
    L = split(b.p);
    drop(&L, find(&L, "record", 10));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_GAP, 10);
    lines_free(&L);
    /* The first one. */
    L = split(b.p);
    drop(&L, find(&L, "record", 1));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_GAP, 1);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

/* A checkpoint line given twice is not counted twice. */
static void test_duplicate_checkpoint_line(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    size_t i = find(&L, "checkpoint", 10);
    L.l = realloc(L.l, (L.n + 1) * sizeof *L.l);
    memmove(&L.l[i + 2], &L.l[i + 1], (L.n - i - 1) * sizeof *L.l);
    L.l[i + 1] = strdup(L.l[i]);
    L.n++;
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 10);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_swap_records(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    size_t i = find(&L, "record", 3), j = find(&L, "record", 4);
    char *t = L.l[i];
    L.l[i] = L.l[j];
    L.l[j] = t;
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 3);
    lines_free(&L);
    /* Far apart, across a checkpoint. */
    L = split(b.p);
    i = find(&L, "record", 8), j = find(&L, "record", 14);
    t = L.l[i];
    L.l[i] = L.l[j];
    L.l[j] = t;
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 8);
    lines_free(&L);
    /* A checkpoint line moved after a later record. */
    L = split(b.p);
    i = find(&L, "checkpoint", 10);
    t = L.l[i];
    L.l[i] = L.l[i + 1];
    L.l[i + 1] = t;
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 10);
    lines_free(&L);
    /* A checkpoint line moved before its record is still checked. */
    L = split(b.p);
    i = find(&L, "checkpoint", 20);
    t = L.l[i];
    L.l[i] = L.l[i - 1];
    L.l[i - 1] = t;
    tg_audit_verdict v = verify_lines(&L, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.checkpoints, 2);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_truncate(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    /* Records 15.. dropped, the checkpoint of 20 left: the file ends
     * before a signed checkpoint. */
    lines L = split(b.p);
    for (uint64_t s = 15; s <= 25; s++)
        drop(&L, find(&L, "record", s));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_TRUNCATED, 15);
    lines_free(&L);
    /* Cut in the middle of a line: the last line does not parse. */
    size_t cut = (size_t)(strstr(b.p, "\"seq\":23,") - b.p);
    assert_verdict(verify_text(b.p, cut, f->pk), TG_AUDIT_MALFORMED, 23);
    /* What an export cannot show: a file cut after a whole checkpoint line
     * (or after any record past the last checkpoint) is a shorter valid
     * export. Pin the last checkpoint's sequence elsewhere to catch it. */
    L = split(b.p);
    L.n = find(&L, "checkpoint", 10) + 1;
    for (size_t i = L.n; i < 28; i++)
        free(L.l[i]);
    tg_audit_verdict v = verify_lines(&L, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.last_seq, 10);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_hash_and_prev(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    size_t i = find(&L, "record", 6);
    char hash[65];
    field(L.l[i], "hash", hash, sizeof hash);
    char other[65];
    memcpy(other, hash, sizeof other);
    other[0] = other[0] == '0' ? '1' : '0';
    edit(&L, i, hash, other);
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 6);
    lines_free(&L);
    /* A prev changed and the record re-hashed: the chain link breaks. */
    L = split(b.p);
    i = find(&L, "record", 6);
    rehash(&L, i, "00000000000000000000000000000000000000000000000000000000000000ff", hash);
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 6);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_forged_stretch(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    /* Records 14..20 rewritten into a chain of their own that hashes
     * right: only the signed checkpoint of 20 shows it. */
    char prev[65], hash[65];
    field(L.l[find(&L, "record", 13)], "hash", prev, sizeof prev);
    for (uint64_t s = 14; s <= 20; s++) {
        size_t i = find(&L, "record", s);
        edit(&L, i, "\\\"bytes\\\":280", "\\\"bytes\\\":1");
        rehash(&L, i, prev, hash);
        memcpy(prev, hash, sizeof prev);
    }
    tg_audit_verdict v = verify_lines(&L, f->pk);
    assert_verdict(v, TG_AUDIT_BAD_HASH, 20);
    assert_int_equal(v.records, 20);
    /* And the records after it name the old hash. */
    drop(&L, find(&L, "checkpoint", 20));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 21);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_signatures_and_key(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    size_t i = find(&L, "checkpoint", 10);
    char sig[129];
    field(L.l[i], "signature", sig, sizeof sig);
    char bad[129];
    memcpy(bad, sig, sizeof bad);
    bad[5] = bad[5] == 'a' ? 'b' : 'a';
    edit(&L, i, sig, bad);
    assert_verdict(verify_lines(&L, NULL), TG_AUDIT_BAD_SIGNATURE, 10);
    lines_free(&L);

    /* Everything re-signed with another key: self-consistent, so valid
     * without a pinned key, and refused with the real one. */
    uint8_t pk2[32], sk2[64];
    crypto_sign_keypair(pk2, sk2);
    L = split(b.p);
    char hex[65], old[65];
    sodium_bin2hex(old, sizeof old, f->pk, 32);
    sodium_bin2hex(hex, sizeof hex, pk2, 32);
    edit(&L, 0, old, hex);
    for (uint64_t s = 10; s <= 20; s += 10) {
        i = find(&L, "checkpoint", s);
        cJSON *o = cJSON_Parse(L.l[i]);
        tg__audit_checkpoint c;
        const char *chain;
        size_t chain_len;
        assert_int_equal(tg__audit_checkpoint_from_json(o, &c, &chain, &chain_len), TG_OK);
        uint8_t msg[TG__AUDIT_SIGNED_MAX];
        size_t n = tg__audit_checkpoint_message(msg, chain, chain_len, &c);
        crypto_sign_detached(c.sig, NULL, msg, n, sk2);
        cJSON *j = tg__audit_checkpoint_json("checkpoint", chain, chain_len, &c);
        char *text = cJSON_PrintUnformatted(j);
        replace(&L, i, strdup(text));
        cJSON_free(text);
        cJSON_Delete(j);
        cJSON_Delete(o);
    }
    tg_audit_verdict v = verify_lines(&L, NULL);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_non_null(strstr(v.reason, "not pinned"));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_SIGNATURE, 0);
    /* The header's key swapped back but the signatures left: caught. */
    edit(&L, 0, hex, old);
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_SIGNATURE, 10);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_tamper_other_chain(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    append_n(f, "globex", 12);
    buf a = export_of(f, "acme"), g = export_of(f, "globex");
    lines L = split(a.p), G = split(g.p);
    /* globex's record 5 in place of acme's. */
    replace(&L, find(&L, "record", 5), strdup(G.l[find(&G, "record", 5)]));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 5);
    lines_free(&L);
    /* Only the header's chain renamed: no record belongs. */
    L = split(a.p);
    edit(&L, 0, "\"chain\":\"acme\"", "\"chain\":\"globex\"");
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 1);
    lines_free(&L);
    /* globex's checkpoint of 10, signed by the same key, in acme's file. */
    L = split(a.p);
    replace(&L, find(&L, "checkpoint", 10), strdup(G.l[find(&G, "checkpoint", 10)]));
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_REORDERED, 10);
    lines_free(&L);
    lines_free(&G);
    free(a.p);
    free(g.p);
    close_fixture(f);
}

/* ---- malformed input ------------------------------------------------------ */

static void expect_malformed(const char *text, size_t len, uint64_t seq, const char *why)
{
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    if (len == SIZE_MAX)
        len = strlen(text);
    assert_int_equal(tg_audit_verify_export(&v, text, len, NULL, NULL, NULL), TG_OK);
    if (v.problem != TG_AUDIT_MALFORMED || v.bad_seq != seq)
        fail_msg("%s: %s at %llu (%s)", why, tg_audit_problem_name(v.problem),
                 (unsigned long long)v.bad_seq, v.reason);
    assert_true(v.reason[0] != '\0');
}

static void test_malformed_files(void **state)
{
    (void)state;
    expect_malformed(NULL, 0, 0, "NULL and empty");
    expect_malformed("", 0, 0, "empty");
    expect_malformed("\n", 1, 0, "a blank line");
    expect_malformed("garbage", 7, 0, "garbage");
    expect_malformed("\xff\xfe{}", 4, 0, "not UTF-8");
    expect_malformed("[1,2]\n", 6, 0, "an array");
    expect_malformed("{\"type\":\"record\"}\n", 18, 0, "no header");
    expect_malformed("{\"type\":\"header\",\"format\":\"tenantguard-audit-export\",\"version\":2,"
                     "\"chain\":\"\",\"public_key\":\"" /* 64 zeros */
                     "0000000000000000000000000000000000000000000000000000000000000000\"}\n",
                     SIZE_MAX, 0, "a later format version");
}

static void test_malformed_lines(void **state)
{
    (void)state;
    fixture *f = open_fixture(12);
    buf b = export_of(f, "acme");
    lines L;
    char *text;
    struct {
        uint64_t seq; /* a record's, or (10) the checkpoint's */
        const char *from, *to, *why;
    } edits[] = {
        {4, "\"seq\":4,", "\"seq\":1e400,", "a huge number"},
        {4, "\"seq\":4,", "\"seq\":18446744073709551615,", "a number past 2^53"},
        {4, "\"seq\":4,", "\"seq\":4.5,", "a fraction"},
        {4, "\"seq\":4,", "\"seq\":\"4\",", "a string for a number"},
        {4, "\"seq\":4,", "\"seq\":-4,", "a negative sequence"},
        {4, "\"time_ms\":", "\"time_ms\":true,\"x\":", "a bool for a number"},
        {4, "\"action\":\"message.sent\"", "\"action\":\"message.teleported\"", "unknown action"},
        {4, "\"outcome\":\"success\"", "\"outcome\":\"meh\"", "unknown outcome"},
        {4, "\"tags\":[", "\"tags\":[\"iso27001\",", "unknown tag"},
        {4, "\"tags\":[", "\"tags\":[\"soc2\",\"soc2\",", "a tag twice"},
        {4, "\"details\":\"", "\"details\":{},\"x\":\"", "details not a string"},
        {4, "\"hash\":\"", "\"hash\":\"ab", "a hash too long"},
        {4, "\"type\":\"record\",", "\"type\":\"record\",\"seq\":4,", "a field twice"},
        {4, "\"type\":\"record\"", "\"type\":\"memo\"", "an unknown line type"},
        {4, "\"type\":\"record\",", "\"type\":\"record\",\"note\":\"approved\",",
         "a field the hash does not cover"},
        {4, "\"target\":\"", "\"target\":\"msg\\u0000", "an escaped NUL"},
        {4, "\"type\":\"record\"", "\"type\":\"anchor\"", "an anchor after records"},
        {4, "\"type\":\"record\"", "\"type\":\"header\"", "a second header"},
        {4, "\"type\":\"record\"", "\"type\":7", "a number for a type"},
        {10, "\"signature\":\"", "\"signature\":\"0", "a signature too long"},
        {10, "\"seq\":10,", "\"seq\":0,", "a checkpoint of record 0"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof *edits; e++) {
        L = split(b.p);
        bool cp = edits[e].seq == 10;
        size_t i = find(&L, cp ? "checkpoint" : "record", edits[e].seq);
        edit(&L, i, edits[e].from, edits[e].to);
        text = join(&L);
        /* A bad line after record N is reported at N + 1. */
        expect_malformed(text, strlen(text), cp ? 11 : 4, edits[e].why);
        free(text);
        lines_free(&L);
    }

    /* Invalid hex of the right length; bytes after the object. */
    L = split(b.p);
    set_string(&L, find(&L, "record", 4), "prev",
               "g000000000000000000000000000000000000000000000000000000000000000");
    text = join(&L);
    expect_malformed(text, strlen(text), 4, "invalid hex");
    free(text);
    lines_free(&L);
    L = split(b.p);
    size_t k = find(&L, "checkpoint", 10);
    char *longer = malloc(strlen(L.l[k]) + 3);
    sprintf(longer, "%s {", L.l[k]);
    replace(&L, k, longer);
    text = join(&L);
    expect_malformed(text, strlen(text), 11, "bytes after the object");
    free(text);
    lines_free(&L);

    /* A NUL byte inside a line. */
    text = strdup(b.p);
    char *at = strstr(text, "\"seq\":3,");
    at[1] = '\0';
    expect_malformed(text, b.n, 3, "a NUL byte");
    /* Invalid UTF-8 in a string. */
    at[1] = (char)0xc3;
    at[2] = (char)0x28;
    expect_malformed(text, b.n, 3, "invalid UTF-8");
    free(text);

    /* A blank line between records. */
    L = split(b.p);
    replace(&L, find(&L, "record", 2), strdup(""));
    text = join(&L);
    expect_malformed(text, strlen(text), 2, "a blank line");
    free(text);
    lines_free(&L);

    /* A line over 64 KiB (a record with padding in its target). */
    L = split(b.p);
    size_t i = find(&L, "record", 5);
    size_t big = 70000;
    char *pad = malloc(big + 32);
    assert_non_null(pad);
    strcpy(pad, "\"target\":\"");
    memset(pad + 10, 'x', big);
    strcpy(pad + 10 + big, "\",\"x\":\"");
    edit(&L, i, "\"target\":\"", pad);
    free(pad);
    text = join(&L);
    expect_malformed(text, strlen(text), 5, "a line over 64 KiB");
    /* and with no newline at all after it */
    size_t cut = (size_t)(strstr(text, "xxxx") - text) + 66000;
    expect_malformed(text, cut, 5, "64 KiB without a newline");
    free(text);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_line_endings(void **state)
{
    (void)state;
    fixture *f = open_fixture(12);
    buf b = export_of(f, "acme");
    /* No newline after the last line. */
    tg_audit_verdict v = verify_text(b.p, b.n - 1, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 12);
    /* CRLF line endings are tolerated. */
    lines L = split(b.p);
    size_t total = 0;
    for (size_t i = 0; i < L.n; i++)
        total += strlen(L.l[i]) + 2;
    char *crlf = malloc(total + 1), *p = crlf;
    for (size_t i = 0; i < L.n; i++)
        p += sprintf(p, "%s\r\n", L.l[i]);
    v = verify_text(crlf, total, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 12);
    assert_int_equal(v.checkpoints, 1);
    /* A lone "\r" inside a line is not an ending. */
    crlf[20] = '\r';
    v = verify_text(crlf, total, f->pk);
    assert_int_equal(v.problem, TG_AUDIT_MALFORMED);
    free(crlf);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    assert_int_equal(tg_audit_verify_export(NULL, "x", 1, NULL, NULL, NULL), TG_EINVAL);
    assert_int_equal(tg_audit_verify_export(&v, NULL, 5, NULL, NULL, NULL), TG_EINVAL);
    assert_non_null(strstr(tg_ctx_errmsg(NULL), "NULL export data"));
    tg_audit_verdict old;
    memset(&old, 0, sizeof old);
    assert_int_equal(tg_audit_verify_export(&old, "", 0, NULL, NULL, NULL), TG_EVERSION);
    old.version = TG_AUDIT_VERDICT_VERSION;
    old.struct_size = sizeof old - 8;
    assert_int_equal(tg_audit_verify_export(&old, "", 0, NULL, NULL, NULL), TG_EVERSION);

    fixture *f = open_fixture(10);
    buf b = {0};
    assert_int_equal(tg_audit_export(NULL, "acme", write_line, &b), TG_EINVAL);
    assert_int_equal(tg_audit_export(f->ctx, "acme", NULL, &b), TG_EINVAL);
    assert_int_equal(tg_audit_export(f->ctx, "", write_line, &b), TG_EINVAL);
    assert_int_equal(tg_audit_export(f->ctx, "bad\nid", write_line, &b), TG_EINVAL);
    assert_int_equal(tg_audit_export(f->ctx, "\xc3\x28", write_line, &b), TG_EINVAL);
    char longid[300];
    memset(longid, 'w', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(tg_audit_export(f->ctx, longid, write_line, &b), TG_EINVAL);
    assert_int_equal(b.lines, 0);

    /* A writer that stops: its code comes back, nothing more is written. */
    b.stop_after = 2;
    assert_int_equal(tg_audit_export(f->ctx, "acme", write_line, &b), TG_ESTORE);
    assert_int_equal(b.lines, 2);
    /* Any non-zero code, also a positive one; also at the checkpoint
     * (line 12: the header, 10 records, the checkpoint of 10). */
    static const long stops[] = {1, 5, 11};
    for (size_t k = 0; k < 3; k++) {
        long at = stops[k];
        buf c = {0};
        c.stop_after = at;
        c.stop_code = 42;
        assert_int_equal(tg_audit_export(f->ctx, "acme", write_line, &c), 42);
        assert_int_equal(c.lines, at);
        free(c.p);
    }
    free(b.p);
    close_fixture(f);
}

/* ---- pruning, erasure, a tampered store ------------------------------------- */

static void test_export_after_pruning(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    uint64_t pruned = 0;
    /* Records are 1 s apart from T0 + 1 s: older than record 23's time
     * lets pruning go up to the checkpoint of 20. */
    assert_int_equal(tg_audit_prune(f->ctx, "acme", T0 + 23000, &pruned), TG_OK);
    assert_int_equal(pruned, 20);
    append_n(f, "acme", 3);
    buf b = export_of(f, "acme");
    lines L = split(b.p);
    char type[16];
    assert_string_equal(field(L.l[1], "type", type, sizeof type), "anchor");
    assert_int_equal(find(&L, "anchor", 20), 1);
    assert_int_equal(find(&L, "record", 21), 2);
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 8);
    assert_int_equal(v.first_seq, 21);
    assert_int_equal(v.checkpoints, 1);

    /* Tampering after the anchor is still caught. */
    edit(&L, find(&L, "record", 22), "\\\"bytes\\\":280", "\\\"bytes\\\":0");
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_HASH, 22);
    lines_free(&L);
    /* A forged anchor. */
    L = split(b.p);
    char sig[129];
    field(L.l[1], "signature", sig, sizeof sig);
    sig[0] = sig[0] == 'f' ? 'e' : 'f';
    set_string(&L, 1, "signature", sig);
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_BAD_SIGNATURE, 20);
    lines_free(&L);
    /* The anchor dropped: record 21 has nothing before it. */
    L = split(b.p);
    drop(&L, 1);
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_GAP, 1);
    lines_free(&L);
    /* The anchor moved after a record: that record has nothing before it. */
    L = split(b.p);
    char *t = L.l[1];
    L.l[1] = L.l[2];
    L.l[2] = t;
    assert_verdict(verify_lines(&L, f->pk), TG_AUDIT_GAP, 1);
    lines_free(&L);
    free(b.p);
    close_fixture(f);
}

static void test_export_after_erasure(void **state)
{
    (void)state;
    fixture *f = open_fixture(9);
    assert_int_equal(tg_audit_erase_subject(f->ctx, "acme", "user-1"), TG_OK);
    buf b = export_of(f, "acme");
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 9);
    free(b.p);
    close_fixture(f);
}

/* The export copies a tampered store as it is; offline verification finds
 * what the store's own verification finds. */
static void test_export_of_tampered_store(void **state)
{
    (void)state;
    fixture *f = open_fixture(25);
    at_bytes rec;
    assert_int_equal(at_get(f->store, TG__AK_RECORD, "acme", 7, &rec), TG_OK);
    rec.b[rec.n - 3] ^= 0x01; /* a byte of the details */
    assert_int_equal(at_put(f->store, TG__AK_RECORD, "acme", 7, &rec), TG_OK);
    tg_audit_verdict stored;
    assert_int_equal(at_verify(f->ctx, &stored, "acme", 0, 0), TG_OK);
    buf b = export_of(f, "acme");
    tg_audit_verdict v = verify_text(b.p, b.n, f->pk);
    assert_int_equal(v.problem, stored.problem);
    assert_int_equal(v.bad_seq, stored.bad_seq);
    assert_verdict(v, TG_AUDIT_BAD_HASH, 8);
    free(b.p);

    /* A record deleted from the store: the export shows the gap. */
    assert_int_equal(at_del(f->store, TG__AK_RECORD, "acme", 15), TG_OK);
    assert_int_equal(at_del(f->store, TG__AK_RECORD, "acme", 7), TG_OK);
    b = export_of(f, "acme");
    v = verify_text(b.p, b.n, f->pk);
    assert_verdict(v, TG_AUDIT_GAP, 7);
    free(b.p);
    /* The tail cut before the checkpoint of 20. */
    for (uint64_t s = 8; s <= 25; s++)
        at_del(f->store, TG__AK_RECORD, "acme", s);
    assert_int_equal(at_put(f->store, TG__AK_RECORD, "acme", 7, &rec), TG_OK);
    rec.b[rec.n - 3] ^= 0x01;
    assert_int_equal(at_put(f->store, TG__AK_RECORD, "acme", 7, &rec), TG_OK);
    b = export_of(f, "acme");
    v = verify_text(b.p, b.n, f->pk);
    assert_int_equal(at_verify(f->ctx, &stored, "acme", 0, 0), TG_OK);
    assert_verdict(stored, TG_AUDIT_TRUNCATED, 8);
    assert_verdict(v, TG_AUDIT_TRUNCATED, 8);
    free(b.p);

    /* Bytes that do not decode cannot be exported. */
    rec.n = 5;
    assert_int_equal(at_put(f->store, TG__AK_RECORD, "acme", 3, &rec), TG_OK);
    buf x = {0};
    assert_int_equal(tg_audit_export(f->ctx, "acme", write_line, &x), TG_EFORMAT);
    assert_non_null(strstr(tg_ctx_errmsg(f->ctx), "3"));
    free(x.p);
    close_fixture(f);
}

/* ---- progress -------------------------------------------------------------- */

typedef struct progress_log {
    uint64_t calls, last_done, total;
    uint64_t stop_at;
} progress_log;

static int on_progress(void *user, uint64_t done, uint64_t total)
{
    progress_log *p = user;
    p->calls++;
    if (done <= p->last_done)
        return 1; /* must grow */
    p->last_done = done;
    p->total = total;
    return p->stop_at && done >= p->stop_at;
}

static void test_progress(void **state)
{
    (void)state;
    fixture *f = open_fixture(0);
    tg_audit_event events[500];
    for (int i = 0; i < 500; i++)
        at_event(&events[i], "acme", "user-1");
    for (int k = 0; k < 18; k++)
        assert_int_equal(tg_audit_append_batch(f->ctx, events, 500, NULL), TG_OK);
    buf b = export_of(f, "acme");
    progress_log p = {0};
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    assert_int_equal(tg_audit_public_key(f->ctx, f->pk), TG_OK);
    assert_int_equal(tg_audit_verify_export(&v, b.p, b.n, f->pk, on_progress, &p), TG_OK);
    assert_verdict(v, TG_AUDIT_VALID, 0);
    assert_int_equal(v.records, 9000);
    assert_int_equal(v.checkpoints, 900);
    assert_int_equal(p.calls, 2); /* at 4096 and 8192 */
    assert_int_equal(p.total, 9000);

    p = (progress_log){0, 0, 0, 4096};
    tg_audit_verdict_init(&v);
    assert_int_equal(tg_audit_verify_export(&v, b.p, b.n, f->pk, on_progress, &p), TG_ECALLBACK);
    assert_int_equal(p.calls, 1);
    free(b.p);
    close_fixture(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_layout),
        cmocka_unit_test(test_pinned_key),
        cmocka_unit_test(test_system_chain_and_empty_chain),
        cmocka_unit_test(test_awkward_fields_round_trip),
        cmocka_unit_test(test_tamper_details_byte),
        cmocka_unit_test(test_tamper_delete_record),
        cmocka_unit_test(test_tamper_swap_records),
        cmocka_unit_test(test_duplicate_checkpoint_line),
        cmocka_unit_test(test_tamper_truncate),
        cmocka_unit_test(test_tamper_hash_and_prev),
        cmocka_unit_test(test_tamper_forged_stretch),
        cmocka_unit_test(test_tamper_signatures_and_key),
        cmocka_unit_test(test_tamper_other_chain),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_export_after_pruning),
        cmocka_unit_test(test_export_after_erasure),
        cmocka_unit_test(test_export_of_tampered_store),
        cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
