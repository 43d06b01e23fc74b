/*
 * tenantguard/audit.h - the tamper-evident audit log.
 *
 * Every security-relevant event is a record in a hash chain: one chain per
 * workspace and one for the system. Each record holds its sequence number,
 * time, workspace, actor (a pseudonym), actor network (the IP address cut
 * to its /24 or /48), an action from a stable catalogue, target, outcome,
 * severity, compliance tags, details (a JSON object) and the BLAKE2b hash
 * of the previous record; its own hash covers all of that. Appending
 * sequence N is an insert-if-absent in the store, so several writers (two
 * processes on one SQLite file) never fork a chain: an append reads the
 * head inside its store transaction, which the store serialises.
 *
 * Every `checkpoint_interval` records, and on demand, the library signs a
 * checkpoint (sequence, hash, time) with an Ed25519 key that is wrapped by
 * the keyring's root key. Verification walks a chain and reports the first
 * bad sequence number and why: a hash that does not match, a gap, records
 * out of order, a bad signature, or a chain that ends before its latest
 * checkpoint. What cannot be detected: records after the latest checkpoint
 * may be dropped or rewritten by whoever controls the store (docs/AUDIT.md
 * says how a host narrows that window).
 *
 * No message text and no raw personal identifiers: actor ids (and targets
 * marked as people) are replaced by random per-workspace pseudonyms whose
 * mapping lives outside the chain; tg_audit_erase_subject deletes it, after
 * which the chain still verifies and those records read as an erased
 * subject. Details are for ids, counts and names of rules, never content.
 *
 * All functions are thread-safe on a shared tg_ctx.
 */
#ifndef TENANTGUARD_AUDIT_H
#define TENANTGUARD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_AUDIT_OPTIONS_VERSION 1

/* Audit settings, given in tg_config.audit (NULL: all defaults). Zero in
 * any field means its default. Initialise with tg_audit_options_init. */
typedef struct tg_audit_options {
    uint32_t version;             /* TG_AUDIT_OPTIONS_VERSION */
    uint32_t struct_size;         /* sizeof(tg_audit_options) */
    uint32_t checkpoint_interval; /* records between signed checkpoints;
                                     default 1000 */
} tg_audit_options;

TG_API void tg_audit_options_init(tg_audit_options *opts);

/* The action catalogue. Values and names never change once released;
 * new actions are only appended. tg_audit_action_name() gives the name
 * ("message.sent"), tg_audit_action_from_name() the value. */
enum {
    TG_AUDIT_MESSAGE_SENT = 1,
    TG_AUDIT_MESSAGE_BLOCKED = 2,
    TG_AUDIT_MESSAGE_REDACTED = 3,
    TG_AUDIT_MESSAGE_DELETED = 4,
    TG_AUDIT_RATELIMIT_DENIED = 5,
    TG_AUDIT_ACCESS_CROSS_WORKSPACE_DENIED = 6,
    TG_AUDIT_ACCESS_DENIED = 7,
    TG_AUDIT_AUTH_SUCCEEDED = 8,
    TG_AUDIT_AUTH_FAILED = 9,
    TG_AUDIT_SESSION_STARTED = 10,
    TG_AUDIT_SESSION_ENDED = 11,
    TG_AUDIT_POLICY_CHANGED = 12,
    TG_AUDIT_POLICY_REJECTED = 13,
    TG_AUDIT_LOCKDOWN_STARTED = 14,
    TG_AUDIT_LOCKDOWN_ENDED = 15,
    TG_AUDIT_QUARANTINE_STARTED = 16,
    TG_AUDIT_QUARANTINE_ENDED = 17,
    TG_AUDIT_KEY_CREATED = 18,
    TG_AUDIT_KEY_ROTATED = 19,
    TG_AUDIT_KEY_RETIRED = 20,
    TG_AUDIT_KEY_SHREDDED = 21,
    TG_AUDIT_DSR_RECEIVED = 22,
    TG_AUDIT_DSR_COMPLETED = 23,
    TG_AUDIT_DSR_REJECTED = 24,
    TG_AUDIT_SUBJECT_ERASED = 25,
    TG_AUDIT_AUDIT_EXPORTED = 26,
    TG_AUDIT_AUDIT_VERIFIED = 27,
    TG_AUDIT_AUDIT_TAMPER_DETECTED = 28,
    TG_AUDIT_RETENTION_PRUNED = 29,
    TG_AUDIT_MEMBER_ADDED = 30,
    TG_AUDIT_MEMBER_REMOVED = 31,
    TG_AUDIT_ROLE_CHANGED = 32,
    TG_AUDIT_WORKSPACE_CREATED = 33,
    TG_AUDIT_WORKSPACE_DELETED = 34,
    TG_AUDIT_CONFIG_CHANGED = 35,
    TG_AUDIT_DLP_FINDING = 36,
    TG_AUDIT_THREAT_DETECTED = 37,
    TG_AUDIT_EXPORT_REQUESTED = 38
};
#define TG_AUDIT_ACTION_COUNT 38

/* Outcomes. */
#define TG_AUDIT_SUCCESS 0
#define TG_AUDIT_FAILURE 1
#define TG_AUDIT_DENIED 2

/* Severities. */
#define TG_AUDIT_INFO 0
#define TG_AUDIT_LOW 1
#define TG_AUDIT_MEDIUM 2
#define TG_AUDIT_HIGH 3
#define TG_AUDIT_CRITICAL 4

/* Compliance tags, a bit set. */
#define TG_AUDIT_SOC2 (1u << 0)
#define TG_AUDIT_GDPR (1u << 1)
#define TG_AUDIT_HIPAA (1u << 2)
#define TG_AUDIT_CCPA (1u << 3)
#define TG_AUDIT_FERPA (1u << 4)
#define TG_AUDIT_PCI_DSS (1u << 5)
#define TG_AUDIT_TAGS_ALL 0x3Fu

/* Limits. */
#define TG_AUDIT_DETAILS_MAX 4096 /* bytes of details JSON */
#define TG_AUDIT_TARGET_MAX 255   /* bytes of target */
#define TG_AUDIT_HASH_BYTES 32
#define TG_AUDIT_PUBLIC_KEY_BYTES 32
TG_API size_t tg_audit_details_max(void);
TG_API size_t tg_audit_hash_bytes(void);
TG_API size_t tg_audit_public_key_bytes(void);

/* Names: "message.sent", "denied", "high", "pci_dss"; NULL for a value
 * outside the catalogue. tg_audit_action_from_name returns 0 for an
 * unknown name. */
TG_API const char *tg_audit_action_name(int action);
TG_API int tg_audit_action_from_name(const char *name);
TG_API const char *tg_audit_outcome_name(int outcome);
TG_API const char *tg_audit_severity_name(int severity);
TG_API const char *tg_audit_tag_name(uint32_t tag);

#define TG_AUDIT_EVENT_VERSION 1

/* One event to record. Initialise with tg_audit_event_init; zero/NULL
 * fields are absent. The library copies what it needs during the call. */
typedef struct tg_audit_event {
    uint32_t version;      /* TG_AUDIT_EVENT_VERSION */
    uint32_t struct_size;  /* sizeof(tg_audit_event) */
    const char *workspace; /* its chain; NULL: the system chain */
    const char *actor;     /* a user id: stored as a pseudonym; NULL: none */
    const char *actor_ip;  /* textual IPv4/IPv6: stored as its /24 or /48 */
    int action;            /* TG_AUDIT_* from the catalogue */
    const char *target;    /* what was acted on (a message id, a key
                              version, a rule); NULL: none */
    int target_is_subject; /* 1: target is a user id; stored as a pseudonym */
    int outcome;           /* TG_AUDIT_SUCCESS, _FAILURE or _DENIED */
    int severity;          /* TG_AUDIT_INFO .. TG_AUDIT_CRITICAL */
    uint32_t tags;         /* TG_AUDIT_SOC2 | ...; 0: the action's default */
    const char *details;   /* a JSON object, at most TG_AUDIT_DETAILS_MAX
                              bytes; NULL: {} */
} tg_audit_event;

TG_API void tg_audit_event_init(tg_audit_event *event);

/*
 * Appends one record to the event's chain and returns its sequence number
 * in *out_seq (may be NULL). When the call returns TG_OK the record is
 * committed in the store (durable as the store is: with SQLite, it survives
 * a killed process). A checkpoint is signed in the same transaction when
 * the chain reaches a multiple of the checkpoint interval.
 * Errors: TG_EINVAL (NULL ctx or event, unknown action, outcome, severity
 * or tags, invalid ids, an IP that does not parse, details that are not a
 * JSON object or too long), TG_EVERSION, TG_ESTORE (nothing was written),
 * TG_EKMS, TG_EFORMAT (the chain's stored anchor or a pseudonym is
 * malformed), TG_ENOMEM.
 */
TG_API int tg_audit_append(tg_ctx *ctx, const tg_audit_event *event, uint64_t *out_seq);

/*
 * Appends `count` events in one store transaction: all are recorded or
 * none. out_first_seq (may be NULL) receives the first sequence number of
 * the first event's chain. Errors as tg_audit_append, naming the index.
 */
TG_API int tg_audit_append_batch(tg_ctx *ctx, const tg_audit_event *events, size_t count,
                                 uint64_t *out_first_seq);

/* Signs a checkpoint of the chain's current head now (NULL workspace: the
 * system chain); *out_seq gets its sequence number (may be NULL). An
 * empty chain has nothing to sign: TG_ENOTFOUND. */
TG_API int tg_audit_checkpoint(tg_ctx *ctx, const char *workspace, uint64_t *out_seq);

/* The Ed25519 public key that verifies checkpoints (created with the
 * first record of the store). Export it to somewhere the store's owner
 * cannot write. Errors: TG_EINVAL, TG_ENOTFOUND (no record yet: asking
 * never creates a key), TG_EKMS, TG_ESTORE, TG_EFORMAT. */
TG_API int tg_audit_public_key(tg_ctx *ctx, uint8_t out[TG_AUDIT_PUBLIC_KEY_BYTES]);

/* Why a verification failed. */
#define TG_AUDIT_VALID 0
#define TG_AUDIT_BAD_HASH 1      /* a record's prev does not match, or a
                                    checkpoint names another hash */
#define TG_AUDIT_GAP 2           /* a sequence number is missing */
#define TG_AUDIT_REORDERED 3     /* a record sits under another sequence */
#define TG_AUDIT_BAD_SIGNATURE 4 /* a checkpoint's signature is wrong */
#define TG_AUDIT_TRUNCATED 5     /* the chain ends before its latest checkpoint */
#define TG_AUDIT_MALFORMED 6     /* a record or checkpoint does not parse */

TG_API const char *tg_audit_problem_name(int problem);

/* The outcome of a verification. The caller initialises it with
 * tg_audit_verdict_init; the library writes only what struct_size covers,
 * so a program built against older headers stays safe. */
#define TG_AUDIT_VERDICT_VERSION 1
typedef struct tg_audit_verdict {
    uint32_t version;
    uint32_t struct_size;
    int problem;          /* TG_AUDIT_VALID or the first problem */
    uint64_t bad_seq;     /* where it is (0 when valid) */
    uint64_t first_seq;   /* the range checked */
    uint64_t last_seq;
    uint64_t records;     /* records checked */
    uint64_t checkpoints; /* signed checkpoints checked */
    char reason[160];     /* a sentence for people */
} tg_audit_verdict;

TG_API void tg_audit_verdict_init(tg_audit_verdict *verdict);

/* Progress of a long verification: records checked so far, and the total
 * when known (else 0). Return non-zero to stop (the call then returns
 * TG_ECALLBACK). */
typedef int (*tg_audit_progress_cb)(void *user, uint64_t done, uint64_t total);

/*
 * Verifies a chain (NULL workspace: the system chain) over [from_seq,
 * to_seq] (0, 0: all of it; to_seq 0: to the end). A range is checked from
 * the nearest signed checkpoint (or the retention anchor) at or before
 * from_seq to the nearest at or after to_seq (else the end), so every
 * record in it is bound by signatures; out gives what was checked. Finding a
 * problem is an outcome: TG_OK with out->problem set. The public key is
 * derived from the store's wrapped signing key through the root key, so a
 * store holding a key of someone else's does not verify.
 * Errors: TG_EINVAL, TG_ESTORE, TG_EKMS, TG_ECALLBACK (progress stopped).
 */
TG_API int tg_audit_verify(tg_ctx *ctx, tg_audit_verdict *out, const char *workspace,
                           uint64_t from_seq, uint64_t to_seq, tg_audit_progress_cb progress,
                           void *user);

/* A query. Initialise with tg_audit_query_init; zero/NULL fields match
 * everything. */
#define TG_AUDIT_QUERY_VERSION 1
typedef struct tg_audit_query {
    uint32_t version, struct_size;
    const char *workspace; /* NULL: the system chain */
    int64_t since_ms;      /* time >= since_ms (0: no bound) */
    int64_t until_ms;      /* time < until_ms (0: no bound) */
    int action;            /* 0: any */
    const char *actor;     /* a user id (looked up as its pseudonym) */
    int outcome;           /* -1: any */
    uint64_t after_seq;    /* paging: records after this sequence */
    uint32_t limit;        /* at most this many; 0: 100; at most 10,000 */
} tg_audit_query;

TG_API void tg_audit_query_init(tg_audit_query *q);

/*
 * Runs a query and returns its result as a JSON document in *out (free
 * with tg_audit_free): {"records":[...],"next_after_seq":N or null}, each record
 * with its fields, its hash, and "actor" as the pseudonym with
 * "actor_erased":true when the mapping was deleted. Errors: TG_EINVAL,
 * TG_EVERSION, TG_ESTORE, TG_ENOMEM.
 */
TG_API int tg_audit_query_json(tg_ctx *ctx, char **out, const tg_audit_query *q);

/* Frees a string the audit functions returned. Accepts NULL. */
TG_API void tg_audit_free(char *str);

/* Receives export output, one JSON Lines line at a time (with its '\n').
 * Return TG_OK to go on, anything else to stop (the export returns it). */
typedef int (*tg_audit_write_cb)(void *user, const char *line, size_t len);

/*
 * Exports a chain (NULL workspace: the system chain) as JSON Lines: a
 * header with the public key, the retention anchor if any, every record
 * with its hash, every checkpoint. tg_audit_verify_export checks such a
 * file with nothing else. Details are written as a JSON string holding
 * their exact bytes. Errors: TG_EINVAL, TG_ESTORE, TG_EKMS, TG_EFORMAT (a
 * stored record does not decode), or what `write` returned.
 */
TG_API int tg_audit_export(tg_ctx *ctx, const char *workspace, tg_audit_write_cb write,
                           void *user);

/*
 * Verifies an export offline: the bytes of a JSON Lines file made by
 * tg_audit_export. `public_key` is the key to trust (from
 * tg_audit_public_key, kept elsewhere); NULL trusts the key in the file,
 * which proves only that the file is self-consistent. Needs no context.
 * A problem in the file is an outcome: TG_OK with out->problem set (a line
 * that does not parse is TG_AUDIT_MALFORMED at the sequence after the
 * last good record). A file cut after its last checkpoint still verifies:
 * as in a store, what follows the last checkpoint is not signed.
 * Errors: TG_EINVAL (NULL out, NULL data with len > 0), TG_EVERSION,
 * TG_ENOMEM, TG_ECALLBACK.
 */
TG_API int tg_audit_verify_export(tg_audit_verdict *out, const char *data, size_t len,
                                  const uint8_t *public_key, tg_audit_progress_cb progress,
                                  void *user);

/*
 * Retention: deletes the chain's records older than `older_than_ms`, but
 * only up to its latest signed checkpoint at or before them, which stays
 * as the anchor the chain verifies from. *out_pruned (may be NULL) gets the
 * number of records deleted (0 when no checkpoint allows any). The
 * pruning itself is recorded in the system chain.
 * Errors: TG_EINVAL, TG_ESTORE, TG_EKMS, TG_ENOMEM, TG_EAUTH (the
 * checkpoint that would become the anchor is not signed by the audit key:
 * verify first), TG_EFORMAT (a stored checkpoint is malformed).
 */
TG_API int tg_audit_prune(tg_ctx *ctx, const char *workspace, int64_t older_than_ms,
                          uint64_t *out_pruned);

/*
 * Erasure: deletes the mapping between a user id and its pseudonym in a
 * workspace. Records keep the pseudonym, the chain still verifies, and
 * queries show the actor as erased. The user's next event gets a new
 * pseudonym (in another context sharing the store, within 60 s: contexts
 * cache pseudonyms that long). TG_ENOTFOUND if the workspace has no
 * pseudonym for the user.
 */
TG_API int tg_audit_erase_subject(tg_ctx *ctx, const char *workspace, const char *user);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_AUDIT_H */
