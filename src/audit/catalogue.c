/*
 * catalogue.c - the action catalogue and the names of outcomes,
 * severities and compliance tags. Names are part of the export format and
 * never change.
 */
#include <string.h>

#include "audit_impl.h"

#define SOC2 TG_AUDIT_SOC2
#define GDPR TG_AUDIT_GDPR
#define HIPAA TG_AUDIT_HIPAA
#define CCPA TG_AUDIT_CCPA
#define FERPA TG_AUDIT_FERPA
#define PCI TG_AUDIT_PCI_DSS

static const struct action {
    const char *name;
    uint32_t tags; /* the frameworks whose controls ask for this evidence */
} actions[TG_AUDIT_ACTION_COUNT + 1] = {
    [TG_AUDIT_MESSAGE_SENT] = {"message.sent", SOC2 | HIPAA},
    [TG_AUDIT_MESSAGE_BLOCKED] = {"message.blocked", SOC2 | HIPAA | PCI | GDPR},
    [TG_AUDIT_MESSAGE_REDACTED] = {"message.redacted", SOC2 | HIPAA | PCI | GDPR},
    [TG_AUDIT_MESSAGE_DELETED] = {"message.deleted", SOC2 | GDPR | CCPA},
    [TG_AUDIT_RATELIMIT_DENIED] = {"ratelimit.denied", SOC2},
    [TG_AUDIT_ACCESS_CROSS_WORKSPACE_DENIED] = {"access.cross_workspace_denied",
                                                SOC2 | HIPAA | PCI | GDPR | FERPA},
    [TG_AUDIT_ACCESS_DENIED] = {"access.denied", SOC2 | HIPAA | PCI | FERPA},
    [TG_AUDIT_AUTH_SUCCEEDED] = {"auth.succeeded", SOC2 | HIPAA | PCI},
    [TG_AUDIT_AUTH_FAILED] = {"auth.failed", SOC2 | HIPAA | PCI},
    [TG_AUDIT_SESSION_STARTED] = {"session.started", SOC2 | HIPAA},
    [TG_AUDIT_SESSION_ENDED] = {"session.ended", SOC2 | HIPAA},
    [TG_AUDIT_POLICY_CHANGED] = {"policy.changed", SOC2 | HIPAA | PCI},
    [TG_AUDIT_POLICY_REJECTED] = {"policy.rejected", SOC2},
    [TG_AUDIT_LOCKDOWN_STARTED] = {"lockdown.started", SOC2 | HIPAA},
    [TG_AUDIT_LOCKDOWN_ENDED] = {"lockdown.ended", SOC2 | HIPAA},
    [TG_AUDIT_QUARANTINE_STARTED] = {"quarantine.started", SOC2 | HIPAA},
    [TG_AUDIT_QUARANTINE_ENDED] = {"quarantine.ended", SOC2 | HIPAA},
    [TG_AUDIT_KEY_CREATED] = {"key.created", SOC2 | PCI | HIPAA},
    [TG_AUDIT_KEY_ROTATED] = {"key.rotated", SOC2 | PCI | HIPAA},
    [TG_AUDIT_KEY_RETIRED] = {"key.retired", SOC2 | PCI | HIPAA},
    [TG_AUDIT_KEY_SHREDDED] = {"key.shredded", SOC2 | PCI | HIPAA | GDPR | CCPA},
    [TG_AUDIT_DSR_RECEIVED] = {"dsr.received", GDPR | CCPA | FERPA},
    [TG_AUDIT_DSR_COMPLETED] = {"dsr.completed", GDPR | CCPA | FERPA},
    [TG_AUDIT_DSR_REJECTED] = {"dsr.rejected", GDPR | CCPA | FERPA},
    [TG_AUDIT_SUBJECT_ERASED] = {"subject.erased", GDPR | CCPA},
    [TG_AUDIT_AUDIT_EXPORTED] = {"audit.exported", SOC2 | HIPAA | PCI},
    [TG_AUDIT_AUDIT_VERIFIED] = {"audit.verified", SOC2 | HIPAA | PCI},
    [TG_AUDIT_AUDIT_TAMPER_DETECTED] = {"audit.tamper_detected", SOC2 | HIPAA | PCI},
    [TG_AUDIT_RETENTION_PRUNED] = {"retention.pruned", SOC2 | GDPR | HIPAA},
    [TG_AUDIT_MEMBER_ADDED] = {"member.added", SOC2 | HIPAA | FERPA},
    [TG_AUDIT_MEMBER_REMOVED] = {"member.removed", SOC2 | HIPAA | FERPA},
    [TG_AUDIT_ROLE_CHANGED] = {"role.changed", SOC2 | HIPAA | PCI | FERPA},
    [TG_AUDIT_WORKSPACE_CREATED] = {"workspace.created", SOC2},
    [TG_AUDIT_WORKSPACE_DELETED] = {"workspace.deleted", SOC2 | GDPR},
    [TG_AUDIT_CONFIG_CHANGED] = {"config.changed", SOC2 | PCI | HIPAA},
    [TG_AUDIT_DLP_FINDING] = {"dlp.finding", SOC2 | PCI | HIPAA | GDPR},
    [TG_AUDIT_THREAT_DETECTED] = {"threat.detected", SOC2 | HIPAA | PCI},
    [TG_AUDIT_EXPORT_REQUESTED] = {"export.requested", GDPR | CCPA | SOC2},
};

size_t tg_audit_details_max(void) { return TG_AUDIT_DETAILS_MAX; }
size_t tg_audit_hash_bytes(void) { return TG_AUDIT_HASH_BYTES; }
size_t tg_audit_public_key_bytes(void) { return TG_AUDIT_PUBLIC_KEY_BYTES; }

const char *tg_audit_action_name(int action)
{
    return action >= 1 && action <= TG_AUDIT_ACTION_COUNT ? actions[action].name : NULL;
}

int tg_audit_action_from_name(const char *name)
{
    for (int a = 1; name && a <= TG_AUDIT_ACTION_COUNT; a++)
        if (strcmp(actions[a].name, name) == 0)
            return a;
    return 0;
}

uint32_t tg__audit_default_tags(int action)
{
    return action >= 1 && action <= TG_AUDIT_ACTION_COUNT ? actions[action].tags : 0;
}

const char *tg_audit_outcome_name(int outcome)
{
    static const char *const names[] = {"success", "failure", "denied"};
    return outcome >= TG_AUDIT_SUCCESS && outcome <= TG_AUDIT_DENIED ? names[outcome] : NULL;
}

const char *tg_audit_severity_name(int severity)
{
    static const char *const names[] = {"info", "low", "medium", "high", "critical"};
    return severity >= TG_AUDIT_INFO && severity <= TG_AUDIT_CRITICAL ? names[severity] : NULL;
}

const char *tg_audit_tag_name(uint32_t tag)
{
    static const char *const names[] = {"soc2", "gdpr", "hipaa", "ccpa", "ferpa", "pci_dss"};
    for (unsigned i = 0; i < 6; i++)
        if (tag == 1u << i)
            return names[i];
    return NULL;
}

const char *tg_audit_problem_name(int problem)
{
    static const char *const names[] = {"valid",         "bad_hash",  "gap",       "reordered",
                                        "bad_signature", "truncated", "malformed"};
    return problem >= TG_AUDIT_VALID && problem <= TG_AUDIT_MALFORMED ? names[problem] : NULL;
}
