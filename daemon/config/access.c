#include "access.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The supervisor's event types of SPEC §16, by wire name: the rule holds for a
 * type another module adds (assessment) without this file knowing its enum. */
static bool supervisor_type(kj_event_type t)
{
    const char *name = kj_event_type_name(t);
    return !strcmp(name, "feedback") || !strcmp(name, "assessment") || !strcmp(name, "ack");
}

bool kj_access_may_post_type(const kj_token *tok, kj_event_type t)
{
    if (!tok) return true; /* auth off */
    switch (tok->role) {
    case KJ_ROLE_ADMIN: return true;
    case KJ_ROLE_INGEST: return !supervisor_type(t);
    case KJ_ROLE_SUPERVISOR: return supervisor_type(t);
    case KJ_ROLE_VIEWER: return false;
    }
    return false;
}

/* The whole request is refused (403) for a type the role may not post, as for
 * a unit it may not post for: a token sending the wrong kind of event is
 * misconfigured, not one bad event among good ones. */
static bool item_allowed(const kj_token *tok, const kj_batch_item *it, size_t i, char *msg,
                         size_t msglen)
{
    if (tok && !kj_token_allows_unit(tok, it->ev.unit)) {
        snprintf(msg, msglen, "token %s may not post for unit %s (event %zu)", tok->name,
                 it->ev.unit, i);
        return false;
    }
    if (!kj_access_may_post_type(tok, it->ev.type)) {
        snprintf(msg, msglen, "token %s may not post %s events (role %s, event %zu)", tok->name,
                 kj_event_type_name(it->ev.type), kj_role_name(tok->role), i);
        return false;
    }
    return true;
}

bool kj_access_check_batch(const kj_config *cfg, const kj_token *tok, kj_batch *b, char *msg,
                           size_t msglen)
{
    for (size_t i = 0; i < b->n; i++) {
        kj_batch_item *it = &b->items[i];
        if (it->error[0]) continue;
        if (!item_allowed(tok, it, i, msg, msglen)) return false;
        if (!cfg->strict_directory) continue;
        const kj_unit_conf *u = kj_config_unit(cfg, it->ev.unit);
        if (!u)
            snprintf(it->error, sizeof it->error, "unit: unknown unit %s", it->ev.unit);
        else if (it->ev.employee[0] && !kj_config_unit_has_member(u, it->ev.employee))
            snprintf(it->error, sizeof it->error, "employee: not a member of %s", u->id);
        else if (it->ev.counter[0] && !kj_config_unit_has_counter(u, it->ev.counter))
            snprintf(it->error, sizeof it->error, "counter: not a counter of %s", u->id);
    }
    return true;
}

const kj_token *kj_access_bearer(const kj_config *cfg, const char *header, size_t len)
{
    if (len <= 7 || strncasecmp(header, "Bearer ", 7) != 0) return NULL;
    return kj_access_token(cfg, header + 7, len - 7);
}

/* ---- tokens: SHA-256 (FIPS 180-4) and a constant-time match ----
 *
 * Debian's libwebsockets 4.1 is built without LWS_WITH_GENCRYPTO, so
 * lws_genhash_* is declared but not exported; and libcrypto is not among our
 * link dependencies. A token check needs only this one hash, so it lives here,
 * where tokens are checked. */

struct sha256 {
    uint32_t h[8];
    uint8_t block[64];
    size_t used;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
    return x >> n | x << (32 - n);
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], s[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(s, h, sizeof s);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = s[7] + (ror(s[4], 6) ^ ror(s[4], 11) ^ ror(s[4], 25)) +
                      ((s[4] & s[5]) ^ (~s[4] & s[6])) + sha256_k[i] + w[i];
        uint32_t t2 = (ror(s[0], 2) ^ ror(s[0], 13) ^ ror(s[0], 22)) +
                      ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        memmove(s + 1, s, 7 * sizeof s[0]);
        s[4] += t1;
        s[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += s[i];
}

static void sha256_update(struct sha256 *ctx, const uint8_t *p, size_t n)
{
    while (n) {
        size_t take = 64 - ctx->used < n ? 64 - ctx->used : n;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        n -= take;
        if (ctx->used == 64) {
            sha256_block(ctx->h, ctx->block);
            ctx->used = 0;
        }
    }
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    struct sha256 ctx = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                          0x1f83d9ab, 0x5be0cd19}};
    uint8_t pad[72] = {0x80};
    uint64_t bits = (uint64_t)len * 8;
    sha256_update(&ctx, data, len);
    size_t padlen = (ctx.used < 56 ? 56 : 120) - ctx.used;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(&ctx, pad, padlen + 8);
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(ctx.h[i / 4] >> (24 - 8 * (i % 4)));
    explicit_bzero(&ctx, sizeof ctx);
}

const kj_token *kj_access_token(const kj_config *c, const char *secret, size_t len)
{
    uint8_t digest[32];
    size_t found = 0;
    unsigned have = 0;
    if (!c || !secret || !len) return NULL;
    sha256(secret, len, digest);
    /* Every token is compared in full, whatever matched before: the time taken
     * says nothing about how close a guess came. */
    for (size_t i = 0; i < c->n_tokens; i++) {
        unsigned diff = 0;
        for (int k = 0; k < 32; k++)
            diff |= digest[k] ^ c->tokens[i].sha256[k];
        unsigned match = ((diff - 1) >> 8) & 1 & ~have; /* 1 iff diff == 0 and none yet */
        size_t mask = (size_t)0 - match;
        found = (found & ~mask) | (i & mask);
        have |= match;
    }
    explicit_bzero(digest, sizeof digest);
    return have ? &c->tokens[found] : NULL;
}
