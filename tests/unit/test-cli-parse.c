/* Unit tests: --disk, --nic, memory and number parsing (src/cli/parse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

static void test_number(void **state)
{
        char err[160];
        int64_t v = -1;

        assert_int_equal(cli_parse_number("42", 1, 64, &v, err, sizeof(err)), 0);
        assert_int_equal(v, 42);
        assert_int_equal(cli_parse_number("064", 1, 64, &v, err, sizeof(err)), 0);
        assert_int_equal(v, 64);
        v = -1;
        assert_int_equal(cli_parse_number("65", 1, 64, &v, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "65 is out of range (1..64)");
        assert_int_equal(v, -1);
        assert_int_equal(cli_parse_number("0", 1, 64, &v, err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_number("99999999999999999999", 1, 64, &v, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "99999999999999999999 is out of range (1..64)");
        const char *bad[] = { "", "-1", "+1", " 1", "1 ", "1.5", "0x10", "2G", "abc" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(cli_parse_number(bad[i], 0, 100, &v, err, sizeof(err)), -EINVAL);
                assert_non_null(strstr(err, "is not a whole number"));
        }
        assert_int_equal(v, -1);
}

static void test_memory(void **state)
{
        static const struct {
                const char *s;
                int64_t mib;
        } ok[] = {
                { "512", 512 }, { "512M", 512 }, { "512MiB", 512 }, { "2G", 2048 },
                { "2GiB", 2048 }, { "16", 16 }, { "1024G", 1048576 }, { "1048576", 1048576 },
        };
        const char *bad[] = { "", "G", "15", "1025G", "1048577", "2g", "2 G", "2GB", "-5",
                              "2.5G", "99999999999999999999" };
        char err[160];
        int64_t v;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                v = -1;
                assert_int_equal(cli_parse_memory_mib(ok[i].s, &v, err, sizeof(err)), 0);
                assert_int_equal(v, ok[i].mib);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = -1;
                assert_int_equal(cli_parse_memory_mib(bad[i], &v, err, sizeof(err)), -EINVAL);
                assert_int_equal(v, -1);
        }
        cli_parse_memory_mib("15", &v, err, sizeof(err));
        assert_string_equal(err, "'15' is out of range (16 MiB .. 1048576 MiB)");
        cli_parse_memory_mib("2GB", &v, err, sizeof(err));
        assert_string_equal(err, "'2GB' is not a size in MiB (e.g. 512, 512M or 2G)");
}

static void test_disk(void **state)
{
        struct cli_disk_spec d;
        char err[160];
        json_t *j;
        char *s;

        assert_int_equal(cli_parse_disk("10", &d, err, sizeof(err)), 0);
        assert_int_equal(d.size_gib, 10);
        assert_string_equal(d.datastore, "");
        j = cli_disk_json(&d);
        s = json_dumps(j, JSON_COMPACT);
        assert_string_equal(s, "{\"size_gib\":10}");
        free(s);
        json_decref(j);

        assert_int_equal(cli_parse_disk("16384@shared-1", &d, err, sizeof(err)), 0);
        assert_int_equal(d.size_gib, 16384);
        assert_string_equal(d.datastore, "shared-1");
        j = cli_disk_json(&d);
        s = json_dumps(j, JSON_COMPACT);
        assert_string_equal(s, "{\"size_gib\":16384,\"datastore\":\"shared-1\"}");
        free(s);
        json_decref(j);

        assert_int_equal(cli_parse_disk("", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "expected GIB[@DATASTORE], e.g. 10 or 10@ds1");
        assert_int_equal(cli_parse_disk("@ds", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "expected GIB[@DATASTORE], e.g. 10 or 10@ds1");
        assert_int_equal(cli_parse_disk("0", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "disk size: 0 is out of range (1..16384)");
        assert_int_equal(cli_parse_disk("16385", &d, err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_disk("10G", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "disk size: '10G' is not a whole number");
        assert_int_equal(cli_parse_disk("10@", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "invalid datastore name ''");
        assert_int_equal(cli_parse_disk("10@a@b", &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "invalid datastore name 'a@b'");
        assert_int_equal(cli_parse_disk("10@..", &d, err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_disk("1000000000000000000000000@x", &d, err, sizeof(err)),
                         -EINVAL);
}

static void nic_json_is(const struct cli_nic_spec *n, const char *want)
{
        json_t *j = cli_nic_json(n);
        char *s = json_dumps(j, JSON_COMPACT);

        assert_string_equal(s, want);
        free(s);
        json_decref(j);
}

static void test_nic(void **state)
{
        struct cli_nic_spec n;
        char err[160];

        assert_int_equal(cli_parse_nic("pg1", &n, err, sizeof(err)), 0);
        assert_string_equal(n.portgroup, "pg1");
        assert_string_equal(n.ip, "");
        assert_int_equal(n.prefix, -1);
        assert_string_equal(n.gateway, "");
        nic_json_is(&n, "{\"portgroup\":\"pg1\"}");

        assert_int_equal(cli_parse_nic("vlan10:10.0.10.5/24", &n, err, sizeof(err)), 0);
        assert_string_equal(n.portgroup, "vlan10");
        assert_string_equal(n.ip, "10.0.10.5");
        assert_int_equal(n.prefix, 24);
        assert_string_equal(n.gateway, "");
        nic_json_is(&n, "{\"portgroup\":\"vlan10\",\"ip\":\"10.0.10.5\",\"prefix\":24}");

        assert_int_equal(cli_parse_nic("pg_a:192.168.1.20/32:192.168.1.1", &n, err, sizeof(err)),
                         0);
        assert_string_equal(n.ip, "192.168.1.20");
        assert_int_equal(n.prefix, 32);
        assert_string_equal(n.gateway, "192.168.1.1");
        nic_json_is(&n, "{\"portgroup\":\"pg_a\",\"ip\":\"192.168.1.20\",\"prefix\":32,"
                        "\"gateway\":\"192.168.1.1\"}");

        /* A gateway outside the subnet is allowed: diagnose must be able to find it. */
        assert_int_equal(cli_parse_nic("pg:10.0.0.5/24:10.9.9.1", &n, err, sizeof(err)), 0);

        static const struct {
                const char *s;
                const char *why;
        } bad[] = {
                { "", "invalid port group name ''" },
                { ":10.0.0.1/24", "invalid port group name ''" },
                { "bad pg", "invalid port group name 'bad pg'" },
                { "pg:", "expected IP/PREFIX after the port group, e.g. pg:10.0.0.5/24" },
                { "pg:10.0.0.5", "expected IP/PREFIX after the port group, e.g. pg:10.0.0.5/24" },
                { "pg:10.0.0/24", "invalid IPv4 address '10.0.0'" },
                { "pg:10.0.0.256/24", "invalid IPv4 address '10.0.0.256'" },
                { "pg:fe80::1/64", "expected PORTGROUP[:IP/PREFIX[:GW]] (IPv4 only)" },
                { "pg:10.0.0.5/33", "prefix length: 33 is out of range (1..32)" },
                { "pg:10.0.0.5/0", "prefix length: 0 is out of range (1..32)" },
                { "pg:10.0.0.5/", "prefix length: '' is not a whole number" },
                { "pg:10.0.0.5/24:", "invalid IPv4 gateway ''" },
                { "pg:10.0.0.5/24:gw", "invalid IPv4 gateway 'gw'" },
                { "pg::10.0.0.1", "expected IP/PREFIX after the port group, e.g. pg:10.0.0.5/24" },
                { "pg:10.0.0.5/24:10.0.0.1:x", "expected PORTGROUP[:IP/PREFIX[:GW]] (IPv4 only)" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(&n, 0x5a, sizeof(n));
                err[0] = 0;
                assert_int_equal(cli_parse_nic(bad[i].s, &n, err, sizeof(err)), -EINVAL);
                assert_string_equal(err, bad[i].why);
                assert_int_equal(n.prefix, 0x5a5a5a5a); /* untouched on failure */
        }
}

static void test_net_args(void **state)
{
        char err[160];

        assert_int_equal(cli_parse_subnet("10.0.100.0/24", err, sizeof(err)), 0);
        assert_int_equal(cli_parse_subnet("10.0.0.0/8", err, sizeof(err)), 0);
        assert_int_equal(cli_parse_subnet("10.0.100.0", err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "'10.0.100.0' is not an IPv4 network (a.b.c.d/1..32)");
        assert_int_equal(cli_parse_subnet("10.0.100.0/33", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_subnet("10.0.100.0/0", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_subnet("10.0.100.0/", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_subnet("10.0.100.0/2x", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_subnet("10.0.100/24", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_ipv4("10.0.100.1", err, sizeof(err)), 0);
        assert_int_equal(cli_parse_ipv4("10.0.100", err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "'10.0.100' is not an IPv4 address");
        assert_int_equal(cli_parse_ifname("up-h1", err, sizeof(err)), 0);
        assert_int_equal(cli_parse_ifname("abcdefghijklmno", err, sizeof(err)), 0);
        assert_int_equal(cli_parse_ifname("abcdefghijklmnop", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_ifname("", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_ifname("..", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_ifname("eth0:1", err, sizeof(err)), -EINVAL);
        assert_int_equal(cli_parse_ifname("a b", err, sizeof(err)), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_net_args),
                cmocka_unit_test(test_number),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_disk),
                cmocka_unit_test(test_nic),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
