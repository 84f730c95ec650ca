#include "access.h"

#include <stdio.h>
#include <strings.h>

bool kj_access_check_batch(const kj_config *cfg, const kj_token *tok, kj_batch *b, char *msg,
                           size_t msglen)
{
    for (size_t i = 0; i < b->n; i++) {
        kj_batch_item *it = &b->items[i];
        if (it->error[0]) continue;
        if (tok && !kj_token_allows_unit(tok, it->ev.unit)) {
            snprintf(msg, msglen, "token %s may not post for unit %s (event %zu)", tok->name,
                     it->ev.unit, i);
            return false;
        }
        if (!cfg->strict_directory) continue;
        const kj_unit_conf *u = kj_config_unit(cfg, it->ev.unit);
        if (!u)
            snprintf(it->error, sizeof it->error, "unit: unknown unit %s", it->ev.unit);
        else if (it->ev.employee[0] && !kj_config_unit_has_member(u, it->ev.employee))
            snprintf(it->error, sizeof it->error, "employee: not a member of %s", u->id);
        else if (it->ev.counter[0] && !kj_config_unit_has_counter(u, it->ev.counter))
            snprintf(it->error, sizeof it->error, "counter: not a counter of %s", u->id);
    }
    return true;
}

const kj_token *kj_access_bearer(const kj_config *cfg, const char *header, size_t len)
{
    if (len <= 7 || strncasecmp(header, "Bearer ", 7) != 0) return NULL;
    return kj_config_token(cfg, header + 7, len - 7);
}
