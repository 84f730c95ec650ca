/* kinerjad — the libwebsockets context, its listeners and the service loop. */
#include "server.h"

#include <ev.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "config/netaddr.h"
#include "conns.h"
#include "ingest/cluster.h"
#include "ingest/hub.h"
#include "live.h"
#include "log.h"
#include "notify.h"
#include "rapor/rapor_jobs.h"
#include "service.h"
#include "ws.h"

/* Dead peers: ping after 30 s of silence, hang up after 40 s (DESIGN.md: the
 * default would wait five minutes). */
static const lws_retry_bo_t idle_policy = {
    .secs_since_valid_ping = 30,
    .secs_since_valid_hangup = 40,
};

/* The protocols, in lws's order: the first serves plain HTTP. */
static const kj_net_proto *const protos[] = {&kj_http_proto, &kj_wsingest_proto, &kj_live_proto};
#define N_PROTOS (sizeof protos / sizeof protos[0])

static int http_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsingest_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int live_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);

/* lws's table, filled from protos[] (sizes) at kj_server_new. */
static struct lws_protocols protocols[N_PROTOS + 1] = {
    {"http", http_callback, 0, 0, 0, NULL, 0},
    {"kinerja-ingest.v1", wsingest_callback, 0, 0, 1, NULL, 0},
    {"kinerja-live.v1", live_callback, 0, 0, 2, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

static void fill_protocols(void)
{
    for (size_t i = 0; i < N_PROTOS; i++) {
        protocols[i].name = protos[i]->name;
        protocols[i].per_session_data_size = protos[i]->sess_size;
        protocols[i].rx_buffer_size = protos[i]->rx_buffer_size;
        protocols[i].tx_packet_size = protos[i]->tx_packet_size;
    }
}

/* lws logs through here, at our levels: its errors are ours to see. */
static void lws_log_to_ours(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    kj_log(level == LLL_ERR    ? KJ_LOG_ERROR
           : level == LLL_WARN ? KJ_LOG_WARN
                               : KJ_LOG_DEBUG,
           "lws: %.*s", (int)n, line);
}

static void tick(lws_sorted_usec_list_t *sul);

/* The context on an epoll loop of our own (libev, through lws's evlib
 * plugin): poll() over every viewer's socket on each wake-up of the loop
 * cost more than the sends themselves with a thousand dashboards. The loop is
 * ours ("foreign" to lws) so that lws installs no SIGINT watcher (libev would
 * unblock SIGINT in this thread and take it from main's sigwait) and so that
 * kj_server_run can leave it on stop: in 4.1 lws_service() on an event lib
 * runs the loop until it is broken. NULL with *loop NULL when that fails (the
 * plugin is missing): the caller falls back to poll(). */
static struct lws_context *context_on_epoll(struct lws_context_creation_info *info,
                                            struct ev_loop **loop)
{
    *loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
    if (!*loop) return NULL;
    void *foreign[1] = {*loop};
    info->options |= LWS_SERVER_OPTION_LIBEV;
    info->foreign_loops = foreign;
    lws_set_log_level(0, NULL); /* a missing plugin is not an error: poll() serves */
    struct lws_context *ctx = lws_create_context(info);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
    info->options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
    info->foreign_loops = NULL;
    if (!ctx) {
        ev_loop_destroy(*loop);
        *loop = NULL;
    }
    return ctx;
}

/* Before each wait for events: the turn starts (and the viewers' share). */
static void count_turn(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop, (void)revents;
    ((kj_server *)w->data)->loop_turns++;
    kj_ws_turn(w->data);
}

static struct lws_context *create_context(kj_server *s, struct lws_context_creation_info *info)
{
    struct lws_context *ctx = context_on_epoll(info, &s->loop);
    if (ctx) {
        s->turn_watch = kj_calloc(1, sizeof *s->turn_watch);
        ev_prepare_init(s->turn_watch, count_turn);
        s->turn_watch->data = s;
        ev_prepare_start(s->loop, s->turn_watch);
        ev_unref(s->loop); /* a counter, not a reason for ev_run to go on */
        return ctx;
    }
    kj_warn("libwebsockets could not start on libev (is its plugin, Debian package "
            "libwebsockets-evlib-ev, installed?): serving with poll(), which costs more CPU "
            "with many dashboards");
    return lws_create_context(info);
}

static int make_vhost(kj_server *s, const kj_listen *l, int i, char *msg, size_t msglen)
{
    struct lws_context_creation_info info;
    char name[16];
    memset(&info, 0, sizeof info);
    snprintf(name, sizeof name, "kj%d", i);
    info.vhost_name = name;
    info.port = l->port;
    info.iface = l->host;
    info.protocols = protocols;
    info.retry_and_idle_policy = &idle_policy;
    info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    /* An IPv6 address: listen on it alone. An IPv4 one: an IPv4 socket, or lws
     * 4.1 binds the IPv6 wildcard and puts the address in sin6_flowinfo. */
    if (strchr(l->host, ':'))
        info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
    else
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (s->cfg->tls_cert && s->cfg->tls_key) {
        /* lws 4.1 reads this per vhost: without it the vhost serves plain text */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = s->cfg->tls_cert;
        info.ssl_private_key_filepath = s->cfg->tls_key;
    }
    if (!lws_create_vhost(s->ctx, &info)) {
        if (info.ssl_cert_filepath)
            snprintf(msg, msglen,
                     "cannot listen on %s:%d with TLS: check that tls_cert %s and "
                     "tls_key %s are readable PEM files that belong together (the lws line above "
                     "says more), and that the port is free",
                     l->host, l->port, s->cfg->tls_cert, s->cfg->tls_key);
        else
            snprintf(msg, msglen, "cannot listen on %s:%d (in use, or not an address of this host)",
                     l->host, l->port);
        return -1;
    }
    return 0;
}

/* What was bound, not what was asked: libwebsockets 4.1 once bound every IPv4
 * address as the IPv6 wildcard. A listener anywhere else than configured is
 * refused; the log names the address from getsockname. */
static int check_bound(kj_server *s, const kj_listen *l, char *msg, size_t msglen)
{
    char bound[KJ_ADDR_MAX];
    if (!kj_addr_listener(l->port, l->host, bound)) {
        snprintf(msg, msglen, "asked to listen on %s port %d, but %s: refusing to serve", l->host,
                 l->port, bound[0] ? "the socket is bound elsewhere" : "nothing is bound");
        if (bound[0]) snprintf(msg + strlen(msg), msglen - strlen(msg), " (bound to %s)", bound);
        return -1;
    }
    if (!kj_addr_is_loopback(bound)) s->loopback_only = false;
    kj_info("listening on %s://%s%s%s:%d/", s->cfg->tls_cert ? "https" : "http",
            strchr(bound, ':') ? "[" : "", bound, strchr(bound, ':') ? "]" : "", l->port);
    return 0;
}

kj_err kj_server_new(kj_config *cfg, kj_store *store, kj_server **out, char *msg, size_t msglen)
{
    kj_server *s = kj_calloc(1, sizeof *s);
    s->cfg = cfg;
    s->loopback_only = true; /* until a listener is bound elsewhere (check_bound) */
    s->store = store;
    if (!realpath(cfg->web_root, s->web_root)) {
        kj_warn("web_root %s does not exist: only the API is served", cfg->web_root);
        s->web_root[0] = 0;
    }
    fill_protocols();
    for (size_t i = 0; i < N_PROTOS; i++)
        protos[i]->start(s);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (cfg->tls_cert && cfg->tls_key) info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = s;
    /* No fd_limit_per_thread: with it lws 4.1 looks a connection up by a linear
     * scan over every slot on each event; without, by index, sized from the
     * descriptor limit (which main raised for max_connections). */
    info.timeout_secs = 30;
    info.max_http_header_data = KJ_HTTP_HEAD_BUF;
    s->ctx = create_context(s, &info);
    if (!s->ctx) {
        snprintf(msg, msglen, "cannot create the libwebsockets context");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_listen; i++)
        if (make_vhost(s, &cfg->listen[i], (int)i, msg, msglen) ||
            check_bound(s, &cfg->listen[i], msg, msglen))
            goto fail;
    if (!cfg->auth && !s->loopback_only) {
        snprintf(msg, msglen,
                 "auth: false is allowed only while every listener is on loopback, "
                 "and a listener is bound elsewhere");
        goto fail;
    }
    kj_conns_start(s);
    s->watchdog_us = kj_notify_watchdog_interval_us();
    s->tick_us = s->watchdog_us && s->watchdog_us < 10000000 ? s->watchdog_us : 10000000;
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->tick_us);
    *out = s;
    return KJ_OK;
fail:
    s->cfg = NULL; /* the caller's again */
    kj_server_free(s);
    return KJ_ERR_IO;
}

void kj_server_status(kj_server *s, char *buf, size_t len)
{
    kj_ingest_stats st;
    kj_ingest_get_stats(s->ingest, &st);
    double secs = (double)s->tick_us / 1e6;
    snprintf(buf, len, "%zu dashboards, %zu producers, %.0f events/s, %llu events accepted",
             s->stats.live_clients, s->stats.ingest_clients,
             (double)(st.events_accepted - s->last_accepted) / secs,
             (unsigned long long)st.events_accepted);
    s->last_accepted = st.events_accepted;
}

/* The watchdog ping comes from the service loop itself, so a hung loop stops
 * the pings and systemd restarts the daemon. */
static void tick(lws_sorted_usec_list_t *sul)
{
    kj_server *s = (kj_server *)((char *)sul - offsetof(kj_server, tick_sul));
    char status[256];
    kj_server_status(s, status, sizeof status);
    if (s->watchdog_us) kj_notify_watchdog(status);
    lws_sul_schedule(s->ctx, 0, &s->tick_sul, tick, (lws_usec_t)s->tick_us);
}

void kj_server_reload(kj_server *s)
{
    s->reload_wanted = true;
    kj_server_wake(s);
}

void kj_server_set_ingest(kj_server *s, kj_ingest *in)
{
    s->ingest = in;
}

void kj_server_set_hub(kj_server *s, kj_hub *hub)
{
    s->hub = hub;
}

void kj_server_set_cluster(kj_server *s, kj_cluster *cl)
{
    s->cluster = cl;
}

/* The answers to questions asked of the writer (after its published frames,
 * which the live protocol took in its on_wake). */
static void take_answers(kj_server *s)
{
    if (!s->hub) return;
    kj_query *q = kj_hub_take_answers(s->hub);
    while (q) {
        kj_query *next = q->next;
        if (q->done) q->done(q);
        kj_query_free(q);
        q = next;
    }
}

void kj_server_wake(void *server)
{
    kj_server *s = server;
    if (s->ctx) lws_cancel_service(s->ctx);
}

void kj_server_stop(kj_server *s)
{
    s->stopping = true;
    kj_server_wake(s);
}

/* A connection ended (LWS_CALLBACK_WSI_DESTROY, whatever its protocol). */
static void conn_gone(kj_server *s, struct lws *wsi)
{
    /* HTTP/2 streams are wsis of their own: only the network connection counts.
     * Listening sockets are destroyed too, but only at exit: clamp. */
    if (lws_get_network_wsi(wsi) != wsi) return;
    if (s->connections) s->connections--;
    kj_conns_gone(s, wsi);
    kj_debug("connection gone: wsi destroyed (%zu open)", s->connections);
}

static void count_job(kj_server *s, const kj_ingest_job *job)
{
    for (size_t i = 0; i < job->batch->n; i++) {
        const kj_batch_item *it = &job->batch->items[i];
        int result = job->err && job->results[i] != KJ_ITEM_REJECTED ? KJ_RESULT_FAILED
                                                                     : (int)job->results[i];
        kj_stats_event(&s->stats, it->ev.type, result);
    }
}

/* Answers and frees a list of completed jobs. Events applied from the
 * cluster's stream are counted by the cluster module, not as posts. */
static void answer_jobs(kj_server *s, kj_ingest_job *done)
{
    while (done) {
        kj_ingest_job *next = done->next;
        if (!done->from_stream) count_job(s, done);
        if (done->answer) done->answer(done);
        kj_ingest_job_free(done);
        done = next;
    }
}

/* Called on the service thread after every wake-up (lws_cancel_service). */
static void on_wake(kj_server *s)
{
    if (s->stopping && s->loop) ev_break(s->loop, EVBREAK_ALL); /* kj_server_run drains */
    if (s->reload_wanted) {
        s->reload_wanted = false;
        kj_server_do_reload(s);
    }
    answer_jobs(s, kj_ingest_take_done(s->ingest));
    answer_jobs(s, kj_cluster_take_done(s->cluster)); /* PubAcks in */
    for (size_t i = 0; i < N_PROTOS; i++)
        if (protos[i]->on_wake) protos[i]->on_wake(s);
    take_answers(s);
}

/* Callbacks about the connection rather than its protocol; true when handled
 * (with *ret the value for lws). */
static bool conn_callback(kj_server *s, struct lws *wsi, enum lws_callback_reasons reason,
                          void *user, int *ret)
{
    *ret = 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        const struct lws_filter_network_conn_args *net = user;
        if (!kj_conns_admit(s, (const struct sockaddr *)&net->cli_addr))
            *ret = 1;
        else
            s->connections++;
        return true;
    }
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: kj_conns_add(s, wsi); return true;
    case LWS_CALLBACK_WSI_DESTROY: conn_gone(s, wsi); return true;
    default: return false;
    }
}

static int dispatch(const kj_net_proto *p, struct lws *wsi, enum lws_callback_reasons reason,
                    void *user, void *in, size_t len)
{
    kj_server *s = lws_context_user(lws_get_context(wsi));
    int ret;
    if (conn_callback(s, wsi, reason, user, &ret)) return ret;
    return p->callback(wsi, reason, user, in, len);
}

/* The wake-up is broadcast to every protocol of every vhost: the first
 * protocol takes it. */
static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        on_wake(lws_context_user(lws_get_context(wsi)));
        return 0;
    }
    return dispatch(&kj_http_proto, wsi, reason, user, in, len);
}

static int wsingest_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len)
{
    return dispatch(&kj_wsingest_proto, wsi, reason, user, in, len);
}

static int live_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    return dispatch(&kj_live_proto, wsi, reason, user, in, len);
}

/* Whether a protocol still has answers leaving. */
static bool busy(const kj_server *s)
{
    for (size_t i = 0; i < N_PROTOS; i++)
        if (protos[i]->busy && protos[i]->busy(s)) return true;
    return false;
}

static void drain_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents; /* only wakes the loop to check the deadline */
}

/* One turn of the loop: poll() returns after lws's next timer, ev_run(ONCE)
 * after any event, which drain's own timer makes at least one per 50 ms. */
static int serve_once(kj_server *s)
{
    if (!s->loop) {
        s->loop_turns++;
        kj_ws_turn(s);
        return lws_service(s->ctx, 0) < 0 ? -1 : 0;
    }
    ev_run(s->loop, EVRUN_ONCE);
    return 0;
}

/* Stop taking work, let the writer commit what it holds, answer it, and give
 * the answers (and bodies already on their way, which get 503) up to two
 * seconds to leave. */
static void drain(kj_server *s)
{
    kj_info("stopping: committing pending events");
    kj_notify_stopping();
    lws_sul_cancel(&s->tick_sul);
    for (size_t i = 0; i < N_PROTOS; i++)
        if (protos[i]->on_stop) protos[i]->on_stop(s);
    kj_cluster_stop(s->cluster); /* before the writer: the consumer feeds it */
    kj_ingest_stop(s->ingest);
    on_wake(s);
    int64_t deadline = kj_mono_ms() + 2000;
    ev_timer wake;
    if (s->loop) {
        ev_timer_init(&wake, drain_tick, 0.05, 0.05);
        ev_timer_start(s->loop, &wake);
    }
    while (busy(s) && kj_mono_ms() < deadline)
        if (serve_once(s)) break;
    if (s->loop) ev_timer_stop(s->loop, &wake);
}

kj_err kj_server_run(kj_server *s)
{
    if (s->loop && !s->stopping) ev_run(s->loop, 0); /* until on_wake sees stopping */
    while (!s->loop && !s->stopping)
        if (serve_once(s)) return KJ_ERR_IO;
    drain(s);
    return KJ_OK;
}

void kj_server_free(kj_server *s)
{
    if (!s) return;
    kj_rapor_jobs_free(s->rapor_jobs); /* joins its workers: they read the store */
    if (s->ctx) lws_context_destroy(s->ctx);
    if (s->turn_watch) {
        ev_ref(s->loop);
        ev_prepare_stop(s->loop, s->turn_watch);
        free(s->turn_watch);
    }
    if (s->loop) ev_loop_destroy(s->loop); /* after the context: lws's watchers are on it */
    kj_conns_free(s);                      /* after the context: its WSI_DESTROYs leave the table */
    for (size_t i = 0; i < N_PROTOS; i++)  /* after the context: its closes use their state */
        protos[i]->free(s);
    for (size_t i = 0; i < s->n_old_cfgs; i++)
        kj_config_free(s->old_cfgs[i]);
    free(s->old_cfgs);
    kj_config_free((kj_config *)s->cfg);
    free(s);
}
