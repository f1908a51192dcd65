/* POST /api/v1/agent/register and /api/v1/agent/heartbeat: hosts joining,
 * and what they report about their VMs (reconciled against the records). */
#include <string.h>

#include "mstats.h"
#include "api.h"
#include "dvs.h"
#include "ha-env.h"
#include "log.h"
#include "reconcile.h"
#include "validate.h"
#include "view.h"
#include "vm-tools.h"
#include "vm-qos.h"

static json_t *datastores_json(const struct dv_register_req *q)
{
        json_t *arr = json_array();

        for (size_t i = 0; i < q->n_datastores; i++) {
                const struct dv_datastore_info *d = &q->datastores[i];
                json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I}", "name", d->name, "path",
                                                     d->path, "capacity_gib",
                                                     (json_int_t)d->capacity_gib, "free_gib",
                                                     (json_int_t)d->free_gib));
        }
        return arr;
}

static void do_register(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_register_req q;
        struct dv_error err = { 0 };
        json_t *body = NULL, *host = NULL, *reply;
        char cred[65], now[32], id[37];
        const char *prev_state = NULL;
        bool is_new;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_register(body, &q, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, q.name);
        if (host && !dv_streq(dv_doc_str(host, "name"), q.name)) {
                json_decref(host); /* matched an id, not the name */
                host = NULL;
        }
        if (a->agent_host && (!host || !dv_streq(dv_doc_str(host, "id"),
                                                 dv_doc_str(a->agent_host, "id")))) {
                dv_mgr_unlock(m);
                dv_api_error(a, 403, "forbidden", "this credential belongs to host '%s', not '%s'",
                             dv_doc_str(a->agent_host, "name"), q.name);
                goto out;
        }
        if (a->agent_host)
                snprintf(cred, sizeof(cred), "%s", a->req->token);
        else if ((r = dv_random_hex(cred, 32)) < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "making a credential");
                goto out;
        }
        is_new = !host;
        if (is_new) {
                dv_mgr_now(now);
                if (dv_uuid_new(id) < 0)
                        abort();
                host = json_pack("{s:s,s:s}", "id", id, "registered_at", now);
        }
        prev_state = dv_doc_str(host, "state");
        if (prev_state)
                prev_state = strdupa(prev_state);
        dv_mgr_now(now);
        json_object_set_new(host, "name", json_string(q.name));
        json_object_set_new(host, "state", json_string("connected"));
        json_object_set_new(host, "url", json_string(q.url));
        json_object_set_new(host, "hostname", json_string(q.hostname));
        json_object_set_new(host, "cluster", json_null());
        json_object_set_new(host, "cpus", json_integer(q.cpus));
        json_object_set_new(host, "cpu_model", json_string(q.cpu_model));
        if (q.cpu_mhz > 0)
                json_object_set_new(host, "cpu_mhz", json_integer(q.cpu_mhz));
        json_object_set_new(host, "cpu_flags",
                            q.cpu_flags ? json_deep_copy(q.cpu_flags) : json_array());
        json_object_set_new(host, "accel", json_string(q.accel));
        json_object_set_new(host, "memory_mib", json_integer(q.memory_mib));
        json_object_set_new(host, "version", json_string(q.version));
        json_object_set_new(host, "uplink", q.uplink ? json_string(q.uplink) : json_null());
        json_object_set_new(host, "migration_address",
                            q.migration_address ? json_string(q.migration_address) : json_null());
        json_object_set_new(host, "datastores", datastores_json(&q));
        json_object_set_new(host, "last_heartbeat", json_string(now));
        json_object_set_new(host, "_credential", json_string(cred));
        r = is_new ? dv_store_insert(m->store, DV_KIND_HOST, host)
                   : dv_store_update(m->store, DV_KIND_HOST, host);
        if (r < 0) {
                dv_mgr_unlock(m);
                if (r == -EEXIST)
                        dv_api_error(a, 409, "name-taken", "host '%s' already exists", q.name);
                else
                        dv_api_internal(a, r, "writing the host");
                goto out;
        }
        dv_mgr_host_seen(m, dv_doc_str(host, "id"), NULL);
        if (is_new)
                dv_mgr_event(m, a->user, "host.registered", "host", host,
                             "host '%s' registered from %s", q.name, q.url);
        else
                dv_mgr_event(m, a->user, "host.registered", "host", host,
                             "host '%s' registered again from %s (was %s)%s", q.name, q.url,
                             prev_state ? prev_state : "?",
                             a->agent_host ? "" : "; it has a new credential");
        dv_mgr_unlock(m);
        /* The agent may have restarted: push its DVS bridges again. */
        dv_netsync_kick(m, dv_doc_str(host, "id"));
        reply = json_pack("{s:o,s:s}", "host", dv_view_host(m, host), "credential", cred);
        dv_api_reply(a, 200, reply);
out:
        json_decref(host);
        json_decref(body);
}

static const char *event_kind(const char *state)
{
        if (dv_streq(state, "running"))
                return "vm.running";
        if (dv_streq(state, "paused"))
                return "vm.paused";
        if (dv_streq(state, "crashed"))
                return "vm.crashed";
        return "vm.stopped";
}

/* Apply one reconcile decision to a VM record (m->lock held). */
static void apply(struct dv_api *a, json_t *vm, const struct dv_reconcile *d)
{
        const char *old = dv_doc_str(vm, "state");
        _cleanup_(freep) char *was = dv_strdup(old ? old : "?");
        int r;

        json_object_set_new(vm, "state", json_string(d->state));
        json_object_set_new(vm, "state_reason", json_string(d->reason));
        if (dv_streq(d->state, "stopped")) {
                json_object_set_new(vm, "pid", json_null());
                json_object_set_new(vm, "vnc", json_null());
        }
        r = dv_store_update(a->m->store, DV_KIND_VM, vm);
        if (r < 0) {
                dv_warn_errno(r, "vm %s: cannot record state %s: %m", dv_doc_str(vm, "name"),
                              d->state);
                return;
        }
        dv_mgr_event(a->m, a->user, event_kind(d->state), "vm",
                     vm, "vm '%s' is %s (was %s): %s", dv_doc_str(vm, "name"), d->state, was,
                     d->reason);
}

/* Copy runtime fields the host reports (pid, console, vnc) into a running VM's record. */
static void refresh_runtime(struct dv_api *a, json_t *vm, json_t *st)
{
        static const char *const keys[] = { "pid", "console_log", "vnc" };
        bool changed = false;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *v = json_object_get(st, keys[i]);
                if (v && !json_equal(v, json_object_get(vm, keys[i]))) {
                        json_object_set(vm, keys[i], v);
                        changed = true;
                }
        }
        if (changed && dv_store_update(a->m->store, DV_KIND_VM, vm) < 0)
                dv_warn("vm %s: cannot record its runtime fields", dv_doc_str(vm, "name"));
}

/* A task works on it, or a migration is not resolved yet (recovery
 * decides where it runs, not the heartbeats). */
static bool vm_busy(struct dv_mgr *m, json_t *vm)
{
        return dv_tasks_active(m->tasks, dv_doc_str(vm, "_task")) ||
               json_object_get(vm, "migration");
}

static void reconcile_vms(struct dv_api *a, json_t *host, json_t *reported, json_t *stop)
{
        struct dv_mgr *m = a->m;
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        json_t *records = NULL, *seen = json_object(), *st, *vm;
        struct dv_reconcile d;
        size_t i;

        if (dv_store_list(m->store, DV_KIND_VM, &f, &records) < 0) {
                dv_warn("host %s: cannot list its vms", dv_doc_str(host, "name"));
                json_decref(seen);
                return;
        }
        json_array_foreach(reported, i, st) {
                const char *id = dv_doc_str(st, "id"), *state = dv_doc_str(st, "state");
                json_t *rec = NULL, *r2;
                size_t j;

                json_array_foreach(records, j, r2)
                        if (dv_streq(dv_doc_str(r2, "id"), id))
                                rec = r2;
                if (!rec) {
                        /* Unknown here: placed elsewhere, or not at all. */
                        json_t *other = dv_mgr_get(m, DV_KIND_VM, id);
                        const char *reason = other ? "placed-on-other-host" : "unknown-vm";
                        if (other && !dv_streq(dv_doc_str(other, "id"), id)) {
                                json_decref(other);
                                other = NULL;
                                reason = "unknown-vm";
                        }
                        /* The target of a live migration runs it before the
                         * record moves there: never stop either copy. */
                        if (other && dv_streq(dv_doc_str(json_object_get(other, "migration"),
                                                         "target_id"),
                                              dv_doc_str(host, "id"))) {
                                json_decref(other);
                                continue;
                        }
                        if (!dv_streq(state, "stopped")) {
                                json_array_append_new(stop, json_pack("{s:s,s:s}", "id", id,
                                                                      "reason", reason));
                                dv_warn("host %s runs vm %s (%s): asking it to stop it",
                                        dv_doc_str(host, "name"), id, reason);
                        }
                        json_decref(other);
                        continue;
                }
                json_object_set_new(seen, id, json_true());
                dv_reconcile_vm(dv_doc_str(rec, "state"), vm_busy(m, rec), state,
                                dv_doc_str(st, "reason"), &d);
                if (d.change)
                        apply(a, rec, &d);
                else if (!vm_busy(m, rec) &&
                         (dv_streq(state, "running") || dv_streq(state, "paused")))
                        refresh_runtime(a, rec, st);
        }
        json_array_foreach(records, i, vm) {
                if (json_object_get(seen, dv_doc_str(vm, "id")))
                        continue;
                dv_reconcile_vm(dv_doc_str(vm, "state"), vm_busy(m, vm), NULL, NULL, &d);
                if (d.change)
                        apply(a, vm, &d);
        }
        json_decref(records);
        json_decref(seen);
}

/* The disk and network counters of an "io" object (validated). */
static void io_counters(json_t *io, struct dv_io_counters *disk, struct dv_io_counters *net)
{
        static const char *const dk[4] = { "read_bytes", "write_bytes", "read_ops", "write_ops" };
        static const char *const nk[4] = { "rx_bytes", "tx_bytes", "rx_packets", "tx_packets" };

        disk->valid = net->valid = false;
        if (dv_io_counters_parse(json_object_get(io, "disk"), dk, disk) < 0)
                disk->valid = false;
        if (dv_io_counters_parse(json_object_get(io, "net"), nk, net) < 0)
                net->valid = false;
}

/* Load metrics (mstats.h): each running VM's cpu_pct and rss_mib, and
 * their sums for the host (the CPU sum over the host's CPUs); the disk
 * and network counters of each VM and of the host, made rates. */
static void record_metrics(struct dv_mgr *m, json_t *host, json_t *reported, json_t *host_io)
{
        struct dv_io_counters disk, net;

        int64_t now = dv_wall_ms(), cpus = dv_doc_int(host, "cpus", 1);
        double cpu = 0, mem = 0;
        json_t *st;
        size_t i;

        json_array_foreach(reported, i, st) {
                const char *state = dv_doc_str(st, "state");
                double c = json_number_value(json_object_get(st, "cpu_pct"));
                double r = json_number_value(json_object_get(st, "rss_mib"));

                if (!dv_streq(state, "running") && !dv_streq(state, "paused"))
                        continue;
                c = c > 0 ? c : 0;
                r = r > 0 ? r : 0;
                io_counters(json_object_get(st, "io"), &disk, &net);
                dv_mstats_add_io(m->mstats, "vm", dv_doc_str(st, "id"), now, c, r, &disk, &net);
                cpu += c;
                mem += r;
        }
        io_counters(host_io, &disk, &net);
        dv_mstats_add_io(m->mstats, "host", dv_doc_str(host, "id"), now,
                         cpu / (double)(cpus > 0 ? cpus : 1), mem, &disk, &net);
}

static void do_heartbeat(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *body = NULL, *host, *stop, *ha = NULL;
        const char *state;

        if (!a->agent_host) {
                dv_api_error(a, 403, "forbidden", "a heartbeat needs a host's credential");
                return;
        }
        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_heartbeat(body, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        stop = json_array();
        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(a->agent_host, "id"));
        if (host) {
                dv_mgr_host_seen(m, dv_doc_str(host, "id"), json_object_get(body, "metrics"));
                /* The VMs' memory (rss, balloon, swap) for the balloon
                 * controller (overcommit.c). */
                json_object_set(json_object_get(m->host_rt, dv_doc_str(host, "id")), "vms",
                                json_object_get(body, "vms"));
                state = dv_doc_str(host, "state");
                /* unreachable, or failed / isolated as HA saw it: back. */
                if (dv_streq(state, "unreachable") || dv_streq(state, "failed") ||
                    dv_streq(state, "isolated")) {
                        char now[32];
                        dv_mgr_now(now);
                        json_object_set_new(host, "state", json_string("connected"));
                        json_object_set_new(host, "last_heartbeat", json_string(now));
                        if (dv_store_update(m->store, DV_KIND_HOST, host) >= 0)
                                dv_mgr_event(m, a->user, "host.connected", "host", host,
                                             "host '%s' is connected again",
                                             dv_doc_str(host, "name"));
                        dv_netsync_kick(m, dv_doc_str(host, "id"));
                }
                struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
                json_t *records = NULL;

                reconcile_vms(a, host, json_object_get(body, "vms"), stop);
                /* The host's VMs once more after reconcile's writes, shared
                 * by the rest (each read them: at 1,000 hosts and 50,000
                 * VMs, 20,000 documents parsed a second under the lock). */
                if (dv_store_list(m->store, DV_KIND_VM, &f, &records) < 0)
                        records = NULL;
                dv_vm_tools_heartbeat(m, host, json_object_get(body, "vms"), records, a->user);
                dv_ha_rt_heartbeat(m, host, json_object_get(body, "vms"), records);
                record_metrics(m, host, json_object_get(body, "vms"), json_object_get(body, "io"));
                ha = dv_ha_rt_agent_settings(m, host, records);
                json_decref(records);
        }
        dv_mgr_unlock(m);
        json_decref(host);
        json_decref(body);
        /* `overcommit`: the cluster's memory-overcommit switch; the agent
         * runs KSM while it is on (docs/qos.md). */
        dv_api_reply(a, 200, json_pack("{s:o,s:o*,s:b}", "stop", stop, "ha", ha, "overcommit",
                                       dv_mem_overcommit(m)));
}

void dv_api_agent(struct dv_api *a)
{
        if (a->nseg != 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "POST")) {
                dv_api_bad_method(a);
                return;
        }
        if (strcmp(a->segs[1], "register") == 0)
                do_register(a);
        else if (strcmp(a->segs[1], "heartbeat") == 0)
                do_heartbeat(a);
        else
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
}
