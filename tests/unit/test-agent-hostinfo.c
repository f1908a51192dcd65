/* Host facts and metrics parsers (src/agent/hostinfo.c, metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "agent.h"

static const char cpuinfo[] =
        "processor\t: 0\n"
        "vendor_id\t: GenuineIntel\n"
        "model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz  \n"
        "flags\t\t: fpu vme de  pse sse4_2 avx2\n"
        "\n"
        "processor\t: 1\n"
        "model name\t: other\n"
        "flags\t\t: fpu\n";

static void test_cpuinfo(void **state)
{
        _cleanup_(json_decrefp) json_t *flags = NULL;
        _cleanup_(freep) char *model = NULL;

        assert_int_equal(dv_hostinfo_parse_cpuinfo(cpuinfo, &model, &flags), 0);
        assert_string_equal(model, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz");
        assert_int_equal(json_array_size(flags), 6);
        assert_string_equal(json_string_value(json_array_get(flags, 0)), "fpu");
        assert_string_equal(json_string_value(json_array_get(flags, 3)), "pse");
        assert_string_equal(json_string_value(json_array_get(flags, 5)), "avx2");
}

static void test_cpuinfo_missing(void **state)
{
        _cleanup_(json_decrefp) json_t *flags = NULL;
        _cleanup_(freep) char *model = NULL;

        /* "model names" must not match "model name"-less text; flags absent. */
        assert_int_equal(dv_hostinfo_parse_cpuinfo("processor : 0\nflagsx : a b\n", &model, &flags),
                         0);
        assert_string_equal(model, "unknown");
        assert_int_equal(json_array_size(flags), 0);
}

static void test_meminfo(void **state)
{
        const char *text = "MemTotal:       16318588 kB\nMemFree:  1 kB\nMemAvailable:   8000000 kB\n"
                           "HugePages_Total:       0\n";
        uint64_t v = 0;

        assert_int_equal(dv_hostinfo_parse_meminfo(text, "MemTotal", &v), 0);
        assert_int_equal(v, 16318588);
        assert_int_equal(dv_hostinfo_parse_meminfo(text, "MemAvailable", &v), 0);
        assert_int_equal(v, 8000000);
        assert_int_equal(dv_hostinfo_parse_meminfo(text, "HugePages_Total", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(dv_hostinfo_parse_meminfo(text, "Mem", &v), -ENOENT);
        assert_int_equal(dv_hostinfo_parse_meminfo(text, "SwapTotal", &v), -ENOENT);
        assert_int_equal(dv_hostinfo_parse_meminfo("X: 12 MB\n", "X", &v), -EINVAL);
}

static void test_accel(void **state)
{
        assert_string_equal(dv_hostinfo_resolve_accel("auto", false), "tcg");
        assert_string_equal(dv_hostinfo_resolve_accel("auto", true), "kvm");
        assert_string_equal(dv_hostinfo_resolve_accel("kvm", false), "kvm");
        assert_string_equal(dv_hostinfo_resolve_accel("tcg", true), "tcg");
        assert_null(dv_hostinfo_resolve_accel("xen", true));
        assert_null(dv_hostinfo_resolve_accel(NULL, true));
}

static void test_stat(void **state)
{
        struct dv_cpu_sample a, b;

        assert_int_equal(dv_metrics_parse_stat("cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4\n", &a),
                         0);
        assert_int_equal(a.total, 1000);
        assert_int_equal(a.busy, 200);
        assert_int_equal(dv_metrics_parse_stat("cpu  400 0 100 1000 100 0 0 0 0 0\n", &b), 0);
        assert_int_equal(b.total, 1600);
        /* 300 busy of 600 */
        assert_true(dv_metrics_cpu_pct(&a, &b) == 50.0);
        /* no time passed, or counters went backwards */
        assert_true(dv_metrics_cpu_pct(&a, &a) == 0.0);
        assert_true(dv_metrics_cpu_pct(&b, &a) == 0.0);
        assert_int_equal(dv_metrics_parse_stat("cpu0 1 2 3 4\n", &a), -EINVAL);
        assert_int_equal(dv_metrics_parse_stat("cpu  1 2\n", &a), -EINVAL);

        a = (struct dv_cpu_sample){ .busy = 0, .total = 0 };
        b = (struct dv_cpu_sample){ .busy = 1, .total = 3 };
        assert_true(dv_metrics_cpu_pct(&a, &b) == 33.3);
}

static void test_loadavg_uptime(void **state)
{
        double l;
        int64_t up;

        assert_int_equal(dv_metrics_parse_loadavg("0.57 0.40 0.35 2/345 12345\n", &l), 0);
        assert_true(l > 0.569 && l < 0.571);
        assert_int_equal(dv_metrics_parse_loadavg("x", &l), -EINVAL);
        assert_int_equal(dv_metrics_parse_uptime("12345.67 2345.00\n", &up), 0);
        assert_int_equal(up, 12345);
        assert_int_equal(dv_metrics_parse_uptime("", &up), -EINVAL);
}

static void test_collect_live(void **state)
{
        struct dv_host_facts f;
        struct dv_cpu_sample s = {};
        _cleanup_(json_decrefp) json_t *m = NULL;

        assert_int_equal(dv_hostinfo_collect("tcg", &f), 0);
        assert_true(f.cpus >= 1);
        assert_true(f.memory_mib > 0);
        assert_string_equal(f.accel, "tcg");
        assert_true(json_is_array(f.cpu_flags));
        dv_hostinfo_done(&f);

        assert_int_equal(dv_metrics_sample_cpu(&s), 0);
        assert_int_equal(dv_metrics_collect(&s, &m), 0);
        assert_true(json_is_real(json_object_get(m, "cpu_usage_pct")));
        assert_true(json_integer_value(json_object_get(m, "mem_total_mib")) > 0);
        assert_true(json_is_integer(json_object_get(m, "mem_used_mib")));
        assert_true(json_is_real(json_object_get(m, "load1")));
        assert_true(json_integer_value(json_object_get(m, "uptime_s")) > 0);
        assert_int_equal(json_object_size(m), 5);
}

static bool want_vda(unsigned maj, unsigned min, const char *name, void *u)
{
        (void)u;
        (void)name;
        return maj == 254 && min == 0;
}

static bool want_not_lo(const char *name, void *u)
{
        (void)u;
        return strcmp(name, "lo") != 0 && !dv_metrics_is_vm_tap(name);
}

static void test_diskstats_netdev(void **state)
{
        const char *disk =
                "   7       0 loop0 5 0 40 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
                " 254       0 vda 630356 39126 17181714 579862 2377641 259042 192179952 2524340 0 "
                "301612 3219881 228937 56 93993736 53216 218185 62461\n"
                " 254       1 vda1 10 0 80 0 20 0 160 0 0 0 0\n"
                "garbage\n";
        const char *net =
                "Inter-|   Receive                                                |  Transmit\n"
                " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
                "packets errs drop fifo colls carrier compressed\n"
                "    lo:  1000      10    0    0    0     0          0         0     1000      10    "
                "0    0    0     0       0          0\n"
                "  eth0: 5000      50    0    0    0     0          0         0     7000      70    "
                "0    0    0     0       0          0\n"
                "dv0123456789ab0: 300 3 0 0 0 0 0 0 400 4 0 0 0 0 0 0\n"
                "  up0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n";
        uint64_t v[4];
        size_t n;

        (void)state;
        assert_int_equal(dv_metrics_parse_diskstats(disk, want_vda, NULL, v, &n), 0);
        assert_int_equal(n, 1);
        assert_true(v[0] == 17181714ull * 512 && v[1] == 192179952ull * 512);
        assert_true(v[2] == 630356 && v[3] == 2377641);
        assert_int_equal(dv_metrics_parse_netdev(net, want_not_lo, NULL, v, &n), 0);
        assert_int_equal(n, 2); /* eth0 and up0: not lo, not the VM's tap */
        assert_true(v[0] == 5001 && v[1] == 7003 && v[2] == 52 && v[3] == 74);
        assert_true(dv_metrics_is_vm_tap("dv0123456789ab0"));
        assert_false(dv_metrics_is_vm_tap("dvs-uplink0"));
        assert_false(dv_metrics_is_vm_tap("eth0"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpuinfo),      cmocka_unit_test(test_cpuinfo_missing),
                cmocka_unit_test(test_meminfo),      cmocka_unit_test(test_accel),
                cmocka_unit_test(test_stat),         cmocka_unit_test(test_loadavg_uptime),
                cmocka_unit_test(test_collect_live), cmocka_unit_test(test_diskstats_netdev),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
