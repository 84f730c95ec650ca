/* kinerja snapshot — a unit's current state, once. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd.h"
#include "view.h"

static const char help[] =
    "usage: kinerja snapshot --unit U [--json]\n"
    "\n"
    "Prints the current state of unit U from GET /api/v1/snapshot?unit=U:\n"
    "indicators with their status, the unit's numbers today and in the last hour,\n"
    "counters with who is serving, members with presence, today's alerts.\n"
    "\n"
    "  --unit U     the unit (required)\n"
    "  --json       print the daemon's JSON as it is, indented\n"
    "  --url URL    instead of KINERJA_URL\n";

static const struct option options[] = {
    {"unit", required_argument, NULL, 'u'},
    {"json", no_argument, NULL, 'j'},
    {"url", required_argument, NULL, 'U'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int kj_cmd_snapshot(int argc, char **argv)
{
    const char *unit = NULL, *url = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'u': unit = optarg; break;
        case 'j': as_json = true; break;
        case 'U': url = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("snapshot", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("snapshot", "unexpected argument %s", argv[optind]);
    if (!unit) return kj_cli_usage("snapshot", "--unit U is required");
    if (!kj_id_valid(unit, strlen(unit)))
        return kj_cli_usage("snapshot", "--unit: not a valid identifier: %s", unit);

    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    kj_client *cl = kj_cli_client_new(&o);
    if (!cl) return KJ_EXIT_FAIL;
    char path[128], *body = NULL;
    size_t len;
    int status, rc = KJ_EXIT_FAIL;
    json_t *j = NULL;
    snprintf(path, sizeof path, "/api/v1/snapshot?unit=%s", unit);
    if (kj_client_get(cl, path, "application/json", &status, &body, &len)) {
        kj_cli_error("snapshot: %s", kj_client_errmsg(cl));
        goto done;
    }
    if (status != 200) {
        json_t *e = json_loadb(body, len, 0, NULL);
        const char *why = json_string_value(json_object_get(e, "error"));
        kj_cli_error("snapshot: HTTP %d: %s", status, why ? why : len ? strtok(body, "\r\n") : "");
        json_decref(e);
        goto done;
    }
    json_error_t jerr;
    if (!(j = json_loadb(body, len, 0, &jerr))) {
        kj_cli_error("snapshot: the answer is not JSON: %s", jerr.text);
        goto done;
    }
    if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        struct winsize ws;
        bool tty = isatty(1);
        json_t *names = kj_view_fetch_names(cl, unit);
        kj_view_opts vo = {
            .color = tty && !getenv("NO_COLOR"), .now_ms = kj_now_ms(), .names = names};
        if (tty && ioctl(1, TIOCGWINSZ, &ws) == 0) vo.width = ws.ws_col;
        char *text = kj_view_render(j, &vo);
        fputs(text, stdout);
        free(text);
        json_decref(names);
    }
    rc = KJ_EXIT_OK;
done:
    json_decref(j);
    free(body);
    kj_client_free(cl);
    return rc;
}
