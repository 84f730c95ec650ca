/* Unit tests of daemon/config/config.c: defaults, every key, each limit at its
 * boundary, the form of every error (file, line, key, reason), token look-up
 * and loopback detection. Run from the repository root. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../proto/duration.h"
#include "config/access.h"
#include "config/config.h"
#include "metrics/metrics.h"

#define FIX "tests/unit/fixtures/config/"
#define ERRLEN 8192

/* ---- helpers ---- */

/* Loads text from a fresh temporary file; its name goes to path (for messages). */
static kj_err load_text(const char *text, kj_config **c, char *err, char path[64])
{
    strcpy(path, "/tmp/kj-config-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    kj_err rc = kj_config_load(path, c, err, ERRLEN);
    unlink(path);
    return rc;
}

/* text must load; returns the configuration (the caller frees it). */
static kj_config *load_ok(const char *text)
{
    kj_config *c = NULL;
    char err[ERRLEN], path[64];
    kj_err rc = load_text(text, &c, err, path);
    ck_assert_msg(rc == KJ_OK, "expected success for:\n%s\ngot %d:\n%s", text, rc, err);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(c);
    return c;
}

/* text must fail with exactly want, which is "LINE: key: reason" lines
 * without the file name (added here to each line). */
static void load_bad(const char *text, const char *want)
{
    kj_config *c = NULL;
    char err[ERRLEN], path[64], full[ERRLEN] = "";
    kj_err rc = load_text(text, &c, err, path);
    ck_assert_int_eq(rc, KJ_ERR_CONFIG);
    ck_assert_ptr_null(c);
    for (const char *line = want; *line;) {
        size_t n = strcspn(line, "\n");
        snprintf(full + strlen(full), sizeof full - strlen(full), "%s%s:%.*s", full[0] ? "\n" : "",
                 path, (int)n, line);
        line += n + (line[n] == '\n');
    }
    ck_assert_str_eq(err, full);
}

/* A fixture must fail with exactly want (full lines, file name included). */
static void fixture_bad(const char *file, const char *want)
{
    kj_config *c = NULL;
    char err[ERRLEN];
    ck_assert_int_eq(kj_config_load(file, &c, err, sizeof err), KJ_ERR_CONFIG);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, want);
}

static kj_config *fixture_ok(const char *file)
{
    kj_config *c = NULL;
    char err[ERRLEN];
    kj_err rc = kj_config_load(file, &c, err, sizeof err);
    ck_assert_msg(rc == KJ_OK, "%s: %d:\n%s", file, rc, err);
    ck_assert_str_eq(err, "");
    return c;
}

/* ---- defaults ---- */

static void assert_defaults(const kj_config *c)
{
    ck_assert_uint_eq(c->n_listen, 1);
    ck_assert_str_eq(c->listen[0].host, "127.0.0.1");
    ck_assert_int_eq(c->listen[0].port, 7070);
    ck_assert_ptr_null(c->tls_cert);
    ck_assert_ptr_null(c->tls_key);
    ck_assert_str_eq(c->state_dir, "./var");
    ck_assert_str_eq(c->web_root, "./web");
    ck_assert_str_eq(c->timezone, "Asia/Jakarta");
    ck_assert_int_eq(c->sync, KJ_SYNC_FULL);
    ck_assert_uint_eq(c->map_size, 8ULL << 30);
    ck_assert_int_eq(c->retention_days, 400);
    ck_assert_int_eq(c->max_event_age_ms, 35LL * 86400000);
    ck_assert_int_eq(c->max_clock_skew_ms, 300000);
    ck_assert_uint_eq(c->max_body, 1 << 20);
    ck_assert_int_eq(c->min_push_interval_ms, 50);
    ck_assert_int_eq(c->log_level, KJ_LOG_INFO);
    ck_assert(c->auth);
    ck_assert(!c->strict_directory);
    ck_assert_uint_eq(c->max_batch, 10000);
    ck_assert_uint_eq(c->ingest_queue, 256);
    ck_assert_uint_eq(c->commit_group_events, 20000);
    ck_assert_uint_eq(c->id_merge_events, 16384);
    ck_assert_uint_eq(c->agg_merge_bytes, 1u << 20);
    ck_assert_uint_eq(c->agg_merge_entries, 4096);
    ck_assert_uint_eq(c->max_connections, 1024);
    ck_assert_uint_eq(c->max_viewers, 1000);
    ck_assert_uint_eq(c->viewer_backlog, 1 << 20);
    ck_assert_uint_eq(c->fanout_turn_bytes, 256 * 1024);
    ck_assert_uint_eq(c->max_connections_per_address, 0);
    ck_assert_int_eq(c->header_timeout_ms, 10000);
    ck_assert_int_eq(c->body_timeout_ms, 30000);
    ck_assert_uint_eq(c->max_frame, c->max_body);
    ck_assert_uint_eq(c->max_open_tickets, 5000);
    ck_assert_int_eq(c->overview_interval_ms, 1000);
    ck_assert_int_eq(c->coaching_after_days, 3);
    ck_assert_uint_eq(c->n_tokens, 0);
    ck_assert_uint_eq(c->n_units, 0);
    ck_assert_uint_eq(c->n_indicators, 0);
}

START_TEST(defaults)
{
    kj_config *c = NULL;
    ck_assert_int_eq(kj_config_defaults(&c), KJ_OK);
    assert_defaults(c);
    ck_assert_ptr_null(c->path);
    ck_assert(kj_config_loopback_only(c));
    kj_config_free(c);
}
END_TEST

START_TEST(free_null)
{
    kj_config_free(NULL);
}
END_TEST

START_TEST(empty_file)
{
    kj_config *c = fixture_ok(FIX "empty.yaml");
    assert_defaults(c);
    ck_assert_str_eq(c->path, FIX "empty.yaml");
    kj_config_free(c);
}
END_TEST

START_TEST(null_means_default)
{
    kj_config *c = load_ok("listen: ~\nstate_dir: null\ntls_cert: null\nmap_size:\n");
    assert_defaults(c);
    kj_config_free(c);
}
END_TEST

/* ---- every key ---- */

static void assert_full_top(const kj_config *c)
{
    ck_assert_uint_eq(c->n_listen, 2);
    ck_assert_str_eq(c->listen[0].host, "0.0.0.0");
    ck_assert_int_eq(c->listen[0].port, 8080);
    ck_assert_str_eq(c->listen[1].host, "::1");
    ck_assert_int_eq(c->listen[1].port, 8081);
    ck_assert_str_eq(c->tls_cert, "/etc/kinerja/cert.pem");
    ck_assert_str_eq(c->tls_key, "/etc/kinerja/key.pem");
    ck_assert_str_eq(c->state_dir, "/srv/kinerja");
    ck_assert_str_eq(c->web_root, "/srv/web");
    ck_assert_str_eq(c->timezone, "Asia/Makassar");
    ck_assert_int_eq(c->sync, KJ_SYNC_PERIODIC);
    ck_assert_uint_eq(c->map_size, 2ULL << 30);
    ck_assert_int_eq(c->retention_days, 30);
    ck_assert_int_eq(c->max_event_age_ms, 7LL * 86400000);
    ck_assert_int_eq(c->max_clock_skew_ms, 30000);
    ck_assert_uint_eq(c->max_body, 512 * 1024);
    ck_assert_int_eq(c->min_push_interval_ms, 200);
    ck_assert_int_eq(c->log_level, KJ_LOG_DEBUG);
    ck_assert(!c->auth);
    ck_assert(c->strict_directory);
    ck_assert_uint_eq(c->max_batch, 500);
    ck_assert_uint_eq(c->ingest_queue, 64);
    ck_assert_uint_eq(c->commit_group_events, 5000);
    ck_assert_uint_eq(c->id_merge_events, 1024);
    ck_assert_uint_eq(c->agg_merge_bytes, 2u << 20);
    ck_assert_uint_eq(c->agg_merge_entries, 2000);
    ck_assert_uint_eq(c->max_connections, 300);
    ck_assert_uint_eq(c->max_viewers, 200);
    ck_assert_uint_eq(c->viewer_backlog, 256 * 1024);
    ck_assert_uint_eq(c->max_frame, 64 * 1024);
}

static void assert_full_tokens(const kj_config *c)
{
    static const uint8_t abc[4] = {0xba, 0x78, 0x16, 0xbf};
    ck_assert_uint_eq(c->n_tokens, 3);
    const kj_token *t = &c->tokens[0];
    ck_assert_str_eq(t->name, "loket");
    ck_assert_mem_eq(t->sha256, abc, sizeof abc);
    ck_assert_uint_eq(t->sha256[31], 0xad);
    ck_assert_int_eq(t->role, KJ_ROLE_INGEST);
    ck_assert(!t->all_units);
    ck_assert_uint_eq(t->n_units, 2);
    ck_assert_str_eq(t->units[0], "u1");
    ck_assert_str_eq(t->units[1], "u2");
    ck_assert_ptr_null(t->employee);
    t = &c->tokens[1];
    ck_assert_int_eq(t->role, KJ_ROLE_VIEWER);
    ck_assert(t->all_units);
    ck_assert_str_eq(t->employee, "198706152010012002");
    t = &c->tokens[2];
    ck_assert_int_eq(t->role, KJ_ROLE_ADMIN);
    ck_assert(t->all_units); /* an admin without units sees them all */
}

static void assert_full_units(const kj_config *c)
{
    ck_assert_uint_eq(c->n_units, 2);
    const kj_unit_conf *u = &c->units[0];
    ck_assert_str_eq(u->id, "u1");
    ck_assert_str_eq(u->name, "Pelayanan Terpadu");
    ck_assert_int_eq(u->sla_wait_ms, 600000);
    ck_assert_uint_eq(u->n_members, 2);
    ck_assert_str_eq(u->members[0].id, "198706152010012002");
    ck_assert_str_eq(u->members[0].name, "Siti Rahmawati");
    ck_assert_str_eq(u->members[1].name, "m2"); /* the name defaults to the id */
    ck_assert_uint_eq(u->n_counters, 1);
    ck_assert_str_eq(u->counters[0].id, "loket-1");
    ck_assert_str_eq(u->counters[0].name, "Loket 1");
    u = &c->units[1];
    ck_assert_str_eq(u->name, "u2");
    ck_assert_int_eq(u->sla_wait_ms, 900000);
    ck_assert_uint_eq(u->n_members + u->n_counters, 0);
}

static void assert_full_indicators(const kj_config *c)
{
    ck_assert_uint_eq(c->n_indicators, 2);
    const kj_indicator_conf *i = &c->indicators[0];
    ck_assert_str_eq(i->id, "wait-p90");
    ck_assert_str_eq(i->name, "Waktu tunggu p90");
    ck_assert_str_eq(i->metric, "services.wait_ms.p90");
    ck_assert_int_eq(i->window, KJ_WIN_1H);
    ck_assert_double_eq(i->target, 900000);
    ck_assert_int_eq(i->better, KJ_BETTER_LOWER);
    ck_assert_double_eq(i->warn_margin, 0.25);
    ck_assert_uint_eq(i->min_samples, 5);
    ck_assert(!i->for_unit);
    ck_assert(i->for_employee);
    ck_assert(!i->all_units);
    ck_assert_uint_eq(i->n_units, 1);
    ck_assert_str_eq(i->units[0], "u1");
    ck_assert_uint_eq(i->n_overrides, 1);
    ck_assert_str_eq(i->overrides[0].employee, "198706152010012002");
    ck_assert_double_eq(i->overrides[0].target, 600000.5);
    i = &c->indicators[1];
    ck_assert_str_eq(i->name, "ikm");
    ck_assert_int_eq(i->window, KJ_WIN_30D);
    ck_assert_double_eq_tol(i->target, 88.31, 1e-9);
    ck_assert_int_eq(i->better, KJ_BETTER_HIGHER);
    ck_assert_double_eq_tol(i->warn_margin, 0.10, 1e-12);
    ck_assert_uint_eq(i->min_samples, 1); /* the default */
    ck_assert(i->for_unit && i->for_employee);
    ck_assert(i->all_units);
    ck_assert_uint_eq(i->n_overrides, 0);
}

START_TEST(every_key)
{
    kj_config *c = fixture_ok(FIX "full.yaml");
    assert_full_top(c);
    assert_full_tokens(c);
    assert_full_units(c);
    assert_full_indicators(c);
    kj_config_free(c);
}
END_TEST

/* examples/kinerjad.yaml is the reference an administrator reads: it must show
 * every top-level key of the loader's table, and no key the loader lacks. */
START_TEST(example_documents_every_key)
{
    FILE *f = fopen("examples/kinerjad.yaml", "r");
    ck_assert_ptr_nonnull(f);
    char line[512], documented[64][64];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        /* top-level keys start the line; "# cluster:" documents a block that
         * is left out by default (a node without NATS) */
        const char *key = !strncmp(line, "# cluster:", 10) ? line + 2 : line;
        size_t len = strspn(key, "abcdefghijklmnopqrstuvwxyz_");
        if (len == 0 || key[len] != ':') continue;
        ck_assert_uint_lt(n, 64);
        snprintf(documented[n++], sizeof documented[0], "%.*s", (int)len, key);
    }
    fclose(f);
    for (size_t i = 0; kj_config_key(i); i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = !strcmp(documented[k], kj_config_key(i));
        ck_assert_msg(found, "key %s is not in examples/kinerjad.yaml", kj_config_key(i));
    }
    for (size_t k = 0; k < n; k++) {
        bool known = false;
        for (size_t i = 0; kj_config_key(i) && !known; i++)
            known = !strcmp(documented[k], kj_config_key(i));
        ck_assert_msg(known, "examples/kinerjad.yaml documents %s, which is no key", documented[k]);
    }
}
END_TEST

START_TEST(examples)
{
    kj_config *c = fixture_ok("examples/demo.yaml");
    ck_assert_str_eq(c->listen[0].host, "127.0.0.1");
    ck_assert_int_eq(c->listen[0].port, 7070);
    ck_assert_str_eq(c->state_dir, "./var/demo");
    ck_assert(c->auth);
    ck_assert_uint_eq(c->n_units, 3);
    ck_assert_uint_eq(c->units[0].n_counters, 4);
    ck_assert_uint_eq(c->units[0].n_members, 6);
    ck_assert_uint_eq(c->units[1].n_counters, 3);
    ck_assert_uint_eq(c->units[2].n_counters, 2);
    ck_assert_uint_eq(c->n_indicators, 6);
    ck_assert_int_eq(c->indicators[5].window, KJ_WIN_NOW); /* the queue now */
    const kj_token *t = kj_access_token(c, "demo-ingest", 11);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->role, KJ_ROLE_INGEST);
    t = kj_access_token(c, "demo-siti", 9);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->employee, "198706152010012002");
    ck_assert_ptr_nonnull(kj_access_token(c, "demo-viewer", 11));
    ck_assert_ptr_nonnull(kj_access_token(c, "demo-admin", 10));
    kj_config_free(c);

    c = fixture_ok("examples/kinerjad.yaml");
    ck_assert_str_eq(c->state_dir, "/var/lib/kinerja");
    ck_assert_str_eq(c->web_root, "/usr/share/kinerja/web");
    ck_assert_uint_eq(c->map_size, 8ULL << 30);
    ck_assert_uint_eq(c->max_frame, 1 << 20);
    ck_assert(kj_config_loopback_only(c));
    kj_config_free(c);
}
END_TEST

/* ---- each limit: valid at the limit, invalid just beyond ---- */

struct limit_case {
    const char *ok; /* valid at the limit */
    const char *field;
    double value;    /* what field must then hold */
    const char *bad; /* just beyond */
    const char *error;
};

static const struct limit_case limits[] = {
    {"map_size: 1MiB", "map_size", 1048576, "map_size: 1048575",
     "1: map_size: must be from 1MiB to 64TiB"},
    {"map_size: 64TiB", "map_size", 70368744177664.0, "map_size: 65TiB",
     "1: map_size: must be from 1MiB to 64TiB"},
    {"retention_days: 1\nmax_event_age: 1d", "retention_days", 1, "retention_days: 0",
     "1: retention_days: must be an integer from 1 to 3650"},
    {"retention_days: 3650", "retention_days", 3650, "retention_days: 3651",
     "1: retention_days: must be an integer from 1 to 3650"},
    {"max_event_age: 1m", "max_event_age_ms", 60000, "max_event_age: 59999ms",
     "1: max_event_age: must be from 1m to 3650d"},
    {"retention_days: 3650\nmax_event_age: 3650d", "max_event_age_ms", 3650 * 86400000.0,
     "retention_days: 3650\nmax_event_age: 3651d", "2: max_event_age: must be from 1m to 3650d"},
    {"max_clock_skew: 0", "max_clock_skew_ms", 0, "max_clock_skew: -1ms",
     "1: max_clock_skew: must be a duration with a unit: ms, s, m, h or d (\"1500ms\", \"35d\")"},
    {"max_clock_skew: 24h", "max_clock_skew_ms", 86400000, "max_clock_skew: 86400001ms",
     "1: max_clock_skew: must be from 0 to 1d"},
    {"max_body: 1KiB", "max_body", 1024, "max_body: 1023",
     "1: max_body: must be from 1KiB to 64MiB"},
    {"max_body: 64MiB", "max_body", 67108864, "max_body: 67108865",
     "1: max_body: must be from 1KiB to 64MiB"},
    {"min_push_interval_ms: 0", "min_push_interval_ms", 0, "min_push_interval_ms: -1",
     "1: min_push_interval_ms: must be an integer from 0 to 60000"},
    {"min_push_interval_ms: 60000", "min_push_interval_ms", 60000, "min_push_interval_ms: 60001",
     "1: min_push_interval_ms: must be an integer from 0 to 60000"},
    {"max_batch: 1", "max_batch", 1, "max_batch: 0",
     "1: max_batch: must be an integer from 1 to 10000"},
    {"max_batch: 10000", "max_batch", 10000, "max_batch: 10001",
     "1: max_batch: must be an integer from 1 to 10000"},
    {"ingest_queue: 1", "ingest_queue", 1, "ingest_queue: 0",
     "1: ingest_queue: must be an integer from 1 to 65536"},
    {"ingest_queue: 65536", "ingest_queue", 65536, "ingest_queue: 65537",
     "1: ingest_queue: must be an integer from 1 to 65536"},
    {"commit_group_events: 1", "commit_group_events", 1, "commit_group_events: 0",
     "1: commit_group_events: must be an integer from 1 to 1000000"},
    {"commit_group_events: 1000000", "commit_group_events", 1000000, "commit_group_events: 1000001",
     "1: commit_group_events: must be an integer from 1 to 1000000"},
    {"id_merge_events: 256", "id_merge_events", 256, "id_merge_events: 255",
     "1: id_merge_events: must be an integer from 256 to 1000000"},
    {"id_merge_events: 1000000", "id_merge_events", 1000000, "id_merge_events: 1000001",
     "1: id_merge_events: must be an integer from 256 to 1000000"},
    {"id_filter_size: 0", "id_filter_size", 0, "id_filter_size: -1",
     "1: id_filter_size: must be a size: bytes, or a number with KiB, MiB, GiB or TiB (\"1MiB\")"},
    {"id_filter_size: 4GiB", "id_filter_size", 4294967296.0, "id_filter_size: 4294967297",
     "1: id_filter_size: must be from 0 to 4GiB"},
    {"agg_merge_bytes: 64KiB", "agg_merge_bytes", 65536, "agg_merge_bytes: 65535",
     "1: agg_merge_bytes: must be from 64KiB to 256MiB"},
    {"agg_merge_bytes: 256MiB", "agg_merge_bytes", 268435456, "agg_merge_bytes: 268435457",
     "1: agg_merge_bytes: must be from 64KiB to 256MiB"},
    {"agg_merge_entries: 256", "agg_merge_entries", 256, "agg_merge_entries: 255",
     "1: agg_merge_entries: must be an integer from 256 to 1000000"},
    {"agg_merge_entries: 1000000", "agg_merge_entries", 1000000, "agg_merge_entries: 1000001",
     "1: agg_merge_entries: must be an integer from 256 to 1000000"},
    {"max_connections: 1", "max_connections", 1, "max_connections: 0",
     "1: max_connections: must be an integer from 1 to 1000000"},
    {"max_connections: 1000000", "max_connections", 1000000, "max_connections: 1000001",
     "1: max_connections: must be an integer from 1 to 1000000"},
    {"max_viewers: 1", "max_viewers", 1, "max_viewers: 0",
     "1: max_viewers: must be an integer from 1 to 1000000"},
    {"max_viewers: 1000000", "max_viewers", 1000000, "max_viewers: 1000001",
     "1: max_viewers: must be an integer from 1 to 1000000"},
    {"viewer_backlog: 16KiB", "viewer_backlog", 16384, "viewer_backlog: 16383",
     "1: viewer_backlog: must be from 16KiB to 1GiB"},
    {"viewer_backlog: 1GiB", "viewer_backlog", 1073741824, "viewer_backlog: 1073741825",
     "1: viewer_backlog: must be from 16KiB to 1GiB"},
    {"fanout_turn_bytes: 16KiB", "fanout_turn_bytes", 16384, "fanout_turn_bytes: 16383",
     "1: fanout_turn_bytes: must be from 16KiB to 1GiB"},
    {"fanout_turn_bytes: 1GiB", "fanout_turn_bytes", 1073741824, "fanout_turn_bytes: 1073741825",
     "1: fanout_turn_bytes: must be from 16KiB to 1GiB"},
    {"max_frame: 1KiB", "max_frame", 1024, "max_frame: 1023",
     "1: max_frame: must be from 1KiB to 64MiB"},
    {"max_frame: 64MiB", "max_frame", 67108864, "max_frame: 64MiB1",
     "1: max_frame: must be a size: bytes, or a number with KiB, MiB, GiB or TiB (\"1MiB\")"},
    {"max_connections_per_address: 0", "max_connections_per_address", 0,
     "max_connections_per_address: -1",
     "1: max_connections_per_address: must be an integer from 0 to 1000000"},
    {"max_connections_per_address: 1000000", "max_connections_per_address", 1000000,
     "max_connections_per_address: 1000001",
     "1: max_connections_per_address: must be an integer from 0 to 1000000"},
    {"header_timeout: 1s", "header_timeout_ms", 1000, "header_timeout: 999ms",
     "1: header_timeout: must be from 1s to 1h"},
    {"header_timeout: 1h", "header_timeout_ms", 3600000, "header_timeout: 3601s",
     "1: header_timeout: must be from 1s to 1h"},
    {"body_timeout: 1s", "body_timeout_ms", 1000, "body_timeout: 999ms",
     "1: body_timeout: must be from 1s to 1h"},
    {"body_timeout: 1h", "body_timeout_ms", 3600000, "body_timeout: 61m",
     "1: body_timeout: must be from 1s to 1h"},
    {"max_open_tickets: 1", "max_open_tickets", 1, "max_open_tickets: 0",
     "1: max_open_tickets: must be an integer from 1 to 100000"},
    {"max_open_tickets: 100000", "max_open_tickets", 100000, "max_open_tickets: 100001",
     "1: max_open_tickets: must be an integer from 1 to 100000"},
    {"overview_interval_ms: 100", "overview_interval_ms", 100, "overview_interval_ms: 99",
     "1: overview_interval_ms: must be an integer from 100 to 60000"},
    {"overview_interval_ms: 60000", "overview_interval_ms", 60000, "overview_interval_ms: 60001",
     "1: overview_interval_ms: must be an integer from 100 to 60000"},
    {"coaching_after_days: 1", "coaching_after_days", 1, "coaching_after_days: 0",
     "1: coaching_after_days: must be an integer from 1 to 365"},
    {"coaching_after_days: 365", "coaching_after_days", 365, "coaching_after_days: 366",
     "1: coaching_after_days: must be an integer from 1 to 365"},
    {"units:\n  - id: u\n    sla_wait_ms: 1", "sla_wait_ms", 1,
     "units:\n  - id: u\n    sla_wait_ms: 0",
     "3: units[0].sla_wait_ms: must be an integer from 1 to 86400000"},
    {"units:\n  - id: u\n    sla_wait_ms: 86400000", "sla_wait_ms", 86400000,
     "units:\n  - id: u\n    sla_wait_ms: 86400001",
     "3: units[0].sla_wait_ms: must be an integer from 1 to 86400000"},
    {"listen: \"10.0.0.1:1\"", "port", 1, "listen: \"10.0.0.1:0\"",
     "1: listen: the port must be from 1 to 65535 (got \"10.0.0.1:0\")"},
    {"listen: \"10.0.0.1:65535\"", "port", 65535, "listen: \"10.0.0.1:65536\"",
     "1: listen: the port must be from 1 to 65535 (got \"10.0.0.1:65536\")"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " warn_margin: 0}",
     "warn_margin", 0,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " warn_margin: -0.001}",
     "2: indicators[0].warn_margin: must be a number from 0 to 10"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " warn_margin: 10}",
     "warn_margin", 10,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " warn_margin: 10.001}",
     "2: indicators[0].warn_margin: must be a number from 0 to 10"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " min_samples: 1}",
     "min_samples", 1,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " min_samples: 0}",
     "2: indicators[0].min_samples: must be an integer from 1 to 100000"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " min_samples: 100000}",
     "min_samples", 100000,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " min_samples: 2.5}",
     "2: indicators[0].min_samples: must be an integer from 1 to 100000"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " hold_ms: 86400000}",
     "hold_ms", 86400000,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " hold_ms: 86400001}",
     "2: indicators[0].hold_ms: must be an integer from 0 to 86400000"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " escalate_after_ms: 0}",
     "escalate_after_ms", 0,
     "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher,"
     " escalate_after_ms: -1}",
     "2: indicators[0].escalate_after_ms: must be an integer from 0 to 86400000"},
    {"indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: 0, better: higher}", "target",
     0, "indicators:\n- {id: i, metric: ratings.avg, window: 1h, target: -1, better: higher}",
     "2: indicators[0].target: must be a number from 0 to 1e+15"},
};

static double field_value(const kj_config *c, const char *field)
{
    if (!strcmp(field, "map_size")) return (double)c->map_size;
    if (!strcmp(field, "retention_days")) return c->retention_days;
    if (!strcmp(field, "max_event_age_ms")) return (double)c->max_event_age_ms;
    if (!strcmp(field, "max_clock_skew_ms")) return (double)c->max_clock_skew_ms;
    if (!strcmp(field, "max_body")) return (double)c->max_body;
    if (!strcmp(field, "min_push_interval_ms")) return c->min_push_interval_ms;
    if (!strcmp(field, "max_batch")) return (double)c->max_batch;
    if (!strcmp(field, "ingest_queue")) return (double)c->ingest_queue;
    if (!strcmp(field, "commit_group_events")) return (double)c->commit_group_events;
    if (!strcmp(field, "id_merge_events")) return (double)c->id_merge_events;
    if (!strcmp(field, "id_filter_size")) return (double)c->id_filter_size;
    if (!strcmp(field, "agg_merge_bytes")) return (double)c->agg_merge_bytes;
    if (!strcmp(field, "agg_merge_entries")) return (double)c->agg_merge_entries;
    if (!strcmp(field, "max_connections")) return (double)c->max_connections;
    if (!strcmp(field, "max_viewers")) return (double)c->max_viewers;
    if (!strcmp(field, "viewer_backlog")) return (double)c->viewer_backlog;
    if (!strcmp(field, "fanout_turn_bytes")) return (double)c->fanout_turn_bytes;
    if (!strcmp(field, "max_frame")) return (double)c->max_frame;
    if (!strcmp(field, "max_connections_per_address"))
        return (double)c->max_connections_per_address;
    if (!strcmp(field, "header_timeout_ms")) return (double)c->header_timeout_ms;
    if (!strcmp(field, "body_timeout_ms")) return (double)c->body_timeout_ms;
    if (!strcmp(field, "max_open_tickets")) return (double)c->max_open_tickets;
    if (!strcmp(field, "overview_interval_ms")) return c->overview_interval_ms;
    if (!strcmp(field, "coaching_after_days")) return c->coaching_after_days;
    if (!strcmp(field, "sla_wait_ms")) return (double)c->units[0].sla_wait_ms;
    if (!strcmp(field, "port")) return c->listen[0].port;
    if (!strcmp(field, "warn_margin")) return c->indicators[0].warn_margin;
    if (!strcmp(field, "target")) return c->indicators[0].target;
    if (!strcmp(field, "min_samples")) return c->indicators[0].min_samples;
    if (!strcmp(field, "hold_ms")) return (double)c->indicators[0].hold_ms;
    if (!strcmp(field, "escalate_after_ms")) return (double)c->indicators[0].escalate_after_ms;
    ck_abort_msg("no field %s", field);
    return 0;
}

START_TEST(limit_at_boundary)
{
    const struct limit_case *lc = &limits[_i];
    kj_config *c = load_ok(lc->ok);
    ck_assert_double_eq(field_value(c, lc->field), lc->value);
    kj_config_free(c);
    load_bad(lc->bad, lc->error);
}
END_TEST

START_TEST(identifier_and_name_length)
{
    char text[1024], id[80], name[260];
    memset(id, 'a', 64);
    id[64] = '\0';
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(text, sizeof text, "units:\n  - id: %s\n    name: %s\n", id, name);
    kj_config_free(load_ok(text));
    snprintf(text, sizeof text, "units:\n  - id: %sa\n    name: %sn\n", id, name);
    load_bad(text, "2: units[0].id: must be 1-64 characters of A-Z a-z 0-9 . _ : - (got "
                   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\")\n"
                   "3: units[0].name: must be 1-200 bytes of UTF-8");
    load_bad("units:\n  - id: u\n    name: \"\"\n",
             "3: units[0].name: must be 1-200 bytes of UTF-8");
}
END_TEST

START_TEST(listen_count)
{
    char text[2048] = "listen:\n";
    for (int i = 0; i < 16; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  - \"127.0.0.1:%d\"\n",
                 7000 + i);
    kj_config *c = load_ok(text);
    ck_assert_uint_eq(c->n_listen, 16);
    ck_assert_int_eq(c->listen[15].port, 7015);
    kj_config_free(c);
    strcat(text, "  - \"127.0.0.1:8000\"\n");
    load_bad(text, "1: listen: must list from 1 to 16 addresses");
    load_bad("listen: []\n", "1: listen: must list from 1 to 16 addresses");
}
END_TEST

/* ---- parsers ---- */

START_TEST(parse_size)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"1000", 1000},
        {"1000B", 1000},
        {"512KiB", 524288},
        {"1MiB", 1048576},
        {"8GiB", 8589934592ULL},
        {"2TiB", 2ULL << 40},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ULL << 40},
    };
    static const char *const bad[] = {"",
                                      "MiB",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 MiB",
                                      "1.5MiB",
                                      "8GB",
                                      "8gib",
                                      "8G",
                                      "1KiBB",
                                      "0x10",
                                      "18446744073709551616",
                                      "16777216TiB"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 0;
        ck_assert_msg(kj_parse_size(good[i].text, &v), "%s", good[i].text);
        ck_assert_uint_eq(v, good[i].bytes);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(!kj_parse_size(bad[i], &v), "accepted \"%s\"", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
    ck_assert(!kj_parse_size(NULL, &(uint64_t){0}));
}
END_TEST

START_TEST(parse_duration)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"0", 0},
        {"1500ms", 1500},
        {"30s", 30000},
        {"5m", 300000},
        {"2h", 7200000},
        {"35d", 3024000000LL},
        {"106751991167d", 106751991167LL * 86400000},
    };
    static const char *const bad[] = {"",
                                      "10",
                                      "-5m",
                                      "+5m",
                                      "5 m",
                                      "5M",
                                      "1.5h",
                                      "d",
                                      "5min",
                                      "106751991168d",
                                      "9223372036854775808ms"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = 0;
        ck_assert_msg(kj_parse_duration_ms(good[i].text, &v), "%s", good[i].text);
        ck_assert_int_eq(v, good[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 7;
        ck_assert_msg(!kj_parse_duration_ms(bad[i], &v), "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(v, 7);
    }
}
END_TEST

START_TEST(bool_forms)
{
    kj_config *c = load_ok("auth: no\nstrict_directory: yes\n");
    ck_assert(!c->auth);
    ck_assert(c->strict_directory);
    kj_config_free(c);
    c = load_ok("auth: Off\nstrict_directory: TRUE\n");
    ck_assert(!c->auth);
    ck_assert(c->strict_directory);
    kj_config_free(c);
    load_bad("auth: 0\n", "1: auth: must be true or false");
}
END_TEST

START_TEST(numbers_strict)
{
    static const char *const bad[] = {"nan", "inf", "0x10", "1e400", "90%", " 90", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "indicators:\n- {id: i, metric: ratings.avg, window: 1h, better: higher, "
                 "target: \"%s\"}\n",
                 bad[i]);
        load_bad(text, "2: indicators[0].target: must be a number from 0 to 1e+15");
    }
    load_bad("retention_days: 12x\n", "1: retention_days: must be an integer from 1 to 3650");
    load_bad("retention_days: \" 12\"\n", "1: retention_days: must be an integer from 1 to 3650");
}
END_TEST

/* ---- listen ---- */

START_TEST(listen_forms)
{
    kj_config *c = load_ok("listen: \"[::1]:7070\"\n");
    ck_assert_uint_eq(c->n_listen, 1);
    ck_assert_str_eq(c->listen[0].host, "::1");
    ck_assert_int_eq(c->listen[0].port, 7070);
    kj_config_free(c);
    /* a name is resolved on load, a mapped address is its IPv4 address */
    c = load_ok("listen: [\"localhost:80\", \"[::]:81\", \"10.0.0.1:82\", "
                "\"[::ffff:127.0.0.1]:83\"]\n");
    ck_assert_uint_eq(c->n_listen, 4);
    ck_assert_msg(!strcmp(c->listen[0].host, "127.0.0.1") || !strcmp(c->listen[0].host, "::1"),
                  "localhost -> %s", c->listen[0].host);
    ck_assert_str_eq(c->listen[3].host, "127.0.0.1");
    ck_assert_str_eq(c->listen[1].host, "::");
    ck_assert_int_eq(c->listen[2].port, 82);
    kj_config_free(c);
}
END_TEST

static const struct {
    const char *text, *error;
} listen_bad[] = {
    {"listen: \"::1:7070\"",
     "1: listen: an IPv6 address needs brackets, as in [::1]:7070 (got \"::1:7070\")"},
    {"listen: \"[::1]7070\"",
     "1: listen: must be [IPv6]:port, as in [::1]:7070 (got \"[::1]7070\")"},
    {"listen: \"[nope]:1\"",
     "1: listen: not an IPv6 address between the brackets (got \"[nope]:1\")"},
    {"listen: \":7070\"", "1: listen: must be host:port, as in 127.0.0.1:7070 (got \":7070\")"},
    {"listen: \"h:70x\"", "1: listen: the port must be from 1 to 65535 (got \"h:70x\")"},
    {"listen: \"h:\"", "1: listen: the port must be from 1 to 65535 (got \"h:\")"},
    {"listen: {host: a}", "1: listen: must be \"host:port\" or a list of them"},
    {"listen:\n  - \"10.0.0.1:1\"\n  - [b]", "3: listen[1]: must be a \"host:port\" string"},
    {"listen:\n  - \"10.0.0.1:1\"\n  - \"10.0.0.1:1\"",
     "3: listen[1]: duplicate address \"10.0.0.1:1\""},
    {"listen: \"no-such-host.invalid:1\"",
     "1: listen: resolves to no address (a name is resolved when the daemon starts) (got "
     "\"no-such-host.invalid:1\")"},
    /* "lo" always exists on Linux: the harness of an earlier round wrote it */
    {"listen: \"lo:1\"", "1: listen: is a network interface, not an address: write its address "
                         "(for loopback, 127.0.0.1 or [::1]) (got \"lo:1\")"},
};

START_TEST(listen_errors)
{
    load_bad(listen_bad[_i].text, listen_bad[_i].error);
}
END_TEST

START_TEST(loopback)
{
    static const struct {
        const char *host;
        bool loopback;
    } cases[] = {
        /* hosts as the loader leaves them: numeric */
        {"127.0.0.1", true}, {"127.5.5.5", true}, {"::1", true},        {"0.0.0.0", false},
        {"10.0.0.1", false}, {"::", false},       {"128.0.0.1", false}, {"::2", false},
    };
    kj_config *c = NULL;
    kj_config_defaults(&c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        free(c->listen[0].host);
        c->listen[0].host = strdup(cases[i].host);
        ck_assert_msg(kj_config_loopback_only(c) == cases[i].loopback, "%s", cases[i].host);
    }
    kj_config_free(c);
    c = load_ok(
        "listen: [\"127.0.0.1:1\", \"[::1]:2\", \"localhost:3\", \"[::ffff:127.0.0.1]:4\"]\n"
        "auth: false\n");
    ck_assert(kj_config_loopback_only(c));
    kj_config_free(c);
    /* Not the loader's business: the daemon refuses to start with this. */
    c = load_ok("listen: [\"127.0.0.1:1\", \"0.0.0.0:2\"]\nauth: false\n");
    ck_assert(!kj_config_loopback_only(c));
    ck_assert(!c->auth);
    kj_config_free(c);
}
END_TEST

/* ---- error forms ---- */

/* evaluation (SPEC §15): the rapor's default period and above_pct, bounded. */
START_TEST(evaluation_keys)
{
    kj_config *c = load_ok("evaluation:\n  period: quarter\n  above_pct: 105.5\n");
    ck_assert_int_eq(c->eval_period, 1);
    ck_assert_double_eq(c->eval_above_pct, 105.5);
    kj_config_free(c);
    c = load_ok("state_dir: ./x\n");
    ck_assert_int_eq(c->eval_period, 0); /* month */
    ck_assert_double_eq(c->eval_above_pct, 110);
    kj_config_free(c);
    c = load_ok("evaluation:\n  above_pct: 200\n");
    ck_assert_double_eq(c->eval_above_pct, 200);
    kj_config_free(c);
    load_bad("evaluation:\n  period: week\n",
             "2: evaluation.period: must be one of month, quarter, year");
    load_bad("evaluation:\n  above_pct: 99.99\n",
             "2: evaluation.above_pct: must be a number from 100 to 200");
    load_bad("evaluation:\n  above_pct: 200.01\n",
             "2: evaluation.above_pct: must be a number from 100 to 200");
}
END_TEST

START_TEST(unknown_key)
{
    fixture_bad(FIX "bad_unknown_key.yaml", FIX "bad_unknown_key.yaml:2: listne: unknown key");
    fixture_bad(FIX "bad_nested_unknown_key.yaml",
                FIX "bad_nested_unknown_key.yaml:7: tokens[1].rol: unknown key");
    load_bad("units:\n  - id: u\n    counters:\n      - id: c\n        nama: x\n",
             "5: units[0].counters[0].nama: unknown key");
    load_bad("a.b: 1\n", "1: a.b: unknown key");
}
END_TEST

START_TEST(wrong_types)
{
    fixture_bad(FIX "bad_type_list.yaml", FIX "bad_type_list.yaml:2: units: must be a list");
    fixture_bad(FIX "bad_type_scalar.yaml",
                FIX "bad_type_scalar.yaml:3: units[0].name: must be a single value, not a list "
                    "or a mapping");
    fixture_bad(FIX "bad_document.yaml",
                FIX "bad_document.yaml:1: (document): must be a mapping (key: value)");
    load_bad("tokens:\n  - just-a-name\n", "2: tokens[0]: must be a mapping (key: value)");
    load_bad("indicators:\n  - id: i\n    applies_to: unit\n",
             "3: indicators[0].applies_to: must be a list");
}
END_TEST

START_TEST(syntax_errors)
{
    fixture_bad(FIX "bad_syntax.yaml",
                FIX "bad_syntax.yaml:4: syntax error: did not find expected '-' indicator (while "
                    "parsing a block collection at line 3)");
    fixture_bad(FIX "bad_duplicate_key.yaml",
                FIX "bad_duplicate_key.yaml:3: auth: duplicate key (first at line 1)");
    fixture_bad(FIX "bad_alias.yaml", FIX "bad_alias.yaml:2: web_root: aliases are not supported");
    load_bad("auth: true\n---\nauth: false\n", "2: only one YAML document is allowed");
    load_bad("? [a, b]\n: 1\n", "1: keys must be plain strings");
    /* Encoding errors come from libyaml's reader, as an offset: still a line. */
    load_bad("auth: true\nstate_dir: \"a\xff\"\n", "2: syntax error: invalid leading UTF-8 octet");
    load_bad("auth: true\n\nweb_root: \"\x01\"\n",
             "3: syntax error: control characters are not allowed");
}
END_TEST

START_TEST(bad_values)
{
#define F FIX "bad_values.yaml:"
    fixture_bad(
        FIX "bad_values.yaml",
        F "1: listen: must be host:port, as in 127.0.0.1:7070 (got \"127.0.0.1\")\n" F
          "2: tls_cert: tls_cert and tls_key go together\n" F "3: state_dir: must not be empty\n" F
          "4: timezone: unknown time zone \"Mars/Olympus_Mons\" (no file under "
          "/usr/share/zoneinfo/)\n" F "5: sync: must be one of full, periodic\n" F
          "6: map_size: must be a size: bytes, or a number with KiB, MiB, GiB or TiB (\"1MiB\")\n" F
          "7: retention_days: must be an integer from 1 to 3650\n" F
          "8: max_event_age: must be a duration with a unit: ms, s, m, h or d (\"1500ms\", "
          "\"35d\")\n" F "9: max_clock_skew: must be from 0 to 1d\n" F
          "10: max_body: must be from 1KiB to 64MiB\n" F
          "11: min_push_interval_ms: must be an integer from 0 to 60000\n" F
          "12: log_level: must be one of error, warn, info, debug\n" F
          "13: auth: must be true or false\n" F "14: strict_directory: must be true or false\n" F
          "15: max_batch: must be an integer from 1 to 10000\n" F
          "16: ingest_queue: must be an integer from 1 to 65536\n" F
          "17: viewer_backlog: must be from 16KiB to 1GiB");
#undef F
}
END_TEST

/* ---- cluster (SPEC §17) ---- */

START_TEST(cluster_absent_and_defaults)
{
    kj_config *c = load_ok("auth: true\n");
    ck_assert_ptr_null(c->cluster); /* without cluster: one node, nothing changes */
    kj_config_free(c);
    c = load_ok("cluster:\n  node: jkt-1\n");
    ck_assert_ptr_nonnull(c->cluster);
    ck_assert_uint_eq(c->cluster->n_nats, 1);
    ck_assert_str_eq(c->cluster->nats[0], "nats://127.0.0.1:4222");
    ck_assert_str_eq(c->cluster->stream, "KINERJA");
    ck_assert_int_eq(c->cluster->replicas, 3);
    ck_assert_str_eq(c->cluster->node, "jkt-1");
    ck_assert(c->cluster->all_units);
    ck_assert_ptr_null(c->cluster->creds);
    ck_assert_uint_eq(c->cluster->max_inflight, 10000);
    ck_assert_int_eq(c->cluster->publish_timeout_ms, 5000);
    kj_config_free(c);
}
END_TEST

/* Whether a cluster block with these extra lines talks TLS to NATS. */
static bool c_tls(const char *lines)
{
    char text[512];
    snprintf(text, sizeof text, "cluster:\n  node: a\n%s", lines);
    kj_config *c = load_ok(text);
    bool tls = c->cluster->tls;
    kj_config_free(c);
    return tls;
}

START_TEST(cluster_every_key)
{
    kj_config *c = load_ok("cluster:\n"
                           "  nats: [\"nats://10.0.0.1:4222\", \"tls://10.0.0.2:4222\"]\n"
                           "  stream: KJ_TEST\n"
                           "  replicas: 1\n"
                           "  node: bdg-2\n"
                           "  units: [kasemen-pelayanan, serang.kota]\n"
                           "  creds: /dev/null\n"
                           "  max_inflight: 1\n"
                           "  publish_timeout: 100ms\n");
    const kj_cluster_conf *cl = c->cluster;
    ck_assert_uint_eq(cl->n_nats, 2);
    ck_assert_str_eq(cl->nats[1], "tls://10.0.0.2:4222");
    ck_assert_str_eq(cl->stream, "KJ_TEST");
    ck_assert_int_eq(cl->replicas, 1);
    ck_assert(!cl->all_units);
    ck_assert_uint_eq(cl->n_units, 2);
    ck_assert_str_eq(cl->units[1], "serang.kota");
    ck_assert_str_eq(cl->creds, "/dev/null");
    ck_assert_uint_eq(cl->max_inflight, 1);
    ck_assert_int_eq(cl->publish_timeout_ms, 100);
    kj_config_free(c);
    c = load_ok("cluster:\n  nats: \"nats://h:1\"\n  node: a\n  units: \"*\"\n  replicas: 5\n");
    ck_assert(c->cluster->all_units);
    ck_assert_int_eq(c->cluster->replicas, 5);
    kj_config_free(c);
    /* TLS: by a tls:// URL, or by any tls_ key (then for every server). */
    ck_assert(!c_tls("  nats: \"nats://h:1\"\n"));
    ck_assert(c_tls("  nats: [\"nats://h:1\", \"tls://h:2\"]\n"));
    ck_assert(c_tls("  tls_ca: /dev/null\n"));
    ck_assert(c_tls("  tls_cert: /dev/null\n  tls_key: /dev/null\n"));
}
END_TEST

START_TEST(cluster_errors)
{
    load_bad("cluster:\n  node: a\n  nodes: b\n", "3: cluster.nodes: unknown key");
    load_bad("cluster:\n"
             "  nats: [\"nats://127.0.0.1:4222\", \"http://x\"]\n"
             "  stream: \"KIN.ERJA\"\n"
             "  replicas: 6\n"
             "  units: [a, \"b c\"]\n"
             "  creds: /nonexistent/creds\n"
             "  max_inflight: 0\n"
             "  publish_timeout: 99ms\n",
             "1: cluster.node: required: this node's name (its durable consumer), e.g. jkt-1\n"
             "2: cluster.nats[1]: must be a server URL nats://host:port or tls://host:port "
             "(got \"http://x\")\n"
             "3: cluster.stream: must be 1-64 characters of A-Z a-z 0-9 _ - (got \"KIN.ERJA\")\n"
             "4: cluster.replicas: must be an integer from 1 to 5\n"
             "5: cluster.units[1]: must be 1-64 characters of A-Z a-z 0-9 . _ : - (got \"b c\")\n"
             "6: cluster.creds: cannot read /nonexistent/creds: No such file or directory\n"
             "7: cluster.max_inflight: must be an integer from 1 to 1000000\n"
             "8: cluster.publish_timeout: must be from 100ms to 10m");
    load_bad("cluster:\n  node: \"jkt.1\"\n  nats: []\n",
             "2: cluster.node: must be 1-64 characters of A-Z a-z 0-9 _ - (got \"jkt.1\")\n"
             "3: cluster.nats: must be a server URL or a list of 1 to 32 of them");
    load_bad("cluster: [a]\n", "1: cluster: must be a mapping (key: value)");
    load_bad("cluster:\n  node: a\n  tls_cert: /dev/null\n  tls_ca: /nonexistent/ca.pem\n",
             "3: cluster.tls_cert: tls_cert and tls_key go together\n"
             "4: cluster.tls_ca: cannot read /nonexistent/ca.pem: No such file or directory");
    /* One durable consumer per listed unit: none, or one twice, is an error. */
    load_bad("cluster:\n  node: a\n  units: []\n",
             "3: cluster.units: must be \"*\" or a list of at least one unit id");
    load_bad("cluster:\n  node: a\n  units: [x, y, x]\n", "3: cluster.units: lists unit x twice");
}
END_TEST

START_TEST(bad_tokens)
{
#define F FIX "bad_tokens.yaml:"
    fixture_bad(
        FIX "bad_tokens.yaml",
        F "2: tokens[0].name: must be 1-64 characters of A-Z a-z 0-9 . _ : - (got \"not "
          "an id\")\n" F "3: tokens[0].sha256: must be 64 hexadecimal digits (printf %s SECRET | "
          "sha256sum)\n" F "4: tokens[0].role: must be one of ingest, viewer, admin, supervisor\n" F
          "5: tokens[1].name: required\n" F
          "5: tokens[1].sha256: is the digest of an empty secret\n" F
          "5: tokens[1].units: required: a list of unit ids, or \"*\"\n" F
          "11: tokens[2].employee: only a viewer token can be personal\n" F
          "12: tokens[3].name: duplicate name \"loket\" (first at line 7)\n" F
          "13: tokens[3].sha256: same digest as tokens[2] (line 8): secrets must differ\n" F
          "15: tokens[3].units: must be \"*\" or a list of unit ids");
#undef F
}
END_TEST

START_TEST(bad_sha256)
{
    static const struct {
        const char *digest, *error;
    } cases[] = {
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
         "must be 64 hexadecimal digits (printf %s SECRET | sha256sum)"},
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
         "must be 64 hexadecimal digits (printf %s SECRET | sha256sum)"},
        {"ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "must be 64 hexadecimal digits (printf %s SECRET | sha256sum)"},
        {"", "must be 64 hexadecimal digits (printf %s SECRET | sha256sum)"},
        {"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
         "is the digest of an empty secret"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512], want[256];
        snprintf(text, sizeof text, "tokens:\n  - name: t\n    role: admin\n    sha256: \"%s\"\n",
                 cases[i].digest);
        snprintf(want, sizeof want, "4: tokens[0].sha256: %s", cases[i].error);
        load_bad(text, want);
    }
    load_bad("tokens:\n  - name: t\n    role: admin\n", "2: tokens[0].sha256: required");
}
END_TEST

START_TEST(bad_units)
{
#define F FIX "bad_units.yaml:"
    fixture_bad(FIX "bad_units.yaml",
                F "3: units[0].sla_wait_ms: must be an integer from 1 to 86400000\n" F
                  "7: units[0].members[2].id: duplicate id \"m1\" (first at line 5)\n" F
                  "8: units[0].members[2].name: must be 1-200 bytes of UTF-8\n" F
                  "11: units[0].counters[1].id: required\n" F
                  "12: units[0].counters[2].id: duplicate id \"loket-1\" (first at line 10)\n" F
                  "13: units[1].id: duplicate id \"u1\" (first at line 2)\n" F
                  "14: units[2].id: required");
#undef F
}
END_TEST

START_TEST(bad_indicators)
{
#define F FIX "bad_indicators.yaml:"
    fixture_bad(
        FIX "bad_indicators.yaml", F
        "3: indicators[0].metric: unknown metric \"services.wait_ms.p95\"; one of: tasks.count, "
        "tasks.on_time_pct, tasks.quality_avg, tasks.duration_ms.avg, tasks.duration_ms.p50, "
        "tasks.duration_ms.p90, tasks.duration_ms.max, services.count, services.no_show, "
        "services.sla_pct, services.per_hour, services.wait_ms.avg, services.wait_ms.p50, "
        "services.wait_ms.p90, services.wait_ms.max, services.service_ms.avg, "
        "services.service_ms.p50, services.service_ms.p90, services.service_ms.max, "
        "ratings.count, ratings.avg, ratings.ikm, ratings.peer_avg, ratings.supervisor_avg, "
        "ratings.ikm_elements.U1, ratings.ikm_elements.U2, ratings.ikm_elements.U3, "
        "ratings.ikm_elements.U4, ratings.ikm_elements.U5, ratings.ikm_elements.U6, "
        "ratings.ikm_elements.U7, ratings.ikm_elements.U8, ratings.ikm_elements.U9, queue.waiting, "
        "queue.longest_wait_ms\n" F
        "4: indicators[0].window: must be one of 15m, 1h, today, 7d, 30d, now\n" F
        "5: indicators[0].target: must be a number from 0 to 1e+15\n" F
        "6: indicators[0].better: must be one of lower, higher\n" F
        "7: indicators[0].warn_margin: must be a number from 0 to 10\n" F
        "8: indicators[0].applies_to[1]: must be one of unit, employee\n" F
        "9: indicators[1].id: duplicate id \"wait\" (first at line 2)\n" F
        "15: indicators[1].overrides: personal targets need applies_to to include employee\n" F
        "18: indicators[1].overrides[1].employee: duplicate employee \"e1\" (first at line 16)\n" F
        "20: indicators[2].id: required\n" F "20: indicators[2].metric: required\n" F
        "20: indicators[2].window: required\n" F "20: indicators[2].target: required\n" F
        "20: indicators[2].better: required\n" F
        "21: indicators[2].applies_to: must list unit, employee or both");
#undef F
}
END_TEST

START_TEST(every_metric_path)
{
    /* every path the metrics engine knows is a valid indicator metric */
    char text[8192] = "indicators:\n";
    for (size_t i = 0; i < KJ_M_COUNT; i++)
        snprintf(
            text + strlen(text), sizeof text - strlen(text),
            "  - {id: i%zu, metric: %s, window: %s, target: 1, better: higher}\n", i,
            kj_metric_name((kj_metric)i),
            kj_window_name(i >= KJ_M_QUEUE_WAITING ? KJ_WIN_NOW : (kj_window)(i % KJ_WIN_COUNT)));
    kj_config *c = load_ok(text);
    ck_assert_uint_eq(c->n_indicators, KJ_M_COUNT);
    ck_assert_str_eq(c->indicators[23].metric, "ratings.supervisor_avg");
    ck_assert_str_eq(c->indicators[KJ_M_COUNT - 1].metric, "queue.longest_wait_ms");
    ck_assert_int_eq(c->indicators[KJ_M_COUNT - 1].window, KJ_WIN_NOW);
    ck_assert(!c->indicators[KJ_M_COUNT - 1].for_employee); /* a queue is the unit's */
    kj_config_free(c);
    /* the queue's metrics are a state now, the others windowed */
    load_bad("indicators:\n  - {id: i, metric: queue.waiting, window: today, target: 1, better: "
             "lower}\n",
             "2: indicators[0].window: queue.waiting needs window: now");
    load_bad("indicators:\n  - {id: i, metric: services.count, window: now, target: 1, better: "
             "lower}\n",
             "2: indicators[0].window: now is only for queue.waiting and queue.longest_wait_ms");
    load_bad("indicators:\n  - {id: i, metric: ratings.ikm_grade, window: 7d, target: 1, better: "
             "higher}\n",
             "2: indicators[0].metric: unknown metric \"ratings.ikm_grade\"; one of: tasks.count, "
             "tasks.on_time_pct, tasks.quality_avg, tasks.duration_ms.avg, tasks.duration_ms.p50, "
             "tasks.duration_ms.p90, tasks.duration_ms.max, services.count, services.no_show, "
             "services.sla_pct, services.per_hour, services.wait_ms.avg, services.wait_ms.p50, "
             "services.wait_ms.p90, services.wait_ms.max, services.service_ms.avg, "
             "services.service_ms.p50, services.service_ms.p90, services.service_ms.max, "
             "ratings.count, ratings.avg, ratings.ikm, ratings.peer_avg, ratings.supervisor_avg, "
             "ratings.ikm_elements.U1, ratings.ikm_elements.U2, ratings.ikm_elements.U3, "
             "ratings.ikm_elements.U4, ratings.ikm_elements.U5, ratings.ikm_elements.U6, "
             "ratings.ikm_elements.U7, ratings.ikm_elements.U8, ratings.ikm_elements.U9, "
             "queue.waiting, queue.longest_wait_ms");
}
END_TEST

START_TEST(strict_directory)
{
#define F FIX "bad_strict.yaml:"
    fixture_bad(FIX "bad_strict.yaml",
                F "6: tokens[0].units[1]: unknown unit \"u9\" (strict_directory is on)\n" F
                  "7: tokens[0].employee: unknown employee \"e9\" (strict_directory is on)\n" F
                  "18: indicators[0].units[0]: unknown unit \"u8\" (strict_directory is on)\n" F
                  "20: indicators[0].overrides[0].employee: unknown employee \"e7\" "
                  "(strict_directory is on)");
#undef F
}
END_TEST

START_TEST(timezone_checks)
{
    static const char *const bad[] = {
        "Mars/Olympus_Mons", "../../etc/passwd", "/etc/passwd", "Asia", "Asia/../Asia/Jakarta", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256], want[256];
        snprintf(text, sizeof text, "timezone: \"%s\"\n", bad[i]);
        snprintf(want, sizeof want,
                 "1: timezone: unknown time zone \"%s\" (no file under /usr/share/zoneinfo/)",
                 bad[i]);
        load_bad(text, want);
    }
    kj_config *c = load_ok("timezone: UTC\n");
    ck_assert_str_eq(c->timezone, "UTC");
    kj_config_free(c);
}
END_TEST

START_TEST(cross_checks)
{
    load_bad("retention_days: 30\n", "1: retention_days: must cover max_event_age (35d)");
    load_bad("retention_days: 30\nmax_event_age: 31d\n",
             "2: max_event_age: must not exceed retention_days (30 days)");
    load_bad("tls_key: /k.pem\n", "1: tls_key: tls_cert and tls_key go together");
    kj_config *c = load_ok("tls_cert: /c.pem\ntls_key: /k.pem\nmax_body: 4MiB\n");
    ck_assert_str_eq(c->tls_cert, "/c.pem");
    ck_assert_uint_eq(c->max_frame, 4 << 20); /* max_frame follows max_body */
    kj_config_free(c);
    load_bad("tokens:\n  - {name: t, role: viewer, units: \"*\", sha256: "
             "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}\n"
             "indicators:\n  - {id: i, metric: ratings.avg, window: 1h, target: 4, better: higher, "
             "applies_to: [unit], overrides: [{employee: e}]}\n",
             "4: indicators[0].overrides[0].target: required\n"
             "4: indicators[0].overrides: personal targets need applies_to to include employee");
}
END_TEST

/* ---- look-ups ---- */

START_TEST(token_lookup)
{
    kj_config *c = fixture_ok(FIX "full.yaml");
    ck_assert_ptr_eq(kj_access_token(c, "abc", 3), &c->tokens[0]); /* digest in capitals */
    ck_assert_ptr_eq(kj_access_token(c, "hello", 5), &c->tokens[1]);
    const char *q = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ck_assert_ptr_eq(kj_access_token(c, q, strlen(q)), &c->tokens[2]);
    ck_assert_ptr_null(kj_access_token(c, "abd", 3));
    ck_assert_ptr_null(kj_access_token(c, "ab", 2));
    ck_assert_ptr_null(kj_access_token(c, "abcd", 4));
    ck_assert_ptr_null(kj_access_token(c, "hello", 4)); /* the length is the caller's */
    ck_assert_ptr_null(kj_access_token(c, "", 0));
    ck_assert_ptr_null(kj_access_token(c, NULL, 3));
    ck_assert_ptr_null(kj_access_token(NULL, "abc", 3));
    kj_config_free(c);
}
END_TEST

/* The hash across block boundaries: lengths around 55/56 and 64 bytes. */
START_TEST(token_digest_lengths)
{
    static const struct {
        size_t len;
        const char *hex;
    } cases[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    char *secret = malloc(1000000);
    memset(secret, 'a', 1000000);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "tokens:\n  - {name: other, role: admin, sha256: \"%064d\"}\n"
                 "  - {name: t, role: admin, sha256: \"%s\"}\n",
                 1, cases[i].hex);
        kj_config *c = load_ok(text);
        const kj_token *t = kj_access_token(c, secret, cases[i].len);
        ck_assert_msg(t == &c->tokens[1], "length %zu", cases[i].len);
        ck_assert_ptr_null(kj_access_token(c, secret, cases[i].len - 1));
        kj_config_free(c);
    }
    free(secret);
}
END_TEST

START_TEST(token_units)
{
    kj_config *c = fixture_ok(FIX "full.yaml");
    ck_assert(kj_token_allows_unit(&c->tokens[0], "u1"));
    ck_assert(kj_token_allows_unit(&c->tokens[0], "u2"));
    ck_assert(!kj_token_allows_unit(&c->tokens[0], "u3"));
    ck_assert(!kj_token_allows_unit(&c->tokens[0], NULL));
    ck_assert(kj_token_allows_unit(&c->tokens[1], "anything"));
    ck_assert(kj_token_allows_unit(&c->tokens[2], "u3"));
    ck_assert(!kj_token_allows_unit(NULL, "u1"));
    kj_config_free(c);
    load_bad(
        "tokens:\n  - name: t\n    role: ingest\n    sha256: "
        "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\n    units: [u1, "
        "\"u 2\", [x]]\n",
        "5: tokens[0].units[1]: must be 1-64 characters of A-Z a-z 0-9 . _ : - (got \"u 2\")\n"
        "5: tokens[0].units[2]: must be a unit id");
}
END_TEST

START_TEST(directory_lookups)
{
    kj_config *c = fixture_ok(FIX "full.yaml");
    const kj_unit_conf *u = kj_config_unit(c, "u1");
    ck_assert_ptr_eq(u, &c->units[0]);
    ck_assert_ptr_eq(kj_config_unit(c, "u2"), &c->units[1]);
    ck_assert_ptr_null(kj_config_unit(c, "u3"));
    ck_assert_ptr_null(kj_config_unit(c, NULL));
    ck_assert(kj_config_unit_has_member(u, "198706152010012002"));
    ck_assert(kj_config_unit_has_member(u, "m2"));
    ck_assert(!kj_config_unit_has_member(u, "m3"));
    ck_assert(!kj_config_unit_has_member(NULL, "m2"));
    ck_assert(kj_config_unit_has_counter(u, "loket-1"));
    ck_assert(!kj_config_unit_has_counter(u, "loket-2"));
    ck_assert(!kj_config_unit_has_counter(&c->units[1], "loket-1"));
    kj_config_free(c);
}
END_TEST

START_TEST(window_names)
{
    static const char *const names[KJ_WIN_COUNT] = {"15m", "1h", "today", "7d", "30d"};
    for (int w = 0; w < KJ_WIN_COUNT; w++) {
        kj_window got = KJ_WIN_COUNT;
        ck_assert_str_eq(kj_window_name((kj_window)w), names[w]);
        ck_assert(kj_window_parse(names[w], &got));
        ck_assert_int_eq(got, w);
    }
    kj_window got = KJ_WIN_15M;
    ck_assert(!kj_window_parse("1d", &got));
    ck_assert(!kj_window_parse("Today", &got));
    ck_assert(!kj_window_parse(NULL, &got));
    ck_assert_int_eq(got, KJ_WIN_15M);
}
END_TEST

/* ---- the error buffer and the file ---- */

START_TEST(errbuf_truncation)
{
    const char *file = FIX "bad_values.yaml";
    char small[40];
    memset(small, 'x', sizeof small);
    ck_assert_int_eq(kj_config_load(file, &(kj_config *){NULL}, small, sizeof small),
                     KJ_ERR_CONFIG);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(strncmp(small, FIX "bad_values.yaml:1: l", sizeof small - 1), 0);
    ck_assert_int_eq(kj_config_load(file, &(kj_config *){NULL}, NULL, 0), KJ_ERR_CONFIG);
}
END_TEST

START_TEST(many_errors)
{
    size_t cap = 1200 * 24 + 64;
    char *text = malloc(cap);
    strcpy(text, "units:\n");
    for (int i = 0; i < 1200; i++)
        strcat(text, "  - name: x\n");
    kj_config *c = NULL;
    char *err = malloc(1 << 20), path[64];
    strcpy(path, "/tmp/kj-config-XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    ck_assert_int_eq(kj_config_load(path, &c, err, 1 << 20), KJ_ERR_CONFIG);
    unlink(path);
    /* 1200 errors (each unit lacks its id): the first 1000 kept, the rest counted. */
    char want[128];
    snprintf(want, sizeof want, "\n%s: and 200 more errors", path);
    ck_assert_str_eq(err + strlen(err) - strlen(want), want);
    free(err);
    free(text);
}
END_TEST

START_TEST(missing_file)
{
    kj_config *c = NULL;
    char err[256];
    ck_assert_int_eq(kj_config_load(FIX "no-such-file.yaml", &c, err, sizeof err), KJ_ERR_IO);
    ck_assert_str_eq(err, FIX "no-such-file.yaml: cannot read: No such file or directory");
    ck_assert_int_eq(kj_config_load(FIX, &c, err, sizeof err), KJ_ERR_IO);
    ck_assert_str_eq(err, FIX ": not a regular file");
    ck_assert_ptr_null(c);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, free_null);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, null_means_default);
    tcase_add_test(tc, every_key);
    tcase_add_test(tc, examples);
    tcase_add_test(tc, example_documents_every_key);
    tcase_add_loop_test(tc, limit_at_boundary, 0, (int)(sizeof limits / sizeof limits[0]));
    tcase_add_test(tc, identifier_and_name_length);
    tcase_add_test(tc, listen_count);
    tcase_add_test(tc, parse_size);
    tcase_add_test(tc, parse_duration);
    tcase_add_test(tc, bool_forms);
    tcase_add_test(tc, numbers_strict);
    tcase_add_test(tc, listen_forms);
    tcase_add_loop_test(tc, listen_errors, 0, (int)(sizeof listen_bad / sizeof listen_bad[0]));
    tcase_add_test(tc, loopback);
    tcase_add_test(tc, unknown_key);
    tcase_add_test(tc, wrong_types);
    tcase_add_test(tc, syntax_errors);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, bad_tokens);
    tcase_add_test(tc, bad_sha256);
    tcase_add_test(tc, bad_units);
    tcase_add_test(tc, bad_indicators);
    tcase_add_test(tc, every_metric_path);
    tcase_add_test(tc, strict_directory);
    tcase_add_test(tc, timezone_checks);
    tcase_add_test(tc, cross_checks);
    tcase_add_test(tc, token_lookup);
    tcase_add_test(tc, token_digest_lengths);
    tcase_add_test(tc, token_units);
    tcase_add_test(tc, directory_lookups);
    tcase_add_test(tc, window_names);
    tcase_add_test(tc, errbuf_truncation);
    tcase_add_test(tc, many_errors);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, evaluation_keys);
    tcase_add_test(tc, cluster_absent_and_defaults);
    tcase_add_test(tc, cluster_every_key);
    tcase_add_test(tc, cluster_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
