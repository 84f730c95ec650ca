/* libFuzzer target: the TZif parser (daemon/tzclock.c) on a zone file of the
 * input, then offsets and day starts at instants across the range (the
 * transitions, then the POSIX footer's rules). */
#include <stdlib.h>

#include "fuzz_util.h"
#include "tzclock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file("Zone", data, size);
    setenv("TZDIR", fuzz_dir(), 1);
    kj_tz *tz = NULL;
    if (kj_tz_load("Zone", &tz) != KJ_OK) return 0;
    static const int64_t at[] = {INT64_MIN / 2,   -8000000000000LL, 0,
                                 1700000000000LL, 4102444800000LL,  253402300799000LL,
                                 INT64_MAX / 2};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        int64_t off = kj_tz_offset_ms(tz, at[i]);
        if (off < -89999000 || off > 93599000) __builtin_trap(); /* RFC 8536 range */
        int32_t day = kj_tz_day(tz, at[i]);
        kj_tz_day_start(tz, day);
    }
    kj_tz_free(tz);
    return 0;
}
