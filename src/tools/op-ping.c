/* ping: the one command drover-tools runs, for network diagnosis. The
 * address must be an IPv4 literal, count and timeout are bounded, and the
 * argv is fixed: no shell, no options from the host. The probe runs as a
 * child process watched by the main loop, so heartbeats go on meanwhile. */
#include "tools.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* Extra time a probe gets beyond its own deadline before it is killed. */
#define PING_GRACE_MS 3000
#define PING_OUT_MAX 4096 /* > the 1 KiB read size below */

static struct probe {
        bool used;
        uint64_t id;           /* request to answer */
        pid_t pid;
        int fd;                /* read end of the child's stdout+stderr */
        char addr[INET_ADDRSTRLEN];
        int64_t deadline_ms;   /* kill after this */
        char out[PING_OUT_MAX];
        size_t out_len;
} probes[DV_PING_MAX];

static const char *ping_binary(bool *busybox)
{
        static const char *const plain[] = { "/bin/ping", "/usr/bin/ping", "/sbin/ping" };

        *busybox = true;
        if (access("/bin/busybox", X_OK) == 0)
                return "/bin/busybox";
        *busybox = false;
        for (size_t i = 0; i < ELEMENTSOF(plain); i++)
                if (access(plain[i], X_OK) == 0)
                        return plain[i];
        return NULL;
}

int dv_op_ping(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
               struct dv_op_err *e)
{
        static const char *const keys[] = { "address", "count", "timeout_s", NULL };
        const char *addr = NULL, *bin;
        int64_t count = 3, timeout_s = 5;
        struct in_addr ia;
        struct probe *p = NULL;
        char scount[8], stime[8];
        int pfd[2];
        bool busybox;
        pid_t pid;

        if (dv_arg_check_keys(args, keys, e) < 0 ||
            dv_arg_str(args, "address", true, 15, &addr, e) < 0 ||
            dv_arg_int(args, "count", false, 1, 10, &count, e) < 0 ||
            dv_arg_int(args, "timeout_s", false, 1, 10, &timeout_s, e) < 0)
                return -EINVAL;
        if (inet_pton(AF_INET, addr, &ia) != 1)
                return dv_op_fail(e, "invalid-args", "'address' must be an IPv4 address");
        for (size_t i = 0; i < DV_PING_MAX; i++)
                if (!probes[i].used) {
                        p = &probes[i];
                        break;
                }
        if (!p)
                return dv_op_fail(e, "busy", "%d probes are already running", DV_PING_MAX);
        bin = ping_binary(&busybox);
        if (!bin)
                return dv_op_fail(e, "not-supported", "the guest has no ping program");
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return dv_op_fail(e, "failed", "pipe: %s", strerror(errno));

        snprintf(scount, sizeof(scount), "%d", (int)count);
        snprintf(stime, sizeof(stime), "%d", (int)timeout_s);
        inet_ntop(AF_INET, &ia, p->addr, sizeof(p->addr)); /* canonical form */
        pid = fork();
        if (pid == 0) {
                char *const env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
                /* -c COUNT, -w DEADLINE (whole run), -W TIMEOUT (per reply) */
                char *const bb_argv[] = { "busybox", "ping", "-c", scount, "-w", stime, "-W", stime,
                                          p->addr, NULL };
                char *const argv[] = { "ping", "-n", "-c", scount, "-w", stime, "-W", stime, p->addr,
                                       NULL };
                sigset_t none;
                int devnull = open("/dev/null", O_RDONLY);

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                if (devnull >= 0)
                        dup2(devnull, STDIN_FILENO);
                dup2(pfd[1], STDOUT_FILENO);
                dup2(pfd[1], STDERR_FILENO);
                execve(bin, busybox ? bb_argv : argv, env);
                _exit(127);
        }
        close(pfd[1]);
        if (pid < 0) {
                close(pfd[0]);
                return dv_op_fail(e, "failed", "fork: %s", strerror(errno));
        }
        fcntl(pfd[0], F_SETFL, O_NONBLOCK);
        p->used = true;
        p->id = id;
        p->pid = pid;
        p->fd = pfd[0];
        p->out_len = 0;
        p->deadline_ms = dv_now_ms() + timeout_s * 1000 + PING_GRACE_MS;
        return DV_OP_DEFERRED;
}

/* "N packets transmitted, M [packets] received" and "min/avg/max = a/b/c". */
static void parse_output(const char *out, int64_t *tx, int64_t *rx, int64_t rtt[3])
{
        const char *s = strstr(out, " packets transmitted, ");

        *tx = *rx = 0;
        rtt[0] = rtt[1] = rtt[2] = -1;
        if (s) {
                const char *b = s;
                while (b > out && b[-1] >= '0' && b[-1] <= '9')
                        b--;
                *tx = strtoll(b, NULL, 10);
                *rx = strtoll(s + strlen(" packets transmitted, "), NULL, 10);
        }
        s = strstr(out, "min/avg/max");
        if (s && (s = strchr(s, '='))) {
                char *end;
                s++;
                for (int i = 0; i < 3; i++) {
                        double v = strtod(s, &end);
                        if (end == s)
                                break;
                        rtt[i] = (int64_t)(v * 1000.0);
                        s = end;
                        if (*s == '/')
                                s++;
                }
        }
}

static void finish(struct dv_tools *t, struct probe *p, int status)
{
        static char buf[2048];
        int64_t tx, rx, rtt[3];
        struct dv_tw w;

        p->out[p->out_len] = '\0';
        close(p->fd);
        p->used = false;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && p->out_len == 0) {
                dv_tools_reply_error(t, p->id, "not-supported", "the ping program could not be run");
                return;
        }
        parse_output(p->out, &tx, &rx, rtt);
        if (tx > 10 || rx > tx) /* never more than asked; the host checks too */
                tx = rx = 0;
        dv_tw_init(&w, buf, sizeof(buf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_int(&w, "id", (int64_t)p->id);
        dv_tw_bool(&w, "ok", true);
        dv_tw_obj_begin(&w, "result");
        dv_tw_str(&w, "address", p->addr);
        dv_tw_int(&w, "transmitted", tx);
        dv_tw_int(&w, "received", rx);
        dv_tw_int(&w, "loss_pct", tx > 0 ? (tx - rx) * 100 / tx : 100);
        if (rx > 0 && rtt[2] >= 0) {
                dv_tw_int(&w, "rtt_min_us", rtt[0]);
                dv_tw_int(&w, "rtt_avg_us", rtt[1]);
                dv_tw_int(&w, "rtt_max_us", rtt[2]);
        }
        dv_tw_int(&w, "exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        dv_tw_obj_end(&w);
        dv_tw_obj_end(&w);
        dv_log("ping %s: %lld/%lld answered", p->addr, (long long)rx, (long long)tx);
        dv_tools_send(t, w.buf, w.len);
}

size_t dv_ping_pollfds(struct pollfd *pfd, size_t max)
{
        size_t n = 0;

        for (size_t i = 0; i < DV_PING_MAX && n < max; i++)
                if (probes[i].used)
                        pfd[n++] = (struct pollfd){ .fd = probes[i].fd, .events = POLLIN };
        return n;
}

void dv_ping_handle(struct dv_tools *t, const struct pollfd *pfd, size_t n)
{
        for (size_t j = 0; j < n; j++) {
                struct probe *p = NULL;
                bool eof = false;

                if (!pfd[j].revents)
                        continue;
                for (size_t i = 0; i < DV_PING_MAX; i++)
                        if (probes[i].used && probes[i].fd == pfd[j].fd)
                                p = &probes[i];
                if (!p)
                        continue;
                for (;;) {
                        char buf[1024];
                        ssize_t k = read(p->fd, buf, sizeof(buf));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                eof = k == 0 || errno != EAGAIN;
                                break;
                        }
                        /* keep the last bytes: the summary is at the end */
                        if (p->out_len + (size_t)k > PING_OUT_MAX - 1) {
                                size_t drop = p->out_len + (size_t)k - (PING_OUT_MAX - 1);
                                memmove(p->out, p->out + drop, p->out_len - drop);
                                p->out_len -= drop;
                        }
                        memcpy(p->out + p->out_len, buf, (size_t)k);
                        p->out_len += (size_t)k;
                }
                if (eof) {
                        int status = 0;
                        while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        finish(t, p, status);
                }
        }
}

int64_t dv_ping_deadline(void)
{
        int64_t d = 0;

        for (size_t i = 0; i < DV_PING_MAX; i++)
                if (probes[i].used && (d == 0 || probes[i].deadline_ms < d))
                        d = probes[i].deadline_ms;
        return d;
}

void dv_ping_expire(struct dv_tools *t)
{
        int64_t now = dv_now_ms();

        for (size_t i = 0; i < DV_PING_MAX; i++) {
                struct probe *p = &probes[i];
                int status;

                if (!p->used || now < p->deadline_ms)
                        continue;
                kill(p->pid, SIGKILL);
                while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                        ;
                close(p->fd);
                p->used = false;
                dv_tools_reply_error(t, p->id, "timeout", "the ping probe did not finish in time");
        }
}
