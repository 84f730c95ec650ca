/* kinerjad — the writer thread: group commit of event batches (DESIGN.md).
 *
 * The service thread submits jobs (a decoded batch each); the writer takes all
 * waiting jobs up to commit_group_events events, stores them in ONE LMDB write
 * transaction (dedupe, raw log, and whatever the hooks add: aggregates,
 * alerts), commits (one fsync for the whole group), and hands the jobs back as
 * done. `wake` is then called so that the service thread can answer: with
 * libwebsockets it is lws_cancel_service(), the one lws call allowed from
 * another thread.
 *
 * The queue is bounded: kj_ingest_submit answers KJ_ERR_BUSY when it holds
 * queue_max jobs, and the caller pauses its producer until jobs complete. */
#ifndef KJ_INGEST_H
#define KJ_INGEST_H

#include <stdint.h>

#include "../proto/event.h"
#include "store/store.h"

typedef enum kj_item_result {
    KJ_ITEM_REJECTED = 0, /* the batch item carries the error */
    KJ_ITEM_ACCEPTED = 1,
    KJ_ITEM_DUPLICATE = 2,
} kj_item_result;

struct http_sess;   /* net/session.h */
struct ingest_conn; /* net/wsingest.c */
struct stream_msgs; /* ingest/js_state.h */

/* Who waits for a job's answer: one of the three ways events come in. */
typedef union kj_job_owner {
    struct http_sess *post;     /* POST /api/v1/events */
    struct ingest_conn *frames; /* a kinerja-ingest.v1 connection */
    struct stream_msgs *stream; /* messages fetched from the cluster's stream */
} kj_job_owner;

typedef struct kj_ingest_job {
    kj_batch *batch;  /* owned by the job */
    uint8_t *results; /* kj_item_result per batch item, filled by the writer */
    /* The valid items as stored (kj_msgpack_pack_event), packed by
     * kj_ingest_job_new on the submitting thread: item i is packed[packed_end[i-1]
     * (0 for i = 0) .. packed_end[i]), empty for an item with an error. */
    uint8_t *packed;
    uint32_t *packed_end;
    size_t accepted, duplicates;
    kj_err err;        /* KJ_OK, or why nothing of this job was stored */
    int64_t commit_us; /* how long the group's commit took */
    bool from_stream;  /* applied from the cluster's stream (cluster.c), not a post */
    /* The submitter's, untouched by the writer: owner is who waits for the
     * answer, tag e.g. a frame's seq, and answer is what the submitter's
     * thread calls when it takes the job back (set to NULL when the owner
     * went away: the job is then freed unanswered). */
    kj_job_owner owner;
    uint64_t owner_tag;
    void (*answer)(struct kj_ingest_job *job);
    struct kj_ingest_job *next;
} kj_ingest_job;

/* Item i of job's batch as stored (what the raw log and the cluster's stream
 * hold); *len bytes, 0 for an item with an error. */
static inline const uint8_t *kj_ingest_job_packed(const kj_ingest_job *job, size_t i, size_t *len)
{
    uint32_t from = i ? job->packed_end[i - 1] : 0;
    *len = job->packed_end[i] - from;
    return job->packed + from;
}

/* Called by the writer inside its transaction; the metrics engine plugs in
 * here. Any hook may be NULL. A non-zero kj_err from apply/persist aborts the
 * whole group (and rollback is called). */
typedef struct kj_ingest_hooks {
    void *ctx;
    void (*begin)(void *ctx);
    /* Before an event is stored: false refuses it alone, with the reason
     * written into it->error (state the writer knows, e.g. an unknown alert). */
    bool (*admit)(void *ctx, kj_batch_item *it);
    kj_err (*apply)(void *ctx, kj_store_txn *t, const kj_event *ev);
    kj_err (*persist)(void *ctx, kj_store_txn *t); /* before commit */
    void (*commit)(void *ctx);                     /* after a successful commit */
    void (*rollback)(void *ctx);
    /* After every group and every wake-up, no transaction open: the engine
     * ticks its clock, answers queries, publishes frames and expires old data
     * here. Returns how long (us) the writer may sleep before calling again. */
    int64_t (*between)(void *ctx, kj_store *s);
    void (*configure)(void *ctx, const void *cfg); /* a new configuration (after a reload) */
} kj_ingest_hooks;

/* Upper bounds (ms) of the commit-latency histogram's buckets; +Inf follows. */
#define KJ_COMMIT_BUCKETS 12
extern const double kj_commit_bucket_ms[KJ_COMMIT_BUCKETS];

typedef struct kj_ingest_stats {
    uint64_t commits, events_accepted, events_duplicate, groups_failed;
    size_t queued_jobs;
    int64_t last_commit_us;
    uint64_t commit_hist[KJ_COMMIT_BUCKETS + 1]; /* not cumulative; last = over the top */
    double commit_sum_s;
} kj_ingest_stats;

typedef struct kj_ingest kj_ingest;

kj_err kj_ingest_new(kj_store *s, const kj_ingest_hooks *hooks, size_t queue_max,
                     size_t group_events, void (*wake)(void *), void *wake_ctx, kj_ingest **out);

/* Queue a job (ownership passes to the writer until it comes back done).
 * KJ_ERR_BUSY when full, KJ_ERR_SHUTDOWN when stopping: the job stays the
 * caller's. */
kj_err kj_ingest_submit(kj_ingest *in, kj_ingest_job *job);

/* Take every completed job (a list linked by next, in completion order); the
 * caller owns them and frees each with kj_ingest_job_free. */
kj_ingest_job *kj_ingest_take_done(kj_ingest *in);

/* A new job for batch (taking ownership of it). */
kj_ingest_job *kj_ingest_job_new(kj_batch *batch);
void kj_ingest_job_free(kj_ingest_job *job);

void kj_ingest_get_stats(kj_ingest *in, kj_ingest_stats *out);

/* Wake the writer so that it runs its between hook soon (a query waits). Any
 * thread. */
void kj_ingest_poke(kj_ingest *in);

/* Hand a new configuration to the writer's hooks (configure), applied before
 * its next group. cfg must stay alive until the writer stops. */
void kj_ingest_post_config(kj_ingest *in, const void *cfg);

/* True while the last group failed because the store is full. */
bool kj_ingest_store_full(kj_ingest *in);

/* Refuse new jobs, commit every queued one, stop the thread. Completed jobs
 * remain to be taken. Idempotent. */
void kj_ingest_stop(kj_ingest *in);

/* Stops if needed, frees remaining jobs. NULL is a no-op. */
void kj_ingest_free(kj_ingest *in);

#endif
