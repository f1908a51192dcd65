/* The pure parts of HA's wiring in droverd: ipmitool answers, BMC
 * addresses, cluster HA settings as JSON (ha-bmc.c, ha-settings.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ha-bmc.h"
#include "ha-env.h"

static void test_parse_power(void **state)
{
        assert_int_equal(dv_bmc_parse_power("Chassis Power is on"), DV_HA_POWER_ON);
        assert_int_equal(dv_bmc_parse_power("Chassis Power is off\n"), DV_HA_POWER_OFF);
        assert_int_equal(dv_bmc_parse_power("Chassis Power is on\r\n"), DV_HA_POWER_ON);
        assert_int_equal(dv_bmc_parse_power("Chassis Power is onward"), DV_HA_POWER_UNKNOWN);
        assert_int_equal(dv_bmc_parse_power("Chassis Power Control: Down/Off"),
                         DV_HA_POWER_UNKNOWN);
        assert_int_equal(dv_bmc_parse_power("Error: Unable to establish IPMI v2 / RMCP+ session"),
                         DV_HA_POWER_UNKNOWN);
        assert_int_equal(dv_bmc_parse_power(""), DV_HA_POWER_UNKNOWN);
        assert_int_equal(dv_bmc_parse_power(NULL), DV_HA_POWER_UNKNOWN);
}

static void test_address(void **state)
{
        struct dv_bmc_config c;

        assert_int_equal(dv_bmc_parse_address("10.77.0.102", &c), 0);
        assert_string_equal(c.address, "10.77.0.102");
        assert_int_equal(c.port, 623);
        assert_int_equal(dv_bmc_parse_address("bmc-2.example.org:6230", &c), 0);
        assert_string_equal(c.address, "bmc-2.example.org");
        assert_int_equal(c.port, 6230);
        assert_int_equal(dv_bmc_parse_address("[fd00::2]:624", &c), 0);
        assert_string_equal(c.address, "fd00::2");
        assert_int_equal(c.port, 624);
        assert_int_equal(dv_bmc_parse_address("fd00::2", &c), 0);
        assert_string_equal(c.address, "fd00::2");
        assert_int_equal(c.port, 623);
        assert_int_equal(dv_bmc_parse_address("10.0.0.1:0", &c), -EINVAL);
        assert_int_equal(dv_bmc_parse_address("10.0.0.1:70000", &c), -EINVAL);
        assert_int_equal(dv_bmc_parse_address(":623", &c), -EINVAL);
        assert_int_equal(dv_bmc_parse_address("", &c), -EINVAL);
        assert_int_equal(dv_bmc_parse_address("[fd00::2", &c), -EINVAL);
        /* Nothing ipmitool would read as an option, nothing a shell would care about. */
        assert_false(dv_bmc_address_valid("-oProxyCommand=x"));
        assert_false(dv_bmc_address_valid("a b"));
        assert_false(dv_bmc_address_valid("a;b"));
        assert_false(dv_bmc_address_valid("a\nb"));
        assert_true(dv_bmc_address_valid("host_1.lab"));
}

static void test_settings_json(void **state)
{
        struct dv_ha_settings s, d;
        struct dv_error err = { 0 };
        json_t *j, *p;

        dv_ha_settings_default(&d);
        s = d;
        j = dv_ha_settings_to_json(&s);
        assert_true(json_is_true(json_object_get(j, "enabled")));
        assert_string_equal(json_string_value(json_object_get(j, "isolation_response")),
                            "leave-running");
        assert_string_equal(json_string_value(json_object_get(j, "admission")), "hosts");
        assert_int_equal(json_integer_value(json_object_get(j, "net_timeout_ms")), 2000);
        /* Round trip. */
        dv_ha_settings_default(&s);
        s.enabled = false;
        assert_int_equal(dv_ha_settings_patch(&s, j, &err), 0);
        assert_true(s.enabled);
        json_decref(j);

        p = json_pack("{s:b,s:s,s:s,s:i,s:i}", "enabled", 0, "isolation_response", "power-off",
                      "admission", "percent", "percent", 30, "net_timeout_ms", 1500);
        assert_int_equal(dv_ha_settings_patch(&s, p, &err), 0);
        json_decref(p);
        assert_false(s.enabled);
        assert_int_equal(s.isolation, DV_HA_ISOLATION_POWER_OFF);
        assert_int_equal(s.admission, DV_HA_ADMISSION_PERCENT);
        assert_int_equal(s.percent, 30);
        assert_int_equal(s.net_timeout_ms, 1500);
        assert_int_equal(s.ds_timeout_ms, d.ds_timeout_ms);

        /* Refusals leave s alone and name the field. */
        d = s;
        p = json_pack("{s:s}", "isolation_response", "panic");
        assert_true(dv_ha_settings_patch(&s, p, &err) < 0);
        assert_int_equal(err.status, 400);
        assert_non_null(strstr(err.message, "isolation_response"));
        json_decref(p);
        p = json_pack("{s:i}", "tools_timeout_ms", 5);
        assert_true(dv_ha_settings_patch(&s, p, &err) < 0);
        assert_non_null(strstr(err.message, "tools_timeout_ms"));
        json_decref(p);
        p = json_pack("{s:i}", "lease", 5);
        assert_true(dv_ha_settings_patch(&s, p, &err) < 0);
        assert_string_equal(err.code, "unknown-field");
        json_decref(p);
        p = json_pack("{s:s}", "enabled", "yes");
        assert_true(dv_ha_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        p = json_string("x");
        assert_true(dv_ha_settings_patch(&s, p, &err) < 0);
        json_decref(p);
        assert_int_equal(s.isolation, d.isolation);
        assert_int_equal(s.tools_timeout_ms, d.tools_timeout_ms);

        /* A cluster document: defaults for what it lacks. */
        j = json_pack("{s:s,s:{s:s}}", "name", "default", "ha", "isolation_response", "shutdown");
        dv_cluster_ha_settings(j, &s);
        assert_true(s.enabled);
        assert_int_equal(s.isolation, DV_HA_ISOLATION_SHUTDOWN);
        json_decref(j);
        j = json_pack("{s:s}", "name", "default");
        dv_cluster_ha_settings(j, &s);
        dv_ha_settings_default(&d);
        assert_int_equal(s.isolation, d.isolation);
        assert_true(s.enabled);
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_power),
                cmocka_unit_test(test_address),
                cmocka_unit_test(test_settings_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
