#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <arpa/inet.h>

bool dv_name_valid(const char *name)
{
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n < 1 || n > DV_NAME_MAX)
                return false;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)name[i];
                if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static int random_bytes(uint8_t *buf, size_t n)
{
        size_t got = 0;

        while (got < n) {
                ssize_t k = getrandom(buf + got, n - got, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t)k;
        }
        return 0;
}

int dv_random_hex(char *out, size_t nbytes)
{
        static const char hex[] = "0123456789abcdef";
        uint8_t buf[128];
        int r;

        if (nbytes > sizeof(buf))
                return -EINVAL;
        r = random_bytes(buf, nbytes);
        if (r < 0)
                return r;
        for (size_t i = 0; i < nbytes; i++) {
                out[2 * i] = hex[buf[i] >> 4];
                out[2 * i + 1] = hex[buf[i] & 15];
        }
        out[2 * nbytes] = 0;
        return 0;
}

int dv_uuid_new(char out[37])
{
        uint8_t b[16];
        int r = random_bytes(b, sizeof(b));

        if (r < 0)
                return r;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, 37,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                 b[12], b[13], b[14], b[15]);
        return 0;
}

bool dv_uuid_valid(const char *s)
{
        if (!s || strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return false;
                }
        }
        return true;
}

int64_t dv_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dv_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dv_iso_time(int64_t wall_ms, char *buf, size_t len)
{
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *dv_strdup(const char *s)
{
        char *p;

        if (!s)
                return NULL;
        p = strdup(s);
        if (!p)
                abort();
        return p;
}

char *dv_asprintf(const char *fmt, ...)
{
        va_list ap;
        char *p;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        return p;
}

bool dv_streq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

bool dv_startswith(const char *s, const char *prefix)
{
        return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

int dv_read_attr(const char *dir, const char *file, char *buf, size_t len)
{
        _cleanup_(freep) char *p = dv_asprintf("%s/%s", dir, file);
        _cleanup_(closep) int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        if (len == 0)
                return -EINVAL;
        n = read(fd, buf, len - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return 0;
}

int dv_write_attr(const char *dir, const char *file, const char *value)
{
        _cleanup_(freep) char *p = dv_asprintf("%s/%s", dir, file);
        _cleanup_(closep) int fd = open(p, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
        size_t n = strlen(value);
        ssize_t w;

        if (fd < 0)
                return -errno;
        w = write(fd, value, n);
        if (w < 0)
                return -errno;
        return (size_t)w == n ? 0 : -EIO;
}

int dv_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0, cap = 4096;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (len == cap) {
                        char *nb;
                        if (cap >= max)
                                return -EFBIG;
                        cap = DV_MIN(cap * 2, max);
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + len, cap - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t)k;
        }
        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        *ret_data = TAKE_PTR(buf);
        return 0;
}

int dv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        _cleanup_(freep) char *tmp = dv_asprintf("%s.tmp.%d", path, (int)getpid());
        const char *p = data;
        int fd, r = 0;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0)
                r = -errno;
        while (r == 0 && len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                p += k;
                len -= (size_t)k;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

int dv_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_(freep) char *p = dv_strdup(path);

        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int dv_rm_rf(const char *path)
{
        struct stat st;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_(freep) char *child = NULL;
                int k;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                child = dv_asprintf("%s/%s", path, de->d_name);
                k = dv_rm_rf(child);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(d);
        if (rmdir(path) < 0 && r == 0)
                r = -errno;
        return r;
}

int dv_parse_hostport(const char *s, char *ret_addr, size_t addr_len, uint16_t *ret_port)
{
        const char *colon;
        int64_t port;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;
        colon = strrchr(s, ':');
        if (!colon)
                return -EINVAL;
        n = (size_t)(colon - s);
        if (n == 0 || n >= addr_len)
                return -EINVAL;
        r = dv_parse_int64(colon + 1, 0, 65535, &port);
        if (r < 0)
                return r;
        memcpy(ret_addr, s, n);
        ret_addr[n] = 0;
        *ret_port = (uint16_t)port;
        return 0;
}

int dv_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        char *end;
        long long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end || end == s)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

bool dv_pid_alive(pid_t pid)
{
        char path[64], state = 0;
        _cleanup_(fclosep) FILE *f = NULL;
        char buf[512];
        char *p;

        if (pid <= 0)
                return false;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        if (!fgets(buf, sizeof(buf), f))
                return false;
        p = strrchr(buf, ')');
        if (p && p[1] == ' ')
                state = p[2];
        return state != 'Z' && state != 'X';
}

struct parallel_item {
        void (*fn)(void *arg, size_t i); /* what to run */
        void *arg;                       /* its argument */
        size_t i;                        /* the item's index */
        pthread_t thread;                /* its thread */
        bool started;                    /* the thread exists */
};

static void *parallel_main(void *p)
{
        struct parallel_item *it = p;

        it->fn(it->arg, it->i);
        return NULL;
}

void dv_parallel(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
        struct parallel_item *items = calloc(n ? n : 1, sizeof(*items));

        if (!items) {
                for (size_t i = 0; i < n; i++)
                        fn(arg, i);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                items[i] = (struct parallel_item){ .fn = fn, .arg = arg, .i = i };
                items[i].started = pthread_create(&items[i].thread, NULL, parallel_main,
                                                  &items[i]) == 0;
                if (!items[i].started)
                        fn(arg, i);
        }
        for (size_t i = 0; i < n; i++)
                if (items[i].started)
                        pthread_join(items[i].thread, NULL);
        free(items);
}
