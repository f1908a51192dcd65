/* Host metrics sent with every heartbeat (docs/api.md "metrics"). */
#include "agent.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
        *prev = cur;
        *ret = m;
        return 0;
}

/* ---- host disk and network counters (the heartbeat's "io") ---- */

int dv_metrics_parse_diskstats(const char *text, dv_metrics_disk_want want, void *userdata,
                               uint64_t ret[4], size_t *ret_n)
{
        uint64_t sum[4] = { 0 };
        size_t n = 0;

        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n');
                unsigned long long f[7];
                unsigned maj, min;
                char name[64];

                /* major minor name reads merged sectors ms writes merged sectors ... */
                if (sscanf(line, "%u %u %63s %llu %llu %llu %llu %llu %llu %llu", &maj, &min, name,
                           &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6]) == 10 &&
                    want(maj, min, name, userdata)) {
                        sum[0] += f[2] * 512; /* sectors are 512 bytes here, whatever the device */
                        sum[1] += f[6] * 512;
                        sum[2] += f[0];
                        sum[3] += f[4];
                        n++;
                }
                line = nl ? nl + 1 : NULL;
        }
        memcpy(ret, sum, sizeof(sum));
        *ret_n = n;
        return 0;
}

int dv_metrics_parse_netdev(const char *text, bool (*want)(const char *name, void *userdata),
                            void *userdata, uint64_t ret[4], size_t *ret_n)
{
        uint64_t sum[4] = { 0 };
        size_t n = 0;

        for (const char *line = text; line && *line;) {
                const char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
                unsigned long long f[10];
                char name[32];
                size_t len;

                /* "  eth0: rxbytes rxpackets errs drop fifo frame compressed
                 * multicast txbytes txpackets ..." (two header lines first) */
                if (colon && (!nl || colon < nl)) {
                        while (*line == ' ')
                                line++;
                        len = (size_t)(colon - line);
                        if (len > 0 && len < sizeof(name)) {
                                memcpy(name, line, len);
                                name[len] = 0;
                                if (sscanf(colon + 1,
                                           "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                                           &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7],
                                           &f[8], &f[9]) == 10 &&
                                    want(name, userdata)) {
                                        sum[0] += f[0];
                                        sum[1] += f[8];
                                        sum[2] += f[1];
                                        sum[3] += f[9];
                                        n++;
                                }
                        }
                }
                line = nl ? nl + 1 : NULL;
        }
        memcpy(ret, sum, sizeof(sum));
        *ret_n = n;
        return 0;
}

bool dv_metrics_is_vm_tap(const char *name)
{
        size_t n = strlen(name);

        if (n != 15 || !dv_startswith(name, "dv"))
                return false;
        for (size_t i = 2; i < n; i++)
                if (!isdigit((unsigned char)name[i]) && !(name[i] >= 'a' && name[i] <= 'f'))
                        return false;
        return true;
}

/* Interfaces of the host: all but loopback, OVS's datapath and the VMs'
 * taps (those are the VMs' traffic, counted again on the uplink). */
static bool want_iface(const char *name, void *userdata)
{
        (void)userdata;
        return !dv_streq(name, "lo") && !dv_streq(name, "ovs-system") &&
               !dv_metrics_is_vm_tap(name);
}

struct disk_pick {
        dev_t devs[DV_AGENT_MAX_DATASTORES + 1]; /* the datastores' devices */
        size_t n;                                /* entries in devs */
        bool all;                                /* none is a block device: all disks */
};

/* The block devices of the datastores; when none of them is a block
 * device (tmpfs, overlay), every whole disk but loop, RAM and
 * device-mapper / md devices (those sit on other disks). */
static bool want_disk(unsigned maj, unsigned min, const char *name, void *userdata)
{
        struct disk_pick *p = userdata;
        char path[96];

        if (!p->all) {
                for (size_t i = 0; i < p->n; i++)
                        if (major(p->devs[i]) == maj && minor(p->devs[i]) == min)
                                return true;
                return false;
        }
        if (dv_startswith(name, "loop") || dv_startswith(name, "ram") ||
            dv_startswith(name, "zram") || dv_startswith(name, "dm-") || dv_startswith(name, "md"))
                return false;
        snprintf(path, sizeof(path), "/sys/block/%s", name);
        return access(path, F_OK) == 0;
}

static bool want_disk_probe(unsigned maj, unsigned min, const char *name, void *userdata)
{
        struct disk_pick *p = userdata;

        (void)name;
        for (size_t i = 0; i < p->n; i++)
                if (major(p->devs[i]) == maj && minor(p->devs[i]) == min)
                        return true;
        return false;
}

json_t *dv_metrics_io(const struct dv_datastores *ds)
{
        _cleanup_(freep) char *disk = NULL, *net = NULL, *boot = NULL;
        static const char *const dk[4] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };
        static const char *const nk[4] = { "rx_bytes", "tx_bytes", "rx_packets", "tx_packets" };
        struct disk_pick pick = { .n = 0 };
        uint64_t v[4];
        size_t n = 0;
        json_t *io = json_object();
        int64_t now = dv_wall_ms();
        char epoch[64];

        if (!io)
                return NULL;
        if (dv_read_file("/proc/sys/kernel/random/boot_id", 4096, &boot, NULL) < 0)
                boot = strdup("-");
        for (size_t i = 0; ds && i < ds->n; i++) {
                struct stat st;

                if (stat(ds->items[i].path, &st) == 0)
                        pick.devs[pick.n++] = st.st_dev;
        }
        if (dv_read_file("/proc/diskstats", PROC_SMALL_MAX, &disk, NULL) >= 0) {
                (void)dv_metrics_parse_diskstats(disk, want_disk_probe, &pick, v, &n);
                pick.all = n == 0;
                (void)dv_metrics_parse_diskstats(disk, want_disk, &pick, v, &n);
                snprintf(epoch, sizeof(epoch), "%.8s %s%zu", boot ? boot : "-",
                         pick.all ? "all" : "ds", n);
                json_object_set_new(io, "disk",
                                    json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "t_ms", (json_int_t)now,
                                              "epoch", epoch, dk[0], (json_int_t)v[0], dk[1],
                                              (json_int_t)v[1], dk[2], (json_int_t)v[2], dk[3],
                                              (json_int_t)v[3]));
        }
        if (dv_read_file("/proc/net/dev", PROC_SMALL_MAX, &net, NULL) >= 0) {
                (void)dv_metrics_parse_netdev(net, want_iface, NULL, v, &n);
                snprintf(epoch, sizeof(epoch), "%.8s if%zu", boot ? boot : "-", n);
                json_object_set_new(io, "net",
                                    json_pack("{s:I,s:s,s:I,s:I,s:I,s:I}", "t_ms", (json_int_t)now,
                                              "epoch", epoch, nk[0], (json_int_t)v[0], nk[1],
                                              (json_int_t)v[1], nk[2], (json_int_t)v[2], nk[3],
                                              (json_int_t)v[3]));
        }
        return io;
}
