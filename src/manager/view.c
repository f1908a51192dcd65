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
        bool over = dv_mem_overcommit(m);
        size_t i;
        int r;

        if (m->cache) {
                dv_mcache_host_usage(m->cache, host_id, ret_reserved_mib, ret_vm_count, NULL);
                return 0;
        }
        r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0)
                return r;
        /* Configured sizes, or reservations with memory overcommit on. */
        json_array_foreach(vms, i, vm)
                sum += dv_vm_mem_admitted_mib(vm, over);
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
        /* Memory overcommit (docs/qos.md): KSM, swap, and each VM's
         * balloon as the agent last reported them. */
        {
                json_t *ksm = json_object(), *swap = json_object(), *vms = json_array(), *s;
                size_t i;
                static const char *const kk[][2] = {
                        { "ksm_run", "run" }, { "ksm_saved_mib", "saved_mib" },
                        { "ksm_shared_mib", "shared_mib" },
                        { "ksm_pages_to_scan", "pages_to_scan" }, { "ksm_sleep_ms", "sleep_ms" },
                };

                for (size_t k = 0; k < ELEMENTSOF(kk); k++)
                        if (json_object_get(metrics, kk[k][0]))
                                json_object_set(ksm, kk[k][1], json_object_get(metrics, kk[k][0]));
                if (json_object_get(metrics, "swap_total_mib"))
                        json_object_set(swap, "total_mib", json_object_get(metrics, "swap_total_mib"));
                if (json_object_get(metrics, "swap_used_mib"))
                        json_object_set(swap, "used_mib", json_object_get(metrics, "swap_used_mib"));
                json_array_foreach(json_object_get(rt, "vms"), i, s) {
                        json_t *e;

                        if (!dv_streq(dv_doc_str(s, "state"), "running") &&
                            !dv_streq(dv_doc_str(s, "state"), "paused"))
                                continue;
                        e = json_pack("{s:O?,s:O?}", "name", json_object_get(s, "name"),
                                      "rss_mib", json_object_get(s, "rss_mib"));
                        if (json_object_get(s, "balloon_mib"))
                                json_object_set(e, "balloon_mib", json_object_get(s, "balloon_mib"));
                        if (json_object_get(s, "balloon_target_mib"))
                                json_object_set(e, "balloon_target_mib",
                                                json_object_get(s, "balloon_target_mib"));
                        if (json_object_get(s, "swap_mib"))
                                json_object_set(e, "swap_mib", json_object_get(s, "swap_mib"));
                        json_array_append_new(vms, e);
                }
                json_object_set_new(v, "ksm", ksm);
                json_object_set_new(v, "swap", swap);
                json_object_set_new(v, "vm_memory", vms);
        }
        dv_mgr_unlock(m);
        json_object_set_new(v, "memory_overcommit", json_boolean(dv_mem_overcommit(m)));
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
