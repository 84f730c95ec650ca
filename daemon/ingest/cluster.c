/* kinerjad — NATS JetStream: the stream, publishing posted events, and this
 * node's durable consumer (cluster.h says who calls what, on which thread).
 * This file publishes and runs the cluster's life; cluster_feed.c consumes. */
#include "cluster.h"
#include "cluster_feed.h"

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
#include "log.h"

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
    size_t len;
    const uint8_t *packed = kj_ingest_job_packed(pj->job, i, &len);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, (const char *)packed, (int)len) != NATS_OK) return false;
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
    pthread_mutex_init(&cl->lock, NULL);
    pthread_cond_init(&cl->cond, NULL);
    /* Every publish of one request may be out at once, plus max_inflight. */
    table_init(cl, cc->max_inflight > KJ_BATCH_MAX ? cc->max_inflight : KJ_BATCH_MAX);
    kj_cluster_feeds_init(cl);
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
    if (pthread_create(&cl->thread, NULL, kj_cluster_consumer_main, cl) != 0) {
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
    struct timespec until = kj_realtime_after_us(left * 1000);
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
    free(cl->feeds);
    free(cl->slots);
    free(cl->buckets);
    pthread_cond_destroy(&cl->cond);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}
