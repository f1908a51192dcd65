/* PATCH /api/v1/vms/{id}: a VM's HA settings, {"ha"?: bool,
 * "ha_priority"?: -1000..1000} (higher restarts first). Allowed in any
 * state; switching HA off cancels a restart HA is working on. */
#include "api-vm-ha.h"

#include "json.h"
#include "view.h"
#include "vm-qos.h"

#define HA_PRIORITY_MAX 1000

void dv_api_vm_patch(struct dv_api *a, json_t *vm)
{
        static const char *const keys[] = { "ha", "ha_priority", "cpu_qos", "disks", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *body = NULL, *cur = NULL, *patched = NULL, *before = NULL;
        struct dv_cpu_qos old_qos;
        bool qos = false;
        bool ha = false;
        int64_t prio = 0;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        qos = json_object_get(body, "cpu_qos") || json_object_get(body, "disks");
        if (r >= 0 && !json_object_get(body, "ha") && !json_object_get(body, "ha_priority") && !qos)
                r = dv_error_set(&err, 400, "missing-field",
                                 "give 'ha', 'ha_priority', 'cpu_qos' or 'disks'");
        if (r >= 0)
                r = dv_json_get_bool(body, "ha", false, &ha, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "ha_priority", false, -HA_PRIORITY_MAX, HA_PRIORITY_MAX,
                                    &prio, &err);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        if (qos) {
                /* QoS first (docs/qos.md): checked, admitted and applied on
                 * the agent of a running VM, without the lock held. */
                dv_mgr_lock(m);
                patched = dv_mgr_get(m, DV_KIND_VM, dv_doc_str(vm, "id"));
                dv_mgr_unlock(m);
                if (!patched) {
                        dv_api_not_found(a, "vm", dv_doc_str(vm, "name"));
                        goto out;
                }
                if (json_object_get(patched, "_cleanup") || json_object_get(patched, "_creating")) {
                        dv_api_error(a, 409, "invalid-state", "vm '%s' is being %s",
                                     dv_doc_str(patched, "name"),
                                     json_object_get(patched, "_cleanup") ? "deleted" : "created");
                        goto out;
                }
                before = json_deep_copy(patched);
                if (dv_vm_qos_patch(a, patched, body, &old_qos) < 0)
                        goto out;
        }
        dv_mgr_lock(m);
        /* Re-read under the lock: a task may have written it meanwhile. */
        cur = dv_mgr_get(m, DV_KIND_VM, dv_doc_str(vm, "id"));
        if (!cur) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "vm", dv_doc_str(vm, "name"));
                goto out;
        }
        if (json_object_get(cur, "_cleanup")) {
                dv_mgr_unlock(m);
                dv_api_error(a, 409, "invalid-state", "vm '%s' is being deleted",
                             dv_doc_str(cur, "name"));
                goto out;
        }
        if (qos && dv_vm_qos_commit_locked(m, cur, patched, &err) < 0) {
                dv_mgr_unlock(m);
                dv_vm_qos_undo(m, before);
                dv_api_dv_error(a, &err);
                goto out;
        }
        if (json_object_get(body, "ha"))
                json_object_set_new(cur, "ha", json_boolean(ha));
        if (json_object_get(body, "ha_priority"))
                json_object_set_new(cur, "ha_priority", json_integer(prio));
        else if (!json_object_get(cur, "ha_priority"))
                json_object_set_new(cur, "ha_priority", json_integer(0));
        r = dv_store_update(m->store, DV_KIND_VM, cur);
        if (r < 0) {
                dv_mgr_unlock(m);
                if (qos)
                        dv_vm_qos_undo(m, before);
                dv_api_internal(a, r, "writing the vm");
                goto out;
        }
        if (qos) {
                _cleanup_(freep) char *c = json_dumps(json_object_get(cur, "cpu_qos"), JSON_COMPACT);

                dv_mgr_event(m, a->user, "vm.qos-set", "vm", cur, "vm '%s': cpu %s%s",
                             dv_doc_str(cur, "name"), c ? c : "?",
                             json_object_get(body, "disks") ? ", disk limits changed" : "");
        }
        if (json_object_get(body, "ha") || json_object_get(body, "ha_priority"))
                dv_mgr_event(m, a->user, "vm.ha-set", "vm", cur, "vm '%s': HA %s, restart priority %lld",
                     dv_doc_str(cur, "name"),
                     json_is_true(json_object_get(cur, "ha")) ? "on" : "off",
                     (long long)dv_doc_int(cur, "ha_priority", 0));
        dv_mgr_unlock(m);
        dv_api_reply(a, 200, dv_view(cur));
out:
        json_decref(cur);
        json_decref(patched);
        json_decref(before);
        json_decref(body);
}
