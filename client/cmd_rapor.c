/* kinerja rapor — a unit's rapor for a period (SPEC §15), once. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/period.h"
#include "cmd.h"

static const char help[] =
    "usage: kinerja rapor --unit U [--period P] [--format text|json|csv]\n"
    "\n"
    "Prints the rapor of unit U for period P (2026-12, 2026-Q4 or 2026; without\n"
    "it, the current period of the daemon's evaluation.period) from\n"
    "GET /api/v1/rapor: each member's hasil kerja, perilaku and predikat, the\n"
    "distribution of the predikat and the unit's IKM.\n"
    "\n"
    "  --unit U        the unit (required)\n"
    "  --period P      the period\n"
    "  --format F      text (a table, the default), json (the daemon's, indented) or\n"
    "                  csv (one header line, a line per member, as the daemon writes it)\n"
    "  --url URL       instead of KINERJA_URL\n";

static const struct option options[] = {
    {"unit", required_argument, NULL, 'u'},   {"period", required_argument, NULL, 'p'},
    {"format", required_argument, NULL, 'f'}, {"url", required_argument, NULL, 'U'},
    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
};

static const char *str(json_t *o, const char *key, const char *nil)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : nil;
}

static void print_table(json_t *r)
{
    printf("Rapor %s %s (%s)%s\n\n", str(r, "name", ""), str(r, "period", ""), str(r, "unit", ""),
           json_is_true(json_object_get(r, "final")) ? "" : " — sementara");
    printf("%-20s %-28s %-8s %-8s %s\n", "pegawai", "nama", "hasil", "perilaku", "predikat");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "rows"), i, row)
    {
        printf("%-20s %-28.28s %-8s %-8s %s\n", str(row, "employee", ""), str(row, "name", ""),
               str(row, "hasil_kerja", "-"), str(row, "perilaku", "-"),
               str(row, "predikat_label", "")[0] ? str(row, "predikat_label", "") : "-");
    }
    json_t *dist = json_object_get(r, "distribution"), *ikm = json_object_get(r, "ikm");
    if (dist) {
        const char *key;
        json_t *n;
        printf("\ndistribusi:");
        json_object_foreach(dist, key, n) printf(" %s %lld", key, (long long)json_integer_value(n));
        fputc('\n', stdout);
    }
    if (ikm && json_is_number(json_object_get(ikm, "ikm")))
        printf("IKM %.2f (%s, %s) dari %lld responden\n",
               json_number_value(json_object_get(ikm, "ikm")), str(ikm, "ikm_grade", ""),
               str(ikm, "label", ""),
               (long long)json_integer_value(json_object_get(ikm, "responses")));
}

/* The answer printed as asked; false with an error printed. */
static bool print_answer(const char *format, char *body, size_t len)
{
    if (!strcmp(format, "csv")) {
        fwrite(body, 1, len, stdout);
        return true;
    }
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    if (!j) {
        kj_cli_error("rapor: the answer is not JSON: %s", jerr.text);
        return false;
    }
    if (!strcmp(format, "json")) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        print_table(j);
    }
    json_decref(j);
    return true;
}

static int fetch(const char *url, const char *path, const char *format)
{
    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    kj_client *cl = kj_cli_client_new(&o);
    if (!cl) return KJ_EXIT_FAIL;
    char *body = NULL;
    size_t len;
    int status, rc = KJ_EXIT_FAIL;
    const char *accept = strcmp(format, "csv") ? "application/json" : "text/csv";
    if (kj_client_get(cl, path, accept, &status, &body, &len)) {
        kj_cli_error("rapor: %s", kj_client_errmsg(cl));
    } else if (status != 200) {
        json_t *e = json_loadb(body, len, 0, NULL);
        const char *why = json_string_value(json_object_get(e, "error"));
        kj_cli_error("rapor: HTTP %d: %s", status, why ? why : len ? strtok(body, "\r\n") : "");
        json_decref(e);
    } else if (print_answer(format, body, len)) {
        rc = KJ_EXIT_OK;
    }
    free(body);
    kj_client_free(cl);
    return rc;
}

int kj_cmd_rapor(int argc, char **argv)
{
    const char *unit = NULL, *period = NULL, *url = NULL, *format = "text";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'u': unit = optarg; break;
        case 'p': period = optarg; break;
        case 'f': format = optarg; break;
        case 'U': url = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("rapor", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("rapor", "unexpected argument %s", argv[optind]);
    if (!unit || !kj_id_valid(unit, strlen(unit)))
        return kj_cli_usage("rapor", "--unit U is required (an identifier)");
    kj_period p;
    if (period && !kj_period_parse(period, strlen(period), &p))
        return kj_cli_usage("rapor", "--period: must be YYYY-MM, YYYY-Qn or YYYY: %s", period);
    if (strcmp(format, "text") && strcmp(format, "json") && strcmp(format, "csv"))
        return kj_cli_usage("rapor", "--format: must be text, json or csv");
    char path[160];
    snprintf(path, sizeof path, "/api/v1/rapor?unit=%s%s%s&format=%s", unit,
             period ? "&period=" : "", period ? period : "",
             strcmp(format, "csv") ? "json" : "csv");
    return fetch(url, path, format);
}
