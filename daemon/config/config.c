/* kinerjad — the loaded configuration: freeing it and the look-ups that
 * every part of the daemon uses (config.h). Loading is config_file.c's. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

static void free_strings(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void free_named(kj_named *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].id);
        free(list[i].name);
    }
    free(list);
}

static void free_indicator(kj_indicator_conf *ind)
{
    free(ind->id);
    free(ind->name);
    free(ind->metric);
    free_strings(ind->units, ind->n_units);
    for (size_t k = 0; k < ind->n_overrides; k++)
        free(ind->overrides[k].employee);
    free(ind->overrides);
}

static void free_cluster(kj_cluster_conf *cl)
{
    if (!cl) return;
    free_strings(cl->nats, cl->n_nats);
    free(cl->stream);
    free(cl->node);
    free_strings(cl->units, cl->n_units);
    free(cl->creds);
    free(cl->tls_ca);
    free(cl->tls_cert);
    free(cl->tls_key);
    free(cl);
}

void kj_config_free(kj_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_listen; i++)
        free(c->listen[i].host);
    free(c->listen);
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].name);
        free_strings(c->tokens[i].units, c->tokens[i].n_units);
        free(c->tokens[i].employee);
    }
    free(c->tokens);
    for (size_t i = 0; i < c->n_units; i++) {
        free(c->units[i].id);
        free(c->units[i].name);
        free_named(c->units[i].members, c->units[i].n_members);
        free_named(c->units[i].counters, c->units[i].n_counters);
    }
    free(c->units);
    for (size_t i = 0; i < c->n_indicators; i++)
        free_indicator(&c->indicators[i]);
    free(c->indicators);
    free_cluster(c->cluster);
    free(c->path);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->state_dir);
    free(c->web_root);
    free(c->timezone);
    free(c);
}

bool kj_config_loopback_only(const kj_config *c)
{
    for (size_t i = 0; i < c->n_listen; i++)
        if (!kj_addr_is_loopback(c->listen[i].host)) return false;
    return true;
}

const kj_unit_conf *kj_config_unit(const kj_config *c, const char *id)
{
    for (size_t i = 0; c && id && i < c->n_units; i++)
        if (c->units[i].id && !strcmp(c->units[i].id, id)) return &c->units[i];
    return NULL;
}

static bool has_named(const kj_named *list, size_t n, const char *id)
{
    for (size_t i = 0; id && i < n; i++)
        if (list[i].id && !strcmp(list[i].id, id)) return true;
    return false;
}

bool kj_config_unit_has_member(const kj_unit_conf *u, const char *employee)
{
    return u && has_named(u->members, u->n_members, employee);
}

bool kj_config_unit_has_counter(const kj_unit_conf *u, const char *counter)
{
    return u && has_named(u->counters, u->n_counters, counter);
}

bool kj_token_allows_unit(const kj_token *tok, const char *unit)
{
    if (!tok || !unit) return false;
    if (tok->all_units) return true;
    for (size_t i = 0; i < tok->n_units; i++)
        if (!strcmp(tok->units[i], unit)) return true;
    return false;
}
