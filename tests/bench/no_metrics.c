/* kinerja bench — the baseline's stand-in for daemon/ingest/engine_apply.c: events
 * are stored and acknowledged as in kinerjad, but the metrics engine never
 * sees them. Linked before libkjdaemon.a into kinerjad-no-metrics, so the
 * library's engine_apply.o is not pulled in (see the Makefile). */
#include "ingest/engine.h"

kj_err kj_engine_apply(kj_metrics *m, const kj_event *ev)
{
    (void)m, (void)ev;
    return KJ_OK;
}
