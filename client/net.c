/* kinerja — the client's libwebsockets edge (net.h). */
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lib_shared.h"
#include "net.h"

#define HTTP_PROTOCOL "kj-http"
#define WRITE_CHUNK (64 * 1024)
#define MAX_MESSAGE (64u * 1024 * 1024) /* a snapshot of a huge unit stays far below */
#define REASON_MAX 160

typedef struct message {
    struct message *next;
    uint8_t *buf; /* malloc'd when owned */
    uint8_t *data;
    size_t len;
    bool owned;
} message;

/* A connection whose owner has let go but which lws still knows: freed by
 * the callback that sees it close. */
typedef struct conn {
    struct lws *wsi;
    bool orphan;
    bool closed;
    char reason[REASON_MAX];
    int http_status;
} conn;

struct kj_wsc {
    conn c; /* first: callbacks see a conn */
    kj_net *net;
    kj_wsc_state state;
    bool was_open; /* the handshake completed */
    int close_code;
    message *out_head, *out_tail;
    message *in_head, *in_tail;
    uint8_t *rx;
    size_t rx_len, rx_cap;
    uint8_t *tx; /* LWS_PRE + the message being written */
    size_t tx_cap;
};

typedef struct http_call {
    conn c;
    const kj_http_req *req; /* NULL once orphaned */
    size_t sent;
    bool done;
    kj_http_resp resp;
    size_t cap;
} http_call;

struct kj_net {
    struct lws_context *ctx;
    bool tls;
    char *host;
    int port;
    char *prefix; /* "" or "/something" without a trailing '/' */
    char *token;
    char *where; /* "host:port" */
    char *authz; /* "Bearer TOKEN" */
    lws_sorted_usec_list_t wake;
    int ssl_flags;
};

/* ---- helpers ------------------------------------------------------------------ */

static void set_reason(conn *c, const void *in, size_t len, const char *fallback)
{
    if (c->reason[0]) return; /* the first reason is the real one */
    if (in && len) {
        size_t n = len < REASON_MAX - 1 ? len : REASON_MAX - 1;
        memcpy(c->reason, in, n);
        c->reason[n] = '\0';
        /* lws strings may carry their NUL inside len */
        c->reason[strnlen(c->reason, n)] = '\0';
    } else {
        snprintf(c->reason, sizeof c->reason, "%s", fallback);
    }
}

static void free_messages(message *m)
{
    while (m) {
        message *next = m->next;
        if (m->owned) free(m->buf);
        free(m);
        m = next;
    }
}

static void ws_destroy(kj_wsc *ws)
{
    free_messages(ws->out_head);
    free_messages(ws->in_head);
    free(ws->rx);
    free(ws->tx);
    free(ws);
}

static void conn_gone(conn *c, bool is_ws)
{
    c->wsi = NULL;
    c->closed = true;
    if (!c->orphan) return;
    if (is_ws)
        ws_destroy((kj_wsc *)c);
    else
        free(c);
}

static bool add_header(struct lws *wsi, enum lws_token_indexes tok, const char *value,
                       unsigned char **p, unsigned char *end)
{
    return !value || lws_add_http_header_by_token(wsi, tok, (const unsigned char *)value,
                                                  (int)strlen(value), p, end) == 0;
}

/* ---- URL ------------------------------------------------------------------------ */

static kj_err parse_url(kj_net *n, const char *url, char *msg, size_t msglen)
{
    static const struct {
        const char *scheme;
        bool tls;
        int port;
    } schemes[] = {{"http://", false, 80},
                   {"ws://", false, 80},
                   {"https://", true, 443},
                   {"wss://", true, 443}};
    const char *rest = NULL;
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t l = strlen(schemes[i].scheme);
        if (strncasecmp(url, schemes[i].scheme, l) == 0) {
            rest = url + l;
            n->tls = schemes[i].tls;
            n->port = schemes[i].port;
        }
    }
    if (!rest) {
        kj_msgf(msg, msglen, "URL %s: must start with http://, https://, ws:// or wss://", url);
        return KJ_ERR_INVALID;
    }
    const char *slash = strchr(rest, '/');
    size_t hostlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *colon = NULL;
    if (rest[0] == '[') { /* [::1]:7070 */
        const char *close = memchr(rest, ']', hostlen);
        if (!close) goto bad;
        n->host = kj_strndup(rest + 1, (size_t)(close - rest - 1));
        if (close + 1 < rest + hostlen) colon = close + 1;
        if (colon && *colon != ':') goto bad;
    } else {
        colon = memchr(rest, ':', hostlen);
        n->host = kj_strndup(rest, colon ? (size_t)(colon - rest) : hostlen);
    }
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != rest + hostlen || port < 1 || port > 65535 || end == colon + 1) goto bad;
        n->port = (int)port;
    }
    if (!n->host[0]) goto bad;
    n->prefix = kj_strdup(slash ? slash : "");
    size_t pl = strlen(n->prefix);
    while (pl && n->prefix[pl - 1] == '/')
        n->prefix[--pl] = '\0';
    return KJ_OK;
bad:
    kj_msgf(msg, msglen, "URL %s: cannot read host and port", url);
    return KJ_ERR_INVALID;
}

/* ---- callbacks --------------------------------------------------------------------- */

static int append_auth(kj_net *n, struct lws *wsi, void *in, size_t len)
{
    unsigned char **p = in, *end = *p + len;
    return add_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, n->authz, p, end) ? 0 : -1;
}

static void ws_receive(kj_wsc *ws, struct lws *wsi, const void *in, size_t len)
{
    if (ws->rx_len + len > MAX_MESSAGE) {
        set_reason(&ws->c, NULL, 0, "message from the server too big");
        ws->state = KJ_WSC_CLOSED;
        return;
    }
    if (ws->rx_len + len > ws->rx_cap) {
        ws->rx_cap = (ws->rx_len + len) * 2;
        ws->rx = kj_realloc(ws->rx, ws->rx_cap);
    }
    memcpy(ws->rx + ws->rx_len, in, len);
    ws->rx_len += len;
    if (!lws_is_final_fragment(wsi)) return;
    message *m = kj_calloc(1, sizeof *m);
    m->buf = m->data = ws->rx;
    m->len = ws->rx_len;
    m->owned = true;
    if (ws->in_tail)
        ws->in_tail->next = m;
    else
        ws->in_head = m;
    ws->in_tail = m;
    ws->rx = NULL;
    ws->rx_len = ws->rx_cap = 0;
}

static int ws_writeable(kj_wsc *ws, struct lws *wsi)
{
    message *m = ws->out_head;
    if (!m) return 0;
    /* A client's frames are masked, and lws masks the payload in place: a
     * borrowed buffer (a packet that may have to be sent again, on another
     * connection or over HTTP) goes out from a copy. */
    uint8_t *data = m->data;
    if (!m->owned) {
        if (ws->tx_cap < LWS_PRE + m->len) {
            ws->tx_cap = LWS_PRE + m->len;
            ws->tx = kj_realloc(ws->tx, ws->tx_cap);
        }
        memcpy(ws->tx + LWS_PRE, m->data, m->len);
        data = ws->tx + LWS_PRE;
    }
    if (lws_write(wsi, data, m->len, LWS_WRITE_BINARY) < (int)m->len) {
        set_reason(&ws->c, NULL, 0, "write failed");
        return -1;
    }
    ws->out_head = m->next;
    if (!ws->out_head) ws->out_tail = NULL;
    m->next = NULL;
    free_messages(m);
    /* One write per callback (lws buffers what the kernel did not take). */
    if (ws->out_head) lws_callback_on_writable(wsi);
    return 0;
}

static int cb_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    (void)user;
    kj_wsc *ws = lws_get_opaque_user_data(wsi);
    if (!ws) return 0;
    kj_net *n = ws->net;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: return append_auth(n, wsi, in, len);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (in && len && strncmp(in, "HS:", 3) == 0)
            ws->c.http_status = (int)lws_http_client_http_response(wsi);
        set_reason(&ws->c, in, in ? strlen(in) : 0, "connection failed");
        ws->state = KJ_WSC_CLOSED;
        lws_set_opaque_user_data(wsi, NULL);
        conn_gone(&ws->c, true);
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (ws->c.orphan) return -1;
        ws->state = KJ_WSC_OPEN;
        ws->was_open = true;
        if (ws->out_head) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (ws->c.orphan) return -1;
        ws_receive(ws, wsi, in, len);
        return ws->state == KJ_WSC_CLOSED ? -1 : 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (ws->c.orphan || ws->state == KJ_WSC_CLOSED) return -1;
        return ws_writeable(ws, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (in && len >= 2) {
            const uint8_t *b = in;
            ws->close_code = b[0] << 8 | b[1];
            char text[REASON_MAX];
            snprintf(text, sizeof text, "closed by the server (%d%s%.*s)", ws->close_code,
                     len > 2 ? ": " : "", (int)(len - 2 < 120 ? len - 2 : 120),
                     (const char *)in + 2);
            set_reason(&ws->c, text, strlen(text), "");
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        set_reason(&ws->c, NULL, 0, "connection closed");
        ws->state = KJ_WSC_CLOSED;
        lws_set_opaque_user_data(wsi, NULL);
        conn_gone(&ws->c, true);
        return 0;
    default: return 0;
    }
}

static int http_body_writeable(http_call *h, struct lws *wsi)
{
    const kj_http_req *req = h->req;
    uint8_t buf[LWS_PRE + WRITE_CHUNK];
    size_t chunk = req->body_len - h->sent;
    if (chunk > WRITE_CHUNK) chunk = WRITE_CHUNK;
    bool last = h->sent + chunk == req->body_len;
    memcpy(buf + LWS_PRE, req->body + h->sent, chunk);
    if (lws_write(wsi, buf + LWS_PRE, chunk, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) <
        (int)chunk)
        return -1;
    h->sent += chunk;
    if (last)
        lws_client_http_body_pending(wsi, 0);
    else
        lws_callback_on_writable(wsi);
    return 0;
}

static void http_headers(http_call *h, struct lws *wsi)
{
    char v[32];
    h->resp.status = (int)lws_http_client_http_response(wsi);
    if (lws_hdr_copy(wsi, h->resp.content_type, sizeof h->resp.content_type,
                     WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
        h->resp.content_type[0] = '\0';
    h->resp.retry_after_s = -1;
    if (lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_HTTP_RETRY_AFTER) > 0) {
        char *end;
        long s = strtol(v, &end, 10);
        if (end != v && s >= 0 && s < 86400) h->resp.retry_after_s = (int)s;
    }
}

static int http_read(http_call *h, const void *in, size_t len)
{
    if (h->resp.len + len + 1 > MAX_MESSAGE) return -1;
    if (h->resp.len + len + 1 > h->cap) {
        h->cap = (h->resp.len + len + 1) * 2;
        h->resp.body = kj_realloc(h->resp.body, h->cap);
    }
    memcpy(h->resp.body + h->resp.len, in, len);
    h->resp.len += len;
    h->resp.body[h->resp.len] = '\0';
    return 0;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    (void)user;
    http_call *h = lws_get_opaque_user_data(wsi);
    if (!h) return lws_callback_http_dummy(wsi, reason, user, in, len);
    kj_net *n = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        char clen[24];
        if (h->c.orphan) return -1;
        snprintf(clen, sizeof clen, "%zu", h->req->body_len);
        if (append_auth(n, wsi, in, len) ||
            !add_header(wsi, WSI_TOKEN_HTTP_ACCEPT, h->req->accept, p, end))
            return -1;
        if (h->req->body) {
            if (!add_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, h->req->content_type, p, end) ||
                !add_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, p, end))
                return -1;
            lws_client_http_body_pending(wsi, 1);
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (h->c.orphan) return -1;
        if (!h->req->body || h->sent == h->req->body_len) return 0;
        return http_body_writeable(h, wsi);
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: http_headers(h, wsi); return h->c.orphan ? -1 : 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 16384], *px = buf + LWS_PRE;
        int lenx = sizeof buf - LWS_PRE;
        return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (h->c.orphan) return -1;
        return http_read(h, in, len);
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP: h->done = true; return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        set_reason(&h->c, in, in ? strlen(in) : 0, "connection failed");
        /* a status line was read: the answer is there, however it ended */
        if (h->resp.status && in && !strncmp(in, "HS:", 3)) h->done = true;
        lws_set_opaque_user_data(wsi, NULL);
        conn_gone(&h->c, false);
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
    case LWS_CALLBACK_WSI_DESTROY:
        /* Without Content-Length the end of the body is the close. */
        if (h->resp.status && !h->c.reason[0]) h->done = true;
        set_reason(&h->c, NULL, 0, "connection closed before the answer");
        lws_set_opaque_user_data(wsi, NULL);
        conn_gone(&h->c, false);
        return 0;
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    {HTTP_PROTOCOL, cb_http, 0, 16384, 0, NULL, 0},
    {"kinerja-ingest.v1", cb_ws, 0, 16384, 0, NULL, 0},
    {"kinerja-live.v1", cb_ws, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* A silent peer (a dead daemon host, a dropped NAT mapping) never makes the
 * socket fail by itself: ping after 30 s of silence, hang up after 40 s. */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 40,
};

/* ---- the net ---------------------------------------------------------------- */

static void log_emit(int level, const char *line)
{
    (void)level;
    fputs(line, stderr);
}

kj_err kj_net_new(const kj_net_opts *o, kj_net **out, char *msg, size_t msglen)
{
    kj_net *n = kj_calloc(1, sizeof *n);
    kj_err err = parse_url(n, o->url, msg, msglen);
    if (err) goto fail;
    if (o->token && o->token[0]) {
        size_t l = strlen(o->token) + 8;
        n->authz = kj_malloc(l);
        snprintf(n->authz, l, "Bearer %s", o->token);
    }
    size_t wl = strlen(n->host) + 16;
    n->where = kj_malloc(wl);
    snprintf(n->where, wl, strchr(n->host, ':') ? "[%s]:%d" : "%s:%d", n->host, n->port);

    /* lws logs to stderr by default; a library must not. KINERJA_LWS_LOG=<bits>
     * turns its log back on for debugging. */
    const char *dbg = getenv("KINERJA_LWS_LOG");
    lws_set_log_level(dbg ? atoi(dbg) : 0, dbg ? log_emit : NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = n;
    info.fd_limit_per_thread = 16;
    if (n->tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = o->ca_file;
        n->ssl_flags = LCCSCF_USE_SSL;
        if (o->insecure)
            n->ssl_flags |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                            LCCSCF_ALLOW_EXPIRED;
    }
    n->ctx = lws_create_context(&info);
    if (!n->ctx) {
        kj_msgf(msg, msglen, "cannot start libwebsockets%s", n->tls ? " with TLS" : "");
        err = KJ_ERR_IO;
        goto fail;
    }
    *out = n;
    return KJ_OK;
fail:
    kj_net_free(n);
    return err;
}

void kj_net_free(kj_net *n)
{
    if (!n) return;
    if (n->ctx) {
        lws_sul_cancel(&n->wake);
        /* Closes what is left; orphans are freed by their close callbacks. */
        lws_context_destroy(n->ctx);
    }
    free(n->host);
    free(n->prefix);
    free(n->token);
    free(n->where);
    free(n->authz);
    free(n);
}

const char *kj_net_where(const kj_net *n)
{
    return n->where;
}

static void wake_cb(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

void kj_net_service(kj_net *n, int timeout_ms)
{
    if (timeout_ms < 0) timeout_ms = 0;
    /* lws 4.1 ignores lws_service's timeout and sleeps until its next timer:
     * our own timer bounds the wait. */
    lws_sul_schedule(n->ctx, 0, &n->wake, wake_cb, (lws_usec_t)timeout_ms * LWS_US_PER_MS);
    lws_service(n->ctx, 0);
    lws_sul_cancel(&n->wake);
}

static struct lws *start_conn(kj_net *n, const char *path, const char *method, const char *protocol,
                              conn *c)
{
    struct lws_client_connect_info i;
    char full[1024], host[300];
    snprintf(full, sizeof full, "%s%s", n->prefix, path);
    snprintf(host, sizeof host, "%s", n->where);
    memset(&i, 0, sizeof i);
    i.context = n->ctx;
    i.address = n->host;
    i.port = n->port;
    i.ssl_connection = n->ssl_flags;
    i.path = full;
    i.host = host;
    i.method = method;
    i.protocol = protocol;
    i.local_protocol_name = method ? HTTP_PROTOCOL : protocol;
    i.opaque_user_data = c;
    i.pwsi = &c->wsi;
    i.retry_and_idle_policy = &idle_policy;
    if (method) i.alpn = "http/1.1";
    /* lws copies what it needs from i during the call. */
    return lws_client_connect_via_info(&i);
}

/* ---- HTTP -------------------------------------------------------------------- */

void kj_http_resp_clear(kj_http_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

kj_err kj_net_http(kj_net *n, const kj_http_req *req, kj_http_resp *resp, char *msg, size_t msglen)
{
    http_call *h = kj_calloc(1, sizeof *h);
    h->req = req;
    h->resp.retry_after_s = -1;
    int64_t deadline = kj_mono_ms() + (req->timeout_ms > 0 ? req->timeout_ms : 30000);
    if (!start_conn(n, req->path, req->method, HTTP_PROTOCOL, &h->c) && !h->c.closed)
        set_reason(&h->c, NULL, 0, "cannot connect");
    while (!h->done && !h->c.closed && kj_mono_ms() < deadline)
        kj_net_service(n, (int)(deadline - kj_mono_ms()));
    if (h->done && h->resp.status) {
        *resp = h->resp;
        if (!resp->body) resp->body = kj_calloc(1, 1);
        h->resp.body = NULL;
        if (h->c.wsi) {
            /* lws may keep the connection warm: close it, the callback frees h */
            h->c.orphan = true;
            h->req = NULL;
            lws_set_timeout(h->c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return KJ_OK;
        }
        free(h);
        return KJ_OK;
    }
    kj_msgf(msg, msglen, "%s", h->c.reason[0] ? h->c.reason : "timed out waiting for the answer");
    free(h->resp.body);
    h->resp.body = NULL;
    if (h->c.wsi) {
        h->c.orphan = true;
        h->req = NULL;
        lws_set_timeout(h->c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else {
        free(h);
    }
    return KJ_ERR_IO;
}

/* ---- WebSocket ----------------------------------------------------------------- */

kj_err kj_wsc_open(kj_net *n, const char *protocol, kj_wsc **out, char *msg, size_t msglen)
{
    kj_wsc *ws = kj_calloc(1, sizeof *ws);
    ws->net = n;
    ws->state = KJ_WSC_CONNECTING;
    if (!start_conn(n, "/", NULL, protocol, &ws->c) && !ws->c.closed) {
        set_reason(&ws->c, NULL, 0, "cannot connect");
        ws->state = KJ_WSC_CLOSED;
        ws->c.closed = true;
    }
    (void)msg, (void)msglen;
    *out = ws;
    return KJ_OK;
}

void kj_wsc_free(kj_wsc *ws)
{
    if (!ws) return;
    if (ws->c.wsi) {
        ws->c.orphan = true;
        lws_set_timeout(ws->c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    ws_destroy(ws);
}

kj_wsc_state kj_wsc_state_of(const kj_wsc *ws)
{
    return ws->state;
}
const char *kj_wsc_reason(const kj_wsc *ws)
{
    return ws->c.reason;
}
int kj_wsc_http_status(const kj_wsc *ws)
{
    return ws->c.http_status;
}
int kj_wsc_close_code(const kj_wsc *ws)
{
    return ws->close_code;
}

void kj_wsc_send(kj_wsc *ws, uint8_t *data, size_t len, bool copy)
{
    message *m = kj_calloc(1, sizeof *m);
    if (copy) {
        m->buf = kj_malloc(LWS_PRE + len);
        memcpy(m->buf + LWS_PRE, data, len);
        m->data = m->buf + LWS_PRE;
        m->owned = true;
    } else {
        m->data = data;
    }
    m->len = len;
    if (ws->out_tail)
        ws->out_tail->next = m;
    else
        ws->out_head = m;
    ws->out_tail = m;
    if (ws->state == KJ_WSC_OPEN && ws->c.wsi) lws_callback_on_writable(ws->c.wsi);
}

uint8_t *kj_wsc_recv(kj_wsc *ws, size_t *len)
{
    message *m = ws->in_head;
    if (!m) return NULL;
    ws->in_head = m->next;
    if (!ws->in_head) ws->in_tail = NULL;
    uint8_t *data = m->buf;
    *len = m->len;
    free(m);
    return data;
}

bool kj_wsc_was_open(const kj_wsc *ws)
{
    return ws->was_open;
}
