/* The DVS's pure logic in the manager: bridge names, a NIC's address
 * against its port group, the drover.net kernel argument, and the
 * validation of dvs / portgroup request bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "net.h"
#include "validate.h"

static json_t *J(const char *text)
{
        json_t *v = json_loads(text, 0, NULL);

        assert_non_null(v);
        return v;
}

static void test_bridge_name(void **state)
{
        char a[DV_BRIDGE_NAME_MAX], b[DV_BRIDGE_NAME_MAX];

        dv_dvs_bridge_name("lan", a);
        assert_string_equal(a, "dvs-lan");
        dv_dvs_bridge_name("abcdefghijk", a); /* 4 + 11 = 15: fits */
        assert_string_equal(a, "dvs-abcdefghijk");
        dv_dvs_bridge_name("abcdefghijkl", a); /* 16: truncated + hash */
        assert_int_equal(strlen(a), 15);
        assert_memory_equal(a, "dvs-abcdef-", 11);
        dv_dvs_bridge_name("abcdefghijkm", b);
        assert_int_equal(strlen(b), 15);
        assert_string_not_equal(a, b); /* same prefix, different names */
        dv_dvs_bridge_name("abcdefghijkl", b);
        assert_string_equal(a, b); /* stable */
        dv_dvs_bridge_name("a-very-long-dvs-name-of-sixty-four-characters-xxxxxxxxxxxxxxxxxxx", a);
        assert_int_equal(strlen(a), 15);
        assert_true(dv_ifname_valid(a));
}

static void test_kernel_arg(void **state)
{
        json_t *nic = J("{\"mac\":\"52:54:00:aa:bb:cc\",\"ip\":\"10.0.0.5\",\"prefix\":24,"
                        "\"gateway\":\"10.0.0.1\"}");
        char *s = dv_net_kernel_arg(nic);

        assert_string_equal(s, "drover.net=52:54:00:aa:bb:cc,10.0.0.5/24,10.0.0.1");
        free(s);
        json_object_set_new(nic, "gateway", json_null());
        s = dv_net_kernel_arg(nic);
        assert_string_equal(s, "drover.net=52:54:00:aa:bb:cc,10.0.0.5/24");
        free(s);
        json_object_set_new(nic, "ip", json_null());
        assert_null(dv_net_kernel_arg(nic));
        json_decref(nic);
}

static void test_nic_fit(void **state)
{
        json_t *pg = J("{\"name\":\"pg\",\"subnet\":\"10.0.100.0/24\",\"gateway\":\"10.0.100.1\"}");
        json_t *bare = J("{\"name\":\"bare\",\"subnet\":null,\"gateway\":null}");
        struct dv_error err = { 0 };
        const char *gw = NULL;

        /* no address: nothing to check, no gateway */
        assert_int_equal(dv_nic_fit_portgroup(NULL, 0, NULL, pg, &gw, &err), 0);
        assert_null(gw);
        /* inside: the port group's gateway is the default */
        assert_int_equal(dv_nic_fit_portgroup("10.0.100.5", 24, NULL, pg, &gw, &err), 0);
        assert_string_equal(gw, "10.0.100.1");
        /* the NIC's own gateway wins */
        assert_int_equal(dv_nic_fit_portgroup("10.0.100.5", 24, "10.0.100.254", pg, &gw, &err), 0);
        assert_string_equal(gw, "10.0.100.254");
        /* a longer prefix that leaves the gateway outside: no default */
        assert_int_equal(dv_nic_fit_portgroup("10.0.100.200", 25, NULL, pg, &gw, &err), 0);
        assert_null(gw);
        /* outside the subnet */
        assert_int_equal(dv_nic_fit_portgroup("10.0.200.5", 24, NULL, pg, &gw, &err), -EINVAL);
        assert_string_equal(err.code, "invalid-field");
        assert_non_null(strstr(err.message, "not inside subnet 10.0.100.0/24"));
        /* the gateway itself, network and broadcast addresses */
        assert_true(dv_nic_fit_portgroup("10.0.100.1", 24, NULL, pg, &gw, &err) < 0);
        assert_true(dv_nic_fit_portgroup("10.0.100.0", 24, NULL, pg, &gw, &err) < 0);
        assert_true(dv_nic_fit_portgroup("10.0.100.255", 24, NULL, pg, &gw, &err) < 0);
        /* a port group without a subnet takes any address */
        assert_int_equal(dv_nic_fit_portgroup("192.168.1.1", 16, NULL, bare, &gw, &err), 0);
        assert_null(gw);
        json_decref(pg);
        json_decref(bare);
}

/* The request's strings point into its body: keep the last one alive. */
static json_t *last_body;

static int pg(const char *body, struct dv_portgroup_req *q, struct dv_error *err)
{
        json_decref(last_body);
        last_body = J(body);
        return dv_validate_portgroup_create(last_body, q, err);
}

static void test_validate_portgroup(void **state)
{
        struct dv_portgroup_req q;
        struct dv_error err = { 0 };

        assert_int_equal(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":0}", &q, &err), 0);
        assert_int_equal(q.vlan, 0);
        assert_null(q.subnet);
        assert_int_equal(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":4094,"
                            "\"subnet\":\"10.1.0.0/16\",\"gateway\":\"10.1.255.254\"}",
                            &q, &err),
                         0);
        assert_string_equal(q.gateway, "10.1.255.254");
        /* VLAN bounds and type */
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":4095}", &q, &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":-1}", &q, &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":\"100\"}", &q, &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\"}", &q, &err) < 0);
        assert_string_equal(err.code, "missing-field");
        /* subnets */
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.1.0.5/16\"}", &q,
                       &err) < 0);
        assert_non_null(strstr(err.message, "host bits set (the network is 10.1.0.0/16)"));
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.1.0.0\"}", &q,
                       &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.1.0.0/33\"}", &q,
                       &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.1.0.0/0\"}", &q,
                       &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.1.0.0/+8\"}", &q,
                       &err) < 0);
        /* gateways */
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"gateway\":\"10.0.0.1\"}", &q,
                       &err) < 0);
        assert_string_equal(err.code, "missing-field");
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.0.0.0/24\","
                       "\"gateway\":\"10.0.1.1\"}",
                       &q, &err) < 0);
        assert_non_null(strstr(err.message, "is not inside 10.0.0.0/24"));
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.0.0.0/24\","
                       "\"gateway\":\"10.0.0.255\"}",
                       &q, &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.0.0.0/24\","
                       "\"gateway\":\"10.0.0.0\"}",
                       &q, &err) < 0);
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"subnet\":\"10.0.0.0/24\","
                       "\"gateway\":\"x\"}",
                       &q, &err) < 0);
        /* unknown fields, bad names */
        assert_true(pg("{\"name\":\"p\",\"dvs\":\"d\",\"vlan\":1,\"mtu\":9000}", &q, &err) < 0);
        assert_string_equal(err.code, "unknown-field");
        assert_true(pg("{\"name\":\"p q\",\"dvs\":\"d\",\"vlan\":1}", &q, &err) < 0);
        assert_string_equal(err.code, "invalid-name");
        json_decref(last_body);
        last_body = NULL;
}

static void test_validate_patch_and_dvs(void **state)
{
        struct dv_error err = { 0 };
        struct dv_dvs_host_req h;
        struct dv_dvs_req d;
        int64_t vlan = -1;
        json_t *b;

        b = J("{\"vlan\":200}");
        assert_int_equal(dv_validate_portgroup_patch(b, &vlan, &err), 0);
        assert_int_equal(vlan, 200);
        json_decref(b);
        b = J("{\"vlan\":200,\"name\":\"x\"}");
        assert_true(dv_validate_portgroup_patch(b, &vlan, &err) < 0);
        json_decref(b);
        b = J("{}");
        assert_true(dv_validate_portgroup_patch(b, &vlan, &err) < 0);
        json_decref(b);

        b = J("{\"name\":\"lan\"}");
        assert_int_equal(dv_validate_dvs_create(b, &d, &err), 0);
        assert_string_equal(d.name, "lan");
        json_decref(b);

        b = J("{\"host\":\"host1\",\"uplink\":\"up-h1\"}");
        assert_int_equal(dv_validate_dvs_add_host(b, &h, &err), 0);
        assert_string_equal(h.uplink, "up-h1");
        json_decref(b);
        b = J("{\"host\":\"host1\"}");
        assert_int_equal(dv_validate_dvs_add_host(b, &h, &err), 0);
        assert_null(h.uplink);
        json_decref(b);
        b = J("{\"host\":\"host1\",\"uplink\":\"a-name-too-long-x\"}");
        assert_true(dv_validate_dvs_add_host(b, &h, &err) < 0);
        json_decref(b);
        b = J("{\"host\":\"host1\",\"uplink\":\"../x\"}");
        assert_true(dv_validate_dvs_add_host(b, &h, &err) < 0);
        json_decref(b);
}

static void test_ifname_cidr(void **state)
{
        uint32_t a;
        int p;

        assert_true(dv_ifname_valid("eth0"));
        assert_true(dv_ifname_valid("up-h1"));
        assert_true(dv_ifname_valid("abcdefghijklmno"));
        assert_false(dv_ifname_valid("abcdefghijklmnop"));
        assert_false(dv_ifname_valid(""));
        assert_false(dv_ifname_valid("."));
        assert_false(dv_ifname_valid(".."));
        assert_false(dv_ifname_valid("a b"));
        assert_false(dv_ifname_valid("a/b"));
        assert_false(dv_ifname_valid("a:1"));
        assert_false(dv_ifname_valid(NULL));
        assert_true(dv_cidr_parse("10.0.0.0/8", &a, &p));
        assert_int_equal(a, 0x0a000000);
        assert_int_equal(p, 8);
        assert_false(dv_cidr_parse("10.0.0/8", &a, &p));
        assert_false(dv_cidr_parse("/8", &a, &p));
        assert_false(dv_cidr_parse("10.0.0.0/", &a, &p));
        assert_false(dv_cidr_parse("10.0.0.0/100", &a, &p));
        assert_int_equal(dv_prefix_mask(24), 0xffffff00u);
        assert_int_equal(dv_prefix_mask(32), 0xffffffffu);
        assert_int_equal(dv_prefix_mask(0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bridge_name),
                cmocka_unit_test(test_kernel_arg),
                cmocka_unit_test(test_nic_fit),
                cmocka_unit_test(test_validate_portgroup),
                cmocka_unit_test(test_validate_patch_and_dvs),
                cmocka_unit_test(test_ifname_cidr),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
