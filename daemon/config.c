/* kinerjad — the configuration: libcyaml checks the shape of the document and
 * hands over every leaf as a string; this file parses those strings strictly,
 * applies the defaults and limits, and names the line of each error from the
 * libyaml index built first (config_lines.h). */
#include "config.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <cyaml/cyaml.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../proto/alloc.h"
#include "config_lines.h"
#include "netaddr.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)
#define SEC_MS 1000LL
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

#define MAX_FILE (16 * MIB) /* a configuration is small; refuse to slurp a disk image */
#define MAX_LISTEN 16
#define MAX_HOST 253
#define ZONEINFO "/usr/share/zoneinfo/"

/* ---- what cyaml fills: every leaf a string, parsed below with its line ---- */

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
    char *hold_ms, *escalate_after_ms;
    char **applies_to;
    unsigned applies_to_count;
    struct raw_override *overrides;
    unsigned overrides_count;
};

struct raw_token {
    char *name, *sha256, *role, *employee;
};

struct raw_config {
    char *tls_cert, *tls_key, *state_dir, *web_root, *timezone, *sync, *map_size;
    char *retention_days, *max_event_age, *max_clock_skew, *max_body, *min_push_interval_ms;
    char *log_level, *auth, *strict_directory, *max_batch, *ingest_queue, *commit_group_events;
    char *max_connections, *max_viewers, *viewer_backlog, *max_frame;
    struct raw_token *tokens;
    unsigned tokens_count;
    struct raw_unit *units;
    unsigned units_count;
    struct raw_indicator *indicators;
    unsigned indicators_count;
};

/* Every field is optional to cyaml: "required" is checked below, so that all
 * missing keys are reported at once, each with its line. */
#define STR(key, type, member)                                                                     \
    CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER_NULL_STR | CYAML_FLAG_OPTIONAL, type, member,   \
                           0, CYAML_UNLIMITED)
#define SEQ(key, type, member, entry)                                                              \
    CYAML_FIELD_SEQUENCE(key, CYAML_FLAG_POINTER_NULL | CYAML_FLAG_OPTIONAL, type, member, entry,  \
                         0, CYAML_UNLIMITED)
/* Keys whose value is a string or a list: read from the index instead. */
#define EITHER(key) CYAML_FIELD_IGNORE(key, CYAML_FLAG_OPTIONAL)

static const cyaml_schema_value_t string_schema = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t named_fields[] = {
    STR("id", struct raw_named, id),
    STR("name", struct raw_named, name),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t named_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_named, named_fields),
};

static const cyaml_schema_field_t unit_fields[] = {
    STR("id", struct raw_unit, id),
    STR("name", struct raw_unit, name),
    STR("sla_wait_ms", struct raw_unit, sla_wait_ms),
    SEQ("members", struct raw_unit, members, &named_schema),
    SEQ("counters", struct raw_unit, counters, &named_schema),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t unit_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_unit, unit_fields),
};

static const cyaml_schema_field_t override_fields[] = {
    STR("employee", struct raw_override, employee),
    STR("target", struct raw_override, target),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t override_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_override, override_fields),
};

static const cyaml_schema_field_t indicator_fields[] = {
    STR("id", struct raw_indicator, id),
    STR("name", struct raw_indicator, name),
    STR("metric", struct raw_indicator, metric),
    STR("window", struct raw_indicator, window),
    STR("target", struct raw_indicator, target),
    STR("better", struct raw_indicator, better),
    STR("warn_margin", struct raw_indicator, warn_margin),
    STR("min_samples", struct raw_indicator, min_samples),
    STR("hold_ms", struct raw_indicator, hold_ms),
    STR("escalate_after_ms", struct raw_indicator, escalate_after_ms),
    SEQ("applies_to", struct raw_indicator, applies_to, &string_schema),
    EITHER("units"),
    SEQ("overrides", struct raw_indicator, overrides, &override_schema),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t indicator_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_indicator, indicator_fields),
};

static const cyaml_schema_field_t token_fields[] = {
    STR("name", struct raw_token, name),         STR("sha256", struct raw_token, sha256),
    STR("role", struct raw_token, role),         EITHER("units"),
    STR("employee", struct raw_token, employee), CYAML_FIELD_END,
};
static const cyaml_schema_value_t token_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_token, token_fields),
};

static const cyaml_schema_field_t config_fields[] = {
    EITHER("listen"),
    STR("tls_cert", struct raw_config, tls_cert),
    STR("tls_key", struct raw_config, tls_key),
    STR("state_dir", struct raw_config, state_dir),
    STR("web_root", struct raw_config, web_root),
    STR("timezone", struct raw_config, timezone),
    STR("sync", struct raw_config, sync),
    STR("map_size", struct raw_config, map_size),
    STR("retention_days", struct raw_config, retention_days),
    STR("max_event_age", struct raw_config, max_event_age),
    STR("max_clock_skew", struct raw_config, max_clock_skew),
    STR("max_body", struct raw_config, max_body),
    STR("min_push_interval_ms", struct raw_config, min_push_interval_ms),
    STR("log_level", struct raw_config, log_level),
    STR("auth", struct raw_config, auth),
    STR("strict_directory", struct raw_config, strict_directory),
    STR("max_batch", struct raw_config, max_batch),
    STR("ingest_queue", struct raw_config, ingest_queue),
    STR("commit_group_events", struct raw_config, commit_group_events),
    STR("max_connections", struct raw_config, max_connections),
    STR("max_viewers", struct raw_config, max_viewers),
    STR("viewer_backlog", struct raw_config, viewer_backlog),
    STR("max_frame", struct raw_config, max_frame),
    SEQ("tokens", struct raw_config, tokens, &token_schema),
    SEQ("units", struct raw_config, units, &unit_schema),
    SEQ("indicators", struct raw_config, indicators, &indicator_schema),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t config_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, config_fields),
};

/* ---- names ---- */

static const char *const window_names[KJ_WIN_COUNT] = {"15m", "1h", "today", "7d", "30d"};
static const char *const sync_names[] = {"full", "periodic"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const role_names[] = {"ingest", "viewer", "admin", "supervisor"};
static const char *const better_names[] = {"lower", "higher"};
static const char *const applies_names[] = {"unit", "employee"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *kj_role_name(kj_role r)
{
    return (size_t)r < COUNT(role_names) ? role_names[r] : "?";
}

/* The digest of the empty secret: a token with it would let an empty bearer in. */
static const char empty_digest[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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

/* Paths are short in any real file; a longer one is cut, never overrun. */
__attribute__((format(printf, 2, 3))) static path path_of(path p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.s, sizeof p.s, fmt, ap);
    va_end(ap);
    return p;
}

static path sub(const char *base, const char *key)
{
    return path_of((path){""}, "%s%s%s", base, base[0] ? "." : "", key);
}

static path item(const char *base, size_t i)
{
    return path_of((path){""}, "%s[%zu]", base, i);
}

static void add_problem(struct load *ld, int line, const char *text)
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
static void write_problems(struct load *ld, char *buf, size_t len)
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
    add_problem(ld, line, text);
}

/* Report an error on key, at the line where key (or its closest parent) is. */
__attribute__((format(printf, 3, 4))) static void fail(struct load *ld, const char *key,
                                                       const char *fmt, ...)
{
    char reason[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    error_at(ld, kj_cfg_lines_line(ld->ix, key), key, reason);
}

static void index_problem(void *ctx, int line, const char *key, const char *reason)
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

static bool parse_uint(const char *s, uint64_t *out)
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

bool kj_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"ms", 1}, {"s", SEC_MS}, {"m", MIN_MS}, {"h", HOUR_MS}, {"d", DAY_MS}};
    const char *end;
    uint64_t v;
    if (!s || !parse_u64(s, &end, &v)) return false;
    if (*end == '\0' && v == 0) { /* "0" needs no unit; any other bare number is ambiguous */
        *out = 0;
        return true;
    }
    for (size_t i = 0; i < COUNT(units); i++) {
        if (strcmp(end, units[i].suffix) != 0) continue;
        if (v > (uint64_t)(INT64_MAX / units[i].mult)) return false;
        *out = (int64_t)v * units[i].mult;
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

static int find_name(const char *s, const char *const *names, size_t n)
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

static void format_duration(int64_t v, char *buf, size_t n)
{
    static const char *const suffix[] = {"d", "h", "m", "s"};
    static const int64_t mult[] = {DAY_MS, HOUR_MS, MIN_MS, SEC_MS};
    for (size_t i = 0; i < COUNT(mult); i++) {
        if (v && v % mult[i] == 0) {
            snprintf(buf, n, "%lld%s", (long long)(v / mult[i]), suffix[i]);
            return;
        }
    }
    snprintf(buf, n, v ? "%lldms" : "%lld", (long long)v);
}

/* ---- setters: each leaves *out alone when raw is absent (the default) ---- */

/* cyaml reads a quoted "" (and "null") as null; the index knows it was text. */
static const char *leaf(struct load *ld, const char *key, const char *raw)
{
    const kj_cfg_entry *e = raw ? NULL : kj_cfg_lines_get(ld->ix, key);
    if (e && e->kind == KJ_CFG_SCALAR && !kj_cfg_entry_null(e)) return e->value;
    return raw;
}

static void set_uint(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    raw = leaf(ld, key, raw);
    uint64_t v;
    if (!raw) return;
    if (!parse_uint(raw, &v) || v < lo || v > hi) {
        fail(ld, key, "must be an integer from %llu to %llu", (unsigned long long)lo,
             (unsigned long long)hi);
        return;
    }
    *out = v;
}

static void set_size(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    raw = leaf(ld, key, raw);
    uint64_t v;
    char los[32], his[32];
    if (!raw) return;
    if (!kj_parse_size(raw, &v)) {
        fail(ld, key, "must be a size: bytes, or a number with KiB, MiB, GiB or TiB (\"1MiB\")");
        return;
    }
    if (v < lo || v > hi) {
        format_size(lo, los, sizeof los);
        format_size(hi, his, sizeof his);
        fail(ld, key, "must be from %s to %s", los, his);
        return;
    }
    *out = v;
}

static void set_duration(struct load *ld, const char *key, const char *raw, int64_t lo, int64_t hi,
                         int64_t *out)
{
    raw = leaf(ld, key, raw);
    int64_t v;
    char los[32], his[32];
    if (!raw) return;
    if (!kj_parse_duration_ms(raw, &v)) {
        fail(ld, key, "must be a duration with a unit: ms, s, m, h or d (\"1500ms\", \"35d\")");
        return;
    }
    if (v < lo || v > hi) {
        format_duration(lo, los, sizeof los);
        format_duration(hi, his, sizeof his);
        fail(ld, key, "must be from %s to %s", los, his);
        return;
    }
    *out = v;
}

static void set_number(struct load *ld, const char *key, const char *raw, double lo, double hi,
                       double *out)
{
    raw = leaf(ld, key, raw);
    double v;
    if (!raw) return;
    if (!parse_number(raw, &v) || v < lo || v > hi) {
        fail(ld, key, "must be a number from %g to %g", lo, hi);
        return;
    }
    *out = v;
}

static void set_bool(struct load *ld, const char *key, const char *raw, bool *out)
{
    raw = leaf(ld, key, raw);
    if (raw && !parse_bool(raw, out)) fail(ld, key, "must be true or false");
}

static void set_enum(struct load *ld, const char *key, const char *raw, const char *const *names,
                     size_t n, int *out)
{
    raw = leaf(ld, key, raw);
    if (!raw) return;
    int i = find_name(raw, names, n);
    if (i >= 0) {
        *out = i;
        return;
    }
    char list[128] = "";
    for (size_t k = 0; k < n; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", names[k]);
    fail(ld, key, "must be one of %s", list);
}

static void set_string(struct load *ld, const char *key, const char *raw, char **out)
{
    raw = leaf(ld, key, raw);
    if (!raw) return;
    if (!raw[0]) {
        fail(ld, key, "must not be empty");
        return;
    }
    free(*out);
    *out = kj_strdup(raw);
}

/* An identifier, copied; NULL (and an error) when missing or malformed. */
static char *take_id(struct load *ld, const char *key, const char *raw)
{
    raw = leaf(ld, key, raw);
    if (!raw) {
        fail(ld, key, "required");
        return NULL;
    }
    if (!kj_id_valid(raw, strlen(raw))) {
        fail(ld, key, "must be 1-64 characters of A-Z a-z 0-9 . _ : - (got \"%.80s\")", raw);
        return NULL;
    }
    return kj_strdup(raw);
}

/* A display name, copied; the id when absent. */
static char *take_name(struct load *ld, const char *key, const char *raw, const char *id)
{
    raw = leaf(ld, key, raw);
    if (!raw) return id ? kj_strdup(id) : NULL;
    size_t n = strlen(raw);
    if (n < 1 || n > KJ_NAME_MAX || !kj_utf8_valid(raw, n))
        fail(ld, key, "must be 1-200 bytes of UTF-8");
    return kj_strdup(raw);
}

static bool required(struct load *ld, const char *key, const char *raw)
{
    raw = leaf(ld, key, raw);
    if (!raw) fail(ld, key, "required");
    return raw != NULL;
}

/* ---- cyaml's errors, turned into "file:line: key: reason" ---- */

static void trace_line(struct cyaml_trace *t, const char *line)
{
    static const char field[] = "  in mapping field '", entry[] = "  in sequence entry '";
    if (!strncmp(line, field, sizeof field - 1) && t->n < CYAML_FRAMES) {
        const char *name = line + sizeof field - 1;
        size_t len = strcspn(name, "'");
        if (len >= sizeof t->frames[0].field) len = sizeof t->frames[0].field - 1;
        t->frames[t->n].is_item = false;
        memcpy(t->frames[t->n].field, name, len);
        t->frames[t->n++].field[len] = '\0';
    } else if (!strncmp(line, entry, sizeof entry - 1) && t->n < CYAML_FRAMES) {
        /* cyaml counts the entry it is in from 1 (0 before the first starts). */
        unsigned long n = strtoul(line + sizeof entry - 1, NULL, 10);
        t->frames[t->n].is_item = true;
        t->frames[t->n++].item = n ? (unsigned)n - 1 : 0;
    } else if (!strncmp(line, "Load: ", 6) && !t->message[0] &&
               strncmp(line, "Load: Backtrace", 15)) {
        size_t n = strnlen(line + 6, sizeof t->message - 1);
        memcpy(t->message, line + 6, n);
        t->message[n] = '\0';
    }
}

static void cyaml_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct load *ld = ctx;
    char line[512];
    if (level < CYAML_LOG_ERROR) return;
    vsnprintf(line, sizeof line, fmt, args);
    line[strcspn(line, "\n")] = '\0';
    trace_line(&ld->trace, line);
}

static path trace_path(const struct cyaml_trace *t)
{
    path p = {""};
    for (int i = t->n - 1; i >= 0; i--)
        p = t->frames[i].is_item ? item(p.s, t->frames[i].item) : sub(p.s, t->frames[i].field);
    return p;
}

static void report_cyaml(struct load *ld, cyaml_err_t err)
{
    const char *m = ld->trace.message;
    static const char unknown[] = "Unexpected key: ", expecting[] = "Expecting ";
    path p = trace_path(&ld->trace);
    if (!strncmp(m, unknown, sizeof unknown - 1)) {
        fail(ld, sub(p.s, m + sizeof unknown - 1).s, "unknown key");
    } else if (!strncmp(m, expecting, sizeof expecting - 1)) {
        const char *what = m + sizeof expecting - 1;
        const char *reason = !strncmp(what, "MAPPING", 7)    ? "must be a mapping (key: value)"
                             : !strncmp(what, "SEQUENCE", 8) ? "must be a list"
                                                             : "must be a single value, not a "
                                                               "list or a mapping";
        fail(ld, p.s[0] ? p.s : "(document)", "%s", reason);
    } else {
        fail(ld, p.s[0] ? p.s : "(document)", "%s", m[0] ? m : cyaml_strerror(err));
    }
}

static bool load_raw(struct load *ld, const char *buf, size_t len, struct raw_config **out)
{
    const cyaml_config_t cfg = {
        .log_fn = cyaml_capture,
        .log_ctx = ld,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS,
    };
    cyaml_err_t err = cyaml_load_data((const uint8_t *)buf, len, &cfg, &config_schema,
                                      (cyaml_data_t **)out, NULL);
    if (err == CYAML_OK) return true;
    report_cyaml(ld, err);
    return false;
}

static void free_raw(struct raw_config *raw)
{
    const cyaml_config_t cfg = {.mem_fn = cyaml_mem, .log_fn = NULL, .log_level = CYAML_LOG_ERROR};
    if (raw) cyaml_free(&cfg, &config_schema, raw, 0);
}

/* ---- top-level keys ---- */

static bool zone_exists(const char *name)
{
    char file[512];
    struct stat st;
    if (!name[0] || name[0] == '/' || strstr(name, "..") || strlen(name) > 200) return false;
    snprintf(file, sizeof file, ZONEINFO "%s", name);
    return stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

static void load_paths(struct load *ld, const struct raw_config *r, kj_config *c)
{
    set_string(ld, "state_dir", r->state_dir, &c->state_dir);
    set_string(ld, "web_root", r->web_root, &c->web_root);
    set_string(ld, "tls_cert", r->tls_cert, &c->tls_cert);
    set_string(ld, "tls_key", r->tls_key, &c->tls_key);
    if (!c->tls_cert != !c->tls_key)
        fail(ld, c->tls_cert ? "tls_cert" : "tls_key", "tls_cert and tls_key go together");
    const char *zone = leaf(ld, "timezone", r->timezone);
    if (zone && !zone_exists(zone))
        fail(ld, "timezone", "unknown time zone \"%.80s\" (no file under " ZONEINFO ")", zone);
    else
        set_string(ld, "timezone", zone, &c->timezone);
}

static void load_modes(struct load *ld, const struct raw_config *r, kj_config *c)
{
    int v = (int)c->sync;
    set_enum(ld, "sync", r->sync, sync_names, COUNT(sync_names), &v);
    c->sync = (kj_sync_mode)v;
    v = (int)c->log_level;
    set_enum(ld, "log_level", r->log_level, level_names, COUNT(level_names), &v);
    c->log_level = (kj_log_level)v;
    set_bool(ld, "auth", r->auth, &c->auth);
    set_bool(ld, "strict_directory", r->strict_directory, &c->strict_directory);
}

static void set_count(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                      size_t *out)
{
    uint64_t v = *out;
    set_uint(ld, key, raw, lo, hi, &v);
    *out = (size_t)v;
}

static void set_bytes(struct load *ld, const char *key, const char *raw, uint64_t lo, uint64_t hi,
                      size_t *out)
{
    uint64_t v = *out;
    set_size(ld, key, raw, lo, hi, &v);
    *out = (size_t)v;
}

/* The limits: wide enough for any real office, narrow enough to catch a typo. */
static void load_limits(struct load *ld, const struct raw_config *r, kj_config *c)
{
    uint64_t v;
    set_size(ld, "map_size", r->map_size, MIB, 64 * TIB, &c->map_size);
    v = (uint64_t)c->retention_days;
    set_uint(ld, "retention_days", r->retention_days, 1, 3650, &v);
    c->retention_days = (int)v;
    set_duration(ld, "max_event_age", r->max_event_age, MIN_MS, 3650 * DAY_MS,
                 &c->max_event_age_ms);
    set_duration(ld, "max_clock_skew", r->max_clock_skew, 0, DAY_MS, &c->max_clock_skew_ms);
    set_bytes(ld, "max_body", r->max_body, KIB, 64 * MIB, &c->max_body);
    v = (uint64_t)c->min_push_interval_ms;
    set_uint(ld, "min_push_interval_ms", r->min_push_interval_ms, 0, 60000, &v);
    c->min_push_interval_ms = (int)v;
    set_count(ld, "max_batch", r->max_batch, 1, KJ_BATCH_MAX, &c->max_batch);
    set_count(ld, "ingest_queue", r->ingest_queue, 1, 65536, &c->ingest_queue);
    set_count(ld, "commit_group_events", r->commit_group_events, 1, 1000000,
              &c->commit_group_events);
    set_count(ld, "max_connections", r->max_connections, 1, 1000000, &c->max_connections);
    set_count(ld, "max_viewers", r->max_viewers, 1, 1000000, &c->max_viewers);
    set_bytes(ld, "viewer_backlog", r->viewer_backlog, 16 * KIB, GIB, &c->viewer_backlog);
    c->max_frame = c->max_body; /* the default follows max_body */
    set_bytes(ld, "max_frame", r->max_frame, KIB, 64 * MIB, &c->max_frame);
}

/* Events older than the raw log keeps could be accepted and dropped at once. */
static void check_retention(struct load *ld, const struct raw_config *r, const kj_config *c)
{
    if (c->max_event_age_ms <= (int64_t)c->retention_days * DAY_MS) return;
    char age[32];
    format_duration(c->max_event_age_ms, age, sizeof age);
    if (r->max_event_age)
        fail(ld, "max_event_age", "must not exceed retention_days (%d days)", c->retention_days);
    else
        fail(ld, "retention_days", "must cover max_event_age (%s)", age);
}

/* ---- listen: "host:port" or a list of them ---- */

static const char *split_listen(const char *s, kj_listen *out)
{
    const char *colon, *host = s;
    size_t host_len;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') return "must be [IPv6]:port, as in [::1]:7070";
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return "must be host:port, as in 127.0.0.1:7070";
        host_len = (size_t)(colon - s);
        if (memchr(s, ':', host_len)) return "an IPv6 address needs brackets, as in [::1]:7070";
    }
    uint64_t port;
    if (!parse_uint(colon + 1, &port) || port < 1 || port > 65535)
        return "the port must be from 1 to 65535";
    if (host_len < 1 || host_len > MAX_HOST || strcspn(host, " \t") < host_len)
        return "must be host:port, as in 127.0.0.1:7070";
    char *h = kj_strndup(host, host_len);
    struct in6_addr a6;
    if (s[0] == '[' && inet_pton(AF_INET6, h, &a6) != 1) {
        free(h);
        return "not an IPv6 address between the brackets";
    }
    char numeric[KJ_ADDR_MAX];
    const char *why = kj_addr_resolve(h, numeric);
    free(h);
    if (why) return why;
    out->host = kj_strdup(numeric);
    out->port = (int)port;
    return NULL;
}

static void add_listen(struct load *ld, const char *key, const kj_cfg_entry *e, kj_listen *list,
                       size_t *n)
{
    if (!e || e->kind != KJ_CFG_SCALAR) {
        fail(ld, key, "must be a \"host:port\" string");
        return;
    }
    const char *why = split_listen(e->value, &list[*n]);
    if (why) {
        fail(ld, key, "%s (got \"%.80s\")", why, e->value);
        return;
    }
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp(list[i].host, list[*n].host) && list[i].port == list[*n].port) {
            fail(ld, key, "duplicate address \"%.80s\"", e->value);
            free(list[*n].host);
            return;
        }
    }
    (*n)++;
}

static void load_listen(struct load *ld, kj_config *c)
{
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, "listen");
    if (!e || kj_cfg_entry_null(e)) return;
    if (e->kind == KJ_CFG_MAP) {
        fail(ld, "listen", "must be \"host:port\" or a list of them");
        return;
    }
    size_t want = e->kind == KJ_CFG_LIST ? e->count : 1, n = 0;
    if (want < 1 || want > MAX_LISTEN) {
        fail(ld, "listen", "must list from 1 to %d addresses", MAX_LISTEN);
        return;
    }
    kj_listen *list = kj_calloc(want, sizeof *list);
    if (e->kind == KJ_CFG_SCALAR) add_listen(ld, "listen", e, list, &n);
    for (size_t i = 0; e->kind == KJ_CFG_LIST && i < want; i++) {
        path p = item("listen", i);
        add_listen(ld, p.s, kj_cfg_lines_get(ld->ix, p.s), list, &n);
    }
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i].host);
    free(c->listen);
    c->listen = list;
    c->n_listen = n;
}

/* ---- units: "*" or a list of ids (tokens and indicators) ---- */

/* Returns false when key is absent (or null): the caller picks the default. */
static bool load_unit_list(struct load *ld, const char *key, bool *all, char ***units, size_t *n)
{
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, key);
    if (!e || kj_cfg_entry_null(e)) return false;
    if (e->kind == KJ_CFG_SCALAR && !strcmp(e->value, "*")) {
        *all = true;
        return true;
    }
    if (e->kind != KJ_CFG_LIST) {
        fail(ld, key, "must be \"*\" or a list of unit ids");
        return true;
    }
    *units = kj_calloc(e->count, sizeof **units);
    for (size_t i = 0; i < e->count; i++) {
        path p = item(key, i);
        const kj_cfg_entry *u = kj_cfg_lines_get(ld->ix, p.s);
        char *id = u && u->kind == KJ_CFG_SCALAR ? take_id(ld, p.s, u->value) : NULL;
        if (u && u->kind != KJ_CFG_SCALAR) fail(ld, p.s, "must be a unit id");
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
static void check_unique(struct load *ld, const char *list, const char *field, char *const *ids,
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
        path here = sub(item(list, refs[i].index).s, field);
        path there = sub(item(list, refs[first].index).s, field);
        fail(ld, here.s, "duplicate %s \"%s\" (first at line %d)", field, refs[i].id,
             kj_cfg_lines_line(ld->ix, there.s));
    }
    free(refs);
}

/* ---- tokens ---- */

static bool decode_hex(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0) return false;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return true;
}

static void load_digest(struct load *ld, const char *base, const char *raw, kj_token *t)
{
    path key = sub(base, "sha256");
    raw = leaf(ld, key.s, raw);
    if (!required(ld, key.s, raw)) return;
    if (!decode_hex(raw, t->sha256))
        fail(ld, key.s, "must be 64 hexadecimal digits (printf %%s SECRET | sha256sum)");
    else if (!strcasecmp(raw, empty_digest))
        fail(ld, key.s, "is the digest of an empty secret");
}

static void load_token(struct load *ld, size_t i, const struct raw_token *r, kj_token *t)
{
    path base = item("tokens", i), key = sub(base.s, "name");
    int role = -1;
    t->name = take_id(ld, key.s, r->name);
    load_digest(ld, base.s, r->sha256, t);
    key = sub(base.s, "role");
    if (required(ld, key.s, r->role))
        set_enum(ld, key.s, r->role, role_names, COUNT(role_names), &role);
    t->role = role < 0 ? KJ_ROLE_VIEWER : (kj_role)role;
    key = sub(base.s, "units");
    if (!load_unit_list(ld, key.s, &t->all_units, &t->units, &t->n_units)) {
        if (role == KJ_ROLE_ADMIN)
            t->all_units = true;
        else if (role >= 0)
            fail(ld, key.s, "required: a list of unit ids, or \"*\"");
    }
    key = sub(base.s, "employee");
    const char *employee = leaf(ld, key.s, r->employee);
    if (employee) t->employee = take_id(ld, key.s, employee);
    if (employee && role >= 0 && role != KJ_ROLE_VIEWER)
        fail(ld, key.s, "only a viewer token can be personal");
}

static void check_digests(struct load *ld, const kj_config *c)
{
    for (size_t i = 0; i < c->n_tokens; i++) {
        for (size_t k = 0; k < i; k++) {
            if (memcmp(c->tokens[i].sha256, c->tokens[k].sha256, 32)) continue;
            path here = sub(item("tokens", i).s, "sha256");
            path there = sub(item("tokens", k).s, "sha256");
            fail(ld, here.s, "same digest as tokens[%zu] (line %d): secrets must differ", k,
                 kj_cfg_lines_line(ld->ix, there.s));
            break;
        }
    }
}

static void load_tokens(struct load *ld, const struct raw_config *r, kj_config *c)
{
    c->n_tokens = r->tokens_count;
    c->tokens = kj_calloc(c->n_tokens, sizeof *c->tokens);
    char **names = kj_calloc(c->n_tokens, sizeof *names);
    for (size_t i = 0; i < c->n_tokens; i++) {
        load_token(ld, i, &r->tokens[i], &c->tokens[i]);
        names[i] = c->tokens[i].name;
    }
    check_unique(ld, "tokens", "name", names, c->n_tokens);
    check_digests(ld, c);
    free(names);
}

/* ---- units ---- */

static void load_named(struct load *ld, const char *base, const struct raw_named *r, size_t n,
                       kj_named **out, size_t *n_out)
{
    *n_out = n;
    *out = kj_calloc(n, sizeof **out);
    char **ids = kj_calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        path at = item(base, i);
        (*out)[i].id = ids[i] = take_id(ld, sub(at.s, "id").s, r[i].id);
        (*out)[i].name = take_name(ld, sub(at.s, "name").s, r[i].name, r[i].id);
    }
    check_unique(ld, base, "id", ids, n);
    free(ids);
}

static void load_unit(struct load *ld, size_t i, const struct raw_unit *r, kj_unit_conf *u)
{
    path base = item("units", i);
    u->id = take_id(ld, sub(base.s, "id").s, r->id);
    u->name = take_name(ld, sub(base.s, "name").s, r->name, r->id);
    uint64_t sla = 900000;
    set_uint(ld, sub(base.s, "sla_wait_ms").s, r->sla_wait_ms, 1, (uint64_t)DAY_MS, &sla);
    u->sla_wait_ms = (int64_t)sla;
    load_named(ld, sub(base.s, "members").s, r->members, r->members_count, &u->members,
               &u->n_members);
    load_named(ld, sub(base.s, "counters").s, r->counters, r->counters_count, &u->counters,
               &u->n_counters);
}

static void load_units(struct load *ld, const struct raw_config *r, kj_config *c)
{
    c->n_units = r->units_count;
    c->units = kj_calloc(c->n_units, sizeof *c->units);
    char **ids = kj_calloc(c->n_units, sizeof *ids);
    for (size_t i = 0; i < c->n_units; i++) {
        load_unit(ld, i, &r->units[i], &c->units[i]);
        ids[i] = c->units[i].id;
    }
    check_unique(ld, "units", "id", ids, c->n_units);
    free(ids);
}

/* ---- indicators ---- */

static void load_metric(struct load *ld, const char *base, const char *raw, char **out)
{
    path key = sub(base, "metric");
    raw = leaf(ld, key.s, raw);
    if (!required(ld, key.s, raw)) return;
    kj_metric metric;
    if (!kj_metric_parse(raw, &metric)) { /* the engine's own list: one place */
        char list[1536] = "";
        for (int i = 0; i < KJ_M_COUNT; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     kj_metric_name((kj_metric)i));
        fail(ld, key.s, "unknown metric \"%.80s\"; one of: %s", raw, list);
        return;
    }
    *out = kj_strdup(raw);
}

static void load_applies(struct load *ld, const char *base, const struct raw_indicator *r,
                         kj_indicator_conf *ind)
{
    path key = sub(base, "applies_to");
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, key.s);
    ind->for_unit = ind->for_employee = true;
    if (!e || kj_cfg_entry_null(e)) return;
    ind->for_unit = ind->for_employee = false;
    if (r->applies_to_count == 0) fail(ld, key.s, "must list unit, employee or both");
    for (size_t i = 0; i < r->applies_to_count; i++) {
        int v = -1;
        set_enum(ld, item(key.s, i).s, r->applies_to[i], applies_names, COUNT(applies_names), &v);
        if (v == 0) ind->for_unit = true;
        if (v == 1) ind->for_employee = true;
    }
}

static void load_overrides(struct load *ld, const char *base, const struct raw_indicator *r,
                           kj_indicator_conf *ind)
{
    path key = sub(base, "overrides");
    ind->n_overrides = r->overrides_count;
    ind->overrides = kj_calloc(ind->n_overrides, sizeof *ind->overrides);
    char **ids = kj_calloc(ind->n_overrides, sizeof *ids);
    for (size_t i = 0; i < ind->n_overrides; i++) {
        path at = item(key.s, i), target = sub(at.s, "target");
        kj_override *o = &ind->overrides[i];
        o->employee = ids[i] = take_id(ld, sub(at.s, "employee").s, r->overrides[i].employee);
        if (required(ld, target.s, r->overrides[i].target))
            set_number(ld, target.s, r->overrides[i].target, 0, 1e15, &o->target);
    }
    check_unique(ld, key.s, "employee", ids, ind->n_overrides);
    free(ids);
    if (ind->n_overrides && !ind->for_employee)
        fail(ld, key.s, "personal targets need applies_to to include employee");
}

static void load_indicator(struct load *ld, size_t i, const struct raw_indicator *r,
                           kj_indicator_conf *ind)
{
    path base = item("indicators", i), key = sub(base.s, "window");
    int v = -1;
    ind->id = take_id(ld, sub(base.s, "id").s, r->id);
    ind->name = take_name(ld, sub(base.s, "name").s, r->name, r->id);
    load_metric(ld, base.s, r->metric, &ind->metric);
    if (required(ld, key.s, r->window))
        set_enum(ld, key.s, r->window, window_names, KJ_WIN_COUNT, &v);
    ind->window = v < 0 ? KJ_WIN_TODAY : (kj_window)v;
    key = sub(base.s, "target");
    if (required(ld, key.s, r->target)) set_number(ld, key.s, r->target, 0, 1e15, &ind->target);
    key = sub(base.s, "better");
    v = -1;
    if (required(ld, key.s, r->better))
        set_enum(ld, key.s, r->better, better_names, COUNT(better_names), &v);
    ind->better = v == 1 ? KJ_BETTER_HIGHER : KJ_BETTER_LOWER;
    ind->warn_margin = 0.10;
    set_number(ld, sub(base.s, "warn_margin").s, r->warn_margin, 0, 10, &ind->warn_margin);
    uint64_t samples = 1;
    set_uint(ld, sub(base.s, "min_samples").s, r->min_samples, 1, KJ_MIN_SAMPLES_MAX, &samples);
    ind->min_samples = (uint32_t)samples;
    uint64_t hold = 0, escalate = 0;
    set_uint(ld, sub(base.s, "hold_ms").s, r->hold_ms, 0, DAY_MS, &hold);
    set_uint(ld, sub(base.s, "escalate_after_ms").s, r->escalate_after_ms, 0, DAY_MS, &escalate);
    ind->hold_ms = (int64_t)hold;
    ind->escalate_after_ms = (int64_t)escalate;
    load_applies(ld, base.s, r, ind);
    if (!load_unit_list(ld, sub(base.s, "units").s, &ind->all_units, &ind->units, &ind->n_units))
        ind->all_units = true;
    load_overrides(ld, base.s, r, ind);
}

static void load_indicators(struct load *ld, const struct raw_config *r, kj_config *c)
{
    c->n_indicators = r->indicators_count;
    c->indicators = kj_calloc(c->n_indicators, sizeof *c->indicators);
    char **ids = kj_calloc(c->n_indicators, sizeof *ids);
    for (size_t i = 0; i < c->n_indicators; i++) {
        load_indicator(ld, i, &r->indicators[i], &c->indicators[i]);
        ids[i] = c->indicators[i].id;
    }
    check_unique(ld, "indicators", "id", ids, c->n_indicators);
    free(ids);
}

/* ---- strict_directory: references must name what the file lists ---- */

static bool any_member(const kj_config *c, const char *employee)
{
    for (size_t i = 0; i < c->n_units; i++)
        if (kj_config_unit_has_member(&c->units[i], employee)) return true;
    return false;
}

static void check_unit_refs(struct load *ld, const kj_config *c, const char *key, char **units,
                            size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!kj_config_unit(c, units[i]))
            fail(ld, item(key, i).s, "unknown unit \"%s\" (strict_directory is on)", units[i]);
}

static void check_directory(struct load *ld, const kj_config *c)
{
    if (!c->strict_directory) return;
    for (size_t i = 0; i < c->n_tokens; i++) {
        const kj_token *t = &c->tokens[i];
        path base = item("tokens", i);
        check_unit_refs(ld, c, sub(base.s, "units").s, t->units, t->n_units);
        if (t->employee && !any_member(c, t->employee))
            fail(ld, sub(base.s, "employee").s, "unknown employee \"%s\" (strict_directory is on)",
                 t->employee);
    }
    for (size_t i = 0; i < c->n_indicators; i++) {
        const kj_indicator_conf *ind = &c->indicators[i];
        path base = item("indicators", i);
        check_unit_refs(ld, c, sub(base.s, "units").s, ind->units, ind->n_units);
        for (size_t k = 0; k < ind->n_overrides; k++) {
            const char *e = ind->overrides[k].employee;
            if (e && !any_member(c, e))
                fail(ld, sub(item(sub(base.s, "overrides").s, k).s, "employee").s,
                     "unknown employee \"%s\" (strict_directory is on)", e);
        }
    }
}

static void convert(struct load *ld, const struct raw_config *r, kj_config *c)
{
    load_listen(ld, c);
    load_paths(ld, r, c);
    load_modes(ld, r, c);
    load_limits(ld, r, c);
    check_retention(ld, r, c);
    load_tokens(ld, r, c);
    load_units(ld, r, c);
    load_indicators(ld, r, c);
    check_directory(ld, c);
}

/* ---- the file ---- */

static kj_err read_file(struct load *ld, const char *file, char **buf, size_t *len)
{
    char text[512];
    kj_err rc = KJ_ERR_IO;
    FILE *f = fopen(file, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(text, sizeof text, "%s: cannot read: %s", file, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_FILE) {
        snprintf(text, sizeof text, "%s: %s", file,
                 S_ISREG(st.st_mode) ? "bigger than 16MiB" : "not a regular file");
        goto fail;
    }
    *buf = kj_malloc((size_t)st.st_size + 1);
    *len = fread(*buf, 1, (size_t)st.st_size, f);
    (*buf)[*len] = '\0';
    if (ferror(f)) {
        snprintf(text, sizeof text, "%s: cannot read: %s", file, strerror(errno));
        free(*buf);
        *buf = NULL;
        goto fail;
    }
    fclose(f);
    return KJ_OK;
fail:
    add_problem(ld, 0, text);
    if (f) fclose(f);
    return rc;
}

kj_err kj_config_load(const char *file, kj_config **out, char *errbuf, size_t errlen)
{
    struct load ld = {.file = file};
    static const struct raw_config empty; /* an empty file: every default */
    struct raw_config *raw = NULL;
    kj_config *c = NULL;
    char *buf = NULL;
    size_t len = 0;
    if (errlen) errbuf[0] = '\0';

    kj_err rc = read_file(&ld, file, &buf, &len);
    if (rc != KJ_OK) goto done;
    rc = KJ_ERR_CONFIG;
    if (kj_cfg_lines_build(buf, len, index_problem, &ld, &ld.ix) != KJ_OK) goto done;
    if (!load_raw(&ld, buf, len, &raw)) goto done;
    kj_config_defaults(&c);
    c->path = kj_strdup(file);
    convert(&ld, raw ? raw : &empty, c);
    if (ld.n_errors) goto done;
    rc = KJ_OK;
    *out = c;
    c = NULL;
done:
    kj_config_free(c);
    free_raw(raw);
    kj_cfg_lines_free(ld.ix);
    free(buf);
    write_problems(&ld, errbuf, errlen);
    return rc;
}

/* ---- defaults, freeing, look-ups ---- */

kj_err kj_config_defaults(kj_config **out)
{
    kj_config *c = kj_calloc(1, sizeof *c);
    c->listen = kj_calloc(1, sizeof *c->listen);
    c->listen[0] = (kj_listen){kj_strdup("127.0.0.1"), 7070};
    c->n_listen = 1;
    c->state_dir = kj_strdup("./var");
    c->web_root = kj_strdup("./web");
    c->timezone = kj_strdup("Asia/Jakarta");
    c->sync = KJ_SYNC_FULL;
    c->map_size = 8 * GIB;
    c->retention_days = 400;
    c->max_event_age_ms = 35 * DAY_MS;
    c->max_clock_skew_ms = 5 * MIN_MS;
    c->max_body = MIB;
    c->min_push_interval_ms = 50;
    c->log_level = KJ_LOG_INFO;
    c->auth = true;
    c->max_batch = KJ_BATCH_MAX;
    c->ingest_queue = 256;
    c->commit_group_events = 20000;
    c->max_connections = 1024;
    c->max_viewers = 1000;
    c->viewer_backlog = MIB;
    c->max_frame = c->max_body;
    *out = c;
    return KJ_OK;
}

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void free_named(kj_named *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].id);
        free(list[i].name);
    }
    free(list);
}

static void free_indicator(kj_indicator_conf *ind)
{
    free(ind->id);
    free(ind->name);
    free(ind->metric);
    free_strings(ind->units, ind->n_units);
    for (size_t k = 0; k < ind->n_overrides; k++)
        free(ind->overrides[k].employee);
    free(ind->overrides);
}

void kj_config_free(kj_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i].host);
    free(c->listen);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        free_strings(c->tokens[i].units, c->tokens[i].n_units);
        free(c->tokens[i].employee);
    }
    free(c->tokens);
    for (size_t i = 0; i < c->n_units; i++) {
        free(c->units[i].id);
        free(c->units[i].name);
        free_named(c->units[i].members, c->units[i].n_members);
        free_named(c->units[i].counters, c->units[i].n_counters);
    }
    free(c->units);
    for (size_t i = 0; i < c->n_indicators; i++)
        free_indicator(&c->indicators[i]);
    free(c->indicators);
    free(c->path);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->state_dir);
    free(c->web_root);
    free(c->timezone);
    free(c);
}

bool kj_config_loopback_only(const kj_config *c)
{
    for (size_t i = 0; i < c->n_listen; i++)
        if (!kj_addr_is_loopback(c->listen[i].host)) return false;
    return true;
}

const kj_unit_conf *kj_config_unit(const kj_config *c, const char *id)
{
    for (size_t i = 0; c && id && i < c->n_units; i++)
        if (c->units[i].id && !strcmp(c->units[i].id, id)) return &c->units[i];
    return NULL;
}

static bool has_named(const kj_named *list, size_t n, const char *id)
{
    for (size_t i = 0; id && i < n; i++)
        if (list[i].id && !strcmp(list[i].id, id)) return true;
    return false;
}

bool kj_config_unit_has_member(const kj_unit_conf *u, const char *employee)
{
    return u && has_named(u->members, u->n_members, employee);
}

bool kj_config_unit_has_counter(const kj_unit_conf *u, const char *counter)
{
    return u && has_named(u->counters, u->n_counters, counter);
}

bool kj_token_allows_unit(const kj_token *tok, const char *unit)
{
    if (!tok || !unit) return false;
    if (tok->all_units) return true;
    for (size_t i = 0; i < tok->n_units; i++)
        if (!strcmp(tok->units[i], unit)) return true;
    return false;
}

const char *kj_window_name(kj_window w)
{
    return (unsigned)w < KJ_WIN_COUNT ? window_names[w] : "?";
}

bool kj_window_parse(const char *s, kj_window *out)
{
    int i = s ? find_name(s, window_names, KJ_WIN_COUNT) : -1;
    if (i < 0) return false;
    *out = (kj_window)i;
    return true;
}

/* ---- tokens: SHA-256 (FIPS 180-4) and a constant-time match ----
 *
 * Debian's libwebsockets 4.1 is built without LWS_WITH_GENCRYPTO, so
 * lws_genhash_* is declared but not exported; and libcrypto is not among our
 * link dependencies. A token check needs only this one hash, so it lives here. */

struct sha256 {
    uint32_t h[8];
    uint8_t block[64];
    size_t used;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
    return x >> n | x << (32 - n);
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], s[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(s, h, sizeof s);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = s[7] + (ror(s[4], 6) ^ ror(s[4], 11) ^ ror(s[4], 25)) +
                      ((s[4] & s[5]) ^ (~s[4] & s[6])) + sha256_k[i] + w[i];
        uint32_t t2 = (ror(s[0], 2) ^ ror(s[0], 13) ^ ror(s[0], 22)) +
                      ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        memmove(s + 1, s, 7 * sizeof s[0]);
        s[4] += t1;
        s[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += s[i];
}

static void sha256_update(struct sha256 *ctx, const uint8_t *p, size_t n)
{
    while (n) {
        size_t take = 64 - ctx->used < n ? 64 - ctx->used : n;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        n -= take;
        if (ctx->used == 64) {
            sha256_block(ctx->h, ctx->block);
            ctx->used = 0;
        }
    }
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256 ctx = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                          0x1f83d9ab, 0x5be0cd19}};
    uint8_t pad[72] = {0x80};
    uint64_t bits = (uint64_t)len * 8;
    sha256_update(&ctx, data, len);
    size_t padlen = (ctx.used < 56 ? 56 : 120) - ctx.used;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(&ctx, pad, padlen + 8);
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(ctx.h[i / 4] >> (24 - 8 * (i % 4)));
    explicit_bzero(&ctx, sizeof ctx);
}

const kj_token *kj_config_token(const kj_config *c, const char *secret, size_t len)
{
    uint8_t digest[32];
    size_t found = 0;
    unsigned have = 0;
    if (!c || !secret || !len) return NULL;
    sha256(secret, len, digest);
    /* Every token is compared in full, whatever matched before: the time taken
     * says nothing about how close a guess came. */
    for (size_t i = 0; i < c->n_tokens; i++) {
        unsigned diff = 0;
        for (int k = 0; k < 32; k++)
            diff |= digest[k] ^ c->tokens[i].sha256[k];
        unsigned match = ((diff - 1) >> 8) & 1 & ~have; /* 1 iff diff == 0 and none yet */
        size_t mask = (size_t)0 - match;
        found = (found & ~mask) | (i & mask);
        have |= match;
    }
    explicit_bzero(digest, sizeof digest);
    return have ? &c->tokens[found] : NULL;
}
