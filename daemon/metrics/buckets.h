/* kinerjad — a scope's buckets of one resolution, packed (buckets.c). Pure:
 * it depends on nothing of the engine; the model (model.h) holds one series
 * per scope and resolution, and the layers above read and write them through
 * these functions. */
#ifndef KJ_BUCKETS_H
#define KJ_BUCKETS_H

#include <stdbool.h>
#include <stdint.h>

/* A scope's buckets of one resolution, oldest first, packed in one buffer as
 * records [int32 start][varint len][len bytes of kj_agg encoding]. Packing
 * them costs ~25 bytes per sparse bucket instead of ~100 for a struct with a
 * pointer and a heap block: hour buckets of 10,000 employees over 30 days are
 * the bulk of the engine's memory. */
typedef struct series {
    uint8_t *buf;
    uint32_t used, cap, n;
    uint32_t last; /* offset of the newest record: most look-ups want it */
} series;

typedef struct series_rec {
    int32_t start;
    const uint8_t *data;
    uint32_t len;
    uint32_t off; /* record offset in buf */
} series_rec;

bool kj_series_find(const series *s, int32_t start, series_rec *rec);
void kj_series_put(series *s, int32_t start, const uint8_t *data, uint32_t len);
void kj_series_drop_before(series *s, int32_t start);
bool kj_series_next(const series *s, uint32_t *off, series_rec *rec);
void kj_series_free(series *s);

#endif
