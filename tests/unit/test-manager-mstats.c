/* Load metrics: the bounded series (raw ring, minute averages, windows)
 * and the registry's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mstats.h"

#define T0 (INT64_C(1700000000) * 1000 / 60000 * 60000) /* a minute boundary */

static void test_empty(void **state)
{
        struct dv_ts ts;
        struct dv_ts_sample s;
        json_t *j;

        dv_ts_init(&ts);
        assert_false(dv_ts_last(&ts, &s));
        assert_false(dv_ts_avg(&ts, T0, 60000, &s));
        j = dv_ts_summary(&ts, T0);
        assert_true(json_is_null(json_object_get(json_object_get(j, "cpu_pct"), "now")));
        json_decref(j);
}

static void test_raw_ring_and_1m(void **state)
{
        struct dv_ts ts;
        struct dv_ts_sample s;

        dv_ts_init(&ts);
        /* 100 samples a second apart: cpu = i, memory = 2i. */
        for (int i = 0; i < 100; i++)
                dv_ts_add(&ts, T0 + i * 1000, i, 2.0 * i);
        assert_int_equal(ts.raw_n, DV_TS_RAW);
        assert_true(dv_ts_last(&ts, &s));
        assert_true(s.cpu_pct == 99 && s.memory_mib == 198);
        /* The last 10 s: samples 90..99, mean 94.5. */
        assert_true(dv_ts_avg(&ts, T0 + 99000, 10000, &s));
        assert_true(fabs(s.cpu_pct - 94.5) < 1e-9);
        assert_true(fabs(s.memory_mib - 189.0) < 1e-9);
        /* Older samples and repeats are ignored. */
        dv_ts_add(&ts, T0 + 5000, 1000, 1000);
        dv_ts_add(&ts, T0 + 99000, 1000, 1000);
        assert_true(dv_ts_last(&ts, &s) && s.cpu_pct == 99);
        /* NaN is refused. */
        dv_ts_add(&ts, T0 + 100000, NAN, 1);
        assert_true(dv_ts_last(&ts, &s) && s.t_ms == T0 + 99000);
}

static void test_minutes_and_5m(void **state)
{
        struct dv_ts ts;
        struct dv_ts_sample s;
        json_t *j;

        dv_ts_init(&ts);
        /* Six minutes, one sample every 10 s; minute k has cpu 10k. */
        for (int k = 0; k < 6; k++)
                for (int i = 0; i < 6; i++)
                        dv_ts_add(&ts, T0 + k * 60000 + i * 10000, 10.0 * k, 100);
        assert_int_equal(ts.min_n, 5); /* minute 5 is still being summed */
        /* 5 min window at the end of minute 5: minutes 1..4 + the current 5. */
        assert_true(dv_ts_avg(&ts, T0 + 5 * 60000 + 50000, 5 * 60000, &s));
        assert_true(fabs(s.cpu_pct - 30.0) < 1e-9);
        assert_true(fabs(s.memory_mib - 100.0) < 1e-9);
        j = dv_ts_to_json(&ts, T0 + 5 * 60000 + 50000);
        assert_int_equal(json_array_size(json_object_get(j, "minutes")), 5);
        assert_int_equal(json_array_size(json_object_get(j, "samples")), 36);
        json_decref(j);
        /* An hour and more: the minute ring stays bounded. */
        for (int k = 6; k < 200; k++)
                dv_ts_add(&ts, T0 + k * 60000, 1, 1);
        assert_int_equal(ts.min_n, DV_TS_MINUTES);
}

static void test_registry(void **state)
{
        struct dv_mstats *s = dv_mstats_new();
        struct dv_ts_sample x;
        char id[32];
        json_t *j;

        dv_mstats_add(s, "vm", "a", T0, 50, 100);
        dv_mstats_add(s, "vm", "a", T0 + 1000, 70, 120);
        assert_true(dv_mstats_avg(s, "a", T0 + 1000, 60000, &x));
        assert_true(x.cpu_pct == 60 && x.memory_mib == 110);
        assert_null(dv_mstats_summary(s, "nope", T0));
        j = dv_mstats_summary(s, "a", T0 + 1000);
        assert_true(json_real_value(json_object_get(json_object_get(j, "cpu_pct"), "now")) == 70);
        json_decref(j);
        /* Bounded: more series than the limit evict the least recently fed. */
        for (int i = 0; i < DV_MSTATS_MAX_SERIES + 10; i++) {
                snprintf(id, sizeof(id), "vm-%d", i);
                dv_mstats_add(s, "vm", id, T0 + 2000 + i, 1, 1);
        }
        assert_false(dv_mstats_avg(s, "a", T0 + 5000, 60000, &x));
        assert_true(dv_mstats_avg(s, "vm-4100", T0 + 9000, 60000, &x));
        /* Expired series go when a new one comes. */
        dv_mstats_add(s, "vm", "late", T0 + DV_MSTATS_EXPIRE_MS + 100000, 1, 1);
        assert_false(dv_mstats_avg(s, "vm-1", T0 + DV_MSTATS_EXPIRE_MS + 100000, 60000, &x));
        dv_mstats_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_raw_ring_and_1m),
                cmocka_unit_test(test_minutes_and_5m),
                cmocka_unit_test(test_registry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
