#include "reconcile.h"

bool dv_vm_state_active(const char *s)
{
        return dv_streq(s, "running") || dv_streq(s, "paused") || dv_streq(s, "starting") ||
               dv_streq(s, "stopping") || dv_streq(s, "migrating");
}

void dv_reconcile_vm(const char *record_state, bool busy, const char *reported_state,
                     const char *reported_reason, struct dv_reconcile *ret)
{
        struct dv_reconcile d = { .change = false };

        if (busy)
                goto out;
        if (dv_streq(reported_state, "running") || dv_streq(reported_state, "paused") ||
            dv_streq(reported_state, "crashed")) {
                if (!dv_streq(record_state, reported_state)) {
                        d.change = true;
                        d.state = reported_state;
                        d.reason = reported_reason ? reported_reason
                                   : dv_streq(reported_state, "crashed") ? "guest-panicked"
                                                                         : "reported-by-host";
                }
                goto out;
        }
        /* Reported stopped, or absent from the heartbeat. */
        if (dv_vm_state_active(record_state)) {
                d.change = true;
                d.state = "stopped";
                d.reason = reported_state ? (reported_reason ? reported_reason : "qemu-exited")
                                          : "not-running-on-host";
        }
out:
        *ret = d;
}
