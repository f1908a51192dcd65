/* Run a helper program (qemu-img) without a shell, capturing its stderr. */
#include "agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static void trim_newlines(char *s)
{
        size_t n = strlen(s);

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
                s[--n] = 0;
}

/* Wait for the child; EINTR-safe. */
static int reap(pid_t pid, int *ret_status)
{
        for (;;) {
                if (waitpid(pid, ret_status, 0) == pid)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

int dv_spawn_capture(const char *const *argv, int timeout_ms, char *err, size_t err_len,
                     int *ret_exit)
{
        posix_spawn_file_actions_t fa;
        _cleanup_(closep) int rfd = -1;
        int pipefd[2], status, r;
        size_t got = 0;
        int64_t deadline = dv_now_ms() + timeout_ms;
        bool killed = false;
        pid_t pid;

        if (err_len > 0)
                err[0] = 0;
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        rfd = pipefd[0];
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                close(pipefd[1]);
                return -r;
        }
        /* dup2 clears close-on-exec on the target; everything else of ours
         * is O_CLOEXEC and does not leak into the child. */
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
        if (r == 0)
                r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (r != 0)
                return -r;

        for (;;) {
                struct pollfd p = { .fd = rfd, .events = POLLIN };
                int64_t left = deadline - dv_now_ms();
                char buf[512];
                ssize_t k;

                if (left <= 0) {
                        kill(pid, SIGKILL);
                        killed = true;
                        break;
                }
                r = poll(&p, 1, (int)DV_MIN(left, (int64_t)1000));
                if (r < 0 && errno != EINTR)
                        break;
                if (r <= 0)
                        continue;
                k = read(rfd, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                /* Keep the first bytes; drain the rest so the child never blocks. */
                if (err_len > 0 && got < err_len - 1) {
                        size_t take = DV_MIN((size_t)k, err_len - 1 - got);

                        memcpy(err + got, buf, take);
                        got += take;
                        err[got] = 0;
                }
        }
        r = reap(pid, &status);
        if (r < 0)
                return r;
        if (err_len > 0)
                trim_newlines(err);
        if (killed)
                return -ETIMEDOUT;
        *ret_exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return 0;
}

int dv_spawn_output(const char *const *argv, int timeout_ms, size_t max_out, char **ret_out,
                    char *err, size_t err_len, int *ret_exit)
{
        posix_spawn_file_actions_t fa;
        _cleanup_(closep) int ofd = -1, efd = -1;
        _cleanup_(freep) char *out = NULL;
        int opipe[2], epipe[2], status, r;
        size_t got_out = 0, got_err = 0;
        int64_t deadline = dv_now_ms() + timeout_ms;
        bool killed = false;
        pid_t pid;

        if (err_len > 0)
                err[0] = 0;
        out = calloc(1, max_out + 1);
        if (!out)
                return -ENOMEM;
        if (pipe2(opipe, O_CLOEXEC) < 0)
                return -errno;
        ofd = opipe[0];
        if (pipe2(epipe, O_CLOEXEC) < 0) {
                close(opipe[1]);
                return -errno;
        }
        efd = epipe[0];
        r = posix_spawn_file_actions_init(&fa);
        if (r == 0) {
                r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
                if (r == 0)
                        r = posix_spawn_file_actions_adddup2(&fa, opipe[1], STDOUT_FILENO);
                if (r == 0)
                        r = posix_spawn_file_actions_adddup2(&fa, epipe[1], STDERR_FILENO);
                if (r == 0)
                        r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
                posix_spawn_file_actions_destroy(&fa);
        }
        close(opipe[1]);
        close(epipe[1]);
        if (r != 0)
                return -r;

        while (ofd >= 0 || efd >= 0) {
                struct pollfd p[2] = { { .fd = ofd, .events = POLLIN },
                                       { .fd = efd, .events = POLLIN } };
                int64_t left = deadline - dv_now_ms();
                char buf[4096];

                if (left <= 0) {
                        kill(pid, SIGKILL);
                        killed = true;
                        break;
                }
                r = poll(p, 2, (int)DV_MIN(left, (int64_t)1000));
                if (r < 0 && errno != EINTR)
                        break;
                if (r <= 0)
                        continue;
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &ofd : &efd;
                        ssize_t k;

                        if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(*fd, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                close(*fd);
                                *fd = -1;
                                continue;
                        }
                        /* Keep the first bytes; drain the rest so the child never blocks. */
                        if (i == 0 && got_out < max_out) {
                                size_t take = DV_MIN((size_t)k, max_out - got_out);
                                memcpy(out + got_out, buf, take);
                                got_out += take;
                        } else if (i == 1 && err_len > 0 && got_err < err_len - 1) {
                                size_t take = DV_MIN((size_t)k, err_len - 1 - got_err);
                                memcpy(err + got_err, buf, take);
                                got_err += take;
                                err[got_err] = 0;
                        }
                }
        }
        r = reap(pid, &status);
        if (r < 0)
                return r;
        if (err_len > 0)
                trim_newlines(err);
        if (killed)
                return -ETIMEDOUT;
        out[got_out] = 0;
        *ret_exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (ret_out)
                *ret_out = TAKE_PTR(out);
        return 0;
}
