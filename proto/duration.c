/* kinerja — durations (duration.h). */
#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const struct {
    const char *suffix;
    int64_t mult;
} units[] = {{"d", KJ_DAY_MS}, {"h", KJ_HOUR_MS}, {"m", KJ_MINUTE_MS}, {"s", KJ_SEC_MS}, {"ms", 1}};

#define N_UNITS (sizeof units / sizeof units[0])

bool kj_parse_duration_ms(const char *s, int64_t *out)
{
    if (!s || *s < '0' || *s > '9') return false; /* no sign, no space: strtoull allows both */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE) return false;
    if (*end == '\0' && v == 0) { /* "0" needs no unit; any other bare number is ambiguous */
        *out = 0;
        return true;
    }
    for (size_t i = 0; i < N_UNITS; i++) {
        if (strcmp(end, units[i].suffix) != 0) continue;
        if (v > (unsigned long long)(INT64_MAX / units[i].mult)) return false;
        *out = (int64_t)v * units[i].mult;
        return true;
    }
    return false;
}

void kj_format_duration(int64_t ms, char *buf, size_t n)
{
    for (size_t i = 0; i + 1 < N_UNITS; i++) {
        if (ms && ms % units[i].mult == 0) {
            snprintf(buf, n, "%lld%s", (long long)(ms / units[i].mult), units[i].suffix);
            return;
        }
    }
    snprintf(buf, n, ms ? "%lldms" : "%lld", (long long)ms);
}
