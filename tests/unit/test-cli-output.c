/* Unit tests: tables, key: value blocks, JSON-as-text and the progress
 * line (src/cli/output.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "output.h"

/* Runs fn(arg, f) on a memory stream and returns what it wrote. */
static char *capture(void (*fn)(const void *arg, FILE *f), const void *arg)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        fn(arg, f);
        fclose(f);
        return buf;
}

static void print_table(const void *t, FILE *f)
{
        cli_table_print(t, f);
}

static void test_table(void **state)
{
        const char *headers[] = { "NAME", "STATE", "MESSAGE" };
        struct cli_table *t = cli_table_new(3, headers);
        char *out;

        cli_table_add(t, "%s", "web1");
        cli_table_add(t, "%s", "running");
        cli_table_add(t, "%s", "ok");
        cli_table_add(t, "%s", "a-much-longer-name");
        cli_table_add(t, "%s", "");           /* empty prints as "-" */
        cli_table_add(t, "%d%%", 50);
        out = capture(print_table, t);
        assert_string_equal(out,
                            "NAME                STATE    MESSAGE\n"
                            "web1                running  ok\n"
                            "a-much-longer-name  -        50%\n");
        free(out);
        cli_table_free(t);
        cli_table_free(NULL);
}

static void test_table_utf8_and_partial_row(void **state)
{
        const char *headers[] = { "A", "B" };
        struct cli_table *t = cli_table_new(2, headers);
        char *out;

        cli_table_add(t, "%s", "héllo"); /* 5 characters, 6 bytes */
        cli_table_add(t, "x");
        cli_table_add(t, "abcdef");
        out = capture(print_table, t);
        assert_string_equal(out, "A       B\nhéllo   x\nabcdef\n");
        free(out);
        cli_table_free(t);
        assert_int_equal(cli_text_width("héllo"), 5);
        assert_int_equal(cli_text_width(""), 0);
}

static void test_kv(void **state)
{
        struct cli_table *t = cli_table_new(2, NULL);
        json_t *vm = json_pack("{s:s,s:i,s:n,s:{s:s},s:b}", "name", "web1", "memory_mib", 1024,
                               "vnc", "tools", "state", "running", "ha", 1);
        char *out;

        cli_table_kvj(t, "name", vm, "name", NULL);
        cli_table_kvj(t, "memory", vm, "memory_mib", "MiB");
        cli_table_kvj(t, "vnc", vm, "vnc", "ignored");      /* null: no unit */
        cli_table_kvj(t, "pid", vm, "pid", "ignored");      /* missing: no unit */
        cli_table_kvj(t, "tools", vm, "tools.state", NULL);
        cli_table_kvj(t, "ha", vm, "ha", NULL);
        cli_table_kv(t, "disks", "%s", "disk0");
        cli_table_kv(t, "", "%s", "disk1");
        out = capture(print_table, t);
        assert_string_equal(out,
                            "name:    web1\n"
                            "memory:  1024 MiB\n"
                            "vnc:     -\n"
                            "pid:     -\n"
                            "tools:   running\n"
                            "ha:      yes\n"
                            "disks:   disk0\n"
                            "         disk1\n");
        free(out);
        cli_table_free(t);
        json_decref(vm);
}

static void test_jtext(void **state)
{
        json_t *o = json_pack("{s:s,s:I,s:f,s:b,s:b,s:n,s:[i,i],s:{s:{s:s}}}", "s", "str", "i",
                              (json_int_t)1234567890123, "r", 12.46, "t", 1, "f", 0, "n", "a", 1,
                              2, "deep", "x", "y", "z");
        char buf[64], tiny[8];

        assert_string_equal(cli_jtext(json_object_get(o, "s"), buf, sizeof(buf)), "str");
        assert_string_equal(cli_jtext(json_object_get(o, "i"), buf, sizeof(buf)),
                            "1234567890123");
        assert_string_equal(cli_jtext(json_object_get(o, "r"), buf, sizeof(buf)), "12.5");
        assert_string_equal(cli_jtext(json_object_get(o, "t"), buf, sizeof(buf)), "yes");
        assert_string_equal(cli_jtext(json_object_get(o, "f"), buf, sizeof(buf)), "no");
        assert_string_equal(cli_jtext(json_object_get(o, "n"), buf, sizeof(buf)), "-");
        assert_string_equal(cli_jtext(NULL, buf, sizeof(buf)), "-");
        assert_string_equal(cli_jtext(json_object_get(o, "a"), buf, sizeof(buf)), "[1,2]");
        assert_string_equal(cli_jtext(json_object_get(o, "deep"), tiny, sizeof(tiny)),
                            "{\"x\"...");
        assert_string_equal(cli_jtext(cli_jpath(o, "deep.x.y"), buf, sizeof(buf)), "z");
        assert_null(cli_jpath(o, "deep.x.y.z"));
        assert_null(cli_jpath(o, "nope.x"));
        assert_null(cli_jpath(NULL, "a"));
        assert_ptr_equal(cli_jpath(o, ""), o);
        json_decref(o);
}

static const char *fmt_upper(json_t *item, char *buf, size_t len)
{
        snprintf(buf, len, "<%s>", json_string_value(json_object_get(item, "name")));
        return buf;
}

static void print_rows(const void *items, FILE *f)
{
        static const struct cli_column cols[] = {
                { "NAME", "name", NULL },
                { "TOOLS", "tools.state", NULL },
                { "TARGET", NULL, cli_fmt_target },
                { "SIZE", NULL, cli_fmt_size },
                { "X", NULL, fmt_upper },
                { NULL },
        };
        cli_print_rows((json_t *)items, cols, f);
}

static void test_rows(void **state)
{
        json_t *items = json_pack(
                "[{s:s,s:{s:s},s:{s:s,s:s},s:I},{s:s,s:s},{s:s,s:{s:s,s:s}}]",
                "name", "a", "tools", "state", "running", "target", "kind", "vm", "name", "web1",
                "size_bytes", (json_int_t)3 * 1024 * 1024 * 1024,
                "name", "b", "target", "free text",
                "name", "c", "target", "kind", "host", "id", "h-1");
        char *out = capture(print_rows, items);

        assert_string_equal(out,
                            "NAME  TOOLS    TARGET     SIZE     X\n"
                            "a     running  vm web1    3.0 GiB  <a>\n"
                            "b     -        free text  -        <b>\n"
                            "c     -        host h-1   -        <c>\n");
        free(out);
        json_decref(items);
}

static void test_progress(void **state)
{
        char buf[256];

        cli_progress_line(buf, sizeof(buf), 80, 0, "vm.start web1: queued");
        assert_string_equal(buf, "[>                   ]   0% vm.start web1: queued");
        cli_progress_line(buf, sizeof(buf), 80, 45, "x");
        assert_string_equal(buf, "[=========>          ]  45% x");
        cli_progress_line(buf, sizeof(buf), 80, 100, NULL);
        assert_string_equal(buf, "[====================] 100% ");
        cli_progress_line(buf, sizeof(buf), 80, 250, "");
        assert_string_equal(buf, "[====================] 100% ");
        cli_progress_line(buf, sizeof(buf), 80, -3, "");
        assert_string_equal(buf, "[>                   ]   0% ");
        /* Cut to width - 1 characters, never inside a UTF-8 sequence. */
        cli_progress_line(buf, sizeof(buf), 32, 50, "abcdéfgh");
        assert_int_equal(cli_text_width(buf), 31);
        assert_string_equal(buf, "[==========>         ]  50% abc");
        cli_progress_line(buf, sizeof(buf), 33, 50, "abcdéfgh");
        assert_string_equal(buf, "[==========>         ]  50% abcd");
        cli_progress_line(buf, sizeof(buf), 34, 50, "abcdéfgh");
        assert_string_equal(buf, "[==========>         ]  50% abcdé");
        /* Tiny terminals still get the bar. */
        cli_progress_line(buf, sizeof(buf), 5, 50, "abc");
        assert_string_equal(buf, "[==========>       ");
        /* A small buffer is never overrun. */
        cli_progress_line(buf, 10, 80, 50, "abc");
        assert_string_equal(buf, "[========");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_table_utf8_and_partial_row),
                cmocka_unit_test(test_kv),
                cmocka_unit_test(test_jtext),
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_progress),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
