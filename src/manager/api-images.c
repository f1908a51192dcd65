/* /api/v1/images: list, show, import (task image.import), delete. */
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "image.h"
#include "validate.h"
#include "view.h"

static void image_import(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_image_req q;
        struct dv_error err = { 0 };
        json_t *body = NULL, *img = NULL, *task = NULL, *old;
        _cleanup_(freep) char *dst = NULL;
        struct dv_image_op *op;
        char id[37], now[32];
        struct stat st;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_image_import(body, &q, &err) < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        if (stat(q.path, &st) < 0 || !S_ISREG(st.st_mode)) {
                dv_api_error(a, 400, "invalid-field", "field 'path': %s is not a readable file",
                             q.path);
                goto out;
        }
        dv_mgr_lock(m);
        old = dv_mgr_get(m, DV_KIND_IMAGE, q.name);
        if (old) {
                json_decref(old);
                dv_mgr_unlock(m);
                dv_api_error(a, 409, "name-taken", "image '%s' already exists", q.name);
                goto out;
        }
        if (!dv_tasks_can_accept(m->tasks)) {
                dv_mgr_unlock(m);
                dv_api_error(a, 503, "busy", "too many tasks are pending; try again later");
                goto out;
        }
        if (dv_uuid_new(id) < 0)
                abort();
        dv_mgr_now(now);
        dst = dv_image_path(m, q.name);
        img = json_pack("{s:s,s:s,s:s,s:n,s:n,s:n,s:s,s:s,s:i,s:s,s:b,s:s,s:s,s:s}", "id", id,
                        "name", q.name, "kind", "disk", "kernel", "initrd", "cmdline", "path",
                        dst, "format", "qcow2", "size_bytes", 0, "created_at", now, "_importing",
                        true, "_source", q.path, "_source_format", q.format, "_user", a->user);
        task = dv_task_doc_new("image.import", "image", id, q.name, a->user);
        r = dv_store_write_intent(m->store, task, DV_KIND_IMAGE, img, true);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "writing the image");
                goto out;
        }
        op = calloc(1, sizeof(*op));
        if (!op)
                abort();
        op->m = m;
        snprintf(op->id, sizeof(op->id), "%s", id);
        r = dv_tasks_submit(m->tasks, task, dv_image_task_import, op, free);
        if (r >= 0)
                dv_mgr_event(m, a->user, "image.import", "image", img,
                             "import image '%s' from %s (%s)", q.name, q.path, q.format);
        dv_mgr_unlock(m);
        if (r < 0)
                dv_api_error(a, 503, "shutting-down", "the manager is shutting down");
        else
                dv_api_reply(a, 202, json_pack("{s:o,s:o}", "task", dv_view(task), "image",
                                               dv_view(img)));
out:
        json_decref(task);
        json_decref(img);
        json_decref(body);
}

static void image_delete(struct dv_api *a, json_t *img)
{
        struct dv_mgr *m = a->m;
        struct dv_store_filter f = { .image_id = dv_doc_str(img, "id"), .limit = 1 };
        _cleanup_(freep) char *own = NULL;
        json_t *users = NULL;
        int r;

        dv_mgr_lock(m);
        r = dv_store_list(m->store, DV_KIND_VM, &f, &users);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "listing vms");
                return;
        }
        if (json_array_size(users) > 0) {
                dv_api_error(a, 409, "invalid-state", "image '%s' is used by vm '%s'",
                             dv_doc_str(img, "name"),
                             dv_doc_str(json_array_get(users, 0), "name"));
                goto out;
        }
        if (json_object_get(img, "_importing")) {
                dv_api_error(a, 409, "invalid-state", "image '%s' is being imported",
                             dv_doc_str(img, "name"));
                goto out;
        }
        r = dv_store_remove(m->store, DV_KIND_IMAGE, dv_doc_str(img, "id"));
        if (r == -EBUSY) {
                dv_api_error(a, 409, "invalid-state", "image '%s' is in use",
                             dv_doc_str(img, "name"));
                goto out;
        }
        if (r < 0 && r != -ENOENT) {
                dv_api_internal(a, r, "removing the image");
                goto out;
        }
        /* Only files the manager made are removed; a kernel image dir stays. */
        own = dv_image_path(m, dv_doc_str(img, "name"));
        if (dv_streq(dv_doc_str(img, "kind"), "disk") && dv_streq(dv_doc_str(img, "path"), own))
                unlink(own);
        dv_mgr_event(m, a->user, "image.deleted", "image", img, "image '%s' deleted",
                     dv_doc_str(img, "name"));
        dv_api_reply(a, 204, NULL);
out:
        dv_mgr_unlock(m);
        json_decref(users);
}

void dv_api_images(struct dv_api *a)
{
        json_t *list = NULL, *out, *img;
        size_t i;
        int r;

        if (a->nseg == 1) {
                if (dv_api_is(a, "POST")) {
                        image_import(a);
                        return;
                }
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                r = dv_store_list(a->m->store, DV_KIND_IMAGE, NULL, &list);
                if (r < 0) {
                        dv_api_internal(a, r, "listing images");
                        return;
                }
                out = json_array();
                json_array_foreach(list, i, img)
                        json_array_append_new(out, dv_view(img));
                json_decref(list);
                dv_api_reply(a, 200, json_pack("{s:o}", "images", out));
                return;
        }
        if (a->nseg != 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "GET") && !dv_api_is(a, "DELETE")) {
                dv_api_bad_method(a);
                return;
        }
        img = dv_mgr_get(a->m, DV_KIND_IMAGE, a->segs[1]);
        if (!img) {
                dv_api_not_found(a, "image", a->segs[1]);
                return;
        }
        if (dv_api_is(a, "GET"))
                dv_api_reply(a, 200, dv_view(img));
        else
                image_delete(a, img);
        json_decref(img);
}
