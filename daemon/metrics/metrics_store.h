/* kinerjad — the engine's keys and values in the store (metrics_store.c):
 * the dirty walk, loading, the checkpoint. Uses every layer below the
 * engine; called by metrics_series.c (bucket keys) and metrics.c. */
#ifndef KJ_METRICS_STORE_H
#define KJ_METRICS_STORE_H

#include "model.h"

size_t kj_m_bucket_key(uint8_t *buf, size_t cap, const kj_scope *sc, kj_res res, int32_t start);
void kj_m_finish_load(kj_metrics *m);

#endif
