/* kinerja post — one event from flags, or many from a file. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#define MAX_REJECTS_SHOWN 1000

static const char help[] =
    "usage: kinerja post [EVENT FLAGS | -f FILE] [--spool DIR | --no-spool] [--http] [--json]\n"
    "\n"
    "Posts one event built from flags, or every event of FILE ('-' for standard\n"
    "input: NDJSON, a JSON array, or msgpack, detected from the content), to\n"
    "KINERJA_URL with KINERJA_TOKEN. Every post first delivers what the spool holds.\n"
    "\n"
    "event flags (named after the fields of SPEC section 3):\n"
    "  --type task|service|rating|presence|ticket|assessment|feedback|ack\n"
    "  --unit U        --employee E\n"
    "  --counter C     --service S      --kind K          --outcome served|no_show|transferred\n"
    "  --wait-ms MS    --service-ms MS  --duration-ms MS  (also 90s, 15m, 2h)\n"
    "  --due-ts T      --quality 0-100  --score 1-4       --elements 4,4,3,4,4,4,3,4,4\n"
    "  --source citizen|peer|supervisor --state available|serving|break|offline\n"
    "  --ticket T      (a ticket, or the ticket a service closes)\n"
    "  --state issued|called|cancelled (ticket)\n"
    "  --period 2026-12|2026-Q4|2026     --behaviour above,meets,meets,above,meets,meets,below\n"
    "  --by E          --note TEXT      (assessment: SPEC section 15; ack)\n"
    "  --text T        --alert A        --indicator I     (feedback, ack: SPEC section 16)\n"
    "  --meta JSON     --id ID (default: a fresh unique id)\n"
    "  --ts T          (default now; T is ms since the epoch, ISO 8601, or now)\n"
    "\n"
    "options:\n"
    "  -f, --file FILE   post the events of FILE; a progress bar shows on a terminal\n"
    "  --spool DIR       keep events here while the daemon is unreachable (default\n"
    "                    $XDG_STATE_HOME/kinerja/spool, else ~/.local/state/kinerja/spool)\n"
    "  --no-spool        fail (exit 1) instead of spooling\n"
    "  --spool-max SIZE  the spool's limit (default 256M; K, M, G suffixes); a post\n"
    "                    that would pass it fails with \"spool ... is full\"\n"
    "  --http            use HTTP POST instead of the WebSocket ingest protocol\n"
    "  --url URL         instead of KINERJA_URL\n"
    "  --json            print the result as one JSON object\n"
    "  -q, --quiet       print nothing on success\n"
    "  -v, --verbose     also print each retry\n"
    "\n"
    "exit status: 0 delivered (or spooled, with a warning), 1 failure,\n"
    "2 some events rejected (each printed as: rejected INDEX ID: ERROR), 64 usage\n";

typedef struct post_ctx {
    bool json, quiet, verbose, progress;
    json_t *rejects;
    uint64_t rejects_shown;
    kj_reader *reader;
    kj_client *client;
    int64_t started, last_draw;
    uint64_t delivered; /* answered events of this post */
    uint64_t submitted; /* events read and handed to the client */
} post_ctx;

/* ---- reporting ------------------------------------------------------------------ */

static void on_reject(void *ud, const kj_reject *r)
{
    post_ctx *p = ud;
    if (p->rejects_shown++ >= MAX_REJECTS_SHOWN) return;
    if (p->json) {
        json_array_append_new(p->rejects,
                              json_pack("{sIsbssss}", "index", (json_int_t)r->index, "from_spool",
                                        r->from_spool, "id", r->id, "error", r->error));
        return;
    }
    if (p->progress) fputs("\r\033[K", stderr);
    fprintf(stderr, "rejected %" PRIu64 "%s %s: %s\n", r->index, r->from_spool ? " (spool)" : "",
            r->id[0] ? r->id : "-", r->error);
}

static void on_warning(void *ud, kj_warning kind, const char *msg)
{
    post_ctx *p = ud;
    if (kind == KJ_WARN_RETRY && !p->verbose) return;
    if (p->progress) fputs("\r\033[K", stderr);
    kj_cli_warn("%s", msg);
}

static int64_t now_ms(void)
{
    return kj_now_ms();
}

/* The bar shows answered events against the input's estimated total (events
 * read so far scaled by the bytes left), not bytes read: reading runs ahead of
 * the acknowledgements by the window. */
static void draw_progress(post_ctx *p, bool final)
{
    uint64_t done = 0, total = 0;
    int64_t now = now_ms();
    if (!p->progress || (!final && now - p->last_draw < 100)) return;
    p->last_draw = now;
    if (p->reader) kj_reader_position(p->reader, &done, &total);
    double estimate = done && total ? (double)p->submitted * total / done : 0;
    double frac = estimate > 0 ? p->delivered / estimate : 0;
    if (frac > 1) frac = 1;
    double secs = (now - p->started) / 1000.0;
    char bar[31];
    for (int i = 0; i < 30; i++)
        bar[i] = i < (int)(30 * frac) ? '#' : '-';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K[%s] %3d%%  %" PRIu64 " events  %.0f/s", bar, (int)(100 * frac),
            p->delivered, secs > 0 ? p->delivered / secs : 0);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void on_progress(void *ud, const kj_post_result *r)
{
    post_ctx *p = ud;
    p->delivered = r->accepted + r->duplicates + r->rejected;
    draw_progress(p, false);
}

static void print_result(post_ctx *p, const kj_post_result *r, const char *spool, const char *why)
{
    uint64_t from_spool = r->spool_accepted + r->spool_duplicates + r->spool_rejected;
    if (p->json) {
        const struct {
            const char *key;
            uint64_t v;
        } counts[] = {{"submitted", r->submitted},
                      {"accepted", r->accepted},
                      {"duplicates", r->duplicates},
                      {"rejected", r->rejected},
                      {"spooled", r->spooled},
                      {"spool_accepted", r->spool_accepted},
                      {"spool_duplicates", r->spool_duplicates},
                      {"spool_rejected", r->spool_rejected},
                      {"spool_files_bad", r->spool_files_bad}};
        json_t *o = json_object();
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
            json_object_set_new(o, counts[i].key, json_integer((json_int_t)counts[i].v));
        json_object_set(o, "rejects", p->rejects);
        json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(o);
    } else if (!p->quiet) {
        if (from_spool)
            printf("delivered %" PRIu64 " spooled events: %" PRIu64 " accepted, %" PRIu64
                   " duplicates, %" PRIu64 " rejected\n",
                   from_spool, r->spool_accepted, r->spool_duplicates, r->spool_rejected);
        printf("%" PRIu64 " events: %" PRIu64 " accepted, %" PRIu64 " duplicates, %" PRIu64
               " rejected, %" PRIu64 " spooled\n",
               r->submitted, r->accepted, r->duplicates, r->rejected, r->spooled);
    }
    if (r->spooled)
        kj_cli_warn("%s: %" PRIu64 " events kept in the spool %s; "
                    "they are delivered by the next post",
                    why, r->spooled, spool);
}

/* ---- the post ----------------------------------------------------------------------- */

static int post_file(post_ctx *p, const char *path)
{
    char msg[300];
    kj_batch *b;
    uint64_t first;
    kj_err err;
    if ((err = kj_reader_open(path, &p->reader, msg, sizeof msg))) {
        kj_cli_error("%s", msg);
        return KJ_EXIT_FAIL;
    }
    while ((err = kj_reader_next(p->reader, KJ_BATCH_MAX, &b, &first)) == KJ_OK) {
        err = kj_client_submit_batch(p->client, b);
        p->submitted = first + b->n;
        kj_batch_free(b);
        draw_progress(p, false);
        if (err || kj_cli_stop) break;
    }
    if (kj_cli_stop) {
        kj_cli_error("interrupted: what was sent may be posted again (duplicates are harmless)");
        return KJ_EXIT_FAIL;
    }
    return KJ_EXIT_OK;
}

static int post_flags(post_ctx *p, kj_event_draft *d)
{
    char msg[300];
    kj_batch *b;
    if (kj_event_draft_finish(d, &b, msg, sizeof msg)) {
        kj_cli_error("%s", msg);
        return KJ_EXIT_USAGE;
    }
    kj_client_submit_batch(p->client, b);
    kj_batch_free(b);
    return KJ_EXIT_OK;
}

enum { OPT_SPOOL = 256, OPT_NO_SPOOL, OPT_SPOOL_MAX, OPT_HTTP, OPT_URL, OPT_JSON, OPT_FIELD };

/* "512M", "1G", "65536" -> bytes. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-') return false;
    int shift = 0;
    switch (*end) {
    case '\0': break;
    case 'K':
    case 'k': shift = 10; break;
    case 'M':
    case 'm': shift = 20; break;
    case 'G':
    case 'g': shift = 30; break;
    default: return false;
    }
    if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")) return false;
    if (v > (UINT64_MAX >> shift) || v == 0) return false;
    *out = (uint64_t)v << shift;
    return true;
}

static const struct option options[] = {
    {"file", required_argument, NULL, 'f'},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"no-spool", no_argument, NULL, OPT_NO_SPOOL},
    {"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
    {"http", no_argument, NULL, OPT_HTTP},
    {"url", required_argument, NULL, OPT_URL},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    /* event fields: getopt's index tells which */
    {"id", required_argument, NULL, OPT_FIELD},
    {"type", required_argument, NULL, OPT_FIELD},
    {"ts", required_argument, NULL, OPT_FIELD},
    {"unit", required_argument, NULL, OPT_FIELD},
    {"employee", required_argument, NULL, OPT_FIELD},
    {"counter", required_argument, NULL, OPT_FIELD},
    {"kind", required_argument, NULL, OPT_FIELD},
    {"service", required_argument, NULL, OPT_FIELD},
    {"duration-ms", required_argument, NULL, OPT_FIELD},
    {"due-ts", required_argument, NULL, OPT_FIELD},
    {"quality", required_argument, NULL, OPT_FIELD},
    {"wait-ms", required_argument, NULL, OPT_FIELD},
    {"service-ms", required_argument, NULL, OPT_FIELD},
    {"outcome", required_argument, NULL, OPT_FIELD},
    {"score", required_argument, NULL, OPT_FIELD},
    {"elements", required_argument, NULL, OPT_FIELD},
    {"source", required_argument, NULL, OPT_FIELD},
    {"state", required_argument, NULL, OPT_FIELD},
    {"meta", required_argument, NULL, OPT_FIELD},
    {"ticket", required_argument, NULL, OPT_FIELD},
    {"period", required_argument, NULL, OPT_FIELD},
    {"behaviour", required_argument, NULL, OPT_FIELD},
    {"by", required_argument, NULL, OPT_FIELD},
    {"note", required_argument, NULL, OPT_FIELD},
    {"text", required_argument, NULL, OPT_FIELD},
    {"alert", required_argument, NULL, OPT_FIELD},
    {"indicator", required_argument, NULL, OPT_FIELD},
    {NULL, 0, NULL, 0},
};

int kj_cmd_post(int argc, char **argv)
{
    post_ctx p = {.started = now_ms()};
    kj_client_opts o;
    kj_event_draft *d = NULL;
    const char *file = NULL, *spool = NULL, *url = NULL;
    char spool_buf[4096], msg[300];
    bool no_spool = false, http = false, fields = false, default_spool = false;
    uint64_t spool_max = 0;
    int rc = KJ_EXIT_USAGE, c, idx;

    kj_event_draft_new(&d);
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:qvh", options, &idx)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case OPT_SPOOL: spool = optarg; break;
        case OPT_NO_SPOOL: no_spool = true; break;
        case OPT_SPOOL_MAX:
            if (!parse_size(optarg, &spool_max)) {
                rc = kj_cli_usage("post", "--spool-max: a size such as 64M or 1G");
                goto done;
            }
            break;
        case OPT_HTTP: http = true; break;
        case OPT_URL: url = optarg; break;
        case OPT_JSON: p.json = true; break;
        case 'q': p.quiet = true; break;
        case 'v': p.verbose = true; break;
        case 'h':
            fputs(help, stdout);
            rc = KJ_EXIT_OK;
            goto done;
        case OPT_FIELD:
            fields = true;
            if (kj_event_draft_set(d, options[idx].name, optarg, msg, sizeof msg)) {
                rc = kj_cli_usage("post", "%s", msg);
                goto done;
            }
            break;
        default: rc = kj_cli_usage("post", "unknown option"); goto done;
        }
    }
    if (optind < argc) {
        rc = kj_cli_usage("post", "unexpected argument %s", argv[optind]);
        goto done;
    }
    if (file && fields) {
        rc = kj_cli_usage("post", "-f and event flags do not mix");
        goto done;
    }
    if (!file && !fields) {
        rc = kj_cli_usage("post", "nothing to post: give event flags or -f FILE");
        goto done;
    }
    if (spool && no_spool) {
        rc = kj_cli_usage("post", "--spool and --no-spool do not mix");
        goto done;
    }
    if (!spool && !no_spool && kj_cli_default_spool(spool_buf, sizeof spool_buf)) {
        spool = spool_buf;
        default_spool = true;
    }
    if (no_spool) spool = NULL;

    kj_cli_client_opts(&o, url);
    o.transport = http ? KJ_TRANSPORT_HTTP : KJ_TRANSPORT_AUTO;
    o.spool_dir = spool;
    o.spool_max_bytes = spool_max;
    o.on_reject = on_reject;
    o.on_warning = on_warning;
    o.on_progress = on_progress;
    o.ud = &p;
    p.rejects = json_array();
    p.progress = file && !p.json && isatty(2);
    rc = KJ_EXIT_FAIL;
    if (default_spool && kj_client_new(&o, &p.client, msg, sizeof msg) == KJ_ERR_IO) {
        /* The default place cannot be used (a read-only home): post without a
         * spool rather than not at all. A --spool DIR given is never dropped. */
        kj_cli_warn("%s; posting without a spool", msg);
        o.spool_dir = spool = NULL;
    }
    if (!p.client && !(p.client = kj_cli_client_new(&o))) goto done;
    if (file) kj_cli_catch_signals();

    rc = file ? post_file(&p, file) : post_flags(&p, d);
    kj_post_result res;
    kj_err err = kj_client_flush(p.client, &res);
    draw_progress(&p, true);
    if (rc != KJ_EXIT_OK) goto done;
    if (err) {
        kj_cli_error("%s", kj_client_errmsg(p.client));
        rc = KJ_EXIT_FAIL;
        if (p.json) print_result(&p, &res, spool, "");
        goto done;
    }
    print_result(&p, &res, spool, kj_client_errmsg(p.client));
    rc = res.rejected || res.spool_rejected ? KJ_EXIT_REJECTED : KJ_EXIT_OK;
done:
    kj_client_free(p.client);
    kj_reader_free(p.reader);
    kj_event_draft_free(d);
    json_decref(p.rejects);
    return rc;
}
