/* kinerja feedback, kinerja ack — a supervisor's events of SPEC §16. Each is
 * `kinerja post --type feedback|ack` with its own help: the same flags, spool,
 * validation and exit status, so there is one path for posting. */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cmd.h"

static const char feedback_help[] =
    "usage: kinerja feedback --unit U --employee E --kind praise|coaching|dialog --text T\n"
    "                        [--by E] [--alert ID] [--indicator I] [post options]\n"
    "\n"
    "Gives employee E of unit U feedback (1-1024 bytes of text), optionally\n"
    "answering an alert (its id, as the dashboard shows it) or about an\n"
    "indicator. Needs a supervisor (or admin) token in KINERJA_TOKEN. The\n"
    "options and exit status are those of `kinerja post` (see kinerja post -h).\n";

static const char ack_help[] =
    "usage: kinerja ack --unit U --alert ID [--by E] [--note N] [post options]\n"
    "\n"
    "Acknowledges alert ID of unit U (one of today's alerts; an unknown id is\n"
    "rejected: alert: unknown alert). Needs a supervisor (or admin) token in\n"
    "KINERJA_TOKEN. The options and exit status are those of `kinerja post`.\n";

static int as_post(const char *type, const char *help, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type") || !strncmp(argv[i], "--type=", 7))
            return kj_cli_usage(argv[0], "--type is %s here", type);
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return KJ_EXIT_OK;
        }
    }
    char **args = kj_calloc((size_t)argc + 3, sizeof *args);
    args[0] = argv[0];
    args[1] = "--type";
    args[2] = (char *)type;
    memcpy(args + 3, argv + 1, (size_t)(argc - 1) * sizeof *args);
    int rc = kj_cmd_post(argc + 2, args);
    free(args);
    return rc;
}

int kj_cmd_feedback(int argc, char **argv)
{
    return as_post("feedback", feedback_help, argc, argv);
}

int kj_cmd_ack(int argc, char **argv)
{
    return as_post("ack", ack_help, argc, argv);
}
