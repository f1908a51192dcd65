/* The agent's Tools registry (tools-mgr.c) against a fake guest: a UNIX
 * socket where QEMU's chardev would be, a peer that says hello and sends
 * heartbeats and answers net-config. Also the SPEC's Tools member and the
 * --tools-timeout-s flag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent.h"
#include "tools-mgr.h"

#define VM_ID "6f1c0e9a-2b3d-4c5e-8f00-0123456789ab"
#define HELLO "{\"event\":\"hello\",\"proto\":1,\"version\":\"7.7\",\"session\":\"0123456789abcdef\",\"pid\":9,\"ops\":[\"net-config\"]}\n"
#define BEAT "{\"event\":\"heartbeat\",\"seq\":%d,\"version\":\"7.7\",\"session\":\"0123456789abcdef\"}\n"

static void test_spec_check(void **state)
{
        struct dv_error err = { 0 };
        json_t *spec;

        spec = json_loads("{\"id\":\"x\"}", 0, NULL);
        assert_int_equal(dv_tools_spec_check(spec, &err), 0);
        json_decref(spec);
        spec = json_loads("{\"tools\":{\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"10.0.0.5\","
                          "\"prefix\":24,\"gateway\":\"10.0.0.1\"}]}}", 0, NULL);
        assert_int_equal(dv_tools_spec_check(spec, &err), 0);
        json_decref(spec);
        spec = json_loads("{\"tools\":{\"nics\":[{\"mac\":\"nope\",\"ip\":\"10.0.0.5\",\"prefix\":24}]}}",
                          0, NULL);
        assert_true(dv_tools_spec_check(spec, &err) < 0);
        assert_int_equal(err.status, 400);
        assert_true(strncmp(err.message, "tools: ", 7) == 0);
        json_decref(spec);
        spec = json_loads("{\"tools\":{\"nics\":[]}}", 0, NULL);
        assert_true(dv_tools_spec_check(spec, &err) < 0);
        json_decref(spec);
        spec = json_loads("{\"tools\":[]}", 0, NULL);
        assert_true(dv_tools_spec_check(spec, &err) < 0);
        json_decref(spec);
}

static void test_config(void **state)
{
        struct dv_agent_config cfg;
        char err[256];
        char *ok[] = { "a", "--manager", "http://m:7080", "--name", "h", "--tools-timeout-s", "5", NULL };
        char *def[] = { "a", "--manager", "http://m:7080", "--name", "h", NULL };
        char *bad[] = { "a", "--manager", "http://m:7080", "--name", "h", "--tools-timeout-s", "1", NULL };

        assert_int_equal(dv_agent_config_parse(7, ok, &cfg, err, sizeof(err)), DV_AGENT_CONFIG_RUN);
        assert_int_equal(cfg.tools_timeout_s, 5);
        dv_agent_config_done(&cfg);
        assert_int_equal(dv_agent_config_parse(5, def, &cfg, err, sizeof(err)), DV_AGENT_CONFIG_RUN);
        assert_int_equal(cfg.tools_timeout_s, DV_TOOLS_DEFAULT_TIMEOUT_S);
        dv_agent_config_done(&cfg);
        assert_true(dv_agent_config_parse(7, bad, &cfg, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, "--tools-timeout-s"));
        dv_agent_config_done(&cfg);
}

/* ---- the registry against a fake guest ---- */

struct guest {
        int listen_fd;
        volatile bool stop;
        volatile int net_configs;   /* net-config requests answered */
        volatile int time_sets;     /* time-set requests answered */
        pthread_t thread;
};

static void *guest_main(void *arg)
{
        struct guest *g = arg;
        int fd = -1, seq = 0;
        char buf[65536];
        size_t len = 0;

        while (!g->stop) {
                struct pollfd p = { .fd = fd >= 0 ? fd : g->listen_fd, .events = POLLIN };

                if (poll(&p, 1, 200) > 0) {
                        if (fd < 0) {
                                fd = accept(g->listen_fd, NULL, NULL);
                                if (fd >= 0)
                                        (void)!write(fd, HELLO, strlen(HELLO));
                                continue;
                        }
                        ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
                        if (k <= 0)
                                break;
                        len += (size_t)k;
                        buf[len] = 0;
                        char *nl;
                        while ((nl = strchr(buf, '\n'))) {
                                json_t *req = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
                                const char *op = json_string_value(json_object_get(req, "op"));

                                if (op && strcmp(op, "net-config") == 0) {
                                        char out[512];
                                        snprintf(out, sizeof(out),
                                                 "{\"id\":%lld,\"ok\":true,\"result\":{\"nics\":[{\"mac\":"
                                                 "\"52:54:00:00:00:01\",\"name\":\"eth0\",\"changed\":true}]}}\n",
                                                 (long long)json_integer_value(json_object_get(req, "id")));
                                        (void)!write(fd, out, strlen(out));
                                        g->net_configs++;
                                } else if (op && strcmp(op, "time-set") == 0) {
                                        char out[256];
                                        snprintf(out, sizeof(out),
                                                 "{\"id\":%lld,\"ok\":true,\"result\":{\"previous_ms\":1,"
                                                 "\"delta_ms\":5}}\n",
                                                 (long long)json_integer_value(json_object_get(req, "id")));
                                        (void)!write(fd, out, strlen(out));
                                        g->time_sets++;
                                }
                                json_decref(req);
                                memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
                                len -= (size_t)(nl + 1 - buf);
                        }
                }
                if (fd >= 0) {
                        char beat[256];
                        snprintf(beat, sizeof(beat), BEAT, ++seq);
                        (void)!write(fd, beat, strlen(beat));
                }
        }
        if (fd >= 0)
                close(fd);
        return NULL;
}

static int kicks;
static void kick(void *userdata) { __atomic_add_fetch(&kicks, 1, __ATOMIC_SEQ_CST); }

static json_t *status_list(const char *state)
{
        return json_pack("[{s:s,s:s}]", "id", VM_ID, "state", state);
}

static const char *tools_state(json_t *vms)
{
        return json_string_value(json_object_get(json_object_get(json_array_get(vms, 0), "tools"), "state"));
}

static void test_registry(void **state)
{
        char dir[] = "/tmp/test-agent-tools.XXXXXX";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct dv_tools_mgr *tm = NULL;
        struct dv_tools_vm *v = NULL;
        struct guest g = { 0 };
        json_t *spec, *vms;
        char *vmdir;
        int64_t deadline;

        assert_non_null(mkdtemp(dir));
        vmdir = dv_asprintf("%s/%s", dir, VM_ID);
        assert_int_equal(mkdir(vmdir, 0700), 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/tools.sock", vmdir);
        g.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(bind(g.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(g.listen_fd, 1), 0);
        assert_int_equal(pthread_create(&g.thread, NULL, guest_main, &g), 0);

        struct dv_tools_mgr_config cfg = { .run_dir = dir, .heartbeat_timeout_ms = 3000,
                                           .kick = kick };
        assert_int_equal(dv_tools_mgr_new(&cfg, &tm), 0);
        spec = json_loads("{\"tools\":{\"nics\":[{\"mac\":\"52:54:00:00:00:01\",\"ip\":\"10.0.0.5\","
                          "\"prefix\":24}]}}", 0, NULL);
        assert_int_equal(dv_tools_mgr_vm_started(tm, VM_ID, spec), 0);
        json_decref(spec);

        /* Running after the hello; net-config from the spec pushed. */
        deadline = dv_now_ms() + 20000; /* generous: a loaded CI machine */
        for (;;) {
                vms = status_list("running");
                dv_tools_mgr_annotate(tm, vms);
                if (dv_streq(tools_state(vms), "running") && g.net_configs > 0)
                        break;
                json_decref(vms);
                assert_true(dv_now_ms() < deadline);
                usleep(50000);
        }
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(vms, 0), "tools"), "version")),
                            "7.7");
        json_decref(vms);
        assert_true(__atomic_load_n(&kicks, __ATOMIC_SEQ_CST) >= 1);
        assert_int_equal(dv_tools_mgr_get(tm, VM_ID, &v), 0);
        assert_true(dv_tools_vm_usable(v));
        /* paused: not usable for a Tools stop */
        dv_tools_mgr_vm_event(tm, VM_ID, "paused");
        assert_false(dv_tools_vm_usable(v));
        dv_tools_mgr_vm_event(tm, VM_ID, "running");
        /* a resume: the guest's clock is set */
        deadline = dv_now_ms() + 20000; /* generous: a loaded CI machine */
        while (g.time_sets == 0 && dv_now_ms() < deadline)
                usleep(20000);
        assert_int_equal(g.time_sets, 1);
        assert_false(dv_tools_vm_wait_exit(v, 10));
        dv_tools_mgr_vm_event(tm, VM_ID, "stopped");
        assert_true(dv_tools_vm_wait_exit(v, 1000));
        dv_tools_vm_unref(v);

        /* A stopped VM's channel is closed; the next lookup fails. */
        vms = status_list("stopped");
        dv_tools_mgr_annotate(tm, vms);
        assert_null(json_object_get(json_array_get(vms, 0), "tools"));
        json_decref(vms);
        assert_int_equal(dv_tools_mgr_get(tm, VM_ID, &v), -ENOENT);
        assert_int_equal(dv_tools_mgr_get(NULL, VM_ID, &v), -ENOENT);

        dv_tools_mgr_free(tm);
        g.stop = true;
        pthread_join(g.thread, NULL);
        close(g.listen_fd);
        unlink(sa.sun_path);
        rmdir(vmdir);
        rmdir(dir);
        free(vmdir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spec_check),
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_registry),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
