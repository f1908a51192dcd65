/* QMP client: framing, dispatch by id, events, and a socket transport.
 * See qmp.h for the threading rules. */
#include "qmp.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* A command sent and not yet collected by dv_qmp_wait(). */
struct pending {
        uint64_t id;            /* our "id", sent as "dv-<id>" */
        char cmd[64];           /* command name, for error messages */
        json_t *reply;          /* the reply object once it arrived (owned) */
        struct pending *next;   /* next in dv_qmp.pending */
};

struct dv_qmp {
        int refs;                   /* reference count (atomic) */
        int fd;                     /* the socket; -1 when detached */
        dv_qmp_event_cb cb;         /* event callback, may be NULL */
        void *userdata;             /* for cb */
        size_t max_msg;             /* bound on one message */

        pthread_mutex_t read_lock;  /* held by the one thread reading/feeding */
        char *in;                   /* [read_lock] bytes not yet cut into lines */
        size_t in_len;              /* [read_lock] bytes used in in */
        size_t in_cap;              /* [read_lock] bytes allocated for in */

        pthread_mutex_t lock;       /* guards the fields marked [lock] */
        pthread_cond_t cond;        /* [lock] signalled on a reply or link loss */
        struct pending *pending;    /* [lock] commands awaiting collection */
        uint64_t next_id;           /* [lock] id of the next command */
        json_t *greeting;           /* [lock] the "QMP" object once received */
        int link_error;             /* [lock] 0, or why the link went down */
        unsigned strays;            /* [lock] unmatched replies, unknown messages */

        pthread_mutex_t write_lock; /* serialises whole commands on the wire */
        char *out;                  /* [write_lock] detached: commands written */
        size_t out_len;             /* [write_lock] bytes used in out */

        bool reader_running;        /* the internal reader thread exists */
        pthread_t reader;           /* the internal reader thread */
        int stop_fd;                /* eventfd that stops the reader; -1 if none */
};

static struct dv_qmp *qmp_alloc(int fd, dv_qmp_event_cb cb, void *userdata)
{
        struct dv_qmp *qmp = calloc(1, sizeof(*qmp));
        pthread_condattr_t ca;

        if (!qmp)
                return NULL;
        qmp->refs = 1;
        qmp->fd = fd;
        qmp->cb = cb;
        qmp->userdata = userdata;
        qmp->max_msg = DV_QMP_MAX_MESSAGE;
        qmp->next_id = 1;
        qmp->stop_fd = -1;
        pthread_mutex_init(&qmp->read_lock, NULL);
        pthread_mutex_init(&qmp->lock, NULL);
        pthread_mutex_init(&qmp->write_lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&qmp->cond, &ca);
        pthread_condattr_destroy(&ca);
        return qmp;
}

static void qmp_destroy(struct dv_qmp *qmp)
{
        if (qmp->reader_running) {
                /* Fails only on counter overflow, i.e. never here. */
                eventfd_write(qmp->stop_fd, 1);
                pthread_join(qmp->reader, NULL);
        }
        if (qmp->stop_fd >= 0)
                close(qmp->stop_fd);
        if (qmp->fd >= 0)
                close(qmp->fd);
        while (qmp->pending) {
                struct pending *p = qmp->pending;

                qmp->pending = p->next;
                json_decref(p->reply);
                free(p);
        }
        json_decref(qmp->greeting);
        free(qmp->in);
        free(qmp->out);
        pthread_cond_destroy(&qmp->cond);
        pthread_mutex_destroy(&qmp->write_lock);
        pthread_mutex_destroy(&qmp->lock);
        pthread_mutex_destroy(&qmp->read_lock);
        free(qmp);
}

struct dv_qmp *dv_qmp_ref(struct dv_qmp *qmp)
{
        if (qmp)
                __atomic_add_fetch(&qmp->refs, 1, __ATOMIC_RELAXED);
        return qmp;
}

void dv_qmp_unref(struct dv_qmp *qmp)
{
        if (qmp && __atomic_sub_fetch(&qmp->refs, 1, __ATOMIC_ACQ_REL) == 0)
                qmp_destroy(qmp);
}

int dv_qmp_new_detached(dv_qmp_event_cb cb, void *userdata, struct dv_qmp **ret_qmp)
{
        struct dv_qmp *qmp = qmp_alloc(-1, cb, userdata);

        if (!qmp)
                return -ENOMEM;
        *ret_qmp = qmp;
        return 0;
}

void dv_qmp_set_max_message(struct dv_qmp *qmp, size_t max)
{
        pthread_mutex_lock(&qmp->read_lock);
        qmp->max_msg = DV_MAX(max, (size_t)64);
        pthread_mutex_unlock(&qmp->read_lock);
}

int dv_qmp_fd(struct dv_qmp *qmp)
{
        return qmp->fd;
}

/* [lock] held. Takes the link down once: wake every waiter, and shut the
 * socket down so that a reader blocked in poll() sees EOF. The fd itself
 * stays open until the object dies, so no poller ever polls a reused fd. */
static void link_down_locked(struct dv_qmp *qmp, int error)
{
        if (qmp->link_error)
                return;
        qmp->link_error = error;
        if (qmp->fd >= 0)
                shutdown(qmp->fd, SHUT_RDWR);
        pthread_cond_broadcast(&qmp->cond);
}

static int link_down(struct dv_qmp *qmp, int error)
{
        int r;

        pthread_mutex_lock(&qmp->lock);
        link_down_locked(qmp, error);
        r = qmp->link_error;
        pthread_mutex_unlock(&qmp->lock);
        return r;
}

void dv_qmp_close(struct dv_qmp *qmp)
{
        if (qmp)
                link_down(qmp, -ECONNABORTED);
}

int dv_qmp_link_error(struct dv_qmp *qmp)
{
        int r;

        pthread_mutex_lock(&qmp->lock);
        r = qmp->link_error;
        pthread_mutex_unlock(&qmp->lock);
        return r;
}

json_t *dv_qmp_greeting(struct dv_qmp *qmp)
{
        json_t *g;

        pthread_mutex_lock(&qmp->lock);
        g = qmp->greeting;
        pthread_mutex_unlock(&qmp->lock);
        return g;
}

unsigned dv_qmp_stray_count(struct dv_qmp *qmp)
{
        unsigned n;

        pthread_mutex_lock(&qmp->lock);
        n = qmp->strays;
        pthread_mutex_unlock(&qmp->lock);
        return n;
}

/* "dv-<n>" -> n; 0 when the id is not one of ours. */
static uint64_t parse_id(json_t *id)
{
        const char *s = json_string_value(id);
        uint64_t v = 0;

        if (!s || strncmp(s, "dv-", 3) != 0 || !s[3] || strlen(s) > 3 + 19)
                return 0;
        for (s += 3; *s; s++) {
                if (*s < '0' || *s > '9')
                        return 0;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        return v;
}

/* Dispatch one parsed message. Called with read_lock held. Consumes msg:
 * a reply is handed to its waiter whole, so that only one thread ever
 * touches its reference counts. */
static void dispatch(struct dv_qmp *qmp, json_t *msg)
{
        json_t *v;

        if ((v = json_object_get(msg, "event")) && json_is_string(v)) {
                json_t *ts = json_object_get(msg, "timestamp");
                int64_t ts_us = 0;

                if (json_is_object(ts))
                        ts_us = (int64_t)json_integer_value(json_object_get(ts, "seconds")) *
                                        1000000 +
                                json_integer_value(json_object_get(ts, "microseconds"));
                if (qmp->cb)
                        qmp->cb(qmp->userdata, json_string_value(v),
                                json_object_get(msg, "data"), ts_us);
                json_decref(msg);
                return;
        }

        pthread_mutex_lock(&qmp->lock);
        if ((v = json_object_get(msg, "QMP")) && json_is_object(v) && !qmp->greeting) {
                qmp->greeting = json_incref(v);
                pthread_cond_broadcast(&qmp->cond);
        } else if (json_object_get(msg, "return") || json_is_object(json_object_get(msg, "error"))) {
                uint64_t id = parse_id(json_object_get(msg, "id"));
                struct pending *p;

                for (p = qmp->pending; p; p = p->next)
                        if (p->id == id && !p->reply)
                                break;
                if (p) {
                        p->reply = TAKE_PTR(msg);
                        pthread_cond_broadcast(&qmp->cond);
                } else {
                        qmp->strays++;
                }
        } else {
                qmp->strays++;
        }
        pthread_mutex_unlock(&qmp->lock);
        json_decref(msg);
}

/* Cut complete lines out of qmp->in, starting the search for a line end
 * at offset scan (bytes before it hold none). read_lock held. */
static int drain_lines(struct dv_qmp *qmp, size_t scan)
{
        size_t start = 0;
        int r = 0;

        for (;;) {
                char *nl = memchr(qmp->in + scan, '\n', qmp->in_len - scan);
                size_t len;
                json_t *msg;
                json_error_t je;

                if (!nl)
                        break;
                len = (size_t)(nl - (qmp->in + start));
                scan = (size_t)(nl - qmp->in) + 1;
                while (len > 0 && (qmp->in[start + len - 1] == '\r' ||
                                   qmp->in[start + len - 1] == ' ' ||
                                   qmp->in[start + len - 1] == '\t'))
                        len--;
                if (len == 0) {
                        start = scan;
                        continue;
                }
                if (len > qmp->max_msg) {
                        r = -EMSGSIZE;
                        break;
                }
                msg = json_loadb(qmp->in + start, len, 0, &je);
                start = scan;
                if (!msg || !json_is_object(msg)) {
                        json_decref(msg);
                        r = -EPROTO;
                        break;
                }
                dispatch(qmp, msg);
        }
        if (r < 0)
                return link_down(qmp, r);
        memmove(qmp->in, qmp->in + start, qmp->in_len - start);
        qmp->in_len -= start;
        /* What is left has no line end: it must still fit in one message
         * (plus the '\r' that may precede the '\n'). */
        if (qmp->in_len > qmp->max_msg + 1)
                return link_down(qmp, -EMSGSIZE);
        return 0;
}

/* read_lock held. */
static int feed_locked(struct dv_qmp *qmp, const char *data, size_t len)
{
        while (len > 0) {
                size_t limit = qmp->max_msg + 2, n, scan;
                int r = dv_qmp_link_error(qmp);

                if (r < 0)
                        return r;
                /* Never buffer more than one message: copy at most up to
                 * the bound, cut lines, and go on with the rest. */
                n = DV_MIN(len, limit - qmp->in_len);
                if (qmp->in_len + n > qmp->in_cap) {
                        size_t cap = DV_MAX(qmp->in_cap, (size_t)4096);
                        char *nb;

                        while (cap < qmp->in_len + n)
                                cap *= 2;
                        cap = DV_MIN(cap, limit);
                        nb = realloc(qmp->in, cap);
                        if (!nb)
                                return link_down(qmp, -ENOMEM);
                        qmp->in = nb;
                        qmp->in_cap = cap;
                }
                memcpy(qmp->in + qmp->in_len, data, n);
                scan = qmp->in_len;
                qmp->in_len += n;
                data += n;
                len -= n;
                r = drain_lines(qmp, scan);
                if (r < 0)
                        return r;
        }
        return dv_qmp_link_error(qmp);
}

int dv_qmp_feed(struct dv_qmp *qmp, const void *data, size_t len)
{
        int r;

        pthread_mutex_lock(&qmp->read_lock);
        r = feed_locked(qmp, data, len);
        pthread_mutex_unlock(&qmp->read_lock);
        return r;
}

int dv_qmp_process(struct dv_qmp *qmp)
{
        char buf[65536];
        int r = 0;

        if (qmp->fd < 0)
                return dv_qmp_link_error(qmp);
        pthread_mutex_lock(&qmp->read_lock);
        /* Bounded so that a flooding peer cannot keep us here forever;
         * poll() reports the rest at once. */
        for (int i = 0; i < 64; i++) {
                ssize_t k = recv(qmp->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        /* QEMU resets the connection when it exits with
                         * input unread: that is an EOF too. */
                        r = link_down(qmp, errno == ECONNRESET ? -ECONNRESET : -errno);
                        break;
                }
                if (k == 0) {
                        r = link_down(qmp, -ECONNRESET);
                        break;
                }
                r = feed_locked(qmp, buf, (size_t)k);
                if (r < 0)
                        break;
        }
        pthread_mutex_unlock(&qmp->read_lock);
        return r < 0 ? r : dv_qmp_link_error(qmp);
}

static void *reader_main(void *arg)
{
        struct dv_qmp *qmp = arg;

        for (;;) {
                struct pollfd pfd[2] = {
                        { .fd = qmp->fd, .events = POLLIN },
                        { .fd = qmp->stop_fd, .events = POLLIN },
                };

                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        link_down(qmp, -errno);
                        break;
                }
                if (pfd[1].revents)
                        break;
                if (pfd[0].revents && dv_qmp_process(qmp) < 0)
                        break;
        }
        return NULL;
}

int dv_qmp_start_reader(struct dv_qmp *qmp)
{
        int r;

        if (qmp->fd < 0 || qmp->reader_running)
                return -EINVAL;
        qmp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (qmp->stop_fd < 0)
                return -errno;
        r = pthread_create(&qmp->reader, NULL, reader_main, qmp);
        if (r != 0) {
                close(qmp->stop_fd);
                qmp->stop_fd = -1;
                return -r;
        }
        qmp->reader_running = true;
        return 0;
}

static bool cmd_name_valid(const char *cmd)
{
        size_t n = cmd ? strlen(cmd) : 0;

        if (n == 0 || n >= sizeof(((struct pending *)NULL)->cmd))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((cmd[i] >= 'a' && cmd[i] <= 'z') || (cmd[i] >= 'A' && cmd[i] <= 'Z') ||
                      (cmd[i] >= '0' && cmd[i] <= '9') || cmd[i] == '-' || cmd[i] == '_'))
                        return false;
        return true;
}

/* Write all of buf to the socket before deadline (monotonic ms). */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
        while (len > 0) {
                ssize_t k = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0) {
                        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                        int64_t left;

                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                return -errno;
                        left = deadline - dv_now_ms();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        if (poll(&pfd, 1, (int)DV_MIN(left, (int64_t)INT32_MAX)) < 0 &&
                            errno != EINTR)
                                return -errno;
                        continue;
                }
                buf += k;
                len -= (size_t)k;
        }
        return 0;
}

static int out_append(struct dv_qmp *qmp, const char *s, size_t len)
{
        char *nb = realloc(qmp->out, qmp->out_len + len + 1);

        if (!nb)
                return -ENOMEM;
        memcpy(nb + qmp->out_len, s, len);
        qmp->out_len += len;
        nb[qmp->out_len] = 0;
        qmp->out = nb;
        return 0;
}

char *dv_qmp_take_output(struct dv_qmp *qmp)
{
        char *s;

        pthread_mutex_lock(&qmp->write_lock);
        s = qmp->out ? qmp->out : dv_strdup("");
        qmp->out = NULL;
        qmp->out_len = 0;
        pthread_mutex_unlock(&qmp->write_lock);
        return s;
}

/* [lock] held. Unlink and return the pending entry for id, or NULL. */
static struct pending *pending_unlink_locked(struct dv_qmp *qmp, uint64_t id)
{
        for (struct pending **pp = &qmp->pending; *pp; pp = &(*pp)->next)
                if ((*pp)->id == id) {
                        struct pending *p = *pp;
                        *pp = p->next;
                        return p;
                }
        return NULL;
}

void dv_qmp_forget(struct dv_qmp *qmp, uint64_t id)
{
        struct pending *p;

        pthread_mutex_lock(&qmp->lock);
        p = pending_unlink_locked(qmp, id);
        pthread_mutex_unlock(&qmp->lock);
        if (p) {
                json_decref(p->reply);
                free(p);
        }
}

bool dv_qmp_reply_ready(struct dv_qmp *qmp, uint64_t id)
{
        bool ready = false;

        pthread_mutex_lock(&qmp->lock);
        for (struct pending *p = qmp->pending; p; p = p->next)
                if (p->id == id)
                        ready = p->reply != NULL;
        pthread_mutex_unlock(&qmp->lock);
        return ready;
}

int dv_qmp_send(struct dv_qmp *qmp, const char *cmd, json_t *args, int timeout_ms,
                uint64_t *ret_id)
{
        _cleanup_(json_decrefp) json_t *msg = NULL;
        _cleanup_(freep) char *text = NULL, *line = NULL;
        struct pending *p;
        char idbuf[32];
        uint64_t id = 0;
        int r;

        if (!cmd_name_valid(cmd) || (args && !json_is_object(args)))
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        snprintf(p->cmd, sizeof(p->cmd), "%s", cmd);

        pthread_mutex_lock(&qmp->lock);
        r = qmp->link_error;
        if (r == 0) {
                id = p->id = qmp->next_id++;
                /* Registered before it is written: the reply may come back
                 * before write() returns. */
                p->next = qmp->pending;
                qmp->pending = p;
        }
        pthread_mutex_unlock(&qmp->lock);
        if (r < 0) {
                free(p);
                return r;
        }

        snprintf(idbuf, sizeof(idbuf), "dv-%" PRIu64, id);
        msg = json_pack("{s:s, s:O*, s:s}", "execute", cmd, "arguments", args, "id", idbuf);
        text = msg ? json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text) {
                dv_qmp_forget(qmp, id);
                return -ENOMEM;
        }
        /* One write for the whole line: QEMU may act on the object (e.g.
         * "quit") and close before a separate newline would arrive. */
        line = dv_asprintf("%s\n", text);

        pthread_mutex_lock(&qmp->write_lock);
        if (qmp->fd < 0)
                r = out_append(qmp, line, strlen(line));
        else
                r = write_all(qmp->fd, line, strlen(line), dv_now_ms() + DV_MAX(timeout_ms, 0));
        pthread_mutex_unlock(&qmp->write_lock);
        if (r < 0) {
                /* A command cut in the middle leaves the stream unusable. */
                if (qmp->fd >= 0)
                        link_down(qmp, r == -ETIMEDOUT ? -ETIMEDOUT : -EPIPE);
                dv_qmp_forget(qmp, id);
                return r;
        }
        *ret_id = id;
        return 0;
}

static int reply_result(json_t *reply, const char *cmd, json_t **ret_return,
                        struct dv_error *err)
{
        json_t *e = json_object_get(reply, "error");

        if (e) {
                const char *cls = json_string_value(json_object_get(e, "class"));
                const char *desc = json_string_value(json_object_get(e, "desc"));

                dv_error_set(err, 500, "qemu-failed", "QMP %s failed: %s: %s", cmd,
                             cls ? cls : "Error", desc ? desc : "(no description)");
                return -EIO;
        }
        if (ret_return)
                *ret_return = json_incref(json_object_get(reply, "return"));
        return 0;
}

static const char *link_error_text(int r)
{
        switch (r) {
        case -ECONNRESET:
                return "QEMU closed the connection";
        case -ECONNABORTED:
                return "the connection was closed";
        case -EMSGSIZE:
                return "QEMU sent an oversized message";
        case -EPROTO:
                return "QEMU sent a malformed message";
        default:
                return strerror(-r);
        }
}

int dv_qmp_wait(struct dv_qmp *qmp, uint64_t id, int timeout_ms, json_t **ret_return,
                struct dv_error *err)
{
        int64_t deadline = dv_now_ms() + DV_MAX(timeout_ms, 0);
        struct timespec ts;
        struct pending *p;
        char cmd[64] = "?";
        int r = 0;

        ts.tv_sec = deadline / 1000;
        ts.tv_nsec = (deadline % 1000) * 1000000;
        pthread_mutex_lock(&qmp->lock);
        for (;;) {
                for (p = qmp->pending; p && p->id != id; p = p->next)
                        ;
                if (!p) {
                        r = -ENOENT;
                        break;
                }
                snprintf(cmd, sizeof(cmd), "%s", p->cmd);
                if (p->reply)
                        break;
                if (qmp->link_error) {
                        r = qmp->link_error;
                        break;
                }
                if (dv_now_ms() >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                pthread_cond_timedwait(&qmp->cond, &qmp->lock, &ts);
        }
        if (p)
                pending_unlink_locked(qmp, id);
        pthread_mutex_unlock(&qmp->lock);

        if (r == -ENOENT) {
                dv_error_set(err, 500, "qemu-failed", "QMP: no command with id %" PRIu64, id);
                return r;
        }
        if (r == -ETIMEDOUT)
                dv_error_set(err, 500, "qemu-failed", "QMP %s: no reply within %d ms", cmd,
                             timeout_ms);
        else if (r < 0)
                dv_error_set(err, 500, "qemu-failed", "QMP %s: %s", cmd, link_error_text(r));
        else
                r = reply_result(p->reply, cmd, ret_return, err);
        json_decref(p->reply);
        free(p);
        return r;
}

int dv_qmp_execute(struct dv_qmp *qmp, const char *cmd, json_t *args, int timeout_ms,
                   json_t **ret_return, struct dv_error *err)
{
        int64_t start = dv_now_ms();
        uint64_t id;
        int r;

        r = dv_qmp_send(qmp, cmd, args, timeout_ms, &id);
        if (r < 0) {
                dv_error_set(err, 500, "qemu-failed", "QMP %s: %s",
                             cmd_name_valid(cmd) ? cmd : "(invalid command)",
                             r == -EINVAL ? "invalid command or arguments" : link_error_text(r));
                return r;
        }
        return dv_qmp_wait(qmp, id, (int)DV_MAX(timeout_ms - (dv_now_ms() - start), 0),
                           ret_return, err);
}

/* Read from the socket on the calling thread until the greeting (id 0) or
 * the reply to id arrived, the link broke or the deadline passed. Only
 * while nobody else reads (during connect). */
static int pump_until(struct dv_qmp *qmp, uint64_t id, int64_t deadline)
{
        for (;;) {
                struct pollfd pfd = { .fd = qmp->fd, .events = POLLIN };
                int64_t left;
                int r;

                /* Done first: a reply may have come just before an EOF. */
                if (id == 0 ? dv_qmp_greeting(qmp) != NULL : dv_qmp_reply_ready(qmp, id))
                        return 0;
                r = dv_qmp_link_error(qmp);
                if (r < 0)
                        return r;
                left = deadline - dv_now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&pfd, 1, (int)DV_MIN(left, (int64_t)INT32_MAX));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        (void)dv_qmp_process(qmp);
        }
}

int dv_qmp_connect(const char *path, int timeout_ms, dv_qmp_event_cb cb, void *userdata,
                   struct dv_qmp **ret_qmp)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(closep) int fd = -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int64_t deadline = dv_now_ms() + DV_MAX(timeout_ms, 0);
        uint64_t id;
        int r;

        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        qmp = qmp_alloc(fd, cb, userdata);
        if (!qmp)
                return -ENOMEM;
        fd = -1; /* consumed by qmp */

        r = pump_until(qmp, 0, deadline);
        if (r < 0)
                return r;
        r = dv_qmp_send(qmp, "qmp_capabilities", NULL,
                        (int)DV_MAX(deadline - dv_now_ms(), 0), &id);
        if (r < 0)
                return r;
        r = pump_until(qmp, id, deadline);
        if (r == 0)
                r = dv_qmp_wait(qmp, id, 0, NULL, NULL);
        else
                dv_qmp_forget(qmp, id);
        if (r < 0)
                return r == -EIO ? -EPROTO : r;
        *ret_qmp = TAKE_PTR(qmp);
        return 0;
}
