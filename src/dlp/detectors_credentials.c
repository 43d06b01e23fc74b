/*
 * detectors_credentials.c - the credential family: provider tokens, PEM
 * private keys, JWTs, passwords in URLs and generic "secret = value"
 * assignments.
 *
 * Provider tokens are found by their public prefixes (the prefilter
 * anchors), so prose costs nothing; their validator only rejects made-up
 * tokens. Spans are exact tokens: every pattern refuses a neighbouring
 * word character or '-', so a token inside a longer identifier is not one.
 * Masks keep the public prefix and nothing of the random part.
 */
#include "detector.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "validate_credentials.h"

/* Not preceded / followed by a word character or '-'. */
#define NB "(?<![\\w-])"
#define NA "(?![\\w-])"

/* GitLab token kinds: personal, deploy, runner, pipeline trigger, feed,
 * incoming mail, agent, OAuth app, CI job, service account, feature flag */
#define GITLAB_KINDS "(?:pat|dt|rt|ptt|ft|imt|agent|oas|cbt|soat|ffct)"

/* Values generic_secret leaves to a more specific detector (matched case-
 * sensitively inside the caseless pattern), so one secret is one finding. */
#define KNOWN_PREFIXES                                                                     \
    "AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|gl" GITLAB_KINDS "-|xox[abeoprs][.-]|xapp-" \
    "|[rs]k_(?:live|test)_|sk-(?:proj|svcacct|admin|None|ant)-|sk-[A-Za-z0-9]{20}T3BlbkFJ"  \
    "|AIza|npm_|pypi-|SG\\.|SK[0-9a-f]{32}|AC[0-9a-f]{32}|do[opr]_v1_|shp(?:at|ss|ca|pa)_" \
    "|key-[0-9a-f]{32}|eyJ|-----|[A-Za-z][A-Za-z0-9+.-]*://"

/* The characters a generic value is made of ('=' only as base64 padding at
 * its end, so "secret: dbSecret=..." is not read as the value
 * "dbSecret=..."), and those it may not end with (sentence punctuation
 * after an unquoted value). */
#define VALUE_CHAR "[^\\s\"'`<>,;=]"
#define VALUE_END "[\\s\"'`<>,;.)\\]}:]"

/* generic_secret: the match starts at the separator (':' or '=', also of
 * ":=" and "=>"), rare in prose, and looks back for a name that ends in
 * one of the words - DB_PASSWORD, client_secret, "apiKey", dbPassword -
 * then maybe a quote and up to two blanks. AWS key names are left to
 * aws_secret_access_key. A lookbehind branch must have a fixed length,
 * hence one branch per word and form; GENERIC_GATE first checks the
 * word's last two letters, so most separators cost three branches, not
 * sixty (a pattern starting at the words ran at 5-10 ms per MiB). */
#define GENERIC_BOUND "(?:(?<![a-z0-9])|(?-i:(?<=[a-z])(?=[A-Z])))"
/* word w, after GENERIC_BOUND and the extra lookbehind x, in every form */
#define GENERIC_WORD(x, w)                                                                     \
    GENERIC_BOUND x w "[:=]|" GENERIC_BOUND x w "[\"'][:=]|" GENERIC_BOUND x w "[ \\t][:=]|"    \
    GENERIC_BOUND x w "[\"'][ \\t][:=]|" GENERIC_BOUND x w "[ \\t][ \\t][:=]"
#define GENERIC_TAIL "(?:rd|wd|se|ss|et|en|ey)"
#define GENERIC_GATE                                                                           \
    "(?<=" GENERIC_TAIL "[:=]|" GENERIC_TAIL "[\"' \\t][:=]|" GENERIC_TAIL "[\"' \\t][ \\t][:=])"
#define GENERIC_NAME                                                                           \
    GENERIC_GATE "(?<=" GENERIC_WORD("", "password") "|" GENERIC_WORD("", "passwd") "|"        \
    GENERIC_WORD("", "passphrase") "|" GENERIC_WORD("", "pass") "|" GENERIC_WORD("", "pwd") "|" \
    GENERIC_WORD("(?<!aws[_-])", "secret") "|" GENERIC_WORD("", "token") "|"                  \
    GENERIC_WORD("(?<!access[_-]|access|aws[_-]secret[_-])", "key") "|"                        \
    GENERIC_WORD("", "apikey") "|" GENERIC_WORD("", "secretkey") "|"                           \
    GENERIC_WORD("", "accesstoken") "|" GENERIC_WORD("", "authtoken") ")"

/* A provider token found by its prefix: HIGH, redacted, the validator
 * rejects made-up ones, the preview keeps `prefix_` bytes (the public part). */
#define TOKEN(id_, name_, base_, pattern_, anchors_, context_, prefix_)                       \
    .id = id_, .name = name_, .category = TG_DLP_CREDENTIAL, .severity = TG_DLP_HIGH,        \
    .base_confidence = base_, .default_action = TG_DLP_REDACT, .pattern = pattern_,          \
    .anchors = anchors_, .validate = tg__dlp_valid_cred_token, .context = context_,          \
    .mask = TG__MASK_PREFIX, .mask_prefix = prefix_

/* ghp_, gho_, ghu_, ghs_, ghr_ and 36 base62 characters */
#define GITHUB(id_, name_, prefix_)                                                          \
    {TOKEN(id_, name_, 0.85, NB "(" prefix_ "[A-Za-z0-9]{36})" NA, prefix_, "github|token|git", 4)}

const tg__dlp_detector_def tg__dlp_detectors_credentials[] = {
    /* [A-Z0-9], not base32 only: AWS's own examples (AKIAI44QH8DHBEXAMPLE)
     * hold 0, 1, 8 and 9. */
    {TOKEN("aws_access_key_id", "AWS access key ID", 0.8,
           "(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Za-z0-9])",
           "AKIA|ASIA|ABIA|ACCA", "aws|access|key|iam", 4)},
    {.id = "aws_secret_access_key",
     .name = "AWS secret access key",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_CRITICAL,
     .base_confidence = 0.6,
     .default_action = TG_DLP_REDACT,
     /* 40 base64 characters are common (digests, ids): only after a word
      * that names an AWS key, or a key id, on its line, is this one. Starting at the
      * word keeps the pattern cheap: a 40-character class tried at every
      * position of prose costs 5-10 ms per MiB. */
     .pattern = "(?:(?<![A-Za-z])|(?<=[a-z])(?=[A-Z]))"
                "(?:(?i:aws|access[_ -]?key)|A[KS]IA[A-Z0-9]{16})[^\\n]{0,45}?"
                "(?<![A-Za-z0-9/+_-])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=_-])",
     .anchors = "aws|accesskey|access_key|access key|access-key|akia|asia",
     .anchors_caseless = true,
     .validate = tg__dlp_valid_aws_secret,
     .context = "aws|accesskey|access_key|access key|access-key|akia|asia",
     .context_required = true,
     .mask = TG__MASK_ALL},
    GITHUB("github_pat", "GitHub personal access token", "ghp_"),
    GITHUB("github_oauth_token", "GitHub OAuth access token", "gho_"),
    GITHUB("github_user_token", "GitHub user-to-server token", "ghu_"),
    GITHUB("github_server_token", "GitHub server-to-server token", "ghs_"),
    GITHUB("github_refresh_token", "GitHub refresh token", "ghr_"),
    {TOKEN("github_fine_grained_pat", "GitHub fine-grained personal access token", 0.9,
           NB "(github_pat_[A-Za-z0-9]{20,30}_[A-Za-z0-9]{50,70})" NA,
           "github_pat_", "github|token|pat", 11)},
    /* routable tokens add dot-separated parts */
    {TOKEN("gitlab_token", "GitLab token", 0.85,
           NB "(gl" GITLAB_KINDS "-[0-9A-Za-z_-]{20,200}(?:\\.[0-9A-Za-z_-]+){0,3})" NA,
           "glpat-|gldt-|glrt-|glptt-|glft-|glimt-|glagent-|gloas-|glcbt-|glsoat-|glffct-",
           "gitlab|token", 5)},
    /* bot, user, app, refresh, legacy and rotating (xoxe.) tokens start
     * with a number after the prefix; app-level tokens are xapp-1-... */
    {TOKEN("slack_token", "Slack token", 0.85,
           "(?<![\\w.-])((?:xoxe\\.)?xox[abeoprs]-\\d[0-9A-Za-z-]{18,250}[0-9A-Za-z]"
           "|xapp-\\d-[0-9A-Za-z-]{20,250}[0-9A-Za-z])" NA,
           "xoxb-|xoxp-|xoxa-|xoxr-|xoxs-|xoxo-|xoxe-|xoxe.|xapp-", "slack|token|bot", 5)},
    {TOKEN("slack_webhook", "Slack incoming webhook URL", 0.9,
           "(https://hooks\\.slack\\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}/"
           "[A-Z0-9]{6,14}/[A-Za-z0-9]{20,40})(?![A-Za-z0-9])",
           "hooks.slack.com", "slack|webhook|hook", 24)},
    {TOKEN("stripe_secret_key", "Stripe secret or restricted key", 0.9,
           NB "([rs]k_(?:live|test)_[0-9A-Za-z]{24,247})" NA,
           "sk_live_|sk_test_|rk_live_|rk_test_", "stripe|key|secret", 8)},
    {TOKEN("google_api_key", "Google API key", 0.85,
           NB "(AIza[0-9A-Za-z_-]{35})" NA,
           "AIza", "google|gcp|firebase|maps|key|api", 4)},
    /* project, service account and admin keys; legacy keys carry
     * "T3BlbkFJ" (base64 of "OpenAI") in the middle. Anthropic's sk-ant-
     * is neither. */
    {TOKEN("openai_api_key", "OpenAI API key", 0.85,
           NB "(sk-(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,250}"
              "|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))" NA,
           "sk-", "openai|gpt|chatgpt|key|api", 3)},
    {TOKEN("anthropic_api_key", "Anthropic API key", 0.9,
           NB "(sk-ant-[A-Za-z0-9_-]{32,250})" NA,
           "sk-ant-", "anthropic|claude|key|api", 7)},
    {TOKEN("npm_token", "npm access token", 0.85,
           NB "(npm_[A-Za-z0-9]{36})" NA,
           "npm_", "npm|token|registry|npmrc", 4)},
    /* a macaroon whose first bytes name pypi.org or test.pypi.org */
    {TOKEN("pypi_token", "PyPI API token", 0.95,
           NB "(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,2000})" NA,
           "pypi-AgE", "pypi|twine|token|pip", 5)},
    {TOKEN("sendgrid_api_key", "SendGrid API key", 0.9,
           "(?<![\\w.-])(SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43})" NA,
           "SG.", "sendgrid|key|api|mail", 3)},
    {TOKEN("twilio_api_key", "Twilio API key SID", 0.75,
           "(?<![A-Za-z0-9])(SK[0-9a-f]{32})(?![A-Za-z0-9])",
           "SK", "twilio|key|sid|api", 2)},
    {.id = "twilio_account_sid",
     .name = "Twilio account SID",
     .category = TG_DLP_CREDENTIAL,
     /* an identifier, not a secret: reported, left in place */
     .severity = TG_DLP_LOW,
     .base_confidence = 0.7,
     .default_action = TG_DLP_ALLOW,
     .pattern = "(?<![A-Za-z0-9])(AC[0-9a-f]{32})(?![A-Za-z0-9])",
     .anchors = "AC",
     .validate = tg__dlp_valid_cred_token,
     .context = "twilio|account|sid",
     .mask = TG__MASK_PREFIX,
     .mask_prefix = 2},
    {.id = "private_key",
     .name = "PEM private key",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_CRITICAL,
     .base_confidence = 0.95,
     .default_action = TG_DLP_BLOCK,
     /* the whole block up to its END line; for a key cut short (no END
      * line), the BEGIN line and every following line of base64 and PEM
      * headers, so redaction leaves none of the key material */
     .pattern = "-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"
              "(?:[\\s\\S]{0,65535}?-----END (?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?"
              "PRIVATE KEY(?: BLOCK)?-----"
              "|(?:[ \\t]*\\r?\\n[A-Za-z0-9+/=:, -]{1,128})*)",
     .anchors = "-----BEGIN",
     .validate = tg__dlp_valid_private_key,
     .mask = TG__MASK_ALL},
    {.id = "jwt",
     .name = "JSON Web Token",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_HIGH,
     .base_confidence = 0.7,
     .default_action = TG_DLP_REDACT,
     .pattern = NB "(eyJ[A-Za-z0-9_-]{8,4096}\\.[A-Za-z0-9_-]{8,16384}\\.[A-Za-z0-9_-]{0,4096})" NA,
     .anchors = "eyJ",
     .validate = tg__dlp_valid_jwt,
     .context = "jwt|token|bearer|authorization|session",
     .mask = TG__MASK_ALL},
    {.id = "generic_secret",
     .name = "Secret assigned to a key, password or token name",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_HIGH,
     .base_confidence = 0.5,
     .default_action = TG_DLP_REDACT,
     /* NAME SEP VALUE: see GENERIC_NAME. VALUE may be quoted and is not
      * a provider token another detector reports. */
     .pattern = "[:=]" GENERIC_NAME "[=>]?[ \\t]*[\"'`]?(?!(?-i:" KNOWN_PREFIXES "))"
                "(" VALUE_CHAR "{7,199}[^\\s\"'`<>,;=.)\\]}:]={0,2})(?=" VALUE_END "|$)",
     .pcre2_flags = PCRE2_CASELESS,
     .anchors = "pass|pwd|secret|token|key",
     .anchors_caseless = true,
     .validate = tg__dlp_valid_generic_secret,
     .mask = TG__MASK_ALL},
    {.id = "url_credentials",
     .name = "Password in a URL",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_HIGH,
     .base_confidence = 0.8,
     .default_action = TG_DLP_REDACT,
     /* scheme://user:password@host; the span is the password alone, so
      * scheme, user and host stay readable after redaction */
     .pattern = "(?<=[A-Za-z0-9])://[^\\s:/?#@\"'<>]{0,64}:([^\\s:/?#@\"'<>]{1,128})@"
              "(?=[A-Za-z0-9\\[])",
     .anchors = "://",
     .validate = tg__dlp_valid_url_password,
     .context = "password|database|db|url|dsn|connect",
     .mask = TG__MASK_ALL},
    {.id = "discord_webhook",
     .name = "Discord webhook URL",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_HIGH,
     .base_confidence = 0.9,
     .default_action = TG_DLP_REDACT,
     .pattern = "(https://(?:(?:ptb|canary)\\.)?discord(?:app)?\\.com/api/webhooks/\\d{17,20}/"
              "[A-Za-z0-9_-]{60,80})" NA,
     .anchors = "/api/webhooks/",
     .validate = tg__dlp_valid_cred_token,
     .context = "discord|webhook|hook",
     .mask = TG__MASK_ALL},
    {TOKEN("digitalocean_token", "DigitalOcean token", 0.9,
           NB "(do[opr]_v1_[a-f0-9]{64})" NA,
           "dop_v1_|doo_v1_|dor_v1_", "digitalocean|doctl|token", 7)},
    {TOKEN("shopify_token", "Shopify access token or shared secret", 0.9,
           NB "(shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32})" NA,
           "shpat_|shpss_|shpca_|shppa_", "shopify|token|secret|store", 6)},
    /* "key-" and an MD5-sized hex string also name cache entries: only
     * with Mailgun or API words near it. */
    {TOKEN("mailgun_api_key", "Mailgun API key", 0.6,
           NB "(key-[0-9a-f]{32})" NA,
           "key-", "mailgun|api", 4),
     .context_required = true},
    {.id = "azure_storage_key",
     .name = "Azure storage account key",
     .category = TG_DLP_CREDENTIAL,
     .severity = TG_DLP_CRITICAL,
     .base_confidence = 0.9,
     .default_action = TG_DLP_REDACT,
     .pattern = "AccountKey=([A-Za-z0-9+/]{86}==)(?![A-Za-z0-9+/=])",
     .anchors = "AccountKey=",
     .validate = tg__dlp_valid_azure_key,
     .context = "azure|storage|blob|account",
     .mask = TG__MASK_ALL},
};

const size_t tg__dlp_detectors_credentials_count =
    sizeof tg__dlp_detectors_credentials / sizeof tg__dlp_detectors_credentials[0];
