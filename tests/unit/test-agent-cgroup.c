/* The agent's cgroup files (src/agent/cgroup.c) against fake hierarchies
 * in a temporary directory: v2 (cpu.max, cpu.weight, cpuset.cpus,
 * controllers enabled down to the parent) and v1 (cpu, cpuacct, cpuset
 * with the parent's CPUs copied), detection, and refused parents. The
 * files exist beforehand (cgroupfs creates them itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"

#define VM "0b5e2c7a-6a8e-4f1f-9d55-8f2a3c1d4e5f"

static char root[64];

static void put(const char *rel, const char *text)
{
        _cleanup_(freep) char *p = dv_asprintf("%s/%s", root, rel);
        _cleanup_(freep) char *dir = dv_strdup(p);

        *strrchr(dir, '/') = 0;
        assert_int_equal(dv_mkdir_p(dir, 0755), 0);
        assert_int_equal(dv_write_file_atomic(p, text, strlen(text), 0644), 0);
}

static char *get(const char *rel)
{
        _cleanup_(freep) char *p = dv_asprintf("%s/%s", root, rel);
        char *data = NULL;

        assert_int_equal(dv_read_file(p, 4096, &data, NULL), 0);
        return data;
}

static int setup(void **state)
{
        snprintf(root, sizeof(root), "/tmp/dv-cgtest.XXXXXX");
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state)
{
        dv_rm_rf(root);
        return 0;
}

static void test_v2(void **state)
{
        static const char *const files[] = { "cgroup.subtree_control", "cgroup.procs", "cpu.max",
                                             "cpu.weight", "cpuset.cpus", "cpu.stat", NULL };
        struct dv_cgroup_config cfg = { .root = root, .mode = "auto", .parent = "drover/h1" };
        struct dv_cgroup *cg = NULL;
        struct dv_error err = { 0 };
        struct dv_cpuset cpus, one;
        uint64_t ns = 0;
        char *s;

        put("cgroup.controllers", "cpuset cpu io memory pids\n");
        put("cgroup.subtree_control", "");
        put("drover/cgroup.subtree_control", "");
        put("drover/h1/cgroup.subtree_control", "");
        put("drover/h1/cpuset.cpus.effective", "0-3\n");
        for (const char *const *f = files; *f; f++) {
                _cleanup_(freep) char *rel = dv_asprintf("drover/h1/vm-" VM "/%s", *f);
                put(rel, "");
        }
        put("drover/h1/vm-" VM "/cpu.stat", "usage_usec 5\nuser_usec 3\n");

        assert_int_equal(dv_cgroup_open(&cfg, &cg, &err), 0);
        assert_int_equal(dv_cgroup_version(cg), DV_CG_V2);
        assert_true(dv_cgroup_has_cpuset(cg));
        s = get("cgroup.subtree_control");
        assert_string_equal(s, "+cpu +cpuset");
        free(s);
        s = get("drover/h1/cgroup.subtree_control");
        assert_string_equal(s, "+cpu +cpuset");
        free(s);
        dv_cgroup_host_cpus(cg, &cpus);
        assert_int_equal(dv_cpuset_count(&cpus), 4);

        assert_int_equal(dv_cgroup_vm_attach(cg, VM, 1234), 0);
        s = get("drover/h1/vm-" VM "/cgroup.procs");
        assert_string_equal(s, "1234");
        free(s);
        assert_int_equal(dv_cpuset_parse("1,7", &one), 0); /* 7 is not the host's */
        assert_int_equal(dv_cgroup_vm_set_cpu(cg, VM, 25000, 6667, &one), 0);
        s = get("drover/h1/vm-" VM "/cpu.max");
        assert_string_equal(s, "25000 100000");
        free(s);
        s = get("drover/h1/vm-" VM "/cpu.weight");
        assert_string_equal(s, "6667");
        free(s);
        s = get("drover/h1/vm-" VM "/cpuset.cpus");
        assert_string_equal(s, "1");
        free(s);
        assert_int_equal(dv_cgroup_vm_set_cpu(cg, VM, -1, 100, NULL), 0);
        s = get("drover/h1/vm-" VM "/cpu.max");
        assert_string_equal(s, "max 100000");
        free(s);
        s = get("drover/h1/vm-" VM "/cpuset.cpus");
        assert_string_equal(s, "0-3");
        free(s);
        assert_int_equal(dv_cgroup_vm_usage_ns(cg, VM, &ns), 0);
        assert_int_equal(ns, 5000);
        /* No CPU of the host in the affinity: refused. */
        assert_int_equal(dv_cpuset_parse("9", &one), 0);
        assert_true(dv_cgroup_vm_set_cpu(cg, VM, -1, 100, &one) < 0);
        /* Ids are checked: nothing outside PARENT/vm-<uuid>. */
        assert_true(dv_cgroup_vm_attach(cg, "../../etc", 1) < 0);
        assert_true(dv_cgroup_vm_set_cpu(cg, "x/../..", -1, 1, NULL) < 0);
        assert_true(dv_cgroup_vm_remove(cg, "..") < 0);
        dv_cgroup_free(cg);
}

static void test_v1(void **state)
{
        struct dv_cgroup_config cfg = { .root = root, .mode = "auto", .parent = "drover/h1" };
        struct dv_cgroup *cg = NULL;
        struct dv_error err = { 0 };
        uint64_t ns = 0;
        char *s;

        put("cgroup.controllers", ""); /* an empty v2 mount: v1 is used */
        put("cpu/cpu.shares", "1024\n");
        put("cpuacct/cpuacct.usage", "0\n");
        put("cpuset/cpuset.cpus", "0-1\n");
        put("cpuset/cpuset.mems", "0\n");
        put("cpuset/drover/cpuset.cpus", "");
        put("cpuset/drover/cpuset.mems", "");
        put("cpuset/drover/h1/cpuset.cpus", "");
        put("cpuset/drover/h1/cpuset.mems", "");
        put("cpuset/drover/h1/cpuset.effective_cpus", "0-1\n");
        put("cpu/drover/h1/vm-" VM "/cgroup.procs", "");
        put("cpu/drover/h1/vm-" VM "/cpu.cfs_period_us", "");
        put("cpu/drover/h1/vm-" VM "/cpu.cfs_quota_us", "");
        put("cpu/drover/h1/vm-" VM "/cpu.shares", "");
        put("cpuacct/drover/h1/vm-" VM "/cgroup.procs", "");
        put("cpuacct/drover/h1/vm-" VM "/cpuacct.usage", "123456\n");
        put("cpuset/drover/h1/vm-" VM "/cgroup.procs", "");
        put("cpuset/drover/h1/vm-" VM "/cpuset.cpus", "");
        put("cpuset/drover/h1/vm-" VM "/cpuset.mems", "");

        assert_int_equal(dv_cgroup_open(&cfg, &cg, &err), 0);
        assert_int_equal(dv_cgroup_version(cg), DV_CG_V1);
        s = get("cpuset/drover/h1/cpuset.cpus");
        assert_string_equal(s, "0-1"); /* copied down from the root */
        free(s);
        assert_int_equal(dv_cgroup_vm_attach(cg, VM, 77), 0);
        s = get("cpuset/drover/h1/vm-" VM "/cpuset.mems");
        assert_string_equal(s, "0");
        free(s);
        s = get("cpuacct/drover/h1/vm-" VM "/cgroup.procs");
        assert_string_equal(s, "77");
        free(s);
        assert_int_equal(dv_cgroup_vm_set_cpu(cg, VM, -1, 33333, NULL), 0);
        s = get("cpu/drover/h1/vm-" VM "/cpu.cfs_quota_us");
        assert_string_equal(s, "-1");
        free(s);
        s = get("cpu/drover/h1/vm-" VM "/cpu.shares");
        assert_string_equal(s, "33333");
        free(s);
        assert_int_equal(dv_cgroup_vm_usage_ns(cg, VM, &ns), 0);
        assert_int_equal(ns, 123456);
        dv_cgroup_free(cg);
}

static void test_refused(void **state)
{
        static const char *const bad[] = { "/abs", "a/../b", "..", "a//b", "a/", "a b", "", NULL };
        struct dv_cgroup *cg = NULL;
        struct dv_error err = { 0 };

        for (const char *const *p = bad; *p; p++) {
                struct dv_cgroup_config cfg = { .root = root, .mode = "auto", .parent = *p };

                assert_true(dv_cgroup_open(&cfg, &cg, &err) < 0);
        }
        {
                /* Nothing usable: not-supported. */
                struct dv_cgroup_config cfg = { .root = root, .mode = "auto", .parent = "d" };

                assert_true(dv_cgroup_open(&cfg, &cg, &err) < 0);
                assert_string_equal(err.code, "not-supported");
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_v2, setup, teardown),
                cmocka_unit_test_setup_teardown(test_v1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
