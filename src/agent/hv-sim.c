/* The simulated hypervisor driver (hv.h), like OpenStack's fake driver or
 * govmomi's vcsim: VMs are records in memory, no QEMU. start, stop,
 * reboot and migration succeed after a short simulated delay
 * (dv_hv_config.sim_delay_ms); list() reports every VM with a synthetic
 * CPU and memory demand so that the manager's metrics, DRS and DPM see
 * load:
 *   cpu_pct  a base drawn from the VM's id (2..30 % of one CPU, times its
 *            vCPUs up to 100 % each), varying +-20 % over a few minutes;
 *            "drover.burn=N" in the kernel command line: N x 95 % (at most
 *            its vCPUs), as the real guest's busy loops;
 *   rss_mib  25..60 % of its memory, from the id.
 * Nothing survives the driver (adopt() finds nothing): a restarted
 * simulated agent reports no VMs and the manager reconciles. docs/scale.md says what is real and what
 * is simulated. Tools report "running" (version "sim"), so that DRS and
 * DPM may move the VMs; there is no Tools channel behind it. */
#include "hv.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

struct sim_vm {
        char *id;             /* VM id */
        char *name;           /* VM name */
        char state[16];       /* "running", "paused", "stopped" */
        char reason[32];      /* last state change's reason, "" */
        bool incoming;        /* migration target not finished: hidden from list() */
        bool held;            /* migration source after completion: paused until
                               * migrate_confirm (gone) or migrate_resume (runs) */
        bool exited;          /* stopped: reported once more, then forgotten */
        int64_t started_at;   /* wall ms */
        int64_t cpus;         /* vCPUs */
        int64_t memory_mib;   /* configured memory */
        double base_cpu;      /* % of one CPU */
        double phase;         /* of the slow variation */
        int64_t rss_mib;      /* synthetic resident memory */
        int pid;              /* a fake pid (stable per VM) */
        struct sim_vm *next;  /* list */
};

struct dv_hv {
        pthread_mutex_t lock;    /* guards vms */
        struct sim_vm *vms;      /* every VM known */
        dv_hv_event_cb cb;       /* state changes */
        void *userdata;          /* for cb */
        int delay_ms;            /* simulated duration of an operation */
};

static const char *doc_str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static int64_t doc_int(json_t *o, const char *key, int64_t dflt)
{
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static uint64_t hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */

        for (; s && *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static void sim_sleep(const struct dv_hv *hv)
{
        if (hv->delay_ms > 0)
                usleep((useconds_t)hv->delay_ms * 1000);
}

/* hv->lock held. */
static struct sim_vm *find(struct dv_hv *hv, const char *id)
{
        for (struct sim_vm *v = hv->vms; v; v = v->next)
                if (dv_streq(v->id, id))
                        return v;
        return NULL;
}

static void vm_free(struct sim_vm *v)
{
        if (!v)
                return;
        free(v->id);
        free(v->name);
        free(v);
}

/* hv->lock held. */
static void unlink_vm(struct dv_hv *hv, struct sim_vm *gone)
{
        for (struct sim_vm **p = &hv->vms; *p; p = &(*p)->next)
                if (*p == gone) {
                        *p = gone->next;
                        return;
                }
}

static double cpu_now(const struct sim_vm *v)
{
        double t = (double)dv_wall_ms() / 1000.0;
        double c = v->base_cpu * (1.0 + 0.2 * sin(t / 60.0 + v->phase));

        return floor(DV_MIN(c, 100.0 * (double)v->cpus) * 10) / 10;
}

static json_t *status(const struct sim_vm *v)
{
        char started[32];
        json_t *j;

        dv_iso_time(v->started_at, started, sizeof(started));
        j = json_pack("{s:s,s:s,s:s,s:i,s:s,s:f,s:I,s:n,s:n,s:s?,s:{s:s,s:s}}", "id", v->id, "name",
                      v->name, "state", v->exited ? "stopped" : v->state, "pid", v->pid,
                      "started_at", started, "cpu_pct", v->exited ? 0.0 : cpu_now(v), "rss_mib",
                      (json_int_t)(v->exited ? 0 : v->rss_mib), "console_log", "vnc", "reason",
                      v->reason[0] ? v->reason : NULL, "tools", "state", "running", "version", "sim");
        if (!j)
                abort();
        return j;
}

/* A VM record from a SPEC (not linked). */
static int vm_from_spec(json_t *spec, struct sim_vm **ret, struct dv_error *err)
{
        const char *id = doc_str(spec, "id"), *name = doc_str(spec, "name");
        const char *cmdline = doc_str(json_object_get(spec, "boot"), "cmdline");
        const char *burn = cmdline ? strstr(cmdline, "drover.burn=") : NULL;
        struct sim_vm *v;
        uint64_t h;

        if (!id || !name)
                return dv_error_set(err, 400, "invalid-spec", "the spec needs an id and a name");
        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->id = dv_strdup(id);
        v->name = dv_strdup(name);
        h = hash(id);
        v->cpus = DV_MAX(doc_int(spec, "cpus", 1), 1);
        v->memory_mib = DV_MAX(doc_int(spec, "memory_mib", 128), 1);
        v->base_cpu = (2.0 + (double)(h % 2800) / 100.0) * (double)v->cpus;
        if (burn)
                v->base_cpu = 95.0 * (double)DV_MIN(DV_MAX(atoi(burn + 12), 0), v->cpus);
        v->phase = (double)((h >> 16) % 628) / 100.0;
        v->rss_mib = v->memory_mib * (25 + (int64_t)((h >> 32) % 36)) / 100;
        v->pid = 100000 + (int)(h % 800000);
        v->started_at = dv_wall_ms();
        snprintf(v->state, sizeof(v->state), "running");
        *ret = v;
        return 0;
}

static int sim_init(const struct dv_hv_config *cfg, dv_hv_event_cb cb, void *userdata,
                    struct dv_hv **ret)
{
        struct dv_hv *hv = calloc(1, sizeof(*hv));

        if (!hv)
                return -ENOMEM;
        pthread_mutex_init(&hv->lock, NULL);
        hv->cb = cb;
        hv->userdata = userdata;
        hv->delay_ms = cfg->sim_delay_ms;
        *ret = hv;
        return 0;
}

static int sim_adopt(struct dv_hv *hv)
{
        (void)hv;
        return 0;
}

static int sim_start(struct dv_hv *hv, json_t *spec, json_t **ret_status, struct dv_error *err)
{
        struct sim_vm *v = NULL, *old;
        int r;

        r = vm_from_spec(spec, &v, err);
        if (r < 0)
                return r;
        sim_sleep(hv);
        pthread_mutex_lock(&hv->lock);
        old = find(hv, v->id);
        if (old && !old->exited && !old->incoming) {
                pthread_mutex_unlock(&hv->lock);
                vm_free(v);
                return dv_error_set(err, 409, "already-running", "vm %s is already running",
                                    doc_str(spec, "name"));
        }
        if (old) {
                unlink_vm(hv, old);
                vm_free(old);
        }
        v->next = hv->vms;
        hv->vms = v;
        *ret_status = status(v);
        pthread_mutex_unlock(&hv->lock);
        return 0;
}

/* Mark v stopped with reason and tell the daemon (hv->lock held; the
 * callback is made after it is released by the caller). */
static void mark_exit(struct sim_vm *v, const char *reason)
{
        v->exited = true;
        snprintf(v->state, sizeof(v->state), "stopped");
        snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

static int sim_stop(struct dv_hv *hv, const char *vm_id, bool force, int timeout_s,
                    const char *reason, const char **ret_path, struct dv_error *err)
{
        struct sim_vm *v;

        if (!reason)
                reason = "host-request";
        (void)timeout_s;
        (void)err;
        if (!force)
                sim_sleep(hv);
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (!v || v->exited || v->incoming) {
                pthread_mutex_unlock(&hv->lock);
                *ret_path = "already-stopped";
                return 0;
        }
        mark_exit(v, reason);
        pthread_mutex_unlock(&hv->lock);
        *ret_path = force ? "forced" : "acpi";
        if (hv->cb)
                hv->cb(hv->userdata, vm_id, "stopped", reason);
        return 0;
}

static int sim_reboot(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        struct sim_vm *v;

        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && !v->exited && !v->incoming)
                v->started_at = dv_wall_ms();
        pthread_mutex_unlock(&hv->lock);
        if (!v || v->exited)
                return dv_error_set(err, 404, "not-running", "vm %s is not running here", vm_id);
        return 0;
}

static int sim_console_ticket(struct dv_hv *hv, const char *vm_id, int ttl_s, json_t **ret_info,
                              struct dv_error *err)
{
        (void)hv;
        (void)vm_id;
        (void)ttl_s;
        (void)ret_info;
        return dv_error_set(err, 409, "not-supported", "a simulated VM has no console");
}

static int sim_list(struct dv_hv *hv, json_t **ret_array)
{
        json_t *a = json_array();
        struct sim_vm **p;

        if (!a)
                return -ENOMEM;
        pthread_mutex_lock(&hv->lock);
        for (p = &hv->vms; *p;) {
                struct sim_vm *v = *p;

                if (v->incoming) {
                        p = &v->next;
                        continue;
                }
                json_array_append_new(a, status(v));
                if (v->exited) {
                        *p = v->next; /* reported once */
                        vm_free(v);
                } else {
                        p = &v->next;
                }
        }
        pthread_mutex_unlock(&hv->lock);
        *ret_array = a;
        return 0;
}

static void sim_free(struct dv_hv *hv)
{
        if (!hv)
                return;
        while (hv->vms) {
                struct sim_vm *v = hv->vms;

                hv->vms = v->next;
                vm_free(v);
        }
        pthread_mutex_destroy(&hv->lock);
        free(hv);
}

static int sim_set_cpus(struct dv_hv *hv, const char *vm_id, int count, int *ret_present,
                        struct dv_error *err)
{
        struct sim_vm *v;
        int r = 0;

        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (!v || v->exited)
                r = dv_error_set(err, 404, "not-running", "vm %s is not running here", vm_id);
        else if (count < v->cpus)
                r = dv_error_set(err, 409, "invalid-state", "vCPUs are never unplugged");
        else {
                v->base_cpu = v->base_cpu * (double)count / (double)v->cpus;
                v->cpus = count;
                *ret_present = count;
        }
        pthread_mutex_unlock(&hv->lock);
        return r;
}

/* Migration: the target records the VM hidden; the source "copies" for
 * the delay and stops with reason "migrated"; the target shows it. */
static int sim_migrate_in(struct dv_hv *hv, json_t *spec, const char *addr, int port,
                          int channels, char **ret_uri, struct dv_error *err)
{
        struct sim_vm *v = NULL, *old;
        int r;

        (void)channels;
        r = vm_from_spec(spec, &v, err);
        if (r < 0)
                return r;
        v->incoming = true;
        pthread_mutex_lock(&hv->lock);
        old = find(hv, v->id);
        if (old) {
                unlink_vm(hv, old);
                vm_free(old);
        }
        v->next = hv->vms;
        hv->vms = v;
        pthread_mutex_unlock(&hv->lock);
        *ret_uri = dv_asprintf("tcp:%s:%d", addr, port);
        return 0;
}

static int sim_migrate_out(struct dv_hv *hv, const char *vm_id, const char *uri, int timeout_s,
                           int64_t max_bandwidth, int channels, json_t **ret_stats,
                           struct dv_error *err)
{
        struct sim_vm *v;
        int64_t t0 = dv_now_ms(), rss = 0;

        (void)uri;
        (void)timeout_s;
        (void)max_bandwidth;
        (void)channels;
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && !v->exited && !v->held)
                rss = v->rss_mib;
        pthread_mutex_unlock(&hv->lock);
        if (!v || v->exited || v->held)
                return dv_error_set(err, 404, "not-running", "vm %s is not running here", vm_id);
        sim_sleep(hv);
        /* As QEMU: the source is held paused until the manager confirms
         * (the target runs) or resumes it (the target is gone). */
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && !v->exited) {
                v->held = true;
                snprintf(v->state, sizeof(v->state), "paused");
        }
        pthread_mutex_unlock(&hv->lock);
        if (ret_stats)
                *ret_stats = json_pack("{s:I,s:i,s:i,s:I,s:i,s:b}", "total_ms",
                                       (json_int_t)(dv_now_ms() - t0), "downtime_ms", 1,
                                       "setup_ms", 0, "transferred", (json_int_t)rss << 20,
                                       "passes", 1, "simulated", true);
        return 0;
}

static int sim_migrate_confirm(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        struct sim_vm *v;
        bool gone = false;
        int r = 0;

        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && !v->exited && !v->held)
                r = dv_error_set(err, 409, "busy", "vm %s runs here: no migration to confirm",
                                 vm_id);
        else if (v && v->held) {
                v->held = false;
                mark_exit(v, "migrated");
                gone = true;
        }
        pthread_mutex_unlock(&hv->lock);
        if (gone && hv->cb)
                hv->cb(hv->userdata, vm_id, "stopped", "migrated");
        return r;
}

static int sim_migrate_resume(struct dv_hv *hv, const char *vm_id, bool force,
                              struct dv_error *err)
{
        struct sim_vm *v;
        int r = 0;

        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (!v || v->exited)
                r = dv_error_set(err, 404, "not-running", "vm %s is not here", vm_id);
        else if (v->held && !force)
                r = dv_error_set(err, 409, "busy", "vm %s: its migration completed", vm_id);
        else if (v->held) {
                v->held = false;
                snprintf(v->state, sizeof(v->state), "running");
        }
        pthread_mutex_unlock(&hv->lock);
        return r;
}

static int sim_migrate_query(struct dv_hv *hv, const char *vm_id, json_t **ret,
                             struct dv_error *err)
{
        struct sim_vm *v;

        (void)err;
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (!v || v->exited)
                *ret = json_pack("{s:b,s:b,s:n,s:n,s:b}", "present", 0, "incoming", 0, "runstate",
                                 "migration", "held", 0);
        else
                *ret = json_pack("{s:b,s:b,s:s,s:s?,s:b}", "present", 1, "incoming", v->incoming,
                                 "runstate",
                                 v->incoming ? "inmigrate" : v->held ? "postmigrate" : v->state,
                                 "migration", v->held ? "completed" : NULL, "held", v->held);
        pthread_mutex_unlock(&hv->lock);
        return 0;
}

static int sim_migrate_finish(struct dv_hv *hv, const char *vm_id, int timeout_s,
                              json_t **ret_status, struct dv_error *err)
{
        struct sim_vm *v;

        (void)timeout_s;
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && v->incoming) {
                v->incoming = false;
                v->started_at = dv_wall_ms();
                *ret_status = status(v);
        }
        pthread_mutex_unlock(&hv->lock);
        if (!v)
                return dv_error_set(err, 404, "not-found", "no incoming migration of vm %s",
                                    vm_id);
        return 0;
}

static int sim_migrate_abort(struct dv_hv *hv, const char *vm_id, struct dv_error *err)
{
        struct sim_vm *v;

        (void)err;
        pthread_mutex_lock(&hv->lock);
        v = find(hv, vm_id);
        if (v && v->incoming) {
                unlink_vm(hv, v);
                vm_free(v);
        }
        pthread_mutex_unlock(&hv->lock);
        return 0;
}

const struct dv_hv_ops dv_hv_sim_ops = {
        .name = "sim",
        .init = sim_init,
        .adopt = sim_adopt,
        .start = sim_start,
        .stop = sim_stop,
        .reboot = sim_reboot,
        .console_ticket = sim_console_ticket,
        .list = sim_list,
        .free = sim_free,
        .set_cpus = sim_set_cpus,
        .migrate_in = sim_migrate_in,
        .migrate_out = sim_migrate_out,
        .migrate_finish = sim_migrate_finish,
        .migrate_abort = sim_migrate_abort,
        .migrate_confirm = sim_migrate_confirm,
        .migrate_resume = sim_migrate_resume,
        .migrate_query = sim_migrate_query,
};
