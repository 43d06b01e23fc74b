/* error.c - result code names and the per-thread error message. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

/* Long enough for a path plus a database message; longer text is cut. */
#define ERRMSG_MAX 512

static _Thread_local char thread_errmsg[ERRMSG_MAX];

int tg__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_errmsg, sizeof thread_errmsg, fmt, ap);
    va_end(ap);
    return code;
}

const char *tg_ctx_errmsg(const tg_ctx *ctx)
{
    (void)ctx; /* the message is per thread; ctx is for future per-context detail */
    return thread_errmsg;
}

const char *tg_strerror(int code)
{
    switch (code) {
    case TG_OK: return "success";
    case TG_EINVAL: return "invalid argument";
    case TG_ENOMEM: return "out of memory";
    case TG_ESTORE: return "store failure";
    case TG_ENOTFOUND: return "not found";
    case TG_EEXISTS: return "already exists";
    case TG_EVERSION: return "unsupported version";
    case TG_EFORMAT: return "malformed or truncated data";
    case TG_EAUTH: return "authentication failed";
    case TG_EWORKSPACE: return "belongs to another workspace";
    case TG_EKEYVERSION: return "unknown key version";
    case TG_ERETIRED: return "key version retired";
    case TG_ESHREDDED: return "key destroyed (crypto-shredded)";
    case TG_EPERM: return "unsafe or unusable file";
    case TG_ERANGE: return "buffer too small or value out of range";
    case TG_EKMS: return "key service failure";
    case TG_ECRYPTO: return "cryptography library failure";
    case TG_ECONFORMANCE: return "store failed conformance";
    case TG_ECALLBACK: return "host callback misbehaved";
    case TG_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}
