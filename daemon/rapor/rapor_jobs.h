/* kinerjad — rapor requests run on worker threads (DESIGN "Round 2 notes":
 * a rapor over a year must not pause ingest, neither the writer nor the
 * service thread that reads the posts).
 *
 * The service thread starts a job with a kj_query whose params are a
 * kj_rapor_req; a worker thread builds the rapor (rapor_read.c: one read
 * transaction, no writer involved) and hands the query back through the hub
 * like a writer's answer, so q->done runs on the service thread. At most
 * `max_running` jobs run at once (a bounded number of threads and read
 * transactions); more are refused with KJ_ERR_BUSY (the API answers 503).
 *
 * Owned by the server (service thread): new, start and free there. free
 * waits for the running jobs, so it comes before the store is closed. */
#ifndef KJ_RAPOR_JOBS_H
#define KJ_RAPOR_JOBS_H

#include "config/config.h"
#include "ingest/hub.h"
#include "store/store.h"

#define KJ_RAPOR_JOBS_MAX 2 /* rapor builds at once: each a thread and a read transaction */

typedef struct kj_rapor_jobs kj_rapor_jobs;

kj_rapor_jobs *kj_rapor_jobs_new(kj_store *store, kj_hub *hub);
/* Waits for the running jobs (their answers stay in the hub). NULL: no-op. */
void kj_rapor_jobs_free(kj_rapor_jobs *j);

/* Run q (params: a kj_rapor_req, owned by q) with cfg, which must stay valid
 * until the answer is back (the server keeps replaced configurations). On
 * completion q->status, q->error and q->result are set and q is answered.
 * KJ_ERR_BUSY (q untouched) when KJ_RAPOR_JOBS_MAX jobs are running. */
kj_err kj_rapor_jobs_start(kj_rapor_jobs *j, const kj_config *cfg, kj_query *q);

#endif
