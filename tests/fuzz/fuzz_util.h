/* What the fuzz targets share: the input as a file (the config loader, the
 * client's readers and the TZ database read files), in a directory of this
 * process's own, made once and reused by every run. Single-threaded, as
 * libFuzzer calls a target. */
#ifndef KJ_FUZZ_UTIL_H
#define KJ_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The directory of this process's files (created on first use). */
__attribute__((unused)) static const char *fuzz_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/kj-fuzz-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Write data to fuzz_dir()/name and return the path (a static buffer). */
__attribute__((unused)) static const char *fuzz_file(const char *name, const uint8_t *data,
                                                     size_t size)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return path;
}

#endif
