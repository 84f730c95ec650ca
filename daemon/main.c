/* kinerjad — command line, start-up order, signals, and a clean stop. */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/config.h"
#include "ingest/cluster.h"
#include "ingest/engine.h"
#include "ingest/hub.h"
#include "ingest/ingest.h"
#include "log.h"
#include "net/server.h"
#include "notify.h"
#include "store/store.h"

#define DEFAULT_CONFIG "/etc/kinerja/kinerjad.yaml"

static const char usage[] =
    "usage: kinerjad [-c FILE] [--check-config] [--rebuild] [--version] [--help]\n"
    "\n"
    "The kinerja daemon: takes in performance events, keeps rolling metrics and\n"
    "indicators in LMDB, and streams live updates to dashboards.\n"
    "\n"
    "  -c, --config FILE  the configuration (default " DEFAULT_CONFIG " when it exists,\n"
    "                     else built-in defaults)\n"
    "  --check-config     check the configuration, print each error, and exit\n"
    "  --rebuild          recompute every aggregate from the raw log, then exit\n"
    "  --version          print the version and exit\n"
    "  -h, --help         this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop cleanly (pending events are committed);\n"
    "SIGHUP reloads tokens, units and indicators.\n";

struct options {
    const char *config;
    bool check, rebuild;
};

/* 0: run; 1: exit 0 (help, version); 2: usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 'C'},
        {"rebuild", no_argument, NULL, 'R'},      {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'C': o->check = true; break;
        case 'R': o->rebuild = true; break;
        case 'V': printf("kinerjad %s\n", KJ_VERSION); return 1;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kinerjad: unexpected argument '%s'\n%s", argv[optind], usage);
        return 2;
    }
    return 0;
}

static kj_config *load_config(const char *path)
{
    kj_config *cfg = NULL;
    char errs[8192];
    if (!path && access(DEFAULT_CONFIG, F_OK) == 0) path = DEFAULT_CONFIG;
    kj_err err = path ? kj_config_load(path, &cfg, errs, sizeof errs) : kj_config_defaults(&cfg);
    if (err) {
        fprintf(stderr, "%s", errs);
        if (errs[0] && errs[strlen(errs) - 1] != '\n') fputc('\n', stderr);
        return NULL;
    }
    return cfg;
}

/* Refuses what the configuration allows but the daemon must not do. */
static bool safe_to_start(const kj_config *cfg)
{
    if (!cfg->auth && !kj_config_loopback_only(cfg)) {
        kj_error("auth: false is allowed only while every listener is on loopback; "
                 "set auth: true and configure tokens, or listen on 127.0.0.1");
        return false;
    }
    if (!cfg->auth)
        kj_warn("auth is off: anyone who can reach the port may post and read");
    else if (cfg->n_tokens == 0)
        kj_warn("auth is on and no tokens are configured: nobody can post");
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        kj_error("tls_cert and tls_key must be set together");
        return false;
    }
    return true;
}

struct signals {
    sigset_t set;
    kj_server *server;
};

/* Signals arrive here only (they are blocked in every other thread), so the
 * handler is an ordinary function and may call what it likes. */
static void *signal_main(void *arg)
{
    struct signals *sg = arg;
    for (;;) {
        int sig;
        if (sigwait(&sg->set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) {
            kj_info("signal %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            kj_server_stop(sg->server);
            return NULL;
        }
        if (sig == SIGHUP) {
            kj_info("signal SIGHUP: reloading the configuration");
            kj_server_reload(sg->server);
        }
    }
}

/* The store as the configuration asks, for the daemon and --rebuild alike. */
static kj_store_opts store_opts(const kj_config *cfg)
{
    return (kj_store_opts){.dir = cfg->state_dir,
                           .map_size = cfg->map_size,
                           .sync_periodic = cfg->sync == KJ_SYNC_PERIODIC,
                           .id_merge_at = cfg->id_merge_events,
                           .agg_merge_bytes = cfg->agg_merge_bytes,
                           .agg_merge_entries = cfg->agg_merge_entries,
                           .id_filter_bytes = cfg->id_filter_size};
}

/* kinerjad --rebuild: with the daemon stopped (LMDB allows one writer). */
static int rebuild(kj_config *cfg)
{
    kj_log_init(cfg->log_level);
    char msg[512];
    kj_store *store = NULL;
    kj_store_opts so = store_opts(cfg);
    so.sync_periodic = false; /* a one-off job that ends with close: each group synced */
    size_t events = 0;
    int rc = 1;
    if (kj_store_open(&so, &store, msg, sizeof msg) == KJ_OK &&
        kj_engine_rebuild(cfg, store, &events, msg, sizeof msg) == KJ_OK) {
        kj_info("rebuild: every aggregate recomputed from %zu stored events", events);
        rc = 0;
    } else {
        kj_error("%s", msg);
    }
    kj_store_close(store);
    kj_config_free(cfg);
    return rc;
}

static void start_signal_thread(kj_server *server)
{
    static struct signals sg;
    pthread_t sigthread;
    sg.server = server;
    sigemptyset(&sg.set);
    sigaddset(&sg.set, SIGTERM);
    sigaddset(&sg.set, SIGINT);
    sigaddset(&sg.set, SIGHUP);
    pthread_create(&sigthread, NULL, signal_main, &sg);
    pthread_setname_np(sigthread, "kj-signals");
    pthread_detach(sigthread);
}

/* Many viewers need many descriptors: take the hard limit we are allowed
 * (systemd's LimitNOFILE sets both; a shell's soft limit is often 1024). */
static void raise_fd_limit(size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want + 64) return;
    rl.rlim_cur = rl.rlim_max < want + 64 ? rl.rlim_max : want + 64;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want + 64)
        kj_warn("max_connections is %zu but only %llu descriptors are allowed", want,
                (unsigned long long)rl.rlim_cur);
}

/* Takes cfg. */
static int run(kj_config *cfg)
{
    raise_fd_limit(cfg->max_connections);
    int rc = 1;
    char msg[512];
    kj_store *store = NULL;
    kj_server *server = NULL;
    kj_ingest *ingest = NULL;
    kj_hub *hub = NULL;
    kj_engine *engine = NULL;
    kj_cluster *cluster = NULL;
    kj_store_opts so = store_opts(cfg);
    if (kj_store_open(&so, &store, msg, sizeof msg)) {
        kj_error("%s", msg);
        kj_config_free(cfg);
        goto out;
    }
    if (kj_server_new(cfg, store, &server, msg, sizeof msg)) {
        kj_error("%s", msg);
        kj_config_free(cfg);
        goto out;
    }
    /* from here on the server owns cfg (and the configurations reloads bring) */
    hub = kj_hub_new(kj_server_wake, server, NULL, NULL);
    if (kj_engine_new(cfg, store, hub, &engine, msg, sizeof msg)) {
        kj_error("%s", msg);
        goto out;
    }
    kj_ingest_hooks hooks = kj_engine_hooks(engine);
    if (kj_ingest_new(store, &hooks, cfg->ingest_queue, cfg->commit_group_events, kj_server_wake,
                      server, &ingest)) {
        kj_error("cannot start the writer thread");
        goto out;
    }
    kj_hub_set_writer(hub, (void (*)(void *))kj_ingest_poke, ingest);
    kj_server_set_ingest(server, ingest);
    if (cfg->cluster) {
        if (kj_cluster_new(cfg->cluster, cfg->max_event_age_ms, store, ingest, kj_server_wake,
                           server, &cluster, msg, sizeof msg)) {
            kj_error("%s", msg);
            goto out;
        }
        kj_server_set_cluster(server, cluster);
    }
    kj_server_set_hub(server, hub);
    start_signal_thread(server);

    kj_info("kinerjad %s ready (state_dir %s)", KJ_VERSION, cfg->state_dir);
    kj_notify_ready("ready");
    rc = kj_server_run(server) == KJ_OK ? 0 : 1;
    kj_ingest_stop(ingest);
    kj_engine_checkpoint(engine);
    kj_store_sync(store);
    kj_info("stopped");
out:
    kj_cluster_free(cluster); /* the consumer feeds the writer: first */
    kj_ingest_free(ingest);   /* before the server: the writer may still read its config */
    kj_engine_free(engine);
    kj_server_free(server);
    kj_hub_free(hub);
    kj_store_close(store);
    return rc;
}

/* A decoded batch is about 1 KiB per event (a body of 1,000 events: 1 MiB),
 * allocated for each request and freed after its answer. glibc maps blocks
 * this large afresh and trims the heap above 128 KiB free, so every batch
 * paid a page fault per 4 KiB on first touch. Batches up to the protocol's
 * limit come from the heap, and up to BATCH_HEAP_KEEP of freed heap stays
 * for the next ones. */
#define BATCH_HEAP_KEEP (32 << 20)
static void keep_batch_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, (int)(KJ_BATCH_MAX * sizeof(kj_batch_item) + 4096));
    mallopt(M_TRIM_THRESHOLD, BATCH_HEAP_KEEP);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    int a = parse_args(argc, argv, &o);
    if (a) return a == 1 ? 0 : 2;
    keep_batch_memory();

    /* Block the signals in every thread; signal_main takes them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    kj_config *cfg = load_config(o.config);
    if (!cfg) return 1;
    if (o.rebuild) return rebuild(cfg);
    if (o.check) {
        printf("%s: ok\n", cfg->path ? cfg->path : "built-in defaults");
        kj_config_free(cfg);
        return 0;
    }
    kj_log_init(cfg->log_level);
    if (!safe_to_start(cfg)) {
        kj_config_free(cfg);
        return 1;
    }
    return run(cfg);
}
