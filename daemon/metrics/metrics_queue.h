/* kinerjad — the units' ticket queues inside the engine (metrics_queue.c):
 * apply, commit and rollback in the group, keys in the store, the queue
 * metrics of window "now". Uses the model, values and queue.c; re-evaluates
 * queue indicators through m->hooks. Called by eval.c (values), the
 * packers, metrics_store.c and metrics.c. */
#ifndef KJ_METRICS_QUEUE_H
#define KJ_METRICS_QUEUE_H

#include "model.h"

void kj_mq_apply(kj_metrics *m, kj_unit *u, const kj_event *ev);
void kj_mq_commit(kj_metrics *m);
void kj_mq_rollback(kj_metrics *m);
kj_err kj_mq_dirty(kj_metrics *m, const kj_metrics_sink *sink);
void kj_mq_new_day(kj_metrics *m);
void kj_mq_free_unit(kj_unit *u);
bool kj_mq_is_key(const void *key, size_t klen);
kj_err kj_mq_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen);
bool kj_mq_key_expired(const kj_metrics *m, const void *key, size_t klen);
bool kj_mq_stats(kj_metrics *m, kj_unit *u, int kind, kj_queue_stats *st);
void kj_mq_pack(kj_metrics *m, kj_unit *u, msgpack_packer *pk);
bool kj_mq_value(kj_metrics *m, const kj_unit *u, kj_metric metric, double *out);
void kj_mq_tick(kj_metrics *m);

#endif
