/* Helpers shared by the ops: small files, the mount table, arguments. */
#include "tools.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

int dv_read_small(const char *path, char *buf, size_t max)
{
        _cleanup_(closep) int fd = -1;
        size_t n = 0;

        if (max == 0)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (n < max - 1) {
                ssize_t k = read(fd, buf + n, max - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return (int)n;
}

int dv_write_small(const char *path, const char *s)
{
        _cleanup_(closep) int fd = -1;
        size_t len = strlen(s);
        ssize_t k;

        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = write(fd, s, len);
        if (k < 0)
                return -errno;
        if ((size_t)k != len)
                return -EIO;
        return 0;
}

/* /proc/mounts escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
        char *o = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *o++ = *s;
        }
        *o = '\0';
}

int dv_mounts_real(struct dv_mount *out, size_t max, size_t *ret_n)
{
        _cleanup_(fclosep) FILE *f = NULL;
        char line[1024];
        size_t n = 0;

        f = fopen("/proc/self/mounts", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f) && n < max) {
                char *dev, *dir, *type, *opts, *save = NULL;
                struct dv_mount *m = &out[n];
                struct stat st;
                bool dup = false;

                dev = strtok_r(line, " ", &save);
                dir = strtok_r(NULL, " ", &save);
                type = strtok_r(NULL, " ", &save);
                opts = strtok_r(NULL, " ", &save);
                if (!dev || !dir || !type || !opts)
                        continue;
                unescape(dev);
                unescape(dir);
                if (strncmp(dev, "/dev/", 5) != 0 && strcmp(dir, "/") != 0)
                        continue;
                if (strlen(dev) >= sizeof(m->dev) || strlen(dir) >= sizeof(m->dir))
                        continue;
                if (stat(dir, &st) < 0)
                        continue;
                /* One entry per superblock (bind mounts share one). */
                for (size_t i = 0; i < n; i++)
                        if (out[i].sb == st.st_dev)
                                dup = true;
                if (dup)
                        continue;
                snprintf(m->dev, sizeof(m->dev), "%s", dev);
                snprintf(m->dir, sizeof(m->dir), "%s", dir);
                snprintf(m->type, sizeof(m->type), "%s", type);
                m->ro = strcmp(opts, "ro") == 0 || strncmp(opts, "ro,", 3) == 0;
                m->sb = st.st_dev;
                n++;
        }
        *ret_n = n;
        return 0;
}

int dv_arg_check_keys(const struct dv_tj *args, const char *const *allowed, struct dv_op_err *e)
{
        for (const struct dv_tj *m = args->child; m; m = m->next) {
                bool ok = false;
                for (const char *const *k = allowed; *k; k++)
                        if (strcmp(*k, m->key) == 0)
                                ok = true;
                if (!ok)
                        return dv_op_fail(e, "invalid-args", "unknown field '%.40s'", m->key);
        }
        return 0;
}

int dv_arg_int(const struct dv_tj *args, const char *key, bool required, int64_t min,
               int64_t max, int64_t *ret, struct dv_op_err *e)
{
        const struct dv_tj *v = dv_tj_get(args, key);

        if (!v) {
                if (required)
                        return dv_op_fail(e, "invalid-args", "missing field '%s'", key);
                return 0;
        }
        if (v->type != DV_TJ_INT)
                return dv_op_fail(e, "invalid-args", "'%s' must be an integer", key);
        if (v->i < min || v->i > max)
                return dv_op_fail(e, "invalid-args", "'%s' must be in %lld..%lld", key,
                                  (long long)min, (long long)max);
        *ret = v->i;
        return 0;
}

int dv_arg_str(const struct dv_tj *args, const char *key, bool required, size_t max_len,
               const char **ret, struct dv_op_err *e)
{
        const struct dv_tj *v = dv_tj_get(args, key);

        if (!v) {
                if (required)
                        return dv_op_fail(e, "invalid-args", "missing field '%s'", key);
                return 0;
        }
        if (v->type != DV_TJ_STRING)
                return dv_op_fail(e, "invalid-args", "'%s' must be a string", key);
        if (v->n > max_len)
                return dv_op_fail(e, "invalid-args", "'%s' is longer than %zu bytes", key, max_len);
        *ret = v->s;
        return 0;
}
