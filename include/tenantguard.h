/*
 * tenantguard.h - umbrella header: includes every public module header.
 * See README.md and docs/ for the overview; each header documents its
 * functions (what they do, ownership, errors, thread safety).
 */
#ifndef TENANTGUARD_H
#define TENANTGUARD_H

#include "tenantguard/common.h"
#include "tenantguard/store.h"
#include "tenantguard/ctx.h"
#include "tenantguard/keyring.h"
#include "tenantguard/limiter.h"
#include "tenantguard/dlp.h"
#include "tenantguard/audit.h"

#endif /* TENANTGUARD_H */
