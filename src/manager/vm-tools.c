/* Tools, manager side: see vm-tools.h. */
#include "vm-tools.h"

#include <string.h>

#include "agent.h"
#include "http.h"
#include "log.h"

#define CPUS_TIMEOUT_MS 90000     /* hot-plug, then the guest onlines them */
#define UPGRADE_TIMEOUT_MS 150000 /* the agent's own bound is 120 s */

/* ---- heartbeat --------------------------------------------------------- */

static bool tools_state_valid(const char *s)
{
        return dv_streq(s, "not-installed") || dv_streq(s, "not-running") ||
               dv_streq(s, "running");
}

static int get_text(json_t *o, const char *key, size_t max, struct dv_error *err)
{
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return dv_error_set(err, 400, "invalid-field", "tools: field '%s' must be a string",
                                    key);
        if (strlen(json_string_value(v)) > max)
                return dv_error_set(err, 400, "out-of-range",
                                    "tools: field '%s' is longer than %zu characters", key, max);
        return 0;
}

int dv_validate_vm_tools_status(json_t *tools, struct dv_error *err)
{
        static const char *const keys[] = { "state", "version", "reason", NULL };
        const char *key;
        json_t *v;
        int r;

        if (!tools || json_is_null(tools))
                return 0;
        if (!json_is_object(tools))
                return dv_error_set(err, 400, "invalid-field", "field 'tools' must be an object");
        json_object_foreach(tools, key, v) {
                bool ok = false;

                for (size_t i = 0; keys[i]; i++)
                        ok = ok || strcmp(keys[i], key) == 0;
                if (!ok)
                        return dv_error_set(err, 400, "unknown-field", "tools: unknown field '%.64s'",
                                            key);
        }
        if (!tools_state_valid(json_string_value(json_object_get(tools, "state"))))
                return dv_error_set(err, 400, "invalid-field",
                                    "tools: field 'state' must be not-installed, not-running or "
                                    "running");
        r = get_text(tools, "version", 64, err);
        if (r >= 0)
                r = get_text(tools, "reason", 256, err);
        return r;
}

static json_t *reported_status(json_t *reported, const char *id)
{
        json_t *st;
        size_t i;

        json_array_foreach(reported, i, st)
                if (dv_streq(dv_doc_str(st, "id"), id))
                        return st;
        return NULL;
}

void dv_vm_tools_heartbeat(struct dv_mgr *m, json_t *host, json_t *reported, json_t *records,
                           const char *user)
{
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        json_t *vms = json_incref(records), *vm;
        size_t i;

        if (!vms && dv_store_list(m->store, DV_KIND_VM, &f, &vms) < 0)
                return;
        json_array_foreach(vms, i, vm) {
                json_t *st = reported_status(reported, dv_doc_str(vm, "id"));
                /* Our own reference: cur's strings are used after the
                 * record's "tools" is replaced. */
                _cleanup_(json_decrefp) json_t *cur = json_incref(json_object_get(vm, "tools"));
                json_t *rep, *next;
                const char *vm_state = dv_doc_str(st, "state");
                const char *cur_state = dv_doc_str(cur, "state"), *cur_ver = dv_doc_str(cur, "version");
                bool vm_runs = dv_streq(vm_state, "running") || dv_streq(vm_state, "paused");
                const char *state, *version, *reason;

                rep = json_object_get(st, "tools");
                if (vm_runs && json_is_object(rep)) {
                        state = dv_doc_str(rep, "state");
                        version = dv_doc_str(rep, "version") ? dv_doc_str(rep, "version") : cur_ver;
                        reason = dv_doc_str(rep, "reason");
                } else if (!vm_runs && cur_state && !dv_streq(cur_state, "not-installed")) {
                        state = "not-running";
                        version = cur_ver;
                        reason = "the vm is not running";
                } else {
                        continue;
                }
                next = json_pack("{s:s,s:s?,s:s?}", "state", state, "version", version, "reason",
                                 reason);
                if (!next || json_equal(next, cur)) {
                        json_decref(next);
                        continue;
                }
                json_object_set_new(vm, "tools", next);
                if (dv_store_update(m->store, DV_KIND_VM, vm) < 0) {
                        dv_warn("vm %s: cannot record its Tools state", dv_doc_str(vm, "name"));
                        continue;
                }
                /* Events only about a VM that runs and is meant to (not
                 * one being stopped: its channel closes first). */
                if (!vm_runs || !dv_streq(dv_doc_str(vm, "state"), "running"))
                        continue;
                if (dv_streq(state, "running") &&
                    (!dv_streq(cur_state, "running") || !dv_streq(cur_ver, version)))
                        dv_mgr_event(m, user, "vm.tools-running", "vm", vm,
                                     "Tools %s is running in vm '%s'%s%s%s", version ? version : "?",
                                     dv_doc_str(vm, "name"),
                                     dv_streq(cur_state, "running") ? " (was " : "",
                                     dv_streq(cur_state, "running") && cur_ver ? cur_ver : "",
                                     dv_streq(cur_state, "running") ? ")" : "");
                else if (dv_streq(state, "not-running") && !dv_streq(cur_state, "not-running"))
                        dv_mgr_event(m, user, "vm.tools-not-running", "vm", vm,
                                     "Tools is not running in vm '%s': %s", dv_doc_str(vm, "name"),
                                     reason ? reason : "no reason given");
        }
        json_decref(vms);
}

/* ---- the SPEC ------------------------------------------------------------ */

json_t *dv_vm_tools_spec(json_t *vm, json_t *nets)
{
        json_t *list = json_array(), *nic;
        size_t i;

        json_array_foreach(json_object_get(vm, "nics"), i, nic) {
                json_t *net = json_object_get(nets, dv_doc_str(nic, "portgroup"));
                json_t *prefix = json_object_get(nic, "prefix");

                if (!dv_doc_str(nic, "mac") || !dv_doc_str(nic, "ip") || !json_is_integer(prefix) ||
                    !json_is_string(json_object_get(net, "bridge")))
                        continue;
                json_t *one = json_pack("{s:s,s:s,s:O}", "mac", dv_doc_str(nic, "mac"), "ip",
                                        dv_doc_str(nic, "ip"), "prefix", prefix);

                if (dv_doc_str(nic, "gateway"))
                        json_object_set_new(one, "gateway", json_string(dv_doc_str(nic, "gateway")));
                json_array_append_new(list, one);
        }
        if (json_array_size(list) == 0) {
                json_decref(list);
                return NULL;
        }
        return json_pack("{s:o}", "nics", list);
}

/* ---- calls ------------------------------------------------------------- */

/* Agent error codes that keep their status and code for the API. */
static const char *const passthrough[] = {
        "tools-not-running", "tools-busy", "tools-timeout", "tools-restarted",
        "tools-disconnected", "tools-misbehaving", "tools-bad-reply", "tools-error",
        "not-supported", "busy", "invalid-state", "invalid-field", "invalid-args",
        "no-such-nic", "digest-mismatch", "invalid-binary", "io-error", "failed", "too-large",
        NULL,
};

int dv_vm_tools_call(json_t *host, const char *vm_id, const char *suffix, json_t *body,
                     long timeout_ms, json_t **ret_reply, struct dv_error *err)
{
        _cleanup_(freep) char *url = NULL;
        const char *base = dv_doc_str(host, "url"), *name = dv_doc_str(host, "name");
        const char *code, *msg;
        json_t *reply = NULL;
        char cerr[256] = "";
        long status = 0;
        int r;

        if (!base) {
                dv_error_set(err, 503, "agent-unreachable", "host '%s' has no url", name);
                return -EHOSTUNREACH;
        }
        url = dv_asprintf("%s/agent/v1/vms/%s/%s", base, vm_id, suffix);
        r = dv_http_call("POST", url, dv_doc_str(host, "_credential"), body, timeout_ms, &status,
                         &reply, cerr, sizeof(cerr));
        if (r < 0) {
                dv_error_set(err, 503, "agent-unreachable", "host '%s' did not answer: %s", name,
                             cerr[0] ? cerr : strerror(-r));
                return -EHOSTUNREACH;
        }
        if (status >= 200 && status <= 299) {
                if (ret_reply)
                        *ret_reply = reply;
                else
                        json_decref(reply);
                return 0;
        }
        code = dv_http_error_code(reply);
        msg = dv_http_error_message(reply);
        for (size_t i = 0; code && passthrough[i]; i++)
                if (strcmp(code, passthrough[i]) == 0 && status >= 400 && status <= 599) {
                        dv_error_set(err, (int)status, code, "%s", msg ? msg : code);
                        json_decref(reply);
                        return -EPROTO;
                }
        dv_error_set(err, 502, "agent-error", "host '%s': %s%s%s (HTTP %ld)", name,
                     msg ? msg : "error", code ? " - " : "", code ? code : "", status);
        json_decref(reply);
        return -EPROTO;
}

/* ---- tasks ------------------------------------------------------------- */

void dv_vm_tools_op_free(void *data)
{
        struct dv_vm_tools_op *op = data;

        if (op)
                free(op->path);
        free(op);
}

/* Load the VM and its host (new references). */
static int load(struct dv_mgr *m, const char *vm_id, json_t **ret_vm, json_t **ret_host)
{
        json_t *vm = dv_mgr_get(m, DV_KIND_VM, vm_id);

        if (!vm)
                return -ENOENT;
        *ret_host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (!*ret_host) {
                json_decref(vm);
                return -ENXIO;
        }
        *ret_vm = vm;
        return 0;
}

/* Under m->lock: clear the VM's _task (and set cpus when > 0). */
static void finish_vm(struct dv_mgr *m, const char *vm_id, int64_t cpus)
{
        json_t *vm;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_id);
        if (vm) {
                if (cpus > 0)
                        json_object_set_new(vm, "cpus", json_integer(cpus));
                json_object_del(vm, "_task");
                if (dv_store_update(m->store, DV_KIND_VM, vm) < 0)
                        dv_warn("vm %s: cannot write its record", vm_id);
        }
        dv_mgr_unlock(m);
        json_decref(vm);
}

void dv_vm_task_set_cpus(struct dv_task *t, void *data)
{
        struct dv_vm_tools_op *op = data;
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL, *body, *reply = NULL;
        const char *name;
        int r;

        if (load(op->m, op->vm_id, &vm, &host) < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        name = dv_doc_str(vm, "name");
        if (!dv_streq(dv_doc_str(vm, "state"), "running")) {
                /* Not running: the next start uses the new count. */
                finish_vm(op->m, op->vm_id, op->cpus);
                dv_mgr_event(op->m, op->user, "vm.set-cpus", "vm", vm,
                             "vm '%s' will start with %lld vCPUs", name, (long long)op->cpus);
                dv_task_succeed(t, json_pack("{s:I,s:n}", "cpus", (json_int_t)op->cpus, "online"),
                                "vm '%s' has %lld vCPUs", name, (long long)op->cpus);
                goto out;
        }
        dv_task_progress(t, 20, "hot-plugging vCPUs of vm '%s' up to %lld", name,
                         (long long)op->cpus);
        body = json_pack("{s:I}", "count", (json_int_t)op->cpus);
        r = dv_vm_tools_call(host, op->vm_id, "cpus", body, CPUS_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r < 0) {
                finish_vm(op->m, op->vm_id, 0);
                dv_task_fail(t, err.code, "%s", err.message);
                goto out;
        }
        /* The vCPUs are there even if the guest did not online them all. */
        finish_vm(op->m, op->vm_id, op->cpus);
        dv_mgr_event(op->m, op->user, "vm.set-cpus", "vm", vm,
                     "vm '%s' has %lld vCPUs, %lld online in the guest", name, (long long)op->cpus,
                     (long long)dv_doc_int(reply, "online", 0));
        if (dv_doc_int(reply, "online", 0) < op->cpus)
                dv_task_fail(t, "cpus-offline",
                             "vm '%s' has %lld vCPUs but the guest brought only %lld online", name,
                             (long long)op->cpus, (long long)dv_doc_int(reply, "online", 0));
        else
                dv_task_succeed(t, json_pack("{s:I,s:O?}", "cpus", (json_int_t)op->cpus, "online",
                                             json_object_get(reply, "online")),
                                "vm '%s' has %lld vCPUs online", name, (long long)op->cpus);
out:
        json_decref(reply);
        json_decref(vm);
        json_decref(host);
}

void dv_vm_task_tools_upgrade(struct dv_task *t, void *data)
{
        struct dv_vm_tools_op *op = data;
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL, *body, *reply = NULL;
        const char *name;
        int r;

        if (load(op->m, op->vm_id, &vm, &host) < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        name = dv_doc_str(vm, "name");
        dv_task_progress(t, 10, "pushing %s to vm '%s'", op->path, name);
        body = json_pack("{s:s}", "path", op->path);
        r = dv_vm_tools_call(host, op->vm_id, "tools/upgrade", body, UPGRADE_TIMEOUT_MS, &reply,
                             &err);
        json_decref(body);
        finish_vm(op->m, op->vm_id, 0);
        if (r < 0) {
                dv_mgr_event(op->m, op->user, "vm.tools-upgrade-failed", "vm", vm,
                             "Tools upgrade of vm '%s' failed: %s", name, err.message);
                dv_task_fail(t, err.code, "%s", err.message);
        } else {
                dv_mgr_event(op->m, op->user, "vm.tools-upgraded", "vm", vm,
                             "Tools of vm '%s' upgraded from %s to %s", name,
                             dv_doc_str(reply, "previous_version") ?: "?",
                             dv_doc_str(reply, "version") ?: "?");
                dv_task_succeed(t, json_pack("{s:O?,s:O?}", "version",
                                             json_object_get(reply, "version"), "previous_version",
                                             json_object_get(reply, "previous_version")),
                                "Tools of vm '%s' is now %s", name,
                                dv_doc_str(reply, "version") ?: "?");
        }
        json_decref(reply);
        json_decref(vm);
        json_decref(host);
}
