/* Host metrics sent with every heartbeat (docs/api.md "metrics"). */
#include "agent.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define PROC_SMALL_MAX (1024u * 1024) /* /proc/stat on a host with many CPUs */

int dv_metrics_parse_stat(const char *text, struct dv_cpu_sample *ret)
{
        /* cpu  user nice system idle iowait irq softirq steal guest guest_nice;
         * guest time is already inside user/nice, so it is not added again. */
        unsigned long long v[8] = {};
        uint64_t total = 0, idle;
        int n;

        if (!dv_startswith(text, "cpu "))
                return -EINVAL;
        n = sscanf(text + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (n < 4)
                return -EINVAL;
        for (int i = 0; i < n; i++)
                total += v[i];
        idle = v[3] + (n > 4 ? v[4] : 0);
        ret->total = total;
        ret->busy = total - idle;
        return 0;
}

double dv_metrics_cpu_pct(const struct dv_cpu_sample *prev, const struct dv_cpu_sample *cur)
{
        uint64_t dt, db;
        double pct;

        if (cur->total <= prev->total || cur->busy < prev->busy)
                return 0.0;
        dt = cur->total - prev->total;
        db = cur->busy - prev->busy;
        if (db > dt)
                db = dt;
        pct = 100.0 * (double)db / (double)dt;
        return round(pct * 10.0) / 10.0;
}

int dv_metrics_parse_loadavg(const char *text, double *ret_load1)
{
        double l;

        if (sscanf(text, "%lf", &l) != 1 || !(l >= 0.0))
                return -EINVAL;
        *ret_load1 = round(l * 100.0) / 100.0;
        return 0;
}

int dv_metrics_parse_uptime(const char *text, int64_t *ret_uptime_s)
{
        double u;

        if (sscanf(text, "%lf", &u) != 1 || !(u >= 0.0))
                return -EINVAL;
        *ret_uptime_s = (int64_t)u;
        return 0;
}

int dv_metrics_sample_cpu(struct dv_cpu_sample *ret)
{
        _cleanup_(freep) char *stat = NULL;
        int r;

        r = dv_read_file("/proc/stat", PROC_SMALL_MAX, &stat, NULL);
        if (r < 0)
                return r;
        return dv_metrics_parse_stat(stat, ret);
}

int dv_metrics_collect(struct dv_cpu_sample *prev, json_t **ret)
{
        _cleanup_(freep) char *meminfo = NULL, *loadavg = NULL, *uptime = NULL;
        struct dv_cpu_sample cur;
        uint64_t total_kib, avail_kib;
        double load1;
        int64_t up;
        json_t *m;
        int r;

        r = dv_metrics_sample_cpu(&cur);
        if (r < 0)
                return r;
        r = dv_read_file("/proc/meminfo", PROC_SMALL_MAX, &meminfo, NULL);
        if (r < 0)
                return r;
        r = dv_hostinfo_parse_meminfo(meminfo, "MemTotal", &total_kib);
        if (r < 0)
                return r;
        r = dv_hostinfo_parse_meminfo(meminfo, "MemAvailable", &avail_kib);
        if (r < 0)
                return r;
        r = dv_read_file("/proc/loadavg", PROC_SMALL_MAX, &loadavg, NULL);
        if (r < 0)
                return r;
        r = dv_metrics_parse_loadavg(loadavg, &load1);
        if (r < 0)
                return r;
        r = dv_read_file("/proc/uptime", PROC_SMALL_MAX, &uptime, NULL);
        if (r < 0)
                return r;
        r = dv_metrics_parse_uptime(uptime, &up);
        if (r < 0)
                return r;
        if (avail_kib > total_kib)
                avail_kib = total_kib;

        m = json_pack("{s:f,s:I,s:I,s:f,s:I}", "cpu_usage_pct", dv_metrics_cpu_pct(prev, &cur),
                      "mem_total_mib", (json_int_t)(total_kib / 1024), "mem_used_mib",
                      (json_int_t)((total_kib - avail_kib) / 1024), "load1", load1, "uptime_s",
                      (json_int_t)up);
        if (!m)
                return -ENOMEM;
        /* Host swap (docs/qos.md): the last resort of memory overcommit. */
        {
                uint64_t st = 0, sf = 0;

                if (dv_hostinfo_parse_meminfo(meminfo, "SwapTotal", &st) >= 0 &&
                    dv_hostinfo_parse_meminfo(meminfo, "SwapFree", &sf) >= 0) {
                        json_object_set_new(m, "swap_total_mib", json_integer((json_int_t)(st / 1024)));
                        json_object_set_new(m, "swap_used_mib",
                                            json_integer((json_int_t)((st - DV_MIN(sf, st)) / 1024)));
                }
        }
        *prev = cur;
        *ret = m;
        return 0;
}
