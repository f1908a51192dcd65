/* upgrade-begin / -chunk / -commit / -abort: the host pushes a new
 * drover-tools. Chunks arrive in order and go to a temporary file next to
 * the running binary; commit checks the size, the SHA-256 and that the
 * file is a static x86-64 ELF executable, then fsyncs it, renames it over
 * the binary (atomic) and exits after the reply, so the respawn loop
 * starts the new one. Anything wrong leaves the old binary in place. */
#include "tools.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "elfcheck.h"
#include "sha256.h"

#define UPGRADE_SIZE_MAX (32 * 1024 * 1024)
/* Base64 characters in one chunk: 48 KiB of data, well inside a line. */
#define CHUNK_B64_MAX 65536

static struct {
        bool active;
        int fd;
        char tmp[PATH_MAX];     /* temporary file */
        char target[PATH_MAX];  /* the binary it replaces */
        int64_t size;           /* announced size */
        int64_t received;
        char sha256[65];        /* announced digest, lower case */
        struct dv_sha256 ctx;
} up = { .fd = -1 };

static void upgrade_reset(void)
{
        if (up.fd >= 0)
                close(up.fd);
        if (up.active)
                unlink(up.tmp);
        up.fd = -1;
        up.active = false;
}

/* The path this process was started from; upgrades replace it. */
static int self_path(char *buf, size_t len)
{
        ssize_t n = readlink("/proc/self/exe", buf, len - 1);
        const char *del = " (deleted)";
        size_t dl = strlen(del);

        if (n < 0)
                return -errno;
        buf[n] = '\0';
        if ((size_t)n > dl && strcmp(buf + n - dl, del) == 0)
                buf[n - dl] = '\0';
        return 0;
}

static int b64_val(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/* Strict standard base64 (padding required, nothing else allowed). */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t *ret_len)
{
        size_t o = 0;

        if (n % 4 != 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                int pad = 0;

                for (int j = 0; j < 4; j++) {
                        unsigned char c = (unsigned char)s[i + j];
                        if (c == '=' && i + 4 == n && j >= 2) {
                                v[j] = 0;
                                pad++;
                                continue;
                        }
                        if (pad > 0)
                                return -EINVAL;
                        v[j] = b64_val(c);
                        if (v[j] < 0)
                                return -EINVAL;
                }
                out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
                if (pad < 2)
                        out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
                if (pad < 1)
                        out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
        }
        *ret_len = o;
        return 0;
}

int dv_op_upgrade_begin(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { "size", "sha256", NULL };
        const char *sha = NULL;
        int64_t size = 0;
        char dir[PATH_MAX];

        if (dv_arg_check_keys(args, keys, e) < 0 ||
            dv_arg_int(args, "size", true, 64, UPGRADE_SIZE_MAX, &size, e) < 0 ||
            dv_arg_str(args, "sha256", true, 64, &sha, e) < 0)
                return -EINVAL;
        if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
                return dv_op_fail(e, "invalid-args", "'sha256' must be 64 lower-case hex digits");
        upgrade_reset(); /* a new upload replaces an unfinished one */
        if (self_path(up.target, sizeof(up.target)) < 0)
                return dv_op_fail(e, "failed", "cannot find our own binary: %s", strerror(errno));
        snprintf(dir, sizeof(dir), "%s", up.target);
        snprintf(up.tmp, sizeof(up.tmp), "%s/.drover-tools.upgrade.XXXXXX", dirname(dir));
        up.fd = mkostemp(up.tmp, O_CLOEXEC);
        if (up.fd < 0)
                return dv_op_fail(e, "io-error", "cannot create a file next to %s: %s", up.target,
                                  strerror(errno));
        up.active = true;
        up.size = size;
        up.received = 0;
        memcpy(up.sha256, sha, 65);
        dv_sha256_init(&up.ctx);
        dv_log("upgrade: receiving %lld bytes for %s", (long long)size, up.target);
        dv_tw_int(w, "size", size);
        return 0;
}

int dv_op_upgrade_chunk(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { "offset", "data", NULL };
        static uint8_t buf[CHUNK_B64_MAX / 4 * 3];
        const char *data = NULL;
        int64_t offset = 0;
        size_t n = 0, done = 0;

        if (dv_arg_check_keys(args, keys, e) < 0 ||
            dv_arg_int(args, "offset", true, 0, UPGRADE_SIZE_MAX, &offset, e) < 0 ||
            dv_arg_str(args, "data", true, CHUNK_B64_MAX, &data, e) < 0)
                return -EINVAL;
        if (!up.active)
                return dv_op_fail(e, "invalid-args", "no upgrade in progress");
        if (offset != up.received)
                return dv_op_fail(e, "invalid-args", "chunk at %lld, expected %lld", (long long)offset,
                                  (long long)up.received);
        if (b64_decode(data, strlen(data), buf, &n) < 0)
                return dv_op_fail(e, "invalid-args", "'data' is not base64");
        if ((int64_t)n > up.size - up.received) {
                upgrade_reset();
                return dv_op_fail(e, "invalid-args", "more data than the announced size");
        }
        while (done < n) {
                ssize_t k = write(up.fd, buf + done, n - done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int err = errno;
                        upgrade_reset();
                        return dv_op_fail(e, "io-error", "write: %s", strerror(err));
                }
                done += (size_t)k;
        }
        dv_sha256_update(&up.ctx, buf, n);
        up.received += (int64_t)n;
        dv_tw_int(w, "received", up.received);
        return 0;
}

int dv_op_upgrade_commit(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                         struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };
        uint8_t digest[32];
        char hex[65], why[96], dir[PATH_MAX];
        _cleanup_(closep) int dfd = -1;

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        if (!up.active)
                return dv_op_fail(e, "invalid-args", "no upgrade in progress");
        if (up.received != up.size) {
                int64_t got = up.received;
                upgrade_reset();
                return dv_op_fail(e, "invalid-binary", "received %lld of %lld bytes", (long long)got,
                                  (long long)up.size);
        }
        dv_sha256_final(&up.ctx, digest);
        dv_sha256_hex(digest, hex);
        if (strcmp(hex, up.sha256) != 0) {
                upgrade_reset();
                dv_log("upgrade rejected: SHA-256 %s, expected %s", hex, up.sha256);
                return dv_op_fail(e, "digest-mismatch", "SHA-256 of the upload is %s, not %s", hex,
                                  up.sha256);
        }
        if (dv_elf_check_static_x86_64(up.fd, why, sizeof(why)) < 0) {
                upgrade_reset();
                dv_log("upgrade rejected: %s", why);
                return dv_op_fail(e, "invalid-binary", "the upload is %s", why);
        }
        if (fchmod(up.fd, 0755) < 0 || fsync(up.fd) < 0) {
                int err = errno;
                upgrade_reset();
                return dv_op_fail(e, "io-error", "fsync: %s", strerror(err));
        }
        if (rename(up.tmp, up.target) < 0) {
                int err = errno;
                upgrade_reset();
                return dv_op_fail(e, "io-error", "rename over %s: %s", up.target, strerror(err));
        }
        close(up.fd);
        up.fd = -1;
        up.active = false;
        /* Make the rename itself durable. */
        snprintf(dir, sizeof(dir), "%s", up.target);
        dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                fsync(dfd);
        dv_log("upgrade: installed %s (sha256 %s); restarting", up.target, hex);
        dv_tw_str(w, "previous_version", DV_TOOLS_VERSION);
        dv_tw_str(w, "sha256", hex);
        dv_tw_bool(w, "restarting", true);
        dv_tools_set_after(t, DV_AFTER_EXIT);
        return 0;
}

int dv_op_upgrade_abort(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        dv_tw_bool(w, "aborted", up.active);
        upgrade_reset();
        return 0;
}

void dv_upgrade_cleanup(void)
{
        upgrade_reset();
}
