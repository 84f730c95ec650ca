/* kinerjad — a unit's rapor for one period (SPEC §15), computed from the store.
 *
 * Every indicator that applies to each member (with personal targets) and to
 * the unit is computed over the whole period from the stored day buckets of
 * its days plus the minute buckets not yet folded into them (metrics.h), all
 * read in ONE read transaction: the histograms are merged, so percentiles
 * are as exact as the live windows' (SPEC §4), and the values agree with one
 * commit. The ratings, the predikat and the unit's IKM follow (rapor.h).
 *
 * Who calls it: a rapor worker thread (rapor_jobs.c), never the writer: a
 * year of a large unit merges tens of thousands of buckets, and ingest must
 * not wait for it. It reads the configuration (borrowed, immutable while it
 * runs) and the store only; it writes nothing. */
#ifndef KJ_RAPOR_READ_H
#define KJ_RAPOR_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "rapor.h"
#include "store/store.h"
#include "tzclock.h"

/* Members in one rapor at most (a bound on its memory and its answer). */
#define KJ_RAPOR_MAX_ROWS 20000

typedef struct kj_rapor_req {
    char unit[KJ_ID_MAX + 1];
    kj_period period;
    bool current;                      /* period: the one of current_kind holding now */
    kj_period_kind current_kind;       /* evaluation.period */
    char only_employee[KJ_ID_MAX + 1]; /* a personal token: its own row only, no
                                          distribution, IKM or unit indicators */
    bool csv;                          /* CSV text instead of a msgpack map */
    int64_t now;                       /* ms; decides `final` and the retention edge */
} kj_rapor_req;

typedef struct kj_rapor_out {
    int status;      /* 200; 400 (period outside retention or not started), 404 (no
                        such unit), 413 (too many members), 500 (the store failed) */
    char error[160]; /* one line, when status is not 200 */
    char *data;      /* malloc'd: the msgpack map or the CSV text; NULL on error */
    size_t len;
} kj_rapor_out;

/* Build the rapor of req into out (out->data is the caller's to free). The
 * msgpack map: {"unit","name","period","kind","from","to","data_from","final",
 * "above_pct","unit_indicators":[I],"rows":[{"employee","name","indicators":[I],
 * "hasil_kerja","perilaku","predikat","predikat_label","assessment":{"ts","by"}|nil,
 * "evidence":{"services","tasks","ratings"},"feedback"}],"distribution":{...},
 * "ikm":{"ikm","ikm_grade","label","responses","elements":[9],"element_names":[9]}}
 * with I = {"id","name","metric","better","value","target","achievement_pct",
 * "status","level"} (nil where there is no data); levels and ratings are
 * "above" / "meets" / "below" or nil. data_from is later than from when the
 * period straddles the retention edge (its older days are gone). CSV: one
 * header line, one line per member (RFC 4180). */
void kj_rapor_build(kj_store *s, const kj_config *cfg, const kj_tz *tz, const kj_rapor_req *req,
                    kj_rapor_out *out);

#endif
