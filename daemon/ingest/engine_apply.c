/* kinerjad — the metrics' part of storing an event (engine.h), alone in its
 * file so that the bench's baseline can replace it at link time. */
#include "engine.h"

kj_err kj_engine_apply(kj_metrics *m, const kj_event *ev)
{
    return kj_metrics_apply(m, ev);
}
