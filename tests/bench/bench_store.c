/* bench_store — the store's part of the writer alone: kj_store_expect (a
 * big group's ids, in key order), kj_store_put_event (raw log; the id
 * journal for a group whose ids do not run) and the commit, for service
 * events like
 * bench_ingest's, in groups like the writer's under load. The store runs
 * without fsync (sync: periodic) so that the figure is the CPU of the code,
 * not of the disk: the process CPU time spent inside the transactions, per
 * event. The events are packed before the clock starts, as the service thread
 * packs them for the writer. Prints a figure; asserts nothing.
 *
 * usage: bench_store [EVENTS [GROUP]]   (400,000 events, groups of 8,000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "store/store.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Event i of group g: ids in the order of a few posting connections, eight
 * units, time moving forward (the raw log's common case). */
static void make_event(kj_event *e, int g, int i, int64_t ts)
{
    unsigned r = (unsigned)(g * 7919 + i) * 2654435761u;
    memset(e, 0, sizeof *e);
    e->type = KJ_EV_SERVICE;
    e->ts = ts;
    snprintf(e->id, sizeof e->id, "b%d-%d-%d", i % 8, g, i);
    snprintf(e->unit, sizeof e->unit, "u%u", r % 8);
    snprintf(e->employee, sizeof e->employee, "e%u", r % 200);
    snprintf(e->counter, sizeof e->counter, "c%u", r % 16);
    e->wait_ms = 1000 + r % 900000;
    e->service_ms = 30000 + r % 600000;
}

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 400000, group = argc > 2 ? atoi(argv[2]) : 8000;
    if (total <= 0 || group <= 0) return 2;
    char dir[] = "/tmp/kj-bench-store-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    kj_store_opts o = {dir, 4ULL << 30, true, false};
    kj_store *s;
    char msg[256];
    if (kj_store_open(&o, &s, msg, sizeof msg)) {
        fprintf(stderr, "bench_store: %s\n", msg);
        return 1;
    }
    kj_event *evs = malloc((size_t)group * sizeof *evs);
    size_t *ends = malloc((size_t)group * sizeof *ends); /* evs[i] ends at packed + ends[i] */
    const kj_event **list = malloc((size_t)group * sizeof *list);
    msgpack_sbuffer packed;
    msgpack_sbuffer_init(&packed);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &packed, msgpack_sbuffer_write);
    int64_t ts = kj_now_ms() - 3600 * 1000;
    double spent = 0;
    int stored = 0;
    for (int g = 0; stored < total; g++) {
        packed.size = 0;
        for (int i = 0; i < group; i++) {
            make_event(&evs[i], g, i, ts + (stored + i) / 100);
            kj_msgpack_pack_event(&pk, &evs[i]);
            ends[i] = packed.size;
            list[i] = &evs[i];
        }
        double t0 = cpu_s();
        kj_store_txn *t = NULL;
        bool dup;
        kj_err err = kj_store_begin(s, &t);
        if (!err) err = kj_store_expect(t, list, (size_t)group);
        for (int i = 0; i < group && !err; i++)
            err = kj_store_put_event(t, &evs[i], packed.data + (i ? ends[i - 1] : 0),
                                     ends[i] - (i ? ends[i - 1] : 0), &dup);
        err = err ? (kj_store_abort(t), err) : kj_store_commit(t);
        spent += cpu_s() - t0;
        if (err) {
            fprintf(stderr, "bench_store: %s\n", kj_strerror(err));
            return 1;
        }
        stored += group;
    }
    printf("store path (expect + put_event + commit, no fsync): %.3f us of CPU per event  (%d "
           "events in "
           "groups of %d)\n",
           spent * 1e6 / stored, stored, group);
    kj_store_close(s);
    free(evs);
    free(ends);
    free(list);
    msgpack_sbuffer_destroy(&packed);
    snprintf(msg, sizeof msg, "rm -rf %s", dir);
    return system(msg) ? 1 : 0;
}
