/* kinerja backup — a consistent, compacted hot copy of the store. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cmd.h"
#include "store/store.h"

static const char help[] =
    "usage: kinerja backup --state-dir DIR DEST\n"
    "\n"
    "Copies the store in DIR (kinerjad's state_dir) into the directory DEST\n"
    "(created; it must be empty), compacted and consistent as of one moment, while\n"
    "kinerjad keeps running. Restore by pointing state_dir at DEST (or copying\n"
    "DEST/data.mdb into an empty state_dir) with kinerjad stopped.\n";

/* An existing DEST with anything in it is refused: a backup never mixes with,
 * or overwrites, another. */
static bool empty_or_missing(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

static const struct option options[] = {
    {"state-dir", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int kj_cmd_backup(int argc, char **argv)
{
    const char *dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("backup", "unknown option");
        }
    }
    if (!dir) return kj_cli_usage("backup", "--state-dir DIR is required");
    if (optind != argc - 1) return kj_cli_usage("backup", "give one DEST directory");
    const char *dest = argv[optind];
    if (!empty_or_missing(dest)) {
        kj_cli_error("backup: %s exists and is not an empty directory", dest);
        return KJ_EXIT_FAIL;
    }
    kj_store_opts so = {.dir = dir, .read_only = true};
    kj_store *s;
    char msg[300] = "";
    if (kj_store_open(&so, &s, msg, sizeof msg)) {
        kj_cli_error("backup: %s", msg);
        return KJ_EXIT_FAIL;
    }
    kj_store_stats st;
    kj_err err = kj_store_backup(s, dest, msg, sizeof msg);
    if (!err) err = kj_store_get_stats(s, &st);
    kj_store_close(s);
    if (err) {
        kj_cli_error("backup: %s", msg[0] ? msg : kj_strerror(err));
        return KJ_EXIT_FAIL;
    }
    printf("backup of %s in %s: %llu events\n", dir, dest, (unsigned long long)st.events);
    return KJ_EXIT_OK;
}
