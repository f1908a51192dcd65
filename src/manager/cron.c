#include "cron.h"
#include "overcommit.h"

#include <malloc.h>
#include <string.h>

#include "dpm-run.h"
#include "mcache.h"
#include "drs-run.h"
#include "ha-env.h"
#include "log.h"
#include "vm-ops.h"

#define CRON_TICK_MS 200
#define CLEANUP_EVERY_MS 2000
#define CLEANUP_RETRY_MS 30000
#define MIGRATE_RECOVER_RETRY_MS 10000
#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define KEEP_EVENTS 100000
#define KEEP_TASKS 10000
#define TRIM_EVERY_MS 10000 /* hands the heap's free memory back to the system */
#define DRS_EVERY_MS 1000 /* checks whether a DRS pass is due */
#define HA_EVERY_MS 400 /* with CRON_TICK_MS: an HA tick every ~400-600 ms */

struct dv_cron {
        struct dv_mgr *m;      /* the manager */
        pthread_t thread;      /* the cron thread */
        pthread_mutex_t lock;  /* guards stop */
        pthread_cond_t cond;   /* signalled by dv_cron_stop */
        bool stop;             /* time to go */
        json_t *retry_at;      /* vm id -> earliest next cleanup (monotonic ms) */
        int64_t last_cleanup;  /* monotonic ms */
        int64_t last_prune;    /* monotonic ms */
        pthread_t oc_thread;   /* the overcommit controller: its agent and Tools
                                * calls block, so not on the cron thread */
        int64_t last_ha;       /* monotonic ms */
        int64_t last_drs;      /* monotonic ms */
        int64_t last_trim;     /* monotonic ms */
};

/* Hosts silent for longer than the timeout become unreachable. */
static void check_hosts(struct dv_cron *c)
{
        struct dv_mgr *m = c->m;
        json_t *hosts = NULL, *dvs = NULL, *shared;
        int64_t now = dv_now_ms();
        size_t i;

        dv_mgr_lock(m);
        /* The cached host documents are shared and read-only: a host that
         * changes is read afresh. */
        if ((m->cache ? dv_mcache_hosts(m, &hosts, &dvs)
                      : dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts)) < 0) {
                dv_mgr_unlock(m);
                return;
        }
        json_array_foreach(hosts, i, shared) {
                json_t *rt = json_object_get(m->host_rt, dv_doc_str(shared, "id"));
                int64_t seen = dv_doc_int(rt, "seen_ms", 0);
                _cleanup_(json_decrefp) json_t *h = NULL;

                if (!dv_streq(dv_doc_str(shared, "state"), "connected"))
                        continue;
                if (!rt) {
                        /* Never heard of since start: the timeout counts from now. */
                        json_object_set_new(m->host_rt, dv_doc_str(shared, "id"),
                                            json_pack("{s:I}", "seen_ms", (json_int_t)now));
                        continue;
                }
                if (now - seen <= m->cfg.heartbeat_timeout_ms)
                        continue;
                h = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(shared, "id"));
                if (!h || !dv_streq(dv_doc_str(h, "state"), "connected"))
                        continue;
                json_object_set_new(h, "state", json_string("unreachable"));
                if (dv_store_update(m->store, DV_KIND_HOST, h) >= 0)
                        dv_mgr_event(m, DV_USER_SYSTEM, "host.unreachable", "host", h,
                                     "host '%s' sent no heartbeat for %lld ms",
                                     dv_doc_str(h, "name"), (long long)(now - seen));
        }
        dv_mgr_unlock(m);
        json_decref(hosts);
        json_decref(dvs);
}

static bool has_disk_paths(json_t *vm)
{
        json_t *d;
        size_t i;

        json_array_foreach(json_object_get(vm, "disks"), i, d)
                if (dv_doc_str(d, "path"))
                        return true;
        return false;
}

/* VMs marked _cleanup with no task at work: start a system delete. */
static void finish_cleanups(struct dv_cron *c)
{
        struct dv_mgr *m = c->m;
        json_t *vms = NULL, *vm;
        int64_t now = dv_now_ms();
        size_t i;

        dv_mgr_lock(m);
        if (m->cache) {
                /* Only the VMs marked for removal (mcache.h): reading every
                 * VM under the manager lock every 2 s starves the API at
                 * tens of thousands of VMs. */
                json_t *ids = dv_mcache_cleanup_ids(m->cache), *id_j;

                vms = json_array();
                json_array_foreach(ids, i, id_j) {
                        json_t *d = dv_mgr_get(m, DV_KIND_VM, json_string_value(id_j));

                        if (d)
                                json_array_append_new(vms, d);
                }
                json_decref(ids);
        } else if (dv_store_list(m->store, DV_KIND_VM, NULL, &vms) < 0) {
                dv_mgr_unlock(m);
                return;
        }
        json_array_foreach(vms, i, vm) {
                const char *id = dv_doc_str(vm, "id");
                json_t *host;
                bool ready;

                if (!json_object_get(vm, "_cleanup") ||
                    dv_tasks_active(m->tasks, dv_doc_str(vm, "_task")))
                        continue;
                if (now < dv_doc_int(c->retry_at, id, 0))
                        continue;
                host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
                ready = !has_disk_paths(vm) || json_is_true(json_object_get(vm, "_keep_disks")) ||
                        dv_streq(dv_doc_str(host, "state"), "connected");
                json_decref(host);
                if (!ready)
                        continue;
                json_object_set_new(c->retry_at, id, json_integer(now + CLEANUP_RETRY_MS));
                if (dv_vm_submit_cleanup(m, vm) < 0)
                        dv_warn("vm %s: cannot start its removal", dv_doc_str(vm, "name"));
        }
        dv_mgr_unlock(m);
        json_decref(vms);
}

/* VMs left "migrating" with no task at work (the manager restarted, an
 * agent vanished mid-way), or with a migration target to remove: a
 * vm.migrate-recover task resolves each (migrate.c). The task retries by
 * itself; it is started again only if it ended unresolved. */
static bool has_migration(const struct dv_mcache_vm *v)
{
        return v->migration || v->abort_on;
}

static void recover_migrations(struct dv_cron *c)
{
        struct dv_mgr *m = c->m;
        _cleanup_(freep) struct dv_mcache_vm *facts = NULL;
        int64_t now = dv_now_ms();
        size_t n = 0;

        dv_mgr_lock(m);
        /* The VMs' facts (no VM document parsed); only those with a
         * migration record are read. */
        if ((m->cache ? dv_mcache_vms(m->cache, has_migration, &facts, &n)
                      : dv_mgr_vm_facts(m, &facts, &n)) < 0) {
                dv_mgr_unlock(m);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const struct dv_mcache_vm *f = &facts[i];
                json_t *vm;
                char key[64];

                if ((!f->migration && !f->abort_on) ||
                    (f->task[0] && dv_tasks_active(m->tasks, f->task)))
                        continue;
                vm = dv_mgr_get(m, DV_KIND_VM, f->id);
                if (!vm)
                        continue;
                /* A target to remove: once its host answers again. */
                if (!json_object_get(vm, "migration")) {
                        json_t *h = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "_abort_on"));
                        bool up = !h || dv_streq(dv_doc_str(h, "state"), "connected");

                        json_decref(h);
                        if (!up) {
                                json_decref(vm);
                                continue;
                        }
                }
                snprintf(key, sizeof(key), "mig-%s", dv_doc_str(vm, "id"));
                if (now < dv_doc_int(c->retry_at, key, 0)) {
                        json_decref(vm);
                        continue;
                }
                json_object_set_new(c->retry_at, key, json_integer(now + MIGRATE_RECOVER_RETRY_MS));
                if (dv_migrate_submit_recover(m, vm) < 0)
                        dv_warn("vm %s: cannot start the recovery of its migration",
                                dv_doc_str(vm, "name"));
                json_decref(vm);
        }
        dv_mgr_unlock(m);
}

static void tick(struct dv_cron *c)
{
        int64_t now = dv_now_ms();

        check_hosts(c);
        if (now - c->last_ha >= HA_EVERY_MS) {
                c->last_ha = now;
                dv_ha_rt_tick(c->m); /* ha-env.c */
        }
        if (now - c->last_drs >= DRS_EVERY_MS) {
                c->last_drs = now;
                dv_drs_tick(c->m); /* drs-run.c: a pass when its interval is due */
                dv_dpm_tick(c->m); /* dpm-run.c: power actions; a pass on the DRS cadence */
        }
        if (now - c->last_cleanup >= CLEANUP_EVERY_MS) {
                c->last_cleanup = now;
                finish_cleanups(c);
                recover_migrations(c);
        }
        if (now - c->last_trim >= TRIM_EVERY_MS) {
                /* A vm list or DRS snapshot at tens of thousands of VMs
                 * allocates hundreds of MiB in the serving thread's arena;
                 * glibc keeps it per arena after the free (RSS 2 GiB after
                 * a few lists at 50,000 VMs). */
                c->last_trim = now;
                malloc_trim(0);
        }
        if (now - c->last_prune >= PRUNE_EVERY_MS) {
                c->last_prune = now;
                int r = c->m->store->ops->prune(c->m->store, KEEP_EVENTS, KEEP_TASKS);
                if (r < 0)
                        dv_warn_errno(r, "pruning events and tasks: %m");
        }
}

static void *cron_main(void *arg)
{
        struct dv_cron *c = arg;

        pthread_mutex_lock(&c->lock);
        while (!c->stop) {
                struct timespec ts;

                pthread_mutex_unlock(&c->lock);
                tick(c);
                pthread_mutex_lock(&c->lock);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += CRON_TICK_MS * 1000000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                if (!c->stop)
                        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

static void *overcommit_main(void *arg)
{
        struct dv_cron *c = arg;

        pthread_mutex_lock(&c->lock);
        while (!c->stop) {
                /* Configurable for the lab (droverd --balloon-interval-ms). */
                int64_t every = c->m->cfg.balloon_interval_ms > 0 ? c->m->cfg.balloon_interval_ms
                                                                  : DV_OVERCOMMIT_EVERY_MS;
                struct timespec ts;

                pthread_mutex_unlock(&c->lock);
                dv_overcommit_tick(c->m); /* overcommit.c: balloons */
                pthread_mutex_lock(&c->lock);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += (every % 1000) * 1000000L;
                ts.tv_sec += every / 1000 + ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                if (!c->stop)
                        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

int dv_cron_start(struct dv_mgr *m, struct dv_cron **ret)
{
        struct dv_cron *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->m = m;
        c->retry_at = json_object();
        c->last_prune = dv_now_ms();
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        r = pthread_create(&c->thread, NULL, cron_main, c);
        if (r != 0) {
                json_decref(c->retry_at);
                free(c);
                return -r;
        }
        r = pthread_create(&c->oc_thread, NULL, overcommit_main, c);
        if (r != 0)
                abort(); /* as out of memory */
        *ret = c;
        return 0;
}

void dv_cron_stop(struct dv_cron *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        pthread_join(c->oc_thread, NULL);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        json_decref(c->retry_at);
        free(c);
}
