/* Tools, manager side: the VMSTATUS "tools" check and the SPEC's Tools
 * net configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "vm-ops.h"
#include "vm-tools.h"

static int check_tools(const char *text, char *code)
{
        json_t *t = json_loads(text, 0, NULL);
        struct dv_error err = { 0 };
        int r;

        assert_non_null(t);
        r = dv_validate_vm_tools_status(t, &err);
        if (code)
                snprintf(code, 32, "%.31s", err.code);
        json_decref(t);
        return r;
}

static void test_status(void **state)
{
        char code[32];

        assert_int_equal(dv_validate_vm_tools_status(NULL, NULL), 0);
        assert_int_equal(check_tools("{\"state\":\"running\",\"version\":\"0.1.0\"}", NULL), 0);
        assert_int_equal(check_tools("{\"state\":\"not-running\",\"version\":null,"
                                     "\"reason\":\"no heartbeat for 10 s\"}", NULL), 0);
        assert_int_equal(check_tools("{\"state\":\"not-installed\"}", NULL), 0);
        assert_true(check_tools("{\"state\":\"dancing\"}", code) < 0);
        assert_string_equal(code, "invalid-field");
        assert_true(check_tools("{\"version\":\"1\"}", code) < 0);
        assert_true(check_tools("{\"state\":\"running\",\"extra\":1}", code) < 0);
        assert_string_equal(code, "unknown-field");
        assert_true(check_tools("{\"state\":\"running\",\"version\":7}", code) < 0);
        assert_true(check_tools("[1]", code) < 0);
        {
                char big[400];
                char text[600];

                memset(big, 'a', sizeof(big) - 1);
                big[sizeof(big) - 1] = 0;
                snprintf(text, sizeof(text), "{\"state\":\"not-running\",\"reason\":\"%s\"}", big);
                assert_true(check_tools(text, code) < 0);
                assert_string_equal(code, "out-of-range");
        }
}

static void test_spec(void **state)
{
        json_t *vm = json_loads(
                "{\"id\":\"v1\",\"name\":\"web\",\"uid\":100001,\"cpus\":1,\"memory_mib\":128,"
                "\"nics\":["
                "{\"name\":\"nic0\",\"portgroup\":\"pg\",\"mac\":\"52:54:00:00:00:01\","
                " \"ip\":\"10.0.0.5\",\"prefix\":24,\"gateway\":\"10.0.0.1\"},"
                "{\"name\":\"nic1\",\"portgroup\":\"pg\",\"mac\":\"52:54:00:00:00:02\"},"
                "{\"name\":\"nic2\",\"portgroup\":\"gone\",\"mac\":\"52:54:00:00:00:03\","
                " \"ip\":\"10.0.1.5\",\"prefix\":24},"
                "{\"name\":\"nic3\",\"portgroup\":\"pg\",\"mac\":\"52:54:00:00:00:04\","
                " \"ip\":\"10.0.2.5\",\"prefix\":16}]}",
                0, NULL);
        json_t *nets = json_loads("{\"pg\":{\"vlan\":10,\"bridge\":\"dvs-lan\"}}", 0, NULL);
        json_t *want = json_loads(
                "{\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"10.0.0.5\",\"prefix\":24,"
                "\"gateway\":\"10.0.0.1\"},"
                "{\"mac\":\"52:54:00:00:00:04\",\"ip\":\"10.0.2.5\",\"prefix\":16}]}",
                0, NULL);
        json_t *tools, *spec;

        /* NICs with an address on a bridge only: the NICs the guest has. */
        tools = dv_vm_tools_spec(vm, nets);
        assert_non_null(tools);
        if (!json_equal(tools, want))
                fail_msg("unexpected tools %s", json_dumps(tools, JSON_SORT_KEYS));
        spec = dv_vm_spec_new(vm, NULL, nets);
        assert_true(json_equal(json_object_get(spec, "tools"), want));
        json_decref(spec);
        json_decref(tools);
        /* No bridge at all (no DVS): nothing for Tools. */
        assert_null(dv_vm_tools_spec(vm, NULL));
        spec = dv_vm_spec_new(vm, NULL, NULL);
        assert_null(json_object_get(spec, "tools"));
        json_decref(spec);
        json_decref(want);
        json_decref(nets);
        json_decref(vm);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status),
                cmocka_unit_test(test_spec),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
