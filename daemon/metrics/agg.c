#include "agg.h"

#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

enum { SEC_TASKS = 1, SEC_SERVICES = 2, SEC_RATINGS = 4, SEC_ALL = 7 };

void kj_agg_reset(kj_agg *a)
{
    if (a->tasks) kj_hist_reset(&a->tasks->duration);
    if (a->services) {
        kj_hist_reset(&a->services->wait);
        kj_hist_reset(&a->services->service);
    }
    free(a->tasks);
    free(a->services);
    free(a->ratings);
    memset(a, 0, sizeof *a);
}

static kj_agg_tasks *tasks_of(kj_agg *a)
{
    if (!a->tasks) a->tasks = kj_calloc(1, sizeof *a->tasks);
    return a->tasks;
}

static kj_agg_services *services_of(kj_agg *a)
{
    if (!a->services) a->services = kj_calloc(1, sizeof *a->services);
    return a->services;
}

static kj_agg_ratings *ratings_of(kj_agg *a)
{
    if (!a->ratings) a->ratings = kj_calloc(1, sizeof *a->ratings);
    return a->ratings;
}

static void add_task(kj_agg *a, const kj_event *ev)
{
    kj_agg_tasks *t = tasks_of(a);
    t->count++;
    if (ev->has_due) {
        t->due_n++;
        t->on_time += ev->ts <= ev->due_ts;
    }
    if (ev->has_quality) {
        t->quality_n++;
        t->quality_sum += (uint64_t)ev->quality;
    }
    if (ev->has_duration) kj_hist_add(&t->duration, ev->duration_ms);
}

static void add_service(kj_agg *a, const kj_event *ev, int64_t sla_wait_ms)
{
    kj_agg_services *s = services_of(a);
    if (ev->outcome == KJ_OUTCOME_NO_SHOW) {
        s->no_show++;
        return;
    }
    s->count++;
    s->sla_ok += ev->wait_ms <= sla_wait_ms;
    kj_hist_add(&s->wait, ev->wait_ms);
    kj_hist_add(&s->service, ev->service_ms);
}

static void add_rating(kj_agg *a, const kj_event *ev)
{
    kj_agg_ratings *r = ratings_of(a);
    uint64_t score = (uint64_t)ev->score;
    if (ev->source == KJ_SOURCE_PEER) {
        r->peer_n++;
        r->peer_sum += score;
        return;
    }
    if (ev->source == KJ_SOURCE_SUPERVISOR) {
        r->sup_n++;
        r->sup_sum += score;
        return;
    }
    r->cit_n++;
    r->cit_sum += score;
    if (!ev->has_elements) {
        r->ikm_sum += KJ_ELEMENTS * score;
        return;
    }
    r->elem_n++;
    for (int i = 0; i < KJ_ELEMENTS; i++) {
        r->elem_sum[i] += ev->elements[i];
        r->ikm_sum += ev->elements[i];
    }
}

void kj_agg_add_event(kj_agg *a, const kj_event *ev, int64_t sla_wait_ms)
{
    switch (ev->type) {
    case KJ_EV_TASK: add_task(a, ev); break;
    case KJ_EV_SERVICE: add_service(a, ev, sla_wait_ms); break;
    case KJ_EV_RATING: add_rating(a, ev); break;
    case KJ_EV_PRESENCE:
    case KJ_EV_TICKET: break; /* state, not metrics: presence.c, queue.c */
    case KJ_EV_ASSESSMENT:
    case KJ_EV_FEEDBACK:
    case KJ_EV_ACK: break; /* no metric: assess.c, feedback.c */
    }
}

void kj_agg_prefetch_event(const kj_agg *a, const kj_event *ev)
{
    if (ev->type == KJ_EV_SERVICE && a->services && ev->outcome != KJ_OUTCOME_NO_SHOW) {
        kj_hist_prefetch(&a->services->wait, ev->wait_ms);
        kj_hist_prefetch(&a->services->service, ev->service_ms);
    } else if (ev->type == KJ_EV_TASK && a->tasks && ev->has_duration) {
        kj_hist_prefetch(&a->tasks->duration, ev->duration_ms);
    }
}

/* Plain counters of each section, for merge, sub and compare in one loop. */
#define TASK_FIELDS(X) X(count) X(due_n) X(on_time) X(quality_n) X(quality_sum)
#define SERVICE_FIELDS(X) X(count) X(no_show) X(sla_ok)
#define RATING_FIELDS(X)                                                                           \
    X(cit_n) X(cit_sum) X(peer_n) X(peer_sum) X(sup_n) X(sup_sum) X(ikm_sum) X(elem_n)

static void add_ratings(kj_agg_ratings *r, const kj_agg_ratings *b)
{
#define ADD(f) r->f += b->f;
    RATING_FIELDS(ADD)
#undef ADD
    for (int i = 0; i < KJ_ELEMENTS; i++)
        r->elem_sum[i] += b->elem_sum[i];
}

void kj_agg_merge_hists(kj_agg *a, const kj_agg *b, unsigned hists)
{
    if (b->tasks) {
        kj_agg_tasks *t = tasks_of(a);
#define ADD(f) t->f += b->tasks->f;
        TASK_FIELDS(ADD)
#undef ADD
        if (hists & KJ_AGG_MAX_DURATION) kj_hist_merge(&t->duration, &b->tasks->duration);
    }
    if (b->services) {
        kj_agg_services *s = services_of(a);
#define ADD(f) s->f += b->services->f;
        SERVICE_FIELDS(ADD)
#undef ADD
        if (hists & KJ_AGG_MAX_WAIT) kj_hist_merge(&s->wait, &b->services->wait);
        if (hists & KJ_AGG_MAX_SERVICE) kj_hist_merge(&s->service, &b->services->service);
    }
    if (b->ratings) add_ratings(ratings_of(a), b->ratings);
}

void kj_agg_merge(kj_agg *a, const kj_agg *b)
{
    kj_agg_merge_hists(a, b, KJ_AGG_HISTS);
}

static uint64_t minus(uint64_t x, uint64_t y)
{
    return x > y ? x - y : 0;
}

static unsigned sub_tasks(kj_agg *a, const kj_agg_tasks *b)
{
    kj_agg_tasks *t = a->tasks;
    if (!t) return 0;
#define SUB(f) t->f = minus(t->f, b->f);
    TASK_FIELDS(SUB)
#undef SUB
    unsigned lost = kj_hist_sub(&t->duration, &b->duration) ? KJ_AGG_MAX_DURATION : 0;
    if (!t->count) {
        kj_hist_reset(&t->duration);
        free(t);
        a->tasks = NULL;
        return 0;
    }
    return lost;
}

static unsigned sub_services(kj_agg *a, const kj_agg_services *b)
{
    kj_agg_services *s = a->services;
    if (!s) return 0;
#define SUB(f) s->f = minus(s->f, b->f);
    SERVICE_FIELDS(SUB)
#undef SUB
    unsigned lost = kj_hist_sub(&s->wait, &b->wait) ? KJ_AGG_MAX_WAIT : 0;
    lost |= kj_hist_sub(&s->service, &b->service) ? KJ_AGG_MAX_SERVICE : 0;
    if (!s->count && !s->no_show) {
        kj_hist_reset(&s->wait);
        kj_hist_reset(&s->service);
        free(s);
        a->services = NULL;
        return 0;
    }
    return lost;
}

static void sub_ratings(kj_agg *a, const kj_agg_ratings *b)
{
    kj_agg_ratings *r = a->ratings;
    if (!r) return;
#define SUB(f) r->f = minus(r->f, b->f);
    RATING_FIELDS(SUB)
#undef SUB
    for (int i = 0; i < KJ_ELEMENTS; i++)
        r->elem_sum[i] = minus(r->elem_sum[i], b->elem_sum[i]);
    if (!r->cit_n && !r->peer_n && !r->sup_n) {
        free(r);
        a->ratings = NULL;
    }
}

unsigned kj_agg_sub(kj_agg *a, const kj_agg *b)
{
    unsigned lost = 0;
    if (b->tasks) lost |= sub_tasks(a, b->tasks);
    if (b->services) lost |= sub_services(a, b->services);
    if (b->ratings) sub_ratings(a, b->ratings);
    return lost;
}

void kj_agg_set_max(kj_agg *a, unsigned which, int64_t max)
{
    if (which == KJ_AGG_MAX_DURATION && a->tasks) kj_hist_set_max(&a->tasks->duration, max);
    if (which == KJ_AGG_MAX_WAIT && a->services) kj_hist_set_max(&a->services->wait, max);
    if (which == KJ_AGG_MAX_SERVICE && a->services) kj_hist_set_max(&a->services->service, max);
}

/* A section's plain fields by value, its hists deep (kj_hist_copy copies the
 * cells whole: a view of a window is a copy, made for every read). */
void kj_agg_copy_hists(kj_agg *dst, const kj_agg *src, unsigned hists)
{
    if (dst == src) return;
    kj_agg_reset(dst);
    if (src->tasks) {
        dst->tasks = kj_malloc(sizeof *dst->tasks);
        *dst->tasks = *src->tasks;
        dst->tasks->duration = (kj_hist)KJ_HIST_INIT;
        if (hists & KJ_AGG_MAX_DURATION) kj_hist_copy(&dst->tasks->duration, &src->tasks->duration);
    }
    if (src->services) {
        dst->services = kj_malloc(sizeof *dst->services);
        *dst->services = *src->services;
        dst->services->wait = dst->services->service = (kj_hist)KJ_HIST_INIT;
        if (hists & KJ_AGG_MAX_WAIT) kj_hist_copy(&dst->services->wait, &src->services->wait);
        if (hists & KJ_AGG_MAX_SERVICE)
            kj_hist_copy(&dst->services->service, &src->services->service);
    }
    if (src->ratings) {
        dst->ratings = kj_malloc(sizeof *dst->ratings);
        *dst->ratings = *src->ratings;
    }
}

void kj_agg_copy(kj_agg *dst, const kj_agg *src)
{
    kj_agg_copy_hists(dst, src, KJ_AGG_HISTS);
}

/* Encoded form: a byte of present sections, then per section its counters as
 * varints and its hists (kj_hist_encode). The element sums follow only when
 * some response gave elements. */
size_t kj_agg_encoded_size(const kj_agg *a)
{
    size_t n = 1;
#define SZ(sec, f) n += kj_varint_size(a->sec->f);
#define T(f) SZ(tasks, f)
#define S(f) SZ(services, f)
#define R(f) SZ(ratings, f)
    if (a->tasks) {
        TASK_FIELDS(T)
        n += kj_hist_encoded_size(&a->tasks->duration);
    }
    if (a->services) {
        SERVICE_FIELDS(S)
        n += kj_hist_encoded_size(&a->services->wait) + kj_hist_encoded_size(&a->services->service);
    }
    if (a->ratings) {
        RATING_FIELDS(R)
        for (int i = 0; a->ratings->elem_n && i < KJ_ELEMENTS; i++)
            n += kj_varint_size(a->ratings->elem_sum[i]);
    }
#undef T
#undef S
#undef R
#undef SZ
    return n;
}

/* A section's hists belong to it, so a const agg's hists may keep their
 * encoding (kj_hist_encode_kept) when asked. */
static size_t put_hist(kj_hist *h, bool keep, uint8_t *buf)
{
    return keep ? kj_hist_encode_kept(h, buf) : kj_hist_encode(h, buf);
}

static size_t encode(const kj_agg *a, bool keep, uint8_t *buf)
{
    size_t n = 1;
    buf[0] = (uint8_t)((a->tasks ? SEC_TASKS : 0) | (a->services ? SEC_SERVICES : 0) |
                       (a->ratings ? SEC_RATINGS : 0));
#define PUT(sec, f) n += kj_varint_put(buf + n, a->sec->f);
#define T(f) PUT(tasks, f)
#define S(f) PUT(services, f)
#define R(f) PUT(ratings, f)
    if (a->tasks) {
        TASK_FIELDS(T)
        n += put_hist(&a->tasks->duration, keep, buf + n);
    }
    if (a->services) {
        SERVICE_FIELDS(S)
        n += put_hist(&a->services->wait, keep, buf + n);
        n += put_hist(&a->services->service, keep, buf + n);
    }
    if (a->ratings) {
        RATING_FIELDS(R)
        for (int i = 0; a->ratings->elem_n && i < KJ_ELEMENTS; i++)
            n += kj_varint_put(buf + n, a->ratings->elem_sum[i]);
    }
#undef T
#undef S
#undef R
#undef PUT
    return n;
}

size_t kj_agg_encode(const kj_agg *a, uint8_t *buf)
{
    return encode(a, false, buf);
}

size_t kj_agg_encode_kept(kj_agg *a, uint8_t *buf)
{
    return encode(a, true, buf);
}

typedef kj_reader reader;

static uint64_t rd(reader *r)
{
    return kj_rd_varint(r);
}

static void rd_hist(reader *r, kj_hist *h)
{
    size_t used = 0;
    if (r->bad || kj_hist_decode(h, r->p + r->pos, r->len - r->pos, &used) != KJ_OK) r->bad = true;
    r->pos += used;
}

static void skip_hist(reader *r, int64_t *max)
{
    uint64_t count, sum;
    size_t used = 0;
    if (r->bad ||
        kj_hist_decode_summary(r->p + r->pos, r->len - r->pos, &count, &sum, max, &used) != KJ_OK)
        r->bad = true;
    r->pos += used;
}

static void rd_ratings(reader *r, kj_agg_ratings *g)
{
#define GET(f) g->f = rd(r);
    RATING_FIELDS(GET)
#undef GET
    for (int i = 0; g->elem_n && i < KJ_ELEMENTS; i++)
        g->elem_sum[i] = rd(r);
}

kj_err kj_agg_decode(kj_agg *a, const uint8_t *buf, size_t len)
{
    kj_agg_reset(a);
    reader r = {buf, len, 1, len < 1 || (buf[0] & ~SEC_ALL)};
    if (!r.bad && (buf[0] & SEC_TASKS)) {
        kj_agg_tasks *t = tasks_of(a);
#define GET(f) t->f = rd(&r);
        TASK_FIELDS(GET)
#undef GET
        rd_hist(&r, &t->duration);
    }
    if (!r.bad && (buf[0] & SEC_SERVICES)) {
        kj_agg_services *s = services_of(a);
#define GET(f) s->f = rd(&r);
        SERVICE_FIELDS(GET)
#undef GET
        rd_hist(&r, &s->wait);
        rd_hist(&r, &s->service);
    }
    if (!r.bad && (buf[0] & SEC_RATINGS)) rd_ratings(&r, ratings_of(a));
    if (r.bad || r.pos != len) {
        kj_agg_reset(a);
        return KJ_ERR_DECODE;
    }
    return KJ_OK;
}

/* One hist of an encoded agg, merged into h and h2 (either may be NULL). */
static void merge_hist(reader *r, kj_hist *h, kj_hist *h2)
{
    size_t used = 0;
    if (r->bad || kj_hist_merge_encoded(h, h2, r->p + r->pos, r->len - r->pos, &used) != KJ_OK)
        r->bad = true;
    r->pos += used;
}

/* v is evaluated once (it may be a read). */
#define ADD_BOTH(x, y, f, v)                                                                       \
    do {                                                                                           \
        uint64_t add_v = (v);                                                                      \
        if (x) (x)->f += add_v;                                                                    \
        if (y) (y)->f += add_v;                                                                    \
    } while (0)

static void merge_tasks(reader *r, kj_agg *a, kj_agg *b)
{
    kj_agg_tasks *t = a ? tasks_of(a) : NULL, *u = b ? tasks_of(b) : NULL;
#define GET(f) ADD_BOTH(t, u, f, rd(r));
    TASK_FIELDS(GET)
#undef GET
    merge_hist(r, t ? &t->duration : NULL, u ? &u->duration : NULL);
}

static void merge_services(reader *r, kj_agg *a, kj_agg *b)
{
    kj_agg_services *s = a ? services_of(a) : NULL, *u = b ? services_of(b) : NULL;
#define GET(f) ADD_BOTH(s, u, f, rd(r));
    SERVICE_FIELDS(GET)
#undef GET
    merge_hist(r, s ? &s->wait : NULL, u ? &u->wait : NULL);
    merge_hist(r, s ? &s->service : NULL, u ? &u->service : NULL);
}

static void merge_ratings(reader *r, kj_agg *a, kj_agg *b)
{
    kj_agg_ratings g = {0};
    rd_ratings(r, &g);
    if (a) add_ratings(ratings_of(a), &g);
    if (b) add_ratings(ratings_of(b), &g);
}

/* a += and b += the encoded agg (either may be NULL: both, only a check). */
static bool merge_pass(kj_agg *a, kj_agg *b, const uint8_t *buf, size_t len)
{
    reader r = {buf, len, 1, len < 1 || (buf[0] & ~SEC_ALL)};
    if (!r.bad && (buf[0] & SEC_TASKS)) merge_tasks(&r, a, b);
    if (!r.bad && (buf[0] & SEC_SERVICES)) merge_services(&r, a, b);
    if (!r.bad && (buf[0] & SEC_RATINGS)) merge_ratings(&r, a, b);
    return !r.bad && r.pos == len;
}

kj_err kj_agg_merge_encoded(kj_agg *a, kj_agg *b, const uint8_t *buf, size_t len)
{
    return merge_pass(a, b, buf, len) ? KJ_OK : KJ_ERR_DECODE;
}

kj_err kj_agg_decode_maxes(const uint8_t *buf, size_t len, int64_t max[3])
{
    reader r = {buf, len, 1, len < 1 || (buf[0] & ~SEC_ALL)};
    max[0] = max[1] = max[2] = 0;
    if (!r.bad && (buf[0] & SEC_TASKS)) {
        for (int i = 0; i < 5; i++)
            rd(&r);
        skip_hist(&r, &max[0]);
    }
    if (!r.bad && (buf[0] & SEC_SERVICES)) {
        for (int i = 0; i < 3; i++)
            rd(&r);
        skip_hist(&r, &max[1]);
        skip_hist(&r, &max[2]);
    }
    return r.bad ? KJ_ERR_DECODE : KJ_OK;
}
