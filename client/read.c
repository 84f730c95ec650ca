/* kinerja — what the client reads from the daemon (kinerja.h): GET answers
 * (kj_client_get) and the live feed (kj_live_*), a kinerja-live.v1
 * connection that subscribes to units, hands frames to the caller, and comes
 * back by itself with the client's back-off, resubscribing. Single-threaded,
 * like the kj_client whose connection settings it borrows. */
#include <msgpack.h>
#include <string.h>

#include "alloc.h"
#include "kinerja.h"
#include "lib_shared.h"
#include "net.h"

/* ---- GET ---- */

kj_err kj_client_get(kj_client *c, const char *path_and_query, const char *accept, int *status,
                     char **body, size_t *len)
{
    kj_http_req req = {.method = "GET",
                       .path = path_and_query,
                       .accept = accept ? accept : "application/json",
                       .timeout_ms = (int)kj_client_timeout_ms(c)};
    kj_http_resp resp;
    char msg[300];
    kj_err err = kj_net_http(kj_client_net(c), &req, &resp, msg, sizeof msg);
    if (err) {
        kj_client_set_errmsg(c, "daemon at %s unavailable: %s", kj_net_where(kj_client_net(c)),
                             msg);
        return err;
    }
    *status = resp.status;
    *body = resp.body;
    *len = resp.len;
    return KJ_OK;
}

/* ---- the live feed ---- */

struct kj_live {
    kj_client *c;
    kj_wsc *ws;
    char **units;
    size_t n_units;
    uint8_t *frame;
    unsigned failures;
    int64_t retry_at;
    int64_t opened_at;
};

kj_err kj_live_new(kj_client *c, kj_live **out)
{
    kj_live *l = kj_calloc(1, sizeof *l);
    l->c = c;
    *out = l;
    return KJ_OK;
}

void kj_live_free(kj_live *l)
{
    if (!l) return;
    kj_wsc_free(l->ws);
    for (size_t i = 0; i < l->n_units; i++)
        free(l->units[i]);
    free(l->units);
    free(l->frame);
    free(l);
}

static void send_op(kj_live *l, const char *op, const char *unit)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, unit ? 2 : 1);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, op, strlen(op));
    if (unit) {
        msgpack_pack_str_with_body(&pk, "unit", 4);
        msgpack_pack_str_with_body(&pk, unit, strlen(unit));
    }
    kj_wsc_send(l->ws, (uint8_t *)sb.data, sb.size, true);
    msgpack_sbuffer_destroy(&sb);
}

kj_err kj_live_subscribe(kj_live *l, const char *unit)
{
    if (!kj_id_valid(unit, strlen(unit))) {
        kj_client_set_errmsg(l->c, "unit %s: not a valid identifier", unit);
        return KJ_ERR_INVALID;
    }
    l->units = kj_realloc(l->units, (l->n_units + 1) * sizeof *l->units);
    l->units[l->n_units++] = kj_strdup(unit);
    if (l->ws && kj_wsc_state_of(l->ws) == KJ_WSC_OPEN) send_op(l, "subscribe", unit);
    return KJ_OK;
}

/* The handshake failed without a status (a daemon may hang up on a refused
 * token): ask over HTTP whether the token may see the first unit, so that a
 * refusal ends the watch instead of reconnecting for ever. */
static int probe_status(kj_live *l)
{
    char path[128], *body;
    size_t len;
    int status = 0;
    if (!l->n_units) return 0;
    snprintf(path, sizeof path, "/api/v1/snapshot?unit=%s", l->units[0]);
    if (kj_client_get(l->c, path, "application/json", &status, &body, &len)) return 0;
    free(body);
    return status;
}

static kj_err live_lost(kj_live *l)
{
    kj_net *net = kj_client_net(l->c);
    int status = kj_wsc_http_status(l->ws);
    bool refused = !kj_wsc_was_open(l->ws);
    char reason[256];
    snprintf(reason, sizeof reason, "%s", kj_wsc_reason(l->ws));
    kj_wsc_free(l->ws);
    l->ws = NULL;
    l->failures++;
    l->retry_at = kj_mono_ms() + kj_client_backoff_ms(l->c, l->failures);
    if (refused && !status) status = probe_status(l);
    if (status == 401 || status == 403)
        kj_client_set_errmsg(
            l->c, "%s refused the live feed (HTTP %d%s)", kj_net_where(net), status,
            status == 401 ? ": missing or unknown token" : ": not this token's unit");
    else
        kj_client_set_errmsg(l->c, "%s: %s", kj_net_where(net), reason);
    if (status == 401) return KJ_ERR_AUTH;
    if (status == 403) return KJ_ERR_FORBIDDEN;
    return KJ_ERR_IO;
}

kj_err kj_live_recv(kj_live *l, int timeout_ms, const uint8_t **frame, size_t *len)
{
    kj_net *net = kj_client_net(l->c);
    int64_t deadline = kj_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    free(l->frame);
    l->frame = NULL;
    for (;;) {
        int64_t now = kj_mono_ms();
        if (!l->ws && now < l->retry_at) {
            int64_t until = l->retry_at < deadline ? l->retry_at : deadline;
            kj_sleep_ms(until - now);
            if (until == deadline) return KJ_ERR_BUSY;
            continue;
        }
        if (!l->ws) {
            char msg[200];
            kj_wsc_open(net, KJ_LIVE_PROTOCOL, &l->ws, msg, sizeof msg);
            l->opened_at = now;
        }
        bool was_open = kj_wsc_state_of(l->ws) == KJ_WSC_OPEN;
        if (kj_wsc_state_of(l->ws) != KJ_WSC_CLOSED)
            kj_net_service(net, (int)(deadline > now ? deadline - now : 0));
        if (!was_open && kj_wsc_state_of(l->ws) == KJ_WSC_OPEN) {
            l->failures = 0;
            for (size_t i = 0; i < l->n_units; i++)
                send_op(l, "subscribe", l->units[i]);
        }
        size_t n;
        uint8_t *m = kj_wsc_recv(l->ws, &n);
        if (m) {
            l->frame = m;
            *frame = m;
            *len = n;
            return KJ_OK;
        }
        if (kj_wsc_state_of(l->ws) == KJ_WSC_CLOSED) return live_lost(l);
        if (kj_wsc_state_of(l->ws) == KJ_WSC_CONNECTING &&
            kj_mono_ms() - l->opened_at > kj_client_timeout_ms(l->c)) {
            kj_client_set_errmsg(l->c, "%s: connection timed out", kj_net_where(net));
            kj_wsc_free(l->ws);
            l->ws = NULL;
            l->failures++;
            l->retry_at = kj_mono_ms() + kj_client_backoff_base_ms(l->c);
            return KJ_ERR_IO;
        }
        if (kj_mono_ms() >= deadline) return KJ_ERR_BUSY;
    }
}
