/* SHA-256 (FIPS 180-4), used by drover-tools to verify an upgrade and by
 * the agent to announce one. Plain C, no dependencies. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct dv_sha256 {
        uint32_t h[8];
        uint64_t len;        /* bytes hashed so far */
        uint8_t buf[64];
        size_t fill;         /* bytes waiting in buf */
};

void dv_sha256_init(struct dv_sha256 *c);
void dv_sha256_update(struct dv_sha256 *c, const void *data, size_t n);
void dv_sha256_final(struct dv_sha256 *c, uint8_t out[32]);
/* Lower-case hex of a digest into out (65 bytes). */
void dv_sha256_hex(const uint8_t digest[32], char out[65]);
