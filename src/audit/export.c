/*
 * export.c - a chain as JSON Lines, and the offline verifier of such a file.
 *
 * The export, one JSON object per line, each ending with "\n":
 *   {"type":"header","format":"tenantguard-audit-export","version":1,
 *    "chain":"<workspace, or empty for the system chain>",
 *    "public_key":"<64 hex>","exported_ms":N}
 *   {"type":"anchor",...}       the retention anchor, if pruning left one
 *   {"type":"record",...}       every record, in order of sequence
 *   {"type":"checkpoint",...}   each right after the record it signs
 * Records and checkpoints are json.c's objects, so the verifier rebuilds
 * each record's bytes, recomputes its hash and runs the verifier the store
 * is checked with (verify_core.c).
 *
 * The export copies what the store holds, tampered or not (a record whose
 * bytes do not decode cannot be written as JSON: TG_EFORMAT), and reads
 * without a transaction, so appends go on meanwhile; a prune running at
 * the same time can leave a gap in the file.
 *
 * The verifier is strict: the header first, the anchor before any record,
 * one JSON object per line (a trailing "\r" is tolerated, blank lines and
 * other trailing bytes are not), no NUL bytes, valid UTF-8, no field named
 * twice, no line over 64 KiB. A checkpoint line naming a record not seen
 * yet is held until that record comes; one still held at the end means
 * the file stops before a signed checkpoint (TG_AUDIT_TRUNCATED).
 */
#include <stdlib.h>
#include <string.h>

#include "../store/store_internal.h"
#include "audit_impl.h"
#include "audit_json.h"

#define EXPORT_FORMAT "tenantguard-audit-export"
#define EXPORT_VERSION 1
#define LINE_MAX_BYTES (64 * 1024)     /* the longest line the verifier reads */
#define PROGRESS_EVERY 4096            /* records between progress calls */
#define PENDING_MAX 64                 /* checkpoints held ahead of their record */

/* ---- export ------------------------------------------------------------ */

typedef struct exporter {
    tg_audit_write_cb write;
    void *user;
    tg_store *store;
    const char *chain;
    size_t chain_len;
    uint64_t last_seq; /* of the last record written */
    int failed;        /* why a scan was stopped: an error, or the writer's code */
    char *line;        /* LINE_MAX_BYTES + 1 */
} exporter;

/* Stops a scan, keeping its reason: the writer may return any non-zero
 * value, which a row callback could not pass through as it is. */
static int stop(exporter *x, int rc)
{
    if (rc == TG_OK)
        return 0;
    x->failed = rc;
    return 1;
}

/* Prints `o` (consumed) as one line and hands it to the writer. */
static int emit(exporter *x, cJSON *o)
{
    if (!o)
        return tg__error(TG_ENOMEM, "audit: out of memory for an export line");
    /* cJSON asks for a few bytes of slack; one more for the newline. */
    int ok = cJSON_PrintPreallocated(o, x->line, LINE_MAX_BYTES - 8, 0);
    cJSON_Delete(o);
    if (!ok)
        return tg__error(TG_ERANGE, "audit: an export line is longer than %d bytes",
                         LINE_MAX_BYTES);
    size_t n = strlen(x->line);
    x->line[n++] = '\n';
    int rc = x->write(x->user, x->line, n);
    if (rc != TG_OK)
        return tg__error(rc, "audit: the export's writer stopped it (%d)", rc);
    return TG_OK;
}

/* A stored checkpoint as a line. */
static int emit_checkpoint(exporter *x, uint64_t seq, const uint8_t *value, size_t len)
{
    tg__audit_checkpoint c;
    if (tg__audit_checkpoint_decode(&c, value, len) != TG_OK)
        return tg__error(TG_EFORMAT, "audit: the checkpoint stored for record %llu is "
                                     "malformed; `tenantguard audit verify` says more",
                         (unsigned long long)seq);
    return emit(x, tg__audit_checkpoint_json("checkpoint", x->chain, x->chain_len, &c));
}

/* Checkpoints of records after the last one (a store cut short). */
static int export_leftover(void *user, const uint8_t *key, size_t key_len,
                           const uint8_t *value, size_t value_len)
{
    return stop(user, emit_checkpoint(user, tg__get_u64(key + key_len - 8), value, value_len));
}

/* A record, then its checkpoint if it has one. */
static int export_record(void *user, const uint8_t *key, size_t key_len, const uint8_t *value,
                         size_t value_len)
{
    exporter *x = user;
    uint64_t key_seq = tg__get_u64(key + key_len - 8);
    tg__audit_record r;
    uint8_t hash[TG_AUDIT_HASH_BYTES];
    if (tg__audit_record_decode(&r, value, value_len) != TG_OK)
        return stop(x, tg__error(TG_EFORMAT, "audit: the record stored as %llu does not "
                                             "decode; `tenantguard audit verify` says more",
                                 (unsigned long long)key_seq));
    tg__audit_hash(hash, value, value_len);
    cJSON *o = tg__audit_record_json(&r, hash, true);
    if (!o) { /* out of memory, or details that do not parse */
        cJSON *d = cJSON_ParseWithLength(r.details, r.details_len);
        bool parses = d != NULL;
        cJSON_Delete(d);
        if (!parses)
            return stop(x, tg__error(TG_EFORMAT, "audit: the details of record %llu do not "
                                                 "parse", (unsigned long long)key_seq));
    }
    int rc = emit(x, o);
    if (rc != TG_OK)
        return stop(x, rc);
    x->last_seq = key_seq;
    uint8_t ckey[TG__AUDIT_KEY_MAX], cp[TG__AUDIT_CHECKPOINT_BYTES];
    size_t klen = tg__audit_seq_key(ckey, TG__AK_CHECKPOINT, x->chain, x->chain_len, key_seq), n;
    rc = tg__store_get_buf(x->store, NULL, ckey, klen, cp, sizeof cp, &n);
    if (rc == TG_OK || rc == TG_ERANGE)
        return stop(x, emit_checkpoint(x, key_seq, cp, rc == TG_OK ? n : 0));
    return stop(x, rc == TG_ENOTFOUND ? TG_OK : rc);
}

static int export_chain(exporter *x, tg_store *store, const uint8_t *pk, int64_t now)
{
    const char *chain = x->chain;
    size_t len = x->chain_len;
    char hex[2 * TG_AUDIT_PUBLIC_KEY_BYTES + 1], name[TG_ID_MAX + 1];
    tg__audit_hex(hex, pk, TG_AUDIT_PUBLIC_KEY_BYTES);
    memcpy(name, chain, len);
    name[len] = '\0';
    cJSON *h = cJSON_CreateObject();
    if (h && (!cJSON_AddStringToObject(h, "type", "header") ||
              !cJSON_AddStringToObject(h, "format", EXPORT_FORMAT) ||
              !cJSON_AddNumberToObject(h, "version", EXPORT_VERSION) ||
              !cJSON_AddStringToObject(h, "chain", name) ||
              !cJSON_AddStringToObject(h, "public_key", hex) ||
              !cJSON_AddNumberToObject(h, "exported_ms", (double)now))) {
        cJSON_Delete(h);
        h = NULL;
    }
    int rc = emit(x, h);
    if (rc != TG_OK)
        return rc;

    /* The retention anchor. */
    uint8_t key[TG__AUDIT_KEY_MAX], value[TG__AUDIT_CHECKPOINT_BYTES];
    size_t klen = tg__audit_key(key, TG__AK_ANCHOR, chain, len, NULL, 0), n = 0;
    rc = tg__store_get_buf(store, NULL, key, klen, value, sizeof value, &n);
    if (rc == TG_OK || rc == TG_ERANGE) {
        tg__audit_checkpoint anchor;
        if (rc == TG_ERANGE || tg__audit_checkpoint_decode(&anchor, value, n) != TG_OK)
            return tg__error(TG_EFORMAT, "audit: the retention anchor of chain '%.*s' is "
                                         "malformed", (int)len, chain);
        if ((rc = emit(x, tg__audit_checkpoint_json("anchor", chain, len, &anchor))) != TG_OK)
            return rc;
    } else if (rc != TG_ENOTFOUND) {
        return rc;
    }

    /* The records, each followed by its checkpoint; then checkpoints of
     * records the store does not have (a chain cut short), so the
     * verifier can tell. A checkpoint of a record missing in the middle
     * is left out: the gap shows anyway. */
    uint8_t lo[TG__AUDIT_KEY_MAX], hi[TG__AUDIT_KEY_MAX];
    size_t lo_len = tg__audit_key(lo, TG__AK_RECORD, chain, len, NULL, 0);
    size_t hi_len = tg__store_prefix_end(lo, lo_len, hi);
    rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, export_record, x);
    if (rc != TG_OK || x->failed != TG_OK)
        return rc != TG_OK ? rc : x->failed;
    lo_len = tg__audit_seq_key(lo, TG__AK_CHECKPOINT, chain, len, x->last_seq + 1);
    hi_len = tg__store_prefix_end(lo, lo_len - 8, hi);
    rc = tg__store_scan(store, NULL, lo, lo_len, hi, hi_len, 0, export_leftover, x);
    return rc != TG_OK ? rc : x->failed;
}

int tg_audit_export(tg_ctx *ctx, const char *workspace, tg_audit_write_cb write, void *user)
{
    size_t len = 0;
    int rc;
    if (!ctx || !write)
        return tg__error(TG_EINVAL, "audit: NULL %s", ctx ? "write callback" : "context");
    if (workspace && (rc = tg__check_id("workspace id", workspace, &len)) != TG_OK)
        return rc;
    /* The key under the audit lock; the chain is read without it. */
    uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES];
    if ((rc = tg_audit_public_key(ctx, pk)) != TG_OK)
        return rc;

    exporter x;
    memset(&x, 0, sizeof x);
    x.write = write;
    x.user = user;
    x.chain = workspace ? workspace : "";
    x.chain_len = len;
    x.store = tg__ctx_store(ctx);
    if (!(x.line = malloc(LINE_MAX_BYTES + 1)))
        return tg__error(TG_ENOMEM, "audit: out of memory for the export");
    rc = export_chain(&x, x.store, pk, tg__ctx_now(ctx));
    free(x.line);
    return rc;
}

/* ---- offline verification --------------------------------------------- */

typedef struct reader {
    const char *data;
    size_t len, at;   /* the next line starts at data[at] */
    char *buf;        /* LINE_MAX_BYTES + 1: the current line, NUL-terminated */
    size_t line_no;
} reader;

/* The next line into r->buf (without its "\n" or a "\r" before it).
 * 1: a line; 0: the end; -1: a line too long (*why says so). */
static int next_line(reader *r, size_t *out_len, const char **why)
{
    if (r->at >= r->len)
        return 0;
    const char *start = r->data + r->at;
    size_t rest = r->len - r->at;
    const char *nl = memchr(start, '\n', rest < LINE_MAX_BYTES + 2 ? rest : LINE_MAX_BYTES + 2);
    size_t n = nl ? (size_t)(nl - start) : rest;
    r->line_no++;
    if (n > 0 && start[n - 1] == '\r')
        n--;
    if (n > LINE_MAX_BYTES) {
        *why = "is longer than 64 KiB";
        return -1;
    }
    r->at += nl ? (size_t)(nl - start) + 1 : rest;
    memcpy(r->buf, start, n);
    r->buf[n] = '\0';
    *out_len = n;
    return 1;
}

/* The members each type of line has, exactly: a reader that trusts a
 * field the hashes do not cover ("note":"approved") must not find one. */
static bool exact_members(const cJSON *o)
{
    static const char *const header[] = {"type",  "format",     "version",
                                         "chain", "public_key", "exported_ms", NULL};
    static const char *const record[] = {"type",   "chain",    "seq",     "time_ms",
                                         "action", "actor",    "network", "target",
                                         "target_is_pseudonym", "outcome", "severity",
                                         "tags",   "details",  "prev",    "hash",    NULL};
    static const char *const checkpoint[] = {"type", "chain", "seq",      "time_ms",
                                             "hash", "signature", NULL};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsString(t) || !t->valuestring)
        return false;
    const char *const *want = strcmp(t->valuestring, "header") == 0   ? header
                              : strcmp(t->valuestring, "record") == 0 ? record
                              : strcmp(t->valuestring, "checkpoint") == 0 ||
                                      strcmp(t->valuestring, "anchor") == 0
                                  ? checkpoint
                                  : NULL;
    if (!want)
        return true; /* an unknown type: reported where lines are dispatched */
    size_t n = 0, members = 0;
    while (want[n])
        n++;
    for (const cJSON *m = o->child; m; m = m->next) {
        if (++members > n || !m->string)
            return false;
        size_t k = 0;
        while (want[k] && strcmp(want[k], m->string) != 0)
            k++;
        if (!want[k])
            return false;
    }
    /* n members, each one of the n names: no name twice, none missing */
    for (size_t k = 0; k < n; k++)
        if (!cJSON_GetObjectItemCaseSensitive(o, want[k]))
            return false;
    return members == n;
}

/* Parses the current line: one JSON object and nothing else, no NUL (raw
 * or escaped: the decoded string would end there, short of what was
 * hashed), valid UTF-8, exactly the members of its type. NULL with *why
 * set otherwise. */
static cJSON *parse_line(const char *line, size_t n, const char **why)
{
    if (n == 0) {
        *why = "is empty";
        return NULL;
    }
    if (memchr(line, '\0', n) || memmem(line, n, "\\u0000", 6)) {
        *why = "holds a NUL byte";
        return NULL;
    }
    if (!tg__utf8_valid((const uint8_t *)line, n)) {
        *why = "is not valid UTF-8";
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(line, n, &end, 0);
    if (!o) {
        *why = "is not JSON";
        return NULL;
    }
    if (!cJSON_IsObject(o) || end != line + n) {
        cJSON_Delete(o);
        *why = cJSON_IsObject(o) ? "has bytes after its JSON object" : "is not a JSON object";
        return NULL;
    }
    if (!exact_members(o)) {
        cJSON_Delete(o);
        *why = "does not have exactly the fields of its type";
        return NULL;
    }
    return o;
}

static const char *type_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) && t->valuestring ? t->valuestring : "";
}

typedef struct checker {
    tg__audit_verifier v;
    tg_audit_verdict *out;
    reader rd;
    char chain[TG_ID_MAX + 1];
    size_t chain_len;
    uint8_t header_key[TG_AUDIT_PUBLIC_KEY_BYTES];
    tg__audit_checkpoint pending[PENDING_MAX]; /* checkpoints ahead of their record */
    size_t n_pending;
    uint8_t *encoded; /* a record's bytes, re-encoded */
    size_t encoded_cap;
    bool anchored, any_record;
} checker;

/* The header line. false: a problem is recorded. */
static bool check_header(checker *k, const uint8_t *public_key)
{
    size_t n;
    const char *why = "is missing";
    int got = next_line(&k->rd, &n, &why);
    cJSON *h = got == 1 ? parse_line(k->rd.buf, n, &why) : NULL;
    if (!h)
        return tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0,
                                 "no header: the first line %s", why);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(h, "format");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(h, "version");
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(h, "chain");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(h, "public_key");
    size_t bin_len = 0;
    bool ok = false;
    if (strcmp(type_of(h), "header") != 0 || !cJSON_IsString(format) ||
        strcmp(format->valuestring, EXPORT_FORMAT) != 0)
        tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0,
                          "no header: the first line is not a tenantguard audit export header");
    else if (!cJSON_IsNumber(version) || version->valuedouble != EXPORT_VERSION)
        tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0,
                          "the export's format version is not %d, the one this build reads",
                          EXPORT_VERSION);
    else if (!cJSON_IsString(chain) || strlen(chain->valuestring) > TG_ID_MAX)
        tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0, "the header's chain is not an id");
    else if (!cJSON_IsString(key) || strlen(key->valuestring) != 2 * TG_AUDIT_PUBLIC_KEY_BYTES ||
             sodium_hex2bin(k->header_key, sizeof k->header_key, key->valuestring,
                            2 * TG_AUDIT_PUBLIC_KEY_BYTES, NULL, &bin_len, NULL) != 0 ||
             bin_len != TG_AUDIT_PUBLIC_KEY_BYTES)
        tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0,
                          "the header's public key is not 64 hexadecimal digits");
    else if (public_key && sodium_memcmp(public_key, k->header_key, sizeof k->header_key) != 0)
        tg__audit_problem(k->out, TG_AUDIT_BAD_SIGNATURE, 0,
                          "the export is signed with another key than the one given");
    else
        ok = true;
    if (ok) {
        k->chain_len = strlen(chain->valuestring);
        memcpy(k->chain, chain->valuestring, k->chain_len + 1);
    }
    cJSON_Delete(h);
    return ok;
}

/* Scans the lines after the current one for record `seq`. */
static bool record_later(const checker *k, uint64_t seq)
{
    reader r = k->rd;
    size_t n;
    const char *why;
    char *buf = malloc(LINE_MAX_BYTES + 1);
    bool found = false;
    if (!buf)
        return false;
    r.buf = buf;
    while (!found && next_line(&r, &n, &why) == 1) {
        cJSON *o = cJSON_ParseWithLength(buf, n);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "seq");
        found = o && strcmp(type_of(o), "record") == 0 && cJSON_IsNumber(s) &&
                s->valuedouble == (double)seq;
        cJSON_Delete(o);
    }
    free(buf);
    return found;
}

/* A checkpoint line. false: a problem is recorded. */
static bool check_checkpoint(checker *k, const cJSON *o)
{
    tg__audit_checkpoint c;
    const char *chain;
    size_t chain_len;
    uint64_t last = k->v.next_seq - 1;
    if (tg__audit_checkpoint_from_json(o, &c, &chain, &chain_len) != TG_OK)
        return tg__audit_problem(k->out, TG_AUDIT_MALFORMED, k->v.next_seq,
                                 "line %zu is not a well-formed checkpoint", k->rd.line_no);
    if (chain_len != k->chain_len || memcmp(chain, k->chain, chain_len) != 0)
        return tg__audit_problem(k->out, TG_AUDIT_REORDERED, c.seq,
                                 "the checkpoint of record %llu belongs to another chain",
                                 (unsigned long long)c.seq);
    if (c.seq == last)
        return tg__audit_verifier_checkpoint(&k->v, &c);
    if (c.seq < last)
        return tg__audit_problem(k->out, TG_AUDIT_REORDERED, c.seq,
                                 "the checkpoint of record %llu comes after record %llu",
                                 (unsigned long long)c.seq, (unsigned long long)last);
    /* Ahead of its record: held until the record comes. */
    if (!tg__audit_checkpoint_valid(k->v.public_key, k->chain, k->chain_len, &c))
        return tg__audit_problem(k->out, TG_AUDIT_BAD_SIGNATURE, c.seq,
                                 "the checkpoint of record %llu is not signed by the audit key",
                                 (unsigned long long)c.seq);
    if (k->n_pending == PENDING_MAX)
        return tg__audit_problem(k->out, TG_AUDIT_MALFORMED, k->v.next_seq,
                                 "more than %d checkpoints come before their records",
                                 PENDING_MAX);
    k->pending[k->n_pending++] = c;
    return true;
}

/* A record line. false: a problem is recorded (or *rc is an error). */
static bool check_record(checker *k, const cJSON *o, int *rc)
{
    tg__audit_record r;
    uint8_t claimed[TG_AUDIT_HASH_BYTES], actual[TG_AUDIT_HASH_BYTES];
    int frc = tg__audit_record_from_json(o, &r, claimed);
    bool ok = false;
    if (frc != TG_OK) {
        tg__audit_problem(k->out, TG_AUDIT_MALFORMED, k->v.next_seq,
                          "line %zu is not a well-formed record", k->rd.line_no);
        goto done;
    }
    size_t size = tg__audit_record_size(&r);
    if (size > k->encoded_cap) {
        uint8_t *p = realloc(k->encoded, size);
        if (!p) {
            *rc = tg__error(TG_ENOMEM, "audit: out of memory verifying an export");
            goto done;
        }
        k->encoded = p;
        k->encoded_cap = size;
    }
    tg__audit_record_encode(k->encoded, &r);
    tg__audit_hash(actual, k->encoded, size);
    if (sodium_memcmp(actual, claimed, sizeof actual) != 0) {
        tg__audit_problem(k->out, TG_AUDIT_BAD_HASH, r.seq,
                          "record %llu was changed: its fields do not hash to the hash it "
                          "shows", (unsigned long long)r.seq);
        goto done;
    }
    if (r.seq > k->v.next_seq && record_later(k, k->v.next_seq)) {
        tg__audit_problem(k->out, TG_AUDIT_REORDERED, k->v.next_seq,
                          "record %llu comes after record %llu",
                          (unsigned long long)k->v.next_seq, (unsigned long long)r.seq);
        goto done;
    }
    if (!tg__audit_verifier_record(&k->v, r.seq, k->encoded, size))
        goto done;
    k->any_record = true;
    ok = true;
    /* Checkpoints that came ahead of this record. */
    for (size_t i = 0; ok && i < k->n_pending;)
        if (k->pending[i].seq == r.seq) {
            ok = tg__audit_verifier_checkpoint(&k->v, &k->pending[i]);
            k->pending[i] = k->pending[--k->n_pending];
        } else {
            i++;
        }
done:
    return ok;
}

static int check_lines(checker *k, tg_audit_progress_cb progress, void *user, uint64_t total)
{
    size_t n;
    const char *why = NULL;
    int got, rc = TG_OK;
    while ((got = next_line(&k->rd, &n, &why)) != 0) {
        cJSON *o = got == 1 ? parse_line(k->rd.buf, n, &why) : NULL;
        if (!o) {
            tg__audit_problem(k->out, TG_AUDIT_MALFORMED, k->v.next_seq, "line %zu %s",
                              k->rd.line_no, why);
            return TG_OK;
        }
        const char *type = type_of(o);
        bool ok, is_record = strcmp(type, "record") == 0;
        if (is_record) {
            ok = check_record(k, o, &rc);
        } else if (strcmp(type, "checkpoint") == 0) {
            ok = check_checkpoint(k, o);
        } else if (strcmp(type, "anchor") == 0 && !k->anchored && !k->any_record) {
            tg__audit_checkpoint c;
            const char *chain;
            size_t chain_len;
            k->anchored = true;
            if (tg__audit_checkpoint_from_json(o, &c, &chain, &chain_len) != TG_OK)
                ok = tg__audit_problem(k->out, TG_AUDIT_MALFORMED, 0,
                                       "line %zu is not a well-formed anchor", k->rd.line_no);
            else if (chain_len != k->chain_len || memcmp(chain, k->chain, chain_len) != 0)
                ok = tg__audit_problem(k->out, TG_AUDIT_REORDERED, c.seq,
                                       "the retention anchor belongs to another chain");
            else
                ok = tg__audit_verifier_anchor(&k->v, &c);
        } else {
            ok = tg__audit_problem(k->out, TG_AUDIT_MALFORMED, k->v.next_seq,
                                   "line %zu is not a record or a checkpoint", k->rd.line_no);
        }
        cJSON_Delete(o);
        if (!ok)
            return rc;
        if (progress && is_record && k->out->records % PROGRESS_EVERY == 0 &&
            progress(user, k->out->records, total) != 0)
            return tg__error(TG_ECALLBACK, "audit: verification stopped by its progress "
                                           "callback");
    }
    uint64_t latest = k->v.last_checkpoint;
    for (size_t i = 0; i < k->n_pending; i++)
        if (k->pending[i].seq > latest)
            latest = k->pending[i].seq;
    tg__audit_verifier_finish(&k->v, latest);
    return TG_OK;
}

/* Record lines, for the progress total: lines as the export writes them. */
static uint64_t count_records(const char *data, size_t len)
{
    static const char prefix[] = "{\"type\":\"record\"";
    uint64_t count = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) : len;
        if (end - at >= sizeof prefix - 1 && memcmp(data + at, prefix, sizeof prefix - 1) == 0)
            count++;
        at = end + 1;
    }
    return count;
}

int tg_audit_verify_export(tg_audit_verdict *out, const char *data, size_t len,
                           const uint8_t *public_key, tg_audit_progress_cb progress, void *user)
{
    if (!out)
        return tg__error(TG_EINVAL, "audit: NULL verdict");
    if (out->version != TG_AUDIT_VERDICT_VERSION || out->struct_size < sizeof *out)
        return tg__error(TG_EVERSION, "audit: verdict version %u size %u (use "
                                      "tg_audit_verdict_init)", out->version, out->struct_size);
    if (!data && len)
        return tg__error(TG_EINVAL, "audit: NULL export data of %zu bytes", len);
    int rc = tg__sodium_ready();
    if (rc != TG_OK)
        return rc;
    checker *k = calloc(1, sizeof *k);
    if (!k || !(k->rd.buf = malloc(LINE_MAX_BYTES + 1))) {
        free(k);
        return tg__error(TG_ENOMEM, "audit: out of memory verifying an export");
    }
    k->out = out;
    k->rd.data = data ? data : "";
    k->rd.len = len;
    /* Until the header names the chain and key. */
    tg__audit_verifier_start(&k->v, out, k->header_key, "", 0);
    if (check_header(k, public_key)) {
        tg__audit_verifier_start(&k->v, out, k->header_key, k->chain, k->chain_len);
        uint64_t total = progress ? count_records(data, len) : 0;
        rc = check_lines(k, progress, user, total);
        if (rc == TG_OK && out->problem == TG_AUDIT_VALID && !public_key)
            snprintf(out->reason, sizeof out->reason,
                     "the export is self-consistent; its public key was not pinned, so this "
                     "does not show who signed it");
    }
    free(k->encoded);
    free(k->rd.buf);
    free(k);
    return rc;
}
