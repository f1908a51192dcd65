/* The SPEC sent to an agent to start a VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vm-ops.h"

static void test_kernel_boot(void **state)
{
        json_t *vm = json_loads(
                "{\"id\":\"v1\",\"name\":\"web\",\"uid\":100001,\"cpus\":2,\"max_cpus\":4,"
                "\"memory_mib\":512,\"disks\":[{\"name\":\"disk0\",\"path\":\"/ds/v1/disk0.qcow2\"}],"
                "\"nics\":[{\"name\":\"nic0\",\"portgroup\":\"pg\",\"mac\":\"52:54:00:00:00:01\"}],"
                "\"_task\":\"t\"}",
                0, NULL);
        json_t *img = json_loads("{\"kind\":\"kernel\",\"kernel\":\"/i/vmlinuz\","
                                 "\"initrd\":\"/i/initrd.img\",\"cmdline\":\"console=ttyS0 quiet\"}",
                                 0, NULL);
        json_t *want = json_loads(
                "{\"id\":\"v1\",\"name\":\"web\",\"uid\":100001,\"cpus\":2,\"max_cpus\":4,"
                "\"memory_mib\":512,\"disks\":[{\"path\":\"/ds/v1/disk0.qcow2\",\"format\":\"qcow2\"}],"
                "\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"portgroup\":\"pg\",\"vlan\":null,\"bridge\":null}],"
                "\"boot\":{\"kind\":\"kernel\",\"kernel\":\"/i/vmlinuz\",\"initrd\":\"/i/initrd.img\","
                "\"cmdline\":\"console=ttyS0 quiet drover.hostname=web\"}}",
                0, NULL);
        json_t *spec = dv_vm_spec_new(vm, img, NULL);

        assert_non_null(spec);
        if (!json_equal(spec, want)) {
                char *s = json_dumps(spec, JSON_SORT_KEYS);
                fail_msg("unexpected spec %s", s);
        }
        json_decref(spec);
        json_decref(want);
        /* No image, or a disk image: boot from the first disk. */
        spec = dv_vm_spec_new(vm, NULL, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "boot"), "kind")),
                            "disk");
        json_decref(spec);
        json_object_set_new(img, "cmdline", json_null());
        spec = dv_vm_spec_new(vm, img, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "boot"),
                                                              "cmdline")),
                            "drover.hostname=web");
        json_decref(spec);
        json_decref(img);
        json_decref(vm);
}

/* NICs get VLAN and bridge from their port group, and an address on the
 * kernel command line. */
static void test_nics(void **state)
{
        json_t *vm = json_loads(
                "{\"id\":\"v1\",\"name\":\"web\",\"uid\":100001,\"cpus\":1,\"memory_mib\":256,"
                "\"disks\":[],\"nics\":["
                "{\"name\":\"nic0\",\"portgroup\":\"pg100\",\"mac\":\"52:54:00:00:00:01\","
                "\"ip\":\"10.0.100.11\",\"prefix\":24,\"gateway\":\"10.0.100.1\"},"
                "{\"name\":\"nic1\",\"portgroup\":\"pg0\",\"mac\":\"52:54:00:00:00:02\","
                "\"ip\":\"192.168.5.9\",\"prefix\":16,\"gateway\":null},"
                "{\"name\":\"nic2\",\"portgroup\":\"pg100\",\"mac\":\"52:54:00:00:00:03\","
                "\"ip\":null,\"prefix\":null,\"gateway\":null}]}",
                0, NULL);
        json_t *img = json_loads("{\"kind\":\"kernel\",\"kernel\":\"/i/vmlinuz\","
                                 "\"cmdline\":\"console=ttyS0\"}",
                                 0, NULL);
        json_t *nets = json_loads("{\"pg100\":{\"vlan\":100,\"bridge\":\"dvs-lan\"},"
                                  "\"pg0\":{\"vlan\":0,\"bridge\":\"dvs-lan\"}}",
                                  0, NULL);
        json_t *want = json_loads(
                "[{\"mac\":\"52:54:00:00:00:01\",\"portgroup\":\"pg100\",\"vlan\":100,\"bridge\":\"dvs-lan\"},"
                "{\"mac\":\"52:54:00:00:00:02\",\"portgroup\":\"pg0\",\"vlan\":0,\"bridge\":\"dvs-lan\"},"
                "{\"mac\":\"52:54:00:00:00:03\",\"portgroup\":\"pg100\",\"vlan\":100,\"bridge\":\"dvs-lan\"}]",
                0, NULL);
        json_t *spec = dv_vm_spec_new(vm, img, nets);

        assert_non_null(spec);
        assert_non_null(want);
        assert_true(json_equal(json_object_get(spec, "nics"), want));
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(spec, "boot"), "cmdline")),
                "console=ttyS0 drover.hostname=web"
                " drover.net=52:54:00:00:00:01,10.0.100.11/24,10.0.100.1"
                " drover.net=52:54:00:00:00:02,192.168.5.9/16");
        json_decref(spec);
        json_decref(want);
        json_decref(nets);
        json_decref(img);
        json_decref(vm);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_boot),
                cmocka_unit_test(test_nics),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
