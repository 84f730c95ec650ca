/* Indicators: judgements and alerts on the wire (pure, indicators.h). Their
 * evaluation over the metrics engine's scopes is in eval.c. */
#include "indicators.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "../proto/hash.h"
#include "tzclock.h"

static const char *const status_names[] = {"none", "ok", "warn", "bad"};

const char *kj_status_name(kj_status s)
{
    return (unsigned)s <= KJ_STATUS_BAD ? status_names[s] : "?";
}

bool kj_status_parse(const char *s, size_t len, kj_status *out)
{
    for (int i = 0; i <= KJ_STATUS_BAD; i++) {
        if (strlen(status_names[i]) != len || memcmp(s, status_names[i], len)) continue;
        *out = (kj_status)i;
        return true;
    }
    return false;
}

kj_status kj_indicator_status(kj_better better, double target, double warn_margin, bool has_value,
                              double value)
{
    if (!has_value || isnan(value)) return KJ_STATUS_NONE;
    double eps = 1e-9 * fmax(1.0, fabs(target));
    double band = (warn_margin > 0 ? warn_margin : 0) * fabs(target);
    if (better == KJ_BETTER_HIGHER) {
        if (value >= target - eps) return KJ_STATUS_OK;
        return value >= target - band - eps ? KJ_STATUS_WARN : KJ_STATUS_BAD;
    }
    if (value <= target + eps) return KJ_STATUS_OK;
    return value <= target + band + eps ? KJ_STATUS_WARN : KJ_STATUS_BAD;
}

bool kj_indicator_for_unit(const kj_indicator_conf *ic, const char *unit)
{
    if (ic->all_units) return true;
    for (size_t i = 0; i < ic->n_units; i++)
        if (!strcmp(ic->units[i], unit)) return true;
    return false;
}

double kj_indicator_target(const kj_indicator_conf *ic, const char *employee)
{
    for (size_t i = 0; employee && i < ic->n_overrides; i++)
        if (!strcmp(ic->overrides[i].employee, employee)) return ic->overrides[i].target;
    return ic->target;
}

/* ---- msgpack ---- */

static void pack_number(msgpack_packer *pk, bool has, double v)
{
    if (!has)
        msgpack_pack_nil(pk);
    else if (v == floor(v) && fabs(v) < 9e15)
        msgpack_pack_int64(pk, (int64_t)v); /* counts and ms stay integers on the wire */
    else
        msgpack_pack_double(pk, v);
}

static void pack_str_or_nil(msgpack_packer *pk, const char *s)
{
    if (s && s[0])
        kj_pack_str(pk, s);
    else
        msgpack_pack_nil(pk);
}

static void pack_ack_fields(const kj_alert *a, msgpack_packer *pk)
{
    kj_pack_str(pk, "acked_by");
    pack_str_or_nil(pk, a->acked_by);
    kj_pack_str(pk, "acked_at");
    msgpack_pack_int64(pk, a->acked_at);
    kj_pack_str(pk, "note");
    pack_str_or_nil(pk, a->note);
}

void kj_alert_pack(const kj_alert *a, bool frame, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 9 + frame + a->escalated + 3 * a->acked);
    if (frame) {
        kj_pack_str(pk, "op");
        kj_pack_str(pk, "alert");
    }
    kj_pack_str(pk, "id");
    kj_pack_str(pk, a->id);
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, a->unit);
    kj_pack_str(pk, "at");
    msgpack_pack_int64(pk, a->at);
    kj_pack_str(pk, "indicator");
    kj_pack_str(pk, a->indicator);
    kj_pack_str(pk, "scope");
    kj_pack_str(pk, a->scope);
    kj_pack_str(pk, "from");
    kj_pack_str(pk, kj_status_name(a->from));
    kj_pack_str(pk, "to");
    kj_pack_str(pk, kj_status_name(a->to));
    kj_pack_str(pk, "value");
    pack_number(pk, a->has_value, a->value);
    kj_pack_str(pk, "target");
    pack_number(pk, true, a->target);
    if (a->escalated) {
        kj_pack_str(pk, "escalated");
        msgpack_pack_true(pk);
    }
    if (a->acked) pack_ack_fields(a, pk);
}

void kj_alert_pack_ack(const kj_alert *a, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 6);
    kj_pack_str(pk, "op");
    kj_pack_str(pk, "alert_ack");
    kj_pack_str(pk, "unit");
    kj_pack_str(pk, a->unit);
    kj_pack_str(pk, "alert");
    kj_pack_str(pk, a->id);
    pack_ack_fields(a, pk);
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           !memcmp(kj_msgpack_str(k), name, k->via.str.size);
}

static bool copy_str(const msgpack_object *v, char *dst, size_t cap)
{
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap) return false;
    memcpy(dst, kj_msgpack_str(v), v->via.str.size);
    dst[v->via.str.size] = '\0';
    return true;
}

static bool get_number(const msgpack_object *v, double *out)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)v->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)v->via.i64; return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = v->via.f64; return true;
    default: return false;
    }
}

/* The optional fields of SPEC §16 (id, escalation, acknowledgement). */
static bool life_field(const msgpack_object *k, const msgpack_object *v, kj_alert *a, bool *known)
{
    double d;
    *known = true;
    if (key_is(k, "id")) return copy_str(v, a->id, sizeof a->id);
    if (key_is(k, "escalated")) {
        a->escalated = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        return v->type == MSGPACK_OBJECT_BOOLEAN;
    }
    if (key_is(k, "acked_by")) {
        a->acked = true;
        return v->type == MSGPACK_OBJECT_NIL || copy_str(v, a->acked_by, sizeof a->acked_by);
    }
    if (key_is(k, "acked_at")) {
        if (!get_number(v, &d)) return false;
        a->acked = true, a->acked_at = (int64_t)d;
        return true;
    }
    if (key_is(k, "note")) {
        if (v->type == MSGPACK_OBJECT_NIL) return true;
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > KJ_TEXT_MAX || a->note) return false;
        a->note = kj_malloc(v->via.str.size + 1);
        memcpy(a->note, v->via.str.ptr, v->via.str.size);
        a->note[v->via.str.size] = '\0';
        return true;
    }
    *known = false;
    return false;
}

static bool alert_field(const msgpack_object *k, const msgpack_object *v, kj_alert *a, int *seen)
{
    double d;
    bool known;
    if (key_is(k, "op")) return true;
    bool ok = life_field(k, v, a, &known);
    if (known) return ok;
    if (key_is(k, "unit")) return ++*seen, copy_str(v, a->unit, sizeof a->unit);
    if (key_is(k, "indicator")) return ++*seen, copy_str(v, a->indicator, sizeof a->indicator);
    if (key_is(k, "scope")) return ++*seen, copy_str(v, a->scope, sizeof a->scope);
    if (key_is(k, "from") || key_is(k, "to")) {
        ++*seen;
        return v->type == MSGPACK_OBJECT_STR &&
               kj_status_parse(kj_msgpack_str(v), v->via.str.size,
                               key_is(k, "from") ? &a->from : &a->to);
    }
    if (key_is(k, "at")) {
        ++*seen;
        if (!get_number(v, &d)) return false;
        a->at = (int64_t)d;
        return true;
    }
    if (key_is(k, "value")) {
        ++*seen;
        a->has_value = v->type != MSGPACK_OBJECT_NIL;
        return !a->has_value || get_number(v, &a->value);
    }
    if (key_is(k, "target")) return ++*seen, get_number(v, &a->target);
    return false;
}

kj_err kj_alert_unpack(const void *buf, size_t len, kj_alert *a)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    kj_err err = KJ_ERR_DECODE;
    memset(a, 0, sizeof *a);
    /* A stored alert is read at start: a damaged one declaring 2^32 elements
     * must not make msgpack-c allocate for them (the bounded unpack refuses). */
    if (kj_msgpack_unpack_body(buf, len, &up, NULL, 0) != KJ_OK ||
        up.data.type != MSGPACK_OBJECT_MAP)
        goto done;
    int seen = 0;
    const msgpack_object_map *map = &up.data.via.map;
    for (uint32_t i = 0; i < map->size; i++)
        if (!alert_field(&map->ptr[i].key, &map->ptr[i].val, a, &seen)) goto done;
    if (seen == 8) err = KJ_OK;
    /* a record of an older build: its own time tells it apart */
    if (!err && !a->id[0])
        kj_alert_make_id(a, (int32_t)kj_floor_div(a->at, KJ_DAY_MS), (uint64_t)a->at);
done:
    if (err) {
        free(a->note);
        a->note = NULL;
    }
    msgpack_unpacked_destroy(&up);
    return err;
}

/* A hash of the fields that place an alert, so that an id says nothing a
 * client could forge meaning into but stays within the identifier rule. */
void kj_alert_make_id(kj_alert *a, int32_t day, uint64_t nth)
{
    uint64_t h = KJ_HASH64_SEED;
    h = kj_hash64_bytes(h, a->unit, strlen(a->unit) + 1);
    h = kj_hash64_bytes(h, a->indicator, strlen(a->indicator) + 1);
    h = kj_hash64_bytes(h, a->scope, strlen(a->scope) + 1);
    h = kj_hash64_bytes(h, &a->from, sizeof a->from);
    h = kj_hash64_bytes(h, &a->to, sizeof a->to);
    h = kj_hash64_bytes(h, &nth, sizeof nth);
    int y, m, d;
    kj_tz_civil_from_days(day, &y, &m, &d);
    snprintf(a->id, sizeof a->id, "%04d%02d%02d-%08x", y, m, d, (unsigned)(h ^ (h >> 32)));
}

void kj_indicator_pack(msgpack_packer *pk, const kj_indicator_conf *ic, const char *scope,
                       double target, bool has_value, double value, kj_status status,
                       const double *median)
{
    double pct;
    bool has_pct = kj_metric_achievement(ic->better, target, has_value, value, &pct);
    msgpack_pack_map(pk, 10 + (median != NULL));
    if (median) {
        kj_pack_str(pk, "unit_median");
        pack_number(pk, !isnan(*median), *median);
    }
    kj_pack_str(pk, "id");
    kj_pack_str(pk, ic->id);
    kj_pack_str(pk, "name");
    kj_pack_str(pk, ic->name ? ic->name : ic->id);
    kj_pack_str(pk, "scope");
    kj_pack_str(pk, scope);
    kj_pack_str(pk, "metric");
    kj_pack_str(pk, ic->metric);
    kj_pack_str(pk, "window");
    kj_pack_str(pk, kj_window_name(ic->window));
    kj_pack_str(pk, "value");
    pack_number(pk, has_value, value);
    kj_pack_str(pk, "target");
    pack_number(pk, true, target);
    kj_pack_str(pk, "better");
    kj_pack_str(pk, ic->better == KJ_BETTER_HIGHER ? "higher" : "lower");
    kj_pack_str(pk, "status");
    kj_pack_str(pk, kj_status_name(status));
    kj_pack_str(pk, "achievement_pct");
    if (has_pct)
        msgpack_pack_double(pk, pct);
    else
        msgpack_pack_nil(pk);
}
