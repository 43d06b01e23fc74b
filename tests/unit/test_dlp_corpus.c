/*
 * test_dlp_corpus.c - the labelled corpus under tests/dlp/corpus: every
 * line says which built-in detectors must report on its text (or "-" for
 * none). Prints precision and recall per detector and asserts a floor for
 * each and overall, that every built-in detector has true positives, and
 * that the corpus is large enough to mean something.
 *
 * Run from the repository root (make check-unit does).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#define CORPUS_DIR "tests/dlp/corpus"
#define FLOOR 0.95
#define MIN_LINES 300
#define MIN_POSITIVES 3
#define MAX_IDS 16

typedef struct stats {
    long tp, fp, fn;
} stats;

typedef struct totals {
    stats *per; /* indexed like tg_dlp_detector_info */
    size_t lines, negatives;
} totals;

static long detector_index(const char *id, size_t n)
{
    for (size_t i = 0; i < tg_dlp_detector_count(); i++) {
        tg_dlp_detector d;
        assert_int_equal(tg_dlp_detector_info(&d, i), TG_OK);
        if (strlen(d.id) == n && memcmp(d.id, id, n) == 0)
            return (long)i;
    }
    return -1;
}

/* Undoes the corpus escapes \n, \t and \\ in place; returns the length. */
static size_t unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\')) {
            i++;
            s[o++] = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : '\\';
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

static void check_line(const tg_dlp_ruleset *rules, totals *t, const char *file, long lineno,
                       char *line)
{
    char *tab = strchr(line, '\t');
    if (!tab)
        fail_msg("%s:%ld: no tab between labels and text", file, lineno);
    *tab = '\0';
    char *text = tab + 1;
    size_t len = unescape(text);

    long expected[MAX_IDS];
    size_t n_expected = 0;
    if (strcmp(line, "-") != 0) {
        for (char *id = line; *id;) {
            size_t n = strcspn(id, ",");
            long k = detector_index(id, n);
            if (k < 0)
                fail_msg("%s:%ld: unknown detector \"%.*s\"", file, lineno, (int)n, id);
            assert_true(n_expected < MAX_IDS);
            expected[n_expected++] = k;
            id += n + (id[n] == ',');
        }
    } else {
        t->negatives++;
    }

    tg_dlp_report *report;
    assert_int_equal(tg_dlp_scan(&report, rules, text, len, 0.0), TG_OK);
    size_t n_found = tg_dlp_report_count(report);
    bool *reported = calloc(tg_dlp_detector_count(), sizeof *reported);
    assert_non_null(reported);
    for (size_t i = 0; i < n_found; i++) {
        const tg_dlp_finding *f = tg_dlp_report_finding(report, i);
        long k = detector_index(f->detector, strlen(f->detector));
        assert_true(k >= 0);
        reported[k] = true;
    }
    for (size_t e = 0; e < n_expected; e++) {
        if (reported[expected[e]]) {
            t->per[expected[e]].tp++;
            reported[expected[e]] = false;
        } else {
            t->per[expected[e]].fn++;
            print_message("  missed   %s:%ld %s\n", file, lineno, text);
        }
    }
    for (size_t k = 0; k < tg_dlp_detector_count(); k++) {
        if (reported[k]) {
            tg_dlp_detector d;
            tg_dlp_detector_info(&d, k);
            t->per[k].fp++;
            print_message("  spurious %s:%ld %s: %s\n", file, lineno, d.id, text);
        }
    }
    free(reported);
    tg_dlp_report_free(report);
    t->lines++;
}

static void read_file(const tg_dlp_ruleset *rules, totals *t, const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        check_line(rules, t, path, lineno, line);
    }
    free(line);
    fclose(f);
}

static double ratio(long a, long b)
{
    return b == 0 ? 1.0 : (double)a / (double)b;
}

static void test_corpus(void **state)
{
    (void)state;
    tg_dlp_ruleset *rules;
    assert_int_equal(tg_dlp_ruleset_new(&rules, NULL), TG_OK);
    totals t = {calloc(tg_dlp_detector_count(), sizeof(stats)), 0, 0};
    assert_non_null(t.per);

    DIR *dir = opendir(CORPUS_DIR);
    if (!dir)
        fail_msg("cannot open %s: run the test from the repository root", CORPUS_DIR);
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tsv") == 0) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, e->d_name);
            read_file(rules, &t, path);
        }
    }
    closedir(dir);

    stats all = {0, 0, 0};
    bool ok = true;
    print_message("%-28s %5s %5s %5s %9s %7s\n", "detector", "tp", "fp", "fn", "precision",
                  "recall");
    for (size_t k = 0; k < tg_dlp_detector_count(); k++) {
        tg_dlp_detector d;
        tg_dlp_detector_info(&d, k);
        stats s = t.per[k];
        double p = ratio(s.tp, s.tp + s.fp), r = ratio(s.tp, s.tp + s.fn);
        bool bad = p < FLOOR || r < FLOOR || s.tp < MIN_POSITIVES;
        print_message("%-28s %5ld %5ld %5ld %9.3f %7.3f%s\n", d.id, s.tp, s.fp, s.fn, p, r,
                      bad ? "  <- below the floor" : "");
        ok &= !bad;
        all.tp += s.tp, all.fp += s.fp, all.fn += s.fn;
    }
    double p = ratio(all.tp, all.tp + all.fp), r = ratio(all.tp, all.tp + all.fn);
    print_message("%-28s %5ld %5ld %5ld %9.3f %7.3f\n", "all", all.tp, all.fp, all.fn, p, r);
    print_message("%zu lines, %zu of them hard negatives\n", t.lines, t.negatives);
    free(t.per);
    tg_dlp_ruleset_free(rules);

    assert_true(t.lines >= MIN_LINES);
    assert_true(p >= FLOOR && r >= FLOOR);
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
