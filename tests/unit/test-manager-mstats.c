/* Load metrics: the bounded series (raw ring, minute averages, windows)
 * and the registry's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
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

static const char *const DISK_KEYS[4] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };

static struct dv_io_counters counters(int64_t t_ms, const char *epoch, uint64_t a, uint64_t b,
                                      uint64_t c, uint64_t d)
{
        struct dv_io_counters x = { .valid = true, .t_ms = t_ms, .v = { a, b, c, d } };

        snprintf(x.epoch, sizeof(x.epoch), "%s", epoch);
        return x;
}

static void test_io_rates(void **state)
{
        struct dv_io_counters p = counters(T0, "e1", 1000, 2000, 10, 20), c;
        struct dv_io_counters none = { 0 };
        double r[4];

        /* Steady counters over 2 s. */
        c = counters(T0 + 2000, "e1", 5000, 2000, 50, 22);
        assert_true(dv_io_rates(&p, &c, r));
        assert_true(r[0] == 2000 && r[1] == 0 && r[2] == 20 && r[3] == 1);
        /* No previous reading, same or older time, a gap too long: no rate. */
        assert_false(dv_io_rates(&none, &c, r));
        assert_false(dv_io_rates(&p, &p, r));
        assert_false(dv_io_rates(&c, &p, r));
        c = counters(T0 + DV_IO_MAX_GAP_MS + 1, "e1", 5000, 2000, 50, 22);
        assert_false(dv_io_rates(&p, &c, r));
        /* A counter that went back restarted (QEMU restarted): its value is
         * what it counted since, never a huge unsigned difference. */
        c = counters(T0 + 1000, "e1", 300, 2500, 3, 25);
        assert_true(dv_io_rates(&p, &c, r));
        assert_true(r[0] == 300 && r[1] == 500 && r[2] == 3 && r[3] == 5);
        /* A new epoch (another QEMU, after a migration) restarts all of
         * them even where the new value happens to be higher. */
        c = counters(T0 + 1000, "e2", 1500, 4000, 12, 30);
        assert_true(dv_io_rates(&p, &c, r));
        assert_true(r[0] == 1500 && r[1] == 4000 && r[2] == 12 && r[3] == 30);
}

/* A migration: the target's first reading, then the source's host
 * reports the old QEMU once more. That late reading is ignored; the
 * target's next reading gives its rate from its own first one. */
static void test_io_track_migration(void **state)
{
        struct dv_io_track t = { 0 };
        struct dv_io_counters c;
        double r[4];

        c = counters(T0, "src", 1000000, 0, 100, 0);
        assert_false(dv_io_track_add(&t, &c, r)); /* the first reading */
        c = counters(T0 + 1000, "src", 1001000, 0, 101, 0);
        assert_true(dv_io_track_add(&t, &c, r) && r[0] == 1000);
        c = counters(T0 + 2000, "dst", 500, 0, 5, 0); /* the target, new QEMU */
        assert_true(dv_io_track_add(&t, &c, r) && r[0] == 500);
        c = counters(T0 + 2100, "src", 1002000, 0, 102, 0); /* late: ignored */
        assert_false(dv_io_track_add(&t, &c, r));
        c = counters(T0 + 3000, "dst", 1500, 0, 15, 0);
        assert_true(dv_io_track_add(&t, &c, r));
        assert_true(r[0] == 1000 && r[2] == 10);
        /* A reading older than the last one: ignored, the last one kept. */
        c = counters(T0 + 2500, "dst", 1200, 0, 12, 0);
        assert_false(dv_io_track_add(&t, &c, r));
        c = counters(T0 + 4000, "dst", 2500, 0, 25, 0);
        assert_true(dv_io_track_add(&t, &c, r) && r[0] == 1000);
        /* A restart on the same host: a new epoch again, from zero. */
        c = counters(T0 + 5000, "dst2", 300, 0, 3, 0);
        assert_true(dv_io_track_add(&t, &c, r) && r[0] == 300);
}

static void test_io_parse(void **state)
{
        struct dv_io_counters c;
        json_t *j;

        j = json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "t_ms", (json_int_t)T0, "epoch", "pid 7",
                      "read_bytes", (json_int_t)1, "write_bytes", (json_int_t)2, "read_ops",
                      (json_int_t)3, "write_ops", (json_int_t)4);
        assert_int_equal(dv_io_counters_parse(j, DISK_KEYS, &c), 0);
        assert_true(c.valid && c.t_ms == T0 && c.v[3] == 4 && strcmp(c.epoch, "pid 7") == 0);
        json_object_set_new(j, "write_ops", json_integer(-1));
        assert_int_equal(dv_io_counters_parse(j, DISK_KEYS, &c), -EINVAL);
        json_object_del(j, "write_ops");
        assert_int_equal(dv_io_counters_parse(j, DISK_KEYS, &c), -EINVAL);
        json_decref(j);
        assert_int_equal(dv_io_counters_parse(json_null(), DISK_KEYS, &c), -EINVAL);
}

/* The registry turns reported counters into rates in the series, through
 * a VM restart, and shows them in the JSON (null where not known). */
static void test_registry_io(void **state)
{
        struct dv_mstats *s = dv_mstats_new();
        struct dv_io_counters d, n;
        struct dv_ts_sample x;
        json_t *j, *smp;

        d = counters(T0, "a", 0, 0, 0, 0);
        n = counters(T0, "a", 0, 0, 0, 0);
        dv_mstats_add_io(s, "vm", "v", T0, 1, 1, &d, &n);
        for (int i = 1; i <= 10; i++) {
                d = counters(T0 + i * 1000, "a", i * 4096u, i * 8192u, i * 1u, i * 2u);
                n = counters(T0 + i * 1000, "a", i * 1500u, i * 100u, i * 1u, i * 1u);
                dv_mstats_add_io(s, "vm", "v", T0 + i * 1000, 1, 1, &d, &n);
        }
        assert_true(dv_mstats_avg(s, "v", T0 + 10000, 60000, &x));
        assert_true(x.io[DV_IO_DISK_READ_BPS] == 4096 && x.io[DV_IO_DISK_WRITE_IOPS] == 2);
        assert_true(x.io[DV_IO_NET_RX_BPS] == 1500 && x.io[DV_IO_NET_TX_PPS] == 1);
        /* Restarted: counters from zero, the rate stays sane. */
        d = counters(T0 + 11000, "b", 4096, 0, 1, 0);
        dv_mstats_add_io(s, "vm", "v", T0 + 11000, 1, 1, &d, NULL);
        j = dv_mstats_json(s, "v", T0 + 11000);
        smp = json_array_get(json_object_get(j, "samples"), 11);
        assert_true(json_real_value(json_object_get(smp, "disk_read_bps")) == 4096);
        assert_true(json_is_null(json_object_get(smp, "net_rx_bps"))); /* not reported */
        smp = json_array_get(json_object_get(j, "samples"), 0);
        assert_true(json_is_null(json_object_get(smp, "disk_read_bps"))); /* the first */
        assert_true(json_real_value(json_object_get(json_object_get(j, "net_rx_bps"), "avg_1m")) ==
                    1500);
        json_decref(j);
        dv_mstats_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_raw_ring_and_1m),
                cmocka_unit_test(test_minutes_and_5m),
                cmocka_unit_test(test_registry),
                cmocka_unit_test(test_io_rates),
                cmocka_unit_test(test_io_parse),
                cmocka_unit_test(test_io_track_migration),
                cmocka_unit_test(test_registry_io),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
