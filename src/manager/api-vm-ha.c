/* PATCH /api/v1/vms/{id}: a VM's HA settings, {"ha"?: bool,
 * "ha_priority"?: -1000..1000} (higher restarts first). Allowed in any
 * state; switching HA off cancels a restart HA is working on. */
#include "api-vm-ha.h"

#include "json.h"
#include "view.h"

#define HA_PRIORITY_MAX 1000

void dv_api_vm_patch(struct dv_api *a, json_t *vm)
{
        static const char *const keys[] = { "ha", "ha_priority", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *body = NULL, *cur = NULL;
        bool ha = false;
        int64_t prio = 0;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        if (r >= 0 && !json_object_get(body, "ha") && !json_object_get(body, "ha_priority"))
                r = dv_error_set(&err, 400, "missing-field", "give 'ha' or 'ha_priority'");
        if (r >= 0)
                r = dv_json_get_bool(body, "ha", false, &ha, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "ha_priority", false, -HA_PRIORITY_MAX, HA_PRIORITY_MAX,
                                    &prio, &err);
        if (r < 0) {
                dv_api_dv_error(a, &err);
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
        if (json_object_get(body, "ha"))
                json_object_set_new(cur, "ha", json_boolean(ha));
        if (json_object_get(body, "ha_priority"))
                json_object_set_new(cur, "ha_priority", json_integer(prio));
        else if (!json_object_get(cur, "ha_priority"))
                json_object_set_new(cur, "ha_priority", json_integer(0));
        r = dv_store_update(m->store, DV_KIND_VM, cur);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "writing the vm");
                goto out;
        }
        dv_mgr_event(m, a->user, "vm.ha-set", "vm", cur, "vm '%s': HA %s, restart priority %lld",
                     dv_doc_str(cur, "name"),
                     json_is_true(json_object_get(cur, "ha")) ? "on" : "off",
                     (long long)dv_doc_int(cur, "ha_priority", 0));
        dv_mgr_unlock(m);
        dv_api_reply(a, 200, dv_view(cur));
out:
        json_decref(cur);
        json_decref(body);
}
