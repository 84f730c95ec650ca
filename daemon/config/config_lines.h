/* kinerjad — an index of a YAML document by key path, for the configuration.
 *
 * libcyaml fills structures but does not say where a value came from, so the
 * configuration loader walks the document once with libyaml first and records,
 * for every key and list item, its path ("tokens[1].role", "listen[0]") and its
 * line. Errors found later name that line. The index also keeps each scalar's
 * text, for the keys whose value may be either a string or a list ("listen",
 * "units"), which cyaml's schema cannot express. Internal to daemon/config/config.c. */
#ifndef KJ_CONFIG_LINES_H
#define KJ_CONFIG_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "../proto/err.h"

typedef enum kj_cfg_node { KJ_CFG_SCALAR = 1, KJ_CFG_LIST, KJ_CFG_MAP } kj_cfg_node;

typedef struct kj_cfg_entry {
    char *path;       /* "tokens[1].role"; keys joined by '.', list items as [i] */
    int line;         /* 1-based: of the key, or of the list item */
    kj_cfg_node kind; /* of the value */
    char *value;      /* the scalar's text; NULL unless kind == KJ_CFG_SCALAR */
    bool plain;       /* an unquoted scalar (so "null" and "~" mean null) */
    size_t count;     /* items of a list */
} kj_cfg_entry;

typedef struct kj_cfg_lines kj_cfg_lines;

/* Called once per problem found while indexing: a YAML syntax error (key is
 * NULL), a duplicate key, an alias, a key that is not a plain string. */
typedef void kj_cfg_report(void *ctx, int line, const char *key, const char *reason);

/* Index the YAML document in buf (len bytes). Returns KJ_OK and the index in
 * *out, or KJ_ERR_CONFIG after calling report for each problem (nothing in
 * *out). The caller frees the index with kj_cfg_lines_free(). */
kj_err kj_cfg_lines_build(const char *buf, size_t len, kj_cfg_report *report, void *ctx,
                          kj_cfg_lines **out);

/* The entry at path, or NULL. Valid until the index is freed. */
const kj_cfg_entry *kj_cfg_lines_get(const kj_cfg_lines *ix, const char *path);

/* The line of path, else of its nearest recorded ancestor, else 1. */
int kj_cfg_lines_line(const kj_cfg_lines *ix, const char *path);

/* True for a plain scalar that YAML reads as null: "", "~", "null". */
bool kj_cfg_entry_null(const kj_cfg_entry *e);

void kj_cfg_lines_free(kj_cfg_lines *ix);

#endif
