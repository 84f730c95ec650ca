/* kinerjad — loading the configuration: libcyaml checks the shape of the
 * document and hands over every leaf as a string; the loader parses those
 * strings strictly, applies the defaults and limits, and names the line of
 * each error from the libyaml index built first (config_lines.h). This file
 * holds the table of scalar keys and the top level (listen, the file, cyaml);
 * config_load.c the strict setters and the errors, config_directory.c tokens
 * and units, config_indicators.c the indicators, config_cluster.c the cluster
 * (config_priv.h); config.c frees and looks up what was loaded. */
#include "config.h"

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
#include "../proto/clock.h"
#include "../proto/duration.h"
#include "config_lines.h"
#include "config_priv.h"
#include "netaddr.h"

#define MAX_FILE (16 * MIB) /* a configuration is small; refuse to slurp a disk image */
#define MAX_LISTEN 16
#define MAX_HOST 253
#define ZONEINFO "/usr/share/zoneinfo/"

/* ---- the scalar keys: one row each ----
 *
 * A row drives everything about its key: the schema (cyaml reads it as a
 * string), the setter (parsed by kind, checked against the bounds, stored at
 * offset in kj_config with the field's width), the default, and the test that
 * examples/kinerjad.yaml documents every key and no other (kj_config_key).
 * Adding a scalar key is adding its field to kj_config and one row here (and
 * its line to examples/kinerjad.yaml and docs/man/kinerjad.yaml.5, which the
 * tests check: test_config against the table, test_docs the page). Rows are
 * applied in this order; a row that `follows` another takes that key's value
 * as its default. Keys with structure (listen, tokens, units, indicators)
 * have code of their own below. */

enum kind {
    K_STRING,   /* a non-empty string; text: the default (NULL: none) */
    K_ZONE,     /* a time zone name under ZONEINFO */
    K_ENUM,     /* one of names[]; def: the index of the default */
    K_BOOL,     /* true/false, yes/no, on/off */
    K_UINT,     /* an integer */
    K_SIZE,     /* bytes, or with KiB, MiB, GiB, TiB */
    K_DURATION, /* ms, s, m, h, d (proto/duration.h); stored as int64_t ms */
};

struct key {
    const char *name;
    enum kind kind;
    size_t offset, width; /* of the field in kj_config */
    uint64_t lo, hi, def; /* numbers: bounds and default */
    const char *text;     /* K_STRING, K_ZONE: the default */
    const char *const *names;
    size_t n_names;
    const char *follows; /* the default is this earlier key's value */
};

#define AT(field) offsetof(kj_config, field), sizeof(((kj_config *)0)->field)
#define ENUM(list) .names = list, .n_names = COUNT(list)

static const char *const sync_names[] = {"full", "periodic"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Limits are wide enough for any real office, narrow enough to catch a typo. */
static const struct key keys[] = {
    {"state_dir", K_STRING, AT(state_dir), .text = "./var"},
    {"web_root", K_STRING, AT(web_root), .text = "./web"},
    {"tls_cert", K_STRING, AT(tls_cert)},
    {"tls_key", K_STRING, AT(tls_key)},
    {"timezone", K_ZONE, AT(timezone), .text = "Asia/Jakarta"},
    {"sync", K_ENUM, AT(sync), .def = KJ_SYNC_FULL, ENUM(sync_names)},
    {"log_level", K_ENUM, AT(log_level), .def = KJ_LOG_INFO, ENUM(level_names)},
    {"auth", K_BOOL, AT(auth), .def = true},
    {"strict_directory", K_BOOL, AT(strict_directory), .def = false},
    {"map_size", K_SIZE, AT(map_size), MIB, 64 * TIB, 8 * GIB},
    {"retention_days", K_UINT, AT(retention_days), 1, 3650, 400},
    {"max_event_age", K_DURATION, AT(max_event_age_ms), KJ_MINUTE_MS, 3650 * KJ_DAY_MS,
     35 * KJ_DAY_MS},
    {"max_clock_skew", K_DURATION, AT(max_clock_skew_ms), 0, KJ_DAY_MS, 5 * KJ_MINUTE_MS},
    {"max_body", K_SIZE, AT(max_body), KIB, 64 * MIB, MIB},
    {"min_push_interval_ms", K_UINT, AT(min_push_interval_ms), 0, 60000, 50},
    {"max_batch", K_UINT, AT(max_batch), 1, KJ_BATCH_MAX, KJ_BATCH_MAX},
    {"ingest_queue", K_UINT, AT(ingest_queue), 1, 65536, 256},
    {"commit_group_events", K_UINT, AT(commit_group_events), 1, 1000000, 20000},
    {"id_merge_events", K_UINT, AT(id_merge_events), 256, 1000000, 16384},
    {"id_filter_size", K_SIZE, AT(id_filter_size), 0, 4 * GIB, 16 * MIB}, /* 0: no filter */
    {"agg_merge_bytes", K_SIZE, AT(agg_merge_bytes), 64 * KIB, 256 * MIB, MIB},
    {"agg_merge_entries", K_UINT, AT(agg_merge_entries), 256, 1000000, 4096},
    {"max_connections", K_UINT, AT(max_connections), 1, 1000000, 1024},
    {"max_viewers", K_UINT, AT(max_viewers), 1, 1000000, 1000},
    {"viewer_backlog", K_SIZE, AT(viewer_backlog), 16 * KIB, GIB, MIB},
    {"fanout_turn_bytes", K_SIZE, AT(fanout_turn_bytes), 16 * KIB, GIB, 256 * KIB},
    {"max_frame", K_SIZE, AT(max_frame), KIB, 64 * MIB, MIB, .follows = "max_body"},
    /* 0: up to max_connections from one address */
    {"max_connections_per_address", K_UINT, AT(max_connections_per_address), 0, 1000000, 0},
    {"header_timeout", K_DURATION, AT(header_timeout_ms), KJ_SEC_MS, KJ_HOUR_MS, 10 * KJ_SEC_MS},
    {"body_timeout", K_DURATION, AT(body_timeout_ms), KJ_SEC_MS, KJ_HOUR_MS, 30 * KJ_SEC_MS},
    {"max_open_tickets", K_UINT, AT(max_open_tickets), 1, 100000, 5000},
    {"overview_interval_ms", K_UINT, AT(overview_interval_ms), 100, 60000, 1000},
    {"coaching_after_days", K_UINT, AT(coaching_after_days), 1, 365, 3},
};
#define N_KEYS COUNT(keys)

/* The keys with a structure of their own, for kj_config_key. */
static const char *const structured_keys[] = {"listen",     "tokens",     "units",
                                              "indicators", "evaluation", "cluster"};

/* ---- what cyaml fills: every leaf a string, parsed below with its line ---- */

struct raw_evaluation {
    char *period, *above_pct;
};

struct raw_config {
    char *scalar[N_KEYS]; /* keys[i]'s value */
    struct raw_token *tokens;
    unsigned tokens_count;
    struct raw_unit *units;
    unsigned units_count;
    struct raw_indicator *indicators;
    unsigned indicators_count;
    struct raw_evaluation *evaluation;
    struct raw_cluster *cluster;
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

static const cyaml_schema_field_t cluster_fields[] = {
    EITHER("nats"),
    STR("stream", struct raw_cluster, stream),
    STR("replicas", struct raw_cluster, replicas),
    STR("node", struct raw_cluster, node),
    EITHER("units"),
    STR("creds", struct raw_cluster, creds),
    STR("max_inflight", struct raw_cluster, max_inflight),
    STR("publish_timeout", struct raw_cluster, publish_timeout),
    STR("tls_ca", struct raw_cluster, tls_ca),
    STR("tls_cert", struct raw_cluster, tls_cert),
    STR("tls_key", struct raw_cluster, tls_key),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t evaluation_fields[] = {
    STR("period", struct raw_evaluation, period),
    STR("above_pct", struct raw_evaluation, above_pct),
    CYAML_FIELD_END,
};

/* The top level: a string per row of keys[], then the keys with structure. */
struct schema {
    cyaml_schema_field_t fields[N_KEYS + 7];
    cyaml_schema_value_t top;
};

static void build_schema(struct schema *sc)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        sc->fields[i] = (cyaml_schema_field_t)STR("", struct raw_config, scalar[0]);
        sc->fields[i].key = keys[i].name;
        sc->fields[i].data_offset += i * sizeof(char *);
    }
    cyaml_schema_field_t *f = sc->fields + N_KEYS;
    *f++ = (cyaml_schema_field_t)EITHER("listen");
    *f++ = (cyaml_schema_field_t)SEQ("tokens", struct raw_config, tokens, &token_schema);
    *f++ = (cyaml_schema_field_t)SEQ("units", struct raw_config, units, &unit_schema);
    *f++ =
        (cyaml_schema_field_t)SEQ("indicators", struct raw_config, indicators, &indicator_schema);
    *f++ = (cyaml_schema_field_t)CYAML_FIELD_MAPPING_PTR(
        "evaluation", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_config, evaluation,
        evaluation_fields);
    *f++ = (cyaml_schema_field_t)CYAML_FIELD_MAPPING_PTR(
        "cluster", CYAML_FLAG_POINTER_NULL | CYAML_FLAG_OPTIONAL, struct raw_config, cluster,
        cluster_fields);
    *f = (cyaml_schema_field_t)CYAML_FIELD_END;
    sc->top = (cyaml_schema_value_t){
        CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, sc->fields),
    };
}

const char *kj_config_key(size_t i)
{
    if (i < N_KEYS) return keys[i].name;
    i -= N_KEYS;
    return i < COUNT(structured_keys) ? structured_keys[i] : NULL;
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
        p = t->frames[i].is_item ? kj_cfg_item(p.s, t->frames[i].item)
                                 : kj_cfg_sub(p.s, t->frames[i].field);
    return p;
}

static void report_cyaml(struct load *ld, cyaml_err_t err)
{
    const char *m = ld->trace.message;
    static const char unknown[] = "Unexpected key: ", expecting[] = "Expecting ";
    path p = trace_path(&ld->trace);
    if (!strncmp(m, unknown, sizeof unknown - 1)) {
        kj_cfg_fail(ld, kj_cfg_sub(p.s, m + sizeof unknown - 1).s, "unknown key");
    } else if (!strncmp(m, expecting, sizeof expecting - 1)) {
        const char *what = m + sizeof expecting - 1;
        const char *reason = !strncmp(what, "MAPPING", 7)    ? "must be a mapping (key: value)"
                             : !strncmp(what, "SEQUENCE", 8) ? "must be a list"
                                                             : "must be a single value, not a "
                                                               "list or a mapping";
        kj_cfg_fail(ld, p.s[0] ? p.s : "(document)", "%s", reason);
    } else {
        kj_cfg_fail(ld, p.s[0] ? p.s : "(document)", "%s", m[0] ? m : cyaml_strerror(err));
    }
}

static bool load_raw(struct load *ld, const struct schema *sc, const char *buf, size_t len,
                     struct raw_config **out)
{
    const cyaml_config_t cfg = {
        .log_fn = cyaml_capture,
        .log_ctx = ld,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS,
    };
    cyaml_err_t err =
        cyaml_load_data((const uint8_t *)buf, len, &cfg, &sc->top, (cyaml_data_t **)out, NULL);
    if (err == CYAML_OK) return true;
    report_cyaml(ld, err);
    return false;
}

static void free_raw(const struct schema *sc, struct raw_config *raw)
{
    const cyaml_config_t cfg = {.mem_fn = cyaml_mem, .log_fn = NULL, .log_level = CYAML_LOG_ERROR};
    if (raw) cyaml_free(&cfg, &sc->top, raw, 0);
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

static void set_zone(struct load *ld, const char *key, const char *raw, char **out)
{
    const char *zone = kj_cfg_leaf(ld, key, raw);
    if (zone && !zone_exists(zone))
        kj_cfg_fail(ld, key, "unknown time zone \"%.80s\" (no file under " ZONEINFO ")", zone);
    else
        kj_cfg_set_string(ld, key, zone, out);
}

/* A number of the row's field, whatever its width (int, enum, bool, size_t,
 * uint64_t, int64_t: every value a row allows is non-negative). */
static uint64_t get_number(const kj_config *c, const struct key *k)
{
    const char *p = (const char *)c + k->offset;
    uint32_t v32;
    uint64_t v64;
    if (k->width == sizeof v32) return memcpy(&v32, p, sizeof v32), v32;
    if (k->width == sizeof v64) return memcpy(&v64, p, sizeof v64), v64;
    return *(const bool *)p;
}

static void put_number(kj_config *c, const struct key *k, uint64_t v)
{
    char *p = (char *)c + k->offset;
    uint32_t v32 = (uint32_t)v;
    if (k->width == sizeof v32)
        memcpy(p, &v32, sizeof v32);
    else if (k->width == sizeof v)
        memcpy(p, &v, sizeof v);
    else
        *(bool *)p = v != 0;
}

static char **string_at(kj_config *c, const struct key *k)
{
    return (char **)((char *)c + k->offset);
}

static const struct key *key_named(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

/* The row's default, or the value of the key it follows. */
static void set_default(kj_config *c, const struct key *k)
{
    if (k->kind == K_STRING || k->kind == K_ZONE)
        *string_at(c, k) = k->text ? kj_strdup(k->text) : NULL;
    else
        put_number(c, k, k->follows ? get_number(c, key_named(k->follows)) : k->def);
}

/* Leaves the field alone when raw is absent (the default stays). */
static void set_key(struct load *ld, const struct key *k, const char *raw, kj_config *c)
{
    if (k->follows) put_number(c, k, get_number(c, key_named(k->follows)));
    uint64_t v = get_number(c, k);
    int64_t ms = (int64_t)v;
    int index = (int)v;
    bool b = v != 0;
    switch (k->kind) {
    case K_STRING: kj_cfg_set_string(ld, k->name, raw, string_at(c, k)); return;
    case K_ZONE: set_zone(ld, k->name, raw, string_at(c, k)); return;
    case K_ENUM:
        kj_cfg_set_enum(ld, k->name, raw, k->names, k->n_names, &index);
        v = (uint64_t)index;
        break;
    case K_BOOL:
        kj_cfg_set_bool(ld, k->name, raw, &b);
        v = b;
        break;
    case K_UINT: kj_cfg_set_uint(ld, k->name, raw, k->lo, k->hi, &v); break;
    case K_SIZE: kj_cfg_set_size(ld, k->name, raw, k->lo, k->hi, &v); break;
    case K_DURATION:
        kj_cfg_set_duration(ld, k->name, raw, (int64_t)k->lo, (int64_t)k->hi, &ms);
        v = (uint64_t)ms;
        break;
    }
    put_number(c, k, v);
}

static void load_keys(struct load *ld, const struct raw_config *r, kj_config *c)
{
    for (size_t i = 0; i < N_KEYS; i++)
        set_key(ld, &keys[i], r->scalar[i], c);
    if (!c->tls_cert != !c->tls_key)
        kj_cfg_fail(ld, c->tls_cert ? "tls_cert" : "tls_key", "tls_cert and tls_key go together");
}

/* evaluation (SPEC §15). above_pct below 100 would call a missed target
 * "above expectation". */
static void load_evaluation(struct load *ld, const struct raw_config *r, kj_config *c)
{
    static const char *const periods[] = {"month", "quarter", "year"}; /* kj_period_kind */
    if (!r->evaluation) return;
    kj_cfg_set_enum(ld, "evaluation.period", r->evaluation->period, periods, COUNT(periods),
                    &c->eval_period);
    kj_cfg_set_number(ld, "evaluation.above_pct", r->evaluation->above_pct, 100, 200,
                      &c->eval_above_pct);
}

/* Events older than the raw log keeps could be accepted and dropped at once. */
static void check_retention(struct load *ld, const kj_config *c)
{
    if (c->max_event_age_ms <= (int64_t)c->retention_days * KJ_DAY_MS) return;
    char age[32];
    kj_format_duration(c->max_event_age_ms, age, sizeof age);
    if (kj_cfg_leaf(ld, "max_event_age", NULL))
        kj_cfg_fail(ld, "max_event_age", "must not exceed retention_days (%d days)",
                    c->retention_days);
    else
        kj_cfg_fail(ld, "retention_days", "must cover max_event_age (%s)", age);
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
    if (!kj_cfg_parse_uint(colon + 1, &port) || port < 1 || port > 65535)
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
        kj_cfg_fail(ld, key, "must be a \"host:port\" string");
        return;
    }
    const char *why = split_listen(e->value, &list[*n]);
    if (why) {
        kj_cfg_fail(ld, key, "%s (got \"%.80s\")", why, e->value);
        return;
    }
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp(list[i].host, list[*n].host) && list[i].port == list[*n].port) {
            kj_cfg_fail(ld, key, "duplicate address \"%.80s\"", e->value);
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
        kj_cfg_fail(ld, "listen", "must be \"host:port\" or a list of them");
        return;
    }
    size_t want = e->kind == KJ_CFG_LIST ? e->count : 1, n = 0;
    if (want < 1 || want > MAX_LISTEN) {
        kj_cfg_fail(ld, "listen", "must list from 1 to %d addresses", MAX_LISTEN);
        return;
    }
    kj_listen *list = kj_calloc(want, sizeof *list);
    if (e->kind == KJ_CFG_SCALAR) add_listen(ld, "listen", e, list, &n);
    for (size_t i = 0; e->kind == KJ_CFG_LIST && i < want; i++) {
        path p = kj_cfg_item("listen", i);
        add_listen(ld, p.s, kj_cfg_lines_get(ld->ix, p.s), list, &n);
    }
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i].host);
    free(c->listen);
    c->listen = list;
    c->n_listen = n;
}

static void convert(struct load *ld, const struct raw_config *r, kj_config *c)
{
    load_listen(ld, c);
    load_keys(ld, r, c);
    load_evaluation(ld, r, c);
    check_retention(ld, c);
    kj_cfg_load_tokens(ld, r->tokens, r->tokens_count, c);
    kj_cfg_load_units(ld, r->units, r->units_count, c);
    kj_cfg_load_indicators(ld, r->indicators, r->indicators_count, c);
    kj_cfg_check_directory(ld, c);
    kj_cfg_load_cluster(ld, r->cluster, c);
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
    kj_cfg_add_problem(ld, 0, text);
    if (f) fclose(f);
    return rc;
}

kj_err kj_config_load(const char *file, kj_config **out, char *errbuf, size_t errlen)
{
    struct load ld = {.file = file};
    static const struct raw_config empty; /* an empty file: every default */
    struct raw_config *raw = NULL;
    struct schema sc;
    kj_config *c = NULL;
    char *buf = NULL;
    size_t len = 0;
    if (errlen) errbuf[0] = '\0';
    build_schema(&sc);

    kj_err rc = read_file(&ld, file, &buf, &len);
    if (rc != KJ_OK) goto done;
    rc = KJ_ERR_CONFIG;
    if (kj_cfg_lines_build(buf, len, kj_cfg_index_problem, &ld, &ld.ix) != KJ_OK) goto done;
    if (!load_raw(&ld, &sc, buf, len, &raw)) goto done;
    kj_config_defaults(&c);
    c->path = kj_strdup(file);
    convert(&ld, raw ? raw : &empty, c);
    if (ld.n_errors) goto done;
    rc = KJ_OK;
    *out = c;
    c = NULL;
done:
    kj_config_free(c);
    free_raw(&sc, raw);
    kj_cfg_lines_free(ld.ix);
    free(buf);
    kj_cfg_write_problems(&ld, errbuf, errlen);
    return rc;
}

/* ---- defaults, freeing, look-ups ---- */

kj_err kj_config_defaults(kj_config **out)
{
    kj_config *c = kj_calloc(1, sizeof *c);
    c->listen = kj_calloc(1, sizeof *c->listen);
    c->listen[0] = (kj_listen){kj_strdup("127.0.0.1"), 7070};
    c->n_listen = 1;
    for (size_t i = 0; i < N_KEYS; i++)
        set_default(c, &keys[i]);
    c->eval_above_pct = 110;
    *out = c;
    return KJ_OK;
}
