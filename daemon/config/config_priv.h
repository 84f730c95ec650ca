/* kinerjad — internal to daemon/config*.c: the state of one load of the
 * configuration (its errors and the index of lines), the raw strings cyaml
 * fills, the strict setters that every part of the loader uses, and the
 * loaders of the parts with a structure of their own. A load runs on one
 * thread (the main thread at start, the reload at SIGHUP) and shares nothing
 * with another load.
 *
 * Every setter reads the raw string of key (or, when cyaml gave none, the
 * index's: a quoted "" or "null"), leaves *out alone when there is none (the
 * default stays), and on a bad value reports "FILE:LINE: KEY: reason" through
 * kj_cfg_fail and leaves *out alone too. */
#ifndef KJ_CONFIG_PRIV_H
#define KJ_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "config_lines.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- what cyaml fills: every leaf a string, parsed with its line ---- */

struct raw_named {
    char *id, *name;
};

struct raw_unit {
    char *id, *name, *sla_wait_ms;
    struct raw_named *members;
    unsigned members_count;
    struct raw_named *counters;
    unsigned counters_count;
};

struct raw_override {
    char *employee, *target;
};

struct raw_indicator {
    char *id, *name, *metric, *window, *target, *better, *warn_margin, *min_samples;
    char *hold_ms, *escalate_after_ms; /* SPEC §16 */
    char **applies_to;
    unsigned applies_to_count;
    struct raw_override *overrides;
    unsigned overrides_count;
};

struct raw_token {
    char *name, *sha256, *role, *employee;
};

/* ---- the state of one load: where errors go ---- */

#define CYAML_FRAMES 32

struct cyaml_trace { /* cyaml's last error and its backtrace, innermost first */
    char message[256];
    int n;
    struct {
        bool is_item;
        unsigned item;
        char field[64];
    } frames[CYAML_FRAMES];
};

#define MAX_ERRORS 1000 /* kept and sorted; the rest are only counted */

struct problem {
    int line; /* 0: about the file as a whole */
    size_t seq;
    char *text;
};

struct load {
    const char *file;
    kj_cfg_lines *ix;
    struct problem *errors;
    size_t n_errors, cap_errors, dropped;
    struct cyaml_trace trace;
};

typedef struct path {
    char s[200];
} path;

/* A key path: "tokens[1].role". Paths are short in any real file; a longer
 * one is cut, never overrun. */
path kj_cfg_sub(const char *base, const char *key); /* base.key */
path kj_cfg_item(const char *base, size_t i);       /* base[i] */

/* Errors: kept with their line, written sorted by line at the end. */
void kj_cfg_add_problem(struct load *ld, int line, const char *text);
void kj_cfg_write_problems(struct load *ld, char *buf, size_t len); /* and frees them */
void kj_cfg_index_problem(void *ctx, int line, const char *key, const char *reason);
/* Report an error on key, at the line where key (or its closest parent) is. */
void kj_cfg_fail(struct load *ld, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Strict parsers: digits only (no sign or space); the index of s in names, or -1. */
bool kj_cfg_parse_uint(const char *s, uint64_t *out);
int kj_cfg_find_name(const char *s, const char *const *names, size_t n);

/* The setters (see the top). */
const char *kj_cfg_leaf(struct load *ld, const char *key, const char *raw);
void kj_cfg_set_uint(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out);
void kj_cfg_set_size(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out);
void kj_cfg_set_duration(struct load *ld, const char *key, const char *raw, int64_t lo, int64_t hi,
                         int64_t *out);
void kj_cfg_set_number(struct load *ld, const char *key, const char *raw, double lo, double hi,
                       double *out);
void kj_cfg_set_bool(struct load *ld, const char *key, const char *raw, bool *out);
void kj_cfg_set_enum(struct load *ld, const char *key, const char *raw, const char *const *names,
                     size_t n, int *out);
void kj_cfg_set_string(struct load *ld, const char *key, const char *raw, char **out);
/* An identifier, copied; NULL (and an error) when missing or malformed. */
char *kj_cfg_take_id(struct load *ld, const char *key, const char *raw);
/* A display name, copied; the id when absent. */
char *kj_cfg_take_name(struct load *ld, const char *key, const char *raw, const char *id);
/* False (and an error) when key has no value. */
bool kj_cfg_required(struct load *ld, const char *key, const char *raw);

/* "*" or a list of unit ids at key; false when key is absent (or null): the
 * caller picks the default. */
bool kj_cfg_unit_list(struct load *ld, const char *key, bool *all, char ***units, size_t *n);
/* An error for each id seen before in list (ids[i] of list[i], NULL: none). */
void kj_cfg_check_unique(struct load *ld, const char *list, const char *field, char *const *ids,
                         size_t n);

/* The parts (config_directory.c, config_indicators.c). */
void kj_cfg_load_tokens(struct load *ld, const struct raw_token *r, size_t n, kj_config *c);
void kj_cfg_load_units(struct load *ld, const struct raw_unit *r, size_t n, kj_config *c);
void kj_cfg_load_indicators(struct load *ld, const struct raw_indicator *r, size_t n, kj_config *c);
/* strict_directory: the references of tokens and indicators name listed units
 * and members. */
void kj_cfg_check_directory(struct load *ld, const kj_config *c);

/* cluster (config_cluster.c); r NULL: no cluster block, one node. */
struct raw_cluster {
    char *stream, *replicas, *node, *creds, *max_inflight, *publish_timeout;
    char *tls_ca, *tls_cert, *tls_key;
};
void kj_cfg_load_cluster(struct load *ld, const struct raw_cluster *r, kj_config *c);

#endif
