"""Loads libtenantguard through cffi in ABI mode (no compiler needed).

The declarations below mirror the public C headers; only what the Python
layer uses is declared. The library is found, in order, at
$TENANTGUARD_LIB, in the source tree's lib/ (for tests), or by the dynamic
loader as libtenantguard.so.0.
"""
import os

from cffi import FFI

ffi = FFI()
ffi.cdef(
    """
    const char *tg_version_string(void);
    int tg_version_number(void);
    const char *tg_strerror(int code);

    typedef struct tg_store tg_store;
    typedef struct tg_ctx tg_ctx;
    typedef struct tg_sqlite_options {
        uint32_t version;
        uint32_t struct_size;
        uint32_t sync;
        uint32_t busy_timeout_ms;
    } tg_sqlite_options;
    void tg_sqlite_options_init(tg_sqlite_options *opts);
    int tg_store_open_sqlite(tg_store **out, const char *path, const tg_sqlite_options *opts);
    int tg_store_open_memory(tg_store **out);
    void tg_store_close(tg_store *store);

    typedef struct tg_allocator tg_allocator;
    typedef struct tg_kms_ops tg_kms_ops;
    typedef struct tg_config {
        uint32_t version;
        uint32_t struct_size;
        tg_store *store;
        const char *store_path;
        const tg_kms_ops *kms;
        const uint8_t *master_key;
        const char *master_key_path;
        const tg_allocator *allocator;
        int64_t (*clock)(void *user);
        void *clock_user;
        uint32_t key_cache_entries;
        uint32_t key_cache_ttl_ms;
        const struct tg_limiter_options *limiter;
        const struct tg_audit_options *audit;
    } tg_config;
    void tg_config_init(tg_config *cfg);
    int tg_ctx_open(tg_ctx **out, const tg_config *cfg);
    void tg_ctx_close(tg_ctx *ctx);
    const char *tg_ctx_errmsg(const tg_ctx *ctx);

    size_t tg_key_bytes(void);
    size_t tg_id_max(void);
    size_t tg_envelope_overhead(void);
    size_t tg_message_max(void);
    int tg_keyring_encrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                           const char *workspace_id, const char *subject_id,
                           const char *message_id, const uint8_t *plain, size_t plain_len);
    int tg_keyring_decrypt(tg_ctx *ctx, uint8_t *out, size_t out_cap, size_t *out_len,
                           const char *workspace_id, const char *message_id,
                           const uint8_t *envelope, size_t envelope_len);
    int tg_keyring_rotate(tg_ctx *ctx, uint32_t *out_version, const char *workspace_id);
    int tg_keyring_primary_version(tg_ctx *ctx, uint32_t *out_version,
                                   const char *workspace_id);
    int tg_keyring_retire(tg_ctx *ctx, const char *workspace_id, uint32_t version);
    int tg_keyring_shred_subject(tg_ctx *ctx, const char *workspace_id,
                                 const char *subject_id);
    int tg_keyring_shred_workspace(tg_ctx *ctx, const char *workspace_id);

    typedef struct tg_limit {
        uint32_t per_minute;
        uint32_t burst;
    } tg_limit;
    typedef struct tg_limiter_backend_ops tg_limiter_backend_ops;
    typedef struct tg_limiter_options {
        uint32_t version;
        uint32_t struct_size;
        tg_limit ip;
        tg_limit global;
        uint32_t max_keys;
        uint32_t idle_evict_ms;
        uint32_t violations_to_penalize;
        uint32_t violation_window_ms;
        uint32_t penalty_base_ms;
        uint32_t penalty_factor;
        uint32_t penalty_max_ms;
        uint32_t penalty_decay_ms;
        const tg_limiter_backend_ops *backend;
        uint32_t backend_dimensions;
        uint32_t lease_tokens;
        uint32_t lease_ms;
    } tg_limiter_options;
    typedef struct tg_limit_verdict {
        uint32_t version;
        uint32_t struct_size;
        int allowed;
        int dimension;
        int penalized;
        uint32_t penalty_level;
        tg_limit limit;
        uint32_t tokens_left;
        int64_t retry_after_ms;
    } tg_limit_verdict;
    void tg_limiter_options_init(tg_limiter_options *opts);
    void tg_limit_verdict_init(tg_limit_verdict *v);
    int tg_limiter_tier_default(tg_limit *out, int tier, int dimension);
    int tg_limiter_check(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                         const char *user_id, const char *ip, uint32_t cost);
    int tg_limiter_peek(tg_ctx *ctx, tg_limit_verdict *out, const char *workspace_id,
                        const char *user_id, const char *ip, uint32_t cost);
    typedef struct tg_limiter_key tg_limiter_key;
    int tg_limiter_key_new(tg_ctx *ctx, tg_limiter_key **out, const char *workspace_id,
                           const char *user_id, const char *ip);
    void tg_limiter_key_free(tg_limiter_key *key);
    int tg_limiter_check_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key,
                             uint32_t cost);
    int tg_limiter_peek_key(tg_ctx *ctx, tg_limit_verdict *out, tg_limiter_key *key,
                            uint32_t cost);
    int tg_limiter_reset(tg_ctx *ctx, int dimension, const char *workspace_id, const char *key);
    int tg_limiter_set_tier(tg_ctx *ctx, const char *workspace_id, int tier);
    int tg_limiter_set_user_limit(tg_ctx *ctx, const char *workspace_id,
                                  uint32_t messages_per_minute);
    int tg_limiter_get_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                             const char *user_id);
    int tg_limiter_set_trust(tg_ctx *ctx, const char *workspace_id, const char *user_id,
                             double trust);
    int tg_limiter_adjust_trust(tg_ctx *ctx, double *out_trust, const char *workspace_id,
                                const char *user_id, double delta);
    int tg_limiter_apply_penalty(tg_ctx *ctx, int dimension, const char *workspace_id,
                                 const char *key, uint32_t duration_ms);
    int tg_limiter_tracked(tg_ctx *ctx, size_t *out_count);

    size_t tg_dlp_text_max(void);
    size_t tg_dlp_filters_max(void);
    size_t tg_dlp_domains_max(void);
    size_t tg_dlp_findings_max(void);
    typedef struct tg_dlp_detector {
        const char *id;
        const char *name;
        int category;
        int severity;
        double base_confidence;
        int default_action;
        int has_validator;
    } tg_dlp_detector;
    size_t tg_dlp_detector_count(void);
    int tg_dlp_detector_info(tg_dlp_detector *out, size_t index);
    typedef struct tg_dlp_action_rule {
        const char *detector;
        int action;
    } tg_dlp_action_rule;
    typedef struct tg_dlp_options {
        uint32_t version;
        uint32_t struct_size;
        const char *const *filters;
        size_t filter_count;
        uint32_t filter_match_limit;
        uint32_t filter_depth_limit;
        const char *const *blocked_domains;
        size_t blocked_domain_count;
        const tg_dlp_action_rule *actions;
        size_t action_count;
        int builtin_disabled;
        uint32_t filter_time_limit_ms;
    } tg_dlp_options;
    void tg_dlp_options_init(tg_dlp_options *opts);
    typedef struct tg_dlp_ruleset tg_dlp_ruleset;
    int tg_dlp_ruleset_new(tg_dlp_ruleset **out, const tg_dlp_options *opts);
    void tg_dlp_ruleset_free(tg_dlp_ruleset *rules);
    typedef struct tg_dlp_finding {
        const char *detector;
        int category;
        int severity;
        int action;
        size_t offset;
        size_t length;
        double confidence;
        const char *preview;
    } tg_dlp_finding;
    typedef struct tg_dlp_report tg_dlp_report;
    int tg_dlp_scan(tg_dlp_report **out, const tg_dlp_ruleset *rules, const char *text,
                    size_t len, double min_confidence);
    size_t tg_dlp_report_count(const tg_dlp_report *report);
    const tg_dlp_finding *tg_dlp_report_finding(const tg_dlp_report *report, size_t index);
    int tg_dlp_report_action(const tg_dlp_report *report);
    double tg_dlp_report_threat_score(const tg_dlp_report *report);
    size_t tg_dlp_report_incomplete(const tg_dlp_report *report);
    void tg_dlp_report_free(tg_dlp_report *report);
    int tg_dlp_redact(char **out, size_t *out_len, const tg_dlp_report *report,
                      const char *text, size_t len);
    void tg_dlp_free(char *str);
    const char *tg_dlp_category_name(int category);
    const char *tg_dlp_action_name(int action);
    const char *tg_dlp_severity_name(int severity);

    typedef struct tg_audit_options {
        uint32_t version;
        uint32_t struct_size;
        uint32_t checkpoint_interval;
    } tg_audit_options;
    void tg_audit_options_init(tg_audit_options *opts);
    size_t tg_audit_details_max(void);
    size_t tg_audit_hash_bytes(void);
    size_t tg_audit_public_key_bytes(void);
    const char *tg_audit_action_name(int action);
    int tg_audit_action_from_name(const char *name);
    const char *tg_audit_outcome_name(int outcome);
    const char *tg_audit_severity_name(int severity);
    const char *tg_audit_tag_name(uint32_t tag);
    typedef struct tg_audit_event {
        uint32_t version;
        uint32_t struct_size;
        const char *workspace;
        const char *actor;
        const char *actor_ip;
        int action;
        const char *target;
        int target_is_subject;
        int outcome;
        int severity;
        uint32_t tags;
        const char *details;
    } tg_audit_event;
    void tg_audit_event_init(tg_audit_event *event);
    int tg_audit_append(tg_ctx *ctx, const tg_audit_event *event, uint64_t *out_seq);
    int tg_audit_append_batch(tg_ctx *ctx, const tg_audit_event *events, size_t count,
                              uint64_t *out_first_seq);
    int tg_audit_checkpoint(tg_ctx *ctx, const char *workspace, uint64_t *out_seq);
    int tg_audit_public_key(tg_ctx *ctx, uint8_t out[32]);
    const char *tg_audit_problem_name(int problem);
    typedef struct tg_audit_verdict {
        uint32_t version;
        uint32_t struct_size;
        int problem;
        uint64_t bad_seq;
        uint64_t first_seq;
        uint64_t last_seq;
        uint64_t records;
        uint64_t checkpoints;
        char reason[160];
    } tg_audit_verdict;
    void tg_audit_verdict_init(tg_audit_verdict *verdict);
    typedef int (*tg_audit_progress_cb)(void *user, uint64_t done, uint64_t total);
    int tg_audit_verify(tg_ctx *ctx, tg_audit_verdict *out, const char *workspace,
                        uint64_t from_seq, uint64_t to_seq, tg_audit_progress_cb progress,
                        void *user);
    typedef struct tg_audit_query {
        uint32_t version, struct_size;
        const char *workspace;
        int64_t since_ms;
        int64_t until_ms;
        int action;
        const char *actor;
        int outcome;
        uint64_t after_seq;
        uint32_t limit;
    } tg_audit_query;
    void tg_audit_query_init(tg_audit_query *q);
    int tg_audit_query_json(tg_ctx *ctx, char **out, const tg_audit_query *q);
    void tg_audit_free(char *str);
    typedef int (*tg_audit_write_cb)(void *user, const char *line, size_t len);
    int tg_audit_export(tg_ctx *ctx, const char *workspace, tg_audit_write_cb write,
                        void *user);
    int tg_audit_verify_export(tg_audit_verdict *out, const char *data, size_t len,
                               const uint8_t *public_key, tg_audit_progress_cb progress,
                               void *user);
    int tg_audit_prune(tg_ctx *ctx, const char *workspace, int64_t older_than_ms,
                       uint64_t *out_pruned);
    int tg_audit_erase_subject(tg_ctx *ctx, const char *workspace, const char *user);
    """
)


def _candidates():
    env = os.environ.get("TENANTGUARD_LIB")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "..", "lib", "libtenantguard.so.0")
    yield "libtenantguard.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ffi.dlopen(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
    raise OSError("libtenantguard not found; set TENANTGUARD_LIB. Tried: " + "; ".join(errors))


lib = _load()
