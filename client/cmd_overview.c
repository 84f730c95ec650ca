/* kinerja overview — the agency overview (SPEC §14), once: one line per unit
 * the token may see, from GET /api/v1/overview. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "view.h"

static const char help[] =
    "usage: kinerja overview [--json]\n"
    "\n"
    "Prints every unit the token may see, one line each, from GET /api/v1/overview:\n"
    "the indicators by status, today's services, SLA, wait p90 and IKM, the queue now\n"
    "(waiting, longest wait), today's alerts, and whether the unit needs coaching\n"
    "(perlu pembinaan: an indicator ended the day bad coaching_after_days days in a row).\n"
    "\n"
    "  --json       print the daemon's JSON as it is, indented\n"
    "  --url URL    instead of KINERJA_URL\n";

static const struct option options[] = {
    {"json", no_argument, NULL, 'j'},
    {"url", required_argument, NULL, 'U'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static double num(const json_t *obj, const char *path, bool *has)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = obj;
    for (char *save, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    *has = json_is_number(v);
    return *has ? json_number_value(v) : 0;
}

/* A number column: "-" for nil. */
static void column(char *buf, size_t len, const json_t *row, const char *path, const char *fmt)
{
    bool has;
    double v = num(row, path, &has);
    if (has)
        snprintf(buf, len, fmt, v);
    else
        snprintf(buf, len, "-");
}

static void duration(char *buf, size_t len, const json_t *row, const char *path)
{
    bool has;
    double v = num(row, path, &has);
    if (has)
        kj_view_duration(buf, len, v);
    else
        snprintf(buf, len, "-");
}

static void print_row(const json_t *r, bool color)
{
    bool has;
    double bad = num(r, "indicators.bad", &has), warn = num(r, "indicators.warn", &has);
    double ok = num(r, "indicators.ok", &has), waiting = num(r, "queue.waiting", &has);
    const char *st = bad > 0 ? "BAD " : warn > 0 ? "WARN" : ok > 0 ? "OK  " : "-   ";
    const char *hue = bad > 0 ? "\033[31m" : warn > 0 ? "\033[33m" : ok > 0 ? "\033[32m" : "";
    char served[16], sla[16], p90[32], ikm[16], longest[32] = "-", alerts[16];
    column(served, sizeof served, r, "today.services.count", "%.0f");
    column(sla, sizeof sla, r, "today.services.sla_pct", "%.1f%%");
    duration(p90, sizeof p90, r, "today.services.wait_ms.p90");
    column(ikm, sizeof ikm, r, "today.ratings.ikm", "%.2f");
    if (waiting > 0) duration(longest, sizeof longest, r, "queue.longest_wait_ms");
    column(alerts, sizeof alerts, r, "alerts_today", "%.0f");
    const char *name = json_string_value(json_object_get(r, "name"));
    printf("%s%s%s %-28.28s %2.0f/%2.0f/%2.0f %6s %7s %8s %6s %5.0f %8s %6s", color ? hue : "", st,
           color ? "\033[0m" : "", name ? name : json_string_value(json_object_get(r, "unit")), ok,
           warn, bad, served, sla, p90, ikm, waiting, longest, alerts);
    if (json_is_true(json_object_get(r, "needs_coaching")))
        printf("  %sPERLU PEMBINAAN (%.0f days)%s", color ? "\033[1;31m" : "",
               num(r, "bad_days", &has), color ? "\033[0m" : "");
    putchar('\n');
}

static int print_table(const json_t *j)
{
    const json_t *units = json_object_get(j, "units"), *r;
    size_t i;
    bool color = isatty(1) && !getenv("NO_COLOR");
    printf("%-4s %-28s %-8s %6s %7s %8s %6s %5s %8s %6s\n", "IKU", "unit", "ok/wn/bd", "served",
           "SLA", "wait p90", "IKM", "queue", "longest", "alerts");
    json_array_foreach(units, i, r) print_row(r, color);
    if (!json_array_size(units)) puts("(no units this token may see)");
    return KJ_EXIT_OK;
}

int kj_cmd_overview(int argc, char **argv)
{
    const char *url = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = true; break;
        case 'U': url = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("overview", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("overview", "unexpected argument %s", argv[optind]);
    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    kj_client *cl = kj_cli_client_new(&o);
    if (!cl) return KJ_EXIT_FAIL;
    char *body = NULL;
    size_t len;
    int status, rc = KJ_EXIT_FAIL;
    json_t *j = NULL;
    json_error_t jerr;
    if (kj_client_get(cl, "/api/v1/overview", "application/json", &status, &body, &len)) {
        kj_cli_error("overview: %s", kj_client_errmsg(cl));
    } else if (status != 200) {
        json_t *e = json_loadb(body, len, 0, NULL);
        const char *why = json_string_value(json_object_get(e, "error"));
        kj_cli_error("overview: HTTP %d: %s", status, why ? why : "");
        json_decref(e);
    } else if (!(j = json_loadb(body, len, 0, &jerr))) {
        kj_cli_error("overview: the answer is not JSON: %s", jerr.text);
    } else if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        rc = KJ_EXIT_OK;
    } else {
        rc = print_table(j);
    }
    json_decref(j);
    free(body);
    kj_client_free(cl);
    return rc;
}
