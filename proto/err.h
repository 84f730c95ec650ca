/* kinerja — one error enum for our own failures.
 *
 * Functions return a kj_err (0 on success, negative on failure) and fill their
 * out-parameters only on success. kj_strerror() gives a short English phrase. */
#ifndef KJ_ERR_H
#define KJ_ERR_H

typedef enum kj_err {
    KJ_OK = 0,
    KJ_ERR_NOMEM = -1,   /* allocation failed */
    KJ_ERR_INVALID = -2, /* input does not follow the rules (details in a message) */
    KJ_ERR_DECODE = -3,  /* bytes are not valid msgpack / JSON */
    KJ_ERR_TOO_BIG = -4, /* over a configured or protocol limit */
    KJ_ERR_FULL = -5,    /* the LMDB map (or the disk) is full */
    KJ_ERR_IO = -6,      /* an operating-system or LMDB I/O failure */
    KJ_ERR_NOT_FOUND = -7,
    KJ_ERR_BUSY = -8,     /* a bounded queue is full; try again later */
    KJ_ERR_SHUTDOWN = -9, /* the daemon is stopping */
    KJ_ERR_CONFIG = -10,  /* the configuration is invalid */
    KJ_ERR_AUTH = -11,    /* missing or unknown token */
    KJ_ERR_FORBIDDEN = -12,
    KJ_ERR_SCHEMA = -13,      /* the store was written by an incompatible version */
    KJ_ERR_UNAVAILABLE = -14, /* a service we depend on (the cluster's NATS) is unreachable */
} kj_err;

/* A static, short description of err; never NULL. */
const char *kj_strerror(int err);

#endif
