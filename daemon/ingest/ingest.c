#include "ingest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "../proto/codec.h"
#include "log.h"
#include "prefetch.h"

#define COMMIT_DELAY_US 400 /* at most, and only while the load says more will come */

struct kj_ingest {
    kj_store *store;
    kj_ingest_hooks hooks;
    size_t queue_max, group_events;
    void (*wake)(void *);
    void *wake_ctx;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;
    kj_ingest_job *queue_head, *queue_tail;
    size_t queued;
    kj_ingest_job *done_head, *done_tail;
    bool stopping;
    const void *new_cfg; /* posted by a reload, taken by the writer */
    bool poked;          /* kj_ingest_poke: run the between hook now */
    kj_ingest_stats stats;
    bool store_full;
    size_t want; /* gather waits until this many jobs are queued; 0: not gathering */
};

const double kj_commit_bucket_ms[KJ_COMMIT_BUCKETS] = {0.5, 1,   2,   5,   10,   20,
                                                       50,  100, 250, 500, 1000, 5000};

static void count_commit(kj_ingest_stats *st, int64_t us)
{
    size_t b = 0;
    while (b < KJ_COMMIT_BUCKETS && (double)us / 1000.0 > kj_commit_bucket_ms[b])
        b++;
    st->commit_hist[b]++;
    st->commit_sum_s += (double)us / 1e6;
}

/* Packing the stored form here moves that work off the one writer thread
 * (the service threads decode in parallel with it). The buffer is sized for
 * typical events at once and doubles when a large one would not fit. */
static void pack_items(kj_ingest_job *job)
{
    const kj_batch *b = job->batch;
    size_t cap = (b->n + 1) * 256 + KJ_EVENT_PACKED_MAX, len = 0;
    uint8_t *buf = kj_malloc(cap);
    job->packed_end = kj_calloc(b->n ? b->n : 1, sizeof *job->packed_end);
    for (size_t i = 0; i < b->n; i++) {
        if (cap - len < KJ_EVENT_PACKED_MAX) buf = kj_realloc(buf, cap *= 2);
        if (!b->items[i].error[0]) len += kj_msgpack_event_bytes(&b->items[i].ev, buf + len);
        job->packed_end[i] = (uint32_t)len;
    }
    job->packed = buf;
}

kj_ingest_job *kj_ingest_job_new(kj_batch *batch)
{
    kj_ingest_job *job = kj_calloc(1, sizeof *job);
    job->batch = batch;
    job->results = kj_calloc(batch->n ? batch->n : 1, 1);
    pack_items(job);
    return job;
}

void kj_ingest_job_free(kj_ingest_job *job)
{
    if (!job) return;
    kj_batch_free(job->batch);
    free(job->results);
    free(job->packed);
    free(job->packed_end);
    free(job);
}

/* Judges a job's items before any of the group is stored, and lists the
 * admitted ones (marked accepted until the store says otherwise). Admission
 * does not hang on the group's earlier events: it asks whether an
 * acknowledged alert exists, and alerts come at the commit. */
static void admit_job(kj_ingest *in, kj_ingest_job *job, const kj_event **list, size_t *n)
{
    for (size_t i = 0; i < job->batch->n; i++) {
        kj_batch_item *it = &job->batch->items[i];
        if (i + 4 < job->batch->n) {
            kj_event_prefetch(&it[4].ev, KJ_EVENT_ID_BYTES);
            __builtin_prefetch(it[4].error);
        }
        bool ok = !it->error[0] && (!in->hooks.admit || in->hooks.admit(in->hooks.ctx, it));
        job->results[i] = ok ? KJ_ITEM_ACCEPTED : KJ_ITEM_REJECTED;
        if (ok) list[(*n)++] = &it->ev;
    }
}

/* Stores one job's admitted events; returns a store error that dooms the
 * group. */
static kj_err store_job(kj_ingest *in, kj_store_txn *t, kj_ingest_job *job)
{
    job->accepted = job->duplicates = 0;
    for (size_t i = 0; i < job->batch->n; i++) {
        kj_batch_item *it = &job->batch->items[i];
        if (i + 2 < job->batch->n) kj_event_prefetch(&it[2].ev, KJ_EVENT_HOT_BYTES);
        if (job->results[i] != KJ_ITEM_ACCEPTED) continue;
        bool dup;
        size_t len;
        const uint8_t *packed = kj_ingest_job_packed(job, i, &len);
        kj_err err = kj_store_put_event(t, &it->ev, packed, len, &dup);
        if (err) return err;
        if (dup) {
            job->results[i] = KJ_ITEM_DUPLICATE;
            job->duplicates++;
            continue;
        }
        if (in->hooks.apply && (err = in->hooks.apply(in->hooks.ctx, t, &it->ev))) return err;
        job->accepted++;
    }
    return KJ_OK;
}

/* The jobs of one transaction, counted as they were taken (a group of many
 * single events is a long list: walk it as few times as possible). */
typedef struct job_group {
    kj_ingest_job *head, *last;
    size_t jobs, events;
} job_group;

/* Admits the group's events and tells the store which it will be given, in
 * order (how their ids run decides where the store puts them). */
static kj_err expect_group(kj_ingest *in, kj_store_txn *t, const job_group *g)
{
    const kj_event **list = kj_malloc((g->events ? g->events : 1) * sizeof *list);
    size_t n = 0;
    for (kj_ingest_job *j = g->head; j; j = j->next)
        admit_job(in, j, list, &n);
    kj_err err = kj_store_expect(t, list, n);
    free(list);
    return err;
}

/* One write transaction for the whole group; sets every job's err. */
static void commit_group(kj_ingest *in, const job_group *g)
{
    kj_ingest_job *group = g->head;
    int64_t t0 = kj_mono_us();
    kj_store_txn *t = NULL;
    kj_err err = kj_store_begin(in->store, &t);
    if (!err && in->hooks.begin) in->hooks.begin(in->hooks.ctx);
    if (!err) err = expect_group(in, t, g);
    for (kj_ingest_job *j = group; j && !err; j = j->next)
        err = store_job(in, t, j);
    if (!err && in->hooks.persist) err = in->hooks.persist(in->hooks.ctx, t);
    if (!err) {
        err = kj_store_commit(t);
        t = NULL;
    }
    kj_store_abort(t); /* NULL after a commit, successful or not */
    if (err && in->hooks.rollback)
        in->hooks.rollback(in->hooks.ctx);
    else if (!err && in->hooks.commit)
        in->hooks.commit(in->hooks.ctx);
    int64_t took = kj_mono_us() - t0;
    size_t acc = 0, dup = 0;
    for (kj_ingest_job *j = group; j; j = j->next) {
        j->err = err;
        j->commit_us = took;
        if (err) j->accepted = j->duplicates = 0;
        acc += j->accepted;
        dup += j->duplicates;
    }
    if (err) kj_error("write transaction failed: %s; nothing of it was stored", kj_strerror(err));

    pthread_mutex_lock(&in->lock);
    in->store_full = err == KJ_ERR_FULL;
    in->stats.commits += !err;
    in->stats.groups_failed += !!err;
    in->stats.events_accepted += acc;
    in->stats.events_duplicate += dup;
    in->stats.last_commit_us = took;
    if (!err) count_commit(&in->stats, took);
    pthread_mutex_unlock(&in->lock);
}

/* Takes queued jobs up to group_events events (at least one job). Lock held. */
static job_group take_group(kj_ingest *in)
{
    job_group g = {in->queue_head, in->queue_head, 1, in->queue_head->batch->n};
    while (g.last->next && g.events + g.last->next->batch->n <= in->group_events) {
        g.last = g.last->next;
        g.events += g.last->batch->n;
        g.jobs++;
    }
    in->queued -= g.jobs;
    in->queue_head = g.last->next;
    if (!in->queue_head) in->queue_tail = NULL;
    g.last->next = NULL;
    return g;
}

static void finish_group(kj_ingest *in, const job_group *g)
{
    pthread_mutex_lock(&in->lock);
    if (in->done_tail)
        in->done_tail->next = g->head;
    else
        in->done_head = g->head;
    in->done_tail = g->last;
    pthread_mutex_unlock(&in->lock);
    if (in->wake) in->wake(in->wake_ctx);
}

/* Group commit pays one commit (two fsyncs) per group, so a group should
 * hold everyone who is about to post: clients answered together by the last
 * commit post again together, but their requests trickle in. Wait for as
 * many jobs as the last group had (PostgreSQL's commit_delay, made adaptive),
 * but only for an eighth of the last commit's time (at most
 * COMMIT_DELAY_US): a few clients' stragglers are worth waiting for, where
 * waiting for the whole of many clients (32) keeps them in step, read and
 * answered while the writer idles and written while the service thread
 * idles. Left to form, two cohorts take turns and each thread works while
 * the other does (README, "Group commit: a wait bounded by the commit's
 * time"). Lock held. */
static void gather(kj_ingest *in, size_t last_group)
{
    if (in->queued >= last_group || in->stopping) return;
    int64_t wait_us = in->stats.last_commit_us / 8;
    struct timespec until =
        kj_realtime_after_us(wait_us < COMMIT_DELAY_US ? wait_us : COMMIT_DELAY_US);
    in->want = last_group;
    while (in->queued < last_group && !in->stopping)
        if (pthread_cond_timedwait(&in->cond, &in->lock, &until) != 0) break;
    in->want = 0;
}

static void timed_wait(kj_ingest *in, int64_t us)
{
    struct timespec until = kj_realtime_after_us(us);
    pthread_cond_timedwait(&in->cond, &in->lock, &until);
}

static void *writer_main(void *arg)
{
    kj_ingest *in = arg;
    size_t last_group = 0;
    int64_t wait_us = 1000000;
    pthread_mutex_lock(&in->lock);
    for (;;) {
        if (!in->queue_head && !in->stopping && !in->new_cfg && !in->poked) timed_wait(in, wait_us);
        in->poked = false;
        if (in->new_cfg) {
            const void *cfg = in->new_cfg;
            in->new_cfg = NULL;
            pthread_mutex_unlock(&in->lock);
            if (in->hooks.configure) in->hooks.configure(in->hooks.ctx, cfg);
            pthread_mutex_lock(&in->lock);
        }
        job_group g = {NULL, NULL, 0, 0};
        if (in->queue_head) {
            gather(in, last_group);
            g = take_group(in);
        }
        bool stop = !g.head && in->stopping;
        pthread_mutex_unlock(&in->lock);
        if (g.head) {
            last_group = g.jobs;
            commit_group(in, &g);
            finish_group(in, &g);
        }
        if (in->hooks.between) wait_us = in->hooks.between(in->hooks.ctx, in->store);
        pthread_mutex_lock(&in->lock);
        if (stop) break;
    }
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

void kj_ingest_poke(kj_ingest *in)
{
    pthread_mutex_lock(&in->lock);
    in->poked = true;
    pthread_cond_signal(&in->cond);
    pthread_mutex_unlock(&in->lock);
}

kj_err kj_ingest_new(kj_store *s, const kj_ingest_hooks *hooks, size_t queue_max,
                     size_t group_events, void (*wake)(void *), void *wake_ctx, kj_ingest **out)
{
    kj_ingest *in = kj_calloc(1, sizeof *in);
    in->store = s;
    if (hooks) in->hooks = *hooks;
    in->queue_max = queue_max ? queue_max : 1;
    in->group_events = group_events ? group_events : 1;
    in->wake = wake;
    in->wake_ctx = wake_ctx;
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->cond, NULL);
    if (pthread_create(&in->thread, NULL, writer_main, in) != 0) {
        kj_ingest_free(in);
        return KJ_ERR_NOMEM;
    }
    pthread_setname_np(in->thread, "kj-writer"); /* top -H, perf and bench_ingest find it */
    in->started = true;
    *out = in;
    return KJ_OK;
}

kj_err kj_ingest_submit(kj_ingest *in, kj_ingest_job *job)
{
    kj_err err = KJ_OK;
    pthread_mutex_lock(&in->lock);
    if (in->stopping)
        err = KJ_ERR_SHUTDOWN;
    else if (in->queued >= in->queue_max)
        err = KJ_ERR_BUSY;
    else {
        job->next = NULL;
        if (in->queue_tail)
            in->queue_tail->next = job;
        else
            in->queue_head = job;
        in->queue_tail = job;
        in->queued++;
        /* A gathering writer wakes once, when its group is complete (or at
         * its deadline), not for every job of it. */
        if (in->queued >= in->want) pthread_cond_signal(&in->cond);
    }
    pthread_mutex_unlock(&in->lock);
    return err;
}

kj_ingest_job *kj_ingest_take_done(kj_ingest *in)
{
    pthread_mutex_lock(&in->lock);
    kj_ingest_job *list = in->done_head;
    in->done_head = in->done_tail = NULL;
    pthread_mutex_unlock(&in->lock);
    return list;
}

void kj_ingest_get_stats(kj_ingest *in, kj_ingest_stats *out)
{
    pthread_mutex_lock(&in->lock);
    *out = in->stats;
    out->queued_jobs = in->queued;
    pthread_mutex_unlock(&in->lock);
}

void kj_ingest_post_config(kj_ingest *in, const void *cfg)
{
    pthread_mutex_lock(&in->lock);
    in->new_cfg = cfg;
    pthread_cond_signal(&in->cond);
    pthread_mutex_unlock(&in->lock);
}

bool kj_ingest_store_full(kj_ingest *in)
{
    pthread_mutex_lock(&in->lock);
    bool full = in->store_full;
    pthread_mutex_unlock(&in->lock);
    return full;
}

void kj_ingest_stop(kj_ingest *in)
{
    pthread_mutex_lock(&in->lock);
    bool was = in->stopping;
    in->stopping = true;
    pthread_cond_signal(&in->cond);
    pthread_mutex_unlock(&in->lock);
    if (!was && in->started) pthread_join(in->thread, NULL);
}

static void free_list(kj_ingest_job *j)
{
    while (j) {
        kj_ingest_job *next = j->next;
        kj_ingest_job_free(j);
        j = next;
    }
}

void kj_ingest_free(kj_ingest *in)
{
    if (!in) return;
    kj_ingest_stop(in);
    free_list(in->queue_head);
    free_list(in->done_head);
    pthread_cond_destroy(&in->cond);
    pthread_mutex_destroy(&in->lock);
    free(in);
}
