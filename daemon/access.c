#include "access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The supervisor's event types of SPEC §16, by wire name: the rule holds for a
 * type another module adds (assessment) without this file knowing its enum. */
static bool supervisor_type(kj_event_type t)
{
    const char *name = kj_event_type_name(t);
    return !strcmp(name, "feedback") || !strcmp(name, "assessment") || !strcmp(name, "ack");
}

bool kj_access_may_post_type(const kj_token *tok, kj_event_type t)
{
    if (!tok) return true; /* auth off */
    switch (tok->role) {
    case KJ_ROLE_ADMIN: return true;
    case KJ_ROLE_INGEST: return !supervisor_type(t);
    case KJ_ROLE_SUPERVISOR: return supervisor_type(t);
    case KJ_ROLE_VIEWER: return false;
    }
    return false;
}

/* The whole request is refused (403) for a type the role may not post, as for
 * a unit it may not post for: a token sending the wrong kind of event is
 * misconfigured, not one bad event among good ones. */
static bool item_allowed(const kj_token *tok, const kj_batch_item *it, size_t i, char *msg,
                         size_t msglen)
{
    if (tok && !kj_token_allows_unit(tok, it->ev.unit)) {
        snprintf(msg, msglen, "token %s may not post for unit %s (event %zu)", tok->name,
                 it->ev.unit, i);
        return false;
    }
    if (!kj_access_may_post_type(tok, it->ev.type)) {
        snprintf(msg, msglen, "token %s may not post %s events (role %s, event %zu)", tok->name,
                 kj_event_type_name(it->ev.type), kj_role_name(tok->role), i);
        return false;
    }
    return true;
}

bool kj_access_check_batch(const kj_config *cfg, const kj_token *tok, kj_batch *b, char *msg,
                           size_t msglen)
{
    for (size_t i = 0; i < b->n; i++) {
        kj_batch_item *it = &b->items[i];
        if (it->error[0]) continue;
        if (!item_allowed(tok, it, i, msg, msglen)) return false;
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
