/* kinerjad — the protocols' way in to the writer (service.h). */
#include "service.h"

#include "ingest/cluster.h"

kj_err kj_server_submit(kj_server *s, kj_ingest_job *job)
{
    return s->cluster ? kj_cluster_submit(s->cluster, job) : kj_ingest_submit(s->ingest, job);
}
