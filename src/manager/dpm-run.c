#include "dpm-run.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "drs-run.h"
#include "ha-bmc.h"
#include "ha-env.h"
#include "json.h"
#include "log.h"
#include "maintenance.h"
#include "mcache.h"
#include "mstats.h"
#include "validate.h"
#include "view.h"

#define DPM_USER "dpm"
#define DEMAND_WINDOW_MS 60000       /* VM demand: the 1-minute average, as DRS */
#define OFF_WAIT_MS (90 * 1000)      /* BMC must read off within this after the request */
#define ON_WAIT_MS (5 * 60 * 1000)   /* the agent must register within this after power-on */
#define READ_EVERY_MS 2000           /* fresh BMC readings while waiting for off */

enum op_phase {
        OP_NONE,      /* nothing in flight */
        OP_STARTING,  /* being submitted (rt->lock released meanwhile) */
        OP_MAINT,     /* power-off: the host.maintenance task empties the host */
        OP_OFF_WAIT,  /* power-off: standby, BMC asked; waiting for it to read off */
        OP_ON_WAIT,   /* power-on: BMC asked; waiting for the agent to register */
};

struct op {
        enum op_phase phase;       /* see above */
        enum dv_dpm_action action; /* power-off or power-on */
        char rec[32];              /* the recommendation carried out */
        char host_id[64];          /* the host */
        char host[128];            /* its name */
        char task[64];             /* OP_MAINT: the maintenance task */
        char user[64];             /* who asked (dpm in automatic mode) */
        int64_t phase_ms;          /* monotonic ms when the phase began */
        int64_t read_ms;           /* OP_OFF_WAIT: last fresh reading asked */
};

struct dv_dpm_rt {
        struct dv_mgr *m;        /* the manager */
        pthread_mutex_t lock;    /* a leaf: guards the members below */
        int64_t last_pass_ms;    /* monotonic ms of the last scheduled pass */
        int low, high;           /* passes in a row below low / above high */
        int64_t next_id;         /* recommendation ids */
        json_t *report;          /* the last pass (DPMREPORT), or NULL */
        struct op op;            /* the power action in flight */
};

int dv_dpm_rt_new(struct dv_mgr *m, struct dv_dpm_rt **ret)
{
        struct dv_dpm_rt *rt = calloc(1, sizeof(*rt));

        if (!rt)
                return -ENOMEM;
        rt->m = m;
        rt->next_id = 1;
        pthread_mutex_init(&rt->lock, NULL);
        *ret = rt;
        return 0;
}

void dv_dpm_rt_free(struct dv_dpm_rt *rt)
{
        if (!rt)
                return;
        json_decref(rt->report);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}

void dv_cluster_dpm_settings(json_t *cluster, struct dv_dpm_settings *ret)
{
        struct dv_error err = { 0 };
        struct dv_dpm_settings s;
        json_t *d = json_object_get(cluster, "dpm");

        dv_dpm_settings_default(&s);
        if (d && dv_dpm_settings_patch(&s, d, &err) < 0)
                dv_dpm_settings_default(&s);
        *ret = s;
}

static json_t *pct(double v)
{
        return isfinite(v) ? json_real(round(v * 1000.0) / 10.0) : json_null();
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
        return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static json_t *op_json(const struct op *op)
{
        static const char *const phases[] = { "none", "starting", "entering-maintenance",
                                              "powering-off", "powering-on" };

        if (op->phase == OP_NONE)
                return json_null();
        return json_pack("{s:s,s:s,s:s,s:s,s:s?}", "action", dv_dpm_action_to_string(op->action),
                         "host", op->host, "phase", phases[op->phase], "recommendation", op->rec,
                         "task", op->task[0] ? op->task : NULL);
}

/* ---- a pass ------------------------------------------------------------------------ */

static int run_pass(struct dv_mgr *m, const char *user, json_t **ret_report);
static int apply_rec(struct dv_dpm_rt *rt, const char *rec_id, const char *user,
                     struct dv_error *err);

static int run_pass(struct dv_mgr *m, const char *user, json_t **ret_report)
{
        struct dv_dpm_rt *rt = m->dpm;
        _cleanup_(json_decrefp) json_t *cluster = NULL, *hosts = NULL;
        _cleanup_(freep) struct dv_mcache_vm *vms = NULL;
        _cleanup_(freep) struct dv_dpm_host *h = NULL;
        _cleanup_(freep) struct dv_dpm_vm *v = NULL;
        _cleanup_(freep) double *hcpu = NULL, *hmem = NULL;
        struct dv_dpm_input in = { 0 };
        struct dv_dpm_result res;
        struct dv_ha_settings ha;
        struct timespec t0, t1, t2;
        json_t *hostsj, *rec = json_null(), *d, *report, *idx;
        int64_t now = dv_wall_ms();
        size_t i, nv = 0, n_vms = 0;
        char id[32] = "", at[32];
        bool busy = false;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        dv_mgr_lock(m);
        r = dv_mgr_cluster_default(m, &cluster);
        if (r >= 0 && m->cache) {
                /* The cached host documents: shared, read-only. */
                json_t *dvs = NULL;

                r = dv_mcache_hosts(m, &hosts, &dvs);
                json_decref(dvs);
        } else if (r >= 0) {
                r = dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts);
        }
        if (r >= 0)
                r = dv_mgr_vm_facts(m, &vms, &n_vms);
        if (r < 0) {
                dv_mgr_unlock(m);
                return r;
        }
        h = calloc(json_array_size(hosts) + 1, sizeof(*h));
        v = calloc(n_vms + 1, sizeof(*v));
        idx = json_object();
        if (!h || !v || !idx) {
                dv_mgr_unlock(m);
                json_decref(idx);
                return -ENOMEM;
        }
        json_array_foreach(hosts, i, d) {
                const char *st = dv_doc_str(d, "state");
                json_t *bmc = json_object_get(d, "bmc");

                h[i] = (struct dv_dpm_host){
                        .name = dv_doc_str(d, "name"),
                        .power = dv_streq(st, "connected") ? DV_DPM_HOST_ON
                                 : dv_streq(st, "standby") ? DV_DPM_HOST_STANDBY
                                                           : DV_DPM_HOST_OTHER,
                        .has_bmc = json_is_object(bmc) && dv_doc_str(bmc, "address"),
                        .cpus = dv_doc_int(d, "cpus", 1),
                        .cpu_capacity = 100.0 * (double)dv_doc_int(d, "cpus", 1),
                        .memory_mib = dv_doc_int(d, "memory_mib", 0),
                };
                if (dv_streq(st, "maintenance") &&
                    dv_tasks_active(m->tasks, dv_doc_str(d, "_maint_task")))
                        busy = true;
                json_object_set_new(idx, dv_doc_str(d, "id"), json_integer((json_int_t)i));
        }
        for (i = 0; i < n_vms; i++) {
                const struct dv_mcache_vm *f = &vms[i];
                json_t *hi = f->host_id[0] ? json_object_get(idx, f->host_id) : NULL;
                const char *state = f->state;
                struct dv_ts_sample avg = { 0 };
                struct dv_dpm_vm *x = &v[nv];
                bool running = dv_streq(state, "running");

                if (!hi)
                        continue;
                if (running)
                        (void)dv_mstats_avg(m->mstats, f->id, now, DEMAND_WINDOW_MS, &avg);
                *x = (struct dv_dpm_vm){
                        .name = f->name,
                        .host = (size_t)json_integer_value(hi),
                        .running = !dv_streq(state, "stopped"),
                        .cpu_demand = avg.cpu_pct,
                        .mem_demand_mib = avg.memory_mib,
                        .memory_mib = f->memory_mib,
                        .cpus = f->cpus,
                };
                /* Running: live migration needs Tools and shared storage;
                 * stopped: re-placed unless a disk is local; anything in
                 * between (starting, migrating...) cannot move now. */
                x->movable = !f->local_disk &&
                             !(f->task[0] && dv_tasks_active(m->tasks, f->task)) &&
                             (dv_streq(state, "stopped") || (running && f->tools_running));
                nv++;
        }
        json_decref(idx);
        dv_mgr_unlock(m);

        dv_cluster_ha_settings(cluster, &ha);
        in = (struct dv_dpm_input){
                .hosts = h,
                .n_hosts = json_array_size(hosts),
                .vms = v,
                .n_vms = nv,
                .ha = ha.enabled ? &ha : NULL,
        };
        dv_cluster_dpm_settings(cluster, &in.settings);
        pthread_mutex_lock(&rt->lock);
        in.low_before = rt->low;
        in.high_before = rt->high;
        in.busy = busy || rt->op.phase != OP_NONE;
        pthread_mutex_unlock(&rt->lock);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        r = dv_dpm_pass(&in, &res);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        if (r < 0)
                return r;

        hostsj = json_array();
        hcpu = calloc(in.n_hosts + 1, sizeof(*hcpu));
        hmem = calloc(in.n_hosts + 1, sizeof(*hmem));
        if (!hcpu || !hmem) {
                json_decref(hostsj);
                return -ENOMEM;
        }
        for (size_t k = 0; k < nv; k++)
                if (v[k].running) {
                        hcpu[v[k].host] += v[k].cpu_demand;
                        hmem[v[k].host] += v[k].mem_demand_mib;
                }
        for (i = 0; i < in.n_hosts; i++) {
                double cpu = hcpu[i], mem = hmem[i];

                json_array_append_new(
                        hostsj,
                        json_pack("{s:s,s:s,s:b,s:o,s:o}", "name", h[i].name, "power",
                                  h[i].power == DV_DPM_HOST_ON        ? "on"
                                  : h[i].power == DV_DPM_HOST_STANDBY ? "standby"
                                                                      : "other",
                                  "bmc", h[i].has_bmc, "cpu_load_pct",
                                  pct(h[i].cpu_capacity > 0 ? cpu / h[i].cpu_capacity : 0),
                                  "memory_load_pct",
                                  pct(h[i].memory_mib > 0 ? mem / (double)h[i].memory_mib : 0)));
        }
        dv_mgr_now(at);
        pthread_mutex_lock(&rt->lock);
        rt->low = res.low_passes;
        rt->high = res.high_passes;
        if (res.action != DV_DPM_NONE) {
                snprintf(id, sizeof(id), "dpm-%lld", (long long)rt->next_id++);
                rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n}", "id", id, "action",
                                dv_dpm_action_to_string(res.action), "host", h[res.host].name,
                                "reason", res.reason, "utilisation_after_pct",
                                pct(res.util_after), "state", "pending", "error");
        }
        report = json_pack("{s:s?,s:s,s:i,s:i,s:i,s:i,s:s,s:o,s:o,s:o,s:I,s:b,s:i,s:i,s:s,s:s,"
                           "s:o,s:o,s:o,s:o,s:o}",
                           "cluster", dv_doc_str(cluster, "name"), "mode",
                           dv_dpm_mode_to_string(in.settings.mode), "low_pct", in.settings.low_pct,
                           "high_pct", in.settings.high_pct, "persist_passes",
                           in.settings.persist_passes, "min_hosts", in.settings.min_hosts,
                           "passed_at", at, "cpu_util_pct", pct(res.cpu_util), "memory_util_pct",
                           pct(res.mem_util), "util_pct", pct(res.util), "hosts_on",
                           (json_int_t)res.hosts_on, "ha_short", res.ha_short, "low_passes",
                           res.low_passes, "high_passes", res.high_passes, "reason", res.reason,
                           "skipped", res.skipped, "hosts", hostsj, "recommendation", rec,
                           "operation", op_json(&rt->op), "snapshot_ms",
                           json_real(ms_between(&t0, &t1)), "pass_ms",
                           json_real(ms_between(&t1, &t2)));
        json_decref(rt->report);
        rt->report = json_incref(report);
        pthread_mutex_unlock(&rt->lock);

        if (res.action != DV_DPM_NONE) {
                dv_mgr_event(m, user, "dpm.pass", "cluster", cluster, "dpm (%s): %s [%s]",
                             dv_dpm_mode_to_string(in.settings.mode), res.reason, id);
                if (in.settings.mode == DV_DPM_AUTOMATIC) {
                        struct dv_error err = { 0 };

                        if (apply_rec(rt, id, DPM_USER, &err) < 0)
                                dv_warn("dpm: recommendation %s: %s", id, err.message);
                }
        }
        if (ret_report) {
                pthread_mutex_lock(&rt->lock);
                *ret_report = json_deep_copy(rt->report);
                pthread_mutex_unlock(&rt->lock);
        }
        json_decref(report);
        return 0;
}

/* ---- carrying a recommendation out ------------------------------------------------ */

static void rec_mark(struct dv_dpm_rt *rt, const char *rec_id, const char *state,
                     const char *error)
{
        json_t *rec;

        pthread_mutex_lock(&rt->lock);
        rec = json_object_get(rt->report, "recommendation");
        if (dv_streq(dv_doc_str(rec, "id"), rec_id)) {
                json_object_set_new(rec, "state", json_string(state));
                json_object_set_new(rec, "error", error ? json_string(error) : json_null());
        }
        pthread_mutex_unlock(&rt->lock);
}

static void op_end(struct dv_dpm_rt *rt, const char *state, const char *error)
{
        char rec[32];

        pthread_mutex_lock(&rt->lock);
        snprintf(rec, sizeof(rec), "%s", rt->op.rec);
        rt->op = (struct op){ 0 };
        pthread_mutex_unlock(&rt->lock);
        rec_mark(rt, rec, state, error);
}

/* The host's state (m->lock taken): "standby" with a note, or back. */
static int host_set_state(struct dv_mgr *m, const char *host_id, const char *state,
                          const char *reason)
{
        json_t *h;
        char now[32];
        int r;

        dv_mgr_lock(m);
        h = dv_mgr_get(m, DV_KIND_HOST, host_id);
        if (!h) {
                dv_mgr_unlock(m);
                return -ENOENT;
        }
        json_object_set_new(h, "state", json_string(state));
        if (dv_streq(state, "standby")) {
                dv_mgr_now(now);
                json_object_del(h, "_maint_task");
                json_object_del(h, "maintenance");
                json_object_set_new(h, "standby", json_pack("{s:s,s:s,s:s}", "since", now, "by",
                                                            DPM_USER, "reason", reason));
        } else {
                json_object_del(h, "standby");
        }
        r = dv_store_update(m->store, DV_KIND_HOST, h);
        dv_mgr_unlock(m);
        json_decref(h);
        return r;
}

static int apply_rec(struct dv_dpm_rt *rt, const char *rec_id, const char *user,
                     struct dv_error *err)
{
        struct dv_mgr *m = rt->m;
        json_t *rec, *host = NULL, *task = NULL;
        enum dv_dpm_action action;
        char hname[128];
        int r;

        pthread_mutex_lock(&rt->lock);
        rec = json_object_get(rt->report, "recommendation");
        if (!dv_streq(dv_doc_str(rec, "id"), rec_id)) {
                pthread_mutex_unlock(&rt->lock);
                return dv_error_set(err, 404, "not-found",
                                    "dpm recommendation '%s' not found (a later pass replaced it)",
                                    rec_id);
        }
        if (!dv_streq(dv_doc_str(rec, "state"), "pending")) {
                pthread_mutex_unlock(&rt->lock);
                return dv_error_set(err, 409, "invalid-state", "dpm recommendation '%s' is %s",
                                    rec_id, dv_doc_str(rec, "state"));
        }
        if (rt->op.phase != OP_NONE) {
                pthread_mutex_unlock(&rt->lock);
                return dv_error_set(err, 409, "busy",
                                    "dpm is already powering host '%s' %s", rt->op.host,
                                    rt->op.action == DV_DPM_POWER_ON ? "on" : "off");
        }
        action = dv_streq(dv_doc_str(rec, "action"), "power-on") ? DV_DPM_POWER_ON
                                                                  : DV_DPM_POWER_OFF;
        snprintf(hname, sizeof(hname), "%s", dv_doc_str(rec, "host"));
        json_object_set_new(rec, "state", json_string("submitting"));
        rt->op = (struct op){ .phase = OP_STARTING, .action = action };
        snprintf(rt->op.rec, sizeof(rt->op.rec), "%s", rec_id);
        snprintf(rt->op.host, sizeof(rt->op.host), "%s", hname);
        snprintf(rt->op.user, sizeof(rt->op.user), "%s", user);
        pthread_mutex_unlock(&rt->lock);

        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, hname);
        dv_mgr_unlock(m);
        if (!host) {
                op_end(rt, "failed", "the host is gone");
                return dv_error_set(err, 404, "not-found", "host '%s' not found", hname);
        }
        pthread_mutex_lock(&rt->lock);
        snprintf(rt->op.host_id, sizeof(rt->op.host_id), "%s", dv_doc_str(host, "id"));
        pthread_mutex_unlock(&rt->lock);

        if (action == DV_DPM_POWER_OFF) {
                r = dv_maintenance_enter(m, dv_doc_str(host, "id"), user, false, &task, NULL, err);
                if (r < 0) {
                        op_end(rt, "failed", err->message);
                        dv_mgr_event(m, user, "dpm.failed", "host", host,
                                     "dpm: cannot empty host '%s' to power it off: %s", hname,
                                     err->message);
                        json_decref(host);
                        return r;
                }
                pthread_mutex_lock(&rt->lock);
                rt->op.phase = OP_MAINT;
                rt->op.phase_ms = dv_now_ms();
                snprintf(rt->op.task, sizeof(rt->op.task), "%s", dv_doc_str(task, "id"));
                pthread_mutex_unlock(&rt->lock);
                dv_mgr_event(m, user, "dpm.power-off", "host", host,
                             "dpm: emptying host '%s' (maintenance task %s) to power it off",
                             hname, dv_doc_str(task, "id"));
        } else {
                if (!dv_streq(dv_doc_str(host, "state"), "standby")) {
                        op_end(rt, "failed", "the host is not in standby");
                        json_decref(host);
                        return dv_error_set(err, 409, "invalid-state", "host '%s' is %s, not in standby",
                                            hname, dv_doc_str(host, "state"));
                }
                r = dv_ha_rt_bmc_power(m, dv_doc_str(host, "id"), true);
                if (r < 0) {
                        op_end(rt, "failed", strerror(-r));
                        dv_mgr_event(m, user, "dpm.failed", "host", host,
                                     "dpm: cannot power on host '%s' through its BMC: %s", hname,
                                     strerror(-r));
                        json_decref(host);
                        return dv_error_set(err, 502, "bmc-failed",
                                            "cannot power on host '%s' through its BMC: %s", hname,
                                            strerror(-r));
                }
                pthread_mutex_lock(&rt->lock);
                rt->op.phase = OP_ON_WAIT;
                rt->op.phase_ms = dv_now_ms();
                pthread_mutex_unlock(&rt->lock);
                dv_mgr_event(m, user, "dpm.power-on", "host", host,
                             "dpm: powering on host '%s' through its BMC (chassis power on)",
                             hname);
        }
        rec_mark(rt, rec_id, "applied", NULL);
        pthread_mutex_lock(&rt->lock);
        json_object_set_new(rt->report, "operation", op_json(&rt->op));
        pthread_mutex_unlock(&rt->lock);
        json_decref(task);
        json_decref(host);
        return 0;
}

/* Cron: move the power action in flight on. */
static void advance(struct dv_dpm_rt *rt)
{
        struct dv_mgr *m = rt->m;
        struct op op;
        json_t *host;
        const char *state;
        int64_t now = dv_now_ms();
        int r;

        pthread_mutex_lock(&rt->lock);
        op = rt->op;
        pthread_mutex_unlock(&rt->lock);
        if (op.phase == OP_NONE || op.phase == OP_STARTING)
                return;
        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, op.host_id);
        dv_mgr_unlock(m);
        if (!host) {
                op_end(rt, "failed", "the host is gone");
                return;
        }
        state = dv_doc_str(host, "state");

        if (op.phase == OP_MAINT) {
                if (dv_tasks_active(m->tasks, op.task))
                        goto out;
                if (!dv_streq(state, "maintenance")) {
                        op_end(rt, "failed", "the host could not be emptied");
                        dv_mgr_event(m, op.user, "dpm.failed", "host", host,
                                     "dpm: host '%s' could not be emptied (task %s): it stays on",
                                     op.host, op.task);
                        goto out;
                }
                /* Standby first: HA leaves a standby host alone, so the
                 * silence of its agent is not a failure. */
                r = host_set_state(m, op.host_id, "standby", "dpm: low utilisation");
                if (r >= 0)
                        r = dv_ha_rt_bmc_power(m, op.host_id, false);
                if (r < 0) {
                        (void)host_set_state(m, op.host_id, "connected", NULL);
                        op_end(rt, "failed", strerror(-r));
                        dv_mgr_event(m, op.user, "dpm.failed", "host", host,
                                     "dpm: cannot power off host '%s' through its BMC: %s; it is "
                                     "connected again", op.host, strerror(-r));
                        goto out;
                }
                dv_mgr_event(m, op.user, "host.standby-enter", "host", host,
                             "host '%s' is empty and enters standby: chassis power off through "
                             "its BMC", op.host);
                pthread_mutex_lock(&rt->lock);
                rt->op.phase = OP_OFF_WAIT;
                rt->op.phase_ms = now;
                rt->op.read_ms = now;
                pthread_mutex_unlock(&rt->lock);
        } else if (op.phase == OP_OFF_WAIT) {
                struct dv_bmc_reading b = { 0 };
                bool read_now = now - op.read_ms >= READ_EVERY_MS;

                if (read_now) {
                        pthread_mutex_lock(&rt->lock);
                        rt->op.read_ms = now;
                        pthread_mutex_unlock(&rt->lock);
                }
                r = dv_ha_rt_bmc_reading(m, op.host_id, read_now, &b);
                if (r >= 0 && b.power == DV_HA_POWER_OFF && b.power_ms >= op.phase_ms) {
                        op_end(rt, "applied", NULL);
                        dv_mgr_event(m, op.user, "host.standby", "host", host,
                                     "host '%s' is powered off (its BMC reads off) and in standby",
                                     op.host);
                } else if (now - op.phase_ms > OFF_WAIT_MS) {
                        (void)host_set_state(m, op.host_id, "connected", NULL);
                        op_end(rt, "failed", "the BMC never read off");
                        dv_mgr_event(m, op.user, "dpm.failed", "host", host,
                                     "dpm: host '%s' did not power off within %d s (BMC: %s); "
                                     "it is connected again", op.host, OFF_WAIT_MS / 1000,
                                     b.error[0] ? b.error : "no off reading");
                }
        } else if (op.phase == OP_ON_WAIT) {
                if (dv_streq(state, "connected")) {
                        (void)host_set_state(m, op.host_id, "connected", NULL);
                        op_end(rt, "applied", NULL);
                        dv_mgr_event(m, op.user, "host.standby-exit", "host", host,
                                     "host '%s' is powered on and connected again: it takes VMs",
                                     op.host);
                } else if (now - op.phase_ms > ON_WAIT_MS) {
                        op_end(rt, "failed", "the agent did not register");
                        dv_mgr_event(m, op.user, "dpm.failed", "host", host,
                                     "dpm: host '%s' was powered on but its agent did not register "
                                     "within %d s: it stays in standby", op.host,
                                     ON_WAIT_MS / 1000);
                }
        }
out:
        json_decref(host);
}

void dv_dpm_tick(struct dv_mgr *m)
{
        struct dv_dpm_rt *rt = m->dpm;
        struct dv_dpm_settings st;
        struct dv_drs_settings ds;
        json_t *cluster = NULL;
        int64_t now = dv_now_ms();
        bool due;
        int r;

        if (!rt)
                return;
        advance(rt);
        dv_mgr_lock(m);
        r = dv_mgr_cluster_default(m, &cluster);
        dv_mgr_unlock(m);
        if (r < 0)
                return;
        dv_cluster_dpm_settings(cluster, &st);
        dv_cluster_drs_settings(cluster, &ds);
        json_decref(cluster);
        pthread_mutex_lock(&rt->lock);
        due = st.mode != DV_DPM_OFF && now - rt->last_pass_ms >= ds.interval_s * 1000;
        if (due)
                rt->last_pass_ms = now;
        if (st.mode == DV_DPM_OFF)
                rt->low = rt->high = 0;
        pthread_mutex_unlock(&rt->lock);
        if (due) {
                r = run_pass(m, DPM_USER, NULL);
                if (r < 0)
                        dv_warn_errno(r, "dpm: pass failed: %m");
        }
}

/* ---- the API ------------------------------------------------------------------- */

void dv_api_cluster_dpm(struct dv_api *a, json_t *cluster)
{
        struct dv_dpm_rt *rt = a->m->dpm;
        const char *what = a->nseg >= 4 ? a->segs[3] : NULL;
        struct dv_dpm_settings s;
        json_t *report = NULL;
        int r;

        dv_cluster_dpm_settings(cluster, &s);
        if (!what) {
                if (!dv_api_is(a, "GET"))
                        dv_api_bad_method(a);
                else
                        dv_api_reply(a, 200, dv_dpm_settings_to_json(&s));
                return;
        }
        if (a->nseg == 4 && strcmp(what, "recommendations") == 0) {
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                pthread_mutex_lock(&rt->lock);
                if (rt->report) {
                        report = json_deep_copy(rt->report);
                        json_object_set_new(report, "operation", op_json(&rt->op));
                }
                pthread_mutex_unlock(&rt->lock);
                if (!report)
                        report = json_pack("{s:s?,s:s,s:n,s:s,s:n,s:o}", "cluster",
                                           dv_doc_str(cluster, "name"), "mode",
                                           dv_dpm_mode_to_string(s.mode), "passed_at", "reason",
                                           "no DPM pass yet (drover dpm run C makes one now)",
                                           "recommendation", "operation", json_null());
                dv_api_reply(a, 200, report);
                return;
        }
        if (a->nseg == 4 && strcmp(what, "run") == 0) {
                if (!dv_api_is(a, "POST")) {
                        dv_api_bad_method(a);
                        return;
                }
                r = run_pass(a->m, a->user, &report);
                if (r < 0)
                        dv_api_internal(a, r, "the dpm pass");
                else
                        dv_api_reply(a, 200, report);
                return;
        }
        dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
}

void dv_api_dpm(struct dv_api *a)
{
        struct dv_dpm_rt *rt = a->m->dpm;
        struct dv_error err = { 0 };
        json_t *body = NULL, *rec;

        if (a->nseg != 4 || strcmp(a->segs[1], "recommendations") != 0 ||
            strcmp(a->segs[3], "apply") != 0) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "POST")) {
                dv_api_bad_method(a);
                return;
        }
        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_empty(body, &err) < 0 || apply_rec(rt, a->segs[2], a->user, &err) < 0) {
                dv_api_dv_error(a, &err);
        } else {
                pthread_mutex_lock(&rt->lock);
                rec = json_deep_copy(json_object_get(rt->report, "recommendation"));
                json_object_set_new(rec, "operation", op_json(&rt->op));
                pthread_mutex_unlock(&rt->lock);
                dv_api_reply(a, 202, rec);
        }
        json_decref(body);
}
