/* Unit tests of the Tools protocol, host side (src/agent/tools-proto.c):
 * valid messages, garbage, oversized and split lines, floods, per-op
 * schemas; and of the channel (tools-chan.c) against a fake guest on a
 * UNIX socket. Golden transcripts: tests/unit/data/tools/. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "tools-chan.h"
#include "tools-proto.h"

#define HELLO "{\"event\":\"hello\",\"proto\":1,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\",\"pid\":42,\"ops\":[\"info\",\"ping\"]}"
#define HB(seq) "{\"event\":\"heartbeat\",\"seq\":" #seq ",\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\"}"

/* ---------------------------------------------------------- helpers -- */

struct sink {
        int n;
        int kinds[256];
        uint64_t ids[256];
        char versions[256][65];
};

static void sink_cb(void *userdata, struct dv_tools_msg *m)
{
        struct sink *s = userdata;

        if (s->n < 256) {
                s->kinds[s->n] = m->kind;
                s->ids[s->n] = m->id;
                snprintf(s->versions[s->n], sizeof(s->versions[0]), "%s", m->version);
        }
        s->n++;
}

static struct dv_tools_reader *reader_new(void)
{
        struct dv_tools_reader *r = NULL;

        assert_int_equal(dv_tools_reader_new(NULL, &r), 0);
        return r;
}

static void feed_str(struct dv_tools_reader *r, const char *s, int64_t now, struct sink *sk)
{
        assert_int_equal(dv_tools_reader_feed(r, s, strlen(s), now, sink_cb, sk), 0);
}

static int parse(const char *line, struct dv_tools_msg *m, struct dv_error *err)
{
        memset(m, 0, sizeof(*m));
        return dv_tools_msg_parse(line, strlen(line), m, err);
}

static json_t *load(const char *text)
{
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);

        assert_non_null(j);
        return j;
}

static char *read_data(const char *name)
{
        char path[512];
        char *text = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", TOOLS_DATA_DIR, name);
        assert_int_equal(dv_read_file(path, 1 << 20, &text, &len), 0);
        return text;
}

/* ------------------------------------------------------ valid messages -- */

static void test_parse_valid(void **state)
{
        struct dv_tools_msg m;
        struct dv_error err = {};

        assert_int_equal(parse(HELLO, &m, &err), 0);
        assert_int_equal(m.kind, DV_TOOLS_MSG_HELLO);
        assert_int_equal(m.proto, 1);
        assert_string_equal(m.version, "0.1.0");
        assert_string_equal(m.session, "0123456789abcdef");
        dv_tools_msg_clear(&m);

        assert_int_equal(parse(HB(7), &m, &err), 0);
        assert_int_equal(m.kind, DV_TOOLS_MSG_HEARTBEAT);
        assert_int_equal(m.seq, 7);
        dv_tools_msg_clear(&m);

        assert_int_equal(parse("{\"event\":\"fs-thawed\",\"reason\":\"timeout\",\"mounts\":[\"/mnt/vda\"]}", &m, &err), 0);
        assert_int_equal(m.kind, DV_TOOLS_MSG_FS_THAWED);
        assert_non_null(m.body);
        dv_tools_msg_clear(&m);

        assert_int_equal(parse("{\"id\":12,\"ok\":true,\"result\":{\"version\":\"0.1.0\",\"proto\":1,"
                               "\"session\":\"0123456789abcdef\",\"pid\":9}}", &m, &err), 0);
        assert_int_equal(m.kind, DV_TOOLS_MSG_REPLY);
        assert_true(m.ok);
        assert_int_equal(m.id, 12);
        assert_int_equal(dv_tools_check_result("version", m.result, &err), 0);
        dv_tools_msg_clear(&m);

        assert_int_equal(parse("{\"id\":9007199254740991,\"ok\":false,\"error\":{\"code\":\"not-supported\","
                               "\"message\":\"no swap\"}}", &m, &err), 0);
        assert_false(m.ok);
        assert_string_equal(m.error_code, "not-supported");
        assert_string_equal(m.error_message, "no swap");
        dv_tools_msg_clear(&m);
}

/* Every line of a session recorded from a real guest parses, and every
 * reply passes its op's schema (the file names the op before each reply). */
static void test_golden_transcript(void **state)
{
        char *text = read_data("guest-session.txt"), *save = NULL;
        int replies = 0, events = 0;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct dv_tools_msg m;
                struct dv_error err = {};
                char op[32];

                if (line[0] == '#' || line[0] == '\0')
                        continue;
                if (sscanf(line, "> %31s", op) == 1) {
                        char *json = strchr(line + 2, ' ') + 1;
                        if (parse(json, &m, &err) < 0)
                                fail_msg("%s: %s", err.message, json);
                        assert_int_equal(m.kind, DV_TOOLS_MSG_REPLY);
                        if (m.ok && dv_tools_check_result(op, m.result, &err) < 0)
                                fail_msg("%s: %s", op, err.message);
                        replies++;
                } else {
                        if (parse(line, &m, &err) < 0)
                                fail_msg("%s: %s", err.message, line);
                        events++;
                }
                dv_tools_msg_clear(&m);
        }
        assert_true(replies >= 5);
        assert_true(events >= 2);
        free(text);
}

/* ------------------------------------------------------------ garbage -- */

static void test_parse_garbage(void **state)
{
        static const char *const bad[] = {
                "",
                "garbage",
                "[1,2,3]",
                "\"hello\"",
                "{}",
                "{\"event\":\"reboot-host\"}",
                "{\"event\":42}",
                "{\"event\":\"hello\",\"id\":1,\"proto\":1,\"version\":\"1\",\"session\":\"0123456789abcdef\"}",
                /* unknown field */
                "{\"event\":\"heartbeat\",\"seq\":1,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\",\"x\":1}",
                /* bad session, bad version characters, control characters */
                "{\"event\":\"heartbeat\",\"seq\":1,\"version\":\"0.1.0\",\"session\":\"XYZ\"}",
                "{\"event\":\"heartbeat\",\"seq\":1,\"version\":\"0.1;rm\",\"session\":\"0123456789abcdef\"}",
                "{\"event\":\"heartbeat\",\"seq\":1,\"version\":\"0.1\\n\",\"session\":\"0123456789abcdef\"}",
                /* types and ranges */
                "{\"event\":\"heartbeat\",\"seq\":-1,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\"}",
                "{\"event\":\"heartbeat\",\"seq\":1.5,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\"}",
                "{\"event\":\"heartbeat\",\"seq\":\"1\",\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\"}",
                "{\"event\":\"heartbeat\",\"seq\":99999999999999999999999,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\"}",
                "{\"event\":\"hello\",\"proto\":1,\"version\":\"0.1.0\",\"session\":\"0123456789abcdef\",\"ops\":[\"x;y\"]}",
                /* replies */
                "{\"id\":0,\"ok\":true,\"result\":{}}",
                "{\"id\":9007199254740992,\"ok\":true,\"result\":{}}",
                "{\"id\":1,\"ok\":\"yes\",\"result\":{}}",
                "{\"id\":1,\"ok\":true,\"result\":[]}",
                "{\"id\":1,\"ok\":true}",
                "{\"id\":1,\"ok\":false,\"result\":{}}",
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"Bad Code\",\"message\":\"\"}}",
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"failed\",\"message\":\"a\\u001b[2Jb\"}}",
                /* duplicate keys, NUL, invalid UTF-8, trailing data */
                "{\"id\":1,\"id\":2,\"ok\":true,\"result\":{}}",
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"failed\",\"message\":\"a\\u0000b\"}}",
                "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"failed\",\"message\":\"\xff\xfe\"}}",
                "{\"id\":1,\"ok\":true,\"result\":{}} {}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct dv_tools_msg m;
                struct dv_error err = {};

                if (parse(bad[i], &m, &err) == 0)
                        fail_msg("accepted: %s", bad[i]);
                assert_string_equal(err.code, "tools-protocol");
                assert_int_equal(err.status, 502);
        }
}

static void test_deep_nesting(void **state)
{
        size_t n = 20000;
        char *s = malloc(2 * n + 1);
        struct dv_tools_msg m;
        struct dv_error err = {};

        memset(s, '[', n);
        memset(s + n, ']', n);
        s[2 * n] = '\0';
        assert_true(dv_tools_msg_parse(s, strlen(s), &m, &err) < 0);
        free(s);
}

/* --------------------------------------------------- framing and bounds -- */

static void test_split_lines(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct sink sk = {};
        const char *stream = HELLO "\n" HB(1) "\r\n\n" HB(2) "\n{\"id\":5,\"ok\":true,\"result\":{}}\n" HB(3);

        /* one byte at a time */
        for (const char *p = stream; *p; p++)
                assert_int_equal(dv_tools_reader_feed(r, p, 1, 1000, sink_cb, &sk), 0);
        assert_int_equal(sk.n, 4); /* the last heartbeat has no newline yet */
        assert_int_equal(sk.kinds[0], DV_TOOLS_MSG_HELLO);
        assert_int_equal(sk.kinds[3], DV_TOOLS_MSG_REPLY);
        assert_int_equal(sk.ids[3], 5);
        feed_str(r, "\n", 1000, &sk);
        assert_int_equal(sk.n, 5);
        assert_false(dv_tools_reader_misbehaving(r, 1000, NULL));
        dv_tools_reader_free(r);
}

static void test_oversized_line(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct dv_tools_reader_stats st;
        struct sink sk = {};
        const char *why = NULL;
        size_t big = DV_TOOLS_LINE_MAX + 10;
        char *junk = malloc(big);

        memset(junk, 'a', big);
        feed_str(r, HB(1) "\n", 0, &sk);
        assert_int_equal(sk.n, 1);
        /* in pieces, without a newline: discarded as it comes */
        assert_int_equal(dv_tools_reader_feed(r, junk, big / 2, 100, sink_cb, &sk), 0);
        assert_int_equal(dv_tools_reader_feed(r, junk, big - big / 2, 100, sink_cb, &sk), 0);
        assert_true(dv_tools_reader_misbehaving(r, 100, &why));
        assert_non_null(strstr(why, "line over"));
        /* the rest of the oversized line, then a valid one: not delivered */
        feed_str(r, "tail of it\n" HB(2) "\n", 200, &sk);
        assert_int_equal(sk.n, 1);
        dv_tools_reader_get_stats(r, &st);
        assert_int_equal(st.oversized, 1);
        assert_int_equal(st.dropped, 1);
        /* quiet for the quarantine: trusted again */
        assert_true(dv_tools_reader_misbehaving(r, 200 + 9999, NULL));
        assert_false(dv_tools_reader_misbehaving(r, 200 + 10000, NULL));
        feed_str(r, HB(3) "\n", 10300, &sk);
        assert_int_equal(sk.n, 2);
        free(junk);
        dv_tools_reader_free(r);
}

/* A line exactly at the limit is fine. */
static void test_line_at_limit(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct sink sk = {};
        size_t n = DV_TOOLS_LINE_MAX;
        char *line = malloc(n + 1);
        const char *head = "{\"id\":1,\"ok\":true,\"result\":{\"pad\":\"";

        memset(line, 'x', n);
        memcpy(line, head, strlen(head));
        memcpy(line + n - 3, "\"}}", 3);
        line[n] = '\n';
        assert_int_equal(dv_tools_reader_feed(r, line, n + 1, 0, sink_cb, &sk), 0);
        assert_int_equal(sk.n, 1); /* framing ok; the schema check comes later */
        assert_false(dv_tools_reader_misbehaving(r, 0, NULL));
        free(line);
        dv_tools_reader_free(r);
}

static void test_flood(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct dv_tools_reader_stats st;
        struct sink sk = {};
        const char *why = NULL;

        for (int i = 0; i < 50; i++)
                feed_str(r, HB(1) "\n", 5000, &sk);
        assert_int_equal(sk.n, 50);
        assert_false(dv_tools_reader_misbehaving(r, 5000, NULL));
        feed_str(r, HB(1) "\n", 5000, &sk);
        assert_int_equal(sk.n, 50);
        assert_true(dv_tools_reader_misbehaving(r, 5000, &why));
        assert_non_null(strstr(why, "flood"));
        dv_tools_reader_get_stats(r, &st);
        assert_int_equal(st.flooded, 1);
        /* the flood goes on for 5 s, 100 lines/s: still misbehaving after */
        for (int t = 5000; t < 10000; t += 10)
                feed_str(r, HB(1) "\n", t, &sk);
        assert_int_equal(sk.n, 50);
        assert_true(dv_tools_reader_misbehaving(r, 19000, NULL));
        /* 10 s of silence after it: recovered; 1 message/s is fine again */
        assert_false(dv_tools_reader_misbehaving(r, 20000, NULL));
        for (int t = 20000; t < 30000; t += 1000)
                feed_str(r, HB(1) "\n", t, &sk);
        assert_int_equal(sk.n, 60);
        assert_false(dv_tools_reader_misbehaving(r, 30000, NULL));
        dv_tools_reader_free(r);
}

/* Steady 50/s is allowed, 60/s is not. */
static void test_rate_steady(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct sink sk = {};

        for (int t = 0; t < 3000; t += 20)
                feed_str(r, HB(1) "\n", t, &sk);
        assert_false(dv_tools_reader_misbehaving(r, 3000, NULL));
        for (int t = 3000; t < 8000; t += 16)
                feed_str(r, HB(1) "\n", t, &sk);
        assert_true(dv_tools_reader_misbehaving(r, 8000, NULL));
        dv_tools_reader_free(r);
}

static void test_error_budget(void **state)
{
        struct dv_tools_reader *r = reader_new();
        struct sink sk = {};
        const char *why = NULL;

        /* a partial line left by a killed guest, ended by the next hello's
         * leading newline: one error, tolerated */
        feed_str(r, "{\"event\":\"heartb\n" HELLO "\n", 0, &sk);
        assert_int_equal(sk.n, 1);
        assert_false(dv_tools_reader_misbehaving(r, 0, NULL));
        assert_non_null(dv_tools_reader_last_error(r, NULL));
        /* errors 11 s apart never add up */
        feed_str(r, "junk\n", 11000, &sk);
        feed_str(r, "junk\n", 22000, &sk);
        assert_false(dv_tools_reader_misbehaving(r, 22000, NULL));
        /* three within 10 s do */
        feed_str(r, "junk\n", 23000, &sk);
        assert_false(dv_tools_reader_misbehaving(r, 23000, NULL));
        dv_tools_reader_violation(r, 24000, "result.x: unknown field");
        assert_true(dv_tools_reader_misbehaving(r, 24000, &why));
        assert_non_null(strstr(why, "malformed"));
        dv_tools_reader_free(r);
}

/* ------------------------------------------------------------ schemas -- */

static void test_info_result(void **state)
{
        char *text = read_data("info-result.json");
        json_t *good = load(text);
        struct dv_error err = {};
        json_t *bad;

        assert_int_equal(dv_tools_check_result("info", good, &err), 0);

        bad = json_deep_copy(good);
        json_object_set_new(bad, "extra", json_true());
        assert_true(dv_tools_check_result("info", bad, &err) < 0);
        assert_string_equal(err.code, "tools-bad-reply");
        assert_non_null(strstr(err.message, "result.extra"));
        json_decref(bad);

        bad = json_deep_copy(good);
        json_object_set_new(json_array_get(json_object_get(bad, "nics"), 0), "mac",
                            json_string("52:54:00:zz:00:01"));
        assert_true(dv_tools_check_result("info", bad, &err) < 0);
        assert_non_null(strstr(err.message, "result.nics[0].mac"));
        json_decref(bad);

        /* an IPv4 address with a /64 prefix */
        bad = json_deep_copy(good);
        {
                json_t *nic, *addr, *v4 = NULL;
                size_t i, j;

                json_array_foreach(json_object_get(bad, "nics"), i, nic)
                        json_array_foreach(json_object_get(nic, "addresses"), j, addr)
                                if (!v4 && dv_streq(json_string_value(json_object_get(addr, "family")), "inet"))
                                        v4 = addr;
                assert_non_null(v4);
                json_object_set_new(v4, "prefix", json_integer(64));
        }
        assert_true(dv_tools_check_result("info", bad, &err) < 0);
        assert_non_null(strstr(err.message, "disagree"));
        json_decref(bad);

        bad = json_deep_copy(good);
        json_object_del(bad, "memory");
        assert_true(dv_tools_check_result("info", bad, &err) < 0);
        assert_non_null(strstr(err.message, "result.memory: missing"));
        json_decref(bad);

        bad = json_deep_copy(good);
        json_object_set_new(bad, "hostname", json_string("evil\x1b]0;x"));
        assert_true(dv_tools_check_result("info", bad, &err) < 0);
        json_decref(bad);

        json_decref(good);
        free(text);
}

static void test_other_results(void **state)
{
        static const struct { const char *op, *json; bool ok; } cases[] = {
                { "ping", "{\"address\":\"10.0.0.1\",\"transmitted\":3,\"received\":3,\"loss_pct\":0,"
                          "\"rtt_min_us\":10,\"rtt_avg_us\":20,\"rtt_max_us\":30,\"exit_status\":0}", true },
                { "ping", "{\"address\":\"10.0.0.1\",\"transmitted\":3,\"received\":4,\"loss_pct\":0,\"exit_status\":0}", false },
                { "ping", "{\"address\":\"10.0.0.1\",\"transmitted\":11,\"received\":0,\"loss_pct\":100,\"exit_status\":1}", false },
                { "fs-freeze", "{\"frozen\":[\"/mnt/vda\"],\"skipped\":[],\"timeout_s\":10}", true },
                { "fs-freeze", "{\"frozen\":[\"mnt\"],\"skipped\":[],\"timeout_s\":10}", false },
                { "fs-thaw", "{\"thawed\":[]}", true },
                { "cpus-online", "{\"online\":2,\"present\":2,\"possible\":2,\"onlined\":1,\"failed\":0}", true },
                { "time-set", "{\"previous_ms\":1700000000000,\"delta_ms\":-5}", true },
                { "shutdown", "{\"method\":\"drover-shutdown\"}", true },
                { "shutdown", "{\"method\":\"rm -rf /\"}", false },
                { "net-config", "{\"nics\":[{\"mac\":\"52:54:00:12:34:56\",\"name\":\"eth0\",\"changed\":false}]}", true },
                { "upgrade-commit", "{\"previous_version\":\"0.1.0\",\"sha256\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\",\"restarting\":true}", true },
                { "no-such-op", "{}", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *j = load(cases[i].json);
                struct dv_error err = {};
                int r = dv_tools_check_result(cases[i].op, j, &err);

                if ((r == 0) != cases[i].ok)
                        fail_msg("%s %s: %d %s", cases[i].op, cases[i].json, r, err.message);
                json_decref(j);
        }
}

static void test_args(void **state)
{
        static const struct { const char *op, *json; bool ok; } cases[] = {
                { "ping", "{\"address\":\"10.0.0.1\",\"count\":3,\"timeout_s\":2}", true },
                { "ping", "{\"address\":\"10.0.0.1; reboot\"}", false },
                { "ping", "{\"address\":\"-f\"}", false },
                { "ping", "{\"address\":\"example.com\"}", false },
                { "ping", "{\"address\":\"::1\"}", false },
                { "ping", "{\"address\":\"10.0.0.1\",\"count\":11}", false },
                { "ping", "{\"address\":\"10.0.0.1\",\"timeout_s\":0}", false },
                { "ping", "{\"address\":\"10.0.0.1\",\"argv\":[\"-f\"]}", false },
                { "net-config", "{\"nics\":[{\"mac\":\"52:54:00:12:34:56\",\"ip\":\"10.0.0.5\",\"prefix\":24,\"gateway\":\"10.0.0.1\"}]}", true },
                { "net-config", "{\"nics\":[{\"mac\":\"52:54:00:12:34\"}]}", false },
                { "net-config", "{\"nics\":[]}", false },
                { "time-set", "{\"epoch_ms\":1700000000000}", true },
                { "time-set", "{\"epoch_ms\":5}", false },
                { "fs-freeze", "{\"timeout_s\":30}", true },
                { "fs-freeze", "{\"timeout_s\":601}", false },
                { "upgrade-chunk", "{\"offset\":0,\"data\":\"AAAA\"}", true },
                { "upgrade-chunk", "{\"offset\":0,\"data\":\"A A \"}", false },
                { "info", "{}", true },
                { "info", "{\"verbose\":true}", false },
                { "exec", "{}", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *j = load(cases[i].json);
                struct dv_error err = {};
                int r = dv_tools_check_args(cases[i].op, j, &err);

                if ((r == 0) != cases[i].ok)
                        fail_msg("%s %s: %d %s", cases[i].op, cases[i].json, r, err.message);
                if (r < 0)
                        assert_int_equal(err.status, 400);
                json_decref(j);
        }
        assert_int_equal(dv_tools_check_args("version", NULL, NULL), 0);
        assert_false(dv_tools_op_known("exec"));
        assert_true(dv_tools_op_known("upgrade-commit"));
}

static void test_format_request(void **state)
{
        json_t *args = load("{\"address\":\"10.0.0.1\"}");
        char *line = NULL;
        size_t len = 0;

        assert_int_equal(dv_tools_format_request(7, "ping", "0123456789abcdef", args, &line, &len), 0);
        assert_string_equal(line, "{\"id\":7,\"op\":\"ping\",\"args\":{\"address\":\"10.0.0.1\"},"
                                  "\"session\":\"0123456789abcdef\"}\n");
        assert_int_equal(len, strlen(line));
        free(line);
        assert_int_equal(dv_tools_format_request(8, "version", NULL, NULL, &line, &len), 0);
        assert_string_equal(line, "{\"id\":8,\"op\":\"version\",\"args\":{}}\n");
        free(line);
        assert_int_equal(dv_tools_format_request(9, "exec", NULL, NULL, &line, &len), -EINVAL);
        json_decref(args);
}

/* ----------------------------------------- the channel vs a fake guest -- */

struct fake {
        char path[108];
        int lfd, fd;
        int states[64];
        int nstates;
        char reasons[64][256];
        pthread_mutex_t lock;
};

static void fake_state_cb(void *userdata, enum dv_tools_state s, const char *version, const char *reason)
{
        struct fake *f = userdata;

        pthread_mutex_lock(&f->lock);
        if (f->nstates < 64) {
                f->states[f->nstates] = s;
                snprintf(f->reasons[f->nstates], sizeof(f->reasons[0]), "%s", reason ? reason : "");
                f->nstates++;
        }
        pthread_mutex_unlock(&f->lock);
}

static void fake_listen(struct fake *f)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        snprintf(f->path, sizeof(f->path), "/tmp/test-tools-%d.sock", (int)getpid());
        unlink(f->path);
        memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
        f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->lfd >= 0);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 1), 0);
        pthread_mutex_init(&f->lock, NULL);
}

static void fake_send(struct fake *f, const char *s)
{
        assert_int_equal(write(f->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Read one request line from the channel. */
static json_t *fake_recv(struct fake *f)
{
        char line[4096];
        size_t n = 0;

        while (n < sizeof(line) - 1) {
                assert_int_equal(read(f->fd, line + n, 1), 1);
                if (line[n] == '\n')
                        break;
                n++;
        }
        line[n] = '\0';
        return load(line);
}

static int last_state(struct fake *f)
{
        int s;

        pthread_mutex_lock(&f->lock);
        s = f->nstates ? f->states[f->nstates - 1] : -1;
        pthread_mutex_unlock(&f->lock);
        return s;
}

static void wait_state(struct fake *f, struct dv_tools_chan *c, enum dv_tools_state want)
{
        for (int i = 0; i < 300; i++) {
                enum dv_tools_state s;
                assert_int_equal(dv_tools_chan_get_state(c, &s, NULL, NULL), 0);
                if (s == want && last_state(f) == (int)want)
                        return;
                usleep(10000);
        }
        fail_msg("state %s never reached", dv_tools_state_to_string(want));
}

struct replier {
        struct fake *f;
        const char *result;  /* reply with this result to the next request */
};

static void *replier_thread(void *arg)
{
        struct replier *rp = arg;
        json_t *req = fake_recv(rp->f);
        char line[1024];

        snprintf(line, sizeof(line), "{\"id\":%lld,\"ok\":true,\"result\":%s}\n",
                 (long long)json_integer_value(json_object_get(req, "id")), rp->result);
        json_decref(req);
        fake_send(rp->f, line);
        return NULL;
}

static void test_chan(void **state)
{
        struct fake f = {};
        struct dv_tools_limits lim;
        struct dv_tools_chan_config cfg = {};
        struct dv_tools_chan *c = NULL;
        struct dv_error err = {};
        json_t *res = NULL;
        char *version = NULL, *reason = NULL;
        struct replier rp;
        pthread_t th;
        enum dv_tools_state s;

        fake_listen(&f);
        dv_tools_limits_default(&lim);
        lim.quarantine_ms = 300;
        cfg.socket_path = f.path;
        cfg.heartbeat_timeout_ms = 400;
        cfg.reconnect_ms = 50;
        cfg.limits = &lim;
        cfg.state_cb = fake_state_cb;
        cfg.userdata = &f;
        assert_int_equal(dv_tools_chan_new(&cfg, &c), 0);
        f.fd = accept(f.lfd, NULL, NULL);
        assert_true(f.fd >= 0);

        /* never heard: not-installed, and calls are refused */
        assert_int_equal(dv_tools_chan_get_state(c, &s, NULL, NULL), 0);
        assert_int_equal(s, DV_TOOLS_NOT_INSTALLED);
        assert_true(dv_tools_call(c, "version", NULL, 100, NULL, &err) < 0);
        assert_string_equal(err.code, "tools-not-running");

        /* hello: running, with the version */
        fake_send(&f, "\n" HELLO "\n");
        wait_state(&f, c, DV_TOOLS_RUNNING);
        assert_int_equal(dv_tools_chan_get_state(c, &s, &version, &reason), 0);
        assert_string_equal(version, "0.1.0");
        assert_null(reason);
        free(version);

        /* a call, answered: the request carries the session */
        rp = (struct replier){ &f, "{\"version\":\"0.1.0\",\"proto\":1,\"session\":\"0123456789abcdef\",\"pid\":42}" };
        pthread_create(&th, NULL, replier_thread, &rp);
        assert_int_equal(dv_tools_call(c, "version", NULL, 2000, &res, &err), 0);
        pthread_join(th, NULL);
        assert_int_equal(json_integer_value(json_object_get(res, "pid")), 42);
        json_decref(res);

        /* a reply that breaks the op's schema fails the call */
        fake_send(&f, HB(1) "\n");
        rp = (struct replier){ &f, "{\"version\":\"0.1.0\",\"rm\":1}" };
        pthread_create(&th, NULL, replier_thread, &rp);
        assert_true(dv_tools_call(c, "version", NULL, 2000, &res, &err) < 0);
        pthread_join(th, NULL);
        assert_string_equal(err.code, "tools-bad-reply");

        /* no reply: timeout */
        fake_send(&f, HB(2) "\n");
        assert_true(dv_tools_call(c, "info", NULL, 100, &res, &err) < 0);
        assert_string_equal(err.code, "tools-timeout");
        json_decref(fake_recv(&f)); /* it was sent */

        /* heartbeats stop: not-running after the timeout */
        wait_state(&f, c, DV_TOOLS_NOT_RUNNING);
        assert_int_equal(dv_tools_chan_get_state(c, &s, NULL, &reason), 0);
        assert_non_null(strstr(reason, "no heartbeat"));
        free(reason);

        /* back, then a flood: misbehaving, with the reason */
        fake_send(&f, HB(3) "\n");
        wait_state(&f, c, DV_TOOLS_RUNNING);
        for (int i = 0; i < 200; i++)
                fake_send(&f, HB(4) "\n");
        wait_state(&f, c, DV_TOOLS_NOT_RUNNING);
        assert_int_equal(dv_tools_chan_get_state(c, &s, NULL, &reason), 0);
        assert_non_null(strstr(reason, "misbehaving channel: flood"));
        free(reason);

        /* quiet for the quarantine, then a heartbeat: running again */
        usleep(400000);
        fake_send(&f, HB(5) "\n");
        wait_state(&f, c, DV_TOOLS_RUNNING);

        /* the socket closes: not-running */
        close(f.fd);
        wait_state(&f, c, DV_TOOLS_NOT_RUNNING);
        assert_int_equal(dv_tools_chan_get_state(c, &s, NULL, &reason), 0);
        assert_non_null(strstr(reason, "channel closed"));
        free(reason);

        /* it reconnects by itself */
        f.fd = accept(f.lfd, NULL, NULL);
        assert_true(f.fd >= 0);
        fake_send(&f, HELLO "\n");
        wait_state(&f, c, DV_TOOLS_RUNNING);

        dv_tools_chan_free(c);
        close(f.fd);
        close(f.lfd);
        unlink(f.path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_valid),
                cmocka_unit_test(test_golden_transcript),
                cmocka_unit_test(test_parse_garbage),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_split_lines),
                cmocka_unit_test(test_oversized_line),
                cmocka_unit_test(test_line_at_limit),
                cmocka_unit_test(test_flood),
                cmocka_unit_test(test_rate_steady),
                cmocka_unit_test(test_error_budget),
                cmocka_unit_test(test_info_result),
                cmocka_unit_test(test_other_results),
                cmocka_unit_test(test_args),
                cmocka_unit_test(test_format_request),
                cmocka_unit_test(test_chan),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
