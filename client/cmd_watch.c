/* kinerja watch — a unit live in the terminal, over kinerja-live.v1. */
#include <getopt.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <unistd.h>

#include "cmd.h"
#include "codec.h"
#include "view.h"

#define REDRAW_MS 1000    /* the "serving for" times tick */
#define MIN_REDRAW_MS 100 /* a busy unit's updates are drawn at most ten times a second */

static const char help[] =
    "usage: kinerja watch --unit U [--plain] [--count N]\n"
    "\n"
    "Shows unit U live: subscribes over the WebSocket subprotocol kinerja-live.v1,\n"
    "draws the snapshot, then every update as it comes (indicators, counters with\n"
    "who is serving and for how long, members and their presence, alerts).\n"
    "Reconnects by itself; q or Ctrl-C quits.\n"
    "\n"
    "  --unit U     the unit (required)\n"
    "  --plain      no screen control: print the state after each frame (the\n"
    "               default when standard output is not a terminal)\n"
    "  --count N    exit after N frames from the daemon\n"
    "  --url URL    instead of KINERJA_URL\n";

typedef struct watch {
    json_t *state;
    json_t *names;
    bool plain, color;
    char status[300];
    int64_t last_draw;
    bool dirty;
} watch;

static void draw(watch *w)
{
    struct winsize ws;
    kj_view_opts vo = {
        .color = w->color, .now_ms = kj_now_ms(), .status = w->status, .names = w->names};
    if (!w->plain && ioctl(1, TIOCGWINSZ, &ws) == 0) {
        vo.width = ws.ws_col;
        vo.max_members = ws.ws_row > 30 ? ws.ws_row - 22 : 8;
    }
    char *text = kj_view_render(w->state, &vo);
    if (w->plain) {
        fputs(text, stdout);
        fputs("--\n", stdout);
    } else {
        /* home, then each line cleared to its end, then the rest of the screen */
        fputs("\033[H", stdout);
        for (char *line = text, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            fwrite(line, 1, (size_t)(nl - line), stdout);
            fputs("\033[K\n", stdout);
        }
        fputs("\033[J", stdout);
    }
    fflush(stdout);
    free(text);
    w->last_draw = kj_now_ms();
    w->dirty = false;
}

/* One frame from the daemon. Returns false for a refusal that ends the watch. */
static bool on_frame(watch *w, const uint8_t *data, size_t len)
{
    msgpack_unpacked u;
    bool ok = true;
    msgpack_unpacked_init(&u);
    if (kj_msgpack_unpack_body(data, len, &u, NULL, 0) == KJ_OK) {
        json_t *frame = kj_json_from_msgpack(&u.data);
        char err[200] = "";
        if (kj_view_apply(&w->state, frame, err, sizeof err)) {
            snprintf(w->status, sizeof w->status, "live");
            w->dirty = true;
        } else if (err[0]) {
            kj_cli_error("watch: the daemon says: %s", err);
            ok = false;
        }
        json_decref(frame);
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

/* q quits (the terminal is in its normal line mode: q then Enter, or Ctrl-C). */
static bool quit_typed(void)
{
    char c;
    fd_set fds;
    struct timeval tv = {0, 0};
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    return isatty(0) && select(1, &fds, NULL, NULL, &tv) == 1 && read(0, &c, 1) == 1 &&
           (c == 'q' || c == 'Q');
}

static const struct option options[] = {
    {"unit", required_argument, NULL, 'u'},  {"plain", no_argument, NULL, 'p'},
    {"count", required_argument, NULL, 'n'}, {"url", required_argument, NULL, 'U'},
    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
};

int kj_cmd_watch(int argc, char **argv)
{
    const char *unit = NULL, *url = NULL;
    double count = 0;
    watch w = {.plain = !isatty(1)};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'u': unit = optarg; break;
        case 'p': w.plain = true; break;
        case 'n':
            if (!kj_cli_number(optarg, 1, 1e9, &count))
                return kj_cli_usage("watch", "--count: a positive number");
            break;
        case 'U': url = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("watch", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("watch", "unexpected argument %s", argv[optind]);
    if (!unit) return kj_cli_usage("watch", "--unit U is required");

    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    kj_client *cl = kj_cli_client_new(&o);
    kj_live *live = NULL;
    int rc = KJ_EXIT_FAIL;
    if (!cl) return rc;
    kj_live_new(cl, &live);
    if (kj_live_subscribe(live, unit)) {
        rc = kj_cli_usage("watch", "%s", kj_client_errmsg(cl));
        goto done;
    }
    w.color = !w.plain && !getenv("NO_COLOR");
    w.names = kj_view_fetch_names(cl, unit);
    snprintf(w.status, sizeof w.status, "connecting to %s", o.url);
    kj_cli_catch_signals();
    if (!w.plain) fputs("\033[?1049h\033[?25l", stdout); /* own screen, no cursor */
    uint64_t frames = 0;
    rc = KJ_EXIT_OK;
    while (!kj_cli_stop && !quit_typed()) {
        const uint8_t *data;
        size_t len;
        int wait = w.plain ? REDRAW_MS : REDRAW_MS - (int)(kj_now_ms() - w.last_draw);
        kj_err err = kj_live_recv(live, wait > 0 ? wait : 0, &data, &len);
        if (err == KJ_OK) {
            frames++;
            if (!on_frame(&w, data, len)) {
                rc = KJ_EXIT_FAIL;
                break;
            }
        } else if (err == KJ_ERR_AUTH || err == KJ_ERR_FORBIDDEN) {
            kj_cli_error("watch: %s", kj_client_errmsg(cl));
            rc = KJ_EXIT_FAIL;
            break;
        } else if (err == KJ_ERR_IO) {
            char status[sizeof w.status];
            snprintf(status, sizeof status, "reconnecting (%s)", kj_client_errmsg(cl));
            if (w.plain && strcmp(status, w.status)) kj_cli_warn("watch: %s", status);
            memcpy(w.status, status, sizeof status);
            w.dirty = true;
        }
        int64_t since = kj_now_ms() - w.last_draw;
        if (w.plain ? (err == KJ_OK && w.dirty)
                    : ((w.dirty && since >= MIN_REDRAW_MS) || since >= REDRAW_MS))
            draw(&w);
        if (count && frames >= count) break;
    }
    if (!w.plain) fputs("\033[?25h\033[?1049l", stdout);
done:
    json_decref(w.state);
    json_decref(w.names);
    kj_live_free(live);
    kj_client_free(cl);
    return rc;
}
