#include "sched-snap.h"

#include <string.h>

#include "dvs.h"
#include "mcache.h"
#include "view.h"
#include "vm-qos.h"

void dv_sched_snapshot_done(struct dv_sched_snapshot *s)
{
        free(s->sh);
        free(s->names);
        free(s->dvs_names);
        json_decref(s->dvs);
        json_decref(s->hosts);
        dv_mcache_table_unref(s->table);
        *s = (struct dv_sched_snapshot){ 0 };
}

int dv_sched_snapshot_take(struct dv_mgr *m, struct dv_sched_snapshot *s)
{
        size_t i, n, total = 0, k = 0, total_dvs = 0, kd = 0;
        json_t *h, *d;
        int r;

        *s = (struct dv_sched_snapshot){ 0 };
        if (m->cache) {
                /* The cached hosts with the usage of now: no per-host reads. */
                r = dv_mcache_sched_hosts(m, &s->table, &s->sh, &s->n);
                if (r < 0)
                        return r;
                s->hosts = json_incref(dv_mcache_table_hosts(s->table));
                s->dvs = json_incref(dv_mcache_table_dvs(s->table));
                return 0;
        }
        r = dv_store_list(m->store, DV_KIND_HOST, NULL, &s->hosts);
        if (r < 0)
                return r;
        s->dvs = json_array();
        n = json_array_size(s->hosts);
        s->n = n;
        json_array_foreach(s->hosts, i, h) {
                json_t *names = NULL;

                total += json_array_size(json_object_get(h, "datastores"));
                r = dv_dvs_of_host(m, dv_doc_str(h, "id"), &names);
                if (r < 0)
                        return r;
                total_dvs += json_array_size(names);
                json_array_append_new(s->dvs, names);
        }
        s->sh = calloc(n + 1, sizeof(*s->sh));
        s->names = calloc(total + 1, sizeof(*s->names));
        s->dvs_names = calloc(total_dvs + 1, sizeof(*s->dvs_names));
        if (!s->sh || !s->names || !s->dvs_names)
                return -ENOMEM;
        json_array_foreach(s->hosts, i, h) {
                struct dv_sched_host *x = &s->sh[i];
                size_t j;
                int64_t count;

                x->id = dv_doc_str(h, "id");
                x->name = dv_doc_str(h, "name");
                x->state = dv_doc_str(h, "state");
                x->connected = dv_streq(x->state, "connected");
                x->cpus = dv_doc_int(h, "cpus", 0);
                x->memory_mib = dv_doc_int(h, "memory_mib", 0);
                r = dv_host_usage(m, x->id, &x->reserved_mib, &count);
                if (r >= 0) {
                        x->cpu_mhz = dv_host_cpu_mhz(h);
                        x->cpu_reserved_mhz = dv_host_cpu_reserved_mhz(m, x->id);
                }
                if (r < 0)
                        return r;
                x->datastores = &s->names[k];
                json_array_foreach(json_object_get(h, "datastores"), j, d)
                        s->names[k++] = dv_doc_str(d, "name");
                x->n_datastores = json_array_size(json_object_get(h, "datastores"));
                x->dvs = &s->dvs_names[kd];
                json_array_foreach(json_array_get(s->dvs, i), j, d)
                        s->dvs_names[kd++] = json_string_value(d);
                x->n_dvs = json_array_size(json_array_get(s->dvs, i));
        }
        return 0;
}

static bool is_local(const char *ds)
{
        size_t n = ds ? strlen(ds) : 0;

        return n > 6 && strcmp(ds + n - 6, "-local") == 0;
}

void dv_sched_vmreq_init(struct dv_mgr *m, json_t *vm, struct dv_sched_vmreq *q)
{
        json_t *d, *nic;
        size_t i;

        *q = (struct dv_sched_vmreq){ 0 };
        q->keep = json_array();
        q->req.cpus = dv_doc_int(vm, "cpus", 1);
        q->req.memory_mib = dv_doc_int(vm, "memory_mib", 0);
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                const char *ds = dv_doc_str(d, "datastore");

                if (!ds)
                        continue;
                if (is_local(ds)) {
                        if (!q->local_disk)
                                q->local_disk = ds;
                        continue;
                }
                if (q->req.n_datastores < DV_VM_DISKS_MAX)
                        q->ds[q->req.n_datastores++] = ds;
        }
        json_array_foreach(json_object_get(vm, "nics"), i, nic) {
                json_t *pg = dv_mgr_get(m, DV_KIND_PORTGROUP, dv_doc_str(nic, "portgroup"));
                const char *dvs = pg ? dv_doc_str(pg, "dvs") : NULL;
                bool seen = false;

                if (!pg)
                        continue;
                json_array_append_new(q->keep, pg);
                for (size_t j = 0; j < q->req.n_dvs; j++)
                        seen = seen || dv_streq(q->dvs[j], dvs);
                if (!seen && dvs && q->req.n_dvs < DV_VM_NICS_MAX)
                        q->dvs[q->req.n_dvs++] = dvs;
        }
        q->req.datastores = q->ds;
        q->req.dvs = q->dvs;
}

void dv_sched_vmreq_done(struct dv_sched_vmreq *q)
{
        json_decref(q->keep);
        q->keep = NULL;
}
