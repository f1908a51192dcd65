/* Final "stopped" reports kept until delivered (src/agent/heartbeat.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "agent.h"

static json_t *st(const char *id, const char *state)
{
        return json_pack("{s:s,s:s}", "id", id, "state", state);
}

static bool has(json_t *arr, const char *id, const char *state)
{
        size_t i;
        json_t *v;

        json_array_foreach(arr, i, v)
                if (dv_streq(json_string_value(json_object_get(v, "id")), id) &&
                    dv_streq(json_string_value(json_object_get(v, "state")), state))
                        return true;
        return false;
}

static void test_pending(void **state)
{
        _cleanup_(json_decrefp) json_t *pending = json_object();
        _cleanup_(json_decrefp) json_t *l1 = json_pack("[o,o]", st("a", "running"), st("b", "stopped"));
        _cleanup_(json_decrefp) json_t *l2 = json_pack("[o]", st("a", "running"));
        _cleanup_(json_decrefp) json_t *l3 = json_pack("[o]", st("b", "running"));
        _cleanup_(json_decrefp) json_t *v1 = NULL, *v2 = NULL, *v3 = NULL;

        /* b exited: reported now and kept */
        dv_heartbeat_track(pending, l1);
        v1 = dv_heartbeat_vms(pending, l1);
        assert_int_equal(json_array_size(v1), 2); /* not duplicated */
        assert_true(has(v1, "b", "stopped"));
        assert_int_equal(json_object_size(pending), 1);

        /* the driver no longer lists b, the heartbeat failed: still sent */
        dv_heartbeat_track(pending, l2);
        v2 = dv_heartbeat_vms(pending, l2);
        assert_int_equal(json_array_size(v2), 2);
        assert_true(has(v2, "a", "running"));
        assert_true(has(v2, "b", "stopped"));

        /* a newer report for b arrived after v1 went out: delivering v1 keeps it */
        json_object_set_new(pending, "b", st("b", "stopped"));
        dv_heartbeat_forget(pending, v1);
        assert_int_equal(json_object_size(pending), 1);
        json_decref(v2);
        v2 = dv_heartbeat_vms(pending, l2);
        dv_heartbeat_forget(pending, v2);
        assert_int_equal(json_object_size(pending), 0);
        json_object_set_new(pending, "b", st("b", "stopped"));

        /* b started again before delivery: the stale report goes */
        dv_heartbeat_track(pending, l3);
        v3 = dv_heartbeat_vms(pending, l3);
        assert_int_equal(json_array_size(v3), 1);
        assert_true(has(v3, "b", "running"));
        assert_int_equal(json_object_size(pending), 0);
}

static void test_bounded(void **state)
{
        _cleanup_(json_decrefp) json_t *pending = json_object();
        _cleanup_(json_decrefp) json_t *l = json_array();
        char id[32];

        for (int i = 0; i < DV_HEARTBEAT_MAX_PENDING + 10; i++) {
                snprintf(id, sizeof(id), "vm%d", i);
                json_array_append_new(l, st(id, "stopped"));
        }
        dv_heartbeat_track(pending, l);
        assert_int_equal(json_object_size(pending), DV_HEARTBEAT_MAX_PENDING);
}

/* A fake driver list() for dv_agent_vms_snapshot: b is reported once. */
static int calls;
static int fake_list(struct dv_hv *hv, json_t **ret)
{
        calls++;
        *ret = calls == 1 ? json_pack("[o,o]", st("a", "running"), st("b", "stopped"))
                          : json_pack("[o]", st("a", "running"));
        return 0;
}

static void test_snapshot(void **state)
{
        static const struct dv_hv_ops ops = { .name = "fake", .list = fake_list };
        struct dv_agent agent = { .ops = &ops };
        _cleanup_(json_decrefp) json_t *v1 = NULL, *v2 = NULL;

        assert_int_equal(dv_agent_init(&agent), 0);
        /* e.g. GET /agent/v1/vms consumed the driver's only "stopped" report... */
        assert_int_equal(dv_agent_vms_snapshot(&agent, &v1), 0);
        assert_true(has(v1, "b", "stopped"));
        /* ... the next heartbeat still carries it */
        assert_int_equal(dv_agent_vms_snapshot(&agent, &v2), 0);
        assert_true(has(v2, "b", "stopped"));
        assert_true(has(v2, "a", "running"));
        dv_agent_done(&agent);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pending),
                cmocka_unit_test(test_bounded),
                cmocka_unit_test(test_snapshot),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
