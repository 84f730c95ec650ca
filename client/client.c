/* kinerja — posting events with acks, back-off and the spool (kinerja.h).
 *
 * A post moves frames through two queues and a window:
 *
 *   spool files --load--> spool_q --\
 *                                    >--send--> inflight (<= window) --ack--> done
 *   submit --fill--> post_q --------/
 *
 * The spool queue always goes first, so spooled events reach the daemon before
 * anything newer. A lost connection puts the inflight frames back at the front
 * of their queues (they are sent again: at least once) and costs one attempt;
 * after opts.attempts attempts without an answer the post goes offline: the
 * post's frames are appended to the spool, the spool's frames are dropped from
 * memory (their files are still there), and the back-off delay carries over to
 * the next post so that a daemon that is down is not hammered.
 *
 * A spool file is removed when the frame that completes it is acknowledged, so
 * a process killed at any point leaves every unacknowledged event on disk. */
#include <inttypes.h>
#include <jansson.h>
#include <msgpack.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "codec.h"
#include "kinerja.h"
#include "lib_shared.h"
#include "net.h"
#include "packet.h"
#include "spool.h"

#define DEFAULT_SPOOL_MAX (256ull * 1024 * 1024)
#define DEFAULT_BATCH_BYTES (1024 * 1024)
#define MIN_BATCH_BYTES 4096
#define ENVELOPE_MAX 40 /* {"op":"events","seq":N,"events":[ at its longest */

struct kj_client {
    kj_client_opts o; /* strings below are our copies */
    char *url, *token, *spool_dir, *ca_file;
    char errmsg[512];
    kj_net *net;
    kj_spool *spool;
    size_t batch_bytes; /* may shrink when the daemon answers 413 */

    /* the connection */
    bool http_only; /* the server refused the upgrade: HTTP for good */
    bool http_post; /* a WebSocket protocol error: HTTP for this post */
    kj_wsc *ws;
    uint64_t next_seq;
    int64_t last_activity; /* mono ms of the last send or answer */

    /* back-off, kept across posts */
    unsigned failures;
    int64_t retry_at;

    /* the post */
    bool in_post, offline;
    kj_err fatal;
    kj_post_result res;
    uint64_t next_index;
    kj_packet *filling;
    kj_packet_queue spool_q, post_q, inflight;
    uint64_t *spool_files;
    size_t spool_n, spool_loaded;
    size_t spool_inflight; /* spool frames in spool_q + inflight */
};

/* ---- small things ---------------------------------------------------------------- */

static void warn(kj_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A spool trouble that does not stop the post: told to on_warning, and not
 * kept in errmsg, which holds the reason of the post's outcome. */
static void warn(kj_client *c, const char *fmt, ...)
{
    char line[sizeof c->errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (c->o.on_warning) c->o.on_warning(c->o.ud, KJ_WARN_SPOOL, line);
}

static kj_err fail(kj_client *c, kj_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kj_err fail(kj_client *c, kj_err err, const char *fmt, ...)
{
    char line[sizeof c->errmsg]; /* the arguments may point into errmsg */
    va_list ap;
    if (c->fatal) return c->fatal; /* the first failure is the one to tell */
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    memcpy(c->errmsg, line, sizeof line);
    c->fatal = err;
    return err;
}

static size_t max_events(const kj_client *c)
{
    return c->o.max_batch_events;
}
static size_t max_bytes(const kj_client *c)
{
    return c->batch_bytes - ENVELOPE_MAX;
}

/* Equal jitter: half the delay fixed, half random, so that many counters
 * restarted together do not come back in step. */
int64_t kj_client_backoff_ms(const kj_client *c, unsigned failures)
{
    uint64_t d = c->o.backoff_base_ms;
    for (unsigned i = 1; i < failures && d < c->o.backoff_max_ms; i++)
        d *= 2;
    if (d > c->o.backoff_max_ms) d = c->o.backoff_max_ms;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)kj_mono_ms() * 2654435761u;
    return (int64_t)(d / 2 + (d / 2 ? r % (d / 2 + 1) : 0));
}

/* ---- creation --------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? kj_strdup(s) : NULL;
}

kj_err kj_client_new(const kj_client_opts *opts, kj_client **out, char *msg, size_t msglen)
{
    kj_client *c = kj_calloc(1, sizeof *c);
    kj_err err;
    c->o = *opts;
    c->url = kj_strdup(opts->url && opts->url[0] ? opts->url : KJ_DEFAULT_URL);
    c->token = dup_or_null(opts->token);
    c->spool_dir = dup_or_null(opts->spool_dir);
    c->ca_file = dup_or_null(opts->ca_file);
    c->o.url = c->url, c->o.token = c->token, c->o.spool_dir = c->spool_dir;
    c->o.ca_file = c->ca_file;
    if (!c->o.spool_max_bytes) c->o.spool_max_bytes = DEFAULT_SPOOL_MAX;
    if (!c->o.max_batch_events || c->o.max_batch_events > KJ_BATCH_MAX)
        c->o.max_batch_events = KJ_BATCH_MAX;
    if (!c->o.max_batch_bytes) c->o.max_batch_bytes = DEFAULT_BATCH_BYTES;
    if (c->o.max_batch_bytes < MIN_BATCH_BYTES) c->o.max_batch_bytes = MIN_BATCH_BYTES;
    if (c->o.max_batch_bytes > UINT32_MAX / 2) c->o.max_batch_bytes = UINT32_MAX / 2;
    if (!c->o.window) c->o.window = 8;
    if (!c->o.attempts) c->o.attempts = 5;
    if (!c->o.backoff_base_ms) c->o.backoff_base_ms = 100;
    if (!c->o.backoff_max_ms) c->o.backoff_max_ms = 30000;
    if (c->o.backoff_max_ms < c->o.backoff_base_ms) c->o.backoff_max_ms = c->o.backoff_base_ms;
    if (!c->o.timeout_ms) c->o.timeout_ms = 30000;
    c->batch_bytes = c->o.max_batch_bytes;
    c->http_only = c->o.transport == KJ_TRANSPORT_HTTP;
    c->next_seq = 1;

    kj_net_opts no = {
        .url = c->url, .token = c->token, .ca_file = c->ca_file, .insecure = c->o.tls_insecure};
    if ((err = kj_net_new(&no, &c->net, msg, msglen))) goto fail;
    if (c->spool_dir) {
        kj_spool_limits lim = {.max_bytes = c->o.spool_max_bytes,
                               .file_events = max_events(c),
                               .file_bytes = max_bytes(c)};
        if ((err = kj_spool_open(c->spool_dir, &lim, &c->spool, msg, msglen))) goto fail;
    }
    *out = c;
    return KJ_OK;
fail:
    kj_client_free(c);
    return err;
}

static void end_post(kj_client *c);

void kj_client_free(kj_client *c)
{
    if (!c) return;
    end_post(c);
    kj_wsc_free(c->ws);
    kj_net_free(c->net); /* after the ws: its close callback may still run here */
    kj_spool_free(c->spool);
    free(c->url);
    free(c->token);
    free(c->spool_dir);
    free(c->ca_file);
    free(c);
}

const char *kj_client_errmsg(const kj_client *c)
{
    return c->errmsg;
}

kj_net *kj_client_net(kj_client *c)
{
    return c->net;
}

int64_t kj_client_timeout_ms(const kj_client *c)
{
    return (int64_t)c->o.timeout_ms;
}

int64_t kj_client_backoff_base_ms(const kj_client *c)
{
    return (int64_t)c->o.backoff_base_ms;
}

void kj_client_set_errmsg(kj_client *c, const char *fmt, ...)
{
    char line[sizeof c->errmsg]; /* the arguments may point into errmsg */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    memcpy(c->errmsg, line, sizeof line);
}

/* ---- the spool side of a post ----------------------------------------------------- */

static void release_spool(kj_client *c)
{
    free(c->spool_files);
    c->spool_files = NULL;
    c->spool_n = c->spool_loaded = 0;
    kj_spool_unlock(c->spool);
}

/* Start delivering the spool: lock it (another process may be flushing it;
 * we wait for it) and list its files. */
static kj_err open_spool(kj_client *c)
{
    char msg[256];
    kj_err err;
    if (!c->spool) return KJ_OK;
    if ((err = kj_spool_lock(c->spool, msg, sizeof msg))) return fail(c, err, "%s", msg);
    if ((err = kj_spool_list(c->spool, &c->spool_files, &c->spool_n, NULL, msg, sizeof msg))) {
        kj_spool_unlock(c->spool);
        return fail(c, err, "%s", msg);
    }
    if (!c->spool_n) release_spool(c);
    return KJ_OK;
}

/* Queue f, halved until it fits the current limits (a spool file written
 * with bigger limits, or a daemon that answered 413). */
static void push_fitted(kj_client *c, kj_packet_queue *q, kj_packet *f)
{
    if (f->count > 1 && (f->len > max_bytes(c) || f->count > max_events(c))) {
        kj_packet *rest = kj_packet_split(f, f->count / 2);
        if (rest) {
            push_fitted(c, q, f);
            push_fitted(c, q, rest);
            return;
        }
    }
    if (f->spool_seq) c->spool_inflight++;
    kj_pq_push(q, f);
}

/* Queue the next spool file as frames. */
static void load_spool_file(kj_client *c)
{
    char msg[256];
    kj_spool_file sf;
    uint64_t seq = c->spool_files[c->spool_loaded++];
    kj_err err = kj_spool_read(c->spool, seq, &sf, msg, sizeof msg);
    if (err == KJ_ERR_DECODE) {
        c->res.spool_files_bad++;
        warn(c, "%s", msg);
        return;
    }
    if (err == KJ_ERR_NOT_FOUND) return;
    if (err) {
        fail(c, err, "%s", msg);
        return;
    }
    kj_packet *f = kj_packet_new(sf.len);
    memcpy(kj_packet_events(f), sf.events, sf.len);
    f->len = sf.len;
    f->count = sf.count;
    f->spool_seq = seq;
    kj_spool_file_clear(&sf);
    push_fitted(c, &c->spool_q, f);
}

/* Keep a few spool frames ready ahead of the window. */
static void refill_spool(kj_client *c)
{
    while (!c->fatal && c->spool_q.count < c->o.window && c->spool_loaded < c->spool_n)
        load_spool_file(c);
}

static bool spool_done(const kj_client *c)
{
    return c->spool_loaded >= c->spool_n && c->spool_inflight == 0;
}

/* ---- accounting ------------------------------------------------------------------ */

static void report_reject(kj_client *c, bool spool, uint64_t index, const char *id, size_t id_len,
                          const char *error, size_t error_len)
{
    char idbuf[KJ_ID_MAX + 1], errbuf[KJ_ERROR_MAX + 64];
    snprintf(idbuf, sizeof idbuf, "%.*s", (int)id_len, id ? id : "");
    snprintf(errbuf, sizeof errbuf, "%.*s", (int)error_len, error ? error : "");
    if (spool)
        c->res.spool_rejected++;
    else
        c->res.rejected++;
    if (!c->o.on_reject) return;
    kj_reject r = {.index = index, .from_spool = spool, .id = idbuf, .error = errbuf};
    c->o.on_reject(c->o.ud, &r);
}

/* Event i of frame f was rejected. */
static void frame_reject(kj_client *c, const kj_packet *f, uint64_t i, const char *id,
                         size_t id_len, const char *error, size_t error_len)
{
    uint64_t index = f->spool_seq ? f->first + i : (f->index && i < f->count ? f->index[i] : i);
    report_reject(c, f->spool_seq != 0, index, id, id_len, error, error_len);
}

static uint64_t map_uint(const msgpack_object *m, const char *key)
{
    const msgpack_object *v = kj_msgpack_get(m, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

static bool map_str(const msgpack_object *m, const char *key, const char **s, size_t *len)
{
    const msgpack_object *v = kj_msgpack_get(m, key);
    if (!v || v->type != MSGPACK_OBJECT_STR) return false;
    *s = kj_msgpack_str(v);
    *len = v->via.str.size;
    return true;
}

/* Whether another part of spool file seq is still queued or in flight. */
static bool spool_file_busy(const kj_client *c, uint64_t seq)
{
    for (const kj_packet *f = c->inflight.head; f; f = f->next)
        if (f->spool_seq == seq) return true;
    for (const kj_packet *f = c->spool_q.head; f; f = f->next)
        if (f->spool_seq == seq) return true;
    return false;
}

/* Frame f (out of every queue) is answered: count it, complete its spool
 * file, reset the back-off. The rejects were reported by the caller. */
static void frame_done(kj_client *c, kj_packet *f, uint64_t accepted, uint64_t duplicates)
{
    if (f->spool_seq) {
        char msg[256];
        c->res.spool_accepted += accepted;
        c->res.spool_duplicates += duplicates;
        c->spool_inflight--;
        if (!spool_file_busy(c, f->spool_seq) &&
            kj_spool_remove(c->spool, f->spool_seq, msg, sizeof msg))
            warn(c, "%s", msg);
        if (spool_done(c)) release_spool(c);
    } else {
        c->res.accepted += accepted;
        c->res.duplicates += duplicates;
    }
    c->failures = 0;
    c->retry_at = 0;
    c->last_activity = kj_mono_ms();
    kj_packet_free(f);
    if (c->o.on_progress) c->o.on_progress(c->o.ud, &c->res);
}

/* An answer as a msgpack map {"accepted","duplicates","rejected"}. */
static void answered_msgpack(kj_client *c, kj_packet *f, const msgpack_object *m)
{
    const msgpack_object *rej = kj_msgpack_get(m, "rejected");
    for (uint32_t i = 0; rej && rej->type == MSGPACK_OBJECT_ARRAY && i < rej->via.array.size; i++) {
        const msgpack_object *r = &rej->via.array.ptr[i];
        const char *id = "", *error = "";
        size_t il = 0, el = 0;
        map_str(r, "id", &id, &il);
        map_str(r, "error", &error, &el);
        frame_reject(c, f, map_uint(r, "index"), id, il, error, el);
    }
    frame_done(c, f, map_uint(m, "accepted"), map_uint(m, "duplicates"));
}

/* The same answer in JSON, from a daemon that does not honour Accept. */
static void answered_json(kj_client *c, kj_packet *f, const json_t *j)
{
    const json_t *r;
    size_t i;
    json_array_foreach(json_object_get(j, "rejected"), i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *error = json_string_value(json_object_get(r, "error"));
        json_int_t index = json_integer_value(json_object_get(r, "index"));
        frame_reject(c, f, index > 0 ? (uint64_t)index : 0, id, id ? strlen(id) : 0, error,
                     error ? strlen(error) : 0);
    }
    json_int_t acc = json_integer_value(json_object_get(j, "accepted"));
    json_int_t dup = json_integer_value(json_object_get(j, "duplicates"));
    frame_done(c, f, acc > 0 ? (uint64_t)acc : 0, dup > 0 ? (uint64_t)dup : 0);
}

/* ---- going offline ---------------------------------------------------------------- */

/* Append one of the post's frames to the spool, durably. */
static void spool_frame(kj_client *c, kj_packet *f)
{
    char msg[400];
    kj_err err;
    if (!c->spool)
        fail(c, KJ_ERR_IO, "%s", c->errmsg);
    else if ((err = kj_spool_append(c->spool, kj_packet_events(f), f->len, f->count, msg,
                                    sizeof msg)))
        fail(c, err, "%s", msg);
    else
        c->res.spooled += f->count;
    kj_packet_free(f);
}

/* Everything of the post that is not answered goes to the spool, in order.
 * Spool frames are dropped: their files are still there. */
static void spool_the_rest(kj_client *c)
{
    kj_packet *f;
    kj_pq_clear(&c->spool_q);
    c->spool_inflight = 0;
    free(c->spool_files);
    c->spool_files = NULL;
    c->spool_n = c->spool_loaded = 0;
    while (!c->fatal && (f = kj_pq_pop(&c->post_q)))
        spool_frame(c, f);
    kj_pq_clear(&c->post_q);
    if (c->spool) kj_spool_unlock(c->spool);
}

/* A failed attempt: the frames in flight go back to the front of their
 * queues, in order, to be sent again. counts: whether it is the daemon's
 * absence (an attempt spent) or only a change of transport. */
static void connection_failed(kj_client *c, const char *why, int retry_after_s, bool counts)
{
    kj_packet_queue spool_back = {0}, post_back = {0};
    kj_packet *f;
    while ((f = kj_pq_pop(&c->inflight)))
        kj_pq_push(f->spool_seq ? &spool_back : &post_back, f);
    if (spool_back.head) {
        spool_back.tail->next = c->spool_q.head;
        if (!c->spool_q.tail) c->spool_q.tail = spool_back.tail;
        c->spool_q.head = spool_back.head;
        c->spool_q.count += spool_back.count;
    }
    if (post_back.head) {
        post_back.tail->next = c->post_q.head;
        if (!c->post_q.tail) c->post_q.tail = post_back.tail;
        c->post_q.head = post_back.head;
        c->post_q.count += post_back.count;
    }
    kj_wsc_free(c->ws);
    c->ws = NULL;
    char line[sizeof c->errmsg];
    snprintf(line, sizeof line, "daemon at %s unavailable: %s", kj_net_where(c->net), why);
    memcpy(c->errmsg, line, sizeof line);
    if (!counts) return;
    c->failures++;
    int64_t delay = kj_client_backoff_ms(c, c->failures);
    if (retry_after_s > 0 && retry_after_s * 1000ll > delay) delay = retry_after_s * 1000ll;
    if (delay > (int64_t)c->o.backoff_max_ms) delay = c->o.backoff_max_ms;
    c->retry_at = kj_mono_ms() + delay;
    if (c->failures >= c->o.attempts) {
        c->offline = true;
        spool_the_rest(c);
    } else if (c->o.on_warning) {
        char m[sizeof c->errmsg + 100];
        snprintf(m, sizeof m, "%s; retrying in %" PRId64 " ms", c->errmsg, delay);
        c->o.on_warning(c->o.ud, KJ_WARN_RETRY, m);
    }
}

/* ---- HTTP ------------------------------------------------------------------------- */

/* The one-line reason of an error answer, whichever its encoding: msgpack or
 * JSON {"error": "..."}, or plain text. */
static void answer_reason(const kj_http_resp *r, char *out, size_t len)
{
    msgpack_unpacked u;
    size_t n = 0;
    const char *s = NULL;
    out[0] = '\0';
    msgpack_unpacked_init(&u);
    if (strstr(r->content_type, "msgpack") &&
        kj_msgpack_unpack_body(r->body, r->len, &u, NULL, 0) == KJ_OK &&
        map_str(&u.data, "error", &s, &n))
        snprintf(out, len, "%.*s", (int)n, s);
    msgpack_unpacked_destroy(&u);
    if (out[0]) return;
    json_t *j = json_loadb(r->body, r->len, 0, NULL);
    if (json_is_string(json_object_get(j, "error")))
        snprintf(out, len, "%s", json_string_value(json_object_get(j, "error")));
    json_decref(j);
    if (out[0] || strstr(r->content_type, "msgpack")) return;
    for (size_t i = 0; i < r->len && i + 1 < len && r->body[i] != '\n'; i++) {
        out[i] = (unsigned char)r->body[i] < 0x20 ? ' ' : r->body[i];
        out[i + 1] = '\0';
    }
}

static kj_err status_error(kj_client *c, int status, const char *body)
{
    char line[200];
    snprintf(line, sizeof line, "%s", body ? body : "");
    line[strcspn(line, "\r\n")] = '\0';
    switch (status) {
    case 401: return fail(c, KJ_ERR_AUTH, "401 %s", line[0] ? line : "missing or unknown token");
    case 403: return fail(c, KJ_ERR_FORBIDDEN, "403 %s", line[0] ? line : "not allowed");
    case 413: return fail(c, KJ_ERR_TOO_BIG, "413 %s", line);
    default: return fail(c, KJ_ERR_INVALID, "HTTP %d from the daemon: %s", status, line);
    }
}

/* 413: a daemon with a smaller max_body than ours. Halve the frame and our
 * limit; a single event that is still too big is rejected. */
static void too_big(kj_client *c, kj_packet *f, kj_packet_queue *q, const char *body)
{
    if (f->count < 2) {
        char line[200];
        snprintf(line, sizeof line, "event: over the daemon's size limit (%.120s)",
                 body ? body : "");
        line[strcspn(line, "\r\n")] = '\0';
        frame_reject(c, f, 0, "", 0, line, strlen(line));
        frame_done(c, f, 0, 0);
        return;
    }
    size_t half = f->len / 2 + ENVELOPE_MAX;
    if (half >= MIN_BATCH_BYTES && half < c->batch_bytes) c->batch_bytes = half;
    kj_packet *rest = kj_packet_split(f, f->count / 2);
    if (!rest) {
        status_error(c, 413, body);
        kj_packet_free(f);
        return;
    }
    if (f->spool_seq) c->spool_inflight++;
    kj_pq_push_front(q, rest);
    kj_pq_push_front(q, f);
}

/* A 200 answer: counted, or, when it cannot be read (a connection cut in the
 * middle of it), the frame goes again like after any lost connection. */
static void http_answered(kj_client *c, kj_packet *f, const kj_http_resp *resp)
{
    msgpack_unpacked u;
    json_t *j = NULL;
    msgpack_unpacked_init(&u);
    bool mp = strstr(resp->content_type, "msgpack") &&
              kj_msgpack_unpack_body(resp->body, resp->len, &u, NULL, 0) == KJ_OK &&
              u.data.type == MSGPACK_OBJECT_MAP;
    if (!mp) j = json_loadb(resp->body, resp->len, 0, NULL);
    if (mp || json_is_object(j)) {
        kj_pq_remove(&c->inflight, f);
        if (mp)
            answered_msgpack(c, f, &u.data);
        else
            answered_json(c, f, j);
    } else {
        connection_failed(c, "the answer to a POST could not be read", 0, true);
    }
    json_decref(j);
    msgpack_unpacked_destroy(&u);
}

/* Send the next frame as one POST and wait for its answer. */
static void http_step(kj_client *c)
{
    kj_packet_queue *q = c->spool_q.head ? &c->spool_q : &c->post_q;
    kj_packet *f = kj_pq_pop(q);
    if (!f) return;
    size_t len;
    uint8_t *body = kj_packet_http_body(f, &len);
    kj_http_req req = {.method = "POST",
                       .path = "/api/v1/events",
                       .content_type = "application/msgpack",
                       .accept = "application/msgpack",
                       .body = body,
                       .body_len = len,
                       .timeout_ms = (int)c->o.timeout_ms};
    kj_http_resp resp = {0};
    char msg[300], reason[200], why[260];
    kj_pq_push(&c->inflight, f);
    if (kj_net_http(c->net, &req, &resp, msg, sizeof msg)) {
        connection_failed(c, msg, 0, true);
        return;
    }
    answer_reason(&resp, reason, sizeof reason);
    if (resp.status == 200) {
        http_answered(c, f, &resp);
    } else if (resp.status >= 500) { /* 503 stopping, 507 store full, a crash: later */
        snprintf(why, sizeof why, "HTTP %d %s", resp.status, reason);
        connection_failed(c, why, resp.retry_after_s, true);
    } else if (resp.status == 413) {
        kj_pq_remove(&c->inflight, f);
        too_big(c, f, q, reason);
    } else {
        kj_pq_remove(&c->inflight, f);
        kj_packet_free(f);
        status_error(c, resp.status, reason);
    }
    kj_http_resp_clear(&resp);
}

/* ---- WebSocket ------------------------------------------------------------------- */

/* One message from the daemon on the ingest connection. */
static void ws_message(kj_client *c, const uint8_t *data, size_t len)
{
    msgpack_unpacked u;
    size_t oplen = 0, errlen = 0;
    const char *op = NULL, *err = NULL;
    msgpack_unpacked_init(&u);
    /* Bounded: a frame declaring 2^32 elements must not allocate for them. */
    if (kj_msgpack_unpack_body(data, len, &u, NULL, 0) != KJ_OK ||
        !map_str(&u.data, "op", &op, &oplen)) {
        snprintf(c->errmsg, sizeof c->errmsg, "unreadable frame from the daemon");
        c->http_post = true;
    } else if (oplen == 3 && !memcmp(op, "ack", 3)) {
        uint64_t seq = map_uint(&u.data, "seq");
        for (kj_packet *f = c->inflight.head; f; f = f->next) {
            if (f->seq != seq) continue;
            kj_pq_remove(&c->inflight, f);
            answered_msgpack(c, f, &u.data);
            break;
        }
    } else if (oplen == 5 && !memcmp(op, "error", 5)) {
        /* The daemon names the trouble in words only; HTTP answers the same
         * batch with a status we can act on (401, 403, 413, 507...). */
        map_str(&u.data, "error", &err, &errlen);
        snprintf(c->errmsg, sizeof c->errmsg, "daemon: %.*s", (int)errlen, err ? err : "");
        c->http_post = true;
    }
    msgpack_unpacked_destroy(&u);
}

/* After the WebSocket closed: retry, switch to HTTP, or give up. */
static void ws_closed(kj_client *c)
{
    int status = kj_wsc_http_status(c->ws), code = kj_wsc_close_code(c->ws);
    char why[300];
    snprintf(why, sizeof why, "%.299s", c->http_post ? c->errmsg : kj_wsc_reason(c->ws));
    if (status && status != 503) {
        /* The upgrade was answered, and refused: this server (or a proxy in
         * front of it) takes no WebSocket ingest from us. HTTP will say why,
         * or simply work. */
        if (c->o.transport == KJ_TRANSPORT_WS) {
            status_error(c, status, why);
            return;
        }
        c->http_only = true;
        connection_failed(c, why, 0, false);
        return;
    }
    if (code == 1003 || code == 1008 || code == 1009 || code == 1011) c->http_post = true;
    if (!kj_wsc_was_open(c->ws) && c->o.transport == KJ_TRANSPORT_AUTO && !c->http_post) {
        /* The handshake failed without a status: the daemon down, or a daemon
         * that hangs up on a refused upgrade (a bad token). A POST tells the
         * two apart, with a status where there is one; the attempt is HTTP's
         * to count. */
        c->http_post = true;
        connection_failed(c, why, 0, false);
        return;
    }
    if (c->http_post && c->o.transport == KJ_TRANSPORT_WS) {
        fail(c, KJ_ERR_INVALID, "%s", why);
        return;
    }
    connection_failed(c, why, status == 503 ? 1 : 0, !c->http_post);
}

static void ws_send_more(kj_client *c)
{
    while (c->inflight.count < c->o.window) {
        kj_packet_queue *q = c->spool_q.head ? &c->spool_q : &c->post_q;
        kj_packet *f = kj_pq_pop(q);
        if (!f) break;
        size_t len;
        uint8_t *msg = kj_packet_ws_message(f, c->next_seq++, &len);
        if (!c->inflight.count) c->last_activity = kj_mono_ms();
        kj_pq_push(&c->inflight, f);
        kj_wsc_send(c->ws, msg, len, false);
    }
}

static void ws_step(kj_client *c, int wait_ms)
{
    if (!c->ws) {
        kj_wsc_open(c->net, KJ_INGEST_PROTOCOL, &c->ws, NULL, 0);
        c->last_activity = kj_mono_ms();
    }
    if (kj_wsc_state_of(c->ws) == KJ_WSC_OPEN) ws_send_more(c);
    if (kj_wsc_state_of(c->ws) != KJ_WSC_CLOSED) kj_net_service(c->net, wait_ms);

    uint8_t *m;
    size_t len;
    while (!c->http_post && (m = kj_wsc_recv(c->ws, &len))) {
        ws_message(c, m, len);
        free(m);
    }
    if (c->http_post) { /* the frames in flight go again, over HTTP */
        if (c->o.transport == KJ_TRANSPORT_WS)
            fail(c, KJ_ERR_INVALID, "%s", c->errmsg);
        else
            connection_failed(c, c->errmsg, 0, false);
        return;
    }
    if (kj_wsc_state_of(c->ws) == KJ_WSC_CLOSED) {
        ws_closed(c);
        return;
    }
    bool waiting = c->inflight.count || kj_wsc_state_of(c->ws) == KJ_WSC_CONNECTING;
    if (waiting && kj_mono_ms() - c->last_activity > (int64_t)c->o.timeout_ms) {
        char why[120];
        snprintf(why, sizeof why, "no answer within %u ms", c->o.timeout_ms);
        connection_failed(c, why, 0, true);
    }
}

/* ---- driving a post ---------------------------------------------------------------- */

static bool have_work(const kj_client *c)
{
    return c->spool_q.count || c->post_q.count || c->inflight.count || c->spool_loaded < c->spool_n;
}

void kj_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && ts.tv_sec + ts.tv_nsec > 0) {
    }
}

/* Make progress: send, receive, retry. With until_empty, return once
 * everything is answered or spooled. Without, return as soon as the post
 * queue has room again, after one look at the connection that does not wait
 * (frames go out and acks come in while the caller encodes the next ones). */
static void drive(kj_client *c, bool until_empty)
{
    while (!c->fatal && !c->offline) {
        refill_spool(c);
        if (c->fatal || !have_work(c)) break;
        bool must_wait =
            until_empty || c->post_q.count >= c->o.window || c->spool_loaded < c->spool_n;
        bool http = c->http_only || c->http_post;
        int64_t now = kj_mono_ms();
        if (now < c->retry_at) {
            if (!must_wait) break;
            kj_sleep_ms(c->retry_at - now);
        } else if (http) {
            if (!must_wait) break;
            http_step(c);
        } else {
            ws_step(c, must_wait ? 100 : 0);
            if (!must_wait) break;
        }
    }
    if (c->offline && !c->fatal) spool_the_rest(c);
}

static void begin_post(kj_client *c)
{
    c->in_post = true;
    c->offline = false;
    c->fatal = KJ_OK;
    c->http_post = false;
    c->next_index = 0;
    memset(&c->res, 0, sizeof c->res);
    c->errmsg[0] = '\0';
    if (c->failures >= c->o.attempts) {
        /* The daemon was away at the end of an earlier post. Before its
         * back-off delay has passed, do not wait for it: spool at once. */
        if (kj_mono_ms() < c->retry_at) {
            snprintf(c->errmsg, sizeof c->errmsg, "daemon at %s unavailable (retrying later)",
                     kj_net_where(c->net));
            if (!c->spool)
                fail(c, KJ_ERR_IO, "%s", c->errmsg);
            else
                c->offline = true;
            return;
        }
        c->failures = c->o.attempts - 1; /* afterwards, one attempt per post */
    }
    open_spool(c);
}

static void end_post(kj_client *c)
{
    kj_pq_clear(&c->spool_q);
    kj_pq_clear(&c->post_q);
    kj_pq_clear(&c->inflight);
    kj_packet_free(c->filling);
    c->filling = NULL;
    if (c->spool) release_spool(c);
    c->spool_inflight = 0;
    c->in_post = false;
}

static void queue_filling(kj_client *c)
{
    if (!c->filling || !c->filling->count) return;
    kj_packet *f = c->filling;
    c->filling = NULL;
    if (c->offline)
        spool_frame(c, f);
    else
        kj_pq_push(&c->post_q, f);
}

static kj_err submit_one(kj_client *c, const kj_event *ev)
{
    if (!c->filling) c->filling = kj_packet_new(16384);
    if (kj_packet_add(c->filling, ev, c->next_index, max_bytes(c), max_events(c))) return KJ_OK;
    queue_filling(c);
    if (!c->fatal && !c->offline) drive(c, false);
    if (c->fatal) return c->fatal;
    c->filling = kj_packet_new(16384);
    kj_packet_add(c->filling, ev, c->next_index, max_bytes(c), max_events(c));
    return KJ_OK;
}

kj_err kj_client_submit(kj_client *c, const kj_event *evs, size_t n)
{
    if (!c->in_post) begin_post(c);
    for (size_t i = 0; i < n && !c->fatal; i++) {
        if (submit_one(c, &evs[i])) break;
        c->next_index++;
        c->res.submitted++;
    }
    return c->fatal;
}

kj_err kj_client_submit_batch(kj_client *c, const kj_batch *b)
{
    if (!c->in_post) begin_post(c);
    for (size_t i = 0; i < b->n && !c->fatal; i++) {
        const kj_batch_item *it = &b->items[i];
        if (it->error[0])
            report_reject(c, false, c->next_index, it->ev.id, strlen(it->ev.id), it->error,
                          strlen(it->error));
        else if (submit_one(c, &it->ev))
            break;
        c->next_index++;
        c->res.submitted++;
    }
    return c->fatal;
}

kj_err kj_client_flush(kj_client *c, kj_post_result *res)
{
    if (!c->in_post) begin_post(c);
    if (!c->fatal) queue_filling(c);
    if (!c->fatal) drive(c, true);
    kj_err err = c->fatal;
    if (res) *res = c->res;
    end_post(c);
    return err;
}

kj_err kj_client_post(kj_client *c, const kj_event *evs, size_t n, kj_post_result *res)
{
    kj_client_submit(c, evs, n);
    return kj_client_flush(c, res);
}

kj_err kj_client_spool_pending(kj_client *c, uint64_t *events)
{
    char msg[256];
    if (!c->spool) return (*events = 0, KJ_OK);
    kj_err err = kj_spool_pending(c->spool, events, msg, sizeof msg);
    if (err) snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
    return err;
}
