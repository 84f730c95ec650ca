/* libFuzzer target: WebSocket message reassembly and the first steps of op
 * dispatch (daemon/net/ws.c): fragments collected up to max_frame, the binary
 * check, msgpack maps, the first-frame auth, then what the ingest protocol
 * does with a message before the writer (op, seq, events -> a batch, the
 * token's access check). lws delivers the fragments; here
 * they come from the input, each as
 *
 *     flags (bit 0: final, bit 1: binary, bit 2: ingest)  length (1 byte)  bytes
 *
 * The lws calls on this path (asking for a writeable callback when an error
 * frame is queued, the connection table's lookup after an auth) are wrapped
 * at link time (-Wl,--wrap), as there is no connection. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config/access.h"
#include "config/config.h"
#include "fuzz_util.h"
#include "log.h"
#include "net/ws.h"

int __wrap_lws_callback_on_writable(struct lws *wsi);
int __wrap_lws_callback_on_writable(struct lws *wsi)
{
    (void)wsi;
    return 0;
}

/* Frames queue as behind a busy socket: nothing is written without one. */
int __wrap_lws_partial_buffered(struct lws *wsi);
int __wrap_lws_partial_buffered(struct lws *wsi)
{
    (void)wsi;
    return 1;
}

/* The connection table's lookup (kj_conns_phase after an auth): no entry. */
struct lws *__wrap_lws_get_network_wsi(struct lws *wsi);
struct lws *__wrap_lws_get_network_wsi(struct lws *wsi)
{
    return wsi;
}
void *__wrap_lws_get_opaque_user_data(const struct lws *wsi);
void *__wrap_lws_get_opaque_user_data(const struct lws *wsi)
{
    (void)wsi;
    return NULL;
}

static kj_server srv;

static void setup(void)
{
    /* Tokens "secret" (every unit) and "other" (unit u only); a strict
     * directory, so that the access check marks unknown members too. */
    static const char conf[] =
        "max_frame: 4KiB\n"
        "strict_directory: true\n"
        "units:\n"
        "  - id: u\n"
        "    members: [{id: e1}]\n"
        "    counters: [{id: loket-1}]\n"
        "  - id: w\n"
        "tokens:\n"
        "  - {name: t, sha256: "
        "\"2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b\","
        " role: ingest, units: \"*\"}\n"
        "  - {name: o, sha256: "
        "\"d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa\","
        " role: ingest, units: [u]}\n";
    kj_config *cfg;
    char err[256];
    const char *path = fuzz_file("ws.yaml", (const uint8_t *)conf, sizeof conf - 1);
    if (kj_config_load(path, &cfg, err, sizeof err) != KJ_OK) abort();
    srv.cfg = cfg;
    kj_log_init(KJ_LOG_ERROR);
}

/* What the ingest protocol does with a message before the writer: op, seq,
 * the events decoded with the configured limits (a fixed clock, so that a
 * finding replays), then what the token may post. */
static void dispatch(const kj_wsconn *c, const msgpack_object *m)
{
    size_t n;
    const char *op = kj_ws_str(m, "op", &n);
    const msgpack_object *seq = kj_msgpack_get(m, "seq"), *events = kj_msgpack_get(m, "events");
    if (!op || n != 6 || memcmp(op, "events", 6) || !events || !seq) return;
    kj_validate_opts vo = kj_validate_defaults();
    vo.now_ms = 1700000000000LL;
    vo.max_age_ms = srv.cfg->max_event_age_ms;
    vo.max_skew_ms = srv.cfg->max_clock_skew_ms;
    vo.max_events = srv.cfg->max_batch;
    kj_batch *b = NULL;
    char msg[256];
    if (kj_msgpack_decode_batch_obj(events, &vo, &b, msg, sizeof msg) != KJ_OK) return;
    kj_access_check_batch(srv.cfg, c->token, b, msg, sizeof msg);
    kj_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.cfg) setup();
    kj_wsconn c = {.srv = &srv};
    size_t off = 0;
    while (size - off >= 2 && !c.close_code) {
        uint8_t flags = data[off], len = data[off + 1];
        off += 2;
        if (len > size - off) len = (uint8_t)(size - off);
        msgpack_unpacked msg;
        int r = kj_ws_collect(&c, data + off, len, flags & 1, flags & 2, flags & 4, &msg);
        off += len;
        if (r == 1) {
            if (!c.authed) __builtin_trap(); /* a message before auth reached the protocol */
            dispatch(&c, &msg.data);
            msgpack_unpacked_destroy(&msg);
        }
        if (c.rx_len > srv.cfg->max_frame) __builtin_trap();
    }
    kj_outq_clear(&c.out);
    free(c.rx);
    return 0;
}
