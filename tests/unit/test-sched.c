/* Placement: the asked-for host, else the connected host with the most
 * unreserved memory that fits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sched-place.h"

static const char *const ds_a[] = { "a-local", "shared" };
static const char *const ds_b[] = { "b-local", "shared" };
static const char *const ds_c[] = { "c-local" };

static const char *const dvs_a[] = { "lan", "dmz" };
static const char *const dvs_b[] = { "lan" };
static const char *const dvs_c[] = { "lan", "dmz", "san" };

static struct dv_sched_host hosts[] = {
        { "id-a", "a", true, 8, 8192, 4096, ds_a, 2, dvs_a, 2, 0, 0, "connected" },   /* 4096 free */
        { "id-b", "b", true, 4, 16384, 8192, ds_b, 2, dvs_b, 1, 0, 0, "connected" },  /* 8192 free */
        { "id-c", "c", false, 64, 65536, 0, ds_c, 1, dvs_c, 3, 0, 0, "unreachable" },   /* unreachable */
};

static int place(const struct dv_sched_req *req, size_t *idx, struct dv_error *err)
{
        return dv_sched_place(hosts, ELEMENTSOF(hosts), req, idx, err);
}

static void test_most_unreserved(void **state)
{
        struct dv_sched_req req = { .cpus = 2, .memory_mib = 1024 };
        struct dv_error err = { 0 };
        size_t idx = 99;

        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* b: 8192 free beats a: 4096 */
        req.memory_mib = 8192;
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* exactly fits */
        req.memory_mib = 8193; /* c would fit but is not connected */
        assert_true(place(&req, &idx, &err) < 0);
        assert_int_equal(err.status, 409);
        assert_string_equal(err.code, "insufficient-resources");
}

static void test_cpus_and_datastores(void **state)
{
        struct dv_sched_req req = { .cpus = 6, .memory_mib = 1024 };
        struct dv_error err = { 0 };
        const char *shared[] = { "shared" };
        size_t idx = 99;

        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 0); /* only a has 6 CPUs */
        req.cpus = 1;
        req.need_local = true; /* every connected host has its HOST-local */
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 1);
        req.datastores = shared;
        req.n_datastores = 1;
        assert_int_equal(place(&req, &idx, &err), 0);
        req.cpus = 9;
        assert_true(place(&req, &idx, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
}

static void test_asked_for_host(void **state)
{
        struct dv_sched_req req = { .cpus = 1, .memory_mib = 1024, .host_id = "id-a" };
        struct dv_error err = { 0 };
        const char *bonly[] = { "b-local" };
        size_t idx = 99;

        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 0); /* even though b has more free */
        req.memory_mib = 4097;
        assert_true(place(&req, &idx, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
        assert_non_null(strstr(err.message, "'a'"));
        req.memory_mib = 64;
        req.datastores = bonly;
        req.n_datastores = 1;
        assert_true(place(&req, &idx, &err) < 0);
        assert_int_equal(err.status, 404);
        assert_string_equal(err.code, "unknown-datastore");
        req.n_datastores = 0;
        req.host_id = "id-c";
        assert_true(place(&req, &idx, &err) < 0);
        assert_string_equal(err.code, "invalid-state");
        req.host_id = "id-zz";
        assert_true(place(&req, &idx, &err) < 0);
        assert_string_equal(err.code, "unknown-host");
}

/* CPU reservations (docs/qos.md): a host whose unreserved CPU is short is
 * skipped, and the asked-for host says so. */
static void test_cpu_reservation(void **state)
{
        static const char *const none[] = { NULL };
        struct dv_sched_host two[] = {
                { "id-x", "x", true, 2, 8192, 0, none, 0, none, 0, 2600, 4000, "connected" }, /* 1200 left */
                { "id-y", "y", true, 2, 4096, 0, none, 0, none, 0, 2600, 0, "connected" },
        };
        struct dv_sched_req req = { .cpus = 1, .memory_mib = 16, .cpu_reservation_mhz = 1300 };
        struct dv_error err = { 0 };
        size_t idx = 99;

        assert_int_equal(dv_sched_place(two, 2, &req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* x has more memory but not the CPU */
        req.host_id = "id-x";
        assert_true(dv_sched_place(two, 2, &req, &idx, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
        assert_non_null(strstr(err.message, "1200 MHz of unreserved CPU"));
        req.host_id = NULL;
        req.cpu_reservation_mhz = 5201;
        assert_true(dv_sched_place(two, 2, &req, &idx, &err) < 0);
        assert_non_null(strstr(err.message, "5201 MHz of unreserved CPU"));
}

static void test_ties_and_empty(void **state)
{
        static const char *const none[] = { NULL };
        struct dv_sched_host two[] = {
                { "id-y", "y", true, 4, 4096, 0, none, 0, none, 0, 0, 0, "connected" },
                { "id-x", "x", true, 4, 4096, 0, none, 0, none, 0, 0, 0, "connected" },
        };
        struct dv_sched_req req = { .cpus = 1, .memory_mib = 16 };
        struct dv_error err = { 0 };
        size_t idx = 99;

        assert_int_equal(dv_sched_place(two, 2, &req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* tie: by name */
        assert_true(dv_sched_place(two, 0, &req, &idx, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
        /* Overcommitted host (reserved > memory) never fits. */
        two[0].reserved_mib = 5000;
        two[1].reserved_mib = 5000;
        assert_true(dv_sched_place(two, 2, &req, &idx, &err) < 0);
}

/* NICs: only hosts attached to every DVS of the VM's port groups. */
static void test_dvs(void **state)
{
        struct dv_sched_req req = { .cpus = 1, .memory_mib = 1024 };
        struct dv_error err = { 0 };
        const char *lan[] = { "lan" }, *dmz[] = { "dmz" }, *both[] = { "lan", "dmz" };
        const char *san[] = { "san" }, *nowhere[] = { "wan" };
        size_t idx = 99;

        req.dvs = lan;
        req.n_dvs = 1;
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* both a and b: b has more free */
        req.dvs = dmz;
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 0); /* only a */
        req.dvs = both;
        req.n_dvs = 2;
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 0);
        /* only the unreachable host has it */
        req.dvs = san;
        req.n_dvs = 1;
        assert_true(place(&req, &idx, &err) < 0);
        assert_string_equal(err.code, "insufficient-resources");
        assert_non_null(strstr(err.message, "dvs 'san'"));
        req.dvs = nowhere;
        assert_true(place(&req, &idx, &err) < 0);
        assert_non_null(strstr(err.message, "dvs 'wan'"));
        /* the asked-for host must be attached */
        req.dvs = dmz;
        req.host_id = "id-b";
        assert_true(place(&req, &idx, &err) < 0);
        assert_int_equal(err.status, 409);
        assert_string_equal(err.code, "insufficient-resources");
        assert_non_null(strstr(err.message, "host 'b' is not attached to dvs 'dmz'"));
        req.host_id = "id-a";
        assert_int_equal(place(&req, &idx, &err), 0);
        assert_int_equal(idx, 0);
}

/* Maintenance: a host in maintenance is refused by name when asked for. */
static void test_maintenance_refused(void **state)
{
        static const char *const none[] = { NULL };
        struct dv_sched_host h[] = {
                { "id-m", "m", false, 4, 4096, 0, none, 0, none, 0, 0, 0, "maintenance" },
        };
        struct dv_sched_req req = { .cpus = 1, .memory_mib = 16, .host_id = "id-m" };
        struct dv_error err = { 0 };
        size_t idx = 99;

        assert_true(dv_sched_place(h, 1, &req, &idx, &err) < 0);
        assert_string_equal(err.code, "invalid-state");
        assert_non_null(strstr(err.message, "maintenance mode"));
}

/* Evacuation: the source is never a target, placements add up, the
 * largest VM goes first, and a VM that fits nowhere is named. */
static void test_evacuate(void **state)
{
        static const char *const sh[] = { "shared" };
        struct dv_sched_host h[] = {
                { "id-1", "h1", true, 4, 4096, 3000, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-2", "h2", true, 4, 4096, 2560, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-3", "h3", true, 4, 4096, 3072, sh, 1, NULL, 0, 0, 0, "connected" },
        };
        struct dv_sched_req small = { .cpus = 1, .memory_mib = 512 };
        struct dv_sched_req mid = { .cpus = 1, .memory_mib = 1024 };
        struct dv_sched_req big = { .cpus = 1, .memory_mib = 1536 };
        const struct dv_sched_req *reqs[] = { &small, &mid, &big };
        struct dv_error errs[3];
        size_t tg[3];

        /* free: h2 1536, h3 1024. big (1536) -> h2 (0 left); mid -> h3
         * (0 left); small fits nowhere. */
        assert_int_equal(dv_sched_evacuate(h, 3, 0, reqs, 3, tg, errs), 1);
        assert_int_equal(tg[2], 1);
        assert_int_equal(tg[1], 2);
        assert_int_equal(tg[0], SIZE_MAX);
        assert_string_equal(errs[0].code, "insufficient-resources");
        assert_int_equal(h[1].reserved_mib, 2560); /* the input is not changed */
        /* Without the big one everything fits, never on the source. */
        assert_int_equal(dv_sched_evacuate(h, 3, 0, reqs, 2, tg, errs), 0);
        assert_true(tg[0] != 0 && tg[1] != 0);
        /* Nowhere to go: the other hosts are in maintenance. */
        h[1].connected = h[2].connected = false;
        h[1].state = h[2].state = "maintenance";
        assert_int_equal(dv_sched_evacuate(h, 3, 0, reqs, 3, tg, errs), 3);
}

/* The explanation: every host's verdict with the scheduler's own reason,
 * the chosen host first, candidates by headroom, and DRS's imbalance with
 * the VM on each candidate. */
static json_t *find_host(json_t *ex, const char *name)
{
        json_t *h;
        size_t i;

        json_array_foreach(json_object_get(ex, "hosts"), i, h)
                if (strcmp(json_string_value(json_object_get(h, "name")), name) == 0)
                        return h;
        return NULL;
}

static void test_explain(void **state)
{
        static const char *const sh[] = { "shared" };
        struct dv_sched_host h[] = {
                { "id-1", "h1", true, 2, 4096, 3072, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-2", "h2", true, 2, 4096, 1024, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-3", "h3", false, 2, 4096, 0, sh, 1, NULL, 0, 0, 0, "maintenance" },
                { "id-4", "h4", true, 2, 4096, 2048, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-5", "h5", true, 1, 8192, 0, sh, 1, NULL, 0, 0, 0, "connected" },
                { "id-6", "h6", false, 2, 4096, 0, sh, 1, NULL, 0, 0, 0, "standby" },
        };
        /* h1 busy, the others idle. */
        struct dv_sched_load l[] = { { 0.8, 0.5 }, { 0, 0.25 }, { 0, 0 },
                                     { 0, 0.5 }, { 0, 0 }, { 0, 0 } };
        struct dv_sched_req req = { .cpus = 2, .memory_mib = 1024 };
        struct dv_error err = { 0 };
        json_t *ex, *x;
        size_t idx = 99;
        double c[4], m[4], sc = 0, sm = 0, qc = 0, qm = 0, want;

        assert_int_equal(dv_sched_place(h, 6, &req, &idx, &err), 0);
        assert_int_equal(idx, 1); /* h2: 3072 MiB free; h5 has 1 CPU */
        ex = dv_sched_explain(h, 6, &req, l, idx);
        assert_string_equal(json_string_value(json_object_get(ex, "chosen")), "h2");
        assert_int_equal(json_integer_value(json_object_get(ex, "candidates")), 3);
        /* Order: chosen, candidates by headroom (h4 2048 before h1 0), rejected. */
        x = json_object_get(ex, "hosts");
        assert_int_equal(json_array_size(x), 6);
        assert_string_equal(json_string_value(json_object_get(json_array_get(x, 0), "name")), "h2");
        assert_string_equal(json_string_value(json_object_get(json_array_get(x, 1), "name")), "h4");
        assert_string_equal(json_string_value(json_object_get(json_array_get(x, 2), "name")), "h1");
        x = find_host(ex, "h2");
        assert_string_equal(json_string_value(json_object_get(x, "verdict")), "chosen");
        assert_int_equal(json_integer_value(json_object_get(x, "headroom_mib")), 2048);
        x = find_host(ex, "h1");
        assert_string_equal(json_string_value(json_object_get(x, "verdict")), "candidate");
        assert_non_null(strstr(json_string_value(json_object_get(x, "reason")), "less headroom"));
        x = find_host(ex, "h3");
        assert_string_equal(json_string_value(json_object_get(x, "verdict")), "rejected");
        assert_non_null(strstr(json_string_value(json_object_get(x, "reason")),
                               "maintenance mode"));
        assert_true(json_is_null(json_object_get(x, "imbalance_after")));
        x = find_host(ex, "h5");
        assert_string_equal(json_string_value(json_object_get(x, "verdict")), "rejected");
        assert_non_null(strstr(json_string_value(json_object_get(x, "reason")), "1 CPUs"));
        x = find_host(ex, "h6");
        assert_non_null(strstr(json_string_value(json_object_get(x, "reason")), "standby"));
        /* The imbalance with the VM on h4 (its 2 CPUs busy: +1.0 CPU load,
         * +0.25 memory load), over the connected hosts h1 h2 h4 h5, as
         * drs.c's sqrt(sd(cpu)^2 + sd(mem)^2). */
        c[0] = 0.8, c[1] = 0, c[2] = 1.0, c[3] = 0;
        m[0] = 0.5, m[1] = 0.25, m[2] = 0.75, m[3] = 0;
        for (int i = 0; i < 4; i++)
                sc += c[i], sm += m[i];
        for (int i = 0; i < 4; i++)
                qc += (c[i] - sc / 4) * (c[i] - sc / 4), qm += (m[i] - sm / 4) * (m[i] - sm / 4);
        want = sqrt(qc / 4 + qm / 4);
        x = find_host(ex, "h4");
        assert_true(fabs(json_number_value(json_object_get(x, "imbalance_after")) - want) < 0.001);
        assert_true(json_number_value(json_object_get(ex, "imbalance")) > 0);
        json_decref(ex);

        /* Asked for a host: only it, with the scheduler's refusal. */
        req.host_id = "id-1";
        req.memory_mib = 2048;
        assert_true(dv_sched_place(h, 6, &req, &idx, &err) < 0);
        ex = dv_sched_explain(h, 6, &req, NULL, SIZE_MAX);
        assert_true(json_is_null(json_object_get(ex, "chosen")));
        assert_string_equal(json_string_value(json_object_get(ex, "asked")), "h1");
        assert_int_equal(json_array_size(json_object_get(ex, "hosts")), 1);
        x = find_host(ex, "h1");
        assert_string_equal(json_string_value(json_object_get(x, "reason")), err.message);
        assert_true(json_is_null(json_object_get(ex, "imbalance")));
        json_decref(ex);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dvs),
                cmocka_unit_test(test_most_unreserved),
                cmocka_unit_test(test_cpus_and_datastores),
                cmocka_unit_test(test_asked_for_host),
                cmocka_unit_test(test_ties_and_empty),
                cmocka_unit_test(test_cpu_reservation),
                cmocka_unit_test(test_maintenance_refused),
                cmocka_unit_test(test_evacuate),
                cmocka_unit_test(test_explain),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
