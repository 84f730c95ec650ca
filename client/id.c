/* kinerja — unique event ids without coordination (kinerja.h). */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kinerja.h"

#define HOST_MAX 24

/* The per-process part. A child of fork() inherits it, so it is renewed
 * whenever the pid changes: two processes never share a prefix and counter. */
static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static char prefix[HOST_MAX + 1 + 16 + 1];
static pid_t prefix_pid;
static uint64_t counter;

static void host_part(char *out, size_t cap)
{
    char host[256] = "";
    size_t n = 0;
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    /* Keep the first label only, in the identifier alphabet: short and readable. */
    for (const char *p = host; *p && *p != '.' && n + 1 < cap; p++)
        out[n++] = (isalnum((unsigned char)*p) || *p == '-' || *p == '_') ? *p : '-';
    if (n == 0) out[n++] = 'h';
    out[n] = '\0';
}

static uint64_t random64(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* No entropy source (very old kernel, seccomp): time and pid still
         * separate processes in practice. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
    }
    return r;
}

static void renew_prefix(pid_t pid)
{
    char host[HOST_MAX + 1];
    host_part(host, sizeof host);
    snprintf(prefix, sizeof prefix, "%s.%016" PRIx64, host, random64());
    counter = 0;
    prefix_pid = pid;
}

void kj_event_id_new(char out[KJ_ID_MAX + 1])
{
    pid_t pid = getpid();
    pthread_mutex_lock(&prefix_lock);
    if (prefix_pid != pid) renew_prefix(pid);
    uint64_t n = counter++;
    /* host (<= 24) + '.' + 16 + '.' + <= 20 digits = 62 <= KJ_ID_MAX */
    snprintf(out, KJ_ID_MAX + 1, "%s.%" PRIu64, prefix, n);
    pthread_mutex_unlock(&prefix_lock);
}
