/* libFuzzer target: the YAML configuration (kj_config_load, libcyaml and our
 * checks after it). Any file loads or is refused with a one-line message. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    const char *path = fuzz_file("kinerjad.yaml", data, size);
    kj_config *cfg = NULL;
    char err[512] = "";
    kj_err e = kj_config_load(path, &cfg, err, sizeof err);
    if (e == KJ_OK) {
        kj_config_loopback_only(cfg);
        kj_config_free(cfg);
    } else if (cfg || !err[0]) {
        __builtin_trap(); /* refused without a reason, or with a result */
    }
    return 0;
}
