/* kinerjad — GET /api/v1/rapor (api_rapor.c), called by api.c. Service
 * thread only. */
#ifndef KJ_API_RAPOR_H
#define KJ_API_RAPOR_H

#include "session.h"

/* Checks the request and asks a rapor worker; 0, or -1 to close. */
int kj_api_get_rapor(struct http_sess *hs);

#endif
