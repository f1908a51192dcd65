/* fs-freeze / fs-thaw: FIFREEZE every mounted, writable, non-root
 * filesystem on a block device, so that a disk snapshot taken meanwhile is
 * consistent. A freeze always carries a timeout after which the guest
 * thaws by itself (and says so with an fs-thawed event): a host that dies
 * mid-snapshot must not leave the guest's disks frozen. */
#include "tools.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>

#define FROZEN_MAX 32

static struct frozen {
        char dir[256];
        int fd;
} frozen[FROZEN_MAX];
static size_t nfrozen;
static int64_t thaw_deadline_ms;

int64_t dv_fs_thaw_deadline(void)
{
        return nfrozen > 0 ? thaw_deadline_ms : 0;
}

bool dv_fs_is_frozen(const char *dir)
{
        for (size_t i = 0; i < nfrozen; i++)
                if (strcmp(frozen[i].dir, dir) == 0)
                        return true;
        return false;
}

/* Thaws everything; the names of what was thawed go to w as strings. */
static void thaw(struct dv_tw *w)
{
        for (size_t i = 0; i < nfrozen; i++) {
                if (ioctl(frozen[i].fd, FITHAW, 0) < 0 && errno != EINVAL)
                        dv_log("thaw %s: %m", frozen[i].dir);
                close(frozen[i].fd);
                if (w)
                        dv_tw_str(w, NULL, frozen[i].dir);
        }
        if (nfrozen > 0)
                dv_log("thawed %zu filesystems", nfrozen);
        nfrozen = 0;
        thaw_deadline_ms = 0;
}

void dv_fs_thaw_all(void)
{
        thaw(NULL);
}

void dv_fs_thaw_expired(struct dv_tools *t)
{
        static char buf[8192];
        struct dv_tw w;

        dv_log("freeze timeout reached: thawing by ourselves");
        dv_tw_init(&w, buf, sizeof(buf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_str(&w, "event", "fs-thawed");
        dv_tw_str(&w, "reason", "timeout");
        dv_tw_arr_begin(&w, "mounts");
        thaw(&w);
        dv_tw_arr_end(&w);
        dv_tw_obj_end(&w);
        if (!w.overflow)
                dv_tools_send(t, w.buf, w.len);
}

void dv_fs_thaw_leftovers(void)
{
        struct dv_mount m[FROZEN_MAX];
        size_t n = 0;

        if (dv_mounts_real(m, ELEMENTSOF(m), &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int fd = -1;

                if (strcmp(m[i].dir, "/") == 0 || m[i].ro)
                        continue;
                fd = open(m[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                /* EINVAL: it was not frozen, the common case */
                if (fd >= 0 && ioctl(fd, FITHAW, 0) == 0)
                        dv_log("thawed %s, left frozen by an earlier run", m[i].dir);
        }
}

int dv_op_fs_freeze(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                    struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { "timeout_s", NULL };
        struct dv_mount m[FROZEN_MAX];
        int64_t timeout_s = 60;
        size_t n = 0;

        if (dv_arg_check_keys(args, keys, e) < 0 ||
            dv_arg_int(args, "timeout_s", false, 1, 600, &timeout_s, e) < 0)
                return -EINVAL;
        if (nfrozen > 0)
                return dv_op_fail(e, "busy", "filesystems are already frozen; thaw them first");
        if (dv_mounts_real(m, ELEMENTSOF(m), &n) < 0)
                return dv_op_fail(e, "failed", "cannot read the mount table: %s", strerror(errno));

        sync();
        dv_tw_arr_begin(w, "skipped");
        for (size_t i = 0; i < n; i++) {
                int fd;

                if (strcmp(m[i].dir, "/") == 0 || m[i].ro)
                        continue;
                fd = open(m[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                        dv_tw_str(w, NULL, m[i].dir);
                        continue;
                }
                if (ioctl(fd, FIFREEZE, 0) < 0) {
                        int err = errno;
                        close(fd);
                        if (err == EOPNOTSUPP || err == ENOTTY) {
                                dv_tw_str(w, NULL, m[i].dir); /* this filesystem cannot freeze */
                                continue;
                        }
                        thaw(NULL);
                        return dv_op_fail(e, "failed", "freeze %s: %s", m[i].dir, strerror(err));
                }
                snprintf(frozen[nfrozen].dir, sizeof(frozen[nfrozen].dir), "%s", m[i].dir);
                frozen[nfrozen++].fd = fd;
        }
        dv_tw_arr_end(w);
        thaw_deadline_ms = dv_now_ms() + timeout_s * 1000;
        dv_tw_arr_begin(w, "frozen");
        for (size_t i = 0; i < nfrozen; i++)
                dv_tw_str(w, NULL, frozen[i].dir);
        dv_tw_arr_end(w);
        dv_tw_int(w, "timeout_s", timeout_s);
        dv_log("froze %zu filesystems for at most %lld s", nfrozen, (long long)timeout_s);
        return 0;
}

int dv_op_fs_thaw(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                  struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        dv_tw_arr_begin(w, "thawed");
        thaw(w);
        dv_tw_arr_end(w);
        return 0;
}
