/* VM lease files (src/agent/lease.c): content, parser, takeable, I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease.h"

static void test_roundtrip(void **state)
{
        struct dv_lease l = { .holder = "host1", .generation = 7, .expiry_wall_ms = 5000,
                              .renewed_wall_ms = 1000 }, back;
        char *text = dv_lease_content("vm-1", &l);

        (void)state;
        assert_non_null(text);
        assert_string_equal(text, "{\"vm\":\"vm-1\",\"holder\":\"host1\",\"generation\":7,"
                                  "\"expiry_wall_ms\":5000,\"renewed_wall_ms\":1000}\n");
        assert_int_equal(dv_lease_parse(text, &back), 0);
        assert_string_equal(back.holder, "host1");
        assert_int_equal(back.generation, 7);
        assert_int_equal(back.expiry_wall_ms, 5000);
        assert_int_equal(back.renewed_wall_ms, 1000);
        free(text);
}

static void test_parse_bad(void **state)
{
        struct dv_lease l = { .holder = "x" };

        (void)state;
        assert_int_equal(dv_lease_parse("", &l), -EBADMSG);
        assert_int_equal(dv_lease_parse("{\"holder\":\"h\"}", &l), -EBADMSG);
        assert_int_equal(dv_lease_parse("{\"holder\":1,\"generation\":1,\"expiry_wall_ms\":1,"
                                        "\"renewed_wall_ms\":1}", &l),
                         -EBADMSG);
        assert_int_equal(dv_lease_parse("{\"holder\":\"h\",\"generation\":-1,"
                                        "\"expiry_wall_ms\":1,\"renewed_wall_ms\":1}", &l),
                         -EBADMSG);
        assert_string_equal(l.holder, "x"); /* untouched on error */
}

static void test_takeable(void **state)
{
        struct dv_lease l = { .holder = "host1", .expiry_wall_ms = 1000 };
        struct dv_lease released = { .holder = "", .expiry_wall_ms = 1000 };

        (void)state;
        assert_true(dv_lease_takeable(&l, "host1", 500));   /* its own */
        assert_false(dv_lease_takeable(&l, "host2", 999));  /* held, not expired */
        assert_true(dv_lease_takeable(&l, "host2", 1000));  /* expired */
        assert_true(dv_lease_takeable(&released, "host2", 0));
}

static void test_file(void **state)
{
        char dir[] = "/tmp/test-lease.XXXXXX";
        struct dv_lease l = { .holder = "h", .generation = 1, .expiry_wall_ms = 2,
                              .renewed_wall_ms = 1 }, back;
        char *path, *sub;

        (void)state;
        assert_non_null(mkdtemp(dir));
        path = dv_lease_path(dir, "vm-1");
        assert_int_equal(dv_lease_read(path, &back), -ENOENT);
        assert_int_equal(dv_lease_write(path, "vm-1", &l), 0); /* creates .drover-lease/ */
        assert_int_equal(dv_lease_read(path, &back), 0);
        assert_int_equal(back.generation, 1);
        assert_int_equal(unlink(path), 0);
        sub = dv_asprintf("%s/%s", dir, DV_LEASE_DIR);
        assert_int_equal(rmdir(sub), 0);
        assert_int_equal(rmdir(dir), 0);
        free(sub);
        free(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_takeable),
                cmocka_unit_test(test_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
