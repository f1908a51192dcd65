/* cpus-online and time-set. */
#include "tools.h"

#include <glob.h>
#include <string.h>
#include <time.h>

/* Bring every offline CPU online: hot-added vCPUs arrive offline, and
 * without udev nothing else onlines them. */
int dv_op_cpus_online(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                      struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };
        int64_t onlined = 0, failed = 0;
        char first_err[128] = "";
        glob_t g;

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        if (glob("/sys/devices/system/cpu/cpu[0-9]*/online", 0, NULL, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++) {
                        char v[8];
                        int r;

                        if (dv_read_small(g.gl_pathv[i], v, sizeof(v)) < 0 || strcmp(v, "0") != 0)
                                continue;
                        r = dv_write_small(g.gl_pathv[i], "1");
                        if (r < 0) {
                                failed++;
                                if (!first_err[0])
                                        snprintf(first_err, sizeof(first_err), "%.80s: %s",
                                                 g.gl_pathv[i], strerror(-r));
                        } else
                                onlined++;
                }
                globfree(&g);
        }
        if (onlined > 0)
                dv_log("cpus-online: brought %lld CPUs online", (long long)onlined);
        if (failed > 0 && onlined == 0)
                return dv_op_fail(e, "failed", "no CPU could be brought online: %s", first_err);
        dv_cpus_report(w);
        dv_tw_int(w, "onlined", onlined);
        dv_tw_int(w, "failed", failed);
        return 0;
}

/* 2000-01-01 .. 2200-01-01: a clock outside is a host bug, not a time. */
#define EPOCH_MS_MIN 946684800000LL
#define EPOCH_MS_MAX 7258118400000LL

int dv_op_time_set(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                   struct dv_op_err *e)
{
        static const char *const keys[] = { "epoch_ms", NULL };
        int64_t ms = 0, before;
        struct timespec ts;

        if (dv_arg_check_keys(args, keys, e) < 0 ||
            dv_arg_int(args, "epoch_ms", true, EPOCH_MS_MIN, EPOCH_MS_MAX, &ms, e) < 0)
                return -EINVAL;
        before = dv_wall_ms();
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000;
        if (clock_settime(CLOCK_REALTIME, &ts) < 0)
                return dv_op_fail(e, "failed", "clock_settime: %s", strerror(errno));
        dv_log("time-set: clock moved by %lld ms", (long long)(ms - before));
        dv_tw_int(w, "previous_ms", before);
        dv_tw_int(w, "delta_ms", ms - before);
        return 0;
}
