/* kinerja — the strict parser of times (kinerja.h); durations are proto/duration.c's. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinerja.h"

static bool parse_int(const char *s, const char **end, int64_t *out)
{
    if (!isdigit((unsigned char)*s)) return false; /* no sign, no space: strtoll allows both */
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    if (errno == ERANGE) return false;
    *end = e;
    *out = v;
    return true;
}

/* Exactly n digits into *out. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days since the epoch of a proleptic Gregorian date (Howard Hinnant's
 * algorithm): timegm() would do, but it is not C11 and depends on TZ data. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "+07:00", "-0530", "Z" -> offset in minutes east of UTC. */
static bool parse_offset(const char *p, int *minutes)
{
    int h, m = 0;
    if (!strcmp(p, "Z") || !strcmp(p, "z")) return (*minutes = 0, true);
    if (*p != '+' && *p != '-') return false;
    int sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &h)) return false;
    if (*p == ':') p++;
    if (*p && !digits(&p, 2, &m)) return false;
    if (*p || h > 23 || m > 59) return false;
    *minutes = sign * (h * 60 + m);
    return true;
}

static bool parse_iso(const char *p, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi)) return false;
        if (*p == ':' && (p++, !digits(&p, 2, &sec))) return false;
        if (*p == '.' || *p == ',') {
            int scale = 100, n = 0;
            for (p++; isdigit((unsigned char)*p); p++, n++) {
                ms += (*p - '0') * scale;
                scale /= 10;
            }
            if (n == 0) return false;
        }
        if (*p && !parse_offset(p, &off)) return false;
    } else if (*p) {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    *out = secs * 1000 + ms;
    return true;
}

bool kj_parse_time(const char *s, int64_t *out)
{
    const char *end;
    int64_t v;
    if (!s) return false;
    if (!strcmp(s, "now")) return (*out = kj_now_ms(), true);
    if (strlen(s) >= 10 && s[4] == '-') return parse_iso(s, out);
    if (!parse_int(s, &end, &v) || *end) return false;
    *out = v;
    return true;
}
