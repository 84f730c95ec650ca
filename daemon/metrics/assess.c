/* The latest assessment per (employee, period) in the agg database (assess.h). */
#include "assess.h"

#include <string.h>

#define VALUE_VERSION 1
#define VALUE_MAX (1 + 8 + KJ_BEHAVIOURS + 1 + KJ_ID_MAX)

size_t kj_assess_key(uint8_t *buf, const char *employee, const kj_period *p)
{
    size_t n = strlen(employee);
    buf[0] = KJ_ASSESS_KEY_TAG;
    memcpy(buf + 1, employee, n);
    buf[1 + n] = 0;
    char name[KJ_PERIOD_NAME_MAX];
    kj_period_format(p, name, sizeof name);
    size_t pn = strlen(name);
    memcpy(buf + 2 + n, name, pn);
    return 2 + n + pn;
}

static size_t encode(uint8_t *v, const kj_event *ev)
{
    size_t n = 0, by = strlen(ev->by);
    v[n++] = VALUE_VERSION;
    for (int i = 7; i >= 0; i--)
        v[n++] = (uint8_t)((uint64_t)ev->ts >> (8 * i));
    memcpy(v + n, ev->behaviour, KJ_BEHAVIOURS);
    n += KJ_BEHAVIOURS;
    v[n++] = (uint8_t)by;
    memcpy(v + n, ev->by, by);
    return n + by;
}

kj_err kj_assess_decode(const void *val, size_t len, kj_assessment *out)
{
    const uint8_t *v = val;
    if (len < 1 + 8 + KJ_BEHAVIOURS + 1 || v[0] != VALUE_VERSION) return KJ_ERR_DECODE;
    uint64_t ts = 0;
    for (int i = 1; i <= 8; i++)
        ts = ts << 8 | v[i];
    size_t by = v[9 + KJ_BEHAVIOURS];
    if (len != 10 + KJ_BEHAVIOURS + by || by > KJ_ID_MAX) return KJ_ERR_DECODE;
    out->ts = (int64_t)ts;
    memcpy(out->behaviour, v + 9, KJ_BEHAVIOURS);
    for (int i = 0; i < KJ_BEHAVIOURS; i++)
        if (out->behaviour[i] < KJ_LEVEL_BELOW || out->behaviour[i] > KJ_LEVEL_ABOVE)
            return KJ_ERR_DECODE;
    memcpy(out->by, v + 10 + KJ_BEHAVIOURS, by);
    out->by[by] = '\0';
    return KJ_OK;
}

kj_err kj_assess_put(kj_store_txn *t, const kj_event *ev)
{
    uint8_t key[KJ_ASSESS_KEY_MAX], val[VALUE_MAX];
    size_t klen = kj_assess_key(key, ev->employee, &ev->period);
    const void *old;
    size_t olen;
    kj_assessment prev;
    kj_err err = kj_store_get_agg(t, key, klen, &old, &olen);
    if (err && err != KJ_ERR_NOT_FOUND) return err;
    /* A later event by time wins; at equal times the later arrival (the raw
     * log's order, which --rebuild replays). An unreadable old value loses. */
    if (!err && kj_assess_decode(old, olen, &prev) == KJ_OK && prev.ts > ev->ts) return KJ_OK;
    return kj_store_put_agg(t, key, klen, val, encode(val, ev));
}
