#include "view.h"
#include "vm-qos.h"

#include "mcache.h"
#include "mstats.h"

int dv_host_usage(struct dv_mgr *m, const char *host_id, int64_t *ret_reserved_mib,
                  int64_t *ret_vm_count)
{
        struct dv_store_filter f = { .host_id = host_id };
        json_t *vms = NULL, *vm;
        int64_t sum = 0;
        size_t i;
        int r;

        if (m->cache) {
                dv_mcache_host_usage(m->cache, host_id, ret_reserved_mib, ret_vm_count, NULL);
                return 0;
        }
        r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0)
                return r;
        json_array_foreach(vms, i, vm)
                sum += dv_doc_int(vm, "memory_mib", 0);
        *ret_reserved_mib = sum;
        *ret_vm_count = (int64_t)json_array_size(vms);
        json_decref(vms);
        return 0;
}

/* The load metrics summary (mstats.h), or null before the first sample. */
static json_t *demand(struct dv_mgr *m, const char *id)
{
        json_t *s = dv_mstats_summary(m->mstats, id, dv_wall_ms());

        return s ? s : json_null();
}

json_t *dv_view_host(struct dv_mgr *m, json_t *host)
{
        json_t *v = dv_doc_public(host), *rt, *metrics;
        int64_t reserved = 0, count = 0;

        if (dv_host_usage(m, dv_doc_str(host, "id"), &reserved, &count) < 0)
                reserved = count = 0;
        json_object_set_new(v, "memory_reserved_mib", json_integer(reserved));
        json_object_set_new(v, "vm_count", json_integer(count));
        /* CPU QoS (docs/qos.md): capacity and reservations in MHz. */
        json_object_set_new(v, "cpu_mhz", json_integer(dv_host_cpu_mhz(host)));
        json_object_set_new(v, "cpu_capacity_mhz",
                            json_integer(dv_host_cpu_mhz(host) * dv_doc_int(host, "cpus", 0)));
        json_object_set_new(v, "cpu_reserved_mhz",
                            json_integer(dv_host_cpu_reserved_mhz(m, dv_doc_str(host, "id"))));
        json_object_set_new(v, "memory_used_mib", json_null());
        json_object_set_new(v, "cpu_usage_pct", json_null());
        dv_mgr_lock(m);
        rt = json_object_get(m->host_rt, dv_doc_str(host, "id"));
        metrics = json_object_get(rt, "metrics");
        if (json_object_get(metrics, "mem_used_mib"))
                json_object_set(v, "memory_used_mib", json_object_get(metrics, "mem_used_mib"));
        if (json_object_get(metrics, "cpu_usage_pct"))
                json_object_set(v, "cpu_usage_pct", json_object_get(metrics, "cpu_usage_pct"));
        if (json_object_get(rt, "last_heartbeat"))
                json_object_set(v, "last_heartbeat", json_object_get(rt, "last_heartbeat"));
        dv_mgr_unlock(m);
        json_object_set_new(v, "demand", demand(m, dv_doc_str(host, "id")));
        return v;
}

json_t *dv_view_metrics(struct dv_mgr *m, const char *kind, json_t *doc)
{
        json_t *o = dv_mstats_json(m->mstats, dv_doc_str(doc, "id"), dv_wall_ms());

        if (!o) {
                struct dv_ts empty;

                dv_ts_init(&empty);
                o = dv_ts_to_json(&empty, dv_wall_ms());
        }
        json_object_set_new(o, "kind", json_string(kind));
        json_object_set(o, "id", json_object_get(doc, "id"));
        json_object_set(o, "name", json_object_get(doc, "name"));
        return o;
}

json_t *dv_view_vm(struct dv_mgr *m, json_t *vm)
{
        json_t *v = dv_doc_public(vm);

        json_object_set_new(v, "demand", demand(m, dv_doc_str(vm, "id")));
        return v;
}

json_t *dv_view(json_t *doc)
{
        return dv_doc_public(doc);
}
