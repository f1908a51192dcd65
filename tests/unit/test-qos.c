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

static void test_mem_qos(void **state)
{
        struct dv_mem_qos q;
        struct dv_error err = { 0 };
        json_t *j;

        (void)state;
        dv_mem_qos_default(&q);
        assert_int_equal(q.shares, 1000);
        j = json_pack("{s:i,s:i}", "shares", 500, "reservation_mib", 128);
        assert_int_equal(dv_mem_qos_merge(j, &q, &err), 0);
        json_decref(j);
        assert_int_equal(q.shares, 500);
        assert_int_equal(q.reservation_mib, 128);
        assert_int_equal(dv_mem_qos_check(&q, 256, &err), 0);
        assert_true(dv_mem_qos_check(&q, 100, &err) < 0);
        assert_string_equal(err.code, "qos-conflict");
        assert_non_null(strstr(err.message, "memory reservation 128 MiB is over"));
        /* The limit is the configured size. */
        j = json_pack("{s:i}", "limit_mib", 512);
        assert_int_equal(dv_mem_qos_merge(j, &q, &err), 0);
        json_decref(j);
        assert_true(dv_mem_qos_check(&q, 256, &err) < 0);
        assert_int_equal(dv_mem_qos_check(&q, 512, &err), 0);
        /* Bounds and unknown fields name mem_qos. */
        j = json_pack("{s:i}", "shares", 5);
        assert_true(dv_mem_qos_merge(j, &q, &err) < 0);
        json_decref(j);
        assert_non_null(strstr(err.message, "mem_qos"));
        j = json_pack("{s:i}", "weight", 5);
        assert_true(dv_mem_qos_merge(j, &q, &err) < 0);
        json_decref(j);
        assert_int_equal(q.shares, 500); /* unchanged by the failures */
        assert_int_equal(dv_mem_admitted_mib(&q, 512, true), 128);
        assert_int_equal(dv_mem_admitted_mib(&q, 512, false), 512);
}

static void vm_init(struct dv_balloon_vm *v, const char *name, int64_t mem, int64_t rsv,
                    int64_t shares, int64_t used, int64_t target)
{
        *v = (struct dv_balloon_vm){ .name = name, .memory_mib = mem, .reservation_mib = rsv,
                                     .shares = shares, .guest_used_mib = used,
                                     .target_mib = target };
}

static void test_balloon(void **state)
{
        struct dv_balloon_params p = { .capacity_mib = 1000, .low_pct = 10, .high_pct = 20,
                                       .margin_mib = 32, .step_mib = 0 };
        struct dv_balloon_vm v[3];

        (void)state;
        /* Floors: reservation, guest used + margin; unknown use: no reclaim. */
        vm_init(&v[0], "a", 512, 100, 1000, 40, 512);
        assert_int_equal(dv_balloon_floor(&v[0], 32), 100);
        vm_init(&v[0], "a", 512, 100, 1000, 200, 512);
        assert_int_equal(dv_balloon_floor(&v[0], 32), 232);
        vm_init(&v[0], "a", 512, 100, 1000, -1, 400);
        assert_int_equal(dv_balloon_floor(&v[0], 32), 400);
        vm_init(&v[0], "a", 512, 100, 1000, 600, 512);
        assert_int_equal(dv_balloon_floor(&v[0], 32), 512);

        /* Pressure (free 50 < low 100): reclaim 150 (to high 200), low
         * shares first, each down to its floor. */
        p.used_mib = 950;
        vm_init(&v[0], "high", 512, 0, 2000, 64, 512);
        vm_init(&v[1], "low", 512, 400, 500, 64, 512);   /* floor = reservation 400 */
        vm_init(&v[2], "normal", 512, 0, 1000, 64, 512);
        assert_int_equal(dv_balloon_decide(&p, v, 3), 150);
        assert_int_equal(v[1].new_target_mib, 400);       /* low gave 112, down to its reservation */
        assert_int_equal(v[2].new_target_mib, 512 - 38);  /* normal the remaining 38 */
        assert_int_equal(v[0].new_target_mib, 512);       /* high untouched */

        /* No pressure, nothing to do (free between low and high). */
        p.used_mib = 850;
        vm_init(&v[0], "a", 512, 0, 1000, 64, 300);
        assert_int_equal(dv_balloon_decide(&p, v, 1), 0);
        assert_int_equal(v[0].new_target_mib, 300);
        /* The same while reclaiming: it goes on until free reaches high. */
        p.reclaiming = true;
        assert_int_equal(dv_balloon_decide(&p, v, 1), 50);
        assert_int_equal(v[0].new_target_mib, 250);
        p.reclaiming = false;

        /* Pressure gone (free 600 > high 200): give back, highest shares
         * first, up to the size; all of the 400 above high at once (the
         * step limits reclaim only). */
        p.used_mib = 400;
        p.step_mib = 100;
        vm_init(&v[0], "low", 512, 0, 500, 64, 200);
        vm_init(&v[1], "high", 512, 0, 2000, 64, 200);
        assert_int_equal(dv_balloon_decide(&p, v, 2), -400);
        assert_int_equal(v[1].new_target_mib, 512);
        assert_int_equal(v[0].new_target_mib, 288);

        /* A low-share VM's floor fell (its guest freed memory) while the
         * high-share one holds a balloon: the balloon moves to the
         * low-share VM (step 100 per round), the total unchanged. */
        p.used_mib = 850;
        vm_init(&v[0], "low", 512, 0, 500, 64, 400);   /* floor 96: room 304 */
        vm_init(&v[1], "high", 512, 0, 2000, 300, 380); /* floor 332 */
        assert_int_equal(dv_balloon_decide(&p, v, 2), 0);
        assert_int_equal(v[0].new_target_mib, 300);
        assert_int_equal(v[1].new_target_mib, 480);

        /* Everyone at its floor: nothing more is taken, never below a
         * reservation even when the target was (a raised reservation). */
        p.used_mib = 990;
        p.step_mib = 0;
        vm_init(&v[0], "a", 512, 300, 500, 100, 250);
        vm_init(&v[1], "b", 512, 0, 1000, -1, 512);
        assert_int_equal(dv_balloon_decide(&p, v, 2), 0);
        assert_int_equal(v[0].new_target_mib, 300);
        assert_int_equal(v[1].new_target_mib, 512);

        /* Shares order holds without Tools: a low-share VM whose use is
         * unknown is not skipped for a high-share one. */
        p.used_mib = 990;
        vm_init(&v[0], "low", 512, 0, 500, -1, 512);
        vm_init(&v[1], "high", 512, 0, 2000, 64, 512);
        assert_int_equal(dv_balloon_decide(&p, v, 2), 0);
        assert_int_equal(v[1].new_target_mib, 512);

        /* A guest whose use grew over its target gets its floor back at
         * once, even under pressure (and at most its size). */
        vm_init(&v[0], "a", 512, 0, 500, 300, 200);
        vm_init(&v[1], "b", 512, 0, 500, 500, 200);
        dv_balloon_decide(&p, v, 2);
        assert_int_equal(v[0].new_target_mib, 332);
        assert_int_equal(v[1].new_target_mib, 512);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpuset),  cmocka_unit_test(test_merge),
                cmocka_unit_test(test_check),   cmocka_unit_test(test_admit),
                cmocka_unit_test(test_quota),   cmocka_unit_test(test_weights),
                cmocka_unit_test(test_cpuinfo), cmocka_unit_test(test_mem_qos),
                cmocka_unit_test(test_balloon),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
