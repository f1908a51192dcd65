/* DPM decision core on hand-made clusters: which host to empty (fewest and
 * lightest VMs, whose VMs fit elsewhere under the high threshold, never one
 * HA admission control needs), when to power a standby host on (demand over
 * the high threshold, HA short of capacity), damping, min_hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "dpm.h"

/* A powered-on host with a BMC: 4 CPUs (capacity 400), 8192 MiB. */
#define HOST(n) { n, DV_DPM_HOST_ON, true, 400, 4, 8192 }
#define STANDBY(n) { n, DV_DPM_HOST_STANDBY, true, 400, 4, 8192 }
/* A running, movable VM: 1 CPU, 1024 MiB configured, 200 MiB active. */
#define VM(n, h, c) { n, h, true, true, c, 200, 1024, 1 }

static struct dv_dpm_input input(const struct dv_dpm_host *h, size_t nh,
                                 const struct dv_dpm_vm *v, size_t nv)
{
        struct dv_dpm_input in = { .hosts = h, .n_hosts = nh, .vms = v, .n_vms = nv };

        dv_dpm_settings_default(&in.settings);
        in.settings.mode = DV_DPM_AUTOMATIC;
        in.settings.persist_passes = 1;
        return in;
}

static void test_light_load_empties_fewest_vms(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10), VM("v2", 0, 10), VM("v3", 1, 10),
                                 VM("v4", 2, 5), VM("v5", 2, 5) };
        struct dv_dpm_input in = input(h, 3, v, 5);
        struct dv_dpm_result r;

        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_equal(r.host, 1); /* b: one VM */
        assert_true(r.util < 0.30);
        assert_non_null(strstr(r.reason, "host 'b'"));
        assert_int_equal(r.hosts_on, 3);
}

static void test_ties_lightest_then_name(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 30), VM("v2", 1, 5), VM("v3", 2, 30) };
        struct dv_dpm_input in = input(h, 3, v, 3);
        struct dv_dpm_result r;

        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_equal(r.host, 1); /* b: lightest */
        /* All equal: the last name goes first. */
        v[1].cpu_demand = 30;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.host, 2);
}

static void test_vms_must_fit_under_high(void **state)
{
        /* c is empty and goes first. Then b's heavy VM would put a over
         * 70%: b stays. */
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 250), VM("v2", 1, 250) };
        struct dv_dpm_input in = input(h, 3, v, 2);
        struct dv_dpm_result r;

        in.settings.low_pct = 50;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_equal(r.host, 2);
        h[2].power = DV_DPM_HOST_STANDBY;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        /* 500/800 = 62.5% > 50%: not light any more. */
        assert_int_equal(r.action, DV_DPM_NONE);
        in.settings.low_pct = 65;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_non_null(strstr(r.skipped, "within 70%"));
}

static void test_memory_must_fit(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 1), VM("v2", 1, 1) };
        struct dv_dpm_input in = input(h, 2, v, 2);
        struct dv_dpm_result r;

        v[0].memory_mib = 6000;
        v[1].memory_mib = 6000;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_non_null(strstr(r.skipped, "no other host takes"));
}

static void test_unmovable_vm_blocks(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10), VM("v2", 0, 10), VM("v3", 1, 10),
                                 VM("v4", 2, 10), VM("v5", 2, 10) };
        struct dv_dpm_input in = input(h, 3, v, 5);
        struct dv_dpm_result r;

        v[2].movable = false; /* b's only VM (a local disk) */
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_not_equal(r.host, 1);
        assert_non_null(strstr(r.skipped, "vm 'v3' cannot move"));
}

static void test_no_bmc_never_chosen(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10) };
        struct dv_dpm_input in = input(h, 2, v, 1);
        struct dv_dpm_result r;

        h[1].has_bmc = false;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_equal(r.host, 0); /* a, its VM moves to b */
        h[0].has_bmc = false;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
}

static void test_ha_admission_keeps_hosts(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10), VM("v2", 1, 10), VM("v3", 2, 10) };
        struct dv_dpm_input in = input(h, 3, v, 3);
        struct dv_ha_settings ha;
        struct dv_dpm_result r;

        dv_ha_settings_default(&ha); /* hosts, N = 1 */
        in.ha = &ha;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        /* Two hosts left: losing one leaves one: HA needs both. */
        h[r.host].power = DV_DPM_HOST_STANDBY;
        for (size_t i = 0; i < 3; i++)
                if (v[i].host == r.host)
                        v[i].host = (r.host + 1) % 3;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_false(r.ha_short);
        assert_non_null(strstr(r.skipped, "HA admission control needs it"));
        /* Without HA admission control, one host is enough. */
        ha.admission = DV_HA_ADMISSION_OFF;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        /* With 3 hosts and 2 failures tolerated none may go. */
        ha.admission = DV_HA_ADMISSION_HOSTS;
        ha.host_failures = 2;
        for (size_t i = 0; i < 3; i++)
                h[i].power = DV_DPM_HOST_ON;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
}

static void test_ha_short_powers_on(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b"), STANDBY("c") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10), VM("v2", 1, 10) };
        struct dv_dpm_input in = input(h, 3, v, 2);
        struct dv_ha_settings ha;
        struct dv_dpm_result r;

        dv_ha_settings_default(&ha);
        ha.host_failures = 2; /* needs 3 hosts */
        in.ha = &ha;
        in.settings.persist_passes = 5; /* not damped */
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_true(r.ha_short);
        assert_int_equal(r.action, DV_DPM_POWER_ON);
        assert_int_equal(r.host, 2);
        assert_non_null(strstr(r.reason, "HA admission control"));
}

static void test_high_load_powers_on_biggest(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), STANDBY("b"), STANDBY("c"), STANDBY("d") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 100), VM("v2", 0, 100), VM("v3", 0, 100) };
        struct dv_dpm_input in = input(h, 4, v, 3);
        struct dv_dpm_result r;

        h[2].memory_mib = 16384;
        h[3].has_bmc = false;
        h[3].memory_mib = 65536;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_true(r.util > 0.70);
        assert_int_equal(r.action, DV_DPM_POWER_ON);
        assert_int_equal(r.host, 2); /* c: most memory with a BMC */
        assert_true(r.util_after < r.util);
}

static void test_damping(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10) };
        struct dv_dpm_input in = input(h, 2, v, 1);
        struct dv_dpm_result r;

        in.settings.persist_passes = 3;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_int_equal(r.low_passes, 1);
        in.low_before = r.low_passes;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        in.low_before = r.low_passes;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        /* Load in between resets the count. */
        v[0].cpu_demand = 300; /* 37.5% */
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.low_passes, 0);
        assert_int_equal(r.high_passes, 0);
        assert_int_equal(r.action, DV_DPM_NONE);
}

static void test_min_hosts_busy_off(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10) };
        struct dv_dpm_input in = input(h, 2, v, 1);
        struct dv_dpm_result r;

        in.settings.min_hosts = 2;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_non_null(strstr(r.reason, "min_hosts"));
        in.settings.min_hosts = 1;
        in.busy = true;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        in.busy = false;
        in.settings.mode = DV_DPM_OFF;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        /* A host in maintenance counts for nothing and is never chosen. */
        in.settings.mode = DV_DPM_MANUAL;
        h[1].power = DV_DPM_HOST_OTHER;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_NONE);
        assert_int_equal(r.hosts_on, 1);
}

static void test_stopped_vms_are_replaced(void **state)
{
        struct dv_dpm_host h[] = { HOST("a"), HOST("b") };
        struct dv_dpm_vm v[] = { VM("v1", 0, 10), VM("v2", 1, 0) };
        struct dv_dpm_input in = input(h, 2, v, 2);
        struct dv_dpm_result r;

        v[1].running = false;
        assert_int_equal(dv_dpm_pass(&in, &r), 0);
        assert_int_equal(r.action, DV_DPM_POWER_OFF);
        assert_int_equal(r.host, 1); /* no running VM */
}

static void test_settings_patch(void **state)
{
        struct dv_dpm_settings s;
        struct dv_error err = { 0 };
        json_t *p;

        dv_dpm_settings_default(&s);
        p = json_pack("{s:s,s:i,s:i}", "mode", "automatic", "low_pct", 20, "high_pct", 60);
        assert_int_equal(dv_dpm_settings_patch(&s, p, &err), 0);
        json_decref(p);
        assert_int_equal(s.mode, DV_DPM_AUTOMATIC);
        assert_int_equal(s.low_pct, 20);
        p = json_pack("{s:i}", "low_pct", 60);
        assert_true(dv_dpm_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        assert_int_equal(s.low_pct, 20);
        p = json_pack("{s:s}", "mode", "sometimes");
        assert_true(dv_dpm_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        p = json_pack("{s:i}", "bogus", 1);
        assert_true(dv_dpm_settings_patch(&s, p, &err) < 0);
        json_decref(p);
}

static void test_bad_input(void **state)
{
        struct dv_dpm_host h[] = { HOST("a") };
        struct dv_dpm_vm v[] = { VM("v1", 3, 10) };
        struct dv_dpm_input in = input(h, 1, v, 1);
        struct dv_dpm_result r;

        assert_int_equal(dv_dpm_pass(&in, &r), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_light_load_empties_fewest_vms),
                cmocka_unit_test(test_ties_lightest_then_name),
                cmocka_unit_test(test_vms_must_fit_under_high),
                cmocka_unit_test(test_memory_must_fit),
                cmocka_unit_test(test_unmovable_vm_blocks),
                cmocka_unit_test(test_no_bmc_never_chosen),
                cmocka_unit_test(test_ha_admission_keeps_hosts),
                cmocka_unit_test(test_ha_short_powers_on),
                cmocka_unit_test(test_high_load_powers_on_biggest),
                cmocka_unit_test(test_damping),
                cmocka_unit_test(test_min_hosts_busy_off),
                cmocka_unit_test(test_stopped_vms_are_replaced),
                cmocka_unit_test(test_settings_patch),
                cmocka_unit_test(test_bad_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
