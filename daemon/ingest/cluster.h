/* kinerjad — more than one node over NATS JetStream (SPEC §17). Every libnats
 * call of the daemon is in cluster.c.
 *
 * Owns the NATS connection, the stream's set-up, the publishing of posted
 * events and this node's durable consumer. Two directions:
 *
 *  - Ingest (service thread): kj_cluster_submit takes a validated job (the
 *    same kj_ingest_job that a single node hands to the writer), publishes
 *    each valid event to kinerja.ev.<unit> with the message id <unit>/<id>
 *    asynchronously, and hands the job back through kj_cluster_take_done once
 *    JetStream acknowledged every event (or one failed). PubAcks arrive on
 *    libnats' threads; the last one of a job calls `wake` (lws_cancel_service,
 *    as a commit does) and the service thread answers the client.
 *  - Apply (a thread of this module, "kj-consumer"): fetches the node's units
 *    from its durable consumers (cluster.node for every unit; with a list of
 *    units one per unit, filtered on its subject) and submits them to the
 *    writer as jobs marked from_stream: one path to LMDB, metrics, alerts and
 *    live. Their answer (on the service thread) acknowledges the messages, so
 *    a message is acked only after the commit that holds it; a node that was
 *    down resumes where it stopped, a new one reads the stream from its start.
 *
 * With NATS unreachable kj_cluster_submit answers KJ_ERR_UNAVAILABLE (the
 * caller answers 503 + Retry-After) and the reads keep serving from LMDB. */
#ifndef KJ_CLUSTER_H
#define KJ_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "ingest.h"
#include "store/store.h"

typedef struct kj_cluster kj_cluster;

typedef struct kj_cluster_stats {
    bool connected;        /* to a NATS server */
    bool ready;            /* connected, the stream and the consumer set up: ingest works */
    uint64_t lag;          /* events of the stream this node has not committed yet */
    size_t inflight;       /* publishes awaiting their PubAck */
    uint64_t published[3]; /* by kj_item_result: [0] failed, [1] accepted, [2] duplicate */
    uint64_t applied, applied_duplicates; /* events from the stream, committed here */
    uint64_t disconnects;
} kj_cluster_stats;

/* Connect (in the background: a NATS that is down at start is not an error,
 * ingest answers 503 until it is up), and start the consumer thread. cc must
 * outlive the cluster; max_age_ms is the stream's max age when this node
 * creates it (max_event_age). store is read for the ids table; ingest takes
 * the stream's events. On failure (a malformed URL, unreadable creds) writes
 * a one-line reason to msg. */
kj_err kj_cluster_new(const kj_cluster_conf *cc, int64_t max_age_ms, kj_store *store,
                      kj_ingest *ingest, void (*wake)(void *), void *wake_ctx, kj_cluster **out,
                      char *msg, size_t msglen);

/* Service thread. Publish job's valid events; the job is the cluster's until
 * kj_cluster_take_done gives it back with results, accepted and duplicates
 * set (err KJ_ERR_UNAVAILABLE when a publish failed or timed out: the client
 * should send the request again, duplicates are dropped). Returns KJ_ERR_BUSY
 * when max_inflight publishes are waiting (the job stays the caller's: retry
 * after a wake-up), KJ_ERR_UNAVAILABLE when NATS is unreachable, KJ_ERR_SHUTDOWN
 * after kj_cluster_stop. */
kj_err kj_cluster_submit(kj_cluster *cl, kj_ingest_job *job);

/* Service thread: the jobs whose publishes are all answered (linked by next). */
kj_ingest_job *kj_cluster_take_done(kj_cluster *cl);

/* Any thread. */
void kj_cluster_get_stats(kj_cluster *cl, kj_cluster_stats *out);

/* The /healthz text of a node: "ok", then whether NATS is reachable and how
 * many events of the stream this node has not applied yet (its lag). */
void kj_cluster_health(kj_cluster *cl, char *buf, size_t len);

/* Service thread, on stop, before the writer stops: stop consuming, wait for
 * outstanding PubAcks and for the consumer thread, two seconds in all (a
 * consumer still inside a request to a NATS that does not answer is woken by
 * closing the connection), and hand every job still waiting back (err
 * KJ_ERR_SHUTDOWN) through kj_cluster_take_done. Idempotent. */
void kj_cluster_stop(kj_cluster *cl);

/* Stops if needed, flushes the acknowledgements, closes. NULL is a no-op. */
void kj_cluster_free(kj_cluster *cl);

#endif
