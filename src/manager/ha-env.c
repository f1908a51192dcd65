/* HA in droverd: the environment of the decision core over the real manager
 * (see ha-env.h and docs/ha.md). */
#include "ha-env.h"

#include <string.h>

#include "agent.h"
#include "dvs.h"
#include "ha-bmc.h"
#include "log.h"
#include "view.h"
#include "vm-ops.h"

#define DS_HB_DIR ".drover-hb"     /* agents' datastore heartbeats: DS/.drover-hb/HOST */
#define DS_HB_MAX 4096             /* bytes read of one heartbeat or lease file */
#define LEASE_DIR ".drover-lease"  /* VM leases: DS/.drover-lease/VM_ID (src/agent/lease.h) */
#define URGENT_AFTER_MS 1000       /* a host silent this long gets its BMC read every 500 ms */
#define HOUR_MS (3600 * 1000)
#define WARN_EVERY_MS 60000

struct bmc_entry {
        char host_id[37];            /* the host's id */
        char host[DV_NAME_MAX + 1];  /* its name */
        struct dv_bmc *bmc;          /* its worker */
};

struct dv_ha_rt {
        struct dv_mgr *m;              /* the manager */
        struct dv_ha *core;            /* the decision core (cron thread only) */
        struct dv_ha_settings settings;/* what the core runs with (cron thread only) */
        json_t *ds;                    /* "HOSTID/DS" -> {"content","seen_ms"} (cron thread only) */

        pthread_mutex_t lock;          /* guards the members below; after dv_mgr.lock */
        json_t *reported;              /* host id -> array of the VM names its agent runs */
        json_t *tools;                 /* vm id -> {"pid","hb_ms"}: Tools last "running" */
        json_t *alarms;                /* "KIND TARGET" -> alarm object (GET /alarms) */
        json_t *states;                /* host name -> the core's state name */
        bool enabled;                  /* HA on at the last tick */
        struct bmc_entry **bmcs;       /* one per host with BMC settings ever seen */
        size_t n_bmcs;

        /* The facts of the current tick (cron thread only): the arrays the
         * core reads point into hold and allocs until the next tick. */
        json_t *hold;                  /* documents the facts borrow strings from */
        void **allocs;                 /* name lists */
        size_t n_allocs;
        struct dv_ha_host *hosts;      /* host facts */
        size_t n_hosts;
        bool *no_ds;                   /* per host fact: it has no datastore heartbeat */
        struct dv_ha_vm *vms;          /* VM facts */
        size_t n_vms;
        int64_t now;                   /* this tick's time */
        int64_t warned_ms;             /* last tick failure logged */
};

/* ---- small helpers -------------------------------------------------------- */

/* A host's own datastore ("HOST-local"): no lease there (docs/ha.md). */
static bool ds_is_local(const char *ds)
{
        size_t n = strlen(ds);

        return n >= 6 && strcmp(ds + n - 6, "-local") == 0;
}

static void facts_reset(struct dv_ha_rt *rt)
{
        for (size_t i = 0; i < rt->n_allocs; i++)
                free(rt->allocs[i]);
        free(rt->allocs);
        rt->allocs = NULL;
        rt->n_allocs = 0;
        free(rt->hosts);
        free(rt->no_ds);
        free(rt->vms);
        rt->hosts = NULL;
        rt->no_ds = NULL;
        rt->vms = NULL;
        rt->n_hosts = rt->n_vms = 0;
        json_decref(rt->hold);
        rt->hold = json_array();
}

/* A list of n + 1 string pointers that lives until the next tick. */
static const char **names_new(struct dv_ha_rt *rt, size_t n)
{
        const char **p = calloc(n + 1, sizeof(*p));
        void **a = realloc(rt->allocs, (rt->n_allocs + 1) * sizeof(*a));

        if (!p || !a) {
                free(p);
                if (a)
                        rt->allocs = a;
                return NULL;
        }
        rt->allocs = a;
        rt->allocs[rt->n_allocs++] = p;
        return p;
}

/* The strings of a JSON array of strings as a list (the array is held). */
static const char *const *names_of(struct dv_ha_rt *rt, json_t *arr, size_t *ret_n)
{
        const char **p = names_new(rt, json_array_size(arr));
        json_t *v;
        size_t i, n = 0;

        if (!p) {
                *ret_n = 0;
                return NULL;
        }
        json_array_append(rt->hold, arr);
        json_array_foreach(arr, i, v)
                if (json_string_value(v))
                        p[n++] = json_string_value(v);
        *ret_n = n;
        return p;
}

static void add_unique(json_t *arr, const char *s)
{
        json_t *v;
        size_t i;

        if (!s)
                return;
        json_array_foreach(arr, i, v)
                if (dv_streq(json_string_value(v), s))
                        return;
        json_array_append_new(arr, json_string(s));
}

static bool state_in(const char *s, const char *const *set)
{
        for (; *set; set++)
                if (dv_streq(s, *set))
                        return true;
        return false;
}

/* A monotonic time as ISO 8601 wall time. */
static void mono_iso(int64_t mono_ms, char buf[32])
{
        dv_iso_time(dv_wall_ms() - (dv_now_ms() - mono_ms), buf, 32);
}

/* ---- BMC workers ------------------------------------------------------------ */

/* The entry of a host (rt->lock held). */
static struct bmc_entry *bmc_find(struct dv_ha_rt *rt, const char *host_id, const char *host)
{
        for (size_t i = 0; i < rt->n_bmcs; i++)
                if ((host_id && dv_streq(rt->bmcs[i]->host_id, host_id)) ||
                    (!host_id && dv_streq(rt->bmcs[i]->host, host)))
                        return rt->bmcs[i];
        return NULL;
}

/* BMC settings of a host document; false when it has none. */
static bool bmc_config_of(json_t *host, struct dv_bmc_config *c)
{
        json_t *b = json_object_get(host, "bmc");
        const char *addr = dv_doc_str(b, "address"), *user = dv_doc_str(b, "user");
        const char *pw = dv_doc_str(host, "_bmc_password");

        if (!json_is_object(b) || !addr || !user)
                return false;
        memset(c, 0, sizeof(*c));
        snprintf(c->address, sizeof(c->address), "%s", addr);
        snprintf(c->user, sizeof(c->user), "%s", user);
        snprintf(c->password, sizeof(c->password), "%s", pw ? pw : "");
        c->port = (int)dv_doc_int(b, "port", DV_BMC_DEFAULT_PORT);
        return true;
}

/* Keep the host's worker in step with its document; its last reading. */
static void bmc_sync(struct dv_ha_rt *rt, json_t *host, struct dv_bmc_reading *ret)
{
        const char *id = dv_doc_str(host, "id"), *name = dv_doc_str(host, "name");
        struct dv_bmc_config c;
        bool has = bmc_config_of(host, &c);
        struct bmc_entry *e, **grown;

        memset(ret, 0, sizeof(*ret));
        ret->power = DV_HA_POWER_UNKNOWN;
        ret->power_ms = -1;
        pthread_mutex_lock(&rt->lock);
        e = bmc_find(rt, id, NULL);
        if (!e && has) {
                e = calloc(1, sizeof(*e));
                grown = realloc(rt->bmcs, (rt->n_bmcs + 1) * sizeof(*grown));
                if (grown)
                        rt->bmcs = grown;
                if (!e || !grown || dv_bmc_new(name, &e->bmc) < 0) {
                        free(e);
                        e = NULL;
                } else {
                        snprintf(e->host_id, sizeof(e->host_id), "%s", id);
                        rt->bmcs[rt->n_bmcs++] = e;
                }
        }
        if (e) {
                snprintf(e->host, sizeof(e->host), "%s", name);
                dv_bmc_configure(e->bmc, has ? &c : NULL);
                dv_bmc_reading(e->bmc, ret);
        }
        pthread_mutex_unlock(&rt->lock);
        explicit_bzero(&c, sizeof(c));
}

/* ---- facts: hosts --------------------------------------------------------- */

/* Datastore heartbeats of one host: the files its agent writes into each
 * shared datastore, DS/.drover-hb/HOST (docs/agent.md). A datastore
 * without one was never written by the agent: local (or an agent without
 * datastore heartbeats), always reachable. Sets x->ds_hb_ms (the newest
 * change seen on any datastore, on the manager's clock) and the list of
 * datastores the host reaches now.
 *
 * A host with no datastore heartbeat at all (no shared datastore, or an
 * agent without them) gives no evidence on that channel: its ds_hb_ms is
 * "now", so that only a BMC reading "off" proves it down (the core sees
 * it isolated, never failed by silence). *ret_none says so. */
static void ds_facts(struct dv_ha_rt *rt, json_t *host, struct dv_ha_host *x, bool *ret_none)
{
        json_t *dss = json_object_get(host, "datastores"), *d, *reach = json_array();
        const char *id = dv_doc_str(host, "id"), *name = dv_doc_str(host, "name");
        int64_t now = rt->now, newest = -1;
        bool channel = false;
        size_t i;

        json_array_foreach(dss, i, d) {
                const char *ds = dv_doc_str(d, "name"), *path = dv_doc_str(d, "path");
                _cleanup_(freep) char *file = NULL, *key = NULL, *data = NULL;
                json_t *prev, *parsed;
                size_t len = 0;
                int64_t seen;
                int r;

                if (!ds || !path)
                        continue;
                file = dv_asprintf("%s/%s/%s", path, DS_HB_DIR, name);
                key = dv_asprintf("%s/%s", id, ds);
                prev = json_object_get(rt->ds, key);
                r = dv_read_file(file, DS_HB_MAX, &data, &len);
                channel = channel || prev || r >= 0;
                if (r < 0) {
                        /* Never had one: local. Had one and it is gone or
                         * unreadable: that datastore is lost for the host. */
                        if (!prev)
                                add_unique(reach, ds);
                        else
                                newest = DV_MAX(newest, dv_doc_int(prev, "seen_ms", -1));
                        continue;
                }
                if (!prev || !dv_streq(dv_doc_str(prev, "content"), data)) {
                        seen = now;
                        if (!prev) {
                                /* First sight (e.g. after a manager restart): date
                                 * it by the wall time inside (one machine here). */
                                int64_t wall;

                                parsed = json_loads(data, 0, NULL);
                                wall = dv_doc_int(parsed, "wall_ms", -1);
                                json_decref(parsed);
                                if (wall > 0)
                                        seen = now - DV_MIN(DV_MAX(dv_wall_ms() - wall, 0),
                                                            (int64_t)HOUR_MS);
                        }
                        json_object_set_new(rt->ds, key, json_pack("{s:s,s:I}", "content", data,
                                                                   "seen_ms", (json_int_t)seen));
                }
                seen = dv_doc_int(json_object_get(rt->ds, key), "seen_ms", -1);
                newest = DV_MAX(newest, seen);
                if (now - seen <= rt->settings.ds_timeout_ms)
                        add_unique(reach, ds);
        }
        x->ds_hb_ms = channel ? newest : now;
        *ret_none = !channel;
        x->datastores = names_of(rt, reach, &x->n_datastores);
        json_decref(reach);
}

static int env_get_hosts(void *ud, const struct dv_ha_host **ret, size_t *ret_n)
{
        struct dv_ha_rt *rt = ud;
        struct dv_mgr *m = rt->m;
        json_t *hosts = NULL, *h;
        size_t i;
        int r;

        r = dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts);
        if (r < 0)
                return r;
        json_array_append_new(rt->hold, hosts);
        rt->hosts = calloc(json_array_size(hosts) + 1, sizeof(*rt->hosts));
        rt->no_ds = calloc(json_array_size(hosts) + 1, sizeof(*rt->no_ds));
        if (!rt->hosts || !rt->no_ds)
                return -ENOMEM;
        json_array_foreach(hosts, i, h) {
                struct dv_ha_host *x = &rt->hosts[i];
                const char *id = dv_doc_str(h, "id"), *state = dv_doc_str(h, "state");
                struct dv_bmc_reading b;
                json_t *dvs = NULL, *vms;
                int64_t reserved = 0, count = 0;

                x->name = dv_doc_str(h, "name");
                x->admin = dv_streq(state, "maintenance") ? DV_HA_ADMIN_MAINTENANCE
                           : dv_streq(state, "standby")   ? DV_HA_ADMIN_STANDBY
                                                          : DV_HA_ADMIN_ACTIVE;
                dv_mgr_lock(m);
                x->net_hb_ms = dv_doc_int(json_object_get(m->host_rt, id), "seen_ms", -1);
                dv_mgr_unlock(m);
                ds_facts(rt, h, x, &rt->no_ds[i]);

                bmc_sync(rt, h, &b);
                x->has_bmc = b.configured;
                x->power = b.power;
                x->power_ms = b.power_ms;

                if (dv_host_usage(m, id, &reserved, &count) < 0)
                        reserved = 0;
                x->mem_total_mib = dv_doc_int(h, "memory_mib", 0);
                x->mem_free_mib = x->mem_total_mib - reserved;
                /* vCPUs are not reserved (sched-place.h): a VM needs at most
                 * the host's CPUs. */
                x->cpus_total = x->cpus_free = dv_doc_int(h, "cpus", 0);

                if (dv_dvs_of_host(m, id, &dvs) >= 0) {
                        x->dvs = names_of(rt, dvs, &x->n_dvs);
                        json_decref(dvs);
                }
                pthread_mutex_lock(&rt->lock);
                vms = json_deep_copy(json_object_get(rt->reported, id));
                pthread_mutex_unlock(&rt->lock);
                if (vms) {
                        x->vms = names_of(rt, vms, &x->n_vms);
                        json_decref(vms);
                }
        }
        rt->n_hosts = json_array_size(hosts);
        *ret = rt->hosts;
        *ret_n = rt->n_hosts;
        return 0;
}

/* ---- facts: VMs ------------------------------------------------------------- */

static enum dv_ha_vm_state vm_state(const char *s)
{
        if (dv_streq(s, "starting"))
                return DV_HA_VM_STARTING;
        if (dv_streq(s, "running"))
                return DV_HA_VM_RUNNING;
        if (dv_streq(s, "paused"))
                return DV_HA_VM_PAUSED;
        if (dv_streq(s, "migrating"))
                return DV_HA_VM_MIGRATING;
        if (dv_streq(s, "stopping"))
                return DV_HA_VM_STOPPING;
        if (dv_streq(s, "crashed"))
                return DV_HA_VM_CRASHED;
        return DV_HA_VM_STOPPED;
}

/* HA starts of a VM in the last hour (its "_ha_starts": wall ms). */
static int restarts_last_hour(json_t *vm)
{
        int64_t now = dv_wall_ms();
        json_t *t;
        size_t i;
        int n = 0;

        json_array_foreach(json_object_get(vm, "_ha_starts"), i, t)
                if (now - json_integer_value(t) < HOUR_MS)
                        n++;
        return n;
}

/* Every datastore's path as the hosts report it: name -> path (new). */
static json_t *datastore_paths(struct dv_mgr *m)
{
        json_t *hosts = NULL, *out = json_object(), *h, *d;
        size_t i, j;

        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) < 0)
                return out;
        json_array_foreach(hosts, i, h)
                json_array_foreach(json_object_get(h, "datastores"), j, d)
                        if (dv_doc_str(d, "name") && dv_doc_str(d, "path") &&
                            !json_object_get(out, dv_doc_str(d, "name")))
                                json_object_set(out, dv_doc_str(d, "name"),
                                                json_object_get(d, "path"));
        json_decref(hosts);
        return out;
}

/* The VM's lease (docs/ha.md, "Leases"): the file DS/.drover-lease/ID its
 * host writes on the first shared datastore of its disks, read here
 * directly like the datastore heartbeats (lab: one machine, one clock).
 * No file (never started with a lease, or no shared disk): not leased,
 * and it is restarted only once its host is fenced. */
static void lease_facts(struct dv_ha_rt *rt, json_t *vm, json_t *ds_paths, struct dv_ha_vm *x)
{
        const char *path = NULL, *holder;
        _cleanup_(freep) char *file = NULL, *data = NULL;
        json_t *d, *j;
        size_t i, len = 0;
        int64_t expiry;

        x->leased = false;
        x->lease_holder = NULL;
        x->lease_expiry_ms = -1;
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                const char *ds = dv_doc_str(d, "datastore");

                if (ds && !ds_is_local(ds)) {
                        path = json_string_value(json_object_get(ds_paths, ds));
                        break;
                }
        }
        if (!path || !x->ha || !dv_doc_str(vm, "id"))
                return;
        file = dv_asprintf("%s/%s/%s", path, LEASE_DIR, dv_doc_str(vm, "id"));
        if (dv_read_file(file, DS_HB_MAX, &data, &len) < 0)
                return;
        j = json_loads(data, 0, NULL);
        holder = dv_doc_str(j, "holder");
        expiry = dv_doc_int(j, "expiry_wall_ms", -1);
        if (!holder || expiry < 0) {
                json_decref(j);
                return;
        }
        json_array_append_new(rt->hold, j); /* lease_holder borrows from it */
        x->leased = true;
        x->lease_holder = holder[0] ? holder : NULL;
        /* Wall clock to ours; an expired lease stays expired. */
        x->lease_expiry_ms = rt->now + DV_MAX(expiry - dv_wall_ms(), (int64_t)-HOUR_MS);
}

static int env_get_vms(void *ud, const struct dv_ha_vm **ret, size_t *ret_n)
{
        struct dv_ha_rt *rt = ud;
        struct dv_mgr *m = rt->m;
        json_t *vms = NULL, *pgs = NULL, *vm, *pg, *pg_dvs = json_object(), *keep = json_object();
        _cleanup_(json_decrefp) json_t *ds_paths = datastore_paths(m);
        size_t i, j, n = 0;
        int r;

        r = dv_store_list(m->store, DV_KIND_VM, NULL, &vms);
        if (r >= 0)
                r = dv_store_list(m->store, DV_KIND_PORTGROUP, NULL, &pgs);
        if (r < 0) {
                json_decref(vms);
                json_decref(pg_dvs);
                json_decref(keep);
                return r;
        }
        json_array_append_new(rt->hold, vms);
        json_array_foreach(pgs, i, pg)
                if (dv_doc_str(pg, "name") && dv_doc_str(pg, "dvs"))
                        json_object_set(pg_dvs, dv_doc_str(pg, "name"), json_object_get(pg, "dvs"));
        json_decref(pgs);
        rt->vms = calloc(json_array_size(vms) + 1, sizeof(*rt->vms));
        if (!rt->vms) {
                json_decref(pg_dvs);
                json_decref(keep);
                return -ENOMEM;
        }
        json_array_foreach(vms, i, vm) {
                struct dv_ha_vm *x = &rt->vms[n];
                const char *id = dv_doc_str(vm, "id");
                const char *tools = dv_doc_str(json_object_get(vm, "tools"), "state");
                json_t *dss, *dvs, *d, *t;

                /* Being deleted: nothing to restart. */
                if (json_object_get(vm, "_cleanup") || !dv_doc_str(vm, "name"))
                        continue;
                dss = json_array();
                dvs = json_array();
                x->name = dv_doc_str(vm, "name");
                x->host = dv_doc_str(vm, "host_id") ? dv_doc_str(vm, "host") : NULL;
                x->ha = json_is_true(json_object_get(vm, "ha"));
                x->priority = (int)dv_doc_int(vm, "ha_priority", 0);
                x->mem_mib = dv_doc_int(vm, "memory_mib", 0);
                x->cpus = dv_doc_int(vm, "cpus", 1);
                x->state = vm_state(dv_doc_str(vm, "state"));
                /* Its host's report of why it stopped (e.g. killed on lease loss). */
                x->stop_reason = x->state == DV_HA_VM_STOPPED
                                         ? dv_ha_stop_reason_from_string(
                                                   dv_doc_str(vm, "state_reason"))
                                         : DV_HA_STOP_OTHER;
                x->tools = dv_streq(tools, "running")       ? DV_HA_TOOLS_RUNNING
                           : dv_streq(tools, "not-running") ? DV_HA_TOOLS_NOT_RUNNING
                                                            : DV_HA_TOOLS_NONE;
                pthread_mutex_lock(&rt->lock);
                t = json_object_get(rt->tools, id);
                x->tools_hb_ms = dv_doc_int(t, "hb_ms", -1);
                if (t)
                        json_object_set(keep, id, t);
                pthread_mutex_unlock(&rt->lock);
                x->restarts_last_hour = restarts_last_hour(vm);
                json_array_foreach(json_object_get(vm, "disks"), j, d)
                        add_unique(dss, dv_doc_str(d, "datastore"));
                json_array_foreach(json_object_get(vm, "nics"), j, d)
                        add_unique(dvs, json_string_value(json_object_get(
                                                pg_dvs, dv_doc_str(d, "portgroup") ?: "")));
                x->datastores = names_of(rt, dss, &x->n_datastores);
                x->dvs = names_of(rt, dvs, &x->n_dvs);
                json_decref(dss);
                json_decref(dvs);
                lease_facts(rt, vm, ds_paths, x);
                n++;
        }
        /* Forget the Tools heartbeats of VMs that are gone. */
        pthread_mutex_lock(&rt->lock);
        json_decref(rt->tools);
        rt->tools = keep;
        pthread_mutex_unlock(&rt->lock);
        json_decref(pg_dvs);
        rt->n_vms = n;
        *ret = rt->vms;
        *ret_n = n;
        return 0;
}

static int64_t env_now_ms(void *ud)
{
        return ((struct dv_ha_rt *)ud)->now;
}

/* ---- actions ---------------------------------------------------------------- */

static int env_fence_host(void *ud, const char *host)
{
        struct dv_ha_rt *rt = ud;
        struct bmc_entry *e;
        int r;

        pthread_mutex_lock(&rt->lock);
        e = bmc_find(rt, NULL, host);
        r = e ? dv_bmc_request_off(e->bmc) : -ENODEV;
        pthread_mutex_unlock(&rt->lock);
        return r;
}

int dv_ha_rt_bmc_power(struct dv_mgr *m, const char *host_id, bool on)
{
        struct dv_ha_rt *rt = m ? m->ha : NULL;
        struct bmc_entry *e;
        int r;

        if (!rt)
                return -ENODEV;
        pthread_mutex_lock(&rt->lock);
        e = bmc_find(rt, host_id, NULL);
        r = !e ? -ENODEV : on ? dv_bmc_request_on(e->bmc) : dv_bmc_request_off(e->bmc);
        pthread_mutex_unlock(&rt->lock);
        return r;
}

int dv_ha_rt_bmc_reading(struct dv_mgr *m, const char *host_id, bool read_now,
                         struct dv_bmc_reading *ret)
{
        struct dv_ha_rt *rt = m ? m->ha : NULL;
        struct bmc_entry *e;

        if (!rt)
                return -ENODEV;
        pthread_mutex_lock(&rt->lock);
        e = bmc_find(rt, host_id, NULL);
        if (e) {
                if (read_now)
                        dv_bmc_read_now(e->bmc);
                dv_bmc_reading(e->bmc, ret);
        }
        pthread_mutex_unlock(&rt->lock);
        return e && ret->configured ? 0 : -ENODEV;
}

/* Writes the task and the VM in one transaction and submits fn (m->lock
 * held). Consumes op. */
static int submit(struct dv_mgr *m, json_t *vm, json_t *task, dv_task_fn fn, void *op,
                  dv_task_free_fn free_op)
{
        int r;

        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
        if (r < 0) {
                free_op(op);
                return r;
        }
        return dv_tasks_submit(m->tasks, task, fn, op, free_op);
}

/* The VM's old QEMU is gone: so is its Tools. The new host's heartbeats
 * say "running" again once the new guest's drover-tools speaks (the agent
 * leaves "tools" out of a new channel's status until then). */
static void tools_gone(json_t *vm, const char *reason)
{
        json_t *cur = json_object_get(vm, "tools");
        const char *st = dv_doc_str(cur, "state");

        if (!st || dv_streq(st, "not-installed"))
                return;
        json_object_set_new(vm, "tools", json_pack("{s:s,s:s?,s:s}", "state", "not-running",
                                                   "version", dv_doc_str(cur, "version"),
                                                   "reason", reason));
}

/* Is the VM free for HA to act on (m->lock held)? */
static int vm_available(struct dv_mgr *m, json_t *vm)
{
        if (json_object_get(vm, "_creating") || json_object_get(vm, "_cleanup"))
                return -EBUSY;
        if (dv_tasks_active(m->tasks, dv_doc_str(vm, "_task")))
                return -EBUSY;
        if (!dv_tasks_can_accept(m->tasks))
                return -EAGAIN;
        return 0;
}

static int env_start_vm(void *ud, const char *vm_name, const char *host_name)
{
        struct dv_ha_rt *rt = ud;
        struct dv_mgr *m = rt->m;
        json_t *vm, *host, *task = NULL, *starts, *t, *kept;
        int64_t wall = dv_wall_ms();
        size_t i;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_name);
        host = dv_mgr_get(m, DV_KIND_HOST, host_name);
        if (!vm || !host || !dv_streq(dv_doc_str(vm, "name"), vm_name)) {
                r = -ENOENT;
                goto out;
        }
        r = vm_available(m, vm);
        if (r < 0)
                goto out;
        task = dv_task_doc_new("vm.start", "vm", dv_doc_str(vm, "id"), vm_name, DV_USER_SYSTEM);
        json_object_set_new(task, "message",
                            json_sprintf("HA restart of vm '%s' on host '%s' (was on '%s')",
                                         vm_name, host_name, dv_doc_str(vm, "host") ?: "none"));
        /* The record moves first: the reservation goes with it, and the
         * start task starts it where the record says. */
        json_object_set(vm, "host", json_object_get(host, "name"));
        json_object_set(vm, "host_id", json_object_get(host, "id"));
        json_object_set_new(vm, "_prev_state", json_string("stopped"));
        json_object_set_new(vm, "state", json_string("starting"));
        json_object_set_new(vm, "state_reason", json_string("ha-restart"));
        json_object_set_new(vm, "pid", json_null());
        json_object_set_new(vm, "vnc", json_null());
        tools_gone(vm, "restarted by HA");
        json_object_set(vm, "_task", json_object_get(task, "id"));
        kept = json_array();
        json_array_foreach(json_object_get(vm, "_ha_starts"), i, t)
                if (wall - json_integer_value(t) < HOUR_MS)
                        json_array_append(kept, t);
        json_array_append_new(kept, json_integer(wall));
        starts = kept;
        json_object_set_new(vm, "_ha_starts", starts);
        r = submit(m, vm, task, dv_vm_task_start,
                   dv_vm_op_new(m, dv_doc_str(vm, "id"), DV_USER_SYSTEM), free);
        if (r < 0)
                dv_warn_errno(r, "ha: vm %s: cannot queue its start on host %s: %m", vm_name,
                              host_name);
out:
        dv_mgr_unlock(m);
        json_decref(task);
        json_decref(vm);
        json_decref(host);
        return r;
}

/* A copy of a VM on a host that is not the VM's (a stale copy): kill it
 * there, leaving the record alone. */
struct copy_stop {
        struct dv_mgr *m;  /* the manager */
        char vm_id[37];    /* the VM */
        char host_id[37];  /* the host running the copy */
};

static void task_stop_copy(struct dv_task *t, void *data)
{
        struct copy_stop *c = data;
        struct dv_error err = { 0 };
        json_t *host = dv_mgr_get(c->m, DV_KIND_HOST, c->host_id), *body, *reply = NULL;
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/stop", c->vm_id);
        int r;

        if (!host) {
                dv_task_fail(t, "internal", "the host disappeared");
                return;
        }
        dv_task_progress(t, 20, "forcing the stale copy off on host '%s'",
                         dv_doc_str(host, "name"));
        body = json_pack("{s:b,s:i}", "force", 1, "timeout_s", 1);
        r = dv_agent_call(host, "POST", path, body, DV_AGENT_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r < 0)
                dv_task_fail(t, err.code, "%s", err.message);
        else
                dv_task_succeed(t, json_pack("{s:O?}", "path", json_object_get(reply, "path")),
                                "stale copy stopped on host '%s'", dv_doc_str(host, "name"));
        json_decref(reply);
        json_decref(host);
}

static int env_stop_vm(void *ud, const char *vm_name, const char *host_name)
{
        struct dv_ha_rt *rt = ud;
        struct dv_mgr *m = rt->m;
        json_t *vm, *host, *task = NULL;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_name);
        host = dv_mgr_get(m, DV_KIND_HOST, host_name);
        if (!vm || !host || !dv_streq(dv_doc_str(vm, "name"), vm_name)) {
                r = -ENOENT;
                goto out;
        }
        if (!dv_streq(dv_doc_str(vm, "host_id"), dv_doc_str(host, "id"))) {
                struct copy_stop *c;

                if (!dv_tasks_can_accept(m->tasks)) {
                        r = -EAGAIN;
                        goto out;
                }
                c = calloc(1, sizeof(*c));
                if (!c) {
                        r = -ENOMEM;
                        goto out;
                }
                c->m = m;
                snprintf(c->vm_id, sizeof(c->vm_id), "%s", dv_doc_str(vm, "id"));
                snprintf(c->host_id, sizeof(c->host_id), "%s", dv_doc_str(host, "id"));
                task = dv_task_doc_new("vm.stop", "vm", c->vm_id, vm_name, DV_USER_SYSTEM);
                json_object_set_new(task, "message",
                                    json_sprintf("stopping a stale copy of vm '%s' on host '%s'",
                                                 vm_name, host_name));
                r = submit(m, NULL, task, task_stop_copy, c, free);
                goto out;
        }
        if (dv_streq(dv_doc_str(vm, "state"), "stopped")) {
                r = 0; /* idempotent */
                goto out;
        }
        r = vm_available(m, vm);
        if (r < 0)
                goto out;
        task = dv_task_doc_new("vm.stop", "vm", dv_doc_str(vm, "id"), vm_name, DV_USER_SYSTEM);
        json_object_set_new(task, "message", json_sprintf("HA forces vm '%s' off", vm_name));
        json_object_set(vm, "_prev_state", json_object_get(vm, "state"));
        json_object_set_new(vm, "state", json_string("stopping"));
        json_object_set_new(vm, "state_reason", json_string("ha-stop"));
        json_object_set(vm, "_task", json_object_get(task, "id"));
        {
                struct dv_vm_op *op = dv_vm_op_new(m, dv_doc_str(vm, "id"), DV_USER_SYSTEM);

                op->force = true;
                op->timeout_s = 1;
                r = submit(m, vm, task, dv_vm_task_stop, op, free);
        }
out:
        dv_mgr_unlock(m);
        json_decref(task);
        json_decref(vm);
        json_decref(host);
        return r;
}

/* ---- events and alarms -------------------------------------------------------- */

static const char *target_kind_of(const char *kind)
{
        return dv_startswith(kind, "host.") ? "host" : "vm";
}

static bool no_ds_channel(struct dv_ha_rt *rt, const char *host)
{
        for (size_t i = 0; i < rt->n_hosts; i++)
                if (dv_streq(rt->hosts[i].name, host))
                        return rt->no_ds[i];
        return false;
}

/* What an operator reads in the event list: "vm 'a' restarting: from=host2
 * to=host1 reason=host-failed priority=0", plus a plain-words note for the
 * events that end a story. */
static void env_emit_event(void *ud, const char *kind, const char *target, const char *message)
{
        struct dv_ha_rt *rt = ud;
        const char *tk = target_kind_of(kind), *what = strchr(kind, '.');
        json_t *doc = dv_mgr_get(rt->m, dv_streq(tk, "host") ? DV_KIND_HOST : DV_KIND_VM, target);
        const char *note = "";

        if (!doc)
                doc = json_pack("{s:s}", "name", target);
        if (dv_streq(kind, "vm.not-restarted"))
                note = " (HA is off for this vm: it stays stopped)";
        else if (dv_streq(kind, "host.fenced") && strstr(message, "by=bmc"))
                note = " (its BMC reports it powered off)";
        else if (dv_streq(kind, "host.fenced"))
                note = " (its datastore heartbeat stopped long enough for it to be down)";
        else if (dv_streq(kind, "host.isolated") && no_ds_channel(rt, target))
                note = " (it writes no datastore heartbeat: only its BMC reading off proves it down)";
        else if (dv_streq(kind, "vm.killed-by-host"))
                note = " (its host stopped it on its own: HA restarts it once no other copy can run)";
        else if (dv_streq(kind, "vm.not-placed"))
                note = " (no host fits; retried when capacity returns)";
        dv_mgr_event(rt->m, DV_USER_SYSTEM, kind, tk, doc, "HA: %s '%s' %s: %s%s", tk, target,
                     what ? what + 1 : kind, message, note);
        json_decref(doc);
}

static void env_raise_alarm(void *ud, const char *kind, const char *target, const char *message)
{
        struct dv_ha_rt *rt = ud;
        const char *tk = target_kind_of(dv_streq(kind, "ha.fence-failed") ? "host." : "vm.");
        json_t *doc = dv_mgr_get(rt->m, dv_streq(tk, "host") ? DV_KIND_HOST : DV_KIND_VM, target);
        _cleanup_(freep) char *key = dv_asprintf("%s %s", kind, target);
        _cleanup_(freep) char *id = dv_asprintf("ha:%s:%s", kind, target);
        char now[32];

        dv_mgr_now(now);
        pthread_mutex_lock(&rt->lock);
        if (!json_object_get(rt->alarms, key))
                json_object_set_new(rt->alarms, key,
                                    json_pack("{s:s,s:s,s:s,s:{s:s,s:s?,s:s},s:s,s:s}", "id", id,
                                              "severity", dv_streq(tk, "host") ? "critical" : "major",
                                              "kind", kind, "target", "kind", tk, "id",
                                              dv_doc_str(doc, "id"), "name", target, "message",
                                              message, "since", now));
        pthread_mutex_unlock(&rt->lock);
        dv_mgr_event(rt->m, DV_USER_SYSTEM, "alarm.raised", tk, doc ? doc : NULL,
                     "alarm %s on %s '%s': %s", kind, tk, target, message);
        json_decref(doc);
}

static void env_clear_alarm(void *ud, const char *kind, const char *target)
{
        struct dv_ha_rt *rt = ud;
        _cleanup_(freep) char *key = dv_asprintf("%s %s", kind, target);
        bool had;

        pthread_mutex_lock(&rt->lock);
        had = json_object_get(rt->alarms, key) != NULL;
        json_object_del(rt->alarms, key);
        pthread_mutex_unlock(&rt->lock);
        if (had)
                dv_info("ha: alarm %s on %s cleared", kind, target);
}

void dv_ha_rt_alarms(struct dv_mgr *m, json_t *out)
{
        struct dv_ha_rt *rt = m ? m->ha : NULL;
        const char *key;
        json_t *a;

        if (!rt)
                return;
        pthread_mutex_lock(&rt->lock);
        json_object_foreach(rt->alarms, key, a)
                json_array_append_new(out, json_deep_copy(a));
        pthread_mutex_unlock(&rt->lock);
}

/* ---- after the tick ------------------------------------------------------------ */

static const char *doc_state_of(enum dv_ha_host_state s)
{
        switch (s) {
        case DV_HA_HOST_SUSPECT:
                return "unreachable";
        case DV_HA_HOST_ISOLATED:
                return "isolated";
        case DV_HA_HOST_FAILED:
        case DV_HA_HOST_FENCING:
        case DV_HA_HOST_FENCED:
                return "failed";
        default:
                return NULL;
        }
}

/* The VMs left on a fenced host are dead: record them stopped (m->lock held). */
static void vms_down(struct dv_mgr *m, json_t *host)
{
        static const char *const dead[] = { "running", "paused", "starting", "stopping",
                                            "migrating", "crashed", NULL };
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        json_t *vms = NULL, *vm;
        size_t i;

        if (dv_store_list(m->store, DV_KIND_VM, &f, &vms) < 0)
                return;
        json_array_foreach(vms, i, vm) {
                _cleanup_(freep) char *was = NULL;

                if (!state_in(dv_doc_str(vm, "state"), dead) ||
                    dv_tasks_active(m->tasks, dv_doc_str(vm, "_task")))
                        continue;
                was = dv_strdup(dv_doc_str(vm, "state"));
                json_object_set_new(vm, "state", json_string("stopped"));
                json_object_set_new(vm, "state_reason", json_string("host-failed"));
                json_object_set_new(vm, "pid", json_null());
                json_object_set_new(vm, "vnc", json_null());
                tools_gone(vm, "the vm is not running");
                if (dv_store_update(m->store, DV_KIND_VM, vm) < 0)
                        continue;
                dv_mgr_event(m, DV_USER_SYSTEM, "vm.stopped", "vm", vm,
                             "vm '%s' is stopped (was %s): host '%s' failed and was fenced%s",
                             dv_doc_str(vm, "name"), was, dv_doc_str(host, "name"),
                             json_is_true(json_object_get(vm, "ha"))
                                     ? "; HA restarts it"
                                     : "; HA is off for it: it stays stopped");
        }
        json_decref(vms);
}

/* Host documents take the core's states; VMs of fenced hosts are stopped;
 * the BMCs are read as often as the hosts' states need. */
static void after_tick(struct dv_ha_rt *rt)
{
        static const char *const mine[] = { "connected", "unreachable", "failed", "isolated",
                                            NULL };
        struct dv_mgr *m = rt->m;
        json_t *states = json_object();

        for (size_t i = 0; i < rt->n_hosts; i++) {
                const struct dv_ha_host *x = &rt->hosts[i];
                enum dv_ha_host_state hs = rt->settings.enabled
                                                   ? dv_ha_host_state_get(rt->core, x->name)
                                                   : DV_HA_HOST_CONNECTED;
                const char *want = rt->settings.enabled ? doc_state_of(hs) : NULL;
                /* Without a datastore heartbeat "isolated" only means silent. */
                if (hs == DV_HA_HOST_ISOLATED && rt->no_ds[i])
                        want = "unreachable";
                enum dv_bmc_pace pace = DV_BMC_PACE_IDLE;
                struct bmc_entry *e;
                json_t *doc;

                json_object_set_new(states, x->name,
                                    json_string(rt->settings.enabled
                                                        ? dv_ha_host_state_to_string(hs)
                                                        : "disabled"));
                if (rt->settings.enabled) {
                        if (hs == DV_HA_HOST_FENCED && x->power == DV_HA_POWER_OFF)
                                pace = DV_BMC_PACE_SETTLED;
                        else if (hs != DV_HA_HOST_CONNECTED && hs != DV_HA_HOST_STANDBY)
                                pace = DV_BMC_PACE_URGENT;
                        else if (hs == DV_HA_HOST_CONNECTED &&
                                 rt->now - DV_MAX(x->net_hb_ms, 0) > URGENT_AFTER_MS)
                                pace = DV_BMC_PACE_URGENT;
                }
                pthread_mutex_lock(&rt->lock);
                e = bmc_find(rt, NULL, x->name);
                if (e)
                        dv_bmc_set_pace(e->bmc, pace);
                pthread_mutex_unlock(&rt->lock);

                if (!want)
                        continue;
                dv_mgr_lock(m);
                doc = dv_mgr_get(m, DV_KIND_HOST, x->name);
                /* A heartbeat that came in since the facts were read wins. */
                if (doc && state_in(dv_doc_str(doc, "state"), mine) &&
                    !dv_streq(dv_doc_str(doc, "state"), want) &&
                    dv_now_ms() - dv_doc_int(json_object_get(m->host_rt, dv_doc_str(doc, "id")),
                                             "seen_ms", 0) > rt->settings.net_timeout_ms) {
                        json_object_set_new(doc, "state", json_string(want));
                        if (dv_store_update(m->store, DV_KIND_HOST, doc) < 0)
                                dv_warn("ha: host %s: cannot record state %s", x->name, want);
                }
                if (doc && hs == DV_HA_HOST_FENCED)
                        vms_down(m, doc);
                dv_mgr_unlock(m);
                json_decref(doc);
        }
        pthread_mutex_lock(&rt->lock);
        json_decref(rt->states);
        rt->states = states;
        rt->enabled = rt->settings.enabled;
        if (!rt->settings.enabled)
                json_object_clear(rt->alarms); /* the core forgot everything */
        pthread_mutex_unlock(&rt->lock);
}

void dv_ha_rt_tick(struct dv_mgr *m)
{
        struct dv_ha_rt *rt = m->ha;
        struct dv_ha_env env;
        json_t *cluster = NULL;
        int r;

        if (!rt)
                return;
        if (dv_cluster_get_default(m, &cluster) >= 0)
                dv_cluster_ha_settings(cluster, &rt->settings);
        json_decref(cluster);
        dv_ha_set_settings(rt->core, &rt->settings);
        /* HA off, and the last tick already saw it off: nothing to read
         * (every host's and VM's facts are O(hosts + VMs) per tick). */
        if (!rt->settings.enabled && !rt->enabled)
                return;
        facts_reset(rt);
        rt->now = dv_now_ms();
        env = (struct dv_ha_env){
                .userdata = rt,
                .now_ms = env_now_ms,
                .get_hosts = env_get_hosts,
                .get_vms = env_get_vms,
                .fence_host = env_fence_host,
                .start_vm = env_start_vm,
                .stop_vm = env_stop_vm,
                .raise_alarm = env_raise_alarm,
                .clear_alarm = env_clear_alarm,
                .emit_event = env_emit_event,
        };
        r = dv_ha_tick(rt->core, &env);
        if (r < 0 && rt->now - rt->warned_ms >= WARN_EVERY_MS) {
                dv_warn_errno(r, "ha: tick failed: %m");
                rt->warned_ms = rt->now;
        }
        if (r >= 0)
                after_tick(rt);
}

/* ---- heartbeats and views ------------------------------------------------------- */

void dv_ha_rt_heartbeat(struct dv_mgr *m, json_t *host, json_t *vms, json_t *host_vms)
{
        struct dv_ha_rt *rt = m ? m->ha : NULL;
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        json_t *records = json_incref(host_vms), *names = json_array(), *st, *rec;
        int64_t now = dv_now_ms();
        size_t i, j;

        if (!rt || !f.host_id) {
                json_decref(names);
                return;
        }
        if (!records && dv_store_list(m->store, DV_KIND_VM, &f, &records) < 0)
                records = json_array();
        pthread_mutex_lock(&rt->lock);
        json_array_foreach(vms, i, st) {
                const char *id = dv_doc_str(st, "id"), *state = dv_doc_str(st, "state");
                const char *tools = dv_doc_str(json_object_get(st, "tools"), "state");
                bool ours = false;
                json_t *t;

                if (!id)
                        continue;
                if (!dv_streq(state, "stopped") && dv_doc_str(st, "name"))
                        json_array_append(names, json_object_get(st, "name"));
                json_array_foreach(records, j, rec)
                        ours = ours || dv_streq(dv_doc_str(rec, "id"), id);
                /* Tools of a copy that is not the VM's own do not count. */
                if (!ours || !(dv_streq(state, "running") || dv_streq(state, "paused")))
                        continue;
                t = json_object_get(rt->tools, id);
                if (!t || dv_doc_int(t, "pid", -1) != dv_doc_int(st, "pid", -2)) {
                        /* A new QEMU: Tools has not spoken in this run yet. */
                        t = json_pack("{s:I,s:I}", "pid", (json_int_t)dv_doc_int(st, "pid", -1),
                                      "hb_ms", (json_int_t)-1);
                        json_object_set_new(rt->tools, id, t);
                }
                if (dv_streq(tools, "running"))
                        json_object_set_new(t, "hb_ms", json_integer(now));
        }
        json_object_set_new(rt->reported, f.host_id, names);
        pthread_mutex_unlock(&rt->lock);
        json_decref(records);
}

json_t *dv_ha_rt_agent_settings(struct dv_mgr *m, json_t *host, json_t *host_vms)
{
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        json_t *doc = NULL, *records = json_incref(host_vms), *ids = json_array(), *rec;
        struct dv_ha_settings s;
        size_t i;

        if (dv_cluster_get_default(m, &doc) >= 0)
                dv_cluster_ha_settings(doc, &s);
        else
                dv_ha_settings_default(&s);
        json_decref(doc);
        if (f.host_id && (records || dv_store_list(m->store, DV_KIND_VM, &f, &records) >= 0))
                json_array_foreach(records, i, rec) {
                        const char *lease_ds = NULL;
                        json_t *d;
                        size_t j;

                        if (!json_is_true(json_object_get(rec, "ha")) || !dv_doc_str(rec, "id"))
                                continue;
                        json_array_foreach(json_object_get(rec, "disks"), j, d)
                                if (!lease_ds && dv_doc_str(d, "datastore") &&
                                    !ds_is_local(dv_doc_str(d, "datastore")))
                                        lease_ds = dv_doc_str(d, "datastore");
                        json_array_append_new(ids, json_pack("{s:s,s:s?}", "id",
                                                             dv_doc_str(rec, "id"),
                                                             "lease_datastore", lease_ds));
                }
        json_decref(records);
        return json_pack("{s:b,s:s,s:I,s:I,s:o}", "enabled", s.enabled, "isolation",
                         dv_ha_isolation_to_string(s.isolation), "isolation_delay_ms",
                         (json_int_t)s.isolation_delay_ms, "lease_timeout_ms",
                         (json_int_t)s.lease_timeout_ms, "vms", ids);
}

void dv_ha_rt_host_view(struct dv_mgr *m, json_t *view)
{
        struct dv_ha_rt *rt = m ? m->ha : NULL;
        struct dv_bmc_reading b = { 0 };
        struct bmc_entry *e;
        const char *state;
        json_t *bmc;
        char at[32];

        if (!rt)
                return;
        pthread_mutex_lock(&rt->lock);
        state = json_string_value(json_object_get(rt->states, dv_doc_str(view, "name")));
        json_object_set_new(view, "ha_state",
                            json_string(state ? state : rt->enabled ? "connected" : "disabled"));
        e = bmc_find(rt, dv_doc_str(view, "id"), NULL);
        if (e)
                dv_bmc_reading(e->bmc, &b);
        pthread_mutex_unlock(&rt->lock);
        if (!json_is_object(json_object_get(view, "bmc")))
                return;
        bmc = json_deep_copy(json_object_get(view, "bmc"));
        json_object_set_new(bmc, "power",
                            json_string(b.power == DV_HA_POWER_ON    ? "on"
                                        : b.power == DV_HA_POWER_OFF ? "off"
                                                                     : "unknown"));
        if (b.power_ms >= 0) {
                mono_iso(b.power_ms, at);
                json_object_set_new(bmc, "power_read_at", json_string(at));
        } else {
                json_object_set_new(bmc, "power_read_at", json_null());
        }
        json_object_set_new(bmc, "error", b.error[0] ? json_string(b.error) : json_null());
        json_object_set_new(view, "bmc", bmc);
}

/* ---- the default cluster -------------------------------------------------------- */

int dv_cluster_get_default(struct dv_mgr *m, json_t **ret)
{
        struct dv_ha_settings s;
        json_t *doc = NULL;
        char id[37], now[32];
        int r;

        r = dv_store_get(m->store, DV_KIND_CLUSTER, DV_CLUSTER_DEFAULT, &doc);
        if (r != -ENOENT) {
                if (r >= 0)
                        *ret = doc;
                return r;
        }
        dv_ha_settings_default(&s);
        if (dv_uuid_new(id) < 0)
                abort();
        dv_mgr_now(now);
        doc = json_pack("{s:s,s:s,s:o,s:s}", "id", id, "name", DV_CLUSTER_DEFAULT, "ha",
                        dv_ha_settings_to_json(&s), "created_at", now);
        r = dv_store_insert(m->store, DV_KIND_CLUSTER, doc);
        json_decref(doc);
        if (r < 0 && r != -EEXIST)
                return r;
        return dv_store_get(m->store, DV_KIND_CLUSTER, DV_CLUSTER_DEFAULT, ret);
}

/* ---- life cycle ------------------------------------------------------------------ */

int dv_ha_rt_new(struct dv_mgr *m, struct dv_ha_rt **ret)
{
        struct dv_ha_rt *rt = calloc(1, sizeof(*rt));
        int r;

        if (!rt)
                return -ENOMEM;
        rt->m = m;
        dv_ha_settings_default(&rt->settings);
        r = dv_ha_new(&rt->settings, &rt->core);
        if (r < 0) {
                free(rt);
                return r;
        }
        pthread_mutex_init(&rt->lock, NULL);
        rt->ds = json_object();
        rt->reported = json_object();
        rt->tools = json_object();
        rt->alarms = json_object();
        rt->states = json_object();
        rt->hold = json_array();
        rt->enabled = true;
        *ret = rt;
        return 0;
}

void dv_ha_rt_free(struct dv_ha_rt *rt)
{
        if (!rt)
                return;
        for (size_t i = 0; i < rt->n_bmcs; i++)
                dv_bmc_request_stop(rt->bmcs[i]->bmc);
        for (size_t i = 0; i < rt->n_bmcs; i++) {
                dv_bmc_free(rt->bmcs[i]->bmc);
                free(rt->bmcs[i]);
        }
        free(rt->bmcs);
        facts_reset(rt);
        json_decref(rt->hold);
        json_decref(rt->ds);
        json_decref(rt->reported);
        json_decref(rt->tools);
        json_decref(rt->alarms);
        json_decref(rt->states);
        dv_ha_free(rt->core);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
}
