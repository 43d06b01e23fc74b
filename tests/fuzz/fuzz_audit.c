/*
 * fuzz_audit.c - libFuzzer target for audit export parsing and the record
 * formats.
 *
 * Each input is:
 *   1. verified as an export three times: trusting the file's key, pinning
 *      the key the seeds in tests/fuzz/corpus/audit/ are signed with, and
 *      pinning a key nobody has. Each must return TG_OK with a well-formed
 *      verdict, and pinning a key may only add problems: a verdict that is
 *      valid with a pinned key must be valid, the same, without one.
 *   2. decoded as a record's bytes: one that decodes must encode to the
 *      same bytes, and (when its details are canonical JSON) so must its
 *      JSON form read back.
 *   3. decoded as a stored checkpoint: one that decodes encodes back.
 * Anything else aborts.
 *
 * The seeds come from `audit_fixture corpus DIR` (tests/cli/audit_fixture.c),
 * which prints the key; SEED_KEY below must be that key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <tenantguard.h>

#include "audit/audit_impl.h"
#include "audit/audit_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEED_KEY "d6cc7162ee62ec7122b6f0e244dfb7bffddd2876d17ab9db88177a965d2cc189"

static void die(const char *what, const tg_audit_verdict *v)
{
    fprintf(stderr, "fuzz_audit: %s", what);
    if (v)
        fprintf(stderr, " (problem %d at %llu: %.160s)", v->problem,
                (unsigned long long)v->bad_seq, v->reason);
    fprintf(stderr, "\n");
    abort();
}

static void verify(tg_audit_verdict *v, const uint8_t *data, size_t size, const uint8_t *key)
{
    tg_audit_verdict_init(v);
    if (tg_audit_verify_export(v, (const char *)data, size, key, NULL, NULL) != TG_OK)
        die("verification failed instead of giving a verdict", NULL);
    if (v->problem < TG_AUDIT_VALID || v->problem > TG_AUDIT_MALFORMED ||
        !tg_audit_problem_name(v->problem))
        die("a problem outside the list", v);
    if (!memchr(v->reason, '\0', sizeof v->reason) || !v->reason[0])
        die("a reason that is empty or not terminated", v);
    if (v->problem == TG_AUDIT_VALID &&
        (v->bad_seq != 0 || (v->records && v->last_seq - v->first_seq + 1 != v->records)))
        die("a valid verdict whose range does not add up", v);
}

static void same(const tg_audit_verdict *pinned, const tg_audit_verdict *open)
{
    if (pinned->problem == TG_AUDIT_VALID &&
        (open->problem != TG_AUDIT_VALID || open->records != pinned->records ||
         open->checkpoints != pinned->checkpoints))
        die("valid with a pinned key but not without one", open);
}

static void record_round_trip(const uint8_t *data, size_t size)
{
    tg__audit_record r;
    if (tg__audit_record_decode(&r, data, size) != TG_OK)
        return;
    uint8_t *again = malloc(size);
    if (!again)
        abort();
    if (tg__audit_record_size(&r) != size)
        die("a decoded record has another size", NULL);
    tg__audit_record_encode(again, &r);
    if (memcmp(again, data, size) != 0)
        die("a decoded record encodes to other bytes", NULL);

    /* Through JSON (details as text, as exports hold them): the same
     * bytes again. */
    uint8_t hash[TG_AUDIT_HASH_BYTES], claimed[TG_AUDIT_HASH_BYTES];
    tg__audit_hash(hash, data, size);
    cJSON *o = tg__audit_record_json(&r, hash, true);
    /* A field holding a NUL byte is cut there in JSON (a C string). */
    bool plain = !memchr(r.chain, 0, r.chain_len) && !memchr(r.actor, 0, r.actor_len) &&
                 !memchr(r.network, 0, r.network_len) && !memchr(r.target, 0, r.target_len) &&
                 !memchr(r.details, 0, r.details_len);
    /* JSON numbers hold integers exactly up to 2^53 only; past that the
     * verifier refuses a line as malformed, which is what it must do. */
    const int64_t exact = INT64_C(1) << 53;
    bool exact_numbers = r.seq <= (uint64_t)exact && r.time_ms <= exact && r.time_ms >= -exact;
    if (o && plain && exact_numbers) {
        tg__audit_record back;
        int rc = tg__audit_record_from_json(o, &back, claimed);
        if (rc != TG_OK)
            die("a record's JSON does not read back", NULL);
        if (memcmp(claimed, hash, sizeof hash) != 0 || tg__audit_record_size(&back) != size)
            die("a record's JSON reads back as another record", NULL);
        tg__audit_record_encode(again, &back);
        if (memcmp(again, data, size) != 0)
            die("a record's JSON encodes to other bytes", NULL);
    }
    cJSON_Delete(o);
    free(again);
}

static void checkpoint_round_trip(const uint8_t *data, size_t size)
{
    tg__audit_checkpoint c;
    uint8_t again[TG__AUDIT_CHECKPOINT_BYTES];
    if (tg__audit_checkpoint_decode(&c, data, size) != TG_OK)
        return;
    tg__audit_checkpoint_encode(again, &c);
    if (size != sizeof again || memcmp(again, data, size) != 0)
        die("a decoded checkpoint encodes to other bytes", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t seed_key[TG_AUDIT_PUBLIC_KEY_BYTES], nobody[TG_AUDIT_PUBLIC_KEY_BYTES];
    static bool ready;
    if (!ready) {
        if (sodium_init() < 0 ||
            sodium_hex2bin(seed_key, sizeof seed_key, SEED_KEY, 64, NULL, NULL, NULL) != 0)
            abort();
        memset(nobody, 0x5a, sizeof nobody);
        ready = true;
    }
    tg_audit_verdict open, pinned, wrong;
    verify(&open, data, size, NULL);
    verify(&pinned, data, size, seed_key);
    verify(&wrong, data, size, nobody);
    same(&pinned, &open);
    same(&wrong, &open);

    record_round_trip(data, size);
    checkpoint_round_trip(data, size);
    return 0;
}
