/* kinerja backup */
#include "cmd.h"

int kj_cmd_backup(int argc, char **argv)
{
    (void)argc, (void)argv;
    kj_cli_error("backup: not yet implemented");
    return KJ_EXIT_FAIL;
}
