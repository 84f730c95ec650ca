/* kinerjad — the read API of SPEC §7 (api.c): GET /api/v1/units, /snapshot,
 * /series, /overview, /events, and /rapor (api_rapor.h). Called by http.c.
 * Service thread only. */
#ifndef KJ_API_H
#define KJ_API_H

#include "session.h"

/* GET /api/v1/...: 0, or -1 to close. */
int kj_api_request(struct http_sess *hs, const char *uri);
/* The next part of a streamed export; -1 to close (also when done). */
int kj_api_export_write(struct http_sess *hs);
/* May tok read the series of scope ("unit:U", "employee:E", "counter:U/C")? */
bool kj_api_scope_allowed(const kj_token *tok, const char *scope);
/* The session ends: forget queries and exports. */
void kj_api_reset(struct http_sess *hs);

#endif
