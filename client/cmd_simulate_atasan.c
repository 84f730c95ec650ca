/* kinerja simulate --supervisor-token: the head of the unit at work (SPEC §16).
 * Now and then she opens the unit's snapshot, acknowledges the bad alerts that
 * have stood for a few minutes (an alert nobody answers escalates), answers an
 * employee's alert with coaching, and now and then praises a member. Posts with
 * its own client (a supervisor token), on the simulation's thread. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

#define ACKS_PER_LOOK 2

struct kj_sim_atasan {
    kj_client *c;
    uint64_t rng;
    int64_t after_ms; /* an alert stands this long before she answers it */
};

kj_sim_atasan *kj_sim_atasan_new(const char *url, const char *token, uint64_t seed,
                                 int64_t after_ms)
{
    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    o.token = token;
    o.attempts = 2;
    kj_client *c = kj_cli_client_new(&o);
    if (!c) return NULL;
    kj_sim_atasan *a = calloc(1, sizeof *a);
    if (!a) abort();
    a->c = c;
    a->rng = seed | 1;
    a->after_ms = after_ms;
    return a;
}

void kj_sim_atasan_free(kj_sim_atasan *a)
{
    if (!a) return;
    kj_client_free(a->c);
    free(a);
}

static double chance(kj_sim_atasan *a)
{
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return (a->rng >> 11) * (1.0 / 9007199254740992.0);
}

static kj_event base(const char *unit, kj_event_type type)
{
    kj_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.ts = kj_now_ms();
    kj_event_id_new(ev.id);
    snprintf(ev.unit, sizeof ev.unit, "%s", unit);
    return ev;
}

/* An ack of a, and coaching for the employee it is about. Returns the events added. */
static size_t answer(const char *unit, json_t *alert, kj_event *out)
{
    static char note[] = "Sudah ditangani: loket tambahan dibuka";
    static char coaching[] = "Antrean sempat panjang. Mari kita bahas pembagian loket besok pagi.";
    const char *id = json_string_value(json_object_get(alert, "id"));
    const char *scope = json_string_value(json_object_get(alert, "scope"));
    const char *ind = json_string_value(json_object_get(alert, "indicator"));
    size_t n = 0;
    out[n] = base(unit, KJ_EV_ACK);
    snprintf(out[n].alert, sizeof out[n].alert, "%s", id);
    out[n].note = note;
    out[n++].note_len = sizeof note - 1;
    if (scope && !strncmp(scope, "employee:", 9) && ind) {
        out[n] = base(unit, KJ_EV_FEEDBACK);
        snprintf(out[n].employee, sizeof out[n].employee, "%s", scope + 9);
        snprintf(out[n].kind, sizeof out[n].kind, "coaching");
        snprintf(out[n].alert, sizeof out[n].alert, "%s", id);
        snprintf(out[n].indicator, sizeof out[n].indicator, "%s", ind);
        out[n++].text = coaching;
    }
    return n;
}

static size_t look_at(kj_sim_atasan *a, const char *unit, json_t *snap, kj_event *out)
{
    static char praise[] = "Terima kasih, pelayanan hari ini ramah dan cepat.";
    size_t n = 0, i;
    json_t *al;
    int64_t now = kj_now_ms();
    json_array_foreach(json_object_get(snap, "alerts"), i, al)
    {
        const char *to = json_string_value(json_object_get(al, "to"));
        json_int_t at = json_integer_value(json_object_get(al, "at"));
        if (n + 2 > 2 * ACKS_PER_LOOK) break;
        if (!to || strcmp(to, "bad") || json_object_get(al, "acked_at") ||
            !json_string_value(json_object_get(al, "id")) || now - at < a->after_ms)
            continue;
        n += answer(unit, al, out + n);
    }
    json_t *members = json_object_get(snap, "members");
    size_t count = json_object_size(members), k = 0;
    const char *who = NULL, *key;
    json_t *v;
    size_t pick = count ? (size_t)(chance(a) * count) % count : 0;
    json_object_foreach(members, key, v) if (k++ == pick) who = key;
    if (who && chance(a) < 0.15) {
        out[n] = base(unit, KJ_EV_FEEDBACK);
        snprintf(out[n].employee, sizeof out[n].employee, "%s", who);
        snprintf(out[n].kind, sizeof out[n].kind, "praise");
        out[n++].text = praise;
    }
    return n;
}

void kj_sim_atasan_look(kj_sim_atasan *a, const char *unit)
{
    char path[128];
    char *body = NULL;
    size_t len;
    int status;
    kj_event evs[2 * ACKS_PER_LOOK + 1];
    snprintf(path, sizeof path, "/api/v1/snapshot?unit=%s", unit);
    if (kj_client_get(a->c, path, "application/json", &status, &body, &len)) return;
    json_t *snap = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    size_t n = snap ? look_at(a, unit, snap, evs) : 0;
    json_decref(snap);
    free(body);
    kj_post_result res;
    if (n && !kj_client_submit(a->c, evs, n)) kj_client_flush(a->c, &res);
}
