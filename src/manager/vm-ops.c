#include "vm-ops.h"

#include <string.h>

#include "agent.h"
#include "dvs.h"
#include "log.h"
#include "net.h"
#include "vm-tools.h"

struct dv_vm_op *dv_vm_op_new(struct dv_mgr *m, const char *vm_id, const char *user)
{
        struct dv_vm_op *op = calloc(1, sizeof(*op));

        if (!op)
                abort();
        op->m = m;
        snprintf(op->vm_id, sizeof(op->vm_id), "%s", vm_id);
        snprintf(op->user, sizeof(op->user), "%s", user);
        return op;
}

json_t *dv_vm_spec_new(json_t *vm, json_t *image, json_t *nets)
{
        json_t *disks = json_array(), *nics = json_array(), *boot, *d, *spec, *tools;
        _cleanup_(freep) char *netargs = dv_strdup("");
        size_t i;

        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                json_t *sd = json_pack("{s:s?,s:s}", "path", dv_doc_str(d, "path"), "format",
                                       "qcow2");

                /* I/O limits (docs/qos.md) only when set. */
                if (sd && dv_doc_int(d, "iops_max", 0) > 0)
                        json_object_set_new(sd, "iops_max", json_integer(dv_doc_int(d, "iops_max", 0)));
                if (sd && dv_doc_int(d, "bps_max", 0) > 0)
                        json_object_set_new(sd, "bps_max", json_integer(dv_doc_int(d, "bps_max", 0)));
                json_array_append_new(disks, sd);
        }
        json_array_foreach(json_object_get(vm, "nics"), i, d) {
                json_t *net = json_object_get(nets, dv_doc_str(d, "portgroup"));
                _cleanup_(freep) char *arg = dv_net_kernel_arg(d);
                json_t *vlan = json_object_get(net, "vlan"), *bridge = json_object_get(net, "bridge");

                json_array_append_new(nics, json_pack("{s:s?,s:s?,s:O,s:O}", "mac",
                                                      dv_doc_str(d, "mac"), "portgroup",
                                                      dv_doc_str(d, "portgroup"), "vlan",
                                                      vlan ? vlan : json_null(), "bridge",
                                                      bridge ? bridge : json_null()));
                if (arg) {
                        char *n = dv_asprintf("%s %s", netargs, arg);
                        free(netargs);
                        netargs = n;
                }
        }
        if (image && dv_streq(dv_doc_str(image, "kind"), "kernel")) {
                const char *cmd = dv_doc_str(image, "cmdline");
                _cleanup_(freep) char *cmdline =
                        dv_asprintf("%s%sdrover.hostname=%s%s%s%s", cmd ? cmd : "",
                                    cmd && *cmd ? " " : "", dv_doc_str(vm, "name"), netargs,
                                    dv_doc_str(vm, "kernel_args") ? " " : "",
                                    dv_doc_str(vm, "kernel_args") ? dv_doc_str(vm, "kernel_args")
                                                                  : "");
                boot = json_pack("{s:s,s:s?,s:s?,s:s}", "kind", "kernel", "kernel",
                                 dv_doc_str(image, "kernel"), "initrd",
                                 dv_doc_str(image, "initrd"), "cmdline", cmdline);
        } else {
                boot = json_pack("{s:s}", "kind", "disk");
        }
        spec = json_pack("{s:s?,s:s?,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "id", dv_doc_str(vm, "id"),
                         "name", dv_doc_str(vm, "name"), "uid",
                         (json_int_t)dv_doc_int(vm, "uid", 0), "cpus",
                         (json_int_t)dv_doc_int(vm, "cpus", 1), "max_cpus",
                         (json_int_t)dv_doc_int(vm, "max_cpus", dv_doc_int(vm, "cpus", 1)),
                         "memory_mib", (json_int_t)dv_doc_int(vm, "memory_mib", 0), "disks",
                         disks, "nics", nics, "boot", boot);
        if (spec && json_is_object(json_object_get(vm, "cpu_qos")))
                json_object_set(spec, "cpu_qos", json_object_get(vm, "cpu_qos"));
        /* An HA VM with a disk on shared storage runs only where it holds
         * its lease there (docs/ha.md, "Leases"). */
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                const char *ds = dv_doc_str(d, "datastore");
                size_t n = ds ? strlen(ds) : 0;

                if (!spec || !json_is_true(json_object_get(vm, "ha")) || !ds ||
                    (n >= 6 && strcmp(ds + n - 6, "-local") == 0))
                        continue;
                json_object_set_new(spec, "lease", json_pack("{s:s}", "datastore", ds));
                break;
        }
        tools = dv_vm_tools_spec(vm, nets); /* Tools' net-config (vm-tools.c) */
        if (spec && tools)
                json_object_set_new(spec, "tools", tools);
        else
                json_decref(tools);
        return spec;
}

/* Load the VM and its host (new references). */
static int load(struct dv_mgr *m, const char *vm_id, json_t **ret_vm, json_t **ret_host)
{
        json_t *vm = dv_mgr_get(m, DV_KIND_VM, vm_id), *host;

        if (!vm)
                return -ENOENT;
        host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (!host) {
                json_decref(vm);
                return -ENXIO;
        }
        *ret_vm = vm;
        *ret_host = host;
        return 0;
}

/* Under m->lock: re-read the VM, apply the change, write it. The change
 * function may be NULL (just clears _task). Returns the new document. */
typedef void (*vm_change_fn)(json_t *vm, void *userdata);

static json_t *vm_update(struct dv_mgr *m, const char *vm_id, vm_change_fn fn, void *userdata)
{
        json_t *vm;
        int r;

        dv_mgr_lock(m);
        vm = dv_mgr_get(m, DV_KIND_VM, vm_id);
        if (vm) {
                if (fn)
                        fn(vm, userdata);
                json_object_del(vm, "_task");
                r = dv_store_update(m->store, DV_KIND_VM, vm);
                if (r < 0)
                        dv_warn_errno(r, "vm %s: cannot write its record: %m", vm_id);
        }
        dv_mgr_unlock(m);
        return vm;
}

struct state_change {
        const char *state;  /* new state, or NULL: back to _prev_state */
        const char *reason; /* state_reason */
        json_t *status;     /* VMSTATUS from the agent, or NULL */
};

static void set_state(json_t *vm, void *userdata)
{
        struct state_change *c = userdata;
        const char *state = c->state ? c->state : dv_doc_str(vm, "_prev_state");
        json_t *v;

        json_object_set_new(vm, "state", json_string(state ? state : "stopped"));
        dv_doc_set_str(vm, "state_reason", c->reason);
        json_object_del(vm, "_prev_state");
        if (c->status) {
                static const char *const keys[] = { "pid", "console_log", "vnc" };
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if ((v = json_object_get(c->status, keys[i])))
                                json_object_set(vm, keys[i], v);
        }
        if (dv_streq(state, "stopped")) {
                json_object_set_new(vm, "pid", json_null());
                json_object_set_new(vm, "vnc", json_null());
        }
}

/* Where the agent puts a disk it was asked to make: DATASTORE/VM_ID/NAME.qcow2
 * (the agent's layout). Used only to clean up after a create whose answer
 * was lost: deleting a path that does not exist is not an error. */
static char *guess_disk_path(json_t *vm, json_t *host, json_t *disk)
{
        json_t *ds;
        size_t i;

        json_array_foreach(json_object_get(host, "datastores"), i, ds)
                if (dv_streq(dv_doc_str(ds, "name"), dv_doc_str(disk, "datastore")))
                        return dv_asprintf("%s/%s/%s.qcow2", dv_doc_str(ds, "path"),
                                           dv_doc_str(vm, "id"), dv_doc_str(disk, "name"));
        return NULL;
}

/* Delete the disks of vm through its host. Disks deleted are dropped from
 * vm's "disks". A disk without a recorded path (its create may have
 * happened without the manager hearing of it) is deleted where the agent
 * would have made it, ignoring errors. Returns 0 or the first error (err). */
static int delete_disks(json_t *vm, json_t *host, struct dv_task *t, struct dv_error *err)
{
        json_t *disks = json_object_get(vm, "disks");
        size_t i = 0;
        int r = 0;

        while (i < json_array_size(disks)) {
                json_t *d = json_array_get(disks, i);
                const char *path = dv_doc_str(d, "path");
                _cleanup_(freep) char *guess = NULL;
                struct dv_error ignored = { 0 };
                json_t *body;

                if (!path) {
                        guess = guess_disk_path(vm, host, d);
                        if (!guess) {
                                json_array_remove(disks, i);
                                continue;
                        }
                }
                if (t)
                        dv_task_progress(t, 50, "deleting %s", path ? path : guess);
                body = json_pack("{s:s}", "path", path ? path : guess);
                r = dv_agent_call(host, "POST", "/agent/v1/disks/delete", body,
                                  DV_AGENT_DISK_TIMEOUT_MS, NULL, path ? err : &ignored);
                json_decref(body);
                if (r < 0 && (path || r == -EHOSTUNREACH)) {
                        if (!path)
                                *err = ignored;
                        return r;
                }
                json_array_remove(disks, i);
        }
        return 0;
}

/* ---- vm.create --------------------------------------------------------- */

struct disk_path {
        size_t index;     /* which disk */
        const char *path; /* where the agent made it */
        int64_t size_gib; /* its size as made (an image copy may be larger), or 0 */
};

static void set_disk_path(json_t *vm, void *userdata)
{
        struct disk_path *p = userdata;
        json_t *d = json_array_get(json_object_get(vm, "disks"), p->index);

        if (!d)
                return;
        json_object_set_new(d, "path", json_string(p->path));
        json_object_del(d, "_source");
        json_object_del(d, "_source_format");
        if (p->size_gib > 0)
                json_object_set_new(d, "size_gib", json_integer((json_int_t)p->size_gib));
}

static void mark_created(json_t *vm, void *userdata)
{
        json_object_del(vm, "_creating");
}

/* Undo a create: delete the disks made and the record; if the agent cannot
 * delete them now, mark the VM for the cron to finish the job. */
static void create_undo(struct dv_mgr *m, const char *vm_id, const char *user)
{
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL;
        int r;

        if (load(m, vm_id, &vm, &host) < 0)
                return;
        r = delete_disks(vm, host, NULL, &err);
        dv_mgr_lock(m);
        if (r < 0) {
                json_t *cur = dv_mgr_get(m, DV_KIND_VM, vm_id);
                if (cur) {
                        json_object_set(cur, "disks", json_object_get(vm, "disks"));
                        json_object_set_new(cur, "_cleanup", json_string("create-failed"));
                        json_object_del(cur, "_task");
                        dv_doc_set_str(cur, "state_reason", "create failed; removal pending");
                        dv_store_update(m->store, DV_KIND_VM, cur);
                        json_decref(cur);
                }
                dv_warn("vm %s: could not delete its disks after a failed create (%s); will retry",
                        dv_doc_str(vm, "name"), err.message);
        } else {
                r = dv_store_remove(m->store, DV_KIND_VM, vm_id);
                if (r < 0 && r != -ENOENT)
                        dv_warn_errno(r, "vm %s: cannot remove its record: %m", vm_id);
                else
                        dv_mgr_event(m, user, "vm.deleted", "vm", vm,
                                     "vm '%s' removed after its create failed",
                                     dv_doc_str(vm, "name"));
        }
        dv_mgr_unlock(m);
        json_decref(vm);
        json_decref(host);
}

void dv_vm_task_create(struct dv_task *t, void *data)
{
        struct dv_vm_op *op = data;
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL, *d, *disks;
        size_t i, n;
        int r;

        r = load(op->m, op->vm_id, &vm, &host);
        if (r < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        disks = json_object_get(vm, "disks");
        n = json_array_size(disks);
        json_array_foreach(disks, i, d) {
                json_t *body, *reply = NULL;
                struct disk_path p = { .index = i };

                if (dv_task_cancel_requested(t)) {
                        create_undo(op->m, op->vm_id, op->user);
                        dv_task_cancelled(t, "cancelled; vm '%s' was not created",
                                          dv_doc_str(vm, "name"));
                        goto out;
                }
                dv_task_progress(t, (int)(10 + 80 * i / n), "creating %s (%lld GiB) on %s",
                                 dv_doc_str(d, "name"), (long long)dv_doc_int(d, "size_gib", 0),
                                 dv_doc_str(d, "datastore"));
                body = json_pack("{s:s?,s:s,s:s?,s:I,s:s,s:I}", "datastore",
                                 dv_doc_str(d, "datastore"), "vm_id", op->vm_id, "name",
                                 dv_doc_str(d, "name"), "size_gib",
                                 (json_int_t)dv_doc_int(d, "size_gib", 0), "format", "qcow2",
                                 "uid", (json_int_t)dv_doc_int(vm, "uid", 0));
                if (dv_doc_str(d, "_source")) {
                        json_object_set_new(body, "source", json_string(dv_doc_str(d, "_source")));
                        json_object_set_new(body, "source_format",
                                            json_string(dv_doc_str(d, "_source_format")));
                }
                r = dv_agent_call(host, "POST", "/agent/v1/disks", body, DV_AGENT_DISK_TIMEOUT_MS,
                                  &reply, &err);
                json_decref(body);
                p.path = dv_doc_str(reply, "path");
                p.size_gib = dv_doc_int(reply, "size_gib", 0);
                if (r >= 0 && !p.path) {
                        r = -EPROTO;
                        dv_error_set(&err, 502, "agent-error",
                                     "host '%s' answered without a disk path",
                                     dv_doc_str(host, "name"));
                }
                if (r >= 0)
                        json_decref(vm_update(op->m, op->vm_id, set_disk_path, &p));
                json_decref(reply);
                if (r < 0) {
                        /* Still our task: keep _task so heartbeats leave it alone. */
                        create_undo(op->m, op->vm_id, op->user);
                        dv_task_fail(t, err.code, "%s", err.message);
                        goto out;
                }
        }
        json_decref(vm_update(op->m, op->vm_id, mark_created, NULL));
        dv_mgr_event(op->m, op->user, "vm.created", "vm", vm, "vm '%s' created on host '%s'",
                     dv_doc_str(vm, "name"), dv_doc_str(host, "name"));
        dv_task_succeed(t, json_pack("{s:s}", "vm_id", op->vm_id), "vm '%s' created",
                        dv_doc_str(vm, "name"));
out:
        json_decref(vm);
        json_decref(host);
}

/* ---- vm.start ---------------------------------------------------------- */

/* For the SPEC: port group name -> {"vlan","bridge"} of every NIC of vm.
 * Every port group must exist and its DVS must be on the VM's host. */
int dv_vm_nets(struct dv_mgr *m, json_t *vm, json_t *host, json_t **ret_nets,
               struct dv_error *err)
{
        json_t *nets = json_object(), *nic;
        size_t i;
        int r = 0;

        json_array_foreach(json_object_get(vm, "nics"), i, nic) {
                const char *name = dv_doc_str(nic, "portgroup");
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, name);
                json_t *dvs = pg ? dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(pg, "dvs_id")) : NULL;

                if (!pg || !dvs)
                        r = dv_error_set(err, 409, "invalid-state",
                                         "%s: portgroup '%s' %s", dv_doc_str(nic, "name"), name,
                                         pg ? "has no dvs" : "no longer exists");
                else if (!dv_dvs_host_entry(dvs, dv_doc_str(host, "id")))
                        r = dv_error_set(err, 409, "insufficient-resources",
                                         "%s: host '%s' is not attached to dvs '%s' of "
                                         "portgroup '%s'",
                                         dv_doc_str(nic, "name"), dv_doc_str(host, "name"),
                                         dv_doc_str(dvs, "name"), name);
                else
                        json_object_set_new(nets, name,
                                            json_pack("{s:O,s:O}", "vlan",
                                                      json_object_get(pg, "vlan"), "bridge",
                                                      json_object_get(dvs, "bridge")));
                json_decref(pg);
                json_decref(dvs);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                json_decref(nets);
                return r;
        }
        *ret_nets = nets;
        return 0;
}

/* A port group's VLAN may have changed while QEMU started (its retag found
 * no port yet): tag the started VM's ports as the port groups are now. */
static void recheck_vlans(struct dv_mgr *m, json_t *vm, json_t *host, json_t *nets)
{
        json_t *nic;
        size_t i;

        pthread_mutex_lock(&m->net_lock);
        json_array_foreach(json_object_get(vm, "nics"), i, nic) {
                const char *name = dv_doc_str(nic, "portgroup");
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, name), *body;
                struct dv_error err = { 0 };
                int64_t vlan = dv_doc_int(json_object_get(nets, name), "vlan", -1);

                if (pg && dv_doc_int(pg, "vlan", -1) != vlan) {
                        body = json_pack("{s:s?,s:I,s:b}", "mac", dv_doc_str(nic, "mac"), "vlan",
                                         (json_int_t)dv_doc_int(pg, "vlan", 0), "missing_ok", 1);
                        if (dv_agent_call(host, "POST", "/agent/v1/ports/vlan", body,
                                          DV_AGENT_TIMEOUT_MS, NULL, &err) < 0)
                                dv_warn("vm %s %s: retag after start: %s", dv_doc_str(vm, "name"),
                                        dv_doc_str(nic, "name"), err.message);
                        json_decref(body);
                }
                json_decref(pg);
        }
        pthread_mutex_unlock(&m->net_lock);
}

void dv_vm_task_start(struct dv_task *t, void *data)
{
        struct dv_vm_op *op = data;
        struct dv_error err = { 0 };
        struct state_change c = { 0 };
        json_t *vm = NULL, *host = NULL, *image = NULL, *spec, *reply = NULL, *nets = NULL;
        _cleanup_(freep) char *path = NULL;
        int r;

        if (load(op->m, op->vm_id, &vm, &host) < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        if (dv_task_cancel_requested(t)) {
                c.reason = "start cancelled";
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_task_cancelled(t, "cancelled before vm '%s' was started", dv_doc_str(vm, "name"));
                goto out;
        }
        image = dv_mgr_get(op->m, DV_KIND_IMAGE, dv_doc_str(vm, "image_id"));
        r = dv_vm_nets(op->m, vm, host, &nets, &err);
        if (r < 0) {
                c.reason = err.message; /* back to the state before */
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_task_fail(t, err.code, "%s", err.message);
                goto out;
        }
        spec = dv_vm_spec_new(vm, image, nets);
        dv_task_progress(t, 20, "starting vm '%s' on host '%s'", dv_doc_str(vm, "name"),
                         dv_doc_str(host, "name"));
        path = dv_asprintf("/agent/v1/vms/%s/start", op->vm_id);
        r = dv_agent_call(host, "POST", path, spec, DV_AGENT_START_TIMEOUT_MS, &reply, &err);
        json_decref(spec);
        if (r == -EHOSTUNREACH) {
                /* Unknown outcome: stay "starting"; the next heartbeat decides. */
                json_decref(vm_update(op->m, op->vm_id, NULL, NULL));
                dv_task_fail(t, err.code, "%s", err.message);
        } else if (r < 0) {
                c.state = "stopped";
                c.reason = err.message;
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_mgr_event(op->m, op->user, "vm.start-failed", "vm", vm, "vm '%s' did not start: %s",
                             dv_doc_str(vm, "name"), err.message);
                dv_task_fail(t, err.code, "%s", err.message);
        } else {
                c.state = "running";
                c.status = json_object_get(reply, "vm");
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                recheck_vlans(op->m, vm, host, nets);
                dv_mgr_event(op->m, op->user, "vm.running", "vm", vm,
                             "vm '%s' is running on host '%s'", dv_doc_str(vm, "name"),
                             dv_doc_str(host, "name"));
                dv_task_succeed(t, json_pack("{s:O?}", "vm", c.status), "vm '%s' is running",
                                dv_doc_str(vm, "name"));
        }
out:
        json_decref(nets);
        json_decref(reply);
        json_decref(image);
        json_decref(vm);
        json_decref(host);
}

/* ---- vm.stop ----------------------------------------------------------- */

void dv_vm_task_stop(struct dv_task *t, void *data)
{
        struct dv_vm_op *op = data;
        struct dv_error err = { 0 };
        struct state_change c = { 0 };
        json_t *vm = NULL, *host = NULL, *body, *reply = NULL;
        _cleanup_(freep) char *path = NULL;
        const char *how;
        int r;

        if (load(op->m, op->vm_id, &vm, &host) < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        if (dv_task_cancel_requested(t)) {
                c.reason = "stop cancelled";
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_task_cancelled(t, "cancelled before vm '%s' was stopped", dv_doc_str(vm, "name"));
                goto out;
        }
        dv_task_progress(t, 20, op->force ? "forcing vm '%s' off" : "shutting vm '%s' down (%llds)",
                         dv_doc_str(vm, "name"), (long long)op->timeout_s);
        path = dv_asprintf("/agent/v1/vms/%s/stop", op->vm_id);
        body = json_pack("{s:b,s:I}", "force", op->force, "timeout_s", (json_int_t)op->timeout_s);
        r = dv_agent_call(host, "POST", path, body, (long)(op->timeout_s + 30) * 1000, &reply,
                          &err);
        json_decref(body);
        if (r == -EHOSTUNREACH) {
                json_decref(vm_update(op->m, op->vm_id, NULL, NULL)); /* heartbeat decides */
                dv_task_fail(t, err.code, "%s", err.message);
        } else if (r < 0) {
                c.reason = err.message; /* back to the state before */
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_task_fail(t, err.code, "%s", err.message);
        } else {
                how = dv_doc_str(reply, "path");
                c.state = "stopped";
                c.reason = "stopped-by-user";
                json_decref(vm_update(op->m, op->vm_id, set_state, &c));
                dv_mgr_event(op->m, op->user, "vm.stopped", "vm", vm, "vm '%s' stopped (%s)",
                             dv_doc_str(vm, "name"), how ? how : "?");
                dv_task_succeed(t, json_pack("{s:s}", "path", how ? how : "unknown"),
                                "vm '%s' stopped (%s)", dv_doc_str(vm, "name"), how ? how : "?");
        }
out:
        json_decref(reply);
        json_decref(vm);
        json_decref(host);
}

/* ---- vm.reboot --------------------------------------------------------- */

void dv_vm_task_reboot(struct dv_task *t, void *data)
{
        struct dv_vm_op *op = data;
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL, *reply = NULL, *body;
        _cleanup_(freep) char *path = NULL;
        int r;

        if (load(op->m, op->vm_id, &vm, &host) < 0) {
                dv_task_fail(t, "internal", "the vm or its host disappeared");
                return;
        }
        if (dv_task_cancel_requested(t)) {
                json_decref(vm_update(op->m, op->vm_id, NULL, NULL));
                dv_task_cancelled(t, "cancelled before vm '%s' was rebooted", dv_doc_str(vm, "name"));
                goto out;
        }
        dv_task_progress(t, 20, "rebooting vm '%s'", dv_doc_str(vm, "name"));
        path = dv_asprintf("/agent/v1/vms/%s/reboot", op->vm_id);
        body = json_object();
        r = dv_agent_call(host, "POST", path, body, DV_AGENT_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        json_decref(vm_update(op->m, op->vm_id, NULL, NULL));
        if (r < 0) {
                dv_task_fail(t, err.code, "%s", err.message);
        } else {
                const char *how = dv_doc_str(reply, "path");
                dv_mgr_event(op->m, op->user, "vm.reboot", "vm", vm, "vm '%s' rebooted",
                             dv_doc_str(vm, "name"));
                dv_task_succeed(t, json_pack("{s:s}", "path", how ? how : "reset"),
                                "vm '%s' rebooted", dv_doc_str(vm, "name"));
        }
out:
        json_decref(reply);
        json_decref(vm);
        json_decref(host);
}

/* ---- vm.delete --------------------------------------------------------- */

struct delete_failed {
        json_t *disks;     /* the disks left */
        const char *why;   /* the agent's message */
        bool system;       /* a cleanup by the system: keep _cleanup for a retry */
};

static void delete_failed(json_t *vm, void *userdata)
{
        struct delete_failed *f = userdata;

        json_object_set(vm, "disks", f->disks);
        if (!f->system) {
                json_object_del(vm, "_cleanup");
                json_object_del(vm, "_keep_disks");
        }
        dv_doc_set_str(vm, "state_reason", f->why);
}

void dv_vm_task_delete(struct dv_task *t, void *data)
{
        struct dv_vm_op *op = data;
        struct dv_error err = { 0 };
        json_t *vm = NULL, *host = NULL;
        bool keep, system = dv_streq(op->user, DV_USER_SYSTEM);
        int r;

        vm = dv_mgr_get(op->m, DV_KIND_VM, op->vm_id);
        if (!vm) {
                dv_task_succeed(t, NULL, "the vm was already removed");
                return;
        }
        host = dv_mgr_get(op->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        keep = json_is_true(json_object_get(vm, "_keep_disks"));
        if (!keep && host) {
                r = delete_disks(vm, host, t, &err);
                if (r < 0) {
                        struct delete_failed f = { json_object_get(vm, "disks"), err.message,
                                                   system };
                        json_decref(vm_update(op->m, op->vm_id, delete_failed, &f));
                        dv_task_fail(t, err.code, "%s", err.message);
                        goto out;
                }
        }
        dv_mgr_lock(op->m);
        r = dv_store_remove(op->m->store, DV_KIND_VM, op->vm_id);
        if (r >= 0)
                dv_mgr_event(op->m, op->user, "vm.deleted", "vm", vm, "vm '%s' deleted%s",
                             dv_doc_str(vm, "name"), keep ? " (disks kept)" : "");
        dv_mgr_unlock(op->m);
        if (r < 0 && r != -ENOENT)
                dv_task_fail(t, "internal", "cannot remove the record: %s", strerror(-r));
        else
                dv_task_succeed(t, json_pack("{s:b}", "disks_kept", keep), "vm '%s' deleted",
                                dv_doc_str(vm, "name"));
out:
        json_decref(vm);
        json_decref(host);
}

int dv_vm_submit_cleanup(struct dv_mgr *m, json_t *vm)
{
        json_t *task;
        int r;

        if (!dv_tasks_can_accept(m->tasks))
                return -EBUSY;
        task = dv_task_doc_new("vm.delete", "vm", dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                               DV_USER_SYSTEM);
        json_object_set_new(task, "message", json_string("removing a vm whose create or delete did not finish"));
        json_object_set(vm, "_task", json_object_get(task, "id"));
        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
        if (r >= 0)
                r = dv_tasks_submit(m->tasks, task,
                                    dv_vm_task_delete,
                                    dv_vm_op_new(m, dv_doc_str(vm, "id"), DV_USER_SYSTEM), free);
        json_decref(task);
        return r;
}
