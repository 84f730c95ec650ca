/* kinerjad — the configuration of SPEC §11, loaded from YAML with libcyaml.
 *
 * kj_config_load() applies every default, checks every limit and reports each
 * error as "FILE:LINE: KEY: reason", one per line, into a caller's buffer. A
 * loaded kj_config is immutable; a reload builds a new one and swaps it. */
#ifndef KJ_CONFIG_H
#define KJ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/err.h"
#include "../proto/event.h"
#include "metrics/metric.h" /* kj_window, kj_better */

typedef enum kj_sync_mode { KJ_SYNC_FULL = 0, KJ_SYNC_PERIODIC = 1 } kj_sync_mode;
typedef enum kj_log_level { KJ_LOG_ERROR = 0, KJ_LOG_WARN, KJ_LOG_INFO, KJ_LOG_DEBUG } kj_log_level;
/* supervisor (SPEC §16): sees its units like a viewer and posts only the
 * supervisor's event types (access.c). Last, so that the others keep their values. */
typedef enum kj_role {
    KJ_ROLE_INGEST = 0,
    KJ_ROLE_VIEWER,
    KJ_ROLE_ADMIN,
    KJ_ROLE_SUPERVISOR
} kj_role;

typedef struct kj_listen {
    char *host; /* numeric, as bound: "127.0.0.1", "::1", "0.0.0.0" (a name is resolved on load) */
    int port;
} kj_listen;

typedef struct kj_token {
    char *name;
    uint8_t sha256[32]; /* digest of the secret */
    kj_role role;
    bool all_units; /* units: "*" */
    char **units;   /* when !all_units */
    size_t n_units;
    char *employee; /* personal view, or NULL */
} kj_token;

typedef struct kj_named { /* a member or a counter */
    char *id;
    char *name;
} kj_named;

typedef struct kj_unit_conf {
    char *id;
    char *name;
    int64_t sla_wait_ms; /* default 900000 */
    kj_named *members;
    size_t n_members;
    kj_named *counters;
    size_t n_counters;
} kj_unit_conf;

typedef struct kj_override {
    char *employee;
    double target;
} kj_override;

#define KJ_MIN_SAMPLES_MAX 100000

typedef struct kj_indicator_conf {
    char *id;
    char *name;
    char *metric; /* "services.wait_ms.p90" */
    kj_window window;
    double target;
    kj_better better;
    double warn_margin; /* default 0.10 */
    /* Fewer samples in the window than this (the events the metric is
     * computed from: metric.h kj_metric_samples) is status none, value nil: a p90 of
     * two waits is no judgement. Default 1 (SPEC §5 as written); 0 acts as 1. */
    uint32_t min_samples;
    /* SPEC §16. hold_ms: a new status becomes the status (and an alert) only
     * after it held that long (0: at once). escalate_after_ms: a bad alert
     * not acknowledged within it is escalated (0: never). Both <= 1 day. */
    int64_t hold_ms, escalate_after_ms;
    bool for_unit, for_employee; /* applies_to */
    bool all_units;              /* units: "*" (the default) */
    char **units;
    size_t n_units;
    kj_override *overrides;
    size_t n_overrides;
} kj_indicator_conf;

/* `cluster` (SPEC §17): this node publishes to and consumes from NATS
 * JetStream. NULL in kj_config when the key is absent: one node, as before. */
typedef struct kj_cluster_conf {
    char **nats; /* server URLs, at least one */
    size_t n_nats;
    char *stream;   /* default "KINERJA" */
    int replicas;   /* of the stream when created; 1..5, default 3 */
    char *node;     /* this node's name: its durable consumer */
    bool all_units; /* units: "*" (the default) */
    char **units;   /* else the units this node serves */
    size_t n_units;
    char *creds;                /* a NATS credentials file, or NULL */
    char *tls_ca;               /* PEM CAs that sign the NATS servers' certificates, or NULL */
    char *tls_cert, *tls_key;   /* this node's client certificate (mutual TLS), or NULL */
    bool tls;                   /* TLS to NATS: a tls:// URL or any tls_ key */
    size_t max_inflight;        /* publishes awaiting their PubAck, default 10000 */
    int64_t publish_timeout_ms; /* a PubAck later than this fails the request (503) */
} kj_cluster_conf;

typedef struct kj_config {
    char *path; /* the file it was loaded from, or NULL for defaults */
    kj_listen *listen;
    size_t n_listen;
    char *tls_cert, *tls_key;
    char *state_dir;
    char *web_root;
    char *timezone;
    kj_sync_mode sync;
    uint64_t map_size; /* bytes */
    int retention_days;
    int64_t max_event_age_ms;
    int64_t max_clock_skew_ms;
    size_t max_body; /* bytes */
    int min_push_interval_ms;
    kj_log_level log_level;
    bool auth;
    bool strict_directory;

    /* Bounds that a user may need to move (every queue, buffer and size is
     * bounded; these are the bounds worth a key). */
    size_t max_batch;                   /* events per body / frame, <= KJ_BATCH_MAX */
    size_t ingest_queue;                /* batches waiting for the writer */
    size_t commit_group_events;         /* events in one write transaction */
    size_t id_merge_events;             /* ids journalled before a merge into the id index */
    size_t id_filter_size;              /* bytes of the id index's filter; 0: none */
    size_t agg_merge_bytes;             /* bucket writes journalled before a merge into agg */
    size_t agg_merge_entries;           /* or that many of them: readers index them all */
    size_t max_connections;             /* all connections together */
    size_t max_viewers;                 /* live connections */
    size_t viewer_backlog;              /* bytes queued for one viewer before it is reset */
    size_t fanout_turn_bytes;           /* viewers' bytes written per service-loop turn */
    size_t max_frame;                   /* bytes of one incoming WebSocket message */
    size_t max_connections_per_address; /* from one client address; 0 = up to max_connections */
    int64_t header_timeout_ms; /* accept to request headers (or WebSocket authentication) */
    int64_t body_timeout_ms;   /* headers to the last byte of a request body */
    size_t max_open_tickets;   /* queue tickets tracked per unit (SPEC §13) */
    int overview_interval_ms;  /* live overview frames at most this often (SPEC §14) */
    int coaching_after_days;   /* bad days in a row that mark needs_coaching */

    kj_token *tokens;
    size_t n_tokens;
    kj_unit_conf *units;
    size_t n_units;
    kj_indicator_conf *indicators;
    size_t n_indicators;

    /* evaluation (SPEC §15): the default period of the rapor views (a
     * kj_period_kind: 0 month, 1 quarter, 2 year) and the capaian at or
     * above which an indicator is above expectation (100..200, default 110) */
    int eval_period;
    double eval_above_pct;
    kj_cluster_conf *cluster; /* NULL: a single node */
} kj_config;

/* A configuration with every default of SPEC §11 and no tokens or units. */
kj_err kj_config_defaults(kj_config **out);

/* Load and check path. On failure returns KJ_ERR_CONFIG (or KJ_ERR_IO when the
 * file cannot be read) and writes every error found, one per line, as
 * "PATH:LINE: KEY: reason" into errbuf (truncated to errlen). */
kj_err kj_config_load(const char *path, kj_config **out, char *errbuf, size_t errlen);

void kj_config_free(kj_config *c);

/* True when every listener is on a loopback address (127.0.0.0/8, ::1). */
bool kj_config_loopback_only(const kj_config *c);

/* Look-ups; NULL / false when absent. */
const kj_unit_conf *kj_config_unit(const kj_config *c, const char *id);
bool kj_config_unit_has_member(const kj_unit_conf *u, const char *employee);
bool kj_config_unit_has_counter(const kj_unit_conf *u, const char *counter);

/* True when tok may see / post for unit. */
bool kj_token_allows_unit(const kj_token *tok, const char *unit);

/* The top-level keys of the file: every scalar key (config.c's table), then
 * listen, tokens, units and indicators; NULL when i is past the last. For the
 * test that examples/kinerjad.yaml documents every key and no other. */
const char *kj_config_key(size_t i);

const char *kj_role_name(kj_role r); /* "ingest", "viewer", "admin", "supervisor" */

/* "8GiB", "1MiB", "512" -> bytes; false on syntax error or overflow. (Durations
 * are proto/duration.h's.) */
bool kj_parse_size(const char *s, uint64_t *out);

#endif
