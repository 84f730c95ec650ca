/* kinerjad — listen addresses: what a configured host means, and what a socket
 * was really bound to. Pure functions of the resolver and the kernel, no
 * state; called by config (on load and --check-config) and by server (after
 * the listeners are up), on the main or service thread. */
#ifndef KJ_NETADDR_H
#define KJ_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest numeric address text, IPv6 included (INET6_ADDRSTRLEN). */
#define KJ_ADDR_MAX 46

/* Turns a configured host into the one numeric address to bind: an IPv4
 * address stays as written; an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * becomes its IPv4 address (a v6 socket bound to it accepts nothing); another
 * IPv6 address is canonicalised; a name is resolved now, first answer wins.
 * Returns NULL and fills out, or a one-line reason (a static string). */
const char *kj_addr_resolve(const char *host, char out[KJ_ADDR_MAX]);

/* A numeric address on loopback (127.0.0.0/8, ::1). */
bool kj_addr_is_loopback(const char *numeric);

/* Looks among this process's listening TCP sockets for one on port bound to
 * want (numeric, from kj_addr_resolve), by getsockname. Returns true when
 * found (out = want); else false, with out the address that a listener on that
 * port is bound to instead ("" when there is none). */
bool kj_addr_listener(int port, const char *want, char out[KJ_ADDR_MAX]);

#endif
