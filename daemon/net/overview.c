/* The agency overview on the service thread (see overview.h). */
#include "overview.h"

#include <string.h>

bool kj_overview_asked(const msgpack_object *msg)
{
    const msgpack_object *v = kj_msgpack_get(msg, "overview");
    return v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
}

static bool may_see(const kj_token *t, const msgpack_object *row)
{
    if (!t) return true;
    size_t n;
    const char *id = kj_ws_str(row, "unit", &n);
    char unit[KJ_ID_MAX + 1];
    if (!id || n > KJ_ID_MAX) return false;
    memcpy(unit, id, n);
    unit[n] = '\0';
    return kj_token_allows_unit(t, unit);
}

/* {["op":"overview","seq":seq,] "at", "units": [the rows tok may see]} */
static kj_frame *filtered(const msgpack_object *frame, const kj_token *tok, bool live, uint64_t seq)
{
    const msgpack_object *at = kj_msgpack_get(frame, "at"), *units = kj_msgpack_get(frame, "units");
    if (!at || !units || units->type != MSGPACK_OBJECT_ARRAY) return NULL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, live ? 4 : 2);
    if (live) {
        msgpack_pack_str_with_body(&pk, "op", 2);
        msgpack_pack_str_with_body(&pk, "overview", 8);
        msgpack_pack_str_with_body(&pk, "seq", 3);
        msgpack_pack_uint64(&pk, seq);
    }
    msgpack_pack_str_with_body(&pk, "at", 2);
    msgpack_pack_object(&pk, *at);
    msgpack_pack_str_with_body(&pk, "units", 5);
    size_t n = 0;
    for (uint32_t i = 0; i < units->via.array.size; i++)
        n += may_see(tok, &units->via.array.ptr[i]);
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < units->via.array.size; i++)
        if (may_see(tok, &units->via.array.ptr[i]))
            msgpack_pack_object(&pk, units->via.array.ptr[i]);
    kj_frame *f = kj_frame_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return f;
}

static bool unpack(const kj_frame *f, msgpack_unpacked *u)
{
    msgpack_unpacked_init(u);
    return f &&
           msgpack_unpack_next(u, (const char *)f->data, f->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
           u->data.type == MSGPACK_OBJECT_MAP;
}

kj_frame *kj_overview_answer(const kj_frame *rows, const kj_token *tok)
{
    msgpack_unpacked u;
    kj_frame *f = unpack(rows, &u) ? filtered(&u.data, tok, false, 0) : NULL;
    msgpack_unpacked_destroy(&u);
    return f;
}

static void ask_rows(kj_server *s)
{
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_OVERVIEW;
    kj_hub_ask(s->hub, q); /* no done: the published full frame is the answer */
}

/* A personal view sees no overview; an ingest token reads nothing. */
static bool may_subscribe(const kj_token *t)
{
    return !t || (t->role != KJ_ROLE_INGEST && !t->employee);
}

void kj_overview_subscribe(kj_overview_sub **list, kj_overview_sub *o, kj_wsconn *ws)
{
    if (!may_subscribe(ws->token)) {
        kj_ws_error(ws, 0, "overview: not allowed for this token");
        return;
    }
    if (o->ws) return;
    kj_server *s = ws->srv;
    *o = (kj_overview_sub){.ws = ws, .waiting = true, .list = list, .next = *list};
    if (*list) (*list)->prev = o;
    *list = o;
    kj_hub_view_add(s->hub, KJ_HUB_OVERVIEW_VIEW, "");
    ask_rows(s);
}

void kj_overview_unsubscribe(kj_overview_sub *o)
{
    if (!o->ws) return;
    kj_server *s = o->ws->srv;
    if (o->prev)
        o->prev->next = o->next;
    else
        *o->list = o->next;
    if (o->next) o->next->prev = o->prev;
    kj_hub_view_remove(s->hub, KJ_HUB_OVERVIEW_VIEW, "");
    o->ws = NULL;
}

void kj_overview_recheck(kj_overview_sub *o)
{
    if (!o->ws) return;
    if (may_subscribe(o->ws->token)) {
        kj_overview_resync(o);
        return;
    }
    kj_ws_error(o->ws, 0, "overview: no longer allowed for this token");
    kj_overview_unsubscribe(o);
}

void kj_overview_resync(kj_overview_sub *o)
{
    if (!o->ws) return;
    o->waiting = true;
    ask_rows(o->ws->srv);
}

/* Viewers with the same token share one filtered frame per publication. */
void kj_overview_on_published(kj_overview_sub *list, const kj_pub *p)
{
    msgpack_unpacked u;
    if (!unpack(p->frame, &u)) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    const kj_token *last_tok = NULL;
    kj_frame *last = NULL;
    for (kj_overview_sub *o = list; o; o = o->next) {
        bool take = p->full ? o->waiting : !o->waiting && p->seq > o->seq;
        if (!take || o->ws->close_code || kj_ws_backlog_full(o->ws)) continue;
        if (!last || o->ws->token != last_tok) {
            kj_frame_unref(last);
            last = filtered(&u.data, o->ws->token, true, p->seq);
            last_tok = o->ws->token;
        }
        if (!last) break;
        o->waiting = false;
        o->seq = p->seq;
        kj_ws_send(o->ws, last);
    }
    kj_frame_unref(last);
    msgpack_unpacked_destroy(&u);
}
