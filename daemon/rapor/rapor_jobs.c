/* Rapor builds on worker threads (rapor_jobs.h). */
#include "rapor_jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "../proto/alloc.h"
#include "rapor_read.h"
#include "tzclock.h"

typedef struct slot {
    pthread_t thread;
    bool started;     /* service thread: a thread to join */
    atomic_bool done; /* set by the worker as its last act */
    kj_rapor_jobs *jobs;
    const kj_config *cfg;
    kj_query *q;
} slot;

struct kj_rapor_jobs {
    kj_store *store;
    kj_hub *hub;
    slot slots[KJ_RAPOR_JOBS_MAX];
};

kj_rapor_jobs *kj_rapor_jobs_new(kj_store *store, kj_hub *hub)
{
    kj_rapor_jobs *j = kj_calloc(1, sizeof *j);
    j->store = store;
    j->hub = hub;
    return j;
}

static void reap(slot *s)
{
    if (!s->started) return;
    pthread_join(s->thread, NULL);
    s->started = false;
}

void kj_rapor_jobs_free(kj_rapor_jobs *j)
{
    if (!j) return;
    for (int i = 0; i < KJ_RAPOR_JOBS_MAX; i++)
        reap(&j->slots[i]);
    free(j);
}

static void run(slot *s)
{
    kj_query *q = s->q;
    kj_tz *tz;
    kj_rapor_out out;
    if (kj_tz_load(s->cfg->timezone, &tz) != KJ_OK) {
        q->status = 500;
        snprintf(q->error, sizeof q->error, "rapor: cannot load timezone %s", s->cfg->timezone);
        return;
    }
    kj_rapor_build(s->jobs->store, s->cfg, tz, q->params, &out);
    kj_tz_free(tz);
    q->status = out.status;
    snprintf(q->error, sizeof q->error, "%s", out.error);
    if (out.data) q->result = kj_frame_new(out.data, out.len);
    free(out.data);
}

static void *worker(void *arg)
{
    slot *s = arg;
    pthread_setname_np(pthread_self(), "kj-rapor");
    run(s);
    kj_hub_answer(s->jobs->hub, s->q);
    atomic_store(&s->done, true);
    return NULL;
}

kj_err kj_rapor_jobs_start(kj_rapor_jobs *j, const kj_config *cfg, kj_query *q)
{
    slot *free_slot = NULL;
    for (int i = 0; i < KJ_RAPOR_JOBS_MAX && !free_slot; i++) {
        slot *s = &j->slots[i];
        if (s->started && atomic_load(&s->done)) reap(s);
        if (!s->started) free_slot = s;
    }
    if (!free_slot) return KJ_ERR_BUSY;
    free_slot->jobs = j;
    free_slot->cfg = cfg;
    free_slot->q = q;
    atomic_store(&free_slot->done, false);
    if (pthread_create(&free_slot->thread, NULL, worker, free_slot)) return KJ_ERR_BUSY;
    free_slot->started = true;
    return KJ_OK;
}
