/* kinerjad — the configuration's indicators (IKU): metric, window, target,
 * direction, margins, scope and personal targets (config_priv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "config_priv.h"

static const char *const better_names[] = {"lower", "higher"};
static const char *const applies_names[] = {"unit", "employee"};

/* ---- indicators ---- */

static void load_metric(struct load *ld, const char *base, const char *raw, char **out)
{
    path key = kj_cfg_sub(base, "metric");
    raw = kj_cfg_leaf(ld, key.s, raw);
    if (!kj_cfg_required(ld, key.s, raw)) return;
    kj_metric metric;
    if (!kj_metric_parse(raw, &metric)) { /* the engine's own list: one place */
        char list[1536] = "";
        for (int i = 0; i < KJ_M_COUNT; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     kj_metric_name((kj_metric)i));
        kj_cfg_fail(ld, key.s, "unknown metric \"%.80s\"; one of: %s", raw, list);
        return;
    }
    *out = kj_strdup(raw);
}

static void load_applies(struct load *ld, const char *base, const struct raw_indicator *r,
                         kj_indicator_conf *ind)
{
    path key = kj_cfg_sub(base, "applies_to");
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, key.s);
    ind->for_unit = ind->for_employee = true;
    if (!e || kj_cfg_entry_null(e)) return;
    ind->for_unit = ind->for_employee = false;
    if (r->applies_to_count == 0) kj_cfg_fail(ld, key.s, "must list unit, employee or both");
    for (size_t i = 0; i < r->applies_to_count; i++) {
        int v = -1;
        kj_cfg_set_enum(ld, kj_cfg_item(key.s, i).s, r->applies_to[i], applies_names,
                        COUNT(applies_names), &v);
        if (v == 0) ind->for_unit = true;
        if (v == 1) ind->for_employee = true;
    }
}

static void load_overrides(struct load *ld, const char *base, const struct raw_indicator *r,
                           kj_indicator_conf *ind)
{
    path key = kj_cfg_sub(base, "overrides");
    ind->n_overrides = r->overrides_count;
    ind->overrides = kj_calloc(ind->n_overrides, sizeof *ind->overrides);
    char **ids = kj_calloc(ind->n_overrides, sizeof *ids);
    for (size_t i = 0; i < ind->n_overrides; i++) {
        path at = kj_cfg_item(key.s, i), target = kj_cfg_sub(at.s, "target");
        kj_override *o = &ind->overrides[i];
        o->employee = ids[i] =
            kj_cfg_take_id(ld, kj_cfg_sub(at.s, "employee").s, r->overrides[i].employee);
        if (kj_cfg_required(ld, target.s, r->overrides[i].target))
            kj_cfg_set_number(ld, target.s, r->overrides[i].target, 0, 1e15, &o->target);
    }
    kj_cfg_check_unique(ld, key.s, "employee", ids, ind->n_overrides);
    free(ids);
    if (ind->n_overrides && !ind->for_employee)
        kj_cfg_fail(ld, key.s, "personal targets need applies_to to include employee");
}

/* The queue's metrics are a state now, the others windowed totals: each
 * goes with its own kind of window. */
static void check_queue_window(struct load *ld, const char *key, const kj_indicator_conf *ind)
{
    if (!ind->metric) return;
    bool queue = !strncmp(ind->metric, "queue.", 6);
    if (queue && ind->window != KJ_WIN_NOW)
        kj_cfg_fail(ld, key, "%s needs window: now", ind->metric);
    else if (!queue && ind->window == KJ_WIN_NOW)
        kj_cfg_fail(ld, key, "now is only for queue.waiting and queue.longest_wait_ms");
}

/* SPEC §16: hold_ms and escalate_after_ms, in ms, 0 (off) to one day. */
static void load_hold(struct load *ld, const char *base, const struct raw_indicator *r,
                      kj_indicator_conf *ind)
{
    uint64_t hold = 0, escalate = 0;
    kj_cfg_set_uint(ld, kj_cfg_sub(base, "hold_ms").s, r->hold_ms, 0, KJ_DAY_MS, &hold);
    kj_cfg_set_uint(ld, kj_cfg_sub(base, "escalate_after_ms").s, r->escalate_after_ms, 0, KJ_DAY_MS,
                    &escalate);
    ind->hold_ms = (int64_t)hold;
    ind->escalate_after_ms = (int64_t)escalate;
}

static void load_indicator(struct load *ld, size_t i, const struct raw_indicator *r,
                           kj_indicator_conf *ind)
{
    path base = kj_cfg_item("indicators", i), key = kj_cfg_sub(base.s, "window");
    const char *window_names[KJ_WIN_NOW + 1]; /* metric.h's, in SPEC order, and now */
    for (int w = 0; w <= KJ_WIN_NOW; w++)
        window_names[w] = kj_window_name((kj_window)w);
    int v = -1;
    ind->id = kj_cfg_take_id(ld, kj_cfg_sub(base.s, "id").s, r->id);
    ind->name = kj_cfg_take_name(ld, kj_cfg_sub(base.s, "name").s, r->name, r->id);
    load_metric(ld, base.s, r->metric, &ind->metric);
    if (kj_cfg_required(ld, key.s, r->window))
        kj_cfg_set_enum(ld, key.s, r->window, window_names, KJ_WIN_NOW + 1, &v);
    ind->window = v < 0 ? KJ_WIN_TODAY : (kj_window)v;
    check_queue_window(ld, key.s, ind);
    key = kj_cfg_sub(base.s, "target");
    if (kj_cfg_required(ld, key.s, r->target))
        kj_cfg_set_number(ld, key.s, r->target, 0, 1e15, &ind->target);
    key = kj_cfg_sub(base.s, "better");
    v = -1;
    if (kj_cfg_required(ld, key.s, r->better))
        kj_cfg_set_enum(ld, key.s, r->better, better_names, COUNT(better_names), &v);
    ind->better = v == 1 ? KJ_BETTER_HIGHER : KJ_BETTER_LOWER;
    ind->warn_margin = 0.10;
    kj_cfg_set_number(ld, kj_cfg_sub(base.s, "warn_margin").s, r->warn_margin, 0, 10,
                      &ind->warn_margin);
    uint64_t samples = 1;
    kj_cfg_set_uint(ld, kj_cfg_sub(base.s, "min_samples").s, r->min_samples, 1, KJ_MIN_SAMPLES_MAX,
                    &samples);
    ind->min_samples = (uint32_t)samples;
    load_hold(ld, base.s, r, ind);
    load_applies(ld, base.s, r, ind);
    if (ind->metric && !strncmp(ind->metric, "queue.", 6))
        ind->for_employee = false; /* a queue is the unit's */
    if (!kj_cfg_unit_list(ld, kj_cfg_sub(base.s, "units").s, &ind->all_units, &ind->units,
                          &ind->n_units))
        ind->all_units = true;
    load_overrides(ld, base.s, r, ind);
}

void kj_cfg_load_indicators(struct load *ld, const struct raw_indicator *r, size_t n, kj_config *c)
{
    c->n_indicators = n;
    c->indicators = kj_calloc(c->n_indicators, sizeof *c->indicators);
    char **ids = kj_calloc(c->n_indicators, sizeof *ids);
    for (size_t i = 0; i < c->n_indicators; i++) {
        load_indicator(ld, i, &r[i], &c->indicators[i]);
        ids[i] = c->indicators[i].id;
    }
    kj_cfg_check_unique(ld, "indicators", "id", ids, c->n_indicators);
    free(ids);
}
