/*
 * audit_impl.h - the audit module's internals: the record and checkpoint
 * formats, store keys, the signing and pseudonym keys, and the verifier
 * that both a store and an export are checked with. Internal to src/audit.
 *
 * docs/AUDIT.md specifies the formats byte by byte.
 */
#ifndef TG_AUDIT_IMPL_H
#define TG_AUDIT_IMPL_H

#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>

#include "../core/core.h"
#include "tenantguard/audit.h"
#include "tenantguard/keyring.h"
#include "tenantguard/store.h"

#define TG__AUDIT_FORMAT 1
#define TG__AUDIT_PSEUDONYM_BYTES 16
#define TG__AUDIT_ACTOR_MAX (2 + 2 * TG__AUDIT_PSEUDONYM_BYTES) /* "p-" + hex */
#define TG__AUDIT_NETWORK_MAX 48 /* "ffff:ffff:ffff::/48" and the like */
#define TG__AUDIT_SIG_BYTES crypto_sign_BYTES
/* The largest encoded record: fixed fields and five length-prefixed ones. */
#define TG__AUDIT_RECORD_MAX                                                                 \
    (1 + 8 + 8 + 2 + 1 + 1 + 4 + 32 + 1 + 5 * 2 + TG_ID_MAX + TG__AUDIT_ACTOR_MAX +          \
     TG__AUDIT_NETWORK_MAX + TG_AUDIT_TARGET_MAX + TG_AUDIT_DETAILS_MAX)
#define TG__AUDIT_DEFAULT_INTERVAL 1000

/* Store keys: "A", a kind byte, then for chains a u16-length-prefixed
 * chain id (the workspace; empty for the system chain) and a u64 seq. */
enum tg__audit_kind {
    TG__AK_SECRET = 0,     /* "A" 00: the wrapped audit secret */
    TG__AK_RECORD = 1,     /* "A" 01 L chain u64 seq */
    TG__AK_CHECKPOINT = 2, /* "A" 02 L chain u64 seq */
    TG__AK_INDEX = 3,      /* "A" 03 L chain tag16: user -> pseudonym */
    TG__AK_REVERSE = 4,    /* "A" 04 L chain pseudonym16: pseudonym -> user */
    TG__AK_ANCHOR = 5      /* "A" 05 L chain: the checkpoint pruning kept */
};
#define TG__AUDIT_KEY_MAX (2 + 2 + TG_ID_MAX + 16)

/* Builds a store key; `tail` (may be NULL) follows the chain id. */
size_t tg__audit_key(uint8_t *out, enum tg__audit_kind kind, const char *chain,
                     size_t chain_len, const uint8_t *tail, size_t tail_len);
size_t tg__audit_seq_key(uint8_t *out, enum tg__audit_kind kind, const char *chain,
                         size_t chain_len, uint64_t seq);

/* A record, decoded. Strings point into the encoded bytes (or the
 * caller's), are not NUL-terminated, and may be empty. */
typedef struct tg__audit_record {
    uint64_t seq;
    int64_t time_ms;
    int action, outcome, severity;
    uint32_t tags;
    uint8_t prev[TG_AUDIT_HASH_BYTES];
    bool target_is_pseudonym;
    const char *chain, *actor, *network, *target, *details;
    size_t chain_len, actor_len, network_len, target_len, details_len;
} tg__audit_record;

/* Encoded size of a record, and its encoding into out (that size). */
size_t tg__audit_record_size(const tg__audit_record *r);
void tg__audit_record_encode(uint8_t *out, const tg__audit_record *r);
/* Decodes and checks ranges (catalogue, lengths). TG_OK or TG_EFORMAT. */
int tg__audit_record_decode(tg__audit_record *r, const uint8_t *in, size_t len);
/* BLAKE2b-256 of an encoded record. */
void tg__audit_hash(uint8_t out[TG_AUDIT_HASH_BYTES], const uint8_t *encoded, size_t len);

/* A signed checkpoint. */
typedef struct tg__audit_checkpoint {
    uint64_t seq;
    int64_t time_ms;
    uint8_t hash[TG_AUDIT_HASH_BYTES];
    uint8_t sig[TG__AUDIT_SIG_BYTES];
} tg__audit_checkpoint;
#define TG__AUDIT_CHECKPOINT_BYTES (1 + 8 + 8 + TG_AUDIT_HASH_BYTES + TG__AUDIT_SIG_BYTES)
void tg__audit_checkpoint_encode(uint8_t out[TG__AUDIT_CHECKPOINT_BYTES],
                                 const tg__audit_checkpoint *c);
int tg__audit_checkpoint_decode(tg__audit_checkpoint *c, const uint8_t *in, size_t len);
/* The bytes a checkpoint's signature covers (at most TG__AUDIT_SIGNED_MAX). */
#define TG__AUDIT_SIGNED_MAX (32 + 2 + TG_ID_MAX + 8 + 8 + TG_AUDIT_HASH_BYTES)
size_t tg__audit_checkpoint_message(uint8_t *out, const char *chain, size_t chain_len,
                                    const tg__audit_checkpoint *c);
bool tg__audit_checkpoint_valid(const uint8_t pk[TG_AUDIT_PUBLIC_KEY_BYTES], const char *chain,
                                size_t chain_len, const tg__audit_checkpoint *c);

/* Pseudonyms this context used lately, so an append need not look them
 * up in the store: direct-mapped by a keyed SipHash-128 of (chain, user);
 * an entry is trusted for TG__AUDIT_PCACHE_TTL_MS. Only pseudonyms known
 * to be committed are cached; an erasure here drops its entry at once, one
 * made by another context takes effect here within the TTL. */
#define TG__AUDIT_PCACHE 1024
#define TG__AUDIT_PCACHE_TTL_MS 60000
typedef struct tg__audit_pcache_entry {
    uint8_t id[crypto_shorthash_siphashx24_BYTES];
    char pseudonym[TG__AUDIT_ACTOR_MAX + 1];
    int64_t expires_ms;
} tg__audit_pcache_entry;

/* The per-context state. */
struct tg_audit {
    tg_ctx *ctx;
    uint32_t checkpoint_interval;
    pthread_mutex_t lock; /* guards everything below */
    bool keys_loaded;
    uint8_t *keys; /* secure memory: signing secret key, then index key */
    uint8_t public_key[TG_AUDIT_PUBLIC_KEY_BYTES];
    uint8_t pcache_key[crypto_shorthash_siphashx24_KEYBYTES];
    tg__audit_pcache_entry pcache[TG__AUDIT_PCACHE];
};

#define TG__AUDIT_SK(a) ((a)->keys)
#define TG__AUDIT_INDEX_KEY(a) ((a)->keys + crypto_sign_SECRETKEYBYTES)

/* A chain's head from the store: its last record, else the retention
 * anchor, else seq 0 and a hash of zeros. */
int tg__audit_read_head(tg_store *store, tg_store_txn *txn, const char *chain, size_t len,
                        uint64_t *seq, uint8_t hash[TG_AUDIT_HASH_BYTES]);

/* Runs fn in one store transaction with a->lock held and the keys loaded,
 * after checking ctx and the workspace (NULL: the system chain, unless
 * `workspace_required`); commits if fn returns TG_OK, else rolls back. */
typedef int (*tg__audit_txn_fn)(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                                size_t chain_len, void *arg);
int tg__audit_run(tg_ctx *ctx, const char *workspace, bool workspace_required,
                  tg__audit_txn_fn fn, void *arg);

/* Appends one event inside the caller's transaction (a->lock held, keys
 * loaded): for records the library makes about its own work. */
int tg__audit_append_in_txn(struct tg_audit *a, tg_store_txn *txn, const tg_audit_event *event,
                            uint64_t *out_seq);

/* Loads the audit secret and derives the keys; with `create`, makes the
 * secret if the store has none (else TG_ENOTFOUND: readers never write).
 * Call with a->lock held and no transaction open on this thread: a new
 * secret is committed on its own, so no rollback can lose a key that
 * checkpoints were already signed with. */
int tg__audit_keys(struct tg_audit *a, bool create);

/* The pseudonym ("p-" + 32 hex) of `user` in `chain`, created when absent
 * (in txn). out has TG__AUDIT_ACTOR_MAX + 1 bytes. Call with a->lock held
 * (after tg__audit_keys). */
int tg__audit_pseudonym(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                        size_t chain_len, const char *user, size_t user_len, char *out);

/* The pseudonym of `user` in `chain` if it has one, without creating one:
 * TG_OK, TG_ENOTFOUND or a store error. Call after
 * tg__audit_keys succeeded (the keys never change after that, so a->lock
 * need not be held). */
/* The pseudonym cache (a->lock held). get: true and *out when a fresh
 * entry exists; put after the pseudonym's row is committed; forget on
 * erasure. */
bool tg__audit_pcache_get(struct tg_audit *a, const char *chain, size_t chain_len,
                          const char *user, size_t user_len, int64_t now_ms, char *out);
void tg__audit_pcache_put(struct tg_audit *a, const char *chain, size_t chain_len,
                          const char *user, size_t user_len, int64_t now_ms,
                          const char *pseudonym);
void tg__audit_pcache_forget(struct tg_audit *a, const char *chain, size_t chain_len,
                             const char *user, size_t user_len);

int tg__audit_pseudonym_find(struct tg_audit *a, tg_store_txn *txn, const char *chain,
                             size_t chain_len, const char *user, size_t user_len, char *out);

/* Cuts an IP address to its network ("203.0.113.0/24", "2001:db8:1::/48")
 * into out (TG__AUDIT_NETWORK_MAX + 1). TG_EINVAL if it does not parse. */
int tg__audit_network(char *out, const char *ip);

/* Checks details: one JSON object (cJSON parses it), valid UTF-8, at most
 * TG_AUDIT_DETAILS_MAX bytes. They are stored as given, so an export can
 * carry the exact bytes its hashes cover. TG_OK or TG_EINVAL. */
int tg__audit_details_check(const char *text, size_t len);

/* Default compliance tags of an action. */
uint32_t tg__audit_default_tags(int action);

/*
 * The verifier: fed a chain's items in order of sequence (an optional
 * starting anchor, then records, with the checkpoints that fall between),
 * it stops at the first problem. Used for a store and for an export.
 */
typedef struct tg__audit_verifier {
    const uint8_t *public_key;
    const char *chain;
    size_t chain_len;
    uint64_t next_seq;                 /* the sequence expected next */
    uint8_t prev[TG_AUDIT_HASH_BYTES]; /* the hash it must name */
    uint64_t last_checkpoint;          /* highest checkpoint seq seen */
    tg_audit_verdict *out;
} tg__audit_verifier;

/* Starts at the beginning of a chain, or after a verified anchor. */
void tg__audit_verifier_start(tg__audit_verifier *v, tg_audit_verdict *out,
                              const uint8_t *public_key, const char *chain, size_t chain_len);
/* Starts after a checkpoint (anchor or range start): checks its signature.
 * false: a problem was recorded in out. */
bool tg__audit_verifier_anchor(tg__audit_verifier *v, const tg__audit_checkpoint *c);
/* One record found under `key_seq`; false once a problem is recorded. */
bool tg__audit_verifier_record(tg__audit_verifier *v, uint64_t key_seq, const uint8_t *encoded,
                               size_t len);
/* One checkpoint, after the record it names was fed. */
bool tg__audit_verifier_checkpoint(tg__audit_verifier *v, const tg__audit_checkpoint *c);
/* The end of the data; `latest_checkpoint` is the chain's highest (0:
 * none) for the truncation check. */
void tg__audit_verifier_finish(tg__audit_verifier *v, uint64_t latest_checkpoint);
/* Records a problem (the first wins). Returns false. */
bool tg__audit_problem(tg_audit_verdict *out, int problem, uint64_t seq, const char *fmt, ...)
    TG_PRINTF(4, 5);

/* Hex of n bytes into out (2n + 1). */
void tg__audit_hex(char *out, const uint8_t *in, size_t n);

#endif /* TG_AUDIT_IMPL_H */
