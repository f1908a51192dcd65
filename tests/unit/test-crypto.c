/* SHA-1, HMAC-SHA256, PBKDF2-HMAC-SHA256 and base64 against published
 * vectors (FIPS 180 examples, RFC 4231, RFC 7914 section 11, RFC 6455's
 * handshake example, RFC 4648 section 10). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "crypto.h"

static void hexof(const uint8_t *p, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_sha1(void **state)
{
        uint8_t d[20];
        char hx[41];
        const char *million_a_prefix = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

        (void)state;
        dv_sha1("abc", 3, d);
        hexof(d, 20, hx);
        assert_string_equal(hx, "a9993e364706816aba3e25717850c26c9cd0d89d");
        dv_sha1("", 0, d);
        hexof(d, 20, hx);
        assert_string_equal(hx, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        dv_sha1(million_a_prefix, strlen(million_a_prefix), d); /* 56 bytes: two padding blocks */
        hexof(d, 20, hx);
        assert_string_equal(hx, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_ws_accept(void **state)
{
        const char *in = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        uint8_t d[20];
        char b[32];

        (void)state;
        dv_sha1(in, strlen(in), d);
        dv_base64(d, 20, b);
        assert_string_equal(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_base64(void **state)
{
        static const char *const v[][2] = { { "", "" },         { "f", "Zg==" },
                                            { "fo", "Zm8=" },   { "foo", "Zm9v" },
                                            { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
                                            { "foobar", "Zm9vYmFy" } };
        char b[16];

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                dv_base64(v[i][0], strlen(v[i][0]), b);
                assert_string_equal(b, v[i][1]);
        }
}

static void test_hmac(void **state)
{
        uint8_t key[20], d[32];
        char hx[65];

        (void)state;
        memset(key, 0x0b, sizeof(key)); /* RFC 4231 test case 1 */
        dv_hmac_sha256(key, 20, "Hi There", 8, d);
        hexof(d, 32, hx);
        assert_string_equal(hx, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_pbkdf2(void **state)
{
        uint8_t d[64];
        char hx[129];

        (void)state;
        /* RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64) */
        dv_pbkdf2_sha256("passwd", 6, "salt", 4, 1, d, 64);
        hexof(d, 64, hx);
        assert_string_equal(hx, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                                "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
        /* ("Password", "NaCl", 80000, 64) */
        dv_pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, d, 64);
        hexof(d, 64, hx);
        assert_string_equal(hx, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                                "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

static void test_ct(void **state)
{
        (void)state;
        assert_true(dv_mem_equal_ct("abc", "abc", 3));
        assert_false(dv_mem_equal_ct("abc", "abd", 3));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha1),   cmocka_unit_test(test_ws_accept),
                cmocka_unit_test(test_base64), cmocka_unit_test(test_hmac),
                cmocka_unit_test(test_pbkdf2), cmocka_unit_test(test_ct),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
