#include "mcache.h"
#include "vm-qos.h"

#include <string.h>

#include "agent.h"
#include "ha-env.h"
#include "json.h"

#define DEFAULT_HOST_MHZ 1000
#define AGENT_QOS_TIMEOUT_MS 15000

int64_t dv_host_cpu_mhz(json_t *host)
{
        int64_t v = dv_doc_int(host, "cpu_mhz", 0);

        return v > 0 ? v : DEFAULT_HOST_MHZ;
}

void dv_vm_cpu_qos_get(json_t *vm, struct dv_cpu_qos *ret)
{
        struct dv_cpu_qos q;

        dv_cpu_qos_default(&q);
        /* Stored by us: valid; a failure leaves the defaults. */
        if (dv_cpu_qos_merge(json_object_get(vm, "cpu_qos"), &q, NULL) < 0)
                dv_cpu_qos_default(&q);
        *ret = q;
}

bool dv_mem_overcommit(struct dv_mgr *m)
{
        json_t *doc = NULL;
        bool on = false;

        if (m->cache)
                return dv_mcache_overcommit(m->cache); /* kept from the writes */
        if (dv_store_get(m->store, DV_KIND_CLUSTER, DV_CLUSTER_DEFAULT, &doc) >= 0)
                on = json_is_true(json_object_get(doc, "overcommit"));
        json_decref(doc);
        return on;
}

void dv_vm_mem_qos_get(json_t *vm, struct dv_mem_qos *ret)
{
        struct dv_mem_qos q;

        dv_mem_qos_default(&q);
        if (dv_mem_qos_merge(json_object_get(vm, "mem_qos"), &q, NULL) < 0)
                dv_mem_qos_default(&q);
        q.limit_mib = -1;
        *ret = q;
}

int64_t dv_vm_mem_admitted_mib(json_t *vm, bool overcommit)
{
        struct dv_mem_qos q;

        dv_vm_mem_qos_get(vm, &q);
        return dv_mem_admitted_mib(&q, dv_doc_int(vm, "memory_mib", 0), overcommit);
}

/* Memory admission on a host: what its VMs count (dv_mem_admitted_mib),
 * with vm (id vm_id, or a new one) counted as admitted_mib, fits in the
 * memory the host gives to VMs. */
static int mem_admit(struct dv_mgr *m, json_t *host, json_t *vms, const char *vm_id,
                     const char *vm_name, int64_t admitted_mib, bool overcommit,
                     struct dv_error *err)
{
        int64_t cap = dv_doc_int(host, "memory_mib", 0), sum = admitted_mib;
        json_t *vm;
        size_t i;

        (void)m;
        json_array_foreach(vms, i, vm)
                if (!vm_id || !dv_streq(dv_doc_str(vm, "id"), vm_id))
                        sum += dv_vm_mem_admitted_mib(vm, overcommit);
        if (sum <= cap)
                return 0;
        return dv_error_set(err, 409, "insufficient-resources",
                            "host '%s' gives %lld MiB of memory to vms; with vm '%s' they would "
                            "%s %lld MiB (memory overcommit is %s: %s count)",
                            dv_doc_str(host, "name"), (long long)cap, vm_name,
                            overcommit ? "reserve" : "need", (long long)sum,
                            overcommit ? "on" : "off",
                            overcommit ? "memory reservations" : "configured memory sizes");
}

int64_t dv_host_cpu_reserved_mhz(struct dv_mgr *m, const char *host_id)
{
        struct dv_store_filter f = { .host_id = host_id };
        json_t *vms = NULL, *vm;
        int64_t sum = 0;
        size_t i;

        if (host_id && m->cache) {
                dv_mcache_host_usage(m->cache, host_id, NULL, NULL, &sum);
                return sum;
        }
        if (!host_id || dv_store_list(m->store, DV_KIND_VM, &f, &vms) < 0)
                return 0;
        json_array_foreach(vms, i, vm) {
                struct dv_cpu_qos q;

                dv_vm_cpu_qos_get(vm, &q);
                sum += q.reservation_mhz;
        }
        json_decref(vms);
        return sum;
}

int dv_vm_mem_admit(struct dv_mgr *m, json_t *host, const char *vm_id, const char *vm_name,
                    int64_t memory_mib, const struct dv_mem_qos *mq, struct dv_error *err)
{
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        bool over = dv_mem_overcommit(m);
        json_t *vms = NULL;
        int r;

        r = dv_mem_qos_check(mq, memory_mib, err);
        if (r < 0)
                return r;
        r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0)
                return dv_error_set(err, 500, "internal", "reading the host's vms: %s",
                                    strerror(-r));
        r = mem_admit(m, host, vms, vm_id, vm_name, dv_mem_admitted_mib(mq, memory_mib, over),
                      over, err);
        json_decref(vms);
        return r;
}

int dv_vm_qos_admit(struct dv_mgr *m, json_t *host, const char *vm_id, const char *vm_name,
                    int64_t vcpus, const struct dv_cpu_qos *q, struct dv_error *err)
{
        struct dv_store_filter f = { .host_id = dv_doc_str(host, "id") };
        _cleanup_(freep) struct dv_qos_vm *list = NULL;
        _cleanup_(freep) struct dv_cpu_qos *qs = NULL;
        json_t *vms = NULL, *vm;
        int64_t mhz = dv_host_cpu_mhz(host), cpus = dv_doc_int(host, "cpus", 1);
        size_t i, n = 0;
        bool found = false;
        int r;

        r = dv_cpu_qos_check(q, vcpus, cpus, mhz, err);
        if (r < 0)
                return r;
        if (q->reservation_mhz == 0 && !q->has_affinity)
                return 0; /* adds nothing to any set's reservations */
        r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0)
                return dv_error_set(err, 500, "internal", "reading the host's vms: %s",
                                    strerror(-r));
        list = calloc(json_array_size(vms) + 1, sizeof(*list));
        qs = calloc(json_array_size(vms) + 1, sizeof(*qs));
        if (!list || !qs) {
                json_decref(vms);
                return -ENOMEM;
        }
        json_array_foreach(vms, i, vm) {
                if (vm_id && dv_streq(dv_doc_str(vm, "id"), vm_id)) {
                        qs[n] = *q;
                        found = true;
                } else {
                        dv_vm_cpu_qos_get(vm, &qs[n]);
                }
                list[n].name = dv_doc_str(vm, "name");
                list[n].q = &qs[n];
                n++;
        }
        if (!found) {
                qs[n] = *q;
                list[n].name = vm_name;
                list[n].q = &qs[n];
                n++;
        }
        r = dv_cpu_qos_admit(dv_doc_str(host, "name"), list, n, cpus, mhz, err);
        json_decref(vms); /* after admit: list[].name points into it */
        return r;
}

int dv_validate_cpu_qos(json_t *body, struct dv_cpu_qos *ret, struct dv_error *err)
{
        struct dv_cpu_qos q;
        int r;

        dv_cpu_qos_default(&q);
        r = dv_cpu_qos_merge(json_object_get(body, "cpu_qos"), &q, err);
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

/* The disk named name in vm's disks, or -1. */
static int disk_index(json_t *vm, const char *name)
{
        json_t *d;
        size_t i;

        json_array_foreach(json_object_get(vm, "disks"), i, d)
                if (dv_streq(dv_doc_str(d, "name"), name))
                        return (int)i;
        return -1;
}

int dv_vm_qos_patch(struct dv_api *a, json_t *vm, json_t *body, struct dv_cpu_qos *ret_old)
{
        static const char *const disk_keys[] = { "name", "iops_max", "bps_max", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        struct dv_cpu_qos q, old;
        struct dv_mem_qos mq;
        struct dv_disk_qos dq[DV_QOS_DISKS_MAX] = { { 0 } };
        json_t *disks = json_object_get(vm, "disks"), *jd = json_object_get(body, "disks");
        json_t *d, *host = NULL, *agent_body = NULL, *adisks = NULL;
        const char *state = dv_doc_str(vm, "state");
        bool live;
        size_t i;
        int r;

        dv_vm_cpu_qos_get(vm, &old);
        q = old;
        dv_vm_mem_qos_get(vm, &mq);
        r = dv_cpu_qos_merge(json_object_get(body, "cpu_qos"), &q, &err);
        if (r >= 0)
                r = dv_mem_qos_merge(json_object_get(body, "mem_qos"), &mq, &err);
        if (r >= 0)
                r = dv_mem_qos_check(&mq, dv_doc_int(vm, "memory_mib", 0), &err);
        if (r >= 0 && jd && !json_is_array(jd))
                r = dv_error_set(&err, 400, "invalid-field", "field 'disks' must be an array");
        if (r >= 0 && json_array_size(disks) > DV_QOS_DISKS_MAX)
                r = dv_error_set(&err, 500, "internal", "vm has too many disks");
        if (r < 0)
                goto fail;
        json_array_foreach(disks, i, d) {
                dq[i].iops_max = dv_doc_int(d, "iops_max", 0);
                dq[i].bps_max = dv_doc_int(d, "bps_max", 0);
        }
        json_array_foreach(jd, i, d) {
                const char *name = NULL;
                int64_t iops = -1, bps = -1;
                int k;

                if (!json_is_object(d)) {
                        r = dv_error_set(&err, 400, "invalid-field", "disks[%zu] must be an object", i);
                        goto fail;
                }
                r = dv_json_check_keys(d, disk_keys, &err);
                if (r >= 0)
                        r = dv_json_get_string(d, "name", true, &name, &err);
                if (r >= 0)
                        r = dv_json_get_int(d, "iops_max", false, 0, DV_QOS_IOPS_MAX, &iops, &err);
                if (r >= 0)
                        r = dv_json_get_int(d, "bps_max", false, 0, DV_QOS_BPS_MAX, &bps, &err);
                if (r < 0)
                        goto fail;
                k = disk_index(vm, name);
                if (k < 0) {
                        r = dv_error_set(&err, 404, "not-found", "disks[%zu]: vm '%s' has no disk '%.64s'",
                                         i, dv_doc_str(vm, "name"), name);
                        goto fail;
                }
                if (iops >= 0)
                        dq[k].iops_max = iops;
                if (bps >= 0)
                        dq[k].bps_max = bps;
        }

        live = dv_streq(state, "running") || dv_streq(state, "paused");
        if (!live && !dv_streq(state, "stopped") && !dv_streq(state, "crashed")) {
                r = dv_error_set(&err, 409, "invalid-state",
                                 "vm '%s' is %s: set its QoS once it is running or stopped",
                                 dv_doc_str(vm, "name"), state ? state : "unknown");
                goto fail;
        }
        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        if (host)
                r = dv_vm_qos_admit(m, host, dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                                    dv_doc_int(vm, "cpus", 1), &q, &err);
        if (host && r >= 0)
                r = dv_vm_mem_admit(m, host, dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                                    dv_doc_int(vm, "memory_mib", 0), &mq, &err);
        else if (!host && live)
                r = dv_error_set(&err, 409, "invalid-state", "vm '%s' has no host",
                                 dv_doc_str(vm, "name"));
        dv_mgr_unlock(m);
        if (r < 0)
                goto fail;

        if (live) {
                if (!dv_streq(dv_doc_str(host, "state"), "connected")) {
                        r = dv_error_set(&err, 503, "agent-unreachable",
                                         "host '%s' of vm '%s' is not connected",
                                         dv_doc_str(host, "name"), dv_doc_str(vm, "name"));
                        goto fail;
                }
                _cleanup_(freep) char *path =
                        dv_asprintf("/agent/v1/vms/%s/qos", dv_doc_str(vm, "id"));
                adisks = json_array();
                for (i = 0; i < json_array_size(disks); i++)
                        json_array_append_new(adisks, json_pack("{s:I,s:I,s:I}", "index",
                                                                (json_int_t)i, "iops_max",
                                                                (json_int_t)dq[i].iops_max,
                                                                "bps_max", (json_int_t)dq[i].bps_max));
                agent_body = json_pack("{s:o,s:o,s:o}", "cpu_qos", dv_cpu_qos_to_json(&q),
                                       "mem_qos",
                                       dv_mem_qos_to_json(&mq, dv_doc_int(vm, "memory_mib", 0)),
                                       "disks", adisks);
                r = dv_agent_call(host, "POST", path, agent_body, AGENT_QOS_TIMEOUT_MS, NULL,
                                  &err);
                if (r < 0)
                        goto fail;
        }
        json_object_set_new(vm, "cpu_qos", dv_cpu_qos_to_json(&q));
        json_object_set_new(vm, "mem_qos", dv_mem_qos_to_json(&mq, dv_doc_int(vm, "memory_mib", 0)));
        json_array_foreach(disks, i, d) {
                json_object_set_new(d, "iops_max", json_integer(dq[i].iops_max));
                json_object_set_new(d, "bps_max", json_integer(dq[i].bps_max));
        }
        json_decref(agent_body);
        json_decref(host);
        *ret_old = old;
        return 0;
fail:
        json_decref(agent_body);
        json_decref(host);
        dv_api_dv_error(a, &err);
        return r < 0 ? r : -EINVAL;
}

int dv_vm_qos_recheck(struct dv_mgr *m, json_t *vm, struct dv_error *err)
{
        struct dv_cpu_qos q;
        json_t *host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
        int r = 0;

        if (!host)
                return 0;
        dv_vm_cpu_qos_get(vm, &q);
        r = dv_vm_qos_admit(m, host, dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                            dv_doc_int(vm, "cpus", 1), &q, err);
        if (r >= 0) {
                struct dv_mem_qos mq;

                dv_vm_mem_qos_get(vm, &mq);
                r = dv_vm_mem_admit(m, host, dv_doc_str(vm, "id"), dv_doc_str(vm, "name"),
                                    dv_doc_int(vm, "memory_mib", 0), &mq, err);
        }
        json_decref(host);
        return r;
}

int dv_vm_qos_commit_locked(struct dv_mgr *m, json_t *cur, json_t *patched, struct dv_error *err)
{
        json_t *d, *pd = json_object_get(patched, "disks");
        size_t i;
        int r;

        r = dv_vm_qos_recheck(m, patched, err);
        if (r < 0)
                return r;
        json_object_set(cur, "cpu_qos", json_object_get(patched, "cpu_qos"));
        if (json_object_get(patched, "mem_qos"))
                json_object_set(cur, "mem_qos", json_object_get(patched, "mem_qos"));
        json_array_foreach(json_object_get(cur, "disks"), i, d) {
                json_t *p = json_array_get(pd, i);

                if (!p || !dv_streq(dv_doc_str(p, "name"), dv_doc_str(d, "name")))
                        continue;
                json_object_set_new(d, "iops_max", json_integer(dv_doc_int(p, "iops_max", 0)));
                json_object_set_new(d, "bps_max", json_integer(dv_doc_int(p, "bps_max", 0)));
        }
        return 0;
}

void dv_vm_qos_undo(struct dv_mgr *m, json_t *before)
{
        json_t *host, *adisks = json_array(), *body, *d;
        struct dv_cpu_qos q;
        struct dv_error err = { 0 };
        size_t i;

        if (!dv_streq(dv_doc_str(before, "state"), "running") &&
            !dv_streq(dv_doc_str(before, "state"), "paused")) {
                json_decref(adisks);
                return;
        }
        dv_mgr_lock(m);
        host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(before, "host_id"));
        dv_mgr_unlock(m);
        dv_vm_cpu_qos_get(before, &q);
        json_array_foreach(json_object_get(before, "disks"), i, d)
                json_array_append_new(adisks, json_pack("{s:I,s:I,s:I}", "index", (json_int_t)i,
                                                        "iops_max", (json_int_t)dv_doc_int(d, "iops_max", 0),
                                                        "bps_max", (json_int_t)dv_doc_int(d, "bps_max", 0)));
        body = json_pack("{s:o,s:o}", "cpu_qos", dv_cpu_qos_to_json(&q), "disks", adisks);
        {
                struct dv_mem_qos mq;

                dv_vm_mem_qos_get(before, &mq);
                json_object_set_new(body, "mem_qos",
                                    dv_mem_qos_to_json(&mq, dv_doc_int(before, "memory_mib", 0)));
        }
        if (host) {
                _cleanup_(freep) char *path = dv_asprintf("/agent/v1/vms/%s/qos", dv_doc_str(before, "id"));
                (void)dv_agent_call(host, "POST", path, body, AGENT_QOS_TIMEOUT_MS, NULL, &err);
        }
        json_decref(body);
        json_decref(host);
}
