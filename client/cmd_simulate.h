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
} sim;

/* A random index below n (n > 0), from the simulation's generator. */
size_t kj_sim_pick(sim *s, size_t n);
/* FNV-1a of str continuing from h: repeatable ids and choices. */
uint64_t kj_sim_hash_str(uint64_t h, const char *str);

/* The units: each false after printing why. From a configuration or the
 * daemon, they also name the zone (s->tz_name) unless it is set already. */
bool kj_sim_units_from_list(sim *s, const char *list, int members, int counters);
bool kj_sim_units_from_config(sim *s, const char *path);
bool kj_sim_units_from_daemon(sim *s, kj_client *c);
/* Desks get their staff once every unit is known. */
void kj_sim_finish_units(sim *s);
void kj_sim_free_units(sim *s);

#endif
