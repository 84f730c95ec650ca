/* kinerja snapshot */
#include "cmd.h"

int kj_cmd_snapshot(int argc, char **argv)
{
    (void)argc, (void)argv;
    kj_cli_error("snapshot: not yet implemented");
    return KJ_EXIT_FAIL;
}
