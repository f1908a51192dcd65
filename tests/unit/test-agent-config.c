/* drover-agent command line (src/agent/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "agent.h"

static int parse(struct dv_agent_config *cfg, char *err, size_t len, ...)
{
        char *argv[32] = { (char *)"drover-agent" };
        int argc = 1;
        va_list ap;
        const char *a;

        va_start(ap, len);
        while ((a = va_arg(ap, const char *)) && argc < 31)
                argv[argc++] = (char *)a;
        va_end(ap);
        return dv_agent_config_parse(argc, argv, cfg, err, len);
}

static void test_defaults(void **state)
{
        struct dv_agent_config cfg;
        char err[256];

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://10.0.0.1:7080/",
                               "--name", "h1", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.manager_url, "http://10.0.0.1:7080");
        assert_string_equal(cfg.listen, "0.0.0.0:7081");
        assert_string_equal(cfg.advertise_url, "http://127.0.0.1:7081");
        assert_string_equal(cfg.data_dir, "/var/lib/drover-agent");
        assert_string_equal(cfg.name, "h1");
        assert_null(cfg.token_file);
        assert_string_equal(cfg.accel, "auto");
        assert_string_equal(cfg.qemu_bin, "qemu-system-x86_64");
        assert_int_equal(cfg.heartbeat_ms, 1000);
        assert_true(cfg.sandbox);
        assert_int_equal(cfg.n_datastores, 0);
        assert_string_equal(cfg.ovs_db, "unix:/var/run/openvswitch/db.sock");
        assert_string_equal(cfg.ovs_datapath, "netdev");
        assert_null(cfg.uplink);
        dv_agent_config_done(&cfg);
}

static void test_ovs_flags(void **state)
{
        struct dv_agent_config cfg;
        char err[256];

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m", "--name", "h",
                               "--ovs-db", "unix:/var/tmp/lab/h1/ovs/db.sock", "--ovs-datapath",
                               "system", "--uplink", "up-h1", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.ovs_db, "unix:/var/tmp/lab/h1/ovs/db.sock");
        assert_string_equal(cfg.ovs_datapath, "system");
        assert_string_equal(cfg.uplink, "up-h1");
        dv_agent_config_done(&cfg);
}

static void test_all_flags(void **state)
{
        struct dv_agent_config cfg;
        char err[256];

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "https://mgr", "--listen",
                               "10.1.0.2:9000", "--data-dir", "/tmp/x", "--name", "h2",
                               "--token-file", "/tmp/t", "--accel", "tcg", "--qemu", "/opt/q",
                               "--heartbeat-ms", "250", "--no-sandbox", "--datastore",
                               "shared=/srv/shared", "--datastore", "nfs1=/mnt/nfs", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.advertise_url, "http://10.1.0.2:9000");
        assert_string_equal(cfg.accel, "tcg");
        assert_int_equal(cfg.heartbeat_ms, 250);
        assert_false(cfg.sandbox);
        assert_int_equal(cfg.n_datastores, 2);
        assert_string_equal(cfg.datastores[0].name, "shared");
        assert_string_equal(cfg.datastores[0].path, "/srv/shared");
        assert_string_equal(cfg.datastores[1].name, "nfs1");
        dv_agent_config_done(&cfg);

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1", "--name", "h",
                               "--advertise", "http://192.168.1.5:7081", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.advertise_url, "http://192.168.1.5:7081");
        dv_agent_config_done(&cfg);
}

static void expect_error(const char *needle, ...)
{
        char *argv[32] = { (char *)"drover-agent" };
        struct dv_agent_config cfg;
        char err[256];
        int argc = 1;
        va_list ap;
        const char *a;

        va_start(ap, needle);
        while ((a = va_arg(ap, const char *)) && argc < 31)
                argv[argc++] = (char *)a;
        va_end(ap);
        assert_int_equal(dv_agent_config_parse(argc, argv, &cfg, err, sizeof(err)), -EINVAL);
        if (!strstr(err, needle))
                fail_msg("error '%s' does not mention '%s'", err, needle);
        dv_agent_config_done(&cfg);
}

static void test_errors(void **state)
{
        expect_error("--manager URL is required", "--name", "h", NULL);
        expect_error("not an http", "--manager", "ftp://x", NULL);
        expect_error("without a path", "--manager", "http://x/api", NULL);
        expect_error("--manager", "--manager", "http://", NULL);
        expect_error("--heartbeat-ms", "--manager", "http://m", "--heartbeat-ms", "5", NULL);
        expect_error("--heartbeat-ms", "--manager", "http://m", "--heartbeat-ms", "1x", NULL);
        expect_error("--accel", "--manager", "http://m", "--accel", "xen", NULL);
        expect_error("--listen", "--manager", "http://m", "--listen", "localhost", NULL);
        expect_error("--listen", "--manager", "http://m", "--listen", "1.2.3.4:0", NULL);
        expect_error("unknown", "--manager", "http://m", "--bogus", NULL);
        expect_error("unknown", "--manager", "http://m", "-x", NULL);
        expect_error("needs a value", "--manager", NULL);
        expect_error("unexpected argument", "--manager", "http://m", "--name", "h", "extra",
                     NULL);
        expect_error("NAME=PATH", "--manager", "http://m", "--datastore", "noequals", NULL);
        expect_error("absolute", "--manager", "http://m", "--datastore", "a=rel", NULL);
        expect_error("not a valid name", "--manager", "http://m", "--datastore", "a b=/x", NULL);
        expect_error("given twice", "--manager", "http://m", "--datastore", "a=/x",
                     "--datastore", "a=/y", NULL);
        expect_error("local datastore", "--manager", "http://m", "--name", "h",
                     "--datastore", "h-local=/y", NULL);
        expect_error("not valid", "--manager", "http://m", "--name", "bad/name", NULL);
        expect_error("absolute", "--manager", "http://m", "--name", "h", "--data-dir", "rel",
                     NULL);
        expect_error("malformed", "--manager", "http://m", "--no-sandbox=1", NULL);
        expect_error("--ovs-db", "--manager", "http://m", "--ovs-db", "/run/db.sock", NULL);
        expect_error("--ovs-datapath", "--manager", "http://m", "--ovs-datapath", "dpdk", NULL);
        expect_error("--uplink", "--manager", "http://m", "--uplink", "a/b", NULL);
        expect_error("--uplink", "--manager", "http://m", "--uplink", "sixteen-chars-xx", NULL);
}

static void test_ha_flags(void **state)
{
        struct dv_agent_config cfg;
        char err[256];

        (void)state;
        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1", "--name", "h1",
                               NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_null(cfg.isolation_address);
        assert_null(cfg.watchdog_bmc);
        assert_int_equal(cfg.watchdog_timeout_ms, 3000);
        assert_true(cfg.image_locking);
        dv_agent_config_done(&cfg);

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1", "--name", "h1",
                               "--isolation-address", "10.77.0.254", "--watchdog-bmc",
                               "10.77.0.101", "--watchdog-user", "admin",
                               "--watchdog-password-file", "/p", "--watchdog-timeout-ms", "2500",
                               "--no-image-locking", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.isolation_address, "10.77.0.254");
        assert_string_equal(cfg.watchdog_bmc, "10.77.0.101");
        assert_int_equal(cfg.watchdog_port, 623);
        assert_string_equal(cfg.watchdog_user, "admin");
        assert_string_equal(cfg.watchdog_password_file, "/p");
        assert_int_equal(cfg.watchdog_timeout_ms, 2500);
        assert_false(cfg.image_locking);
        dv_agent_config_done(&cfg);

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1", "--name", "h1",
                               "--watchdog-bmc", "10.0.0.5:6230", "--watchdog-user", "u",
                               "--watchdog-password-file", "/p", NULL),
                         DV_AGENT_CONFIG_RUN);
        assert_string_equal(cfg.watchdog_bmc, "10.0.0.5");
        assert_int_equal(cfg.watchdog_port, 6230);
        dv_agent_config_done(&cfg);

        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1",
                               "--isolation-address", "gw.example", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "--isolation-address"));
        dv_agent_config_done(&cfg);
        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1",
                               "--watchdog-bmc", "10.0.0.5", NULL),
                         -EINVAL);
        assert_non_null(strstr(err, "--watchdog-user"));
        dv_agent_config_done(&cfg);
        assert_int_equal(parse(&cfg, err, sizeof(err), "--manager", "http://m:1",
                               "--watchdog-timeout-ms", "100", NULL),
                         -EINVAL);
        dv_agent_config_done(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_all_flags),
                cmocka_unit_test(test_ovs_flags),
                cmocka_unit_test(test_ha_flags),
                cmocka_unit_test(test_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
