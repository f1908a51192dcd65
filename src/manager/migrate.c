/* Live migration (docs/migration.md): POST /api/v1/vms/{id}/migrate
 * {"host"?, "datastore"?, "check"?, budgets} and the vm.migrate task, for
 * the three kinds: change host (shared storage), change host + datastore
 * (the disks mirrored to the target's NBD exports, then memory) and
 * storage live migration (the disks mirrored to another datastore of the
 * same host, then a pivot).
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
#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "api.h"
#include "dvs.h"
#include "ha-env.h"
#include "json.h"
#include "log.h"
#include "precheck.h"
#include "view.h"
#include "vm-ops.h"
#include "vm-qos.h"
#include "vm-tools.h"

/* Each phase has a budget of its own (seconds; the request may change
 * them): a slow disk copy is not cut short by the memory timeout. */
#define MIGRATE_DISK_TIMEOUT_S 3600      /* the disk mirror, until in sync */
#define MIGRATE_OUT_TIMEOUT_S 600        /* the memory phase */
#define MIGRATE_FINISH_TIMEOUT_S 60      /* switchover: pivot, or the target resumes */
#define MIGRATE_MAX_TIMEOUT_S 86400
#define MIGRATE_PROBE_TIMEOUT_MS 10000
#define MIRROR_POLL_MS 500               /* mirror progress interval */
#define MIRROR_AGENT_LOST_MS 30000       /* the disk phase outlives an agent restart this long */
#define MIGRATE_MAX_DISKS 16             /* disks of a VM (the agent's bound) */
#define MIGRATE_STALL_MS 15000           /* memory phase: no byte sent this long = cut */
#define MIGRATE_MAX_CHANNELS 4           /* multifd channels at most */

struct migrate_op {
        struct dv_mgr *m;
        enum dv_migrate_kind kind;
        char vm_id[37];
        char target_id[64];              /* = the source for a storage migration */
        char datastore[DV_NAME_MAX + 1]; /* target datastore; "" for change host */
        int64_t disk_timeout_s;          /* budgets of the phases */
        int64_t memory_timeout_s;
        int64_t switchover_timeout_s;
        int64_t disk_rate_limit;         /* bytes/s of each disk's background copy; 0: none */
        int64_t memory_rate_limit;       /* bytes/s of the memory stream; 0: none */
        char user[80];
        char abort_on[64];               /* a target host left to clean up, or "" */
};

/* ---- facts ----------------------------------------------------------------- */

static const char *ds_type(const char *name)
{
        size_t n = name ? strlen(name) : 0;

        return n > 6 && strcmp(name + n - 6, "-local") == 0 ? "local" : "shared";
}

/* HOST doc + {"dvs":[NAME...], "memory_reserved_mib", "migrations"}. */
static json_t *host_facts(struct dv_mgr *m, json_t *host, json_t *vms, const char *self)
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
                /* Other migrations: the VM's own task made it "migrating". */
                if (dv_streq(dv_doc_str(vm, "state"), "migrating") &&
                    !dv_streq(dv_doc_str(vm, "id"), self) &&
                    (dv_streq(dv_doc_str(vm, "host_id"), id) ||
                     dv_streq(dv_doc_str(json_object_get(vm, "migration"), "target_id"), id)))
                        migrations++;
        json_object_set_new(h, "migrations", json_integer(migrations));
        return h;
}

/* The rate QEMU's stream reached in the last migration from host src to
 * host dst (bytes/s; 0: none yet), kept in the hosts' runtime state
 * (host_rt[src]["migration_rates"][dst]): the prediction's link rate is
 * capped by it, since QEMU's CPU (and the target's page allocation) can
 * be slower than the link. */
static int64_t learned_rate(struct dv_mgr *m, const char *src_id, const char *dst_id)
{
        int64_t r;

        dv_mgr_lock(m);
        r = dv_doc_int(json_object_get(json_object_get(m->host_rt, src_id), "migration_rates"),
                       dst_id, 0);
        dv_mgr_unlock(m);
        return r;
}

#define LEARN_MIN_BYTES (INT64_C(16) << 20)   /* smaller streams say little of the rate */

static void learn_rate(struct dv_mgr *m, const char *src_id, const char *dst_id, json_t *stats)
{
        int64_t bytes = dv_doc_int(stats, "transferred", 0);
        int64_t ms = dv_doc_int(stats, "total_ms", 0) - dv_doc_int(stats, "downtime_ms", 0);
        json_t *rt, *rates;

        if (!src_id || !dst_id || bytes < LEARN_MIN_BYTES || ms <= 0)
                return;
        dv_mgr_lock(m);
        rt = json_object_get(m->host_rt, src_id);
        if (rt) {
                rates = json_object_get(rt, "migration_rates");
                if (!rates) {
                        rates = json_object();
                        json_object_set_new(rt, "migration_rates", rates);
                }
                json_object_set_new(rates, dst_id, json_integer(bytes * 1000 / ms));
        }
        dv_mgr_unlock(m);
}

/* The migration network probe: the target opens a one-shot sink on the
 * address migrations to it arrive at (its migration_address, else its
 * agent's), the source agent connects to it; with measure (a --check of
 * a running VM, for the prediction) the source also measures the rate to
 * it, and the guest's dirty rate and resident share, which go into the
 * VM's facts v. */
static json_t *probe_network(struct dv_mgr *m, json_t *vm, json_t *v, json_t *source,
                             json_t *target, bool measure)
{
        const char *url = dv_doc_str(target, "url"), *mig = dv_doc_str(target, "migration_address");
        char addr[64] = "";
        long port = 0;
        json_t *body, *reply = NULL, *net, *x;
        struct dv_error err = { 0 };
        _cleanup_(freep) char *path = NULL;
        int64_t sink_port = 0;
        int r;

        if (mig && strlen(mig) < sizeof(addr))
                snprintf(addr, sizeof(addr), "%s", mig);
        else if (!url || sscanf(url, "http://%63[0-9.]:%ld", addr, &port) != 2)
                return json_pack("{s:b,s:b,s:s}", "probed", 0, "reachable", 0, "error",
                                 "the target's address is unknown");
        path = dv_asprintf("/agent/v1/vms/%s/migrate-sink", dv_doc_str(vm, "id"));
        body = json_pack("{s:s}", "address", addr);
        r = dv_agent_call(target, "POST", path, body, DV_AGENT_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r >= 0)
                sink_port = dv_doc_int(reply, "port", 0);
        json_decref(reply);
        reply = NULL;
        if (sink_port < 1 || sink_port > 65535)
                return json_pack("{s:b,s:b,s:s,s:s}", "probed", 0, "reachable", 0, "address", addr,
                                 "error", r < 0 ? err.message : "the target opened no sink");
        free(path);
        body = json_pack("{s:s,s:I,s:b,s:b}", "address", addr, "port", (json_int_t)sink_port,
                         "rate", measure, "measure", measure);
        path = dv_asprintf("/agent/v1/vms/%s/migrate-probe", dv_doc_str(vm, "id"));
        r = dv_agent_call(source, "POST", path, body, MIGRATE_PROBE_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r < 0) {
                net = json_pack("{s:b,s:b,s:s,s:s}", "probed", 0, "reachable", 0, "address", addr,
                                "error", err.message);
        } else {
                net = json_pack("{s:b,s:b,s:s,s:s?}", "probed", 1, "reachable",
                                json_is_true(json_object_get(reply, "reachable")), "address",
                                addr, "error", dv_doc_str(reply, "error"));
                if (json_is_integer(x = json_object_get(reply, "rate")) && json_integer_value(x) > 0) {
                        int64_t last = learned_rate(m, dv_doc_str(source, "id"),
                                                    dv_doc_str(target, "id"));

                        json_object_set(net, "rate", x);
                        if (last > 0)
                                json_object_set_new(net, "last_rate", json_integer(last));
                }
                if (json_is_integer(x = json_object_get(reply, "dirty_rate")) &&
                    json_integer_value(x) >= 0)
                        json_object_set(v, "dirty_rate", x);
                if (json_is_number(x = json_object_get(reply, "nonzero_ratio")) &&
                    json_number_value(x) > 0 && json_number_value(x) <= 1)
                        json_object_set(v, "nonzero_ratio", x);
        }
        json_decref(reply);
        return net;
}

/* The source agent's view of the VM's disks (QEMU's): virtual and
 * allocated sizes, for the capacity check and the copies' sizes. NULL when
 * the VM does not run or the agent does not answer. */
static json_t *source_disks(json_t *vm, json_t *source)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/disk-info", dv_doc_str(vm, "id"));
        struct dv_error err = { 0 };
        json_t *reply = NULL, *disks;

        if (dv_agent_call(source, "POST", path, NULL, DV_AGENT_TIMEOUT_MS, &reply, &err) < 0)
                return NULL;
        disks = json_incref(json_object_get(reply, "disks"));
        json_decref(reply);
        return disks;
}

/* The entry of disk index i in a disk-info array, or NULL. */
static json_t *disk_info_of(json_t *info, size_t i)
{
        json_t *d;
        size_t k;

        json_array_foreach(info, k, d)
                if (json_integer_value(json_object_get(d, "disk")) == (json_int_t)i)
                        return d;
        return NULL;
}

/* The datastores a host reports now (GET /agent/v1/info: free space from
 * statvfs), or the ones it registered with. New reference. */
static json_t *host_datastores(json_t *host)
{
        struct dv_error err = { 0 };
        json_t *reply = NULL, *dss;

        if (dv_agent_call(host, "GET", "/agent/v1/info", NULL, DV_AGENT_TIMEOUT_MS, &reply,
                          &err) >= 0 &&
            json_is_array(json_object_get(reply, "datastores"))) {
                dss = json_incref(json_object_get(reply, "datastores"));
                json_decref(reply);
                return dss;
        }
        json_decref(reply);
        return json_incref(json_object_get(host, "datastores"));
}

/* The facts document of docs/migration.md. state: the VM state to check
 * (the one before "migrating" when the task runs). For a storage
 * migration target is the source. */
static json_t *gather_facts(struct dv_mgr *m, enum dv_migrate_kind kind, const char *datastore,
                            json_t *vm, const char *state, json_t *source, json_t *target,
                            bool measure)
{
        json_t *doc, *v = dv_doc_public(vm), *nic, *vms = NULL, *clusters = json_array(),
                     *dss = json_array(), *cl = NULL, *ds, *seen = json_object(), *d, *info;
        json_t *ending = kind == DV_MIGRATE_DATASTORE ? source : target, *fresh;
        size_t i;

        json_object_set_new(v, "state", json_string(state));
        /* Facts are added to these: copies, not the VM's own objects. */
        json_object_set_new(v, "nics", json_deep_copy(json_object_get(vm, "nics")));
        json_object_set_new(v, "disks", json_deep_copy(json_object_get(vm, "disks")));
        /* Memory QoS (docs/qos.md): the reservation counts with overcommit. */
        {
                struct dv_mem_qos mq;

                dv_vm_mem_qos_get(vm, &mq);
                json_object_set_new(v, "memory_reservation_mib", json_integer(mq.reservation_mib));
        }
        json_array_foreach(json_object_get(v, "nics"), i, nic) {
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, dv_doc_str(nic, "portgroup"));
                json_t *dvs = pg ? dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(pg, "dvs_id")) : NULL;

                json_object_set_new(nic, "dvs", dvs ? json_string(dv_doc_str(dvs, "name"))
                                                    : json_null());
                json_decref(pg);
                json_decref(dvs);
        }
        /* Disk sizes as QEMU has them (allocated bytes: what a copy needs). */
        info = kind != DV_MIGRATE_HOST && dv_streq(state, "running") ? source_disks(vm, source)
                                                                      : NULL;
        json_array_foreach(json_object_get(v, "disks"), i, d) {
                json_t *x = disk_info_of(info, i);

                if (x) {
                        json_object_set(d, "size_bytes", json_object_get(x, "virtual_size"));
                        json_object_set(d, "allocated_bytes", json_object_get(x, "allocated"));
                }
        }
        json_decref(info);
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
        /* The host the VM ends on reports its datastores' free space now;
         * the others' come from their registration. */
        fresh = kind != DV_MIGRATE_HOST ? host_datastores(ending) : NULL;
        for (int k = 0; k < 3; k++) {
                json_t *list = k == 0 ? fresh : json_object_get(k == 1 ? source : target,
                                                                "datastores");

                json_array_foreach(list, i, ds) {
                        const char *name = dv_doc_str(ds, "name");

                        if (!name || json_object_get(seen, name))
                                continue;
                        json_object_set_new(seen, name, json_true());
                        json_array_append_new(dss, json_pack("{s:s,s:s,s:I}", "name", name, "type",
                                                             ds_type(name), "free_gib",
                                                             (json_int_t)dv_doc_int(ds, "free_gib", 0)));
                }
        }
        json_decref(seen);
        doc = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:s?}", "kind", dv_migrate_kind_to_string(kind),
                        "vm", v, "source", host_facts(m, source, vms, dv_doc_str(vm, "id")),
                        "target", host_facts(m, target, vms, dv_doc_str(vm, "id")), "clusters",
                        clusters, "datastores", dss,
                        "datastore", datastore);
        /* What the host the VM ends on reaches: its agent's answer now
         * (datastore-reachable), when it gave one. */
        if (fresh && json_is_array(fresh))
                json_object_set(json_object_get(doc, kind == DV_MIGRATE_DATASTORE ? "source"
                                                                                    : "target"),
                                "datastores", fresh);
        json_decref(fresh);
        if (kind != DV_MIGRATE_DATASTORE)
                json_object_set_new(doc, "network",
                                    probe_network(m, vm, v, source, target,
                                                  measure && dv_streq(state, "running")));
        json_object_set_new(doc, "params", json_pack("{s:I}", "max_migrations_per_host",
                                                     (json_int_t)m->cfg.max_migrations_per_host));
        json_decref(vms);
        return doc;
}

/* Run the prechecks: 0 and *ret_res (calloc'd), or a 4xx/5xx in err. */
static int run_prechecks(struct dv_mgr *m, enum dv_migrate_kind kind, const char *datastore,
                         json_t *vm, const char *state, json_t *source, json_t *target,
                         bool measure, struct dv_precheck_result **ret_res,
                         struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *doc =
                gather_facts(m, kind, datastore, vm, state, source, target, measure);
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
        json_t *disks;       /* with phase NULL: the VM's disks now (paths, datastores) */
        json_t *copies;      /* with a phase: [{"disk","path"}] the copies, for recovery */
        bool unresolved;     /* with phase NULL: keep "migration", drop _task only */
        const char *abort_on; /* with phase NULL: a target host left to abort (unreachable) */
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
                        if (json_is_object(mig) && p->copies)
                                json_object_set(mig, "copies", p->copies);
                } else if (p->unresolved) {
                        /* Recovery (cron) resolves it from what both hosts
                         * run: the record stays "migrating". */
                        json_object_del(vm, "_task");
                        if (json_is_object(mig))
                                dv_doc_set_str(mig, "unresolved", p->reason);
                } else {
                        if (p->abort_on)
                                json_object_set_new(vm, "_abort_on", json_string(p->abort_on));
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
                        if (p->disks)
                                json_object_set(vm, "disks", p->disks);
                }
                r = dv_store_update(m->store, DV_KIND_VM, vm);
                if (r < 0)
                        dv_warn_errno(r, "vm %s: cannot record migration phase: %m", vm_id);
                json_decref(vm);
        }
        dv_mgr_unlock(m);
}

/* 0: the target has no QEMU of the VM now (killed, or none); -errno: it
 * may still have one (unreachable, or it runs the VM: 409). */
static int abort_target(json_t *target, const char *vm_id)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/migrate-abort", vm_id);
        struct dv_error err = { 0 };
        int r;

        r = dv_agent_call(target, "POST", path, NULL, DV_AGENT_TIMEOUT_MS, NULL, &err);
        if (r < 0)
                dv_warn("vm %s: aborting the migration target on host %s: %s", vm_id,
                        dv_doc_str(target, "name"), err.message);
        return r;
}

/* A migration action on one host's agent: POST /agent/v1/vms/ID/ACTION. */
static int vm_action(json_t *host, const char *vm_id, const char *action, json_t *body,
                     long timeout_ms, json_t **ret_reply, struct dv_error *err)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/%s", vm_id, action);

        return dv_agent_call(host, "POST", path, body, timeout_ms, ret_reply, err);
}

/* End the VM's disk mirrors on host: "pivot", "sync" or "abort". */
static int mirror_finish(json_t *host, const char *vm_id, const char *mode, int64_t timeout_s,
                         struct dv_error *err)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/mirror-finish", vm_id);
        _cleanup_(json_decrefp) json_t *body =
                json_pack("{s:s,s:I}", "mode", mode, "timeout_s", (json_int_t)timeout_s);

        return dv_agent_call(host, "POST", path, body, (timeout_s + 30) * 1000L, NULL, err);
}

/* Delete files on a host (the copies of a failed migration, or the
 * originals after one that worked); failures are logged and counted. */
static int delete_files(json_t *host, json_t *paths, const char *vm_name)
{
        json_t *p;
        size_t i;
        int failed = 0;

        json_array_foreach(paths, i, p) {
                struct dv_error err = { 0 };
                json_t *body = json_pack("{s:O}", "path", p);

                if (dv_agent_call(host, "POST", "/agent/v1/disks/delete", body,
                                  DV_AGENT_DISK_TIMEOUT_MS, NULL, &err) < 0) {
                        dv_warn("vm %s: cannot delete %s on host %s: %s", vm_name,
                                json_string_value(p), dv_doc_str(host, "name"), err.message);
                        failed++;
                }
                json_decref(body);
        }
        return failed;
}

static void fmt_bytes(double b, char *buf, size_t len)
{
        if (b >= 1024.0 * 1024 * 1024)
                snprintf(buf, len, "%.2f GiB", b / (1024.0 * 1024 * 1024));
        else
                snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
}

struct mirror_stats {
        int64_t bytes_total;  /* the jobs' len at the end */
        int64_t ms;           /* from start to all ready */
        double rate;          /* bytes/s */
};

/* The disks phase: poll the source's mirrors until every copy is in sync
 * (BLOCK_JOB_READY), reporting bytes, rate and time left in the task.
 * -ECANCELED on a cancel request; errors name the cause in err. */
/* The host's document as the store has it now (an agent that restarted
 * may have a new address). New reference. */
static json_t *host_fresh(struct dv_mgr *m, json_t *host)
{
        json_t *h = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(host, "id"));

        return h ? h : json_incref(host);
}

static int mirror_wait_ready(struct dv_task *t, struct dv_mgr *m, json_t *host_doc,
                             const char *vm_id, int64_t budget_s, int pct0, int pct1,
                             struct mirror_stats *ret, struct dv_error *err)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/mirror-status", vm_id);
        int64_t t0 = dv_now_ms(), deadline = t0 + budget_s * 1000, prev_ms = t0, prev_done = 0;
        int64_t lost = 0; /* when the agent stopped answering, 0: it answers */
        double window_rate = 0;

        for (;;) {
                json_t *reply = NULL, *j;
                int64_t done = 0, total = 0, now;
                bool ready = true;
                size_t i, n = 0;
                double rate, left;
                char b1[32], b2[32], b3[32];
                int r;

                _cleanup_(json_decrefp) json_t *host = host_fresh(m, host_doc);

                r = dv_agent_call(host, "POST", path, NULL, DV_AGENT_TIMEOUT_MS, &reply, err);
                if (r == -EHOSTUNREACH && dv_now_ms() - (lost ? lost : (lost = dv_now_ms())) <
                                                  MIRROR_AGENT_LOST_MS) {
                        /* An agent restarting: QEMU copies on meanwhile. */
                        usleep(MIRROR_POLL_MS * 1000);
                        continue;
                }
                if (r < 0)
                        return r;
                lost = 0;
                json_array_foreach(json_object_get(reply, "jobs"), i, j) {
                        const char *st = dv_doc_str(j, "status");

                        if (dv_doc_str(j, "error") || dv_streq(st, "concluded") ||
                            dv_streq(st, "gone") || dv_streq(st, "aborting")) {
                                r = dv_error_set(err, 502, "mirror-failed",
                                                 "the copy of disk%lld failed: %s",
                                                 (long long)dv_doc_int(j, "disk", -1),
                                                 dv_doc_str(j, "error") ? dv_doc_str(j, "error")
                                                                        : st);
                                break;
                        }
                        done += dv_doc_int(j, "offset", 0);
                        total += dv_doc_int(j, "len", 0);
                        ready = ready && json_is_true(json_object_get(j, "ready"));
                        n++;
                }
                json_decref(reply);
                if (r < 0)
                        return r;
                now = dv_now_ms();
                /* The rate over the last interval (0 until there is one);
                 * the result gives the average. */
                if (now - prev_ms >= MIRROR_POLL_MS / 2) {
                        window_rate = (double)(done - prev_done) * 1000 / (double)(now - prev_ms);
                        if (window_rate < 0)
                                window_rate = 0;
                        prev_ms = now;
                        prev_done = done;
                }
                rate = window_rate;
                left = rate > 0 ? (double)(total - done) / rate : -1;
                dv_task_detail(t, json_pack("{s:s,s:I,s:I,s:f,s:f,s:I}", "phase", "disks",
                                            "bytes_done", (json_int_t)done, "bytes_total",
                                            (json_int_t)total, "rate", rate, "remaining_s",
                                            left, "elapsed_ms", (json_int_t)(now - t0)));
                fmt_bytes((double)done, b1, sizeof(b1));
                fmt_bytes((double)total, b2, sizeof(b2));
                fmt_bytes(rate, b3, sizeof(b3));
                dv_task_progress(t, pct0 + (int)((pct1 - pct0) * (total ? (double)done / total : 0)),
                                 "disks: %s of %s copied (%zu disk%s, %s/s%s)", b1, b2, n,
                                 n == 1 ? "" : "s", b3, ready ? ", in sync" : "");
                if (ready && n > 0) {
                        ret->bytes_total = total;
                        ret->ms = now - t0;
                        ret->rate = now > t0 ? (double)total * 1000 / (double)(now - t0) : 0;
                        return 0;
                }
                if (dv_task_cancel_requested(t))
                        return -ECANCELED;
                if (now >= deadline)
                        return dv_error_set(err, 504, "disk-timeout",
                                            "the disk copy was not in sync after %lld s "
                                            "(%s of %s copied)",
                                            (long long)budget_s, b1, b2);
                usleep(MIRROR_POLL_MS * 1000);
        }
}

/* Fail the task, the VM back to running where it was. */
static void fail_back(struct dv_task *t, struct migrate_op *op, const char *code,
                      const char *reason, const char *fmt, ...) _printf_(5, 6);
static void fail_back(struct dv_task *t, struct migrate_op *op, const char *code,
                      const char *reason, const char *fmt, ...)
{
        char msg[768];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        record_phase(op->m, op->vm_id,
                     &(struct phase){ .state = "running", .reason = reason,
                                      .abort_on = op->abort_on[0] ? op->abort_on : NULL });
        if (dv_streq(code, "cancelled"))
                dv_task_cancelled(t, "%s", msg);
        else
                dv_task_fail(t, code, "%s", msg);
}

/* ---- recovery: exactly one running copy -------------------------------------
 *
 * A VM whose record still says "migrating" with no task at work (the
 * manager restarted, or an agent vanished in the middle) is resolved from
 * the durable phase and what both hosts run now (migrate-query):
 * - the target runs the guest (or its incoming migration completed): it is
 *   finished there, the record moves, the held source QEMU is quit;
 * - the target does not answer: the source takes the guest back only if
 *   its own migration did not complete (migrate-resume without force
 *   refuses otherwise); else wait;
 * - the target answers and does not run it: its QEMU is killed (confirmed)
 *   and its copies deleted, then the source resumes (force: nothing else
 *   can run the guest now).
 * The source is never resumed while the target may run the guest. */

#define RESOLVE_FINISH_TIMEOUT_S 30
#define RESOLVE_RETRY_MS 2000

enum { RESOLVE_PENDING, RESOLVE_DONE };

/* What a host has of the VM, or NULL: it does not answer. */
static json_t *query_host(json_t *host, const char *vm_id)
{
        struct dv_error err = { 0 };
        json_t *reply = NULL;

        if (!host || vm_action(host, vm_id, "migrate-query", NULL, DV_AGENT_TIMEOUT_MS, &reply,
                               &err) < 0) {
                json_decref(reply);
                return NULL;
        }
        return reply;
}

static bool q_is(json_t *q, const char *key)
{
        return json_is_true(json_object_get(q, key));
}

/* The target finishes the incoming migration (resume, announce, Tools):
 * its VMSTATUS, or NULL. */
static json_t *finish_target(struct dv_mgr *m, json_t *vm, json_t *target, int64_t timeout_s,
                             struct dv_error *err)
{
        json_t *nets = NULL, *image = NULL, *spec = NULL, *body, *reply = NULL, *st = NULL;

        if (dv_vm_nets(m, vm, target, &nets, err) >= 0) {
                image = dv_mgr_get(m, DV_KIND_IMAGE, dv_doc_str(vm, "image_id"));
                spec = dv_vm_spec_new(vm, image, nets);
        }
        body = json_pack("{s:O?,s:I}", "spec", spec, "timeout_s", (json_int_t)timeout_s);
        if (vm_action(target, dv_doc_str(vm, "id"), "migrate-finish", body,
                      (timeout_s + 30) * 1000L, &reply, err) >= 0)
                st = json_incref(json_object_get(reply, "vm"));
        json_decref(body);
        json_decref(reply);
        json_decref(spec);
        json_decref(image);
        json_decref(nets);
        return st;
}

/* The target runs the guest: the record moves there (with the copies as
 * the disks for change host + datastore); the source's QEMU and originals
 * go. */
static void resolved_on_target(struct dv_mgr *m, json_t *vm, json_t *source, json_t *target,
                               json_t *status, const char *why)
{
        json_t *mig = json_object_get(vm, "migration"), *copies = json_object_get(mig, "copies");
        json_t *disks = NULL, *olds = json_array(), *c;
        const char *id = dv_doc_str(vm, "id"), *name = dv_doc_str(vm, "name");
        struct dv_error err = { 0 };
        size_t i;

        if (json_array_size(copies) > 0) {
                disks = json_deep_copy(json_object_get(vm, "disks"));
                json_array_foreach(copies, i, c) {
                        json_t *d = json_array_get(disks, (size_t)dv_doc_int(c, "disk", -1));

                        if (!d)
                                continue;
                        json_array_append_new(olds, json_string(dv_doc_str(d, "path")));
                        json_object_set(d, "path", json_object_get(c, "path"));
                        json_object_set(d, "datastore", json_object_get(mig, "datastore"));
                }
        }
        record_phase(m, id, &(struct phase){ .state = "running", .reason = why, .target = target,
                                             .status = status, .disks = disks });
        dv_mgr_event(m, DV_USER_SYSTEM, "vm.migrated", "vm", vm,
                     "vm '%s' runs on host '%s' (%s)", name, dv_doc_str(target, "name"), why);
        /* The held source QEMU goes; a source that does not answer now
         * reports it later and is told to stop it (placed on another host). */
        if (source && vm_action(source, id, "migrate-confirm", NULL, DV_AGENT_TIMEOUT_MS, NULL,
                                &err) >= 0)
                delete_files(source, olds, name);
        json_decref(disks);
        json_decref(olds);
}

/* Storage migration: the mirrors not pivoted are aborted; a disk QEMU
 * uses the copy of has moved. */
static int resolve_storage(struct dv_mgr *m, json_t *vm, json_t *host, char *msg, size_t len)
{
        json_t *mig = json_object_get(vm, "migration"), *copies = json_object_get(mig, "copies");
        json_t *info, *disks, *unused = json_array(), *c;
        const char *id = dv_doc_str(vm, "id");
        struct dv_error err = { 0 };
        size_t i;
        int moved = 0;

        if (mirror_finish(host, id, "abort", 60, &err) < 0 && err.status != 409) {
                snprintf(msg, len, "host '%s' does not answer: %s", dv_doc_str(host, "name"),
                         err.message);
                json_decref(unused);
                return RESOLVE_PENDING;
        }
        info = source_disks(vm, host);
        disks = json_deep_copy(json_object_get(vm, "disks"));
        json_array_foreach(copies, i, c) {
                json_t *d = json_array_get(disks, (size_t)dv_doc_int(c, "disk", -1));
                json_t *x = disk_info_of(info, (size_t)dv_doc_int(c, "disk", -1));

                if (d && x && dv_streq(dv_doc_str(x, "path"), dv_doc_str(c, "path"))) {
                        json_object_set(d, "path", json_object_get(c, "path"));
                        json_object_set(d, "datastore", json_object_get(mig, "datastore"));
                        moved++;
                } else if (info) {
                        json_array_append(unused, json_object_get(c, "path"));
                }
        }
        delete_files(host, unused, dv_doc_str(vm, "name"));
        snprintf(msg, len, "storage migration rolled back after an interruption (%d of %zu disks "
                 "had switched to their copies)", moved, json_array_size(copies));
        record_phase(m, id, &(struct phase){ .state = info ? "running" : "stopped",
                                             .reason = msg, .disks = disks });
        json_decref(info);
        json_decref(disks);
        json_decref(unused);
        return RESOLVE_DONE;
}

static bool host_fenced(struct dv_mgr *m, json_t *host)
{
        json_t *v = json_deep_copy(host);
        bool fenced;

        dv_ha_rt_host_view(m, v);
        fenced = dv_streq(dv_doc_str(v, "ha_state"), "fenced");
        json_decref(v);
        return fenced;
}

static int migrate_resolve(struct dv_mgr *m, const char *vm_id, char *msg, size_t len)
{
        _cleanup_(json_decrefp) json_t *vm = dv_mgr_get(m, DV_KIND_VM, vm_id), *source = NULL,
                                      *target = NULL, *qs = NULL, *qt = NULL, *st = NULL;
        json_t *mig = json_object_get(vm, "migration");
        const char *name = dv_doc_str(vm, "name"), *sname, *tname;
        struct dv_error err = { 0 };
        json_t *c;
        size_t i;

        if (!vm)
                return RESOLVE_DONE;
        /* A target left behind by a migration that failed while its host
         * did not answer. */
        if (dv_doc_str(vm, "_abort_on")) {
                _cleanup_(json_decrefp) json_t *h =
                        dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "_abort_on"));

                /* 409: the VM runs there now (a later migration). */
                if (!h || abort_target(h, vm_id) != -EHOSTUNREACH) {
                        dv_mgr_lock(m);
                        json_t *v = dv_mgr_get(m, DV_KIND_VM, vm_id);
                        if (v) {
                                json_object_del(v, "_abort_on");
                                if (!json_object_get(v, "migration"))
                                        json_object_del(v, "_task");
                                (void)dv_store_update(m->store, DV_KIND_VM, v);
                        }
                        json_decref(v);
                        dv_mgr_unlock(m);
                } else if (!mig) {
                        snprintf(msg, len, "the migration target on host '%s' is not removed yet",
                                 dv_doc_str(h, "name"));
                        return RESOLVE_PENDING;
                }
        }
        if (!json_is_object(mig)) {
                snprintf(msg, len, "nothing to resolve");
                return RESOLVE_DONE;
        }
        source = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        target = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(mig, "target_id"));
        sname = source ? dv_doc_str(source, "name") : "?";
        tname = target ? dv_doc_str(target, "name") : "?";
        if (dv_streq(dv_doc_str(mig, "kind"), "change-datastore")) {
                if (!source) {
                        snprintf(msg, len, "the VM's host is gone");
                        return RESOLVE_PENDING;
                }
                return resolve_storage(m, vm, source, msg, len);
        }
        qs = query_host(source, vm_id);
        qt = query_host(target, vm_id);
        {
                _cleanup_(freep) char *a = qs ? json_dumps(qs, JSON_COMPACT) : NULL;
                _cleanup_(freep) char *b = qt ? json_dumps(qt, JSON_COMPACT) : NULL;

                dv_info("vm %s: resolving its migration (phase %s): source %s: %s; target %s: %s",
                        name, dv_doc_str(mig, "phase"), sname, a ? a : "no answer", tname,
                        b ? b : "no answer");
        }
        if (qt && q_is(qt, "present") &&
            (dv_streq(dv_doc_str(qt, "runstate"), "running") ||
             dv_streq(dv_doc_str(qt, "migration"), "completed") ||
             (q_is(qs, "held") && q_is(qt, "incoming")))) {
                /* The target has (or is about to have) the guest. */
                st = finish_target(m, vm, target, RESOLVE_FINISH_TIMEOUT_S, &err);
                if (st) {
                        snprintf(msg, len, "the migration completed: vm '%s' runs on host '%s'",
                                 name, tname);
                        resolved_on_target(m, vm, source, target, st, msg);
                        return RESOLVE_DONE;
                }
                if (!q_is(qs, "held") || dv_streq(dv_doc_str(qt, "runstate"), "running")) {
                        snprintf(msg, len, "host '%s' did not finish the migration: %s", tname,
                                 err.message);
                        return RESOLVE_PENDING;
                }
                /* Not completed on the target: it goes, the source resumes. */
        }
        if (!qt) {
                /* HA fenced the target (BMC off, or its datastore lease
                 * ran out): whatever it ran is dead, as HA assumes when it
                 * restarts VMs elsewhere. */
                bool fenced = target && host_fenced(m, target);
                json_t *body = json_pack("{s:b}", "force", fenced);
                int r = -EHOSTUNREACH;

                /* The target may be receiving; the source takes the guest
                 * back only while its migration has not completed. */
                if (qs && q_is(qs, "present") && (!q_is(qs, "held") || fenced))
                        r = vm_action(source, vm_id, "migrate-resume", body,
                                      DV_AGENT_TIMEOUT_MS + 30000, NULL, &err);
                json_decref(body);
                if (r < 0) {
                        snprintf(msg, len, "host '%s' does not answer and the source %s: waiting",
                                 tname, !qs ? "does not answer either"
                                        : !q_is(qs, "present") ? "has no QEMU of it"
                                                               : "completed its migration");
                        return RESOLVE_PENDING;
                }
                if (json_array_size(json_object_get(mig, "copies")) > 0)
                        (void)mirror_finish(source, vm_id, "abort", 60, NULL);
                snprintf(msg, len, "migration to host '%s' rolled back (host '%s' does not "
                         "answer): vm '%s' runs on host '%s'", tname, tname, name, sname);
                record_phase(m, vm_id, &(struct phase){ .state = "running", .reason = msg,
                                                        .abort_on = dv_doc_str(target, "id") });
                return RESOLVE_DONE;
        }
        /* The target answers and does not run the guest: make sure it
         * never will, then the source may run it. */
        if (q_is(qt, "present") && abort_target(target, vm_id) < 0) {
                snprintf(msg, len, "host '%s' did not remove its migration target", tname);
                return RESOLVE_PENDING;
        }
        if (json_array_size(json_object_get(mig, "copies")) > 0) {
                json_t *paths = json_array();

                json_array_foreach(json_object_get(mig, "copies"), i, c)
                        json_array_append(paths, json_object_get(c, "path"));
                delete_files(target, paths, name);
                json_decref(paths);
                json_object_del(mig, "copies");
        }
        if (!qs) {
                snprintf(msg, len, "host '%s' (the source) does not answer: waiting", sname);
                return RESOLVE_PENDING;
        }
        if (!q_is(qs, "present")) {
                snprintf(msg, len, "neither host runs vm '%s' any more", name);
                record_phase(m, vm_id, &(struct phase){ .state = "stopped", .reason = msg });
                return RESOLVE_DONE;
        }
        (void)mirror_finish(source, vm_id, "abort", 60, NULL);
        {
                json_t *body = json_pack("{s:b}", "force", 1);
                int r = vm_action(source, vm_id, "migrate-resume", body,
                                  DV_AGENT_TIMEOUT_MS + 30000, NULL, &err);

                json_decref(body);
                if (r < 0) {
                        snprintf(msg, len, "host '%s' cannot resume vm '%s': %s", sname, name,
                                 err.message);
                        return RESOLVE_PENDING;
                }
        }
        snprintf(msg, len, "migration to host '%s' rolled back: vm '%s' runs on host '%s'",
                 tname, name, sname);
        record_phase(m, vm_id, &(struct phase){ .state = "running", .reason = msg });
        return RESOLVE_DONE;
}

/* Resolve until done or the deadline (monotonic ms; 0: none). */
static int resolve_until(struct dv_task *t, struct dv_mgr *m, const char *vm_id, int64_t deadline,
                         char *msg, size_t len)
{
        for (;;) {
                int r = migrate_resolve(m, vm_id, msg, len);

                if (r == RESOLVE_DONE)
                        return r;
                dv_task_progress(t, 90, "recovery: %s", msg);
                if ((deadline && dv_now_ms() >= deadline) || dv_task_cancel_requested(t))
                        return r;
                usleep(RESOLVE_RETRY_MS * 1000);
        }
}

static void task_migrate_recover(struct dv_task *t, void *data)
{
        struct migrate_op *op = data;
        char msg[768] = "";

        _cleanup_(json_decrefp) json_t *vm = dv_mgr_get(op->m, DV_KIND_VM, op->vm_id);
        /* Only a target to remove: one attempt (the VM stays usable). */
        int64_t deadline = vm && !json_object_get(vm, "migration") ? dv_now_ms() : 0;

        dv_task_progress(t, 10, "recovery: asking both hosts what they run");
        if (resolve_until(t, op->m, op->vm_id, deadline, msg, sizeof(msg)) == RESOLVE_DONE) {
                dv_task_succeed(t, json_pack("{s:s}", "outcome", msg), "%s", msg);
                return;
        }
        record_phase(op->m, op->vm_id, &(struct phase){ .unresolved = true, .reason = msg });
        dv_task_fail(t, "unresolved", "not resolved yet: %s", msg);
}

int dv_migrate_submit_recover(struct dv_mgr *m, json_t *vm)
{
        struct migrate_op *op;
        json_t *task;
        int r;

        if (!dv_tasks_can_accept(m->tasks))
                return -EBUSY;
        op = calloc(1, sizeof(*op));
        if (!op)
                abort();
        op->m = m;
        snprintf(op->vm_id, sizeof(op->vm_id), "%s", dv_doc_str(vm, "id"));
        task = dv_task_doc_new("vm.migrate-recover", "vm", dv_doc_str(vm, "id"),
                               dv_doc_str(vm, "name"), DV_USER_SYSTEM);
        json_object_set_new(task, "message",
                            json_string("resolving an interrupted migration: one running copy"));
        json_object_set(vm, "_task", json_object_get(task, "id"));
        r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
        if (r >= 0)
                r = dv_tasks_submit(m->tasks, task, task_migrate_recover, op, free);
        else
                free(op);
        json_decref(task);
        return r;
}

/* ---- after the switchover: does the VM answer on its port groups? ---------
 *
 * QEMU announced the guest (announce-self: GARP/RARP from every NIC); the
 * guest then pings the gateway of each NIC's port group from inside (Tools,
 * on the new host): an answer crosses the new host's uplink and the TOR
 * both ways, so the TOR has learned the new path. Retried for the budget
 * (Tools comes back moments after the switchover). */
#define NETCHECK_BUDGET_MS 30000
#define NETCHECK_RETRY_MS 250 /* the first tries come before Tools' hello */

/* {"checked", "ok", "nics":[{"portgroup","gateway","answered","ms"|"error"}]}. */
static json_t *network_check(struct dv_task *t, struct dv_mgr *m, const char *vm_id)
{
        _cleanup_(json_decrefp) json_t *vm = dv_mgr_get(m, DV_KIND_VM, vm_id), *host = NULL;
        json_t *out = json_array(), *nic;
        int64_t t0 = dv_now_ms();
        bool ok = true;
        size_t i;

        host = vm ? dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id")) : NULL;
        json_array_foreach(vm ? json_object_get(vm, "nics") : NULL, i, nic) {
                const char *gw = dv_doc_str(nic, "gateway");
                struct dv_error err = { 0 };
                bool answered = false;

                if (!gw || !dv_doc_str(nic, "ip") || !host)
                        continue;
                dv_task_progress(t, 92, "network check: vm pings %s (port group '%s') from host '%s'",
                                 gw, dv_doc_str(nic, "portgroup"), dv_doc_str(host, "name"));
                for (;;) {
                        json_t *args = json_pack("{s:s,s:i,s:i}", "address", gw, "count", 1,
                                                 "timeout_s", 1), *res = NULL;
                        int r;

                        /* The last attempt's error, not an earlier one's
                         * (Tools not back yet, then no answer). */
                        err = (struct dv_error){ 0 };
                        r = dv_vm_tools_call(host, vm_id, "tools/ping", args, 16000, &res, &err);

                        json_decref(args);
                        answered = r >= 0 && dv_doc_int(res, "received", 0) > 0;
                        json_decref(res);
                        if (answered || dv_now_ms() - t0 >= NETCHECK_BUDGET_MS)
                                break;
                        usleep(NETCHECK_RETRY_MS * 1000);
                }
                ok = ok && answered;
                json_array_append_new(
                        out, answered ? json_pack("{s:s?,s:s,s:b,s:I}", "portgroup",
                                                  dv_doc_str(nic, "portgroup"), "gateway", gw,
                                                  "answered", 1, "ms",
                                                  (json_int_t)(dv_now_ms() - t0))
                                      : json_pack("{s:s?,s:s,s:b,s:s}", "portgroup",
                                                  dv_doc_str(nic, "portgroup"), "gateway", gw,
                                                  "answered", 0, "error",
                                                  err.message[0] ? err.message
                                                                 : "no answer from the gateway"));
        }
        return json_pack("{s:b,s:b,s:o}", "checked", json_array_size(out) > 0, "ok", ok, "nics",
                         out);
}

/* Prechecks, all of them: false when the task failed. */
static bool task_prechecks(struct dv_task *t, struct migrate_op *op, json_t *vm, json_t *source,
                           json_t *target)
{
        struct dv_precheck_result *res = NULL;
        struct dv_error err = { 0 };
        const char *name = dv_doc_str(vm, "name");
        int r;

        dv_task_detail(t, json_pack("{s:s}", "phase", "precheck"));
        dv_task_progress(t, 5, "precheck: %s -> %s%s%s", dv_doc_str(source, "name"),
                         dv_doc_str(target, "name"), op->datastore[0] ? " datastore " : "",
                         op->datastore);
        r = run_prechecks(op->m, op->kind, op->datastore[0] ? op->datastore : NULL, vm, "running",
                          source, target, false, &res, &err);
        if (r < 0) {
                fail_back(t, op, err.code, NULL, "precheck: %s", err.message);
                return false;
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
                if (op->kind == DV_MIGRATE_DATASTORE)
                        fail_back(t, op, "precheck-failed", NULL,
                                  "vm '%s' cannot move to datastore '%s': blocked by %s", name,
                                  op->datastore, names);
                else
                        fail_back(t, op, "precheck-failed", NULL,
                                  "vm '%s' cannot migrate to host '%s': blocked by %s", name,
                                  dv_doc_str(target, "name"), names);
                free(res);
                return false;
        }
        free(res);
        return true;
}

/* The disks that move (not on the target datastore yet): their indices. */
static size_t moving_disks(struct migrate_op *op, json_t *vm, size_t idx[MIGRATE_MAX_DISKS])
{
        json_t *d;
        size_t i, n = 0;

        json_array_foreach(json_object_get(vm, "disks"), i, d)
                if (op->datastore[0] && !dv_streq(dv_doc_str(d, "datastore"), op->datastore) &&
                    n < MIGRATE_MAX_DISKS)
                        idx[n++] = i;
        return n;
}

/* ---- storage live migration (same host) ---- */

static void task_migrate_storage(struct dv_task *t, struct migrate_op *op, json_t *vm,
                                 json_t *host)
{
        struct dv_mgr *m = op->m;
        struct dv_error err = { 0 };
        struct mirror_stats ms = { 0 };
        const char *name = dv_doc_str(vm, "name");
        json_t *body, *reply = NULL, *jd, *rd, *info = NULL, *disks = NULL, *copies = json_array(),
                      *olds = json_array(), *moved = json_array();
        _cleanup_(freep) char *path = NULL;
        size_t idx[MIGRATE_MAX_DISKS], n, i;
        int64_t t0 = dv_now_ms(), t_sw, allocated = 0;
        int r, left;

        if (!task_prechecks(t, op, vm, host, host))
                goto out;

        /* prepare: the copies, made by the agent with the disks' exact
         * sizes, and one write-blocking mirror job per disk */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "prepare" });
        dv_task_detail(t, json_pack("{s:s}", "phase", "prepare"));
        dv_task_progress(t, 10, "prepare: copies on datastore '%s'", op->datastore);
        n = moving_disks(op, vm, idx);
        jd = json_array();
        for (i = 0; i < n; i++) {
                json_t *d = json_array_get(json_object_get(vm, "disks"), idx[i]);

                json_array_append_new(jd, json_pack("{s:I,s:s,s:s?}", "disk", (json_int_t)idx[i],
                                                    "datastore", op->datastore, "name",
                                                    dv_doc_str(d, "name")));
        }
        body = json_pack("{s:I,s:o,s:I}", "uid", (json_int_t)dv_doc_int(vm, "uid", 0), "disks", jd,
                         "speed", (json_int_t)op->disk_rate_limit);
        path = dv_asprintf("/agent/v1/vms/%s/mirror-start", op->vm_id);
        r = dv_agent_call(host, "POST", path, body, DV_AGENT_DISK_TIMEOUT_MS, &reply, &err);
        json_decref(body);
        if (r < 0) {
                fail_back(t, op, err.code, err.message,
                          "storage migration of vm '%s' failed, it keeps running on its disks: %s",
                          name, err.message);
                goto out;
        }
        jd = json_array();
        json_array_foreach(json_object_get(reply, "disks"), i, rd) {
                json_array_append(copies, json_object_get(rd, "path"));
                json_array_append_new(jd, json_pack("{s:O,s:O}", "disk", json_object_get(rd, "disk"),
                                                    "path", json_object_get(rd, "path")));
                allocated += dv_doc_int(rd, "allocated", 0);
        }
        json_decref(TAKE_PTR(reply));

        /* disks: the background copy, writes mirrored synchronously (the
         * copies recorded: a manager restart finds them) */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "disks", .copies = jd });
        json_decref(jd);
        r = mirror_wait_ready(t, m, host, op->vm_id, op->disk_timeout_s, 15, 85, &ms, &err);
        if (r < 0) {
                _cleanup_(json_decrefp) json_t *h = host_fresh(m, host);

                (void)mirror_finish(h, op->vm_id, "abort", op->switchover_timeout_s, NULL);
                delete_files(h, copies, name);
                if (r == -ECANCELED)
                        fail_back(t, op, "cancelled", "migration cancelled",
                                  "cancelled; vm '%s' keeps running on its disks", name);
                else
                        fail_back(t, op, err.code, err.message,
                                  "storage migration of vm '%s' failed, it keeps running on its "
                                  "disks: %s", name, err.message);
                goto out;
        }

        /* switchover: the pivot, every disk at once */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "switchover" });
        dv_task_detail(t, json_pack("{s:s,s:I,s:f}", "phase", "switchover", "bytes_total",
                                    (json_int_t)ms.bytes_total, "rate", ms.rate));
        dv_task_progress(t, 88, "switchover: the disks switch to their copies");
        t_sw = dv_now_ms();
        r = mirror_finish(host, op->vm_id, "pivot", op->switchover_timeout_s, &err);
        /* What QEMU uses now decides, whatever the answer: a disk on its
         * copy has moved. */
        info = source_disks(vm, host);
        disks = json_deep_copy(json_object_get(vm, "disks"));
        left = 0;
        for (i = 0; i < n; i++) {
                json_t *d = json_array_get(disks, idx[i]), *x = disk_info_of(info, idx[i]);
                const char *copy = json_string_value(json_array_get(copies, i));

                if (x && dv_streq(dv_doc_str(x, "path"), copy)) {
                        json_array_append_new(moved,
                                              json_pack("{s:s?,s:s?,s:s?,s:s}", "name",
                                                        dv_doc_str(d, "name"), "from",
                                                        dv_doc_str(d, "path"), "from_datastore",
                                                        dv_doc_str(d, "datastore"), "to", copy));
                        json_array_append_new(olds, json_string(dv_doc_str(d, "path")));
                        json_object_set_new(d, "path", json_string(copy));
                        json_object_set_new(d, "datastore", json_string(op->datastore));
                        json_array_set_new(copies, i, json_null());
                } else {
                        left++;
                }
        }
        if (r < 0 || left > 0) {
                json_t *unused = json_array(), *c;

                json_array_foreach(copies, i, c)
                        if (json_is_string(c) && info)
                                json_array_append(unused, c);
                if (info)
                        delete_files(host, unused, name);
                json_decref(unused);
                record_phase(m, op->vm_id,
                             &(struct phase){ .state = "running", .reason = err.message,
                                              .disks = disks });
                dv_task_fail(t, r < 0 ? err.code : "mirror-failed",
                             "storage migration of vm '%s' failed at the switchover (%d of %zu "
                             "disks moved): %s", name, (int)(n - left), n,
                             r < 0 ? err.message : "a disk did not switch to its copy");
                goto out;
        }

        /* cleanup: the VM's new disks durably first, then the old files go */
        record_phase(m, op->vm_id, &(struct phase){ .state = "running", .disks = disks });
        dv_task_detail(t, json_pack("{s:s}", "phase", "cleanup"));
        dv_task_progress(t, 95, "cleanup: removing the old disk files");
        {
                int64_t total = dv_now_ms() - t0;
                int failed = delete_files(host, olds, name);
                json_t *result = json_pack(
                        "{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:f,s:O,s:i}", "vm", name, "kind",
                        "change-datastore", "source", dv_doc_str(host, "name"), "target",
                        dv_doc_str(host, "name"), "datastore", op->datastore, "total_ms",
                        (json_int_t)total, "disk_ms", (json_int_t)ms.ms, "switchover_ms",
                        (json_int_t)(dv_now_ms() - t_sw), "disk_bytes",
                        (json_int_t)ms.bytes_total, "disk_rate", ms.rate, "disks", moved,
                        "old_files_left", failed);

                /* QEMU's counters (disk_bytes) span the disks' virtual size,
                 * zero areas included; this is what held data. */
                json_object_set_new(result, "disk_allocated_bytes", json_integer(allocated));
                dv_mgr_event(m, op->user, "vm.migrated", "vm", vm,
                             "vm '%s' moved its disks to datastore '%s' in %lld ms",
                             name, op->datastore, (long long)total);
                dv_task_detail(t, NULL);
                dv_task_succeed(t, result, "vm '%s' moved to datastore '%s' in %.2f s", name,
                                op->datastore, (double)total / 1000);
        }
out:
        json_decref(reply);
        json_decref(info);
        json_decref(disks);
        json_decref(copies);
        json_decref(olds);
        json_decref(moved);
}

/* ---- change host (+ datastore) ---- */

/* Change host + datastore, prepare: the target makes the copies (the
 * disks' exact sizes, from the source's QEMU) on the target datastore;
 * *spec names them. Fills copies (paths on the target, by moving disk) and
 * nbd_disks (their indices). */
static int make_copies(struct migrate_op *op, json_t *vm, json_t *source, json_t *target,
                       json_t *spec, const size_t *idx, size_t n, json_t *copies,
                       json_t *nbd_disks, int64_t *allocated, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *info = source_disks(vm, source);

        if (!info)
                return dv_error_set(err, 502, "agent-error",
                                    "host '%s' did not report the disks of vm '%s'",
                                    dv_doc_str(source, "name"), dv_doc_str(vm, "name"));
        for (size_t i = 0; i < n; i++) {
                json_t *d = json_array_get(json_object_get(vm, "disks"), idx[i]);
                json_t *x = disk_info_of(info, idx[i]), *body, *reply = NULL;
                int r;

                if (!x)
                        return dv_error_set(err, 502, "agent-error", "QEMU has no disk%zu",
                                            idx[i]);
                body = json_pack("{s:s,s:s,s:s?,s:O,s:I,s:s}", "datastore", op->datastore,
                                 "vm_id", op->vm_id, "name", dv_doc_str(d, "name"), "size_bytes",
                                 json_object_get(x, "virtual_size"), "uid",
                                 (json_int_t)dv_doc_int(vm, "uid", 0), "format", "qcow2");
                r = dv_agent_call(target, "POST", "/agent/v1/disks", body,
                                  DV_AGENT_DISK_TIMEOUT_MS, &reply, err);
                json_decref(body);
                if (r >= 0 && !dv_doc_str(reply, "path"))
                        r = dv_error_set(err, 502, "agent-error",
                                         "host '%s' answered without a disk path",
                                         dv_doc_str(target, "name"));
                if (r < 0) {
                        json_decref(reply);
                        return dv_error_set(err, err->status, err->code,
                                            "the target cannot make the copy of %s: %s",
                                            dv_doc_str(d, "name"), err->message);
                }
                json_array_append(copies, json_object_get(reply, "path"));
                json_array_append_new(nbd_disks, json_integer((json_int_t)idx[i]));
                *allocated += dv_doc_int(x, "allocated", 0);
                json_object_set(json_array_get(json_object_get(spec, "disks"), idx[i]), "path",
                                json_object_get(reply, "path"));
                json_decref(reply);
        }
        return 0;
}

/* Whether an agent's error reply (agent-client.c: "host 'H': MESSAGE -
 * CODE (HTTP N)") carried CODE. */
static bool agent_said(const struct dv_error *err, const char *code)
{
        char tail[64];

        snprintf(tail, sizeof(tail), " - %s (HTTP ", code);
        return dv_streq(err->code, "agent-error") && strstr(err->message, tail);
}

/* The memory phase's progress: while the source's migrate-out call
 * blocks the task's thread, this thread polls migrate-status (pass,
 * bytes, rate, time left into the task's detail) and turns a cancel
 * request into migrate-cancel on the source. The task's thread does not
 * touch the task until it has joined this one. */
struct memory_watch {
        struct dv_task *t;       /* the task */
        json_t *source;          /* the source host (borrowed) */
        const char *vm_id;       /* the VM */
        int pct0, pct1;          /* task progress range of the phase */
        pthread_mutex_t lock;    /* guards done */
        pthread_cond_t cond;     /* signalled when done */
        bool done;               /* [lock] migrate-out returned */
        bool cancel_sent;        /* migrate-cancel was sent (read after the join) */
        bool stalled;            /* ... because no byte moved for MIGRATE_STALL_MS */
        int64_t last_bytes;      /* transferred at the last progress */
        int64_t last_progress;   /* monotonic ms of the last progress (0: none yet) */
};

static void memory_watch_tick(struct memory_watch *w)
{
        _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/migrate-status", w->vm_id);
        struct dv_error err = { 0 };
        json_t *reply = NULL, *st;
        double rate, left, dirty;
        int64_t done, total, remaining, pass;
        char b1[32], b2[32], b3[32], b4[32];

        if (dv_task_cancel_requested(w->t) && !w->cancel_sent) {
                _cleanup_(freep) char *cp =
                        dv_asprintf("/agent/v1/vms/%s/migrate-cancel", w->vm_id);

                w->cancel_sent = true;
                (void)dv_agent_call(w->source, "POST", cp, NULL, DV_AGENT_TIMEOUT_MS, NULL, &err);
                return;
        }
        if (dv_agent_call(w->source, "POST", path, NULL, DV_AGENT_TIMEOUT_MS, &reply, &err) < 0)
                return;
        st = json_object_get(reply, "migration");
        done = dv_doc_int(st, "transferred", 0);
        /* A cut migration network or a target that died stalls the
         * stream (TCP retries for many minutes): cancel, the source runs on. */
        if (done > w->last_bytes || !w->last_progress) {
                w->last_bytes = done;
                w->last_progress = dv_now_ms();
        } else if (dv_streq(dv_doc_str(st, "status"), "active") &&
                   dv_now_ms() - w->last_progress > MIGRATE_STALL_MS && !w->cancel_sent) {
                _cleanup_(freep) char *cp =
                        dv_asprintf("/agent/v1/vms/%s/migrate-cancel", w->vm_id);

                w->cancel_sent = w->stalled = true;
                dv_warn("vm %s: no migration progress for %d s: cancelling", w->vm_id,
                        MIGRATE_STALL_MS / 1000);
                (void)dv_agent_call(w->source, "POST", cp, NULL, DV_AGENT_TIMEOUT_MS, NULL, &err);
                json_decref(reply);
                return;
        }
        total = dv_doc_int(st, "total", 0);
        remaining = dv_doc_int(st, "remaining", 0);
        pass = dv_doc_int(st, "passes", 0);
        rate = json_number_value(json_object_get(st, "mbps")) * 1e6 / 8;
        /* QEMU's dirty-pages-rate: pages/s of the last pass, 4 KiB pages. */
        dirty = (double)dv_doc_int(st, "dirty_pages_rate", 0) * 4096;
        left = rate > 0 ? (double)remaining / rate : -1;
        if (dv_streq(dv_doc_str(st, "status"), "active") ||
            dv_streq(dv_doc_str(st, "status"), "pre-switchover")) {
                dv_task_detail(w->t, json_pack("{s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f}", "phase",
                                               "memory", "pass", (json_int_t)pass, "bytes_done",
                                               (json_int_t)done, "bytes_total", (json_int_t)total,
                                               "remaining_bytes", (json_int_t)remaining, "rate",
                                               rate, "remaining_s", left, "dirty_rate", dirty));
                fmt_bytes((double)done, b1, sizeof(b1));
                fmt_bytes((double)remaining, b2, sizeof(b2));
                fmt_bytes(rate, b3, sizeof(b3));
                fmt_bytes(dirty, b4, sizeof(b4));
                dv_task_progress(w->t,
                                 w->pct0 + (int)((w->pct1 - w->pct0) *
                                                 (total ? 1.0 - (double)remaining / total : 0)),
                                 "memory pass %lld: %s sent, %s left (%s/s), the guest dirties "
                                 "%s/s", (long long)pass, b1, b2, b3, b4);
        }
        json_decref(reply);
}

static void *memory_watch_main(void *arg)
{
        struct memory_watch *w = arg;

        for (;;) {
                struct timespec ts;
                bool done;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += MIRROR_POLL_MS * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_mutex_lock(&w->lock);
                if (!w->done)
                        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
                done = w->done;
                pthread_mutex_unlock(&w->lock);
                if (done)
                        return NULL;
                memory_watch_tick(w);
        }
}

static void task_migrate_host(struct dv_task *t, struct migrate_op *op, json_t *vm,
                              json_t *source, json_t *target)
{
        struct dv_mgr *m = op->m;
        struct dv_error err = { 0 };
        struct mirror_stats ms = { 0 };
        json_t *image = NULL, *nets = NULL, *spec = NULL, *reply = NULL, *body, *stats = NULL;
        json_t *copies = json_array(), *nbd_disks = json_array(), *nbd = NULL, *disks = NULL;
        json_t *olds = json_array(), *moved = json_array();
        _cleanup_(freep) char *path = NULL, *uri = NULL;
        const char *name = dv_doc_str(vm, "name"), *tname = dv_doc_str(target, "name");
        bool hd = op->kind == DV_MIGRATE_HOST_DATASTORE, mirroring = false;
        size_t idx[MIGRATE_MAX_DISKS], n = 0, i;
        int64_t t0 = dv_now_ms(), t_mem = 0, t_sw, allocated = 0;
        /* multifd: one channel per CPU of the smaller host, 1..4 (a
         * channel is a thread that copies and sends; more threads than
         * cores only contend). Both sides are told the same number. */
        int channels = (int)DV_MIN(DV_MIN(dv_doc_int(source, "cpus", 4), dv_doc_int(target, "cpus", 4)),
                                   (int64_t)MIGRATE_MAX_CHANNELS);
        int r;

        if (channels < 1)
                channels = 1;
        /* 1. prechecks, all of them */
        if (!task_prechecks(t, op, vm, source, target))
                goto out;

        /* 2. prepare the target: same SPEC (the copies for the disks that
         * move), ports on the same port groups; the copies exported */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "prepare" });
        dv_task_detail(t, json_pack("{s:s}", "phase", "prepare"));
        dv_task_progress(t, 10, "prepare: starting the target on host '%s'", tname);
        r = dv_vm_nets(m, vm, target, &nets, &err);
        if (r >= 0) {
                image = dv_mgr_get(m, DV_KIND_IMAGE, dv_doc_str(vm, "image_id"));
                spec = dv_vm_spec_new(vm, image, nets);
                if (hd) {
                        n = moving_disks(op, vm, idx);
                        r = make_copies(op, vm, source, target, spec, idx, n, copies, nbd_disks,
                                        &allocated, &err);
                        if (json_array_size(copies) > 0) {
                                /* Durably: a manager restart finds them. */
                                json_t *rec = json_array();

                                for (i = 0; i < json_array_size(copies); i++)
                                        json_array_append_new(
                                                rec, json_pack("{s:I,s:O}", "disk",
                                                               (json_int_t)idx[i], "path",
                                                               json_array_get(copies, i)));
                                record_phase(m, op->vm_id,
                                             &(struct phase){ .phase = "prepare", .copies = rec });
                                json_decref(rec);
                        }
                }
        }
        if (r >= 0) {
                body = json_pack("{s:O,s:i}", "spec", spec, "channels", channels);
                if (n > 0)
                        json_object_set(body, "nbd_disks", nbd_disks);
                path = dv_asprintf("/agent/v1/vms/%s/migrate-in", op->vm_id);
                r = dv_agent_call(target, "POST", path, body, DV_AGENT_START_TIMEOUT_MS, &reply,
                                  &err);
                json_decref(body);
                uri = dv_strdup(dv_doc_str(reply, "uri"));
                nbd = json_incref(json_object_get(reply, "nbd"));
                if (r >= 0 && (!uri || (n > 0 && !json_is_object(nbd))))
                        r = dv_error_set(&err, 502, "agent-error",
                                         "host '%s' gave no migration uri or NBD server", tname);
                json_decref(TAKE_PTR(reply));
        }
        if (r < 0 || dv_task_cancel_requested(t))
                goto abort;

        /* 3. disks: the source mirrors each moving disk to its export */
        if (n > 0) {
                json_t *jd = json_array();

                for (i = 0; i < n; i++) {
                        char exp[32];

                        snprintf(exp, sizeof(exp), "disk%zu", idx[i]);
                        json_array_append_new(
                                jd, json_pack("{s:I,s:{s:O,s:O,s:s}}", "disk", (json_int_t)idx[i],
                                              "nbd", "host", json_object_get(nbd, "host"), "port",
                                              json_object_get(nbd, "port"), "export", exp));
                }
                record_phase(m, op->vm_id, &(struct phase){ .phase = "disks" });
                dv_task_progress(t, 15, "disks: mirroring %zu disk%s to host '%s'", n,
                                 n == 1 ? "" : "s", tname);
                body = json_pack("{s:o,s:I}", "disks", jd, "speed",
                                 (json_int_t)op->disk_rate_limit);
                free(path);
                path = dv_asprintf("/agent/v1/vms/%s/mirror-start", op->vm_id);
                r = dv_agent_call(source, "POST", path, body, DV_AGENT_TIMEOUT_MS, NULL, &err);
                json_decref(body);
                mirroring = r >= 0;
                if (r >= 0)
                        r = mirror_wait_ready(t, m, source, op->vm_id, op->disk_timeout_s, 15, 60,
                                              &ms, &err);
                if (r < 0)
                        goto abort;
        }

        /* 4. memory: pre-copy over multifd until QEMU switches over (with
         * mirrors, the source ends them in sync while the guest is paused) */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "memory" });
        dv_task_detail(t, json_pack("{s:s,s:I,s:f}", "phase", "memory", "disk_bytes",
                                    (json_int_t)ms.bytes_total, "disk_rate", ms.rate));
        dv_task_progress(t, hd ? 62 : 30, "memory: migrating to %s", uri);
        t_mem = dv_now_ms();
        free(path);
        path = dv_asprintf("/agent/v1/vms/%s/migrate-out", op->vm_id);
        body = json_pack("{s:s,s:I,s:I,s:i}", "uri", uri, "timeout_s",
                         (json_int_t)op->memory_timeout_s, "max_bandwidth",
                         (json_int_t)op->memory_rate_limit, "channels", channels);
        {
                struct memory_watch w = { .t = t, .source = source, .vm_id = op->vm_id,
                                          .pct0 = hd ? 62 : 30, .pct1 = 84 };
                pthread_t th;
                bool watching;

                pthread_mutex_init(&w.lock, NULL);
                pthread_cond_init(&w.cond, NULL);
                watching = pthread_create(&th, NULL, memory_watch_main, &w) == 0;
                r = dv_agent_call(source, "POST", path, body, (op->memory_timeout_s + 30) * 1000L,
                                  &reply, &err);
                if (watching) {
                        pthread_mutex_lock(&w.lock);
                        w.done = true;
                        pthread_cond_signal(&w.cond);
                        pthread_mutex_unlock(&w.lock);
                        pthread_join(th, NULL);
                }
                pthread_cond_destroy(&w.cond);
                pthread_mutex_destroy(&w.lock);
                if (r < 0 && r != -EHOSTUNREACH && w.stalled)
                        r = dv_error_set(&err, 504, "migration-stalled",
                                         "no migration progress for %d s (migration network "
                                         "cut, or host '%s' down?): cancelled",
                                         MIGRATE_STALL_MS / 1000, tname);
                else if (r < 0 && r != -EHOSTUNREACH && w.cancel_sent)
                        r = -ECANCELED;
                else if (r == -EPROTO && agent_said(&err, "migration-unreachable"))
                        /* the source could not connect to the target's
                         * migration port: a failure of its own name */
                        snprintf(err.code, sizeof(err.code), "migration-unreachable");
        }
        json_decref(body);
        if (r >= 0)
                stats = json_incref(json_object_get(reply, "migration"));
        json_decref(TAKE_PTR(reply));
        if (r < 0 && r != -EHOSTUNREACH)
                goto abort; /* the source cancelled and keeps running */

        /* 5. switchover: the source QEMU holds the guest paused after
         * completion; the target resumes (its NBD server stops), announces
         * the guest, Tools; then the source is confirmed (quits). */
        record_phase(m, op->vm_id, &(struct phase){ .phase = "switchover" });
        dv_task_detail(t, json_pack("{s:s}", "phase", "switchover"));
        dv_task_progress(t, 85, "switchover: resuming on host '%s'", tname);
        t_sw = dv_now_ms();
        {
                struct dv_error ferr = { 0 };
                int rf = -EHOSTUNREACH;

                if (r >= 0) {
                        free(path);
                        path = dv_asprintf("/agent/v1/vms/%s/migrate-finish", op->vm_id);
                        body = json_pack("{s:O,s:I}", "spec", spec, "timeout_s",
                                         (json_int_t)op->switchover_timeout_s);
                        rf = dv_agent_call(target, "POST", path, body,
                                           (op->switchover_timeout_s + 30) * 1000L, &reply,
                                           &ferr);
                        json_decref(body);
                }
                if (rf < 0) {
                        /* The source agent vanished during the memory phase
                         * (its QEMU may have completed, or still be sending),
                         * or the target did not finish: what both hosts run
                         * decides, never two copies (see migrate_resolve). */
                        char msg[768] = "";
                        const char *cause = r < 0 ? err.message : ferr.message;
                        _cleanup_(json_decrefp) json_t *now = NULL;
                        int done = resolve_until(t, m, op->vm_id,
                                                 dv_now_ms() +
                                                         (op->switchover_timeout_s + 30) * 1000L,
                                                 msg, sizeof(msg));

                        if (done != RESOLVE_DONE) {
                                record_phase(m, op->vm_id,
                                             &(struct phase){ .unresolved = true, .reason = msg });
                                dv_task_fail(t, r < 0 ? err.code : ferr.code,
                                             "switchover of vm '%s' to host '%s' interrupted: %s; "
                                             "not resolved yet (%s), recovery goes on",
                                             name, tname, cause, msg);
                                goto out;
                        }
                        now = dv_mgr_get(m, DV_KIND_VM, op->vm_id);
                        if (now && dv_streq(dv_doc_str(now, "host_id"), op->target_id))
                                dv_task_succeed(t,
                                                json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "vm", name,
                                                          "kind",
                                                          dv_migrate_kind_to_string(op->kind),
                                                          "source", dv_doc_str(source, "name"),
                                                          "target", tname, "recovered", msg,
                                                          "total_ms",
                                                          (json_int_t)(dv_now_ms() - t0)),
                                                "vm '%s' migrated to host '%s' (%s; %s)", name,
                                                tname, cause, msg);
                        else
                                dv_task_fail(t, r < 0 ? err.code : ferr.code,
                                             "migration of vm '%s' to host '%s' failed at the "
                                             "switchover: %s; %s",
                                             name, tname, cause, msg);
                        goto out;
                }
        }
        disks = json_deep_copy(json_object_get(vm, "disks"));
        for (i = 0; i < n; i++) {
                json_t *d = json_array_get(disks, idx[i]);
                json_t *copy = json_array_get(copies, i);

                json_array_append_new(moved, json_pack("{s:s?,s:s?,s:s?,s:O}", "name",
                                                       dv_doc_str(d, "name"), "from",
                                                       dv_doc_str(d, "path"), "from_datastore",
                                                       dv_doc_str(d, "datastore"), "to", copy));
                json_array_append_new(olds, json_string(dv_doc_str(d, "path")));
                json_object_set(d, "path", copy);
                json_object_set_new(d, "datastore", json_string(op->datastore));
        }
        record_phase(m, op->vm_id,
                     &(struct phase){ .state = "running", .target = target,
                                      .status = json_object_get(reply, "vm"),
                                      .disks = hd ? disks : NULL });
        {
                int failed = 0;
                int64_t total;
                json_t *result;
                bool confirmed = true;

                /* The target runs the guest and the record says so: the
                 * held source QEMU quits. If its agent does not answer, it
                 * reports the QEMU later and is told to stop it. */
                {
                        struct dv_error cerr = { 0 };

                        if (vm_action(source, op->vm_id, "migrate-confirm", NULL,
                                      DV_AGENT_TIMEOUT_MS, NULL, &cerr) < 0) {
                                dv_warn("vm %s: confirming the migration on host %s: %s", name,
                                        dv_doc_str(source, "name"), cerr.message);
                                confirmed = false; /* a QEMU may still use the originals */
                        }
                }
                /* 6. cleanup: the originals on the source go */
                if (n > 0 && !confirmed)
                        failed = (int)json_array_size(olds);
                else if (n > 0) {
                        dv_task_detail(t, json_pack("{s:s}", "phase", "cleanup"));
                        dv_task_progress(t, 95, "cleanup: removing the disks on host '%s'",
                                         dv_doc_str(source, "name"));
                        failed = delete_files(source, olds, name);
                }
                total = dv_now_ms() - t0;
                result = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:I,s:I,s:I,s:O?}", "vm", name, "kind",
                                   dv_migrate_kind_to_string(op->kind), "source",
                                   dv_doc_str(source, "name"), "target", tname, "datastore",
                                   op->datastore[0] ? op->datastore : NULL, "total_ms",
                                   (json_int_t)total, "memory_ms", (json_int_t)(t_sw - t_mem),
                                   "switchover_ms", (json_int_t)(dv_now_ms() - t_sw), "qemu",
                                   stats);
                /* the agent may use fewer (see the agent's migrate_setup) */
                json_object_set_new(result, "channels",
                                    json_integer(dv_doc_int(stats, "channels", channels)));
                if (hd) {
                        json_object_set_new(result, "disk_ms", json_integer(ms.ms));
                        json_object_set_new(result, "disk_bytes", json_integer(ms.bytes_total));
                        json_object_set_new(result, "disk_rate", json_real(ms.rate));
                        json_object_set_new(result, "disk_allocated_bytes",
                                            json_integer(allocated));
                        json_object_set(result, "disks", moved);
                        json_object_set_new(result, "old_files_left", json_integer(failed));
                }
                /* Done only once the VM answers on its port groups from
                 * the new host. */
                {
                        json_t *net = network_check(t, m, op->vm_id);
                        bool net_ok = json_is_true(json_object_get(net, "ok"));

                        json_object_set_new(result, "network", net);
                        if (!net_ok) {
                                json_t *bad = NULL, *x;
                                size_t k;

                                json_array_foreach(json_object_get(net, "nics"), k, x)
                                        if (!json_is_true(json_object_get(x, "answered")) && !bad)
                                                bad = x;
                                dv_mgr_event(m, op->user, "vm.migrated", "vm", vm,
                                             "vm '%s' runs on host '%s' but does not answer on "
                                             "port group '%s' from there",
                                             name, tname, dv_doc_str(bad, "portgroup"));
                                dv_task_detail(t, NULL);
                                dv_task_fail(t, "network-check-failed",
                                             "vm '%s' moved to host '%s' (it runs there) but does "
                                             "not answer on port group '%s' from there: gateway "
                                             "%s: %s",
                                             name, tname, dv_doc_str(bad, "portgroup"),
                                             dv_doc_str(bad, "gateway"), dv_doc_str(bad, "error"));
                                json_decref(result);
                                goto out;
                        }
                }
                learn_rate(m, dv_doc_str(source, "id"), dv_doc_str(target, "id"), stats);
                dv_mgr_event(m, op->user, "vm.migrated", "vm", vm,
                             "vm '%s' migrated from host '%s' to host '%s'%s%s in %lld ms "
                             "(downtime %lld ms)",
                             name, dv_doc_str(source, "name"), tname,
                             hd ? " and datastore " : "", hd ? op->datastore : "",
                             (long long)total,
                             (long long)json_integer_value(json_object_get(stats, "downtime_ms")));
                dv_task_detail(t, NULL);
                dv_task_succeed(t, result, "vm '%s' migrated to host '%s'%s%s in %.2f s", name,
                                tname, hd ? " and datastore " : "", hd ? op->datastore : "",
                                (double)total / 1000);
        }
        goto out;

abort:
        /* Before the switchover: the VM keeps running on the source, on
         * its own disks; the target and its copies go. */
        {
                _cleanup_(json_decrefp) json_t *s_now = host_fresh(m, source),
                                              *t_now = host_fresh(m, target);

                if (mirroring)
                        (void)mirror_finish(s_now, op->vm_id, "abort", op->switchover_timeout_s,
                                            NULL);
                /* A target that does not answer (cut off, powered off) is
                 * removed by recovery once it answers (_abort_on). */
                if (abort_target(t_now, op->vm_id) == -EHOSTUNREACH)
                        snprintf(op->abort_on, sizeof(op->abort_on), "%s", op->target_id);
                else
                        delete_files(t_now, copies, name);
        }
        if (r >= 0)
                fail_back(t, op, "cancelled", "migration cancelled",
                          "cancelled; vm '%s' stays on host '%s'", name,
                          dv_doc_str(source, "name"));
        else if (r == -ECANCELED)
                fail_back(t, op, "cancelled", "migration cancelled",
                          "cancelled; vm '%s' stays on host '%s'", name,
                          dv_doc_str(source, "name"));
        else
                fail_back(t, op, err.code, err.message,
                          "migration of vm '%s' to host '%s' failed, it keeps running on host "
                          "'%s': %s", name, tname, dv_doc_str(source, "name"), err.message);
out:
        json_decref(stats);
        json_decref(reply);
        json_decref(spec);
        json_decref(nets);
        json_decref(image);
        json_decref(copies);
        json_decref(nbd_disks);
        json_decref(nbd);
        json_decref(disks);
        json_decref(olds);
        json_decref(moved);
}

static void task_migrate(struct dv_task *t, void *data)
{
        struct migrate_op *op = data;
        struct dv_mgr *m = op->m;
        json_t *vm = dv_mgr_get(m, DV_KIND_VM, op->vm_id), *source = NULL, *target = NULL;

        source = vm ? dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id")) : NULL;
        target = dv_mgr_get(m, DV_KIND_HOST, op->target_id);
        if (!vm || !source || !target) {
                record_phase(m, op->vm_id, &(struct phase){ .state = "running" });
                dv_task_fail(t, "internal", "the vm or a host disappeared");
        } else if (op->kind == DV_MIGRATE_DATASTORE) {
                task_migrate_storage(t, op, vm, source);
        } else {
                task_migrate_host(t, op, vm, source, target);
        }
        json_decref(vm);
        json_decref(source);
        json_decref(target);
}

/* What a migration request asks beyond the VM and the target host. */
struct migrate_req {
        enum dv_migrate_kind kind;
        const char *datastore;        /* HD and D, else NULL */
        int64_t budgets[3];           /* disk, memory, switchover (s) */
        int64_t disk_rate_limit;      /* bytes/s; 0: none */
        int64_t memory_rate_limit;    /* bytes/s; 0: none */
};

#define MIGRATE_REQ_DEFAULT                                                          \
        {                                                                            \
                .kind = DV_MIGRATE_HOST,                                             \
                .budgets = { MIGRATE_DISK_TIMEOUT_S, MIGRATE_OUT_TIMEOUT_S,          \
                             MIGRATE_FINISH_TIMEOUT_S },                             \
        }

static int migrate_submit(struct dv_mgr *m, const char *vm_id, const char *target_id,
                          const struct migrate_req *req, const char *user, json_t **ret_task,
                          struct dv_error *err)
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
                const char *ds = req->datastore;
                char now[32];

                if (!op)
                        abort();
                op->m = m;
                op->kind = req->kind;
                snprintf(op->vm_id, sizeof(op->vm_id), "%s", dv_doc_str(vm, "id"));
                snprintf(op->target_id, sizeof(op->target_id), "%s", dv_doc_str(target, "id"));
                snprintf(op->datastore, sizeof(op->datastore), "%s", ds ? ds : "");
                op->disk_timeout_s = req->budgets[0];
                op->memory_timeout_s = req->budgets[1];
                op->switchover_timeout_s = req->budgets[2];
                op->disk_rate_limit = req->disk_rate_limit;
                op->memory_rate_limit = req->memory_rate_limit;
                snprintf(op->user, sizeof(op->user), "%s", user);
                task = dv_task_doc_new("vm.migrate", "vm", dv_doc_str(vm, "id"),
                                       dv_doc_str(vm, "name"), user);
                dv_mgr_now(now);
                json_object_set(vm, "_task", json_object_get(task, "id"));
                json_object_set(vm, "_prev_state", json_object_get(vm, "state"));
                json_object_set_new(vm, "state", json_string("migrating"));
                json_object_set_new(vm, "state_reason", json_null());
                json_object_set_new(vm, "migration",
                                    json_pack("{s:s,s:s,s:s?,s:s?,s:s?,s:s}", "phase", "precheck",
                                              "kind", dv_migrate_kind_to_string(req->kind),
                                              "target", dv_doc_str(target, "name"), "target_id",
                                              dv_doc_str(target, "id"), "datastore", ds,
                                              "started_at", now));
                r = dv_store_write_intent(m->store, task, DV_KIND_VM, vm, false);
                if (r < 0) {
                        free(op);
                        dv_error_set(err, 500, "internal", "writing the task: %s", strerror(-r));
                } else if (dv_tasks_submit(m->tasks, task, task_migrate, op, free) < 0) {
                        r = dv_error_set(err, 503, "shutting-down",
                                         "the manager is shutting down");
                } else {
                        if (req->kind == DV_MIGRATE_DATASTORE)
                                dv_mgr_event(m, user, "vm.migrate", "vm", vm,
                                             "move the disks of vm '%s' to datastore '%s'",
                                             dv_doc_str(vm, "name"), ds);
                        else
                                dv_mgr_event(m, user, "vm.migrate", "vm", vm,
                                             "migrate vm '%s' from host '%s' to host '%s'%s%s",
                                             dv_doc_str(vm, "name"), dv_doc_str(source, "name"),
                                             dv_doc_str(target, "name"),
                                             ds ? " and datastore " : "", ds ? ds : "");
                        *ret_task = TAKE_PTR(task);
                        r = 0;
                }
        }
        dv_mgr_unlock(m);
        return r;
}

int dv_migrate_submit(struct dv_mgr *m, const char *vm_id, const char *target_id,
                      const char *user, json_t **ret_task, struct dv_error *err)
{
        const struct migrate_req req = MIGRATE_REQ_DEFAULT;

        return migrate_submit(m, vm_id, target_id, &req, user, ret_task, err);
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

/* Does any host have a datastore of that name? */
static bool datastore_known(struct dv_mgr *m, const char *name)
{
        _cleanup_(json_decrefp) json_t *hosts = NULL;
        json_t *h, *d;
        size_t i, j;

        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) < 0)
                return false;
        json_array_foreach(hosts, i, h)
                json_array_foreach(json_object_get(h, "datastores"), j, d)
                        if (dv_streq(dv_doc_str(d, "name"), name))
                                return true;
        return false;
}

void dv_api_vm_migrate(struct dv_api *a, json_t *vm_in)
{
        static const char *const keys[] = { "host", "datastore", "check", "disk_timeout_s",
                                            "memory_timeout_s", "switchover_timeout_s",
                                            "disk_rate_limit", "memory_rate_limit", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        _cleanup_(json_decrefp) json_t *body = NULL, *target = NULL, *source = NULL,
                                      *task = NULL;
        const char *host = NULL, *datastore = NULL;
        struct migrate_req req = MIGRATE_REQ_DEFAULT;
        enum dv_migrate_kind kind;
        bool check = false;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_string(body, "host", false, &host, &err);
        if (r >= 0)
                r = dv_json_get_name(body, "datastore", false, &datastore, &err);
        if (r >= 0)
                r = dv_json_get_bool(body, "check", false, &check, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "disk_timeout_s", false, 1, MIGRATE_MAX_TIMEOUT_S,
                                    &req.budgets[0], &err);
        if (r >= 0)
                r = dv_json_get_int(body, "memory_timeout_s", false, 1, 3600, &req.budgets[1],
                                    &err);
        if (r >= 0)
                r = dv_json_get_int(body, "switchover_timeout_s", false, 1, 3600,
                                    &req.budgets[2], &err);
        if (r >= 0)
                r = dv_json_get_int(body, "disk_rate_limit", false, 0, INT64_C(1) << 40,
                                    &req.disk_rate_limit, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "memory_rate_limit", false, 0, INT64_C(1) << 40,
                                    &req.memory_rate_limit, &err);
        if (r >= 0 && !host && !datastore)
                r = dv_error_set(&err, 400, "missing-field",
                                 "give 'host' (change host), 'datastore' (storage migration) "
                                 "or both");
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        source = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm_in, "host_id"));
        if (!source) {
                dv_api_error(a, 409, "invalid-state", "vm '%s' has no host",
                             dv_doc_str(vm_in, "name"));
                return;
        }
        target = host ? dv_mgr_get(m, DV_KIND_HOST, host) : json_incref(source);
        if (!target) {
                dv_api_error(a, 404, "unknown-host", "host '%s' not found", host);
                return;
        }
        if (datastore && !datastore_known(m, datastore)) {
                dv_api_error(a, 404, "unknown-datastore", "datastore '%s' not found", datastore);
                return;
        }
        /* --host naming the VM's own host with --datastore: a storage
         * migration. */
        if (!datastore)
                kind = DV_MIGRATE_HOST;
        else if (dv_streq(dv_doc_str(target, "id"), dv_doc_str(source, "id")))
                kind = DV_MIGRATE_DATASTORE;
        else
                kind = DV_MIGRATE_HOST_DATASTORE;
        if (check) {
                struct dv_precheck_result *res = NULL;

                r = run_prechecks(m, kind, datastore, vm_in, dv_doc_str(vm_in, "state"), source,
                                  target, true, &res, &err);
                if (r < 0) {
                        dv_api_dv_error(a, &err);
                        return;
                }
                dv_api_reply(a, 200, dv_precheck_result_to_json(res));
                free(res);
                return;
        }

        req.kind = kind;
        req.datastore = datastore;
        r = migrate_submit(m, dv_doc_str(vm_in, "id"), dv_doc_str(target, "id"), &req, a->user,
                           &task, &err);
        if (r < 0)
                dv_api_dv_error(a, &err);
        else
                dv_api_reply(a, 202, json_pack("{s:o}", "task", dv_view(task)));
}
