#include "conns.h"

#include <netinet/in.h>
#include <string.h>

#include "../proto/alloc.h"
#include "log.h"

#define WARN_EVERY_US (10 * LWS_US_PER_SEC) /* refusal warnings: at most one per 10 s */
#define SWEEP_US LWS_US_PER_SEC

typedef struct kj_conn {
    struct lws *wsi; /* the network connection */
    struct sockaddr_storage addr;
    kj_conn_phase phase;
    lws_usec_t since;            /* when the phase began (accept for KJ_CONN_HEADERS) */
    struct kj_conn *prev, *next; /* oldest first */
} kj_conn;

struct kj_conns {
    kj_conn *oldest, *newest;
    size_t count;
    lws_sorted_usec_list_t sweep;
    lws_usec_t last_warn;
    unsigned long long refused_since_warn;
    kj_server *srv;
};

/* The host part only: a client's port differs per connection. */
static bool same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family) return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return true; /* a unix socket: one "address" */
}

static bool evictable(const kj_conn *c)
{
    return c->phase != KJ_CONN_BUSY;
}

static void unlink_conn(struct kj_conns *t, kj_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        t->oldest = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        t->newest = c->prev;
    t->count--;
}

/* Closes c now (it is not the connection being serviced). Its record goes in
 * kj_conns_gone, from the WSI_DESTROY this causes. */
static void close_conn(kj_conn *c, const char *why)
{
    kj_debug("connection closed: %s", why);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

void kj_conns_refused(kj_server *s, const char *why, size_t limit)
{
    struct kj_conns *t = s->conns;
    lws_usec_t now = lws_now_usecs();
    t->refused_since_warn++;
    if (t->last_warn && now - t->last_warn < WARN_EVERY_US) return;
    kj_warn("connection refused: %s (%zu) reached; %llu refused since the last warning", why, limit,
            t->refused_since_warn);
    t->last_warn = now;
    t->refused_since_warn = 0;
}

/* The oldest evictable connection, from addr only when addr is not NULL. */
static kj_conn *eviction_candidate(struct kj_conns *t, const struct sockaddr *addr)
{
    for (kj_conn *c = t->oldest; c; c = c->next)
        if (evictable(c) && (!addr || same_host(addr, &c->addr))) return c;
    return NULL;
}

static size_t count_from(const struct kj_conns *t, const struct sockaddr *addr)
{
    size_t n = 0;
    for (const kj_conn *c = t->oldest; c; c = c->next)
        n += same_host(addr, &c->addr);
    return n;
}

bool kj_conns_admit(kj_server *s, const struct sockaddr *addr)
{
    struct kj_conns *t = s->conns;
    const kj_config *cfg = s->cfg;
    size_t per = cfg->max_connections_per_address;
    if (per && count_from(t, addr) >= per) {
        kj_conn *c = eviction_candidate(t, addr);
        if (!c) {
            kj_conns_refused(s, "max_connections_per_address", per);
            return false;
        }
        close_conn(c, "evicted for a new connection from its address");
    }
    if (t->count >= cfg->max_connections) {
        kj_conn *c = eviction_candidate(t, NULL);
        if (!c) {
            kj_conns_refused(s, "max_connections", cfg->max_connections);
            return false;
        }
        close_conn(c, "evicted for a new connection: max_connections reached");
    }
    return true;
}

void kj_conns_add(kj_server *s, struct lws *wsi)
{
    struct kj_conns *t = s->conns;
    kj_conn *c = kj_calloc(1, sizeof *c);
    socklen_t len = sizeof c->addr;
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&c->addr, &len) != 0)
        c->addr.ss_family = AF_UNSPEC;
    c->wsi = wsi;
    c->phase = KJ_CONN_HEADERS;
    c->since = lws_now_usecs();
    c->prev = t->newest;
    if (t->newest)
        t->newest->next = c;
    else
        t->oldest = c;
    t->newest = c;
    t->count++;
    lws_set_opaque_user_data(wsi, c);
}

void kj_conns_gone(kj_server *s, struct lws *wsi)
{
    kj_conn *c = lws_get_opaque_user_data(wsi);
    if (!c || !s->conns) return;
    lws_set_opaque_user_data(wsi, NULL);
    unlink_conn(s->conns, c);
    free(c);
}

void kj_conns_phase(struct lws *wsi, kj_conn_phase phase)
{
    kj_conn *c = lws_get_opaque_user_data(lws_get_network_wsi(wsi));
    if (!c || c->phase == phase) return;
    c->phase = phase;
    c->since = lws_now_usecs();
}

/* The deadline of c's phase, or 0 when it has none. */
static lws_usec_t deadline(const kj_config *cfg, const kj_conn *c)
{
    switch (c->phase) {
    case KJ_CONN_HEADERS: /* since accept, or since the answer before on keep-alive */
    case KJ_CONN_WS_AUTH: return c->since + cfg->header_timeout_ms * 1000;
    case KJ_CONN_BODY: return c->since + cfg->body_timeout_ms * 1000;
    case KJ_CONN_BUSY: break;
    }
    return 0;
}

static void sweep(lws_sorted_usec_list_t *sul)
{
    struct kj_conns *t = lws_container_of(sul, struct kj_conns, sweep);
    lws_usec_t now = lws_now_usecs();
    kj_conn *c = t->oldest;
    while (c) {
        kj_conn *next = c->next; /* c may be freed by its close */
        lws_usec_t due = deadline(t->srv->cfg, c);
        if (due && now >= due)
            close_conn(c, c->phase == KJ_CONN_BODY ? "body_timeout: the body came too slowly"
                                                   : "header_timeout: no request in time");
        c = next;
    }
    lws_sul_schedule(t->srv->ctx, 0, &t->sweep, sweep, SWEEP_US);
}

void kj_conns_start(kj_server *s)
{
    s->conns = kj_calloc(1, sizeof *s->conns);
    s->conns->srv = s;
    lws_sul_schedule(s->ctx, 0, &s->conns->sweep, sweep, SWEEP_US);
}

void kj_conns_free(kj_server *s)
{
    if (!s->conns) return;
    while (s->conns->oldest) {
        kj_conn *c = s->conns->oldest;
        unlink_conn(s->conns, c);
        free(c);
    }
    free(s->conns);
    s->conns = NULL;
}
