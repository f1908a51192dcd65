/* Live migration, change host on shared storage (docs/migration.md):
 * POST /api/v1/vms/{id}/migrate {"host", "check"?} and the vm.migrate task.
 *
 * The facts for the prechecks (precheck.h) come from the store (VM, hosts,
 * DVS attachments, clusters, datastores) and from a probe the source agent
 * makes to the target's migration address (its agent address on the
 * management network). The task records each phase in the VM document
 * ("migration": {"phase","target","target_id","started_at"}, state
 * "migrating"), prepares the target (QEMU -incoming), has the source
 * migrate, finishes the target (resume, announce, Tools) and then moves the
 * VM to the target in the store. Any failure before the switchover aborts
 * the target and leaves the VM running on the source. */
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "api.h"
#include "dvs.h"
#include "json.h"
#include "log.h"
#include "precheck.h"
#include "view.h"
#include "vm-ops.h"

#define MIGRATE_OUT_TIMEOUT_S 600        /* the memory phase */
#define MIGRATE_FINISH_TIMEOUT_S 60      /* the target resumes the guest */
#define MIGRATE_PROBE_TIMEOUT_MS 10000

struct migrate_op {
        struct dv_mgr *m;
        char vm_id[37];
        char target_id[64];
        char user[80];
};

/* ---- facts ----------------------------------------------------------------- */

static const char *ds_type(const char *name)
{
        size_t n = name ? strlen(name) : 0;

        return n > 6 && strcmp(name + n - 6, "-local") == 0 ? "local" : "shared";
}

/* HOST doc + {"dvs":[NAME...], "memory_reserved_mib", "migrations"}. */
static json_t *host_facts(struct dv_mgr *m, json_t *host, json_t *vms)
{
        json_t *h = dv_doc_public(host), *names = NULL, *vm;
        int64_t reserved = 0, count = 0, migrations = 0;
        const char *id = dv_doc_str(host, "id");
        size_t i;

        if (dv_dvs_of_host(m, id, &names) < 0)
                names = json_array();
        json_object_set_new(h, "dvs", names);
        if (dv_host_usage(m, id, &reserved, &count) >= 0)
                json_object_set_new(h, "memory_reserved_mib", json_integer(reserved));
        json_array_foreach(vms, i, vm)
                if (dv_streq(dv_doc_str(vm, "state"), "migrating") &&
                    (dv_streq(dv_doc_str(vm, "host_id"), id) ||
                     dv_streq(dv_doc_str(json_object_get(vm, "migration"), "target_id"), id)))
                        migrations++;
        json_object_set_new(h, "migrations", json_integer(migrations));
        return h;
}

/* The source agent connects to the target's agent address. */
static json_t *probe_network(json_t *vm, json_t *source, json_t *target)
{
        const char *url = dv_doc_str(target, "url");
        char addr[64] = "";
        long port = 0;
        json_t *body, *reply = NULL, *net;
        struct dv_error err = { 0 };
        _cleanup_(freep) char *path = NULL;
        int r;

        if (!url || sscanf(url, "http://%63[0-9.]:%ld", addr, &port) != 2)
                return json_pack("{s:b,s:b,s:s}", "probed", 0, "reachable", 0, "error",
                                 "the target's address is unknown");
        body = json_pack("{s:s,s:i}", "address", addr, "port", (int)port);
        path = dv_asprintf("/agent/v1/vms/%s/migrate-probe", dv_doc_str(vm, "id"));
        r = dv_agent_call(source, "POST", path, body, MIGRATE_PROBE_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r < 0)
                net = json_pack("{s:b,s:b,s:s,s:s}", "probed", 0, "reachable", 0, "address", addr,
                                "error", err.message);
        else
                net = json_pack("{s:b,s:b,s:s,s:s?}", "probed", 1, "reachable",
                                json_is_true(json_object_get(reply, "reachable")), "address",
                                addr, "error", dv_doc_str(reply, "error"));
        json_decref(reply);
        return net;
}

/* The facts document of docs/migration.md. state: the VM state to check
 * (the one before "migrating" when the task runs). */
static json_t *gather_facts(struct dv_mgr *m, json_t *vm, const char *state, json_t *source,
                            json_t *target)
{
        json_t *doc, *v = dv_doc_public(vm), *nic, *vms = NULL, *clusters = json_array(),
                     *dss = json_array(), *cl = NULL, *ds, *seen = json_object();
        size_t i;

        json_object_set_new(v, "state", json_string(state));
        json_array_foreach(json_object_get(v, "nics"), i, nic) {
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, dv_doc_str(nic, "portgroup"));
                json_t *dvs = pg ? dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(pg, "dvs_id")) : NULL;

                json_object_set_new(nic, "dvs", dvs ? json_string(dv_doc_str(dvs, "name"))
                                                    : json_null());
                json_decref(pg);
                json_decref(dvs);
        }
        if (dv_store_list(m->store, DV_KIND_VM, NULL, &vms) < 0)
                vms = json_array();
        if (dv_store_list(m->store, DV_KIND_CLUSTER, NULL, &cl) >= 0) {
                json_t *c;

                json_array_foreach(cl, i, c)
                        json_array_append_new(
                                clusters,
                                json_pack("{s:s?,s:b,s:s?,s:b}", "name", dv_doc_str(c, "name"),
                                          "compat_mode",
                                          json_is_true(json_object_get(c, "compat_mode")),
                                          "baseline", dv_doc_str(c, "baseline"), "overcommit",
                                          json_is_true(json_object_get(c, "overcommit"))));
                json_decref(cl);
        }
        for (int k = 0; k < 2; k++)
                json_array_foreach(json_object_get(k ? target : source, "datastores"), i, ds) {
                        const char *name = dv_doc_str(ds, "name");

                        if (!name || json_object_get(seen, name))
                                continue;
                        json_object_set_new(seen, name, json_true());
                        json_array_append_new(dss, json_pack("{s:s,s:s}", "name", name, "type",
                                                             ds_type(name)));
                }
        json_decref(seen);
        doc = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "kind", "change-host", "vm", v, "source",
                        host_facts(m, source, vms), "target", host_facts(m, target, vms),
                        "clusters", clusters, "datastores", dss, "network",
                        probe_network(vm, source, target));
        json_decref(vms);
        return doc;
}

/* Run the prechecks: 0 and *ret_res (calloc'd), or a 4xx/5xx in err. */
static int run_prechecks(struct dv_mgr *m, json_t *vm, const char *state, json_t *source,
                         json_t *target, struct dv_precheck_result **ret_res,
                         struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *doc = gather_facts(m, vm, state, source, target);
        struct dv_precheck_facts *facts = NULL;
        struct dv_precheck_result *res;
        int r;

        r = dv_precheck_facts_from_json(doc, &facts, err);
        if (r < 0)
                return r;
        res = calloc(1, sizeof(*res));
        if (!res)
                abort();
        r = dv_precheck_run(facts, res);
        dv_precheck_facts_free(facts);
        if (r < 0) {
                free(res);
                return dv_error_set(err, 500, "internal", "prechecks: %s", strerror(-r));
        }
        *ret_res = res;
        return 0;
}

/* ---- the task ---------------------------------------------------------------- */

struct phase {
        const char *phase;   /* new phase, or NULL: migration over */
        const char *state;   /* new state (with phase NULL) */
        const char *reason;  /* state_reason */
        json_t *target;      /* with phase NULL and success: the new host */
        json_t *status;      /* VMSTATUS from the target */
};

/* Under m->lock: re-read the VM, apply the phase, write it durably. */
static void record_phase(struct dv_mgr *m, const char *vm_id, const struct phase *p)
{
        json_t *vm, *mig;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_id);
        if (vm) {
                mig = json_object_get(vm, "migration");
                if (p->phase) {
                        if (json_is_object(mig))
                                json_object_set_new(mig, "phase", json_string(p->phase));
                } else {
                        json_object_del(vm, "migration");
                        json_object_del(vm, "_prev_state");
                        json_object_del(vm, "_task");
                        json_object_set_new(vm, "state", json_string(p->state));
                        dv_doc_set_str(vm, "state_reason", p->reason);
                        if (p->target) {
                                json_object_set_new(vm, "host",
                                                    json_string(dv_doc_str(p->target, "name")));
                                json_object_set_new(vm, "host_id",
                                                    json_string(dv_doc_str(p->target, "id")));
                        }
                        if (p->status) {
                                static const char *const keys[] = { "pid", "console_log", "vnc" };
                                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                                        json_t *v = json_object_get(p->status, keys[i]);
                                        if (v)
                                                json_object_set(vm, keys[i], v);
                                }
                        }
                }
                r = dv_store_update(m->store, DV_KIND_VM, vm);
                if (r < 0)
                        dv_warn_errno(r, "vm %s: cannot record migration phase: %m", vm_id);
                json_decref(vm);
        }
        dv_mgr_unlock(m);
}

static void abort_target(json_t *target, const char *vm_id)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/migrate-abort", vm_id);
        struct dv_error err = { 0 };

        if (dv_agent_call(target, "POST", path, NULL, DV_AGENT_TIMEOUT_MS, NULL, &err) < 0)
                dv_warn("vm %s: aborting the migration target on host %s: %s", vm_id,
                        dv_doc_str(target, "name"), err.message);
}

static void task_migrate(struct dv_task *t, void *data)
{
        struct migrate_op *op = data;
        struct dv_mgr *m = op->m;
        struct dv_error err = { 0 };
        struct dv_precheck_result *res = NULL;
        struct phase back = { .state = "running" };
        json_t *vm = dv_mgr_get(m, DV_KIND_VM, op->vm_id), *source = NULL, *target = NULL;
        json_t *image = NULL, *nets = NULL, *spec = NULL, *reply = NULL, *body, *stats = NULL;
        _cleanup_(freep) char *path = NULL, *uri = NULL;
        const char *name = vm ? dv_doc_str(vm, "name") : op->vm_id;
        int64_t t0 = dv_now_ms(), t_mem, t_sw;
        int r;

        source = vm ? dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id")) : NULL;
        target = dv_mgr_get(m, DV_KIND_HOST, op->target_id);
        if (!vm || !source || !target) {
                record_phase(m, op->vm_id, &back);
                dv_task_fail(t, "internal", "the vm or a host disappeared");
                goto out;
        }

        /* 1. prechecks, all of them */
        dv_task_progress(t, 5, "precheck: %s -> %s", dv_doc_str(source, "name"),
                         dv_doc_str(target, "name"));
        r = run_prechecks(m, vm, "running", source, target, &res, &err);
        if (r < 0) {
                record_phase(m, op->vm_id, &back);
                dv_task_fail(t, err.code, "precheck: %s", err.message);
                goto out;
        }
        if (!res->ok) {
                json_t *j = dv_precheck_result_to_json(res), *b;
                _cleanup_(freep) char *names = dv_strdup("");
                size_t i;

                json_array_foreach(json_object_get(j, "blockers"), i, b) {
                        char *n = dv_asprintf("%s%s%s", names, i ? ", " : "", json_string_value(b));
                        free(names);
                        names = n;
                }
                json_decref(j);
                record_phase(m, op->vm_id, &back);
                dv_task_fail(t, "precheck-failed", "vm '%s' cannot migrate to host '%s': blocked by %s",
                             name, dv_doc_str(target, "name"), names);
                goto out;
        }

        /* 2. prepare the target: same SPEC, ports on the same port groups */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "prepare" });
        dv_task_progress(t, 15, "prepare: starting the target on host '%s'",
                         dv_doc_str(target, "name"));
        r = dv_vm_nets(m, vm, target, &nets, &err);
        if (r >= 0) {
                image = dv_mgr_get(m, DV_KIND_IMAGE, dv_doc_str(vm, "image_id"));
                spec = dv_vm_spec_new(vm, image, nets);
                body = json_pack("{s:O}", "spec", spec);
                path = dv_asprintf("/agent/v1/vms/%s/migrate-in", op->vm_id);
                r = dv_agent_call(target, "POST", path, body, DV_AGENT_START_TIMEOUT_MS, &reply,
                                  &err);
                json_decref(body);
                uri = dv_strdup(dv_doc_str(reply, "uri"));
                if (r >= 0 && !uri)
                        r = dv_error_set(&err, 502, "agent-error", "host '%s' gave no migration uri",
                                         dv_doc_str(target, "name"));
                json_decref(TAKE_PTR(reply));
        }
        if (r < 0 || dv_task_cancel_requested(t)) {
                abort_target(target, op->vm_id);
                back.reason = r < 0 ? err.message : "migration cancelled";
                record_phase(m, op->vm_id, &back);
                if (r < 0)
                        dv_task_fail(t, err.code, "prepare on host '%s': %s",
                                     dv_doc_str(target, "name"), err.message);
                else
                        dv_task_cancelled(t, "cancelled; vm '%s' stays on host '%s'", name,
                                          dv_doc_str(source, "name"));
                goto out;
        }

        /* 3. memory: pre-copy over multifd until QEMU switches over */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "memory" });
        dv_task_progress(t, 30, "memory: migrating to %s", uri);
        t_mem = dv_now_ms();
        free(path);
        path = dv_asprintf("/agent/v1/vms/%s/migrate-out", op->vm_id);
        body = json_pack("{s:s,s:i}", "uri", uri, "timeout_s", MIGRATE_OUT_TIMEOUT_S);
        r = dv_agent_call(source, "POST", path, body, (MIGRATE_OUT_TIMEOUT_S + 30) * 1000L,
                          &reply, &err);
        json_decref(body);
        if (r >= 0)
                stats = json_incref(json_object_get(reply, "migration"));
        json_decref(TAKE_PTR(reply));
        if (r < 0 && r != -EHOSTUNREACH) {
                /* The source cancelled and keeps running. */
                abort_target(target, op->vm_id);
                back.reason = err.message;
                record_phase(m, op->vm_id, &back);
                dv_task_fail(t, err.code, "migration of vm '%s' failed, it keeps running on "
                             "host '%s': %s", name, dv_doc_str(source, "name"), err.message);
                goto out;
        }

        /* 4. switchover: the target resumes, announces the guest, Tools */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "switchover" });
        dv_task_progress(t, 85, "switchover: resuming on host '%s'", dv_doc_str(target, "name"));
        t_sw = dv_now_ms();
        free(path);
        path = dv_asprintf("/agent/v1/vms/%s/migrate-finish", op->vm_id);
        body = json_pack("{s:O,s:i}", "spec", spec, "timeout_s",
                         r == -EHOSTUNREACH ? 10 : MIGRATE_FINISH_TIMEOUT_S);
        {
                struct dv_error ferr = { 0 };
                int rf = dv_agent_call(target, "POST", path, body,
                                       (MIGRATE_FINISH_TIMEOUT_S + 30) * 1000L, &reply, &ferr);

                json_decref(body);
                if (rf < 0) {
                        abort_target(target, op->vm_id);
                        /* The source answered completed and quit, or did not
                         * answer: the heartbeats tell what runs where. */
                        back.state = r >= 0 ? "stopped" : "running";
                        back.reason = ferr.message;
                        record_phase(m, op->vm_id, &back);
                        dv_task_fail(t, ferr.code, "switchover of vm '%s' on host '%s' failed: %s%s%s",
                                     name, dv_doc_str(target, "name"), ferr.message,
                                     r < 0 ? "; source: " : "", r < 0 ? err.message : "");
                        goto out;
                }
        }
        record_phase(m, op->vm_id,
                     &(struct phase){ .state = "running", .target = target,
                                      .status = json_object_get(reply, "vm") });
        {
                int64_t total = dv_now_ms() - t0;
                json_t *result = json_pack(
                        "{s:s,s:s,s:s,s:I,s:I,s:I,s:O?}", "vm", name, "source",
                        dv_doc_str(source, "name"), "target", dv_doc_str(target, "name"),
                        "total_ms", (json_int_t)total, "memory_ms", (json_int_t)(t_sw - t_mem),
                        "switchover_ms", (json_int_t)(dv_now_ms() - t_sw), "qemu", stats);

                dv_mgr_event(m, op->user, "vm.migrated", "vm", vm,
                             "vm '%s' migrated from host '%s' to host '%s' in %lld ms "
                             "(downtime %lld ms)",
                             name, dv_doc_str(source, "name"), dv_doc_str(target, "name"),
                             (long long)total,
                             (long long)json_integer_value(json_object_get(stats, "downtime_ms")));
                dv_task_succeed(t, result, "vm '%s' migrated to host '%s' in %.2f s", name,
                                dv_doc_str(target, "name"), (double)total / 1000);
        }
out:
        free(res);
        json_decref(stats);
        json_decref(reply);
        json_decref(spec);
        json_decref(nets);
        json_decref(image);
        json_decref(vm);
        json_decref(source);
        json_decref(target);
}

int dv_migrate_submit(struct dv_mgr *m, const char *vm_id, const char *target_id,
                      const char *user, json_t **ret_task, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *vm = NULL, *target = NULL, *source = NULL,
                                      *task = NULL;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_id);
        target = dv_mgr_get(m, DV_KIND_HOST, target_id);
        source = vm ? dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id")) : NULL;
        if (!vm)
                r = dv_error_set(err, 404, "not-found", "vm '%s' not found", vm_id);
        else if (!target)
                r = dv_error_set(err, 404, "unknown-host", "host '%s' not found", target_id);
        else if (!source)
                r = dv_error_set(err, 409, "invalid-state", "vm '%s' has no host",
                                 dv_doc_str(vm, "name"));
        else if (dv_tasks_active(m->tasks, dv_doc_str(vm, "_task")))
                r = dv_error_set(err, 409, "invalid-state", "vm '%s' is busy with task %s",
                                 dv_doc_str(vm, "name"), dv_doc_str(vm, "_task"));
        else if (!dv_streq(dv_doc_str(vm, "state"), "running"))
                /* The task's prechecks name every blocker; a VM that is not
                 * running is refused at once (check=true explains more). */
                r = dv_error_set(err, 409, "invalid-state", "cannot migrate vm '%s': it is %s",
                                 dv_doc_str(vm, "name"), dv_doc_str(vm, "state"));
        else if (!dv_tasks_can_accept(m->tasks))
                r = dv_error_set(err, 503, "busy", "too many tasks are pending; try again later");
        else {
                struct migrate_op *op = calloc(1, sizeof(*op));
                char now[32];

                if (!op)
                        abort();
                op->m = m;
                snprintf(op->vm_id, sizeof(op->vm_id), "%s", dv_doc_str(vm, "id"));
                snprintf(op->target_id, sizeof(op->target_id), "%s", dv_doc_str(target, "id"));
                snprintf(op->user, sizeof(op->user), "%s", user);
                task = dv_task_doc_new("vm.migrate", "vm", dv_doc_str(vm, "id"),
                                       dv_doc_str(vm, "name"), user);
                dv_mgr_now(now);
                json_object_set(vm, "_task", json_object_get(task, "id"));
                json_object_set(vm, "_prev_state", json_object_get(vm, "state"));
                json_object_set_new(vm, "state", json_string("migrating"));
                json_object_set_new(vm, "state_reason", json_null());
                json_object_set_new(vm, "migration",
                                    json_pack("{s:s,s:s?,s:s?,s:s}", "phase", "precheck", "target",
                                              dv_doc_str(target, "name"), "target_id",
                                              dv_doc_str(target, "id"), "started_at", now));
                r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
                if (r < 0) {
                        free(op);
                        dv_error_set(err, 500, "internal", "writing the task: %s", strerror(-r));
                } else if (dv_tasks_submit(m->tasks, task, task_migrate, op, free) < 0) {
                        r = dv_error_set(err, 503, "shutting-down",
                                         "the manager is shutting down");
                } else {
                        dv_mgr_event(m, user, "vm.migrate", "vm", vm,
                                     "migrate vm '%s' from host '%s' to host '%s'",
                                     dv_doc_str(vm, "name"), dv_doc_str(source, "name"),
                                     dv_doc_str(target, "name"));
                        *ret_task = TAKE_PTR(task);
                        r = 0;
                }
        }
        dv_mgr_unlock(m);
        return r;
}

int dv_task_wait_doc(struct dv_mgr *m, const char *task_id, int64_t timeout_ms,
                     json_t **ret_task)
{
        int64_t deadline = dv_now_ms() + timeout_ms;

        for (;;) {
                json_t *t = dv_mgr_get(m, DV_KIND_TASK, task_id);
                const char *st = dv_doc_str(t, "state");

                if (t && !dv_streq(st, "queued") && !dv_streq(st, "running")) {
                        *ret_task = t;
                        return 0;
                }
                json_decref(t);
                if (dv_now_ms() >= deadline)
                        return -ETIMEDOUT;
                usleep(200 * 1000);
        }
}

/* ---- the API ---------------------------------------------------------------- */

void dv_api_vm_migrate(struct dv_api *a, json_t *vm_in)
{
        static const char *const keys[] = { "host", "check", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        _cleanup_(json_decrefp) json_t *body = NULL, *target = NULL, *source = NULL,
                                      *task = NULL;
        const char *host = NULL;
        bool check = false;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_string(body, "host", true, &host, &err);
        if (r >= 0)
                r = dv_json_get_bool(body, "check", false, &check, &err);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        target = dv_mgr_get(m, DV_KIND_HOST, host);
        if (!target) {
                dv_api_error(a, 404, "unknown-host", "host '%s' not found", host);
                return;
        }
        source = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm_in, "host_id"));
        if (!source) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' has no host",
                             dv_doc_str(vm_in, "name"));
                return;
        }
        if (check) {
                struct dv_precheck_result *res = NULL;

                r = run_prechecks(m, vm_in, dv_doc_str(vm_in, "state"), source, target, &res,
                                  &err);
                if (r < 0) {
                        dv_api_dv_error(a, &err);
                        return;
                }
                dv_api_reply(a, 200, dv_precheck_result_to_json(res));
                free(res);
                return;
        }

        r = dv_migrate_submit(m, dv_doc_str(vm_in, "id"), dv_doc_str(target, "id"), a->user,
                              &task, &err);
        if (r < 0)
                dv_api_dv_error(a, &err);
        else
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
}
