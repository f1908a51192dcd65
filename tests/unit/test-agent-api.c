/* The agent API handler (src/agent/api.c) against a fake driver: auth,
 * routing, strict input, mapping of driver results and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "agent.h"

#define CRED "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- fake driver ---- */
static struct {
        char last_id[80];
        bool force;
        int timeout_s;
        int ttl_s;
        json_t *spec; /* last start spec */
} fake;

static int fake_start(struct dv_hv *hv, json_t *spec, json_t **ret, struct dv_error *err)
{
        const char *id = json_string_value(json_object_get(spec, "id"));

        json_decref(fake.spec);
        fake.spec = json_incref(spec);
        if (dv_streq(id, "bad"))
                return dv_error_set(err, 409, "invalid-state", "vm bad is running");
        *ret = json_pack("{s:s,s:s,s:i}", "id", id, "state", "running", "pid", 42);
        return 0;
}

static int fake_stop(struct dv_hv *hv, const char *id, bool force, int timeout_s,
                     const char *reason, const char **ret_path, struct dv_error *err)
{
        snprintf(fake.last_id, sizeof(fake.last_id), "%s", id);
        fake.force = force;
        fake.timeout_s = timeout_s;
        if (strcmp(id, "ghost") == 0)
                return -ENOENT;
        *ret_path = force ? "forced" : "acpi";
        return 0;
}

static int fake_reboot(struct dv_hv *hv, const char *id, struct dv_error *err)
{
        return strcmp(id, "ghost") == 0 ? -ENOENT : 0;
}

static int fake_console(struct dv_hv *hv, const char *id, int ttl_s, json_t **ret,
                        struct dv_error *err)
{
        fake.ttl_s = ttl_s;
        *ret = json_pack("{s:s,s:s}", "vnc", "unix:/run/x/vnc.sock", "ticket", "abc");
        return 0;
}

static int fake_list(struct dv_hv *hv, json_t **ret)
{
        *ret = json_pack("[{s:s,s:s}]", "id", "vm1", "state", "running");
        return 0;
}

static const struct dv_hv_ops fake_ops = {
        .name = "fake",
        .start = fake_start,
        .stop = fake_stop,
        .reboot = fake_reboot,
        .console_ticket = fake_console,
        .list = fake_list,
};

/* ---- fixture ---- */
static struct dv_agent agent;
static char tmpdir[PATH_MAX];

/* An empty OVS: every list is empty, every change succeeds. */
static int fake_vsctl(void *userdata, const char *const *argv, int timeout_ms, char **ret_out,
                      struct dv_error *err)
{
        if (ret_out)
                *ret_out = dv_strdup("{\"data\":[],\"headings\":[\"name\"]}");
        return 0;
}

static int setup(void **state)
{
        char tmpl[] = "/tmp/test-agent-api.XXXXXX";
        _cleanup_(freep) char *ds = NULL;

        if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir))
                return -1;
        agent = (struct dv_agent){ .ops = &fake_ops };
        if (dv_agent_init(&agent) < 0)
                return -1;
        agent.cfg.name = dv_strdup("h1");
        agent.cfg.advertise_url = dv_strdup("http://127.0.0.1:7081");
        snprintf(agent.facts.hostname, sizeof(agent.facts.hostname), "h1.example");
        agent.facts.cpus = 4;
        agent.facts.cpu_model = dv_strdup("Test CPU");
        agent.facts.cpu_flags = json_pack("[s,s]", "sse2", "avx");
        agent.facts.memory_mib = 8192;
        agent.facts.accel = "tcg";
        ds = dv_asprintf("%s/local", tmpdir);
        if (dv_datastores_add(&agent.ds, "h1-local", ds) < 0)
                return -1;
        snprintf(agent.credential, sizeof(agent.credential), "%s", CRED);
        dv_ovs_init(&agent.ovs, "unix:/nonexistent/db.sock", "netdev");
        agent.ovs.run = fake_vsctl;
        return 0;
}

static int teardown(void **state)
{
        free(agent.cfg.name);
        free(agent.cfg.advertise_url);
        dv_hostinfo_done(&agent.facts);
        dv_ovs_done(&agent.ovs);
        dv_agent_done(&agent);
        json_decref(fake.spec);
        fake.spec = NULL;
        return dv_rm_rf(tmpdir);
}

/* Run one request; returns the status, *ret_json the body (owned). */
static int call(const char *method, const char *path, const char *token, const char *body,
                json_t **ret_json)
{
        struct dv_http_request req = {
                .method = method,
                .path = path,
                .token = token,
                .body = body ? body : "",
                .body_len = body ? strlen(body) : 0,
                .peer = "127.0.0.1",
        };
        struct dv_http_response resp = {};

        dv_agent_api_handle(&agent, &req, &resp);
        free(resp.text);
        *ret_json = resp.json;
        return resp.status;
}

static void expect(const char *method, const char *path, const char *token, const char *body,
                   int status, const char *code)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        int got = call(method, path, token, body, &j);

        if (got != status)
                fail_msg("%s %s: status %d, expected %d", method, path, got, status);
        if (code && !dv_streq(dv_http_error_code(j), code))
                fail_msg("%s %s: code %s, expected %s", method, path,
                         dv_http_error_code(j) ? dv_http_error_code(j) : "(none)", code);
}

static void test_tokens(void **state)
{
        assert_true(dv_agent_token_valid(CRED));
        assert_false(dv_agent_token_valid("abc"));
        assert_false(dv_agent_token_valid(CRED "0"));
        assert_false(dv_agent_token_valid(NULL));
        assert_true(dv_agent_token_equal(CRED, CRED));
        assert_false(dv_agent_token_equal(CRED "x", CRED));
        assert_false(dv_agent_token_equal("0123", CRED));
        assert_false(dv_agent_token_equal("", CRED));
        assert_false(dv_agent_token_equal(NULL, CRED));
        assert_false(dv_agent_token_equal("", ""));
}

static void test_auth(void **state)
{
        expect("GET", "/agent/v1/info", NULL, NULL, 401, "unauthorized");
        expect("GET", "/agent/v1/info", "wrong", NULL, 401, "unauthorized");
        expect("GET", "/agent/v1/info",
               "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL, 401,
               "unauthorized");
        /* unauthenticated requests learn nothing about paths */
        expect("GET", "/nope", NULL, NULL, 401, "unauthorized");
        expect("GET", "/agent/v1/info", CRED, NULL, 200, NULL);
        /* not registered yet: nothing is accepted */
        agent.credential[0] = 0;
        expect("GET", "/agent/v1/info", "", NULL, 401, "unauthorized");
        expect("GET", "/agent/v1/info", CRED, NULL, 401, "unauthorized");
}

static void test_routing(void **state)
{
        expect("GET", "/nope", CRED, NULL, 404, "not-found");
        expect("GET", "/agent/v2/info", CRED, NULL, 404, "not-found");
        expect("GET", "/agent/v1/vms/x/destroy", CRED, NULL, 404, "not-found");
        expect("GET", "/agent/v1/a/b/c/d/e/f/g/h/i", CRED, NULL, 404, "not-found");
        expect("POST", "/agent/v1/info", CRED, "{}", 405, "method-not-allowed");
        expect("GET", "/agent/v1/disks", CRED, NULL, 405, "method-not-allowed");
        expect("GET", "/agent/v1/vms/vm1/start", CRED, NULL, 405, "method-not-allowed");
        expect("POST", "/agent/v1/vms/a%20b/stop", CRED, "{}", 400, "invalid-name");
}

static void test_info_and_list(void **state)
{
        _cleanup_(json_decrefp) json_t *info = NULL, *vms = NULL;
        static const char *const keys[] = { "name", "url", "hostname", "cpus", "cpu_model",
                                            "cpu_flags", "memory_mib", "accel", "version",
                                            "datastores", "cpu_mhz", NULL };

        assert_int_equal(call("GET", "/agent/v1/info", CRED, NULL, &info), 200);
        assert_int_equal(json_object_size(info), 11);
        for (const char *const *k = keys; *k; k++)
                assert_non_null(json_object_get(info, *k));
        assert_string_equal(json_string_value(json_object_get(info, "accel")), "tcg");
        assert_int_equal(json_integer_value(json_object_get(info, "memory_mib")), 8192);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(info, "datastores"), 0), "name")),
                            "h1-local");

        assert_int_equal(call("GET", "/agent/v1/vms", CRED, NULL, &vms), 200);
        assert_int_equal(json_array_size(json_object_get(vms, "vms")), 1);
}

static void test_disk_input(void **state)
{
        const char *p = "/agent/v1/disks";

        expect("POST", p, CRED, "", 400, "invalid-json");
        expect("POST", p, CRED, "{", 400, "invalid-json");
        expect("POST", p, CRED, "[]", 400, "invalid-json");
        expect("POST", p, CRED,
               "{\"datastore\":\"h1-local\",\"vm_id\":\"v\",\"name\":\"disk0\",\"size_gib\":1,"
               "\"uid\":1000,\"color\":\"red\"}",
               400, "unknown-field");
        expect("POST", p, CRED, "{\"datastore\":\"h1-local\",\"vm_id\":\"v\",\"name\":\"disk0\",\"uid\":1}",
               400, "missing-field");
        expect("POST", p, CRED,
               "{\"datastore\":\"h1-local\",\"vm_id\":\"v\",\"name\":\"disk0\",\"size_gib\":0,\"uid\":1}",
               400, "out-of-range");
        expect("POST", p, CRED,
               "{\"datastore\":\"h1-local\",\"vm_id\":\"../etc\",\"name\":\"disk0\",\"size_gib\":1,\"uid\":1}",
               400, "invalid-name");
        expect("POST", p, CRED,
               "{\"datastore\":\"h1-local\",\"vm_id\":\"v\",\"name\":\"disk0\",\"size_gib\":1,\"uid\":1,"
               "\"format\":\"raw\"}",
               400, "invalid-field");
        expect("POST", p, CRED,
               "{\"datastore\":\"h1-local\",\"vm_id\":\"v\",\"name\":\"disk0\",\"size_gib\":1,\"uid\":-1}",
               400, "out-of-range");
        expect("POST", p, CRED,
               "{\"datastore\":\"other\",\"vm_id\":\"v\",\"name\":\"disk0\",\"size_gib\":1,\"uid\":1}",
               404, "unknown-datastore");
        expect("POST", "/agent/v1/disks/delete", CRED, "{\"path\":\"/etc/passwd\"}", 400,
               "invalid-path");
        expect("POST", "/agent/v1/disks/delete", CRED, "{\"path\":5}", 400, "invalid-field");
        expect("POST", "/agent/v1/disks/delete", CRED, "{}", 400, "missing-field");
}

static void test_vm_actions(void **state)
{
        _cleanup_(json_decrefp) json_t *j = NULL, *j2 = NULL, *j3 = NULL;
        _cleanup_(freep) char *disk = dv_asprintf("%s/local/vm1/disk0.qcow2", tmpdir);
        _cleanup_(freep) char *spec = NULL, *dir = dv_asprintf("%s/local/vm1", tmpdir);

        /* start: the spec's id is filled from the path, disks must be ours */
        assert_int_equal(call("POST", "/agent/v1/vms/vm1/start", CRED,
                              "{\"name\":\"web\",\"cpus\":1,\"memory_mib\":64}", &j),
                         200);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "vm"), "state")),
                            "running");
        assert_string_equal(json_string_value(json_object_get(fake.spec, "id")), "vm1");
        expect("POST", "/agent/v1/vms/vm1/start", CRED, "{\"id\":\"vm2\"}", 400, "invalid-field");
        expect("POST", "/agent/v1/vms/vm1/start", CRED, "{\"cpu\":1}", 400, "unknown-field");
        expect("POST", "/agent/v1/vms/vm1/start", CRED, "", 400, "invalid-json");
        expect("POST", "/agent/v1/vms/vm1/start", CRED,
               "{\"disks\":[{\"path\":\"/etc/passwd\",\"format\":\"raw\"}]}", 400, "invalid-path");
        assert_int_equal(dv_mkdir_p(dir, 0700), 0);
        assert_int_equal(dv_write_file_atomic(disk, "x", 1, 0600), 0);
        spec = dv_asprintf("{\"disks\":[{\"path\":\"%s\",\"format\":\"qcow2\"}]}", disk);
        expect("POST", "/agent/v1/vms/vm1/start", CRED, spec, 200, NULL);
        /* the driver's own error goes out as is */
        expect("POST", "/agent/v1/vms/bad/start", CRED, "{}", 409, "invalid-state");

        /* stop: defaults, explicit values, bounds */
        assert_int_equal(call("POST", "/agent/v1/vms/vm1/stop", CRED, "", &j2), 200);
        assert_string_equal(json_string_value(json_object_get(j2, "path")), "acpi");
        assert_false(fake.force);
        assert_int_equal(fake.timeout_s, 60);
        expect("POST", "/agent/v1/vms/vm1/stop", CRED, "{\"force\":true,\"timeout_s\":5}", 200,
               NULL);
        assert_true(fake.force);
        assert_int_equal(fake.timeout_s, 5);
        expect("POST", "/agent/v1/vms/vm1/stop", CRED, "{\"force\":1}", 400, "invalid-field");
        expect("POST", "/agent/v1/vms/vm1/stop", CRED, "{\"timeout_s\":99999}", 400,
               "out-of-range");
        expect("POST", "/agent/v1/vms/vm1/stop", CRED, "{\"hard\":true}", 400, "unknown-field");
        expect("POST", "/agent/v1/vms/ghost/stop", CRED, "{}", 404, "not-found");

        expect("POST", "/agent/v1/vms/vm1/reboot", CRED, NULL, 200, NULL);
        expect("POST", "/agent/v1/vms/vm1/reboot", CRED, "{\"x\":1}", 400, "unknown-field");
        expect("POST", "/agent/v1/vms/ghost/reboot", CRED, "{}", 404, "not-found");

        assert_int_equal(call("POST", "/agent/v1/vms/vm1/console", CRED, "{\"ttl_s\":30}", &j3),
                         200);
        assert_int_equal(fake.ttl_s, 30);
        assert_string_equal(json_string_value(json_object_get(j3, "ticket")), "abc");
        expect("POST", "/agent/v1/vms/vm1/console", CRED, "{\"ttl_s\":0}", 400, "out-of-range");
}

static void test_dvs_input(void **state)
{
        _cleanup_(json_decrefp) json_t *j = NULL;

        expect("POST", "/agent/v1/dvs", CRED, "{}", 400, "missing-field");
        expect("POST", "/agent/v1/dvs", CRED,
               "{\"name\":\"lan\",\"bridge\":\"a/b\",\"uplink\":\"lo\"}", 400, "invalid-field");
        expect("POST", "/agent/v1/dvs", CRED,
               "{\"name\":\"lan\",\"bridge\":\"dvs-lan\",\"uplink\":\"lo\",\"mtu\":1}", 400,
               "unknown-field");
        expect("POST", "/agent/v1/dvs", CRED,
               "{\"name\":\"lan\",\"bridge\":\"dvs-lan\",\"uplink\":\"nope9\"}", 400,
               "invalid-uplink");
        expect("GET", "/agent/v1/dvs", CRED, NULL, 405, "method-not-allowed");
        assert_int_equal(call("POST", "/agent/v1/dvs", CRED,
                              "{\"name\":\"lan\",\"bridge\":\"dvs-lan\",\"uplink\":\"lo\"}", &j),
                         200);
        assert_string_equal(json_string_value(json_object_get(j, "datapath")), "netdev");
        json_decref(j);
        j = NULL;
        assert_int_equal(call("POST", "/agent/v1/dvs/delete", CRED, "{\"bridge\":\"dvs-x\"}", &j),
                         200);
        assert_false(json_is_true(json_object_get(j, "deleted")));
        json_decref(j);
        j = NULL;
        expect("POST", "/agent/v1/dvs/delete", CRED, "{}", 400, "missing-field");

        expect("POST", "/agent/v1/ports/vlan", CRED, "{\"vlan\":5}", 400, "invalid-field");
        expect("POST", "/agent/v1/ports/vlan", CRED,
               "{\"mac\":\"52:54:00:00:00:01\",\"port\":\"t\",\"vlan\":5}", 400, "invalid-field");
        expect("POST", "/agent/v1/ports/vlan", CRED, "{\"mac\":\"52:54:00:00:00:01\",\"vlan\":4095}",
               400, "out-of-range");
        expect("POST", "/agent/v1/ports/vlan", CRED, "{\"mac\":\"52:54:00:00:00:01\",\"vlan\":5}",
               404, "not-found");
        expect("POST", "/agent/v1/ports/vlan", CRED,
               "{\"mac\":\"52:54:00:00:00:01\",\"vlan\":5,\"missing_ok\":true}", 200, NULL);

        expect("POST", "/agent/v1/dvs/sync", CRED, "{\"dvs\":5}", 400, "invalid-field");
        expect("POST", "/agent/v1/dvs/sync", CRED, "{\"dvs\":[{\"name\":\"x\"}]}", 400,
               "missing-field");
        expect("POST", "/agent/v1/dvs/sync", CRED, "{\"dvs\":[],\"ports\":[{\"mac\":\"m\",\"vlan\":-1}]}",
               400, "out-of-range");
        assert_int_equal(call("POST", "/agent/v1/dvs/sync", CRED, "{\"dvs\":[],\"ports\":[]}", &j),
                         200);
        assert_int_equal(json_array_size(json_object_get(j, "errors")), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tokens),
                cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
                cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_info_and_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_actions, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dvs_input, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
