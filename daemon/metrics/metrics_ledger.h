/* kinerjad — the ledger of ended days' statuses (metrics_ledger.c): closed
 * at day's end, stored and loaded, read for coaching. Uses the model and
 * indicators; called by metrics_overview.c, metrics_store.c and metrics.c. */
#ifndef KJ_METRICS_LEDGER_H
#define KJ_METRICS_LEDGER_H

#include "model.h"

typedef struct kj_ledger_hist kj_ledger_hist;
void kj_ledger_close_day(kj_metrics *m);
kj_err kj_ledger_dirty(kj_metrics *m, const kj_metrics_sink *sink);
void kj_ledger_commit(kj_metrics *m);
bool kj_ledger_pending(const kj_metrics *m);
bool kj_ledger_is_key(const void *key, size_t klen);
kj_err kj_ledger_load(kj_metrics *m, const void *key, size_t klen, const void *val, size_t vlen);
bool kj_ledger_key_expired(const kj_metrics *m, const void *key, size_t klen);
void kj_ledger_coaching(kj_metrics *m, kj_unit *u, uint32_t *bad_days, bool *needs);
void kj_ledger_free_unit(kj_unit *u);
void kj_ledger_free(kj_metrics *m);

#endif
