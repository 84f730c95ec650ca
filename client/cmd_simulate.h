/* kinerja simulate — the simulated office's state, shared by cmd_simulate.c
 * (the day: desks, tickets, events, backfill) and cmd_simulate_units.c (where its units
 * come from). Internal to the command; single-threaded. */
#ifndef KJ_CMD_SIMULATE_H
#define KJ_CMD_SIMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "kinerja.h"
#include "tzclock.h"

typedef enum desk_state { DESK_AVAILABLE, DESK_SERVING, DESK_BREAK } desk_state;

typedef struct desk {
    char id[KJ_ID_MAX + 1];
    int staff; /* index of the member at the desk */
    desk_state state;
    int break_steps;
    char service[KJ_ID_MAX + 1];
    char ticket[KJ_ID_MAX + 1]; /* the ticket being served, "" for a walk-in */
    int64_t ticket_ts;          /* when it was issued */
} desk;

/* The tickets waiting at a unit's ticket machine, oldest first (a ring). The
 * bound keeps a simulation with no desks from growing: beyond it citizens
 * give up and the oldest ticket is cancelled. */
#define QUEUE_MAX 500
typedef struct waiting {
    char ticket[KJ_ID_MAX + 1];
    int64_t issued;
} waiting;

typedef struct sim_unit {
    char id[KJ_ID_MAX + 1];
    char (*members)[KJ_ID_MAX + 1];
    size_t n_members;
    desk *desks;
    size_t n_desks;
    waiting queue[QUEUE_MAX];
    size_t q_head, q_len;
    unsigned tickets; /* issued so far: the next number */
} sim_unit;

typedef struct sim {
    sim_unit *units;
    size_t n_units;
    uint64_t rng;
    kj_event *evs;
    size_t n_evs, cap_evs;
    bool always_open; /* --always-open: no service hours */
    /* The office's zone: --timezone, else the configuration's `timezone`
     * (--config) or the daemon's (its snapshot), else Asia/Jakarta. */
    char tz_name[64];
    kj_tz *tz;
    int64_t replayed_to; /* the backfill's now: the live office goes on from it */
} sim;

/* The simulation's generator (xorshift64*, repeatable with --seed): a random
 * index below n (n > 0), a uniform draw in [0, 1), a standard normal one,
 * a lognormal duration with that median (ms) and spread (1 s at least). */
size_t kj_sim_pick(sim *s, size_t n);
double kj_sim_uniform(sim *s);
double kj_sim_normal(sim *s);
int64_t kj_sim_lognormal_ms(sim *s, double median, double sigma);
/* FNV-1a of str continuing from h: repeatable ids and choices. */
uint64_t kj_sim_hash_str(uint64_t h, const char *str);

/* A new event of u in s->evs (grown as needed): a fresh id, ts now. */
kj_event *kj_sim_event(sim *s, kj_event_type type, const sim_unit *u);
kj_event *kj_sim_ticket_event(sim *s, const sim_unit *u, const char *ticket, kj_ticket_state st);
/* A citizen's rating of d's service after wait_ms (client/office.c's means). */
void kj_sim_fill_rating(sim *s, kj_event *ev, const sim_unit *u, const desk *d, int64_t wait_ms);
/* A ticket joins u's ticket machine (the oldest gives up when it is full). */
void kj_sim_enqueue(sim *s, sim_unit *u, const char *ticket, int64_t issued);

/* One local day of the office. */
typedef struct kj_sim_day {
    int64_t start; /* local midnight, UTC ms */
    int weekday;   /* 0 Sunday .. 6 Saturday */
    char name[12]; /* "20261207": in the events' ids */
} kj_sim_day;

/* The events of u's day with from <= ts <= now, appended to s->evs: every
 * counter's arrivals (the office's curve), tickets, services in order with
 * their waits, ratings, breaks, and every member's back-office tasks. The
 * same unit and day give the same events with the same ids whatever from and
 * now are, so a later call for a later span continues an earlier one (the live
 * office) and a second backfill brings only duplicates. With hand_over the
 * tickets still waiting at now join u's ticket machine (--always-open's live
 * part calls them). s->rng is left as it was. */
void kj_sim_replay_day(sim *s, sim_unit *u, const kj_sim_day *day, int64_t from, int64_t now,
                       bool hand_over);

/* The units: each false after printing why. From a configuration or the
 * daemon, they also name the zone (s->tz_name) unless it is set already. */
bool kj_sim_units_from_list(sim *s, const char *list, int members, int counters);
bool kj_sim_units_from_config(sim *s, const char *path);
bool kj_sim_units_from_daemon(sim *s, kj_client *c);
/* Desks get their staff once every unit is known. */
void kj_sim_finish_units(sim *s);
void kj_sim_free_units(sim *s);

#endif
