/* kinerjad — the metrics engine's private structures, shared by metrics.c
 * (scopes, apply, groups, time), window.c (bucket series and sliding
 * windows), metrics_store.c (keys, dirty walk, load), metrics_pack.c (values
 * and msgpack) and indicators.c (evaluation). Nothing outside these files
 * includes it. */
#ifndef KJ_METRICS_INT_H
#define KJ_METRICS_INT_H

#include "../proto/clock.h"
#include "agg.h"
#include "indicators.h"
#include "metrics.h"
#include "presence.h"
#include "queue.h"
#include "tzclock.h"

/* Per-window arrays are indexed by kj_window (metric.h) and hold the sliding
 * windows only: today's slot is unused (today is its day bucket). */

#define ALERTS_PER_UNIT 200
#define STATUS_UNSET 0xff /* no baseline yet: the first evaluation is silent */

extern const int32_t kj_sw_len[KJ_WIN_COUNT]; /* in buckets */
extern const uint8_t kj_sw_res[KJ_WIN_COUNT];

/* A scope's buckets of one resolution, oldest first, packed in one buffer as
 * records [int32 start][varint len][len bytes of kj_agg encoding]. Packing
 * them costs ~25 bytes per sparse bucket instead of ~100 for a struct with a
 * pointer and a heap block: hour buckets of 10,000 employees over 30 days are
 * the bulk of the engine's memory. */
typedef struct series {
    uint8_t *buf;
    uint32_t used, cap, n;
    uint32_t last; /* offset of the newest record: most look-ups want it */
} series;

typedef struct series_rec {
    int32_t start;
    const uint8_t *data;
    uint32_t len;
    uint32_t off; /* record offset in buf */
} series_rec;

/* A decoded bucket: the current ones (written by most events) and those a
 * group touched. The series holds the committed encoding; `agg` equals it
 * except for buckets touched in the current group. */
typedef struct open_bucket {
    kj_agg agg;
    int32_t start;
    uint8_t res;
    uint8_t touched;  /* changed in the current group */
    uint8_t refolded; /* an hour or day bucket a fold changed: to encode (metrics_fold.c) */
    uint8_t *pending; /* its encoding made by each_dirty, stored at commit */
    uint32_t pending_len;
} open_bucket;

enum scope_flag {
    SC_CHANGED = 1,    /* to be reported by take_changes */
    SC_TOUCHED = 2,    /* in the group's touched list */
    SC_CREATED = 4,    /* created in the current group */
    SC_BUCKETS = 8,    /* buckets (and so windows) touched in the group */
    SC_PRESENCE = 16,  /* presence / serving changed in the group */
    SC_DIRECTORY = 32, /* directory key to write (unit or counter first seen) */
    SC_EVAL = 64,      /* indicators to evaluate */
    SC_FOLDED = 128,   /* minutes folded into hours and days since the last save */
};

typedef struct kj_scope {
    struct kj_scope *hnext;
    uint32_t hash;
    uint8_t kind; /* kj_scope_kind */
    uint8_t flags;
    uint16_t n_open, cap_open; /* at most ~820: buckets within the horizons */
    bool pend_listed;          /* in m->pend: may have pending minutes */
    struct kj_unit *unit;      /* unit scope: its unit; counter: its unit; employee: NULL */
    series ser[KJ_RES_COUNT];
    open_bucket *open;
    kj_agg win[KJ_WIN_COUNT]; /* running totals of the closed buckets of each sliding window */
    presence *pres;           /* employees, once they sent presence */
    serving *serv;            /* counters, once someone served there */
    void *saved;              /* presence / serving before the group (presence.c) */
    struct kj_unit **units;   /* employees: the units they are members of */
    uint32_t n_units;
    char id[]; /* in the same allocation: a look-up compares it without a miss more */
} kj_scope;

/* A status waiting out its indicator's hold_ms (alerts.c). */
typedef struct kj_hold {
    int64_t since;     /* when the candidate was first seen */
    uint8_t candidate; /* kj_status + 1; 0: nothing held */
} kj_hold;

typedef struct member {
    kj_scope *sc;
    uint8_t *status;              /* per unit indicator (kj_status or STATUS_UNSET) */
    kj_hold *hold;                /* per unit indicator, allocated at the first hold; or NULL */
    struct kj_feedback *feedback; /* newest first (feedback.c), or NULL */
    uint8_t n_feedback;
} member;

typedef struct kj_unit {
    kj_scope *sc;
    member *members;
    size_t n_members, cap_members;
    kj_scope **counters;
    size_t n_counters, cap_counters;
    int64_t sla_wait_ms;
    const kj_indicator_conf **inds; /* indicators that apply to this unit */
    int *ind_metric;                /* their kj_metric, or -1 when unknown */
    size_t n_inds;
    uint8_t *status;  /* per indicator, for the unit scope */
    kj_hold *hold;    /* per indicator, for the unit scope, or NULL (as member's) */
    kj_alert *alerts; /* today's, oldest first */
    size_t n_alerts, cap_alerts;
    bool changed; /* in m->changed_units */
    /* today's tickets, NULL until the first; the state before the group for
     * rollback; in m->queue_units (metrics_queue.c) */
    kj_queue *queue, *queue_saved;
    bool queue_touched;
    struct kj_ledger_hist *ledger; /* statuses of ended days (metrics_ledger.c) */
} kj_unit;

/* Undo entries of a group, replayed backwards by rollback. */
enum undo_kind { UNDO_MEMBER, UNDO_STATUS, UNDO_ALERTS, UNDO_ACK, UNDO_HOLD };
typedef struct undo {
    uint8_t kind;
    uint8_t old_status;
    kj_unit *u;
    void *p;  /* UNDO_MEMBER: the scope; UNDO_STATUS: the status byte; UNDO_HOLD: the kj_hold */
    size_t n; /* UNDO_ALERTS: u->n_alerts before; UNDO_ACK: the alert's index;
               * UNDO_HOLD: the old since (old_status: the old candidate) */
} undo;

typedef struct vec {
    void *items;
    size_t n, cap;
} vec;

struct kj_changes {
    kj_metrics *m;
    kj_unit *u;
};

struct kj_metrics {
    const kj_config *cfg;
    kj_tz *tz;

    int64_t now;
    int32_t now_min, now_hour, today; /* bucket numbers at now */
    int64_t today_start, tomorrow_start;
    int32_t day_keep; /* local days of day buckets kept in memory */
    /* Minute buckets from fold_min on are pending: their events are not yet
     * in the hour and day buckets (metrics_fold.c). fold_saved is the
     * watermark the store holds; `folded` lists the scopes whose hour and day
     * buckets changed by folds not yet stored. */
    int32_t fold_min, fold_saved;
    vec folded;
    vec pend;         /* scope *: those that may have pending minutes (the tick folds only these) */
    bool fold_stored; /* the store has a watermark (a store without one is
                       * an older build's: every minute in it is folded) */
    bool fold_writing;     /* the current group stores the folds */
    uint64_t presence_seq; /* arrival order of presence evidence (presence.c) */

    kj_scope **table; /* chained hash of every scope */
    size_t table_cap, n_scopes;
    size_t n_units, n_employees, n_counters;

    bool in_group, evaluated, need_baseline;
    vec touched;           /* scope *: touched in the group */
    vec undo;              /* undo */
    vec pending;           /* kj_alert: produced, not yet committed to the store */
    size_t group_pending;  /* pending.n at begin */
    vec committed;         /* kj_alert: committed, not yet taken */
    vec changed_units;     /* unit * */
    int64_t life_deadline; /* the nearest hold or escalation due (alerts.c); 0: none */
    vec fb_group;          /* kj_feedback: the group's feedback events (feedback.c) */
    vec queue_units;       /* unit *: whose queue the group changed */
    vec queue_notes;       /* kj_queue_note: expiries not yet taken */
    int64_t queue_eval_at; /* the next re-evaluation of queue indicators (metrics_queue.c) */
    vec ledger_pending;    /* the ledger's records of a day that ended, not yet stored */

    /* kj_metrics_load: the scope of the last bucket key and its key prefix
     * (keys arrive sorted, so most share the previous one's scope) */
    bool loading;        /* kj_metrics_load was called: finish_load has work */
    int32_t load_newest; /* the newest minute bucket loaded */
    kj_scope *load_sc;
    uint8_t load_prefix[2 * KJ_ID_MAX + 4];
    size_t load_prefix_len;
    /* The checkpoint of a clean stop: the window totals it stored hold at
     * ckpt_now (0: none in use; the load merges every bucket instead). */
    int64_t ckpt_now;
    bool ckpt_broken;   /* one of its values did not decode: rebuild instead */
    bool ckpt_stored;   /* a valid marker is in the store: the next group voids it */
    bool ckpt_clearing; /* the current group voids it */

    kj_agg scratch; /* decode buffer for window moves */
    kj_agg view;    /* a window read: running total + current bucket */
    uint8_t *enc;   /* encode buffer */
    size_t enc_cap;
};

/* metrics.c */
kj_scope *kj_m_find(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id);
kj_scope *kj_m_get(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id,
                   bool from_load);
kj_unit *kj_m_unit(kj_metrics *m, const char *id, bool from_load);
void kj_m_add_member(kj_metrics *m, kj_unit *u, kj_scope *e, bool from_load);
void kj_m_mark_changed(kj_metrics *m, kj_scope *sc);
void kj_m_touch(kj_metrics *m, kj_scope *sc, uint8_t flag);
open_bucket *kj_m_open_find(kj_scope *sc, kj_res res, int32_t start);
open_bucket *kj_m_open(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start);
const kj_agg *kj_m_today(kj_metrics *m, kj_scope *sc);
int32_t kj_m_bucket_of(const kj_metrics *m, kj_res res, int64_t ts);
int64_t kj_m_bucket_ms(kj_res res, int32_t start);
int32_t kj_m_horizon(const kj_metrics *m, kj_res res);
uint8_t *kj_m_enc(kj_metrics *m, size_t need);
void vec_push(vec *v, const void *item, size_t size);

/* metrics_store.c */
size_t kj_m_bucket_key(uint8_t *buf, size_t cap, const kj_scope *sc, kj_res res, int32_t start);

/* metrics_fold.c */
size_t kj_m_pending(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start, kj_agg *into);
void kj_m_fold_all(kj_metrics *m, int32_t upto, int32_t ref_hour);
void kj_m_pend(kj_metrics *m, kj_scope *sc);
void kj_m_unpend(kj_metrics *m, kj_scope *sc);
void kj_m_reopen_pending(kj_metrics *m, kj_scope *sc);

/* window.c */
bool kj_sw_closed_at(int w, int32_t now, int32_t start);
bool kj_series_find(const series *s, int32_t start, series_rec *rec);
void kj_series_put(series *s, int32_t start, const uint8_t *data, uint32_t len);
void kj_series_drop_before(series *s, int32_t start);
bool kj_series_next(const series *s, uint32_t *off, series_rec *rec);
void kj_series_free(series *s);
bool kj_sw_holds(const kj_metrics *m, int w, int32_t start);
bool kj_sw_closed(const kj_metrics *m, int w, int32_t start);
void kj_window_rebuild(kj_metrics *m, kj_scope *sc, kj_res res);
bool kj_window_advance(kj_metrics *m, kj_scope *sc, kj_res res, int32_t old_now, int32_t new_now);

void kj_m_evaluate(kj_metrics *m);

/* metrics_store.c */
void kj_m_finish_load(kj_metrics *m);

/* metrics_pack.c */
bool kj_m_value(kj_metrics *m, kj_scope *sc, kj_metric metric, kj_window w, double *out);
/* Every unit, sorted by id, in a new array (free() it) of *n. */
kj_unit **kj_m_units_sorted(kj_metrics *m, size_t *n);
const kj_agg *kj_m_window(kj_metrics *m, kj_scope *sc, kj_window w);
double kj_m_window_hours(const kj_metrics *m, kj_window w);
kj_scope *kj_m_find_ref(kj_metrics *m, const kj_scope_ref *ref);

/* metrics_queue.c */
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

/* metrics_ledger.c */
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

/* indicators.c */
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
