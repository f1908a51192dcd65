/* Admission control at power-on (docs/ha.md, "Admission control"): the
 * facts of dv_ha_admission_check() from the store, for a user's power-on
 * of an HA VM. HA's own restarts are not checked: they use the capacity
 * admission control kept for them. */
#include <stdlib.h>
#include <string.h>

#include "ha-env.h"
#include "ha.h"
#include "manager.h"

static enum dv_ha_vm_state vm_state_of(const char *s)
{
        return dv_streq(s, "stopped") || !s ? DV_HA_VM_STOPPED : DV_HA_VM_RUNNING;
}

int dv_ha_admit(struct dv_mgr *m, json_t *vm, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *cluster = NULL, *hosts = NULL, *vms = NULL;
        _cleanup_(freep) struct dv_ha_host *hx = NULL;
        _cleanup_(freep) struct dv_ha_vm *vx = NULL;
        struct dv_ha_settings s;
        struct dv_ha_vm me = {};
        size_t nh = 0, nv = 0, i;
        char reason[400] = "";
        json_t *d;
        int r;

        if (!json_is_true(json_object_get(vm, "ha")))
                return 0;
        r = dv_cluster_get_default(m, &cluster);
        if (r < 0)
                return dv_error_set(err, 500, "internal", "cannot read the cluster's HA settings");
        dv_cluster_ha_settings(cluster, &s);
        if (!s.enabled || s.admission == DV_HA_ADMISSION_OFF)
                return 0;
        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) < 0 ||
            dv_store_list(m->store, DV_KIND_VM, NULL, &vms) < 0)
                return dv_error_set(err, 500, "internal", "cannot list hosts and VMs");
        hx = calloc(json_array_size(hosts) + 1, sizeof(*hx));
        vx = calloc(json_array_size(vms) + 1, sizeof(*vx));
        if (!hx || !vx)
                return dv_error_set(err, 500, "internal", "out of memory");
        json_array_foreach(hosts, i, d) {
                const char *st = dv_doc_str(d, "state");

                /* Hosts that are down give no capacity. */
                if (!dv_streq(st, "connected") && !dv_streq(st, "maintenance") &&
                    !dv_streq(st, "standby"))
                        continue;
                hx[nh].name = dv_doc_str(d, "name");
                hx[nh].admin = dv_streq(st, "maintenance") ? DV_HA_ADMIN_MAINTENANCE
                               : dv_streq(st, "standby")   ? DV_HA_ADMIN_STANDBY
                                                           : DV_HA_ADMIN_ACTIVE;
                hx[nh].mem_total_mib = dv_doc_int(d, "memory_mib", 0);
                nh++;
        }
        json_array_foreach(vms, i, d) {
                if (!dv_doc_str(d, "name"))
                        continue;
                vx[nv].name = dv_doc_str(d, "name");
                vx[nv].mem_mib = dv_doc_int(d, "memory_mib", 0);
                vx[nv].state = vm_state_of(dv_doc_str(d, "state"));
                nv++;
        }
        me.name = dv_doc_str(vm, "name");
        me.mem_mib = dv_doc_int(vm, "memory_mib", 0);
        r = dv_ha_admission_check(&s, hx, nh, vx, nv, &me, reason, sizeof(reason));
        if (r == -ENOSPC)
                return dv_error_set(err, 409, "ha-admission",
                                    "HA admission control: %s (admission %s; change it with "
                                    "drover cluster set default)",
                                    reason, dv_ha_admission_to_string(s.admission));
        if (r < 0)
                return dv_error_set(err, 500, "internal", "HA admission check failed: %s",
                                    strerror(-r));
        return 0;
}
