/* DRS decision core on hand-made clusters: the imbalance metric, threshold
 * and damping, gain and cost, capacity and concurrency, and the rules
 * (anti-affinity, affinity, VM-host must/should) fixed with the fewest
 * moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "drs.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-6)

/* A host: 2 CPUs (capacity 200), 4096 MiB. */
#define HOST(n) { "id-" n, n, true, 200, 2, 4096, 0, 0 }
/* A running, movable VM of 1 CPU, 512 MiB, on host h with cpu demand c. */
#define VM(n, h, c) { "id-" n, n, h, true, c, 100, 512, 1 }

static struct dv_drs_input input(const struct dv_drs_host *h, size_t nh,
                                 const struct dv_drs_vm *v, size_t nv, int threshold)
{
        struct dv_drs_input in = { .hosts = h, .n_hosts = nh, .vms = v, .n_vms = nv };

        dv_drs_settings_default(&in.settings);
        in.settings.mode = DV_DRS_MANUAL;
        in.settings.threshold = threshold;
        in.settings.persist_passes = 1;
        in.settings.max_concurrent = 8;
        return in;
}

static void test_imbalance_metric(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b") };
        struct dv_drs_vm v[] = { VM("x", 0, 100), VM("y", 0, 100) };
        struct dv_drs_input in = input(h, 2, v, 2, 3);
        double cpu[2], mem[2];

        /* cpu loads 1.0 and 0: sd 0.5; memory 200/4096 and 0: sd 0.0244. */
        double imb = dv_drs_loads(&in, NULL, cpu, mem);
        assert_true(NEAR(cpu[0], 1.0) && NEAR(cpu[1], 0.0));
        assert_true(NEAR(mem[0], 200.0 / 4096));
        assert_true(NEAR(imb, sqrt(0.25 + pow(100.0 / 4096, 2))));
        /* Balanced: 0. */
        {
                size_t place[] = { 0, 1 };
                assert_true(NEAR(dv_drs_loads(&in, place, cpu, mem), 0.0));
        }
        /* A host that cannot take VMs (maintenance) does not count. */
        h[1].usable = false;
        assert_true(NEAR(dv_drs_loads(&in, NULL, cpu, mem), 0.0));
}

static void test_balance_moves_to_band(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_drs_vm v[] = { VM("v1", 0, 60), VM("v2", 0, 60), VM("v3", 0, 60),
                                 VM("v4", 0, 60) };
        struct dv_drs_input in = input(h, 3, v, 4, 3);
        struct dv_drs_result res;

        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_true(res.imbalanced);
        assert_true(res.n_recs >= 2);
        for (size_t i = 0; i < res.n_recs; i++) {
                assert_int_equal(res.recs[i].why, DV_DRS_WHY_BALANCE);
                assert_int_equal(res.recs[i].from, 0);
                assert_true(res.recs[i].gain >= dv_drs_min_gain(3));
                assert_true(NEAR(res.recs[i].gain,
                                 res.recs[i].imbalance_before - res.recs[i].imbalance_after));
                assert_int_equal(res.recs[i].cost_mib, 100); /* active memory to copy */
                assert_non_null(strstr(res.recs[i].reason, "lowers the imbalance"));
        }
        assert_true(res.imbalance_after <= res.target);
        /* Two moves suffice: one to b, one to c. */
        assert_int_equal(res.n_recs, 2);
        assert_true(res.recs[0].to != res.recs[1].to);
}

static void test_threshold(void **state)
{
        /* cpu loads 0.6 and 0.3 (sd 0.15 + a little memory). */
        struct dv_drs_host h[] = { HOST("a"), HOST("b") };
        struct dv_drs_vm v[] = { VM("v1", 0, 60), VM("v2", 0, 60), VM("v3", 1, 60) };
        struct dv_drs_input in = input(h, 2, v, 3, 2);
        struct dv_drs_result res;

        assert_true(dv_drs_target(1) > 1e9);
        assert_true(dv_drs_target(2) > dv_drs_target(3) && dv_drs_target(4) > dv_drs_target(5));
        assert_true(dv_drs_min_gain(2) > dv_drs_min_gain(5));
        /* Conservative (2): within 0.25, nothing. */
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_false(res.imbalanced);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "within the target"));
        /* Aggressive (5): above 0.04, but no move helps: moving a 60 from
         * a to b gives 0.3/0.6, the same imbalance. */
        in.settings.threshold = 5;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_true(res.imbalanced);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "no move improves"));
        /* Threshold 1: rules only, even when badly imbalanced. */
        v[2].host = 0;
        in.settings.threshold = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "only rules"));
}

static void test_min_gain(void **state)
{
        /* a: 100 + 0.5, b: 60 (cpu loads 0.5025 / 0.3). Moving the tiny VM
         * is the only move that helps, by 0.003 < 0.005 (threshold 5). */
        struct dv_drs_host h[] = { HOST("a"), HOST("b") };
        struct dv_drs_vm v[] = { VM("big", 0, 100), VM("tiny", 0, 0.5), VM("other", 1, 60) };
        struct dv_drs_input in = input(h, 2, v, 3, 5);
        struct dv_drs_result res;

        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_true(res.imbalanced);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "gains only"));
        assert_non_null(strstr(res.note, "tiny"));
        /* A bigger step clears the margin. */
        v[1].cpu_demand = 10;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 1);
        assert_string_equal(v[res.recs[0].vm].name, "tiny");
}

static void test_damping(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b") };
        struct dv_drs_vm v[] = { VM("v1", 0, 100), VM("v2", 0, 100) };
        struct dv_drs_input in = input(h, 2, v, 2, 3);
        struct dv_drs_result res;

        in.settings.persist_passes = 3;
        in.persisted_before = 0;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.persisted, 1);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "1 pass(es) of the 3"));
        in.persisted_before = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        in.persisted_before = 2;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.persisted, 3);
        assert_int_equal(res.n_recs, 1);
        /* Balanced: the count starts again. */
        v[1].host = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.persisted, 0);
}

static void test_cost(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b") };
        struct dv_drs_vm v[] = { VM("fat", 0, 100), VM("thin", 0, 100) };
        struct dv_drs_input in = input(h, 2, v, 2, 3);
        struct dv_drs_result res;

        v[0].mem_demand_mib = 2000; /* same CPU; fat costs more to copy */
        v[1].mem_demand_mib = 2000;
        v[1].mem_demand_mib = 300;
        /* Moving either balances CPU; memory prefers moving fat, but cap
         * the copy below fat's memory: thin moves. */
        in.settings.max_copy_mib = 1000;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 1);
        assert_string_equal(v[res.recs[0].vm].name, "thin");
        assert_int_equal(res.recs[0].cost_mib, 300);
        /* Nothing may be copied: nothing moves, and the note says why. */
        in.settings.max_copy_mib = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.note, "max_copy_mib"));
        /* Equal gain: the cheaper copy wins. */
        {
                struct dv_drs_vm w[] = { VM("p", 0, 100), VM("q", 0, 100) };
                struct dv_drs_input in2 = input(h, 2, w, 2, 3);

                w[0].mem_demand_mib = 0;      /* unknown: its configured 512 */
                w[1].mem_demand_mib = 0;
                w[1].memory_mib = 256;
                assert_int_equal(dv_drs_pass(&in2, &res), 0);
                assert_int_equal(res.n_recs, 1);
                assert_string_equal(w[res.recs[0].vm].name, "q");
                assert_int_equal(res.recs[0].cost_mib, 256);
        }
}

static void test_capacity_and_concurrency(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_drs_vm v[] = { VM("v1", 0, 100), VM("v2", 0, 100) };
        struct dv_drs_input in = input(h, 3, v, 2, 3);
        struct dv_drs_result res;

        /* b is full (reserved), c in maintenance: nowhere to go. */
        h[1].reserved_mib = 4000;
        h[2].usable = false;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        /* b has room but runs a migration already (max 1). */
        h[1].reserved_mib = 0;
        h[1].migrations = 1;
        in.settings.max_concurrent = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        /* Free: one move to b. */
        h[1].migrations = 0;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 1);
        assert_int_equal(res.recs[0].to, 1);
        /* A VM that cannot move (busy, local disk) stays. */
        v[0].movable = v[1].movable = false;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        /* More vCPUs than the target has. */
        v[0].movable = v[1].movable = true;
        v[0].cpus = v[1].cpus = 4;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
}

static void test_max_moves(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c"), HOST("d") };
        struct dv_drs_vm v[] = { VM("v1", 0, 50), VM("v2", 0, 50), VM("v3", 0, 50),
                                 VM("v4", 0, 50) };
        struct dv_drs_input in = input(h, 4, v, 4, 5);
        struct dv_drs_result res;

        in.settings.max_moves = 1;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 1);
        in.settings.max_moves = 10;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 3); /* one VM per host */
        assert_true(NEAR(res.imbalance_after, 0.0));
}

static void test_anti_affinity(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_drs_vm v[] = { VM("w1", 0, 10), VM("w2", 0, 10), VM("w3", 0, 10),
                                 VM("x", 1, 10) };
        size_t vms[] = { 0, 1, 2 };
        struct dv_drs_rule rule = { "web-apart", DV_DRS_RULE_ANTI_AFFINITY, vms, 3, NULL, 0 };
        struct dv_drs_input in = input(h, 3, v, 4, 2);
        struct dv_drs_result res;

        in.rules = &rule;
        in.n_rules = 1;
        /* Three together: two moves (keep one), to b and c. Not damped. */
        in.settings.persist_passes = 5;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 2);
        assert_int_equal(res.recs[0].why, DV_DRS_WHY_RULE);
        assert_string_equal(res.recs[0].rule, "web-apart");
        assert_true(res.recs[0].to != res.recs[1].to);
        assert_true(res.recs[0].to != 0 && res.recs[1].to != 0);
        assert_non_null(strstr(res.recs[0].reason, "anti-affinity"));
        /* Kept apart even when balance would put two together: a carries
         * w1 + heavy y, b carries w2; moving w1 to b would balance best,
         * but y goes instead. */
        {
                struct dv_drs_host h2[] = { HOST("a"), HOST("b") };
                struct dv_drs_vm v2[] = { VM("w1", 0, 90), VM("y", 0, 90), VM("w2", 1, 0) };
                size_t pair[] = { 0, 2 };
                struct dv_drs_rule apart = { "apart", DV_DRS_RULE_ANTI_AFFINITY, pair, 2,
                                             NULL, 0 };
                struct dv_drs_input in2 = input(h2, 2, v2, 3, 3);

                in2.rules = &apart;
                in2.n_rules = 1;
                assert_int_equal(dv_drs_pass(&in2, &res), 0);
                assert_int_equal(res.n_recs, 1);
                assert_string_equal(v2[res.recs[0].vm].name, "y");
                /* Only w1 could move: nothing. */
                v2[1].movable = false;
                assert_int_equal(dv_drs_pass(&in2, &res), 0);
                assert_int_equal(res.n_recs, 0);
        }
        /* Nowhere to go: reported as a violation. */
        h[1].usable = h[2].usable = false;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.violations, "web-apart"));
}

static void test_affinity(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_drs_vm v[] = { VM("db", 0, 10), VM("app1", 1, 10), VM("app2", 1, 10),
                                 VM("app3", 2, 10) };
        size_t vms[] = { 0, 1, 2, 3 };
        struct dv_drs_rule rule = { "together", DV_DRS_RULE_AFFINITY, vms, 4, NULL, 0 };
        struct dv_drs_input in = input(h, 3, v, 4, 1); /* rules only */
        struct dv_drs_result res;

        in.rules = &rule;
        in.n_rules = 1;
        /* b holds two of them: the other two join it (2 moves, not 3). */
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 2);
        assert_int_equal(res.recs[0].to, 1);
        assert_int_equal(res.recs[1].to, 1);
        assert_true(res.recs[0].gain < 0 || res.recs[1].gain < 0); /* rules cost balance */
        /* db cannot move: everyone joins it on a. */
        v[0].movable = false;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 3);
        for (size_t i = 0; i < res.n_recs; i++)
                assert_int_equal(res.recs[i].to, 0);
        /* Balancing never splits a group that is together. */
        {
                struct dv_drs_vm w[] = { VM("p", 0, 100), VM("q", 0, 100) };
                size_t pq[] = { 0, 1 };
                struct dv_drs_rule tog = { "pq", DV_DRS_RULE_AFFINITY, pq, 2, NULL, 0 };
                struct dv_drs_input in2 = input(h, 3, w, 2, 5);

                in2.rules = &tog;
                in2.n_rules = 1;
                assert_int_equal(dv_drs_pass(&in2, &res), 0);
                assert_true(res.imbalanced);
                assert_int_equal(res.n_recs, 0);
        }
}

static void test_host_rules(void **state)
{
        struct dv_drs_host h[] = { HOST("a"), HOST("b"), HOST("c") };
        struct dv_drs_vm v[] = { VM("lic", 0, 10), VM("pref", 0, 10) };
        size_t lic[] = { 0 }, pref[] = { 1 }, bc[] = { 1, 2 }, c[] = { 2 };
        struct dv_drs_rule rules[] = {
                { "licensed", DV_DRS_RULE_HOST_MUST, lic, 1, bc, 2 },
                { "prefer-c", DV_DRS_RULE_HOST_SHOULD, pref, 1, c, 1 },
        };
        struct dv_drs_input in = input(h, 3, v, 2, 1);
        struct dv_drs_result res;

        in.rules = rules;
        in.n_rules = 2;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 2);
        assert_string_equal(res.recs[0].rule, "licensed");
        assert_true(res.recs[0].to == 1 || res.recs[0].to == 2);
        assert_string_equal(res.recs[1].rule, "prefer-c");
        assert_int_equal(res.recs[1].to, 2);
        /* Balancing never takes a VM out of its must hosts: lic on b with a
         * heavy load stays (only b and c are allowed; c is full). */
        {
                struct dv_drs_vm w[] = { VM("lic", 1, 150), VM("z", 1, 50) };
                struct dv_drs_input in2 = input(h, 3, w, 2, 5);

                in2.rules = rules;
                in2.n_rules = 1;
                h[2].reserved_mib = 4000;
                assert_int_equal(dv_drs_pass(&in2, &res), 0);
                for (size_t i = 0; i < res.n_recs; i++)
                        assert_string_equal(w[res.recs[i].vm].name, "z");
                h[2].reserved_mib = 0;
        }
        /* A must rule that cannot be met is reported. */
        h[1].usable = h[2].usable = false;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
        assert_non_null(strstr(res.violations, "licensed"));
}

static void test_invalid(void **state)
{
        struct dv_drs_host h[] = { HOST("a") };
        struct dv_drs_vm v[] = { VM("v", 3, 10) };
        struct dv_drs_input in = input(h, 1, v, 1, 3);
        struct dv_drs_result res;

        assert_int_equal(dv_drs_pass(&in, &res), -EINVAL);
        v[0].host = 0;
        in.settings.threshold = 6;
        assert_int_equal(dv_drs_pass(&in, &res), -EINVAL);
        /* One host: nothing to balance. */
        in.settings.threshold = 5;
        assert_int_equal(dv_drs_pass(&in, &res), 0);
        assert_int_equal(res.n_recs, 0);
}

static void test_settings(void **state)
{
        struct dv_drs_settings s;
        struct dv_error err = { 0 };
        json_t *p, *j;

        dv_drs_settings_default(&s);
        assert_int_equal(s.mode, DV_DRS_OFF);
        assert_int_equal(s.threshold, 3);
        p = json_pack("{s:s,s:i}", "mode", "automatic", "threshold", 5);
        assert_int_equal(dv_drs_settings_patch(&s, p, &err), 0);
        json_decref(p);
        assert_int_equal(s.mode, DV_DRS_AUTOMATIC);
        assert_int_equal(s.threshold, 5);
        p = json_pack("{s:i}", "threshold", 6);
        assert_true(dv_drs_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        assert_int_equal(s.threshold, 5); /* unchanged */
        p = json_pack("{s:s}", "mode", "sometimes");
        assert_true(dv_drs_settings_patch(&s, p, &err) < 0);
        assert_non_null(strstr(err.message, "off, manual or automatic"));
        json_decref(p);
        p = json_pack("{s:i}", "bogus", 1);
        assert_true(dv_drs_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        j = dv_drs_settings_to_json(&s);
        assert_string_equal(json_string_value(json_object_get(j, "mode")), "automatic");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_imbalance_metric),
                cmocka_unit_test(test_balance_moves_to_band),
                cmocka_unit_test(test_threshold),
                cmocka_unit_test(test_min_gain),
                cmocka_unit_test(test_damping),
                cmocka_unit_test(test_cost),
                cmocka_unit_test(test_capacity_and_concurrency),
                cmocka_unit_test(test_max_moves),
                cmocka_unit_test(test_anti_affinity),
                cmocka_unit_test(test_affinity),
                cmocka_unit_test(test_host_rules),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_settings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
