/* kinerjad — GET /metrics in the Prometheus text format (version 0.0.4). */
#ifndef KJ_PROM_H
#define KJ_PROM_H

#include <stddef.h>

#include "server_priv.h"

/* Renders every metric into a new malloc'd text (*out, *len). Service thread. */
kj_err kj_prom_render(kj_server *s, char **out, size_t *len);

#endif
