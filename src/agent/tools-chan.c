#include "tools-chan.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "elfcheck.h"
#include "sha256.h"

/* Calls in flight per channel, and bytes of requests not yet written. */
#define CALLS_MAX 16
#define OUT_MAX (1024 * 1024)
/* Bytes read per loop turn, so that timers run even under a flood. */
#define READ_BUDGET (256 * 1024)
/* Longest sleep of the thread: the heartbeat check granularity. */
#define TICK_MS 200
/* Raw bytes per upgrade chunk (43,692 base64 characters). */
#define UPGRADE_CHUNK 32768
#define RBUF_SIZE 65536

struct call {
        uint64_t id;
        const char *op;          /* static name from the protocol's op table */
        uint64_t start, end;     /* its bytes in the output stream */
        bool done;
        int r;                   /* 0, or negative with err set */
        json_t *result;          /* owned until handed to the caller */
        struct dv_error err;
        struct call *next;
};

struct dv_tools_chan {
        char *path;                     /* socket path */
        int hb_timeout_ms;
        int reconnect_ms;
        struct dv_tools_limits limits;
        dv_tools_state_cb state_cb;
        dv_tools_event_cb event_cb;
        void *userdata;

        pthread_t thread;
        bool thread_started;
        int wake_fd;                    /* eventfd: stop, output queued */
        pthread_mutex_t lock;           /* everything below */
        pthread_cond_t cond;            /* replies and state changes */

        bool stop;
        int fd;                         /* socket; -1 while disconnected; only the thread closes it */
        int64_t next_connect_ms;
        struct dv_tools_reader *reader;
        int64_t now_ms;                 /* time of the current feed, for the message callback */

        enum dv_tools_state state;
        char version[65];
        char session[17];
        char reason[256];
        bool proto_bad;                 /* the guest speaks another protocol version */
        int64_t last_heard_ms;
        uint64_t hello_gen;             /* hellos seen: an upgrade waits for the next */

        uint64_t next_id;
        struct call *calls;
        unsigned ncalls;
        char *out;                      /* request bytes not yet written */
        size_t out_len;
        uint64_t out_base;              /* stream offset of out[0] */

        json_t *events;                 /* guest events to hand to event_cb */
        char *rbuf;                     /* the thread's read buffer, RBUF_SIZE bytes */

        bool rep_valid;                 /* what state_cb was last told */
        enum dv_tools_state rep_state;
        char rep_version[65];
        char rep_reason[256];
};

const char *dv_tools_state_to_string(enum dv_tools_state state)
{
        switch (state) {
        case DV_TOOLS_NOT_INSTALLED:
                return "not-installed";
        case DV_TOOLS_NOT_RUNNING:
                return "not-running";
        case DV_TOOLS_RUNNING:
                return "running";
        }
        return "unknown";
}

static int64_t mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(struct dv_tools_chan *c)
{
        uint64_t one = 1;

        (void)!write(c->wake_fd, &one, sizeof(one));
}

/* ------------------------------------------------- state (under lock) -- */

static void fail_calls(struct dv_tools_chan *c, int status, const char *code, const char *fmt, ...)
        _printf_(4, 5);
static void fail_calls(struct dv_tools_chan *c, int status, const char *code, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (struct call *k = c->calls; k; k = k->next) {
                if (k->done)
                        continue;
                k->done = true;
                k->r = dv_error_set(&k->err, status, code, "%s", msg);
        }
        pthread_cond_broadcast(&c->cond);
}

static void set_state(struct dv_tools_chan *c, enum dv_tools_state s, const char *reason)
{
        c->state = s;
        snprintf(c->reason, sizeof(c->reason), "%s", s == DV_TOOLS_RUNNING ? "" : reason);
        pthread_cond_broadcast(&c->cond);
}

/* Heartbeat loss and misbehaviour. */
static void check_state(struct dv_tools_chan *c, int64_t now)
{
        const char *why = NULL;

        if (dv_tools_reader_misbehaving(c->reader, now, &why)) {
                char r[256];

                snprintf(r, sizeof(r), "misbehaving channel: %s", why);
                if (c->state != DV_TOOLS_NOT_RUNNING || strcmp(c->reason, r) != 0) {
                        set_state(c, DV_TOOLS_NOT_RUNNING, r);
                        fail_calls(c, 502, "tools-misbehaving", "Tools channel misbehaves: %s", why);
                }
                return;
        }
        if (c->state == DV_TOOLS_RUNNING && now - c->last_heard_ms > c->hb_timeout_ms) {
                int64_t when = 0;
                const char *last = dv_tools_reader_last_error(c->reader, &when);
                char r[256];

                /* A protocol error is only worth naming if it is recent. */
                if (last && now - when > 2 * (int64_t)c->hb_timeout_ms)
                        last = NULL;

                snprintf(r, sizeof(r), "no heartbeat for %d s%s%.160s", c->hb_timeout_ms / 1000,
                         last ? " (last protocol error: " : "", last ? last : "");
                if (last)
                        snprintf(r + strlen(r), sizeof(r) - strlen(r), ")");
                set_state(c, DV_TOOLS_NOT_RUNNING, r);
        }
}

static const char *const guest_codes[] = {
        "invalid-request", "invalid-args", "unknown-op", "stale-session", "not-supported", "busy",
        "failed", "too-large", "no-such-nic", "digest-mismatch", "invalid-binary", "io-error", "timeout",
        NULL,
};

static void complete_call(struct dv_tools_chan *c, struct call *k, struct dv_tools_msg *m)
{
        if (m->ok) {
                struct dv_error err = {};
                int r = dv_tools_check_result(k->op, m->result, &err);

                if (r < 0) {
                        dv_tools_reader_violation(c->reader, c->now_ms, err.message);
                        k->r = r;
                        k->err = err;
                } else {
                        k->r = 0;
                        k->result = TAKE_PTR(m->result);
                }
        } else {
                const char *code = "tools-error";
                int status = 502;

                for (const char *const *g = guest_codes; *g; g++)
                        if (strcmp(*g, m->error_code) == 0)
                                code = *g;
                if (strcmp(code, "not-supported") == 0 || strcmp(code, "busy") == 0)
                        status = 409;
                else if (strcmp(code, "timeout") == 0) {
                        status = 504;
                        code = "tools-timeout";
                }
                k->r = dv_error_set(&k->err, status, code, "guest: %s",
                                    m->error_message[0] ? m->error_message : m->error_code);
        }
        k->done = true;
        pthread_cond_broadcast(&c->cond);
}

static void on_msg(void *userdata, struct dv_tools_msg *m)
{
        struct dv_tools_chan *c = userdata;

        switch (m->kind) {
        case DV_TOOLS_MSG_HELLO:
        case DV_TOOLS_MSG_HEARTBEAT:
                c->last_heard_ms = c->now_ms;
                if (m->kind == DV_TOOLS_MSG_HELLO) {
                        c->hello_gen++;
                        c->proto_bad = m->proto != DV_TOOLS_PROTO_VERSION;
                }
                if (c->session[0] && strcmp(c->session, m->session) != 0)
                        fail_calls(c, 502, "tools-restarted", "drover-tools restarted in the guest");
                snprintf(c->session, sizeof(c->session), "%s", m->session);
                snprintf(c->version, sizeof(c->version), "%s", m->version);
                if (c->proto_bad) {
                        char r[128];
                        snprintf(r, sizeof(r), "drover-tools %s speaks protocol %lld, the agent %d",
                                 m->version, (long long)m->proto, DV_TOOLS_PROTO_VERSION);
                        if (m->kind == DV_TOOLS_MSG_HELLO)
                                set_state(c, DV_TOOLS_NOT_RUNNING, r);
                        return;
                }
                if (c->state != DV_TOOLS_RUNNING)
                        set_state(c, DV_TOOLS_RUNNING, NULL);
                else
                        pthread_cond_broadcast(&c->cond); /* hello_gen waiters */
                /* A hello is a (re)started drover-tools or a new connection:
                 * the owner may have state to push (net-config). */
                if (m->kind == DV_TOOLS_MSG_HELLO && c->events && json_array_size(c->events) < 64)
                        json_array_append(c->events, m->body);
                return;
        case DV_TOOLS_MSG_FS_THAWED:
                if (c->events && json_array_size(c->events) < 64)
                        json_array_append(c->events, m->body);
                return;
        case DV_TOOLS_MSG_REPLY:
                for (struct call *k = c->calls; k; k = k->next)
                        if (k->id == m->id && !k->done) {
                                complete_call(c, k, m);
                                return;
                        }
                return; /* a late reply to a call that timed out */
        }
}

/* ------------------------------------------------------------ thread -- */

static void disconnect(struct dv_tools_chan *c, const char *why)
{
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->next_connect_ms = mono_ms() + c->reconnect_ms;
        c->out_base += c->out_len;
        c->out_len = 0;
        dv_tools_reader_reset(c->reader);
        fail_calls(c, 502, "tools-disconnected", "Tools channel closed: %s", why);
        if (c->state == DV_TOOLS_RUNNING) {
                char r[160];
                snprintf(r, sizeof(r), "channel closed: %s", why);
                set_state(c, DV_TOOLS_NOT_RUNNING, r);
        }
}

static void try_connect(struct dv_tools_chan *c)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        c->next_connect_ms = mono_ms() + c->reconnect_ms;
        if (strlen(c->path) >= sizeof(sa.sun_path))
                return;
        memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                close(fd);
                return;
        }
        c->fd = fd;
        dv_tools_reader_reset(c->reader);
}

static void flush_out(struct dv_tools_chan *c)
{
        while (c->fd >= 0 && c->out_len > 0) {
                ssize_t k = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != ENOTCONN)
                                disconnect(c, strerror(errno));
                        return;
                }
                memmove(c->out, c->out + k, c->out_len - (size_t)k);
                c->out_len -= (size_t)k;
                c->out_base += (uint64_t)k;
        }
}

/* State changes and guest events, reported with the lock dropped. */
static void report(struct dv_tools_chan *c)
{
        json_t *events = NULL;
        bool changed;
        enum dv_tools_state s = c->state;
        char version[65] = "", reason[256] = "";

        changed = !c->rep_valid || c->rep_state != c->state || strcmp(c->rep_version, c->version) != 0 ||
                  strcmp(c->rep_reason, c->reason) != 0;
        if (changed) {
                c->rep_valid = true;
                c->rep_state = s = c->state;
                memcpy(c->rep_version, c->version, sizeof(version));
                memcpy(c->rep_reason, c->reason, sizeof(reason));
                memcpy(version, c->version, sizeof(version));
                memcpy(reason, c->reason, sizeof(reason));
        }
        if (json_array_size(c->events) > 0) {
                events = c->events;
                c->events = json_array();
        }
        if (!changed && !events)
                return;
        pthread_mutex_unlock(&c->lock);
        if (changed && c->state_cb)
                c->state_cb(c->userdata, s, s == DV_TOOLS_RUNNING ? version : NULL,
                            s == DV_TOOLS_RUNNING ? NULL : reason);
        if (events && c->event_cb) {
                size_t i;
                json_t *ev;
                json_array_foreach(events, i, ev)
                        c->event_cb(c->userdata, json_string_value(json_object_get(ev, "event")), ev);
        }
        json_decref(events);
        pthread_mutex_lock(&c->lock);
}

static void *chan_thread(void *arg)
{
        struct dv_tools_chan *c = arg;
        char *buf = c->rbuf;

        pthread_mutex_lock(&c->lock);
        c->rep_valid = true; /* the initial not-installed state is not a change */
        while (!c->stop) {
                struct pollfd pfd[2];
                int64_t now = mono_ms();
                int n = 1, timeout = TICK_MS;
                size_t budget = READ_BUDGET;

                if (c->fd < 0 && now >= c->next_connect_ms)
                        try_connect(c);
                flush_out(c);
                check_state(c, now);
                report(c);
                if (c->stop)
                        break;

                pfd[0] = (struct pollfd){ .fd = c->wake_fd, .events = POLLIN };
                if (c->fd >= 0) {
                        pfd[1] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
                        if (c->out_len > 0)
                                pfd[1].events |= POLLOUT;
                        n = 2;
                } else if (c->next_connect_ms - now < timeout)
                        timeout = (int)DV_MAX(c->next_connect_ms - now, 0);
                pthread_mutex_unlock(&c->lock);
                if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
                        pthread_mutex_lock(&c->lock);
                        continue;
                }
                if (pfd[0].revents & POLLIN) {
                        uint64_t v;
                        (void)!read(c->wake_fd, &v, sizeof(v));
                }
                pthread_mutex_lock(&c->lock);
                if (n < 2 || c->fd < 0 || !(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                /* Read what is there, up to a budget per turn. */
                while (budget > 0 && c->fd >= 0) {
                        ssize_t k;

                        pthread_mutex_unlock(&c->lock);
                        k = recv(c->fd, buf, DV_MIN((size_t)RBUF_SIZE, budget), MSG_DONTWAIT);
                        pthread_mutex_lock(&c->lock);
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno != EAGAIN)
                                        disconnect(c, strerror(errno));
                                break;
                        }
                        if (k == 0) {
                                disconnect(c, "end of file");
                                break;
                        }
                        budget -= (size_t)k;
                        c->now_ms = mono_ms();
                        dv_tools_reader_feed(c->reader, buf, (size_t)k, c->now_ms, on_msg, c);
                }
        }
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        fail_calls(c, 502, "tools-disconnected", "Tools channel stopped");
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

/* ------------------------------------------------------------ public -- */

int dv_tools_chan_new(const struct dv_tools_chan_config *cfg, struct dv_tools_chan **ret_chan)
{
        _cleanup_(dv_tools_chan_freep) struct dv_tools_chan *c = NULL;
        pthread_condattr_t ca;
        int r;

        if (!cfg || !cfg->socket_path || strlen(cfg->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        c->wake_fd = -1;
        c->path = strdup(cfg->socket_path);
        c->hb_timeout_ms = cfg->heartbeat_timeout_ms > 0 ? cfg->heartbeat_timeout_ms : 5000;
        c->reconnect_ms = cfg->reconnect_ms > 0 ? cfg->reconnect_ms : 1000;
        if (cfg->limits)
                c->limits = *cfg->limits;
        else
                dv_tools_limits_default(&c->limits);
        c->state_cb = cfg->state_cb;
        c->event_cb = cfg->event_cb;
        c->userdata = cfg->userdata;
        c->state = DV_TOOLS_NOT_INSTALLED;
        c->out = malloc(OUT_MAX);
        c->events = json_array();
        c->rbuf = malloc(RBUF_SIZE);
        if (!c->path || !c->out || !c->events || !c->rbuf)
                return -ENOMEM;
        r = dv_tools_reader_new(&c->limits, &c->reader);
        if (r < 0)
                return r;
        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->wake_fd < 0)
                return -errno;
        pthread_mutex_init(&c->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &ca);
        pthread_condattr_destroy(&ca);
        /* The callbacks can run (and hand the channel to other threads
         * through the caller's structures) before pthread_create returns:
         * the caller's pointer is set first. */
        *ret_chan = c;
        r = pthread_create(&c->thread, NULL, chan_thread, c);
        if (r != 0) {
                *ret_chan = NULL;
                return -r;
        }
        c->thread_started = true;
        c = NULL; /* the caller's now */
        return 0;
}

void dv_tools_chan_free(struct dv_tools_chan *c)
{
        if (!c)
                return;
        if (c->thread_started) {
                pthread_mutex_lock(&c->lock);
                c->stop = true;
                pthread_mutex_unlock(&c->lock);
                wake(c);
                pthread_join(c->thread, NULL);
        }
        if (c->wake_fd >= 0) {
                pthread_mutex_destroy(&c->lock);
                pthread_cond_destroy(&c->cond);
                close(c->wake_fd);
        }
        if (c->fd >= 0)
                close(c->fd);
        dv_tools_reader_free(c->reader);
        json_decref(c->events);
        free(c->out);
        free(c->rbuf);
        free(c->path);
        free(c);
}

void dv_tools_chan_freep(struct dv_tools_chan **c)
{
        dv_tools_chan_free(*c);
}

int dv_tools_chan_get_state(struct dv_tools_chan *c, enum dv_tools_state *ret_state,
                            char **ret_version, char **ret_reason)
{
        _cleanup_(freep) char *v = NULL, *why = NULL;
        enum dv_tools_state s;

        pthread_mutex_lock(&c->lock);
        s = c->state;
        if (ret_version && s == DV_TOOLS_RUNNING)
                v = strdup(c->version);
        if (ret_reason && s != DV_TOOLS_RUNNING && c->reason[0])
                why = strdup(c->reason);
        pthread_mutex_unlock(&c->lock);
        if ((ret_version && s == DV_TOOLS_RUNNING && !v))
                return -ENOMEM;
        if (ret_state)
                *ret_state = s;
        if (ret_version)
                *ret_version = TAKE_PTR(v);
        if (ret_reason)
                *ret_reason = TAKE_PTR(why);
        return 0;
}

static void deadline_ts(int64_t deadline_ms, struct timespec *ts)
{
        ts->tv_sec = deadline_ms / 1000;
        ts->tv_nsec = (deadline_ms % 1000) * 1000000;
}

int dv_tools_chan_wait_running(struct dv_tools_chan *c, int timeout_ms)
{
        int64_t deadline = mono_ms() + timeout_ms;
        struct timespec ts;
        int r = 0;

        deadline_ts(deadline, &ts);
        pthread_mutex_lock(&c->lock);
        while (c->state != DV_TOOLS_RUNNING && !c->stop) {
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
                        r = c->state == DV_TOOLS_RUNNING ? 0 : -ETIMEDOUT;
                        break;
                }
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

/* Drop a timed-out request from the output if none of it was written, so
 * that a guest that wakes up later does not act on it. */
static void cut_unsent(struct dv_tools_chan *c, struct call *k)
{
        size_t len = (size_t)(k->end - k->start), off;

        if (k->start < c->out_base)
                return; /* partly or wholly written: too late */
        off = (size_t)(k->start - c->out_base);
        memmove(c->out + off, c->out + off + len, c->out_len - off - len);
        c->out_len -= len;
        for (struct call *o = c->calls; o; o = o->next)
                if (o->start >= k->end) {
                        o->start -= len;
                        o->end -= len;
                }
}

static void unlink_call(struct dv_tools_chan *c, struct call *k)
{
        for (struct call **p = &c->calls; *p; p = &(*p)->next)
                if (*p == k) {
                        *p = k->next;
                        c->ncalls--;
                        return;
                }
}

static const char *op_static(const char *op)
{
        for (const char *const *n = dv_tools_op_names(); *n; n++)
                if (strcmp(*n, op) == 0)
                        return *n;
        return NULL;
}

int dv_tools_call(struct dv_tools_chan *c, const char *op, json_t *args, int timeout_ms,
                  json_t **ret_result, struct dv_error *err)
{
        _cleanup_(freep) char *line = NULL;
        struct call k = {};
        struct timespec ts;
        size_t len;
        int r;

        if (!c || !op)
                return dv_error_set(err, 400, "invalid-field", "no channel or op");
        r = dv_tools_check_args(op, args, err);
        if (r < 0)
                return r;
        if (timeout_ms <= 0)
                timeout_ms = 10000;
        k.op = op_static(op);
        deadline_ts(mono_ms() + timeout_ms, &ts);

        pthread_mutex_lock(&c->lock);
        if (c->state != DV_TOOLS_RUNNING) {
                r = dv_error_set(err, 409, "tools-not-running", "Tools is %s%s%s",
                                 dv_tools_state_to_string(c->state), c->reason[0] ? ": " : "", c->reason);
                goto out;
        }
        if (c->ncalls >= CALLS_MAX) {
                r = dv_error_set(err, 409, "tools-busy", "%d Tools calls are already in flight", CALLS_MAX);
                goto out;
        }
        k.id = ++c->next_id;
        r = dv_tools_format_request(k.id, op, c->session, args, &line, &len);
        if (r < 0) {
                r = dv_error_set(err, 400, "invalid-field", "cannot encode the request: %s", strerror(-r));
                goto out;
        }
        if (len > OUT_MAX - c->out_len) {
                r = dv_error_set(err, 409, "tools-busy", "the guest is not reading its requests");
                goto out;
        }
        k.start = c->out_base + c->out_len;
        k.end = k.start + len;
        memcpy(c->out + c->out_len, line, len);
        c->out_len += len;
        k.next = c->calls;
        c->calls = &k;
        c->ncalls++;
        wake(c);
        while (!k.done && !c->stop)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
                        break;
        unlink_call(c, &k);
        if (!k.done) {
                cut_unsent(c, &k);
                r = dv_error_set(err, 504, "tools-timeout", "no reply to '%s' within %d ms", op, timeout_ms);
                goto out;
        }
        r = k.r;
        if (r < 0 && err)
                *err = k.err;
out:
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                json_decref(k.result);
                return r;
        }
        if (ret_result)
                *ret_result = TAKE_PTR(k.result);
        json_decref(k.result);
        return 0;
}

int dv_tools_chan_get_stats(struct dv_tools_chan *c, struct dv_tools_reader_stats *ret_stats)
{
        pthread_mutex_lock(&c->lock);
        dv_tools_reader_get_stats(c->reader, ret_stats);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

/* ----------------------------------------------------------- upgrade -- */

static char *base64_encode(const uint8_t *p, size_t n)
{
        static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                *o++ = tb[v >> 18];
                *o++ = tb[(v >> 12) & 63];
                *o++ = i + 1 < n ? tb[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? tb[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int remaining_ms(int64_t deadline)
{
        int64_t left = deadline - mono_ms();

        return left > 0 ? (int)DV_MIN(left, INT32_MAX) : 1;
}

static int read_binary(const char *path, uint8_t **ret_data, size_t *ret_len, struct dv_error *err)
{
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) uint8_t *data = NULL;
        struct stat st;
        char why[96];
        size_t got = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return dv_error_set(err, 400, "invalid-binary", "cannot open %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64 ||
            st.st_size > DV_TOOLS_UPGRADE_MAX)
                return dv_error_set(err, 400, "invalid-binary", "%s is not a file of 64 B..%d MiB", path,
                                    DV_TOOLS_UPGRADE_MAX >> 20);
        if (dv_elf_check_static_x86_64(fd, why, sizeof(why)) < 0)
                return dv_error_set(err, 400, "invalid-binary", "%s is %s", path, why);
        data = malloc((size_t)st.st_size);
        if (!data)
                return -ENOMEM;
        while (got < (size_t)st.st_size) {
                ssize_t k = pread(fd, data + got, (size_t)st.st_size - got, (off_t)got);
                if (k <= 0)
                        return dv_error_set(err, 400, "invalid-binary", "cannot read %s", path);
                got += (size_t)k;
        }
        *ret_data = TAKE_PTR(data);
        *ret_len = got;
        return 0;
}

int dv_tools_upgrade(struct dv_tools_chan *c, const char *path, int timeout_ms, char **ret_version,
                     struct dv_error *err)
{
        _cleanup_(freep) uint8_t *data = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL;
        int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 120000);
        struct dv_sha256 sha;
        uint8_t digest[32];
        char hex[65], old_session[17];
        uint64_t gen;
        size_t len = 0;
        struct timespec ts;
        int r;

        r = read_binary(path, &data, &len, err);
        if (r < 0)
                return r;
        dv_sha256_init(&sha);
        dv_sha256_update(&sha, data, len);
        dv_sha256_final(&sha, digest);
        dv_sha256_hex(digest, hex);

        args = json_pack("{s:I,s:s}", "size", (json_int_t)len, "sha256", hex);
        if (!args)
                return -ENOMEM;
        r = dv_tools_call(c, "upgrade-begin", args, remaining_ms(deadline), NULL, err);
        if (r < 0)
                return r;
        for (size_t off = 0; off < len; off += UPGRADE_CHUNK) {
                _cleanup_(freep) char *b64 = base64_encode(data + off, DV_MIN((size_t)UPGRADE_CHUNK, len - off));
                _cleanup_(json_decrefp) json_t *a = NULL;

                if (!b64)
                        return -ENOMEM;
                a = json_pack("{s:I,s:s}", "offset", (json_int_t)off, "data", b64);
                if (!a)
                        return -ENOMEM;
                r = dv_tools_call(c, "upgrade-chunk", a, remaining_ms(deadline), NULL, err);
                if (r < 0) {
                        dv_tools_call(c, "upgrade-abort", NULL, 2000, NULL, NULL);
                        return r;
                }
        }

        pthread_mutex_lock(&c->lock);
        gen = c->hello_gen;
        memcpy(old_session, c->session, sizeof(old_session));
        pthread_mutex_unlock(&c->lock);

        r = dv_tools_call(c, "upgrade-commit", NULL, remaining_ms(deadline), NULL, err);
        if (r < 0)
                return r;

        /* The guest exits after the reply; its respawn loop starts the new
         * binary, which says hello with a new session. If the heartbeat is
         * lost first (Tools not running any more), the new one did not
         * start: no need to wait for the deadline. */
        deadline_ts(deadline, &ts);
        pthread_mutex_lock(&c->lock);
        while (!(c->hello_gen > gen && c->state == DV_TOOLS_RUNNING && strcmp(c->session, old_session) != 0) &&
               c->state == DV_TOOLS_RUNNING && !c->stop)
                if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT)
                        break;
        if (c->hello_gen > gen && c->state == DV_TOOLS_RUNNING && strcmp(c->session, old_session) != 0) {
                r = 0;
                if (ret_version) {
                        *ret_version = strdup(c->version);
                        if (!*ret_version)
                                r = -ENOMEM;
                }
        } else
                r = dv_error_set(err, 504, "tools-timeout",
                                 "the new drover-tools did not start (Tools is %s%s%s)",
                                 dv_tools_state_to_string(c->state), c->reason[0] ? ": " : "", c->reason);
        pthread_mutex_unlock(&c->lock);
        return r;
}
