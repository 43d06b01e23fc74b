/*
 * kms_local.c - the local key service (a development default, not a
 * substitute for a KMS): where the 32-byte master key comes from, and
 * wrapping workspace keys with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kms_local.h"

#define MASTER_BYTES 32
#define NOT_THERE 1 /* read_key_file: the file does not exist */

/* Reads exactly 32 bytes from a key file only its owner can use.
 * NOT_THERE if it does not exist. */
static int read_key_file(const char *path, uint8_t *master)
{
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return NOT_THERE;
        return tg__error(TG_EPERM, "keyring: cannot open master key file '%s': %s", path,
                         strerror(errno));
    }
    struct stat st;
    int rc = TG_OK;
    if (fstat(fd, &st) != 0) {
        rc = tg__error(TG_EPERM, "keyring: cannot stat master key file '%s': %s", path,
                       strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = tg__error(TG_EPERM, "keyring: master key file '%s' is not a regular file", path);
    } else if (st.st_mode & 077) {
        rc = tg__error(TG_EPERM,
                       "keyring: master key file '%s' is accessible by group or others "
                       "(mode %04o); it must be 0600 or stricter (chmod 600)",
                       path, (unsigned)(st.st_mode & 0777));
    } else if (st.st_size != MASTER_BYTES) {
        rc = tg__error(TG_EFORMAT,
                       "keyring: master key file '%s' must hold exactly %d raw bytes (it has %lld)",
                       path, MASTER_BYTES, (long long)st.st_size);
    } else {
        size_t got = 0;
        while (got < MASTER_BYTES) {
            ssize_t n = read(fd, master + got, MASTER_BYTES - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = tg__error(TG_EFORMAT, "keyring: cannot read 32 bytes from master key file '%s'",
                               path);
                break;
            }
            got += (size_t)n;
        }
    }
    close(fd);
    return rc;
}

static int from_env(const char *hex, uint8_t *master)
{
    size_t bin_len = 0;
    const char *end = NULL;
    size_t hex_len = strnlen(hex, 2 * MASTER_BYTES + 1);
    if (hex_len != 2 * MASTER_BYTES ||
        sodium_hex2bin(master, MASTER_BYTES, hex, hex_len, NULL, &bin_len, &end) != 0 ||
        bin_len != MASTER_BYTES || end != hex + hex_len)
        return tg__error(TG_EINVAL, "keyring: %s must be exactly %d hexadecimal digits",
                         TG_MASTER_KEY_ENV, 2 * MASTER_BYTES);
    return TG_OK;
}

static void short_sleep(void)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Creates `path` (O_EXCL, 0600) holding a fresh random key, or reads the
 * one another process created first. */
static int create_key_file(const char *path, uint8_t *master)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno != EEXIST)
            return tg__error(TG_EPERM, "keyring: cannot create master key file '%s': %s", path,
                             strerror(errno));
        /* Someone else is creating it: wait (bounded) until it is complete. */
        int rc = TG_OK;
        for (int tries = 0; tries < 100; tries++) {
            rc = read_key_file(path, master);
            if (rc != TG_EFORMAT)
                break;
            short_sleep();
        }
        return rc == NOT_THERE ? tg__error(TG_EPERM, "keyring: master key file '%s' vanished", path)
                               : rc;
    }
    randombytes_buf(master, MASTER_BYTES);
    errno = 0;
    size_t put = 0;
    while (put < MASTER_BYTES) {
        ssize_t n = write(fd, master + put, MASTER_BYTES - put);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        put += (size_t)n;
    }
    int err = put == MASTER_BYTES && fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
    if (close(fd) != 0 && !err)
        err = errno;
    if (err) {
        unlink(path);
        sodium_memzero(master, MASTER_BYTES);
        return tg__error(TG_EPERM, "keyring: cannot write master key file '%s': %s", path,
                         strerror(err));
    }
    return TG_OK;
}

static int from_default_file(const tg_config *cfg, const tg_allocator *a, uint8_t *master)
{
    if (!cfg->store_path || !cfg->store_path[0])
        return tg__error(TG_EINVAL, "no root key: set kms, master_key, master_key_path or %s",
                         TG_MASTER_KEY_ENV);
    size_t n = strlen(cfg->store_path);
    char *path = tg__malloc(a, n + sizeof ".key");
    if (!path)
        return TG_ENOMEM;
    memcpy(path, cfg->store_path, n);
    memcpy(path + n, ".key", sizeof ".key");
    int rc = read_key_file(path, master);
    if (rc == NOT_THERE)
        rc = create_key_file(path, master);
    tg__free(a, path);
    return rc;
}

int tg__kms_local_load(uint8_t **out_master, const tg_config *cfg, const tg_allocator *a)
{
    *out_master = NULL;
    uint8_t *master = tg__secure_alloc(MASTER_BYTES);
    if (!master)
        return TG_ENOMEM;
    int rc;
    const char *env;
    if (cfg->master_key) {
        memcpy(master, cfg->master_key, MASTER_BYTES);
        rc = TG_OK;
    } else if (cfg->master_key_path) {
        if (!cfg->master_key_path[0])
            rc = tg__error(TG_EINVAL, "config: master_key_path is empty");
        else if ((rc = read_key_file(cfg->master_key_path, master)) == NOT_THERE)
            rc = tg__error(TG_EPERM, "keyring: master key file '%s' does not exist",
                           cfg->master_key_path);
    } else if ((env = getenv(TG_MASTER_KEY_ENV)) != NULL) {
        rc = from_env(env, master);
    } else {
        rc = from_default_file(cfg, a, master);
    }
    if (rc) {
        tg__secure_free(master);
        return rc;
    }
    *out_master = master;
    return TG_OK;
}

int tg__kms_local_wrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *key,
                       size_t key_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    const uint8_t *master = user;
    if (out_cap < key_len + TG__KMS_LOCAL_OVERHEAD)
        return TG_ERANGE;
    uint8_t *nonce = out;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               NULL, key, key_len, ad, ad_len, NULL, nonce, master);
    *out_len = key_len + TG__KMS_LOCAL_OVERHEAD;
    return TG_OK;
}

int tg__kms_local_unwrap(void *user, const uint8_t *ad, size_t ad_len, const uint8_t *wrapped,
                         size_t wrapped_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    const uint8_t *master = user;
    if (wrapped_len < TG__KMS_LOCAL_OVERHEAD)
        return TG_EAUTH;
    size_t key_len = wrapped_len - TG__KMS_LOCAL_OVERHEAD;
    if (out_cap < key_len)
        return TG_ERANGE;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, NULL, NULL, wrapped + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            wrapped_len - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, ad_len, wrapped,
            master) != 0)
        return TG_EAUTH;
    *out_len = key_len;
    return TG_OK;
}
