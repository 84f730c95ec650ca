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

/* ev as one line of text (CSV or NDJSON, with its newline) in a new buffer
 * (*line, free() it; *len bytes, NUL-terminated). KJ_ERR_DECODE when ev cannot
 * be converted to JSON (a stored meta that is not msgpack, or jansson out of
 * memory), KJ_ERR_NOMEM when the line cannot be built. A caller reports every
 * failure: an export that drops an event silently is an audit defect. */
kj_err kj_export_line(const kj_event *ev, bool csv, char **line, size_t *len);

/* Write ev's line to f: nothing of ev on a conversion failure (as
 * kj_export_line), KJ_ERR_IO when f reports an error (errno tells why). */
kj_err kj_export_event(FILE *f, const kj_event *ev, bool csv);

#endif
