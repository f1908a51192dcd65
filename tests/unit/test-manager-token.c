/* The admin token file and its comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>

#include "token.h"

static void test_create_and_reload(void **state)
{
        char dir[] = "/tmp/test-token.XXXXXX", path[64], t1[65], t2[65];
        struct stat st;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/token", dir);
        assert_int_equal(dv_token_load_or_create(path, t1), 0);
        assert_int_equal(strlen(t1), 64);
        assert_int_equal(strspn(t1, "0123456789abcdef"), 64);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(dv_token_load_or_create(path, t2), 0);
        assert_string_equal(t1, t2); /* kept across starts */
        assert_int_equal(dv_write_file_atomic(path, "short\n", 6, 0600), 0);
        assert_int_equal(dv_token_load_or_create(path, t2), -EBADMSG);
        dv_rm_rf(dir);
}

static void test_equal(void **state)
{
        const char *t = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

        assert_true(dv_token_equal(t, t));
        assert_false(dv_token_equal(t, "0123"));
        assert_false(dv_token_equal(t, ""));
        assert_false(dv_token_equal(t, NULL));
        assert_false(dv_token_equal(t, "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
        assert_false(dv_token_equal(t, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeff"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_create_and_reload),
                cmocka_unit_test(test_equal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
