/* kinerja watch */
#include "cmd.h"

int kj_cmd_watch(int argc, char **argv)
{
    (void)argc, (void)argv;
    kj_cli_error("watch: not yet implemented");
    return KJ_EXIT_FAIL;
}
