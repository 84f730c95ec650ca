/* kinerja — reading events from files (kinerja.h).
 *
 * The input is cut into elements without being parsed (a bracket and string
 * scanner for JSON, a structural walk for msgpack); up to max elements are
 * then handed to proto's codec as one array, so each event is parsed once and
 * validated by the same code as in the daemon. Only when the codec refuses a
 * whole chunk (a syntax error inside one element) are its elements decoded
 * one by one, to pin the error on the element that has it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "codec.h"
#include "kinerja.h"
#include "lib_shared.h"
#include "mpwalk.h"
#include "packet.h"

struct kj_reader {
    kj_format fmt;
    const uint8_t *data;
    size_t len, pos;
    void *map;     /* mmap'd file, or NULL */
    uint8_t *heap; /* standard input, read whole */
    uint64_t index;
    bool in_array;          /* JSON: between '[' and ']' */
    uint64_t mp_array_left; /* msgpack: elements left in the current array */
    bool failed;            /* a syntax error that ends the input */
};

typedef struct span {
    size_t start, end;
    const char *error; /* set when the element could not even be cut out */
} span;

/* ---- format --------------------------------------------------------------------- */

static size_t skip_space(const uint8_t *p, size_t len, size_t pos)
{
    if (pos == 0 && len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) pos = 3;
    while (pos < len && (p[pos] == ' ' || p[pos] == '\t' || p[pos] == '\r' || p[pos] == '\n'))
        pos++;
    return pos;
}

kj_format kj_format_detect(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t pos = skip_space(p, len, 0);
    if (pos >= len) return KJ_FORMAT_UNKNOWN;
    uint8_t c = p[pos];
    if (c == '[' || c == '{') return KJ_FORMAT_JSON;
    if ((c >= 0x80 && c <= 0x9f) || c == 0xdc || c == 0xdd || c == 0xde || c == 0xdf)
        return KJ_FORMAT_MSGPACK;
    return KJ_FORMAT_UNKNOWN;
}

/* ---- opening ---------------------------------------------------------------------- */

static kj_err read_stream(int fd, kj_reader *r, char *msg, size_t msglen)
{
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            kj_msgf(msg, msglen, "standard input: out of memory");
            return KJ_ERR_NOMEM;
        }
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
            continue;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            kj_msgf(msg, msglen, "standard input: %s", strerror(errno));
            free(buf);
            return KJ_ERR_IO;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    r->heap = buf;
    r->data = buf;
    r->len = len;
    return KJ_OK;
}

kj_err kj_reader_open(const char *path, kj_reader **out, char *msg, size_t msglen)
{
    kj_reader *r = kj_calloc(1, sizeof *r);
    kj_err err = KJ_ERR_IO;
    bool std_in = !strcmp(path, "-");
    int fd = std_in ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        kj_msgf(msg, msglen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        r->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (r->map == MAP_FAILED) {
            r->map = NULL;
            kj_msgf(msg, msglen, "%s: %s", path, strerror(errno));
            goto fail;
        }
        madvise(r->map, (size_t)st.st_size, MADV_SEQUENTIAL);
        r->data = r->map;
        r->len = (size_t)st.st_size;
    } else if (!S_ISREG(st.st_mode) && (err = read_stream(fd, r, msg, msglen))) {
        goto fail;
    }
    r->fmt = kj_format_detect(r->data, r->len);
    if (r->fmt == KJ_FORMAT_UNKNOWN) {
        kj_msgf(msg, msglen, "%s: %s", path,
                r->len ? "neither JSON (NDJSON, an array) nor msgpack" : "empty");
        err = KJ_ERR_DECODE;
        goto fail;
    }
    r->pos = skip_space(r->data, r->len, 0);
    if (!std_in) close(fd);
    *out = r;
    return KJ_OK;
fail:
    if (fd > 0) close(fd);
    kj_reader_free(r);
    return err;
}

void kj_reader_free(kj_reader *r)
{
    if (!r) return;
    if (r->map) munmap(r->map, r->len);
    free(r->heap);
    free(r);
}

kj_format kj_reader_format(const kj_reader *r)
{
    return r->fmt;
}

void kj_reader_position(const kj_reader *r, uint64_t *done, uint64_t *total)
{
    *done = r->pos;
    *total = r->heap ? 0 : r->len;
}

/* ---- cutting JSON ------------------------------------------------------------------ */

/* The end of the JSON value at pos: strings and nesting are followed, nothing
 * else is checked (jansson does that). 0 when the value never ends. */
static size_t json_value_end(const uint8_t *p, size_t len, size_t pos)
{
    int depth = 0;
    bool scalar = p[pos] != '{' && p[pos] != '[' && p[pos] != '"';
    while (pos < len) {
        uint8_t c = p[pos];
        if (scalar) {
            if (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t')
                return pos;
            pos++;
            continue;
        }
        if (c == '"') {
            for (pos++; pos < len && p[pos] != '"'; pos++)
                if (p[pos] == '\\') pos++;
            if (pos >= len) return 0;
            pos++;
            if (depth == 0) return pos;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if (c == '}' || c == ']') {
            if (--depth < 0) return 0;
            if (depth == 0) return pos + 1;
        }
        pos++;
    }
    return scalar ? pos : 0;
}

/* After a syntax error: carry on at the next line, which is where the next
 * event of NDJSON starts (an array is not worth guessing inside). */
static void json_resync(kj_reader *r)
{
    const uint8_t *nl = memchr(r->data + r->pos, '\n', r->len - r->pos);
    r->pos = nl ? (size_t)(nl - r->data) + 1 : r->len;
    r->in_array = false;
}

/* The next element, or false at the end. */
static bool json_next(kj_reader *r, span *s)
{
    const uint8_t *p = r->data;
    for (;;) {
        r->pos = skip_space(p, r->len, r->pos);
        if (r->pos >= r->len) {
            if (r->in_array) {
                *s = (span){r->pos, r->pos, "event: not valid JSON: the array never ends"};
                r->in_array = false;
                return true;
            }
            return false;
        }
        uint8_t c = p[r->pos];
        if (r->in_array && c == ']') {
            r->in_array = false;
            r->pos++;
            continue;
        }
        if (r->in_array && c == ',') {
            r->pos++;
            continue;
        }
        if (!r->in_array && c == '[') {
            r->in_array = true;
            r->pos++;
            continue;
        }
        if (!r->in_array && c == ',') { /* "{...},\n{...}": forgive the comma */
            r->pos++;
            continue;
        }
        size_t end = json_value_end(p, r->len, r->pos);
        /* end == pos: a '}' or ']' with nothing open, which would otherwise
         * be read again and again (an endless stream of errors). */
        if (!end || end == r->pos) {
            *s = (span){r->pos, r->pos, "event: not valid JSON: unbalanced brackets or quotes"};
            json_resync(r);
            return true;
        }
        *s = (span){r->pos, end, NULL};
        r->pos = end;
        return true;
    }
}

/* ---- cutting msgpack --------------------------------------------------------------- */

static bool msgpack_next(kj_reader *r, span *s)
{
    const uint8_t *p = r->data;
    while (r->mp_array_left == 0) {
        if (r->failed || r->pos >= r->len) return false;
        size_t head = kj_msgpack_array_head(p + r->pos, r->len - r->pos, &r->mp_array_left);
        if (!head) break; /* a top-level map (or anything else): it is an element */
        r->pos += head;
    }
    size_t n = r->pos < r->len ? kj_msgpack_skip(p + r->pos, r->len - r->pos) : 0;
    if (!n) {
        *s = (span){r->pos, r->pos, "event: not valid msgpack (truncated or malformed)"};
        r->failed = true; /* msgpack has no lines to resynchronise on */
        r->mp_array_left = 0;
        r->pos = r->len;
        return true;
    }
    if (r->mp_array_left) r->mp_array_left--;
    *s = (span){r->pos, r->pos + n, NULL};
    r->pos += n;
    return true;
}

/* ---- decoding ------------------------------------------------------------------------ */

static kj_err decode(const kj_reader *r, const uint8_t *buf, size_t len, size_t max, kj_batch **out)
{
    kj_validate_opts opts = kj_client_validate_opts(max);
    char msg[KJ_ERROR_MAX];
    if (r->fmt == KJ_FORMAT_JSON)
        return kj_json_decode_batch(buf, len, &opts, out, msg, sizeof msg);
    return kj_msgpack_decode_batch(buf, len, &opts, out, msg, sizeof msg);
}

/* The elements as one array: "[a,b,c]" or an array32 header and the bytes. */
static uint8_t *join(const kj_reader *r, const span *sp, size_t n, size_t *len)
{
    size_t total = 8;
    for (size_t i = 0; i < n; i++)
        total += sp[i].end - sp[i].start + 1;
    uint8_t *buf = malloc(total), *w = buf;
    if (!buf) return NULL;
    if (r->fmt == KJ_FORMAT_JSON) {
        *w++ = '[';
    } else {
        *w++ = 0xdd;
        for (int k = 3; k >= 0; k--)
            *w++ = (uint8_t)(n >> (8 * k));
    }
    for (size_t i = 0; i < n; i++) {
        if (i && r->fmt == KJ_FORMAT_JSON) *w++ = ',';
        memcpy(w, r->data + sp[i].start, sp[i].end - sp[i].start);
        w += sp[i].end - sp[i].start;
    }
    if (r->fmt == KJ_FORMAT_JSON) *w++ = ']';
    *len = (size_t)(w - buf);
    return buf;
}

static void item_error(kj_batch_item *it, const char *error)
{
    memset(it, 0, sizeof *it);
    snprintf(it->error, sizeof it->error, "%s", error);
}

/* One element alone, into item it (the slow path). */
static void decode_one(const kj_reader *r, const span *s, kj_batch_item *it)
{
    kj_batch *b = NULL;
    size_t len;
    if (s->error) {
        item_error(it, s->error);
        return;
    }
    uint8_t *buf = join(r, s, 1, &len);
    if (!buf || decode(r, buf, len, 1, &b) || b->n != 1) {
        item_error(it,
                   r->fmt == KJ_FORMAT_JSON ? "event: not valid JSON" : "event: not valid msgpack");
    } else {
        *it = b->items[0];
        b->items[0].ev.meta = NULL; /* moved into it */
        b->items[0].ev.note = NULL;
        b->items[0].ev.text = NULL;
    }
    kj_batch_free(b);
    free(buf);
}

kj_err kj_reader_next(kj_reader *r, size_t max, kj_batch **out, uint64_t *first)
{
    if (max == 0 || max > KJ_BATCH_MAX) max = KJ_BATCH_MAX;
    span *sp = kj_malloc(max * sizeof *sp);
    size_t n = 0;
    bool cut_error = false;
    while (n < max && (r->fmt == KJ_FORMAT_JSON ? json_next(r, &sp[n]) : msgpack_next(r, &sp[n])))
        cut_error |= sp[n++].error != NULL;
    if (n == 0) {
        free(sp);
        return KJ_ERR_NOT_FOUND;
    }
    kj_batch *b = NULL;
    size_t len;
    uint8_t *buf = cut_error ? NULL : join(r, sp, n, &len);
    if (!buf || decode(r, buf, len, max, &b) || b->n != n) {
        kj_batch_free(b);
        b = kj_calloc(1, sizeof *b);
        b->items = kj_calloc(n, sizeof *b->items);
        b->n = n;
        for (size_t i = 0; i < n; i++)
            decode_one(r, &sp[i], &b->items[i]);
    }
    free(buf);
    free(sp);
    *first = r->index;
    r->index += n;
    *out = b;
    return KJ_OK;
}
