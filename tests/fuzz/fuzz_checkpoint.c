/* libFuzzer target: what the metrics engine reads from the store at start
 * (daemon/metrics/metrics_store.c): bucket keys, per-scope state, the fold watermark,
 * the checkpoint of window totals and stored alerts, through kj_metrics_load
 * and kj_metrics_load_alert, then a tick. Input: records of
 *
 *     kind (1 byte: even a key/value, odd an alert)  key length (1)  value length (2, BE)  bytes
 *
 * A broken record is refused or ignored; the engine stays usable. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "log.h"
#include "metrics/metrics.h"

static kj_config *cfg;

typedef struct record {
    const uint8_t *key, *val;
    size_t klen, vlen;
} record;

/* LMDB's order: bytes compared, then the shorter first. */
static int by_key(const void *a, const void *b)
{
    const record *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t now = 1700000000000LL;
    if (!cfg) {
        if (kj_config_defaults(&cfg) != KJ_OK) abort();
        kj_log_init(KJ_LOG_ERROR);
    }
    /* The store hands kj_metrics_load its keys once each, in key order: so
     * does this, so that a finding is one a real store could produce. */
    record keys[64], alerts[64];
    size_t nk = 0, na = 0, off = 0;
    while (size - off >= 4 && nk < 64 && na < 64) {
        uint8_t kind = data[off];
        size_t klen = data[off + 1], vlen = (size_t)data[off + 2] << 8 | data[off + 3];
        off += 4;
        if (klen > size - off) klen = size - off;
        if (vlen > size - off - klen) vlen = size - off - klen;
        record r = {data + off, data + off + klen, klen, vlen};
        if (kind & 1)
            alerts[na++] = r;
        else if (klen)
            keys[nk++] = r;
        off += klen + vlen;
    }
    qsort(keys, nk, sizeof *keys, by_key);
    kj_metrics *m;
    if (kj_metrics_new(cfg, now, &m) != KJ_OK) abort();
    for (size_t i = 0; i < nk; i++)
        if (i == 0 || by_key(&keys[i - 1], &keys[i]))
            kj_metrics_load(m, keys[i].key, keys[i].klen, keys[i].val, keys[i].vlen);
    for (size_t i = 0; i < na; i++)
        kj_metrics_load_alert(m, alerts[i].val, alerts[i].vlen);
    kj_metrics_tick(m, now);
    kj_metrics_free(m);
    return 0;
}
