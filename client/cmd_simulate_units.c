/* kinerja simulate — the units it plays: from a list (generated members and
 * counters), from a kinerjad configuration, or from the daemon's directory.
 * Single-threaded, the simulation's. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "cmd_simulate.h"
#include "config/config.h"

static void add_unit(sim *s, const char *id)
{
    s->units = realloc(s->units, (s->n_units + 1) * sizeof *s->units);
    if (!s->units) abort();
    sim_unit *u = &s->units[s->n_units++];
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
}

static void add_member(sim_unit *u, const char *id)
{
    u->members = realloc(u->members, (u->n_members + 1) * sizeof *u->members);
    if (!u->members) abort();
    snprintf(u->members[u->n_members++], KJ_ID_MAX + 1, "%s", id);
}

static void add_desk(sim_unit *u, const char *id)
{
    u->desks = realloc(u->desks, (u->n_desks + 1) * sizeof *u->desks);
    if (!u->desks) abort();
    desk *d = &u->desks[u->n_desks++];
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->service, sizeof d->service, "ktp-el");
}

/* Members staff the desks in turn; units without members get generated ones. */
void kj_sim_finish_units(sim *s)
{
    for (size_t i = 0; i < s->n_units; i++) {
        sim_unit *u = &s->units[i];
        while (u->n_members < 1) {
            char id[KJ_ID_MAX + 1];
            snprintf(id, sizeof id, "%.50s-staff-%zu", u->id, u->n_members + 1);
            add_member(u, id);
        }
        for (size_t k = 0; k < u->n_desks; k++)
            u->desks[k].staff = (int)(k % (u->n_members ? u->n_members : 1));
    }
}

/* An 18-digit NIP-like id: birth date, appointment, sex, number. Each part is
 * taken modulo its range so that the compiler, too, sees 18 digits. */
static void fake_nip(sim *s, char *out, size_t len)
{
    unsigned y = 70 + (unsigned)kj_sim_pick(s, 28) % 28, m = 1 + (unsigned)kj_sim_pick(s, 12) % 12,
             d = 1 + (unsigned)kj_sim_pick(s, 28) % 28, ay = 5 + (unsigned)kj_sim_pick(s, 18) % 18,
             am = 1 + (unsigned)kj_sim_pick(s, 12) % 12, sex = 1 + (unsigned)kj_sim_pick(s, 2) % 2,
             n = 1 + (unsigned)kj_sim_pick(s, 999) % 999;
    snprintf(out, len, "19%02u%02u%02u20%02u%02u%u%03u", y, m, d, ay, am, sex, n);
}

bool kj_sim_units_from_list(sim *s, const char *list, int members, int counters)
{
    char *copy = strdup(list), *save = NULL;
    bool ok = true;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!kj_id_valid(t, strlen(t))) {
            kj_cli_error("simulate: %s is not a valid unit id", t);
            ok = false;
            break;
        }
        add_unit(s, t);
        sim_unit *u = &s->units[s->n_units - 1];
        /* The same unit gets the same staff every run (the backfill's events
         * and the live ones then name the same people). */
        uint64_t saved = s->rng;
        s->rng = kj_sim_hash_str(0xcbf29ce484222325ULL, t) | 1;
        for (int i = 0; i < members; i++) {
            char nip[32];
            fake_nip(s, nip, sizeof nip);
            add_member(u, nip);
        }
        s->rng = saved;
        for (int i = 0; i < counters; i++) {
            char id[24];
            snprintf(id, sizeof id, "loket-%d", i + 1);
            add_desk(u, id);
        }
    }
    free(copy);
    return ok && s->n_units;
}

bool kj_sim_units_from_config(sim *s, const char *path)
{
    kj_config *cfg;
    char err[2048];
    if (kj_config_load(path, &cfg, err, sizeof err)) {
        kj_cli_error("simulate: %s", err);
        return false;
    }
    if (!s->tz_name[0] && cfg->timezone)
        snprintf(s->tz_name, sizeof s->tz_name, "%s", cfg->timezone);
    for (size_t i = 0; i < cfg->n_units; i++) {
        const kj_unit_conf *uc = &cfg->units[i];
        add_unit(s, uc->id);
        sim_unit *u = &s->units[s->n_units - 1];
        for (size_t k = 0; k < uc->n_members; k++)
            add_member(u, uc->members[k].id);
        for (size_t k = 0; k < uc->n_counters; k++)
            add_desk(u, uc->counters[k].id);
    }
    kj_config_free(cfg);
    if (!s->n_units) kj_cli_error("simulate: %s lists no units", path);
    return s->n_units > 0;
}

/* The id of a member or counter entry: {"id": ...} or a plain string. */
static const char *entry_id(json_t *e)
{
    return json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "id"));
}

static void entries(json_t *list, void (*add)(sim_unit *, const char *), sim_unit *u)
{
    size_t i;
    json_t *e;
    const char *key;
    if (json_is_array(list)) {
        json_array_foreach(list, i, e) if (entry_id(e)) add(u, entry_id(e));
    } else if (json_is_object(list)) {
        json_object_foreach(list, key, e) add(u, key);
    }
}

/* The daemon's zone, from the snapshot of one of its units ("timezone",
 * SPEC §7); left unset when the token may not read it. */
static void zone_from_daemon(sim *s, kj_client *c, const char *unit)
{
    char path[128];
    int status;
    char *body;
    size_t len;
    snprintf(path, sizeof path, "/api/v1/snapshot?unit=%s", unit);
    if (s->tz_name[0] || kj_client_get(c, path, "application/json", &status, &body, &len)) return;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    const char *tz = json_string_value(json_object_get(j, "timezone"));
    if (tz && strlen(tz) < sizeof s->tz_name) snprintf(s->tz_name, sizeof s->tz_name, "%s", tz);
    json_decref(j);
    free(body);
}

bool kj_sim_units_from_daemon(sim *s, kj_client *c)
{
    int status;
    char *body;
    size_t len, i;
    json_t *u;
    if (kj_client_get(c, "/api/v1/units", "application/json", &status, &body, &len)) {
        kj_cli_error("simulate: %s", kj_client_errmsg(c));
        return false;
    }
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *list = json_is_array(j) ? j : json_object_get(j, "units");
    json_array_foreach(list, i, u)
    {
        const char *id = entry_id(u);
        if (!id || !kj_id_valid(id, strlen(id))) continue;
        add_unit(s, id);
        entries(json_object_get(u, "members"), add_member, &s->units[s->n_units - 1]);
        entries(json_object_get(u, "counters"), add_desk, &s->units[s->n_units - 1]);
    }
    if (s->n_units) zone_from_daemon(s, c, s->units[0].id);
    if (!s->n_units) {
        json_t *e = status == 200 ? NULL : json_loadb(body, len, 0, NULL);
        const char *why = json_string_value(json_object_get(e, "error"));
        kj_cli_error("simulate: GET /api/v1/units: %s (HTTP %d); give --units U1,U2 or "
                     "--config FILE, or a token that may read the units",
                     status == 200 ? "no units"
                     : why         ? why
                                   : strtok(body, "\r\n"),
                     status);
        json_decref(e);
    }
    json_decref(j);
    free(body);
    return s->n_units > 0;
}

void kj_sim_free_units(sim *s)
{
    for (size_t i = 0; i < s->n_units; i++) {
        free(s->units[i].members);
        free(s->units[i].desks);
    }
    free(s->units);
    free(s->evs);
}
