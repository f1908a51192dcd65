/* shutdown, reboot, hibernate. Each replies first and acts once the reply
 * has reached the host (or after a short wait), from the main loop. */
#include "tools.h"

#include <string.h>

static int power(struct dv_tools *t, const struct dv_tj *args, struct dv_tw *w,
                 struct dv_op_err *e, enum dv_after after)
{
        static const char *const keys[] = { NULL };

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        /* The image's script stops every process, syncs and unmounts the
         * data disk; elsewhere sync + reboot(2) is the fallback. */
        dv_tw_str(w, "method", access("/sbin/drover-shutdown", X_OK) == 0 ? "drover-shutdown"
                                                                          : "reboot-syscall");
        dv_tools_set_after(t, after);
        return 0;
}

int dv_op_shutdown(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                   struct dv_op_err *e)
{
        dv_log("shutdown requested by the host");
        return power(t, args, w, e, DV_AFTER_POWEROFF);
}

int dv_op_reboot(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                 struct dv_op_err *e)
{
        dv_log("reboot requested by the host");
        return power(t, args, w, e, DV_AFTER_REBOOT);
}

static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
                        return true;
        return false;
}

int dv_op_hibernate(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                    struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };
        char states[128], swaps[256];
        int n;

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        if (dv_read_small("/sys/power/state", states, sizeof(states)) < 0 || !has_word(states, "disk"))
                return dv_op_fail(e, "not-supported",
                                  "the guest kernel offers no hibernation (/sys/power/state: %s)",
                                  states[0] ? states : "missing");
        /* The image goes to swap: no swap, no hibernation. */
        n = dv_read_small("/proc/swaps", swaps, sizeof(swaps));
        if (n < 0 || !strchr(swaps, '\n'))
                return dv_op_fail(e, "not-supported", "the guest has no swap space for the hibernation image");
        dv_log("hibernate requested by the host");
        dv_tw_str(w, "method", "sysfs");
        dv_tools_set_after(t, DV_AFTER_HIBERNATE);
        return 0;
}
