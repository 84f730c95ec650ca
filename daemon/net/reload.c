/* kinerjad — SIGHUP: reload tokens, units, members, counters and indicators
 * without dropping a connection. A configuration that does not load is logged
 * (file, line, key) and the running one is kept. */
#include <stdio.h>
#include <string.h>

#include "../proto/alloc.h"
#include "log.h"
#include "notify.h"
#include "service.h"
#include "ws.h"

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (!same(a[i], b[i])) return false;
    return true;
}

/* The cluster keys that differ, as "cluster.node, cluster.units" in buf
 * (empty when none): the running cluster keeps its connection and its
 * consumers, cluster.c reads its block at start only. */
static void cluster_changes(const kj_cluster_conf *a, const kj_cluster_conf *b, char *buf,
                            size_t len)
{
    buf[0] = 0;
    if (!a || !b) {
        if (a != b) snprintf(buf, len, "cluster (%s)", a ? "removed" : "added");
        return;
    }
    const struct {
        const char *key;
        bool same;
    } keys[] = {
        {"nats", same_list(a->nats, a->n_nats, b->nats, b->n_nats)},
        {"stream", same(a->stream, b->stream)},
        {"replicas", a->replicas == b->replicas},
        {"node", same(a->node, b->node)},
        {"units",
         a->all_units == b->all_units && same_list(a->units, a->n_units, b->units, b->n_units)},
        {"creds", same(a->creds, b->creds)},
        {"tls_ca", same(a->tls_ca, b->tls_ca)},
        {"tls_cert", same(a->tls_cert, b->tls_cert) && same(a->tls_key, b->tls_key)},
        {"max_inflight", a->max_inflight == b->max_inflight},
        {"publish_timeout", a->publish_timeout_ms == b->publish_timeout_ms},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && n < len; i++)
        if (!keys[i].same)
            n += (size_t)snprintf(buf + n, len - n, "%scluster.%s", n ? ", " : "", keys[i].key);
}

/* Keys that need a restart: warn, and keep running with the old values. */
static void warn_restart_keys(const kj_config *old, const kj_config *n)
{
    bool listen_same = old->n_listen == n->n_listen;
    for (size_t i = 0; listen_same && i < n->n_listen; i++)
        listen_same = same(old->listen[i].host, n->listen[i].host) &&
                      old->listen[i].port == n->listen[i].port;
    if (!listen_same) kj_warn("reload: listen changed; it takes effect at the next restart");
    if (!same(old->state_dir, n->state_dir) || old->map_size != n->map_size ||
        old->sync != n->sync || old->id_merge_events != n->id_merge_events ||
        old->agg_merge_bytes != n->agg_merge_bytes ||
        old->agg_merge_entries != n->agg_merge_entries || old->id_filter_size != n->id_filter_size)
        kj_warn("reload: state_dir, map_size, sync, id_merge_events, id_filter_size, "
                "agg_merge_bytes or agg_merge_entries changed; they take effect at the next "
                "restart");
    if (!same(old->tls_cert, n->tls_cert) || !same(old->tls_key, n->tls_key) ||
        !same(old->web_root, n->web_root))
        kj_warn(
            "reload: tls_cert, tls_key or web_root changed; they take effect at the next restart");
    if (!same(old->timezone, n->timezone))
        kj_warn("reload: timezone changed; it takes effect at the next restart");
    char changed[256];
    cluster_changes(old->cluster, n->cluster, changed, sizeof changed);
    if (changed[0])
        kj_warn("reload: %s changed: restart kinerjad to apply it; the running cluster keeps its "
                "settings",
                changed);
}

static void log_errors(const char *errs)
{
    const char *p = errs;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) kj_error("reload: %.*s", (int)n, p);
        p += n + (nl != NULL);
    }
}

void kj_server_do_reload(kj_server *s)
{
    const char *path = s->cfg->path;
    if (!path) {
        kj_warn("SIGHUP: running on built-in defaults, there is no file to reload");
        return;
    }
    kj_notify_reloading();
    kj_config *n = NULL;
    char errs[8192] = "";
    if (kj_config_load(path, &n, errs, sizeof errs) != KJ_OK) {
        log_errors(errs);
        kj_error("reload: %s has errors; the running configuration is kept", path);
    } else if (!n->auth && !s->loopback_only) {
        kj_error("reload: auth: false is allowed only while every listener is on loopback; "
                 "the running configuration is kept");
        kj_config_free(n);
    } else {
        warn_restart_keys(s->cfg, n); /* those are read at start only */
        s->old_cfgs = kj_realloc(s->old_cfgs, (s->n_old_cfgs + 1) * sizeof *s->old_cfgs);
        s->old_cfgs[s->n_old_cfgs++] = (kj_config *)s->cfg;
        s->cfg = n;
        kj_log_set_level(n->log_level);
        kj_ws_reauthorize_all(s);
        kj_ingest_post_config(s->ingest, n);
        kj_info("configuration reloaded from %s: %zu tokens, %zu units, %zu indicators", path,
                n->n_tokens, n->n_units, n->n_indicators);
    }
    kj_notify_ready("configuration reloaded");
}
