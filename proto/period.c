/* Calendar periods by name (period.h). */
#include "period.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[] = {"month", "quarter", "year"};

const char *kj_period_kind_name(kj_period_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "month";
}

bool kj_period_kind_parse(const char *s, kj_period_kind *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (kj_period_kind)i;
            return true;
        }
    return false;
}

/* n decimal digits at s, as an int; false when one is not a digit. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool kj_period_parse(const char *s, size_t len, kj_period *out)
{
    kj_period p = {KJ_PERIOD_YEAR, 0, 0};
    /* Days before 1970 would be negative day numbers the store never holds. */
    if (len < 4 || !digits(s, 4, &p.year) || p.year < 1970) return false;
    if (len == 4) {
        *out = p;
        return true;
    }
    if (len != 7 || s[4] != '-') return false;
    if (s[5] == 'Q' && s[6] >= '1' && s[6] <= '4') {
        p.kind = KJ_PERIOD_QUARTER;
        p.index = s[6] - '0';
    } else if (digits(s + 5, 2, &p.index) && p.index >= 1 && p.index <= 12) {
        p.kind = KJ_PERIOD_MONTH;
    } else {
        return false;
    }
    *out = p;
    return true;
}

void kj_period_format(const kj_period *p, char *buf, size_t len)
{
    if (p->kind == KJ_PERIOD_MONTH)
        snprintf(buf, len, "%04d-%02d", p->year, p->index);
    else if (p->kind == KJ_PERIOD_QUARTER)
        snprintf(buf, len, "%04d-Q%d", p->year, p->index);
    else
        snprintf(buf, len, "%04d", p->year);
}
