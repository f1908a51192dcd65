/* Unit tests of the QMP client (src/agent/qmp.c) against transcripts
 * recorded from QEMU 7.2 (tests/unit/data/qmp/, see README there), fed in
 * every kind of split, plus a fake QMP server on a UNIX socket for the
 * transport and the threading. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "qmp.h"

/* ---- helpers ------------------------------------------------------------ */

static char *load(const char *name, size_t *ret_len)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/%s", QMP_DATA_DIR, name);
        char *data = NULL;

        assert_int_equal(dv_read_file(path, 4 * 1024 * 1024, &data, ret_len), 0);
        return data;
}

#define MAX_EVENTS 32

/* What the event callback saw. */
struct events {
        struct dv_qmp *qmp;             /* to look at replies from the callback */
        int n;                          /* events seen */
        char name[MAX_EVENTS][32];      /* their names */
        json_t *data[MAX_EVENTS];       /* their data (references) */
        int64_t ts[MAX_EVENTS];         /* their timestamps */
        uint64_t ready[MAX_EVENTS];     /* bitmask of ids 1..63 answered then */
};

static void on_event(void *userdata, const char *name, json_t *data, int64_t ts_us)
{
        struct events *ev = userdata;
        uint64_t ready = 0;

        assert_true(ev->n < MAX_EVENTS);
        for (uint64_t id = 1; id < 64 && ev->qmp; id++)
                if (dv_qmp_reply_ready(ev->qmp, id))
                        ready |= UINT64_C(1) << id;
        snprintf(ev->name[ev->n], sizeof(ev->name[0]), "%s", name);
        ev->data[ev->n] = json_incref(data);
        ev->ts[ev->n] = ts_us;
        ev->ready[ev->n] = ready;
        ev->n++;
}

static void events_clear(struct events *ev)
{
        for (int i = 0; i < ev->n; i++)
                json_decref(ev->data[i]);
        memset(ev, 0, sizeof(*ev));
}

/* Feed data in chunks of chunk bytes (0: pseudo-random sizes 1..97). */
static int feed_chunked(struct dv_qmp *qmp, const char *data, size_t len, size_t chunk)
{
        unsigned seed = 12345;
        int r = 0;

        for (size_t off = 0; off < len && r == 0;) {
                size_t n = chunk;

                if (n == 0) {
                        seed = seed * 1103515245 + 12345;
                        n = 1 + (seed >> 16) % 97;
                }
                n = DV_MIN(n, len - off);
                r = dv_qmp_feed(qmp, data + off, n);
                off += n;
        }
        return r;
}

static uint64_t send_cmd(struct dv_qmp *qmp, const char *cmd, json_t *args)
{
        uint64_t id = 0;

        assert_int_equal(dv_qmp_send(qmp, cmd, args, 1000, &id), 0);
        return id;
}

/* ---- greeting ------------------------------------------------------------ */

static void test_greeting(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(freep) char *data = NULL;
        size_t len;
        json_t *g, *v;

        data = load("greeting.txt", &len);
        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        assert_null(dv_qmp_greeting(qmp));
        assert_int_equal(dv_qmp_feed(qmp, data, len), 0);
        g = dv_qmp_greeting(qmp);
        assert_non_null(g);
        v = json_object_get(json_object_get(g, "version"), "qemu");
        assert_int_equal(json_integer_value(json_object_get(v, "major")), 7);
        assert_int_equal(json_integer_value(json_object_get(v, "minor")), 2);
        assert_true(json_is_array(json_object_get(g, "capabilities")));
        assert_int_equal(dv_qmp_stray_count(qmp), 0);
        assert_int_equal(dv_qmp_link_error(qmp), 0);
}

/* ---- a whole session, in every split ------------------------------------- */

static const char *const session_cmds[] = {
        "qmp_capabilities", "query-status", "nosuch", "stop", "cont", "system_reset",
        "set_password", "expire_password", "system_powerdown", "quit",
};

static void run_session(size_t chunk)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(freep) char *data = NULL, *out = NULL;
        struct events ev = { 0 };
        uint64_t ids[ELEMENTSOF(session_cmds)];
        struct dv_error err = { 0 };
        json_t *ret = NULL;
        size_t len;

        data = load("session.txt", &len);
        assert_int_equal(dv_qmp_new_detached(on_event, &ev, &qmp), 0);
        ev.qmp = qmp;

        /* The commands of the recorded session, with the same ids. */
        for (size_t i = 0; i < ELEMENTSOF(session_cmds); i++) {
                _cleanup_(json_decrefp) json_t *args = NULL;

                if (strcmp(session_cmds[i], "set_password") == 0)
                        args = json_pack("{s:s, s:s}", "protocol", "vnc", "password", "abcd1234");
                else if (strcmp(session_cmds[i], "expire_password") == 0)
                        args = json_pack("{s:s, s:s}", "protocol", "vnc", "time", "+60");
                ids[i] = send_cmd(qmp, session_cmds[i], args);
                assert_int_equal(ids[i], i + 1);
        }
        out = dv_qmp_take_output(qmp);
        assert_non_null(strstr(out, "{\"execute\":\"qmp_capabilities\",\"id\":\"dv-1\"}\n"
                                    "{\"execute\":\"query-status\",\"id\":\"dv-2\"}\n"));
        assert_non_null(strstr(out, "{\"execute\":\"set_password\",\"arguments\":{\"protocol\":"
                                    "\"vnc\",\"password\":\"abcd1234\"},\"id\":\"dv-7\"}\n"));

        assert_int_equal(feed_chunked(qmp, data, len, chunk), 0);
        assert_non_null(dv_qmp_greeting(qmp));
        assert_int_equal(dv_qmp_stray_count(qmp), 0);

        /* Events, in order, each seen after the replies before it in the
         * stream and before the replies after it. */
        assert_int_equal(ev.n, 7);
        assert_string_equal(ev.name[0], "STOP");
        assert_true(ev.ready[0] & (1u << 3));
        assert_false(ev.ready[0] & (1u << 4));
        assert_int_equal(ev.ts[0], INT64_C(1795722164314842));
        assert_string_equal(ev.name[1], "RESUME");
        assert_true(ev.ready[1] & (1u << 4));
        assert_false(ev.ready[1] & (1u << 5));
        assert_string_equal(ev.name[2], "RESET");
        assert_false(json_is_true(json_object_get(ev.data[2], "guest")));
        assert_string_equal(json_string_value(json_object_get(ev.data[2], "reason")),
                            "host-qmp-system-reset");
        assert_false(ev.ready[2] & (1u << 6));
        assert_string_equal(ev.name[3], "RESET");
        assert_true(json_is_true(json_object_get(ev.data[3], "guest")));
        assert_string_equal(ev.name[5], "POWERDOWN");
        assert_null(ev.data[5]);
        assert_string_equal(ev.name[6], "SHUTDOWN");
        assert_false(ev.ready[6] & (1u << 10));

        /* Replies, collected in any order. */
        assert_int_equal(dv_qmp_wait(qmp, ids[1], 0, &ret, &err), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
        assert_true(json_is_true(json_object_get(ret, "running")));
        json_decref(ret);
        ret = NULL;
        assert_int_equal(dv_qmp_wait(qmp, ids[2], 0, &ret, &err), -EIO);
        assert_null(ret);
        assert_string_equal(err.code, "qemu-failed");
        assert_int_equal(err.status, 500);
        assert_string_equal(err.message,
                            "QMP nosuch failed: CommandNotFound: The command nosuch has not "
                            "been found");
        for (size_t i = 0; i < ELEMENTSOF(session_cmds); i++) {
                if (i == 1 || i == 2)
                        continue;
                assert_int_equal(dv_qmp_wait(qmp, ids[i], 0, &ret, &err), 0);
                assert_true(json_is_object(ret));
                assert_int_equal(json_object_size(ret), 0);
                json_decref(ret);
                ret = NULL;
        }
        /* Collected once only. */
        assert_int_equal(dv_qmp_wait(qmp, ids[0], 0, NULL, &err), -ENOENT);
        events_clear(&ev);
}

static void test_session_one_read(void **state) { run_session(1 << 20); }
static void test_session_byte_by_byte(void **state) { run_session(1); }
static void test_session_small_chunks(void **state)
{
        for (size_t c = 2; c <= 200; c += 7)
                run_session(c);
}
static void test_session_random_chunks(void **state) { run_session(0); }

/* A message split right between '\r' and '\n', and two messages plus the
 * start of a third in one read. */
static void test_split_at_line_end(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        struct events ev = { 0 };
        const char *a = "{\"event\": \"STOP\"}\r";
        const char *b = "\n{\"event\": \"RESUME\"}\r\n{\"return\": {}, \"id\": \"dv-1\"}\r\n{\"eve";
        const char *c = "nt\": \"RESET\", \"data\": {\"guest\": true}}\r\n";

        assert_int_equal(dv_qmp_new_detached(on_event, &ev, &qmp), 0);
        ev.qmp = qmp;
        send_cmd(qmp, "stop", NULL);
        assert_int_equal(dv_qmp_feed(qmp, a, strlen(a)), 0);
        assert_int_equal(ev.n, 0);
        assert_int_equal(dv_qmp_feed(qmp, b, strlen(b)), 0);
        assert_int_equal(ev.n, 2);
        assert_true(dv_qmp_reply_ready(qmp, 1));
        assert_int_equal(dv_qmp_feed(qmp, c, strlen(c)), 0);
        assert_int_equal(ev.n, 3);
        assert_string_equal(ev.name[2], "RESET");
        assert_int_equal(ev.ts[2], 0);
        assert_int_equal(dv_qmp_wait(qmp, 1, 0, NULL, NULL), 0);
        events_clear(&ev);
}

static void test_guest_panicked(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(freep) char *data = NULL;
        struct events ev = { 0 };
        json_t *ret = NULL;
        size_t len;

        data = load("guest-panicked.txt", &len);
        assert_int_equal(dv_qmp_new_detached(on_event, &ev, &qmp), 0);
        for (int i = 0; i < 4; i++)
                send_cmd(qmp, i == 3 ? "quit" : i == 0 ? "qmp_capabilities" : "query-status", NULL);
        assert_int_equal(feed_chunked(qmp, data, len, 13), 0);
        assert_int_equal(ev.n, 3);
        assert_string_equal(ev.name[0], "GUEST_PANICKED");
        assert_string_equal(json_string_value(json_object_get(ev.data[0], "action")), "pause");
        assert_string_equal(ev.name[1], "STOP");
        assert_string_equal(ev.name[2], "SHUTDOWN");
        assert_int_equal(dv_qmp_wait(qmp, 3, 0, &ret, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(ret, "status")), "guest-panicked");
        json_decref(ret);
        for (uint64_t id = 1; id <= 4; id++)
                dv_qmp_forget(qmp, id);
        events_clear(&ev);
}

static void test_guest_shutdown_then_eof(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(freep) char *data = NULL;
        struct events ev = { 0 };
        size_t len;

        data = load("guest-shutdown.txt", &len);
        assert_int_equal(dv_qmp_new_detached(on_event, &ev, &qmp), 0);
        send_cmd(qmp, "qmp_capabilities", NULL);
        send_cmd(qmp, "query-status", NULL);
        assert_int_equal(dv_qmp_feed(qmp, data, len), 0);
        assert_int_equal(ev.n, 1);
        assert_string_equal(ev.name[0], "SHUTDOWN");
        assert_true(json_is_true(json_object_get(ev.data[0], "guest")));
        assert_string_equal(json_string_value(json_object_get(ev.data[0], "reason")),
                            "guest-shutdown");
        assert_int_equal(dv_qmp_wait(qmp, 1, 0, NULL, NULL), 0);
        assert_int_equal(dv_qmp_wait(qmp, 2, 0, NULL, NULL), 0);
        events_clear(&ev);
}

/* ---- replies nobody waits for, timeouts ----------------------------------- */

static void test_stray_replies(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        const char *in = "{\"return\": {}, \"id\": \"dv-42\"}\r\n"
                         "{\"return\": {}, \"id\": 7}\r\n"
                         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n"
                         "{\"something\": \"else\"}\r\n"
                         "\r\n  \r\n"
                         "{\"return\": {\"x\": 1}, \"id\": \"dv-1\"}\r\n"
                         "{\"return\": {\"x\": 2}, \"id\": \"dv-1\"}\r\n";
        json_t *ret = NULL;

        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        send_cmd(qmp, "query-status", NULL);
        assert_int_equal(dv_qmp_feed(qmp, in, strlen(in)), 0);
        /* dv-42, 7, the id-less error, the unknown object, the 2nd dv-1. */
        assert_int_equal(dv_qmp_stray_count(qmp), 5);
        assert_int_equal(dv_qmp_wait(qmp, 1, 0, &ret, NULL), 0);
        assert_int_equal(json_integer_value(json_object_get(ret, "x")), 1);
        json_decref(ret);
        assert_int_equal(dv_qmp_link_error(qmp), 0);
}

static void test_timeout(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        struct dv_error err = { 0 };
        int64_t t0;
        uint64_t id;

        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        id = send_cmd(qmp, "query-status", NULL);
        t0 = dv_now_ms();
        assert_int_equal(dv_qmp_wait(qmp, id, 50, NULL, &err), -ETIMEDOUT);
        assert_true(dv_now_ms() - t0 >= 50);
        assert_string_equal(err.message, "QMP query-status: no reply within 50 ms");
        /* The late reply is a stray now. */
        {
                const char *late = "{\"return\": {}, \"id\": \"dv-1\"}\n";
                assert_int_equal(dv_qmp_feed(qmp, late, strlen(late)), 0);
        }
        assert_int_equal(dv_qmp_stray_count(qmp), 1);
}

static void test_bad_command(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        struct dv_error err = { 0 };
        uint64_t id;

        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        assert_int_equal(dv_qmp_send(qmp, "", NULL, 0, &id), -EINVAL);
        assert_int_equal(dv_qmp_send(qmp, "a\"b", NULL, 0, &id), -EINVAL);
        assert_int_equal(dv_qmp_send(qmp, "query-status", arr, 0, &id), -EINVAL);
        assert_int_equal(dv_qmp_execute(qmp, "x y", NULL, 0, NULL, &err), -EINVAL);
        assert_string_equal(err.code, "qemu-failed");
}

/* ---- protocol errors ------------------------------------------------------ */

static void test_oversized_recorded(void **state)
{
        _cleanup_(freep) char *data = NULL;
        size_t len;

        data = load("large-reply.txt", &len);
        /* A 200 KiB reply (query-qmp-schema) fits the default bound ... */
        {
                _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
                json_t *ret = NULL;

                assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
                send_cmd(qmp, "qmp_capabilities", NULL);
                send_cmd(qmp, "query-status", NULL);
                send_cmd(qmp, "query-qmp-schema", NULL);
                send_cmd(qmp, "quit", NULL);
                assert_int_equal(feed_chunked(qmp, data, len, 4096), 0);
                assert_int_equal(dv_qmp_wait(qmp, 3, 0, &ret, NULL), 0);
                assert_true(json_array_size(ret) > 100);
                json_decref(ret);
        }
        /* ... and is a protocol error under a 64 KiB bound: the link goes
         * down and waiters learn why. */
        {
                _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
                struct dv_error err = { 0 };
                uint64_t id;

                assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
                dv_qmp_set_max_message(qmp, 64 * 1024);
                send_cmd(qmp, "qmp_capabilities", NULL);
                send_cmd(qmp, "query-status", NULL);
                send_cmd(qmp, "query-qmp-schema", NULL);
                assert_int_equal(feed_chunked(qmp, data, len, 4096), -EMSGSIZE);
                assert_int_equal(dv_qmp_link_error(qmp), -EMSGSIZE);
                assert_int_equal(dv_qmp_wait(qmp, 1, 0, NULL, &err), 0); /* came before */
                assert_int_equal(dv_qmp_wait(qmp, 3, 1000, NULL, &err), -EMSGSIZE);
                assert_string_equal(err.message,
                                    "QMP query-qmp-schema: QEMU sent an oversized message");
                assert_int_equal(dv_qmp_send(qmp, "quit", NULL, 0, &id), -EMSGSIZE);
                assert_int_equal(dv_qmp_feed(qmp, "{}\n", 3), -EMSGSIZE);
        }
}

/* A message without a line end longer than the bound fails as soon as the
 * bound is passed, in one huge read or in small ones. */
static void test_oversized_unterminated(void **state)
{
        size_t big = DV_QMP_MAX_MESSAGE + 2;
        _cleanup_(freep) char *data = malloc(big);

        assert_non_null(data);
        memset(data, ' ', big);
        data[0] = '{';
        for (int pass = 0; pass < 2; pass++) {
                _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;

                assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
                if (pass == 0)
                        assert_int_equal(dv_qmp_feed(qmp, data, big), -EMSGSIZE);
                else
                        assert_int_equal(feed_chunked(qmp, data, big, 65536), -EMSGSIZE);
        }
}

/* Exactly the bound is fine. */
static void test_message_at_bound(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        size_t max = 4096;
        _cleanup_(freep) char *msg = malloc(max + 3);
        const char *head = "{\"return\": {}, \"id\": \"dv-1\", \"pad\": \"";

        assert_non_null(msg);
        memset(msg, 'x', max);
        memcpy(msg, head, strlen(head));
        memcpy(msg + max - 2, "\"}\r\n", 4);
        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        dv_qmp_set_max_message(qmp, max);
        send_cmd(qmp, "query-status", NULL);
        assert_int_equal(feed_chunked(qmp, msg, max + 2, 1000), 0);
        assert_int_equal(dv_qmp_wait(qmp, 1, 0, NULL, NULL), 0);
        /* One byte more is not. */
        dv_qmp_set_max_message(qmp, max - 1);
        assert_int_equal(feed_chunked(qmp, msg, max + 2, 1000), -EMSGSIZE);
}

static void test_malformed(void **state)
{
        const char *bad[] = {
                "this is not json\r\n",
                "[1, 2, 3]\r\n",
                "{\"return\": {}, \"id\": \"dv-1\"\r\n",
                "\"just a string\"\r\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
                struct dv_error err = { 0 };

                assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
                send_cmd(qmp, "query-status", NULL);
                assert_int_equal(dv_qmp_feed(qmp, bad[i], strlen(bad[i])), -EPROTO);
                assert_int_equal(dv_qmp_wait(qmp, 1, 0, NULL, &err), -EPROTO);
                assert_string_equal(err.message, "QMP query-status: QEMU sent a malformed message");
        }
}

static void test_close_wakes_waiters(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;

        assert_int_equal(dv_qmp_new_detached(NULL, NULL, &qmp), 0);
        send_cmd(qmp, "query-status", NULL);
        dv_qmp_close(qmp);
        dv_qmp_close(qmp);
        assert_int_equal(dv_qmp_wait(qmp, 1, 1000, NULL, NULL), -ECONNABORTED);
}

/* ---- over a socket: a fake QEMU ------------------------------------------ */

#define N_CALLERS 6

struct fake_qemu {
        int listen_fd;     /* listening socket */
        bool close_early;  /* answer the first command, then hang up */
};

static char *read_line(int fd)
{
        char buf[4096];
        size_t n = 0;

        while (n + 1 < sizeof(buf)) {
                ssize_t k = read(fd, buf + n, 1);
                if (k <= 0)
                        return NULL;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        return dv_strdup(buf);
}

static void write_n(int fd, const char *s, size_t len)
{
        while (len > 0) {
                ssize_t k = write(fd, s, len);
                assert_true(k > 0);
                s += k;
                len -= (size_t)k;
        }
}

static void write_str(int fd, const char *s)
{
        write_n(fd, s, strlen(s));
}

static void *fake_qemu_main(void *arg)
{
        struct fake_qemu *fq = arg;
        _cleanup_(freep) char *greeting = NULL;
        json_t *cmds[N_CALLERS];
        int fd;

        greeting = load("greeting.txt", NULL);
        fd = accept4(fq->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(fd >= 0);
        /* Greeting in two writes, capabilities. */
        write_n(fd, greeting, 10);
        usleep(10000);
        write_str(fd, greeting + 10);
        {
                _cleanup_(freep) char *l = read_line(fd);
                _cleanup_(json_decrefp) json_t *j = json_loads(l, 0, NULL);
                _cleanup_(freep) char *reply = NULL;

                assert_string_equal(json_string_value(json_object_get(j, "execute")),
                                    "qmp_capabilities");
                assert_null(json_object_get(j, "arguments"));
                reply = dv_asprintf("{\"return\": {}, \"id\": \"%s\"}\r\n",
                                    json_string_value(json_object_get(j, "id")));
                write_str(fd, reply);
        }
        if (fq->close_early) {
                _cleanup_(freep) char *l = read_line(fd);
                _cleanup_(json_decrefp) json_t *j = json_loads(l, 0, NULL);
                _cleanup_(freep) char *reply = dv_asprintf(
                        "{\"return\": {}, \"id\": \"%s\"}\r\n",
                        json_string_value(json_object_get(j, "id")));

                /* Like "quit": the reply, then EOF. */
                write_str(fd, reply);
                close(fd);
                return NULL;
        }
        /* Collect every caller's command, then answer in reverse order with
         * an event before each reply, all in one write. */
        for (int i = 0; i < N_CALLERS; i++) {
                _cleanup_(freep) char *l = read_line(fd);

                assert_non_null(l);
                cmds[i] = json_loads(l, 0, NULL);
                assert_non_null(cmds[i]);
        }
        {
                _cleanup_(freep) char *all = dv_strdup("");

                for (int i = N_CALLERS - 1; i >= 0; i--) {
                        json_t *args = json_object_get(cmds[i], "arguments");
                        char *next = dv_asprintf(
                                "%s{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
                                "\"event\": \"RESET\", \"data\": {\"guest\": false}}\r\n"
                                "{\"return\": {\"n\": %lld}, \"id\": \"%s\"}\r\n",
                                all, (long long)json_integer_value(json_object_get(args, "n")),
                                json_string_value(json_object_get(cmds[i], "id")));
                        free(all);
                        all = next;
                        json_decref(cmds[i]);
                }
                write_str(fd, all);
        }
        /* Then hang up while one more command waits. */
        free(read_line(fd));
        close(fd);
        return NULL;
}

struct caller {
        struct dv_qmp *qmp; /* shared connection */
        int n;              /* the value to send and expect back */
        int r;              /* result of the last execute */
        int got;            /* "n" in the reply */
};

static void *caller_main(void *arg)
{
        struct caller *c = arg;
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:i}", "n", c->n);
        _cleanup_(json_decrefp) json_t *ret = NULL;

        c->r = dv_qmp_execute(c->qmp, "echo", args, 5000, &ret, NULL);
        if (c->r == 0)
                c->got = (int)json_integer_value(json_object_get(ret, "n"));
        return NULL;
}

static int count_events;
static void count_event(void *userdata, const char *name, json_t *data, int64_t ts_us)
{
        __atomic_add_fetch(&count_events, 1, __ATOMIC_RELAXED);
}

static int listen_unix(char *path, size_t len)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char dir[] = "/tmp/test-qmp.XXXXXX";
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, len, "%s/qmp.sock", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 4), 0);
        return fd;
}

static void unlisten_unix(int fd, const char *path)
{
        _cleanup_(freep) char *dir = dv_strdup(path);

        close(fd);
        unlink(path);
        *strrchr(dir, '/') = 0;
        rmdir(dir);
}

static void test_socket_concurrent_callers(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        struct fake_qemu fq = { 0 };
        struct caller callers[N_CALLERS];
        pthread_t server, threads[N_CALLERS];
        struct dv_error err = { 0 };
        char path[108];

        fq.listen_fd = listen_unix(path, sizeof(path));
        assert_int_equal(pthread_create(&server, NULL, fake_qemu_main, &fq), 0);
        count_events = 0;
        assert_int_equal(dv_qmp_connect(path, 5000, count_event, NULL, &qmp), 0);
        assert_non_null(dv_qmp_greeting(qmp));
        assert_int_equal(dv_qmp_start_reader(qmp), 0);

        for (int i = 0; i < N_CALLERS; i++) {
                callers[i] = (struct caller){ .qmp = qmp, .n = 100 + i, .r = 1 };
                assert_int_equal(pthread_create(&threads[i], NULL, caller_main, &callers[i]), 0);
        }
        for (int i = 0; i < N_CALLERS; i++) {
                pthread_join(threads[i], NULL);
                assert_int_equal(callers[i].r, 0);
                assert_int_equal(callers[i].got, 100 + i);
        }
        assert_int_equal(__atomic_load_n(&count_events, __ATOMIC_RELAXED), N_CALLERS);

        /* The server hangs up on the next command: EOF fails it. */
        assert_int_equal(dv_qmp_execute(qmp, "query-status", NULL, 5000, NULL, &err),
                         -ECONNRESET);
        assert_string_equal(err.message, "QMP query-status: QEMU closed the connection");
        assert_int_equal(dv_qmp_link_error(qmp), -ECONNRESET);
        pthread_join(server, NULL);
        unlisten_unix(fq.listen_fd, path);
}

static void test_socket_reply_then_eof(void **state)
{
        _cleanup_(dv_qmp_unrefp) struct dv_qmp *qmp = NULL;
        struct fake_qemu fq = { .close_early = true };
        pthread_t server;
        char path[108];

        fq.listen_fd = listen_unix(path, sizeof(path));
        assert_int_equal(pthread_create(&server, NULL, fake_qemu_main, &fq), 0);
        assert_int_equal(dv_qmp_connect(path, 5000, NULL, NULL, &qmp), 0);
        assert_int_equal(dv_qmp_start_reader(qmp), 0);
        /* The reply arrived before the EOF: it counts. */
        assert_int_equal(dv_qmp_execute(qmp, "quit", NULL, 5000, NULL, NULL), 0);
        pthread_join(server, NULL);
        unlisten_unix(fq.listen_fd, path);
}

static void test_connect_errors(void **state)
{
        struct dv_qmp *qmp = NULL;
        char path[108];
        int fd;

        assert_int_equal(dv_qmp_connect("/nonexistent/qmp.sock", 100, NULL, NULL, &qmp), -ENOENT);
        /* A server that never greets. */
        fd = listen_unix(path, sizeof(path));
        assert_int_equal(dv_qmp_connect(path, 100, NULL, NULL, &qmp), -ETIMEDOUT);
        unlisten_unix(fd, path);
        assert_null(qmp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_greeting),
                cmocka_unit_test(test_session_one_read),
                cmocka_unit_test(test_session_byte_by_byte),
                cmocka_unit_test(test_session_small_chunks),
                cmocka_unit_test(test_session_random_chunks),
                cmocka_unit_test(test_split_at_line_end),
                cmocka_unit_test(test_guest_panicked),
                cmocka_unit_test(test_guest_shutdown_then_eof),
                cmocka_unit_test(test_stray_replies),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_bad_command),
                cmocka_unit_test(test_oversized_recorded),
                cmocka_unit_test(test_oversized_unterminated),
                cmocka_unit_test(test_message_at_bound),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_close_wakes_waiters),
                cmocka_unit_test(test_socket_concurrent_callers),
                cmocka_unit_test(test_socket_reply_then_eof),
                cmocka_unit_test(test_connect_errors),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
