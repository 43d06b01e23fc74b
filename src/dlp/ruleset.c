/*
 * ruleset.c - compiling a ruleset from options, and the descriptions of
 * the built-in detectors, categories and actions.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "dlp_impl.h"

size_t tg_dlp_text_max(void) { return TG_DLP_TEXT_MAX; }
size_t tg_dlp_filters_max(void) { return TG_DLP_FILTERS_MAX; }
size_t tg_dlp_domains_max(void) { return TG_DLP_DOMAINS_MAX; }
size_t tg_dlp_findings_max(void) { return TG_DLP_FINDINGS_MAX; }

const char *tg_dlp_category_name(int category)
{
    static const char *const names[] = {"pii", "financial", "credential", "network", "custom"};
    return category >= 0 && category <= TG_DLP_CUSTOM ? names[category] : "unknown";
}

const char *tg_dlp_action_name(int action)
{
    static const char *const names[] = {"allow", "mask", "redact", "block"};
    return action >= TG_DLP_ALLOW && action <= TG_DLP_BLOCK ? names[action] : "unknown";
}

const char *tg_dlp_severity_name(int severity)
{
    static const char *const names[] = {"low", "medium", "high", "critical"};
    return severity >= TG_DLP_LOW && severity <= TG_DLP_CRITICAL ? names[severity - 1]
                                                                 : "unknown";
}

size_t tg_dlp_detector_count(void)
{
    return tg__dlp_detector_total();
}

int tg_dlp_detector_info(tg_dlp_detector *out, size_t index)
{
    if (!out)
        return tg__error(TG_EINVAL, "dlp: NULL out");
    const tg__dlp_detector_def *def = tg__dlp_detector_at(index);
    if (!def)
        return tg__error(TG_ERANGE, "dlp: detector index %zu; there are %zu", index,
                         tg__dlp_detector_total());
    out->id = def->id;
    out->name = def->name;
    out->category = def->category;
    out->severity = def->severity;
    out->base_confidence = def->base_confidence;
    out->default_action = def->default_action;
    out->has_validator = def->validate != NULL;
    return TG_OK;
}

void tg_dlp_options_init(tg_dlp_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->version = TG_DLP_OPTIONS_VERSION;
    opts->struct_size = sizeof *opts;
}

void tg_dlp_ruleset_free(tg_dlp_ruleset *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->builtin_count; i++)
        pcre2_code_free(rules->builtins[i].code);
    free(rules->builtins);
    tg__dlp_prefilter_free(&rules->prefilter);
    for (size_t i = 0; i < rules->filter_count; i++)
        pcre2_code_free(rules->filters[i].code);
    free(rules->filters);
    free(rules->order);
    tg__dlp_domains_free(&rules->domains);
    free(rules);
}

static int compile_builtins(tg_dlp_ruleset *rules, pcre2_compile_context *cc)
{
    size_t n = tg__dlp_detector_total();
    rules->builtins = tg__dlp_calloc(n ? n : 1, sizeof *rules->builtins);
    if (!rules->builtins)
        return tg__error(TG_ENOMEM, "dlp: out of memory for detectors");
    for (size_t i = 0; i < n; i++) {
        const tg__dlp_detector_def *def = tg__dlp_detector_at(i);
        int err;
        PCRE2_SIZE at;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)def->pattern, PCRE2_ZERO_TERMINATED,
                                         TG__DLP_PCRE2_OPTIONS | def->pcre2_flags, &err, &at,
                                         cc);
        if (!code) {
            if (err == PCRE2_ERROR_HEAP_FAILED || err == PCRE2_ERROR_NOMEMORY)
                return tg__error(TG_ENOMEM, "dlp: out of memory compiling %s", def->id);
            return tg__error(TG_EINTERNAL, "dlp: built-in detector %s does not compile "
                                           "(PCRE2 error %d at offset %zu)", def->id, err,
                             (size_t)at);
        }
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        rules->builtins[i] = (tg__dlp_builtin){def, code, def->default_action};
        rules->builtin_count = i + 1;
    }
    if (!tg__dlp_prefilter_build(&rules->prefilter, rules->builtins, rules->builtin_count))
        return tg__error(TG_ENOMEM, "dlp: out of memory for the prefilter");
    /* The order a scan runs them in: most severe first, then as listed. */
    rules->order = tg__dlp_calloc(n ? n : 1, sizeof *rules->order);
    if (!rules->order)
        return tg__error(TG_ENOMEM, "dlp: out of memory for detectors");
    size_t k = 0;
    for (int sev = TG_DLP_CRITICAL; sev >= TG_DLP_LOW; sev--)
        for (size_t i = 0; i < n; i++)
            if (rules->builtins[i].def->severity == sev)
                rules->order[k++] = i;
    rules->min_digits = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        const tg__dlp_detector_def *def = rules->builtins[i].def;
        if (!(def->anchors && *def->anchors) && def->min_digits &&
            def->min_digits < rules->min_digits)
            rules->min_digits = def->min_digits;
    }
    return TG_OK;
}

/* Sets the action a rule names; "filter" alone means every filter. */
static int apply_action(tg_dlp_ruleset *rules, size_t index, const tg_dlp_action_rule *rule)
{
    if (!rule->detector || !*rule->detector)
        return tg__error(TG_EINVAL, "dlp: actions[%zu]: no detector named", index);
    if (rule->action < TG_DLP_ALLOW || rule->action > TG_DLP_BLOCK)
        return tg__error(TG_EINVAL, "dlp: actions[%zu]: unknown action %d", index, rule->action);
    const char *id = rule->detector;
    if (strcmp(id, "blocked_domain") == 0) {
        rules->domain_action = rule->action;
        return TG_OK;
    }
    if (strcmp(id, "filter") == 0) {
        for (size_t f = 0; f < rules->filter_count; f++)
            rules->filters[f].action = rule->action;
        return TG_OK;
    }
    if (strncmp(id, "filter:", 7) == 0) {
        for (size_t f = 0; f < rules->filter_count; f++)
            if (strcmp(rules->filters[f].name, id) == 0) {
                rules->filters[f].action = rule->action;
                return TG_OK;
            }
        return tg__error(TG_EINVAL, "dlp: actions[%zu]: no content filter \"%.32s\"", index, id);
    }
    for (size_t i = 0; i < rules->builtin_count; i++)
        if (strcmp(rules->builtins[i].def->id, id) == 0) {
            rules->builtins[i].action = rule->action;
            return TG_OK;
        }
    /* With the built-ins disabled, an action for one of them is moot. */
    for (size_t i = 0; rules->builtin_count == 0 && i < tg__dlp_detector_total(); i++)
        if (strcmp(tg__dlp_detector_at(i)->id, id) == 0)
            return TG_OK;
    return tg__error(TG_EINVAL, "dlp: actions[%zu]: unknown detector \"%.64s\"", index, id);
}

static int build(tg_dlp_ruleset *rules, const tg_dlp_options *opts)
{
    pcre2_general_context *general = tg__dlp_pcre2_general();
    pcre2_compile_context *cc = general ? pcre2_compile_context_create(general) : NULL;
    if (!cc)
        return tg__error(TG_ENOMEM, "dlp: out of memory for PCRE2");
    int rc = opts->builtin_disabled ? TG_OK : compile_builtins(rules, cc);
    if (rc == TG_OK)
        rc = tg__dlp_compile_filters(rules, opts, cc);
    pcre2_compile_context_free(cc);
    if (rc != TG_OK)
        return rc;
    if (opts->blocked_domain_count > TG_DLP_DOMAINS_MAX)
        return tg__error(TG_EINVAL, "dlp: %zu blocked domains; at most %d",
                         opts->blocked_domain_count, TG_DLP_DOMAINS_MAX);
    if (opts->blocked_domain_count && !opts->blocked_domains)
        return tg__error(TG_EINVAL, "dlp: blocked_domain_count is %zu but blocked_domains is NULL",
                         opts->blocked_domain_count);
    rc = tg__dlp_domains_build(&rules->domains, opts->blocked_domains, opts->blocked_domain_count);
    if (rc != TG_OK)
        return rc;
    rules->domain_action = TG_DLP_BLOCK;
    if (opts->action_count && !opts->actions)
        return tg__error(TG_EINVAL, "dlp: action_count is %zu but actions is NULL",
                         opts->action_count);
    for (size_t i = 0; i < opts->action_count; i++)
        if ((rc = apply_action(rules, i, &opts->actions[i])) != TG_OK)
            return rc;
    return TG_OK;
}

int tg_dlp_ruleset_new(tg_dlp_ruleset **out, const tg_dlp_options *opts)
{
    if (!out)
        return tg__error(TG_EINVAL, "dlp: NULL out");
    *out = NULL;
    tg_dlp_options defaults;
    if (!opts) {
        tg_dlp_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->version != TG_DLP_OPTIONS_VERSION || opts->struct_size < sizeof *opts)
        return tg__error(TG_EVERSION, "dlp: options version %u size %u; this build knows "
                                      "version %d size %zu (use tg_dlp_options_init)",
                         opts->version, opts->struct_size, TG_DLP_OPTIONS_VERSION, sizeof *opts);
    tg_dlp_ruleset *rules = tg__dlp_calloc(1, sizeof *rules);
    if (!rules)
        return tg__error(TG_ENOMEM, "dlp: out of memory for a ruleset");
    int rc = build(rules, opts);
    if (rc != TG_OK) {
        tg_dlp_ruleset_free(rules);
        return rc;
    }
    *out = rules;
    return TG_OK;
}
