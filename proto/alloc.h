/* kinerja — allocation wrappers: the one place that decides what an allocation
 * failure means. A failed allocation of a bounded size is not recoverable in
 * any useful way, in the daemon or in libkinerja, so these print one line to
 * stderr and abort rather than spreading NULL checks through every caller
 * (kinerja.h says so to its users). Use plain malloc where the size comes
 * from an input and a failure is answered (KJ_ERR_NOMEM). */
#ifndef KJ_ALLOC_H
#define KJ_ALLOC_H

#include <stddef.h>

void *kj_malloc(size_t n);
void *kj_calloc(size_t n, size_t size);
void *kj_realloc(void *p, size_t n);
char *kj_strdup(const char *s);
char *kj_strndup(const char *s, size_t n);

#endif
