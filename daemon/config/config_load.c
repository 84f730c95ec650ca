/* kinerjad — the configuration loader's plumbing (config_priv.h): key paths,
 * errors with their lines, the strict scalar parsers and the setters. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../proto/alloc.h"
#include "../proto/duration.h"
#include "config_priv.h"

/* Paths are short in any real file; a longer one is cut, never overrun. */
__attribute__((format(printf, 2, 3))) static path path_of(path p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.s, sizeof p.s, fmt, ap);
    va_end(ap);
    return p;
}

path kj_cfg_sub(const char *base, const char *key)
{
    return path_of((path){""}, "%s%s%s", base, base[0] ? "." : "", key);
}

path kj_cfg_item(const char *base, size_t i)
{
    return path_of((path){""}, "%s[%zu]", base, i);
}

void kj_cfg_add_problem(struct load *ld, int line, const char *text)
{
    if (ld->n_errors == MAX_ERRORS) {
        ld->dropped++;
        return;
    }
    if (ld->n_errors == ld->cap_errors) {
        ld->cap_errors = ld->cap_errors ? ld->cap_errors * 2 : 16;
        ld->errors = kj_realloc(ld->errors, ld->cap_errors * sizeof *ld->errors);
    }
    ld->errors[ld->n_errors] = (struct problem){line, ld->n_errors, kj_strdup(text)};
    ld->n_errors++;
}

static int by_line(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Errors are found check by check but read best in file order. */
void kj_cfg_write_problems(struct load *ld, char *buf, size_t len)
{
    size_t used = 0;
    if (ld->n_errors) qsort(ld->errors, ld->n_errors, sizeof *ld->errors, by_line);
    for (size_t i = 0; i < ld->n_errors && buf && used + 1 < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", used ? "\n" : "", ld->errors[i].text);
        used = n < 0 || used + (size_t)n >= len ? len - 1 : used + (size_t)n;
    }
    if (ld->dropped && buf && used + 1 < len)
        snprintf(buf + used, len - used, "\n%s: and %zu more errors", ld->file, ld->dropped);
    for (size_t i = 0; i < ld->n_errors; i++)
        free(ld->errors[i].text);
    free(ld->errors);
}

static void error_at(struct load *ld, int line, const char *key, const char *reason)
{
    char text[1400];
    if (key && key[0])
        snprintf(text, sizeof text, "%s:%d: %s: %s", ld->file, line, key, reason);
    else
        snprintf(text, sizeof text, "%s:%d: %s", ld->file, line, reason);
    kj_cfg_add_problem(ld, line, text);
}

/* Report an error on key, at the line where key (or its closest parent) is. */
__attribute__((format(printf, 3, 4))) void kj_cfg_fail(struct load *ld, const char *key,
                                                       const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    error_at(ld, kj_cfg_lines_line(ld->ix, key), key, reason);
}

void kj_cfg_index_problem(void *ctx, int line, const char *key, const char *reason)
{
    error_at(ctx, line, key, reason);
}

/* ---- strict scalar parsers ---- */

static bool parse_u64(const char *s, const char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9') return false; /* no sign, no space: strtoull allows both */
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno == ERANGE) return false;
    *end = e;
    *out = v;
    return true;
}

bool kj_cfg_parse_uint(const char *s, uint64_t *out)
{
    const char *end;
    return parse_u64(s, &end, out) && *end == '\0';
}

bool kj_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", KIB}, {"MiB", MIB}, {"GiB", GIB}, {"TiB", TIB}};
    const char *end;
    uint64_t v;
    if (!s || !parse_u64(s, &end, &v)) return false;
    for (size_t i = 0; i < COUNT(units); i++) {
        if (strcmp(end, units[i].suffix) != 0) continue;
        if (v > UINT64_MAX / units[i].mult) return false;
        *out = v * units[i].mult;
        return true;
    }
    return false;
}

static bool parse_number(const char *s, double *out)
{
    if (!(*s == '-' || *s == '.' || (*s >= '0' && *s <= '9'))) return false;
    if (strpbrk(s, "xXpP")) return false; /* strtod's hex floats are no one's target */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < COUNT(yes); i++) {
        if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
            *out = !strcasecmp(s, yes[i]);
            return true;
        }
    }
    return false;
}

int kj_cfg_find_name(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return (int)i;
    return -1;
}

/* "1MiB" rather than "1048576" where it divides evenly, for error messages. */
static void format_size(uint64_t v, char *buf, size_t n)
{
    static const char *const suffix[] = {"TiB", "GiB", "MiB", "KiB"};
    static const uint64_t mult[] = {TIB, GIB, MIB, KIB};
    for (size_t i = 0; i < COUNT(mult); i++) {
        if (v && v % mult[i] == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(v / mult[i]), suffix[i]);
            return;
        }
    }
    snprintf(buf, n, "%llu", (unsigned long long)v);
}

/* ---- setters: each leaves *out alone when raw is absent (the default) ---- */

/* cyaml reads a quoted "" (and "null") as null; the index knows it was text. */
const char *kj_cfg_leaf(struct load *ld, const char *key, const char *raw)
{
    const kj_cfg_entry *e = raw ? NULL : kj_cfg_lines_get(ld->ix, key);
    if (e && e->kind == KJ_CFG_SCALAR && !kj_cfg_entry_null(e)) return e->value;
    return raw;
}

void kj_cfg_set_uint(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    uint64_t v;
    if (!raw) return;
    if (!kj_cfg_parse_uint(raw, &v) || v < lo || v > hi) {
        kj_cfg_fail(ld, key, "must be an integer from %llu to %llu", (unsigned long long)lo,
                    (unsigned long long)hi);
        return;
    }
    *out = v;
}

void kj_cfg_set_size(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    uint64_t v;
    char los[32], his[32];
    if (!raw) return;
    if (!kj_parse_size(raw, &v)) {
        kj_cfg_fail(ld, key,
                    "must be a size: bytes, or a number with KiB, MiB, GiB or TiB (\"1MiB\")");
        return;
    }
    if (v < lo || v > hi) {
        format_size(lo, los, sizeof los);
        format_size(hi, his, sizeof his);
        kj_cfg_fail(ld, key, "must be from %s to %s", los, his);
        return;
    }
    *out = v;
}

void kj_cfg_set_duration(struct load *ld, const char *key, const char *raw, int64_t lo, int64_t hi,
                         int64_t *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    int64_t v;
    char los[32], his[32];
    if (!raw) return;
    if (!kj_parse_duration_ms(raw, &v)) {
        kj_cfg_fail(ld, key,
                    "must be a duration with a unit: ms, s, m, h or d (\"1500ms\", \"35d\")");
        return;
    }
    if (v < lo || v > hi) {
        kj_format_duration(lo, los, sizeof los);
        kj_format_duration(hi, his, sizeof his);
        kj_cfg_fail(ld, key, "must be from %s to %s", los, his);
        return;
    }
    *out = v;
}

void kj_cfg_set_number(struct load *ld, const char *key, const char *raw, double lo, double hi,
                       double *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    double v;
    if (!raw) return;
    if (!parse_number(raw, &v) || v < lo || v > hi) {
        kj_cfg_fail(ld, key, "must be a number from %g to %g", lo, hi);
        return;
    }
    *out = v;
}

void kj_cfg_set_bool(struct load *ld, const char *key, const char *raw, bool *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (raw && !parse_bool(raw, out)) kj_cfg_fail(ld, key, "must be true or false");
}

void kj_cfg_set_enum(struct load *ld, const char *key, const char *raw, const char *const *names,
                     size_t n, int *out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (!raw) return;
    int i = kj_cfg_find_name(raw, names, n);
    if (i >= 0) {
        *out = i;
        return;
    }
    char list[128] = "";
    for (size_t k = 0; k < n; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", names[k]);
    kj_cfg_fail(ld, key, "must be one of %s", list);
}

void kj_cfg_set_string(struct load *ld, const char *key, const char *raw, char **out)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (!raw) return;
    if (!raw[0]) {
        kj_cfg_fail(ld, key, "must not be empty");
        return;
    }
    free(*out);
    *out = kj_strdup(raw);
}

/* An identifier, copied; NULL (and an error) when missing or malformed. */
char *kj_cfg_take_id(struct load *ld, const char *key, const char *raw)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (!raw) {
        kj_cfg_fail(ld, key, "required");
        return NULL;
    }
    if (!kj_id_valid(raw, strlen(raw))) {
        kj_cfg_fail(ld, key, "must be 1-64 characters of A-Z a-z 0-9 . _ : - (got \"%.80s\")", raw);
        return NULL;
    }
    return kj_strdup(raw);
}

/* A display name, copied; the id when absent. */
char *kj_cfg_take_name(struct load *ld, const char *key, const char *raw, const char *id)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (!raw) return id ? kj_strdup(id) : NULL;
    size_t n = strlen(raw);
    if (n < 1 || n > KJ_NAME_MAX || !kj_utf8_valid(raw, n))
        kj_cfg_fail(ld, key, "must be 1-200 bytes of UTF-8");
    return kj_strdup(raw);
}

bool kj_cfg_required(struct load *ld, const char *key, const char *raw)
{
    raw = kj_cfg_leaf(ld, key, raw);
    if (!raw) kj_cfg_fail(ld, key, "required");
    return raw != NULL;
}

/* ---- units: "*" or a list of ids (tokens and indicators) ---- */

/* Returns false when key is absent (or null): the caller picks the default. */
bool kj_cfg_unit_list(struct load *ld, const char *key, bool *all, char ***units, size_t *n)
{
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, key);
    if (!e || kj_cfg_entry_null(e)) return false;
    if (e->kind == KJ_CFG_SCALAR && !strcmp(e->value, "*")) {
        *all = true;
        return true;
    }
    if (e->kind != KJ_CFG_LIST) {
        kj_cfg_fail(ld, key, "must be \"*\" or a list of unit ids");
        return true;
    }
    *units = kj_calloc(e->count, sizeof **units);
    for (size_t i = 0; i < e->count; i++) {
        path p = kj_cfg_item(key, i);
        const kj_cfg_entry *u = kj_cfg_lines_get(ld->ix, p.s);
        char *id = u && u->kind == KJ_CFG_SCALAR ? kj_cfg_take_id(ld, p.s, u->value) : NULL;
        if (u && u->kind != KJ_CFG_SCALAR) kj_cfg_fail(ld, p.s, "must be a unit id");
        if (id) (*units)[(*n)++] = id;
    }
    return true;
}

/* ---- duplicate ids, found by sorting so that big directories stay cheap ---- */

struct id_ref {
    const char *id;
    size_t index;
};

static int by_id(const void *a, const void *b)
{
    const struct id_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* ids[i] is the id of list[i] (NULL when it had none); key is "list[%zu].field". */
void kj_cfg_check_unique(struct load *ld, const char *list, const char *field, char *const *ids,
                         size_t n)
{
    struct id_ref *refs = kj_calloc(n, sizeof *refs);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i]) refs[m++] = (struct id_ref){ids[i], i};
    qsort(refs, m, sizeof *refs, by_id);
    for (size_t i = 1, first = 0; i < m; i++) {
        if (strcmp(refs[first].id, refs[i].id)) {
            first = i;
            continue;
        }
        path here = kj_cfg_sub(kj_cfg_item(list, refs[i].index).s, field);
        path there = kj_cfg_sub(kj_cfg_item(list, refs[first].index).s, field);
        kj_cfg_fail(ld, here.s, "duplicate %s \"%s\" (first at line %d)", field, refs[i].id,
                    kj_cfg_lines_line(ld->ix, there.s));
    }
    free(refs);
}
