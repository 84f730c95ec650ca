/* kinerjad — the configuration's directory: tokens and units (with their
 * members and counters), and the strict_directory check of the references to
 * them (config_priv.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../proto/alloc.h"
#include "../proto/clock.h"
#include "config_priv.h"

static const char *const role_names[] = {"ingest", "viewer", "admin", "supervisor"};

const char *kj_role_name(kj_role r)
{
    return (size_t)r < COUNT(role_names) ? role_names[r] : "?";
}

/* The digest of the empty secret: a token with it would let an empty bearer in. */
static const char empty_digest[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* ---- tokens ---- */

static bool decode_hex(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (v < 0) return false;
        out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return true;
}

static void load_digest(struct load *ld, const char *base, const char *raw, kj_token *t)
{
    path key = kj_cfg_sub(base, "sha256");
    raw = kj_cfg_leaf(ld, key.s, raw);
    if (!kj_cfg_required(ld, key.s, raw)) return;
    if (!decode_hex(raw, t->sha256))
        kj_cfg_fail(ld, key.s, "must be 64 hexadecimal digits (printf %%s SECRET | sha256sum)");
    else if (!strcasecmp(raw, empty_digest))
        kj_cfg_fail(ld, key.s, "is the digest of an empty secret");
}

static void load_token(struct load *ld, size_t i, const struct raw_token *r, kj_token *t)
{
    path base = kj_cfg_item("tokens", i), key = kj_cfg_sub(base.s, "name");
    int role = -1;
    t->name = kj_cfg_take_id(ld, key.s, r->name);
    load_digest(ld, base.s, r->sha256, t);
    key = kj_cfg_sub(base.s, "role");
    if (kj_cfg_required(ld, key.s, r->role))
        kj_cfg_set_enum(ld, key.s, r->role, role_names, COUNT(role_names), &role);
    t->role = role < 0 ? KJ_ROLE_VIEWER : (kj_role)role;
    key = kj_cfg_sub(base.s, "units");
    if (!kj_cfg_unit_list(ld, key.s, &t->all_units, &t->units, &t->n_units)) {
        if (role == KJ_ROLE_ADMIN)
            t->all_units = true;
        else if (role >= 0)
            kj_cfg_fail(ld, key.s, "required: a list of unit ids, or \"*\"");
    }
    key = kj_cfg_sub(base.s, "employee");
    const char *employee = kj_cfg_leaf(ld, key.s, r->employee);
    if (employee) t->employee = kj_cfg_take_id(ld, key.s, employee);
    if (employee && role >= 0 && role != KJ_ROLE_VIEWER)
        kj_cfg_fail(ld, key.s, "only a viewer token can be personal");
}

static void check_digests(struct load *ld, const kj_config *c)
{
    for (size_t i = 0; i < c->n_tokens; i++) {
        for (size_t k = 0; k < i; k++) {
            if (memcmp(c->tokens[i].sha256, c->tokens[k].sha256, 32)) continue;
            path here = kj_cfg_sub(kj_cfg_item("tokens", i).s, "sha256");
            path there = kj_cfg_sub(kj_cfg_item("tokens", k).s, "sha256");
            kj_cfg_fail(ld, here.s, "same digest as tokens[%zu] (line %d): secrets must differ", k,
                        kj_cfg_lines_line(ld->ix, there.s));
            break;
        }
    }
}

void kj_cfg_load_tokens(struct load *ld, const struct raw_token *r, size_t n, kj_config *c)
{
    c->n_tokens = n;
    c->tokens = kj_calloc(c->n_tokens, sizeof *c->tokens);
    char **names = kj_calloc(c->n_tokens, sizeof *names);
    for (size_t i = 0; i < c->n_tokens; i++) {
        load_token(ld, i, &r[i], &c->tokens[i]);
        names[i] = c->tokens[i].name;
    }
    kj_cfg_check_unique(ld, "tokens", "name", names, c->n_tokens);
    check_digests(ld, c);
    free(names);
}

/* ---- units ---- */

static void load_named(struct load *ld, const char *base, const struct raw_named *r, size_t n,
                       kj_named **out, size_t *n_out)
{
    *n_out = n;
    *out = kj_calloc(n, sizeof **out);
    char **ids = kj_calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        path at = kj_cfg_item(base, i);
        (*out)[i].id = ids[i] = kj_cfg_take_id(ld, kj_cfg_sub(at.s, "id").s, r[i].id);
        (*out)[i].name = kj_cfg_take_name(ld, kj_cfg_sub(at.s, "name").s, r[i].name, r[i].id);
    }
    kj_cfg_check_unique(ld, base, "id", ids, n);
    free(ids);
}

static void load_unit(struct load *ld, size_t i, const struct raw_unit *r, kj_unit_conf *u)
{
    path base = kj_cfg_item("units", i);
    u->id = kj_cfg_take_id(ld, kj_cfg_sub(base.s, "id").s, r->id);
    u->name = kj_cfg_take_name(ld, kj_cfg_sub(base.s, "name").s, r->name, r->id);
    uint64_t sla = 900000;
    kj_cfg_set_uint(ld, kj_cfg_sub(base.s, "sla_wait_ms").s, r->sla_wait_ms, 1, (uint64_t)KJ_DAY_MS,
                    &sla);
    u->sla_wait_ms = (int64_t)sla;
    load_named(ld, kj_cfg_sub(base.s, "members").s, r->members, r->members_count, &u->members,
               &u->n_members);
    load_named(ld, kj_cfg_sub(base.s, "counters").s, r->counters, r->counters_count, &u->counters,
               &u->n_counters);
}

void kj_cfg_load_units(struct load *ld, const struct raw_unit *r, size_t n, kj_config *c)
{
    c->n_units = n;
    c->units = kj_calloc(c->n_units, sizeof *c->units);
    char **ids = kj_calloc(c->n_units, sizeof *ids);
    for (size_t i = 0; i < c->n_units; i++) {
        load_unit(ld, i, &r[i], &c->units[i]);
        ids[i] = c->units[i].id;
    }
    kj_cfg_check_unique(ld, "units", "id", ids, c->n_units);
    free(ids);
}

/* ---- strict_directory: references must name what the file lists ---- */

static bool any_member(const kj_config *c, const char *employee)
{
    for (size_t i = 0; i < c->n_units; i++)
        if (kj_config_unit_has_member(&c->units[i], employee)) return true;
    return false;
}

static void check_unit_refs(struct load *ld, const kj_config *c, const char *key, char **units,
                            size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!kj_config_unit(c, units[i]))
            kj_cfg_fail(ld, kj_cfg_item(key, i).s, "unknown unit \"%s\" (strict_directory is on)",
                        units[i]);
}

void kj_cfg_check_directory(struct load *ld, const kj_config *c)
{
    if (!c->strict_directory) return;
    for (size_t i = 0; i < c->n_tokens; i++) {
        const kj_token *t = &c->tokens[i];
        path base = kj_cfg_item("tokens", i);
        check_unit_refs(ld, c, kj_cfg_sub(base.s, "units").s, t->units, t->n_units);
        if (t->employee && !any_member(c, t->employee))
            kj_cfg_fail(ld, kj_cfg_sub(base.s, "employee").s,
                        "unknown employee \"%s\" (strict_directory is on)", t->employee);
    }
    for (size_t i = 0; i < c->n_indicators; i++) {
        const kj_indicator_conf *ind = &c->indicators[i];
        path base = kj_cfg_item("indicators", i);
        check_unit_refs(ld, c, kj_cfg_sub(base.s, "units").s, ind->units, ind->n_units);
        for (size_t k = 0; k < ind->n_overrides; k++) {
            const char *e = ind->overrides[k].employee;
            if (e && !any_member(c, e))
                kj_cfg_fail(
                    ld,
                    kj_cfg_sub(kj_cfg_item(kj_cfg_sub(base.s, "overrides").s, k).s, "employee").s,
                    "unknown employee \"%s\" (strict_directory is on)", e);
        }
    }
}
