#include "recover.h"

#include <string.h>

#include "log.h"

#define RESTART_MSG "the manager restarted while this task was running"

static int recover_vms(struct dv_mgr *m)
{
        json_t *vms = NULL, *vm;
        size_t i;
        int r;

        r = dv_store_list(m->store, DV_KIND_VM, NULL, &vms);
        if (r < 0)
                return r;
        json_array_foreach(vms, i, vm) {
                bool changed = false;

                if (json_object_get(vm, "_task")) {
                        /* No task of the old process runs any more. A VM left
                         * "starting"/"stopping" gets its state from the next
                         * heartbeat of its host. */
                        json_object_del(vm, "_task");
                        changed = true;
                }
                if (json_object_get(vm, "_creating")) {
                        json_object_del(vm, "_creating");
                        json_object_set_new(vm, "_cleanup", json_string("create-failed"));
                        json_object_set_new(vm, "state_reason",
                                            json_string("create interrupted by a manager restart; removal pending"));
                        changed = true;
                }
                if (!changed)
                        continue;
                r = dv_store_update(m->store, DV_KIND_VM, vm);
                if (r < 0)
                        break;
                dv_info("recovery: vm %s is %s%s", dv_doc_str(vm, "name"),
                        dv_doc_str(vm, "state"),
                        json_object_get(vm, "_cleanup") ? ", to be removed" : "");
        }
        json_decref(vms);
        return r;
}

static int recover_images(struct dv_mgr *m)
{
        json_t *imgs = NULL, *img;
        size_t i;
        int r;

        r = dv_store_list(m->store, DV_KIND_IMAGE, NULL, &imgs);
        if (r < 0)
                return r;
        json_array_foreach(imgs, i, img) {
                _cleanup_(freep) char *tmp = NULL;

                if (!json_object_get(img, "_importing"))
                        continue;
                tmp = dv_asprintf("%s.part", dv_doc_str(img, "path"));
                unlink(tmp);
                r = dv_store_remove(m->store, DV_KIND_IMAGE, dv_doc_str(img, "id"));
                if (r < 0)
                        break;
                dv_mgr_event(m, DV_USER_SYSTEM, "image.deleted", "image", img,
                             "import of image '%s' interrupted by a manager restart",
                             dv_doc_str(img, "name"));
        }
        json_decref(imgs);
        return r;
}

int dv_recover(struct dv_mgr *m)
{
        json_t *tasks = NULL, *t, *hosts = NULL, *h;
        char now[32];
        size_t i;
        int r;

        dv_mgr_now(now);
        r = m->store->ops->fail_unfinished_tasks(m->store, "manager-restart", RESTART_MSG, now,
                                                 &tasks);
        if (r < 0)
                return r;
        json_array_foreach(tasks, i, t)
                dv_mgr_event(m, DV_USER_SYSTEM, "task.failed", "task", t,
                             "task %s (%s on %s '%s') failed: " RESTART_MSG,
                             dv_doc_str(t, "id"), dv_doc_str(t, "op"),
                             dv_doc_str(json_object_get(t, "target"), "kind"),
                             dv_doc_str(json_object_get(t, "target"), "name"));
        json_decref(tasks);
        r = recover_vms(m);
        if (r >= 0)
                r = recover_images(m);
        if (r < 0)
                return r;
        /* Hosts get one heartbeat timeout of grace from now. */
        r = dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts);
        if (r < 0)
                return r;
        dv_mgr_lock(m);
        json_array_foreach(hosts, i, h)
                json_object_set_new(m->host_rt, dv_doc_str(h, "id"),
                                    json_pack("{s:I}", "seen_ms", (json_int_t)dv_now_ms()));
        dv_mgr_unlock(m);
        json_decref(hosts);
        return 0;
}
