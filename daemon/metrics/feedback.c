/* Members' feedback (see feedback.h). */
#include "feedback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"

static char *dup_text(const char *s, size_t n)
{
    char *d = kj_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void kj_fb_note(kj_metrics *m, const kj_event *ev)
{
    kj_feedback f = {.ts = ev->ts};
    snprintf(f.id, sizeof f.id, "%s", ev->id);
    snprintf(f.unit, sizeof f.unit, "%s", ev->unit);
    snprintf(f.employee, sizeof f.employee, "%s", ev->employee);
    snprintf(f.kind, sizeof f.kind, "%s", ev->kind);
    snprintf(f.by, sizeof f.by, "%s", ev->by);
    snprintf(f.alert, sizeof f.alert, "%s", ev->alert);
    snprintf(f.indicator, sizeof f.indicator, "%s", ev->indicator);
    f.text = dup_text(ev->text ? ev->text : "", ev->text ? strlen(ev->text) : 0);
    vec_push(&m->fb_group, &f, sizeof f);
}

static void pack_opt(msgpack_packer *pk, const char *key, const char *v)
{
    kj_pack_str(pk, key);
    if (v[0])
        kj_pack_str(pk, v);
    else
        msgpack_pack_nil(pk);
}

/* {"feedback": id, "unit", "employee", "ts", "kind", "text", "by", "alert",
 * "indicator"}; a dashboard entry has the same keys without unit and employee. */
static void pack_entry(const kj_feedback *f, bool record, msgpack_packer *pk)
{
    msgpack_pack_map(pk, record ? 9 : 7);
    kj_pack_str(pk, record ? "feedback" : "id");
    kj_pack_str(pk, f->id);
    if (record) {
        kj_pack_str(pk, "unit");
        kj_pack_str(pk, f->unit);
        kj_pack_str(pk, "employee");
        kj_pack_str(pk, f->employee);
    }
    kj_pack_str(pk, "ts");
    msgpack_pack_int64(pk, f->ts);
    kj_pack_str(pk, "kind");
    kj_pack_str(pk, f->kind);
    kj_pack_str(pk, "text");
    kj_pack_str(pk, f->text);
    pack_opt(pk, "by", f->by);
    pack_opt(pk, "alert", f->alert);
    pack_opt(pk, "indicator", f->indicator);
}

kj_err kj_fb_store(kj_metrics *m, const kj_metrics_sink *sink)
{
    if (!sink->put_alert || !m->fb_group.n) return KJ_OK;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kj_feedback *f = m->fb_group.items;
    kj_err err = KJ_OK;
    for (size_t i = 0; i < m->fb_group.n && !err; i++) {
        msgpack_sbuffer_clear(&sb);
        pack_entry(&f[i], true, &pk);
        err = sink->put_alert(sink->ctx, f[i].ts, sb.data, sb.size);
    }
    msgpack_sbuffer_destroy(&sb);
    return err;
}

static member *member_in(kj_metrics *m, const char *unit, const char *employee)
{
    kj_scope *usc = kj_m_find(m, KJ_SCOPE_UNIT, unit, unit);
    if (!usc) return NULL;
    kj_unit *u = usc->unit;
    for (size_t i = 0; i < u->n_members; i++)
        if (!strcmp(u->members[i].sc->id, employee)) return &u->members[i];
    return NULL;
}

/* Newest first by ts; the oldest beyond KJ_FEEDBACK_KEEP is dropped. Takes f. */
static void insert(member *mb, kj_feedback *f)
{
    if (!mb->feedback) mb->feedback = kj_calloc(KJ_FEEDBACK_KEEP, sizeof *mb->feedback);
    size_t at = 0;
    while (at < mb->n_feedback && mb->feedback[at].ts >= f->ts)
        at++;
    if (at >= KJ_FEEDBACK_KEEP) {
        free(f->text);
        return;
    }
    if (mb->n_feedback == KJ_FEEDBACK_KEEP) free(mb->feedback[--mb->n_feedback].text);
    memmove(&mb->feedback[at + 1], &mb->feedback[at], (mb->n_feedback - at) * sizeof *f);
    mb->feedback[at] = *f;
    mb->n_feedback++;
}

void kj_fb_commit(kj_metrics *m)
{
    kj_feedback *f = m->fb_group.items;
    for (size_t i = 0; i < m->fb_group.n; i++) {
        member *mb = member_in(m, f[i].unit, f[i].employee);
        if (!mb) { /* the apply made it a member: cannot happen */
            free(f[i].text);
            continue;
        }
        insert(mb, &f[i]);
        kj_m_mark_changed(m, mb->sc);
    }
    m->fb_group.n = 0;
}

void kj_fb_rollback(kj_metrics *m)
{
    kj_feedback *f = m->fb_group.items;
    for (size_t i = 0; i < m->fb_group.n; i++)
        free(f[i].text);
    m->fb_group.n = 0;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           !memcmp(k->via.str.ptr, name, k->via.str.size);
}

static void copy_id(const msgpack_object *v, char *dst)
{
    if (v->type == MSGPACK_OBJECT_STR && v->via.str.size <= KJ_ID_MAX) {
        memcpy(dst, v->via.str.ptr, v->via.str.size);
        dst[v->via.str.size] = '\0';
    }
}

static void load_field(const msgpack_object *k, const msgpack_object *v, kj_feedback *f)
{
    if (key_is(k, "feedback")) copy_id(v, f->id);
    if (key_is(k, "unit")) copy_id(v, f->unit);
    if (key_is(k, "employee")) copy_id(v, f->employee);
    if (key_is(k, "kind")) copy_id(v, f->kind);
    if (key_is(k, "by")) copy_id(v, f->by);
    if (key_is(k, "alert")) copy_id(v, f->alert);
    if (key_is(k, "indicator")) copy_id(v, f->indicator);
    if (key_is(k, "ts") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) f->ts = (int64_t)v->via.u64;
    if (key_is(k, "text") && v->type == MSGPACK_OBJECT_STR && v->via.str.size <= KJ_TEXT_MAX &&
        !f->text)
        f->text = dup_text(v->via.str.ptr, v->via.str.size);
}

bool kj_fb_load(kj_metrics *m, const void *buf, size_t len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    bool is_feedback = false;
    /* bounded: a stored record is read back as untrusted bytes (a 2^32-element
     * declaration must not become a 64 GiB allocation) */
    if (kj_msgpack_unpack_body(buf, len, &up, NULL, 0) == KJ_OK &&
        up.data.type == MSGPACK_OBJECT_MAP && up.data.via.map.size > 0 &&
        key_is(&up.data.via.map.ptr[0].key, "feedback")) {
        is_feedback = true;
        kj_feedback f = {0};
        const msgpack_object_map *map = &up.data.via.map;
        for (uint32_t i = 0; i < map->size; i++)
            load_field(&map->ptr[i].key, &map->ptr[i].val, &f);
        member *mb = f.text && kj_id_valid(f.unit, strlen(f.unit)) &&
                             kj_id_valid(f.employee, strlen(f.employee))
                         ? member_in(m, f.unit, f.employee)
                         : NULL;
        if (!mb && f.text) {
            kj_unit *u = kj_m_unit(m, f.unit, true);
            kj_m_add_member(m, u, kj_m_get(m, KJ_SCOPE_EMPLOYEE, NULL, f.employee, true), true);
            mb = member_in(m, f.unit, f.employee);
        }
        if (mb)
            insert(mb, &f);
        else
            free(f.text);
    }
    msgpack_unpacked_destroy(&up);
    return is_feedback;
}

void kj_fb_pack(const kj_metrics *m, const member *mb, msgpack_packer *pk)
{
    int64_t since = m->now - (int64_t)KJ_FEEDBACK_DAYS * KJ_DAY_MS;
    size_t n = 0;
    while (n < mb->n_feedback && mb->feedback[n].ts >= since)
        n++;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        pack_entry(&mb->feedback[i], false, pk);
}

void kj_fb_free_member(member *mb)
{
    for (size_t i = 0; i < mb->n_feedback; i++)
        free(mb->feedback[i].text);
    free(mb->feedback);
    mb->feedback = NULL;
    mb->n_feedback = 0;
}
