/* libFuzzer target: kj_json_from_msgpack (meta, the read API's JSON answers,
 * `kinerja watch`). Any msgpack value converts or is refused (NULL) quickly,
 * and the JSON text is linear in the input: maps nested as keys once made it
 * exponential. */
#include <stdlib.h>
#include <string.h>

#include "codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (kj_msgpack_unpack_body(data, size, &u, NULL, 0) == KJ_OK) {
        json_t *j = kj_json_from_msgpack(&u.data);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        /* a float (9 bytes) is at most 24 characters; a byte of a key string,
         * escaped in the key and again in the document, at most 12 */
        if (text && strlen(text) > 16 * size + 64) __builtin_trap();
        free(text);
        json_decref(j);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}
