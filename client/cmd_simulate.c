/* kinerja simulate */
#include "cmd.h"

int kj_cmd_simulate(int argc, char **argv)
{
    (void)argc, (void)argv;
    kj_cli_error("simulate: not yet implemented");
    return KJ_EXIT_FAIL;
}
