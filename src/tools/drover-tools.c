/* drover-tools: Drover's guest agent.
 *
 * Talks newline-delimited JSON with the host agent over the virtio-serial
 * port org.drover.tools.0 (docs/tools-protocol.md): a hello when the host
 * connects, a heartbeat every second, one reply per request. Single
 * threaded: one poll loop over the port, a signalfd and the pipes of
 * running ping probes. The port is non-blocking: while no host is
 * connected the kernel reports POLLHUP and writes fail, so the loop probes
 * the port a few times a second instead of waiting on it. */
#include "tools.h"

#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* How often a closed or unconnected port is retried. */
#define PORT_RETRY_MS 1000
#define HOST_PROBE_MS 250
#define HEARTBEAT_MS 1000
/* Longest wait for a reply to reach the host before a shutdown/exit. */
#define AFTER_FLUSH_MS 2000
/* The log file (stderr) is truncated when it grows past this. */
#define LOG_MAX (1024 * 1024)

struct dv_tools {
        bool stdio;              /* --stdio: stdin/stdout instead of the port (tests) */
        const char *port_arg;    /* --port PATH, or NULL to search */
        int in_fd;               /* port (or stdin); -1 while closed */
        int out_fd;              /* port (or stdout); -1 while closed */
        bool host_connected;     /* the host side of the port is open */
        int64_t next_open_ms;    /* next attempt to open the port */
        int64_t next_probe_ms;   /* next check for a host connection */
        char in[DV_TOOLS_LINE_MAX + 1];
        size_t in_len;
        bool in_discard;         /* dropping an oversized line up to its newline */
        char *out;               /* pending output, DV_TOOLS_OUT_MAX bytes */
        size_t out_len;
        char session[17];        /* random per process: requests for another are stale */
        uint64_t hb_seq;
        int64_t next_hb_ms;
        enum dv_after after;     /* action once the output is flushed */
        int64_t after_deadline_ms;
        int sig_fd;
        bool quit;
};

static const struct dv_op *op_find(const char *name);

/* ---------------------------------------------------------------- util -- */

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

void dv_log(const char *fmt, ...)
{
        static unsigned lines;
        struct timespec ts;
        va_list ap;
        int saved_errno = errno; /* for %m */

        /* Bounded log: truncate the file when it grows too large (the init
         * script opens it with O_APPEND, so the next write starts at 0). */
        if ((lines++ & 63) == 0) {
                struct stat st;
                if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > LOG_MAX)
                        (void)ftruncate(STDERR_FILENO, 0);
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        fprintf(stderr, "[%5lld.%03ld] drover-tools: ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
        errno = saved_errno;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
}

int dv_op_fail(struct dv_op_err *e, const char *code, const char *fmt, ...)
{
        va_list ap;

        snprintf(e->code, sizeof(e->code), "%s", code);
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void dv_tools_set_after(struct dv_tools *t, enum dv_after after)
{
        t->after = after;
        t->after_deadline_ms = dv_now_ms() + AFTER_FLUSH_MS;
}

const char *dv_tools_session(struct dv_tools *t)
{
        return t->session;
}

static void session_init(struct dv_tools *t)
{
        uint8_t b[8];
        static const char hx[] = "0123456789abcdef";

        /* Early in boot the pool may not be ready: do not block for it. */
        if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
                uint64_t v = (uint64_t)dv_wall_ms() * 6364136223846793005ULL ^
                             (uint64_t)getpid() << 32 ^ (uint64_t)dv_now_ms();
                memcpy(b, &v, sizeof(b));
        }
        for (size_t i = 0; i < sizeof(b); i++) {
                t->session[2 * i] = hx[b[i] >> 4];
                t->session[2 * i + 1] = hx[b[i] & 15];
        }
        t->session[16] = '\0';
}

/* ------------------------------------------------------------ output -- */

static void out_drop(struct dv_tools *t)
{
        t->out_len = 0;
}

int dv_tools_send(struct dv_tools *t, const char *line, size_t len)
{
        if (!t->host_connected)
                return -ENOTCONN; /* nobody to read it; the host asks again */
        if (len + 1 > DV_TOOLS_OUT_MAX - t->out_len)
                return -ENOBUFS;
        memcpy(t->out + t->out_len, line, len);
        t->out[t->out_len + len] = '\n';
        t->out_len += len + 1;
        return 0;
}

static void host_lost(struct dv_tools *t, const char *why)
{
        if (t->host_connected)
                dv_log("host disconnected (%s)", why);
        t->host_connected = false;
        t->next_probe_ms = dv_now_ms() + HOST_PROBE_MS;
        out_drop(t);
        t->in_len = 0;
        t->in_discard = false;
}

static void port_close(struct dv_tools *t)
{
        if (!t->stdio && t->in_fd >= 0)
                close(t->in_fd);
        t->in_fd = t->out_fd = -1;
        host_lost(t, "port closed");
        t->next_open_ms = dv_now_ms() + PORT_RETRY_MS;
}

static void flush_out(struct dv_tools *t)
{
        size_t off = 0;

        while (off < t->out_len && t->out_fd >= 0) {
                ssize_t k = write(t->out_fd, t->out + off, t->out_len - off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        /* ENODEV/EPIPE: the host went away mid-write */
                        if (t->stdio) {
                                t->quit = true;
                                return;
                        }
                        host_lost(t, strerror(errno));
                        return;
                }
                off += (size_t)k;
        }
        memmove(t->out, t->out + off, t->out_len - off);
        t->out_len -= off;
}

/* ---------------------------------------------------------- messages -- */

static char msgbuf[DV_TOOLS_LINE_MAX + 1];

static void send_hello(struct dv_tools *t)
{
        extern const struct dv_op dv_ops[];
        struct dv_tw w;

        /* A bare newline first: it ends any partial line a killed
         * predecessor left on the channel, so the host resynchronizes. */
        if (dv_tools_send(t, "", 0) < 0)
                return;
        dv_tw_init(&w, msgbuf, sizeof(msgbuf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_str(&w, "event", "hello");
        dv_tw_int(&w, "proto", DV_TOOLS_PROTO);
        dv_tw_str(&w, "version", DV_TOOLS_VERSION);
        dv_tw_str(&w, "session", t->session);
        dv_tw_int(&w, "pid", getpid());
        dv_tw_arr_begin(&w, "ops");
        for (const struct dv_op *op = dv_ops; op->name; op++)
                dv_tw_str(&w, NULL, op->name);
        dv_tw_arr_end(&w);
        dv_tw_obj_end(&w);
        if (!w.overflow)
                dv_tools_send(t, w.buf, w.len);
}

static void send_heartbeat(struct dv_tools *t)
{
        struct dv_tw w;

        dv_tw_init(&w, msgbuf, sizeof(msgbuf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_str(&w, "event", "heartbeat");
        dv_tw_int(&w, "seq", (int64_t)++t->hb_seq);
        dv_tw_str(&w, "version", DV_TOOLS_VERSION);
        dv_tw_str(&w, "session", t->session);
        dv_tw_obj_end(&w);
        /* Heartbeats are dropped, never queued up, when the host is slow. */
        if (!w.overflow)
                dv_tools_send(t, w.buf, w.len);
}

int dv_tools_reply_error(struct dv_tools *t, uint64_t id, const char *code, const char *message)
{
        struct dv_tw w;

        dv_tw_init(&w, msgbuf, sizeof(msgbuf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_int(&w, "id", (int64_t)id);
        dv_tw_bool(&w, "ok", false);
        dv_tw_obj_begin(&w, "error");
        dv_tw_str(&w, "code", code);
        dv_tw_strn(&w, "message", message, strnlen(message, 255));
        dv_tw_obj_end(&w);
        dv_tw_obj_end(&w);
        return dv_tools_send(t, w.buf, w.len);
}

#define JS_MAX_ID 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */

static void handle_request(struct dv_tools *t, const char *line, size_t len)
{
        static const char *const keys[] = { "id", "op", "args", "session", NULL };
        _cleanup_(dv_tj_doc_freep) struct dv_tj_doc *doc = NULL;
        const struct dv_tj *root, *jid, *jop, *jargs, *jsess;
        static const struct dv_tj empty = { .type = DV_TJ_OBJECT };
        struct dv_op_err e = { "", "" };
        const struct dv_op *op;
        struct dv_tw w;
        uint64_t id;
        size_t errpos = 0;
        int r;

        r = dv_tj_parse(line, len, &doc, &errpos);
        if (r < 0) {
                dv_log("dropping a request that is not JSON (byte %zu of %zu)", errpos, len);
                return;
        }
        root = dv_tj_root(doc);
        jid = dv_tj_get(root, "id");
        if (root->type != DV_TJ_OBJECT || !jid || jid->type != DV_TJ_INT || jid->i < 1 ||
            jid->i > JS_MAX_ID) {
                dv_log("dropping a request without a valid id");
                return;
        }
        id = (uint64_t)jid->i;
        if (dv_arg_check_keys(root, keys, &e) < 0) {
                dv_tools_reply_error(t, id, "invalid-request", e.message);
                return;
        }
        jsess = dv_tj_get(root, "session");
        if (jsess && (jsess->type != DV_TJ_STRING || strcmp(jsess->s, t->session) != 0)) {
                dv_tools_reply_error(t, id, "stale-session",
                                     "request for another drover-tools session");
                return;
        }
        jop = dv_tj_get(root, "op");
        if (!jop || jop->type != DV_TJ_STRING) {
                dv_tools_reply_error(t, id, "invalid-request", "op must be a string");
                return;
        }
        op = op_find(jop->s);
        if (!op) {
                char msg[96];
                snprintf(msg, sizeof(msg), "unknown op '%.40s'", jop->s);
                dv_tools_reply_error(t, id, "unknown-op", msg);
                return;
        }
        jargs = dv_tj_get(root, "args");
        if (!jargs)
                jargs = &empty;
        if (jargs->type != DV_TJ_OBJECT) {
                dv_tools_reply_error(t, id, "invalid-args", "args must be an object");
                return;
        }

        dv_tw_init(&w, msgbuf, sizeof(msgbuf));
        dv_tw_obj_begin(&w, NULL);
        dv_tw_int(&w, "id", (int64_t)id);
        dv_tw_bool(&w, "ok", true);
        dv_tw_obj_begin(&w, "result");
        r = op->fn(t, id, jargs, &w, &e);
        if (r == DV_OP_DEFERRED)
                return;
        if (r < 0) {
                dv_log("op %s (id %llu) failed: %s: %s", op->name, (unsigned long long)id, e.code,
                       e.message);
                dv_tools_reply_error(t, id, e.code[0] ? e.code : "failed", e.message);
                return;
        }
        dv_tw_obj_end(&w);
        dv_tw_obj_end(&w);
        if (w.overflow) {
                dv_tools_reply_error(t, id, "too-large", "the result does not fit in one line");
                return;
        }
        if (dv_tools_send(t, w.buf, w.len) < 0)
                dv_log("reply to %s (id %llu) dropped: output full", op->name,
                       (unsigned long long)id);
}

static void process_input(struct dv_tools *t, const char *data, size_t n)
{
        while (n > 0) {
                const char *nl = memchr(data, '\n', n);
                size_t take = nl ? (size_t)(nl - data) : n;

                if (t->in_discard) {
                        if (nl)
                                t->in_discard = false;
                } else if (t->in_len + take > DV_TOOLS_LINE_MAX) {
                        dv_log("dropping a request line over %d bytes", DV_TOOLS_LINE_MAX);
                        t->in_len = 0;
                        t->in_discard = !nl;
                } else {
                        memcpy(t->in + t->in_len, data, take);
                        t->in_len += take;
                        if (nl) {
                                size_t len = t->in_len;
                                if (len > 0 && t->in[len - 1] == '\r')
                                        len--;
                                t->in_len = 0;
                                if (len > 0)
                                        handle_request(t, t->in, len);
                        }
                }
                if (!nl)
                        break;
                n -= take + 1;
                data = nl + 1;
        }
}

static void read_input(struct dv_tools *t)
{
        char buf[16384];

        while (t->in_fd >= 0) {
                ssize_t k = read(t->in_fd, buf, sizeof(buf));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                if (t->stdio)
                                        t->quit = true;
                                else
                                        host_lost(t, strerror(errno));
                        }
                        return;
                }
                if (k == 0) {
                        /* virtio-serial: EOF means no host is connected */
                        if (t->stdio)
                                t->quit = true;
                        else
                                host_lost(t, "end of file");
                        return;
                }
                process_input(t, buf, (size_t)k);
                if (t->quit || !t->host_connected)
                        return;
        }
}

/* -------------------------------------------------------------- port -- */

static int port_find(char *path, size_t len)
{
        glob_t g;
        int r = -ENOENT;

        snprintf(path, len, "/dev/virtio-ports/%s", DV_TOOLS_PORT_NAME);
        if (access(path, F_OK) == 0)
                return 0;
        /* No udev link (port hot-plugged after boot): search sysfs. */
        if (glob("/sys/class/virtio-ports/*/name", 0, NULL, &g) != 0)
                return -ENOENT;
        for (size_t i = 0; i < g.gl_pathc; i++) {
                char name[128], *dir, *base;

                if (dv_read_small(g.gl_pathv[i], name, sizeof(name)) < 0 ||
                    strcmp(name, DV_TOOLS_PORT_NAME) != 0)
                        continue;
                dir = strdup(g.gl_pathv[i]);
                if (!dir)
                        break;
                *strrchr(dir, '/') = '\0';
                base = strrchr(dir, '/') + 1;
                snprintf(path, len, "/dev/%s", base);
                free(dir);
                r = 0;
                break;
        }
        globfree(&g);
        return r;
}

static void port_try_open(struct dv_tools *t)
{
        static int last_err;
        char path[PATH_MAX];
        int fd, r;

        t->next_open_ms = dv_now_ms() + PORT_RETRY_MS;
        if (t->port_arg)
                snprintf(path, sizeof(path), "%s", t->port_arg);
        else if ((r = port_find(path, sizeof(path))) < 0) {
                if (last_err != r)
                        dv_log("no virtio-serial port %s yet", DV_TOOLS_PORT_NAME);
                last_err = r;
                return;
        }
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                /* EBUSY: another process (an old drover-tools) holds it */
                if (last_err != r)
                        dv_log("cannot open %s: %s", path, strerror(-r));
                last_err = r;
                return;
        }
        last_err = 0;
        dv_log("opened %s", path);
        t->in_fd = t->out_fd = fd;
        t->host_connected = false;
        t->next_probe_ms = 0;
}

/* A port whose host end is closed polls as POLLHUP at once, forever, so it
 * is kept out of the main poll set until a probe finds the host back. */
static void host_probe(struct dv_tools *t)
{
        struct pollfd p = { .fd = t->in_fd, .events = POLLIN | POLLOUT };

        t->next_probe_ms = dv_now_ms() + HOST_PROBE_MS;
        if (poll(&p, 1, 0) < 0)
                return;
        if (p.revents & POLLNVAL) {
                port_close(t);
                return;
        }
        if (p.revents & POLLHUP)
                return;
        dv_log("host connected");
        t->host_connected = true;
        t->in_len = 0;
        t->in_discard = false;
        send_hello(t);
}

/* ------------------------------------------------------------ after -- */

static void run_after(struct dv_tools *t)
{
        enum dv_after a = t->after;

        t->after = DV_AFTER_NONE;
        switch (a) {
        case DV_AFTER_NONE:
                return;
        case DV_AFTER_EXIT:
                dv_log("exiting for the upgrade; the respawn loop starts the new binary");
                t->quit = true;
                return;
        case DV_AFTER_POWEROFF:
        case DV_AFTER_REBOOT: {
                const char *how = a == DV_AFTER_REBOOT ? "reboot" : "poweroff";
                pid_t pid;

                dv_fs_thaw_all();
                if (access("/sbin/drover-shutdown", X_OK) == 0) {
                        dv_log("running /sbin/drover-shutdown %s", how);
                        pid = fork();
                        if (pid == 0) {
                                sigset_t none;
                                sigemptyset(&none);
                                sigprocmask(SIG_SETMASK, &none, NULL);
                                setsid();
                                execl("/sbin/drover-shutdown", "drover-shutdown", how, (char *)NULL);
                                _exit(127);
                        }
                        if (pid > 0)
                                return; /* it stops us along with everything else */
                        dv_log("fork: %m; rebooting directly");
                }
                dv_log("sync and %s", how);
                sync();
                reboot(a == DV_AFTER_REBOOT ? RB_AUTOBOOT : RB_POWER_OFF);
                dv_log("reboot(2): %m");
                return;
        }
        case DV_AFTER_HIBERNATE:
                dv_fs_thaw_all();
                sync();
                dv_log("hibernating");
                if (dv_write_small("/sys/power/state", "disk") < 0)
                        dv_log("hibernate failed: %m");
                else {
                        dv_log("resumed from hibernation");
                        /* Tell the host we are back, so it can set the clock. */
                        send_hello(t);
                }
                return;
        }
}

/* -------------------------------------------------------------- ops -- */

static int op_version(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                      struct dv_tw *w, struct dv_op_err *e)
{
        static const char *const keys[] = { NULL };

        if (dv_arg_check_keys(args, keys, e) < 0)
                return -EINVAL;
        dv_tw_str(w, "version", DV_TOOLS_VERSION);
        dv_tw_int(w, "proto", DV_TOOLS_PROTO);
        dv_tw_str(w, "session", t->session);
        dv_tw_int(w, "pid", getpid());
        return 0;
}

const struct dv_op dv_ops[] = {
        { "version", op_version },
        { "info", dv_op_info },
        { "net-config", dv_op_net_config },
        { "shutdown", dv_op_shutdown },
        { "reboot", dv_op_reboot },
        { "hibernate", dv_op_hibernate },
        { "cpus-online", dv_op_cpus_online },
        { "time-set", dv_op_time_set },
        { "fs-freeze", dv_op_fs_freeze },
        { "fs-thaw", dv_op_fs_thaw },
        { "ping", dv_op_ping },
        { "upgrade-begin", dv_op_upgrade_begin },
        { "upgrade-chunk", dv_op_upgrade_chunk },
        { "upgrade-commit", dv_op_upgrade_commit },
        { "upgrade-abort", dv_op_upgrade_abort },
        { NULL, NULL },
};

static const struct dv_op *op_find(const char *name)
{
        for (const struct dv_op *op = dv_ops; op->name; op++)
                if (strcmp(op->name, name) == 0)
                        return op;
        return NULL;
}

/* ------------------------------------------------------------- main -- */

static void handle_signals(struct dv_tools *t)
{
        struct signalfd_siginfo si;

        while (read(t->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                        continue; /* ping children are reaped by op-ping.c */
                dv_log("signal %u: exiting", si.ssi_signo);
                t->quit = true;
        }
}

static int64_t min_deadline(int64_t a, int64_t b)
{
        if (a <= 0)
                return b;
        if (b <= 0)
                return a;
        return a < b ? a : b;
}

static void loop(struct dv_tools *t)
{
        while (!t->quit) {
                struct pollfd pfd[2 + DV_PING_MAX];
                size_t n = 0, port_i = SIZE_MAX;
                int64_t now = dv_now_ms(), deadline;
                int timeout;

                if (t->in_fd < 0 && now >= t->next_open_ms)
                        port_try_open(t);
                if (t->in_fd >= 0 && !t->host_connected && now >= t->next_probe_ms)
                        host_probe(t);
                if (now >= t->next_hb_ms) {
                        if (t->host_connected)
                                send_heartbeat(t);
                        t->next_hb_ms += HEARTBEAT_MS;
                        if (t->next_hb_ms <= now)
                                t->next_hb_ms = now + HEARTBEAT_MS;
                }
                if (dv_fs_thaw_deadline() > 0 && now >= dv_fs_thaw_deadline())
                        dv_fs_thaw_expired(t);
                if (dv_ping_deadline() > 0 && now >= dv_ping_deadline())
                        dv_ping_expire(t);
                if (t->host_connected)
                        flush_out(t);
                if (t->after != DV_AFTER_NONE && (t->out_len == 0 || now >= t->after_deadline_ms)) {
                        run_after(t);
                        continue;
                }

                pfd[n++] = (struct pollfd){ .fd = t->sig_fd, .events = POLLIN };
                if (t->in_fd >= 0 && t->host_connected) {
                        port_i = n;
                        pfd[n++] = (struct pollfd){ .fd = t->in_fd, .events = POLLIN };
                        if (t->out_len > 0) {
                                if (t->out_fd == t->in_fd)
                                        pfd[port_i].events |= POLLOUT;
                        }
                }
                n += dv_ping_pollfds(pfd + n, ELEMENTSOF(pfd) - n);

                deadline = t->next_hb_ms;
                if (t->in_fd < 0)
                        deadline = min_deadline(deadline, t->next_open_ms);
                else if (!t->host_connected)
                        deadline = min_deadline(deadline, t->next_probe_ms);
                deadline = min_deadline(deadline, dv_fs_thaw_deadline());
                deadline = min_deadline(deadline, dv_ping_deadline());
                if (t->after != DV_AFTER_NONE)
                        deadline = min_deadline(deadline, t->after_deadline_ms);
                timeout = deadline > now ? (int)(deadline - now) : 0;
                /* stdio mode: stdout is a separate fd; just retry soon. */
                if (t->stdio && t->out_len > 0 && timeout > 50)
                        timeout = 50;

                if (poll(pfd, n, timeout) < 0) {
                        if (errno != EINTR)
                                dv_log("poll: %m");
                        continue;
                }
                if (pfd[0].revents & POLLIN)
                        handle_signals(t);
                if (port_i != SIZE_MAX) {
                        short rev = pfd[port_i].revents;
                        if (rev & POLLNVAL)
                                port_close(t);
                        else {
                                if (rev & (POLLIN | POLLHUP | POLLERR))
                                        read_input(t);
                                if (rev & POLLHUP && t->host_connected && !t->stdio)
                                        host_lost(t, "hangup");
                                if (t->host_connected && (rev & POLLOUT))
                                        flush_out(t);
                        }
                }
                dv_ping_handle(t, pfd + (port_i != SIZE_MAX ? 2 : 1),
                               n - (port_i != SIZE_MAX ? 2 : 1));
        }
        flush_out(t);
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: drover-tools [--port PATH] [--stdio] [--version]\n"
                "Drover guest agent: serves the host over the virtio-serial port %s.\n"
                "  --port PATH  use this character device instead of searching for the port\n"
                "  --stdio      read requests on stdin, write messages on stdout (testing)\n"
                "  --version    print the version and exit\n",
                DV_TOOLS_PORT_NAME);
}

int main(int argc, char **argv)
{
        static struct dv_tools tools;
        struct dv_tools *t = &tools;
        sigset_t mask;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--version") == 0) {
                        printf("drover-tools %s (protocol %d)\n", DV_TOOLS_VERSION, DV_TOOLS_PROTO);
                        return 0;
                } else if (strcmp(argv[i], "--stdio") == 0)
                        t->stdio = true;
                else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
                        t->port_arg = argv[++i];
                else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        usage(stderr);
                        return 2;
                }
        }

        t->out = malloc(DV_TOOLS_OUT_MAX);
        if (!t->out)
                return 1;
        t->in_fd = t->out_fd = -1;
        session_init(t);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        t->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (t->sig_fd < 0) {
                dv_log("signalfd: %m");
                return 1;
        }
        dv_log("version %s (protocol %d) starting, pid %d, session %s", DV_TOOLS_VERSION,
               DV_TOOLS_PROTO, (int)getpid(), t->session);
        dv_fs_thaw_leftovers();

        if (t->stdio) {
                t->in_fd = STDIN_FILENO;
                t->out_fd = STDOUT_FILENO;
                fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
                fcntl(STDOUT_FILENO, F_SETFL, fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
                t->host_connected = true;
                send_hello(t);
        }
        t->next_hb_ms = dv_now_ms() + HEARTBEAT_MS;
        loop(t);
        dv_fs_thaw_all();
        dv_upgrade_cleanup();
        dv_log("stopped");
        return 0;
}
