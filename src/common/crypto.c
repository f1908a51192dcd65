#include "crypto.h"

#include <string.h>

#include "../tools/sha256.h"

#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

/* SHA-1, FIPS 180-4 section 6.1. */
static void sha1_block(uint32_t h[5], const uint8_t *p)
{
        uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f, k, t;

        for (int i = 0; i < 16; i++)
                w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
                       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
        for (int i = 16; i < 80; i++)
                w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        for (int i = 0; i < 80; i++) {
                if (i < 20) {
                        f = (b & c) | (~b & d);
                        k = 0x5a827999;
                } else if (i < 40) {
                        f = b ^ c ^ d;
                        k = 0x6ed9eba1;
                } else if (i < 60) {
                        f = (b & c) | (b & d) | (c & d);
                        k = 0x8f1bbcdc;
                } else {
                        f = b ^ c ^ d;
                        k = 0xca62c1d6;
                }
                t = ROL(a, 5) + f + e + k + w[i];
                e = d;
                d = c;
                c = ROL(b, 30);
                b = a;
                a = t;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

void dv_sha1(const void *data, size_t n, uint8_t out[20])
{
        uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
        const uint8_t *p = data;
        uint8_t last[128] = { 0 };
        uint64_t bits = (uint64_t)n * 8;
        size_t rest, tail;

        for (rest = n; rest >= 64; rest -= 64, p += 64)
                sha1_block(h, p);
        memcpy(last, p, rest);
        last[rest] = 0x80;
        tail = rest + 1 + 8 <= 64 ? 64 : 128;
        for (int i = 0; i < 8; i++)
                last[tail - 1 - i] = (uint8_t)(bits >> (8 * i));
        sha1_block(h, last);
        if (tail == 128)
                sha1_block(h, last + 64);
        for (int i = 0; i < 5; i++)
                for (int j = 0; j < 4; j++)
                        out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

/* HMAC (RFC 2104) with the inner and outer states kept, so that PBKDF2's
 * iterations cost two compressions each. */
struct hmac {
        struct dv_sha256 inner, outer;
};

static void hmac_init(struct hmac *h, const void *key, size_t klen)
{
        uint8_t k[64] = { 0 }, pad[64];

        if (klen > 64) {
                struct dv_sha256 c;
                dv_sha256_init(&c);
                dv_sha256_update(&c, key, klen);
                dv_sha256_final(&c, k);
        } else {
                memcpy(k, key, klen);
        }
        for (int i = 0; i < 64; i++)
                pad[i] = k[i] ^ 0x36;
        dv_sha256_init(&h->inner);
        dv_sha256_update(&h->inner, pad, 64);
        for (int i = 0; i < 64; i++)
                pad[i] = k[i] ^ 0x5c;
        dv_sha256_init(&h->outer);
        dv_sha256_update(&h->outer, pad, 64);
        memset(k, 0, sizeof(k));
}

static void hmac_run(const struct hmac *h, const void *m1, size_t n1, const void *m2, size_t n2,
                     uint8_t out[32])
{
        struct dv_sha256 c = h->inner;
        uint8_t ih[32];

        dv_sha256_update(&c, m1, n1);
        if (n2)
                dv_sha256_update(&c, m2, n2);
        dv_sha256_final(&c, ih);
        c = h->outer;
        dv_sha256_update(&c, ih, 32);
        dv_sha256_final(&c, out);
}

void dv_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
        struct hmac h;

        hmac_init(&h, key, klen);
        hmac_run(&h, msg, mlen, NULL, 0, out);
}

void dv_pbkdf2_sha256(const void *pass, size_t plen, const void *salt, size_t slen,
                      uint32_t iterations, uint8_t *out, size_t out_len)
{
        struct hmac h;
        uint8_t u[32], t[32], ctr[4];

        hmac_init(&h, pass, plen);
        for (uint32_t block = 1; out_len > 0; block++) {
                size_t take = out_len < 32 ? out_len : 32;

                ctr[0] = (uint8_t)(block >> 24);
                ctr[1] = (uint8_t)(block >> 16);
                ctr[2] = (uint8_t)(block >> 8);
                ctr[3] = (uint8_t)block;
                hmac_run(&h, salt, slen, ctr, 4, u);
                memcpy(t, u, 32);
                for (uint32_t i = 1; i < iterations; i++) {
                        hmac_run(&h, u, 32, NULL, 0, u);
                        for (int j = 0; j < 32; j++)
                                t[j] ^= u[j];
                }
                memcpy(out, t, take);
                out += take;
                out_len -= take;
        }
        memset(&h, 0, sizeof(h));
}

void dv_base64(const void *data, size_t n, char *out)
{
        static const char tab[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const uint8_t *p = data;
        size_t i;

        for (i = 0; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
                *out++ = tab[v >> 18];
                *out++ = tab[(v >> 12) & 63];
                *out++ = tab[(v >> 6) & 63];
                *out++ = tab[v & 63];
        }
        if (i < n) {
                uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
                *out++ = tab[v >> 18];
                *out++ = tab[(v >> 12) & 63];
                *out++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *out++ = '=';
        }
        *out = 0;
}

bool dv_mem_equal_ct(const void *a, const void *b, size_t n)
{
        const volatile uint8_t *x = a, *y = b;
        uint8_t d = 0;

        for (size_t i = 0; i < n; i++)
                d |= x[i] ^ y[i];
        return d == 0;
}
