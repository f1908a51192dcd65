/* Directory datastores and their disks: DS/VM_ID/NAME.qcow2 made with
 * qemu-img (thin), owned by the VM's uid. Deletion never leaves the
 * datastores: paths are checked after resolving symlinks. */
#include "agent.h"

#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define QEMU_IMG "qemu-img"
#define QEMU_IMG_TIMEOUT_MS 60000
#define GIB (1024ull * 1024 * 1024)

void dv_datastores_init(struct dv_datastores *ds)
{
        *ds = (struct dv_datastores){};
        pthread_mutex_init(&ds->lock, NULL);
}

void dv_datastores_done(struct dv_datastores *ds)
{
        for (size_t i = 0; i < ds->n; i++) {
                free(ds->items[i].name);
                free(ds->items[i].path);
        }
        pthread_mutex_destroy(&ds->lock);
        ds->n = 0;
}

bool dv_path_strictly_within(const char *root, const char *path)
{
        size_t n;

        if (!root || !path || root[0] != '/' || path[0] != '/')
                return false;
        n = strlen(root);
        if (n == 1) /* root is "/" */
                return path[1] != 0;
        return strncmp(root, path, n) == 0 && path[n] == '/' && path[n + 1] != 0;
}

int dv_datastores_add(struct dv_datastores *ds, const char *name, const char *path)
{
        char canon[PATH_MAX];
        int r;

        if (!dv_name_valid(name))
                return -EINVAL;
        if (ds->n == ELEMENTSOF(ds->items))
                return -ENOSPC;
        r = dv_mkdir_p(path, 0711);
        if (r < 0)
                return r;
        if (!realpath(path, canon))
                return -errno;
        for (size_t i = 0; i < ds->n; i++) {
                if (strcmp(ds->items[i].name, name) == 0)
                        return -EEXIST;
                /* Nested or equal datastores would make "which one owns this
                 * disk" ambiguous. */
                if (strcmp(ds->items[i].path, canon) == 0 ||
                    dv_path_strictly_within(ds->items[i].path, canon) ||
                    dv_path_strictly_within(canon, ds->items[i].path))
                        return -ENOTUNIQ;
        }
        ds->items[ds->n].name = dv_strdup(name);
        ds->items[ds->n].path = dv_strdup(canon);
        ds->n++;
        return 0;
}

const struct dv_datastore *dv_datastores_find(const struct dv_datastores *ds, const char *name)
{
        for (size_t i = 0; i < ds->n; i++)
                if (dv_streq(ds->items[i].name, name))
                        return &ds->items[i];
        return NULL;
}

const struct dv_datastore *dv_datastores_owner(const struct dv_datastores *ds,
                                               const char *canonical)
{
        for (size_t i = 0; i < ds->n; i++)
                if (dv_path_strictly_within(ds->items[i].path, canonical))
                        return &ds->items[i];
        return NULL;
}

json_t *dv_datastores_to_json(const struct dv_datastores *ds)
{
        json_t *arr = json_array();

        if (!arr)
                return NULL;
        for (size_t i = 0; i < ds->n; i++) {
                struct statvfs sv;
                uint64_t cap = 0, avail = 0;
                json_t *o;

                if (statvfs(ds->items[i].path, &sv) == 0) {
                        cap = (uint64_t)sv.f_blocks * sv.f_frsize;
                        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
                }
                o = json_pack("{s:s,s:s,s:I,s:I}", "name", ds->items[i].name, "path",
                              ds->items[i].path, "capacity_gib", (json_int_t)(cap / GIB),
                              "free_gib", (json_int_t)(avail / GIB));
                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(arr);
                        return NULL;
                }
        }
        return arr;
}

/* Remove dir if it is an empty directory strictly inside a datastore. */
static void remove_vm_dir(const struct dv_datastore *owner, const char *dir)
{
        if (owner && dv_path_strictly_within(owner->path, dir))
                (void)rmdir(dir); /* ENOTEMPTY: other disks of the VM remain */
}

/* Virtual size in bytes of a disk image, from qemu-img info. */
static int disk_virtual_size(const char *path, int64_t *ret, struct dv_error *err)
{
        const char *argv[] = { QEMU_IMG, "info", "--output=json", path, NULL };
        _cleanup_(freep) char *out = NULL;
        _cleanup_(json_decrefp) json_t *info = NULL;
        char errbuf[512];
        int r, status = 0;

        r = dv_spawn_output(argv, QEMU_IMG_TIMEOUT_MS, 64 * 1024, &out, errbuf, sizeof(errbuf),
                            &status);
        if (r < 0 || status != 0)
                return dv_error_set(err, 500, "disk-create-failed", "qemu-img info %s: %s", path,
                                    r < 0 ? strerror(-r) : errbuf);
        info = out ? json_loads(out, 0, NULL) : NULL;
        if (!json_is_integer(json_object_get(info, "virtual-size")))
                return dv_error_set(err, 500, "disk-create-failed",
                                    "qemu-img info %s: no virtual size", path);
        *ret = json_integer_value(json_object_get(info, "virtual-size"));
        return 0;
}

/* Make the disk file at path: blank (size_bytes when > 0, else size_gib),
 * or a copy of source grown to size_gib. */
static int disk_make(const char *path, int64_t size_gib, int64_t size_bytes, const char *source,
                     const char *source_format, int64_t *ret_size_gib, struct dv_error *err)
{
        _cleanup_(freep) char *size = size_bytes > 0 ? dv_asprintf("%lld", (long long)size_bytes)
                                                     : dv_asprintf("%lldG", (long long)size_gib);
        const int64_t gib = 1024LL * 1024 * 1024;
        char out[1024];
        int64_t vsize = 0;
        int r, status = 0;

        if (!source) {
                /* No preallocation: a mirror skips what reads as zeros. */
                const char *argv[] = { QEMU_IMG, "create", "-q", "-f", "qcow2", path, size, NULL };

                r = dv_spawn_capture(argv, QEMU_IMG_TIMEOUT_MS, out, sizeof(out), &status);
                if (r < 0 || status != 0)
                        return dv_error_set(err, 500, "disk-create-failed", "qemu-img create %s: %s",
                                            path, r < 0 ? strerror(-r) : out);
                *ret_size_gib = size_gib;
                return 0;
        }
        {
                const char *argv[] = { QEMU_IMG, "convert", "-q", "-f", source_format,
                                       "-O", "qcow2", source, path, NULL };

                r = dv_spawn_capture(argv, DV_MAX(QEMU_IMG_TIMEOUT_MS, 600000), out, sizeof(out),
                                     &status);
                if (r < 0 || status != 0)
                        return dv_error_set(err, 500, "disk-create-failed",
                                            "qemu-img convert %s: %s", source,
                                            r < 0 ? strerror(-r) : out);
        }
        r = disk_virtual_size(path, &vsize, err);
        if (r < 0)
                return r;
        if (vsize < size_gib * gib) {
                const char *argv[] = { QEMU_IMG, "resize", "-q", "-f", "qcow2", path, size, NULL };

                r = dv_spawn_capture(argv, QEMU_IMG_TIMEOUT_MS, out, sizeof(out), &status);
                if (r < 0 || status != 0)
                        return dv_error_set(err, 500, "disk-create-failed", "qemu-img resize %s: %s",
                                            path, r < 0 ? strerror(-r) : out);
                vsize = size_gib * gib;
        }
        *ret_size_gib = (vsize + gib - 1) / gib;
        return 0;
}

int dv_disk_create(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                   const char *name, int64_t size_gib, uid_t uid, char **ret_path,
                   struct dv_error *err)
{
        int64_t ignored;

        return dv_disk_create_from(ds, datastore, vm_id, name, size_gib, uid, NULL, NULL, ret_path,
                                   &ignored, err);
}

static int disk_create(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                       const char *name, int64_t size_gib, int64_t size_bytes, uid_t uid,
                       const char *source, const char *source_format, char **ret_path,
                       int64_t *ret_size_gib, struct dv_error *err);

int dv_disk_create_from(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                        const char *name, int64_t size_gib, uid_t uid, const char *source,
                        const char *source_format, char **ret_path, int64_t *ret_size_gib,
                        struct dv_error *err)
{
        return disk_create(ds, datastore, vm_id, name, size_gib, 0, uid, source, source_format,
                           ret_path, ret_size_gib, err);
}

int dv_disk_create_bytes(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                         const char *name, int64_t size_bytes, uid_t uid, char **ret_path,
                         struct dv_error *err)
{
        int64_t ignored;

        if (size_bytes < 512 || size_bytes % 512 != 0 || size_bytes > (int64_t)(16384 * GIB))
                return dv_error_set(err, 400, "out-of-range",
                                    "size_bytes must be a multiple of 512 up to 16 TiB");
        return disk_create(ds, datastore, vm_id, name, (size_bytes + GIB - 1) / GIB, size_bytes,
                           uid, NULL, NULL, ret_path, &ignored, err);
}

static int disk_create(struct dv_datastores *ds, const char *datastore, const char *vm_id,
                       const char *name, int64_t size_gib, int64_t size_bytes, uid_t uid,
                       const char *source, const char *source_format, char **ret_path,
                       int64_t *ret_size_gib, struct dv_error *err)
{
        int64_t made_gib = size_gib;
        _cleanup_(freep) char *dir = NULL, *path = NULL;
        const struct dv_datastore *d;
        struct stat st;
        int r;

        if (!dv_name_valid(vm_id) || !dv_name_valid(name))
                return dv_error_set(err, 400, "invalid-name", "invalid VM id or disk name");
        if (size_gib < 1 || size_gib > 16384)
                return dv_error_set(err, 400, "out-of-range", "size_gib must be 1..16384");
        if (source) {
                if (source[0] != '/' || stat(source, &st) < 0 || !S_ISREG(st.st_mode))
                        return dv_error_set(err, 400, "invalid-path",
                                            "image source '%.200s' is not a regular file", source);
                if (!dv_streq(source_format, "qcow2") && !dv_streq(source_format, "raw"))
                        return dv_error_set(err, 400, "invalid-field",
                                            "source format must be qcow2 or raw");
        }
        d = dv_datastores_find(ds, datastore);
        if (!d) {
                dv_error_set(err, 404, "unknown-datastore", "datastore '%s' not found on this host",
                             datastore);
                return -ENOENT;
        }
        dir = dv_asprintf("%s/%s", d->path, vm_id);
        path = dv_asprintf("%s/%s.qcow2", dir, name);

        pthread_mutex_lock(&ds->lock);
        if (mkdir(dir, 0711) < 0 && errno != EEXIST) {
                r = -errno;
                dv_error_set(err, 500, "internal", "mkdir %s: %s", dir, strerror(-r));
                goto out;
        }
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                r = -ENOTDIR;
                dv_error_set(err, 500, "internal", "%s is not a directory", dir);
                goto out;
        }
        if (lstat(path, &st) == 0) {
                r = -EEXIST;
                dv_error_set(err, 409, "name-taken", "disk %s already exists", path);
                goto out;
        }

        r = disk_make(path, size_gib, size_bytes, source, source_format, &made_gib, err);
        if (r < 0) {
                (void)unlink(path);
                remove_vm_dir(d, dir);
                goto out;
        }
        if (chown(path, uid, uid) < 0 || chmod(path, 0600) < 0) {
                r = -errno;
                dv_error_set(err, 500, "disk-create-failed", "chown/chmod %s to uid %u: %s", path,
                             (unsigned)uid, strerror(-r));
                (void)unlink(path);
                remove_vm_dir(d, dir);
                goto out;
        }
        r = 0;
        *ret_path = TAKE_PTR(path);
        *ret_size_gib = made_gib;
out:
        pthread_mutex_unlock(&ds->lock);
        return r;
}

/* No "", "." or ".." segment (for paths that cannot be resolved). */
static bool path_is_plain(const char *p)
{
        if (p[0] != '/')
                return false;
        for (const char *s = p + 1;;) {
                const char *e = strchrnul(s, '/');
                size_t n = (size_t)(e - s);

                if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                if (!*e)
                        return true;
                s = e + 1;
        }
}

int dv_disk_delete(struct dv_datastores *ds, const char *path, bool *ret_deleted,
                   struct dv_error *err)
{
        _cleanup_(freep) char *dircopy = NULL, *basecopy = NULL, *target = NULL;
        const struct dv_datastore *owner;
        char parent[PATH_MAX];
        const char *base;
        struct stat st;
        bool deleted = false;
        int r = 0;

        if (!path || path[0] != '/' || strlen(path) >= PATH_MAX)
                return dv_error_set(err, 400, "invalid-path", "the path must be absolute");
        dircopy = dv_strdup(path);
        basecopy = dv_strdup(path);
        base = basename(basecopy);
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0)
                return dv_error_set(err, 400, "invalid-path", "'%s' does not name a file", path);

        pthread_mutex_lock(&ds->lock);
        /* Resolve the directory, keep the last component: the file itself is
         * never followed, and a symlink is refused below. */
        if (!realpath(dirname(dircopy), parent)) {
                r = -errno;
                if (r == -ENOENT && path_is_plain(path) && dv_datastores_owner(ds, path)) {
                        r = 0; /* already gone, with its directory */
                        goto out;
                }
                dv_error_set(err, 400, "invalid-path", "'%s' is not inside a datastore of this host",
                             path);
                goto out;
        }
        target = dv_asprintf("%s/%s", strcmp(parent, "/") == 0 ? "" : parent, base);
        owner = dv_datastores_owner(ds, target);
        if (!owner) {
                r = -EPERM;
                dv_error_set(err, 400, "invalid-path", "'%s' is not inside a datastore of this host",
                             path);
                goto out;
        }
        if (lstat(target, &st) < 0) {
                r = -errno;
                if (r == -ENOENT) {
                        r = 0;
                        remove_vm_dir(owner, parent);
                        goto out;
                }
                dv_error_set(err, 500, "internal", "stat %s: %s", target, strerror(-r));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = -EINVAL;
                dv_error_set(err, 400, "invalid-path", "'%s' is not a regular file", path);
                goto out;
        }
        if (unlink(target) < 0) {
                r = -errno;
                dv_error_set(err, 500, "internal", "unlink %s: %s", target, strerror(-r));
                goto out;
        }
        deleted = true;
        remove_vm_dir(owner, parent);
out:
        pthread_mutex_unlock(&ds->lock);
        if (r == 0)
                *ret_deleted = deleted;
        return r;
}
