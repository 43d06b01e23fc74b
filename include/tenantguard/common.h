/*
 * tenantguard/common.h - version, export macro, result codes.
 *
 * Every other tenantguard header includes this one. Nothing here allocates
 * or needs a context.
 */
#ifndef TENANTGUARD_COMMON_H
#define TENANTGUARD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TG_API marks the exported functions. The shared library is built with
 * -fvisibility=hidden, so only what carries TG_API is visible to users. */
#if defined(_WIN32)
#  define TG_API
#elif defined(__GNUC__) && defined(TG_BUILDING_LIBRARY)
#  define TG_API __attribute__((visibility("default")))
#else
#  define TG_API
#endif

/* Version of these headers. The Makefile reads the numbers from here. */
#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0
#define TG_VERSION_STRING "0.1.0"
#define TG_VERSION_NUMBER \
    (TG_VERSION_MAJOR * 10000 + TG_VERSION_MINOR * 100 + TG_VERSION_PATCH)

/* Version of the library actually linked, which may be newer than the
 * headers a program was compiled with. */
TG_API const char *tg_version_string(void);
TG_API int tg_version_number(void);

/*
 * Result codes. TG_OK is 0; every error is negative and keeps its value
 * forever once released. An outcome (a blocked message, a denied rate
 * check) is not an error: it is a TG_OK call that returns a verdict.
 */
enum {
    TG_OK = 0,
    TG_EINVAL = -1,        /* an argument is NULL, empty, too long or malformed */
    TG_ENOMEM = -2,        /* an allocation failed; nothing was changed */
    TG_ESTORE = -3,        /* the store failed (I/O, corruption, busy too long) */
    TG_ENOTFOUND = -4,     /* no such key, workspace, subject or version */
    TG_EEXISTS = -5,       /* insert-if-absent found the key already present */
    TG_EVERSION = -6,      /* a struct or format version this build does not know */
    TG_EFORMAT = -7,       /* data is truncated or not in the expected format */
    TG_EAUTH = -8,         /* authentication failed: data was changed or forged */
    TG_EWORKSPACE = -9,    /* data belongs to another workspace */
    TG_EKEYVERSION = -10,  /* the key version named does not exist */
    TG_ERETIRED = -11,     /* the key version was retired; its data is gone */
    TG_ESHREDDED = -12,    /* the key was destroyed (crypto-shredded) */
    TG_EPERM = -13,        /* a file has unsafe permissions or cannot be used */
    TG_ERANGE = -14,       /* an output buffer is too small or a value too big */
    TG_EKMS = -15,         /* the key service failed to wrap or unwrap */
    TG_ECRYPTO = -16,      /* libsodium failed to initialise */
    TG_ECONFORMANCE = -17, /* a store failed the conformance suite */
    TG_ECALLBACK = -18,    /* a host callback returned an invalid result */
    TG_EINTERNAL = -19     /* a bug in tenantguard; please report it */
};

/* Short, static, English description of a result code ("invalid argument").
 * Never NULL; unknown codes give "unknown error". Thread-safe. */
TG_API const char *tg_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* TENANTGUARD_COMMON_H */
