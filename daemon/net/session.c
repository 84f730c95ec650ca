/* kinerjad — the HTTP session's answers, arguments and authorization (session.h). */
#include "session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "config/access.h"
#include "log.h"

/* --- answers --- */

/* Ends pause_reading (http.c, "Pipelining"), before the answer: lws 4.1
 * skips the writeable callbacks of a connection whose reading is paused. It
 * does not say whether it holds bytes that followed the body, but its loop
 * does: the timeout lws asks for is 0 while a connection with buffered input
 * can be served. So it is read before and after: turned 0 by this one, bytes
 * follow and the answer carries "Connection: close"; 0 already (another
 * connection), they may, and closing after an answer is always allowed. */
static void resume_reading(struct http_sess *hs)
{
    struct lws_context *ctx = lws_get_context(hs->wsi);
    int before = lws_service_adjust_timeout(ctx, 1, 0);
    hs->rx_paused = false;
    lws_rx_flow_control(hs->wsi, 1);
    if (!before || !lws_service_adjust_timeout(ctx, 1, 0)) hs->close_after = !hs->h2;
}

static void set_out(struct http_sess *hs, int status, const char *ctype, uint8_t *out,
                    const void *body, size_t len)
{
    if (!hs->out) hs->srv->http->answers_pending++;
    free(hs->out);
    hs->out = out;
    memcpy(hs->out + LWS_PRE, body, len);
    hs->out_len = len;
    hs->out_off = 0;
    hs->status = status;
    hs->ctype = ctype;
    hs->headers_sent = false;
    hs->answered = true;
    if (hs->rx_paused) resume_reading(hs);
    lws_callback_on_writable(hs->wsi);
}

/* An answer's size follows the request (a rejection per event, a series):
 * without the memory for it, this one request gets a 503 and its connection
 * closes, rather than the daemon aborting. */
static void answer_out_of_memory(struct http_sess *hs, size_t len)
{
    static const char text[] = "out of memory: try again shortly\n";
    kj_warn("http: no memory for an answer of %zu bytes: 503", len);
    hs->close_after = !hs->h2;
    set_out(hs, 503, "text/plain; charset=utf-8", kj_malloc(LWS_PRE + sizeof text - 1), text,
            sizeof text - 1);
}

void kj_http_set_answer(struct http_sess *hs, int status, const char *ctype, const void *body,
                        size_t len)
{
    uint8_t *out = malloc(LWS_PRE + len);
    if (out)
        set_out(hs, status, ctype, out, body, len);
    else
        answer_out_of_memory(hs, len);
}

/* Copies s with bytes that would break a one-line UTF-8 answer replaced by '?'. */
void kj_http_clean_text(char *dst, size_t cap, const char *s)
{
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = 0;
    bool utf8 = kj_utf8_valid(dst, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20 || (!utf8 && (unsigned char)dst[i] >= 0x80)) dst[i] = '?';
}

void kj_http_answer_json(struct http_sess *hs, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    char *line = malloc(len + 2);
    if (!line) {
        answer_out_of_memory(hs, len);
        free(text);
        json_decref(doc);
        return;
    }
    memcpy(line, text ? text : "", len);
    line[len++] = '\n';
    kj_http_set_answer(hs, status, "application/json", line, len);
    free(line);
    free(text);
    json_decref(doc);
}

void kj_http_answer_msgpack(struct http_sess *hs, int status, msgpack_sbuffer *sb)
{
    kj_http_set_answer(hs, status, "application/msgpack", sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
}

/* An error answer: {"error": "..."} in the client's encoding. */
void kj_http_error(struct http_sess *hs, int status, const char *fmt, ...)
{
    char raw[512], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    kj_http_clean_text(msg, sizeof msg, raw);
    kj_debug("http %d: %s", status, msg);
    if (hs->msgpack_out) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str_with_body(&pk, "error", 5);
        msgpack_pack_str_with_body(&pk, msg, strlen(msg));
        kj_http_answer_msgpack(hs, status, &sb);
    } else {
        kj_http_answer_json(hs, status, json_pack("{s:s}", "error", msg));
    }
}

void kj_http_answer_text(struct http_sess *hs, int status, const char *text)
{
    kj_http_set_answer(hs, status, "text/plain; charset=utf-8", text, strlen(text));
}

bool kj_http_header_has(struct lws *wsi, enum lws_token_indexes tok, const char *needle)
{
    char buf[256];
    if (lws_hdr_copy(wsi, buf, sizeof buf, tok) <= 0) return false;
    return strcasestr(buf, needle) != NULL;
}

/* The bytes of the request's head that lws kept: the path with its query and
 * every header it knows. */
static size_t head_size(struct lws *wsi)
{
    size_t n = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (len > 0) n += (size_t)len;
    }
    return n;
}

int kj_http_head_too_big(struct lws *wsi)
{
    return head_size(wsi) > KJ_HTTP_HEAD_MAX;
}

/* The token presented as "Authorization: Bearer T", or NULL. */
static const kj_token *bearer_token(kj_server *s, struct lws *wsi, bool *present)
{
    char buf[512];
    int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
    *present = n > 0;
    return n > 0 ? kj_access_bearer(s->cfg, buf, (size_t)n) : NULL;
}

/* Checks auth for an action: 0 when allowed, else an answer was set. */
int kj_http_authorize(struct http_sess *hs, bool ingest)
{
    if (!hs->srv->cfg->auth) return 0;
    bool present;
    hs->token = bearer_token(hs->srv, hs->wsi, &present);
    if (!hs->token) {
        kj_http_error(hs, 401,
                      present ? "unknown token"
                              : "missing token: send Authorization: Bearer <token>");
        return -1;
    }
    if (ingest && hs->token->role == KJ_ROLE_VIEWER) {
        kj_http_error(hs, 403, "token %s may not post events (role viewer)", hs->token->name);
        return -1;
    }
    return 0;
}

/* --- parameters --- */

bool kj_http_arg(struct http_sess *hs, const char *name, char *buf, int len)
{
    /* lws 4.1 copies each "name=value" into the buffer in turn and stops at
     * the first that does not fit: use a buffer large enough for any. */
    char key[32], frag[1024];
    snprintf(key, sizeof key, "%s=", name);
    const char *v = lws_get_urlarg_by_name(hs->wsi, key, frag, sizeof frag);
    if (!v || strlen(v) >= (size_t)len) return false;
    memcpy(buf, v, strlen(v) + 1);
    return true;
}

/* An optional integer argument; false (with an answer set) when malformed. */
bool kj_http_arg_int(struct http_sess *hs, const char *name, int64_t *out)
{
    char buf[32], *end;
    if (!kj_http_arg(hs, name, buf, sizeof buf)) return true;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end) {
        kj_http_error(hs, 400, "%s: must be an integer (ms since the epoch)", name);
        return false;
    }
    *out = v;
    return true;
}

/* Reads ?unit= and checks that the token may see it; false with an answer set. */
bool kj_http_arg_unit(struct http_sess *hs, char *unit)
{
    if (!kj_http_arg(hs, "unit", unit, KJ_ID_MAX + 1) || !kj_id_valid(unit, strlen(unit))) {
        kj_http_error(hs, 400, "unit: required, an identifier");
        return false;
    }
    if (hs->token && !kj_token_allows_unit(hs->token, unit)) {
        kj_http_error(hs, 403, "token %s may not see unit %s", hs->token->name, unit);
        return false;
    }
    return true;
}

void kj_http_answer_frame(struct http_sess *hs, const kj_frame *f)
{
    if (hs->msgpack_out) {
        kj_http_set_answer(hs, 200, "application/msgpack", f->data, f->len);
        return;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    json_t *doc = NULL;
    if (msgpack_unpack_next(&u, (const char *)f->data, f->len, NULL) == MSGPACK_UNPACK_SUCCESS)
        doc = kj_json_from_msgpack(&u.data);
    msgpack_unpacked_destroy(&u);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        kj_http_error(hs, 500, "cannot encode the answer as JSON");
        return;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* the NUL's byte becomes the line's end */
    kj_http_set_answer(hs, 200, "application/json", text, n + 1);
    free(text);
}
