#include "tzclock.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

#define MAX_TZFILE (256 * 1024)

/* A POSIX TZ rule date: Mm.w.d (kind 'M'), Jn (kind 'J', 1..365, no Feb 29)
 * or n (kind 'n', 0..365), at `secs` local time. */
typedef struct rule_date {
    char kind;
    int month, week, wday, yday;
    int32_t secs;
} rule_date;

typedef struct footer {
    bool valid, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    rule_date start, end;
} footer;

struct kj_tz {
    int64_t *times; /* transition instants, seconds, ascending */
    int32_t *offs;  /* offset in force from times[i] on */
    size_t n;
    int32_t before; /* offset before the first transition */
    footer tail;    /* beyond the last transition */
};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = kj_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void kj_tz_civil_from_days(int32_t day, int *y, int *m, int *d)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = kj_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int32_t kj_tz_days_from_civil(int y, int m, int d)
{
    return (int32_t)days_from_civil(y, m, d);
}

static int64_t year_of_days(int64_t z)
{
    int y, m, d;
    kj_tz_civil_from_days((int32_t)z, &y, &m, &d);
    return y;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Seconds since the epoch, local wall time, at which rule r fires in year y. */
static int64_t rule_local(const rule_date *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J') {
        day = days_from_civil(y, 1, 1) + r->yday - 1;
        if (is_leap(y) && r->yday >= 60) day++;
    } else if (r->kind == 'n') {
        day = days_from_civil(y, 1, 1) + r->yday;
    } else {
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = days_from_civil(y, r->month, 1);
        int wd_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int64_t d = first + (r->wday - wd_first + 7) % 7 + 7 * (r->week - 1);
        int len = mdays[r->month - 1] + (r->month == 2 && is_leap(y));
        while (d >= first + len)
            d -= 7;
        day = d;
    }
    return day * 86400 + r->secs;
}

static int32_t footer_offset(const footer *f, int64_t t)
{
    if (!f->has_dst) return f->std_off;
    int64_t y = year_of_days(kj_floor_div(t + f->std_off, 86400));
    int64_t start = rule_local(&f->start, y) - f->std_off;
    int64_t end = rule_local(&f->end, y) - f->dst_off;
    bool dst = start < end ? (t >= start && t < end) : (t < end || t >= start);
    return dst ? f->dst_off : f->std_off;
}

/* --- POSIX TZ string parsing (the TZif footer) --- */

static bool parse_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        while (*s && *s != '>')
            s++;
        if (*s != '>') return false;
        *p = s + 1;
        return true;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    if (s - *p < 3) return false;
    *p = s;
    return true;
}

static bool parse_num(const char **p, int max, int *out)
{
    char *end;
    long v = strtol(*p, &end, 10);
    if (end == *p || v < 0 || v > max) return false;
    *p = end;
    *out = (int)v;
    return true;
}

/* [+-]hh[:mm[:ss]] as seconds; hours up to 167 (RFC 8536 rule times). */
static bool parse_hms(const char **p, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (**p == '+' || **p == '-') sign = *(*p)++ == '-' ? -1 : 1;
    if (!parse_num(p, 167, &h)) return false;
    if (**p == ':') {
        (*p)++;
        if (!parse_num(p, 59, &m)) return false;
        if (**p == ':') {
            (*p)++;
            if (!parse_num(p, 59, &s)) return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool parse_rule(const char **p, rule_date *r)
{
    r->secs = 7200; /* default 02:00 */
    if (**p == 'M') {
        (*p)++;
        r->kind = 'M';
        if (!parse_num(p, 12, &r->month) || r->month < 1 || *(*p)++ != '.' ||
            !parse_num(p, 5, &r->week) || r->week < 1 || *(*p)++ != '.' ||
            !parse_num(p, 6, &r->wday))
            return false;
    } else if (**p == 'J') {
        (*p)++;
        r->kind = 'J';
        if (!parse_num(p, 365, &r->yday) || r->yday < 1) return false;
    } else {
        r->kind = 'n';
        if (!parse_num(p, 365, &r->yday)) return false;
    }
    if (**p == '/') {
        (*p)++;
        return parse_hms(p, &r->secs);
    }
    return true;
}

/* RFC 8536's range for an offset (-24:59:59 .. +25:59:59): a file beyond it
 * is damaged, and a day that starts years away would break the calendar. */
static bool offset_ok(int32_t secs)
{
    return secs >= -89999 && secs <= 93599;
}

static bool parse_footer(const char *s, footer *f)
{
    int32_t off;
    memset(f, 0, sizeof *f);
    if (!parse_name(&s) || !parse_hms(&s, &off)) return false;
    f->std_off = -off; /* POSIX offsets are west-positive */
    f->dst_off = f->std_off + 3600;
    if (*s && *s != ',') {
        if (!parse_name(&s)) return false;
        f->has_dst = true;
        if (*s && *s != ',') {
            if (!parse_hms(&s, &off)) return false;
            f->dst_off = -off;
        }
        if (*s++ != ',' || !parse_rule(&s, &f->start) || *s++ != ',' || !parse_rule(&s, &f->end))
            return false;
    }
    f->valid = *s == '\0' && offset_ok(f->std_off) && offset_ok(f->dst_off);
    return f->valid;
}

/* --- TZif --- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static bool read_counts(const uint8_t *p, size_t len, tzif_counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) return false;
    c->isut = be32(p + 20);
    c->isstd = be32(p + 24);
    c->leap = be32(p + 28);
    c->time = be32(p + 32);
    c->type = be32(p + 36);
    c->chars = be32(p + 40);
    return c->type > 0 && c->type < 256 && c->time < 100000 && c->leap < 100000;
}

static size_t block_size(const tzif_counts *c, size_t tsize)
{
    return c->time * (tsize + 1) + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

/* Fill tz from the data block at p (after its header) with tsize-byte times. */
static kj_err parse_block(kj_tz *tz, const uint8_t *p, const tzif_counts *c, size_t tsize)
{
    const uint8_t *idx = p + c->time * tsize, *types = idx + c->time;
    tz->n = c->time;
    tz->times = kj_calloc(c->time, sizeof *tz->times);
    tz->offs = kj_calloc(c->time, sizeof *tz->offs);
    for (size_t i = 0; i < c->time; i++) {
        tz->times[i] = tsize == 8 ? be64(p + 8 * i) : (int32_t)be32(p + 4 * i);
        if (idx[i] >= c->type || (i && tz->times[i] <= tz->times[i - 1])) return KJ_ERR_DECODE;
        tz->offs[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    for (uint32_t t = 0; t < c->type; t++)
        if (!offset_ok((int32_t)be32(types + 6 * t))) return KJ_ERR_DECODE;
    /* Before the first transition: the first standard-time type (RFC 8536). */
    tz->before = (int32_t)be32(types);
    for (uint32_t t = 0; t < c->type; t++) {
        if (!types[6 * t + 4]) {
            tz->before = (int32_t)be32(types + 6 * t);
            break;
        }
    }
    return KJ_OK;
}

static kj_err parse_tzif(kj_tz *tz, const uint8_t *buf, size_t len)
{
    tzif_counts c;
    if (!read_counts(buf, len, &c)) return KJ_ERR_DECODE;
    size_t v1 = 44 + block_size(&c, 4);
    if (v1 > len) return KJ_ERR_DECODE;
    if (buf[4] < '2') return parse_block(tz, buf + 44, &c, 4);

    const uint8_t *h2 = buf + v1;
    if (!read_counts(h2, len - v1, &c)) return KJ_ERR_DECODE;
    size_t v2 = 44 + block_size(&c, 8);
    if (v2 > len - v1) return KJ_ERR_DECODE;
    kj_err err = parse_block(tz, h2 + 44, &c, 8);
    if (err) return err;

    /* Footer: "\n" POSIX-TZ "\n". An empty or unsupported one leaves the last
     * transition's offset in force. */
    const uint8_t *f = h2 + v2, *end = buf + len;
    if (f < end && *f == '\n') {
        const uint8_t *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
        if (nl && nl - f - 1 < 64) {
            char s[64];
            memcpy(s, f + 1, (size_t)(nl - f - 1));
            s[nl - f - 1] = '\0';
            parse_footer(s, &tz->tail);
        }
    }
    return KJ_OK;
}

static bool name_ok(const char *name)
{
    if (!*name || *name == '/' || strlen(name) > 200) return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+' || *p == '.'))
            return false;
    }
    return strstr(name, "..") == NULL;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(MAX_TZFILE);
    size_t n = buf ? fread(buf, 1, MAX_TZFILE, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n == MAX_TZFILE) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

kj_err kj_tz_load(const char *name, kj_tz **out)
{
    if (!name_ok(name)) return KJ_ERR_CONFIG;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    size_t len = 0;
    uint8_t *buf = read_file(path, &len);
    if (!buf) return KJ_ERR_CONFIG;
    kj_tz *tz = kj_calloc(1, sizeof *tz);
    kj_err err = parse_tzif(tz, buf, len);
    free(buf);
    if (err) goto fail;
    *out = tz;
    return KJ_OK;
fail:
    kj_tz_free(tz);
    return err;
}

void kj_tz_free(kj_tz *tz)
{
    if (!tz) return;
    free(tz->times);
    free(tz->offs);
    free(tz);
}

static int32_t offset_secs(const kj_tz *tz, int64_t t)
{
    if (!tz->n) return tz->tail.valid ? footer_offset(&tz->tail, t) : tz->before;
    if (t < tz->times[0]) return tz->before;
    if (t >= tz->times[tz->n - 1] && tz->tail.valid) return footer_offset(&tz->tail, t);
    size_t a = 0, b = tz->n; /* last i with times[i] <= t */
    while (b - a > 1) {
        size_t mid = (a + b) / 2;
        if (tz->times[mid] <= t)
            a = mid;
        else
            b = mid;
    }
    return tz->offs[a];
}

int64_t kj_tz_offset_ms(const kj_tz *tz, int64_t utc_ms)
{
    return (int64_t)offset_secs(tz, kj_floor_div(utc_ms, 1000)) * 1000;
}

int32_t kj_tz_day(const kj_tz *tz, int64_t utc_ms)
{
    return (int32_t)kj_floor_div(utc_ms + kj_tz_offset_ms(tz, utc_ms), KJ_DAY_MS);
}

int kj_tz_local(const kj_tz *tz, int64_t utc_ms, int64_t *ms_of_day)
{
    int64_t local = utc_ms + kj_tz_offset_ms(tz, utc_ms);
    int64_t day = kj_floor_div(local, KJ_DAY_MS);
    *ms_of_day = local - day * KJ_DAY_MS;
    return (int)((day % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

int64_t kj_tz_day_start(const kj_tz *tz, int32_t day)
{
    /* Offsets stay within +-26 h: search that span for the first instant of
     * the day, to the second (transitions fall on whole seconds). */
    int64_t lo = kj_floor_div(day * KJ_DAY_MS, 1000) - 26 * 3600;
    int64_t hi = kj_floor_div(day * KJ_DAY_MS, 1000) + 26 * 3600;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (kj_tz_day(tz, mid * 1000) >= day)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo * 1000;
}
