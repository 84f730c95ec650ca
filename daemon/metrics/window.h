/* kinerjad — the sliding windows (window.c): which buckets a window holds,
 * their running totals, rebuilt or moved when now moves. Uses the model;
 * called by metrics_fold.c, metrics_store.c and metrics.c. */
#ifndef KJ_WINDOW_H
#define KJ_WINDOW_H

#include "model.h"

bool kj_sw_closed_at(int w, int32_t now, int32_t start);
bool kj_sw_holds(const kj_metrics *m, int w, int32_t start);
bool kj_sw_closed(const kj_metrics *m, int w, int32_t start);
void kj_window_rebuild(kj_metrics *m, kj_scope *sc, kj_res res);
bool kj_window_advance(kj_metrics *m, kj_scope *sc, kj_res res, int32_t old_now, int32_t new_now);

#endif
