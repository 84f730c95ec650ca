/* kinerja — a unit's state as terminal text (view.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinerja.h"
#include "view.h"

#define BOLD "\033[1m"
#define DIM "\033[2m"
#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define RESET "\033[0m"

typedef struct out {
    char *buf;
    size_t len, cap;
    const kj_view_opts *o;
    char line[1024];
    size_t line_len;
    int visible; /* columns of the current line so far */
} out;

/* ---- output ------------------------------------------------------------------------- */

static void grow(out *w, size_t n)
{
    if (w->len + n + 1 <= w->cap) return;
    while (w->len + n + 1 > w->cap)
        w->cap = w->cap ? w->cap * 2 : 4096;
    w->buf = realloc(w->buf, w->cap);
    if (!w->buf) abort();
}

/* Append text to the current line, counting columns (UTF-8 continuation
 * bytes and escape sequences take none) and cutting at the width. */
static void put(out *w, const char *s)
{
    for (; *s; s++) {
        bool escape = *s == '\033';
        if (escape) {
            const char *end = strchr(s, 'm');
            size_t n = end ? (size_t)(end - s) + 1 : strlen(s);
            if (w->line_len + n < sizeof w->line) {
                memcpy(w->line + w->line_len, s, n);
                w->line_len += n;
            }
            s += n - 1;
            continue;
        }
        bool starts_char = ((unsigned char)*s & 0xC0) != 0x80;
        if (starts_char && w->o->width && w->visible >= w->o->width) continue;
        if (!starts_char && w->o->width && w->visible > w->o->width) continue;
        if (w->line_len + 1 < sizeof w->line) w->line[w->line_len++] = *s;
        if (starts_char) w->visible++;
    }
}

static void putf(out *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(out *w, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(w, tmp);
}

static void color(out *w, const char *code)
{
    if (w->o->color) put(w, code);
}

static void endline(out *w)
{
    if (w->o->color) put(w, RESET);
    grow(w, w->line_len + 1);
    memcpy(w->buf + w->len, w->line, w->line_len);
    w->len += w->line_len;
    w->buf[w->len++] = '\n';
    w->buf[w->len] = '\0';
    w->line_len = 0;
    w->visible = 0;
}

/* ---- values --------------------------------------------------------------------------- */

void kj_view_duration(char *buf, size_t len, double ms)
{
    if (ms < 0) ms = 0;
    long long s = (long long)llround(ms / 1000);
    if (ms < 1000)
        snprintf(buf, len, "%.0fms", ms);
    else if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* obj["a"]["b"]... by a dotted path; NULL when any step is missing. */
static json_t *at(const json_t *obj, const char *path)
{
    char key[64];
    const json_t *cur = obj;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return (json_t *)cur;
}

static bool number(const json_t *v, double *d)
{
    if (!json_is_number(v)) return false;
    *d = json_number_value(v);
    return true;
}

/* A metric value by its name: durations for *_ms, percentages for *_pct. */
static void value_text(char *buf, size_t len, const char *metric, const json_t *v)
{
    double d;
    if (!number(v, &d)) {
        snprintf(buf, len, "%s", json_is_string(v) ? json_string_value(v) : "-");
        return;
    }
    if (metric && strstr(metric, "_ms"))
        kj_view_duration(buf, len, d);
    else if (metric && strstr(metric, "pct"))
        snprintf(buf, len, "%.1f%%", d);
    else if (metric &&
             (strstr(metric, "ikm") || strstr(metric, "avg") || strstr(metric, "per_hour")))
        snprintf(buf, len, "%.2f", d);
    else if (d == floor(d) && fabs(d) < 1e15)
        snprintf(buf, len, "%.0f", d);
    else
        snprintf(buf, len, "%.2f", d);
}

static const char *str(const json_t *obj, const char *path, const char *dflt)
{
    const char *s = json_string_value(at(obj, path));
    return s ? s : dflt;
}

static void clock_text(char *buf, size_t len, const json_t *ms)
{
    double d;
    if (!number(ms, &d)) {
        snprintf(buf, len, "--:--:--");
        return;
    }
    time_t t = (time_t)(d / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%H:%M:%S", &tm);
}

/* "metric value" pairs of one window of a scope, only where there is data. */
static void window_summary(out *w, const json_t *scope, const char *window)
{
    static const struct {
        const char *label, *path;
    } items[] = {
        {"served", "services.count"},         {"no-show", "services.no_show"},
        {"wait p90", "services.wait_ms.p90"}, {"SLA", "services.sla_pct"},
        {"per hour", "services.per_hour"},    {"IKM", "ratings.ikm"},
        {"ratings", "ratings.count"},         {"tasks", "tasks.count"},
        {"on time", "tasks.on_time_pct"},
    };
    const json_t *m = json_object_get(scope, window);
    bool any = false;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        const json_t *v = at(m, items[i].path);
        char text[48];
        if (!json_is_number(v)) continue;
        value_text(text, sizeof text, items[i].path, v);
        putf(w, "%s%s %s", any ? ", " : "", items[i].label, text);
        if (!strcmp(items[i].label, "IKM") && json_is_string(at(m, "ratings.ikm_grade")))
            putf(w, " (%s)", str(m, "ratings.ikm_grade", ""));
        any = true;
    }
    if (!any) put(w, "no data");
}

/* ---- sections ------------------------------------------------------------------------- */

/* A display name: the state's own, else the directory's, else NULL. */
static const char *name_of(const out *w, const char *kind, const char *id, const json_t *obj)
{
    const char *n = str(obj, "name", NULL);
    return n ? n : str(json_object_get(w->o->names, kind), id, NULL);
}

static void header(out *w, const json_t *s)
{
    char when[16];
    const char *unit = str(s, "unit", "?"), *name = str(s, "name", str(w->o->names, "unit", NULL));
    clock_text(when, sizeof when, json_object_get(s, "at"));
    color(w, BOLD);
    if (name && strcmp(name, unit))
        putf(w, "%s (%s)", name, unit);
    else
        put(w, unit);
    color(w, RESET);
    putf(w, "   at %s", when);
    if (w->o->status) {
        bool live = !strncmp(w->o->status, "live", 4);
        put(w, "   ");
        color(w, live ? GREEN : YELLOW);
        put(w, w->o->status);
    }
    endline(w);
}

static void status_badge(out *w, const char *status)
{
    static const struct {
        const char *status, *text, *code;
    } badges[] = {{"ok", "✔ ok  ", GREEN}, {"warn", "▲ warn", YELLOW}, {"bad", "✖ bad ", RED}};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(status, badges[i].status)) continue;
        color(w, badges[i].code);
        put(w, badges[i].text);
        color(w, RESET);
        return;
    }
    color(w, DIM);
    put(w, "· none");
    color(w, RESET);
}

static const char *member_name(const out *w, const json_t *s, const char *id)
{
    const char *n = name_of(w, "members", id, json_object_get(json_object_get(s, "members"), id));
    return n ? n : id;
}

/* The unit's indicators all; a member's only when it misses its target (a
 * supervisor looks for who needs help, not at a hundred green rows). */
static void indicators(out *w, const json_t *s)
{
    const json_t *list = json_object_get(s, "indicators"), *ind;
    size_t i, hidden = 0;
    if (!json_array_size(list)) return;
    color(w, BOLD);
    put(w, "Indicators");
    endline(w);
    json_array_foreach(list, i, ind)
    {
        char value[48], target[48], scope[80];
        const char *metric = str(ind, "metric", ""), *sc = str(ind, "scope", "");
        const char *status = str(ind, "status", "none");
        double pct;
        bool member = !strncmp(sc, "employee:", 9);
        if (member && (!strcmp(status, "ok") || !strcmp(status, "none"))) {
            hidden++;
            continue;
        }
        snprintf(scope, sizeof scope, "%s", member ? member_name(w, s, sc + 9) : "unit");
        value_text(value, sizeof value, metric, json_object_get(ind, "value"));
        value_text(target, sizeof target, metric, json_object_get(ind, "target"));
        put(w, "  ");
        status_badge(w, status);
        putf(w, "  %-34.34s %-18.18s %-6s %s / target %s", str(ind, "name", str(ind, "id", "?")),
             scope, str(ind, "window", ""), value, target);
        if (number(json_object_get(ind, "achievement_pct"), &pct)) putf(w, "  capaian %.0f%%", pct);
        endline(w);
    }
    if (hidden) {
        color(w, DIM);
        putf(w, "  (%zu member indicators on target or without data)", hidden);
        endline(w);
    }
}

/* One queue line: waiting, the longest wait (from the oldest ticket, at the
 * view's now), the estimated wait, today's tickets. */
static void queue_line(out *w, const char *label, const json_t *q)
{
    double waiting = 0, oldest, est, issued = 0, called = 0;
    char longest[32] = "-", estimate[32] = "-";
    number(json_object_get(q, "waiting"), &waiting);
    number(json_object_get(q, "issued_today"), &issued);
    number(json_object_get(q, "called_today"), &called);
    if (waiting > 0 && number(json_object_get(q, "oldest_issued_ts"), &oldest))
        kj_view_duration(longest, sizeof longest, (double)w->o->now_ms - oldest);
    if (number(json_object_get(q, "est_wait_ms"), &est))
        kj_view_duration(estimate, sizeof estimate, est);
    putf(w, "  %-20.20s ", label);
    if (waiting > 0) color(w, BOLD);
    putf(w, "%4.0f waiting", waiting);
    if (waiting > 0) color(w, RESET);
    putf(w, "  longest %-8s est. %-8s  today: %.0f tickets, %.0f called", longest, estimate, issued,
         called);
    endline(w);
}

/* SPEC §13: the queue now, all services and each kind. */
static void queue(out *w, const json_t *s)
{
    const json_t *q = json_object_get(json_object_get(s, "unit_metrics"), "queue"), *k;
    double issued = 0, waiting = 0;
    number(json_object_get(q, "issued_today"), &issued);
    number(json_object_get(q, "waiting"), &waiting);
    if (!json_is_object(q) || (issued <= 0 && waiting <= 0)) return;
    color(w, BOLD);
    put(w, "Queue now");
    endline(w);
    queue_line(w, "all services", q);
    const char *kind;
    json_object_foreach((json_t *)json_object_get(q, "by_service"), kind, k) queue_line(w, kind, k);
}

static void counters(out *w, const json_t *s)
{
    const json_t *all = json_object_get(s, "counters"), *c;
    const char *id;
    if (!json_object_size(all)) return;
    color(w, BOLD);
    put(w, "Counters");
    endline(w);
    json_object_foreach((json_t *)all, id, c)
    {
        const json_t *serving = json_object_get(c, "serving");
        const char *who = str(serving, "employee", str(serving, "who", NULL));
        double since;
        const char *cname = name_of(w, "counters", id, c);
        putf(w, "  %-20.20s ", cname ? cname : id);
        if (who) {
            char dur[32] = "";
            if (number(json_object_get(serving, "since"), &since))
                kj_view_duration(dur, sizeof dur, (double)w->o->now_ms - since);
            color(w, GREEN);
            putf(w, "serving  %-24s", member_name(w, s, who));
            color(w, RESET);
            putf(w, " for %-9s", dur);
        } else {
            color(w, DIM);
            putf(w, "%-47s", "idle");
            color(w, RESET);
        }
        put(w, " today: ");
        window_summary(w, c, "today");
        endline(w);
    }
}

static void members(out *w, const json_t *s)
{
    const json_t *all = json_object_get(s, "members"), *m;
    const char *id;
    int shown = 0;
    if (!json_object_size(all)) return;
    color(w, BOLD);
    put(w, "Members");
    endline(w);
    json_object_foreach((json_t *)all, id, m)
    {
        if (w->o->max_members && shown++ >= w->o->max_members) {
            putf(w, "  ... and %zu more", json_object_size(all) - (size_t)w->o->max_members);
            endline(w);
            break;
        }
        const json_t *p = json_object_get(m, "presence");
        const char *state = str(p, "state", "-"), *counter = str(p, "counter", NULL);
        char place[80], since[16];
        clock_text(since, sizeof since, json_object_get(p, "since"));
        snprintf(place, sizeof place, "%s%s%s", state, counter ? " at " : "",
                 counter ? counter : "");
        putf(w, "  %-24s ", member_name(w, s, id));
        color(w, !strcmp(state, "serving") ? GREEN : !strcmp(state, "break") ? YELLOW : DIM);
        putf(w, "%-22s", place);
        color(w, RESET);
        putf(w, json_is_object(p) ? " since %s  today: " : "                 today: ", since);
        window_summary(w, m, "today");
        endline(w);
    }
}

/* An alert names its indicator by id; the metric (for the units of its
 * values) is the indicator's. */
static const char *indicator_metric(const json_t *s, const char *id)
{
    const json_t *ind;
    size_t i;
    json_array_foreach(json_object_get(s, "indicators"), i, ind)
    {
        if (!strcmp(str(ind, "id", ""), id)) return str(ind, "metric", id);
    }
    return id;
}

static void alerts(out *w, const json_t *s)
{
    const json_t *list = json_object_get(s, "alerts"), *a;
    size_t i;
    int max = w->o->max_alerts ? w->o->max_alerts : 10;
    if (!json_array_size(list)) return;
    color(w, BOLD);
    put(w, "Alerts today");
    endline(w);
    json_array_foreach(list, i, a)
    {
        if ((int)i >= max) break;
        char when[16], value[48], target[48];
        const char *ind = str(a, "indicator", "?");
        clock_text(when, sizeof when, json_object_get(a, "at"));
        const char *metric = indicator_metric(s, ind);
        value_text(value, sizeof value, metric, json_object_get(a, "value"));
        value_text(target, sizeof target, metric, json_object_get(a, "target"));
        const char *sc = str(a, "scope", "");
        putf(w, "  %s  %-20s %-18.18s %s -> ", when, ind,
             strncmp(sc, "employee:", 9) ? "unit" : member_name(w, s, sc + 9), str(a, "from", "?"));
        const char *to = str(a, "to", "?");
        color(w, !strcmp(to, "bad") ? RED : !strcmp(to, "warn") ? YELLOW : GREEN);
        put(w, to);
        color(w, RESET);
        putf(w, "  (%s, target %s)", value, target);
        endline(w);
    }
}

char *kj_view_render(const json_t *state, const kj_view_opts *o)
{
    out w = {.o = o};
    grow(&w, 1);
    w.buf[0] = '\0';
    if (!json_is_object(state)) {
        put(&w, o->status ? o->status : "no data yet");
        endline(&w);
        return w.buf;
    }
    header(&w, state);
    put(&w, "Unit today: ");
    window_summary(&w, json_object_get(state, "unit_metrics"), "today");
    endline(&w);
    put(&w, "Last hour:  ");
    window_summary(&w, json_object_get(state, "unit_metrics"), "1h");
    endline(&w);
    indicators(&w, state);
    queue(&w, state);
    counters(&w, state);
    members(&w, state);
    alerts(&w, state);
    return w.buf;
}

/* ---- live frames ------------------------------------------------------------------------ */

/* Each scope object in an update is whole: replace, never merge. */
static void replace_scopes(json_t *state, const json_t *frame, const char *key)
{
    json_t *src = json_object_get(frame, key), *v;
    const char *id;
    if (!json_is_object(src)) return;
    json_t *dst = json_object_get(state, key);
    if (!json_is_object(dst)) {
        dst = json_object();
        json_object_set_new(state, key, dst);
    }
    json_object_foreach(src, id, v) json_object_set(dst, id, v);
}

bool kj_view_apply(json_t **state, const json_t *frame, char *err, size_t errlen)
{
    const char *op = json_string_value(json_object_get(frame, "op"));
    if (!op) return false;
    if (!strcmp(op, "snapshot")) {
        json_decref(*state);
        *state = json_deep_copy(frame);
        json_object_del(*state, "op");
        return true;
    }
    if (!strcmp(op, "error")) {
        if (err) snprintf(err, errlen, "%s", str(frame, "error", "error"));
        return false;
    }
    if (!*state) return false; /* an update before its snapshot: wait for one */
    if (!strcmp(op, "update")) {
        static const char *const plain[] = {"seq", "at", "unit_metrics", "indicators", "alerts"};
        for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
            json_t *v = json_object_get(frame, plain[i]);
            if (v) json_object_set(*state, plain[i], v);
        }
        replace_scopes(*state, frame, "members");
        replace_scopes(*state, frame, "counters");
        return true;
    }
    if (!strcmp(op, "alert")) {
        json_t *list = json_object_get(*state, "alerts");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(*state, "alerts", list);
        }
        json_t *a = json_deep_copy(frame);
        json_object_del(a, "op");
        json_array_insert_new(list, 0, a); /* newest first */
        while (json_array_size(list) > 200)
            json_array_remove(list, json_array_size(list) - 1);
        return true;
    }
    return false;
}

/* ---- names ------------------------------------------------------------------------------ */

static void add_names(json_t *dst, const json_t *list)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *id = str(e, "id", NULL), *name = str(e, "name", NULL);
        if (id && name) json_object_set_new(dst, id, json_string(name));
    }
}

json_t *kj_view_names(const json_t *answer, const char *unit)
{
    json_t *names = json_object(), *members = json_object(), *counters = json_object();
    const json_t *list = json_is_array(answer) ? answer : json_object_get(answer, "units"), *u;
    size_t i;
    json_array_foreach(list, i, u)
    {
        if (strcmp(str(u, "id", ""), unit)) continue;
        if (str(u, "name", NULL))
            json_object_set_new(names, "unit", json_string(str(u, "name", "")));
        add_names(members, json_object_get(u, "members"));
        add_names(counters, json_object_get(u, "counters"));
    }
    json_object_set_new(names, "members", members);
    json_object_set_new(names, "counters", counters);
    return names;
}

json_t *kj_view_fetch_names(kj_client *c, const char *unit)
{
    int status;
    char *body;
    size_t len;
    json_t *answer = NULL, *names;
    if (kj_client_get(c, "/api/v1/units", "application/json", &status, &body, &len) == KJ_OK) {
        if (status == 200) answer = json_loadb(body, len, 0, NULL);
        free(body);
    }
    names = kj_view_names(answer, unit);
    json_decref(answer);
    return names;
}
