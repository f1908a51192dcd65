/* QoS arithmetic (src/common/qos.c): CPU lists, the cpu_qos object, its
 * contradictions, admission of reservations, cfs quota and cgroup weights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "qos.h"

static void test_cpuset(void **state)
{
        struct dv_cpuset s, t;
        char buf[64];

        assert_int_equal(dv_cpuset_parse("0-3,8,10-11", &s), 0);
        assert_int_equal(dv_cpuset_count(&s), 7);
        dv_cpuset_format(&s, buf, sizeof(buf));
        assert_string_equal(buf, "0-3,8,10-11");
        assert_int_equal(dv_cpuset_parse("1", &t), 0);
        dv_cpuset_format(&t, buf, sizeof(buf));
        assert_string_equal(buf, "1");
        assert_true(dv_cpuset_is_subset(&t, &s));
        assert_int_equal(dv_cpuset_parse("3,2,1,0", &t), 0);
        dv_cpuset_format(&t, buf, sizeof(buf));
        assert_string_equal(buf, "0-3");
        assert_int_equal(dv_cpuset_parse("255", &t), 0);
        assert_true(dv_cpuset_parse("256", &t) < 0);
        assert_true(dv_cpuset_parse("", &t) < 0);
        assert_true(dv_cpuset_parse("3-1", &t) < 0);
        assert_true(dv_cpuset_parse("1,", &t) < 0);
        assert_true(dv_cpuset_parse(" 1", &t) < 0);
        assert_true(dv_cpuset_parse("1-", &t) < 0);
        assert_true(dv_cpuset_parse("-1", &t) < 0);
        assert_true(dv_cpuset_parse("00001", &t) < 0);
        assert_true(dv_cpuset_parse("a", &t) < 0);
        dv_cpuset_first_n(2, &t);
        dv_cpuset_format(&t, buf, sizeof(buf));
        assert_string_equal(buf, "0-1");
        dv_cpuset_and(&s, &t);
        assert_int_equal(dv_cpuset_count(&s), 2);
}

static int merge(const char *text, struct dv_cpu_qos *q, struct dv_error *err)
{
        json_t *o = json_loads(text, 0, NULL);
        int r;

        assert_non_null(o);
        r = dv_cpu_qos_merge(o, q, err);
        json_decref(o);
        return r;
}

static void test_merge(void **state)
{
        struct dv_cpu_qos q;
        struct dv_error err = { 0 };
        json_t *j;

        dv_cpu_qos_default(&q);
        assert_int_equal(q.shares, 1000);
        assert_int_equal(merge("{\"shares\":2000,\"limit_pct\":25}", &q, &err), 0);
        assert_int_equal(q.shares, 2000);
        assert_int_equal(q.limit_pct, 25);
        /* A limit in the other unit replaces it. */
        assert_int_equal(merge("{\"limit_mhz\":1300}", &q, &err), 0);
        assert_int_equal(q.limit_pct, 0);
        assert_int_equal(q.limit_mhz, 1300);
        assert_int_equal(q.shares, 2000);
        /* Both at once: refused, nothing changes. */
        assert_true(merge("{\"limit_mhz\":100,\"limit_pct\":5}", &q, &err) < 0);
        assert_string_equal(err.code, "invalid-field");
        assert_int_equal(q.limit_mhz, 1300);
        assert_true(merge("{\"shares\":5}", &q, &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        assert_non_null(strstr(err.message, "cpu_qos"));
        assert_true(merge("{\"shares\":100001}", &q, &err) < 0);
        assert_true(merge("{\"reservation_mhz\":-1}", &q, &err) < 0);
        assert_true(merge("{\"bogus\":1}", &q, &err) < 0);
        assert_string_equal(err.code, "unknown-field");
        assert_true(merge("{\"affinity\":\"0-x\"}", &q, &err) < 0);
        assert_true(merge("{\"affinity\":7}", &q, &err) < 0);
        assert_int_equal(merge("{\"affinity\":\"1\",\"limit_mhz\":0}", &q, &err), 0);
        assert_true(q.has_affinity);
        assert_int_equal(q.limit_mhz, 0);
        j = dv_cpu_qos_to_json(&q);
        assert_string_equal(json_string_value(json_object_get(j, "affinity")), "1");
        assert_int_equal(json_integer_value(json_object_get(j, "shares")), 2000);
        /* The stored form reads back the same. */
        {
                struct dv_cpu_qos back;

                dv_cpu_qos_default(&back);
                assert_int_equal(dv_cpu_qos_merge(j, &back, &err), 0);
                assert_memory_equal(&back, &q, sizeof(q));
        }
        json_decref(j);
        assert_int_equal(merge("{\"affinity\":null}", &q, &err), 0);
        assert_false(q.has_affinity);
        assert_int_equal(dv_cpu_qos_merge(NULL, &q, &err), 0);
}

static void test_check(void **state)
{
        struct dv_cpu_qos q;
        struct dv_error err = { 0 };

        dv_cpu_qos_default(&q);
        q.limit_pct = 25;
        assert_int_equal(dv_cpu_qos_limit_mhz(&q, 2600), 650);
        q.reservation_mhz = 650;
        assert_int_equal(dv_cpu_qos_check(&q, 1, 2, 2600, &err), 0);
        q.reservation_mhz = 651;
        assert_true(dv_cpu_qos_check(&q, 1, 2, 2600, &err) < 0);
        assert_string_equal(err.code, "qos-conflict");
        assert_non_null(strstr(err.message, "over the cpu limit 650 MHz"));
        q.limit_pct = 0;
        q.reservation_mhz = 2601; /* more than one vCPU can use */
        assert_true(dv_cpu_qos_check(&q, 1, 2, 2600, &err) < 0);
        assert_int_equal(dv_cpu_qos_check(&q, 2, 2, 2600, &err), 0);
        assert_int_equal(dv_cpuset_parse("1", &q.affinity), 0);
        q.has_affinity = true;
        assert_true(dv_cpu_qos_check(&q, 2, 2, 2600, &err) < 0); /* one CPU of affinity */
        assert_non_null(strstr(err.message, "affinity"));
        q.reservation_mhz = 0;
        assert_int_equal(dv_cpuset_parse("2", &q.affinity), 0);
        assert_true(dv_cpu_qos_check(&q, 2, 2, 2600, &err) < 0); /* no CPU 2 */
        assert_non_null(strstr(err.message, "lacks"));
}

static void test_admit(void **state)
{
        struct dv_cpu_qos a, b, c;
        struct dv_qos_vm vms[] = { { "a", &a }, { "b", &b }, { "c", &c } };
        struct dv_error err = { 0 };

        dv_cpu_qos_default(&a);
        dv_cpu_qos_default(&b);
        dv_cpu_qos_default(&c);
        a.reservation_mhz = 2600;
        b.reservation_mhz = 2600;
        assert_int_equal(dv_cpu_qos_admit("h", vms, 3, 2, 2600, &err), 0); /* exactly full */
        c.reservation_mhz = 1;
        assert_true(dv_cpu_qos_admit("h", vms, 3, 2, 2600, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
        assert_non_null(strstr(err.message, "5200 MHz"));
        assert_non_null(strstr(err.message, "5201 MHz"));
        /* Two VMs confined to CPU 1 cannot reserve more than one core. */
        c.reservation_mhz = 0;
        a.reservation_mhz = b.reservation_mhz = 1500;
        assert_int_equal(dv_cpu_qos_admit("h", vms, 3, 2, 2600, &err), 0);
        dv_cpuset_parse("1", &a.affinity);
        a.has_affinity = true;
        b.affinity = a.affinity;
        b.has_affinity = true;
        assert_true(dv_cpu_qos_admit("h", vms, 3, 2, 2600, &err) < 0);
        assert_non_null(strstr(err.message, "CPUs 1 of host 'h' give 2600 MHz"));
        /* A VM on both CPUs does not count against CPU 1 alone. */
        b.has_affinity = false;
        assert_int_equal(dv_cpu_qos_admit("h", vms, 3, 2, 2600, &err), 0);
        assert_int_equal(dv_cpu_qos_admit("h", vms, 0, 2, 2600, &err), 0);
}

static void test_quota(void **state)
{
        assert_int_equal(dv_qos_quota_us(0, 2600), -1);
        assert_int_equal(dv_qos_quota_us(650, 2600), 25000);
        assert_int_equal(dv_qos_quota_us(2600, 2600), 100000);
        assert_int_equal(dv_qos_quota_us(5200, 2600), 200000); /* two cores */
        assert_int_equal(dv_qos_quota_us(1, 2600), DV_QOS_QUOTA_MIN_US);
}

static void test_weights(void **state)
{
        struct dv_cpu_qos a, b, c, d;
        const struct dv_cpu_qos *qs[] = { &a, &b, &c, &d };
        int cpus[] = { 1, 1, 1, 1 };
        int64_t w[4];

        dv_cpu_qos_default(&a);
        dv_cpu_qos_default(&b);
        dv_cpu_qos_default(&c);
        dv_cpu_qos_default(&d);
        /* Shares only: 2:1. */
        a.shares = 2000;
        dv_qos_weights(DV_CG_V1, 2, qs, cpus, 2600, w);
        assert_int_equal(w[0], 66667);
        assert_int_equal(w[1], 33333);
        dv_qos_weights(DV_CG_V2, 2, qs, cpus, 2600, w);
        assert_int_equal(w[0], 6667);
        assert_int_equal(w[1], 3333);
        /* A reservation of 60 % of a CPU among four VMs on that CPU: 60 %
         * plus a quarter of the other 40 %. */
        a.shares = 1000;
        a.reservation_mhz = 1560;
        dv_qos_weights(DV_CG_V1, 4, qs, cpus, 2600, w);
        assert_int_equal(w[0], 70000);
        assert_int_equal(w[1], 10000);
        assert_true(w[0] * 100 / (w[0] + w[1] + w[2] + w[3]) >= 60);
        /* Over-committed reservations (affinity narrower than admission
         * saw) are scaled down; every weight stays in range. */
        a.reservation_mhz = b.reservation_mhz = 2600;
        dv_qos_weights(DV_CG_V1, 4, qs, cpus, 2600, w);
        assert_int_equal(w[0], 50000);
        assert_int_equal(w[1], 50000);
        assert_int_equal(w[2], 2);
        dv_qos_weights(DV_CG_V2, 4, qs, cpus, 2600, w);
        assert_int_equal(w[2], 1);
        /* One VM alone: the whole range. */
        dv_qos_weights(DV_CG_V2, 1, qs, cpus, 2600, w);
        assert_int_equal(w[0], 10000);
}

static void test_cpuinfo(void **state)
{
        assert_int_equal(dv_qos_cpuinfo_mhz("processor : 0\ncpu MHz\t\t: 2600.000\n"
                                            "processor : 1\ncpu MHz\t\t: 3400.4\n"),
                         3400);
        assert_int_equal(dv_qos_cpuinfo_mhz("processor : 0\n"), 0);
        assert_int_equal(dv_qos_cpuinfo_mhz("cpu MHz : x\n"), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpuset),  cmocka_unit_test(test_merge),
                cmocka_unit_test(test_check),   cmocka_unit_test(test_admit),
                cmocka_unit_test(test_quota),   cmocka_unit_test(test_weights),
                cmocka_unit_test(test_cpuinfo),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
