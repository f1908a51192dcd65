/* Pure request validation: every bad input gets the documented code and a
 * message naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "validate.h"

static json_t *parse(const char *text)
{
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        return j;
}

/* Expect a create body to fail with code and a message containing what. */
static void create_fails(const char *text, int status, const char *code, const char *what)
{
        json_t *j = parse(text);
        struct dv_vm_req q;
        struct dv_error err = { 0 };

        assert_true(dv_validate_vm_create(j, &q, &err) < 0);
        assert_int_equal(err.status, status);
        assert_string_equal(err.code, code);
        if (!strstr(err.message, what))
                fail_msg("message '%s' does not name '%s'", err.message, what);
        json_decref(j);
}

static void test_vm_create_ok(void **state)
{
        json_t *j = parse("{\"name\":\"web-1\",\"cpus\":2,\"memory_mib\":1024,"
                          "\"disks\":[{\"size_gib\":10},{\"size_gib\":1,\"datastore\":\"shared\"}],"
                          "\"nics\":[{\"portgroup\":\"pg10\",\"ip\":\"10.0.10.5\",\"prefix\":24,"
                          "\"gateway\":\"10.0.10.1\"},{\"portgroup\":\"pg20\",\"mac\":\"52:54:00:aa:bb:cc\"}],"
                          "\"host\":\"h1\",\"ha\":true}");
        struct dv_vm_req q;
        struct dv_error err = { 0 };

        assert_int_equal(dv_validate_vm_create(j, &q, &err), 0);
        assert_string_equal(q.name, "web-1");
        assert_int_equal(q.cpus, 2);
        assert_int_equal(q.max_cpus, 2); /* defaults to cpus */
        assert_int_equal(q.memory_mib, 1024);
        assert_int_equal(q.n_disks, 2);
        assert_null(q.disks[0].datastore);
        assert_string_equal(q.disks[1].datastore, "shared");
        assert_int_equal(q.n_nics, 2);
        assert_int_equal(q.nics[0].prefix, 24);
        assert_string_equal(q.nics[1].mac, "52:54:00:aa:bb:cc");
        assert_string_equal(q.host, "h1");
        assert_null(q.image);
        assert_true(q.ha);
        json_decref(j);

        j = parse("{\"name\":\"m\",\"cpus\":64,\"max_cpus\":64,\"memory_mib\":1048576}");
        assert_int_equal(dv_validate_vm_create(j, &q, &err), 0);
        json_decref(j);
        j = parse("{\"name\":\"m\",\"cpus\":1,\"memory_mib\":16,\"disks\":null,\"nics\":[]}");
        assert_int_equal(dv_validate_vm_create(j, &q, &err), 0);
        assert_int_equal(q.n_disks, 0);
        json_decref(j);
}

static void test_vm_create_bad(void **state)
{
        create_fails("{\"cpus\":1,\"memory_mib\":64}", 400, "missing-field", "name");
        create_fails("{\"name\":\"a\",\"memory_mib\":64}", 400, "missing-field", "cpus");
        create_fails("{\"name\":\"a\",\"cpus\":1}", 400, "missing-field", "memory_mib");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"colour\":1}", 400,
                     "unknown-field", "colour");
        create_fails("{\"name\":\"a/b\",\"cpus\":1,\"memory_mib\":64}", 400, "invalid-name", "name");
        create_fails("{\"name\":\"..\",\"cpus\":1,\"memory_mib\":64}", 400, "invalid-name", "name");
        create_fails("{\"name\":\"\",\"cpus\":1,\"memory_mib\":64}", 400, "invalid-name", "name");
        create_fails("{\"name\":7,\"cpus\":1,\"memory_mib\":64}", 400, "invalid-field", "name");
        create_fails("{\"name\":\"a\",\"cpus\":0,\"memory_mib\":64}", 400, "out-of-range", "cpus");
        create_fails("{\"name\":\"a\",\"cpus\":65,\"memory_mib\":64}", 400, "out-of-range", "cpus");
        create_fails("{\"name\":\"a\",\"cpus\":-1,\"memory_mib\":64}", 400, "out-of-range", "cpus");
        create_fails("{\"name\":\"a\",\"cpus\":1.0,\"memory_mib\":64}", 400, "invalid-field", "cpus");
        create_fails("{\"name\":\"a\",\"cpus\":4,\"max_cpus\":3,\"memory_mib\":64}", 400,
                     "out-of-range", "max_cpus");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":15}", 400, "out-of-range",
                     "memory_mib");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":1048577}", 400, "out-of-range",
                     "memory_mib");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"ha\":\"yes\"}", 400,
                     "invalid-field", "ha");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"host\":\"h 1\"}", 400,
                     "invalid-name", "host");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":{}}", 400,
                     "invalid-field", "disks");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[{\"size_gib\":0}]}",
                     400, "out-of-range", "disks[0]");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[{\"size_gib\":1},"
                     "{\"size_gib\":16385}]}",
                     400, "out-of-range", "disks[1]");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[{}]}", 400,
                     "missing-field", "size_gib");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[3]}", 400,
                     "invalid-field", "disks[0]");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[{\"size_gib\":1,"
                     "\"thin\":true}]}",
                     400, "unknown-field", "thin");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{}]}", 400,
                     "missing-field", "portgroup");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"ip\":\"10.0.0.1\"}]}",
                     400, "missing-field", "prefix");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"ip\":\"10.1\",\"prefix\":8}]}",
                     400, "invalid-field", "ip");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"ip\":\"10.0.0.0\",\"prefix\":24}]}",
                     400, "invalid-field", "network or broadcast");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"ip\":\"10.0.0.5\",\"prefix\":33}]}",
                     400, "out-of-range", "prefix");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"gateway\":\"10.0.0.1\"}]}",
                     400, "missing-field", "ip");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"ip\":\"10.0.0.5\",\"prefix\":24,\"gateway\":\"10.0.0.5\"}]}",
                     400, "invalid-field", "gateway");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"p\","
                     "\"mac\":\"ff:ff:ff:ff:ff:ff\"}]}",
                     400, "invalid-field", "mac");
        create_fails("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":["
                     "{\"portgroup\":\"p\",\"mac\":\"52:54:00:00:00:01\"},"
                     "{\"portgroup\":\"p\",\"mac\":\"52:54:00:00:00:01\"}]}",
                     400, "invalid-field", "nics[1]");
}

/* QoS fields of a create (docs/qos.md). */
static void test_vm_create_qos(void **state)
{
        json_t *j = parse("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,"
                          "\"cpu_qos\":{\"shares\":2000,\"limit_pct\":25,\"affinity\":\"1\"},"
                          "\"disks\":[{\"size_gib\":1,\"iops_max\":100,\"bps_max\":1048576}]}");
        struct dv_vm_req q;
        struct dv_error err = { 0 };

        assert_int_equal(dv_validate_vm_create(j, &q, &err), 0);
        assert_int_equal(q.cpu_qos.shares, 2000);
        assert_int_equal(q.cpu_qos.limit_pct, 25);
        assert_true(q.cpu_qos.has_affinity);
        assert_int_equal(q.disks[0].qos.iops_max, 100);
        assert_int_equal(q.disks[0].qos.bps_max, 1048576);
        json_decref(j);
        j = parse("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64}");
        assert_int_equal(dv_validate_vm_create(j, &q, &err), 0);
        assert_int_equal(q.cpu_qos.shares, 1000); /* defaults */
        assert_int_equal(q.cpu_qos.reservation_mhz, 0);
        json_decref(j);
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,\"cpu_qos\":{\"shares\":1}}",
                     400, "out-of-range", "cpu_qos: field 'shares'");
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,"
                     "\"cpu_qos\":{\"limit_mhz\":1,\"limit_pct\":1}}",
                     400, "invalid-field", "not both");
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,\"cpu_qos\":{\"x\":1}}",
                     400, "unknown-field", "x");
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,\"cpu_qos\":[]}",
                     400, "invalid-field", "cpu_qos");
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,"
                     "\"disks\":[{\"size_gib\":1,\"iops_max\":1000001}]}",
                     400, "out-of-range", "disks[0]: field 'iops_max'");
        create_fails("{\"name\":\"q\",\"cpus\":1,\"memory_mib\":64,"
                     "\"disks\":[{\"size_gib\":1,\"bps_max\":-1}]}",
                     400, "out-of-range", "bps_max");
}

static void test_kernel_args(void **state)
{
        struct dv_error err = { 0 };
        char longer[DV_VM_KERNEL_ARGS_MAX + 2];

        assert_int_equal(dv_validate_kernel_args("drover.writer=100", &err), 0);
        assert_int_equal(dv_validate_kernel_args("a=1 b=x,y:z/w+v-u", &err), 0);
        assert_true(dv_validate_kernel_args("", &err) < 0);
        assert_true(dv_validate_kernel_args("a;reboot", &err) < 0);
        assert_string_equal(err.code, "invalid-field");
        assert_true(dv_validate_kernel_args("a  b", &err) < 0);
        assert_true(dv_validate_kernel_args(" a", &err) < 0);
        assert_true(dv_validate_kernel_args("a ", &err) < 0);
        assert_true(dv_validate_kernel_args("a$(x)", &err) < 0);
        assert_true(dv_validate_kernel_args("a\nb", &err) < 0);
        memset(longer, 'a', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = 0;
        assert_true(dv_validate_kernel_args(longer, &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        longer[DV_VM_KERNEL_ARGS_MAX] = 0;
        assert_int_equal(dv_validate_kernel_args(longer, &err), 0);
}

static void test_limits(void **state)
{
        char buf[4096];
        size_t n;

        /* 17 disks, 9 NICs. */
        n = (size_t)snprintf(buf, sizeof(buf), "{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"disks\":[");
        for (int i = 0; i < 17; i++)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s{\"size_gib\":1}", i ? "," : "");
        snprintf(buf + n, sizeof(buf) - n, "]}");
        create_fails(buf, 400, "out-of-range", "disks");

        n = (size_t)snprintf(buf, sizeof(buf), "{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,\"nics\":[");
        for (int i = 0; i < 9; i++)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s{\"portgroup\":\"p\"}", i ? "," : "");
        snprintf(buf + n, sizeof(buf) - n, "]}");
        create_fails(buf, 400, "out-of-range", "nics");
}

static void test_stop_and_empty(void **state)
{
        struct dv_stop_req q;
        struct dv_error err = { 0 };
        json_t *j = parse("{}");

        assert_int_equal(dv_validate_vm_stop(j, &q, &err), 0);
        assert_false(q.force);
        assert_int_equal(q.timeout_s, 60);
        assert_int_equal(dv_validate_empty(j, &err), 0);
        json_decref(j);
        j = parse("{\"force\":true,\"timeout_s\":5}");
        assert_int_equal(dv_validate_vm_stop(j, &q, &err), 0);
        assert_true(q.force);
        assert_int_equal(q.timeout_s, 5);
        assert_true(dv_validate_empty(j, &err) < 0);
        assert_string_equal(err.code, "unknown-field");
        json_decref(j);
        j = parse("{\"timeout_s\":0}");
        assert_true(dv_validate_vm_stop(j, &q, &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        json_decref(j);
        j = parse("{\"force\":1}");
        assert_true(dv_validate_vm_stop(j, &q, &err) < 0);
        assert_string_equal(err.code, "invalid-field");
        json_decref(j);
}

static void test_register(void **state)
{
        struct dv_register_req q;
        struct dv_error err = { 0 };
        json_t *j = parse("{\"name\":\"h1\",\"url\":\"http://10.0.0.1:7081\",\"hostname\":\"h1\","
                          "\"cpus\":4,\"cpu_model\":\"EPYC\",\"cpu_flags\":[\"sse2\",\"avx\"],"
                          "\"memory_mib\":8192,\"accel\":\"tcg\",\"version\":\"0.1.0\","
                          "\"datastores\":[{\"name\":\"h1-local\",\"path\":\"/var/lib/drover/ds\","
                          "\"capacity_gib\":100,\"free_gib\":50}]}");

        assert_int_equal(dv_validate_register(j, &q, &err), 0);
        assert_int_equal(q.n_datastores, 1);
        assert_string_equal(q.datastores[0].name, "h1-local");
        json_object_set_new(j, "accel", json_string("hvf"));
        assert_true(dv_validate_register(j, &q, &err) < 0);
        assert_string_equal(err.code, "invalid-field");
        json_object_set_new(j, "accel", json_string("kvm"));
        json_object_set_new(j, "url", json_string("ftp://x/y/z/w"));
        assert_true(dv_validate_register(j, &q, &err) < 0);
        assert_true(strstr(err.message, "url") != NULL);
        json_object_set_new(j, "url", json_string("http://h:1"));
        json_array_append_new(json_object_get(j, "datastores"),
                              json_pack("{s:s,s:s,s:i,s:i}", "name", "h1-local", "path", "/x",
                                        "capacity_gib", 1, "free_gib", 1));
        assert_true(dv_validate_register(j, &q, &err) < 0);
        assert_true(strstr(err.message, "datastores[1]") != NULL);
        json_array_remove(json_object_get(j, "datastores"), 1);
        /* The migration address: a host IPv4 address. */
        json_object_set_new(j, "migration_address", json_string("10.78.0.12"));
        assert_int_equal(dv_validate_register(j, &q, &err), 0);
        assert_string_equal(q.migration_address, "10.78.0.12");
        json_object_set_new(j, "migration_address", json_string("0.0.0.0"));
        assert_true(dv_validate_register(j, &q, &err) < 0);
        assert_true(strstr(err.message, "migration_address") != NULL);
        json_object_set_new(j, "migration_address", json_string("host2.lab"));
        assert_true(dv_validate_register(j, &q, &err) < 0);
        json_decref(j);
}

static void test_heartbeat(void **state)
{
        struct dv_error err = { 0 };
        json_t *j = parse("{\"metrics\":{\"cpu_usage_pct\":1.5,\"mem_used_mib\":100},"
                          "\"vms\":[{\"id\":\"x\",\"name\":\"vm\",\"state\":\"running\",\"pid\":5,"
                          "\"cpu_pct\":0.5,\"rss_mib\":10,\"reason\":null}]}");

        assert_int_equal(dv_validate_heartbeat(j, &err), 0);
        json_object_set_new(json_array_get(json_object_get(j, "vms"), 0), "state",
                            json_string("exploded"));
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        assert_true(strstr(err.message, "vms[0]") != NULL);
        json_decref(j);
        j = parse("{\"metrics\":{\"disk\":1}}");
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        assert_string_equal(err.code, "unknown-field");
        json_decref(j);
        j = parse("{\"vms\":[{\"state\":\"running\"}]}");
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        assert_string_equal(err.code, "missing-field");
        json_decref(j);
        /* Disk and network counters: of the host and of a VM. */
        j = parse("{\"io\":{\"net\":{\"t_ms\":5,\"epoch\":\"b\",\"rx_bytes\":1,"
                  "\"tx_bytes\":2,\"rx_packets\":3,\"tx_packets\":4}},"
                  "\"vms\":[{\"id\":\"x\",\"state\":\"running\",\"io\":{\"disk\":"
                  "{\"t_ms\":5,\"read_bytes\":1,\"write_bytes\":2,\"read_ops\":3,"
                  "\"write_ops\":4}}}]}");
        assert_int_equal(dv_validate_heartbeat(j, &err), 0);
        json_object_set_new(json_object_get(json_object_get(j, "io"), "net"), "rx_bytes",
                            json_integer(-1));
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        assert_true(strstr(err.message, "io.net") != NULL);
        json_object_set_new(json_object_get(json_object_get(j, "io"), "net"), "rx_bytes",
                            json_integer(1));
        json_object_set_new(json_object_get(json_object_get(j, "io"), "net"), "extra",
                            json_integer(1));
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        json_object_del(json_object_get(json_object_get(j, "io"), "net"), "extra");
        json_object_set_new(json_object_get(json_array_get(json_object_get(j, "vms"), 0), "io"),
                            "disk", json_string("x"));
        assert_true(dv_validate_heartbeat(j, &err) < 0);
        assert_true(strstr(err.message, "vms[0]") != NULL);
        json_decref(j);
}

static void test_pieces(void **state)
{
        struct dv_error err = { 0 };
        struct dv_image_req iq;
        uint32_t a;
        int limit;
        bool b;
        json_t *j;

        assert_true(dv_ipv4_parse("192.168.1.2", &a));
        assert_int_equal(a, 0xc0a80102);
        assert_false(dv_ipv4_parse("192.168.1", &a));
        assert_false(dv_ipv4_parse("1.2.3.4 ", &a));
        assert_true(dv_mac_valid("52:54:00:12:34:56"));
        assert_false(dv_mac_valid("52:54:00:12:34"));
        assert_false(dv_mac_valid("00:00:00:00:00:00"));
        assert_false(dv_mac_valid("53:54:00:12:34:56")); /* multicast bit */
        assert_false(dv_mac_valid("52-54-00-12-34-56"));

        assert_int_equal(dv_validate_limit(NULL, 100, 1000, &limit, &err), 0);
        assert_int_equal(limit, 100);
        assert_int_equal(dv_validate_limit("5", 100, 1000, &limit, &err), 0);
        assert_int_equal(limit, 5);
        assert_true(dv_validate_limit("0", 100, 1000, &limit, &err) < 0);
        assert_true(dv_validate_limit("1001", 100, 1000, &limit, &err) < 0);
        assert_true(dv_validate_limit("5x", 100, 1000, &limit, &err) < 0);
        assert_int_equal(dv_validate_bool_arg("k", "true", &b, &err), 0);
        assert_true(b);
        assert_true(dv_validate_bool_arg("k", "yes", &b, &err) < 0);

        j = parse("{\"name\":\"img\",\"path\":\"/tmp/x.raw\",\"format\":\"raw\"}");
        assert_int_equal(dv_validate_image_import(j, &iq, &err), 0);
        json_object_set_new(j, "format", json_string("vmdk"));
        assert_true(dv_validate_image_import(j, &iq, &err) < 0);
        json_object_set_new(j, "format", json_string("raw"));
        json_object_set_new(j, "path", json_string("relative"));
        assert_true(dv_validate_image_import(j, &iq, &err) < 0);
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vm_create_ok),   cmocka_unit_test(test_vm_create_bad),
                cmocka_unit_test(test_kernel_args),
                cmocka_unit_test(test_vm_create_qos),
                cmocka_unit_test(test_limits),         cmocka_unit_test(test_stop_and_empty),
                cmocka_unit_test(test_register),       cmocka_unit_test(test_heartbeat),
                cmocka_unit_test(test_pieces),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
