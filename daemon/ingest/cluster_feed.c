/* kinerjad — the stream's set-up and this node's durable consumers, applied
 * through the writer in stream order (the consumer thread; on_applied on the
 * service thread). cluster.h says who calls what. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "../proto/codec.h"
#include "cluster_feed.h"
#include "log.h"

static void sleep_ms(kj_cluster *cl, int ms)
{
    struct timespec until = kj_realtime_after_us(ms * 1000);
    pthread_mutex_lock(&cl->lock);
    if (!cl->stopping) pthread_cond_timedwait(&cl->cond, &cl->lock, &until);
    pthread_mutex_unlock(&cl->lock);
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

void kj_cluster_feeds_init(kj_cluster *cl)
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
    struct stream_msgs *ap = job->owner.stream;
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
    struct stream_msgs *ap = kj_calloc(1, sizeof *ap);
    ap->cl = cl;
    ap->f = f;
    ap->msgs = *msgs;
    kj_ingest_job *job = kj_ingest_job_new(b);
    job->from_stream = true;
    job->owner.stream = ap;
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

void *kj_cluster_consumer_main(void *arg)
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
