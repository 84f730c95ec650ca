/* kinerja simulate — one office day replayed (see cmd_simulate.h): the
 * events of a unit's day from a seed of its id and date, for the backfill, for
 * the live part that follows the day as its times come, and for the unit test
 * that feeds a day to the daemon's metrics engine (tests/unit/test_office.c,
 * which links this file: it uses no command-line helper). Single-threaded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cmd_simulate.h"
#include "office.h"

static uint64_t next_u64(sim *s)
{
    /* xorshift64*: plenty for a simulation, and repeatable with --seed */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1DULL;
}

double kj_sim_uniform(sim *s)
{
    return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

size_t kj_sim_pick(sim *s, size_t n)
{
    return n ? (size_t)(kj_sim_uniform(s) * n) % n : 0;
}

double kj_sim_normal(sim *s)
{
    double u = kj_sim_uniform(s), v = kj_sim_uniform(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-12)) * cos(2 * M_PI * v);
}

/* A lognormal draw with the given median (ms) and spread. */
int64_t kj_sim_lognormal_ms(sim *s, double median, double sigma)
{
    double v = median * exp(sigma * kj_sim_normal(s));
    return v < 1000 ? 1000 : (int64_t)v;
}

uint64_t kj_sim_hash_str(uint64_t h, const char *str)
{
    for (; *str; str++)
        h = (h ^ (uint8_t)*str) * 0x100000001B3ULL; /* FNV-1a */
    return h;
}

/* ---- events ---- */

kj_event *kj_sim_event(sim *s, kj_event_type type, const sim_unit *u)
{
    if (s->n_evs == s->cap_evs) {
        s->cap_evs = s->cap_evs ? s->cap_evs * 2 : 256;
        s->evs = realloc(s->evs, s->cap_evs * sizeof *s->evs);
        if (!s->evs) abort();
    }
    kj_event *ev = &s->evs[s->n_evs++];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->ts = kj_now_ms();
    kj_event_id_new(ev->id);
    snprintf(ev->unit, sizeof ev->unit, "%s", u->id);
    return ev;
}

/* A citizen's rating of a service: mostly content; a long wait pulls every
 * element down. */
void kj_sim_fill_rating(sim *s, kj_event *ev, const sim_unit *u, const desk *d, int64_t wait_ms)
{
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(ev->service, sizeof ev->service, "%s", d->service);
    double mood = 0.35 * kj_sim_normal(s); /* one citizen rates every element alike */
    int sum = 0;
    for (int i = 0; i < KJ_ELEMENTS; i++) {
        int e = (int)lround(kj_office_element_mean(i, wait_ms) + mood + 0.4 * kj_sim_normal(s));
        ev->elements[i] = (uint8_t)(e < 1 ? 1 : e > 4 ? 4 : e);
        sum += ev->elements[i];
    }
    ev->has_elements = kj_sim_uniform(s) < 0.7;
    ev->score = (int32_t)lround((double)sum / KJ_ELEMENTS);
    ev->source = KJ_SOURCE_CITIZEN;
}

kj_event *kj_sim_ticket_event(sim *s, const sim_unit *u, const char *ticket, kj_ticket_state st)
{
    kj_event *ev = kj_sim_event(s, KJ_EV_TICKET, u);
    snprintf(ev->ticket, sizeof ev->ticket, "%s", ticket);
    ev->ticket_state = st;
    return ev;
}

void kj_sim_enqueue(sim *s, sim_unit *u, const char *ticket, int64_t issued)
{
    if (u->q_len == QUEUE_MAX) { /* the oldest gives up */
        kj_sim_ticket_event(s, u, u->queue[u->q_head].ticket, KJ_TICKET_CANCELLED);
        u->q_head = (u->q_head + 1) % QUEUE_MAX;
        u->q_len--;
    }
    waiting *w = &u->queue[(u->q_head + u->q_len++) % QUEUE_MAX];
    snprintf(w->ticket, sizeof w->ticket, "%s", ticket);
    w->issued = issued;
}

/* ---- a day replayed ---- */

/* A past day replayed: the same unit and day always give the same events with
 * the same ids, so a second backfill (make run started again) only brings
 * duplicates, which the daemon ignores. */
typedef struct replay {
    sim *s;
    sim_unit *u;
    int64_t from, now; /* only events with from <= ts <= now are kept */
    char day[12];      /* "20240502" */
    int weekday;       /* of the day, 0 Sunday */
    bool hand_over;    /* tickets waiting at now join the live ticket machine */
} replay;

static kj_event *replay_event(replay *r, kj_event_type type, int64_t ts, char stream, size_t idx,
                              unsigned *n)
{
    unsigned seq = (*n)++;
    if (ts < r->from || ts > r->now) return NULL;
    kj_event *ev = kj_sim_event(r->s, type, r->u);
    ev->ts = ts;
    snprintf(ev->id, sizeof ev->id, "bf.%s.%c%zu.%u", r->day, stream, idx, seq);
    return ev;
}

static void replay_presence(replay *r, const desk *d, size_t k, int64_t ts, kj_presence_state st,
                            unsigned *n)
{
    kj_event *ev = replay_event(r, KJ_EV_PRESENCE, ts, 'd', k, n);
    if (!ev) return;
    snprintf(ev->employee, sizeof ev->employee, "%s", r->u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    ev->state = st;
}

/* A ticket of the replayed day: issued at the arrival, called when served. */
static void replay_ticket(replay *r, const char *ticket, kj_ticket_state st, int64_t ts,
                          const desk *d, size_t k, unsigned *n)
{
    kj_event *ev = replay_event(r, KJ_EV_TICKET, ts, 'd', k, n);
    if (!ev) return;
    snprintf(ev->ticket, sizeof ev->ticket, "%s", ticket);
    ev->ticket_state = st;
    if (st == KJ_TICKET_ISSUED) snprintf(ev->service, sizeof ev->service, "%s", d->service);
    if (st != KJ_TICKET_CALLED) return;
    snprintf(ev->employee, sizeof ev->employee, "%s", r->u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
}

/* One counter's day: Poisson arrivals following the arrival curve, each with
 * a ticket, served in order (so queues, and waits, build up at the peaks), a
 * lunch break. The morning rush makes the day's longest waits, and now and
 * then a morning that misses the 15-minute target; the last of several units
 * is also short of staff (slower service), the worst of them. With
 * r->hand_over the tickets still waiting at now join the unit's ticket
 * machine, for --always-open's live part to call. */
static void replay_desk(replay *r, const desk *d, size_t k, int64_t day_start)
{
    sim *s = r->s;
    unsigned n = 0, tickets = 0;
    bool short_staffed = s->n_units > 1 && r->u == &s->units[s->n_units - 1];
    int64_t t = day_start, free_at = day_start;
    int64_t lunch = day_start + 12 * 3600000LL, lunch_end = lunch + 3600000LL;
    bool had_lunch = false;
    for (;;) {
        /* thinning: candidate arrivals at the peak rate, kept by the curve */
        double peak = KJ_OFFICE_PEAK_PER_HOUR / 3600000.0;
        t += (int64_t)(-log(1 - kj_sim_uniform(s)) / peak) + 1;
        if (t >= day_start + KJ_DAY_MS) return;
        double rate = kj_office_arrivals_per_hour(r->weekday, t - day_start);
        if (kj_sim_uniform(s) > rate / KJ_OFFICE_PEAK_PER_HOUR) continue;
        int64_t begin = t > free_at ? t : free_at;
        char ticket[KJ_ID_MAX + 1];
        snprintf(ticket, sizeof ticket, "D%zu-%03u", k + 1, ++tickets);
        replay_ticket(r, ticket, KJ_TICKET_ISSUED, t, d, k, &n);
        if (!had_lunch && begin >= lunch) {
            replay_presence(r, d, k, lunch, KJ_PRESENCE_BREAK, &n);
            replay_presence(r, d, k, lunch_end, KJ_PRESENCE_AVAILABLE, &n);
            had_lunch = true;
            if (begin < lunch_end) begin = lunch_end;
        }
        /* a short-staffed day serves slower (one in eight longer) */
        int64_t service_ms =
            kj_sim_lognormal_ms(s, KJ_OFFICE_SERVICE_MEDIAN_MS * (short_staffed ? 8.0 / 7.0 : 1.0),
                                KJ_OFFICE_SERVICE_SIGMA);
        bool no_show = kj_sim_uniform(s) < 0.04;
        int64_t end = begin + (no_show ? 60000 : service_ms);
        /* Every arrival draws and numbers all its events whatever now is (the
         * span only filters them), so that spans replayed one after the other
         * give the events, and ids, of the whole day. */
        if (r->hand_over && t <= r->now && begin > r->now) /* waiting at the machine */
            kj_sim_enqueue(s, r->u, ticket, t);
        replay_ticket(r, ticket, KJ_TICKET_CALLED, begin, d, k, &n);
        if (!no_show) replay_presence(r, d, k, begin, KJ_PRESENCE_SERVING, &n);
        kj_event *ev = replay_event(r, KJ_EV_SERVICE, end, 'd', k, &n);
        if (ev) {
            snprintf(ev->employee, sizeof ev->employee, "%s", r->u->members[d->staff]);
            snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
            snprintf(ev->service, sizeof ev->service, "%s", d->service);
            snprintf(ev->ticket, sizeof ev->ticket, "%s", ticket);
            ev->wait_ms = begin - t;
            ev->service_ms = no_show ? 0 : service_ms;
            ev->outcome = no_show ? KJ_OUTCOME_NO_SHOW : KJ_OUTCOME_SERVED;
        }
        if (!no_show && kj_sim_uniform(s) < 0.6) {
            kj_event rt; /* drawn whether kept or not: the replay stays the same */
            kj_sim_fill_rating(s, &rt, r->u, d, begin - t);
            if ((ev = replay_event(r, KJ_EV_RATING, end + 30000, 'd', k, &n))) {
                memcpy(ev->employee, rt.employee, sizeof rt.employee);
                memcpy(ev->counter, rt.counter, sizeof rt.counter);
                memcpy(ev->service, rt.service, sizeof rt.service);
                memcpy(ev->elements, rt.elements, sizeof rt.elements);
                ev->has_elements = rt.has_elements;
                ev->score = rt.score;
                ev->source = rt.source;
            }
        }
        if (!no_show) replay_presence(r, d, k, end, KJ_PRESENCE_AVAILABLE, &n);
        free_at = end;
    }
}

/* One member's back-office day: tasks in office hours, with deadlines. */
static void replay_member(replay *r, size_t m, int64_t day_start)
{
    static const char *const kinds[] = {"surat-masuk", "verifikasi-berkas", "laporan-harian",
                                        "arsip", "disposisi"};
    sim *s = r->s;
    unsigned n = 0;
    if (!kj_office_open(r->weekday, 10 * KJ_HOUR_MS)) return; /* the weekend */
    for (int64_t t = day_start + 8 * 3600000LL; t < day_start + 16 * 3600000LL;) {
        t += (int64_t)(-log(1 - kj_sim_uniform(s)) * 3600000.0 / 1.2) + 1;
        kj_event *ev = replay_event(r, KJ_EV_TASK, t, 'm', m, &n);
        int64_t due =
            t + (kj_sim_uniform(s) < 0.94 ? 1 : -1) * (int64_t)kj_sim_pick(s, 3 * 3600000);
        int64_t dur = kj_sim_lognormal_ms(s, 45 * 60000.0, 0.6);
        int quality = 80 + (int)(10 * kj_sim_normal(s));
        const char *kind = kinds[kj_sim_pick(s, 5)]; /* drawn whether kept or not */
        if (!ev) continue;
        snprintf(ev->employee, sizeof ev->employee, "%s", r->u->members[m]);
        snprintf(ev->kind, sizeof ev->kind, "%s", kind);
        ev->has_due = ev->has_duration = ev->has_quality = true;
        ev->due_ts = due;
        ev->duration_ms = dur;
        ev->quality = quality < 0 ? 0 : quality > 100 ? 100 : quality;
    }
}

void kj_sim_replay_day(sim *s, sim_unit *u, const kj_sim_day *day, int64_t from, int64_t now,
                       bool hand_over)
{
    replay r = {
        .s = s, .u = u, .from = from, .now = now, .weekday = day->weekday, .hand_over = hand_over};
    snprintf(r.day, sizeof r.day, "%s", day->name);
    uint64_t saved = s->rng;
    /* A stream of randomness per counter and per member: one that stops
     * early (at now) does not shift the others. */
    uint64_t seed = kj_sim_hash_str(kj_sim_hash_str(0xcbf29ce484222325ULL, u->id), r.day);
    for (size_t k = 0; k < u->n_desks; k++) {
        s->rng = (seed ^ (0x9E3779B97F4A7C15ULL * (2 * k + 1))) | 1;
        replay_desk(&r, &u->desks[k], k, day->start);
    }
    for (size_t m = 0; m < u->n_members; m++) {
        s->rng = (seed ^ (0xC2B2AE3D27D4EB4FULL * (2 * m + 2))) | 1;
        replay_member(&r, m, day->start);
    }
    s->rng = saved;
}
