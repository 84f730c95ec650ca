/* kinerja — the command: dispatch to the subcommands, and what they share. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#ifndef KJ_VERSION
#define KJ_VERSION "dev"
#endif

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"post", kj_cmd_post, "post events (flags, or -f FILE); spooled while the daemon is away"},
    {"simulate", kj_cmd_simulate, "simulate busy service counters for demos and load"},
    {"snapshot", kj_cmd_snapshot, "print a unit's current state"},
    {"rapor", kj_cmd_rapor, "print a unit's rapor for a period (SPEC §15)"},
    {"watch", kj_cmd_watch, "watch a unit live in the terminal"},
    {"overview", kj_cmd_overview, "every unit at a glance (the agency overview)"},
    {"export", kj_cmd_export, "export raw events from the store (CSV or NDJSON)"},
    {"backup", kj_cmd_backup, "hot, compacted copy of the store"},
    {"feedback", kj_cmd_feedback, "give an employee feedback (a supervisor token)"},
    {"ack", kj_cmd_ack, "acknowledge an alert (a supervisor token)"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

volatile sig_atomic_t kj_cli_stop;

static void usage(FILE *f)
{
    fprintf(f, "usage: kinerja COMMAND [OPTIONS]   (kinerja COMMAND --help for each)\n\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nenvironment:\n"
            "  KINERJA_URL           the daemon (default %s; https:// for TLS)\n"
            "  KINERJA_TOKEN         a bearer token\n"
            "  KINERJA_CA_FILE       TLS: the CA (or self-signed certificate) to trust\n"
            "  KINERJA_TLS_INSECURE  TLS: 1 accepts any certificate (for testing only)\n"
            "  XDG_STATE_HOME        where post keeps its spool (else ~/.local/state)\n"
            "exit status: 0 ok, 1 failure, 2 events rejected (post), 64 usage error\n",
            KJ_DEFAULT_URL);
}

static void vreport(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "kinerja: %s", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void kj_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void kj_cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

int kj_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kinerja %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(kinerja %s --help shows the options)\n", cmd);
    va_end(ap);
    return KJ_EXIT_USAGE;
}

void kj_cli_client_opts(kj_client_opts *o, const char *url)
{
    memset(o, 0, sizeof *o);
    o->url = url ? url : getenv("KINERJA_URL");
    if (!o->url || !o->url[0]) o->url = KJ_DEFAULT_URL;
    o->token = getenv("KINERJA_TOKEN");
    const char *ca = getenv("KINERJA_CA_FILE");
    if (ca && ca[0]) o->ca_file = ca;
    const char *insecure = getenv("KINERJA_TLS_INSECURE");
    o->tls_insecure = insecure && !strcmp(insecure, "1");
}

bool kj_cli_default_spool(char *buf, size_t len)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    if (state && state[0] == '/')
        n = snprintf(buf, len, "%s/kinerja/spool", state);
    else if (home && home[0])
        n = snprintf(buf, len, "%s/.local/state/kinerja/spool", home);
    else
        return false;
    return n > 0 && (size_t)n < len;
}

kj_client *kj_cli_client_new(const kj_client_opts *o)
{
    char msg[300];
    kj_client *c;
    if (kj_client_new(o, &c, msg, sizeof msg)) {
        kj_cli_error("%s", msg);
        return NULL;
    }
    return c;
}

bool kj_cli_number(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

static void on_signal(int sig)
{
    (void)sig;
    kj_cli_stop = 1;
}

void kj_cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    /* A daemon that goes away mid-write must be an error return, not a death. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return KJ_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return KJ_EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("kinerja %s\n", KJ_VERSION);
        return KJ_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kinerja: unknown command %s\n\n", name);
    usage(stderr);
    return KJ_EXIT_USAGE;
}
