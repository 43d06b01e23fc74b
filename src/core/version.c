/* version.c - the version of the linked library. */
#include "tenantguard/common.h"

const char *tg_version_string(void) { return TG_VERSION_STRING; }
int tg_version_number(void) { return TG_VERSION_NUMBER; }
