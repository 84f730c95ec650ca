/* kinerja export — raw events from the store, read-only, beside a running
 * daemon (LMDB readers never block its writer). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "cmd.h"
#include "export.h"
#include "store/store.h"

static const char help[] =
    "usage: kinerja export --state-dir DIR --format csv|ndjson [--unit U] [--from T] [--to T]\n"
    "                      [-o FILE]\n"
    "\n"
    "Writes the raw events of the store in DIR (kinerjad's state_dir) in time order:\n"
    "NDJSON, one event per line, or CSV with one header line and a column per field\n"
    "(elements as \"4,4,3,...\", meta as JSON). Reads the store directly and\n"
    "read-only: safe while kinerjad runs. T is ms since the epoch, ISO 8601\n"
    "(2024-05-02T08:00:00+07:00) or now; --from is inclusive, --to exclusive.\n"
    "\n"
    "  -o, --output FILE   write to FILE instead of standard output\n";

typedef struct export_ctx {
    FILE *out;
    bool csv;
    uint64_t count;
    uint64_t failed; /* events that could not be converted, each named on stderr */
    bool write_failed;
} export_ctx;

/* An event that cannot be converted is named and skipped: the export goes on
 * (an audit must not lose every later event to one) and fails at the end. A
 * write error stops it. */
static int each_event(void *ud, const kj_event *ev)
{
    export_ctx *x = ud;
    kj_err err = kj_export_event(x->out, ev, x->csv);
    x->count++;
    if (err == KJ_ERR_IO) {
        x->write_failed = true;
        return 1;
    }
    if (err) {
        x->failed++;
        kj_cli_error("export: event %s (ts %" PRId64 ", unit %s) cannot be exported: %s", ev->id,
                     ev->ts, ev->unit, kj_strerror(err));
    }
    return kj_cli_stop ? 1 : 0;
}

enum { OPT_STATE_DIR = 256, OPT_FORMAT, OPT_UNIT, OPT_FROM, OPT_TO };

static const struct option options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"unit", required_argument, NULL, OPT_UNIT},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int kj_cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *format = NULL, *unit = NULL, *output = NULL;
    int64_t from = INT64_MIN, to = INT64_MAX;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_STATE_DIR: dir = optarg; break;
        case OPT_FORMAT: format = optarg; break;
        case OPT_UNIT: unit = optarg; break;
        case OPT_FROM:
            if (!kj_parse_time(optarg, &from))
                return kj_cli_usage("export", "--from: not a time: %s", optarg);
            break;
        case OPT_TO:
            if (!kj_parse_time(optarg, &to))
                return kj_cli_usage("export", "--to: not a time: %s", optarg);
            break;
        case 'o': output = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("export", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("export", "unexpected argument %s", argv[optind]);
    if (!dir) return kj_cli_usage("export", "--state-dir DIR is required");
    if (!format || (strcmp(format, "csv") && strcmp(format, "ndjson")))
        return kj_cli_usage("export", "--format csv or --format ndjson is required");
    if (unit && !kj_id_valid(unit, strlen(unit)))
        return kj_cli_usage("export", "--unit: not a valid identifier: %s", unit);

    export_ctx x = {.out = stdout, .csv = !strcmp(format, "csv")};
    kj_store_opts so = {.dir = dir, .read_only = true};
    kj_store *s = NULL;
    char msg[300];
    int rc = KJ_EXIT_FAIL;
    if (kj_store_open(&so, &s, msg, sizeof msg)) {
        kj_cli_error("export: %s", msg);
        goto done;
    }
    if (output && !(x.out = fopen(output, "w"))) {
        kj_cli_error("export: %s: %m", output);
        goto done;
    }
    kj_cli_catch_signals();
    if (x.csv) fputs(kj_export_csv_header, x.out);
    kj_err err = kj_store_each_event(s, from, to, unit, each_event, &x);
    if (fflush(x.out) != 0 || x.write_failed) {
        kj_cli_error("export: cannot write%s%s: %m", output ? " " : "", output ? output : "");
    } else if (err && !kj_cli_stop) {
        kj_cli_error("export: reading the store: %s", kj_strerror(err));
    } else if (kj_cli_stop) {
        kj_cli_error("export: interrupted after %" PRIu64 " events", x.count);
    } else if (x.failed) {
        kj_cli_error("export: %" PRIu64 " of %" PRIu64 " events could not be exported", x.failed,
                     x.count);
    } else {
        rc = KJ_EXIT_OK;
    }
done:
    if (x.out && x.out != stdout && fclose(x.out) != 0 && rc == KJ_EXIT_OK) {
        kj_cli_error("export: %s: %m", output);
        rc = KJ_EXIT_FAIL;
    }
    kj_store_close(s);
    return rc;
}
