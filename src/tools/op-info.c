/* info: what the guest is and has. Every list is capped so that the reply
 * always fits in one line. */
#include "tools.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#define NICS_MAX 32
#define ADDRS_MAX 16
#define FS_MAX 32

/* KEY=VALUE or KEY="VALUE" from os-release. */
static void os_release(struct dv_tw *w)
{
        static const char *const keys[][2] = {
                { "ID", "id" }, { "NAME", "name" }, { "VERSION_ID", "version" },
                { "PRETTY_NAME", "pretty_name" },
        };
        char vals[4][128] = { "", "", "", "" };
        _cleanup_(fclosep) FILE *f = fopen("/etc/os-release", "re");
        char line[512];

        if (!f)
                f = fopen("/usr/lib/os-release", "re");
        while (f && fgets(line, sizeof(line), f)) {
                char *eq = strchr(line, '='), *v;
                size_t n;

                if (!eq)
                        continue;
                *eq = '\0';
                v = eq + 1;
                v[strcspn(v, "\n")] = '\0';
                n = strlen(v);
                if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                        v[n - 1] = '\0';
                        v++;
                }
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strcmp(line, keys[i][0]) == 0)
                                snprintf(vals[i], sizeof(vals[i]), "%s", v);
        }
        dv_tw_obj_begin(w, "os");
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                dv_tw_str(w, keys[i][1], vals[i]);
        dv_tw_obj_end(w);
}

static int64_t meminfo(const char *key)
{
        _cleanup_(fclosep) FILE *f = fopen("/proc/meminfo", "re");
        char line[128];
        size_t kl = strlen(key);

        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, key, kl) == 0 && line[kl] == ':')
                        return strtoll(line + kl + 1, NULL, 10);
        return 0;
}

static int prefix_len(const struct sockaddr *mask)
{
        const unsigned char *b;
        size_t n;
        int bits = 0;

        if (!mask)
                return 0;
        if (mask->sa_family == AF_INET) {
                b = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
                n = 4;
        } else if (mask->sa_family == AF_INET6) {
                b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
                n = 16;
        } else
                return 0;
        for (size_t i = 0; i < n; i++)
                bits += __builtin_popcount(b[i]);
        return bits;
}

static void nics(struct dv_tw *w)
{
        struct ifaddrs *ifa = NULL;
        size_t nn = 0;

        dv_tw_arr_begin(w, "nics");
        if (getifaddrs(&ifa) < 0) {
                dv_tw_arr_end(w);
                return;
        }
        /* Every interface has an AF_PACKET entry, with its MAC. */
        for (struct ifaddrs *i = ifa; i && nn < NICS_MAX; i = i->ifa_next) {
                const struct sockaddr_ll *ll = (const struct sockaddr_ll *)i->ifa_addr;
                char mac[18] = "", path[64], mtu[16];
                size_t na = 0;

                if (!ll || ll->sll_family != AF_PACKET || (i->ifa_flags & IFF_LOOPBACK))
                        continue;
                nn++;
                if (ll->sll_halen == 6)
                        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", ll->sll_addr[0],
                                 ll->sll_addr[1], ll->sll_addr[2], ll->sll_addr[3], ll->sll_addr[4],
                                 ll->sll_addr[5]);
                dv_tw_obj_begin(w, NULL);
                dv_tw_str(w, "name", i->ifa_name);
                dv_tw_str(w, "mac", mac);
                dv_tw_bool(w, "up", (i->ifa_flags & IFF_UP) != 0);
                dv_tw_bool(w, "carrier", (i->ifa_flags & IFF_RUNNING) != 0);
                snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", i->ifa_name);
                dv_tw_int(w, "mtu", dv_read_small(path, mtu, sizeof(mtu)) > 0 ? atoi(mtu) : 0);
                dv_tw_arr_begin(w, "addresses");
                for (struct ifaddrs *a = ifa; a && na < ADDRS_MAX; a = a->ifa_next) {
                        char ip[INET6_ADDRSTRLEN];
                        const void *src;
                        int fam;

                        if (!a->ifa_addr || strcmp(a->ifa_name, i->ifa_name) != 0)
                                continue;
                        fam = a->ifa_addr->sa_family;
                        if (fam == AF_INET)
                                src = &((struct sockaddr_in *)a->ifa_addr)->sin_addr;
                        else if (fam == AF_INET6)
                                src = &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
                        else
                                continue;
                        if (!inet_ntop(fam, src, ip, sizeof(ip)))
                                continue;
                        dv_tw_obj_begin(w, NULL);
                        dv_tw_str(w, "family", fam == AF_INET ? "inet" : "inet6");
                        dv_tw_str(w, "address", ip);
                        dv_tw_int(w, "prefix", prefix_len(a->ifa_netmask));
                        dv_tw_obj_end(w);
                        na++;
                }
                dv_tw_arr_end(w);
                dv_tw_obj_end(w);
        }
        freeifaddrs(ifa);
        dv_tw_arr_end(w);
}

/* The IPv4 default route with the lowest metric, from /proc/net/route. */
static void gateway(struct dv_tw *w)
{
        _cleanup_(fclosep) FILE *f = fopen("/proc/net/route", "re");
        char line[256], best_if[IF_NAMESIZE + 1] = "";
        unsigned long best_metric = ~0UL;
        struct in_addr best = { 0 };

        while (f && fgets(line, sizeof(line), f)) {
                char ifn[IF_NAMESIZE + 1];
                unsigned long dst, gw, flags, refcnt, use, metric, mask;

                if (sscanf(line, "%16s %lx %lx %lx %lu %lu %lu %lx", ifn, &dst, &gw, &flags, &refcnt,
                           &use, &metric, &mask) != 8)
                        continue;
                if (dst != 0 || mask != 0 || !(flags & 0x2 /* RTF_GATEWAY */) || metric >= best_metric)
                        continue;
                best_metric = metric;
                best.s_addr = (in_addr_t)gw;
                snprintf(best_if, sizeof(best_if), "%s", ifn);
        }
        if (best_if[0] == '\0') {
                dv_tw_null(w, "gateway");
                return;
        }
        {
                char ip[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &best, ip, sizeof(ip));
                dv_tw_obj_begin(w, "gateway");
                dv_tw_str(w, "address", ip);
                dv_tw_str(w, "nic", best_if);
                dv_tw_int(w, "metric", (int64_t)best_metric);
                dv_tw_obj_end(w);
        }
}

static void filesystems(struct dv_tw *w)
{
        struct dv_mount m[FS_MAX];
        size_t n = 0;

        dv_tw_arr_begin(w, "filesystems");
        if (dv_mounts_real(m, ELEMENTSOF(m), &n) < 0)
                n = 0;
        for (size_t i = 0; i < n; i++) {
                struct statvfs sv;
                bool ok = statvfs(m[i].dir, &sv) == 0;

                dv_tw_obj_begin(w, NULL);
                dv_tw_str(w, "mount", m[i].dir);
                dv_tw_str(w, "device", m[i].dev);
                dv_tw_str(w, "type", m[i].type);
                dv_tw_bool(w, "read_only", m[i].ro);
                dv_tw_int(w, "total_kib", ok ? (int64_t)(sv.f_blocks * sv.f_frsize / 1024) : 0);
                dv_tw_int(w, "free_kib", ok ? (int64_t)(sv.f_bavail * sv.f_frsize / 1024) : 0);
                dv_tw_bool(w, "frozen", dv_fs_is_frozen(m[i].dir));
                dv_tw_obj_end(w);
        }
        dv_tw_arr_end(w);
}

/* Count of CPUs in a sysfs list such as "0-3,5". */
static int64_t cpu_list_count(const char *path)
{
        char buf[256], *p = buf;
        int64_t n = 0;

        if (dv_read_small(path, buf, sizeof(buf)) <= 0)
                return 0;
        while (*p) {
                char *end;
                long a = strtol(p, &end, 10), b = a;

                if (end == p)
                        break;
                p = end;
                if (*p == '-') {
                        b = strtol(p + 1, &end, 10);
                        p = end;
                }
                if (b >= a)
                        n += b - a + 1;
                if (*p == ',')
                        p++;
                else
                        break;
        }
        return n;
}

void dv_cpus_report(struct dv_tw *w)
{
        dv_tw_int(w, "online", cpu_list_count("/sys/devices/system/cpu/online"));
        dv_tw_int(w, "present", cpu_list_count("/sys/devices/system/cpu/present"));
        dv_tw_int(w, "possible", cpu_list_count("/sys/devices/system/cpu/possible"));
}

int dv_op_info(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
               struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };
        struct dv_firewall fw;
        struct utsname u;
        char up[64];

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        if (uname(&u) < 0)
                return dv_op_fail(e, "failed", "uname: %s", strerror(errno));
        os_release(w);
        dv_tw_obj_begin(w, "kernel");
        dv_tw_str(w, "release", u.release);
        dv_tw_str(w, "version", u.version);
        dv_tw_str(w, "machine", u.machine);
        dv_tw_obj_end(w);
        dv_tw_str(w, "hostname", u.nodename);
        dv_tw_int(w, "uptime_s", dv_read_small("/proc/uptime", up, sizeof(up)) > 0 ? atoll(up) : 0);
        dv_tw_obj_begin(w, "memory");
        dv_tw_int(w, "total_kib", meminfo("MemTotal"));
        dv_tw_int(w, "free_kib", meminfo("MemFree"));
        dv_tw_int(w, "available_kib", meminfo("MemAvailable"));
        dv_tw_obj_end(w);
        dv_tw_obj_begin(w, "cpus");
        dv_cpus_report(w);
        dv_tw_obj_end(w);
        nics(w);
        gateway(w);
        filesystems(w);
        dv_firewall_probe(&fw);
        dv_tw_obj_begin(w, "firewall");
        dv_tw_bool(w, "rules", fw.rules);
        dv_tw_int(w, "rule_count", fw.rule_count);
        dv_tw_str(w, "method", DV_FIREWALL_METHOD);
        dv_tw_str(w, "detail", fw.detail);
        dv_tw_obj_end(w);
        dv_tw_str(w, "tools_version", DV_TOOLS_VERSION);
        return 0;
}
