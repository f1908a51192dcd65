/* Hashes and key derivation for the web console: SHA-1 (only for the
 * WebSocket handshake, RFC 6455 section 4.2.2, where it is not a security
 * primitive), HMAC-SHA256 (RFC 2104) and PBKDF2-HMAC-SHA256 (RFC 8018
 * section 5.2) for stored password hashes, and base64 (RFC 4648). SHA-256
 * itself is drover-tools' (src/tools/sha256.c). Plain C, no dependencies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void dv_sha1(const void *data, size_t n, uint8_t out[20]);
void dv_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);
/* PBKDF2-HMAC-SHA256 with iterations >= 1; out_len bytes into out. */
void dv_pbkdf2_sha256(const void *pass, size_t plen, const void *salt, size_t slen,
                      uint32_t iterations, uint8_t *out, size_t out_len);
/* Base64 of n bytes into out (4 * ((n + 2) / 3) + 1 bytes), NUL-terminated. */
void dv_base64(const void *data, size_t n, char *out);
/* Compare n bytes in time independent of where they differ. */
bool dv_mem_equal_ct(const void *a, const void *b, size_t n);
