/* kinerjad — indicator evaluation over the engine's scopes (eval.c; the
 * pure judgements and the alert codec are indicators.h). Uses the model,
 * values, metrics_queue (window "now") and alerts (holds, raising). Called
 * by metrics_ledger.c, the packers, metrics_store.c and metrics.c, which
 * also sets m->hooks to these functions. */
#ifndef KJ_EVAL_H
#define KJ_EVAL_H

#include "model.h"

/* Evaluate the indicators of the scopes the group changed (once a group). */
void kj_m_evaluate(kj_metrics *m);
bool kj_ind_value(kj_metrics *m, const kj_unit *u, size_t i, kj_scope *sc, double *v);
void kj_ind_setup_unit(kj_metrics *m, kj_unit *u, const kj_config *old);
void kj_ind_setup_member(const kj_unit *u, member *mb, uint8_t initial);
void kj_ind_eval_scope(kj_metrics *m, kj_scope *sc, bool silent);
void kj_ind_eval_slot(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, member *mb);
void kj_ind_baseline(kj_metrics *m);
void kj_ind_pack(kj_metrics *m, kj_unit *u, const char *only_employee, msgpack_packer *pk);
void kj_ind_pack_alerts(kj_metrics *m, kj_unit *u, const char *only_employee, msgpack_packer *pk);
void kj_ind_trim_alerts(kj_metrics *m, kj_unit *u);

#endif
