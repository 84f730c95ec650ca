/* kinerjad — the configuration's `cluster` block (SPEC §17): the NATS servers,
 * the stream, this node's name, its units and the publish limits. Called by
 * config.c's loader on the main thread (load and --check-config). */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "config_priv.h"

#define MAX_NATS 32

/* A stream or consumer name of JetStream: no '.', '*', '>' or blanks. */
static bool nats_name_valid(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_') return false;
    return true;
}

static void add_nats_url(struct load *ld, const char *key, const kj_cfg_entry *e,
                         kj_cluster_conf *cl)
{
    static const char *const schemes[] = {"nats://", "tls://"};
    if (!e || e->kind != KJ_CFG_SCALAR || kj_cfg_entry_null(e)) {
        kj_cfg_fail(ld, key, "must be a server URL such as \"nats://127.0.0.1:4222\"");
        return;
    }
    bool ok = false;
    for (size_t i = 0; i < COUNT(schemes); i++)
        ok |=
            !strncmp(e->value, schemes[i], strlen(schemes[i])) && e->value[strlen(schemes[i])] != 0;
    if (!ok || strlen(e->value) > 512) {
        kj_cfg_fail(ld, key,
                    "must be a server URL nats://host:port or tls://host:port (got \"%.80s\")",
                    e->value);
        return;
    }
    cl->nats[cl->n_nats++] = kj_strdup(e->value);
}

static void load_nats_urls(struct load *ld, kj_cluster_conf *cl)
{
    const kj_cfg_entry *e = kj_cfg_lines_get(ld->ix, "cluster.nats");
    if (!e || kj_cfg_entry_null(e)) {
        cl->nats = kj_calloc(1, sizeof *cl->nats);
        cl->nats[cl->n_nats++] = kj_strdup("nats://127.0.0.1:4222");
        return;
    }
    size_t want = e->kind == KJ_CFG_LIST ? e->count : 1;
    if (e->kind == KJ_CFG_MAP || want < 1 || want > MAX_NATS) {
        kj_cfg_fail(ld, "cluster.nats", "must be a server URL or a list of 1 to %d of them",
                    MAX_NATS);
        return;
    }
    cl->nats = kj_calloc(want, sizeof *cl->nats);
    if (e->kind == KJ_CFG_SCALAR) add_nats_url(ld, "cluster.nats", e, cl);
    for (size_t i = 0; e->kind == KJ_CFG_LIST && i < want; i++) {
        path p = kj_cfg_item("cluster.nats", i);
        add_nats_url(ld, p.s, kj_cfg_lines_get(ld->ix, p.s), cl);
    }
}

/* A file the daemon reads at start: checked now, so --check-config names it. */
static void set_readable(struct load *ld, const char *key, const char *raw, char **out)
{
    kj_cfg_set_string(ld, key, raw, out);
    if (*out && access(*out, R_OK) != 0)
        kj_cfg_fail(ld, key, "cannot read %.200s: %s", *out, strerror(errno));
}

static void load_cluster_names(struct load *ld, const struct raw_cluster *r, kj_cluster_conf *cl)
{
    kj_cfg_set_string(ld, "cluster.stream", r->stream, &cl->stream);
    if (cl->stream && !nats_name_valid(cl->stream, 64))
        kj_cfg_fail(ld, "cluster.stream",
                    "must be 1-64 characters of A-Z a-z 0-9 _ - (got \"%.80s\")", cl->stream);
    const char *node = kj_cfg_leaf(ld, "cluster.node", r->node);
    if (!node)
        kj_cfg_fail(ld, "cluster.node",
                    "required: this node's name (its durable consumer), e.g. jkt-1");
    else if (!nats_name_valid(node, 64))
        kj_cfg_fail(ld, "cluster.node",
                    "must be 1-64 characters of A-Z a-z 0-9 _ - (got \"%.80s\")", node);
    else
        cl->node = kj_strdup(node);
    set_readable(ld, "cluster.creds", r->creds, &cl->creds);
}

/* TLS to the NATS servers: on with a tls:// URL or any tls_ key (then every
 * server is reached over TLS); the client certificate goes with its key. */
static void load_cluster_tls(struct load *ld, const struct raw_cluster *r, kj_cluster_conf *cl)
{
    set_readable(ld, "cluster.tls_ca", r->tls_ca, &cl->tls_ca);
    set_readable(ld, "cluster.tls_cert", r->tls_cert, &cl->tls_cert);
    set_readable(ld, "cluster.tls_key", r->tls_key, &cl->tls_key);
    if (!r->tls_cert != !r->tls_key)
        kj_cfg_fail(ld, r->tls_cert ? "cluster.tls_cert" : "cluster.tls_key",
                    "tls_cert and tls_key go together");
    cl->tls = r->tls_ca || r->tls_cert || r->tls_key;
    for (size_t i = 0; i < cl->n_nats; i++)
        cl->tls |= !strncmp(cl->nats[i], "tls://", 6);
}

/* Each unit of the list is one durable consumer of this node (cluster.c):
 * none would consume nothing, one listed twice would be read twice. */
static void check_units(struct load *ld, const kj_cluster_conf *cl)
{
    if (cl->all_units) return;
    if (!cl->n_units)
        kj_cfg_fail(ld, "cluster.units", "must be \"*\" or a list of at least one unit id");
    for (size_t i = 0; i < cl->n_units; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cl->units[i], cl->units[j]))
                kj_cfg_fail(ld, "cluster.units", "lists unit %s twice", cl->units[i]);
}

void kj_cfg_load_cluster(struct load *ld, const struct raw_cluster *r, kj_config *c)
{
    if (!r) return;
    kj_cluster_conf *cl = kj_calloc(1, sizeof *cl);
    c->cluster = cl;
    cl->stream = kj_strdup("KINERJA");
    cl->replicas = 3;
    cl->max_inflight = 10000;
    cl->publish_timeout_ms = 5 * KJ_SEC_MS;
    load_nats_urls(ld, cl);
    load_cluster_names(ld, r, cl);
    load_cluster_tls(ld, r, cl);
    uint64_t v = (uint64_t)cl->replicas;
    kj_cfg_set_uint(ld, "cluster.replicas", r->replicas, 1, 5, &v); /* JetStream's limit */
    cl->replicas = (int)v;
    v = cl->max_inflight;
    kj_cfg_set_uint(ld, "cluster.max_inflight", r->max_inflight, 1, 1000000, &v);
    cl->max_inflight = (size_t)v;
    kj_cfg_set_duration(ld, "cluster.publish_timeout", r->publish_timeout, 100, 10 * KJ_MINUTE_MS,
                        &cl->publish_timeout_ms);
    if (!kj_cfg_unit_list(ld, "cluster.units", &cl->all_units, &cl->units, &cl->n_units))
        cl->all_units = true;
    check_units(ld, cl);
}
