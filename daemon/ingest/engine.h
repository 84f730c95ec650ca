/* kinerjad — the writer thread's side of the metrics: it plugs the metrics
 * engine into the group commit (aggregates and alerts written in the same
 * transaction as their events), rebuilds the in-memory state from the stored
 * aggregates at start, moves the windows with the clock, answers the service
 * thread's queries, publishes live frames (coalesced to one update per unit
 * per min_push_interval_ms) and expires old data in small steps. */
#ifndef KJ_ENGINE_H
#define KJ_ENGINE_H

#include "config/config.h"
#include "hub.h"
#include "ingest.h"
#include "metrics/metrics.h"
#include "store/store.h"

typedef struct kj_engine kj_engine;

/* Load the stored state. cfg is borrowed (replaced by configure on reload).
 * On failure writes a one-line reason to msg. */
kj_err kj_engine_new(const kj_config *cfg, kj_store *store, kj_hub *hub, kj_engine **out, char *msg,
                     size_t msglen);
void kj_engine_free(kj_engine *e);

/* Store the checkpoint of the window totals (kj_metrics_checkpoint) at a
 * clean stop, after the writer thread has stopped; logs the outcome. */
kj_err kj_engine_checkpoint(kj_engine *e);

/* The hooks to give kj_ingest_new. */
kj_ingest_hooks kj_engine_hooks(kj_engine *e);

/* The metrics' part of storing one event: kj_metrics_apply. It lives in a
 * file of its own (engine_apply.c) only so that make bench's baseline,
 * kinerjad-no-metrics, can link tests/bench/no_metrics.c in its place and
 * show what the metrics engine costs. Writer thread. */
kj_err kj_engine_apply(kj_metrics *m, const kj_event *ev);

/* kinerjad --rebuild: drop every aggregate and alert and recompute them from
 * the raw log, in transactions of a bounded number of events. */
kj_err kj_engine_rebuild(const kj_config *cfg, kj_store *store, size_t *events, char *msg,
                         size_t msglen);

#endif
