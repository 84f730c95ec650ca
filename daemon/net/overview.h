/* kinerjad — the agency overview on the service thread (SPEC §14): the
 * answer of GET /api/v1/overview and the live subscription
 * {"op":"subscribe","overview":true} of kinerja-live.v1.
 *
 * The writer packs the rows (metrics_overview.c) and publishes them
 * (engine.c): every row for a new viewer (a `full` KJ_PUB_OVERVIEW, in the
 * published stream like a unit's snapshot), then the changed rows at most
 * once per overview_interval_ms. Here each viewer gets only the rows of the
 * units its token may see, under one overview seq for all viewers. Called
 * by live.c and api.c on the service thread only; live.c keeps the list of
 * subscribers. */
#ifndef KJ_OVERVIEW_H
#define KJ_OVERVIEW_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "ingest/hub.h"
#include "ws.h"

/* One live connection's overview subscription (inside its live_conn). */
typedef struct kj_overview_sub {
    kj_wsconn *ws;                 /* NULL: not subscribed */
    bool waiting;                  /* for its first (full) frame */
    uint64_t seq;                  /* the last overview seq it got */
    struct kj_overview_sub **list; /* the list it is in (live.c's) */
    struct kj_overview_sub *next, *prev;
} kj_overview_sub;

/* Whether a live message asks for the overview ({"overview": true}). */
bool kj_overview_asked(const msgpack_object *msg);

/* Subscribe ws, adding o to *list (its token must see units and be no
 * personal view: else an error frame); a second subscribe is a no-op. */
void kj_overview_subscribe(kj_overview_sub **list, kj_overview_sub *o, kj_wsconn *ws);
/* Unsubscribe (also when the connection closes); no-op when not subscribed. */
void kj_overview_unsubscribe(kj_overview_sub *o);
/* After a reload gave the connection a new token: a token that may no longer
 * see the overview is unsubscribed (with an error frame); another starts
 * again from every row it may now see. */
void kj_overview_recheck(kj_overview_sub *o);

/* The viewer's backlog was dropped: start again from every row. */
void kj_overview_resync(kj_overview_sub *o);

/* A published KJ_PUB_OVERVIEW: to every subscriber of list, filtered by its token. */
void kj_overview_on_published(kj_overview_sub *list, const kj_pub *p);

/* The HTTP answer {"at","units":[rows tok may see]} of the writer's frame
 * {"at","units"}; NULL when the frame does not decode. */
kj_frame *kj_overview_answer(const kj_frame *rows, const kj_token *tok);

#endif
