/* Maintenance mode (docs/api.md "Maintenance mode"):
 * POST /api/v1/hosts/{id}/maintenance {"action":"enter"|"exit",
 * "stop_unmovable"?}.
 *
 * enter: the request makes a plan of every VM on the host with the
 * scheduler (sched-place.h: the other connected hosts, each placement
 * reserving the VM's memory): running VMs live-migrate, stopped ones on
 * shared storage are re-placed (a record change), stopped ones on a
 * host-local datastore stay; a running VM on a host-local datastore is
 * stopped when stop_unmovable, else it blocks. Any blocker: 409
 * maintenance-refused with every VM's fate, nothing changed. Otherwise the
 * host becomes "maintenance" at once (no placement, no migration target)
 * and a host.maintenance task carries out the plan one VM at a time,
 * re-planning before each move (the cluster changes meanwhile); its result
 * says what moved where. If a move fails the host returns to "connected"
 * and the task fails with the same result.
 *
 * exit: "maintenance" -> "connected" (refused while the enter task runs). */
#include <string.h>

#include "api.h"
#include "maintenance.h"
#include "json.h"
#include "log.h"
#include "sched-snap.h"
#include "view.h"
#include "vm-ops.h"

#define MIGRATE_WAIT_MS (15 * 60 * 1000)
#define STOP_WAIT_MS (3 * 60 * 1000)
#define STOP_TIMEOUT_S 60

struct maint_op {
        struct dv_mgr *m;          /* the manager */
        char host_id[64];          /* the host entering maintenance */
        char user[80];             /* who asked */
        bool stop_unmovable;       /* stop running VMs that cannot move */
};

/* ---- the plan --------------------------------------------------------------- */

enum fate {
        FATE_MIGRATE, /* running: live-migrate to target */
        FATE_STOP,    /* running, cannot move, stop_unmovable: stop it */
        FATE_PLACE,   /* stopped on shared storage: re-place on target */
        FATE_STAY,    /* stopped, cannot move or no room: stays placed here */
        FATE_BLOCKED, /* blocks entering maintenance */
};

static const char *const fate_names[] = { "migrate", "stop", "place", "stay", "blocked" };

struct plan_vm {
        json_t *vm;        /* borrowed from plan.vms */
        enum fate fate;    /* what happens to it */
        size_t target;     /* host index in snap (FATE_MIGRATE, FATE_PLACE) */
        char reason[512];  /* why (FATE_STOP, FATE_STAY, FATE_BLOCKED) */
};

struct plan {
        struct dv_sched_snapshot snap; /* the hosts */
        json_t *vms;                   /* the host's VM documents */
        struct plan_vm *p;             /* one per VM */
        size_t n;                      /* number of VMs */
        size_t blocked;                /* VMs with FATE_BLOCKED */
};

static void plan_done(struct plan *pl)
{
        dv_sched_snapshot_done(&pl->snap);
        json_decref(pl->vms);
        free(pl->p);
        *pl = (struct plan){ 0 };
}

static bool is_running(json_t *vm)
{
        return dv_streq(dv_doc_str(vm, "state"), "running");
}

static bool is_stopped(json_t *vm)
{
        return dv_streq(dv_doc_str(vm, "state"), "stopped") ||
               dv_streq(dv_doc_str(vm, "state"), "crashed");
}

/* m->lock held. The fate of every VM on host_id; pl->blocked counts the
 * blockers. */
static int plan_make(struct dv_mgr *m, const char *host_id, bool stop_unmovable,
                     struct plan *pl)
{
        struct dv_store_filter f = { .host_id = host_id };
        struct dv_sched_vmreq *q = NULL;
        const struct dv_sched_req **reqs = NULL;
        struct dv_error *errs = NULL;
        size_t *movers = NULL, *targets = NULL, n_movers = 0, source = SIZE_MAX;
        int r;

        *pl = (struct plan){ 0 };
        r = dv_sched_snapshot_take(m, &pl->snap);
        if (r >= 0)
                r = dv_store_list(m->store, DV_KIND_VM, &f, &pl->vms);
        if (r < 0) {
                plan_done(pl);
                return r;
        }
        for (size_t i = 0; i < pl->snap.n; i++)
                if (dv_streq(pl->snap.sh[i].id, host_id))
                        source = i;
        pl->n = json_array_size(pl->vms);
        pl->p = calloc(pl->n + 1, sizeof(*pl->p));
        q = calloc(pl->n + 1, sizeof(*q));
        reqs = calloc(pl->n + 1, sizeof(*reqs));
        errs = calloc(pl->n + 1, sizeof(*errs));
        movers = calloc(pl->n + 1, sizeof(*movers));
        targets = calloc(pl->n + 1, sizeof(*targets));
        if (!pl->p || !q || !reqs || !errs || !movers || !targets)
                abort();
        for (size_t i = 0; i < pl->n; i++) {
                struct plan_vm *v = &pl->p[i];
                json_t *vm = json_array_get(pl->vms, i);
                const char *state = dv_doc_str(vm, "state");

                v->vm = vm;
                dv_sched_vmreq_init(m, vm, &q[i]);
                if (json_object_get(vm, "_creating") || json_object_get(vm, "_cleanup") ||
                    dv_tasks_active(m->tasks, dv_doc_str(vm, "_task"))) {
                        v->fate = FATE_BLOCKED;
                        snprintf(v->reason, sizeof(v->reason),
                                 "vm '%s' is busy with another task (%s); wait for it",
                                 dv_doc_str(vm, "name"), state);
                } else if (is_running(vm) && q[i].local_disk) {
                        v->fate = stop_unmovable ? FATE_STOP : FATE_BLOCKED;
                        snprintf(v->reason, sizeof(v->reason),
                                 "vm '%s' has a disk on host-local datastore '%s' and cannot "
                                 "move%s",
                                 dv_doc_str(vm, "name"), q[i].local_disk,
                                 stop_unmovable ? ": it is stopped"
                                                : " (stop it, or ask for stop_unmovable)");
                } else if (is_stopped(vm) && q[i].local_disk) {
                        v->fate = FATE_STAY;
                        snprintf(v->reason, sizeof(v->reason),
                                 "stopped, with a disk on host-local datastore '%s': stays "
                                 "placed here", q[i].local_disk);
                } else if (is_running(vm) || is_stopped(vm)) {
                        v->fate = is_running(vm) ? FATE_MIGRATE : FATE_PLACE;
                        movers[n_movers] = i;
                        reqs[n_movers++] = &q[i].req;
                } else {
                        v->fate = FATE_BLOCKED;
                        snprintf(v->reason, sizeof(v->reason),
                                 "vm '%s' is %s: it can move only when running (or stopped)",
                                 dv_doc_str(vm, "name"), state);
                }
        }
        dv_sched_evacuate(pl->snap.sh, pl->snap.n, source, reqs, n_movers, targets, errs);
        for (size_t k = 0; k < n_movers; k++) {
                struct plan_vm *v = &pl->p[movers[k]];

                v->target = targets[k];
                if (targets[k] != SIZE_MAX)
                        continue;
                if (v->fate == FATE_MIGRATE) {
                        v->fate = FATE_BLOCKED;
                        snprintf(v->reason, sizeof(v->reason), "vm '%s' (%lld MiB, %lld CPUs) "
                                 "fits on no other host: %s", dv_doc_str(v->vm, "name"),
                                 (long long)reqs[k]->memory_mib, (long long)reqs[k]->cpus,
                                 errs[k].message);
                } else {
                        v->fate = FATE_STAY;
                        snprintf(v->reason, sizeof(v->reason),
                                 "stopped, fits on no other host (%s): stays placed here",
                                 errs[k].message);
                }
        }
        for (size_t i = 0; i < pl->n; i++) {
                if (pl->p[i].fate == FATE_BLOCKED)
                        pl->blocked++;
                dv_sched_vmreq_done(&q[i]);
        }
        free(q);
        free(reqs);
        free(errs);
        free(movers);
        free(targets);
        return 0;
}

static json_t *plan_vm_json(const struct plan *pl, const struct plan_vm *v)
{
        bool has_target = v->fate == FATE_MIGRATE || v->fate == FATE_PLACE;

        return json_pack("{s:s?,s:s?,s:s,s:s?,s:s?}", "vm", dv_doc_str(v->vm, "name"), "state",
                         dv_doc_str(v->vm, "state"), "action", fate_names[v->fate], "target",
                         has_target ? pl->snap.sh[v->target].name : NULL, "reason",
                         has_target ? NULL : v->reason);
}

/* "vm 'a' ...; vm 'b' ..." (the blockers), bounded. */
static void blockers_text(const struct plan *pl, char *buf, size_t len)
{
        size_t used = 0;

        buf[0] = 0;
        for (size_t i = 0; i < pl->n && used + 1 < len; i++) {
                int k;

                if (pl->p[i].fate != FATE_BLOCKED)
                        continue;
                k = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", pl->p[i].reason);
                if (k < 0)
                        break;
                used += (size_t)k;
        }
}

/* ---- host state --------------------------------------------------------------- */

/* m->lock held: back to "connected" (a failed or cancelled enter, or exit). */
static int host_back(struct dv_mgr *m, const char *host_id)
{
        json_t *h = dv_mgr_get(m, DV_KIND_HOST, host_id);
        int r;

        if (!h)
                return -ENOENT;
        if (dv_streq(dv_doc_str(h, "state"), "maintenance"))
                json_object_set_new(h, "state", json_string("connected"));
        json_object_del(h, "maintenance");
        json_object_del(h, "_maint_task");
        r = dv_store_update(m->store, DV_KIND_HOST, h);
        json_decref(h);
        return r;
}

/* ---- the task ----------------------------------------------------------------- */

/* A vm.stop task for a running VM that cannot move (as `vm stop` would). */
static int submit_stop(struct dv_mgr *m, json_t *vm_in, const char *user, json_t **ret_task,
                       struct dv_error *err)
{
        json_t *vm, *task;
        struct dv_vm_op *op;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, dv_doc_str(vm_in, "id"));
        if (!vm || !is_running(vm) || dv_tasks_active(m->tasks, dv_doc_str(vm, "_task"))) {
                dv_mgr_unlock(m);
                json_decref(vm);
                return dv_error_set(err, 409, "invalid-state", "vm '%s' changed meanwhile",
                                    dv_doc_str(vm_in, "name"));
        }
        task = dv_task_doc_new("vm.stop", "vm", dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                               user);
        op = dv_vm_op_new(m, dv_doc_str(vm, "id"), user);
        op->timeout_s = STOP_TIMEOUT_S;
        json_object_set(vm, "_task", json_object_get(task, "id"));
        json_object_set(vm, "_prev_state", json_object_get(vm, "state"));
        json_object_set_new(vm, "state", json_string("stopping"));
        json_object_set_new(vm, "state_reason", json_string("host entering maintenance"));
        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
        if (r < 0) {
                free(op);
                dv_error_set(err, 500, "internal", "writing the task: %s", strerror(-r));
        } else if (dv_tasks_submit(m->tasks, task, dv_vm_task_stop, op, free) < 0) {
                r = dv_error_set(err, 503, "shutting-down", "the manager is shutting down");
        } else {
                dv_mgr_event(m, user, "vm.stop", "vm", vm,
                             "stop vm '%s': it cannot leave host '%s' (maintenance)",
                             dv_doc_str(vm, "name"), dv_doc_str(vm, "host"));
                *ret_task = json_incref(task);
        }
        dv_mgr_unlock(m);
        json_decref(task);
        json_decref(vm);
        return r < 0 ? r : 0;
}

/* m->lock held: a stopped VM's record moves to another host. */
static int place_stopped(struct dv_mgr *m, json_t *vm_in, json_t *target, const char *user)
{
        json_t *vm = dv_mgr_get(m, DV_KIND_VM, dv_doc_str(vm_in, "id"));
        const char *from = dv_doc_str(vm_in, "host");
        int r;

        if (!vm)
                return -ENOENT;
        json_object_set_new(vm, "host", json_string(dv_doc_str(target, "name")));
        json_object_set_new(vm, "host_id", json_string(dv_doc_str(target, "id")));
        r = dv_store_update(m->store, DV_KIND_VM, vm);
        if (r >= 0)
                dv_mgr_event(m, user, "vm.placed", "vm", vm,
                             "stopped vm '%s' placed on host '%s' (host '%s' enters maintenance)",
                             dv_doc_str(vm, "name"), dv_doc_str(target, "name"), from);
        json_decref(vm);
        return r;
}

/* The result: {"host","moved":[...],"stopped":[...],"placed":[...],
 * "stayed":[...],"failed":[...]}. */
static json_t *result_new(const char *host)
{
        return json_pack("{s:s,s:[],s:[],s:[],s:[],s:[]}", "host", host, "moved", "stopped",
                         "placed", "stayed", "failed");
}

static void result_add(json_t *res, const char *list, json_t *entry)
{
        json_array_append_new(json_object_get(res, list), entry);
}

static void task_enter(struct dv_task *t, void *data)
{
        struct maint_op *op = data;
        struct dv_mgr *m = op->m;
        json_t *host = dv_mgr_get(m, DV_KIND_HOST, op->host_id);
        const char *hname = host ? dv_doc_str(host, "name") : op->host_id;
        json_t *res = result_new(hname), *tried = json_object();
        char summary[512] = "";
        size_t done = 0;

        for (;;) {
                struct plan pl;
                struct plan_vm *next = NULL;
                struct dv_error err = { 0 };
                json_t *sub = NULL, *fin = NULL, *vm, *target = NULL;
                size_t total;
                int r;

                if (dv_task_cancel_requested(t)) {
                        dv_mgr_lock(m);
                        host_back(m, op->host_id);
                        dv_mgr_unlock(m);
                        dv_mgr_event(m, op->user, "host.maintenance-cancelled", "host", host,
                                     "host '%s': entering maintenance cancelled", hname);
                        dv_task_cancelled(t, "cancelled; host '%s' is connected again", hname);
                        goto out;
                }
                dv_mgr_lock(m);
                r = plan_make(m, op->host_id, op->stop_unmovable, &pl);
                if (r < 0) {
                        dv_mgr_unlock(m);
                        dv_task_fail_result(t, json_incref(res), "internal", "planning: %s",
                                            strerror(-r));
                        goto out;
                }
                /* Stopped VMs: moved now (a record change); stays: noted. */
                for (size_t i = 0; i < pl.n; i++) {
                        struct plan_vm *v = &pl.p[i];
                        const char *id = dv_doc_str(v->vm, "id");

                        if (json_object_get(tried, id))
                                continue;
                        if (v->fate == FATE_PLACE) {
                                json_t *tg = json_array_get(pl.snap.hosts, v->target);

                                json_object_set_new(tried, id, json_true());
                                if (place_stopped(m, v->vm, tg, op->user) >= 0)
                                        result_add(res, "placed",
                                                   json_pack("{s:s?,s:s?}", "vm",
                                                             dv_doc_str(v->vm, "name"), "to",
                                                             dv_doc_str(tg, "name")));
                        } else if (v->fate == FATE_STAY) {
                                json_object_set_new(tried, id, json_true());
                                result_add(res, "stayed",
                                           json_pack("{s:s?,s:s}", "vm",
                                                     dv_doc_str(v->vm, "name"), "reason",
                                                     v->reason));
                        } else if (!next && (v->fate == FATE_MIGRATE || v->fate == FATE_STOP)) {
                                next = v;
                        } else if (!next && v->fate == FATE_BLOCKED) {
                                next = v;
                        }
                }
                total = done + (next ? 1 : 0);
                if (!next) {
                        dv_mgr_unlock(m);
                        plan_done(&pl);
                        break;
                }
                vm = json_incref(next->vm);
                json_object_set_new(tried, dv_doc_str(vm, "id"), json_true());
                if (next->fate == FATE_MIGRATE)
                        target = json_incref(json_array_get(pl.snap.hosts, next->target));
                {
                        enum fate fate = next->fate;
                        char reason[512];

                        snprintf(reason, sizeof(reason), "%s", next->reason);
                        dv_mgr_unlock(m);
                        plan_done(&pl);
                        dv_task_progress(t, (int)(10 + 80 * done / (total + 1)), "%s vm '%s'%s%s",
                                         fate_names[fate], dv_doc_str(vm, "name"),
                                         target ? " to host " : "",
                                         target ? dv_doc_str(target, "name") : "");
                        if (fate == FATE_BLOCKED) {
                                result_add(res, "failed", json_pack("{s:s?,s:s}", "vm",
                                                                    dv_doc_str(vm, "name"),
                                                                    "reason", reason));
                        } else {
                                r = fate == FATE_MIGRATE
                                            ? dv_migrate_submit(m, dv_doc_str(vm, "id"),
                                                                dv_doc_str(target, "id"),
                                                                op->user, &sub, &err)
                                            : submit_stop(m, vm, op->user, &sub, &err);
                                if (r >= 0)
                                        r = dv_task_wait_doc(m, dv_doc_str(sub, "id"),
                                                             fate == FATE_MIGRATE ? MIGRATE_WAIT_MS
                                                                                  : STOP_WAIT_MS,
                                                             &fin);
                                if (r >= 0 && !dv_streq(dv_doc_str(fin, "state"), "succeeded"))
                                        r = dv_error_set(
                                                &err, 409, "task-failed", "task %s %s: %s",
                                                dv_doc_str(sub, "id"), dv_doc_str(fin, "state"),
                                                dv_doc_str(json_object_get(fin, "error"),
                                                           "message")
                                                        ?: dv_doc_str(fin, "message") ?: "?");
                                else if (r == -ETIMEDOUT)
                                        dv_error_set(&err, 504, "timeout", "task %s did not end",
                                                     dv_doc_str(sub, "id"));
                                if (r < 0)
                                        result_add(res, "failed",
                                                   json_pack("{s:s?,s:s,s:s?}", "vm",
                                                             dv_doc_str(vm, "name"), "reason",
                                                             err.message, "task",
                                                             dv_doc_str(sub, "id")));
                                else if (fate == FATE_MIGRATE)
                                        result_add(res, "moved",
                                                   json_pack("{s:s?,s:s,s:s?,s:s?}", "vm",
                                                             dv_doc_str(vm, "name"), "from", hname,
                                                             "to", dv_doc_str(target, "name"),
                                                             "task", dv_doc_str(sub, "id")));
                                else
                                        result_add(res, "stopped",
                                                   json_pack("{s:s?,s:s,s:s?}", "vm",
                                                             dv_doc_str(vm, "name"), "reason",
                                                             reason, "task",
                                                             dv_doc_str(sub, "id")));
                        }
                }
                done++;
                json_decref(sub);
                if (json_array_size(json_object_get(res, "failed")) > 0) {
                        /* Stop at the first failure: the host goes back. */
                        json_decref(fin);
                        json_decref(target);
                        json_decref(vm);
                        break;
                }
                json_decref(fin);
                json_decref(target);
                json_decref(vm);
        }

        {
                json_t *e;
                size_t i, used = 0;

                json_array_foreach(json_object_get(res, "moved"), i, e) {
                        int k = snprintf(summary + used, sizeof(summary) - used, "%s%s -> %s",
                                         used ? ", " : "", dv_doc_str(e, "vm"),
                                         dv_doc_str(e, "to"));
                        if (k < 0 || (size_t)k >= sizeof(summary) - used)
                                break;
                        used += (size_t)k;
                }
        }
        if (json_array_size(json_object_get(res, "failed")) > 0) {
                char why[400];
                json_t *f = json_array_get(json_object_get(res, "failed"), 0);

                snprintf(why, sizeof(why), "%s", dv_doc_str(f, "reason"));
                dv_mgr_lock(m);
                host_back(m, op->host_id);
                dv_mgr_unlock(m);
                dv_mgr_event(m, op->user, "host.maintenance-failed", "host", host,
                             "host '%s' could not enter maintenance: %s", hname, why);
                dv_task_fail_result(t, json_incref(res), "maintenance-failed",
                                    "host '%s' could not be emptied (it is connected again): %s",
                                    hname, why);
                goto out;
        }
        dv_mgr_lock(m);
        {
                json_t *h = dv_mgr_get(m, DV_KIND_HOST, op->host_id);

                if (h) {
                        json_object_del(h, "_maint_task");
                        json_object_set(json_object_get(h, "maintenance"), "result", res);
                        if (dv_store_update(m->store, DV_KIND_HOST, h) < 0)
                                dv_warn("host %s: cannot record the maintenance result", hname);
                }
                json_decref(h);
        }
        dv_mgr_unlock(m);
        dv_mgr_event(m, op->user, "host.maintenance", "host", host,
                     "host '%s' is in maintenance mode%s%s", hname, summary[0] ? ": moved " : "",
                     summary);
        dv_task_succeed(t, json_incref(res), "host '%s' is in maintenance mode (%zu moved)", hname,
                        json_array_size(json_object_get(res, "moved")));
out:
        json_decref(tried);
        json_decref(res);
        json_decref(host);
}

/* ---- the API ------------------------------------------------------------------ */

int dv_maintenance_enter(struct dv_mgr *m, const char *host_id, const char *user,
                         bool stop_unmovable, json_t **ret_task, json_t **ret_blockers,
                         struct dv_error *err)
{
        struct plan pl = { 0 };
        json_t *host = NULL, *task = NULL, *vms;
        const char *state;
        char now[32];
        int r;

        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, host_id);
        state = dv_doc_str(host, "state");
        if (!host) {
                r = dv_error_set(err, 404, "not-found", "host '%s' not found", host_id);
                goto out;
        }
        if (dv_streq(state, "maintenance")) {
                r = dv_error_set(err, 409, "invalid-state",
                                 "host '%s' is already in maintenance mode%s%s",
                                 dv_doc_str(host, "name"),
                                 dv_doc_str(host, "_maint_task") ? "; entering it: task " : "",
                                 dv_doc_str(host, "_maint_task") ?: "");
                goto out;
        }
        if (!dv_streq(state, "connected")) {
                r = dv_error_set(err, 409, "invalid-state",
                                 "host '%s' is %s: only a connected host can enter maintenance "
                                 "(its VMs move live)", dv_doc_str(host, "name"), state);
                goto out;
        }
        if (!dv_tasks_can_accept(m->tasks)) {
                r = dv_error_set(err, 503, "busy", "too many tasks are pending; try again later");
                goto out;
        }
        r = plan_make(m, dv_doc_str(host, "id"), stop_unmovable, &pl);
        if (r < 0) {
                r = dv_error_set(err, 500, "internal", "planning: %s", strerror(-r));
                goto out;
        }
        if (pl.blocked > 0) {
                char text[512];

                blockers_text(&pl, text, sizeof(text));
                if (ret_blockers) {
                        *ret_blockers = json_array();
                        for (size_t i = 0; i < pl.n; i++)
                                json_array_append_new(*ret_blockers, plan_vm_json(&pl, &pl.p[i]));
                }
                dv_mgr_event(m, user, "host.maintenance-refused", "host", host,
                             "host '%s' cannot enter maintenance: %zu vm(s) cannot move",
                             dv_doc_str(host, "name"), pl.blocked);
                r = dv_error_set(err, 409, "maintenance-refused",
                                 "host '%s' cannot enter maintenance: %s",
                                 dv_doc_str(host, "name"), text);
                goto out;
        }
        vms = json_array();
        for (size_t i = 0; i < pl.n; i++)
                json_array_append_new(vms, plan_vm_json(&pl, &pl.p[i]));
        task = dv_task_doc_new("host.maintenance", "host", dv_doc_str(host, "id"),
                               dv_doc_str(host, "name"), user);
        dv_mgr_now(now);
        json_object_set_new(host, "state", json_string("maintenance"));
        json_object_set(host, "_maint_task", json_object_get(task, "id"));
        json_object_set_new(host, "maintenance",
                            json_pack("{s:s,s:O,s:o}", "since", now, "task",
                                      json_object_get(task, "id"), "plan", vms));
        r = dv_store_write_intent(m->store, task, DV_KIND_HOST, host, false);
        if (r < 0) {
                r = dv_error_set(err, 500, "internal", "writing the task: %s", strerror(-r));
                goto out;
        }
        {
                struct maint_op *op = calloc(1, sizeof(*op));

                if (!op)
                        abort();
                op->m = m;
                op->stop_unmovable = stop_unmovable;
                snprintf(op->host_id, sizeof(op->host_id), "%s", dv_doc_str(host, "id"));
                snprintf(op->user, sizeof(op->user), "%s", user);
                if (dv_tasks_submit(m->tasks, task, task_enter, op, free) < 0) {
                        host_back(m, dv_doc_str(host, "id"));
                        r = dv_error_set(err, 503, "shutting-down", "the manager is shutting down");
                        goto out;
                }
        }
        dv_mgr_event(m, user, "host.maintenance-enter", "host", host,
                     "host '%s' enters maintenance mode: %zu vm(s) to move", dv_doc_str(host, "name"),
                     pl.n);
        *ret_task = TAKE_PTR(task);
        r = 0;
out:
        dv_mgr_unlock(m);
        plan_done(&pl);
        json_decref(task);
        json_decref(host);
        return r;
}

static void enter(struct dv_api *a, json_t *host_in, bool stop_unmovable)
{
        struct dv_error err = { 0 };
        json_t *task = NULL, *blockers = NULL;
        int r;

        r = dv_maintenance_enter(a->m, dv_doc_str(host_in, "id"), a->user, stop_unmovable, &task,
                                 &blockers, &err);
        if (r >= 0) {
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
                json_decref(task);
        } else if (blockers) {
                dv_api_reply(a, 409, json_pack("{s:{s:s,s:s,s:o}}", "error", "code",
                                               "maintenance-refused", "message", err.message,
                                               "vms", blockers));
        } else {
                dv_api_dv_error(a, &err);
        }
}

static void leave(struct dv_api *a, json_t *host_in)
{
        struct dv_mgr *m = a->m;
        json_t *host;
        int r;

        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(host_in, "id"));
        if (!host) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "host", dv_doc_str(host_in, "name"));
                return;
        }
        if (!dv_streq(dv_doc_str(host, "state"), "maintenance")) {
                dv_api_error(a, 409, "invalid-state", "host '%s' is %s, not in maintenance mode",
                             dv_doc_str(host, "name"), dv_doc_str(host, "state"));
        } else if (dv_tasks_active(m->tasks, dv_doc_str(host, "_maint_task"))) {
                dv_api_error(a, 409, "invalid-state",
                             "host '%s' is still entering maintenance (task %s): cancel it with "
                             "`drover task cancel %s`",
                             dv_doc_str(host, "name"), dv_doc_str(host, "_maint_task"),
                             dv_doc_str(host, "_maint_task"));
        } else if ((r = host_back(m, dv_doc_str(host, "id"))) < 0) {
                dv_api_internal(a, r, "writing the host");
        } else {
                json_t *h = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(host, "id"));

                dv_mgr_event(m, a->user, "host.maintenance-exit", "host", host,
                             "host '%s' left maintenance mode: it takes VMs again",
                             dv_doc_str(host, "name"));
                dv_mgr_unlock(m);
                dv_api_reply(a, 200, dv_view_host(m, h));
                json_decref(h);
                json_decref(host);
                return;
        }
        dv_mgr_unlock(m);
        json_decref(host);
}

void dv_api_host_maintenance(struct dv_api *a, json_t *host)
{
        static const char *const keys[] = { "action", "stop_unmovable", NULL };
        struct dv_error err = { 0 };
        json_t *body = NULL;
        const char *action = NULL;
        bool stop_unmovable = false;
        int r;

        if (dv_api_post_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_string(body, "action", true, &action, &err);
        if (r >= 0)
                r = dv_json_get_bool(body, "stop_unmovable", false, &stop_unmovable, &err);
        if (r >= 0 && !dv_streq(action, "enter") && !dv_streq(action, "exit"))
                r = dv_error_set(&err, 400, "invalid-field", "field 'action' must be enter or exit");
        if (r < 0)
                dv_api_dv_error(a, &err);
        else if (dv_streq(action, "enter"))
                enter(a, host, stop_unmovable);
        else
                leave(a, host);
        json_decref(body);
}
