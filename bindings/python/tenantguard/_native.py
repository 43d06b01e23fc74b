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
