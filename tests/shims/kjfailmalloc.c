/* kjfailmalloc.so — an LD_PRELOAD shim that makes large allocations fail on
 * demand, to test that kinerjad refuses the one request whose size drove an
 * allocation (503, or a closed connection) instead of aborting.
 *
 *   KJ_FAILMALLOC_OVER=N    malloc, calloc and realloc of more than N bytes
 *                           may fail (default: never)
 *   KJ_FAILMALLOC_ARM=PATH  they fail, with ENOMEM, while the file PATH
 *                           exists (checked at each such allocation), so a
 *                           test arms and disarms it with the daemon running
 *
 * Each refusal writes "kjfailmalloc: refused N bytes" to stderr, so that a
 * test sees that the failure it meant to cause happened. Smaller allocations
 * go to glibc's own allocator untouched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's allocator under its own names: no dlsym, which itself allocates. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

static size_t over = (size_t)-1; /* set once, before any thread starts */
static const char *arm_path;

__attribute__((constructor)) static void failmalloc_init(void)
{
    const char *s = getenv("KJ_FAILMALLOC_OVER");
    if (s && *s) over = strtoull(s, NULL, 10);
    arm_path = getenv("KJ_FAILMALLOC_ARM");
}

/* Whether an allocation of n bytes is refused now. */
static int refused(size_t n)
{
    if (n <= over || !arm_path || access(arm_path, F_OK) != 0) return 0;
    char line[64];
    int len = snprintf(line, sizeof line, "kjfailmalloc: refused %zu bytes\n", n);
    if (len > 0 && write(2, line, (size_t)len) < 0) { /* nothing to do: stderr is gone */
    }
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n)
{
    return refused(n) ? NULL : __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    size_t total;
    if (!__builtin_mul_overflow(n, size, &total) && refused(total)) return NULL;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    return refused(n) ? NULL : __libc_realloc(p, n);
}
