#include "prom.h"

#include <stdio.h>
#include <stdlib.h>

#include "ingest/cluster.h"
#include "service.h"

void kj_stats_http(kj_stats *st, int status)
{
    if (status >= 100 && status < 600) st->http_by_code[status - 100]++;
}

void kj_stats_event(kj_stats *st, kj_event_type type, int result)
{
    int t = type >= KJ_EV_TASK && type <= KJ_EV_LAST ? (int)type : 0;
    if (result >= 0 && result < KJ_RESULTS) st->events_total[t][result]++;
}

void kj_stats_updates(kj_stats *st, uint64_t sent, uint64_t dropped)
{
    st->updates_sent += sent;
    st->updates_dropped += dropped;
}

void kj_stats_fanout_wait(kj_stats *st)
{
    st->fanout_waits++;
}

void kj_stats_alert(kj_stats *st, int to)
{
    if (to >= 0 && to < 4) st->alerts_by_status[to]++;
}

static const char *result_names[KJ_RESULTS] = {"rejected", "accepted", "duplicate", "failed"};
static const char *type_name(int t)
{
    return t ? kj_event_type_name((kj_event_type)t) : "unknown";
}

static void events(FILE *f, const kj_stats *s)
{
    fputs("# HELP kinerja_events_total Events posted, by type and result.\n"
          "# TYPE kinerja_events_total counter\n",
          f);
    for (int t = 0; t < KJ_EVENT_TYPES; t++)
        for (int r = 0; r < KJ_RESULTS; r++)
            if (s->events_total[t][r] || t)
                fprintf(f, "kinerja_events_total{type=\"%s\",result=\"%s\"} %llu\n", type_name(t),
                        result_names[r], (unsigned long long)s->events_total[t][r]);
}

static void http(FILE *f, const kj_stats *s)
{
    fputs("# HELP kinerja_http_requests_total HTTP answers, by status code.\n"
          "# TYPE kinerja_http_requests_total counter\n",
          f);
    for (int code = 100; code < 600; code++)
        if (s->http_by_code[code - 100])
            fprintf(f, "kinerja_http_requests_total{code=\"%d\"} %llu\n", code,
                    (unsigned long long)s->http_by_code[code - 100]);
}

static void commits(FILE *f, const kj_ingest_stats *st)
{
    fputs("# HELP kinerja_commit_seconds Write transactions (group commits), by duration.\n"
          "# TYPE kinerja_commit_seconds histogram\n",
          f);
    uint64_t cum = 0;
    for (int b = 0; b < KJ_COMMIT_BUCKETS; b++) {
        cum += st->commit_hist[b];
        fprintf(f, "kinerja_commit_seconds_bucket{le=\"%g\"} %llu\n", kj_commit_bucket_ms[b] / 1000,
                (unsigned long long)cum);
    }
    cum += st->commit_hist[KJ_COMMIT_BUCKETS];
    fprintf(f, "kinerja_commit_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    fprintf(f, "kinerja_commit_seconds_sum %.6f\nkinerja_commit_seconds_count %llu\n",
            st->commit_sum_s, (unsigned long long)cum);
    fprintf(f,
            "# HELP kinerja_commits_failed_total Write transactions that failed (nothing stored).\n"
            "# TYPE kinerja_commits_failed_total counter\nkinerja_commits_failed_total %llu\n",
            (unsigned long long)st->groups_failed);
    fprintf(f,
            "# HELP kinerja_ingest_queue_depth Batches waiting for the writer.\n"
            "# TYPE kinerja_ingest_queue_depth gauge\nkinerja_ingest_queue_depth %zu\n",
            st->queued_jobs);
}

static void gauge(FILE *f, const char *name, const char *help, unsigned long long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, v);
}

static void counter(FILE *f, const char *name, const char *help, unsigned long long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

static void cluster(FILE *f, kj_cluster *cl)
{
    kj_cluster_stats st;
    kj_cluster_get_stats(cl, &st);
    gauge(f, "kinerja_cluster_connected", "1 while connected to NATS.", st.connected);
    gauge(f, "kinerja_cluster_ready", "1 while ingest goes to JetStream (else 503).", st.ready);
    gauge(f, "kinerja_cluster_lag_events", "Events of the stream this node has not applied.",
          st.lag);
    gauge(f, "kinerja_cluster_publish_inflight", "Publishes awaiting JetStream's ack.",
          st.inflight);
    fputs("# HELP kinerja_cluster_published_total Posted events published, by JetStream's answer.\n"
          "# TYPE kinerja_cluster_published_total counter\n",
          f);
    fprintf(f,
            "kinerja_cluster_published_total{result=\"accepted\"} %llu\n"
            "kinerja_cluster_published_total{result=\"duplicate\"} %llu\n"
            "kinerja_cluster_published_total{result=\"failed\"} %llu\n",
            (unsigned long long)st.published[1], (unsigned long long)st.published[2],
            (unsigned long long)st.published[0]);
    counter(f, "kinerja_cluster_applied_total", "Events from the stream stored by this node.",
            st.applied);
    counter(f, "kinerja_cluster_applied_duplicates_total",
            "Events from the stream this node held already.", st.applied_duplicates);
    counter(f, "kinerja_cluster_disconnects_total", "Connections to NATS lost.", st.disconnects);
}

kj_err kj_prom_render(kj_server *s, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f) return KJ_ERR_NOMEM;
    kj_ingest_stats st;
    kj_ingest_get_stats(s->ingest, &st);
    kj_store_stats ss = {0};
    kj_store_get_stats(s->store, &ss);
    fprintf(f,
            "# HELP kinerja_build_info The running build.\n# TYPE kinerja_build_info gauge\n"
            "kinerja_build_info{version=\"%s\"} 1\n",
            KJ_VERSION);
    events(f, &s->stats);
    http(f, &s->stats);
    commits(f, &st);
    gauge(f, "kinerja_connections", "Open connections of every kind.", s->connections);
    gauge(f, "kinerja_live_clients", "Dashboards connected (kinerja-live.v1).",
          s->stats.live_clients);
    gauge(f, "kinerja_live_units", "Units watched by at least one dashboard.", s->stats.live_units);
    gauge(f, "kinerja_ingest_clients", "Producers connected (kinerja-ingest.v1).",
          s->stats.ingest_clients);
    counter(f, "kinerja_updates_sent_total", "Live frames delivered to viewers.",
            s->stats.updates_sent);
    counter(f, "kinerja_updates_dropped_total",
            "Live frames dropped for slow viewers (replaced by a snapshot).",
            s->stats.updates_dropped);
    counter(f, "kinerja_fanout_waits_total",
            "Times a viewer's frames waited for a later turn of the service loop "
            "(fanout_turn_bytes).",
            s->stats.fanout_waits);
    for (int st_i = 0; st_i < 4; st_i++) {
        static const char *names[] = {"none", "ok", "warn", "bad"};
        if (st_i == 0)
            fputs("# HELP kinerja_alerts_total Indicator status changes, by new status.\n"
                  "# TYPE kinerja_alerts_total counter\n",
                  f);
        fprintf(f, "kinerja_alerts_total{to=\"%s\"} %llu\n", names[st_i],
                (unsigned long long)s->stats.alerts_by_status[st_i]);
    }
    gauge(f, "kinerja_lmdb_map_size_bytes", "The LMDB map size (map_size).", ss.map_size);
    gauge(f, "kinerja_lmdb_used_bytes", "Bytes of the LMDB map in use.", ss.used);
    gauge(f, "kinerja_stored_events", "Events in the raw log.", ss.events);
    gauge(f, "kinerja_id_journal_ids",
          "New events' ids in the id journal, merged into the id index at id_merge_events.",
          ss.journal_ids);
    gauge(f, "kinerja_id_runs",
          "Entries of the id index: runs of ids that count up (one entry for a random id).",
          ss.id_runs);
    gauge(f, "kinerja_id_filter_ids",
          "Ids (and families of long runs) in the id filter since the start; past id_filter_size "
          "/ 1.25 it spares fewer look-ups.",
          ss.id_filter_ids);
    gauge(f, "kinerja_agg_journal_bytes",
          "Bucket writes in the bucket journal, merged into the bucket table at agg_merge_bytes.",
          ss.agg_journal_bytes);
    gauge(f, "kinerja_store_full", "1 while the last write failed for a full map or disk.",
          kj_ingest_store_full(s->ingest));
    if (s->cluster) cluster(f, s->cluster);
    if (fclose(f) != 0) return KJ_ERR_NOMEM;
    return KJ_OK;
}
