/* kinerja — events as text for export and audit: NDJSON (one JSON object per
 * line) or CSV (RFC 4180, one header line, a column per field, elements as
 * "4,4,3,...", meta as JSON). The daemon's GET /api/v1/events and the
 * `kinerja export` command write the same bytes through this. */
#ifndef KJ_EXPORT_H
#define KJ_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "event.h"

/* The CSV header line, with its newline. */
extern const char kj_export_csv_header[];

/* Write s as one CSV field, quoted per RFC 4180 when it holds a comma, a
 * quote or a line break (quotes doubled). Shared with the daemon's rapor. */
void kj_export_csv_field(FILE *f, const char *s);

/* Write ev as one line (CSV or NDJSON) to f. KJ_ERR_NOMEM when the event
 * cannot be converted, KJ_ERR_IO when f reports an error. */
kj_err kj_export_event(FILE *f, const kj_event *ev, bool csv);

#endif
