/* kinerjad — the kinerja-live.v1 subprotocol on the service thread.
 *
 * Viewers subscribe to units; the writer publishes each unit's frames once
 * (kj_hub) and they are shared by every subscriber (kj_frame refcounts). A
 * subscription starts with a snapshot asked of the writer, which publishes it
 * in the same ordered stream as the updates, so that the viewer continues from
 * its seq without a gap. A viewer whose queue of unsent frames passes
 * viewer_backlog loses them all, and gets a fresh snapshot of each unit once
 * its socket drained: a slow reader costs bounded memory, never a backlog.
 * A token with `employee` (a personal view) receives that member's frames
 * only, which the writer packs separately. */
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "conns.h"
#include "ingest/hub.h"
#include "live.h"
#include "log.h"
#include "overview.h"
#include "ws.h"

#define SUBS_MAX 16 /* units one connection may watch at once */
/* Snapshot queries at the writer, from every viewer: past it, a viewer that
 * asks for more is not read until answers come back. Each subscription asks
 * one (shared per unit for whole-unit views); a client subscribing in a loop
 * must not queue the writer work, or the hub memory, without end. */
#define SNAPSHOTS_ASKED_MAX 256

struct live_unit;

typedef struct sub {
    struct live_unit *u;
    struct live_conn *c;
    uint64_t seq; /* the last seq sent */
    bool waiting; /* for a snapshot: updates are skipped meanwhile */
    struct sub *next_in_unit, *prev_in_unit;
} sub;

typedef struct live_unit {
    char id[KJ_ID_MAX + 1];
    sub *subs;
    bool snapshot_asked; /* one request serves every whole-unit viewer waiting */
    struct live_unit *next;
} live_unit;

typedef struct live_conn {
    kj_wsconn ws;
    sub subs[SUBS_MAX];
    size_t n_subs;
    bool resync;              /* the backlog was dropped: snapshots once drained */
    kj_query *units_query;    /* an "units" question at the writer */
    char view[KJ_ID_MAX + 1]; /* what the subscriptions registered at the hub */
    kj_overview_sub overview; /* {"op":"subscribe","overview":true} (overview.c) */
    bool paused;              /* not read while the writer has too many snapshots asked */
    struct live_conn *next_paused;
} live_conn;

/* The protocol's own state. */
struct kj_live_state {
    live_unit *units;          /* units that viewers watch */
    kj_overview_sub *overview; /* viewers of the overview (overview.c) */
    size_t snapshots_asked;    /* snapshot queries at the writer */
    live_conn *paused;         /* viewers waiting for those to come back */
};

static const char *personal(const live_conn *c)
{
    return c->ws.token && c->ws.token->employee ? c->ws.token->employee : NULL;
}

/* The view the token asks for: "" for the whole unit, else its employee. */
static const char *view_of(const live_conn *c)
{
    const char *mine = personal(c);
    return mine ? mine : "";
}

static live_unit *unit_get(kj_server *s, const char *id, bool create)
{
    for (live_unit *u = s->live->units; u; u = u->next)
        if (!strcmp(u->id, id)) return u;
    if (!create) return NULL;
    live_unit *u = kj_calloc(1, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    u->next = s->live->units;
    s->live->units = u;
    s->stats.live_units++;
    return u;
}

/* A unit nobody watches and with no snapshot on its way holds nothing worth
 * keeping: free it, or made-up names subscribed once would stay for the
 * daemon's life. (While its snapshot is asked it stays, so that a client
 * subscribing and unsubscribing in a loop asks the writer once, not once a
 * frame: snapshot_answered releases it.) */
static void unit_release(kj_server *s, live_unit *u)
{
    if (u->subs || u->snapshot_asked) return;
    for (live_unit **pp = &s->live->units; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            s->stats.live_units--;
            free(u);
            return;
        }
}

/* The writer has answered (after publishing the snapshot, or with a 404 for a
 * unit it does not know, which publishes nothing). */
static void resume_paused(kj_server *s)
{
    while (s->live->paused && s->live->snapshots_asked < SNAPSHOTS_ASKED_MAX) {
        live_conn *c = s->live->paused;
        s->live->paused = c->next_paused;
        c->paused = false;
        lws_rx_flow_control(c->ws.wsi, 1);
    }
}

static void unpause(live_conn *c)
{
    kj_server *s = c->ws.srv;
    for (live_conn **pp = &s->live->paused; *pp; pp = &(*pp)->next_paused)
        if (*pp == c) {
            *pp = c->next_paused;
            break;
        }
    c->paused = false;
}

/* c asked for a snapshot: past the bound, it waits for the writer. */
static void pause_if_busy(live_conn *c)
{
    kj_server *s = c->ws.srv;
    if (c->paused || s->live->snapshots_asked < SNAPSHOTS_ASKED_MAX) return;
    kj_debug("live: %zu snapshots asked of the writer: a viewer waits before sending more",
             s->live->snapshots_asked);
    c->paused = true;
    c->next_paused = s->live->paused;
    s->live->paused = c;
    lws_rx_flow_control(c->ws.wsi, 0);
}

static void snapshot_answered(kj_query *q)
{
    kj_server *s = q->owner.server;
    s->live->snapshots_asked--;
    resume_paused(s);
    live_unit *u = unit_get(s, q->unit, false);
    if (!u) return;
    if (!q->employee[0]) u->snapshot_asked = false;
    unit_release(s, u);
}

/* Asks the writer for u's snapshot (for employee's view, or the whole unit's)
 * on behalf of viewer c. */
static void ask_snapshot(live_conn *c, live_unit *u, const char *employee)
{
    kj_server *s = c->ws.srv;
    if (!employee && u->snapshot_asked) return;
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_SNAPSHOT;
    q->owner.server = s; /* the answer that counts is the published frame; this one frees */
    q->done = snapshot_answered;
    snprintf(q->unit, sizeof q->unit, "%s", u->id);
    if (employee) snprintf(q->employee, sizeof q->employee, "%s", employee);
    if (!employee) u->snapshot_asked = true;
    kj_hub_ask(s->hub, q);
    s->live->snapshots_asked++;
    pause_if_busy(c);
}

/* --- delivery --- */

/* kj_ws_backlog_full dropped the viewer's unsent frames: every view starts
 * again from a snapshot once it drained (writeable). */
static void backlog_dropped(kj_wsconn *ws)
{
    live_conn *c = (live_conn *)ws; /* ws is the first member of its live_conn */
    c->resync = true;
    for (size_t i = 0; i < c->n_subs; i++)
        c->subs[i].waiting = true;
    c->overview.waiting = true; /* its changed rows, past a gap, mean nothing: all rows follow */
}

static void deliver(sub *sb, kj_frame *f)
{
    live_conn *c = sb->c;
    if (c->ws.close_code) return;
    /* The frame itself always fits (a snapshot may be larger than the
     * backlog): what may not pass viewer_backlog is what waits before it. */
    if (kj_ws_backlog_full(&c->ws)) return;
    kj_ws_send(&c->ws, f);
    kj_stats_updates(&c->ws.srv->stats, 1, 0);
}

/* Whether a published frame is for this subscriber: whole-unit frames go to
 * whole-unit viewers, a member's frames to that member's personal viewers. */
static bool audience(const sub *sb, const char *employee)
{
    const char *mine = personal(sb->c);
    return mine ? !strcmp(mine, employee) : !employee[0];
}

static void on_update(kj_server *s, const kj_pub *p)
{
    live_unit *u = unit_get(s, p->unit, false);
    for (sub *sb = u ? u->subs : NULL; sb; sb = sb->next_in_unit)
        if (!sb->waiting && p->seq > sb->seq && audience(sb, p->employee)) {
            deliver(sb, p->frame);
            sb->seq = p->seq;
        }
}

static void on_snapshot(kj_server *s, const kj_pub *p)
{
    live_unit *u = unit_get(s, p->unit, false);
    if (!u) return;
    if (!p->employee[0]) u->snapshot_asked = false;
    for (sub *sb = u->subs; sb; sb = sb->next_in_unit)
        if (sb->waiting && !sb->c->resync && audience(sb, p->employee)) {
            sb->waiting = false;
            sb->seq = p->seq;
            deliver(sb, p->frame);
        }
}

static void on_alert(kj_server *s, const kj_pub *p)
{
    kj_stats_alert(&s->stats, p->alert_to);
    live_unit *u = unit_get(s, p->unit, false);
    for (sub *sb = u ? u->subs : NULL; sb; sb = sb->next_in_unit) {
        const char *mine = personal(sb->c);
        char scope[KJ_ID_MAX + 16];
        if (mine) snprintf(scope, sizeof scope, "employee:%s", mine);
        if (!sb->waiting && (!mine || !strcmp(scope, p->alert_scope))) deliver(sb, p->frame);
    }
}

/* The writer's published frames to the subscribers. */
static void on_published(kj_server *s, kj_pub *list)
{
    for (kj_pub *p = list; p; p = p->next) {
        if (p->frame == NULL) continue;
        switch (p->kind) {
        case KJ_PUB_UPDATE: on_update(s, p); break;
        case KJ_PUB_SNAPSHOT: on_snapshot(s, p); break;
        case KJ_PUB_ALERT: on_alert(s, p); break;
        case KJ_PUB_OVERVIEW: kj_overview_on_published(s->live->overview, p); break;
        }
    }
    kj_pub_free_list(list);
}

/* --- subscriptions --- */

static sub *find_sub(live_conn *c, const char *unit)
{
    for (size_t i = 0; i < c->n_subs; i++)
        if (!strcmp(c->subs[i].u->id, unit)) return &c->subs[i];
    return NULL;
}

static void unlink_sub(sub *sb)
{
    live_unit *u = sb->u;
    if (sb->prev_in_unit)
        sb->prev_in_unit->next_in_unit = sb->next_in_unit;
    else
        u->subs = sb->next_in_unit;
    if (sb->next_in_unit) sb->next_in_unit->prev_in_unit = sb->prev_in_unit;
    kj_hub_view_remove(sb->c->ws.srv->hub, u->id, sb->c->view);
}

static void link_sub(sub *sb)
{
    live_unit *u = sb->u;
    sb->prev_in_unit = NULL;
    sb->next_in_unit = u->subs;
    if (u->subs) u->subs->prev_in_unit = sb;
    u->subs = sb;
}

/* The array moves entries on removal: relink the moved one. */
static void remove_sub(live_conn *c, sub *sb)
{
    live_unit *left = sb->u;
    unlink_sub(sb);
    sub *last = &c->subs[--c->n_subs];
    if (sb != last) {
        unlink_sub(last);
        *sb = *last;
        kj_hub_view_add(c->ws.srv->hub, sb->u->id, c->view);
        link_sub(sb);
    }
    unit_release(c->ws.srv, left); /* not the moved one's unit: a unit is subscribed once */
}

static bool may_view(live_conn *c, const char *unit)
{
    const kj_token *t = c->ws.token;
    return !t || (t->role != KJ_ROLE_INGEST && kj_token_allows_unit(t, unit));
}

static void subscribe(live_conn *c, const char *unit)
{
    kj_server *s = c->ws.srv;
    if (!kj_id_valid(unit, strlen(unit))) {
        kj_ws_error(&c->ws, 0, "unit: not a valid identifier");
        return;
    }
    if (!may_view(c, unit)) {
        kj_ws_error(&c->ws, 0, "unit %s: not allowed for this token", unit);
        return;
    }
    if (find_sub(c, unit)) return; /* already: the snapshot is on its way or sent */
    if (c->n_subs == SUBS_MAX) {
        kj_ws_error(&c->ws, 0, "at most %d units per connection", SUBS_MAX);
        return;
    }
    sub *sb = &c->subs[c->n_subs++];
    memset(sb, 0, sizeof *sb);
    sb->c = c;
    sb->u = unit_get(s, unit, true);
    sb->waiting = true;
    link_sub(sb);
    /* registered before the snapshot is asked: every update after it is packed */
    if (c->n_subs == 1) snprintf(c->view, sizeof c->view, "%s", view_of(c));
    kj_hub_view_add(s->hub, unit, c->view);
    ask_snapshot(c, sb->u, personal(c));
}

static void unsubscribe(live_conn *c, const char *unit)
{
    sub *sb = find_sub(c, unit);
    if (sb) remove_sub(c, sb);
}

/* --- the units list --- */

static void units_answered(kj_query *q)
{
    live_conn *c = q->owner.viewer;
    c->units_query = NULL;
    msgpack_unpacked all;
    msgpack_unpacked_init(&all);
    if (!q->result ||
        msgpack_unpack_next(&all, (const char *)q->result->data, q->result->len, NULL) !=
            MSGPACK_UNPACK_SUCCESS ||
        all.data.type != MSGPACK_OBJECT_ARRAY) {
        msgpack_unpacked_destroy(&all);
        kj_ws_error(&c->ws, 0, "units: not available");
        return;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    kj_live_pack_units(&pk, &all.data, c->ws.token, true);
    kj_frame *f = kj_frame_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&all);
    kj_ws_send_kept(&c->ws, f);
    kj_frame_unref(f);
}

void kj_live_pack_units(msgpack_packer *pk, const msgpack_object *units, const kj_token *tok,
                        bool frame)
{
    size_t n = 0;
    for (uint32_t i = 0; i < units->via.array.size; i++) {
        size_t len;
        const char *id = kj_ws_str(&units->via.array.ptr[i], "id", &len);
        char unit[KJ_ID_MAX + 1];
        snprintf(unit, sizeof unit, "%.*s", id ? (int)len : 0, id ? id : "");
        n += !tok || kj_token_allows_unit(tok, unit);
    }
    if (frame) {
        msgpack_pack_map(pk, 2);
        msgpack_pack_str_with_body(pk, "op", 2);
        msgpack_pack_str_with_body(pk, "units", 5);
        msgpack_pack_str_with_body(pk, "units", 5);
    }
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < units->via.array.size; i++) {
        size_t len;
        const char *id = kj_ws_str(&units->via.array.ptr[i], "id", &len);
        char unit[KJ_ID_MAX + 1];
        snprintf(unit, sizeof unit, "%.*s", id ? (int)len : 0, id ? id : "");
        if (!tok || kj_token_allows_unit(tok, unit))
            msgpack_pack_object(pk, units->via.array.ptr[i]);
    }
}

static void ask_units(live_conn *c)
{
    if (c->units_query) return;
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_UNITS;
    q->owner.viewer = c;
    q->done = units_answered;
    c->units_query = q;
    kj_hub_ask(c->ws.srv->hub, q);
}

/* --- the connection --- */

static void on_message(kj_wsconn *ws, const msgpack_object *m)
{
    live_conn *c = (live_conn *)ws; /* ws is the first member of its connection */
    size_t n, ul;
    const char *op = kj_ws_str(m, "op", &n);
    const char *unit = kj_ws_str(m, "unit", &ul);
    char id[KJ_ID_MAX + 1] = "";
    if (unit && ul <= KJ_ID_MAX) snprintf(id, sizeof id, "%.*s", (int)ul, unit);
    if (op && n == 5 && !memcmp(op, "units", 5))
        ask_units(c);
    else if (op && n == 9 && !memcmp(op, "subscribe", 9) && kj_overview_asked(m))
        kj_overview_subscribe(&c->ws.srv->live->overview, &c->overview, &c->ws);
    else if (op && n == 11 && !memcmp(op, "unsubscribe", 11) && kj_overview_asked(m))
        kj_overview_unsubscribe(&c->overview);
    else if (op && n == 9 && !memcmp(op, "subscribe", 9))
        subscribe(c, id);
    else if (op && n == 11 && !memcmp(op, "unsubscribe", 11))
        unsubscribe(c, id);
    else if (op && n == 4 && !memcmp(op, "auth", 4))
        ; /* already authenticated by header */
    else
        kj_ws_error(&c->ws, 1008, "unknown op for kinerja-live.v1: %.*s", op ? (int)n : 4,
                    op ? op : "none");
}

/* A reload gave the token another employee (or took it away): register the
 * new view and start each unit again from a snapshot of it. */
static void change_view(live_conn *c)
{
    kj_hub *hub = c->ws.srv->hub;
    for (size_t i = 0; i < c->n_subs; i++) {
        kj_hub_view_remove(hub, c->subs[i].u->id, c->view);
        kj_hub_view_add(hub, c->subs[i].u->id, view_of(c));
    }
    snprintf(c->view, sizeof c->view, "%s", view_of(c));
    for (size_t i = 0; i < c->n_subs; i++) {
        c->subs[i].waiting = true;
        ask_snapshot(c, c->subs[i].u, personal(c));
    }
}

/* A reload may have narrowed the token's units: drop what it may no longer see. */
static void token_changed(kj_wsconn *ws)
{
    live_conn *c = (live_conn *)ws;
    for (size_t i = c->n_subs; i-- > 0;)
        if (!may_view(c, c->subs[i].u->id)) {
            kj_ws_error(&c->ws, 0, "unit %s: no longer allowed for this token", c->subs[i].u->id);
            remove_sub(c, &c->subs[i]);
        }
    if (c->n_subs && strcmp(c->view, view_of(c))) change_view(c);
    kj_overview_recheck(&c->overview);
}

static int writeable(live_conn *c)
{
    if (kj_ws_writeable(&c->ws)) return -1;
    if (c->resync && !c->ws.out.count) { /* drained: start again from snapshots */
        kj_debug("live: a viewer drained: snapshots of its %zu units", c->n_subs);
        c->resync = false;
        for (size_t i = 0; i < c->n_subs; i++)
            ask_snapshot(c, c->subs[i].u, personal(c));
        kj_overview_resync(&c->overview);
    }
    return 0;
}

static void closed(live_conn *c)
{
    if (!c->ws.srv) return; /* refused before the filter knew it */
    if (c->paused) unpause(c);
    while (c->n_subs)
        remove_sub(c, &c->subs[c->n_subs - 1]);
    kj_overview_unsubscribe(&c->overview);
    if (c->units_query) c->units_query->done = NULL; /* drop the answer */
    kj_ws_closed(&c->ws, &c->ws.srv->stats.live_clients);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    live_conn *c = user;
    kj_server *s = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (kj_ws_filter(&c->ws, wsi, s, false)) return 1;
        if (s->stats.live_clients >= s->cfg->max_viewers) {
            kj_conns_refused(s, "max_viewers", s->cfg->max_viewers);
            return kj_ws_refuse(wsi, 503, "too many viewers: max_viewers reached") ? 1 : 0;
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        kj_ws_established(&c->ws, wsi, &s->stats.live_clients);
        c->ws.on_message = on_message;
        c->ws.token_changed = token_changed;
        c->ws.backlog_dropped = backlog_dropped;
        c->ws.paced = true;
        return 0;
    case LWS_CALLBACK_RECEIVE: return kj_ws_on_receive(&c->ws, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE: return writeable(c);
    case LWS_CALLBACK_CLOSED: closed(c); return 0;
    default: return 0;
    }
}

static void start(kj_server *s)
{
    s->live = kj_calloc(1, sizeof *s->live);
}

static void take_published(kj_server *s)
{
    if (s->hub) on_published(s, kj_hub_take_published(s->hub));
}

static void free_state(kj_server *s)
{
    while (s->live->units) {
        live_unit *u = s->live->units;
        s->live->units = u->next;
        free(u);
    }
    s->stats.live_units = 0;
    free(s->live);
    s->live = NULL;
}

/* The most one send() of a viewer's frame may carry. */
#define LIVE_TX_MAX (256 * 1024)

/* Viewers send tiny frames: a small rx buffer keeps an idle viewer cheap.
 * tx_packet_size must be set beside it: at 0, lws 4.1 caps each send() at
 * rx_buffer_size, copies the rest of the frame to the heap and sends it
 * 1 KiB per writeable round (seven sends and loop turns per 6 KiB
 * update). Whatever the kernel does not take still goes to lws's heap
 * list, so a larger cap never buffers more, it only sends sooner. */
const kj_net_proto kj_live_proto = {
    .name = "kinerja-live.v1",
    .callback = callback,
    .sess_size = sizeof(live_conn),
    .rx_buffer_size = 1024,
    .tx_packet_size = LIVE_TX_MAX,
    .start = start,
    .on_wake = take_published,
    .free = free_state,
};
