/*
 * main.c - `tenantguard`: the command-line tool. One subcommand per module
 * that has something to do from a shell.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tenantguard.h>

#include "cli.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: tenantguard <command> [args]\n"
            "\n"
            "commands:\n"
            "  dlp scan [options] [FILE...]   find sensitive data (stdin without FILE)\n"
            "  dlp detectors                  list the built-in detectors\n"
            "  audit verify|export|query ...  check, export or search the audit log of a\n"
            "                                 store (`tenantguard audit --help`)\n"
            "  --version                      print the library version\n"
            "  --help                         this text; `tenantguard dlp --help` for more\n"
            "\n"
            "exit codes: 0 clean or valid, 1 something found (or a problem, or a rule that\n"
            "could not finish), 2 bad usage, 3 error; each command's --help has details\n");
}

char *cli_read_file(const char *path, size_t max, size_t *out_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tenantguard: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    const char *why = NULL;
    for (;;) {
        if (len == cap) {
            if (len > max) {
                why = "larger than the most one scan takes";
                break;
            }
            size_t bigger = cap ? cap * 2 : 65536;
            char *b = realloc(buf, bigger + 1);
            if (!b) {
                why = "out of memory";
                break;
            }
            buf = b;
            cap = bigger;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                why = strerror(errno);
            else if (len > max)
                why = "larger than the most one scan takes";
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (why) {
        fprintf(stderr, "tenantguard: %s: %s\n", path, why);
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *out_len = len;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return CLI_CLEAN;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tenantguard %s\n", tg_version_string());
        return CLI_CLEAN;
    }
    if (strcmp(argv[1], "dlp") == 0)
        return cli_dlp(argc - 2, argv + 2);
    if (strcmp(argv[1], "audit") == 0)
        return cli_audit(argc - 2, argv + 2);
    fprintf(stderr, "tenantguard: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
