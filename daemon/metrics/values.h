/* kinerjad — metric values read from the model (values.c): today's
 * aggregate, a window's aggregate, a metric over a window. Uses the model
 * and the pending minutes (metrics_fold.h); called by metrics_queue.c,
 * eval.c and the packers. */
#ifndef KJ_VALUES_H
#define KJ_VALUES_H

#include "model.h"

/* Today's aggregate of sc (NULL: none), with its pending minutes. */
const kj_agg *kj_m_today(kj_metrics *m, kj_scope *sc);
bool kj_m_value(kj_metrics *m, kj_scope *sc, kj_metric metric, kj_window w, double *out);
/* Every unit, sorted by id, in a new array (free() it) of *n. */
kj_unit **kj_m_units_sorted(kj_metrics *m, size_t *n);
const kj_agg *kj_m_window(kj_metrics *m, kj_scope *sc, kj_window w);
/* The same, good for reading `metric` only. */
const kj_agg *kj_m_window_for(kj_metrics *m, kj_scope *sc, kj_window w, kj_metric metric);
double kj_m_window_hours(const kj_metrics *m, kj_window w);
kj_scope *kj_m_find_ref(kj_metrics *m, const kj_scope_ref *ref);

#endif
