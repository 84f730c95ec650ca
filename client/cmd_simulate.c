/* kinerja simulate — a kecamatan service office, for demos and load.
 *
 * By default the office keeps its day (client/office.h): the events of each
 * unit's day (cmd_simulate_day.c: citizens arriving on the day's curve in the
 * office's zone, tickets, services in order with their real waits, ratings,
 * lunch, back-office tasks) are posted as their times come, so the live
 * dashboard shows a loket at the pace of a real one, and --backfill posts
 * the same events for the hours and days before. The same unit and day
 * always give the same events and ids.
 *
 * With --always-open (load tests) the simulation instead advances in steps
 * paced to --rate events per second: each step moves one counter through its
 * cycle (available -> serving -> a service event, maybe a rating ->
 * available, now and then a break), issues a ticket at the ticket machine
 * (SPEC §13) or finishes a back-office task. */
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
    "  --rate N         with --always-open: events per second, all units together\n"
    "                   (default 10)\n"
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
    "  --always-open    serve at any hour, --rate events a second (load tests); by\n"
    "                   default the office keeps a kecamatan's day in its zone (Mon-Thu\n"
    "                   08:00-16:00, Fri to 16:30, breaks at lunch and Friday prayer)\n"
    "                   and posts its events as their times come\n"
    "  --timezone Z     the office's zone (default: the configuration's `timezone` with\n"
    "                   --config, else the daemon's, else Asia/Jakarta)\n"
    "  --spool DIR      keep events while the daemon is away (default: none, drop them)\n"
    "  --http           HTTP POST instead of the WebSocket ingest protocol\n"
    "  --url URL        instead of KINERJA_URL\n"
    "  -v, --verbose    a status line every 5 seconds\n";

/* Local weekday (0 Sunday) and ms of the day in the office's zone. */
static int local_time(const sim *s, int64_t ms, int64_t *ms_of_day)
{
    return kj_tz_local(s->tz, ms, ms_of_day);
}

static bool office_open(const sim *s, int64_t now_ms)
{
    int64_t t;
    int wd = local_time(s, now_ms, &t);
    return s->always_open || kj_office_open(wd, t);
}

/* Says when the office opens or closes (and, closed at the start, that
 * nothing is posted until it opens): a demo on a Saturday is otherwise a
 * dashboard that never moves, with no word why. */
static void tell_hours(const sim *s, int64_t now_ms, int *was_open)
{
    int open = office_open(s, now_ms);
    if (open == *was_open) return;
    int64_t t;
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    int wd = local_time(s, now_ms, &t);
    if (!open && *was_open < 0)
        fprintf(stderr,
                "simulate: the office is closed now (%s %02d:%02d in %s): events follow when "
                "it opens (Mon-Thu 08:00-16:00, Fri 08:00-16:30, lunch 12:00-13:00); "
                "--always-open posts at once\n",
                days[wd], (int)(t / 3600000), (int)(t / 60000 % 60), s->tz_name);
    else if (*was_open >= 0)
        fprintf(stderr, "simulate: the office %s (%s %02d:%02d in %s)\n", open ? "opens" : "closes",
                days[wd], (int)(t / 3600000), (int)(t / 60000 % 60), s->tz_name);
    *was_open = open;
}

/* ---- events ------------------------------------------------------------------------- */

static void presence(sim *s, const sim_unit *u, const desk *d, kj_presence_state st)
{
    kj_event *ev = kj_sim_event(s, KJ_EV_PRESENCE, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    ev->state = st;
}

static void rating(sim *s, const sim_unit *u, const desk *d, int64_t wait_ms)
{
    kj_sim_fill_rating(s, kj_sim_event(s, KJ_EV_RATING, u), u, d, wait_ms);
}

/* A citizen takes a number. */
static void issue_ticket(sim *s, sim_unit *u)
{
    char ticket[KJ_ID_MAX + 1];
    snprintf(ticket, sizeof ticket, "S-%04u", ++u->tickets % 10000);
    kj_event *ev = kj_sim_ticket_event(s, u, ticket, KJ_TICKET_ISSUED);
    snprintf(ev->service, sizeof ev->service, "%s", u->n_desks ? u->desks[0].service : "ktp-el");
    kj_sim_enqueue(s, u, ticket, ev->ts);
}

/* A free desk calls the oldest ticket, when there is one. */
static void call_ticket(sim *s, sim_unit *u, desk *d)
{
    d->ticket[0] = '\0';
    if (!u->q_len) return;
    waiting *w = &u->queue[u->q_head];
    u->q_head = (u->q_head + 1) % QUEUE_MAX;
    u->q_len--;
    kj_event *ev = kj_sim_ticket_event(s, u, w->ticket, KJ_TICKET_CALLED);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(d->ticket, sizeof d->ticket, "%s", w->ticket);
    d->ticket_ts = w->issued;
}

static void serve(sim *s, sim_unit *u, desk *d)
{
    static const char *const services[] = {"ktp-el", "kartu-keluarga", "akta-kelahiran",
                                           "surat-pindah", "konsultasi"};
    double load = 1.0; /* --always-open: the average hour's, whatever the clock says */
    kj_event *ev = kj_sim_event(s, KJ_EV_SERVICE, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[d->staff]);
    snprintf(ev->counter, sizeof ev->counter, "%s", d->id);
    snprintf(ev->service, sizeof ev->service, "%s", d->service);
    ev->wait_ms =
        kj_sim_lognormal_ms(s, 240000 * load * load, 0.6); /* the queue grows with the load */
    if (d->ticket[0]) {                                    /* the real wait at the ticket machine */
        snprintf(ev->ticket, sizeof ev->ticket, "%s", d->ticket);
        ev->wait_ms = ev->ts > d->ticket_ts ? ev->ts - d->ticket_ts : 0;
        d->ticket[0] = '\0';
    }
    ev->service_ms = kj_sim_lognormal_ms(s, KJ_OFFICE_SERVICE_MEDIAN_MS, KJ_OFFICE_SERVICE_SIGMA);
    double r = kj_sim_uniform(s);
    ev->outcome = r < 0.05 * load ? KJ_OUTCOME_NO_SHOW
                  : r > 0.96      ? KJ_OUTCOME_TRANSFERRED
                                  : KJ_OUTCOME_SERVED;
    if (ev->outcome == KJ_OUTCOME_NO_SHOW) ev->service_ms = 0;
    int64_t wait = ev->wait_ms;
    bool rated = ev->outcome == KJ_OUTCOME_SERVED && kj_sim_uniform(s) < 0.6;
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
        if (kj_sim_uniform(s) < 0.04) {
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
    if (kj_sim_uniform(s) < 0.1) {
        kj_event *ev = kj_sim_event(s, KJ_EV_RATING, u);
        snprintf(ev->employee, sizeof ev->employee, "%s", u->members[m]);
        ev->source = kj_sim_uniform(s) < 0.5 ? KJ_SOURCE_PEER : KJ_SOURCE_SUPERVISOR;
        ev->score = 2 + (int32_t)kj_sim_pick(s, 3);
        return;
    }
    kj_event *ev = kj_sim_event(s, KJ_EV_TASK, u);
    snprintf(ev->employee, sizeof ev->employee, "%s", u->members[m]);
    snprintf(ev->kind, sizeof ev->kind, "%s", kinds[kj_sim_pick(s, 5)]);
    ev->has_duration = true;
    ev->duration_ms = kj_sim_lognormal_ms(s, 45 * 60000.0, 0.6);
    /* Most deadlines are met; one in five is a little late. */
    ev->has_due = true;
    ev->due_ts = ev->ts + (kj_sim_uniform(s) < 0.8 ? 1 : -1) * (int64_t)kj_sim_pick(s, 4 * 3600000);
    ev->has_quality = true;
    int q = 80 + (int)(10 * kj_sim_normal(s));
    ev->quality = q < 0 ? 0 : q > 100 ? 100 : q;
}

/* One step of --always-open's load: a ticket now and then, a desk's step or a
 * back-office task. A step may add no event (a desk with nobody waiting). */
static void step(sim *s)
{
    sim_unit *u = &s->units[kj_sim_pick(s, s->n_units)];
    /* desks finish ~0.42 services a step; arrivals are 0.35 a step */
    if (u->n_desks && kj_sim_uniform(s) < 0.35) issue_ticket(s, u);
    if (u->n_desks && kj_sim_uniform(s) < 0.85)
        desk_step(s, u, &u->desks[kj_sim_pick(s, u->n_desks)]);
    else if (u->n_members)
        office_step(s, u);
}

typedef struct totals {
    uint64_t posted, accepted, duplicates, rejected, spooled, failed;
    int64_t last_warning;
} totals;

/* Local day d (days since 1970-01-01 in the office's zone). */
static void sim_day_of(const sim *s, int32_t d, kj_sim_day *out)
{
    int y, mon, mday;
    int64_t ms;
    kj_tz_civil_from_days(d, &y, &mon, &mday);
    out->start = kj_tz_day_start(s->tz, d);
    out->weekday = kj_tz_local(s->tz, out->start + 12 * KJ_HOUR_MS, &ms);
    snprintf(out->name, sizeof out->name, "%04d%02d%02d", y % 10000, mon, mday);
}

/* Post the events of [now - span, now] as if the simulation had been running. */
static int backfill(kj_client *c, sim *s, int64_t span)
{
    totals total = {0}, *t = &total;
    int64_t now = kj_now_ms(), from = now - span;
    s->replayed_to = now;
    for (int32_t d = kj_tz_day(s->tz, from); d <= kj_tz_day(s->tz, now); d++) {
        kj_sim_day day;
        sim_day_of(s, d, &day);
        for (size_t i = 0; i < s->n_units; i++) {
            kj_sim_replay_day(s, &s->units[i], &day, from, now, s->always_open);
            if (s->n_evs && kj_client_submit(c, s->evs, s->n_evs)) break;
            t->posted += s->n_evs;
            s->n_evs = 0;
        }
    }
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
                kj_event *ev = kj_sim_event(s, KJ_EV_ASSESSMENT, u);
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

/* The office's day as its times come: the events of (from, now] of every
 * unit's day, the same as a backfill would post (one service every minute or
 * two at a counter, as at a real loket). */
static void office_until(sim *s, int64_t from, int64_t now)
{
    for (int32_t d = kj_tz_day(s->tz, from); d <= kj_tz_day(s->tz, now); d++) {
        kj_sim_day day;
        sim_day_of(s, d, &day);
        for (size_t i = 0; i < s->n_units; i++)
            kj_sim_replay_day(s, &s->units[i], &day, from, now, false);
    }
}

/* --always-open: steps paced to rate events a second (load tests). */
static void rate_step(sim *s, double rate, double *budget)
{
    *budget += rate * TICK_MS / 1000.0;
    if (*budget > KJ_BATCH_MAX) *budget = KJ_BATCH_MAX; /* a tick posts one batch at most */
    while (*budget >= 1 && s->n_evs + MAX_STEP_EVENTS < KJ_BATCH_MAX) {
        size_t before = s->n_evs;
        step(s);
        *budget -= (double)(s->n_evs - before);
    }
}

static int run(kj_client *c, sim *s, double rate, int64_t duration_ms, bool verbose,
               kj_sim_atasan *atasan)
{
    totals t = {0};
    int64_t start = kj_now_ms(), next = start, last_status = start;
    int64_t last_look = start - ATASAN_EVERY_MS; /* the first look at once */
    double budget = 0;
    /* Staff come in: everybody at a desk is available (the office's day
     * says so itself). */
    for (size_t i = 0; i < s->n_units && s->always_open; i++)
        for (size_t k = 0; k < s->units[i].n_desks; k++)
            presence(s, &s->units[i], &s->units[i].desks[k], KJ_PRESENCE_AVAILABLE);
    post_tick(c, s, &t);
    int64_t replayed = s->replayed_to ? s->replayed_to : start - 1;
    int was_open = -1; /* not told yet */
    while (!kj_cli_stop && (duration_ms <= 0 || kj_now_ms() - start < duration_ms)) {
        if (s->always_open) {
            rate_step(s, rate, &budget);
        } else {
            int64_t now = kj_now_ms();
            tell_hours(s, now, &was_open);
            office_until(s, replayed + 1, now);
            replayed = now;
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
