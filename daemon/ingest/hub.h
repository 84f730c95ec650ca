/* kinerjad — the mailbox between the writer thread (which owns the metrics)
 * and the service thread (which owns the connections). DESIGN.md: other
 * threads see metric state only as immutable encoded frames.
 *
 * Writer -> service: published frames (a unit's update or snapshot, an alert),
 * in order, and answered queries.
 * Service -> writer: queries (a snapshot for a new viewer, the units list, a
 * series for the read API), which the writer's engine answers by their kind
 * between groups, with the metrics in hand.
 *
 * One short mutex guards both directions; nothing blocks while holding it. */
#ifndef KJ_HUB_H
#define KJ_HUB_H

#include <stdbool.h>
#include <stdint.h>

#include "../proto/event.h"
#include "frame.h"
#include "metrics/metric.h"

typedef enum kj_pub_kind {
    KJ_PUB_UPDATE,   /* a unit's update, seq n */
    KJ_PUB_SNAPSHOT, /* a unit's snapshot at seq n (answers a snapshot query) */
    KJ_PUB_ALERT,
    KJ_PUB_OVERVIEW, /* overview rows {"at","units"} at overview seq n (overview.h) */
} kj_pub_kind;

typedef struct kj_pub {
    kj_pub_kind kind;
    char unit[KJ_ID_MAX + 1];
    char employee[KJ_ID_MAX + 1]; /* "" for the whole unit; else a personal view's frame */
    uint64_t seq;
    kj_frame *frame;                  /* owned (one reference) */
    char alert_scope[KJ_ID_MAX + 16]; /* KJ_PUB_ALERT: "unit:U" / "employee:E" */
    int alert_to;                     /* KJ_PUB_ALERT: the new kj_status */
    bool full;                        /* KJ_PUB_OVERVIEW: every row (for a new viewer) */
    struct kj_pub *next;
} kj_pub;

typedef enum kj_query_kind {
    KJ_Q_SNAPSHOT, /* unit (and employee for a personal view); also published in order */
    KJ_Q_UNITS,    /* the directory: every unit with members and counters */
    KJ_Q_SERIES,   /* params: a kj_series_params */
    KJ_Q_OVERVIEW, /* every unit's overview row; also published in order (full) */
    KJ_Q_RAPOR, /* params: a kj_rapor_req; run by a rapor worker (rapor_jobs.c), not the writer */
} kj_query_kind;

typedef struct kj_series_params {
    char scope[KJ_ID_MAX * 2 + 16];
    char metric[64];
    kj_res res;
    int64_t from, to;
} kj_series_params;

struct http_sess; /* net/session.h */
struct live_conn; /* net/live.c */
struct kj_server; /* net/server.h */

/* Who asked a query (service thread only). */
typedef union kj_query_asker {
    struct http_sess *request; /* a request of the HTTP API */
    struct live_conn *viewer;  /* a live-feed connection */
    struct kj_server *server;  /* the server itself, for a frame it publishes */
} kj_query_asker;

typedef struct kj_query kj_query;
struct kj_query {
    kj_query_kind kind; /* the writer's engine answers by kind */
    /* Runs on the service thread when the answer is back; NULL when nobody
     * waits (the asker went away, or a published frame is the answer). */
    void (*done)(kj_query *q);
    kj_query_asker owner;
    int status;       /* e.g. 200 / 404, set by the writer */
    char error[160];  /* the reason when status is not 200 */
    kj_frame *result; /* msgpack bytes, set by the writer (may be NULL) */
    char unit[KJ_ID_MAX + 1];
    char employee[KJ_ID_MAX + 1];
    void *params; /* the asker's, freed by free_params when not NULL */
    void (*free_params)(void *);
    struct kj_query *next;
};

typedef struct kj_hub kj_hub;

/* wake_service: called after publishing (lws_cancel_service); wake_writer:
 * called after a query was posted. */
kj_hub *kj_hub_new(void (*wake_service)(void *), void *service_ctx, void (*wake_writer)(void *),
                   void *writer_ctx);
void kj_hub_free(kj_hub *h);
void kj_hub_set_writer(kj_hub *h, void (*wake_writer)(void *), void *writer_ctx);

/* Writer side. */
void kj_hub_publish(kj_hub *h, kj_pub *list); /* takes a list; wakes the service thread */
kj_query *kj_hub_take_queries(kj_hub *h);
void kj_hub_answer(kj_hub *h, kj_query *q); /* wakes the service thread */
kj_pub *kj_pub_new(kj_pub_kind kind, const char *unit, uint64_t seq, kj_frame *frame);

/* Views: the service thread registers each (unit, employee) that a viewer
 * watches — employee "" for a whole-unit viewer, else a personal view (a viewer
 * token with an employee) — so that the writer packs exactly the frames that
 * somebody will receive: a unit nobody watches costs no packing. Counted: add
 * and remove in pairs. */
void kj_hub_view_add(kj_hub *h, const char *unit, const char *employee);
/* The view that live overview viewers register ('*' is in no unit id). */
#define KJ_HUB_OVERVIEW_VIEW "*overview"
void kj_hub_view_remove(kj_hub *h, const char *unit, const char *employee);
/* Writer: the views of unit, "" for whole-unit viewers: the first max of
 * them into out (which may be NULL when max is 0), and their number returned,
 * which is more than max when out was too small (call again with more room). */
size_t kj_hub_view_list(kj_hub *h, const char *unit, char (*out)[KJ_ID_MAX + 1], size_t max);

/* Service side. */
kj_pub *kj_hub_take_published(kj_hub *h);
kj_query *kj_hub_take_answers(kj_hub *h);
void kj_hub_ask(kj_hub *h, kj_query *q); /* wakes the writer */
kj_query *kj_query_new(void);
void kj_query_free(kj_query *q);
void kj_pub_free_list(kj_pub *p);

#endif
