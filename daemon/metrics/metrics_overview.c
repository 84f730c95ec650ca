/* The agency overview's rows (SPEC §14): one compact row per unit, packed
 * from the engine's state on the writer thread. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "metrics_ledger.h"
#include "metrics_queue.h"
#include "values.h"

/* key: the unit's today value of metric, or nil */
static void pack_value(kj_metrics *m, kj_unit *u, const char *key, kj_metric metric,
                       msgpack_packer *pk)
{
    double v;
    kj_pack_str(pk, key);
    if (kj_m_value(m, u->sc, metric, KJ_WIN_TODAY, &v))
        msgpack_pack_double(pk, v);
    else
        msgpack_pack_nil(pk);
}

static void pack_today(kj_metrics *m, kj_unit *u, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    kj_pack_str(pk, "services");
    msgpack_pack_map(pk, 3);
    pack_value(m, u, "count", KJ_M_SERVICES_COUNT, pk);
    pack_value(m, u, "sla_pct", KJ_M_SERVICES_SLA_PCT, pk);
    kj_pack_str(pk, "wait_ms");
    msgpack_pack_map(pk, 1);
    pack_value(m, u, "p90", KJ_M_SERVICES_WAIT_P90, pk);
    kj_pack_str(pk, "ratings");
    msgpack_pack_map(pk, 2);
    const kj_agg *a = kj_m_today(m, u->sc);
    int64_t centi;
    char grade;
    bool has = a && a->ratings && kj_ikm(a->ratings->ikm_sum, a->ratings->cit_n, &centi, &grade);
    kj_pack_str(pk, "ikm");
    if (has)
        msgpack_pack_double(pk, (double)centi / 100.0);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "ikm_grade");
    if (has)
        msgpack_pack_str_with_body(pk, &grade, 1);
    else
        msgpack_pack_nil(pk);
    kj_pack_str(pk, "tasks");
    msgpack_pack_map(pk, 1);
    pack_value(m, u, "on_time_pct", KJ_M_TASKS_ON_TIME_PCT, pk);
}

static void pack_queue(kj_metrics *m, kj_unit *u, msgpack_packer *pk)
{
    kj_queue_stats st;
    kj_mq_stats(m, u, KJ_QUEUE_ALL, &st);
    msgpack_pack_map(pk, 2);
    kj_pack_str(pk, "waiting");
    msgpack_pack_uint32(pk, st.waiting);
    kj_pack_str(pk, "longest_wait_ms");
    msgpack_pack_int64(pk, st.waiting && m->now > st.oldest_issued_ts ? m->now - st.oldest_issued_ts
                                                                      : 0);
}

/* The unit's own indicators by status. */
static void pack_statuses(kj_unit *u, msgpack_packer *pk)
{
    static const char *const names[] = {"none", "ok", "warn", "bad"};
    uint32_t n[4] = {0};
    for (size_t i = 0; i < u->n_inds; i++)
        if (u->inds[i]->for_unit) n[u->status[i] <= KJ_STATUS_BAD ? u->status[i] : 0]++;
    msgpack_pack_map(pk, 4);
    for (int s = 1; s <= 4; s++) { /* ok, warn, bad, none: the order of SPEC §14 */
        kj_pack_str(pk, names[s % 4]);
        msgpack_pack_uint32(pk, n[s % 4]);
    }
}

static void pack_row(kj_metrics *m, kj_unit *u, msgpack_packer *pk)
{
    const kj_unit_conf *uc = m->cfg ? kj_config_unit(m->cfg, u->sc->id) : NULL;
    uint32_t bad_days, bad_alerts = 0;
    bool needs;
    kj_ledger_coaching(m, u, &bad_days, &needs);
    for (size_t i = 0; i < u->n_alerts; i++)
        bad_alerts += u->alerts[i].to == KJ_STATUS_BAD && !u->alerts[i].acked;
    msgpack_pack_map(pk, 9);
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, u->sc->id);
    kj_pack_str(pk, "name");
    kj_pack_str(pk, uc && uc->name ? uc->name : u->sc->id);
    kj_pack_str(pk, "today");
    pack_today(m, u, pk);
    kj_pack_str(pk, "queue");
    pack_queue(m, u, pk);
    kj_pack_str(pk, "indicators");
    pack_statuses(u, pk);
    kj_pack_str(pk, "alerts_today");
    msgpack_pack_uint64(pk, u->n_alerts);
    /* SPEC §16: the bad alerts no ack has marked */
    kj_pack_str(pk, "unacked_bad");
    msgpack_pack_uint32(pk, bad_alerts);
    kj_pack_str(pk, "needs_coaching");
    if (needs)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    kj_pack_str(pk, "bad_days");
    msgpack_pack_uint32(pk, bad_days);
}

kj_err kj_metrics_pack_overview_row(kj_metrics *m, const char *unit, msgpack_packer *pk)
{
    kj_scope *sc = kj_m_find(m, KJ_SCOPE_UNIT, unit, unit);
    if (!sc) return KJ_ERR_NOT_FOUND;
    pack_row(m, sc->unit, pk);
    return KJ_OK;
}

void kj_metrics_pack_overview(kj_metrics *m, msgpack_packer *pk)
{
    size_t n;
    kj_unit **list = kj_m_units_sorted(m, &n);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_row(m, list[i], pk);
    free(list);
}
