/* kinerjad — the read API of SPEC §7: GET /api/v1/units, /snapshot, /series
 * (answered by the writer, which owns the metrics, through kj_hub) and
 * /events (streamed from the raw log in small read transactions, so that a
 * month of a large unit never sits in memory). Viewer tokens see only their
 * units; a token with `employee` only that member. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"
#include "../proto/codec.h"
#include "../proto/export.h"
#include "api.h"
#include "api_rapor.h"
#include "live.h"
#include "log.h"
#include "overview.h"

#define EXPORT_CHUNK 256 /* events per read transaction and write */
#define EXPORT_BUF (256 * 1024)

struct export
{
    kj_store_cursor cur;
    char unit[KJ_ID_MAX + 1];
    char employee[KJ_ID_MAX + 1]; /* a personal token's own events only */
    bool csv, header_sent, started;
    bool failed; /* an event could not be sent: no last chunk */
    char *buf;   /* LWS_PRE headroom, then the chunk */
    size_t len;
};

static const char *personal(const struct http_sess *hs)
{
    return hs->token && hs->token->employee ? hs->token->employee : NULL;
}

/* --- answers from the writer --- */

static void query_answered(kj_query *q)
{
    struct http_sess *hs = q->owner.request;
    hs->query = NULL;
    if (q->status != 200 || !q->result) {
        kj_http_error(hs, q->status ? q->status : 500, "%s", q->error[0] ? q->error : "no answer");
        return;
    }
    kj_http_answer_frame(hs, q->result);
}

static void units_answered(kj_query *q)
{
    struct http_sess *hs = q->owner.request;
    hs->query = NULL;
    msgpack_unpacked all;
    msgpack_unpacked_init(&all);
    if (q->result &&
        msgpack_unpack_next(&all, (const char *)q->result->data, q->result->len, NULL) ==
            MSGPACK_UNPACK_SUCCESS &&
        all.data.type == MSGPACK_OBJECT_ARRAY) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        kj_live_pack_units(&pk, &all.data, hs->token, false);
        kj_frame *f = kj_frame_new(sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        kj_http_answer_frame(hs, f);
        kj_frame_unref(f);
    } else {
        kj_http_error(hs, 500, "units: no answer");
    }
    msgpack_unpacked_destroy(&all);
}

static void ask(struct http_sess *hs, kj_query *q, void (*done)(kj_query *))
{
    q->owner.request = hs;
    q->done = done;
    hs->query = q;
    kj_hub_ask(hs->srv->hub, q);
}

static int get_units(struct http_sess *hs)
{
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_UNITS;
    ask(hs, q, units_answered);
    return 0;
}

static int get_snapshot(struct http_sess *hs)
{
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_SNAPSHOT;
    if (!kj_http_arg_unit(hs, q->unit)) {
        kj_query_free(q);
        return 0;
    }
    if (personal(hs)) snprintf(q->employee, sizeof q->employee, "%s", personal(hs));
    ask(hs, q, query_answered);
    return 0;
}

static void overview_answered(kj_query *q)
{
    struct http_sess *hs = q->owner.request;
    hs->query = NULL;
    kj_frame *f = q->status == 200 ? kj_overview_answer(q->result, hs->token) : NULL;
    if (f)
        kj_http_answer_frame(hs, f);
    else
        kj_http_error(hs, 500, "overview: no answer");
    kj_frame_unref(f);
}

/* SPEC §14: every unit the token may see; a personal view sees no overview. */
static int get_overview(struct http_sess *hs)
{
    if (personal(hs)) {
        kj_http_error(hs, 403, "overview: not for a personal token");
        return 0;
    }
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_OVERVIEW;
    ask(hs, q, overview_answered);
    return 0;
}

bool kj_api_scope_allowed(const kj_token *tok, const char *scope)
{
    if (!tok) return true;
    if (tok->employee) {
        char own[KJ_ID_MAX + 16];
        snprintf(own, sizeof own, "employee:%s", tok->employee);
        return !strcmp(scope, own);
    }
    if (tok->all_units) return true;
    /* unit:U and counter:U/C name their unit; employee:E spans units: only
     * "*" tokens read an employee's series across units. */
    char unit[KJ_ID_MAX + 1];
    if (!strncmp(scope, "unit:", 5))
        snprintf(unit, sizeof unit, "%s", scope + 5);
    else if (!strncmp(scope, "counter:", 8))
        snprintf(unit, sizeof unit, "%.*s", (int)strcspn(scope + 8, "/"), scope + 8);
    else
        return false;
    return kj_token_allows_unit(tok, unit);
}

static int get_series(struct http_sess *hs)
{
    kj_series_params *sp = kj_calloc(1, sizeof *sp);
    char res[16] = "hour";
    int64_t now = kj_now_ms();
    sp->from = now - 86400000;
    sp->to = now + 1;
    bool ok = kj_http_arg(hs, "scope", sp->scope, sizeof sp->scope) &&
              kj_http_arg(hs, "metric", sp->metric, sizeof sp->metric);
    if (!ok) {
        kj_http_error(hs, 400, "scope and metric are required");
        goto fail;
    }
    kj_http_arg(hs, "res", res, sizeof res);
    if (!kj_res_parse(res, &sp->res)) {
        kj_http_error(hs, 400, "res: must be minute, hour or day");
        goto fail;
    }
    if (!kj_http_arg_int(hs, "from", &sp->from) || !kj_http_arg_int(hs, "to", &sp->to)) goto fail;
    if (!kj_api_scope_allowed(hs->token, sp->scope)) {
        kj_http_error(hs, 403, "scope %s: not allowed for this token", sp->scope);
        goto fail;
    }
    kj_query *q = kj_query_new();
    q->kind = KJ_Q_SERIES;
    q->params = sp;
    q->free_params = free;
    ask(hs, q, query_answered);
    return 0;
fail:
    free(sp);
    return 0;
}

/* --- the events export --- */

/* An HTTP/1 answer is sent chunked: without a Content-Length its end would be
 * the connection's close, and a stream cut by an error would look complete.
 * Chunked, only the terminating "0" chunk ends it, so every client sees the
 * cut (curl: exit 18). HTTP/2 has its own end-of-stream flag. */
#define CHUNK_HEAD 16 /* "%zx\r\n" of the chunk's size */
#define CHUNK_TAIL 8  /* "\r\n", then "0\r\n\r\n" after the last */

struct chunk_ctx {
    struct export *ex;
    char *data; /* EXPORT_BUF bytes */
    size_t len;
};

static int export_event(void *ctx, const kj_event *ev)
{
    struct chunk_ctx *cc = ctx;
    if (cc->ex->employee[0] && strcmp(ev->employee, cc->ex->employee)) return 0;
    char *line;
    size_t n;
    kj_err err = kj_export_line(ev, cc->ex->csv, &line, &n);
    if (err) {
        kj_error("export: event %s (ts %" PRId64 ") cannot be exported: %s; the answer is cut",
                 ev->id, ev->ts, kj_strerror(err));
        return err;
    }
    if (n > EXPORT_BUF - cc->len) {
        free(line);
        /* Sent in the next chunk; a line longer than a whole chunk cannot be. */
        if (cc->len) return KJ_STORE_PAUSE;
        kj_error("export: event %s (ts %" PRId64 ") is longer than %d bytes; the answer is cut",
                 ev->id, ev->ts, EXPORT_BUF);
        return KJ_ERR_TOO_BIG;
    }
    memcpy(cc->data + cc->len, line, n);
    cc->len += n;
    free(line);
    return 0;
}

static int export_headers(struct http_sess *hs)
{
    struct export *ex = hs->export;
    uint8_t hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr;
    const char *ctype = ex->csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
    if (lws_add_http_common_headers(hs->wsi, 200, ctype, LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_by_name(
            hs->wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &p, end) ||
        (!hs->h2 && lws_add_http_header_by_token(hs->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING,
                                                 (const uint8_t *)"chunked", 7, &p, end)) ||
        lws_finalize_write_http_header(hs->wsi, start, &p, end))
        return -1;
    kj_stats_http(&hs->srv->stats, 200);
    ex->header_sent = true;
    lws_callback_on_writable(hs->wsi);
    return 0;
}

/* Send len bytes at data (CHUNK_HEAD bytes of room before, CHUNK_TAIL after)
 * as one chunk; the last also ends the answer. */
static int send_chunk(struct http_sess *hs, char *data, size_t len, bool last)
{
    char *start = data;
    size_t n = len;
    if (!hs->h2) {
        char head[CHUNK_HEAD];
        int h = len ? snprintf(head, sizeof head, "%zx\r\n", len) : 0;
        start = data - h;
        memcpy(start, head, (size_t)h);
        if (len) memcpy(data + len, "\r\n", 2), n = len + 2 + (size_t)h;
        if (last) memcpy(start + n, "0\r\n\r\n", 5), n += 5;
        if (!n) return 0; /* nothing this round: an empty chunk would end the answer */
    }
    if (lws_write(hs->wsi, (unsigned char *)start, n,
                  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    return 0;
}

int kj_api_export_write(struct http_sess *hs)
{
    struct export *ex = hs->export;
    if (!ex->header_sent) return export_headers(hs);
    if (ex->failed) return -1;
    struct chunk_ctx cc = {ex, ex->buf + LWS_PRE + CHUNK_HEAD, 0};
    if (!ex->started && ex->csv) {
        cc.len = strlen(kj_export_csv_header);
        memcpy(cc.data, kj_export_csv_header, cc.len);
    }
    ex->started = true;
    kj_err err = kj_store_cursor_next(hs->srv->store, &ex->cur, ex->unit[0] ? ex->unit : NULL,
                                      EXPORT_CHUNK, export_event, &cc);
    if (err) {
        if (err != KJ_ERR_DECODE && err != KJ_ERR_TOO_BIG)
            kj_error("export: reading the raw log failed: %s; the answer is cut", kj_strerror(err));
        /* The events before it go out; the next writeable callback (once lws
         * has sent them) closes without the terminating chunk: the client
         * sees a cut stream, not a false end. */
        ex->failed = true;
        if (send_chunk(hs, cc.data, cc.len, false)) return -1;
        lws_callback_on_writable(hs->wsi);
        return 0;
    }
    bool last = ex->cur.done;
    if (send_chunk(hs, cc.data, cc.len, last)) return -1;
    if (!last) {
        lws_callback_on_writable(hs->wsi);
        return 0;
    }
    /* The answer said "connection: close" (lws does, without a length). */
    if (!hs->h2) return -1;
    return lws_http_transaction_completed(hs->wsi) ? -1 : 0;
}

static int get_events(struct http_sess *hs)
{
    struct export *ex = kj_calloc(1, sizeof *ex);
    char format[16] = "ndjson";
    int64_t now = kj_now_ms(), from = now - 86400000, to = now + 1;
    if (!kj_http_arg_unit(hs, ex->unit) || !kj_http_arg_int(hs, "from", &from) ||
        !kj_http_arg_int(hs, "to", &to)) {
        free(ex);
        return 0;
    }
    kj_http_arg(hs, "format", format, sizeof format);
    if (strcmp(format, "csv") && strcmp(format, "ndjson")) {
        free(ex);
        kj_http_error(hs, 400, "format: must be csv or ndjson");
        return 0;
    }
    ex->csv = !strcmp(format, "csv");
    if (personal(hs)) snprintf(ex->employee, sizeof ex->employee, "%s", personal(hs));
    kj_store_cursor_init(&ex->cur, from, to);
    /* A line is at most a few KiB (meta is 1 KiB): a chunk holds many. */
    ex->buf = kj_malloc(LWS_PRE + CHUNK_HEAD + EXPORT_BUF + CHUNK_TAIL);
    hs->export = ex;
    lws_callback_on_writable(hs->wsi);
    return 0;
}

/* --- routing --- */

static const struct endpoint {
    const char *path;
    int (*get)(struct http_sess *hs);
} routes[] = {
    {"/api/v1/units", get_units},       {"/api/v1/snapshot", get_snapshot},
    {"/api/v1/series", get_series},     {"/api/v1/events", get_events},
    {"/api/v1/overview", get_overview}, {"/api/v1/rapor", kj_api_get_rapor},
};

int kj_api_request(struct http_sess *hs, const char *uri)
{
    size_t i = 0, n = sizeof routes / sizeof routes[0];
    while (i < n && strcmp(uri, routes[i].path))
        i++;
    if (i == n) {
        kj_http_error(hs, 404, "no such endpoint: %s", uri);
        return 0;
    }
    if (kj_http_authorize(hs, false)) return 0;
    if (hs->token && hs->token->role == KJ_ROLE_INGEST) {
        kj_http_error(hs, 403, "token %s may not read (role ingest)", hs->token->name);
        return 0;
    }
    return routes[i].get(hs);
}

void kj_api_reset(struct http_sess *hs)
{
    if (hs->query) hs->query->done = NULL; /* the writer has it; drop the answer */
    hs->query = NULL;
    if (hs->export) {
        free(hs->export->buf);
        free(hs->export);
        hs->export = NULL;
    }
}
