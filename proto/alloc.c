#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *p, size_t n)
{
    if (!p && n) {
        fprintf(stderr, "kinerja: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *kj_malloc(size_t n)
{
    return check(malloc(n ? n : 1), n);
}
void *kj_calloc(size_t n, size_t size)
{
    return check(calloc(n ? n : 1, size ? size : 1), n * size);
}
void *kj_realloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1), n);
}
char *kj_strdup(const char *s)
{
    return kj_strndup(s, strlen(s));
}

char *kj_strndup(const char *s, size_t n)
{
    char *d = kj_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
