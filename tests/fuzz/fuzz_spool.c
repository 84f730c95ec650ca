/* libFuzzer target: the client's spool reader (kj_spool_read, kj_spool_list,
 * kj_spool_pending) on a file of the input, then the events it holds decoded
 * as the daemon decodes the frame they are sent in. The first byte chooses:
 * odd, the rest is the whole file; even, the rest is the events, behind a
 * header with the right length and checksum (so that the checksum does not
 * stop every input at the door), with the count in the second byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fuzz_util.h"
#include "spool.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void decode_events(const kj_spool_file *f)
{
    /* the client sends them as the events array of one frame */
    uint8_t *body = malloc(f->len + 5);
    body[0] = 0xdd;
    put32(body + 1, f->count);
    memcpy(body + 5, f->events, f->len);
    kj_batch *b = NULL;
    char msg[200];
    if (kj_msgpack_decode_batch(body, f->len + 5, NULL, &b, msg, sizeof msg) == KJ_OK)
        kj_batch_free(b);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 20) return 0;
    static kj_spool *sp;
    static char dir[160];
    if (!sp) {
        snprintf(dir, sizeof dir, "%s/spool", fuzz_dir());
        kj_spool_limits lim = {.max_bytes = 1 << 24, .file_events = 1000, .file_bytes = 1 << 20};
        char msg[256];
        if (kj_spool_open(dir, &lim, &sp, msg, sizeof msg) || kj_spool_lock(sp, msg, sizeof msg))
            abort();
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%020d.kjs", dir, 42);
    FILE *out = fopen(path, "wb");
    if (!out) abort();
    if (data[0] & 1) {
        fwrite(data + 1, 1, size - 1, out);
    } else {
        uint8_t head[KJ_SPOOL_HEADER];
        memcpy(head, "KJSPOOL1", 8);
        put32(head + 8, data[1]);
        put32(head + 12, (uint32_t)(size - 2));
        put32(head + 16, kj_crc32(0, data + 2, size - 2));
        fwrite(head, 1, sizeof head, out);
        fwrite(data + 2, 1, size - 2, out);
    }
    fclose(out);

    uint64_t *seqs = NULL, events = 0;
    size_t n = 0;
    char msg[256];
    kj_spool_list(sp, &seqs, &n, NULL, msg, sizeof msg);
    free(seqs);
    kj_spool_pending(sp, &events, msg, sizeof msg);
    kj_spool_file f = {0};
    if (kj_spool_read(sp, 42, &f, msg, sizeof msg) == KJ_OK) {
        decode_events(&f);
        kj_spool_file_clear(&f);
    }
    /* a corrupt file was set aside as *.bad; start the next run clean */
    unlink(path);
    snprintf(path, sizeof path, "%s/%020d.kjs.bad", dir, 42);
    unlink(path);
    return 0;
}
