/*
 * verify_core.c - the checks of a chain, whatever it is read from: the
 * store (verify.c) or an export (export.c). Fed items in order of
 * sequence, it stops at the first problem and says where and why.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit_impl.h"

bool tg__audit_problem(tg_audit_verdict *out, int problem, uint64_t seq, const char *fmt, ...)
{
    if (out->problem != TG_AUDIT_VALID)
        return false;
    out->problem = problem;
    out->bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return false;
}

void tg__audit_verifier_start(tg__audit_verifier *v, tg_audit_verdict *out,
                              const uint8_t *public_key, const char *chain, size_t chain_len)
{
    memset(v, 0, sizeof *v);
    v->public_key = public_key;
    v->chain = chain;
    v->chain_len = chain_len;
    v->next_seq = 1;
    v->out = out;
    out->problem = TG_AUDIT_VALID;
    out->bad_seq = 0;
    out->first_seq = 0;
    out->last_seq = 0;
    out->records = 0;
    out->checkpoints = 0;
    snprintf(out->reason, sizeof out->reason, "the chain is intact");
}

bool tg__audit_verifier_anchor(tg__audit_verifier *v, const tg__audit_checkpoint *c)
{
    if (!tg__audit_checkpoint_valid(v->public_key, v->chain, v->chain_len, c))
        return tg__audit_problem(v->out, TG_AUDIT_BAD_SIGNATURE, c->seq,
                                 "the checkpoint the check starts from (record %llu) is not "
                                 "signed by the audit key",
                                 (unsigned long long)c->seq);
    v->next_seq = c->seq + 1;
    memcpy(v->prev, c->hash, sizeof v->prev);
    v->out->checkpoints++;
    if (c->seq > v->last_checkpoint)
        v->last_checkpoint = c->seq;
    return true;
}

bool tg__audit_verifier_record(tg__audit_verifier *v, uint64_t key_seq, const uint8_t *encoded,
                               size_t len)
{
    tg_audit_verdict *out = v->out;
    if (out->problem != TG_AUDIT_VALID)
        return false;
    tg__audit_record r;
    if (tg__audit_record_decode(&r, encoded, len) != TG_OK)
        return tg__audit_problem(out, TG_AUDIT_MALFORMED, key_seq,
                                 "record %llu does not decode", (unsigned long long)key_seq);
    if (r.seq != key_seq)
        return tg__audit_problem(out, TG_AUDIT_REORDERED, key_seq,
                                 "the record stored as %llu says it is %llu",
                                 (unsigned long long)key_seq, (unsigned long long)r.seq);
    if (r.chain_len != v->chain_len || memcmp(r.chain, v->chain, v->chain_len) != 0)
        return tg__audit_problem(out, TG_AUDIT_REORDERED, key_seq,
                                 "record %llu belongs to another chain",
                                 (unsigned long long)key_seq);
    if (key_seq > v->next_seq)
        return tg__audit_problem(out, TG_AUDIT_GAP, v->next_seq,
                                 "records %llu to %llu are missing",
                                 (unsigned long long)v->next_seq,
                                 (unsigned long long)key_seq - 1);
    if (key_seq < v->next_seq)
        return tg__audit_problem(out, TG_AUDIT_REORDERED, key_seq,
                                 "record %llu comes after record %llu",
                                 (unsigned long long)key_seq,
                                 (unsigned long long)v->next_seq - 1);
    if (sodium_memcmp(r.prev, v->prev, sizeof v->prev) != 0)
        return tg__audit_problem(out, TG_AUDIT_BAD_HASH, key_seq,
                                 "record %llu does not name the hash of the record before it",
                                 (unsigned long long)key_seq);
    tg__audit_hash(v->prev, encoded, len);
    if (out->records == 0)
        out->first_seq = key_seq;
    out->last_seq = key_seq;
    out->records++;
    v->next_seq = key_seq + 1;
    return true;
}

bool tg__audit_verifier_checkpoint(tg__audit_verifier *v, const tg__audit_checkpoint *c)
{
    tg_audit_verdict *out = v->out;
    if (out->problem != TG_AUDIT_VALID)
        return false;
    if (!tg__audit_checkpoint_valid(v->public_key, v->chain, v->chain_len, c))
        return tg__audit_problem(out, TG_AUDIT_BAD_SIGNATURE, c->seq,
                                 "the checkpoint of record %llu is not signed by the audit key",
                                 (unsigned long long)c->seq);
    if (out->checkpoints && c->seq <= v->last_checkpoint)
        return tg__audit_problem(out, TG_AUDIT_REORDERED, c->seq,
                                 "the checkpoint of record %llu comes again",
                                 (unsigned long long)c->seq);
    if (c->seq + 1 != v->next_seq)
        return tg__audit_problem(out, TG_AUDIT_GAP, c->seq,
                                 "the checkpoint of record %llu has no record to check",
                                 (unsigned long long)c->seq);
    if (sodium_memcmp(c->hash, v->prev, sizeof v->prev) != 0)
        return tg__audit_problem(out, TG_AUDIT_BAD_HASH, c->seq,
                                 "the signed checkpoint of record %llu names another hash: "
                                 "records up to it were rewritten",
                                 (unsigned long long)c->seq);
    out->checkpoints++;
    if (c->seq > v->last_checkpoint)
        v->last_checkpoint = c->seq;
    return true;
}

void tg__audit_verifier_finish(tg__audit_verifier *v, uint64_t latest_checkpoint)
{
    if (v->out->problem != TG_AUDIT_VALID)
        return;
    if (latest_checkpoint >= v->next_seq)
        tg__audit_problem(v->out, TG_AUDIT_TRUNCATED, v->next_seq,
                          "the chain ends at record %llu, before its signed checkpoint of "
                          "record %llu",
                          (unsigned long long)v->next_seq - 1,
                          (unsigned long long)latest_checkpoint);
}
