/* Unit tests: the CLI's option parser (src/cli/args.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "args.h"

static const struct cli_opt verb_opts[] = {
        { "cpus", 0, "N", "" },
        { "disk", 0, "GIB", "" },
        { "force", 0, NULL, "" },
        { "timeout", 0, "S", "verb's own" },
        { NULL },
};
static const struct cli_opt wait_opts[] = {
        { "no-wait", 0, NULL, "" },
        { "timeout", 0, "S", "shadowed" },
        { NULL },
};
static const struct cli_opt global_opts[] = {
        { "output", 'o', "FORMAT", "" },
        { "help", 'h', NULL, "" },
        { NULL },
};
static const struct cli_opt *const tables[] = { verb_opts, wait_opts, global_opts, NULL };

#define PARSE(stop, ...)                                                            \
        ({                                                                          \
                char *argv_[] = { __VA_ARGS__ };                                    \
                r = cli_args_parse((int)ELEMENTSOF(argv_), argv_, tables, (stop), &a, err, \
                                   sizeof(err));                                    \
        })

static void test_mixed(void **state)
{
        struct cli_args a;
        char err[128] = "";
        size_t it = 0;
        int r;

        PARSE(false, "web1", "--cpus", "2", "--disk=10", "-o", "json", "--disk", "20@ds",
              "--force", "extra");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_pos, 2);
        assert_string_equal(a.pos[0], "web1");
        assert_string_equal(a.pos[1], "extra");
        assert_string_equal(cli_args_get(&a, "cpus"), "2");
        assert_string_equal(cli_args_get(&a, "output"), "json");
        assert_string_equal(cli_args_get(&a, "force"), "");
        assert_true(cli_args_has(&a, "force"));
        assert_false(cli_args_has(&a, "no-wait"));
        assert_null(cli_args_get(&a, "timeout"));
        assert_string_equal(cli_args_next(&a, "disk", &it), "10");
        assert_string_equal(cli_args_next(&a, "disk", &it), "20@ds");
        assert_null(cli_args_next(&a, "disk", &it));
        cli_args_done(&a);
}

static void test_short_and_last_wins(void **state)
{
        struct cli_args a;
        char err[128] = "";
        int r;

        PARSE(false, "-ojson", "--cpus", "1", "--cpus", "3", "-h");
        assert_int_equal(r, 0);
        assert_string_equal(cli_args_get(&a, "output"), "json");
        assert_string_equal(cli_args_get(&a, "cpus"), "3");
        assert_true(cli_args_has(&a, "help"));
        assert_int_equal(a.n_pos, 0);
        cli_args_done(&a);
}

static void test_double_dash_and_dash(void **state)
{
        struct cli_args a;
        char err[128] = "";
        int r;

        PARSE(false, "-", "--", "--force", "-o");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_pos, 3);
        assert_string_equal(a.pos[0], "-");
        assert_string_equal(a.pos[1], "--force");
        assert_string_equal(a.pos[2], "-o");
        assert_false(cli_args_has(&a, "force"));
        cli_args_done(&a);
}

static void test_shadowing(void **state)
{
        struct cli_args a;
        char err[128] = "";
        int r;

        PARSE(false, "--timeout", "5");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_vals, 1);
        assert_ptr_equal(a.vals[0].opt, &verb_opts[3]);
        assert_ptr_equal(cli_opt_find(tables, "timeout"), &verb_opts[3]);
        assert_ptr_equal(cli_opt_find(tables, "no-wait"), &wait_opts[0]);
        assert_null(cli_opt_find(tables, "nope"));
        cli_args_done(&a);
}

static void test_errors(void **state)
{
        struct cli_args a;
        char err[128] = "";
        int r;

        PARSE(false, "--bogus", "x", "-o", "json");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "unknown option '--bogus'");
        /* What follows the mistake is still parsed. */
        assert_string_equal(cli_args_get(&a, "output"), "json");
        cli_args_done(&a);

        PARSE(false, "--bogus=1");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "unknown option '--bogus'");
        cli_args_done(&a);

        PARSE(false, "-x");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "unknown option '-x'");
        cli_args_done(&a);

        PARSE(false, "--force=yes");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "option '--force' takes no value");
        cli_args_done(&a);

        PARSE(false, "-hx");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "option '-h' takes no value");
        cli_args_done(&a);

        PARSE(false, "web1", "--cpus");
        assert_int_equal(r, -EINVAL);
        assert_string_equal(err, "option '--cpus' needs a value (N)");
        cli_args_done(&a);

        /* The first mistake is the one reported. */
        PARSE(false, "--a", "--b");
        assert_string_equal(err, "unknown option '--a'");
        cli_args_done(&a);
}

static void test_stop_at_positional(void **state)
{
        struct cli_args a;
        char err[128] = "";
        int r;

        PARSE(true, "-o", "json", "vm", "list", "--force");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_used, 2);
        assert_int_equal(a.n_pos, 0);
        assert_string_equal(cli_args_get(&a, "output"), "json");
        cli_args_done(&a);

        PARSE(true, "--", "vm");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_used, 1);
        cli_args_done(&a);

        PARSE(true, "-h");
        assert_int_equal(r, 0);
        assert_int_equal(a.n_used, 1);
        cli_args_done(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mixed),
                cmocka_unit_test(test_short_and_last_wins),
                cmocka_unit_test(test_double_dash_and_dash),
                cmocka_unit_test(test_shadowing),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_stop_at_positional),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
