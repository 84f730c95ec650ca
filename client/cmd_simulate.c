/* kinerja simulate — busy service counters, for demos and load.
 *
 * Event time is real time (the daemon's windows are real), so the simulation
 * advances in steps, not in simulated minutes: each step moves one counter
 * through its cycle (available -> serving -> a service event, maybe a
 * rating -> available, now and then a break) or finishes a back-office task,
 * and the steps are paced to --rate events per second. Durations are drawn
 * from lognormal distributions; waits grow with the hour's arrival curve, so
 * the indicators move through the day as they would at a real loket.
 *
 * Each unit has a ticket machine (SPEC §13): citizens take a ticket at the
 * rate of the arrival curve, a desk that becomes free calls the oldest, and
 * the service names it; at the morning peak and around midday arrivals
 * outpace the desks and the queue builds, then it drains. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cmd.h"
#include "cmd_simulate.h"
#include "config/config.h"
#include "office.h"

#define TICK_MS 100
#define MAX_STEP_EVENTS 4

static const char help[] =
    "usage: kinerja simulate [--units U1,U2 | --config FILE] [--rate N] [--duration D]\n"
    "\n"
    "Posts realistic events for a set of units until --duration has passed or\n"
    "SIGINT: staff presence (serving, breaks), services with lognormal waits and\n"
    "service times (waits follow the day's arrival curve), IKM ratings with the\n"
    "9 elements, tasks with deadlines.\n"
    "\n"
    "  --units U1,U2    simulate these units, with generated members and counters\n"
    "  --config FILE    take units, members and counters from a kinerjad configuration\n"
    "                   (default: GET /api/v1/units with KINERJA_TOKEN)\n"
    "  --members N      members per generated unit (default 6)\n"
    "  --counters N     counters per generated unit (default 3)\n"
    "  --rate N         events per second, all units together (default 10)\n"
    "  --duration D     stop after D (90s, 15m, 2h; default: until SIGINT)\n"
    "  --backfill D     first post the last D (24h, 7d, up to 366d; today: since midnight\n"
    "                   in the office's zone; quarter: since the quarter began, with every\n"
    "                   member's assessments of its months and of the quarter, for the\n"
    "                   rapor) as if the simulation had been running: queues at the\n"
    "                   peaks, lunch breaks, tasks; the same ids every time, so running\n"
    "                   it again adds nothing. The daemon refuses events older than its\n"
    "                   max_event_age\n"
    "  --seed N         repeatable randomness\n"
    "  --supervisor-token T  also act as the units' supervisor with token T: every\n"
    "                   minute in service hours, acknowledge the bad alerts of a few\n"
    "                   minutes, answer an employee's alert with coaching, praise now and then;\n"
    "                   --backfill quarter posts the assessments with it\n"
    "  --supervisor-after D  how long an alert stands before she answers it (default 3m)\n"
    "  --always-open    serve at any hour (load tests); by default the counters keep\n"
    "                   a kecamatan's service hours in the office's zone (Mon-Thu\n"
    "                   08:00-16:00, Fri to 16:30, breaks at lunch and Friday prayer)\n"
    "  --timezone Z     the office's zone (default: the configuration's `timezone` with\n"
    "                   --config, else the daemon's, else Asia/Jakarta)\n"
    "  --spool DIR      keep events while the daemon is away (default: none, drop them)\n"
    "  --http           HTTP POST instead of the WebSocket ingest protocol\n"
    "  --url URL        instead of KINERJA_URL\n"
    "  -v, --verbose    a status line every 5 seconds\n";

/* ---- randomness --------------------------------------------------------------------- */

static uint64_t next_u64(sim *s)
{
    /* xorshift64*: plenty for a simulation, and repeatable with --seed */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1DULL;
}

static double uniform(sim *s)
{
    return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

size_t kj_sim_pick(sim *s, size_t n)
{
    return n ? (size_t)(uniform(s) * n) % n : 0;
}

static double normal(sim *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2.0 * log(u > 0 ? u : 1e-12)) * cos(2 * M_PI * v);
}

/* A lognormal draw with the given median (ms) and spread. */
static int64_t lognormal_ms(sim *s, double median, double sigma)
{
    double v = median * exp(sigma * normal(s));
    return v < 1000 ? 1000 : (int64_t)v;
}

#define AVERAGE_PER_HOUR 5.0 /* arrivals per counter in an average open hour */

/* Local weekday (0 Sunday) and ms of the day in the office's zone. */
static int local_time(const sim *s, int64_t ms, int64_t *ms_of_day)
{
    return kj_tz_local(s->tz, ms, ms_of_day);
}

/* Arrivals at that time relative to an average open hour (client/office.c). */
static double arrival_curve(const sim *s, int64_t now_ms)
{
    int64_t t;
    int wd = local_time(s, now_ms, &t);
    return kj_office_arrivals_per_hour(wd, t) / AVERAGE_PER_HOUR;
}

/* The live load: an office open at all hours (--always-open) has the average
 * hour's, whatever the clock says. */
static double arrival_load(const sim *s, int64_t now_ms)
{
    return s->always_open ? 1.0 : arrival_curve(s, now_ms);
}

static bool office_open(const sim *s, int64_t now_ms)
{
    int64_t t;
    int wd = local_time(s, now_ms, &t);
    return s->always_open || kj_office_open(wd, t);
}

/* ---- events ------------------------------------------------------------------------- */

static kj_event *new_event(sim *s, kj_event_type type, const sim_unit *u)
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

static void presence(sim *s, const sim_unit *u, const desk *d, kj_presence_state st)
{
    kj_event *ev = new_event(s, KJ_EV_PRESENCE, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    ev->state = st;
}

/* A citizen's rating of a service: mostly content; a long wait pulls every
 * element down. */
static void fill_rating(sim *s, kj_event *ev, const sim_unit *u, const desk *d, int64_t wait_ms)
{
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(ev->service, sizeof ev->service, "%s", d->service);
    double mood = 0.35 * normal(s); /* one citizen rates every element alike */
    int sum = 0;
    for (int i = 0; i < KJ_ELEMENTS; i++) {
        int e = (int)lround(kj_office_element_mean(i, wait_ms) + mood + 0.4 * normal(s));
        ev->elements[i] = (uint8_t)(e < 1 ? 1 : e > 4 ? 4 : e);
        sum += ev->elements[i];
    }
    ev->has_elements = uniform(s) < 0.7;
    ev->score = (int32_t)lround((double)sum / KJ_ELEMENTS);
    ev->source = KJ_SOURCE_CITIZEN;
}

static void rating(sim *s, const sim_unit *u, const desk *d, int64_t wait_ms)
{
    fill_rating(s, new_event(s, KJ_EV_RATING, u), u, d, wait_ms);
}

static kj_event *ticket_event(sim *s, const sim_unit *u, const char *ticket, kj_ticket_state st)
{
    kj_event *ev = new_event(s, KJ_EV_TICKET, u);
    snprintf(ev->ticket, sizeof ev->ticket, "%s", ticket);
    ev->ticket_state = st;
    return ev;
}

static void enqueue(sim *s, sim_unit *u, const char *ticket, int64_t issued)
{
    if (u->q_len == QUEUE_MAX) { /* the oldest gives up */
        ticket_event(s, u, u->queue[u->q_head].ticket, KJ_TICKET_CANCELLED);
        u->q_head = (u->q_head + 1) % QUEUE_MAX;
        u->q_len--;
    }
    waiting *w = &u->queue[(u->q_head + u->q_len++) % QUEUE_MAX];
    snprintf(w->ticket, sizeof w->ticket, "%s", ticket);
    w->issued = issued;
}

/* A citizen takes a number. */
static void issue_ticket(sim *s, sim_unit *u)
{
    char ticket[KJ_ID_MAX + 1];
    snprintf(ticket, sizeof ticket, "S-%04u", ++u->tickets % 10000);
    kj_event *ev = ticket_event(s, u, ticket, KJ_TICKET_ISSUED);
    snprintf(ev->service, sizeof ev->service, "%s", u->n_desks ? u->desks[0].service : "ktp-el");
    enqueue(s, u, ticket, ev->ts);
}

/* A free desk calls the oldest ticket, when there is one. */
static void call_ticket(sim *s, sim_unit *u, desk *d)
{
    d->ticket[0] = '\0';
    if (!u->q_len) return;
    waiting *w = &u->queue[u->q_head];
    u->q_head = (u->q_head + 1) % QUEUE_MAX;
    u->q_len--;
    kj_event *ev = ticket_event(s, u, w->ticket, KJ_TICKET_CALLED);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(d->ticket, sizeof d->ticket, "%s", w->ticket);
    d->ticket_ts = w->issued;
}

static void serve(sim *s, sim_unit *u, desk *d)
{
    static const char *const services[] = {"ktp-el", "kartu-keluarga", "akta-kelahiran",
                                           "surat-pindah", "konsultasi"};
    double load = arrival_load(s, kj_now_ms());
    kj_event *ev = new_event(s, KJ_EV_SERVICE, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(ev->service, sizeof ev->service, "%s", d->service);
    ev->wait_ms = lognormal_ms(s, 240000 * load * load, 0.6); /* the queue grows with the load */
    if (d->ticket[0]) { /* the real wait at the ticket machine */
        snprintf(ev->ticket, sizeof ev->ticket, "%s", d->ticket);
        ev->wait_ms = ev->ts > d->ticket_ts ? ev->ts - d->ticket_ts : 0;
        d->ticket[0] = '\0';
    }
    ev->service_ms = lognormal_ms(s, KJ_OFFICE_SERVICE_MEDIAN_MS, KJ_OFFICE_SERVICE_SIGMA);
    double r = uniform(s);
    ev->outcome = r < 0.05 * load ? KJ_OUTCOME_NO_SHOW
                  : r > 0.96      ? KJ_OUTCOME_TRANSFERRED
                                  : KJ_OUTCOME_SERVED;
    if (ev->outcome == KJ_OUTCOME_NO_SHOW) ev->service_ms = 0;
    int64_t wait = ev->wait_ms;
    bool rated = ev->outcome == KJ_OUTCOME_SERVED && uniform(s) < 0.6;
    if (rated) rating(s, u, d, wait);
    presence(s, u, d, KJ_PRESENCE_AVAILABLE);
    d->state = DESK_AVAILABLE;
    snprintf(d->service, sizeof d->service, "%s", services[kj_sim_pick(s, 5)]);
}

/* One step of a desk's cycle. */
static void desk_step(sim *s, sim_unit *u, desk *d)
{
    switch (d->state) {
    case DESK_AVAILABLE:
        if (uniform(s) < 0.04) {
            d->state = DESK_BREAK;
            d->break_steps = 2 + (int)kj_sim_pick(s, 6);
            presence(s, u, d, KJ_PRESENCE_BREAK);
        } else {
            d->state = DESK_SERVING;
            call_ticket(s, u, d);
            presence(s, u, d, KJ_PRESENCE_SERVING);
        }
        break;
    case DESK_SERVING: serve(s, u, d); break;
    case DESK_BREAK:
        if (--d->break_steps > 0) break;
        d->state = DESK_AVAILABLE;
        presence(s, u, d, KJ_PRESENCE_AVAILABLE);
        break;
    }
}

/* A back-office task or a supervisor's rating. */
static void office_step(sim *s, sim_unit *u)
{
    static const char *const kinds[] = {"surat-masuk", "verifikasi-berkas", "laporan-harian",
                                        "arsip", "disposisi"};
    size_t m = kj_sim_pick(s, u->n_members);
    if (uniform(s) < 0.1) {
        kj_event *ev = new_event(s, KJ_EV_RATING, u);
        snprintf(ev->employee, sizeof ev->employee, "%s", u->members[m]);
        ev->source = uniform(s) < 0.5 ? KJ_SOURCE_PEER : KJ_SOURCE_SUPERVISOR;
        ev->score = 2 + (int32_t)kj_sim_pick(s, 3);
        return;
    }
    kj_event *ev = new_event(s, KJ_EV_TASK, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[m]);
    snprintf(ev->kind, sizeof ev->kind, "%s", kinds[kj_sim_pick(s, 5)]);
    ev->has_duration = true;
    ev->duration_ms = lognormal_ms(s, 45 * 60000.0, 0.6);
    /* Most deadlines are met; one in five is a little late. */
    ev->has_due = true;
    ev->due_ts = ev->ts + (uniform(s) < 0.8 ? 1 : -1) * (int64_t)kj_sim_pick(s, 4 * 3600000);
    ev->has_quality = true;
    int q = 80 + (int)(10 * normal(s));
    ev->quality = q < 0 ? 0 : q > 100 ? 100 : q;
}

/* Outside service hours the office is closed: nothing happens, and false. A
 * step may add no event while open (a desk with nobody waiting). */
static bool step(sim *s)
{
    if (!office_open(s, kj_now_ms())) return false;
    sim_unit *u = &s->units[kj_sim_pick(s, s->n_units)];
    /* desks finish ~0.42 services a step; arrivals are 0.35 a step at an average
     * hour, 0.63 at the morning peak */
    if (u->n_desks && uniform(s) < 0.35 * arrival_load(s, kj_now_ms())) issue_ticket(s, u);
    if (u->n_desks && uniform(s) < 0.85)
        desk_step(s, u, &u->desks[kj_sim_pick(s, u->n_desks)]);
    else if (u->n_members)
        office_step(s, u);
    return true;
}

typedef struct totals {
    uint64_t posted, accepted, duplicates, rejected, spooled, failed;
    int64_t last_warning;
} totals;

/* ---- the day so far (--backfill) ----------------------------------------------------- */

/* A past day replayed: the same unit and day always give the same events with
 * the same ids, so a second backfill (make run started again) only brings
 * duplicates, which the daemon ignores. */
typedef struct replay {
    sim *s;
    sim_unit *u;
    int64_t from, now; /* only events with from <= ts <= now are kept */
    char day[12];      /* "20240502" */
} replay;

uint64_t kj_sim_hash_str(uint64_t h, const char *str)
{
    for (; *str; str++)
        h = (h ^ (uint8_t)*str) * 0x100000001B3ULL; /* FNV-1a */
    return h;
}

static kj_event *replay_event(replay *r, kj_event_type type, int64_t ts, char stream, size_t idx,
                              unsigned *n)
{
    unsigned seq = (*n)++;
    if (ts < r->from || ts > r->now) return NULL;
    kj_event *ev = new_event(r->s, type, r->u);
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
 * lunch break. The morning peak outruns the desks, so waits miss a 15-minute
 * target most days and the overview shows units that need coaching; the last
 * of several units is also short of staff (slower service), the worst of
 * them. Tickets still waiting at now join the unit's
 * ticket machine, for the live part to call. */
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
        t += (int64_t)(-log(1 - uniform(s)) / peak) + 1;
        if (t > r->now || t >= day_start + KJ_DAY_MS) return;
        if (uniform(s) > arrival_curve(s, t) * AVERAGE_PER_HOUR / KJ_OFFICE_PEAK_PER_HOUR) continue;
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
            lognormal_ms(s, KJ_OFFICE_SERVICE_MEDIAN_MS * (short_staffed ? 8.0 / 7.0 : 1.0),
                         KJ_OFFICE_SERVICE_SIGMA);
        bool no_show = uniform(s) < 0.04;
        int64_t end = begin + (no_show ? 60000 : service_ms);
        if (begin > r->now) { /* not called yet: waiting at the machine */
            if (day_start + KJ_DAY_MS > r->now) enqueue(s, r->u, ticket, t);
            free_at = begin; /* those after it wait behind it */
            continue;
        }
        replay_ticket(r, ticket, KJ_TICKET_CALLED, begin, d, k, &n);
        if (end > r->now) { /* still at the counter: the live part takes over */
            free_at = end;
            continue;
        }
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
        if (!no_show && uniform(s) < 0.6) {
            kj_event rt; /* drawn whether kept or not: the replay stays the same */
            fill_rating(s, &rt, r->u, d, begin - t);
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
    if (!office_open(s, day_start + 10 * KJ_HOUR_MS)) return; /* the weekend */
    for (int64_t t = day_start + 8 * 3600000LL; t < day_start + 16 * 3600000LL;) {
        t += (int64_t)(-log(1 - uniform(s)) * 3600000.0 / 1.2) + 1;
        kj_event *ev = replay_event(r, KJ_EV_TASK, t, 'm', m, &n);
        int64_t due = t + (uniform(s) < 0.85 ? 1 : -1) * (int64_t)kj_sim_pick(s, 3 * 3600000);
        int64_t dur = lognormal_ms(s, 45 * 60000.0, 0.6);
        int quality = 80 + (int)(10 * normal(s));
        if (!ev) continue;
        snprintf(ev->employee, sizeof ev->employee, "%s", r->u->members[m]);
        snprintf(ev->kind, sizeof ev->kind, "%s", kinds[kj_sim_pick(s, 5)]);
        ev->has_due = ev->has_duration = ev->has_quality = true;
        ev->due_ts = due;
        ev->duration_ms = dur;
        ev->quality = quality < 0 ? 0 : quality > 100 ? 100 : quality;
    }
}

/* Post the events of [now - span, now] as if the simulation had been running. */
static int backfill(kj_client *c, sim *s, int64_t span)
{
    totals total = {0}, *t = &total;
    int64_t now = kj_now_ms(), from = now - span;
    uint64_t saved_rng = s->rng;
    for (int32_t d = kj_tz_day(s->tz, from); d <= kj_tz_day(s->tz, now); d++) {
        int64_t day = kj_tz_day_start(s->tz, d);
        int y, mon, mday;
        kj_tz_civil_from_days(d, &y, &mon, &mday);
        for (size_t i = 0; i < s->n_units; i++) {
            replay r = {.s = s, .u = &s->units[i], .from = from, .now = now};
            snprintf(r.day, sizeof r.day, "%04d%02d%02d", y, mon, mday);
            /* A stream of randomness per counter and per member: one that
             * stops early (at now) does not shift the others. */
            uint64_t seed = kj_sim_hash_str(kj_sim_hash_str(0xcbf29ce484222325ULL, r.u->id), r.day);
            for (size_t k = 0; k < r.u->n_desks; k++) {
                s->rng = (seed ^ (0x9E3779B97F4A7C15ULL * (2 * k + 1))) | 1;
                replay_desk(&r, &r.u->desks[k], k, day);
            }
            for (size_t m = 0; m < r.u->n_members; m++) {
                s->rng = (seed ^ (0xC2B2AE3D27D4EB4FULL * (2 * m + 2))) | 1;
                replay_member(&r, m, day);
            }
            if (s->n_evs && kj_client_submit(c, s->evs, s->n_evs)) break;
            t->posted += s->n_evs;
            s->n_evs = 0;
        }
    }
    s->rng = saved_rng;
    kj_post_result res;
    kj_err err = kj_client_flush(c, &res);
    t->accepted += res.accepted;
    t->duplicates += res.duplicates;
    t->rejected += res.rejected;
    t->spooled += res.spooled;
    if (err) {
        kj_cli_error("simulate: backfill: %s", kj_client_errmsg(c));
        return KJ_EXIT_FAIL;
    }
    printf("simulate: backfill of %.1f h: %" PRIu64 " events, %" PRIu64 " accepted, %" PRIu64
           " duplicates\n",
           span / 3600000.0, t->posted, res.accepted, res.duplicates);
    fflush(stdout);
    return KJ_EXIT_OK;
}

/* The start (UTC ms) of the current quarter in the office's zone, and its
 * first month. */
static int64_t quarter_start(const sim *s, int64_t now, int *year, int *first_month)
{
    int mday;
    kj_tz_civil_from_days(kj_tz_day(s->tz, now), year, first_month, &mday);
    *first_month = (*first_month - 1) / 3 * 3 + 1;
    return kj_tz_day_start(s->tz, kj_tz_days_from_civil(*year, *first_month, 1));
}

/* The local midnight (UTC ms) of the day holding now. */
static int64_t day_start(const sim *s, int64_t now)
{
    return kj_tz_day_start(s->tz, kj_tz_day(s->tz, now));
}

/* A member's 7 BerAKHLAK levels for a period, the same every run: meets and above. */
static void behaviour_of(const char *member, const char *period, uint8_t *out)
{
    uint64_t h = kj_sim_hash_str(kj_sim_hash_str(0xcbf29ce484222325ULL, member), period);
    for (int i = 0; i < KJ_BEHAVIOURS; i++, h >>= 4) {
        unsigned r = h & 15;
        out[i] = r < 2 ? KJ_LEVEL_BELOW : r < 9 ? KJ_LEVEL_MEETS : KJ_LEVEL_ABOVE;
    }
}

/* The supervisor's half of the rapor (SPEC §15): an assessment of every member
 * for each month of the quarter so far and for the quarter, by the unit's
 * first member. */
static int backfill_assessments(kj_client *c, sim *s)
{
    int year, month, this_month, mday;
    int64_t now = kj_now_ms();
    quarter_start(s, now, &year, &month);
    kj_tz_civil_from_days(kj_tz_day(s->tz, now), &year, &this_month, &mday);
    for (size_t i = 0; i < s->n_units; i++) {
        const sim_unit *u = &s->units[i];
        for (int p = 0; p <= 3; p++) {
            if (p < 3 && month + p > this_month) continue; /* not begun yet */
            kj_period per = {p < 3 ? KJ_PERIOD_MONTH : KJ_PERIOD_QUARTER, year,
                             p < 3 ? month + p : (month + 2) / 3};
            char name[KJ_PERIOD_NAME_MAX];
            kj_period_format(&per, name, sizeof name);
            for (size_t m = 0; m < u->n_members; m++) {
                kj_event *ev = new_event(s, KJ_EV_ASSESSMENT, u);
                snprintf(ev->id, sizeof ev->id, "as.%s.%s", name, u->members[m]);
                snprintf(ev->employee, sizeof ev->employee, "%s", u->members[m]);
                snprintf(ev->by, sizeof ev->by, "%s", u->members[0]);
                ev->period = per;
                behaviour_of(u->members[m], name, ev->behaviour);
            }
        }
    }
    kj_post_result res;
    kj_err err = s->n_evs ? kj_client_submit(c, s->evs, s->n_evs) : KJ_OK;
    size_t n = s->n_evs;
    s->n_evs = 0;
    if (!err) err = kj_client_flush(c, &res);
    if (err) {
        kj_cli_error("simulate: assessments: %s", kj_client_errmsg(c));
        return KJ_EXIT_FAIL;
    }
    printf("simulate: %zu assessments, %" PRIu64 " accepted\n", n, res.accepted);
    fflush(stdout);
    return KJ_EXIT_OK;
}

/* An ingest token may not post assessments (SPEC §16): with --supervisor-token
 * they go with that token (no spool: the main client owns it), else with the
 * main client's (an admin token, or auth off). */
static int assess_as_supervisor(const kj_client_opts *main_opts, const char *sv_token,
                                kj_client *cl, sim *s)
{
    if (!sv_token) return backfill_assessments(cl, s);
    kj_client_opts o = *main_opts;
    o.token = sv_token;
    o.spool_dir = NULL;
    kj_client *sc = kj_cli_client_new(&o);
    int rc = sc ? backfill_assessments(sc, s) : KJ_EXIT_FAIL;
    kj_client_free(sc);
    return rc;
}

/* ---- running ------------------------------------------------------------------------- */

static void post_tick(kj_client *c, sim *s, totals *t)
{
    kj_post_result r;
    if (!s->n_evs) return;
    kj_err err = kj_client_post(c, s->evs, s->n_evs, &r);
    t->posted += s->n_evs;
    t->accepted += r.accepted;
    t->duplicates += r.duplicates;
    t->rejected += r.rejected;
    t->spooled += r.spooled;
    int64_t now = kj_now_ms();
    if (err) t->failed += s->n_evs - r.accepted - r.duplicates - r.rejected - r.spooled;
    if ((err || r.spooled) && now - t->last_warning > 10000) {
        kj_cli_warn("%s%s", kj_client_errmsg(c), err ? " (events dropped)" : " (events spooled)");
        t->last_warning = now;
    }
    s->n_evs = 0;
}

static void reject_cb(void *ud, const kj_reject *r)
{
    (void)ud;
    kj_cli_warn("rejected %s: %s", r->id, r->error);
}

#define ATASAN_EVERY_MS 60000 /* how often the supervisor looks at each unit */

/* The supervisor's round over the units, in service hours (no-op without one). */
static void supervise(kj_sim_atasan *a, const sim *s, int64_t now, int64_t *last)
{
    if (!a || now - *last < ATASAN_EVERY_MS || !office_open(s, now)) return;
    *last = now;
    for (size_t i = 0; i < s->n_units; i++)
        kj_sim_atasan_look(a, s->units[i].id);
}

static int run(kj_client *c, sim *s, double rate, int64_t duration_ms, bool verbose,
               kj_sim_atasan *atasan)
{
    totals t = {0};
    int64_t start = kj_now_ms(), next = start, last_status = start;
    int64_t last_look = start - ATASAN_EVERY_MS; /* the first look at once */
    double budget = 0;
    /* Staff come in: everybody at a desk is available. */
    for (size_t i = 0; i < s->n_units; i++)
        for (size_t k = 0; k < s->units[i].n_desks; k++)
            presence(s, &s->units[i], &s->units[i].desks[k], KJ_PRESENCE_AVAILABLE);
    post_tick(c, s, &t);
    while (!kj_cli_stop && (duration_ms <= 0 || kj_now_ms() - start < duration_ms)) {
        budget += rate * TICK_MS / 1000.0;
        if (budget > KJ_BATCH_MAX) budget = KJ_BATCH_MAX; /* a tick posts one batch at most */
        while (budget >= 1 && s->n_evs + MAX_STEP_EVENTS < KJ_BATCH_MAX) {
            size_t before = s->n_evs;
            if (!step(s)) { /* closed (service hours): no burst at opening */
                budget = 0;
                break;
            }
            budget -= (double)(s->n_evs - before);
        }
        post_tick(c, s, &t);
        int64_t now = kj_now_ms();
        supervise(atasan, s, now, &last_look);
        if (verbose && now - last_status >= 5000) {
            fprintf(stderr,
                    "simulate: %" PRIu64 " events, %" PRIu64 " accepted, %" PRIu64
                    " spooled, %" PRIu64 " dropped\n",
                    t.posted, t.accepted, t.spooled, t.failed);
            last_status = now;
        }
        next += TICK_MS;
        if (next > now) {
            struct timespec ts = {(next - now) / 1000, ((next - now) % 1000) * 1000000};
            nanosleep(&ts, NULL);
        } else {
            next = now; /* behind (a slow daemon): do not try to catch up in a burst */
        }
    }
    printf("simulate: %" PRIu64 " events in %.1f s: %" PRIu64 " accepted, %" PRIu64
           " duplicates, %" PRIu64 " rejected, %" PRIu64 " spooled, %" PRIu64 " dropped\n",
           t.posted, (kj_now_ms() - start) / 1000.0, t.accepted, t.duplicates, t.rejected,
           t.spooled, t.failed);
    return t.posted && t.failed == t.posted ? KJ_EXIT_FAIL : KJ_EXIT_OK;
}

/* The office's zone: the one named by --timezone, the configuration or the
 * daemon, else Asia/Jakarta (the daemon's default). */
static bool load_zone(sim *s)
{
    if (!s->tz_name[0]) snprintf(s->tz_name, sizeof s->tz_name, "Asia/Jakarta");
    if (kj_tz_load(s->tz_name, &s->tz) == KJ_OK) return true;
    kj_cli_error("simulate: %s is not a time zone of the TZ database", s->tz_name);
    return false;
}

enum {
    OPT_UNITS = 256,
    OPT_CONFIG,
    OPT_MEMBERS,
    OPT_COUNTERS,
    OPT_RATE,
    OPT_DURATION,
    OPT_SEED,
    OPT_SPOOL,
    OPT_HTTP,
    OPT_URL,
    OPT_BACKFILL,
    OPT_ALWAYS_OPEN,
    OPT_TIMEZONE,
    OPT_SUPERVISOR_TOKEN,
    OPT_SUPERVISOR_AFTER,
};

static const struct option options[] = {
    {"units", required_argument, NULL, OPT_UNITS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"members", required_argument, NULL, OPT_MEMBERS},
    {"counters", required_argument, NULL, OPT_COUNTERS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"backfill", required_argument, NULL, OPT_BACKFILL},
    {"seed", required_argument, NULL, OPT_SEED},
    {"always-open", no_argument, NULL, OPT_ALWAYS_OPEN},
    {"timezone", required_argument, NULL, OPT_TIMEZONE},
    {"supervisor-token", required_argument, NULL, OPT_SUPERVISOR_TOKEN},
    {"supervisor-after", required_argument, NULL, OPT_SUPERVISOR_AFTER},
    {"spool", required_argument, NULL, OPT_SPOOL},
    {"http", no_argument, NULL, OPT_HTTP},
    {"url", required_argument, NULL, OPT_URL},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int kj_cmd_simulate(int argc, char **argv)
{
    const char *units = NULL, *config = NULL, *spool = NULL, *url = NULL, *sv_token = NULL;
    double rate = 10, members = 6, counters = 3, seed = 0;
    int64_t duration = 0, backfill_ms = 0, sv_after = 180000;
    enum { BACKFILL_NONE, BACKFILL_SPAN, BACKFILL_TODAY, BACKFILL_QUARTER } backfill_to = 0;
    sim s = {0};
    bool http = false, verbose = false, seeded = false, always_open = false, assess = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
        switch (c) {
        case OPT_UNITS: units = optarg; break;
        case OPT_CONFIG: config = optarg; break;
        case OPT_MEMBERS:
            if (!kj_cli_number(optarg, 1, 1000, &members))
                return kj_cli_usage("simulate", "--members: 1 to 1000");
            break;
        case OPT_COUNTERS:
            if (!kj_cli_number(optarg, 0, 1000, &counters))
                return kj_cli_usage("simulate", "--counters: 0 to 1000");
            break;
        case OPT_RATE:
            if (!kj_cli_number(optarg, 0.01, 1e6, &rate))
                return kj_cli_usage("simulate", "--rate: events per second, 0.01 to 1000000");
            break;
        case OPT_DURATION:
            if (!kj_parse_duration_ms(optarg, &duration) || duration <= 0)
                return kj_cli_usage("simulate", "--duration: a duration such as 90s, 15m, 2h");
            break;
        case OPT_BACKFILL:
            /* today and quarter are measured once the zone is known */
            backfill_to = !strcmp(optarg, "today")     ? BACKFILL_TODAY
                          : !strcmp(optarg, "quarter") ? BACKFILL_QUARTER
                                                       : BACKFILL_SPAN;
            assess = backfill_to == BACKFILL_QUARTER;
            if (backfill_to == BACKFILL_SPAN && (!kj_parse_duration_ms(optarg, &backfill_ms) ||
                                                 backfill_ms <= 0 || backfill_ms > 366 * KJ_DAY_MS))
                return kj_cli_usage("simulate",
                                    "--backfill: today, quarter, or a duration up to 366d");
            break;
        case OPT_TIMEZONE:
            if (strlen(optarg) >= sizeof s.tz_name)
                return kj_cli_usage("simulate", "--timezone: a zone such as Asia/Jakarta");
            snprintf(s.tz_name, sizeof s.tz_name, "%s", optarg);
            break;
        case OPT_SEED:
            if (!kj_cli_number(optarg, 0, 1e18, &seed))
                return kj_cli_usage("simulate", "--seed: a non-negative integer");
            seeded = true;
            break;
        case OPT_ALWAYS_OPEN: always_open = true; break;
        case OPT_SUPERVISOR_TOKEN: sv_token = optarg; break;
        case OPT_SUPERVISOR_AFTER:
            if (!kj_parse_duration_ms(optarg, &sv_after) || sv_after < 0)
                return kj_cli_usage("simulate", "--supervisor-after: a duration such as 3m");
            break;
        case OPT_SPOOL: spool = optarg; break;
        case OPT_HTTP: http = true; break;
        case OPT_URL: url = optarg; break;
        case 'v': verbose = true; break;
        case 'h': fputs(help, stdout); return KJ_EXIT_OK;
        default: return kj_cli_usage("simulate", "unknown option");
        }
    }
    if (optind < argc) return kj_cli_usage("simulate", "unexpected argument %s", argv[optind]);
    if (units && config) return kj_cli_usage("simulate", "--units and --config do not mix");

    s.always_open = always_open;
    if (seeded)
        s.rng = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 1;
    else if (getrandom(&s.rng, sizeof s.rng, 0) != (ssize_t)sizeof s.rng || !s.rng)
        s.rng = (uint64_t)kj_now_ms() | 1;

    kj_client_opts o;
    kj_cli_client_opts(&o, url);
    o.transport = http ? KJ_TRANSPORT_HTTP : KJ_TRANSPORT_AUTO;
    o.spool_dir = spool;
    o.on_reject = reject_cb;
    o.attempts = 2; /* a demo should not stall on a daemon that is away */
    o.backoff_max_ms = 5000;
    kj_client *cl = kj_cli_client_new(&o);
    int rc = KJ_EXIT_FAIL;
    if (!cl) goto done;
    bool ok = units    ? kj_sim_units_from_list(&s, units, (int)members, (int)counters)
              : config ? kj_sim_units_from_config(&s, config)
                       : kj_sim_units_from_daemon(&s, cl);
    if (!ok || !load_zone(&s)) goto done;
    kj_sim_finish_units(&s);
    if (backfill_to == BACKFILL_TODAY) backfill_ms = kj_now_ms() - day_start(&s, kj_now_ms());
    if (backfill_to == BACKFILL_QUARTER) {
        int y, m;
        backfill_ms = kj_now_ms() - quarter_start(&s, kj_now_ms(), &y, &m);
    }
    kj_cli_catch_signals();
    if (backfill_ms && (rc = backfill(cl, &s, backfill_ms)) != KJ_EXIT_OK) goto done;
    if (assess && (rc = assess_as_supervisor(&o, sv_token, cl, &s)) != KJ_EXIT_OK) goto done;
    kj_sim_atasan *atasan = sv_token ? kj_sim_atasan_new(url, sv_token, s.rng, sv_after) : NULL;
    rc = sv_token && !atasan ? KJ_EXIT_FAIL : run(cl, &s, rate, duration, verbose, atasan);
    kj_sim_atasan_free(atasan);
done:
    kj_client_free(cl);
    kj_sim_free_units(&s);
    kj_tz_free(s.tz);
    return rc;
}
