/*
 * audit.c - `tenantguard audit verify|export|query` on a SQLite store file
 * (or, for verify, on an export file).
 *
 * The store is opened with its master key from --key-file, else
 * $TENANTGUARD_MASTER_KEY, else the file "<store>.key" next to it (the
 * library's order, without its last step of creating that file); the
 * command never creates a key file or a store. verify prints its verdict as one
 * JSON object; export prints JSON Lines; query prints the library's JSON.
 * While a verification runs long, a progress line goes to stderr when
 * stderr is a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <tenantguard.h>

#include "cli.h"

static void audit_usage(FILE *to)
{
    fprintf(to,
            "usage: tenantguard audit verify --store PATH [--workspace ID] [--from SEQ] [--to SEQ]\n"
            "       tenantguard audit verify --file EXPORT [--public-key HEX]\n"
            "       tenantguard audit export --store PATH [--workspace ID] [--output FILE]\n"
            "       tenantguard audit query --store PATH [--workspace ID] [filters]\n"
            "\n"
            "verify checks a chain in a store (whole, or the records --from..--to) or an\n"
            "export file, and prints the verdict as JSON: problem, bad_seq, reason,\n"
            "records, checkpoints. An export is checked against --public-key (64 hex\n"
            "digits, from a copy kept away from the store); without it the file is only\n"
            "shown to be self-consistent. export writes the chain as JSON Lines to\n"
            "stdout or --output. query prints matching records as JSON; filters:\n"
            "  --since MS --until MS  time range (ms since the epoch; until excluded)\n"
            "  --action NAME          e.g. message.blocked\n"
            "  --actor ID             a user id (matched through its pseudonym)\n"
            "  --outcome NAME         success, failure or denied\n"
            "  --after SEQ --limit N  paging: records after SEQ, at most N (<= 10000)\n"
            "\n"
            "--workspace names the chain (default: the system chain). The store's master\n"
            "key comes from --key-file FILE, else $TENANTGUARD_MASTER_KEY (64 hex digits),\n"
            "else the file PATH.key; none is ever created. A regular --output file is\n"
            "replaced only once the export is complete.\n"
            "\n"
            "exit codes: 0 valid / done, 1 a problem found (tampering, gap, truncation,\n"
            "malformed data), 2 bad usage, 3 error (cannot open the store or file, wrong\n"
            "master key, I/O)\n");
}

typedef struct options {
    const char *store, *key_file, *file, *output, *workspace, *public_key_hex;
    uint64_t from, to;
    tg_audit_query q;
} options;

/* A decimal number without sign or junk, within max. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
    uint64_t v;
    bool neg = s && *s == '-';
    if (!parse_u64(neg ? s + 1 : s, (uint64_t)INT64_MAX, &v))
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Parses the options of every subcommand; which apply is checked later.
 * CLI_CLEAN to go on, CLI_USAGE, or -1 after --help. */
static int parse(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'},
        {"key-file", required_argument, NULL, 'k'},
        {"workspace", required_argument, NULL, 'w'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"file", required_argument, NULL, 'f'},
        {"public-key", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"action", required_argument, NULL, 'a'},
        {"actor", required_argument, NULL, 'A'},
        {"outcome", required_argument, NULL, 'O'},
        {"after", required_argument, NULL, 'x'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    tg_audit_query_init(&o->q);
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 's': o->store = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'w': o->workspace = optarg; break;
        case 'f': o->file = optarg; break;
        case 'p': o->public_key_hex = optarg; break;
        case 'o': o->output = optarg; break;
        case 'A': o->q.actor = optarg; break;
        case 'F':
            if (!parse_u64(optarg, UINT64_MAX, &o->from))
                bad = "--from wants a sequence number";
            break;
        case 'T':
            if (!parse_u64(optarg, UINT64_MAX, &o->to))
                bad = "--to wants a sequence number";
            break;
        case 'S':
            if (!parse_i64(optarg, &o->q.since_ms))
                bad = "--since wants milliseconds since the epoch";
            break;
        case 'U':
            if (!parse_i64(optarg, &o->q.until_ms))
                bad = "--until wants milliseconds since the epoch";
            break;
        case 'a':
            if (!(o->q.action = tg_audit_action_from_name(optarg)))
                bad = "--action wants a name from the catalogue (e.g. message.sent)";
            break;
        case 'O':
            o->q.outcome = -1;
            for (int k = TG_AUDIT_SUCCESS; k <= TG_AUDIT_DENIED; k++)
                if (strcmp(optarg, tg_audit_outcome_name(k)) == 0)
                    o->q.outcome = k;
            if (o->q.outcome < 0)
                bad = "--outcome wants success, failure or denied";
            break;
        case 'x':
            if (!parse_u64(optarg, UINT64_MAX, &o->q.after_seq))
                bad = "--after wants a sequence number";
            break;
        case 'l':
            if (!parse_u64(optarg, UINT32_MAX, &v))
                bad = "--limit wants a number";
            o->q.limit = (uint32_t)v;
            break;
        case 'h':
            audit_usage(stdout);
            return -1;
        default:
            audit_usage(stderr);
            return CLI_USAGE;
        }
        if (bad) {
            fprintf(stderr, "tenantguard: %s\n", bad);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tenantguard: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_USAGE;
    }
    o->q.workspace = o->workspace;
    return CLI_CLEAN;
}

/* Refuses the options a subcommand does not take. */
static bool only(const options *o, const char *cmd, bool store, bool range, bool file,
                 bool output, bool query)
{
    const char *bad = NULL;
    bool filters = o->q.since_ms || o->q.until_ms || o->q.action || o->q.actor ||
                   o->q.outcome != -1 || o->q.after_seq || o->q.limit;
    if (!store && (o->store || o->key_file || o->workspace))
        bad = "--store, --key-file and --workspace";
    else if (!range && (o->from || o->to))
        bad = "--from and --to";
    else if (!file && (o->file || o->public_key_hex))
        bad = "--file and --public-key";
    else if (!output && o->output)
        bad = "--output";
    else if (!query && filters)
        bad = "query filters";
    if (bad) {
        fprintf(stderr, "tenantguard: audit %s does not take %s\n", cmd, bad);
        return false;
    }
    if (store && !o->store) {
        fprintf(stderr, "tenantguard: audit %s needs --store PATH\n", cmd);
        return false;
    }
    return true;
}

/* Opens the store and a context on it, with the master key as the usage
 * text says. CLI_CLEAN or CLI_FAILURE (said on stderr). */
static int open_store(const options *o, tg_store **store, tg_ctx **ctx)
{
    struct stat st;
    *store = NULL;
    *ctx = NULL;
    if (stat(o->store, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->store,
                errno ? strerror(errno) : "not a regular file");
        return CLI_FAILURE;
    }
    int rc = tg_store_open_sqlite(store, o->store, NULL);
    if (rc != TG_OK) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->store, tg_ctx_errmsg(NULL));
        return CLI_FAILURE;
    }
    tg_config cfg;
    tg_config_init(&cfg);
    cfg.store = *store;
    const char *env = getenv(TG_MASTER_KEY_ENV);
    char *default_key = NULL;
    if (o->key_file) {
        cfg.master_key_path = o->key_file; /* ahead of the variable */
    } else if (!env || !*env) {
        if (!(default_key = malloc(strlen(o->store) + sizeof ".key"))) {
            fprintf(stderr, "tenantguard: out of memory\n");
            tg_store_close(*store);
            return CLI_FAILURE;
        }
        sprintf(default_key, "%s.key", o->store);
        cfg.master_key_path = default_key;
    }
    rc = tg_ctx_open(ctx, &cfg);
    if (rc != TG_OK) {
        fprintf(stderr, "tenantguard: %s: %s\n", cfg.master_key_path ? cfg.master_key_path
                                                                     : TG_MASTER_KEY_ENV,
                tg_ctx_errmsg(NULL));
        tg_store_close(*store);
        *store = NULL;
    }
    free(default_key);
    return rc == TG_OK ? CLI_CLEAN : CLI_FAILURE;
}

static void close_store(tg_store *store, tg_ctx *ctx)
{
    tg_ctx_close(ctx);
    tg_store_close(store);
}

/* ---- verify ------------------------------------------------------------- */

typedef struct progress {
    bool shown;
    struct timespec last;
} progress;

/* "\rverified N of M records" at most ten times a second. */
static int show_progress(void *user, uint64_t done, uint64_t total)
{
    progress *p = user;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
    if (p->shown && ms < 100)
        return 0;
    p->last = now;
    p->shown = true;
    if (total)
        fprintf(stderr, "\rverified %llu of %llu records", (unsigned long long)done,
                (unsigned long long)total);
    else
        fprintf(stderr, "\rverified %llu records", (unsigned long long)done);
    fflush(stderr);
    return 0;
}

static void end_progress(const progress *p)
{
    if (p->shown)
        fprintf(stderr, "\r%60s\r", "");
}

/* Prints the verdict; CLI_CLEAN if valid, else CLI_FOUND. */
static int print_verdict(const tg_audit_verdict *v, const char *what, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, what, name);
        cJSON_AddStringToObject(o, "problem", tg_audit_problem_name(v->problem));
        cJSON_AddNumberToObject(o, "bad_seq", (double)v->bad_seq);
        cJSON_AddStringToObject(o, "reason", v->reason);
        cJSON_AddNumberToObject(o, "records", (double)v->records);
        cJSON_AddNumberToObject(o, "checkpoints", (double)v->checkpoints);
        cJSON_AddNumberToObject(o, "first_seq", (double)v->first_seq);
        cJSON_AddNumberToObject(o, "last_seq", (double)v->last_seq);
    }
    char *json = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!json) {
        fprintf(stderr, "tenantguard: out of memory\n");
        return CLI_FAILURE;
    }
    puts(json);
    cJSON_free(json);
    return v->problem == TG_AUDIT_VALID ? CLI_CLEAN : CLI_FOUND;
}

/* An export file's bytes: mapped when it is a regular file, else read. */
typedef struct file_bytes {
    const char *data;
    size_t len;
    void *map;
    char *copy;
} file_bytes;

static bool load(file_bytes *b, const char *path)
{
    memset(b, 0, sizeof *b);
    struct stat st;
    int fd = strcmp(path, "-") == 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size > 0) {
            b->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (b->map == MAP_FAILED) {
                fprintf(stderr, "tenantguard: %s: %s\n", path, strerror(errno));
                close(fd);
                b->map = NULL;
                return false;
            }
            b->data = b->map;
            b->len = (size_t)st.st_size;
        }
        close(fd);
        return true;
    }
    if (fd >= 0)
        close(fd);
    else if (strcmp(path, "-") != 0) {
        fprintf(stderr, "tenantguard: %s: %s\n", path, strerror(errno));
        return false;
    }
    b->copy = cli_read_file(path, SIZE_MAX / 2, &b->len);
    b->data = b->copy;
    return b->copy != NULL;
}

static void unload(file_bytes *b)
{
    if (b->map)
        munmap(b->map, b->len);
    free(b->copy);
}

static int verify_file(const options *o, progress *p)
{
    uint8_t key[TG_AUDIT_PUBLIC_KEY_BYTES];
    if (o->public_key_hex) {
        const char *hex = o->public_key_hex;
        bool ok = strlen(hex) == 2 * sizeof key &&
                  strspn(hex, "0123456789abcdefABCDEF") == 2 * sizeof key;
        for (size_t i = 0; ok && i < sizeof key; i++) {
            unsigned byte = 0;
            ok = sscanf(hex + 2 * i, "%2x", &byte) == 1;
            key[i] = (uint8_t)byte;
        }
        if (!ok) {
            fprintf(stderr, "tenantguard: --public-key wants 64 hexadecimal digits\n");
            return CLI_USAGE;
        }
    }
    file_bytes b;
    if (!load(&b, o->file))
        return CLI_FAILURE;
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    int rc = tg_audit_verify_export(&v, b.data, b.len, o->public_key_hex ? key : NULL,
                                    isatty(STDERR_FILENO) ? show_progress : NULL, p);
    unload(&b);
    end_progress(p);
    if (rc != TG_OK) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->file, tg_ctx_errmsg(NULL));
        return CLI_FAILURE;
    }
    return print_verdict(&v, "file", strcmp(o->file, "-") == 0 ? "<stdin>" : o->file);
}

static int verify(const options *o)
{
    progress p;
    memset(&p, 0, sizeof p);
    if (o->file || o->public_key_hex) {
        if (!o->file) {
            fprintf(stderr, "tenantguard: --public-key goes with --file\n");
            return CLI_USAGE;
        }
        if (!only(o, "verify --file", false, false, true, false, false))
            return CLI_USAGE;
        return verify_file(o, &p);
    }
    if (!only(o, "verify", true, true, false, false, false))
        return CLI_USAGE;
    if (o->to && o->from > o->to) {
        fprintf(stderr, "tenantguard: --from is after --to\n");
        return CLI_USAGE;
    }
    tg_store *store;
    tg_ctx *ctx;
    if (open_store(o, &store, &ctx) != CLI_CLEAN)
        return CLI_FAILURE;
    tg_audit_verdict v;
    tg_audit_verdict_init(&v);
    int rc = tg_audit_verify(ctx, &v, o->workspace, o->from, o->to,
                             isatty(STDERR_FILENO) ? show_progress : NULL, &p);
    end_progress(&p);
    int result;
    if (rc == TG_OK) {
        result = print_verdict(&v, "workspace", o->workspace ? o->workspace : "");
    } else {
        fprintf(stderr, "tenantguard: %s: %s\n", o->store, tg_ctx_errmsg(ctx));
        result = rc == TG_EINVAL ? CLI_USAGE : CLI_FAILURE;
    }
    close_store(store, ctx);
    return result;
}

/* ---- export ------------------------------------------------------------- */

typedef struct sink {
    FILE *f;
    int err; /* errno of a failed write */
} sink;

static int write_line(void *user, const char *line, size_t len)
{
    sink *s = user;
    if (fwrite(line, 1, len, s->f) != len) {
        s->err = errno ? errno : EIO;
        return TG_ESTORE;
    }
    return TG_OK;
}

/* Opens "<output>.XXXXXX" next to the output, for a rename at the end. */
static FILE *open_temp(const char *output, char **tmp)
{
    *tmp = malloc(strlen(output) + sizeof ".XXXXXX");
    if (!*tmp) {
        errno = ENOMEM;
        return NULL;
    }
    sprintf(*tmp, "%s.XXXXXX", output);
    int fd = mkstemp(*tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(*tmp);
        }
        free(*tmp);
        *tmp = NULL;
        errno = e;
    }
    return f;
}

static int export(const options *o)
{
    if (!only(o, "export", true, false, false, true, false))
        return CLI_USAGE;
    tg_store *store;
    tg_ctx *ctx;
    if (open_store(o, &store, &ctx) != CLI_CLEAN)
        return CLI_FAILURE;
    sink s = {stdout, 0};
    char *tmp = NULL;
    const char *name = o->output ? o->output : "<stdout>";
    /* A regular file (or a new one) is written beside and renamed into
     * place; anything else (a device, a pipe, a symbolic link) directly. */
    struct stat st;
    bool direct = o->output && lstat(o->output, &st) == 0 && !S_ISREG(st.st_mode);
    if (direct && !(s.f = fopen(o->output, "wb"))) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->output, strerror(errno));
        close_store(store, ctx);
        return CLI_FAILURE;
    }
    if (o->output && !direct && !(s.f = open_temp(o->output, &tmp))) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->output, strerror(errno));
        close_store(store, ctx);
        return CLI_FAILURE;
    }
    int rc = tg_audit_export(ctx, o->workspace, write_line, &s);
    int result = CLI_CLEAN;
    if (rc != TG_OK) {
        if (s.err)
            fprintf(stderr, "tenantguard: %s: %s\n", name, strerror(s.err));
        else
            fprintf(stderr, "tenantguard: %s: %s\n", o->store, tg_ctx_errmsg(ctx));
        result = rc == TG_EINVAL ? CLI_USAGE : CLI_FAILURE;
    }
    errno = 0;
    bool flushed = fflush(s.f) == 0 && !ferror(s.f) && (!tmp || fsync(fileno(s.f)) == 0);
    if (o->output)
        flushed = fclose(s.f) == 0 && flushed;
    if (!flushed && result == CLI_CLEAN) {
        fprintf(stderr, "tenantguard: %s: %s\n", name, strerror(errno ? errno : EIO));
        result = CLI_FAILURE;
    }
    if (tmp && result == CLI_CLEAN && rename(tmp, o->output) != 0) {
        fprintf(stderr, "tenantguard: %s: %s\n", o->output, strerror(errno));
        result = CLI_FAILURE;
    }
    if (tmp && result != CLI_CLEAN)
        unlink(tmp); /* no half-written export left behind */
    free(tmp);
    close_store(store, ctx);
    return result;
}

/* ---- query -------------------------------------------------------------- */

static int query(const options *o)
{
    if (!only(o, "query", true, false, false, false, true))
        return CLI_USAGE;
    tg_store *store;
    tg_ctx *ctx;
    if (open_store(o, &store, &ctx) != CLI_CLEAN)
        return CLI_FAILURE;
    char *json = NULL;
    int rc = tg_audit_query_json(ctx, &json, &o->q);
    int result = CLI_CLEAN;
    if (rc == TG_OK) {
        puts(json);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "tenantguard: <stdout>: %s\n", strerror(errno));
            result = CLI_FAILURE;
        }
    } else {
        fprintf(stderr, "tenantguard: %s\n", tg_ctx_errmsg(ctx));
        result = rc == TG_EINVAL ? CLI_USAGE : CLI_FAILURE;
    }
    tg_audit_free(json);
    close_store(store, ctx);
    return result;
}

int cli_audit(int argc, char **argv)
{
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        audit_usage(stdout);
        return CLI_CLEAN;
    }
    int (*run)(const options *) = NULL;
    if (argc >= 1 && strcmp(argv[0], "verify") == 0)
        run = verify;
    else if (argc >= 1 && strcmp(argv[0], "export") == 0)
        run = export;
    else if (argc >= 1 && strcmp(argv[0], "query") == 0)
        run = query;
    if (!run) {
        if (argc >= 1)
            fprintf(stderr, "tenantguard: unknown audit command \"%s\"\n", argv[0]);
        audit_usage(stderr);
        return CLI_USAGE;
    }
    options o;
    int rc = parse(argc, argv, &o);
    if (rc != CLI_CLEAN)
        return rc < 0 ? CLI_CLEAN : rc;
    return run(&o);
}
