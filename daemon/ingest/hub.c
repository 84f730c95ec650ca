#include "hub.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../proto/alloc.h"

typedef struct view {
    char unit[KJ_ID_MAX + 1], employee[KJ_ID_MAX + 1];
    size_t refs;
} view;

struct kj_hub {
    pthread_mutex_t lock;
    view *views;
    size_t n_views;
    kj_pub *pub_head, *pub_tail;
    kj_query *asked, *answered; /* asked in order (tail-appended); answered any order */
    kj_query *asked_tail;
    void (*wake_service)(void *);
    void *service_ctx;
    void (*wake_writer)(void *);
    void *writer_ctx;
};

kj_hub *kj_hub_new(void (*wake_service)(void *), void *service_ctx, void (*wake_writer)(void *),
                   void *writer_ctx)
{
    kj_hub *h = kj_calloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    h->wake_service = wake_service;
    h->service_ctx = service_ctx;
    h->wake_writer = wake_writer;
    h->writer_ctx = writer_ctx;
    return h;
}

void kj_hub_set_writer(kj_hub *h, void (*wake_writer)(void *), void *writer_ctx)
{
    pthread_mutex_lock(&h->lock);
    h->wake_writer = wake_writer;
    h->writer_ctx = writer_ctx;
    pthread_mutex_unlock(&h->lock);
}

kj_pub *kj_pub_new(kj_pub_kind kind, const char *unit, uint64_t seq, kj_frame *frame)
{
    kj_pub *p = kj_calloc(1, sizeof *p);
    p->kind = kind;
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->seq = seq;
    p->frame = frame;
    return p;
}

void kj_pub_free_list(kj_pub *p)
{
    while (p) {
        kj_pub *next = p->next;
        kj_frame_unref(p->frame);
        free(p);
        p = next;
    }
}

kj_query *kj_query_new(void)
{
    return kj_calloc(1, sizeof(kj_query));
}

void kj_query_free(kj_query *q)
{
    if (!q) return;
    kj_frame_unref(q->result);
    if (q->free_params) q->free_params(q->params);
    free(q);
}

static void free_queries(kj_query *q)
{
    while (q) {
        kj_query *next = q->next;
        kj_query_free(q);
        q = next;
    }
}

void kj_hub_free(kj_hub *h)
{
    if (!h) return;
    kj_pub_free_list(h->pub_head);
    free_queries(h->asked);
    free_queries(h->answered);
    pthread_mutex_destroy(&h->lock);
    free(h->views);
    free(h);
}

void kj_hub_publish(kj_hub *h, kj_pub *list)
{
    if (!list) return;
    kj_pub *last = list;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&h->lock);
    if (h->pub_tail)
        h->pub_tail->next = list;
    else
        h->pub_head = list;
    h->pub_tail = last;
    pthread_mutex_unlock(&h->lock);
    h->wake_service(h->service_ctx);
}

kj_pub *kj_hub_take_published(kj_hub *h)
{
    pthread_mutex_lock(&h->lock);
    kj_pub *list = h->pub_head;
    h->pub_head = h->pub_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    return list;
}

void kj_hub_ask(kj_hub *h, kj_query *q)
{
    q->next = NULL;
    pthread_mutex_lock(&h->lock);
    if (h->asked_tail)
        h->asked_tail->next = q;
    else
        h->asked = q;
    h->asked_tail = q;
    void (*wake)(void *) = h->wake_writer;
    void *ctx = h->writer_ctx;
    pthread_mutex_unlock(&h->lock);
    if (wake) wake(ctx);
}

kj_query *kj_hub_take_queries(kj_hub *h)
{
    pthread_mutex_lock(&h->lock);
    kj_query *list = h->asked;
    h->asked = h->asked_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    return list;
}

void kj_hub_answer(kj_hub *h, kj_query *q)
{
    pthread_mutex_lock(&h->lock);
    q->next = h->answered;
    h->answered = q;
    pthread_mutex_unlock(&h->lock);
    h->wake_service(h->service_ctx);
}

kj_query *kj_hub_take_answers(kj_hub *h)
{
    pthread_mutex_lock(&h->lock);
    kj_query *list = h->answered;
    h->answered = NULL;
    pthread_mutex_unlock(&h->lock);
    return list;
}

/* Views are kept sorted by (unit, employee): the writer lists a unit's views
 * for every unit it publishes, so that is a binary search, not a scan of
 * every watched unit. Returns the index of the first view >= (unit, employee). */
static size_t lower_bound(const kj_hub *h, const char *unit, const char *employee)
{
    size_t a = 0, b = h->n_views;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        int c = strcmp(h->views[mid].unit, unit);
        if (!c && employee) c = strcmp(h->views[mid].employee, employee);
        if (c < 0)
            a = mid + 1;
        else
            b = mid;
    }
    return a;
}

static bool is_view(const kj_hub *h, size_t i, const char *unit, const char *employee)
{
    return i < h->n_views && !strcmp(h->views[i].unit, unit) &&
           !strcmp(h->views[i].employee, employee);
}

void kj_hub_view_add(kj_hub *h, const char *unit, const char *employee)
{
    pthread_mutex_lock(&h->lock);
    size_t i = lower_bound(h, unit, employee);
    if (!is_view(h, i, unit, employee)) {
        h->views = kj_realloc(h->views, (h->n_views + 1) * sizeof *h->views);
        memmove(&h->views[i + 1], &h->views[i], (h->n_views - i) * sizeof *h->views);
        h->n_views++;
        view *p = &h->views[i];
        snprintf(p->unit, sizeof p->unit, "%s", unit);
        snprintf(p->employee, sizeof p->employee, "%s", employee);
        p->refs = 0;
    }
    h->views[i].refs++;
    pthread_mutex_unlock(&h->lock);
}

void kj_hub_view_remove(kj_hub *h, const char *unit, const char *employee)
{
    pthread_mutex_lock(&h->lock);
    size_t i = lower_bound(h, unit, employee);
    if (is_view(h, i, unit, employee) && --h->views[i].refs == 0) {
        h->n_views--;
        memmove(&h->views[i], &h->views[i + 1], (h->n_views - i) * sizeof *h->views);
    }
    pthread_mutex_unlock(&h->lock);
}

size_t kj_hub_view_list(kj_hub *h, const char *unit, char (*out)[KJ_ID_MAX + 1], size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&h->lock);
    for (size_t i = lower_bound(h, unit, NULL); i < h->n_views && !strcmp(h->views[i].unit, unit);
         i++, n++)
        if (n < max) memcpy(out[n], h->views[i].employee, KJ_ID_MAX + 1);
    pthread_mutex_unlock(&h->lock);
    return n;
}
