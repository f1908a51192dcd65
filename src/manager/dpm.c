/* DPM decision core (dpm.h). Pure. */
#include "dpm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* ---- settings ------------------------------------------------------------------- */

void dv_dpm_settings_default(struct dv_dpm_settings *s)
{
        *s = (struct dv_dpm_settings){
                .mode = DV_DPM_OFF,
                .low_pct = 30,
                .high_pct = 70,
                .persist_passes = 3,
                .min_hosts = 1,
        };
}

static const char *const mode_names[] = { "off", "manual", "automatic" };
static const char *const action_names[] = { "none", "power-off", "power-on" };

const char *dv_dpm_mode_to_string(enum dv_dpm_mode m)
{
        return (unsigned)m < ELEMENTSOF(mode_names) ? mode_names[m] : "?";
}

const char *dv_dpm_action_to_string(enum dv_dpm_action a)
{
        return (unsigned)a < ELEMENTSOF(action_names) ? action_names[a] : "?";
}

int dv_dpm_mode_from_string(const char *s, enum dv_dpm_mode *ret)
{
        for (size_t i = 0; s && i < ELEMENTSOF(mode_names); i++)
                if (strcmp(s, mode_names[i]) == 0) {
                        *ret = (enum dv_dpm_mode)i;
                        return 0;
                }
        return -EINVAL;
}

json_t *dv_dpm_settings_to_json(const struct dv_dpm_settings *s)
{
        return json_pack("{s:s,s:i,s:i,s:i,s:i}", "mode", dv_dpm_mode_to_string(s->mode),
                         "low_pct", s->low_pct, "high_pct", s->high_pct, "persist_passes",
                         s->persist_passes, "min_hosts", s->min_hosts);
}

static int get_small(json_t *patch, const char *key, int64_t lo, int64_t hi, int *v,
                     struct dv_error *err)
{
        int64_t x = *v;
        int r = dv_json_get_int(patch, key, false, lo, hi, &x, err);

        if (r >= 0)
                *v = (int)x;
        return r;
}

int dv_dpm_settings_patch(struct dv_dpm_settings *s, json_t *patch, struct dv_error *err)
{
        static const char *const keys[] = { "mode", "low_pct", "high_pct", "persist_passes",
                                            "min_hosts", NULL };
        struct dv_dpm_settings n = *s;
        const char *mode = NULL;
        int r;

        if (!json_is_object(patch))
                return dv_error_set(err, 400, "invalid-field", "field 'dpm' must be an object");
        r = dv_json_check_keys(patch, keys, err);
        if (r >= 0)
                r = dv_json_get_string(patch, "mode", false, &mode, err);
        if (r < 0)
                return r;
        if (mode && dv_dpm_mode_from_string(mode, &n.mode) < 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "dpm: field 'mode' must be off, manual or automatic");
        if ((r = get_small(patch, "low_pct", 1, 99, &n.low_pct, err)) < 0 ||
            (r = get_small(patch, "high_pct", 2, 100, &n.high_pct, err)) < 0 ||
            (r = get_small(patch, "persist_passes", 1, 100, &n.persist_passes, err)) < 0 ||
            (r = get_small(patch, "min_hosts", 1, 100000, &n.min_hosts, err)) < 0)
                return r;
        if (n.low_pct >= n.high_pct)
                return dv_error_set(err, 400, "invalid-field",
                                    "dpm: low_pct (%d) must be below high_pct (%d)", n.low_pct,
                                    n.high_pct);
        *s = n;
        return 0;
}

/* ---- a pass ------------------------------------------------------------------------ */

static void say(char *buf, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
}

static void add(char *buf, size_t len, const char *fmt, ...)
{
        size_t n = strlen(buf);
        va_list ap;

        if (n + 1 >= len)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + n, len - n, fmt, ap);
        va_end(ap);
}

/* Per-host sums, worked out once. */
struct load {
        double cpu;          /* demand */
        double mem;          /* demand (MiB) */
        int64_t reserved;    /* configured memory of the VMs placed on it */
        size_t running;      /* running VMs */
        size_t placed;       /* VMs placed on it */
};

struct pass {
        const struct dv_dpm_input *in;
        struct load *l;
        struct dv_ha_host *ha_hosts; /* the powered-on hosts, for admission control */
        struct dv_ha_vm *ha_vms;     /* the running VMs */
        size_t n_ha_vms;
        double cap_cpu, cap_mem;     /* capacity of the powered-on hosts */
        double dem_cpu, dem_mem;     /* demand on them */
};

static double ratio(double a, double b)
{
        return b > 0 ? a / b : (a > 0 ? 1.0 : 0.0);
}

static double host_util(const struct dv_dpm_host *h, double cpu, double mem)
{
        return DV_MAX(ratio(cpu, h->cpu_capacity), ratio(mem, (double)h->memory_mib));
}

/* Would HA admission control accept the powered-on VMs with the powered-on
 * hosts, leaving out host skip (SIZE_MAX: none) and adding host extra
 * (SIZE_MAX: none)? */
static bool ha_ok(struct pass *p, size_t skip, size_t extra, char *why, size_t why_len)
{
        const struct dv_dpm_input *in = p->in;
        struct dv_ha_vm probe = { .name = "\001dpm-probe", .mem_mib = 0 };
        size_t n = 0;
        int r;

        if (!in->ha)
                return true;
        for (size_t i = 0; i < in->n_hosts; i++) {
                if (i == skip || (in->hosts[i].power != DV_DPM_HOST_ON && i != extra))
                        continue;
                p->ha_hosts[n++] = (struct dv_ha_host){
                        .name = in->hosts[i].name,
                        .admin = DV_HA_ADMIN_ACTIVE,
                        .power = DV_HA_POWER_ON,
                        .mem_total_mib = in->hosts[i].memory_mib,
                };
        }
        r = dv_ha_admission_check(in->ha, p->ha_hosts, n, p->ha_vms, p->n_ha_vms, &probe, why,
                                  why_len);
        /* "cannot power on PROBE[ (0 MiB)]: why": keep the why. */
        if (r == -ENOSPC && why_len > 0) {
                const char *c = strstr(why, ": ");

                if (c)
                        memmove(why, c + 2, strlen(c + 2) + 1);
        }
        return r != -ENOSPC;
}

/* Can host c be emptied onto the other powered-on hosts within high? */
static bool fits_elsewhere(struct pass *p, size_t c, char *why, size_t why_len)
{
        const struct dv_dpm_input *in = p->in;
        double high = in->settings.high_pct / 100.0;
        _cleanup_(freep) struct load *l = calloc(in->n_hosts + 1, sizeof(*l));
        _cleanup_(freep) size_t *order = calloc(in->vms ? in->n_vms + 1 : 1, sizeof(*order));
        size_t n = 0;

        if (!l || !order) {
                say(why, why_len, "out of memory");
                return false;
        }
        memcpy(l, p->l, in->n_hosts * sizeof(*l));
        for (size_t i = 0; i < in->n_vms; i++)
                if (in->vms[i].host == c)
                        order[n++] = i;
        /* Largest configured memory first (insertion sort: few VMs per host). */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && in->vms[order[j]].memory_mib >
                                                    in->vms[order[j - 1]].memory_mib; j--) {
                        size_t t = order[j];
                        order[j] = order[j - 1];
                        order[j - 1] = t;
                }
        for (size_t k = 0; k < n; k++) {
                const struct dv_dpm_vm *v = &in->vms[order[k]];
                size_t best = SIZE_MAX;
                int64_t best_free = INT64_MIN;

                if (!v->movable) {
                        say(why, why_len, "vm '%s' cannot move", v->name);
                        return false;
                }
                for (size_t h = 0; h < in->n_hosts; h++) {
                        const struct dv_dpm_host *x = &in->hosts[h];
                        int64_t free_mib = x->memory_mib - l[h].reserved;

                        if (h == c || x->power != DV_DPM_HOST_ON || x->cpus < v->cpus ||
                            free_mib < v->memory_mib)
                                continue;
                        if (v->running &&
                            host_util(x, l[h].cpu + v->cpu_demand, l[h].mem + v->mem_demand_mib) >
                                    high)
                                continue;
                        if (free_mib > best_free ||
                            (free_mib == best_free && strcmp(x->name, in->hosts[best].name) < 0)) {
                                best = h;
                                best_free = free_mib;
                        }
                }
                if (best == SIZE_MAX) {
                        say(why, why_len,
                            "no other host takes vm '%s' (%" PRId64 " MiB, %" PRId64
                            " CPU(s)) within %d%%",
                            v->name, v->memory_mib, v->cpus, in->settings.high_pct);
                        return false;
                }
                l[best].reserved += v->memory_mib;
                if (v->running) {
                        l[best].cpu += v->cpu_demand;
                        l[best].mem += v->mem_demand_mib;
                }
        }
        return true;
}

/* Power-off preference: fewest running VMs, least demand, least reserved
 * memory, then the name (the last name goes first). */
static bool better_off(const struct pass *p, size_t a, size_t b)
{
        const struct dv_dpm_host *ha = &p->in->hosts[a], *hb = &p->in->hosts[b];
        double ua = host_util(ha, p->l[a].cpu, p->l[a].mem);
        double ub = host_util(hb, p->l[b].cpu, p->l[b].mem);

        if (p->l[a].running != p->l[b].running)
                return p->l[a].running < p->l[b].running;
        if (ua != ub)
                return ua < ub;
        if (p->l[a].reserved != p->l[b].reserved)
                return p->l[a].reserved < p->l[b].reserved;
        return strcmp(ha->name, hb->name) > 0;
}

/* Power-on preference: most memory, most CPUs, then the name. */
static bool better_on(const struct dv_dpm_host *a, const struct dv_dpm_host *b)
{
        if (a->memory_mib != b->memory_mib)
                return a->memory_mib > b->memory_mib;
        if (a->cpus != b->cpus)
                return a->cpus > b->cpus;
        return strcmp(a->name, b->name) < 0;
}

static void power_on(struct pass *p, struct dv_dpm_result *res, const char *why)
{
        const struct dv_dpm_input *in = p->in;
        size_t best = SIZE_MAX;

        for (size_t i = 0; i < in->n_hosts; i++)
                if (in->hosts[i].power == DV_DPM_HOST_STANDBY && in->hosts[i].has_bmc &&
                    (best == SIZE_MAX || better_on(&in->hosts[i], &in->hosts[best])))
                        best = i;
        if (best == SIZE_MAX) {
                say(res->reason, sizeof(res->reason), "%s, but no standby host with a BMC is left",
                    why);
                return;
        }
        res->action = DV_DPM_POWER_ON;
        res->host = best;
        res->util_after = DV_MAX(ratio(p->dem_cpu, p->cap_cpu + in->hosts[best].cpu_capacity),
                                 ratio(p->dem_mem, p->cap_mem + (double)in->hosts[best].memory_mib));
        say(res->reason, sizeof(res->reason),
            "%s: power on standby host '%s' (%" PRId64 " CPUs, %" PRId64
            " MiB); utilisation %.0f%% -> %.0f%%",
            why, in->hosts[best].name, in->hosts[best].cpus, in->hosts[best].memory_mib,
            res->util * 100, res->util_after * 100);
}

static void power_off(struct pass *p, struct dv_dpm_result *res)
{
        const struct dv_dpm_input *in = p->in;
        _cleanup_(freep) size_t *cand = calloc(in->n_hosts + 1, sizeof(*cand));
        size_t n = 0, shown = 0;
        char why[200];

        if (!cand) {
                say(res->reason, sizeof(res->reason), "out of memory");
                return;
        }
        if (res->hosts_on <= (size_t)in->settings.min_hosts) {
                say(res->reason, sizeof(res->reason),
                    "utilisation %.0f%% is below %d%%, but only %zu host(s) are on (min_hosts %d)",
                    res->util * 100, in->settings.low_pct, res->hosts_on, in->settings.min_hosts);
                return;
        }
        for (size_t i = 0; i < in->n_hosts; i++) {
                if (in->hosts[i].power != DV_DPM_HOST_ON)
                        continue;
                if (!in->hosts[i].has_bmc) {
                        if (shown++ < 8)
                                add(res->skipped, sizeof(res->skipped), "%shost '%s': no BMC",
                                    res->skipped[0] ? "; " : "", in->hosts[i].name);
                        continue;
                }
                cand[n++] = i;
        }
        /* Sorted by preference (insertion sort; the first that qualifies wins). */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && better_off(p, cand[j], cand[j - 1]); j--) {
                        size_t t = cand[j];
                        cand[j] = cand[j - 1];
                        cand[j - 1] = t;
                }
        for (size_t k = 0; k < n; k++) {
                size_t c = cand[k];
                const struct dv_dpm_host *h = &in->hosts[c];
                double after;

                if (!fits_elsewhere(p, c, why, sizeof(why))) {
                        if (shown++ < 8)
                                add(res->skipped, sizeof(res->skipped), "%shost '%s': %s",
                                    res->skipped[0] ? "; " : "", h->name, why);
                        continue;
                }
                after = DV_MAX(ratio(p->dem_cpu, p->cap_cpu - h->cpu_capacity),
                               ratio(p->dem_mem, p->cap_mem - (double)h->memory_mib));
                if (after > in->settings.high_pct / 100.0) {
                        if (shown++ < 8)
                                add(res->skipped, sizeof(res->skipped),
                                    "%shost '%s': the others would be at %.0f%%",
                                    res->skipped[0] ? "; " : "", h->name, after * 100);
                        continue;
                }
                if (!ha_ok(p, c, SIZE_MAX, why, sizeof(why))) {
                        if (shown++ < 8)
                                add(res->skipped, sizeof(res->skipped),
                                    "%shost '%s': HA admission control needs it (%s)",
                                    res->skipped[0] ? "; " : "", h->name, why);
                        continue;
                }
                res->action = DV_DPM_POWER_OFF;
                res->host = c;
                res->util_after = after;
                say(res->reason, sizeof(res->reason),
                    "utilisation %.0f%% is below %d%% for %d pass(es): empty host '%s' (%zu "
                    "vm(s), %zu running) and power it off; the other %zu host(s) would be at "
                    "%.0f%%",
                    res->util * 100, in->settings.low_pct, res->low_passes, h->name,
                    p->l[c].placed, p->l[c].running, res->hosts_on - 1, after * 100);
                return;
        }
        say(res->reason, sizeof(res->reason),
            "utilisation %.0f%% is below %d%%, but no host can be powered off", res->util * 100,
            in->settings.low_pct);
}

int dv_dpm_pass(const struct dv_dpm_input *in, struct dv_dpm_result *ret)
{
        _cleanup_(freep) struct load *l = NULL;
        _cleanup_(freep) struct dv_ha_host *hh = NULL;
        _cleanup_(freep) struct dv_ha_vm *hv = NULL;
        struct dv_dpm_result res = { .action = DV_DPM_NONE, .host = SIZE_MAX };
        struct pass p = { .in = in };
        const struct dv_dpm_settings *s = &in->settings;
        char why[200];

        if (!in || !ret || (in->n_hosts && !in->hosts) || (in->n_vms && !in->vms) ||
            s->low_pct < 1 || s->high_pct > 100 || s->low_pct >= s->high_pct ||
            s->persist_passes < 1 || s->min_hosts < 1)
                return -EINVAL;
        for (size_t i = 0; i < in->n_vms; i++)
                if (in->vms[i].host >= in->n_hosts)
                        return -EINVAL;
        l = calloc(in->n_hosts + 1, sizeof(*l));
        hh = calloc(in->n_hosts + 1, sizeof(*hh));
        hv = calloc(in->n_vms + 1, sizeof(*hv));
        if (!l || !hh || !hv)
                return -ENOMEM;
        p.l = l;
        p.ha_hosts = hh;
        p.ha_vms = hv;

        for (size_t i = 0; i < in->n_vms; i++) {
                const struct dv_dpm_vm *v = &in->vms[i];

                l[v->host].reserved += v->memory_mib;
                l[v->host].placed++;
                if (!v->running)
                        continue;
                l[v->host].cpu += v->cpu_demand;
                l[v->host].mem += v->mem_demand_mib;
                l[v->host].running++;
                hv[p.n_ha_vms++] = (struct dv_ha_vm){ .name = v->name, .mem_mib = v->memory_mib,
                                                      .state = DV_HA_VM_RUNNING };
        }
        for (size_t i = 0; i < in->n_hosts; i++) {
                if (in->hosts[i].power != DV_DPM_HOST_ON)
                        continue;
                res.hosts_on++;
                p.cap_cpu += in->hosts[i].cpu_capacity;
                p.cap_mem += (double)in->hosts[i].memory_mib;
                p.dem_cpu += l[i].cpu;
                p.dem_mem += l[i].mem;
        }
        res.cpu_util = ratio(p.dem_cpu, p.cap_cpu);
        res.mem_util = ratio(p.dem_mem, p.cap_mem);
        res.util = res.util_after = DV_MAX(res.cpu_util, res.mem_util);
        res.low_passes = res.util < s->low_pct / 100.0 ? in->low_before + 1 : 0;
        res.high_passes = res.util > s->high_pct / 100.0 ? in->high_before + 1 : 0;
        res.ha_short = !ha_ok(&p, SIZE_MAX, SIZE_MAX, why, sizeof(why));

        if (s->mode == DV_DPM_OFF)
                say(res.reason, sizeof(res.reason), "DPM is off");
        else if (in->busy)
                say(res.reason, sizeof(res.reason),
                    "a power action or maintenance is in progress: waiting for it");
        else if (res.ha_short) {
                char w[300];

                say(w, sizeof(w), "HA admission control is short of capacity (%s)", why);
                power_on(&p, &res, w);
        } else if (res.high_passes >= s->persist_passes) {
                char w[200];

                say(w, sizeof(w), "utilisation %.0f%% is above %d%% for %d pass(es)",
                    res.util * 100, s->high_pct, res.high_passes);
                power_on(&p, &res, w);
        } else if (res.high_passes > 0)
                say(res.reason, sizeof(res.reason),
                    "utilisation %.0f%% is above %d%% for %d of %d pass(es)", res.util * 100,
                    s->high_pct, res.high_passes, s->persist_passes);
        else if (res.low_passes >= s->persist_passes)
                power_off(&p, &res);
        else if (res.low_passes > 0)
                say(res.reason, sizeof(res.reason),
                    "utilisation %.0f%% is below %d%% for %d of %d pass(es)", res.util * 100,
                    s->low_pct, res.low_passes, s->persist_passes);
        else
                say(res.reason, sizeof(res.reason), "utilisation %.0f%% is within %d..%d%%",
                    res.util * 100, s->low_pct, s->high_pct);
        *ret = res;
        return 0;
}
