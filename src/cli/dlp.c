/*
 * dlp.c - `tenantguard dlp scan` and `tenantguard dlp detectors`.
 *
 * scan prints one JSON object per finding (JSON Lines) with the file, its
 * line and column (1-based, in bytes), span, detector, category, severity,
 * action, confidence and masked preview; or, with --redact, the redacted
 * text. The exit code says whether anything was found.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <tenantguard.h>

#include "../core/core.h" /* tg__utf8_valid */
#include "cli.h"

static void dlp_usage(FILE *to)
{
    fprintf(to,
            "usage: tenantguard dlp scan [options] [FILE...]\n"
            "       tenantguard dlp detectors\n"
            "\n"
            "scan reads each FILE (stdin when there is none, or for \"-\") and prints\n"
            "one JSON object per finding. Options:\n"
            "  --min-confidence X     leave out findings below X (0..1; default 0)\n"
            "  --filter PATTERN       a content filter (PCRE2); may repeat\n"
            "  --blocked-domain NAME  a blocked domain; may repeat\n"
            "  --action DETECTOR=ACT  allow, mask, redact or block; may repeat\n"
            "  --no-builtin           only filters and blocked domains\n"
            "  --redact               print the redacted text instead of findings\n"
            "\n"
            "exit codes: 0 nothing found; 1 found, or a rule could not finish;\n"
            "2 bad usage; 3 error\n");
}

/* Grows a NULL-terminated list of option strings. */
static bool push(const char ***list, size_t *n, const char *s)
{
    const char **bigger = realloc(*list, (*n + 1) * sizeof **list);
    if (!bigger)
        return false;
    bigger[(*n)++] = s;
    *list = bigger;
    return true;
}

static int parse_action(tg_dlp_action_rule *rule, char *arg)
{
    char *eq = strrchr(arg, '=');
    if (!eq)
        return -1;
    *eq = '\0';
    for (int a = TG_DLP_ALLOW; a <= TG_DLP_BLOCK; a++)
        if (strcmp(eq + 1, tg_dlp_action_name(a)) == 0) {
            rule->detector = arg;
            rule->action = a;
            return 0;
        }
    return -1;
}

/* A copy of s that is valid UTF-8, for JSON: s itself when it is, else
 * with every byte above 0x7F turned into '?'. */
static char *printable(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, s, n + 1);
    if (!tg__utf8_valid((const uint8_t *)s, n))
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)out[i] >= 0x80)
                out[i] = '?';
    return out;
}

static int print_findings(const tg_dlp_report *report, const char *name, const char *text)
{
    size_t line = 1, line_start = 0, at = 0;
    char *file = printable(name);
    if (!file)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < tg_dlp_report_count(report); i++) {
        const tg_dlp_finding *f = tg_dlp_report_finding(report, i);
        for (; at < f->offset; at++)
            if (text[at] == '\n')
                line++, line_start = at + 1;
        cJSON *o = cJSON_CreateObject();
        bool ok = o && cJSON_AddStringToObject(o, "file", file) &&
                  cJSON_AddNumberToObject(o, "line", (double)line) &&
                  cJSON_AddNumberToObject(o, "column", (double)(f->offset - line_start + 1)) &&
                  cJSON_AddNumberToObject(o, "offset", (double)f->offset) &&
                  cJSON_AddNumberToObject(o, "length", (double)f->length) &&
                  cJSON_AddStringToObject(o, "detector", f->detector) &&
                  cJSON_AddStringToObject(o, "category", tg_dlp_category_name(f->category)) &&
                  cJSON_AddStringToObject(o, "severity", tg_dlp_severity_name(f->severity)) &&
                  cJSON_AddStringToObject(o, "action", tg_dlp_action_name(f->action)) &&
                  cJSON_AddNumberToObject(o, "confidence",
                                          (double)(int)(f->confidence * 1000 + 0.5) / 1000) &&
                  cJSON_AddStringToObject(o, "preview", f->preview);
        char *json = ok ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!json) {
            rc = -1;
            break;
        }
        puts(json);
        cJSON_free(json);
    }
    free(file);
    return rc;
}

/* Scans one file; CLI_CLEAN, CLI_FOUND or CLI_FAILURE. */
static int scan_one(const tg_dlp_ruleset *rules, const char *path, double min_confidence,
                    bool redact)
{
    size_t len;
    char *text = cli_read_file(path, tg_dlp_text_max(), &len);
    if (!text)
        return CLI_FAILURE;
    const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    tg_dlp_report *report;
    int rc = tg_dlp_scan(&report, rules, text, len, min_confidence);
    if (rc != TG_OK) {
        fprintf(stderr, "tenantguard: %s: %s\n", name, tg_ctx_errmsg(NULL));
        free(text);
        return CLI_FAILURE;
    }
    int result = tg_dlp_report_count(report) ? CLI_FOUND : CLI_CLEAN;
    if (tg_dlp_report_incomplete(report)) {
        /* A rule that could not finish may have found something: fail
         * closed, as a host should. */
        fprintf(stderr, "tenantguard: %s: %zu rule(s) could not finish (a filter's limit, or "
                        "too many findings)\n", name, tg_dlp_report_incomplete(report));
        result = CLI_FOUND;
    }
    if (redact) {
        char *out;
        size_t out_len;
        if (tg_dlp_redact(&out, &out_len, report, text, len) != TG_OK) {
            fprintf(stderr, "tenantguard: %s: %s\n", name, tg_ctx_errmsg(NULL));
            result = CLI_FAILURE;
        } else {
            fwrite(out, 1, out_len, stdout);
            tg_dlp_free(out);
        }
    } else if (print_findings(report, name, text) != 0) {
        fprintf(stderr, "tenantguard: out of memory\n");
        result = CLI_FAILURE;
    }
    tg_dlp_report_free(report);
    free(text);
    return result;
}

static int list_detectors(void)
{
    for (size_t i = 0; i < tg_dlp_detector_count(); i++) {
        tg_dlp_detector d;
        if (tg_dlp_detector_info(&d, i) != TG_OK)
            return CLI_FAILURE;
        printf("{\"id\":\"%s\",\"name\":\"%s\",\"category\":\"%s\",\"severity\":\"%s\","
               "\"confidence\":%.2f,\"action\":\"%s\",\"validator\":%s}\n",
               d.id, d.name, tg_dlp_category_name(d.category),
               tg_dlp_severity_name(d.severity), d.base_confidence,
               tg_dlp_action_name(d.default_action), d.has_validator ? "true" : "false");
    }
    return CLI_CLEAN;
}

static int scan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"min-confidence", required_argument, NULL, 'c'},
        {"filter", required_argument, NULL, 'f'},
        {"blocked-domain", required_argument, NULL, 'd'},
        {"action", required_argument, NULL, 'a'},
        {"no-builtin", no_argument, NULL, 'n'},
        {"redact", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tg_dlp_options opts;
    tg_dlp_options_init(&opts);
    const char **filters = NULL, **domains = NULL;
    tg_dlp_action_rule *actions = NULL;
    double min_confidence = 0.0;
    bool redact = false;
    int result = CLI_USAGE, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c':
            min_confidence = strtod(optarg, &end);
            if (*end || end == optarg || !(min_confidence >= 0 && min_confidence <= 1)) {
                fprintf(stderr, "tenantguard: --min-confidence wants a number in 0..1\n");
                goto done;
            }
            break;
        case 'f':
            if (!push(&filters, &opts.filter_count, optarg))
                goto oom;
            break;
        case 'd':
            if (!push(&domains, &opts.blocked_domain_count, optarg))
                goto oom;
            break;
        case 'a': {
            tg_dlp_action_rule *bigger =
                realloc(actions, (opts.action_count + 1) * sizeof *actions);
            if (!bigger)
                goto oom;
            actions = bigger;
            if (parse_action(&actions[opts.action_count++], optarg) != 0) {
                fprintf(stderr, "tenantguard: --action wants DETECTOR=allow|mask|redact|block\n");
                goto done;
            }
            break;
        }
        case 'n':
            opts.builtin_disabled = 1;
            break;
        case 'r':
            redact = true;
            break;
        case 'h':
            dlp_usage(stdout);
            result = CLI_CLEAN;
            goto done;
        default:
            dlp_usage(stderr);
            goto done;
        }
    }
    opts.filters = filters;
    opts.blocked_domains = domains;
    opts.actions = actions;
    tg_dlp_ruleset *rules;
    int rc = tg_dlp_ruleset_new(&rules, &opts);
    if (rc != TG_OK) {
        fprintf(stderr, "tenantguard: %s\n", tg_ctx_errmsg(NULL));
        result = rc == TG_EINVAL ? CLI_USAGE : CLI_FAILURE;
        goto done;
    }
    result = CLI_CLEAN;
    if (optind == argc) {
        result = scan_one(rules, "-", min_confidence, redact);
    } else {
        for (int i = optind; i < argc; i++) {
            int r = scan_one(rules, argv[i], min_confidence, redact);
            if (r > result)
                result = r;
        }
    }
    tg_dlp_ruleset_free(rules);
    goto done;
oom:
    fprintf(stderr, "tenantguard: out of memory\n");
    result = CLI_FAILURE;
done:
    free(filters);
    free(domains);
    free(actions);
    return result;
}

int cli_dlp(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "scan") == 0)
        return scan(argc, argv);
    if (argc == 1 && strcmp(argv[0], "detectors") == 0)
        return list_detectors();
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        dlp_usage(stdout);
        return CLI_CLEAN;
    }
    dlp_usage(stderr);
    return CLI_USAGE;
}
