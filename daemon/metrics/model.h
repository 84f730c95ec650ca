/* kinerjad — the metrics engine's model: struct kj_metrics and the scope,
 * unit and member types, with the functions every layer of the engine uses
 * on them (model.c): look-ups and creation of scopes, units and members, the
 * group's touched / changed marks, the encode buffer, bucket arithmetic and
 * open buckets. It calls nothing above it (what it needs from eval.c goes
 * through kj_m_hooks). Called by every file of daemon/metrics/ above the
 * pure ones; nothing outside daemon/metrics/ includes it.
 *
 * The layers, each calling and including only those before it
 * (tests/integration/test_layers.py checks it):
 *   pure: hist -> agg, queue, buckets -> metric -> indicators (judgements,
 *         alert codec), assess
 *   -> model -> presence, window -> metrics_fold -> values -> metrics_queue
 *   -> alerts -> eval (indicator evaluation) -> feedback, metrics_ledger
 *   -> metrics_store -> metrics_pack, metrics_overview, metrics_series
 *   -> metrics.c (the engine: apply, commit, rollback, tick, life cycle).
 * metrics.h is the engine's public contract; the layers below metrics.c
 * include it for its types (kj_metrics, kj_scope_ref, the sink). */
#ifndef KJ_MODEL_H
#define KJ_MODEL_H

#include "../proto/clock.h"
#include "agg.h"
#include "buckets.h"
#include "indicators.h"
#include "metrics.h"
#include "queue.h"
#include "tzclock.h"

/* Per-window arrays are indexed by kj_window (metric.h) and hold the sliding
 * windows only: today's slot is unused (today is its day bucket). */

#define ALERTS_PER_UNIT 200
#define STATUS_UNSET 0xff /* no baseline yet: the first evaluation is silent */

extern const int32_t kj_sw_len[KJ_WIN_COUNT]; /* in buckets */
extern const uint8_t kj_sw_res[KJ_WIN_COUNT];

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
    char id[KJ_ID_MAX + 1];    /* by the hash: a look-up compares it without a miss more */
    series ser[KJ_RES_COUNT];
    open_bucket *open;
    kj_agg win[KJ_WIN_COUNT];  /* running totals of the closed buckets of each sliding window */
    struct presence *pres;     /* employees, once they sent presence */
    struct serving *serv;      /* counters, once someone served there */
    struct saved_state *saved; /* presence / serving before the group (presence.c) */
    struct kj_unit **units;    /* employees: the units they are members of */
    uint32_t n_units;
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
    union {
        kj_scope *scope; /* UNDO_MEMBER */
        uint8_t *status; /* UNDO_STATUS: the status byte */
        kj_hold *hold;   /* UNDO_HOLD */
    } p;
    size_t n; /* UNDO_ALERTS: u->n_alerts before; UNDO_ACK: the alert's index;
               * UNDO_HOLD: the old since (old_status: the old candidate) */
} undo;

typedef struct vec {
    void *items;
    size_t n, cap;
} vec;

/* What the model calls in the layers above it, set by the engine
 * (metrics.c) at kj_metrics_new: eval.c sets up a new unit's and
 * member's statuses and evaluates a slot or a scope; alerts.c (a due hold)
 * and metrics_queue.c (waits that grow) evaluate through them, so that
 * neither calls up into eval.c. */
typedef struct kj_m_hooks {
    void (*setup_unit)(kj_metrics *m, kj_unit *u, const kj_config *old);
    void (*setup_member)(const kj_unit *u, member *mb, uint8_t initial);
    void (*eval_slot)(kj_metrics *m, kj_unit *u, size_t i, kj_scope *sc, member *mb);
    void (*eval_scope)(kj_metrics *m, kj_scope *sc, bool silent);
} kj_m_hooks;

struct kj_changes {
    kj_metrics *m;
    kj_unit *u;
};

struct kj_metrics {
    const kj_config *cfg;
    kj_tz *tz;
    kj_m_hooks hooks;

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

kj_scope *kj_m_find(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id);
kj_scope *kj_m_get(kj_metrics *m, kj_scope_kind kind, const char *unit, const char *id,
                   bool from_load);
kj_unit *kj_m_unit(kj_metrics *m, const char *id, bool from_load);
/* A counter of u, created when new. */
kj_scope *kj_m_counter_of(kj_metrics *m, kj_unit *u, const char *id);
/* The unit's configured SLA wait, or the default. */
int64_t kj_m_sla_of(const kj_metrics *m, const char *unit_id);
void kj_m_add_member(kj_metrics *m, kj_unit *u, kj_scope *e, bool from_load);
void kj_m_mark_changed(kj_metrics *m, kj_scope *sc);
void kj_m_touch(kj_metrics *m, kj_scope *sc, uint8_t flag);
open_bucket *kj_m_open_find(kj_scope *sc, kj_res res, int32_t start);
open_bucket *kj_m_open(kj_metrics *m, kj_scope *sc, kj_res res, int32_t start);
int32_t kj_m_bucket_of(const kj_metrics *m, kj_res res, int64_t ts);
int64_t kj_m_bucket_ms(kj_res res, int32_t start);
int32_t kj_m_horizon(const kj_metrics *m, kj_res res);
uint8_t *kj_m_enc(kj_metrics *m, size_t need);
void vec_push(vec *v, const void *item, size_t size);

#endif
