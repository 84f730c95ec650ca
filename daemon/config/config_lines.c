#include "config_lines.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../proto/alloc.h"

/* Bounds on a hostile file: the walk keeps a fixed stack, and the index holds
 * one entry per key, so a configuration cannot make either grow without end. */
#define MAX_DEPTH 64
#define MAX_ENTRIES 2000000
#define NO_ENTRY SIZE_MAX

struct kj_cfg_lines {
    kj_cfg_entry *entries; /* sorted by path once built */
    size_t n, cap;
};

struct frame {
    kj_cfg_node kind; /* KJ_CFG_MAP or KJ_CFG_LIST */
    size_t path_len;  /* length of this collection's path */
    size_t entry;     /* the entry that holds the collection; NO_ENTRY at the root */
    size_t first;     /* the first entry recorded inside it */
    size_t items;     /* list items seen */
    bool want_key;    /* a mapping expects a key next */
};

struct walk {
    kj_cfg_lines *ix;
    struct frame stack[MAX_DEPTH];
    int depth;
    char *path;
    size_t path_len, path_cap;
    kj_cfg_report *report;
    void *ctx;
    int problems;
    int documents;
    const char *buf; /* the document, for the line of an encoding error */
    size_t len;
};

static void problem(struct walk *w, int line, const char *key, const char *reason)
{
    w->problems++;
    w->report(w->ctx, line, key, reason);
}

static void path_truncate(struct walk *w, size_t len)
{
    w->path_len = len;
    w->path[len] = '\0';
}

static void path_append(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    size_t need = w->path_len + (size_t)n + 1;
    if (need > w->path_cap) {
        w->path_cap = need * 2;
        w->path = kj_realloc(w->path, w->path_cap);
    }
    va_start(ap, fmt);
    vsnprintf(w->path + w->path_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    w->path_len += (size_t)n;
}

static size_t add_entry(struct walk *w, const yaml_mark_t *mark)
{
    kj_cfg_lines *ix = w->ix;
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 64;
        ix->entries = kj_realloc(ix->entries, ix->cap * sizeof *ix->entries);
    }
    kj_cfg_entry *e = &ix->entries[ix->n];
    memset(e, 0, sizeof *e);
    e->path = kj_strdup(w->path);
    e->line = (int)mark->line + 1;
    return ix->n++;
}

/* YAML forbids a key twice in one mapping, but libyaml does not check; the
 * second would silently win in cyaml's view or fail without a line. */
static void check_duplicate(struct walk *w, const struct frame *f, size_t entry)
{
    const kj_cfg_entry *e = &w->ix->entries[entry];
    for (size_t i = f->first; i < entry; i++) {
        if (strcmp(w->ix->entries[i].path, e->path) == 0) {
            char reason[64];
            snprintf(reason, sizeof reason, "duplicate key (first at line %d)",
                     w->ix->entries[i].line);
            problem(w, e->line, e->path, reason);
            return;
        }
    }
}

static bool on_key(struct walk *w, struct frame *f, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1;
    if (ev->type != YAML_SCALAR_EVENT) {
        problem(w, line, w->path, "keys must be plain strings");
        return false;
    }
    const char *key = (const char *)ev->data.scalar.value;
    path_append(w, "%s%s", w->path_len ? "." : "", key);
    f->entry = add_entry(w, &ev->start_mark);
    /* No key of ours holds these, and they would make paths ambiguous. */
    if (key[0] == '\0' || strpbrk(key, ".[]"))
        problem(w, line, w->path, "unknown key");
    else
        check_duplicate(w, f, f->entry);
    f->want_key = false;
    return true;
}

static void set_scalar(kj_cfg_entry *e, const yaml_event_t *ev)
{
    e->kind = KJ_CFG_SCALAR;
    e->value = kj_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    e->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool push(struct walk *w, kj_cfg_node kind, size_t entry, int line)
{
    if (w->depth == MAX_DEPTH) {
        problem(w, line, w->path, "nested too deeply");
        return false;
    }
    struct frame *f = &w->stack[w->depth++];
    *f = (struct frame){.kind = kind,
                        .path_len = w->path_len,
                        .entry = entry,
                        .first = w->ix->n,
                        .want_key = kind == KJ_CFG_MAP};
    return true;
}

/* A value: the root, a mapping's value, or a list item. */
static bool on_value(struct walk *w, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1;
    struct frame *f = w->depth ? &w->stack[w->depth - 1] : NULL;
    size_t entry = NO_ENTRY;
    if (f && f->kind == KJ_CFG_LIST) {
        path_append(w, "[%zu]", f->items++);
        entry = add_entry(w, &ev->start_mark);
    } else if (f) {
        entry = f->entry;
        f->want_key = true;
    }
    kj_cfg_entry *e = entry == NO_ENTRY ? NULL : &w->ix->entries[entry];
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (e) set_scalar(e, ev);
        break;
    case YAML_ALIAS_EVENT: problem(w, line, w->path, "aliases are not supported"); return false;
    case YAML_SEQUENCE_START_EVENT:
        if (e) e->kind = KJ_CFG_LIST;
        return push(w, KJ_CFG_LIST, entry, line);
    case YAML_MAPPING_START_EVENT:
        if (e) e->kind = KJ_CFG_MAP;
        return push(w, KJ_CFG_MAP, entry, line);
    default: break;
    }
    path_truncate(w, f ? f->path_len : 0);
    return true;
}

static void on_end(struct walk *w)
{
    struct frame *f = &w->stack[--w->depth];
    if (f->kind == KJ_CFG_LIST && f->entry != NO_ENTRY) w->ix->entries[f->entry].count = f->items;
    path_truncate(w, w->depth ? w->stack[w->depth - 1].path_len : 0);
}

/* Returns false to stop the walk. */
static bool on_event(struct walk *w, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++w->documents > 1) {
            problem(w, (int)ev->start_mark.line + 1, NULL, "only one YAML document is allowed");
            return false;
        }
        return true;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: on_end(w); return true;
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: break;
    default: return true;
    }
    if (w->ix->n >= MAX_ENTRIES) {
        problem(w, (int)ev->start_mark.line + 1, NULL, "too many keys and list items");
        return false;
    }
    struct frame *f = w->depth ? &w->stack[w->depth - 1] : NULL;
    if (f && f->want_key) return on_key(w, f, ev);
    return on_value(w, ev);
}

/* libyaml's reader reports a byte offset, not a mark, for bad encoding. */
static int error_line(const struct walk *w, const yaml_parser_t *p)
{
    if (p->error != YAML_READER_ERROR) return (int)p->problem_mark.line + 1;
    int line = 1;
    for (size_t i = 0; i < p->problem_offset && i < w->len; i++)
        line += w->buf[i] == '\n';
    return line;
}

static void syntax_error(struct walk *w, const yaml_parser_t *p)
{
    char reason[256];
    if (p->context)
        snprintf(reason, sizeof reason, "syntax error: %s (%s at line %zu)", p->problem, p->context,
                 p->context_mark.line + 1);
    else
        snprintf(reason, sizeof reason, "syntax error: %s",
                 p->problem ? p->problem : "cannot parse");
    problem(w, error_line(w, p), NULL, reason);
}

static void walk_events(struct walk *w, yaml_parser_t *p)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            syntax_error(w, p);
            return;
        }
        bool more = ev.type != YAML_STREAM_END_EVENT && on_event(w, &ev);
        yaml_event_delete(&ev);
        if (!more) return;
    }
}

static int by_path(const void *a, const void *b)
{
    const kj_cfg_entry *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

kj_err kj_cfg_lines_build(const char *buf, size_t len, kj_cfg_report *report, void *ctx,
                          kj_cfg_lines **out)
{
    struct walk w = {.report = report, .ctx = ctx, .buf = buf, .len = len};
    w.ix = kj_calloc(1, sizeof *w.ix);
    w.path_cap = 256;
    w.path = kj_calloc(1, w.path_cap);

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        problem(&w, 1, NULL, "cannot initialise the YAML parser");
        goto fail;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    walk_events(&w, &parser);
    yaml_parser_delete(&parser);
    if (w.problems) goto fail;

    if (w.ix->n) qsort(w.ix->entries, w.ix->n, sizeof *w.ix->entries, by_path);
    free(w.path);
    *out = w.ix;
    return KJ_OK;
fail:
    free(w.path);
    kj_cfg_lines_free(w.ix);
    return KJ_ERR_CONFIG;
}

const kj_cfg_entry *kj_cfg_lines_get(const kj_cfg_lines *ix, const char *path)
{
    size_t lo = 0, hi = ix ? ix->n : 0;
    while (lo < hi) { /* the first entry with this path: the earliest line */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->entries[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (ix && lo < ix->n && strcmp(ix->entries[lo].path, path) == 0) return &ix->entries[lo];
    return NULL;
}

int kj_cfg_lines_line(const kj_cfg_lines *ix, const char *path)
{
    char *p = kj_strdup(path);
    int line = 1;
    for (;;) {
        const kj_cfg_entry *e = kj_cfg_lines_get(ix, p);
        if (e) {
            line = e->line;
            break;
        }
        char *cut = strrchr(p, '.');
        char *bracket = strrchr(p, '[');
        if (bracket > cut) cut = bracket;
        if (!cut) break;
        *cut = '\0';
    }
    free(p);
    return line;
}

bool kj_cfg_entry_null(const kj_cfg_entry *e)
{
    if (!e || e->kind != KJ_CFG_SCALAR || !e->plain) return false;
    const char *v = e->value;
    return !v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

void kj_cfg_lines_free(kj_cfg_lines *ix)
{
    if (!ix) return;
    for (size_t i = 0; i < ix->n; i++) {
        free(ix->entries[i].path);
        free(ix->entries[i].value);
    }
    free(ix->entries);
    free(ix);
}
