/* kinerja — allocation wrappers: the one place that decides what an allocation
 * failure means. In the daemon a failed small allocation is not recoverable in
 * any useful way, so these abort with a message rather than spreading NULL
 * checks through every caller. Use plain malloc where a failure is expected
 * and handled (large, input-sized buffers). */
#ifndef KJ_ALLOC_H
#define KJ_ALLOC_H

#include <stddef.h>

void *kj_malloc(size_t n);
void *kj_calloc(size_t n, size_t size);
void *kj_realloc(void *p, size_t n);
char *kj_strdup(const char *s);
char *kj_strndup(const char *s, size_t n);

#endif
