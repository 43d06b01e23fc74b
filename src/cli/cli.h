/*
 * cli.h - the `tenantguard` command: shared pieces of its subcommands.
 */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes of every subcommand (listed in --help). */
#define CLI_CLEAN 0    /* ran; nothing to report */
#define CLI_FOUND 1    /* ran; something was found */
#define CLI_USAGE 2    /* bad command line */
#define CLI_FAILURE 3  /* I/O error, or the library failed */

/* Reads a whole file ("-" for stdin) into a new buffer of at most `max`
 * bytes. Returns NULL and prints why on stderr. */
char *cli_read_file(const char *path, size_t max, size_t *out_len);

int cli_dlp(int argc, char **argv);
int cli_audit(int argc, char **argv);

#endif /* TG_CLI_H */
