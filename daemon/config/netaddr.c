/* kinerjad — listen addresses (see netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* fold_mapped: an IPv4-mapped IPv6 address as its IPv4 text (for what a name
 * means; a bound socket is shown as it is). */
static bool sockaddr_text(const struct sockaddr *sa, bool fold_mapped, char out[KJ_ADDR_MAX])
{
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, KJ_ADDR_MAX) !=
               NULL;
    if (sa->sa_family != AF_INET6) return false;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (fold_mapped && IN6_IS_ADDR_V4MAPPED(a6))
        return inet_ntop(AF_INET, &a6->s6_addr[12], out, KJ_ADDR_MAX);
    return inet_ntop(AF_INET6, a6, out, KJ_ADDR_MAX) != NULL;
}

const char *kj_addr_resolve(const char *host, char out[KJ_ADDR_MAX])
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        /* libwebsockets once took interface names here; we bind addresses */
        return if_nametoindex(host) ? "is a network interface, not an address: write its "
                                      "address (for loopback, 127.0.0.1 or [::1])"
                                    : "resolves to no address (a name is resolved when the "
                                      "daemon starts)";
    bool ok = sockaddr_text(res->ai_addr, true, out);
    freeaddrinfo(res);
    return ok ? NULL : "resolves to an address that is neither IPv4 nor IPv6";
}

bool kj_addr_is_loopback(const char *numeric)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, numeric, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, numeric, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* libwebsockets keeps its listening socket to itself: look for it among our
 * descriptors, once, at start. */
bool kj_addr_listener(int port, const char *want, char out[KJ_ADDR_MAX])
{
    out[0] = 0;
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 0; fd < max; fd++) {
        int listening = 0;
        socklen_t len = sizeof listening;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) || !listening) continue;
        struct sockaddr_storage ss;
        len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len)) continue;
        int p = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : -1;
        if (p == port && sockaddr_text((struct sockaddr *)&ss, false, out) && !strcmp(out, want))
            return true;
    }
    return false;
}
