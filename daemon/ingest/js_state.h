/* kinerjad — internal to daemon/ingest/cluster*.c: the cluster's state and
 * limits, shared by cluster.c (publishing, life) and cluster_feed.c (the
 * stream's set-up and the durable consumers, on the consumer thread). */
#ifndef KJ_JS_STATE_H
#define KJ_JS_STATE_H

#include <msgpack.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "cluster.h"

#define SUBJECTS "kinerja.ev.>"
#define SUBJECT_PREFIX "kinerja.ev."
#define NS_PER_MS 1000000LL
/* JetStream drops a message id seen within this window; older duplicates are
 * caught by the ids table (before publishing and again in the writer). */
#define DUP_WINDOW_MS (2 * 60 * 1000LL)
#define FETCH_BATCH 500      /* messages per fetch: one writer job */
#define FETCH_WAIT_MS 500    /* also how soon the consumer thread sees a stop */
#define MIN_FETCH_WAIT_MS 20 /* a feed's share of it, with many units */
#define APPLY_DEPTH 4        /* consumer jobs at the writer at once: commits overlap fetches */
/* Unacknowledged messages the server lets the consumer hold: what the
 * pipeline above can hold, twice. */
#define MAX_ACK_PENDING (2 * FETCH_BATCH * APPLY_DEPTH)
/* A message not acked by then is delivered again: what a node killed with
 * messages in its pipeline waits for them after its restart. Longer than any
 * sane commit; a late ack only costs a duplicate, which the ids table drops. */
#define ACK_WAIT_MS 10000
/* What a stop waits for NATS in all (PubAcks, the consumer's request in
 * flight): a dead or frozen server must not hold SIGTERM up. */
#define STOP_WAIT_MS 2000
/* A write to a server that stopped reading fails after this (libnats blocks
 * for ever without one): the connection is then treated as lost. */
#define WRITE_DEADLINE_MS 2000

/* A posted job whose publishes are out. pending counts them, plus one held by
 * kj_cluster_submit while it is still publishing (a PubAck may come first). */
struct pub_job {
    kj_ingest_job *job;
    size_t pending;
    bool failed;
    struct pub_job *prev, *next; /* cl->open */
};

/* A publish awaiting its PubAck: found by the message pointer that libnats
 * hands back, in a chained hash (slots and buckets are sized once). */
struct slot {
    natsMsg *msg;
    struct pub_job *pj;
    uint32_t index; /* in the job's batch */
    int next;       /* next slot of the bucket, or of the free list; -1 ends */
};

/* One durable consumer of this node: for all units the node's name on
 * kinerja.ev.>, for a list one per unit, <node>_<unit> on kinerja.ev.<unit>
 * (NATS 2.9 filters a consumer on one subject), so that the server sends a
 * node only its units' events. Its lag counts are under the lock. */
struct feed {
    char durable[160];
    char subject[sizeof SUBJECT_PREFIX + KJ_ID_MAX];
    natsSubscription *sub; /* consumer thread only */
    uint64_t unapplied;    /* messages fetched and not yet committed */
    uint64_t pending;      /* messages after the last fetched one (server's count) */
    uint64_t foreign;      /* delivered to an earlier life of this node, never acked */
};

/* The messages of one consumer job, acked when it comes back committed. */
struct stream_msgs {
    kj_cluster *cl;
    struct feed *f;
    natsMsgList msgs;
};

struct kj_cluster {
    const kj_cluster_conf *cc;
    int64_t max_age_ms;
    kj_store *store;
    kj_ingest *ingest;
    void (*wake)(void *);
    void *wake_ctx;

    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    struct feed *feeds;
    size_t n_feeds, next_feed; /* next_feed: the consumer thread's turn */

    pthread_t thread;
    bool started, stopped;
    bool fresh_store; /* the raw log was empty at start: consumers start over */
    atomic_bool stopping, connected, ready;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* consumer thread: room in the apply pipeline, or stop */
    struct slot *slots;
    int *buckets;
    size_t n_buckets, n_slots;
    int free_slot;
    size_t inflight;
    bool closed; /* stop: PubAcks that still come are ignored */
    struct pub_job *open;
    kj_ingest_job *done_head, *done_tail;
    size_t applying; /* consumer jobs at the writer */
    kj_cluster_stats stats;
};

#endif
