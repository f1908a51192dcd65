#include "cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define PARENT_MAX 200

enum hier { H_CPU, H_CPUACCT, H_CPUSET, H_MEMORY, H_COUNT };

struct dv_cgroup {
        enum dv_cg_version version; /* v1 or v2 */
        char *parent;               /* relative path of our subtree */
        char *dir[H_COUNT];         /* v1: each hierarchy's PARENT dir (NULL: absent);
                                     * v2: all three are the same PARENT dir */
        bool has_cpuset;            /* affinity possible */
        bool has_memory;            /* memory limits and protection possible */
};

static bool parent_valid(const char *p)
{
        const char *c = p;

        if (!p || !*p || strlen(p) > PARENT_MAX || p[0] == '/')
                return false;
        while (*c) {
                const char *e = strchrnul(c, '/');
                size_t n = (size_t)(e - c);

                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                for (const char *x = c; x < e; x++)
                        if (!((*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') ||
                              (*x >= '0' && *x <= '9') || *x == '.' || *x == '_' || *x == '-'))
                                return false;
                c = *e ? e + 1 : e;
                if (*e && !*c)
                        return false; /* trailing '/' */
        }
        return true;
}

static bool file_exists(const char *dir, const char *file)
{
        _cleanup_(freep) char *p = dv_asprintf("%s/%s", dir, file);
        return access(p, F_OK) == 0;
}

static bool has_word(const char *list, const char *word)
{
        size_t n = strlen(word);

        for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* mkdir one level below base; v1 cpuset: copy cpus and mems from base. */
static int make_level(const char *base, const char *dir, bool cpuset_v1)
{
        char buf[1024];
        int r;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (!cpuset_v1)
                return 0;
        /* A v1 cpuset group takes no task before it has CPUs and nodes. */
        if (dv_read_attr(dir, "cpuset.cpus", buf, sizeof(buf)) == 0 && buf[0])
                return 0;
        r = dv_read_attr(base, "cpuset.cpus", buf, sizeof(buf));
        if (r >= 0)
                r = dv_write_attr(dir, "cpuset.cpus", buf);
        if (r >= 0)
                r = dv_read_attr(base, "cpuset.mems", buf, sizeof(buf));
        if (r >= 0)
                r = dv_write_attr(dir, "cpuset.mems", buf);
        return r;
}

/* Create hier_root/PARENT level by level; v2: enable the controllers in
 * each level's cgroup.subtree_control first. Returns the PARENT dir. */
static int make_parent(const char *hier_root, const char *parent, bool cpuset_v1,
                       const char *v2_enable, char **ret_dir)
{
        _cleanup_(freep) char *cur = dv_strdup(hier_root);
        const char *c = parent;
        int r;

        while (*c) {
                const char *e = strchrnul(c, '/');
                char *next = dv_asprintf("%s/%.*s", cur, (int)(e - c), c);

                if (v2_enable) {
                        r = dv_write_attr(cur, "cgroup.subtree_control", v2_enable);
                        if (r < 0) {
                                free(next);
                                return r;
                        }
                }
                r = make_level(cur, next, cpuset_v1);
                free(cur);
                cur = next;
                if (r < 0)
                        return r;
                c = *e ? e + 1 : e;
        }
        if (v2_enable) {
                r = dv_write_attr(cur, "cgroup.subtree_control", v2_enable);
                if (r < 0)
                        return r;
        }
        *ret_dir = TAKE_PTR(cur);
        return 0;
}

static int open_v2(const struct dv_cgroup_config *cfg, struct dv_cgroup *cg, struct dv_error *err)
{
        char ctl[512];
        const char *enable;
        char *dir = NULL;
        int r;

        if (dv_read_attr(cfg->root, "cgroup.controllers", ctl, sizeof(ctl)) < 0 ||
            !has_word(ctl, "cpu"))
                return dv_error_set(err, 409, "not-supported",
                                    "%s is not a cgroup v2 hierarchy with the cpu controller",
                                    cfg->root);
        cg->has_cpuset = has_word(ctl, "cpuset");
        cg->has_memory = has_word(ctl, "memory");
        enable = cg->has_cpuset ? (cg->has_memory ? "+cpu +cpuset +memory" : "+cpu +cpuset")
                                : (cg->has_memory ? "+cpu +memory" : "+cpu");
        r = make_parent(cfg->root, cfg->parent, false, enable, &dir);
        if (r < 0)
                return dv_error_set(err, 500, "cgroup-error", "cannot create %s/%s: %s",
                                    cfg->root, cfg->parent, strerror(-r));
        cg->version = DV_CG_V2;
        cg->dir[H_CPU] = dir;
        cg->dir[H_CPUACCT] = dv_strdup(dir);
        cg->dir[H_CPUSET] = cg->has_cpuset ? dv_strdup(dir) : NULL;
        cg->dir[H_MEMORY] = cg->has_memory ? dv_strdup(dir) : NULL;
        return 0;
}

static int open_v1(const struct dv_cgroup_config *cfg, struct dv_cgroup *cg, struct dv_error *err)
{
        static const char *const names[H_COUNT] = { "cpu", "cpuacct", "cpuset", "memory" };
        static const char *const probe[H_COUNT] = { "cpu.shares", "cpuacct.usage", "cpuset.cpus",
                                                    "memory.limit_in_bytes" };
        int r;

        for (int h = 0; h < H_COUNT; h++) {
                _cleanup_(freep) char *root = dv_asprintf("%s/%s", cfg->root, names[h]);

                if (!file_exists(root, probe[h])) {
                        if (h == H_CPU)
                                return dv_error_set(err, 409, "not-supported",
                                                    "no cgroup v1 cpu controller at %s", root);
                        continue;
                }
                r = make_parent(root, cfg->parent, h == H_CPUSET, NULL, &cg->dir[h]);
                if (r < 0)
                        return dv_error_set(err, 500, "cgroup-error", "cannot create %s/%s: %s",
                                            root, cfg->parent, strerror(-r));
        }
        cg->version = DV_CG_V1;
        cg->has_cpuset = cg->dir[H_CPUSET] != NULL;
        cg->has_memory = cg->dir[H_MEMORY] != NULL;
        return 0;
}

int dv_cgroup_open(const struct dv_cgroup_config *cfg, struct dv_cgroup **ret_cg,
                   struct dv_error *err)
{
        struct dv_cgroup *cg;
        char ctl[512];
        int r;

        if (!parent_valid(cfg->parent))
                return dv_error_set(err, 400, "invalid-field", "bad cgroup parent '%.80s'",
                                    cfg->parent ? cfg->parent : "");
        cg = calloc(1, sizeof(*cg));
        if (!cg)
                return -ENOMEM;
        cg->parent = dv_strdup(cfg->parent);
        if (dv_streq(cfg->mode, "v2"))
                r = open_v2(cfg, cg, err);
        else if (dv_streq(cfg->mode, "v1"))
                r = open_v1(cfg, cg, err);
        else if (dv_read_attr(cfg->root, "cgroup.controllers", ctl, sizeof(ctl)) == 0 &&
                 has_word(ctl, "cpu"))
                r = open_v2(cfg, cg, err);
        else
                r = open_v1(cfg, cg, err);
        if (r < 0) {
                dv_cgroup_free(cg);
                return r;
        }
        *ret_cg = cg;
        return 0;
}

void dv_cgroup_free(struct dv_cgroup *cg)
{
        if (!cg)
                return;
        for (int h = 0; h < H_COUNT; h++)
                free(cg->dir[h]);
        free(cg->parent);
        free(cg);
}

enum dv_cg_version dv_cgroup_version(const struct dv_cgroup *cg)
{
        return cg->version;
}

bool dv_cgroup_has_cpuset(const struct dv_cgroup *cg)
{
        return cg->has_cpuset;
}

bool dv_cgroup_has_memory(const struct dv_cgroup *cg)
{
        return cg->has_memory;
}

void dv_cgroup_host_cpus(const struct dv_cgroup *cg, struct dv_cpuset *ret)
{
        char buf[1024];
        const char *f = cg->version == DV_CG_V2 ? "cpuset.cpus.effective" : "cpuset.effective_cpus";
        long n;

        if (cg->dir[H_CPUSET] && dv_read_attr(cg->dir[H_CPUSET], f, buf, sizeof(buf)) == 0 &&
            dv_cpuset_parse(buf, ret) == 0)
                return;
        if (cg->dir[H_CPUSET] && dv_read_attr(cg->dir[H_CPUSET], "cpuset.cpus", buf, sizeof(buf)) == 0 &&
            dv_cpuset_parse(buf, ret) == 0)
                return;
        n = sysconf(_SC_NPROCESSORS_ONLN);
        dv_cpuset_first_n(n > 0 ? (int)n : 1, ret);
}

/* HIER_DIR/vm-<id>, or NULL (bad id or hierarchy absent). */
static char *vm_dir(const struct dv_cgroup *cg, int h, const char *vm_id)
{
        if (!cg->dir[h] || !dv_uuid_valid(vm_id))
                return NULL;
        return dv_asprintf("%s/vm-%s", cg->dir[h], vm_id);
}

char *dv_cgroup_vm_path(const struct dv_cgroup *cg, const char *vm_id)
{
        return vm_dir(cg, H_CPU, vm_id);
}

int dv_cgroup_vm_attach(struct dv_cgroup *cg, const char *vm_id, pid_t pid)
{
        char pidbuf[32];
        int r;

        if (!dv_uuid_valid(vm_id) || pid <= 0)
                return -EINVAL;
        snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
        for (int h = 0; h < H_COUNT; h++) {
                _cleanup_(freep) char *d = vm_dir(cg, h, vm_id);

                if (!d)
                        continue;
                if (cg->version == DV_CG_V2 && h != H_CPU)
                        break; /* one directory for all */
                r = make_level(cg->dir[h], d, cg->version == DV_CG_V1 && h == H_CPUSET);
                if (r < 0)
                        return r;
                r = dv_write_attr(d, "cgroup.procs", pidbuf);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dv_cgroup_vm_set_cpu(struct dv_cgroup *cg, const char *vm_id, int64_t quota_us,
                         int64_t weight, const struct dv_cpuset *cpus)
{
        _cleanup_(freep) char *d = vm_dir(cg, H_CPU, vm_id);
        char buf[1100];
        int r;

        if (!d)
                return -EINVAL;
        if (cg->version == DV_CG_V2) {
                if (quota_us > 0)
                        snprintf(buf, sizeof(buf), "%lld %d", (long long)quota_us, DV_QOS_PERIOD_US);
                else
                        snprintf(buf, sizeof(buf), "max %d", DV_QOS_PERIOD_US);
                r = dv_write_attr(d, "cpu.max", buf);
                if (r < 0)
                        return r;
                snprintf(buf, sizeof(buf), "%lld", (long long)weight);
                r = dv_write_attr(d, "cpu.weight", buf);
        } else {
                snprintf(buf, sizeof(buf), "%d", DV_QOS_PERIOD_US);
                r = dv_write_attr(d, "cpu.cfs_period_us", buf);
                if (r < 0)
                        return r;
                snprintf(buf, sizeof(buf), "%lld", (long long)(quota_us > 0 ? quota_us : -1));
                r = dv_write_attr(d, "cpu.cfs_quota_us", buf);
                if (r < 0)
                        return r;
                snprintf(buf, sizeof(buf), "%lld", (long long)weight);
                r = dv_write_attr(d, "cpu.shares", buf);
        }
        if (r < 0 || !cg->has_cpuset)
                return r;
        {
                _cleanup_(freep) char *s = vm_dir(cg, H_CPUSET, vm_id);
                struct dv_cpuset host, want;

                dv_cgroup_host_cpus(cg, &host);
                want = host;
                if (cpus)
                        dv_cpuset_and(&want, cpus);
                if (dv_cpuset_count(&want) == 0)
                        return -EINVAL;
                dv_cpuset_format(&want, buf, sizeof(buf));
                r = dv_write_attr(s, "cpuset.cpus", buf);
        }
        return r;
}

int dv_cgroup_vm_usage_ns(struct dv_cgroup *cg, const char *vm_id, uint64_t *ret_ns)
{
        _cleanup_(freep) char *d = vm_dir(cg, H_CPUACCT, vm_id);
        char buf[1024];
        unsigned long long v;
        const char *p;
        int r;

        if (!d)
                return -ENOENT;
        if (cg->version == DV_CG_V1) {
                r = dv_read_attr(d, "cpuacct.usage", buf, sizeof(buf));
                if (r < 0)
                        return r;
                if (sscanf(buf, "%llu", &v) != 1)
                        return -EIO;
                *ret_ns = v;
                return 0;
        }
        r = dv_read_attr(d, "cpu.stat", buf, sizeof(buf));
        if (r < 0)
                return r;
        p = strstr(buf, "usage_usec ");
        if (!p || sscanf(p + 11, "%llu", &v) != 1)
                return -EIO;
        *ret_ns = v * 1000;
        return 0;
}

int dv_cgroup_vm_remove(struct dv_cgroup *cg, const char *vm_id)
{
        int ret = 0;

        if (!dv_uuid_valid(vm_id))
                return -EINVAL;
        for (int h = 0; h < H_COUNT; h++) {
                _cleanup_(freep) char *d = vm_dir(cg, h, vm_id);

                if (!d)
                        continue;
                if (rmdir(d) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
                if (cg->version == DV_CG_V2)
                        break;
        }
        return ret;
}

int dv_cgroup_sweep(struct dv_cgroup *cg, bool (*keep)(void *userdata, const char *vm_id),
                    void *userdata)
{
        int removed = 0;

        for (int h = 0; h < H_COUNT; h++) {
                DIR *d;
                struct dirent *e;

                if (!cg->dir[h] || (cg->version == DV_CG_V2 && h != H_CPU))
                        continue;
                d = opendir(cg->dir[h]);
                if (!d)
                        continue;
                while ((e = readdir(d)) != NULL) {
                        _cleanup_(freep) char *p = NULL;

                        if (!dv_startswith(e->d_name, "vm-") || !dv_uuid_valid(e->d_name + 3) ||
                            keep(userdata, e->d_name + 3))
                                continue;
                        p = dv_asprintf("%s/%s", cg->dir[h], e->d_name);
                        if (rmdir(p) == 0 && h == H_CPU)
                                removed++;
                }
                closedir(d);
        }
        return removed;
}

int dv_cgroup_vm_set_mem(struct dv_cgroup *cg, const char *vm_id, int64_t limit_bytes,
                         int64_t protect_bytes)
{
        _cleanup_(freep) char *d = vm_dir(cg, H_MEMORY, vm_id);
        char buf[64];
        int r;

        if (!d)
                return cg->has_memory ? -EINVAL : 0;
        if (cg->version == DV_CG_V2) {
                snprintf(buf, sizeof(buf), "%lld", (long long)limit_bytes);
                r = dv_write_attr(d, "memory.max", buf);
                if (r < 0)
                        return r;
                snprintf(buf, sizeof(buf), "%lld", (long long)protect_bytes);
                r = dv_write_attr(d, "memory.min", buf);
                if (r < 0)
                        return r;
                return dv_write_attr(d, "memory.low", buf);
        }
        snprintf(buf, sizeof(buf), "%lld", (long long)limit_bytes);
        r = dv_write_attr(d, "memory.limit_in_bytes", buf);
        if (r < 0)
                return r;
        /* v1 has no memory.min: global reclaim takes from the groups over
         * their soft limit first (docs/qos.md). */
        snprintf(buf, sizeof(buf), "%lld", (long long)protect_bytes);
        return dv_write_attr(d, "memory.soft_limit_in_bytes", buf);
}

/* "key value" lines: value of key, or -1. */
static int64_t stat_value(const char *text, const char *key)
{
        size_t n = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, key, n) == 0 && p[n] == ' ')
                        return strtoll(p + n + 1, NULL, 10);
        return -1;
}

int dv_cgroup_vm_mem_usage(struct dv_cgroup *cg, const char *vm_id, int64_t *ret_bytes,
                           int64_t *ret_swap_bytes)
{
        _cleanup_(freep) char *d = vm_dir(cg, H_MEMORY, vm_id);
        char buf[4096];
        int64_t v;
        int r;

        if (!d)
                return -ENOENT;
        r = dv_read_attr(d, cg->version == DV_CG_V2 ? "memory.current" : "memory.usage_in_bytes",
                      buf, sizeof(buf));
        if (r < 0)
                return r;
        *ret_bytes = strtoll(buf, NULL, 10);
        *ret_swap_bytes = 0;
        if (cg->version == DV_CG_V2) {
                if (dv_read_attr(d, "memory.swap.current", buf, sizeof(buf)) == 0)
                        *ret_swap_bytes = strtoll(buf, NULL, 10);
        } else if (dv_read_attr(d, "memory.stat", buf, sizeof(buf)) == 0 &&
                   (v = stat_value(buf, "swap")) >= 0) {
                *ret_swap_bytes = v;
        }
        return 0;
}
