/* /api/v1/vms: create, list, show, start, stop, reboot, delete, console.
 * Every handler checks everything it can before writing, then writes the
 * intent and the task in one transaction, then submits the task. */
#include <string.h>
#include <time.h>

#include "agent.h"
#include "api.h"
#include "auth.h"
#include "api-vm-ha.h"
#include "ha-env.h"
#include "drs-run.h"
#include "dvs.h"
#include "log.h"
#include "net.h"
#include "sched-snap.h"
#include "validate.h"
#include "view.h"
#include "vm-ops.h"
#include "vm-qos.h"
#include "vm-tools.h"

#define VM_UID_FIRST 100000

static bool host_has_datastore(json_t *host, const char *name)
{
        json_t *d;
        size_t i;

        json_array_foreach(json_object_get(host, "datastores"), i, d)
                if (dv_streq(dv_doc_str(d, "name"), name))
                        return true;
        return false;
}

/* Every MAC in use by any VM. */
static json_t *macs_in_use(struct dv_mgr *m)
{
        json_t *vms = NULL, *vm, *nic, *set = json_object();
        size_t i, j;

        if (dv_store_list(m->store, DV_KIND_VM, NULL, &vms) < 0)
                return set;
        json_array_foreach(vms, i, vm)
                json_array_foreach(json_object_get(vm, "nics"), j, nic)
                        if (dv_doc_str(nic, "mac"))
                                json_object_set_new(set, dv_doc_str(nic, "mac"),
                                                    json_string(dv_doc_str(vm, "name")));
        json_decref(vms);
        return set;
}

static int new_mac(json_t *in_use, char out[18])
{
        uint8_t b[3];
        char hex[7];
        int r;

        for (int tries = 0; tries < 1000; tries++) {
                r = dv_random_hex(hex, 3);
                if (r < 0)
                        return r;
                sscanf(hex, "%2hhx%2hhx%2hhx", &b[0], &b[1], &b[2]);
                snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
                if (!json_object_get(in_use, out))
                        return 0;
        }
        return -EADDRINUSE;
}

/* Reply to a failed check with err; returns -1 for chaining. */
static int fail(struct dv_api *a, struct dv_error *err)
{
        dv_api_dv_error(a, err);
        return -1;
}

/* VM uids come from the store's counter in blocks of UID_BLOCK, taken in
 * one transaction (one sync instead of one per VM); a restart leaves the
 * rest of a block unused. m->lock held (it guards the block). */
#define UID_BLOCK 64
static int64_t uid_next, uid_end;

static int next_uid(struct dv_mgr *m, int64_t *ret)
{
        int64_t first = 0, v = 0;
        int r;

        if (uid_next < uid_end) {
                *ret = uid_next++;
                return 0;
        }
        r = dv_store_begin(m->store);
        if (r < 0)
                return r;
        for (int i = 0; i < UID_BLOCK && r >= 0; i++) {
                r = m->store->ops->counter_next(m->store, "next_vm_uid", VM_UID_FIRST, &v);
                if (i == 0)
                        first = v;
        }
        if (r >= 0)
                r = dv_store_commit(m->store);
        else
                dv_store_rollback(m->store);
        if (r < 0)
                return r;
        /* The counter may have been moved by someone else between our calls
         * only if they hold the store lock: begin() holds it throughout. */
        uid_next = first + 1;
        uid_end = v + 1;
        *ret = first;
        return 0;
}

/* The explanation of the placement (?explain=true): the scheduler's
 * verdict on every host with DRS's loads beside it (m->lock held). */
static json_t *explain_placement(struct dv_mgr *m, const struct dv_sched_snapshot *snap,
                                 const struct dv_sched_req *sreq, size_t chosen)
{
        struct dv_sched_load *loads = calloc(snap->n + 1, sizeof(*loads));
        json_t *o;

        if (!loads)
                return NULL;
        if (dv_drs_host_loads(m, snap->sh, snap->n, loads) < 0) {
                free(loads);
                loads = NULL;
        }
        o = dv_sched_explain(snap->sh, snap->n, sreq, loads, chosen);
        free(loads);
        return o;
}

/* Checks against the store and builds the VM document (m->lock held).
 * ret_explain: when not NULL, the placement's explanation once the
 * scheduler has run (whether it found a host or not). */
static int build_vm(struct dv_api *a, const struct dv_vm_req *q, json_t **ret_vm,
                    json_t **ret_explain)
{
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        struct dv_sched_snapshot snap = { 0 };
        struct dv_sched_req sreq = { .cpus = q->cpus,
                                     .memory_mib = dv_mem_admitted_mib(&q->mem_qos, q->memory_mib,
                                                                       dv_mem_overcommit(m)),
                                     .cpu_reservation_mhz = q->cpu_qos.reservation_mhz };
        const char *ds_names[DV_VM_DISKS_MAX], *dvs_names[DV_VM_NICS_MAX];
        const char *gateways[DV_VM_NICS_MAX];
        json_t *image = NULL, *host = NULL, *existing, *macs = NULL, *vm = NULL, *disks, *nics;
        json_t *pgs = json_array();
        char id[37], now[32];
        size_t idx;
        int64_t uid;
        int r = -1;

        if (q->image) {
                image = dv_mgr_get(m, DV_KIND_IMAGE, q->image);
                if (!image) {
                        dv_api_error(a, 404, "unknown-image", "image '%s' not found", q->image);
                        goto out;
                }
        } else {
                image = dv_mgr_get(m, DV_KIND_IMAGE, "default"); /* may be NULL */
        }
        for (size_t i = 0; i < q->n_nics; i++) {
                const struct dv_nic_req *n = &q->nics[i];
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, n->portgroup);
                const char *dvs;
                bool seen = false;

                if (!pg) {
                        dv_api_error(a, 404, "unknown-portgroup",
                                     "nics[%zu]: portgroup '%s' not found", i, n->portgroup);
                        goto out;
                }
                json_array_append_new(pgs, pg);
                if (dv_nic_fit_portgroup(n->ip, n->prefix, n->gateway, pg, &gateways[i], &err) <
                    0) {
                        dv_api_error(a, err.status, err.code, "nics[%zu]: %s", i, err.message);
                        goto out;
                }
                dvs = dv_doc_str(pg, "dvs");
                for (size_t j = 0; j < sreq.n_dvs; j++)
                        seen = seen || dv_streq(dvs_names[j], dvs);
                if (!seen && dvs)
                        dvs_names[sreq.n_dvs++] = dvs;
        }
        sreq.dvs = dvs_names;
        if (q->host) {
                host = dv_mgr_get(m, DV_KIND_HOST, q->host);
                if (!host) {
                        dv_api_error(a, 404, "unknown-host", "host '%s' not found", q->host);
                        goto out;
                }
                sreq.host_id = dv_doc_str(host, "id");
        }
        r = dv_sched_snapshot_take(m, &snap);
        if (r < 0) {
                dv_api_internal(a, r, "reading hosts");
                goto out;
        }
        for (size_t i = 0; i < q->n_disks; i++) {
                bool found = false;
                json_t *h;
                size_t j;

                if (!q->disks[i].datastore) {
                        sreq.need_local = true;
                        continue;
                }
                json_array_foreach(snap.hosts, j, h)
                        if (host_has_datastore(h, q->disks[i].datastore))
                                found = true;
                if (!found) {
                        dv_api_error(a, 404, "unknown-datastore",
                                     "disks[%zu]: datastore '%s' not found", i,
                                     q->disks[i].datastore);
                        r = -1;
                        goto out;
                }
                ds_names[sreq.n_datastores++] = q->disks[i].datastore;
        }
        sreq.datastores = ds_names;
        existing = dv_mgr_get(m, DV_KIND_VM, q->name);
        if (existing) {
                json_decref(existing);
                dv_api_error(a, 409, "name-taken", "vm '%s' already exists", q->name);
                r = -1;
                goto out;
        }
        /* Every VM's MACs: only when there are NICs (an O(VMs) read). */
        macs = q->n_nics > 0 ? macs_in_use(m) : json_object();
        for (size_t i = 0; i < q->n_nics; i++)
                if (q->nics[i].mac && json_object_get(macs, q->nics[i].mac)) {
                        dv_api_error(a, 409, "mac-taken", "nics[%zu]: mac %s is used by vm '%s'",
                                     i, q->nics[i].mac,
                                     json_string_value(json_object_get(macs, q->nics[i].mac)));
                        r = -1;
                        goto out;
                }
        r = dv_sched_place(snap.sh, json_array_size(snap.hosts), &sreq, &idx, &err);
        if (ret_explain)
                *ret_explain = explain_placement(m, &snap, &sreq, r < 0 ? SIZE_MAX : idx);
        if (r < 0) {
                fail(a, &err);
                goto out;
        }
        json_decref(host);
        host = json_incref(json_array_get(snap.hosts, idx));
        /* CPU QoS on that host: its contradictions (a limit in percent
         * depends on the host's MHz) and affinity-aware admission. */
        r = dv_vm_qos_admit(m, host, NULL, q->name, q->cpus, &q->cpu_qos, &err);
        if (r < 0) {
                fail(a, &err);
                goto out;
        }

        r = next_uid(m, &uid);
        if (r < 0) {
                dv_api_internal(a, r, "assigning a uid");
                goto out;
        }
        disks = json_array();
        for (size_t i = 0; i < q->n_disks; i++) {
                _cleanup_(freep) char *name = dv_asprintf("disk%zu", i);
                _cleanup_(freep) char *local = dv_asprintf("%s-local", dv_doc_str(host, "name"));
                json_array_append_new(
                        disks, json_pack("{s:s,s:I,s:s,s:n,s:s,s:I,s:I}", "name", name, "size_gib",
                                         (json_int_t)q->disks[i].size_gib, "datastore",
                                         q->disks[i].datastore ? q->disks[i].datastore : local,
                                         "path", "format", "qcow2", "iops_max",
                                         (json_int_t)q->disks[i].qos.iops_max, "bps_max",
                                         (json_int_t)q->disks[i].qos.bps_max));
        }
        /* A disk image boots from the VM's first disk: that disk is made as
         * an independent copy of the image (grown to the size asked for),
         * and a VM asked for no disk gets one the size of the image. */
        if (dv_streq(dv_doc_str(image, "kind"), "disk") && dv_doc_str(image, "path")) {
                json_t *d0;

                if (json_array_size(disks) == 0) {
                        _cleanup_(freep) char *local =
                                dv_asprintf("%s-local", dv_doc_str(host, "name"));
                        json_array_append_new(disks, json_pack("{s:s,s:I,s:s,s:n,s:s}", "name",
                                                               "disk0", "size_gib", (json_int_t)1,
                                                               "datastore", local, "path",
                                                               "format", "qcow2"));
                }
                d0 = json_array_get(disks, 0);
                json_object_set_new(d0, "source_image", json_string(dv_doc_str(image, "name")));
                json_object_set_new(d0, "_source", json_string(dv_doc_str(image, "path")));
                json_object_set_new(d0, "_source_format",
                                    json_string(dv_doc_str(image, "format") ? dv_doc_str(image, "format")
                                                                            : "qcow2"));
        }
        nics = json_array();
        for (size_t i = 0; i < q->n_nics; i++) {
                const struct dv_nic_req *n = &q->nics[i];
                _cleanup_(freep) char *name = dv_asprintf("nic%zu", i);
                char mac[18];

                if (n->mac)
                        snprintf(mac, sizeof(mac), "%s", n->mac);
                else if ((r = new_mac(macs, mac)) < 0)
                        break;
                json_object_set_new(macs, mac, json_string(q->name));
                json_array_append_new(
                        nics, json_pack("{s:s,s:s,s:s,s:s?,s:o,s:s?}", "name", name, "portgroup",
                                        dv_doc_str(json_array_get(pgs, i), "name"), "mac", mac,
                                        "ip", n->ip, "prefix",
                                        n->ip ? json_integer(n->prefix) : json_null(), "gateway",
                                        gateways[i]));
        }
        if (r < 0) {
                json_decref(disks);
                json_decref(nics);
                dv_api_internal(a, r, "assigning a mac");
                goto out;
        }
        if (dv_uuid_new(id) < 0)
                abort();
        dv_mgr_now(now);
        vm = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s?,s:s?,s:I,s:o,s:o,s:b,"
                       "s:{s:s,s:n},s:n,s:n,s:n,s:s,s:n,s:b}",
                       "id", id, "name", q->name, "state", "stopped", "host",
                       dv_doc_str(host, "name"), "host_id", dv_doc_str(host, "id"), "cpus",
                       (json_int_t)q->cpus, "max_cpus", (json_int_t)q->max_cpus, "memory_mib",
                       (json_int_t)q->memory_mib, "image", dv_doc_str(image, "name"), "image_id",
                       dv_doc_str(image, "id"), "uid", (json_int_t)uid, "disks", disks, "nics",
                       nics, "ha", q->ha, "tools", "state", "not-installed", "version",
                       "console_log", "vnc", "pid", "created_at", now, "state_reason",
                       "_creating", true);
        if (vm && q->kernel_args)
                json_object_set_new(vm, "kernel_args", json_string(q->kernel_args));
        if (vm)
                json_object_set_new(vm, "cpu_qos", dv_cpu_qos_to_json(&q->cpu_qos));
        if (vm)
                json_object_set_new(vm, "mem_qos", dv_mem_qos_to_json(&q->mem_qos, q->memory_mib));
        r = 0;
        *ret_vm = vm;
out:
        dv_sched_snapshot_done(&snap);
        json_decref(pgs);
        json_decref(macs);
        json_decref(image);
        json_decref(host);
        return r;
}

/* Write the task (and the VM changes) in one transaction and submit it.
 * insert_vm: the VM is new. Replies 202 on success. m->lock held. */
static int write_and_submit(struct dv_api *a, json_t *vm, bool insert_vm, json_t *task,
                            dv_task_fn fn, struct dv_vm_op *op, bool with_vm_in_reply)
{
        struct dv_mgr *m = a->m;
        int r;

        json_object_set(vm, "_task", json_object_get(task, "id"));
        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, insert_vm);
        if (r < 0) {
                free(op);
                if (r == -EEXIST)
                        dv_api_error(a, 409, "name-taken", "vm '%s' already exists",
                                     dv_doc_str(vm, "name"));
                else
                        dv_api_internal(a, r, "writing the task");
                return r;
        }
        r = dv_tasks_submit(m->tasks, task, fn, op, free);
        if (r < 0) {
                /* Left queued in the store: the next start fails it and reconciles. */
                dv_api_error(a, 503, "shutting-down", "the manager is shutting down");
                return r;
        }
        if (with_vm_in_reply)
                dv_api_reply(a, 202, json_pack("{s:o,s:o}", "task", dv_view(task), "vm",
                                               dv_view(vm)));
        else
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
        return 0;
}

static void vm_create(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_vm_req q;
        struct dv_error err = { 0 };
        json_t *body = NULL, *vm = NULL, *task = NULL, *explain = NULL;
        struct timespec t0, t1;
        bool want_explain = false;

        if (dv_validate_bool_arg("explain", dv_http_query(a->req, "explain"), &want_explain,
                                 &err) < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_vm_create(body, &q, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        dv_mgr_lock(m);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!dv_tasks_can_accept(m->tasks))
                dv_api_error(a, 503, "busy", "too many tasks are pending; try again later");
        else if (build_vm(a, &q, &vm, want_explain ? &explain : NULL) >= 0) {
                /* Placement (checks, scheduler snapshot, choice), timed for
                 * bench/scale: the reply's "placement_us". */
                clock_gettime(CLOCK_MONOTONIC, &t1);
                task = dv_task_doc_new("vm.create", "vm", dv_doc_str(vm, "id"), q.name, a->user);
                if (write_and_submit(a, vm, true, task, dv_vm_task_create,
                                     dv_vm_op_new(m, dv_doc_str(vm, "id"), a->user), true) >= 0 &&
                    json_is_object(a->resp->json))
                        json_object_set_new(a->resp->json, "placement_us",
                                            json_integer((t1.tv_sec - t0.tv_sec) * 1000000 +
                                                         (t1.tv_nsec - t0.tv_nsec) / 1000));
                if (json_is_object(a->resp->json) && a->resp->status == 202)
                        dv_mgr_event(m, a->user, "vm.create", "vm", vm,
                                     "vm '%s' (%lld CPUs, %lld MiB, %zu disks) placed on host '%s'",
                                     q.name, (long long)q.cpus, (long long)q.memory_mib,
                                     q.n_disks, dv_doc_str(vm, "host"));
        }
        dv_mgr_unlock(m);
        /* The explanation rides on the answer: beside the task, or inside
         * the error when the VM was refused. */
        if (explain && json_is_object(a->resp->json)) {
                json_t *e = json_object_get(a->resp->json, "error");

                json_object_set(json_is_object(e) ? e : a->resp->json, "placement", explain);
        }
        json_decref(explain);
        json_decref(task);
        json_decref(vm);
        json_decref(body);
}

static bool state_in(json_t *vm, const char *const *states)
{
        for (; *states; states++)
                if (dv_streq(dv_doc_str(vm, "state"), *states))
                        return true;
        return false;
}

/* Common checks of an action on an existing VM (m->lock held). */
static int check_vm_action(struct dv_api *a, json_t *vm, const char *verb,
                           const char *const *allowed, bool need_host)
{
        const char *name = dv_doc_str(vm, "name");
        json_t *host;
        bool ok;

        if (json_object_get(vm, "_creating")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is still being created", name);
                return -1;
        }
        if (json_object_get(vm, "_cleanup")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is being deleted", name);
                return -1;
        }
        if (dv_tasks_active(a->m->tasks, dv_doc_str(vm, "_task"))) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is busy with task %s", name,
                             dv_doc_str(vm, "_task"));
                return -1;
        }
        if (!state_in(vm, allowed)) {
                dv_api_error(a, 409, "invalid-state", "cannot %s vm '%s': it is %s", verb, name,
                             dv_doc_str(vm, "state"));
                return -1;
        }
        if (!dv_tasks_can_accept(a->m->tasks)) {
                dv_api_error(a, 503, "busy", "too many tasks are pending; try again later");
                return -1;
        }
        if (!need_host)
                return 0;
        host = dv_mgr_get(a->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        ok = host && dv_streq(dv_doc_str(host, "state"), "connected");
        if (!ok && host && dv_streq(dv_doc_str(host, "state"), "maintenance")) {
                /* The agent is there; only new work is kept off the host. */
                if (strcmp(verb, "start") != 0) {
                        json_decref(host);
                        return 0;
                }
                dv_api_error(a, 409, "invalid-state",
                             "host '%s' of vm '%s' is in maintenance mode: migrate the vm or "
                             "take the host out of maintenance", dv_doc_str(vm, "host"), name);
                json_decref(host);
                return -1;
        }
        if (!ok)
                dv_api_error(a, 503, "agent-unreachable", "host '%s' of vm '%s' is not connected",
                             dv_doc_str(vm, "host"), name);
        json_decref(host);
        return ok ? 0 : -1;
}

enum action { ACT_START, ACT_STOP, ACT_REBOOT, ACT_DELETE };

static void vm_action(struct dv_api *a, json_t *vm, enum action act)
{
        static const char *const start_ok[] = { "stopped", "crashed", NULL };
        static const char *const stop_ok[] = { "running", "paused", "crashed", NULL };
        static const char *const reboot_ok[] = { "running", NULL };
        static const char *const delete_ok[] = { "stopped", "crashed", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        struct dv_stop_req sq = { 0 };
        bool keep = false, has_disks = false;
        json_t *body = NULL, *task = NULL, *cur, *disk;
        struct dv_vm_op *op;
        const char *opname, *verb;
        dv_task_fn fn;
        size_t i;
        int r = 0;

        if (act == ACT_DELETE) {
                r = dv_validate_bool_arg("keep_disks", dv_http_query(a->req, "keep_disks"),
                                         &keep, &err);
        } else {
                if (dv_api_body(a, &body) < 0)
                        return;
                r = act == ACT_STOP ? dv_validate_vm_stop(body, &sq, &err)
                                    : dv_validate_empty(body, &err);
        }
        json_decref(body);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        dv_mgr_lock(m);
        /* Re-read under the lock: the state may have changed. */
        cur = dv_mgr_get(m, DV_KIND_VM, dv_doc_str(vm, "id"));
        if (!cur) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "vm", dv_doc_str(vm, "name"));
                return;
        }
        vm = cur; /* our reference from here on */
        json_array_foreach(json_object_get(vm, "disks"), i, disk)
                if (dv_doc_str(disk, "path"))
                        has_disks = true;
        switch (act) {
        case ACT_START:
                opname = "vm.start", verb = "start", fn = dv_vm_task_start;
                r = check_vm_action(a, vm, verb, start_ok, true);
                if (r >= 0 && (r = dv_ha_admit(m, vm, &err)) < 0)
                        dv_api_dv_error(a, &err);
                /* Its CPU reservation still fits where it is (the host may
                 * have come back with fewer CPUs). */
                if (r >= 0 && dv_vm_qos_recheck(m, vm, &err) < 0) {
                        dv_api_dv_error(a, &err);
                        r = -1;
                }
                break;
        case ACT_STOP:
                opname = "vm.stop", verb = "stop", fn = dv_vm_task_stop;
                r = check_vm_action(a, vm, verb, stop_ok, true);
                break;
        case ACT_REBOOT:
                opname = "vm.reboot", verb = "reboot", fn = dv_vm_task_reboot;
                r = check_vm_action(a, vm, verb, reboot_ok, true);
                break;
        default:
                opname = "vm.delete", verb = "delete", fn = dv_vm_task_delete;
                r = check_vm_action(a, vm, verb, delete_ok, has_disks && !keep);
                break;
        }
        if (r < 0)
                goto out;
        task = dv_task_doc_new(opname, "vm", dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                               a->user);
        op = dv_vm_op_new(m, dv_doc_str(vm, "id"), a->user);
        op->force = sq.force;
        op->timeout_s = sq.timeout_s;
        if (act == ACT_START || act == ACT_STOP) {
                json_object_set(vm, "_prev_state", json_object_get(vm, "state"));
                json_object_set_new(vm, "state",
                                    json_string(act == ACT_START ? "starting" : "stopping"));
                json_object_set_new(vm, "state_reason", json_null());
        } else if (act == ACT_DELETE) {
                json_object_set_new(vm, "_cleanup", json_string("delete"));
                json_object_set_new(vm, "_keep_disks", json_boolean(keep));
        }
        if (write_and_submit(a, vm, false, task, fn, op, false) >= 0)
                dv_mgr_event(m, a->user, opname, "vm", vm, "%s vm '%s'%s", verb,
                             dv_doc_str(vm, "name"),
                             act == ACT_STOP && sq.force ? " (forced)"
                             : act == ACT_DELETE && keep ? " (keeping disks)"
                                                         : "");
out:
        dv_mgr_unlock(m);
        json_decref(task);
        json_decref(vm);
}

static void vm_console(struct dv_api *a, json_t *vm)
{
        struct dv_error err = { 0 };
        json_t *body = NULL, *host = NULL, *reply = NULL, *req;
        _cleanup_(freep) char *path = NULL;
        char exp[32], wexp[32], wst[65];
        int64_t ws_exp;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_validate_empty(body, &err);
        json_decref(body);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        if (!dv_streq(dv_doc_str(vm, "state"), "running") &&
            !dv_streq(dv_doc_str(vm, "state"), "paused")) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' is %s", dv_doc_str(vm, "name"),
                             dv_doc_str(vm, "state"));
                return;
        }
        host = dv_mgr_get(a->m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (!host) {
                dv_api_error(a, 503, "agent-unreachable", "the host of vm '%s' is unknown",
                             dv_doc_str(vm, "name"));
                return;
        }
        path = dv_asprintf("/agent/v1/vms/%s/console", dv_doc_str(vm, "id"));
        req = json_pack("{s:i}", "ttl_s", 60);
        r = dv_agent_call(host, "POST", path, req, 10000, &reply, &err);
        json_decref(req);
        if (r < 0) {
                dv_api_dv_error(a, &err);
        } else if (!a->m->auth ||
                   dv_auth_ticket_new(a->m->auth, dv_doc_str(vm, "id"), a->user, wst, &ws_exp) < 0) {
                dv_api_error(a, 500, "internal", "no console ticket could be made");
        } else {
                _cleanup_(freep) char *ws = dv_asprintf("/api/v1/vms/%s/console/ws?ticket=%s",
                                                        dv_doc_str(vm, "id"), wst);
                dv_iso_time(dv_wall_ms() + 60000, exp, sizeof(exp));
                dv_iso_time(ws_exp, wexp, sizeof(wexp));
                dv_api_reply(a, 200, json_pack("{s:O?,s:O?,s:s,s:s,s:s,s:s}", "vnc",
                                               json_object_get(reply, "vnc"), "ticket",
                                               json_object_get(reply, "ticket"), "expires_at",
                                               exp, "ws", ws, "ws_ticket", wst,
                                               "ws_expires_at", wexp));
                dv_mgr_event(a->m, a->user, "vm.console", "vm", vm,
                             "console ticket for vm '%s'", dv_doc_str(vm, "name"));
        }
        json_decref(reply);
        json_decref(host);
}

#define VM_LIST_MAX 100000

/* GET /vms[?limit=N[&after=NAME]]: by name; with a limit, "next" is the
 * name to ask after for the next page (null on the last one). */
static void vm_list(struct dv_api *a)
{
        struct dv_store_filter f = { .after = dv_http_query(a->req, "after") };
        struct dv_error err = { 0 };
        const char *limit_arg = dv_http_query(a->req, "limit");
        json_t *list = NULL, *vm, *reply;
        size_t i;
        int r;

        if (limit_arg && dv_validate_limit(limit_arg, 0, VM_LIST_MAX, &f.limit, &err) < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        if (f.after && !limit_arg) {
                dv_api_error(a, 400, "invalid-field", "'after' goes with 'limit'");
                return;
        }
        r = dv_store_list(a->m->store, DV_KIND_VM, &f, &list);
        if (r < 0) {
                dv_api_internal(a, r, "listing vms");
                return;
        }
        /* Each document replaced by its view as it goes: never both
         * whole lists at once (hundreds of MiB at 50,000 VMs). */
        json_array_foreach(list, i, vm)
                json_array_set_new(list, i, dv_view(vm));
        reply = json_pack("{s:o}", "vms", list);
        if (limit_arg)
                json_object_set_new(
                        reply, "next",
                        json_array_size(list) == (size_t)f.limit
                                ? json_incref(json_object_get(json_array_get(list, f.limit - 1),
                                                              "name"))
                                : json_null());
        dv_api_reply(a, 200, reply);
}

void dv_api_vms(struct dv_api *a)
{
        json_t *vm;
        const char *sub;

        if (a->nseg == 1) {
                if (dv_api_is(a, "GET"))
                        vm_list(a);
                else if (dv_api_is(a, "POST"))
                        vm_create(a);
                else
                        dv_api_bad_method(a);
                return;
        }
        if (a->nseg > 3) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        sub = a->nseg == 3 ? a->segs[2] : NULL;
        if (sub && dv_api_vm_tools_match(sub)) {
                dv_api_vm_tools(a, sub); /* api-vm-tools.c */
                return;
        }
        if (sub && strcmp(sub, "start") && strcmp(sub, "stop") && strcmp(sub, "reboot") &&
            strcmp(sub, "console") && strcmp(sub, "migrate") && strcmp(sub, "metrics")) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (sub && strcmp(sub, "metrics") == 0) {
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                vm = dv_mgr_get(a->m, DV_KIND_VM, a->segs[1]);
                if (!vm) {
                        dv_api_not_found(a, "vm", a->segs[1]);
                        return;
                }
                dv_api_reply(a, 200, dv_view_metrics(a->m, "vm", vm));
                json_decref(vm);
                return;
        }
        if (sub ? !dv_api_is(a, "POST")
                : !(dv_api_is(a, "GET") || dv_api_is(a, "DELETE") || dv_api_is(a, "PATCH"))) {
                dv_api_bad_method(a);
                return;
        }
        vm = dv_mgr_get(a->m, DV_KIND_VM, a->segs[1]);
        if (!vm) {
                dv_api_not_found(a, "vm", a->segs[1]);
                return;
        }
        if (!sub && dv_api_is(a, "GET"))
                dv_api_reply(a, 200, dv_view_vm(a->m, vm));
        else if (!sub && dv_api_is(a, "PATCH"))
                dv_api_vm_patch(a, vm); /* HA settings: api-vm-ha.c */
        else if (!sub)
                vm_action(a, vm, ACT_DELETE);
        else if (strcmp(sub, "start") == 0)
                vm_action(a, vm, ACT_START);
        else if (strcmp(sub, "stop") == 0)
                vm_action(a, vm, ACT_STOP);
        else if (strcmp(sub, "reboot") == 0)
                vm_action(a, vm, ACT_REBOOT);
        else if (strcmp(sub, "migrate") == 0)
                dv_api_vm_migrate(a, vm); /* migrate.c */
        else
                vm_console(a, vm);
        json_decref(vm);
}
