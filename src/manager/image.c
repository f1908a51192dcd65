#include "image.h"

#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "json.h"
#include "log.h"

extern char **environ;

char *dv_image_path(struct dv_mgr *m, const char *name)
{
        return dv_asprintf("%s/images/%s.qcow2", m->cfg.data_dir, name);
}

/* The absolute path of a file named in image.json, which must exist. */
static int image_file(const char *dir, const char *name, char **ret, off_t *size,
                      struct dv_error *err)
{
        _cleanup_(freep) char *joined = NULL;
        char *real;
        struct stat st;

        if (!name || !*name || strchr(name, '/'))
                return dv_error_set(err, 400, "invalid-field",
                                    "%s/image.json names an invalid file '%s'", dir,
                                    name ? name : "");
        joined = dv_asprintf("%s/%s", dir, name);
        real = realpath(joined, NULL);
        if (!real || stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
                free(real);
                return dv_error_set(err, 400, "invalid-field", "%s is missing", joined);
        }
        *size += st.st_size;
        *ret = real;
        return 0;
}

int dv_image_register_dir(struct dv_mgr *m, const char *dir, struct dv_error *err)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/image.json", dir);
        _cleanup_(freep) char *text = NULL, *kernel = NULL, *initrd = NULL, *realdir = NULL;
        _cleanup_(freep) char *tools = NULL;
        off_t tools_size = 0;
        json_t *meta = NULL, *img = NULL, *old = NULL;
        const char *kind, *cmdline;
        char now[32], id[37];
        off_t size = 0;
        size_t len;
        int r;

        r = dv_read_file(path, 65536, &text, &len);
        if (r < 0)
                return dv_error_set(err, 400, "invalid-field", "cannot read %s: %s", path,
                                    strerror(-r));
        r = dv_json_parse_object(text, len, &meta, err);
        if (r < 0)
                return r;
        kind = dv_doc_str(meta, "kind");
        cmdline = dv_doc_str(meta, "cmdline");
        realdir = realpath(dir, NULL);
        if (!dv_streq(kind, "kernel")) {
                r = dv_error_set(err, 400, "invalid-field", "%s: kind must be \"kernel\"", path);
                goto out;
        }
        r = image_file(dir, dv_doc_str(meta, "kernel"), &kernel, &size, err);
        if (r >= 0)
                r = image_file(dir, dv_doc_str(meta, "initrd"), &initrd, &size, err);
        if (r < 0)
                goto out;
        /* The drover-tools the image has, pushed by tools-upgrade (optional). */
        if (dv_doc_str(meta, "tools_binary") &&
            image_file(dir, dv_doc_str(meta, "tools_binary"), &tools, &tools_size, NULL) < 0)
                tools = NULL;

        dv_mgr_lock(m);
        old = dv_mgr_get(m, DV_KIND_IMAGE, "default");
        if (old && !dv_streq(dv_doc_str(old, "name"), "default")) {
                json_decref(old);
                old = NULL;
        }
        if (old) {
                img = json_deep_copy(old);
        } else {
                dv_mgr_now(now);
                if (dv_uuid_new(id) < 0)
                        abort();
                img = json_pack("{s:s,s:s,s:s}", "id", id, "name", "default", "created_at", now);
        }
        json_object_set_new(img, "kind", json_string("kernel"));
        json_object_set_new(img, "kernel", json_string(kernel));
        json_object_set_new(img, "initrd", json_string(initrd));
        dv_doc_set_str(img, "cmdline", cmdline);
        dv_doc_set_str(img, "path", realdir ? realdir : dir);
        dv_doc_set_str(img, "tools", tools);
        json_object_set_new(img, "format", json_null());
        json_object_set_new(img, "size_bytes", json_integer((json_int_t)size));
        if (!old) {
                r = dv_store_insert(m->store, DV_KIND_IMAGE, img);
                if (r >= 0)
                        dv_mgr_event(m, DV_USER_SYSTEM, "image.registered", "image", img,
                                     "image 'default' registered from %s", dir);
        } else if (!json_equal(old, img)) {
                r = dv_store_update(m->store, DV_KIND_IMAGE, img);
                if (r >= 0)
                        dv_mgr_event(m, DV_USER_SYSTEM, "image.updated", "image", img,
                                     "image 'default' refreshed from %s", dir);
        }
        dv_mgr_unlock(m);
        if (r < 0)
                dv_error_set(err, 500, "internal", "cannot write image 'default': %s",
                             strerror(-r));
out:
        json_decref(old);
        json_decref(img);
        json_decref(meta);
        return r;
}

/* Run qemu-img convert; cancellable. Returns 0, -ECANCELED or -EIO (msg). */
static int convert(struct dv_task *t, const char *src, const char *fmt, const char *dst,
                   char *msg, size_t len)
{
        char *argv[] = { "qemu-img", "convert", "-q", "-f", (char *)fmt, "-O", "qcow2",
                         (char *)src, (char *)dst, NULL };
        pid_t pid;
        int status, r;

        r = posix_spawnp(&pid, "qemu-img", NULL, NULL, argv, environ);
        if (r != 0) {
                snprintf(msg, len, "cannot run qemu-img: %s", strerror(r));
                return -EIO;
        }
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR) {
                        snprintf(msg, len, "waitpid: %s", strerror(errno));
                        return -EIO;
                }
                if (dv_task_cancel_requested(t)) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        return -ECANCELED;
                }
                usleep(100 * 1000);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                snprintf(msg, len, "qemu-img convert of %s failed (status %d)", src,
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                return -EIO;
        }
        return 0;
}

void dv_image_task_import(struct dv_task *t, void *data)
{
        struct dv_image_op *op = data;
        struct dv_mgr *m = op->m;
        const char *id = op->id;
        json_t *img;
        _cleanup_(freep) char *tmp = NULL, *dir = NULL;
        char msg[512] = "";
        struct stat st;
        int r;

        img = dv_mgr_get(m, DV_KIND_IMAGE, id);
        if (!img) {
                dv_task_fail(t, "internal", "the image record disappeared");
                return;
        }
        dir = dv_asprintf("%s/images", m->cfg.data_dir);
        r = dv_mkdir_p(dir, 0700);
        tmp = dv_asprintf("%s.part", dv_doc_str(img, "path"));
        if (r < 0)
                snprintf(msg, sizeof(msg), "cannot create %s: %s", dir, strerror(-r));
        else {
                dv_task_progress(t, 10, "converting %s", dv_doc_str(img, "_source"));
                r = convert(t, dv_doc_str(img, "_source"), dv_doc_str(img, "_source_format"), tmp,
                            msg, sizeof(msg));
        }
        if (r >= 0 && rename(tmp, dv_doc_str(img, "path")) < 0) {
                r = -errno;
                snprintf(msg, sizeof(msg), "rename: %s", strerror(errno));
        }
        dv_mgr_lock(m);
        if (r >= 0) {
                json_object_del(img, "_importing");
                json_object_set_new(img, "size_bytes",
                                    json_integer(stat(dv_doc_str(img, "path"), &st) == 0
                                                         ? (json_int_t)st.st_size
                                                         : 0));
                r = dv_store_update(m->store, DV_KIND_IMAGE, img);
                if (r >= 0)
                        dv_mgr_event(m, dv_doc_str(img, "_user"), "image.imported", "image", img,
                                     "image '%s' imported", dv_doc_str(img, "name"));
        } else {
                unlink(tmp);
                dv_store_remove(m->store, DV_KIND_IMAGE, id);
        }
        dv_mgr_unlock(m);
        if (r == -ECANCELED)
                dv_task_cancelled(t, "import of image '%s' cancelled", dv_doc_str(img, "name"));
        else if (r < 0)
                dv_task_fail(t, "import-failed", "%s", msg[0] ? msg : strerror(-r));
        else
                dv_task_succeed(t, json_pack("{s:s}", "image_id", id), "image '%s' imported",
                                dv_doc_str(img, "name"));
        json_decref(img);
}
