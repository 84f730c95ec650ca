/* kinerja — internal to client/ (used by `kinerja snapshot` and `watch`): a
 * unit's state as text for a terminal, and the live protocol's frames applied
 * to that state.
 *
 * The state is the JSON form of a snapshot (SPEC §7): unit_metrics, members,
 * counters (each keyed by window), indicators and alerts. Rendering reads it
 * leniently: a field that is missing or of another type shows as "-", never
 * fails, so the view keeps working while the daemon's answers grow. */
#ifndef KJ_VIEW_H
#define KJ_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct kj_view_opts {
    bool color;          /* ANSI colours and bold */
    int width;           /* truncate lines to this many columns; 0: no limit */
    int64_t now_ms;      /* for "serving for 4m12s" */
    const char *status;  /* "live", "reconnecting: ...", or NULL */
    int max_members;     /* 0: all */
    int max_alerts;      /* 0: 10 */
    const json_t *names; /* from kj_view_names(), or NULL */
} kj_view_opts;

/* Display names of one unit from the answer of GET /api/v1/units (a list of
 * units, or {"units": [...]}, each with id, name, members and counters as
 * lists of {id, name}): {"unit": name, "members": {id: name}, "counters":
 * {id: name}}. A new reference; an empty object when nothing is known. */
json_t *kj_view_names(const json_t *units_answer, const char *unit);

/* kj_view_names of GET /api/v1/units through c; an empty object when the
 * daemon does not answer it (names are a nicety, never a reason to fail). */
struct kj_client;
json_t *kj_view_fetch_names(struct kj_client *c, const char *unit);

/* The state as text, lines ending in '\n'; malloc'd, the caller frees it. */
char *kj_view_render(const json_t *state, const kj_view_opts *o);

/* Apply one live frame ({"op": "snapshot" | "update" | "alert", ...}) to
 * *state (a new object is made for a snapshot; *state may be NULL before the
 * first). Returns false for frames that do not change the state (units,
 * error, unknown ops). An "error" frame's text is copied to err when given. */
bool kj_view_apply(json_t **state, const json_t *frame, char *err, size_t errlen);

/* "950ms", "12s", "4m05s", "2h10m", "3d4h" for a duration in ms. */
void kj_view_duration(char *buf, size_t len, double ms);

#endif
