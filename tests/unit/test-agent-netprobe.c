/* netprobe.c, pure part: probe frames (build, parse, malformed ones),
 * request checks, link facts and the aggregation of what was heard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "netprobe.h"

#define SESSION "0123456789abcdef0123456789abcdef"
static const uint8_t SRC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* The offset of the probe payload in a frame we built. */
static size_t payload_off(int vlan)
{
        return DV_NETPROBE_ETH_HLEN + (vlan > 0 ? DV_NETPROBE_VLAN_HLEN : 0);
}

static size_t build(uint8_t *buf, int vlan, int kind, int round, size_t payload)
{
        size_t len = 0;

        assert_int_equal(dv_netprobe_frame_build(buf, DV_NETPROBE_FRAME_MAX, SRC, SESSION, "host1",
                                                 vlan, kind, round, payload, &len),
                         0);
        return len;
}

/* What the kernel does on receive: the tag moves out of the frame. */
static size_t strip_tag(uint8_t *buf, size_t len)
{
        memmove(buf + 12, buf + 16, len - 16);
        return len - 4;
}

static void test_frame_roundtrip(void **state)
{
        static const int vlans[] = { 0, 10, 4094 };
        static uint8_t buf[DV_NETPROBE_FRAME_MAX];

        for (size_t i = 0; i < ELEMENTSOF(vlans); i++)
                for (int kind = DV_NETPROBE_SMALL; kind <= DV_NETPROBE_LARGE; kind++) {
                        int vlan = vlans[i];
                        size_t payload = kind == DV_NETPROBE_SMALL ? DV_NETPROBE_SMALL_PAYLOAD : 1500;
                        size_t len = build(buf, vlan, kind, 2, payload);
                        struct dv_netprobe_frame f;
                        const uint8_t *p = buf + payload_off(vlan);

                        assert_int_equal(len, dv_netprobe_frame_size(vlan, payload));
                        assert_int_equal(len, (vlan ? 18 : 14) + payload);
                        for (int b = 0; b < 6; b++)
                                assert_int_equal(buf[b], 0xff);
                        assert_memory_equal(buf + 6, SRC, 6);
                        if (vlan) {
                                assert_int_equal(buf[12], 0x81);
                                assert_int_equal(buf[13], 0x00);
                                assert_int_equal((buf[14] << 8 | buf[15]), vlan); /* PCP 0 */
                        }
                        assert_int_equal(p[-2], 0x88);
                        assert_int_equal(p[-1], 0xb5);
                        assert_memory_equal(p, "DRVHC1\0\0", 8);
                        assert_memory_equal(p + 8, SESSION, 32);
                        assert_memory_equal(p + 40, "host1\0", 6);
                        assert_int_equal(p[104] << 8 | p[105], vlan);
                        assert_int_equal(p[106], kind);
                        assert_int_equal(p[107], 2);
                        for (size_t b = 108; b < payload; b++)
                                assert_int_equal(p[b], 0);

                        /* The tag inline, as a trunk's peer may hand it to us. */
                        assert_int_equal(dv_netprobe_frame_parse(buf, len, -1, &f), 0);
                        assert_int_equal(f.vlan, vlan);
                        assert_int_equal(f.sent_vlan, vlan);
                        assert_int_equal(f.kind, kind);
                        assert_int_equal(f.round, 2);
                        assert_string_equal(f.session, SESSION);
                        assert_string_equal(f.host, "host1");

                        /* The tag taken out by the kernel (PCP bits ignored). */
                        if (vlan) {
                                len = strip_tag(buf, len);
                                assert_int_equal(
                                        dv_netprobe_frame_parse(buf, len, 0xa000 | vlan, &f), 0);
                                assert_int_equal(f.vlan, vlan);
                                assert_int_equal(f.sent_vlan, vlan);
                                assert_int_equal(f.kind, kind);
                        }
                }
}

static void test_frame_inline_tag(void **state)
{
        static uint8_t buf[DV_NETPROBE_FRAME_MAX + 8], tagged[DV_NETPROBE_FRAME_MAX + 8];
        struct dv_netprobe_frame f;
        size_t len = build(buf, 0, DV_NETPROBE_SMALL, 0, DV_NETPROBE_SMALL_PAYLOAD);

        /* Sent untagged, tagged 30 (PCP 5) by the network: a leak. */
        memcpy(tagged, buf, 12);
        tagged[12] = 0x81, tagged[13] = 0x00, tagged[14] = 0xa0, tagged[15] = 30;
        memcpy(tagged + 16, buf + 12, len - 12);
        assert_int_equal(dv_netprobe_frame_parse(tagged, len + 4, -1, &f), 0);
        assert_int_equal(f.vlan, 30);
        assert_int_equal(f.sent_vlan, 0);
        /* Priority-tagged (VLAN id 0) is untagged. */
        tagged[14] = 0xa0, tagged[15] = 0;
        assert_int_equal(dv_netprobe_frame_parse(tagged, len + 4, -1, &f), 0);
        assert_int_equal(f.vlan, 0);
        /* A tag stripped by the kernel and another inline: not ours. */
        assert_int_equal(dv_netprobe_frame_parse(tagged, len + 4, 7, &f), -ENOMSG);
        /* Untagged and nothing stripped. */
        assert_int_equal(dv_netprobe_frame_parse(buf, len, -1, &f), 0);
        assert_int_equal(f.vlan, 0);
        /* Kernel-stripped tag on a frame sent untagged. */
        assert_int_equal(dv_netprobe_frame_parse(buf, len, 44, &f), 0);
        assert_int_equal(f.vlan, 44);
        assert_int_equal(f.sent_vlan, 0);
}

/* Build a good frame of VLAN 10 (inline tag), damage it, expect rejection. */
static void expect_bad(void (*damage)(uint8_t *p, size_t *len), int expected)
{
        static uint8_t buf[DV_NETPROBE_FRAME_MAX];
        struct dv_netprobe_frame f = { .vlan = -99 };
        size_t len = build(buf, 10, DV_NETPROBE_LARGE, 1, 300);

        damage(buf, &len);
        assert_int_equal(dv_netprobe_frame_parse(buf, len, -1, &f), expected);
        assert_int_equal(f.vlan, -99); /* untouched on failure */
}

#define P(b) ((b) + 18) /* the payload of a frame tagged inline */
static void d_runt(uint8_t *b, size_t *len) { *len = 13; }
static void d_tag_only(uint8_t *b, size_t *len) { *len = 16; }
static void d_short(uint8_t *b, size_t *len) { *len = 18 + DV_NETPROBE_PAYLOAD_MIN - 1; }
static void d_ethertype(uint8_t *b, size_t *len) { b[16] = 0x08, b[17] = 0x00; }
static void d_magic(uint8_t *b, size_t *len) { P(b)[5] = '2'; }
static void d_magic_pad(uint8_t *b, size_t *len) { P(b)[7] = 1; }
static void d_session_case(uint8_t *b, size_t *len) { P(b)[8] = 'A'; }
static void d_session_short(uint8_t *b, size_t *len) { memset(P(b) + 8 + 15, 0, 17); }
static void d_session_tail(uint8_t *b, size_t *len)
{
        memset(P(b) + 8 + 16, 0, 16);
        P(b)[8 + 30] = 'a'; /* text after the padding began */
}
static void d_session_empty(uint8_t *b, size_t *len) { memset(P(b) + 8, 0, 32); }
static void d_host_char(uint8_t *b, size_t *len) { P(b)[40 + 2] = '/'; }
static void d_host_ctrl(uint8_t *b, size_t *len) { P(b)[40 + 2] = '\n'; }
static void d_host_empty(uint8_t *b, size_t *len) { memset(P(b) + 40, 0, 64); }
static void d_host_unterminated(uint8_t *b, size_t *len) { memset(P(b) + 40, 'h', 64); }
static void d_host_tail(uint8_t *b, size_t *len) { P(b)[40 + 63] = 'x'; }
static void d_vlan(uint8_t *b, size_t *len) { P(b)[104] = 0x0f, P(b)[105] = 0xff; }
static void d_kind(uint8_t *b, size_t *len) { P(b)[106] = 2; }
static void d_round(uint8_t *b, size_t *len) { P(b)[107] = DV_NETPROBE_ROUNDS_MAX; }

static void test_frame_reject(void **state)
{
        static uint8_t buf[DV_NETPROBE_FRAME_MAX];
        size_t len;

        expect_bad(d_runt, -EBADMSG);
        expect_bad(d_tag_only, -EBADMSG);
        expect_bad(d_short, -EBADMSG);
        expect_bad(d_ethertype, -ENOMSG);
        expect_bad(d_magic, -EBADMSG);
        expect_bad(d_magic_pad, -EBADMSG);
        expect_bad(d_session_case, -EBADMSG);
        expect_bad(d_session_short, -EBADMSG);
        expect_bad(d_session_tail, -EBADMSG);
        expect_bad(d_session_empty, -EBADMSG);
        expect_bad(d_host_char, -EBADMSG);
        expect_bad(d_host_ctrl, -EBADMSG);
        expect_bad(d_host_empty, -EBADMSG);
        expect_bad(d_host_unterminated, -EBADMSG);
        expect_bad(d_host_tail, -EBADMSG);
        expect_bad(d_vlan, -EBADMSG);
        expect_bad(d_kind, -EBADMSG);
        expect_bad(d_round, -EBADMSG);
        assert_int_equal(dv_netprobe_frame_parse(NULL, 100, -1, &(struct dv_netprobe_frame){}),
                         -EBADMSG);

        /* A 16-hex session and a 63-character host are fine. */
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, "0123456789abcdef",
                                                 "h23456789012345678901234567890123456789012345"
                                                 "678901234567890123",
                                                 0, 0, 0, DV_NETPROBE_SMALL_PAYLOAD, &len),
                         0);
        assert_int_equal(dv_netprobe_frame_parse(buf, len, -1, &(struct dv_netprobe_frame){}), 0);

        /* Building refuses what parsing would. */
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, "ABCDEF0123456789", "h",
                                                 0, 0, 0, 200, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "a b", 0, 0, 0,
                                                 200, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "h", 4095, 0, 0,
                                                 200, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "h", 1, 2, 0,
                                                 200, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "h", 1, 0, 10,
                                                 200, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "h", 1, 0, 0,
                                                 DV_NETPROBE_PAYLOAD_MIN - 1, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, sizeof(buf), SRC, SESSION, "h", 1, 0, 0,
                                                 9001, &len),
                         -EINVAL);
        assert_int_equal(dv_netprobe_frame_build(buf, 18 + 1499, SRC, SESSION, "h", 1, 0, 0,
                                                 1500, &len),
                         -ENOBUFS);
}

/* ---- requests ---- */

static int probe_req(const char *text, struct dv_netprobe_req *req, struct dv_error *err)
{
        json_t *body = json_loads(text, 0, NULL);
        int r;

        assert_non_null(body);
        *err = (struct dv_error){};
        r = dv_netprobe_parse_probe_req(body, req, err);
        json_decref(body);
        return r;
}

static void expect_req_error(const char *text, const char *code)
{
        struct dv_netprobe_req req;
        struct dv_error err;

        if (probe_req(text, &req, &err) == 0)
                fail_msg("accepted: %s", text);
        assert_int_equal(err.status, 400);
        if (strcmp(err.code, code) != 0)
                fail_msg("%s: code %s (%s), wanted %s", text, err.code, err.message, code);
}

#define GOOD_HEAD "\"interface\":\"up-h1\",\"session\":\"" SESSION "\",\"host\":\"host1\""

static void test_probe_req(void **state)
{
        struct dv_netprobe_req req;
        struct dv_error err;
        char text[2048];
        int n;

        assert_int_equal(probe_req("{" GOOD_HEAD ",\"vlans\":[10,20],\"mtu\":1400,"
                                   "\"window_ms\":2000,\"rounds\":5}",
                                   &req, &err),
                         0);
        assert_string_equal(req.interface, "up-h1");
        assert_string_equal(req.session, SESSION);
        assert_string_equal(req.host, "host1");
        assert_int_equal(req.n_vlans, 2);
        assert_int_equal(req.vlans[0], 10);
        assert_int_equal(req.vlans[1], 20);
        assert_int_equal(req.mtu, 1400);
        assert_int_equal(req.window_ms, 2000);
        assert_int_equal(req.rounds, 5);

        /* Defaults; bounds inclusive. */
        assert_int_equal(probe_req("{\"interface\":\"eth0.10\",\"session\":\"0123456789abcdef\","
                                   "\"host\":\"h\",\"vlans\":[0]}",
                                   &req, &err),
                         0);
        assert_int_equal(req.mtu, 0);
        assert_int_equal(req.window_ms, DV_NETPROBE_WINDOW_DEFAULT);
        assert_int_equal(req.rounds, DV_NETPROBE_ROUNDS_DEFAULT);
        assert_int_equal(probe_req("{" GOOD_HEAD ",\"vlans\":[4094,0],\"mtu\":9000,"
                                   "\"window_ms\":200,\"rounds\":1}",
                                   &req, &err),
                         0);
        assert_int_equal(probe_req("{" GOOD_HEAD ",\"vlans\":[1],\"mtu\":108,"
                                   "\"window_ms\":10000,\"rounds\":10}",
                                   &req, &err),
                         0);
        /* 64 VLANs are fine, 65 are not. */
        n = snprintf(text, sizeof(text), "{" GOOD_HEAD ",\"vlans\":[0");
        for (int v = 1; v < DV_NETPROBE_MAX_VLANS; v++)
                n += snprintf(text + n, sizeof(text) - n, ",%d", v);
        snprintf(text + n, sizeof(text) - n, "]}");
        assert_int_equal(probe_req(text, &req, &err), 0);
        assert_int_equal(req.n_vlans, DV_NETPROBE_MAX_VLANS);
        snprintf(text + n, sizeof(text) - n, ",100]}");
        expect_req_error(text, "invalid-field");

        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"extra\":1}", "unknown-field");
        expect_req_error("{\"session\":\"" SESSION "\",\"host\":\"h\",\"vlans\":[1]}",
                         "missing-field");
        expect_req_error("{\"interface\":\"up\",\"host\":\"h\",\"vlans\":[1]}", "missing-field");
        expect_req_error("{\"interface\":\"up\",\"session\":\"" SESSION "\",\"vlans\":[1]}",
                         "missing-field");
        expect_req_error("{" GOOD_HEAD "}", "missing-field");
        /* Interface names. */
        static const char *const bad_if[] = { "", ".", "..", "a/b", "eth 0", "0123456789abcdef",
                                              "é", "up\\nx" };
        for (size_t i = 0; i < ELEMENTSOF(bad_if); i++) {
                snprintf(text, sizeof(text),
                         "{\"interface\":\"%s\",\"session\":\"" SESSION
                         "\",\"host\":\"h\",\"vlans\":[1]}",
                         bad_if[i]);
                expect_req_error(text, "invalid-field");
        }
        expect_req_error("{\"interface\":7,\"session\":\"" SESSION "\",\"host\":\"h\","
                         "\"vlans\":[1]}",
                         "invalid-field");
        /* Sessions. */
        static const char *const bad_session[] = { "0123456789abcde", "0123456789ABCDEF",
                                                   "0123456789abcdef0123456789abcdef0",
                                                   "0123456789abcdeg", "" };
        for (size_t i = 0; i < ELEMENTSOF(bad_session); i++) {
                snprintf(text, sizeof(text),
                         "{\"interface\":\"up\",\"session\":\"%s\",\"host\":\"h\","
                         "\"vlans\":[1]}",
                         bad_session[i]);
                expect_req_error(text, "invalid-field");
        }
        /* Hosts. */
        expect_req_error("{\"interface\":\"up\",\"session\":\"" SESSION "\",\"host\":\"a/b\","
                         "\"vlans\":[1]}",
                         "invalid-field");
        expect_req_error("{\"interface\":\"up\",\"session\":\"" SESSION "\",\"host\":\"\","
                         "\"vlans\":[1]}",
                         "invalid-field");
        expect_req_error("{\"interface\":\"up\",\"session\":\"" SESSION "\",\"host\":"
                         "\"h234567890123456789012345678901234567890123456789012345678901234\","
                         "\"vlans\":[1]}",
                         "invalid-field");
        /* VLANs. */
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[]}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":10}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[10,10]}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[4095]}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[-1]}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[\"10\"]}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1.5]}", "invalid-field");
        /* Numbers. */
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"mtu\":107}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"mtu\":9001}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"mtu\":\"1500\"}", "invalid-field");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"window_ms\":199}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"window_ms\":10001}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"rounds\":0}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"rounds\":11}", "out-of-range");
        expect_req_error("{" GOOD_HEAD ",\"vlans\":[1],\"rounds\":true}", "invalid-field");
}

static void test_link_req(void **state)
{
        static const struct {
                const char *body; /* request body */
                int status;       /* 0: accepted */
                const char *code; /* error code */
        } cases[] = {
                { "{\"interface\":\"up-h1\"}", 0, NULL },
                { "{\"interface\":\"eth0:1\"}", 0, NULL },
                { "{\"interface\":\"A_b.c-d\"}", 0, NULL },
                { "{}", 400, "missing-field" },
                { "{\"interface\":\"up-h1\",\"x\":1}", 400, "unknown-field" },
                { "{\"interface\":\"../x\"}", 400, "invalid-field" },
                { "{\"interface\":\"..\"}", 400, "invalid-field" },
                { "{\"interface\":\"0123456789abcdef\"}", 400, "invalid-field" },
                { "{\"interface\":[]}", 400, "invalid-field" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *body = json_loads(cases[i].body, 0, NULL);
                struct dv_error err = {};
                const char *name = NULL;
                int r = dv_netprobe_parse_link_req(body, &name, &err);

                if (cases[i].status == 0) {
                        assert_int_equal(r, 0);
                        assert_non_null(name);
                } else {
                        assert_true(r < 0);
                        assert_int_equal(err.status, cases[i].status);
                        assert_string_equal(err.code, cases[i].code);
                }
                json_decref(body);
        }
}

static void test_link_parse(void **state)
{
        struct dv_netprobe_link link;
        json_t *j;

        assert_int_equal(dv_netprobe_link_parse("up-h1", "0x1003\n", "1\n", "up\n", "1500\n",
                                                "aa:bb:cc:dd:ee:0f\n", "1\n", &link),
                         0);
        assert_true(link.admin_up);
        assert_true(link.carrier);
        assert_string_equal(link.operstate, "up");
        assert_int_equal(link.mtu, 1500);
        assert_string_equal(link.mac, "aa:bb:cc:dd:ee:0f");
        assert_true(link.ethernet);
        assert_int_equal(link.hwaddr[0], 0xaa);
        assert_int_equal(link.hwaddr[5], 0x0f);
        j = dv_netprobe_link_to_json(&link);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "interface")), "up-h1");
        assert_true(json_is_true(json_object_get(j, "admin_up")));
        assert_true(json_is_true(json_object_get(j, "carrier")));
        assert_string_equal(json_string_value(json_object_get(j, "operstate")), "up");
        assert_int_equal(json_integer_value(json_object_get(j, "mtu")), 1500);
        assert_string_equal(json_string_value(json_object_get(j, "mac")), "aa:bb:cc:dd:ee:0f");
        assert_int_equal(json_object_size(j), 6);
        json_decref(j);

        /* Admin down: carrier unreadable. */
        assert_int_equal(dv_netprobe_link_parse("up-h1", "0x1002\n", NULL, "down\n", "9000\n",
                                                "aa:bb:cc:dd:ee:0f\n", "1\n", &link),
                         0);
        assert_false(link.admin_up);
        assert_false(link.carrier);
        assert_string_equal(link.operstate, "down");
        assert_int_equal(link.mtu, 9000);
        /* Up without carrier. */
        assert_int_equal(dv_netprobe_link_parse("x", "0x1003", "0", "lowerlayerdown", "1500",
                                                "aa:bb:cc:dd:ee:0f", "1", &link),
                         0);
        assert_true(link.admin_up);
        assert_false(link.carrier);
        assert_string_equal(link.operstate, "lowerlayerdown");
        /* Loopback: not Ethernet. Odd text: "unknown" / "". */
        assert_int_equal(dv_netprobe_link_parse("lo", "0x9", "1", "UP!", "65536",
                                                "00:00:00:00:00:00", "772", &link),
                         0);
        assert_false(link.ethernet);
        assert_string_equal(link.operstate, "unknown");
        assert_int_equal(dv_netprobe_link_parse("x", "0x1003", "1", "up", "1500", "<script>",
                                                "1", &link),
                         0);
        assert_string_equal(link.mac, "");
        assert_false(link.ethernet);
        assert_int_equal(dv_netprobe_link_parse("x", "0x1003", "1", "up", "1500",
                                                "aa:bb:cc:dd:ee:0f", NULL, &link),
                         0);
        assert_false(link.ethernet);
        /* Unparseable flags or MTU. */
        assert_int_equal(dv_netprobe_link_parse("x", "1003", "1", "up", "1500", "", "1", &link),
                         -EINVAL);
        assert_int_equal(dv_netprobe_link_parse("x", "0xzz", "1", "up", "1500", "", "1", &link),
                         -EINVAL);
        assert_int_equal(dv_netprobe_link_parse("x", "0x1", "1", "up", "15x", "", "1", &link),
                         -EINVAL);
        assert_int_equal(dv_netprobe_link_parse("x/y", "0x1", "1", "up", "1500", "", "1", &link),
                         -EINVAL);
}

/* ---- aggregation ---- */

static struct dv_netprobe_frame frame(const char *host, int vlan, int sent_vlan, int kind)
{
        struct dv_netprobe_frame f = { .vlan = vlan, .sent_vlan = sent_vlan, .kind = kind };

        snprintf(f.session, sizeof(f.session), "%s", SESSION);
        snprintf(f.host, sizeof(f.host), "%s", host);
        return f;
}

static void test_account_json(void **state)
{
        struct dv_netprobe_result *res = dv_netprobe_result_new("up-h1");
        struct dv_netprobe_frame f;
        json_t *j, *rx, *e;

        assert_non_null(res);
        assert_null(dv_netprobe_result_new("bad/name"));
        res->carrier = true;
        res->mtu = 1500;
        res->window_ms = 1500;
        res->sent = 10;
        for (int i = 0; i < 3; i++) {
                f = frame("host3", 10, 10, DV_NETPROBE_SMALL);
                assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 1);
                f = frame("host2", 20, 20, DV_NETPROBE_SMALL);
                assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 1);
                f = frame("host2", 10, 10, DV_NETPROBE_LARGE);
                assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 1);
                f = frame("host2", 10, 10, DV_NETPROBE_SMALL);
                assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 1);
        }
        /* A frame of VLAN 30 heard on VLAN 10: its own entry. */
        f = frame("host2", 10, 30, DV_NETPROBE_SMALL);
        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 1);
        /* Ignored: our own frames, other sessions. */
        f = frame("host1", 10, 10, DV_NETPROBE_SMALL);
        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "host1"), 0);
        f = frame("host2", 10, 10, DV_NETPROBE_SMALL);
        assert_int_equal(dv_netprobe_account(res, &f, "fedcba9876543210", "host1"), 0);
        assert_int_equal(res->n_entries, 4);

        dv_netprobe_send_failed(res, 10, 1518, -EMSGSIZE);
        dv_netprobe_send_failed(res, 10, 1518, -EMSGSIZE);
        dv_netprobe_send_failed(res, 10, 1518, -ENETDOWN);
        dv_netprobe_send_failed(res, 20, 126, -ENETDOWN);
        assert_int_equal(res->n_errors, 3);

        j = dv_netprobe_result_to_json(res);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "interface")), "up-h1");
        assert_true(json_is_true(json_object_get(j, "carrier")));
        assert_int_equal(json_integer_value(json_object_get(j, "mtu")), 1500);
        assert_int_equal(json_integer_value(json_object_get(j, "sent")), 10);
        assert_int_equal(json_integer_value(json_object_get(j, "window_ms")), 1500);
        assert_int_equal(json_integer_value(json_object_get(j, "overflow")), 0);
        e = json_array_get(json_object_get(j, "send_errors"), 0);
        assert_int_equal(json_integer_value(json_object_get(e, "vlan")), 10);
        assert_int_equal(json_integer_value(json_object_get(e, "size")), 1518);
        assert_string_equal(json_string_value(json_object_get(e, "error")), "Message too long");
        assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
        e = json_array_get(json_object_get(j, "send_errors"), 2);
        assert_string_equal(json_string_value(json_object_get(e, "error")), "Network is down");

        /* Sorted by host, VLAN, sent VLAN. */
        rx = json_object_get(j, "received");
        assert_int_equal(json_array_size(rx), 4);
        static const struct {
                const char *host;    /* sender */
                int vlan, sent_vlan; /* VLANs */
                int small, large;    /* counts */
        } want[] = {
                { "host2", 10, 10, 3, 3 },
                { "host2", 10, 30, 1, 0 },
                { "host2", 20, 20, 3, 0 },
                { "host3", 10, 10, 3, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                e = json_array_get(rx, i);
                assert_string_equal(json_string_value(json_object_get(e, "host")), want[i].host);
                assert_int_equal(json_integer_value(json_object_get(e, "vlan")), want[i].vlan);
                assert_int_equal(json_integer_value(json_object_get(e, "sent_vlan")),
                                 want[i].sent_vlan);
                assert_int_equal(json_integer_value(json_object_get(e, "small")), want[i].small);
                assert_int_equal(json_integer_value(json_object_get(e, "large")), want[i].large);
                assert_int_equal(json_object_size(e), 5);
        }
        json_decref(j);
        dv_netprobe_result_free(res);
        dv_netprobe_result_free(NULL);
}

static void test_account_cap(void **state)
{
        struct dv_netprobe_result *res = dv_netprobe_result_new("up-h1");
        struct dv_netprobe_frame f;
        char host[16];
        json_t *j;

        /* 256 distinct (host, vlan) entries fill the table... */
        for (int h = 0; h < 4; h++)
                for (int v = 0; v < 64; v++) {
                        snprintf(host, sizeof(host), "host%d", h);
                        f = frame(host, v, v, DV_NETPROBE_SMALL);
                        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "me"), 1);
                }
        assert_int_equal(res->n_entries, DV_NETPROBE_MAX_ENTRIES);
        /* ...a new one is not counted but known ones still are. */
        f = frame("host9", 1, 1, DV_NETPROBE_SMALL);
        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "me"), -ENOSPC);
        f = frame("host0", 1, 2, DV_NETPROBE_LARGE);
        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "me"), -ENOSPC);
        f = frame("host3", 63, 63, DV_NETPROBE_LARGE);
        assert_int_equal(dv_netprobe_account(res, &f, SESSION, "me"), 1);
        assert_int_equal(res->n_entries, DV_NETPROBE_MAX_ENTRIES);
        assert_int_equal(res->overflow, 2);
        j = dv_netprobe_result_to_json(res);
        assert_int_equal(json_array_size(json_object_get(j, "received")), DV_NETPROBE_MAX_ENTRIES);
        assert_int_equal(json_integer_value(json_object_get(j, "overflow")), 2);
        json_decref(j);

        /* Send errors are bounded too. */
        for (int i = 0; i < DV_NETPROBE_MAX_SEND_ERRORS + 10; i++)
                dv_netprobe_send_failed(res, i % 4095, 126, -ENETDOWN);
        assert_int_equal(res->n_errors, DV_NETPROBE_MAX_SEND_ERRORS);
        dv_netprobe_result_free(res);
}

/* ---- the HTTP part (only /sys/class/net is read: lo exists everywhere) ---- */

static int route(const char *method, const char *what, const char *body, json_t **ret)
{
        struct dv_http_request req = { .method = method, .path = "/agent/v1/net/x",
                                       .body = body, .body_len = strlen(body), .peer = "test" };
        struct dv_http_response resp = {};

        if (!dv_netprobe_route(what, &req, &resp))
                return 0;
        *ret = resp.json;
        return resp.status;
}

static const char *error_code(json_t *j)
{
        return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static void test_route(void **state)
{
        json_t *j = NULL;

        assert_int_equal(route("POST", "other", "{}", &j), 0);
        assert_int_equal(route("GET", "link", "", &j), 405);
        json_decref(j);
        assert_int_equal(route("POST", "link", " \n", &j), 400);
        assert_string_equal(error_code(j), "invalid-json");
        json_decref(j);
        assert_int_equal(route("POST", "link", "[]", &j), 400);
        assert_string_equal(error_code(j), "invalid-json");
        json_decref(j);
        assert_int_equal(route("POST", "link", "{\"interface\":\"lo\",\"a\":1}", &j), 400);
        assert_string_equal(error_code(j), "unknown-field");
        json_decref(j);
        assert_int_equal(route("POST", "link", "{\"interface\":\"nptest-none0\"}", &j), 404);
        assert_string_equal(error_code(j), "no-such-interface");
        json_decref(j);
        assert_int_equal(route("POST", "link", "{\"interface\":\"bonding_masters\"}", &j), 404);
        json_decref(j);
        assert_int_equal(route("POST", "link", "{\"interface\":\"lo\"}", &j), 200);
        assert_string_equal(json_string_value(json_object_get(j, "interface")), "lo");
        assert_true(json_is_boolean(json_object_get(j, "carrier")));
        assert_true(json_integer_value(json_object_get(j, "mtu")) > 0);
        json_decref(j);
        /* Probes: refused before any socket is opened. */
        assert_int_equal(route("POST", "probe",
                               "{\"interface\":\"nptest-none0\",\"session\":\"" SESSION
                               "\",\"host\":\"h\",\"vlans\":[1]}",
                               &j),
                         404);
        assert_string_equal(error_code(j), "no-such-interface");
        json_decref(j);
        assert_int_equal(route("POST", "probe",
                               "{\"interface\":\"lo\",\"session\":\"" SESSION
                               "\",\"host\":\"h\",\"vlans\":[1]}",
                               &j),
                         400);
        assert_string_equal(error_code(j), "invalid-field"); /* not Ethernet */
        json_decref(j);
        assert_int_equal(route("POST", "probe", "{\"interface\":\"lo\"}", &j), 400);
        assert_string_equal(error_code(j), "missing-field");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_frame_roundtrip),
                cmocka_unit_test(test_frame_inline_tag),
                cmocka_unit_test(test_frame_reject),
                cmocka_unit_test(test_probe_req),
                cmocka_unit_test(test_link_req),
                cmocka_unit_test(test_link_parse),
                cmocka_unit_test(test_account_json),
                cmocka_unit_test(test_account_cap),
                cmocka_unit_test(test_route),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
