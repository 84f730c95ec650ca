/* kinerjad — the kinerja-ingest.v1 subprotocol: {"op":"events","seq":N,
 * "events":[...]} in, {"op":"ack","seq":N,...} out after the commit.
 *
 * A producer faster than the store is slowed by flow control, never by
 * buffering: a connection with INFLIGHT_MAX frames at the writer or acks
 * waiting to be sent (together), or ACKS_BYTES_MAX bytes of acks unsent, or
 * whose frame found the ingest queue full, stops being read
 * (lws_rx_flow_control) until its jobs come back and its acks are read. A
 * producer that never reads its acks thus stops itself, not the daemon's
 * memory. */
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "config/access.h"
#include "log.h"
#include "ws.h"

#define INFLIGHT_MAX 16
/* An ack lists every rejected event with its error: up to ~1 MiB for a
 * frame of 10,000. */
#define ACKS_BYTES_MAX (1024 * 1024)

struct ingest_conn {
    kj_wsconn ws;
    kj_ingest_job *inflight[INFLIGHT_MAX];
    size_t n_inflight;
    kj_ingest_job *blocked; /* decoded, waiting for room in the queue */
    bool paused;
    struct ingest_conn *next_blocked;
};

/* The protocol's own state. */
struct kj_wsingest_state {
    struct ingest_conn *blocked; /* connections waiting for room in the ingest queue */
};

static kj_frame *pack_ack(const kj_ingest_job *job)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (job->err) {
        msgpack_pack_map(&pk, 3);
        kj_pack_str(&pk, "op"), kj_pack_str(&pk, "error");
        kj_pack_str(&pk, "seq"), msgpack_pack_uint64(&pk, job->owner_tag);
        kj_pack_str(&pk, "error");
        kj_pack_str(
            &pk,
            job->err == KJ_ERR_FULL ? "store full: nothing of this frame was stored"
            : job->err == KJ_ERR_UNAVAILABLE || job->err == KJ_ERR_SHUTDOWN
                ? "cluster unavailable: not every event of this frame was stored; send it again"
                : "store error: nothing of this frame was stored");
    } else {
        size_t rejected = job->batch->n - job->accepted - job->duplicates;
        msgpack_pack_map(&pk, 5);
        kj_pack_str(&pk, "op"), kj_pack_str(&pk, "ack");
        kj_pack_str(&pk, "seq"), msgpack_pack_uint64(&pk, job->owner_tag);
        kj_pack_str(&pk, "accepted"), msgpack_pack_uint64(&pk, job->accepted);
        kj_pack_str(&pk, "duplicates"), msgpack_pack_uint64(&pk, job->duplicates);
        kj_pack_str(&pk, "rejected"), msgpack_pack_array(&pk, rejected);
        for (size_t i = 0; i < job->batch->n; i++) {
            const kj_batch_item *it = &job->batch->items[i];
            if (job->results[i] != KJ_ITEM_REJECTED) continue;
            msgpack_pack_map(&pk, 3);
            kj_pack_str(&pk, "index"), msgpack_pack_uint64(&pk, i);
            kj_pack_str(&pk, "id"), kj_pack_str(&pk, it->ev.id);
            kj_pack_str(&pk, "error"), kj_pack_str(&pk, it->error);
        }
    }
    kj_frame *f = kj_frame_try_new(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return f;
}

static void set_paused(struct ingest_conn *c, bool paused)
{
    if (c->paused == paused) return;
    c->paused = paused;
    lws_rx_flow_control(c->ws.wsi, paused ? 0 : 1);
}

/* Whether reading must wait: the writer, or the client's reading, is behind. */
static bool must_pause(const struct ingest_conn *c)
{
    return c->blocked || c->n_inflight + c->ws.out.count >= INFLIGHT_MAX ||
           c->ws.out.bytes >= ACKS_BYTES_MAX;
}

static void unblock(struct ingest_conn *c)
{
    kj_server *s = c->ws.srv;
    for (struct ingest_conn **pp = &s->wsingest->blocked; *pp; pp = &(*pp)->next_blocked)
        if (*pp == c) {
            *pp = c->next_blocked;
            break;
        }
    c->blocked = NULL;
}

static void answered(kj_ingest_job *job)
{
    struct ingest_conn *c = job->owner.frames;
    for (size_t i = 0; i < c->n_inflight; i++)
        if (c->inflight[i] == job) {
            c->inflight[i] = c->inflight[--c->n_inflight];
            break;
        }
    kj_frame *f = pack_ack(job);
    if (!f) { /* its size is the client's doing: close this connection, not the daemon */
        kj_ws_error(&c->ws, 1011,
                    "seq %llu: out of memory for its ack; reconnect and send it "
                    "again (stored events come back as duplicates)",
                    (unsigned long long)job->owner_tag);
        return;
    }
    kj_ws_queue(&c->ws, f); /* the group's other acks follow: one write for all */
    kj_frame_unref(f);
    set_paused(c, must_pause(c));
}

/* Hands the job to the writer, or blocks the connection on a full queue. */
static void submit(struct ingest_conn *c, kj_ingest_job *job)
{
    kj_server *s = c->ws.srv;
    kj_err err = kj_server_submit(s, job);
    if (err == KJ_ERR_BUSY) {
        if (!c->blocked) {
            c->blocked = job;
            c->next_blocked = s->wsingest->blocked;
            s->wsingest->blocked = c;
        }
        set_paused(c, true);
        return;
    }
    if (c->blocked == job) unblock(c);
    if (err) {
        kj_ingest_job_free(job);
        kj_ws_error(&c->ws, 1001,
                    err == KJ_ERR_UNAVAILABLE
                        ? "the cluster's NATS is unreachable: reconnect and send again"
                        : "shutting down: reconnect and send again");
        return;
    }
    c->inflight[c->n_inflight++] = job;
    set_paused(c, must_pause(c));
}

/* Acks left: reading may go on once the client has taken enough of them. */
static int writeable(struct ingest_conn *c)
{
    if (kj_ws_writeable(&c->ws)) return -1;
    if (c->paused && !must_pause(c)) set_paused(c, false);
    return 0;
}

/* Submits the jobs of connections blocked on a full ingest queue, in order. */
static void retry_blocked(kj_server *s)
{
    while (s->wsingest->blocked) {
        struct ingest_conn *c = s->wsingest->blocked;
        submit(c, c->blocked);
        if (c->blocked) break; /* still full */
    }
}

static void on_events(struct ingest_conn *c, const msgpack_object *m)
{
    const kj_config *cfg = c->ws.srv->cfg;
    const msgpack_object *seq = kj_msgpack_get(m, "seq"), *events = kj_msgpack_get(m, "events");
    if (!seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        kj_ws_error(&c->ws, 1008, "seq: must be a non-negative integer");
        return;
    }
    if (!events) {
        kj_ws_error(&c->ws, 1008, "events: required");
        return;
    }
    kj_validate_opts vo = kj_validate_defaults();
    vo.max_age_ms = cfg->max_event_age_ms;
    vo.max_skew_ms = cfg->max_clock_skew_ms;
    vo.max_events = cfg->max_batch;
    kj_batch *b;
    char msg[256];
    kj_err err = kj_msgpack_decode_batch_obj(events, &vo, &b, msg, sizeof msg);
    if (err) {
        /* Out of memory for a batch sized by the frame: 1011 (the server's
         * condition, not the producer's fault), the producer sends it again. */
        kj_ws_error(&c->ws,
                    err == KJ_ERR_TOO_BIG ? 1009
                    : err == KJ_ERR_NOMEM ? 1011
                                          : 1008,
                    "seq %llu: %s", (unsigned long long)seq->via.u64, msg);
        return;
    }
    if (!kj_access_check_batch(cfg, c->ws.token, b, msg, sizeof msg)) {
        kj_batch_free(b);
        kj_ws_error(&c->ws, 1008, "seq %llu: %s", (unsigned long long)seq->via.u64, msg);
        return;
    }
    kj_ingest_job *job = kj_ingest_job_new(b);
    job->owner.frames = c;
    job->owner_tag = seq->via.u64;
    job->answer = answered;
    submit(c, job);
}

static void on_message(kj_wsconn *ws, const msgpack_object *m)
{
    struct ingest_conn *c = (struct ingest_conn *)ws; /* ws is the first member of its connection */
    size_t n;
    const char *op = kj_ws_str(m, "op", &n);
    if (op && n == 6 && memcmp(op, "events", 6) == 0)
        on_events(c, m);
    else if (op && n == 4 && memcmp(op, "auth", 4) == 0)
        ; /* already authenticated by header: harmless */
    else
        kj_ws_error(&c->ws, 1008, "unknown op for kinerja-ingest.v1: %.*s", op ? (int)n : 4,
                    op ? op : "none");
}

static void closed(struct ingest_conn *c)
{
    if (!c->ws.srv) return;
    for (size_t i = 0; i < c->n_inflight; i++)
        c->inflight[i]->answer = NULL; /* the writer has them; drop their answers */
    c->n_inflight = 0;
    if (c->blocked) {
        kj_ingest_job *job = c->blocked;
        unblock(c);
        kj_ingest_job_free(job);
    }
    kj_ws_closed(&c->ws, &c->ws.srv->stats.ingest_clients);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct ingest_conn *c = user;
    kj_server *s = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: return kj_ws_filter(&c->ws, wsi, s, true) ? 1 : 0;
    case LWS_CALLBACK_ESTABLISHED:
        kj_ws_established(&c->ws, wsi, &s->stats.ingest_clients);
        c->ws.on_message = on_message;
        if (s->stopping) kj_ws_error(&c->ws, 1001, "shutting down");
        return 0;
    case LWS_CALLBACK_RECEIVE: return kj_ws_on_receive(&c->ws, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE: return writeable(c);
    case LWS_CALLBACK_CLOSED: closed(c); return 0;
    default: return 0;
    }
}

static void start(kj_server *s)
{
    s->wsingest = kj_calloc(1, sizeof *s->wsingest);
}

static void free_state(kj_server *s)
{
    free(s->wsingest);
    s->wsingest = NULL;
}

/* rx_buffer_size: the chunk in which messages arrive; reassembled up to max_frame. */
const kj_net_proto kj_wsingest_proto = {
    .name = "kinerja-ingest.v1",
    .callback = callback,
    .sess_size = sizeof(struct ingest_conn),
    .rx_buffer_size = 65536,
    .start = start,
    .on_wake = retry_blocked,
    .free = free_state,
};
