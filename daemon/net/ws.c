#include "ws.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "config/access.h"
#include "conns.h"
#include "log.h"
#include "session.h"

int kj_ws_filter(kj_wsconn *c, struct lws *wsi, kj_server *s, bool ingest)
{
    memset(c, 0, sizeof *c);
    c->srv = s;
    c->wsi = wsi;
    if (kj_http_head_too_big(wsi)) return kj_ws_refuse(wsi, 431, "request headers too large");
    if (!s->cfg->auth) {
        c->authed = true;
        kj_conns_phase(wsi, KJ_CONN_BUSY);
        return 0;
    }
    char buf[512];
    int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0) { /* may come in the first frame, within header_timeout */
        kj_conns_phase(wsi, KJ_CONN_WS_AUTH);
        return 0;
    }
    c->token = kj_access_bearer(s->cfg, buf, (size_t)n);
    if (!c->token) return kj_ws_refuse(wsi, 401, "unknown token");
    if (ingest && c->token->role == KJ_ROLE_VIEWER)
        return kj_ws_refuse(wsi, 403, "this token may not post events (role viewer)");
    c->authed = true;
    kj_conns_phase(wsi, KJ_CONN_BUSY);
    return 0;
}

const char *kj_ws_str(const msgpack_object *m, const char *key, size_t *n)
{
    const msgpack_object *v = kj_msgpack_get(m, key);
    if (!v || v->type != MSGPACK_OBJECT_STR) return NULL;
    *n = v->via.str.size;
    return kj_msgpack_str(v);
}

/* --- pacing: the viewers' share of a loop turn --- */

static bool has_room(const kj_wsconn *c)
{
    return !c->paced || c->srv->fanout_spent < c->srv->cfg->fanout_turn_bytes;
}

static bool in_line(const kj_wsconn *c)
{
    return !lws_dll2_is_detached(&c->line);
}

static void line_up(kj_wsconn *c)
{
    if (in_line(c)) return;
    lws_dll2_add_tail(&c->line, &c->srv->fanout_line);
    kj_stats_fanout_wait(&c->srv->stats);
}

static void leave_line(kj_wsconn *c)
{
    if (in_line(c)) lws_dll2_remove(&c->line);
}

/* kj_outq_send, counting a viewer's bytes against the turn's share. */
static int send_queued(kj_wsconn *c)
{
    size_t before = c->out.bytes;
    int rc = kj_outq_send(&c->out, c->wsi);
    if (c->paced) c->srv->fanout_spent += before - c->out.bytes;
    return rc;
}

void kj_ws_turn(kj_server *s)
{
    s->fanout_spent = 0;
    size_t released = 0;
    while (s->fanout_line.head && released < s->cfg->fanout_turn_bytes) {
        kj_wsconn *c = lws_container_of(s->fanout_line.head, kj_wsconn, line);
        leave_line(c);
        /* A choked socket's callback comes only once its reader reads: it
         * takes none of the share, or the rest of the line would wait behind
         * it for whatever event turns the loop next. */
        if (!lws_send_pipe_choked(c->wsi)) released += c->out.bytes;
        lws_callback_on_writable(c->wsi);
    }
}

void kj_ws_send(kj_wsconn *c, kj_frame *f)
{
    /* A frame for an idle connection goes out now: waiting for a writeable
     * callback costs two epoll changes and a loop turn per frame, the most
     * of a delivery to a viewer. lws keeps what the socket does not take and
     * sends it first; a busy connection's frames queue behind its backlog. */
    bool idle = !c->out.count && !c->close_code && !lws_partial_buffered(c->wsi);
    kj_outq_push(&c->out, f);
    if (in_line(c)) return; /* kj_ws_turn calls on it */
    if (!has_room(c))
        line_up(c);
    else if (!idle || send_queued(c))
        lws_callback_on_writable(c->wsi);
}

void kj_ws_queue(kj_wsconn *c, kj_frame *f)
{
    kj_outq_push(&c->out, f);
    lws_callback_on_writable(c->wsi);
}

/* Too much unread that may not be dropped: drop all of it and close. */
static void overflow(kj_wsconn *c)
{
    if (c->overflowed) return;
    kj_info("websocket closed (1008): %zu bytes of frames unread, over viewer_backlog",
            c->out.bytes);
    kj_outq_clear(&c->out);
    c->overflowed = true;
    c->close_code = 1008;
}

bool kj_ws_send_kept(kj_wsconn *c, kj_frame *f)
{
    if (c->overflowed) return false;
    if (c->out.bytes + f->len > c->srv->cfg->viewer_backlog) {
        overflow(c);
        lws_callback_on_writable(c->wsi); /* closes there if no frame comes first */
        return false;
    }
    kj_ws_send(c, f);
    return true;
}

int kj_ws_on_receive(kj_wsconn *c, const void *in, size_t len)
{
    msgpack_unpacked msg;
    if (kj_ws_receive(c, in, len, &msg) == 1) {
        if (c->on_message) c->on_message(c, &msg.data);
        msgpack_unpacked_destroy(&msg);
    }
    return kj_ws_received(c);
}

bool kj_ws_backlog_full(kj_wsconn *c)
{
    if (c->out.bytes <= c->srv->cfg->viewer_backlog) return false;
    kj_stats_updates(&c->srv->stats, 0, c->out.count);
    kj_outq_clear(&c->out);
    if (c->backlog_dropped) c->backlog_dropped(c);
    lws_callback_on_writable(c->wsi); /* to learn when it has drained */
    kj_debug("live: a viewer fell %zu bytes behind: dropped, snapshots follow when it drains",
             c->srv->cfg->viewer_backlog);
    return true;
}

int kj_ws_received(kj_wsconn *c)
{
    if (!c->overflowed) return 0;
    static const char reason[] = "reading too slowly";
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
                     sizeof reason - 1);
    return -1;
}

void kj_ws_error(kj_wsconn *c, int close_code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, "error", 5);
    msgpack_pack_str_with_body(&pk, "error", 5);
    msgpack_pack_str_with_body(&pk, msg, strlen(msg));
    kj_frame *f = kj_frame_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    bool kept = kj_ws_send_kept(c, f);
    kj_frame_unref(f);
    if (kept && close_code) {
        c->close_code = close_code;
        lws_callback_on_writable(c->wsi); /* the close, after the error frame */
        kj_info("websocket closed (%d): %s", close_code, msg);
    }
}

/* {"op":"auth","token":T} as the first frame. 1 when handled. */
static int first_frame_auth(kj_wsconn *c, const msgpack_object *m, bool ingest)
{
    size_t n;
    const char *op = kj_ws_str(m, "op", &n);
    if (!op || n != 4 || memcmp(op, "auth", 4) != 0) {
        kj_ws_error(c, 1008, "authenticate first: {\"op\": \"auth\", \"token\": ...}");
        return 1;
    }
    const char *tok = kj_ws_str(m, "token", &n);
    c->token = tok ? kj_access_token(c->srv->cfg, tok, n) : NULL;
    if (!c->token)
        kj_ws_error(c, 1008, "unknown token");
    else if (ingest && c->token->role == KJ_ROLE_VIEWER)
        kj_ws_error(c, 1008, "token %s may not post events", c->token->name);
    else {
        c->authed = true;
        kj_conns_phase(c->wsi, KJ_CONN_BUSY);
    }
    return 1;
}

static bool is_ingest(struct lws *wsi)
{
    return strcmp(lws_get_protocol(wsi)->name, "kinerja-ingest.v1") == 0;
}

/* The message's size is the client's choice (up to max_frame): without the
 * memory for it, this one connection is closed (1011), not the daemon. */
static int grow_rx(kj_wsconn *c, size_t need)
{
    size_t cap = need > c->rx_cap * 2 ? need : c->rx_cap * 2;
    uint8_t *rx = realloc(c->rx, cap);
    if (!rx) {
        kj_ws_error(c, 1011, "out of memory for a message of %zu bytes", need);
        return -1;
    }
    c->rx = rx;
    c->rx_cap = cap;
    return 0;
}

int kj_ws_receive(kj_wsconn *c, const void *in, size_t len, msgpack_unpacked *msg)
{
    bool final = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;
    return kj_ws_collect(c, in, len, final, lws_frame_is_binary(c->wsi),
                         !c->authed && is_ingest(c->wsi), msg);
}

int kj_ws_collect(kj_wsconn *c, const void *in, size_t len, bool final, bool binary, bool ingest,
                  msgpack_unpacked *msg)
{
    size_t max = c->srv->cfg->max_frame;
    if (c->close_code) return 0; /* closing: ignore the rest */
    if (!c->rx_dropping && c->rx_len + len > max) {
        kj_ws_error(c, 1009, "message over max_frame (%zu bytes)", max);
        c->rx_dropping = true;
    }
    if (c->rx_dropping) return 0;
    if (c->rx_len + len > c->rx_cap && grow_rx(c, c->rx_len + len)) return 0;
    if (len) memcpy(c->rx + c->rx_len, in, len); /* rx is NULL until the first byte */
    c->rx_len += len;
    if (!final) return 0;
    size_t total = c->rx_len;
    c->rx_len = 0;
    if (!binary) {
        kj_ws_error(c, 1003, "frames must be binary msgpack maps");
        return 0;
    }
    char err[200] = "the message is not a map";
    msgpack_unpacked_init(msg);
    if (kj_msgpack_unpack_body(c->rx, total, msg, err, sizeof err) != KJ_OK ||
        msg->data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(msg);
        kj_ws_error(c, 1003, "not a msgpack map: %s", err);
        return 0;
    }
    if (!c->authed) {
        first_frame_auth(c, &msg->data, ingest);
        msgpack_unpacked_destroy(msg);
        return 0;
    }
    return 1;
}

int kj_ws_writeable(kj_wsconn *c)
{
    if (c->out.count && !has_room(c)) {
        line_up(c);
        return 0;
    }
    leave_line(c); /* a callback lws gave unasked */
    if (send_queued(c)) return -1;
    if (c->close_code && !c->out.count) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, NULL, 0);
        return -1;
    }
    return 0;
}

int kj_ws_refuse(struct lws *wsi, int status, const char *reason)
{
    kj_info("websocket upgrade refused (%d): %s", status, reason);
    /* An answer the client can read, rather than a bare hang-up that looks
     * like a daemon that is down. */
    lws_return_http_status(wsi, (unsigned)status, reason);
    return -1;
}

void kj_ws_established(kj_wsconn *c, struct lws *wsi, size_t *clients)
{
    kj_server *s = c->srv;
    c->wsi = wsi;
    c->counted = true;
    ++*clients;
    c->prev = NULL;
    c->next = s->ws_conns;
    if (c->next) c->next->prev = c;
    s->ws_conns = c;
}

static void unlink_conn(kj_wsconn *c)
{
    kj_server *s = c->srv;
    if (!s) return;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->ws_conns == c)
        s->ws_conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static const kj_token *token_named(const kj_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_tokens; i++)
        if (strcmp(cfg->tokens[i].name, name) == 0) return &cfg->tokens[i];
    return NULL;
}

void kj_ws_reauthorize_all(kj_server *s)
{
    for (kj_wsconn *c = s->ws_conns; c; c = c->next) {
        if (!s->cfg->auth) {
            c->token = NULL;
            c->authed = true;
        } else if (c->token || !c->authed) {
            const kj_token *t = c->token ? token_named(s->cfg, c->token->name) : NULL;
            bool ingest = is_ingest(c->wsi);
            if (c->authed && (!t || (ingest && t->role == KJ_ROLE_VIEWER))) {
                c->token = NULL;
                c->authed = false;
                kj_ws_error(c, 1008, "token revoked by a configuration reload");
                continue;
            }
            c->token = t;
        } else { /* authed without a token: auth was off and is on now */
            c->authed = false;
            kj_ws_error(c, 1008, "authentication is now required");
            continue;
        }
        if (c->token_changed) c->token_changed(c);
    }
}

void kj_ws_closed(kj_wsconn *c, size_t *clients)
{
    if (c->counted) --*clients;
    c->counted = false;
    leave_line(c);
    unlink_conn(c);
    kj_outq_clear(&c->out);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
}
