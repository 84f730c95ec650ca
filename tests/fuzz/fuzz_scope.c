/* libFuzzer target: the read API's scope and argument parsing — the scope of
 * /api/v1/series and live subscriptions (kj_scope_parse), what a token may see
 * of it (kj_api_scope_allowed, for an all-units, a unit-list and a personal
 * token), and the query's sizes, durations and windows. The query string's
 * own splitting is libwebsockets'. Input: the argument's text. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "duration.h"
#include "metrics/metrics.h"
#include "net/api.h"

static char *units[] = {"kasemen", "perizinan"};
static kj_token tokens[] = {
    {.name = "all", .role = KJ_ROLE_VIEWER, .all_units = true},
    {.name = "some", .role = KJ_ROLE_VIEWER, .units = units, .n_units = 2},
    {.name = "own", .role = KJ_ROLE_VIEWER, .all_units = true, .employee = "198706152010011002"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char s[4097];
    memcpy(s, data, size);
    s[size] = '\0';
    kj_scope_ref ref;
    char buf[256];
    bool parsed = kj_scope_parse(s, &ref, buf, sizeof buf);
    bool all = kj_api_scope_allowed(&tokens[0], s);
    kj_api_scope_allowed(&tokens[1], s);
    bool own = kj_api_scope_allowed(&tokens[2], s);
    /* A personal token sees one scope only, its own. */
    if (own && strcmp(s, "employee:198706152010011002")) __builtin_trap();
    (void)parsed, (void)all;
    uint64_t n;
    int64_t ms;
    kj_window w;
    kj_parse_size(s, &n);
    kj_parse_duration_ms(s, &ms);
    kj_window_parse(s, &w);
    return 0;
}
