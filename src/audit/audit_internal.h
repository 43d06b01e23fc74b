/* audit_internal.h - what the context needs from the audit module. */
#ifndef TG_AUDIT_INTERNAL_H
#define TG_AUDIT_INTERNAL_H

#include "../core/core.h"
#include "tenantguard/audit.h"

struct tg_audit;

/* Validates `opts` (NULL: defaults) and sets up the audit state. */
int tg__audit_open(tg_ctx *ctx, const tg_audit_options *opts, struct tg_audit **out);
/* Wipes and frees everything; accepts NULL. */
void tg__audit_close(struct tg_audit *a);

#endif
