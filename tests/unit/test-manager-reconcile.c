/* What a heartbeat does to a VM's recorded state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "reconcile.h"

static void expect(const char *record, bool busy, const char *reported, const char *reason,
                   const char *want_state, const char *want_reason)
{
        struct dv_reconcile d;

        dv_reconcile_vm(record, busy, reported, reason, &d);
        if (!want_state) {
                assert_false(d.change);
                return;
        }
        assert_true(d.change);
        assert_string_equal(d.state, want_state);
        if (want_reason)
                assert_string_equal(d.reason, want_reason);
}

static void test_steady(void **state)
{
        expect("running", false, "running", NULL, NULL, NULL);
        expect("stopped", false, NULL, NULL, NULL, NULL);
        expect("crashed", false, NULL, NULL, NULL, NULL);
        expect("crashed", false, "stopped", "qemu-exited", NULL, NULL); /* keep the crash */
        expect("stopped", false, "stopped", "guest-shutdown", NULL, NULL);
}

static void test_changes(void **state)
{
        expect("running", false, "stopped", "guest-shutdown", "stopped", "guest-shutdown");
        expect("running", false, "crashed", "guest-panicked", "crashed", "guest-panicked");
        expect("running", false, "crashed", NULL, "crashed", "guest-panicked");
        expect("running", false, "paused", "io-error", "paused", "io-error");
        expect("running", false, NULL, NULL, "stopped", "not-running-on-host");
        expect("paused", false, NULL, NULL, "stopped", NULL);
        /* QEMU found running for a record that says stopped: follow the host. */
        expect("stopped", false, "running", NULL, "running", NULL);
}

static void test_transitional_after_restart(void **state)
{
        expect("starting", false, "running", NULL, "running", NULL);
        expect("starting", false, NULL, NULL, "stopped", NULL);
        expect("stopping", false, "running", NULL, "running", NULL);
        expect("stopping", false, "stopped", "host-request", "stopped", "host-request");
        expect("migrating", false, NULL, NULL, "stopped", NULL);
        assert_true(dv_vm_state_active("starting"));
        assert_false(dv_vm_state_active("crashed"));
}

static void test_busy_is_left_alone(void **state)
{
        expect("starting", true, NULL, NULL, NULL, NULL);
        expect("stopping", true, "stopped", "host-request", NULL, NULL);
        expect("running", true, "crashed", NULL, NULL, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_steady),
                cmocka_unit_test(test_changes),
                cmocka_unit_test(test_transitional_after_restart),
                cmocka_unit_test(test_busy_is_left_alone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
