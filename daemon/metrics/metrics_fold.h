/* kinerjad — folding minute buckets into hours and days (metrics_fold.c),
 * and the pending minutes a read adds. Uses the model and the windows;
 * called by values.c, metrics_pack.c, metrics_store.c and metrics.c. */
#ifndef KJ_METRICS_FOLD_H
#define KJ_METRICS_FOLD_H

#include "model.h"

size_t kj_m_pending(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start, kj_agg *into,
                    unsigned hists);
void kj_m_fold_all(kj_metrics *m, int32_t upto, int32_t ref_hour);
void kj_m_pend(kj_metrics *m, kj_scope *sc);
void kj_m_unpend(kj_metrics *m, kj_scope *sc);
void kj_m_reopen_pending(kj_metrics *m, kj_scope *sc);

#endif
