/* Host facts reported at registration: hostname, CPUs, memory, accelerator. */
#include "agent.h"
#include "qos.h"

#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#define PROC_FILE_MAX (4u * 1024 * 1024) /* /proc/cpuinfo of a large host */

/* The value of the first "key<spaces>: value" line, as [*ret_val, +*ret_len). */
static bool find_field(const char *text, const char *key, const char **ret_val,
                       size_t *ret_len)
{
        size_t klen = strlen(key);

        for (const char *line = text; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t)(eol - line) : strlen(line);

                if (len > klen && strncmp(line, key, klen) == 0) {
                        const char *p = line + klen, *end = line + len;

                        while (p < end && (*p == ' ' || *p == '\t'))
                                p++;
                        if (p < end && *p == ':') {
                                p++;
                                while (p < end && isspace((unsigned char)*p))
                                        p++;
                                while (end > p && isspace((unsigned char)end[-1]))
                                        end--;
                                *ret_val = p;
                                *ret_len = (size_t)(end - p);
                                return true;
                        }
                }
                line = eol ? eol + 1 : NULL;
        }
        return false;
}

int dv_hostinfo_parse_cpuinfo(const char *text, char **ret_model, json_t **ret_flags)
{
        _cleanup_(json_decrefp) json_t *flags = json_array();
        const char *v;
        size_t len;
        char *model;

        if (!flags)
                return -ENOMEM;
        if (find_field(text, "flags", &v, &len)) {
                const char *end = v + len;

                while (v < end) {
                        const char *s = v;
                        json_t *f;

                        while (v < end && !isspace((unsigned char)*v))
                                v++;
                        f = json_stringn(s, (size_t)(v - s));
                        if (!f || json_array_append_new(flags, f) < 0)
                                return -ENOMEM;
                        while (v < end && isspace((unsigned char)*v))
                                v++;
                }
        }
        if (find_field(text, "model name", &v, &len) && len > 0)
                model = strndup(v, len);
        else
                model = strdup("unknown");
        if (!model)
                return -ENOMEM;
        *ret_model = model;
        *ret_flags = TAKE_PTR(flags);
        return 0;
}

int dv_hostinfo_parse_meminfo(const char *text, const char *key, uint64_t *ret_kib)
{
        const char *v;
        size_t len;
        char buf[32];
        char *end;
        unsigned long long n;

        if (!find_field(text, key, &v, &len))
                return -ENOENT;
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, v, len);
        buf[len] = 0;
        errno = 0;
        n = strtoull(buf, &end, 10);
        if (errno || end == buf || (*end && strcmp(end, " kB") != 0))
                return -EINVAL;
        *ret_kib = n;
        return 0;
}

const char *dv_hostinfo_resolve_accel(const char *opt, bool kvm_vendor_module)
{
        if (dv_streq(opt, "kvm"))
                return "kvm";
        if (dv_streq(opt, "tcg"))
                return "tcg";
        if (dv_streq(opt, "auto"))
                /* /dev/kvm alone is not enough: a PVM-based kvm (kvm_pvm)
                 * hangs stock guest kernels (DESIGN.md section 4). */
                return kvm_vendor_module ? "kvm" : "tcg";
        return NULL;
}

bool dv_hostinfo_kvm_vendor_module(void)
{
        return access("/sys/module/kvm_intel", F_OK) == 0 ||
               access("/sys/module/kvm_amd", F_OK) == 0;
}

/* Nominal MHz of a core: cpufreq's maximum, else the highest "cpu MHz" of
 * /proc/cpuinfo, else 1000. */
static int64_t host_cpu_mhz(const char *cpuinfo)
{
        _cleanup_(freep) char *khz = NULL;
        int64_t v;

        if (dv_read_file("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", 64, &khz,
                         NULL) >= 0) {
                khz[strcspn(khz, "\n")] = 0;
                if (dv_parse_int64(khz, 1000, INT64_C(1000000000), &v) >= 0)
                        return v / 1000;
        }
        v = dv_qos_cpuinfo_mhz(cpuinfo);
        return v > 0 ? v : 1000;
}

int dv_hostinfo_collect(const char *accel_opt, struct dv_host_facts *ret)
{
        _cleanup_(freep) char *cpuinfo = NULL, *meminfo = NULL, *model = NULL;
        _cleanup_(json_decrefp) json_t *flags = NULL;
        struct dv_host_facts f = {};
        uint64_t kib;
        long n;
        int r;

        if (gethostname(f.hostname, sizeof(f.hostname)) < 0)
                return -errno;
        f.hostname[sizeof(f.hostname) - 1] = 0;
        n = sysconf(_SC_NPROCESSORS_ONLN);
        f.cpus = n > 0 ? (int)n : 1;

        r = dv_read_file("/proc/cpuinfo", PROC_FILE_MAX, &cpuinfo, NULL);
        if (r < 0)
                return r;
        r = dv_hostinfo_parse_cpuinfo(cpuinfo, &model, &flags);
        if (r < 0)
                return r;
        r = dv_read_file("/proc/meminfo", PROC_FILE_MAX, &meminfo, NULL);
        if (r < 0)
                return r;
        r = dv_hostinfo_parse_meminfo(meminfo, "MemTotal", &kib);
        if (r < 0)
                return r;
        f.memory_mib = (int64_t)(kib / 1024);
        f.accel = dv_hostinfo_resolve_accel(accel_opt, dv_hostinfo_kvm_vendor_module());
        if (!f.accel)
                return -EINVAL;
        if (strcmp(f.accel, "kvm") == 0 && access("/dev/kvm", R_OK | W_OK) < 0)
                return -ENODEV;
        f.cpu_mhz = host_cpu_mhz(cpuinfo);
        f.cpu_model = TAKE_PTR(model);
        f.cpu_flags = TAKE_PTR(flags);
        *ret = f;
        return 0;
}

void dv_hostinfo_done(struct dv_host_facts *facts)
{
        free(facts->cpu_model);
        json_decref(facts->cpu_flags);
        *facts = (struct dv_host_facts){};
}
