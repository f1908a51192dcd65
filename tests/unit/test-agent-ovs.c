/* ovs.c against a fake ovs-vsctl: the command lines it runs and how it
 * reads `ovs-vsctl --format=json list` output (recorded in data/ovs/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "agent.h"
#include "ovs.h"

#ifndef OVS_DATA_DIR
#define OVS_DATA_DIR "tests/unit/data/ovs"
#endif

/* The fake: records every command line (joined by spaces, without the
 * fixed "ovs-vsctl --db=... --timeout=..." head) and answers list
 * commands from the recorded files. */
struct fake {
        json_t *calls;      /* array of strings */
        const char *fail;   /* fail a command containing this */
        const char *ports;  /* the Port table's file (default ports.json) */
};

static char *data(const char *name)
{
        char *path = dv_asprintf("%s/%s", OVS_DATA_DIR, name), *text = NULL;

        assert_int_equal(dv_read_file(path, 1 << 20, &text, NULL), 0);
        free(path);
        return text;
}

static int fake_run(void *userdata, const char *const *argv, int timeout_ms, char **ret_out,
                    struct dv_error *err)
{
        struct fake *f = userdata;
        char *line = dv_strdup("");
        const char *table = NULL;

        assert_string_equal(argv[0], "ovs-vsctl");
        assert_string_equal(argv[1], "--db=unix:/run/test/db.sock");
        assert_true(dv_startswith(argv[2], "--timeout="));
        for (size_t i = 3; argv[i]; i++) {
                char *n = dv_asprintf("%s%s%s", line, *line ? " " : "", argv[i]);
                free(line);
                line = n;
                if (i > 3 && strcmp(argv[i - 1], "list") == 0)
                        table = argv[i];
        }
        json_array_append_new(f->calls, json_string(line));
        if (f->fail && strstr(line, f->fail)) {
                free(line);
                return dv_error_set(err, 500, "ovs-error", "ovs-vsctl: injected failure");
        }
        free(line);
        if (ret_out) {
                if (dv_streq(table, "Bridge"))
                        *ret_out = data("bridges.json");
                else if (dv_streq(table, "Port"))
                        *ret_out = data(f->ports ? f->ports : "ports.json");
                else if (dv_streq(table, "Interface"))
                        *ret_out = data("interfaces.json");
                else
                        *ret_out = dv_strdup("");
        }
        return 0;
}

static struct dv_ovs ovs;
static struct fake fake;

static int setup(void **state)
{
        dv_ovs_init(&ovs, "unix:/run/test/db.sock", "netdev");
        fake = (struct fake){ .calls = json_array() };
        ovs.run = fake_run;
        ovs.run_userdata = &fake;
        return 0;
}

static int teardown(void **state)
{
        dv_ovs_done(&ovs);
        json_decref(fake.calls);
        return 0;
}

static const char *call(size_t i)
{
        return json_string_value(json_array_get(fake.calls, i));
}

static void test_parse_list(void **state)
{
        struct dv_error err = { 0 };
        json_t *rows = NULL;
        char *text = data("ports.json");

        assert_int_equal(dv_ovs_parse_list(text, &rows, &err), 0);
        assert_int_equal(json_array_size(rows), 4);
        /* uuid -> string, map -> object, empty set -> [], a tag atom stays */
        assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "_uuid")),
                            "u-up");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_array_get(rows, 0), "external_ids"),
                                    "drover-uplink")),
                            "dvs-lan");
        assert_true(json_is_array(json_object_get(json_array_get(rows, 0), "tag")));
        assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 2), "tag")), 100);
        json_decref(rows);
        free(text);
        assert_true(dv_ovs_parse_list("not json", &rows, &err) < 0);
        assert_string_equal(err.code, "ovs-error");
}

static void test_ensure(void **state)
{
        struct dv_error err = { 0 };

        /* "lo" exists in every namespace; it stands in for an uplink (the
         * fake runs nothing, and lo is already up). */
        assert_int_equal(dv_ovs_bridge_ensure(&ovs, "lan", "dvs-lan", "lo", &err), 0);
        assert_int_equal(json_array_size(fake.calls), 3); /* list Bridge, list Port, the change */
        assert_string_equal(
                call(2),
                "-- --may-exist add-br dvs-lan -- set Bridge dvs-lan datapath_type=netdev "
                "external_ids:drover-dvs=\"lan\" -- --if-exists del-port up-h1 "
                "-- --may-exist add-port dvs-lan lo -- set Port lo vlan_mode=trunk "
                "external_ids:drover-uplink=\"dvs-lan\" -- clear Port lo tag trunks");
        /* No such interface here. */
        assert_true(dv_ovs_bridge_ensure(&ovs, "lan", "dvs-lan", "nope-x9", &err) < 0);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "invalid-uplink");
        /* A bridge of that name that is not this DVS's. */
        assert_true(dv_ovs_bridge_ensure(&ovs, "ext", "br-ext", "lo", &err) < 0);
        assert_string_equal(err.code, "not-ours");
        /* System datapath on real hosts. */
        free(ovs.datapath);
        ovs.datapath = dv_strdup("system");
        json_array_clear(fake.calls);
        assert_int_equal(dv_ovs_bridge_ensure(&ovs, "new", "dvs-new", "lo", &err), 0);
        assert_non_null(strstr(call(2), "datapath_type=system"));
        assert_null(strstr(call(2), "del-port")); /* no former uplink of dvs-new */
}

static void test_ensure_uplink_taken(void **state)
{
        struct dv_error err = { 0 };

        /* Here "lo" is a port of br-ext (a bridge that is not drover's). */
        fake.ports = "ports-lo-taken.json";
        assert_true(dv_ovs_bridge_ensure(&ovs, "dmz", "dvs-dmz", "lo", &err) < 0);
        assert_string_equal(err.code, "in-use");
        assert_non_null(strstr(err.message, "lo is already a port of bridge br-ext (not drover's)"));
        assert_int_equal(json_array_size(fake.calls), 2); /* nothing changed */
}

static void test_delete(void **state)
{
        struct dv_error err = { 0 };
        bool deleted = true;

        assert_int_equal(dv_ovs_bridge_delete(&ovs, "dvs-gone", &deleted, &err), 0);
        assert_false(deleted);
        assert_int_equal(json_array_size(fake.calls), 1);
        assert_int_equal(dv_ovs_bridge_delete(&ovs, "dvs-lan", &deleted, &err), 0);
        assert_true(deleted);
        assert_string_equal(call(2), "--if-exists del-br dvs-lan");
        assert_true(dv_ovs_bridge_delete(&ovs, "br-ext", &deleted, &err) < 0);
        assert_string_equal(err.code, "not-ours");
}

static void test_plug_unplug(void **state)
{
        struct dv_error err = { 0 };

        assert_int_equal(dv_ovs_port_plug(&ovs, "dvs-lan", "dvab12cd34ef560", 100,
                                          "ab12cd34-ef56", "52:54:00:ab:cd:ef", &err),
                         0);
        assert_string_equal(call(0),
                            "-- --if-exists del-port dvab12cd34ef560 -- add-port dvs-lan "
                            "dvab12cd34ef560 -- set Port dvab12cd34ef560 vlan_mode=access tag=100 "
                            "-- set Interface dvab12cd34ef560 "
                            "external_ids:attached-mac=\"52:54:00:ab:cd:ef\" "
                            "external_ids:drover-vm=\"ab12cd34-ef56\"");
        /* VLAN 0: untagged, still an access port (never a trunk). */
        assert_int_equal(dv_ovs_port_plug(&ovs, "dvs-lan", "t0", 0, "v", "52:54:00:00:00:01", &err),
                         0);
        assert_non_null(strstr(call(1), "vlan_mode=access tag=0"));
        assert_true(dv_ovs_port_plug(&ovs, "dvs-lan", "t0", 4095, "v", "m", &err) < 0);
        assert_int_equal(dv_ovs_port_unplug(&ovs, "t0", &err), 0);
        assert_string_equal(call(2), "--if-exists del-port t0");
        /* Errors say what was being done. */
        fake.fail = "add-port";
        assert_true(dv_ovs_port_plug(&ovs, "dvs-x", "t1", 5, "v", "m", &err) < 0);
        assert_non_null(strstr(err.message, "plugging t1 into bridge dvs-x (vlan 5): "
                                            "ovs-vsctl: injected failure"));
}

static void test_set_vlan(void **state)
{
        struct dv_error err = { 0 };
        json_t *ports = NULL;

        assert_int_equal(dv_ovs_port_set_vlan(&ovs, "52:54:00:AB:CD:EF", NULL, 200, &ports, &err),
                         0);
        assert_int_equal(json_array_size(ports), 1);
        assert_string_equal(json_string_value(json_array_get(ports, 0)), "dvab12cd34ef560");
        assert_string_equal(call(1), "-- set Port dvab12cd34ef560 vlan_mode=access tag=200");
        json_decref(ports);
        assert_true(dv_ovs_port_set_vlan(&ovs, "52:54:00:00:00:99", NULL, 200, &ports, &err) < 0);
        assert_int_equal(err.status, 404);
        assert_int_equal(dv_ovs_port_set_vlan(&ovs, NULL, "eth1", 7, &ports, &err), 0);
        json_decref(ports);
}

static void test_sync(void **state)
{
        json_t *dvs = json_loads("[{\"name\":\"lan\",\"bridge\":\"dvs-lan\",\"uplink\":\"lo\"}]",
                                 0, NULL);
        json_t *ports = json_loads("[{\"mac\":\"52:54:00:ab:cd:ef\",\"vlan\":300},"
                                   "{\"mac\":\"52:54:00:00:00:42\",\"vlan\":5}]",
                                   0, NULL);
        json_t *res = NULL;
        bool saw_del_old = false, saw_retag = false, saw_stale = false;
        size_t i;

        assert_int_equal(dv_ovs_sync(&ovs, dvs, ports, &res), 0);
        assert_int_equal(json_array_size(json_object_get(res, "errors")), 0);
        assert_string_equal(json_string_value(json_array_get(json_object_get(res, "bridges"), 0)),
                            "dvs-lan");
        /* dvs-old is ours and unwanted; br-ext is not ours. */
        assert_int_equal(json_array_size(json_object_get(res, "deleted")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(res, "deleted"), 0)),
                            "dvs-old");
        for (i = 0; i < json_array_size(fake.calls); i++) {
                saw_del_old |= dv_streq(call(i), "--if-exists del-br dvs-old");
                saw_retag |= dv_streq(call(i), "-- set Port dvab12cd34ef560 vlan_mode=access tag=300");
                saw_stale |= dv_streq(call(i), "--if-exists del-port dvab12cd34ef560");
                assert_null(strstr(call(i), "br-ext"));
        }
        assert_true(saw_del_old);
        assert_true(saw_retag);
        /* The tap of the recorded VM does not exist on this machine: stale. */
        assert_true(saw_stale);
        assert_int_equal(json_integer_value(json_object_get(res, "retagged")), 1);
        json_decref(res);
        /* A failing step is reported and the rest goes on. */
        json_array_clear(fake.calls);
        fake.fail = "del-br";
        assert_int_equal(dv_ovs_sync(&ovs, dvs, ports, &res), 0);
        assert_int_equal(json_array_size(json_object_get(res, "errors")), 1);
        assert_int_equal(json_integer_value(json_object_get(res, "retagged")), 1);
        json_decref(res);
        json_decref(dvs);
        json_decref(ports);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_list),
                cmocka_unit_test_setup_teardown(test_ensure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ensure_uplink_taken, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_plug_unplug, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_vlan, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
