/* The Tools actions on a VM (docs/api.md "VMs"):
 *   GET  /api/v1/vms/{id}/guest          guest info (the Tools "info" op), cached
 *   POST /api/v1/vms/{id}/ping           a ping from inside the guest
 *   POST /api/v1/vms/{id}/freeze|thaw    filesystem freeze (self-thaw after timeout_s) / thaw
 *   POST /api/v1/vms/{id}/timesync       set the guest's clock from its host's
 *   POST /api/v1/vms/{id}/hibernate      suspend to disk, where the guest can
 *   POST /api/v1/vms/{id}/set-cpus       task vm.set-cpus (vCPU hot-add)
 *   POST /api/v1/vms/{id}/tools-upgrade  task vm.tools-upgrade (the image's drover-tools)
 * The quick ones answer 200 with what the guest said; Tools errors keep
 * their codes (409 tools-not-running, 409 not-supported, 504 tools-timeout). */
#include <string.h>

#include "api.h"
#include "json.h"
#include "log.h"
#include "validate.h"
#include "view.h"
#include "vm-tools.h"

#define GUEST_TIMEOUT_MS 15000
#define QUICK_TIMEOUT_MS 20000
#define FREEZE_TIMEOUT_MS 45000

static const char *const subs[] = { "guest",    "ping",          "set-cpus",  "freeze", "thaw",
                                    "timesync", "tools-upgrade", "hibernate", NULL };

bool dv_api_vm_tools_match(const char *sub)
{
        for (size_t i = 0; subs[i]; i++)
                if (dv_streq(sub, subs[i]))
                        return true;
        return false;
}

/* The VM must run on a connected host for a Tools call. *ret_host: a new
 * reference. Replies and returns -1 otherwise. */
static int need_running(struct dv_api *a, json_t *vm, json_t **ret_host)
{
        const char *name = dv_doc_str(vm, "name");
        json_t *host;

        if (json_object_get(vm, "_creating")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is still being created", name);
                return -1;
        }
        if (!dv_streq(dv_doc_str(vm, "state"), "running")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is %s: Tools needs it running", name,
                             dv_doc_str(vm, "state"));
                return -1;
        }
        host = dv_mgr_get(a->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (!host || !dv_streq(dv_doc_str(host, "state"), "connected")) {
                dv_api_error(a, 503, "agent-unreachable", "host '%s' of vm '%s' is not connected",
                             dv_doc_str(vm, "host"), name);
                json_decref(host);
                return -1;
        }
        *ret_host = host;
        return 0;
}

/* The body, checked against keys; replies on error. */
static int body_keys(struct dv_api *a, const char *const *keys, json_t **ret)
{
        struct dv_error err = { 0 };
        json_t *body = NULL;

        if (dv_api_body(a, &body) < 0)
                return -1;
        if (dv_json_check_keys(body, keys, &err) < 0) {
                json_decref(body);
                dv_api_dv_error(a, &err);
                return -1;
        }
        *ret = body;
        return 0;
}

/* A Tools op through the agent; replies on error. */
static int call(struct dv_api *a, json_t *vm, const char *op, json_t *args, long timeout_ms,
                json_t **ret)
{
        _cleanup_(freep) char *suffix = dv_asprintf("tools/%s", op);
        struct dv_error err = { 0 };
        json_t *host = NULL;
        int r;

        if (need_running(a, vm, &host) < 0)
                return -1;
        r = dv_vm_tools_call(host, dv_doc_str(vm, "id"), suffix, args, timeout_ms, ret, &err);
        json_decref(host);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return -1;
        }
        return 0;
}

/* ---- guest info ---------------------------------------------------------- */

static void store_guest(struct dv_mgr *m, const char *vm_id, json_t *cache)
{
        json_t *vm;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_id);
        if (vm) {
                json_object_set(vm, "_guest", cache);
                if (dv_store_update(m->store, DV_KIND_VM, vm) < 0)
                        dv_warn("vm %s: cannot record its guest info", vm_id);
        }
        dv_mgr_unlock(m);
        json_decref(vm);
}

static void vm_guest(struct dv_api *a, json_t *vm)
{
        _cleanup_(freep) char *suffix = NULL;
        struct dv_error err = { 0 };
        json_t *host = NULL, *info = NULL, *cached = json_object_get(vm, "_guest"), *cache;
        char now[32];
        int r = -1;

        if (dv_streq(dv_doc_str(vm, "state"), "running") && !json_object_get(vm, "_creating")) {
                host = dv_mgr_get(a->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
                if (host && dv_streq(dv_doc_str(host, "state"), "connected"))
                        r = dv_vm_tools_call(host, dv_doc_str(vm, "id"), "tools/info", NULL,
                                             GUEST_TIMEOUT_MS, &info, &err);
                else
                        dv_error_set(&err, 503, "agent-unreachable",
                                     "host '%s' of vm '%s' is not connected", dv_doc_str(vm, "host"),
                                     dv_doc_str(vm, "name"));
                json_decref(host);
        } else {
                dv_error_set(&err, 409, "invalid-state", "vm '%s' is %s", dv_doc_str(vm, "name"),
                             dv_doc_str(vm, "state"));
        }
        if (r >= 0) {
                dv_mgr_now(now);
                cache = json_pack("{s:O,s:s}", "info", info, "updated_at", now);
                store_guest(a->m, dv_doc_str(vm, "id"), cache);
                json_decref(cache);
                dv_api_reply(a, 200, json_pack("{s:o,s:s,s:b}", "guest", info, "updated_at", now,
                                               "cached", 0));
                return;
        }
        if (!json_is_object(cached)) {
                dv_api_dv_error(a, &err);
                return;
        }
        /* What the guest said last time, marked as such. */
        dv_api_reply(a, 200, json_pack("{s:O,s:O,s:b,s:{s:s,s:s}}", "guest",
                                       json_object_get(cached, "info"), "updated_at",
                                       json_object_get(cached, "updated_at"), "cached", 1, "error",
                                       "code", err.code, "message", err.message));
}

/* ---- quick actions -------------------------------------------------------- */

static void vm_ping(struct dv_api *a, json_t *vm)
{
        static const char *const keys[] = { "address", "count", "timeout_s", NULL };
        struct dv_error err = { 0 };
        json_t *body = NULL, *args = NULL, *result = NULL;
        const char *address = NULL;
        int64_t count = 3, timeout_s = 5;
        uint32_t ip;
        int r;

        if (body_keys(a, keys, &body) < 0)
                return;
        r = dv_json_get_string(body, "address", true, &address, &err);
        if (r >= 0 && !dv_ipv4_parse(address, &ip))
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'address': '%.64s' is not an IPv4 address", address);
        if (r >= 0)
                r = dv_json_get_int(body, "count", false, 1, 10, &count, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "timeout_s", false, 1, 10, &timeout_s, &err);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        args = json_pack("{s:s,s:I,s:I}", "address", address, "count", (json_int_t)count,
                         "timeout_s", (json_int_t)timeout_s);
        if (call(a, vm, "ping", args, (timeout_s + 15) * 1000, &result) < 0)
                goto out;
        json_object_set_new(result, "answered",
                            json_boolean(dv_doc_int(result, "received", 0) > 0));
        dv_api_reply(a, 200, json_incref(result));
out:
        json_decref(result);
        json_decref(args);
        json_decref(body);
}

static void vm_freeze(struct dv_api *a, json_t *vm)
{
        static const char *const keys[] = { "timeout_s", NULL };
        struct dv_error err = { 0 };
        json_t *body = NULL, *args = NULL, *result = NULL;
        int64_t timeout_s = 60;

        if (body_keys(a, keys, &body) < 0)
                return;
        if (dv_json_get_int(body, "timeout_s", false, 1, 600, &timeout_s, &err) < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        args = json_pack("{s:I}", "timeout_s", (json_int_t)timeout_s);
        if (call(a, vm, "fs-freeze", args, FREEZE_TIMEOUT_MS, &result) < 0)
                goto out;
        dv_mgr_event(a->m, a->user, "vm.frozen", "vm", vm,
                     "filesystems of vm '%s' frozen (%zu; thawing by itself after %lld s)",
                     dv_doc_str(vm, "name"), json_array_size(json_object_get(result, "frozen")),
                     (long long)timeout_s);
        dv_api_reply(a, 200, json_incref(result));
out:
        json_decref(result);
        json_decref(args);
        json_decref(body);
}

/* thaw, timesync, hibernate: no arguments. */
static void vm_simple(struct dv_api *a, json_t *vm, const char *op, const char *event,
                      const char *what)
{
        static const char *const keys[] = { NULL };
        json_t *body = NULL, *result = NULL;

        if (body_keys(a, keys, &body) < 0)
                return;
        json_decref(body);
        if (call(a, vm, op, NULL, QUICK_TIMEOUT_MS, &result) < 0)
                return;
        dv_mgr_event(a->m, a->user, event, "vm", vm, "vm '%s': %s", dv_doc_str(vm, "name"), what);
        dv_api_reply(a, 200, result);
}

/* ---- tasks ------------------------------------------------------------------ */

/* m->lock held, vm re-read under it. Replies and returns -1 when the VM
 * cannot take a task now. */
static int check_task(struct dv_api *a, json_t *vm)
{
        const char *name = dv_doc_str(vm, "name");

        if (json_object_get(vm, "_creating") || json_object_get(vm, "_cleanup")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is being %s", name,
                             json_object_get(vm, "_creating") ? "created" : "deleted");
                return -1;
        }
        if (dv_tasks_active(a->m->tasks, dv_doc_str(vm, "_task"))) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is busy with task %s", name,
                             dv_doc_str(vm, "_task"));
                return -1;
        }
        if (!dv_tasks_can_accept(a->m->tasks)) {
                dv_api_error(a, 503, "busy", "too many tasks are pending; try again later");
                return -1;
        }
        return 0;
}

/* m->lock held. Write the task and the VM's _task in one transaction,
 * submit, reply 202. Consumes op. */
static void submit(struct dv_api *a, json_t *vm, const char *opname, dv_task_fn fn,
                   struct dv_vm_tools_op *op)
{
        struct dv_mgr *m = a->m;
        json_t *task = dv_task_doc_new(opname, "vm", dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                                       a->user);
        int r;

        json_object_set(vm, "_task", json_object_get(task, "id"));
        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
        if (r < 0) {
                dv_vm_tools_op_free(op);
                dv_api_internal(a, r, "writing the task");
        } else if (dv_tasks_submit(m->tasks, task, fn, op, dv_vm_tools_op_free) < 0) {
                dv_api_error(a, 503, "shutting-down", "the manager is shutting down");
        } else {
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
        }
        json_decref(task);
}

static struct dv_vm_tools_op *op_new(struct dv_api *a, json_t *vm)
{
        struct dv_vm_tools_op *op = calloc(1, sizeof(*op));

        if (!op)
                abort();
        op->m = a->m;
        snprintf(op->vm_id, sizeof(op->vm_id), "%s", dv_doc_str(vm, "id"));
        snprintf(op->user, sizeof(op->user), "%s", a->user);
        return op;
}

static void vm_set_cpus(struct dv_api *a, json_t *vm0)
{
        static const char *const keys[] = { "cpus", NULL };
        struct dv_error err = { 0 };
        json_t *body = NULL, *vm = NULL, *host = NULL;
        struct dv_vm_tools_op *op;
        int64_t cpus = 0, cur, max;
        const char *state, *name;

        if (body_keys(a, keys, &body) < 0)
                return;
        if (dv_json_get_int(body, "cpus", true, 1, DV_VM_CPUS_MAX, &cpus, &err) < 0) {
                json_decref(body);
                dv_api_dv_error(a, &err);
                return;
        }
        json_decref(body);
        dv_mgr_lock(a->m);
        vm = dv_mgr_get(a->m, DV_KIND_VM, dv_doc_str(vm0, "id"));
        if (!vm) {
                dv_api_not_found(a, "vm", dv_doc_str(vm0, "name"));
                goto out;
        }
        name = dv_doc_str(vm, "name");
        state = dv_doc_str(vm, "state");
        cur = dv_doc_int(vm, "cpus", 1);
        max = dv_doc_int(vm, "max_cpus", cur);
        if (check_task(a, vm) < 0)
                goto out;
        if (cpus > max) {
                dv_api_error(a, 409, "out-of-range",
                             "vm '%s' can have at most %lld vCPUs (max_cpus); %lld asked", name,
                             (long long)max, (long long)cpus);
                goto out;
        }
        if (dv_streq(state, "running")) {
                if (cpus < cur) {
                        dv_api_error(a, 409, "invalid-state",
                                     "vm '%s' runs with %lld vCPUs: removing vCPUs online is not "
                                     "supported; stop it first",
                                     name, (long long)cur);
                        goto out;
                }
                if (need_running(a, vm, &host) < 0)
                        goto out;
        } else if (!dv_streq(state, "stopped") && !dv_streq(state, "crashed")) {
                dv_api_error(a, 409, "invalid-state", "cannot set the vCPUs of vm '%s': it is %s",
                             name, state);
                goto out;
        }
        op = op_new(a, vm);
        op->cpus = cpus;
        submit(a, vm, "vm.set-cpus", dv_vm_task_set_cpus, op);
out:
        dv_mgr_unlock(a->m);
        json_decref(host);
        json_decref(vm);
}

static void vm_tools_upgrade(struct dv_api *a, json_t *vm0)
{
        static const char *const keys[] = { NULL };
        json_t *body = NULL, *vm = NULL, *host = NULL, *image = NULL;
        struct dv_vm_tools_op *op;
        const char *path;

        if (body_keys(a, keys, &body) < 0)
                return;
        json_decref(body);
        dv_mgr_lock(a->m);
        vm = dv_mgr_get(a->m, DV_KIND_VM, dv_doc_str(vm0, "id"));
        if (!vm) {
                dv_api_not_found(a, "vm", dv_doc_str(vm0, "name"));
                goto out;
        }
        if (check_task(a, vm) < 0 || need_running(a, vm, &host) < 0)
                goto out;
        image = dv_mgr_get(a->m, DV_KIND_IMAGE, dv_doc_str(vm, "image_id"));
        path = dv_doc_str(image, "tools");
        if (!path) {
                dv_api_error(a, 409, "not-supported",
                             "image '%s' of vm '%s' has no drover-tools to push",
                             dv_doc_str(vm, "image") ?: "-", dv_doc_str(vm, "name"));
                goto out;
        }
        op = op_new(a, vm);
        op->path = dv_strdup(path);
        submit(a, vm, "vm.tools-upgrade", dv_vm_task_tools_upgrade, op);
out:
        dv_mgr_unlock(a->m);
        json_decref(image);
        json_decref(host);
        json_decref(vm);
}

void dv_api_vm_tools(struct dv_api *a, const char *sub)
{
        bool get = strcmp(sub, "guest") == 0;
        json_t *vm;

        if (!dv_api_is(a, get ? "GET" : "POST")) {
                dv_api_bad_method(a);
                return;
        }
        vm = dv_mgr_get(a->m, DV_KIND_VM, a->segs[1]);
        if (!vm) {
                dv_api_not_found(a, "vm", a->segs[1]);
                return;
        }
        if (get)
                vm_guest(a, vm);
        else if (strcmp(sub, "ping") == 0)
                vm_ping(a, vm);
        else if (strcmp(sub, "freeze") == 0)
                vm_freeze(a, vm);
        else if (strcmp(sub, "thaw") == 0)
                vm_simple(a, vm, "fs-thaw", "vm.thawed", "filesystems thawed");
        else if (strcmp(sub, "timesync") == 0)
                vm_simple(a, vm, "time-set", "vm.timesync", "guest clock set from its host's");
        else if (strcmp(sub, "hibernate") == 0)
                vm_simple(a, vm, "hibernate", "vm.hibernate", "hibernating");
        else if (strcmp(sub, "set-cpus") == 0)
                vm_set_cpus(a, vm);
        else
                vm_tools_upgrade(a, vm);
        json_decref(vm);
}
