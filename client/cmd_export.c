/* kinerja export */
#include "cmd.h"

int kj_cmd_export(int argc, char **argv)
{
    (void)argc, (void)argv;
    kj_cli_error("export: not yet implemented");
    return KJ_EXIT_FAIL;
}
