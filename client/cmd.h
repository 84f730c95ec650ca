/* kinerja — the command's subcommands (client/cmd_*.c) and what they share
 * (client/main.c). Linked into build/kinerja only; the library never sees it.
 *
 * Exit status, for every subcommand:
 *   0   success (post: also when events were spooled, with a warning)
 *   1   failure, with one line on stderr saying why
 *   2   post: the daemon (or local validation) rejected some events; the
 *       others were delivered; each rejected event is printed
 *   64  usage error (unknown option, missing argument) */
#ifndef KJ_CMD_H
#define KJ_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "kinerja.h"

enum { KJ_EXIT_OK = 0, KJ_EXIT_FAIL = 1, KJ_EXIT_REJECTED = 2, KJ_EXIT_USAGE = 64 };

int kj_cmd_post(int argc, char **argv);
int kj_cmd_simulate(int argc, char **argv);
int kj_cmd_snapshot(int argc, char **argv);
int kj_cmd_rapor(int argc, char **argv);
int kj_cmd_watch(int argc, char **argv);
int kj_cmd_overview(int argc, char **argv);
int kj_cmd_export(int argc, char **argv);
int kj_cmd_backup(int argc, char **argv);
int kj_cmd_feedback(int argc, char **argv);
int kj_cmd_ack(int argc, char **argv);

/* kinerja simulate --supervisor-token (cmd_simulate_atasan.c): a supervisor
 * who acknowledges the unit's bad alerts and gives feedback. NULL when the
 * client cannot be made (the reason is printed). */
typedef struct kj_sim_atasan kj_sim_atasan;
kj_sim_atasan *kj_sim_atasan_new(const char *url, const char *token, uint64_t seed,
                                 int64_t after_ms);
void kj_sim_atasan_free(kj_sim_atasan *a);
/* One look at unit's snapshot: acks, coaching, now and then praise. */
void kj_sim_atasan_look(kj_sim_atasan *a, const char *unit);

/* "kinerja: ..." on stderr. */
void kj_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kj_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A usage error: the message, a pointer to --help, KJ_EXIT_USAGE. */
int kj_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* KINERJA_URL (default KJ_DEFAULT_URL) unless url is set; KINERJA_TOKEN. */
void kj_cli_client_opts(kj_client_opts *o, const char *url);

/* $XDG_STATE_HOME/kinerja/spool, else ~/.local/state/kinerja/spool, into
 * buf; false when neither is known. */
bool kj_cli_default_spool(char *buf, size_t len);

/* Create a client or print why not (returns NULL). */
kj_client *kj_cli_client_new(const kj_client_opts *o);

/* Read a strictly positive / non-negative number option. */
bool kj_cli_number(const char *s, double min, double max, double *out);

/* Set by SIGINT / SIGTERM when a subcommand installed kj_cli_catch_signals. */
extern volatile sig_atomic_t kj_cli_stop;
void kj_cli_catch_signals(void);

#endif
