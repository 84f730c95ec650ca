#include "err.h"

const char *kj_strerror(int err)
{
    switch ((kj_err)err) {
    case KJ_OK: return "success";
    case KJ_ERR_NOMEM: return "out of memory";
    case KJ_ERR_INVALID: return "invalid input";
    case KJ_ERR_DECODE: return "cannot decode";
    case KJ_ERR_TOO_BIG: return "over the limit";
    case KJ_ERR_FULL: return "store full";
    case KJ_ERR_IO: return "I/O error";
    case KJ_ERR_NOT_FOUND: return "not found";
    case KJ_ERR_BUSY: return "busy";
    case KJ_ERR_SHUTDOWN: return "shutting down";
    case KJ_ERR_CONFIG: return "invalid configuration";
    case KJ_ERR_AUTH: return "missing or unknown token";
    case KJ_ERR_FORBIDDEN: return "not allowed";
    case KJ_ERR_SCHEMA: return "incompatible store schema";
    case KJ_ERR_UNAVAILABLE: return "cluster unavailable";
    }
    return "unknown error";
}
