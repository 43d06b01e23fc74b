/*
 * kms_local.c - the local key service (a development default, not a
 * substitute for a KMS): where the 32-byte master key comes from, and
 * wrapping workspace keys with it.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "kms_local.h"

#define MASTER_BYTES 32
#define NOT_THERE 1 /* read_key_file: the file does not exist */

/* Reads exactly 32 bytes from a key file only its owner can use: a regular
 * file owned by the effective user, with no permission for group or others.
 * `follow`: whether the path may be a symbolic link (an explicit
 * master_key_path may: the host chose it; the default "<store>.key" may not,
 * as whoever can write its directory could plant one). NOT_THERE if it does
 * not exist. */
static int read_key_file(const char *path, uint8_t *master, bool follow)
{
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) {
        if (errno == ENOENT)
            return NOT_THERE;
        if (!follow && (errno == ELOOP || errno == EMLINK))
            return tg__error(TG_EPERM, "keyring: master key file '%s' is a symbolic link; it "
                                       "must be a regular file", path);
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
    } else if (st.st_uid != geteuid()) {
        rc = tg__error(TG_EPERM,
                       "keyring: master key file '%s' is owned by uid %lu, not by this process's "
                       "user (uid %lu); whoever owns it controls the key",
                       path, (unsigned long)st.st_uid, (unsigned long)geteuid());
    } else if (st.st_mode & 077) {
        rc = tg__error(TG_EPERM,
                       "keyring: master key file '%s' is accessible by group or others "
                       "(mode %04o); it must be 0600 or stricter (chmod 600)",
                       path, (unsigned)(st.st_mode & 0777));
    } else if (st.st_size == 0) {
        rc = tg__error(TG_EFORMAT,
                       "keyring: master key file '%s' is empty; a person must look at it: "
                       "restore the key from a backup, or delete the file only if nothing was "
                       "ever encrypted under it (a new key cannot read the old data)", path);
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
    if (rc)
        sodium_memzero(master, MASTER_BYTES);
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

/* Writes the whole key to fd, makes it 0600 whatever the umask, and syncs.
 * 0 or an errno value. */
static int write_key(int fd, const uint8_t *master)
{
    size_t put = 0;
    while (put < MASTER_BYTES) {
        ssize_t n = write(fd, master + put, MASTER_BYTES - put);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        put += (size_t)n;
    }
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0)
        return errno;
    return 0;
}

/* Syncs the directory holding `path` so a new entry in it survives a crash.
 * `buf` has room for path. 0 or an errno value; EINVAL (a file system that
 * cannot sync directories) counts as success. */
static int sync_dir(const char *path, char *buf)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(buf, ".");
    else if (slash == path)
        strcpy(buf, "/");
    else {
        memcpy(buf, path, (size_t)(slash - path));
        buf[slash - path] = '\0';
    }
    int fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
    close(fd);
    return err;
}

/* Creates `path` holding a fresh random key, or reads the one another
 * process or thread created first. The key is written and synced to a
 * temporary file in the same directory (`tmp`, a buffer of strlen(path) +
 * TMP_SUFFIX bytes), then linked to `path`: the name appears complete or
 * not at all, so nobody can read a half-written key, and a crash leaves at
 * most a stray temporary file, never an empty key file. link() fails with
 * EEXIST if someone else won: their key is read instead. */
#define TMP_SUFFIX (sizeof ".tmp-" + 16)
static int create_key_file(const char *path, char *tmp, uint8_t *master)
{
    uint8_t rnd[8];
    char hex[2 * sizeof rnd + 1];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
    size_t n = strlen(path);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp-", 5);
    memcpy(tmp + n + 5, hex, sizeof hex);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return tg__error(TG_EPERM, "keyring: cannot create master key file '%s' (temporary "
                                   "file '%s': %s)", path, tmp, strerror(errno));
    randombytes_buf(master, MASTER_BYTES);
    int err = write_key(fd, master);
    if (close(fd) != 0 && !err)
        err = errno;
    const char *step = "write";
    if (!err && link(tmp, path) != 0) {
        err = errno;
        step = "link";
    }
    unlink(tmp);
    if (err == EEXIST) {
        /* Another process or thread created it first: use theirs. */
        int rc = read_key_file(path, master, false);
        return rc == NOT_THERE ? tg__error(TG_EPERM, "keyring: master key file '%s' vanished",
                                           path)
                               : rc;
    }
    if (!err && (err = sync_dir(path, tmp)) != 0)
        step = "sync the directory of";
    if (err) {
        sodium_memzero(master, MASTER_BYTES);
        return tg__error(TG_EPERM, "keyring: cannot create master key file '%s' (%s: %s)", path,
                         step, strerror(err));
    }
    return TG_OK;
}

static int from_default_file(const tg_config *cfg, const tg_allocator *a, uint8_t *master)
{
    if (!cfg->store_path || !cfg->store_path[0])
        return tg__error(TG_EINVAL, "no root key: set kms, master_key, master_key_path or %s",
                         TG_MASTER_KEY_ENV);
    size_t n = strlen(cfg->store_path);
    size_t path_size = n + sizeof ".key";
    /* The key file's name, then room for the temporary file's name. */
    char *path = tg__malloc(a, 2 * path_size + TMP_SUFFIX);
    if (!path)
        return TG_ENOMEM;
    memcpy(path, cfg->store_path, n);
    memcpy(path + n, ".key", sizeof ".key");
    int rc = read_key_file(path, master, false);
    if (rc == NOT_THERE)
        rc = create_key_file(path, path + path_size, master);
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
        else if ((rc = read_key_file(cfg->master_key_path, master, true)) == NOT_THERE)
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
