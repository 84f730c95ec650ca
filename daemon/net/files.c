/* kinerjad — static files from web_root, and nothing outside it.
 *
 * web_root is resolved once with realpath(3) at start; each request's path is
 * resolved too, and served only when the result lies under the root (the
 * prefix and the '/' after it), so "..", symlinks out of the tree and encoded
 * tricks all end in 404. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "service.h"

static const char *mime_of(const char *path)
{
    static const struct {
        const char *ext, *mime;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0) return types[i].mime;
    return "application/octet-stream";
}

/* Resolve uri under root into out; false when it is not a regular file there. */
static bool resolve(const char *root, const char *uri, char *out)
{
    char want[PATH_MAX + 32];
    size_t ulen = strlen(uri);
    if (ulen == 0 || uri[0] != '/' || ulen > PATH_MAX - strlen(root) - 16) return false;
    int n =
        snprintf(want, sizeof want, "%s%s%s", root, uri, uri[ulen - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof want) return false;
    if (!realpath(want, out)) return false;
    size_t rlen = strlen(root);
    if (strncmp(out, root, rlen) != 0 || out[rlen] != '/') return false;
    struct stat st;
    if (stat(out, &st) != 0) return false;
    if (S_ISDIR(st.st_mode)) { /* a directory: its index.html, under the same rule */
        char idx[PATH_MAX + 16];
        snprintf(idx, sizeof idx, "%s/index.html", out);
        if (!realpath(idx, out) || strncmp(out, root, rlen) != 0 || out[rlen] != '/') return false;
        if (stat(out, &st) != 0) return false;
    }
    return S_ISREG(st.st_mode);
}

int kj_files_serve(kj_server *s, struct lws *wsi, const char *uri)
{
    char path[PATH_MAX];
    if (!s->web_root[0] || !resolve(s->web_root, uri, path)) {
        kj_stats_http(&s->stats, 404);
        return lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "not found") ||
                       lws_http_transaction_completed(wsi)
                   ? -1
                   : 0;
    }
    /* Extra headers built by lws, so that they are encoded right for HTTP/1
     * and for HTTP/2 (HPACK) alike. */
    uint8_t extra[256], *p = extra, *end = extra + sizeof extra;
    if (lws_add_http_header_by_name(wsi, (const uint8_t *)"x-content-type-options:",
                                    (const uint8_t *)"nosniff", 7, &p, end) ||
        lws_add_http_header_by_name(
            wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-cache", 8, &p, end))
        return -1;
    int n = lws_serve_http_file(wsi, path, mime_of(path), (const char *)extra, (int)(p - extra));
    if (n < 0) return -1;
    kj_stats_http(&s->stats, 200);
    return 0;
}
