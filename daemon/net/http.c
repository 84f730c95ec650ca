/* kinerjad — HTTP: routing, the POST /api/v1/events flow, and answers.
 *
 * A POST's body is collected (bounded by max_body), decoded and validated on
 * the service thread, then handed to the writer as one job; the answer goes
 * out only when the writer says the job's transaction committed. A session
 * whose job finds the ingest queue full is parked (its body is already read,
 * so nothing more is buffered) and retried when jobs complete. */
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "api.h"
#include "config/access.h"
#include "conns.h"
#include "ingest/cluster.h"
#include "log.h"
#include "prom.h"
#include "session.h"
#include "ws.h"

#define REPEATS_PER_TURN 8 /* lws repeats a completion at most twice per loop turn */
#define CHUNK 65536        /* bytes of answer written per writeable callback */
#define SMALL_ANSWER 2048  /* bytes of body sent with the headers (HTTP/1) */
/* An over-long body up to this size is read and dropped before the 413, so
 * that the client sees the answer; a longer one gets it at once and a close. */
#define DISCARD_MAX (64ULL << 20)

static void pack_result_msgpack(struct http_sess *hs, const kj_ingest_job *job, size_t rejected)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "accepted", 8);
    msgpack_pack_uint64(&pk, job->accepted);
    msgpack_pack_str_with_body(&pk, "duplicates", 10);
    msgpack_pack_uint64(&pk, job->duplicates);
    msgpack_pack_str_with_body(&pk, "rejected", 8);
    msgpack_pack_array(&pk, rejected);
    for (size_t i = 0; i < job->batch->n; i++) {
        const kj_batch_item *it = &job->batch->items[i];
        if (job->results[i] != KJ_ITEM_REJECTED) continue;
        char msg[KJ_ERROR_MAX];
        kj_http_clean_text(msg, sizeof msg, it->error);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "index", 5);
        msgpack_pack_uint64(&pk, i);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_str_with_body(&pk, it->ev.id, strlen(it->ev.id));
        msgpack_pack_str_with_body(&pk, "error", 5);
        msgpack_pack_str_with_body(&pk, msg, strlen(msg));
    }
    kj_http_answer_msgpack(hs, 200, &sb);
}

static void pack_result_json(struct http_sess *hs, const kj_ingest_job *job)
{
    json_t *rej = json_array();
    for (size_t i = 0; i < job->batch->n; i++) {
        const kj_batch_item *it = &job->batch->items[i];
        if (job->results[i] != KJ_ITEM_REJECTED) continue;
        char msg[KJ_ERROR_MAX];
        kj_http_clean_text(msg, sizeof msg, it->error);
        json_array_append_new(
            rej, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "id", it->ev.id, "error", msg));
    }
    kj_http_answer_json(hs, 200,
                        json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)job->accepted,
                                  "duplicates", (json_int_t)job->duplicates, "rejected", rej));
}

static void answer_job(struct http_sess *hs, const kj_ingest_job *job)
{
    if (job->err == KJ_ERR_FULL) {
        kj_http_error(hs, 507, "store full: nothing of this request was stored");
        return;
    }
    if (job->err == KJ_ERR_UNAVAILABLE || job->err == KJ_ERR_SHUTDOWN) {
        hs->retry_after = 5; /* the cluster lost a publish: sent again, the rest are duplicates */
        kj_http_error(hs, 503, "%s: not every event of this request was stored; send it again",
                      job->err == KJ_ERR_SHUTDOWN ? "shutting down" : "cluster unavailable");
        return;
    }
    if (job->err) {
        kj_http_error(hs, 500, "store error: %s; nothing of this request was stored",
                      kj_strerror(job->err));
        return;
    }
    size_t rejected = job->batch->n - job->accepted - job->duplicates;
    if (hs->msgpack_out)
        pack_result_msgpack(hs, job, rejected);
    else
        pack_result_json(hs, job);
}

static void job_answered(kj_ingest_job *job)
{
    struct http_sess *hs = job->owner.post;
    hs->job = NULL;
    answer_job(hs, job);
}

/* An answer is out: the connection waits for its next request (-1: closes),
 * whose headers are under header_timeout again. */
static int keep_alive(struct lws *wsi)
{
    if (lws_http_transaction_completed(wsi)) return -1;
    kj_conns_phase(wsi, KJ_CONN_HEADERS);
    return 0;
}

/* The status line and headers of the answer into [*p, end). */
static int add_answer_headers(struct http_sess *hs, uint8_t **p, uint8_t *end)
{
    struct lws *wsi = hs->wsi;
    if (lws_add_http_common_headers(wsi, (unsigned)hs->status, hs->ctype, hs->out_len, p, end))
        return -1;
    if (hs->retry_after) {
        char ra[16];
        int n = snprintf(ra, sizeof ra, "%d", hs->retry_after);
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)"retry-after:", (const uint8_t *)ra,
                                        n, p, end))
            return -1;
    }
    if (lws_add_http_header_by_name(
            wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, p, end))
        return -1;
    if (hs->close_after && !hs->h2 &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5, p,
                                     end))
        return -1;
    return lws_finalize_http_header(wsi, p, end);
}

/* The headers, and on HTTP/1 a small body with them in the same send: one
 * system call and no second writeable callback per answer (the answer to a
 * single event is most of the work of posting one). HTTP/1 sends header
 * bytes as they are, so the body may ride along; HTTP/2 frames them apart. */
static int write_headers(struct http_sess *hs)
{
    uint8_t hdr[LWS_PRE + 512 + SMALL_ANSWER], *start = hdr + LWS_PRE, *p = start;
    uint8_t *end = start + 512;
    if (add_answer_headers(hs, &p, end)) return -1;
    bool with_body = !hs->h2 && hs->out_len <= SMALL_ANSWER;
    if (with_body) {
        memcpy(p, hs->out + LWS_PRE, hs->out_len);
        p += hs->out_len;
        hs->out_off = hs->out_len;
    }
    int n = (int)(p - start);
    if (lws_write(hs->wsi, start, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n) return -1;
    hs->headers_sent = true;
    kj_stats_http(&hs->srv->stats, hs->status);
    return 0;
}

static int write_answer(struct http_sess *hs)
{
    struct lws *wsi = hs->wsi;
    if (!hs->headers_sent) {
        if (write_headers(hs)) return -1;
        if (hs->out_off < hs->out_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t n = hs->out_len - hs->out_off;
        if (n > CHUNK) n = CHUNK;
        bool last = hs->out_off + n == hs->out_len;
        /* The bytes before this chunk were sent already: lws may use them as
         * its LWS_PRE headroom. */
        if (lws_write(wsi, hs->out + LWS_PRE + hs->out_off, n,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return -1;
        hs->out_off += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    free(hs->out);
    hs->out = NULL;
    hs->srv->http->answers_pending--;
    hs->answered = false;
    if (hs->close_after) return -1;
    return keep_alive(wsi);
}

/* --- requests --- */

static void unpark(kj_server *s, struct http_sess *hs)
{
    for (struct http_sess **pp = &s->http->parked; *pp; pp = &(*pp)->next_parked)
        if (*pp == hs) {
            *pp = hs->next_parked;
            break;
        }
    hs->parked = false;
}

static void end_receiving(struct http_sess *hs);

static void sess_reset(struct http_sess *hs)
{
    kj_server *s = hs->srv;
    if (hs->parked) {
        unpark(s, hs);
        kj_ingest_job_free(hs->job); /* never reached the writer */
    } else if (hs->job) {
        hs->job->answer = NULL; /* the writer has it; drop the answer when it comes */
    }
    hs->job = NULL;
    kj_api_reset(hs);
    end_receiving(hs);
    free(hs->body);
    if (hs->out) s->http->answers_pending--;
    free(hs->out);
    memset(hs, 0, sizeof *hs);
    hs->srv = s;
}

/* Whether the media type of a Content-Type value is type (case aside): its
 * parameters may follow (";charset=utf-8"), nothing else may ("text/json",
 * "application/json-patch+json", "application/jsonx" are other types). */
static bool media_type_is(const char *value, const char *type)
{
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(type);
    if (strncasecmp(value, type, n) != 0) return false;
    value += n;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value == 0 || *value == ';';
}

static bool content_type_is(struct lws *wsi, const char *type)
{
    char buf[256];
    return lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
           media_type_is(buf, type);
}

/* Request framing that lws 4.1 would get wrong: it frames a body by
 * Content-Length alone and does not decode chunked request bodies. With both
 * headers a proxy in front may frame the body otherwise (request smuggling):
 * 400. Chunked alone: 411, send Content-Length. Either way the connection
 * closes after the answer, as the body's end is unknown. -1 when refused. */
static int refuse_framing(struct http_sess *hs)
{
    struct lws *wsi = hs->wsi;
    if (hs->h2 || lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0) return 0;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        kj_http_error(hs, 400, "both Content-Length and Transfer-Encoding: send one of them");
    else
        kj_http_error(hs, 411, "Transfer-Encoding is not accepted: send Content-Length");
    hs->close_after = true;
    return -1;
}

static void start_post_events(struct http_sess *hs)
{
    struct lws *wsi = hs->wsi;
    const kj_config *cfg = hs->srv->cfg;
    hs->msgpack_in = content_type_is(wsi, "application/msgpack") ||
                     content_type_is(wsi, "application/x-msgpack");
    hs->msgpack_out =
        hs->msgpack_in || kj_http_header_has(wsi, WSI_TOKEN_HTTP_ACCEPT, "application/msgpack");
    if (hs->srv->stopping) {
        hs->retry_after = 5;
        kj_http_error(hs, 503, "shutting down: try again shortly");
        return;
    }
    if (kj_http_authorize(hs, true)) return;
    if (!hs->msgpack_in && !content_type_is(wsi, "application/json")) {
        kj_http_error(hs, 415, "Content-Type must be application/json or application/msgpack");
        return;
    }
    char cl[32];
    unsigned long long length = 0;
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char *end;
        length = strtoull(cl, &end, 10);
        if (*end || end == cl || cl[0] < '0' || cl[0] > '9') {
            kj_http_error(hs, 400, "Content-Length is not a number");
            hs->close_after = true;
            return;
        }
    }
    if (length > cfg->max_body && length > DISCARD_MAX) {
        kj_http_error(hs, 413, "body of %llu bytes is over max_body (%zu bytes)", length,
                      cfg->max_body);
        return; /* the body is not read: the connection closes after the answer */
    }
    if (length == 0) {
        kj_http_error(hs, 400, "empty body: send one event or an array of events");
        return;
    }
    hs->route = ROUTE_POST_EVENTS;
    hs->receiving = true;
    hs->srv->http->bodies_in_progress++;
    kj_conns_phase(wsi, KJ_CONN_BODY); /* under body_timeout until it is whole */
    kj_debug("POST /api/v1/events: receiving %llu bytes", length);
    if (length > cfg->max_body) {
        /* Read and drop it, then answer: a client that is still sending when
         * we answer and close would see a reset instead of the 413. */
        hs->body_too_big = length;
        return;
    }
    hs->body_cap = length;
    hs->body = malloc(hs->body_cap);
    /* Answered when the body is whole, as for an over-long one: a client still
     * sending when we answer and close would see a reset instead of the 503. */
    hs->body_no_memory = !hs->body;
}

static int on_body(struct http_sess *hs, const void *in, size_t len)
{
    if (hs->answered || hs->route != ROUTE_POST_EVENTS || hs->body_too_big || hs->body_no_memory)
        return 0;
    if (hs->body_len + len > hs->body_cap) {
        kj_http_error(hs, 413, "body longer than its Content-Length or over max_body");
        hs->close_after = true;
        return 0;
    }
    memcpy(hs->body + hs->body_len, in, len);
    hs->body_len += len;
    return 0;
}

/* Token scope and strict directory; -1 when an answer (403) was set. */
static int check_scope(struct http_sess *hs, kj_batch *b)
{
    char msg[256];
    if (kj_access_check_batch(hs->srv->cfg, hs->token, b, msg, sizeof msg)) return 0;
    kj_http_error(hs, 403, "%s", msg);
    return -1;
}

static void submit(struct http_sess *hs)
{
    kj_err err = kj_server_submit(hs->srv, hs->job);
    if (err == KJ_ERR_BUSY) {
        if (!hs->parked) {
            hs->parked = true;
            hs->next_parked = hs->srv->http->parked;
            hs->srv->http->parked = hs;
        }
        return;
    }
    if (hs->parked) unpark(hs->srv, hs);
    if (err) {
        kj_ingest_job_free(hs->job);
        hs->job = NULL;
        hs->retry_after = 5;
        kj_http_error(hs, 503, "%s: try again shortly",
                      err == KJ_ERR_UNAVAILABLE ? "the cluster's NATS is unreachable"
                                                : "shutting down");
    }
}

static void end_receiving(struct http_sess *hs)
{
    if (hs->receiving) {
        hs->srv->http->bodies_in_progress--;
        kj_conns_phase(hs->wsi, KJ_CONN_BUSY);
    }
    hs->receiving = false;
}

/* Pipelining (HTTP/1.1) is refused after a body: the answer to the request
 * carries "Connection: close" and the connection ends with it, so a client
 * sends what follows again on a new connection (RFC 9112 §9.3.2). lws 4.1
 * cannot serve it in order: the bytes after a body stay in its buffer list
 * and are handed back each loop turn as one more HTTP_BODY_COMPLETION,
 * consuming nothing, until the transaction ends; and a request with a body
 * whose headers come out of that buffer gets its own headers again as its
 * body, then the same repeated completion in a loop that never returns. So
 * the first completion counts, a repeated one marks the connection for
 * closing, and many in one loop turn close it at once (the answers before it
 * were sent; the client retries the rest).
 *
 * While the answer is not yet set (the writer is committing the body's
 * events), bytes after the body would keep lws from ever waiting in its loop:
 * every turn hands the completion back, a third of a core for as long as the
 * commit takes (measured with syncs delayed by 1 s). So reading is paused from
 * the body's completion until its answer is set (pause_reading): lws then
 * keeps what follows in its buffer list without serving it. Paused later, at
 * the first repeat, it would be worse: lws 4.1 asks for a writeable callback
 * for the buffered bytes (__lws_rx_flow_control) but skips POLLOUT while
 * reading is paused (rops_handle_POLLIN_h1), so epoll reports the socket
 * writable on every turn. */
/* A repeated completion: mark the connection for closing; close it now when
 * lws repeats it within one loop turn, which is the loop that never returns. */
static int body_complete_again(struct http_sess *hs)
{
    uint64_t turn = hs->srv->loop_turns;
    if (hs->repeat_turn != turn) {
        hs->repeat_turn = turn;
        hs->repeats = 0;
    }
    if (++hs->repeats > REPEATS_PER_TURN) {
        kj_info("http: a pipelined request with a body after another request: closing the "
                "connection");
        return -1;
    }
    if (!hs->close_after)
        kj_debug("http: bytes after a body (pipelining): closing after the answer");
    hs->close_after = !hs->h2;
    return 0;
}

/* A request whose size (its body, its number of events) needs more memory
 * than there is: 503 for this one request, which the client sends again. */
static void refuse_no_memory(struct http_sess *hs, const char *what)
{
    kj_warn("http: no memory %s (a body of %zu bytes): 503", what, hs->body_cap);
    hs->retry_after = 5;
    kj_http_error(hs, 503,
                  "out of memory %s: nothing of this request was stored; try again shortly", what);
}

/* Until the answer is set (set_out): see "Pipelining" above. HTTP/2 streams
 * are not paused by lws 4.1 and need not be. */
static void pause_reading(struct http_sess *hs)
{
    if (hs->h2 || hs->rx_paused) return;
    lws_rx_flow_control(hs->wsi, 0);
    hs->rx_paused = true;
}

static int on_body_complete(struct http_sess *hs)
{
    if (hs->body_done) return body_complete_again(hs);
    hs->body_done = true;
    end_receiving(hs);
    if (hs->answered || hs->route != ROUTE_POST_EVENTS) return 0;
    const kj_config *cfg = hs->srv->cfg;
    if (hs->body_too_big) {
        kj_http_error(hs, 413, "body of %llu bytes is over max_body (%zu bytes)", hs->body_too_big,
                      cfg->max_body);
        return 0;
    }
    if (hs->body_no_memory) {
        refuse_no_memory(hs, "for its body");
        return 0;
    }
    kj_validate_opts vo = kj_validate_defaults();
    vo.max_age_ms = cfg->max_event_age_ms;
    vo.max_skew_ms = cfg->max_clock_skew_ms;
    vo.max_events = cfg->max_batch;
    kj_batch *b = NULL;
    char msg[256];
    kj_err err = hs->msgpack_in
                     ? kj_msgpack_decode_batch(hs->body, hs->body_len, &vo, &b, msg, sizeof msg)
                     : kj_json_decode_batch(hs->body, hs->body_len, &vo, &b, msg, sizeof msg);
    free(hs->body);
    hs->body = NULL;
    if (err == KJ_ERR_NOMEM) {
        refuse_no_memory(hs, "for its events");
        return 0;
    }
    if (err) {
        kj_http_error(hs, err == KJ_ERR_TOO_BIG ? 413 : 400, "%s", msg);
        return 0;
    }
    if (check_scope(hs, b)) {
        kj_batch_free(b);
        return 0;
    }
    hs->job = kj_ingest_job_new(b);
    hs->job->owner.post = hs;
    hs->job->answer = job_answered;
    pause_reading(hs);
    submit(hs);
    return 0;
}

/* Submits sessions parked on a full ingest queue, in order. */
static void retry_parked(kj_server *s)
{
    struct http_sess *hs = s->http->parked;
    while (hs) {
        struct http_sess *next = hs->next_parked;
        submit(hs);
        if (hs->parked) break; /* still full: the rest waits too */
        hs = next;
    }
}

/* On stop: 503 to every parked session. */
static void fail_parked(kj_server *s)
{
    while (s->http->parked) {
        struct http_sess *hs = s->http->parked;
        unpark(s, hs);
        kj_ingest_job_free(hs->job);
        hs->job = NULL;
        hs->retry_after = 5;
        kj_http_error(hs, 503, "shutting down: try again shortly");
    }
}

static void serve_metrics(struct http_sess *hs)
{
    if (hs->token && hs->token->role != KJ_ROLE_ADMIN) {
        kj_http_error(hs, 403, "token %s may not read /metrics (role admin needed)",
                      hs->token->name);
        return;
    }
    char *text;
    size_t len;
    if (kj_prom_render(hs->srv, &text, &len)) {
        kj_http_error(hs, 500, "out of memory");
        return;
    }
    kj_http_set_answer(hs, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* GET or POST (LWSHUMETH_*), for HTTP/1 and for HTTP/2, where the method is
 * the :method pseudo-header; -1 for anything else. */
static int request_method(struct http_sess *hs)
{
    char *uri, method[16];
    int len, m = lws_http_get_uri_and_method(hs->wsi, &uri, &len);
    if (m != LWSHUMETH_COLON_PATH) return m;
    hs->h2 = true;
    if (lws_hdr_copy(hs->wsi, method, sizeof method, WSI_TOKEN_HTTP_COLON_METHOD) <= 0) return -1;
    if (!strcmp(method, "GET")) return LWSHUMETH_GET;
    if (!strcmp(method, "POST")) return LWSHUMETH_POST;
    return -1;
}

static int on_request(struct http_sess *hs, const char *uri)
{
    struct lws *wsi = hs->wsi;
    int method = request_method(hs);
    bool post = method == LWSHUMETH_POST, get = method == LWSHUMETH_GET;
    if (kj_http_head_too_big(wsi)) {
        kj_http_error(hs, 431, "request headers and query over %d bytes", KJ_HTTP_HEAD_MAX);
        hs->close_after = !hs->h2;
        return 0;
    }
    if (refuse_framing(hs)) return 0;
    if (post && strcmp(uri, "/api/v1/events") == 0) {
        start_post_events(hs);
        /* Answered before its body was read: an HTTP/1 connection cannot go on
         * (an HTTP/2 stream just ends). */
        if (hs->answered && !hs->h2) hs->close_after = true;
        return 0;
    }
    if (!get) {
        kj_http_error(hs, post ? 404 : 405,
                      post ? "no such endpoint: %s" : "method not allowed on %s", uri);
        hs->close_after = !hs->h2; /* a body we do not read may follow */
        return 0;
    }
    if (strcmp(uri, "/healthz") == 0) {
        if (kj_ingest_store_full(hs->srv->ingest))
            kj_http_answer_text(hs, 503, "store full\n");
        else if (hs->srv->stopping)
            kj_http_answer_text(hs, 503, "shutting down\n");
        else {
            char text[200] = "ok\n";
            if (hs->srv->cluster) kj_cluster_health(hs->srv->cluster, text, sizeof text);
            kj_http_answer_text(hs, 200, text);
        }
        return 0;
    }
    if (strcmp(uri, "/metrics") == 0) {
        if (kj_http_authorize(hs, false) == 0) serve_metrics(hs);
        return 0;
    }
    if (strncmp(uri, "/api/", 5) == 0) {
        hs->msgpack_out = kj_http_header_has(wsi, WSI_TOKEN_HTTP_ACCEPT, "application/msgpack");
        return kj_api_request(hs, uri);
    }
    return kj_files_serve(hs->srv, wsi, uri);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct http_sess *hs = user;
    kj_server *s = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        hs->srv = s;
        sess_reset(hs);
        hs->wsi = wsi;
        kj_conns_phase(wsi, KJ_CONN_BUSY); /* a whole request: ours to answer (or its body) */
        return on_request(hs, in);
    case LWS_CALLBACK_HTTP_BODY: return on_body(hs, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: return on_body_complete(hs);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (hs && hs->export && !hs->out) return kj_api_export_write(hs);
        if (!hs || !hs->out) return 0;
        return write_answer(hs);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* An upgrade that chose no subprotocol of ours lands here: refuse. */
        return kj_ws_refuse(wsi, 400, "offer a subprotocol: kinerja-ingest.v1 or kinerja-live.v1")
                   ? 1
                   : 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: return keep_alive(wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (hs && hs->srv) sess_reset(hs);
        return 0;
    default: break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void start(kj_server *s)
{
    s->http = kj_calloc(1, sizeof *s->http);
}

static bool busy(const kj_server *s)
{
    return s->http->answers_pending || s->http->bodies_in_progress;
}

static void free_state(kj_server *s)
{
    free(s->http);
    s->http = NULL;
}

const kj_net_proto kj_http_proto = {
    .name = "http",
    .callback = callback,
    .sess_size = sizeof(struct http_sess),
    .start = start,
    .on_wake = retry_parked,
    .on_stop = fail_parked,
    .busy = busy,
    .free = free_state,
};
