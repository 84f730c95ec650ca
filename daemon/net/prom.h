/* kinerjad — GET /metrics in the Prometheus text format (version 0.0.4), and
 * the service thread's counters that it reports.
 *
 * The counters live in one kj_stats (a field of the server) that this module
 * owns: the modules that see an answer, an event's result or a live frame
 * (http.c, api.c, files.c, server.c, live.c, ws.c) count it through the
 * functions below, and only kj_prom_render (and the watchdog's status line)
 * reads it. Service thread only. */
#ifndef KJ_PROM_H
#define KJ_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/event.h"
#include "server.h"

#define KJ_EVENT_TYPES (KJ_EV_LAST + 1) /* 0 = unknown, then kj_event_type */
#define KJ_RESULTS 4 /* kj_item_result, then 3 = failed (the store refused the group) */
#define KJ_RESULT_FAILED 3

typedef struct kj_stats {
    uint64_t http_by_code[500];                        /* [code - 100] */
    uint64_t events_total[KJ_EVENT_TYPES][KJ_RESULTS]; /* [type or 0][kj_item_result or 3] */
    uint64_t updates_sent, updates_dropped;
    uint64_t fanout_waits;        /* a viewer waited for a later loop turn */
    uint64_t alerts_by_status[4]; /* [kj_status the alert went to] */
    /* gauges, kept by their owners: ws.c counts the clients of each
     * subprotocol, live.c the units viewers watch */
    size_t live_clients, ingest_clients, live_units;
} kj_stats;

/* An HTTP answer with this status was sent (or set). */
void kj_stats_http(kj_stats *st, int status);
/* A posted event ended with result (kj_item_result, or KJ_RESULT_FAILED). */
void kj_stats_event(kj_stats *st, kj_event_type type, int result);
/* Live frames delivered to a viewer, or dropped for a slow one. */
void kj_stats_updates(kj_stats *st, uint64_t sent, uint64_t dropped);
/* A viewer's frames waited for a later turn of the service loop. */
void kj_stats_fanout_wait(kj_stats *st);
/* An alert went to status `to` (0..3). */
void kj_stats_alert(kj_stats *st, int to);

/* Renders every metric into a new malloc'd text (*out, *len). */
kj_err kj_prom_render(kj_server *s, char **out, size_t *len);

#endif
