/* kinerjad — NATS JetStream: the stream, publishing posted events, and this
 * node's durable consumer (cluster.h says who calls what, on which thread). */
#include "cluster.h"

#include <msgpack.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "../proto/codec.h"
#include "log.h"

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
struct applied {
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
    msgpack_sbuffer buf;       /* service thread: one event encoded */

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

/* CLOCK_REALTIME ms from now: what pthread's timed waits take. */
static struct timespec realtime_after(int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    return until;
}

static void sleep_ms(kj_cluster *cl, int ms)
{
    struct timespec until = realtime_after(ms);
    pthread_mutex_lock(&cl->lock);
    if (!cl->stopping) pthread_cond_timedwait(&cl->cond, &cl->lock, &until);
    pthread_mutex_unlock(&cl->lock);
}

/* ---- the table of publishes in flight (lock held) ---- */

static size_t bucket_of(const kj_cluster *cl, const natsMsg *m)
{
    uint64_t h = (uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 32) & (cl->n_buckets - 1);
}

static void slot_add(kj_cluster *cl, natsMsg *m, struct pub_job *pj, size_t index)
{
    int i = cl->free_slot;
    struct slot *s = &cl->slots[i];
    cl->free_slot = s->next;
    size_t b = bucket_of(cl, m);
    *s = (struct slot){m, pj, (uint32_t)index, cl->buckets[b]};
    cl->buckets[b] = i;
    cl->inflight++;
}

/* Removes m's slot; false when m is not in the table. */
static bool slot_take(kj_cluster *cl, const natsMsg *m, struct slot *out)
{
    for (int *pp = &cl->buckets[bucket_of(cl, m)]; *pp >= 0; pp = &cl->slots[*pp].next) {
        int i = *pp;
        if (cl->slots[i].msg != m) continue;
        *out = cl->slots[i];
        *pp = out->next;
        cl->slots[i].next = cl->free_slot;
        cl->free_slot = i;
        cl->inflight--;
        return true;
    }
    return false;
}

static void table_init(kj_cluster *cl, size_t n)
{
    cl->n_slots = n;
    cl->slots = kj_calloc(n, sizeof *cl->slots);
    for (size_t i = 0; i < n; i++)
        cl->slots[i].next = i + 1 < n ? (int)(i + 1) : -1;
    cl->free_slot = 0;
    cl->n_buckets = 1;
    while (cl->n_buckets < n)
        cl->n_buckets <<= 1;
    cl->buckets = kj_malloc(cl->n_buckets * sizeof *cl->buckets);
    for (size_t i = 0; i < cl->n_buckets; i++)
        cl->buckets[i] = -1;
}

/* ---- publishing ---- */

/* The job is answered: counts set, off the open list, onto the done list.
 * Lock held; the caller wakes the service thread after unlocking. */
static void finish_pub(kj_cluster *cl, struct pub_job *pj, kj_err err)
{
    kj_ingest_job *job = pj->job;
    job->accepted = job->duplicates = 0;
    for (size_t i = 0; i < job->batch->n; i++) {
        job->accepted += job->results[i] == KJ_ITEM_ACCEPTED;
        job->duplicates += job->results[i] == KJ_ITEM_DUPLICATE;
    }
    job->err = pj->failed && !err ? KJ_ERR_UNAVAILABLE : err;
    if (pj->prev)
        pj->prev->next = pj->next;
    else
        cl->open = pj->next;
    if (pj->next) pj->next->prev = pj->prev;
    job->next = NULL;
    if (cl->done_tail)
        cl->done_tail->next = job;
    else
        cl->done_head = job;
    cl->done_tail = job;
    free(pj);
}

/* Drops one hold on pj; true when that answered it. Lock held. */
static bool release_pub(kj_cluster *cl, struct pub_job *pj)
{
    if (--pj->pending) return false;
    finish_pub(cl, pj, KJ_OK);
    return true;
}

/* libnats' thread: the PubAck (or the failure, or the timeout) of one message. */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    kj_cluster *cl = closure;
    struct slot s;
    bool answered = false, first_failure = false;
    pthread_mutex_lock(&cl->lock);
    if (!cl->closed && slot_take(cl, msg, &s)) {
        if (pa) {
            s.pj->job->results[s.index] = pa->Duplicate ? KJ_ITEM_DUPLICATE : KJ_ITEM_ACCEPTED;
            cl->stats.published[pa->Duplicate ? KJ_ITEM_DUPLICATE : KJ_ITEM_ACCEPTED]++;
        } else {
            first_failure = !s.pj->failed; /* one line per request, not per event */
            s.pj->failed = true;
            cl->stats.published[0]++;
        }
        answered = release_pub(cl, s.pj);
    }
    pthread_mutex_unlock(&cl->lock);
    if (pae && first_failure)
        kj_warn("cluster: a publish to JetStream failed: %s%s%s", natsStatus_GetText(pae->Err),
                pae->ErrText ? ": " : "", pae->ErrText ? pae->ErrText : "");
    natsMsg_Destroy(msg);
    if (answered && cl->wake) cl->wake(cl->wake_ctx);
}

/* Publishes item i of pj's batch; false when libnats refused it. */
static bool publish_one(kj_cluster *cl, struct pub_job *pj, size_t i)
{
    const kj_event *ev = &pj->job->batch->items[i].ev;
    char subject[sizeof SUBJECT_PREFIX + KJ_ID_MAX], msgid[2 * KJ_ID_MAX + 2];
    snprintf(subject, sizeof subject, SUBJECT_PREFIX "%s", ev->unit);
    snprintf(msgid, sizeof msgid, "%s/%s", ev->unit, ev->id);
    msgpack_packer pk;
    cl->buf.size = 0;
    msgpack_packer_init(&pk, &cl->buf, msgpack_sbuffer_write);
    kj_msgpack_pack_event(&pk, ev);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, cl->buf.data, (int)cl->buf.size) != NATS_OK) return false;
    pthread_mutex_lock(&cl->lock);
    slot_add(cl, m, pj, i);
    pj->pending++;
    pthread_mutex_unlock(&cl->lock);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msgid;
    po.MaxWait = cl->cc->publish_timeout_ms;
    natsMsg *sent = m;
    natsStatus st = js_PublishMsgAsync(cl->js, &sent, &po);
    if (st == NATS_OK) return true;
    /* Not sent: no PubAck can come for it. */
    struct slot s;
    pthread_mutex_lock(&cl->lock);
    if (slot_take(cl, m, &s)) pj->pending--;
    pthread_mutex_unlock(&cl->lock);
    natsMsg_Destroy(sent);
    kj_warn("cluster: cannot publish to JetStream: %s", natsStatus_GetText(st));
    return false;
}

static size_t valid_items(const kj_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += !b->items[i].error[0];
    return n;
}

/* Marks the events this node stored already as duplicates; a failed look-up
 * only means JetStream's window decides alone. */
static void mark_known(kj_cluster *cl, kj_ingest_job *job)
{
    bool *known = kj_calloc(job->batch->n ? job->batch->n : 1, sizeof *known);
    if (kj_store_ids_known(cl->store, job->batch, known) == KJ_OK)
        for (size_t i = 0; i < job->batch->n; i++)
            if (known[i]) job->results[i] = KJ_ITEM_DUPLICATE;
    free(known);
}

kj_err kj_cluster_submit(kj_cluster *cl, kj_ingest_job *job)
{
    if (cl->stopping || cl->stopped) return KJ_ERR_SHUTDOWN;
    if (!cl->ready || !cl->connected) return KJ_ERR_UNAVAILABLE;
    size_t n = valid_items(job->batch);
    pthread_mutex_lock(&cl->lock);
    /* A job bigger than the bound still goes when nothing else is out. */
    bool full = cl->inflight && cl->inflight + n > cl->cc->max_inflight;
    pthread_mutex_unlock(&cl->lock);
    if (full) return KJ_ERR_BUSY;

    struct pub_job *pj = kj_calloc(1, sizeof *pj);
    pj->job = job;
    pj->pending = 1; /* ours, until every event is out */
    mark_known(cl, job);
    pthread_mutex_lock(&cl->lock);
    pj->next = cl->open;
    if (cl->open) cl->open->prev = pj;
    cl->open = pj;
    pthread_mutex_unlock(&cl->lock);
    bool refused = false; /* by libnats: the rest is not sent, the answer is 503 */
    for (size_t i = 0; i < job->batch->n && !refused; i++) {
        if (job->batch->items[i].error[0] || job->results[i] == KJ_ITEM_DUPLICATE) continue;
        refused = !publish_one(cl, pj, i);
    }
    pthread_mutex_lock(&cl->lock);
    pj->failed |= refused; /* PubAcks write it too, under the lock */
    bool answered = release_pub(cl, pj);
    pthread_mutex_unlock(&cl->lock);
    if (answered && cl->wake) cl->wake(cl->wake_ctx);
    return KJ_OK;
}

kj_ingest_job *kj_cluster_take_done(kj_cluster *cl)
{
    if (!cl) return NULL;
    pthread_mutex_lock(&cl->lock);
    kj_ingest_job *list = cl->done_head;
    cl->done_head = cl->done_tail = NULL;
    pthread_mutex_unlock(&cl->lock);
    return list;
}

/* ---- the connection's state (libnats' threads) ---- */

static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    kj_cluster *cl = closure;
    cl->connected = true;
    kj_info("cluster: connected to NATS");
    pthread_cond_broadcast(&cl->cond);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    kj_cluster *cl = closure;
    if (!cl->connected || cl->stopping) return;
    cl->connected = false;
    pthread_mutex_lock(&cl->lock);
    cl->stats.disconnects++;
    pthread_mutex_unlock(&cl->lock);
    kj_warn("cluster: disconnected from NATS: ingest answers 503 until it is back");
}

/* ---- set-up: the stream and the durable consumer (consumer thread) ---- */

static bool serves_unit(const kj_cluster_conf *cc, const char *unit)
{
    if (cc->all_units) return true;
    for (size_t i = 0; i < cc->n_units; i++)
        if (!strcmp(cc->units[i], unit)) return true;
    return false;
}

/* Creates the stream when it is missing; warns when an existing one keeps
 * events for less than max_event_age (a new node could not build itself). */
static bool ensure_stream(kj_cluster *cl)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_GetStreamInfo(&si, cl->js, cl->cc->stream, NULL, &jerr);
    if (st == NATS_OK) {
        if (si->Config->MaxAge && si->Config->MaxAge < cl->max_age_ms * NS_PER_MS)
            kj_warn("cluster: stream %s keeps events for less than max_event_age: a new node "
                    "will miss the oldest",
                    cl->cc->stream);
        jsStreamInfo_Destroy(si);
        return true;
    }
    if (st != NATS_NOT_FOUND) {
        kj_warn("cluster: cannot look up stream %s: %s (JetStream error %d)", cl->cc->stream,
                natsStatus_GetText(st), (int)jerr);
        return false;
    }
    const char *subjects[] = {SUBJECTS};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = cl->cc->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = cl->cc->replicas;
    sc.MaxAge = cl->max_age_ms * NS_PER_MS;
    sc.Duplicates = DUP_WINDOW_MS * NS_PER_MS;
    st = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
    if (st != NATS_OK) {
        kj_warn("cluster: cannot create stream %s (R%d): %s (JetStream error %d)", cl->cc->stream,
                cl->cc->replicas, natsStatus_GetText(st), (int)jerr);
        return false;
    }
    jsStreamInfo_Destroy(si);
    kj_info("cluster: created stream %s (subjects " SUBJECTS ", R%d, duplicate window 2m)",
            cl->cc->stream, cl->cc->replicas);
    return true;
}

/* The lag from the server's count: messages not delivered yet, and those
 * delivered and not acked that are not ours in the pipeline (a previous life
 * of this node took them; they come again after ACK_WAIT_MS). */
static void read_lag(kj_cluster *cl, struct feed *f)
{
    jsConsumerInfo *ci = NULL;
    if (js_GetConsumerInfo(&ci, cl->js, cl->cc->stream, f->durable, NULL, NULL) != NATS_OK) return;
    uint64_t ack_pending = ci->NumAckPending > 0 ? (uint64_t)ci->NumAckPending : 0;
    pthread_mutex_lock(&cl->lock);
    f->pending = ci->NumPending;
    f->foreign = ack_pending > f->unapplied ? ack_pending - f->unapplied : 0;
    pthread_mutex_unlock(&cl->lock);
    jsConsumerInfo_Destroy(ci);
}

/* The consumer delivered events to a node whose raw log is empty: its
 * state_dir was replaced (rebuilt from the stream, a new disk). Resuming
 * would skip what the old store held, so the consumer is made again to
 * deliver the stream from its start (the ids table drops what is known). */
static bool start_over(kj_cluster *cl, const struct feed *f, jsConsumerConfig *cc)
{
    kj_warn("cluster: consumer %s delivered events before but this node's raw log is empty: "
            "starting it over from the stream's first event",
            f->durable);
    jsErrCode jerr = 0;
    jsConsumerInfo *ci = NULL;
    natsStatus st = js_DeleteConsumer(cl->js, cl->cc->stream, f->durable, NULL, &jerr);
    if (st == NATS_OK) st = js_AddConsumer(&ci, cl->js, cl->cc->stream, cc, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (st != NATS_OK)
        kj_warn("cluster: cannot start consumer %s over: %s (JetStream error %d)", f->durable,
                natsStatus_GetText(st), (int)jerr);
    return st == NATS_OK;
}

/* The durable consumer is created here, then bound: a consumer that libnats
 * created itself could be deleted with the subscription. */
static bool add_consumer(kj_cluster *cl, const struct feed *f)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = f->durable;
    cc.FilterSubject = f->subject;
    cc.DeliverPolicy = js_DeliverAll; /* a new node builds itself from the start */
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = ACK_WAIT_MS * NS_PER_MS;
    cc.MaxAckPending = MAX_ACK_PENDING;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus st = js_AddConsumer(&ci, cl->js, cl->cc->stream, &cc, NULL, &jerr);
    bool stale = st == NATS_OK && cl->fresh_store && ci->Delivered.Stream > 0;
    jsConsumerInfo_Destroy(ci);
    if (stale) return start_over(cl, f, &cc);
    if (st == NATS_OK) return true;
    /* It exists with other settings (an older version made it): bind to it. */
    ci = NULL;
    if (js_GetConsumerInfo(&ci, cl->js, cl->cc->stream, f->durable, NULL, NULL) == NATS_OK) {
        jsConsumerInfo_Destroy(ci);
        return true;
    }
    kj_warn("cluster: cannot create durable consumer %s on %s: %s (JetStream error %d)", f->durable,
            cl->cc->stream, natsStatus_GetText(st), (int)jerr);
    return false;
}

static bool subscribe(kj_cluster *cl, struct feed *f)
{
    if (!add_consumer(cl, f)) return false;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = cl->cc->stream;
    so.Consumer = f->durable;
    jsErrCode jerr = 0;
    natsStatus st = js_PullSubscribe(&f->sub, cl->js, f->subject, f->durable, NULL, &so, &jerr);
    if (st != NATS_OK) {
        kj_warn("cluster: cannot bind to durable consumer %s on %s: %s (JetStream error %d)",
                f->durable, cl->cc->stream, natsStatus_GetText(st), (int)jerr);
        f->sub = NULL;
        return false;
    }
    read_lag(cl, f);
    kj_info("cluster: consuming %s (%s) as %s, %llu events to catch up", cl->cc->stream, f->subject,
            f->durable, (unsigned long long)f->pending);
    return true;
}

/* The unit's part of a consumer name: [A-Za-z0-9-] kept, any other byte of an
 * id (. : _) as _ and two hex digits, so that two units never share a name. */
static void durable_of(const char *node, const char *unit, char *out, size_t len)
{
    int n = snprintf(out, len, "%s_", node);
    for (const char *p = unit; *p && n > 0 && (size_t)n + 4 < len; p++) {
        unsigned char c = (unsigned char)*p;
        bool keep =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        n += keep ? snprintf(out + n, len - (size_t)n, "%c", c)
                  : snprintf(out + n, len - (size_t)n, "_%02x", c);
    }
}

static void feeds_init(kj_cluster *cl)
{
    const kj_cluster_conf *cc = cl->cc;
    cl->n_feeds = cc->all_units ? 1 : cc->n_units;
    cl->feeds = kj_calloc(cl->n_feeds ? cl->n_feeds : 1, sizeof *cl->feeds);
    if (cc->all_units) {
        snprintf(cl->feeds[0].durable, sizeof cl->feeds[0].durable, "%s", cc->node);
        snprintf(cl->feeds[0].subject, sizeof cl->feeds[0].subject, SUBJECTS);
        return;
    }
    for (size_t i = 0; i < cc->n_units; i++) {
        struct feed *f = &cl->feeds[i];
        durable_of(cc->node, cc->units[i], f->durable, sizeof f->durable);
        snprintf(f->subject, sizeof f->subject, SUBJECT_PREFIX "%s", cc->units[i]);
    }
}

/* ---- applying the stream (consumer thread; on_applied on the service thread) ---- */

/* The writer committed (or failed) a consumer job: ack its messages. */
static void on_applied(kj_ingest_job *job)
{
    struct applied *ap = job->owner;
    kj_cluster *cl = ap->cl;
    if (!job->err)
        for (int i = 0; i < ap->msgs.Count; i++)
            natsMsg_Ack(ap->msgs.Msgs[i], NULL);
    else
        kj_warn("cluster: %d events from the stream not stored (%s): they come again",
                ap->msgs.Count, kj_strerror(job->err));
    pthread_mutex_lock(&cl->lock);
    cl->applying--;
    ap->f->unapplied -= (uint64_t)ap->msgs.Count;
    cl->stats.applied += job->accepted;
    cl->stats.applied_duplicates += job->duplicates;
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
    natsMsgList_Destroy(&ap->msgs);
    free(ap);
}

/* The events of this node's units in msgs, as a batch (items that do not
 * decode carry an error: the writer skips them, their messages are acked). */
static kj_batch *batch_of(kj_cluster *cl, natsMsgList *msgs)
{
    kj_batch *b = kj_calloc(1, sizeof *b);
    b->items = kj_calloc(msgs->Count ? (size_t)msgs->Count : 1, sizeof *b->items);
    for (int i = 0; i < msgs->Count; i++) {
        kj_batch_item *it = &b->items[b->n];
        natsMsg *m = msgs->Msgs[i];
        if (kj_msgpack_unpack_event(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                                    &it->ev) != KJ_OK) {
            kj_warn("cluster: a message of %s is not an event: skipped", natsMsg_GetSubject(m));
            snprintf(it->error, sizeof it->error, "not an event");
            b->n++;
            continue;
        }
        if (!serves_unit(cl->cc, it->ev.unit)) {
            free(it->ev.meta);
            memset(it, 0, sizeof *it);
            continue;
        }
        b->n++;
    }
    return b;
}

/* Counts a fetch into the lag: the server's count after its last message,
 * and the messages delivered again (no longer someone else's); to_writer:
 * they are now in the pipeline. */
static void note_fetch(kj_cluster *cl, struct feed *f, natsMsgList *msgs, bool to_writer)
{
    uint64_t again = 0, pending = 0;
    bool known = false;
    for (int i = 0; i < msgs->Count; i++) {
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, msgs->Msgs[i]) != NATS_OK) continue;
        again += meta->NumDelivered > 1;
        pending = meta->NumPending;
        known = true;
        jsMsgMetaData_Destroy(meta);
    }
    pthread_mutex_lock(&cl->lock);
    if (known) f->pending = pending;
    f->foreign = f->foreign > again ? f->foreign - again : 0;
    if (to_writer) {
        f->unapplied += (uint64_t)msgs->Count;
        cl->applying++;
    }
    pthread_mutex_unlock(&cl->lock);
}

/* Hands the job to the writer, waiting while its queue is full; false when
 * the writer stops (the messages are then not acked: they come again). */
static bool submit_applied(kj_cluster *cl, kj_ingest_job *job)
{
    for (;;) {
        kj_err err = kj_ingest_submit(cl->ingest, job);
        if (err == KJ_OK) return true;
        if (err != KJ_ERR_BUSY || cl->stopping) return false;
        sleep_ms(cl, 5);
    }
}

/* The messages held nothing for the writer (only other units' events): ack
 * them at once instead of committing an empty transaction. */
static void skip(kj_cluster *cl, struct feed *f, natsMsgList *msgs)
{
    note_fetch(cl, f, msgs, false);
    for (int i = 0; i < msgs->Count; i++)
        natsMsg_Ack(msgs->Msgs[i], NULL);
    natsMsgList_Destroy(msgs);
}

static void apply(kj_cluster *cl, struct feed *f, natsMsgList *msgs)
{
    kj_batch *b = batch_of(cl, msgs);
    if (!b->n) {
        kj_batch_free(b);
        skip(cl, f, msgs);
        return;
    }
    struct applied *ap = kj_calloc(1, sizeof *ap);
    ap->cl = cl;
    ap->f = f;
    ap->msgs = *msgs;
    kj_ingest_job *job = kj_ingest_job_new(b);
    job->from_stream = true;
    job->owner = ap;
    job->answer = on_applied;
    note_fetch(cl, f, &ap->msgs, true);
    if (submit_applied(cl, job)) return;
    pthread_mutex_lock(&cl->lock);
    cl->applying--;
    f->unapplied -= (uint64_t)ap->msgs.Count;
    pthread_mutex_unlock(&cl->lock);
    natsMsgList_Destroy(&ap->msgs);
    free(ap);
    kj_ingest_job_free(job);
}

static void wait_for_room(kj_cluster *cl)
{
    pthread_mutex_lock(&cl->lock);
    while (cl->applying >= APPLY_DEPTH && !cl->stopping)
        pthread_cond_wait(&cl->cond, &cl->lock);
    pthread_mutex_unlock(&cl->lock);
}

/* One fetch from f. With several feeds each waits its share of FETCH_WAIT_MS:
 * a turn over all of them still sees a stop within about FETCH_WAIT_MS. */
static void consume_once(kj_cluster *cl, struct feed *f)
{
    wait_for_room(cl);
    if (cl->stopping) return;
    int64_t wait = FETCH_WAIT_MS / (int64_t)cl->n_feeds;
    if (wait < MIN_FETCH_WAIT_MS) wait = MIN_FETCH_WAIT_MS;
    natsMsgList msgs = {0};
    jsErrCode jerr = 0;
    natsStatus st = natsSubscription_Fetch(&msgs, f->sub, FETCH_BATCH, wait, &jerr);
    if (st == NATS_TIMEOUT) {
        read_lag(cl, f); /* nothing to fetch now: are messages awaiting redelivery? */
        return;
    }
    if (st != NATS_OK) {
        natsMsgList_Destroy(&msgs);
        if (!cl->connected) return;
        /* The consumer may be gone (a NATS server lost its store): set up again. */
        kj_warn("cluster: fetch from %s failed: %s (JetStream error %d): binding again", f->durable,
                natsStatus_GetText(st), (int)jerr);
        natsSubscription_Destroy(f->sub);
        f->sub = NULL;
        sleep_ms(cl, 500);
        return;
    }
    apply(cl, f, &msgs);
}

/* Binds every feed not bound yet; false when one could not be. */
static bool subscribe_all(kj_cluster *cl)
{
    bool all = true;
    for (size_t i = 0; i < cl->n_feeds && !cl->stopping; i++)
        if (!cl->feeds[i].sub) all &= subscribe(cl, &cl->feeds[i]);
    return all;
}

static void *consumer_main(void *arg)
{
    kj_cluster *cl = arg;
    while (!cl->stopping) {
        if (!cl->connected) {
            sleep_ms(cl, 200);
            continue;
        }
        /* Ingest needs the stream only; the consumer may catch up later. */
        if (!cl->ready && ensure_stream(cl)) cl->ready = true;
        if (!cl->ready || !subscribe_all(cl)) {
            sleep_ms(cl, 1000);
            continue;
        }
        cl->fresh_store = false; /* every feed bound: what it delivers is stored now */
        struct feed *f = &cl->feeds[cl->next_feed];
        cl->next_feed = (cl->next_feed + 1) % cl->n_feeds;
        consume_once(cl, f);
    }
    cl->ready = false;
    return NULL;
}

/* ---- life ---- */

/* TLS to every server; the server's certificate is checked against tls_ca
 * (else the system's CAs) and its host name, never skipped. */
static natsStatus set_tls(natsOptions *o, const kj_cluster_conf *cc)
{
    natsStatus st = natsOptions_SetSecure(o, true);
    if (st == NATS_OK && cc->tls_ca) st = natsOptions_LoadCATrustedCertificates(o, cc->tls_ca);
    if (st == NATS_OK && cc->tls_cert)
        st = natsOptions_LoadCertificatesChain(o, cc->tls_cert, cc->tls_key);
    return st;
}

static natsStatus set_options(kj_cluster *cl)
{
    const kj_cluster_conf *cc = cl->cc;
    char name[128];
    snprintf(name, sizeof name, "kinerjad %s", cc->node);
    natsStatus st = natsOptions_Create(&cl->opts);
    if (st == NATS_OK)
        st = natsOptions_SetServers(cl->opts, (const char **)cc->nats, (int)cc->n_nats);
    if (st == NATS_OK) st = natsOptions_SetName(cl->opts, name);
    if (st == NATS_OK) st = natsOptions_SetMaxReconnect(cl->opts, -1); /* forever */
    if (st == NATS_OK) st = natsOptions_SetReconnectWait(cl->opts, 500);
    if (st == NATS_OK) st = natsOptions_SetWriteDeadline(cl->opts, WRITE_DEADLINE_MS);
    if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(cl->opts, true, on_connected, cl);
    if (st == NATS_OK) st = natsOptions_SetDisconnectedCB(cl->opts, on_disconnected, cl);
    if (st == NATS_OK) st = natsOptions_SetReconnectedCB(cl->opts, on_connected, cl);
    if (st == NATS_OK && cc->creds)
        st = natsOptions_SetUserCredentialsFromFiles(cl->opts, cc->creds, NULL);
    if (st == NATS_OK && cc->tls) st = set_tls(cl->opts, cc);
    return st;
}

static natsStatus open_context(kj_cluster *cl)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    /* Above our own bound (kj_cluster_submit): libnats never stalls the
     * service thread. */
    jo.PublishAsync.MaxPending = (int64_t)cl->n_slots + 1;
    jo.PublishAsync.AckHandler = on_puback;
    jo.PublishAsync.AckHandlerClosure = cl;
    return natsConnection_JetStream(&cl->js, cl->nc, &jo);
}

kj_err kj_cluster_new(const kj_cluster_conf *cc, int64_t max_age_ms, kj_store *store,
                      kj_ingest *ingest, void (*wake)(void *), void *wake_ctx, kj_cluster **out,
                      char *msg, size_t msglen)
{
    kj_cluster *cl = kj_calloc(1, sizeof *cl);
    cl->cc = cc;
    cl->max_age_ms = max_age_ms;
    cl->store = store;
    cl->ingest = ingest;
    cl->wake = wake;
    cl->wake_ctx = wake_ctx;
    msgpack_sbuffer_init(&cl->buf);
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->cond, NULL);
    /* Every publish of one request may be out at once, plus max_inflight. */
    table_init(cl, cc->max_inflight > KJ_BATCH_MAX ? cc->max_inflight : KJ_BATCH_MAX);
    feeds_init(cl);
    kj_store_stats ss;
    cl->fresh_store = kj_store_get_stats(store, &ss) == KJ_OK && ss.events == 0;
    natsStatus st = nats_Open(-1);
    if (st == NATS_OK) st = set_options(cl);
    if (st == NATS_OK) {
        st = natsConnection_Connect(&cl->nc, cl->opts);
        if (st == NATS_OK) cl->connected = true;
        if (st == NATS_NOT_YET_CONNECTED) {
            kj_warn("cluster: NATS (%s) is not reachable yet: serving reads, ingest answers 503 "
                    "until it is",
                    cc->nats[0]);
            st = NATS_OK;
        }
    }
    if (st == NATS_OK) st = open_context(cl);
    if (st != NATS_OK) {
        /* libnats' own text says which file or certificate it could not use. */
        natsStatus last = NATS_OK;
        const char *why = nats_GetLastError(&last);
        snprintf(msg, msglen, "cluster: cannot start the NATS client: %s%s%s",
                 natsStatus_GetText(st), why && *why ? ": " : "", why && *why ? why : "");
        kj_cluster_free(cl);
        return KJ_ERR_CONFIG;
    }
    if (pthread_create(&cl->thread, NULL, consumer_main, cl) != 0) {
        snprintf(msg, msglen, "cluster: cannot start the consumer thread");
        kj_cluster_free(cl);
        return KJ_ERR_NOMEM;
    }
    pthread_setname_np(cl->thread, "kj-consumer");
    cl->started = true;
    *out = cl;
    return KJ_OK;
}

void kj_cluster_get_stats(kj_cluster *cl, kj_cluster_stats *out)
{
    pthread_mutex_lock(&cl->lock);
    *out = cl->stats;
    out->inflight = cl->inflight;
    out->lag = 0;
    for (size_t i = 0; i < cl->n_feeds; i++)
        out->lag += cl->feeds[i].pending + cl->feeds[i].foreign + cl->feeds[i].unapplied;
    pthread_mutex_unlock(&cl->lock);
    out->connected = cl->connected;
    out->ready = cl->ready && cl->connected;
}

void kj_cluster_health(kj_cluster *cl, char *buf, size_t len)
{
    kj_cluster_stats st;
    kj_cluster_get_stats(cl, &st);
    snprintf(buf, len, "ok\ncluster: nats %s, lag %llu events\n",
             st.ready       ? "connected"
             : st.connected ? "reachable, stream not set up yet (ingest answers 503)"
                            : "unreachable (ingest answers 503)",
             (unsigned long long)st.lag);
}

static bool nats_connected(kj_cluster *cl)
{
    return cl->nc && natsConnection_Status(cl->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Joins the consumer thread by the deadline (CLOCK_MONOTONIC ms); when it is
 * still inside a libnats request (a server that does not answer keeps it
 * there for the JetStream context's 5 s), closing the connection ends the
 * request at once. */
static void join_consumer(kj_cluster *cl, int64_t deadline)
{
    int64_t left = deadline - kj_mono_ms();
    if (left < FETCH_WAIT_MS + 100) left = FETCH_WAIT_MS + 100; /* a fetch ends by itself */
    struct timespec until = realtime_after(left);
    if (pthread_timedjoin_np(cl->thread, NULL, &until) == 0) return;
    kj_warn("cluster: NATS did not answer within %d ms of the stop: closing the connection",
            STOP_WAIT_MS);
    natsConnection_Close(cl->nc);
    pthread_join(cl->thread, NULL);
}

void kj_cluster_stop(kj_cluster *cl)
{
    if (!cl || cl->stopped) return;
    int64_t deadline = kj_mono_ms() + STOP_WAIT_MS;
    pthread_mutex_lock(&cl->lock);
    cl->stopping = true;
    pthread_cond_broadcast(&cl->cond);
    pthread_mutex_unlock(&cl->lock);
    /* PubAcks first: the posts they answer are the ones clients wait for.
     * A server that went away answers none (the jobs get 503 below). */
    if (cl->js && nats_connected(cl)) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = STOP_WAIT_MS;
        js_PublishAsyncComplete(cl->js, &po);
    }
    if (cl->started) join_consumer(cl, deadline);
    cl->started = false;
    pthread_mutex_lock(&cl->lock);
    cl->closed = true;
    while (cl->open)
        finish_pub(cl, cl->open, KJ_ERR_SHUTDOWN);
    pthread_mutex_unlock(&cl->lock);
    cl->stopped = true;
}

void kj_cluster_free(kj_cluster *cl)
{
    if (!cl) return;
    kj_cluster_stop(cl);
    for (size_t i = 0; cl->feeds && i < cl->n_feeds; i++) /* not Unsubscribe: durables stay */
        if (cl->feeds[i].sub) natsSubscription_Destroy(cl->feeds[i].sub);
    /* The last acks, when a server can take them (a flush to no server
     * would wait its whole timeout for nothing). */
    if (nats_connected(cl)) natsConnection_FlushTimeout(cl->nc, 1000);
    if (cl->nc) natsConnection_Close(cl->nc);
    if (cl->js) jsCtx_Destroy(cl->js);
    natsConnection_Destroy(cl->nc);
    natsOptions_Destroy(cl->opts);
    /* libnats' threads may still be inside a callback that reads cl. */
    nats_CloseAndWait(STOP_WAIT_MS);
    kj_ingest_job *j = cl->done_head;
    while (j) {
        kj_ingest_job *next = j->next;
        kj_ingest_job_free(j);
        j = next;
    }
    msgpack_sbuffer_destroy(&cl->buf);
    free(cl->feeds);
    free(cl->slots);
    free(cl->buckets);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}
