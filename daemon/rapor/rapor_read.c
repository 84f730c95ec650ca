/* A unit's rapor for one period from the store (rapor_read.h). */
#include "rapor_read.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "../proto/export.h"
#include "metrics/assess.h"
#include "metrics/metrics.h"

#define KEY_CAP 160

/* SPEC §16's names of the IKM elements U1..U9 (PermenPAN-RB 14/2017). */
static const char *const element_names[KJ_ELEMENTS] = {
    "Persyaratan",        "Sistem, mekanisme, dan prosedur",         "Waktu penyelesaian",
    "Biaya/tarif",        "Produk spesifikasi jenis pelayanan",      "Kompetensi pelaksana",
    "Perilaku pelaksana", "Penanganan pengaduan, saran dan masukan", "Sarana dan prasarana",
};

/* One indicator over the period, for one scope. */
typedef struct ind_value {
    const kj_indicator_conf *ic;
    kj_metric metric;
    bool has_value, has_ach;
    double value, target, ach;
    kj_status status;
    kj_level level;
} ind_value;

typedef struct row {
    char id[KJ_ID_MAX + 1];
    const char *name; /* the configuration's; NULL: the id (rows move: no pointer into one) */
    ind_value *inds;
    kj_level hasil, perilaku;
    kj_predikat predikat;
    bool assessed;
    kj_assessment assessment;
    uint64_t services, tasks, ratings;
} row;

/* What the build reads and what it has made so far. */
typedef struct build {
    kj_store_reader *r;
    const kj_config *cfg;
    const kj_rapor_req *req;
    int64_t from, to, data_from;
    int32_t first_day, end_day;
    int64_t pending_from; /* minutes at or after it are not in their day buckets */
    double hours;         /* for per_hour: the part of the period that has passed */
    bool final;
    const kj_indicator_conf **unit_inds, **member_inds;
    kj_metric *unit_metrics, *member_metrics;
    size_t n_unit_inds, n_member_inds;
    row *rows;
    size_t n_rows, cap_rows;
    ind_value *unit_values;
    kj_agg unit_agg;
} build;

/* --- the period and what applies --- */

static void fail(kj_rapor_out *out, int status, const char *msg)
{
    out->status = status;
    snprintf(out->error, sizeof out->error, "%s", msg);
}

/* The days to read: the period's, from the retention edge on (older day
 * buckets are expired, whether or not the pass has deleted them yet). */
static bool place_period(build *b, const kj_tz *tz, kj_rapor_out *out)
{
    const kj_rapor_req *req = b->req;
    kj_period_span(&req->period, tz, req->now, &b->from, &b->to, &b->final);
    kj_period_days(&req->period, &b->first_day, &b->end_day);
    int32_t oldest = kj_tz_day(tz, req->now) - b->cfg->retention_days;
    if (b->end_day <= oldest) {
        fail(out, 400, "period: older than retention_days");
        return false;
    }
    if (b->from > req->now + b->cfg->max_clock_skew_ms) {
        fail(out, 400, "period: has not started");
        return false;
    }
    if (b->first_day < oldest) b->first_day = oldest;
    b->data_from = kj_tz_day_start(tz, b->first_day);
    int64_t until = req->now < b->to ? req->now : b->to;
    int64_t span = until - b->data_from;
    b->hours = (double)(span > KJ_MINUTE_MS ? span : KJ_MINUTE_MS) / (double)KJ_HOUR_MS;
    return true;
}

/* The indicators of the unit whose metric the buckets hold (kj_metric_parse). */
static void pick_indicators(build *b)
{
    size_t n = b->cfg->n_indicators;
    b->unit_inds = kj_calloc(n + 1, sizeof *b->unit_inds);
    b->member_inds = kj_calloc(n + 1, sizeof *b->member_inds);
    b->unit_metrics = kj_calloc(n + 1, sizeof *b->unit_metrics);
    b->member_metrics = kj_calloc(n + 1, sizeof *b->member_metrics);
    for (size_t i = 0; i < n; i++) {
        const kj_indicator_conf *ic = &b->cfg->indicators[i];
        kj_metric metric;
        if (!kj_indicator_for_unit(ic, b->req->unit) || !kj_metric_parse(ic->metric, &metric))
            continue;
        if (ic->for_unit) {
            b->unit_metrics[b->n_unit_inds] = metric;
            b->unit_inds[b->n_unit_inds++] = ic;
        }
        if (ic->for_employee) {
            b->member_metrics[b->n_member_inds] = metric;
            b->member_inds[b->n_member_inds++] = ic;
        }
    }
}

/* --- reading --- */

/* A bucket that does not decode stops the read (a 500 that says so): a
 * rapor with part of a bucket merged would look right and be wrong. */
static int merge_bucket(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl;
    return kj_agg_merge_encoded(ctx, NULL, v, vl);
}

static kj_err read_range(build *b, const kj_scope_ref *ref, kj_res res, int64_t lo_ms,
                         int64_t hi_ms, kj_agg *into)
{
    uint8_t lo[KEY_CAP], hi[KEY_CAP];
    if (hi_ms <= lo_ms) return KJ_OK;
    size_t ll = kj_metrics_bucket_key_of(lo, sizeof lo, ref, res, lo_ms);
    size_t hl = kj_metrics_bucket_key_of(hi, sizeof hi, ref, res, hi_ms);
    if (!ll || !hl) return KJ_OK;
    return kj_store_reader_each_agg(b->r, lo, ll, hi, hl, merge_bucket, into);
}

/* The period of one scope: its day buckets, then its minutes not yet folded
 * into them (the open minute, late and early ones). */
static kj_err read_scope(build *b, const kj_scope_ref *ref, kj_agg *into)
{
    kj_err err = read_range(b, ref, KJ_RES_DAY, (int64_t)b->first_day * KJ_DAY_MS,
                            (int64_t)b->end_day * KJ_DAY_MS, into);
    int64_t lo = b->pending_from > b->data_from ? b->pending_from : b->data_from;
    return err ? err : read_range(b, ref, KJ_RES_MINUTE, lo, b->to, into);
}

static kj_err read_watermark(build *b)
{
    const void *v;
    size_t vl;
    kj_err err =
        kj_store_reader_get_agg(b->r, kj_metrics_fold_key, sizeof kj_metrics_fold_key, &v, &vl);
    b->pending_from = INT64_MAX; /* no watermark: an older build folded every minute */
    if (err == KJ_ERR_NOT_FOUND) return KJ_OK;
    if (!err && !kj_metrics_fold_decode(v, vl, &b->pending_from)) b->pending_from = INT64_MAX;
    return err;
}

/* --- members --- */

static row *add_row(build *b, const char *id, size_t len, const char *name)
{
    if (b->n_rows == b->cap_rows) {
        b->cap_rows = b->cap_rows ? 2 * b->cap_rows : 32;
        b->rows = kj_realloc(b->rows, b->cap_rows * sizeof *b->rows);
    }
    row *r = &b->rows[b->n_rows++];
    memset(r, 0, sizeof *r);
    memcpy(r->id, id, len);
    r->id[len] = '\0';
    r->name = name;
    return r;
}

static int directory_member(void *ctx, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)v, (void)vl;
    build *b = ctx;
    const char *key = k;
    const char *slash = memchr(key + 2, '/', kl - 2);
    size_t len = slash ? kl - (size_t)(slash + 1 - key) - 1 : 0; /* up to the final 0x00 */
    if (!slash || !len || len > KJ_ID_MAX || key[kl - 1] != 0) return 0;
    if (b->n_rows < KJ_RAPOR_MAX_ROWS + 1) add_row(b, slash + 1, len, NULL);
    return 0;
}

static const char *row_name(const row *r)
{
    return r->name ? r->name : r->id;
}

static int by_id_named_first(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);
    if (c) return c;
    return !a->name - !b->name; /* the configured name first */
}

static int by_name(const void *pa, const void *pb)
{
    const row *a = pa, *b = pb;
    int c = strcmp(row_name(a), row_name(b));
    return c ? c : strcmp(a->id, b->id);
}

/* The configured members and those events named (the directory keys),
 * once each, sorted by name. */
static kj_err gather_members(build *b, bool *known)
{
    const kj_unit_conf *uc = kj_config_unit(b->cfg, b->req->unit);
    *known = uc != NULL;
    for (size_t i = 0; uc && i < uc->n_members; i++)
        add_row(b, uc->members[i].id, strlen(uc->members[i].id), uc->members[i].name);
    uint8_t lo[KEY_CAP], hi[KEY_CAP];
    size_t n = kj_metrics_member_prefix(lo, sizeof lo, b->req->unit);
    if (!n) return KJ_ERR_INVALID; /* an identifier always fits KEY_CAP */
    memcpy(hi, lo, n);
    hi[n - 1]++; /* past every "unit/..." key */
    size_t before = b->n_rows;
    kj_err err = kj_store_reader_each_agg(b->r, lo, n, hi, n, directory_member, b);
    *known |= b->n_rows > before;
    if (!b->n_rows) return err; /* qsort wants a base even for none */
    qsort(b->rows, b->n_rows, sizeof *b->rows, by_id_named_first);
    size_t out = 0;
    for (size_t i = 0; i < b->n_rows; i++)
        if (!out || strcmp(b->rows[out - 1].id, b->rows[i].id)) b->rows[out++] = b->rows[i];
    b->n_rows = out;
    qsort(b->rows, b->n_rows, sizeof *b->rows, by_name);
    return err;
}

/* A personal token's rapor holds its own row only. */
static void keep_only(build *b, const char *employee)
{
    size_t out = 0;
    for (size_t i = 0; i < b->n_rows; i++)
        if (!strcmp(b->rows[i].id, employee)) b->rows[out++] = b->rows[i];
    b->n_rows = out;
}

/* --- judgements --- */

static void judge(const build *b, const kj_indicator_conf *ic, kj_metric metric, const kj_agg *a,
                  double target, ind_value *out)
{
    uint32_t min = ic->min_samples ? ic->min_samples : 1;
    out->ic = ic;
    out->metric = metric;
    out->target = target;
    out->has_value =
        kj_metric_samples(a, metric) >= min && kj_metric_value(a, b->hours, metric, &out->value);
    out->status =
        kj_indicator_status(ic->better, target, ic->warn_margin, out->has_value, out->value);
    out->has_ach = kj_metric_achievement(ic->better, target, out->has_value, out->value, &out->ach);
    out->level =
        kj_rapor_indicator_level(out->status, out->has_ach, out->ach, b->cfg->eval_above_pct);
}

static void read_assessment(build *b, row *r)
{
    uint8_t key[KJ_ASSESS_KEY_MAX];
    size_t kl = kj_assess_key(key, r->id, &b->req->period);
    const void *v;
    size_t vl;
    r->assessed = kj_store_reader_get_agg(b->r, key, kl, &v, &vl) == KJ_OK &&
                  kj_assess_decode(v, vl, &r->assessment) == KJ_OK;
    r->perilaku = kj_rapor_perilaku(r->assessed ? r->assessment.behaviour : NULL);
}

static kj_err judge_member(build *b, row *r)
{
    kj_agg a = {0};
    kj_scope_ref ref = {KJ_SCOPE_EMPLOYEE, NULL, r->id};
    kj_err err = read_scope(b, &ref, &a);
    r->inds = kj_calloc(b->n_member_inds + 1, sizeof *r->inds);
    kj_level levels[b->n_member_inds + 1];
    for (size_t i = 0; i < b->n_member_inds; i++) {
        const kj_indicator_conf *ic = b->member_inds[i];
        judge(b, ic, b->member_metrics[i], &a, kj_indicator_target(ic, r->id), &r->inds[i]);
        levels[i] = r->inds[i].level;
    }
    r->hasil = kj_rapor_hasil_kerja(levels, b->n_member_inds);
    read_assessment(b, r);
    r->predikat = kj_rapor_predikat(r->hasil, r->perilaku);
    r->services = a.services ? a.services->count : 0;
    r->tasks = a.tasks ? a.tasks->count : 0;
    r->ratings = a.ratings ? a.ratings->cit_n + a.ratings->peer_n + a.ratings->sup_n : 0;
    kj_agg_reset(&a);
    return err;
}

static kj_err judge_unit(build *b)
{
    kj_scope_ref ref = {KJ_SCOPE_UNIT, b->req->unit, b->req->unit};
    kj_err err = read_scope(b, &ref, &b->unit_agg);
    b->unit_values = kj_calloc(b->n_unit_inds + 1, sizeof *b->unit_values);
    for (size_t i = 0; i < b->n_unit_inds; i++)
        judge(b, b->unit_inds[i], b->unit_metrics[i], &b->unit_agg,
              kj_indicator_target(b->unit_inds[i], NULL), &b->unit_values[i]);
    return err;
}

/* --- msgpack --- */

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pk_num(msgpack_packer *pk, bool has, double v)
{
    if (has)
        msgpack_pack_double(pk, v);
    else
        msgpack_pack_nil(pk);
}

static void pk_level(msgpack_packer *pk, kj_level l)
{
    if (l == KJ_LEVEL_NONE)
        msgpack_pack_nil(pk);
    else
        pk_str(pk, kj_level_name(l));
}

static void pack_indicator(msgpack_packer *pk, const ind_value *v)
{
    msgpack_pack_map(pk, 9);
    pk_str(pk, "id"), pk_str(pk, v->ic->id);
    pk_str(pk, "name"), pk_str(pk, v->ic->name ? v->ic->name : v->ic->id);
    pk_str(pk, "metric"), pk_str(pk, v->ic->metric);
    pk_str(pk, "better"), pk_str(pk, v->ic->better == KJ_BETTER_HIGHER ? "higher" : "lower");
    pk_str(pk, "value"), pk_num(pk, v->has_value, v->value);
    pk_str(pk, "target"), msgpack_pack_double(pk, v->target);
    pk_str(pk, "achievement_pct"), pk_num(pk, v->has_ach, v->ach);
    pk_str(pk, "status"), pk_str(pk, kj_status_name(v->status));
    pk_str(pk, "level"), pk_level(pk, v->level);
}

static void pack_row(msgpack_packer *pk, const build *b, const row *r)
{
    msgpack_pack_map(pk, 10);
    pk_str(pk, "employee"), pk_str(pk, r->id);
    pk_str(pk, "name"), pk_str(pk, row_name(r));
    pk_str(pk, "indicators");
    msgpack_pack_array(pk, b->n_member_inds);
    for (size_t i = 0; i < b->n_member_inds; i++)
        pack_indicator(pk, &r->inds[i]);
    pk_str(pk, "hasil_kerja"), pk_level(pk, r->hasil);
    pk_str(pk, "perilaku"), pk_level(pk, r->perilaku);
    pk_str(pk, "predikat");
    if (r->predikat == KJ_PREDIKAT_NONE)
        msgpack_pack_nil(pk);
    else
        pk_str(pk, kj_predikat_name(r->predikat));
    pk_str(pk, "predikat_label"), pk_str(pk, kj_predikat_label(r->predikat));
    pk_str(pk, "assessment");
    if (r->assessed) {
        msgpack_pack_map(pk, 2);
        pk_str(pk, "ts"), msgpack_pack_int64(pk, r->assessment.ts);
        pk_str(pk, "by");
        if (r->assessment.by[0])
            pk_str(pk, r->assessment.by);
        else
            msgpack_pack_nil(pk);
    } else {
        msgpack_pack_nil(pk);
    }
    pk_str(pk, "evidence");
    msgpack_pack_map(pk, 3);
    pk_str(pk, "services"), msgpack_pack_uint64(pk, r->services);
    pk_str(pk, "tasks"), msgpack_pack_uint64(pk, r->tasks);
    pk_str(pk, "ratings"), msgpack_pack_uint64(pk, r->ratings);
    /* feedback events (SPEC §16) are not built yet: none to count */
    pk_str(pk, "feedback"), msgpack_pack_uint64(pk, 0);
}

static void pack_distribution(msgpack_packer *pk, const build *b)
{
    size_t n[KJ_PREDIKAT_COUNT] = {0};
    for (size_t i = 0; i < b->n_rows; i++)
        n[b->rows[i].predikat]++;
    msgpack_pack_map(pk, KJ_PREDIKAT_COUNT);
    for (int p = KJ_PREDIKAT_SANGAT_BAIK; p < KJ_PREDIKAT_COUNT; p++)
        pk_str(pk, kj_predikat_name((kj_predikat)p)), msgpack_pack_uint64(pk, n[p]);
    pk_str(pk, "none"), msgpack_pack_uint64(pk, n[KJ_PREDIKAT_NONE]);
}

/* The unit's IKM over the period as PermenPAN-RB 14/2017 reports it. */
static void pack_ikm(msgpack_packer *pk, const build *b)
{
    const kj_agg_ratings *r = b->unit_agg.ratings;
    int64_t centi = 0;
    char grade = 0;
    bool has = r && kj_ikm(r->ikm_sum, r->cit_n, &centi, &grade);
    msgpack_pack_map(pk, 6);
    pk_str(pk, "ikm"), pk_num(pk, has, (double)centi / 100.0);
    pk_str(pk, "ikm_grade");
    if (has)
        msgpack_pack_str(pk, 1), msgpack_pack_str_body(pk, &grade, 1);
    else
        msgpack_pack_nil(pk);
    pk_str(pk, "label"), pk_str(pk, has ? kj_ikm_label(grade) : "");
    pk_str(pk, "responses"), msgpack_pack_uint64(pk, r ? r->cit_n : 0);
    pk_str(pk, "elements");
    msgpack_pack_array(pk, KJ_ELEMENTS);
    for (int i = 0; i < KJ_ELEMENTS; i++) {
        double v;
        bool ok = kj_metric_value(&b->unit_agg, b->hours, (kj_metric)(KJ_M_RATINGS_IKM_U1 + i), &v);
        pk_num(pk, ok, v);
    }
    pk_str(pk, "element_names");
    msgpack_pack_array(pk, KJ_ELEMENTS);
    for (int i = 0; i < KJ_ELEMENTS; i++)
        pk_str(pk, element_names[i]);
}

static void pack_rapor(msgpack_packer *pk, const build *b)
{
    bool personal = b->req->only_employee[0] != '\0';
    const kj_unit_conf *uc = kj_config_unit(b->cfg, b->req->unit);
    char period[KJ_PERIOD_NAME_MAX];
    kj_period_format(&b->req->period, period, sizeof period);
    msgpack_pack_map(pk, personal ? 11 : 14);
    pk_str(pk, "unit"), pk_str(pk, b->req->unit);
    pk_str(pk, "name"), pk_str(pk, uc && uc->name ? uc->name : b->req->unit);
    pk_str(pk, "period"), pk_str(pk, period);
    pk_str(pk, "kind"), pk_str(pk, kj_period_kind_name(b->req->period.kind));
    pk_str(pk, "from"), msgpack_pack_int64(pk, b->from);
    pk_str(pk, "to"), msgpack_pack_int64(pk, b->to);
    pk_str(pk, "data_from"), msgpack_pack_int64(pk, b->data_from);
    pk_str(pk, "final"), b->final ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    pk_str(pk, "above_pct"), msgpack_pack_double(pk, b->cfg->eval_above_pct);
    pk_str(pk, "generated_at"), msgpack_pack_int64(pk, b->req->now);
    pk_str(pk, "rows");
    msgpack_pack_array(pk, b->n_rows);
    for (size_t i = 0; i < b->n_rows; i++)
        pack_row(pk, b, &b->rows[i]);
    if (personal) return;
    pk_str(pk, "unit_indicators");
    msgpack_pack_array(pk, b->n_unit_inds);
    for (size_t i = 0; i < b->n_unit_inds; i++)
        pack_indicator(pk, &b->unit_values[i]);
    pk_str(pk, "distribution"), pack_distribution(pk, b);
    pk_str(pk, "ikm"), pack_ikm(pk, b);
}

/* --- CSV --- */

static void csv_num(FILE *f, bool has, double v)
{
    fputc(',', f);
    if (has) fprintf(f, "%.17g", v);
}

static void csv_text(FILE *f, const char *s)
{
    fputc(',', f);
    kj_export_csv_field(f, s);
}

static void csv_header(FILE *f, const build *b)
{
    fputs("employee,name,period,hasil_kerja,perilaku,predikat,services,tasks,ratings,feedback", f);
    for (size_t i = 0; i < b->n_member_inds; i++) {
        static const char *const parts[] = {"value", "target", "achievement_pct", "level"};
        for (int p = 0; p < 4; p++) {
            char col[KJ_ID_MAX + 24];
            snprintf(col, sizeof col, "%s.%s", b->member_inds[i]->id, parts[p]);
            csv_text(f, col);
        }
    }
    fputc('\n', f);
}

static void csv_row(FILE *f, const build *b, const row *r, const char *period)
{
    kj_export_csv_field(f, r->id);
    csv_text(f, row_name(r));
    csv_text(f, period);
    csv_text(f, r->hasil ? kj_level_name(r->hasil) : "");
    csv_text(f, r->perilaku ? kj_level_name(r->perilaku) : "");
    csv_text(f, r->predikat ? kj_predikat_name(r->predikat) : "");
    fprintf(f, ",%llu,%llu,%llu,0", (unsigned long long)r->services, (unsigned long long)r->tasks,
            (unsigned long long)r->ratings);
    for (size_t i = 0; i < b->n_member_inds; i++) {
        const ind_value *v = &r->inds[i];
        csv_num(f, v->has_value, v->value);
        csv_num(f, true, v->target);
        csv_num(f, v->has_ach, v->ach);
        csv_text(f, v->level ? kj_level_name(v->level) : "");
    }
    fputc('\n', f);
}

static void write_csv(const build *b, kj_rapor_out *out)
{
    char period[KJ_PERIOD_NAME_MAX];
    kj_period_format(&b->req->period, period, sizeof period);
    FILE *f = open_memstream(&out->data, &out->len);
    if (!f) {
        fail(out, 500, "rapor: out of memory");
        return;
    }
    csv_header(f, b);
    for (size_t i = 0; i < b->n_rows; i++)
        csv_row(f, b, &b->rows[i], period);
    fclose(f);
}

/* --- the whole --- */

static void build_free(build *b)
{
    for (size_t i = 0; i < b->n_rows; i++)
        free(b->rows[i].inds);
    free(b->rows);
    free(b->unit_values);
    free(b->unit_inds);
    free(b->member_inds);
    free(b->unit_metrics);
    free(b->member_metrics);
    kj_agg_reset(&b->unit_agg);
    kj_store_reader_end(b->r);
}

static kj_err read_all(build *b, kj_rapor_out *out)
{
    bool known;
    kj_err err = read_watermark(b);
    if (!err) err = gather_members(b, &known);
    if (err) return err;
    if (b->n_rows > KJ_RAPOR_MAX_ROWS) {
        fail(out, 413, "unit: more members than a rapor holds (20000)");
        return KJ_OK;
    }
    if (b->req->only_employee[0]) keep_only(b, b->req->only_employee);
    err = judge_unit(b);
    known |= !kj_agg_empty(&b->unit_agg);
    if (!known) {
        snprintf(out->error, sizeof out->error, "no unit %s", b->req->unit);
        out->status = 404;
        return KJ_OK;
    }
    for (size_t i = 0; i < b->n_rows && !err; i++)
        err = judge_member(b, &b->rows[i]);
    return err;
}

void kj_rapor_build(kj_store *s, const kj_config *cfg, const kj_tz *tz, const kj_rapor_req *asked,
                    kj_rapor_out *out)
{
    kj_rapor_req req_copy = *asked, *req = &req_copy;
    if (req->current) req->period = kj_period_of_day(req->current_kind, kj_tz_day(tz, req->now));
    build b = {.cfg = cfg, .req = req};
    memset(out, 0, sizeof *out);
    out->status = 200;
    if (!place_period(&b, tz, out)) return;
    pick_indicators(&b);
    kj_err err = kj_store_reader_begin(s, &b.r);
    if (!err) err = read_all(&b, out);
    /* The read transaction ends before the packing: it pins pages only while
     * it reads. */
    kj_store_reader_end(b.r);
    b.r = NULL;
    if (err) {
        snprintf(out->error, sizeof out->error, "rapor: reading the store failed: %s",
                 kj_strerror(err));
        out->status = 500;
    }
    if (out->status == 200 && req->csv) {
        write_csv(&b, out);
    } else if (out->status == 200) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_rapor(&pk, &b);
        out->data = sb.data; /* the sbuffer's malloc'd bytes become the caller's */
        out->len = sb.size;
    }
    build_free(&b);
}
