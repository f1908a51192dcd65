#include "drs-run.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "json.h"
#include "log.h"
#include "mcache.h"
#include "mstats.h"
#include "ha-env.h"
#include "validate.h"
#include "vm-ops.h"
#include "view.h"

#define DRS_USER "drs"
#define DEMAND_WINDOW_MS 60000     /* VM demand: the 1-minute average */
#define MAX_RULES 64
#define MAX_RULE_VMS 32
#define MAX_RULE_HOSTS 32

struct dv_drs_rt {
        struct dv_mgr *m;        /* the manager */
        pthread_mutex_t lock;    /* a leaf: guards the members below */
        int64_t last_pass_ms;    /* monotonic ms of the last scheduled pass */
        int persisted;           /* imbalanced passes in a row */
        int64_t next_id;         /* recommendation ids */
        json_t *report;          /* the last pass (docs/api.md DRSREPORT), or NULL */
};

int dv_drs_rt_new(struct dv_mgr *m, struct dv_drs_rt **ret)
{
        struct dv_drs_rt *rt = calloc(1, sizeof(*rt));

        if (!rt)
                return -ENOMEM;
        rt->m = m;
        rt->next_id = 1;
        pthread_mutex_init(&rt->lock, NULL);
        *ret = rt;
        return 0;
}

void dv_drs_rt_free(struct dv_drs_rt *rt)
{
        if (!rt)
                return;
        json_decref(rt->report);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}

/* ---- settings and rules in the cluster document ---------------------------------- */

void dv_cluster_drs_settings(json_t *cluster, struct dv_drs_settings *ret)
{
        struct dv_error err = { 0 };
        struct dv_drs_settings s;
        json_t *d = json_object_get(cluster, "drs");

        dv_drs_settings_default(&s);
        if (d && dv_drs_settings_patch(&s, d, &err) < 0)
                dv_drs_settings_default(&s); /* written by a newer droverd? */
        *ret = s;
}

json_t *dv_cluster_drs_view(json_t *cluster)
{
        struct dv_drs_settings s;
        json_t *v, *rules = json_object_get(cluster, "drs_rules");

        dv_cluster_drs_settings(cluster, &s);
        v = dv_drs_settings_to_json(&s);
        json_object_set_new(v, "rules", rules ? json_deep_copy(rules) : json_array());
        return v;
}

static size_t index_of(json_t *docs, const char *name)
{
        json_t *d;
        size_t i;

        json_array_foreach(docs, i, d)
                if (dv_streq(dv_doc_str(d, "name"), name) || dv_streq(dv_doc_str(d, "id"), name))
                        return i;
        return SIZE_MAX;
}

/* ---- a pass ------------------------------------------------------------------------ */

struct snap {
        json_t *cluster;            /* the cluster document */
        json_t *hosts;              /* host documents */
        struct dv_mcache_vm *vms;   /* the VMs placed on a host (their facts) */
        size_t n_vms;
        struct dv_drs_host *h;      /* one per host */
        struct dv_drs_vm *v;        /* one per VM */
        struct dv_drs_rule *rules;  /* the rules that still name something */
        size_t n_rules;
        size_t *idx;                /* the rules' VM and host indices */
        json_t *host_idx;           /* host id and name -> index into hosts */
        int inflight;               /* migrations running in the cluster */
};

static void snap_done(struct snap *s)
{
        json_decref(s->cluster);
        json_decref(s->hosts);
        free(s->vms);
        free(s->h);
        free(s->v);
        free(s->rules);
        free(s->idx);
        json_decref(s->host_idx);
        *s = (struct snap){ 0 };
}

static size_t host_at(struct snap *s, const char *id_or_name)
{
        json_t *v = id_or_name && *id_or_name ? json_object_get(s->host_idx, id_or_name) : NULL;

        return v ? (size_t)json_integer_value(v) : SIZE_MAX;
}

/* The index of VM name (or id) among s->vms, SIZE_MAX when gone; names
 * maps names and ids to indices, built on first use. */
static size_t vm_at(struct snap *s, json_t **names, const char *name)
{
        json_t *v;

        if (!*names) {
                *names = json_object();
                for (size_t i = 0; i < s->n_vms; i++) {
                        json_object_set_new(*names, s->vms[i].name, json_integer((json_int_t)i));
                        json_object_set_new(*names, s->vms[i].id, json_integer((json_int_t)i));
                }
        }
        v = name ? json_object_get(*names, name) : NULL;
        return v ? (size_t)json_integer_value(v) : SIZE_MAX;
}

/* m->lock held. */
static int snap_take(struct dv_mgr *m, struct snap *s, struct dv_drs_input *in)
{
        json_t *d, *rules, *names = NULL, *dvs = NULL;
        struct dv_mcache_vm *all = NULL;
        size_t i, k = 0, n_idx = 0, n_all = 0;
        int64_t now = dv_wall_ms();
        int r;

        *s = (struct snap){ 0 };
        r = dv_mgr_cluster_default(m, &s->cluster);
        if (r >= 0 && m->cache) {
                /* The cached host documents: shared, read-only. */
                r = dv_mcache_hosts(m, &s->hosts, &dvs);
                json_decref(dvs);
        } else if (r >= 0) {
                r = dv_store_list(m->store, DV_KIND_HOST, NULL, &s->hosts);
        }
        if (r >= 0)
                r = dv_mgr_vm_facts(m, &all, &n_all);
        if (r < 0)
                return r;
        /* Hosts by id and name: a VM's host in O(1), not a search. */
        s->host_idx = json_object();
        json_array_foreach(s->hosts, i, d) {
                json_object_set_new(s->host_idx, dv_doc_str(d, "name"), json_integer((json_int_t)i));
                json_object_set_new(s->host_idx, dv_doc_str(d, "id"), json_integer((json_int_t)i));
        }
        /* Only the VMs placed on a known host (in place: all is ours). */
        s->vms = all;
        for (i = 0; i < n_all; i++)
                if (host_at(s, all[i].host_id) != SIZE_MAX)
                        all[s->n_vms++] = all[i];
        s->h = calloc(json_array_size(s->hosts) + 1, sizeof(*s->h));
        s->v = calloc(s->n_vms + 1, sizeof(*s->v));
        rules = json_object_get(s->cluster, "drs_rules");
        json_array_foreach(rules, i, d)
                n_idx += json_array_size(json_object_get(d, "vms")) +
                         json_array_size(json_object_get(d, "hosts"));
        s->rules = calloc(json_array_size(rules) + 1, sizeof(*s->rules));
        s->idx = calloc(n_idx + 1, sizeof(*s->idx));
        if (!s->h || !s->v || !s->rules || !s->idx)
                return -ENOMEM;

        json_array_foreach(s->hosts, i, d) {
                s->h[i] = (struct dv_drs_host){
                        .id = dv_doc_str(d, "id"),
                        .name = dv_doc_str(d, "name"),
                        .usable = dv_streq(dv_doc_str(d, "state"), "connected"),
                        .cpus = dv_doc_int(d, "cpus", 1),
                        .cpu_capacity = 100.0 * (double)dv_doc_int(d, "cpus", 1),
                        .memory_mib = dv_doc_int(d, "memory_mib", 0),
                };
        }
        for (i = 0; i < s->n_vms; i++) {
                const struct dv_mcache_vm *f = &s->vms[i];
                struct dv_drs_vm *v = &s->v[i];
                struct dv_ts_sample avg = { 0 };
                size_t h = host_at(s, f->host_id);

                (void)dv_mstats_avg(m->mstats, f->id, now, DEMAND_WINDOW_MS, &avg);
                *v = (struct dv_drs_vm){
                        .id = f->id,
                        .name = f->name,
                        .host = h,
                        .cpu_demand = avg.cpu_pct,
                        .mem_demand_mib = avg.memory_mib,
                        .memory_mib = f->memory_mib,
                        .cpus = f->cpus,
                };
                v->movable = dv_streq(f->state, "running") && s->h[h].usable &&
                             !(f->task[0] && dv_tasks_active(m->tasks, f->task)) &&
                             !f->local_disk && f->tools_running;
                s->h[h].reserved_mib += v->memory_mib;
                if (dv_streq(f->state, "migrating")) {
                        size_t t = host_at(s, f->migration_target);
                        s->h[h].migrations++;
                        if (t != SIZE_MAX)
                                s->h[t].migrations++;
                        s->inflight++;
                }
        }
        /* Rules: names to indices; names that are gone are left out. */
        json_array_foreach(rules, i, d) {
                struct dv_drs_rule *x = &s->rules[s->n_rules];
                json_t *e;
                size_t j;

                if (dv_drs_rule_kind_from_string(dv_doc_str(d, "kind"), &x->kind) < 0)
                        continue;
                x->name = dv_doc_str(d, "name");
                x->vms = &s->idx[k];
                json_array_foreach(json_object_get(d, "vms"), j, e) {
                        size_t vi = vm_at(s, &names, json_string_value(e));
                        if (vi != SIZE_MAX)
                                s->idx[k++] = vi, x->n_vms++;
                }
                x->hosts = &s->idx[k];
                json_array_foreach(json_object_get(d, "hosts"), j, e) {
                        size_t hi = host_at(s, json_string_value(e));
                        if (hi != SIZE_MAX)
                                s->idx[k++] = hi, x->n_hosts++;
                }
                s->n_rules++;
        }
        json_decref(names);
        *in = (struct dv_drs_input){
                .hosts = s->h,
                .n_hosts = json_array_size(s->hosts),
                .vms = s->v,
                .n_vms = s->n_vms,
                .rules = s->rules,
                .n_rules = s->n_rules,
        };
        dv_cluster_drs_settings(s->cluster, &in->settings);
        return 0;
}

int dv_drs_host_loads(struct dv_mgr *m, const struct dv_sched_host *sh, size_t n,
                      struct dv_sched_load *ret)
{
        struct dv_drs_input in;
        struct snap s;
        double *cpu, *mem;
        int r = snap_take(m, &s, &in);

        if (r < 0) {
                snap_done(&s);
                return r;
        }
        cpu = calloc(in.n_hosts + 1, sizeof(*cpu));
        mem = calloc(in.n_hosts + 1, sizeof(*mem));
        if (!cpu || !mem) {
                free(cpu);
                free(mem);
                snap_done(&s);
                return -ENOMEM;
        }
        dv_drs_loads(&in, NULL, cpu, mem);
        for (size_t i = 0; i < n; i++) {
                size_t h = host_at(&s, sh[i].id);

                ret[i] = h == SIZE_MAX ? (struct dv_sched_load){ 0 }
                                       : (struct dv_sched_load){ .cpu = cpu[h], .mem = mem[h] };
        }
        free(cpu);
        free(mem);
        snap_done(&s);
        return 0;
}

static json_t *round3(double v)
{
        return isfinite(v) ? json_real(round(v * 1000.0) / 1000.0) : json_null();
}

static json_t *report_new(struct dv_drs_rt *rt, const struct dv_drs_input *in,
                          const struct dv_drs_result *res, const struct snap *s)
{
        double cpu[in->n_hosts + 1], mem[in->n_hosts + 1], cpu2[in->n_hosts + 1],
                mem2[in->n_hosts + 1];
        size_t place[in->n_vms + 1];
        json_t *hosts = json_array(), *recs = json_array(), *o;
        char now[32];

        dv_mgr_now(now);
        for (size_t i = 0; i < in->n_vms; i++)
                place[i] = in->vms[i].host;
        for (size_t k = 0; k < res->n_recs; k++)
                place[res->recs[k].vm] = res->recs[k].to;
        dv_drs_loads(in, NULL, cpu, mem);
        dv_drs_loads(in, place, cpu2, mem2);
        for (size_t h = 0; h < in->n_hosts; h++)
                json_array_append_new(
                        hosts, json_pack("{s:s,s:b,s:o,s:o,s:o,s:o}", "name", in->hosts[h].name,
                                         "usable", in->hosts[h].usable, "cpu_load_pct",
                                         round3(100 * cpu[h]), "memory_load_pct",
                                         round3(100 * mem[h]), "cpu_load_after_pct",
                                         round3(100 * cpu2[h]), "memory_load_after_pct",
                                         round3(100 * mem2[h])));
        for (size_t k = 0; k < res->n_recs; k++) {
                const struct dv_drs_rec *r = &res->recs[k];
                char id[32];

                snprintf(id, sizeof(id), "drs-%lld", (long long)rt->next_id++);
                json_array_append_new(
                        recs, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s?,s:o,s:o,s:o,s:I,s:s,"
                                        "s:s,s:n}",
                                        "id", id, "vm", in->vms[r->vm].name, "vm_id",
                                        in->vms[r->vm].id, "from", in->hosts[r->from].name, "to",
                                        in->hosts[r->to].name, "to_id", in->hosts[r->to].id,
                                        "why", r->why == DV_DRS_WHY_RULE ? "rule" : "balance",
                                        "rule", r->rule, "imbalance_before",
                                        round3(r->imbalance_before), "imbalance_after",
                                        round3(r->imbalance_after), "gain", round3(r->gain),
                                        "cost_mib", (json_int_t)r->cost_mib, "reason", r->reason,
                                        "state", "pending", "task"));
        }
        o = json_pack("{s:s?,s:s,s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:i,s:i,s:s,s:s,s:i,s:o,s:o}",
                      "cluster", dv_doc_str(s->cluster, "name"), "mode",
                      dv_drs_mode_to_string(in->settings.mode), "threshold",
                      in->settings.threshold, "passed_at", now, "imbalance",
                      round3(res->imbalance), "target", round3(res->target), "imbalance_after",
                      round3(res->imbalance_after), "cpu_load_sd", round3(res->cpu_load_sd),
                      "memory_load_sd", round3(res->mem_load_sd), "imbalanced", res->imbalanced,
                      "persisted", res->persisted, "persist_passes", in->settings.persist_passes,
                      "note", res->note, "violations", res->violations, "migrations_in_flight",
                      s->inflight, "hosts", hosts, "recommendations", recs);
        return o;
}

/* Submit the recommendation (a vm.migrate task); records the outcome in it
 * (rt->lock not held). */
static int apply_rec(struct dv_drs_rt *rt, const char *rec_id, const char *user, json_t **ret_task,
                     struct dv_error *err)
{
        json_t *rec = NULL, *r, *task = NULL;
        char vm_id[64] = "", to_id[64] = "";
        size_t i;
        int ret;

        pthread_mutex_lock(&rt->lock);
        json_array_foreach(json_object_get(rt->report, "recommendations"), i, r)
                if (dv_streq(dv_doc_str(r, "id"), rec_id))
                        rec = r;
        if (rec && dv_streq(dv_doc_str(rec, "state"), "pending")) {
                snprintf(vm_id, sizeof(vm_id), "%s", dv_doc_str(rec, "vm_id"));
                snprintf(to_id, sizeof(to_id), "%s", dv_doc_str(rec, "to_id"));
                json_object_set_new(rec, "state", json_string("submitting"));
        }
        pthread_mutex_unlock(&rt->lock);
        if (!rec)
                return dv_error_set(err, 404, "not-found",
                                    "recommendation '%s' not found (each DRS pass replaces the "
                                    "recommendations: list them again)", rec_id);
        if (!vm_id[0])
                return dv_error_set(err, 409, "invalid-state",
                                    "recommendation '%s' was already applied", rec_id);
        ret = dv_migrate_submit(rt->m, vm_id, to_id, user, &task, err);
        pthread_mutex_lock(&rt->lock);
        json_object_set_new(rec, "state", json_string(ret < 0 ? "failed" : "applied"));
        if (ret < 0)
                json_object_set_new(rec, "error", json_string(err->message));
        else
                json_object_set(rec, "task", json_object_get(task, "id"));
        pthread_mutex_unlock(&rt->lock);
        if (ret >= 0 && ret_task)
                *ret_task = json_incref(task);
        json_decref(task);
        return ret;
}

/* A pass: compute, keep the report, and in automatic mode submit. */
static int run_pass(struct dv_mgr *m, const char *user, json_t **ret_report)
{
        struct dv_drs_rt *rt = m->drs;
        struct dv_drs_input in;
        struct dv_drs_result *res = calloc(1, sizeof(*res));
        struct snap s;
        json_t *report, *ids = json_array(), *rec;
        size_t i;
        int r, inflight;
        struct timespec t0, t1, t2;

        if (!res)
                return -ENOMEM;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        dv_mgr_lock(m);
        r = snap_take(m, &s, &in);
        dv_mgr_unlock(m);
        if (r >= 0) {
                pthread_mutex_lock(&rt->lock);
                in.persisted_before = rt->persisted;
                pthread_mutex_unlock(&rt->lock);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                r = dv_drs_pass(&in, res);
                clock_gettime(CLOCK_MONOTONIC, &t2);
        }
        if (r < 0) {
                snap_done(&s);
                free(res);
                json_decref(ids);
                return r;
        }
        pthread_mutex_lock(&rt->lock);
        rt->persisted = res->persisted;
        report = report_new(rt, &in, res, &s);
        /* How long the pass took (bench/scale): the snapshot (store and
         * metrics, under m->lock) and the decision core. */
        json_object_set_new(report, "snapshot_ms",
                            json_real(((double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                                       (double)(t1.tv_nsec - t0.tv_nsec) / 1e6)));
        json_object_set_new(report, "pass_ms",
                            json_real(((double)(t2.tv_sec - t1.tv_sec) * 1e3 +
                                       (double)(t2.tv_nsec - t1.tv_nsec) / 1e6)));
        json_decref(rt->report);
        rt->report = json_incref(report);
        json_array_foreach(json_object_get(report, "recommendations"), i, rec)
                json_array_append(ids, json_object_get(rec, "id"));
        pthread_mutex_unlock(&rt->lock);
        inflight = s.inflight;
        if (in.settings.mode == DV_DRS_AUTOMATIC)
                json_array_foreach(ids, i, rec) {
                        struct dv_error err = { 0 };

                        if (inflight >= in.settings.max_concurrent)
                                break;
                        if (apply_rec(rt, json_string_value(rec), DRS_USER, NULL, &err) < 0)
                                dv_warn("drs: recommendation %s: %s", json_string_value(rec),
                                        err.message);
                        else
                                inflight++;
                }
        if (res->n_recs > 0 || res->violations[0])
                dv_mgr_event(m, user, "drs.pass", "cluster", s.cluster,
                             "drs (%s, threshold %d): imbalance %.3f (target %.3f), %zu "
                             "recommendation(s)%s%s",
                             dv_drs_mode_to_string(in.settings.mode), in.settings.threshold,
                             res->imbalance, res->target, res->n_recs,
                             res->violations[0] ? "; rules left broken: " : "", res->violations);
        if (ret_report) {
                /* After the automatic submissions: their states. */
                pthread_mutex_lock(&rt->lock);
                *ret_report = json_deep_copy(rt->report);
                pthread_mutex_unlock(&rt->lock);
        }
        json_decref(report);
        json_decref(ids);
        snap_done(&s);
        free(res);
        return 0;
}

void dv_drs_tick(struct dv_mgr *m)
{
        struct dv_drs_rt *rt = m->drs;
        struct dv_drs_settings st;
        json_t *cluster = NULL;
        int64_t now = dv_now_ms();
        bool due;
        int r;

        if (!rt)
                return;
        dv_mgr_lock(m);
        r = dv_mgr_cluster_default(m, &cluster);
        dv_mgr_unlock(m);
        if (r < 0)
                return;
        dv_cluster_drs_settings(cluster, &st);
        json_decref(cluster);
        pthread_mutex_lock(&rt->lock);
        due = st.mode != DV_DRS_OFF && now - rt->last_pass_ms >= st.interval_s * 1000;
        if (due)
                rt->last_pass_ms = now;
        if (st.mode == DV_DRS_OFF)
                rt->persisted = 0;
        pthread_mutex_unlock(&rt->lock);
        if (due) {
                r = run_pass(m, DRS_USER, NULL);
                if (r < 0)
                        dv_warn_errno(r, "drs: pass failed: %m");
        }
}

/* ---- rules ----------------------------------------------------------------------- */

static int names_array(json_t *body, const char *key, size_t min, size_t max, json_t *docs,
                       const char *what, json_t **ret, struct dv_error *err)
{
        json_t *a = json_object_get(body, key), *e, *out;
        size_t i;

        if (!a && min == 0) {
                *ret = json_array();
                return 0;
        }
        if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > max)
                return dv_error_set(err, 400, "invalid-field",
                                    "field '%s' must be an array of %zu to %zu %s names", key, min,
                                    max, what);
        out = json_array();
        json_array_foreach(a, i, e) {
                size_t k = index_of(docs, json_string_value(e));

                if (!json_is_string(e) || k == SIZE_MAX) {
                        json_decref(out);
                        return dv_error_set(err, 404, what[0] == 'v' ? "unknown-vm" : "unknown-host",
                                            "%s[%zu]: %s '%.64s' not found", key, i, what,
                                            json_is_string(e) ? json_string_value(e) : "?");
                }
                for (size_t j = 0; j < json_array_size(out); j++)
                        if (dv_streq(json_string_value(json_array_get(out, j)),
                                     dv_doc_str(json_array_get(docs, k), "name"))) {
                                json_decref(out);
                                return dv_error_set(err, 400, "invalid-field",
                                                    "%s[%zu]: '%s' is named twice", key, i,
                                                    json_string_value(e));
                        }
                json_array_append_new(out, json_string(dv_doc_str(json_array_get(docs, k),
                                                                  "name")));
        }
        *ret = out;
        return 0;
}

static void rule_add(struct dv_api *a, json_t *cluster_in)
{
        static const char *const keys[] = { "name", "kind", "vms", "hosts", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        enum dv_drs_rule_kind kind;
        json_t *body = NULL, *cluster = NULL, *vms = NULL, *hosts = NULL, *vlist = NULL,
               *hlist = NULL, *rules, *r;
        const char *name = NULL, *kstr = NULL;
        bool host_rule;
        size_t i;
        int ret;

        if (dv_api_body(a, &body) < 0)
                return;
        dv_mgr_lock(m);
        ret = dv_json_check_keys(body, keys, &err);
        if (ret >= 0)
                ret = dv_json_get_name(body, "name", true, &name, &err);
        if (ret >= 0)
                ret = dv_json_get_string(body, "kind", true, &kstr, &err);
        if (ret >= 0 && dv_drs_rule_kind_from_string(kstr, &kind) < 0)
                ret = dv_error_set(&err, 400, "invalid-field",
                                   "field 'kind' must be affinity, anti-affinity, host-must or "
                                   "host-should");
        if (ret >= 0)
                ret = dv_store_list(m->store, DV_KIND_VM, NULL, &vlist) < 0 ||
                                      dv_store_list(m->store, DV_KIND_HOST, NULL, &hlist) < 0
                              ? dv_error_set(&err, 500, "internal", "reading the store")
                              : 0;
        host_rule = ret >= 0 && (kind == DV_DRS_RULE_HOST_MUST || kind == DV_DRS_RULE_HOST_SHOULD);
        if (ret >= 0)
                ret = names_array(body, "vms", host_rule ? 1 : 2, MAX_RULE_VMS, vlist, "vm", &vms,
                                  &err);
        if (ret >= 0)
                ret = host_rule ? names_array(body, "hosts", 1, MAX_RULE_HOSTS, hlist, "host",
                                              &hosts, &err)
                      : json_object_get(body, "hosts")
                              ? dv_error_set(&err, 400, "invalid-field",
                                             "field 'hosts' goes with host-must and host-should "
                                             "rules only")
                              : 0;
        if (ret >= 0) {
                ret = dv_cluster_get_default(m, &cluster);
                if (ret < 0)
                        dv_error_set(&err, 500, "internal", "reading the cluster");
        }
        if (ret >= 0) {
                rules = json_object_get(cluster, "drs_rules");
                if (!rules) {
                        rules = json_array();
                        json_object_set_new(cluster, "drs_rules", rules);
                }
                json_array_foreach(rules, i, r)
                        if (dv_streq(dv_doc_str(r, "name"), name))
                                ret = dv_error_set(&err, 409, "name-taken",
                                                   "drs rule '%s' already exists", name);
                if (ret >= 0 && json_array_size(rules) >= MAX_RULES)
                        ret = dv_error_set(&err, 409, "too-many", "a cluster holds at most %d "
                                           "drs rules", MAX_RULES);
                if (ret >= 0) {
                        r = json_pack("{s:s,s:s,s:O}", "name", name, "kind", kstr, "vms", vms);
                        if (host_rule)
                                json_object_set(r, "hosts", hosts);
                        json_array_append_new(rules, r);
                        ret = dv_store_update(m->store, DV_KIND_CLUSTER, cluster);
                        if (ret < 0)
                                dv_error_set(&err, 500, "internal", "writing the cluster");
                }
        }
        if (ret < 0) {
                dv_mgr_unlock(m);
                dv_api_dv_error(a, &err);
        } else {
                dv_mgr_event(m, a->user, "drs.rule-added", "cluster", cluster,
                             "drs rule '%s' (%s) on %zu vm(s)", name, kstr, json_array_size(vms));
                dv_mgr_unlock(m);
                dv_api_reply(a, 201, json_incref(json_array_get(json_object_get(cluster,
                                                                                "drs_rules"),
                                                                json_array_size(json_object_get(
                                                                        cluster, "drs_rules")) -
                                                                        1)));
        }
        json_decref(vms);
        json_decref(hosts);
        json_decref(vlist);
        json_decref(hlist);
        json_decref(cluster);
        json_decref(body);
}

static void rule_delete(struct dv_api *a, const char *name)
{
        struct dv_mgr *m = a->m;
        json_t *cluster = NULL, *rules, *r;
        size_t i, found = SIZE_MAX;

        dv_mgr_lock(m);
        if (dv_cluster_get_default(m, &cluster) < 0) {
                dv_mgr_unlock(m);
                dv_api_error(a, 500, "internal", "reading the cluster");
                return;
        }
        rules = json_object_get(cluster, "drs_rules");
        json_array_foreach(rules, i, r)
                if (dv_streq(dv_doc_str(r, "name"), name))
                        found = i;
        if (found == SIZE_MAX) {
                dv_api_not_found(a, "drs rule", name);
        } else {
                json_array_remove(rules, found);
                if (dv_store_update(m->store, DV_KIND_CLUSTER, cluster) < 0) {
                        dv_api_error(a, 500, "internal", "writing the cluster");
                } else {
                        dv_mgr_event(m, a->user, "drs.rule-deleted", "cluster", cluster,
                                     "drs rule '%s' deleted", name);
                        dv_api_reply(a, 200, json_pack("{s:s}", "deleted", name));
                }
        }
        dv_mgr_unlock(m);
        json_decref(cluster);
}

/* ---- the API ------------------------------------------------------------------- */

void dv_api_cluster_drs(struct dv_api *a, json_t *cluster)
{
        struct dv_drs_rt *rt = a->m->drs;
        const char *what = a->nseg >= 4 ? a->segs[3] : NULL;
        json_t *report = NULL;
        int r;

        if (!what) {
                if (!dv_api_is(a, "GET"))
                        dv_api_bad_method(a);
                else
                        dv_api_reply(a, 200, dv_cluster_drs_view(cluster));
                return;
        }
        if (a->nseg == 4 && strcmp(what, "recommendations") == 0) {
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                pthread_mutex_lock(&rt->lock);
                report = rt->report ? json_deep_copy(rt->report) : NULL;
                pthread_mutex_unlock(&rt->lock);
                if (!report) {
                        struct dv_drs_settings s;

                        dv_cluster_drs_settings(cluster, &s);
                        report = json_pack("{s:s?,s:s,s:i,s:n,s:s,s:[]}", "cluster",
                                           dv_doc_str(cluster, "name"), "mode",
                                           dv_drs_mode_to_string(s.mode), "threshold",
                                           s.threshold, "passed_at", "note",
                                           "no DRS pass yet (drover drs run C makes one now)",
                                           "recommendations");
                }
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
                        dv_api_internal(a, r, "the drs pass");
                else
                        dv_api_reply(a, 200, report);
                return;
        }
        if (strcmp(what, "rules") == 0) {
                if (a->nseg == 4 && dv_api_is(a, "GET"))
                        dv_api_reply(a, 200, json_pack("{s:o}", "rules",
                                                       json_object_get(cluster, "drs_rules")
                                                               ? json_deep_copy(json_object_get(
                                                                         cluster, "drs_rules"))
                                                               : json_array()));
                else if (a->nseg == 4 && dv_api_is(a, "POST"))
                        rule_add(a, cluster);
                else if (a->nseg == 5 && dv_api_is(a, "DELETE"))
                        rule_delete(a, a->segs[4]);
                else
                        dv_api_bad_method(a);
                return;
        }
        dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
}

void dv_api_drs(struct dv_api *a)
{
        struct dv_error err = { 0 };
        json_t *task = NULL, *body = NULL;

        if (a->nseg != 4 || strcmp(a->segs[1], "recommendations") != 0 ||
            strcmp(a->segs[3], "apply") != 0) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (dv_api_post_body(a, &body) < 0)
                return;
        if (dv_validate_empty(body, &err) < 0 ||
            apply_rec(a->m->drs, a->segs[2], a->user, &task, &err) < 0)
                dv_api_dv_error(a, &err);
        else
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
        json_decref(task);
        json_decref(body);
}
