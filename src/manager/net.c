#include "net.h"

#include <string.h>

#include "validate.h"

static uint32_t fnv1a(const char *s)
{
        uint32_t h = 2166136261u;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 16777619u;
        }
        return h;
}

void dv_dvs_bridge_name(const char *dvs_name, char buf[DV_BRIDGE_NAME_MAX])
{
        if (strlen("dvs-") + strlen(dvs_name) < DV_BRIDGE_NAME_MAX)
                snprintf(buf, DV_BRIDGE_NAME_MAX, "dvs-%s", dvs_name);
        else
                snprintf(buf, DV_BRIDGE_NAME_MAX, "dvs-%.6s-%04x", dvs_name,
                         (unsigned)(fnv1a(dvs_name) & 0xffff));
}

static const char *str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

int dv_nic_fit_portgroup(const char *ip, int64_t prefix, const char *gateway, json_t *pg,
                         const char **ret_gateway, struct dv_error *err)
{
        const char *name = str(pg, "name"), *subnet = str(pg, "subnet"),
                   *pg_gw = str(pg, "gateway");
        uint32_t addr = 0, net, gw, mask;
        int spfx;

        *ret_gateway = gateway;
        if (!ip)
                return 0;
        if (!dv_ipv4_parse(ip, &addr))
                return dv_error_set(err, 400, "invalid-field", "ip '%.40s' is not an IPv4 address",
                                    ip);
        if (subnet && dv_cidr_parse(subnet, &net, &spfx)) {
                mask = dv_prefix_mask(spfx);
                if ((addr & mask) != (net & mask))
                        return dv_error_set(err, 400, "invalid-field",
                                            "ip %s is not inside subnet %s of portgroup '%s'", ip,
                                            subnet, name);
                if (spfx <= 30 && ((addr & ~mask) == 0 || (addr & ~mask) == ~mask))
                        return dv_error_set(err, 400, "invalid-field",
                                            "ip %s is the network or broadcast address of subnet "
                                            "%s of portgroup '%s'",
                                            ip, subnet, name);
        }
        if (pg_gw && dv_streq(pg_gw, ip))
                return dv_error_set(err, 400, "invalid-field",
                                    "ip %s is the gateway of portgroup '%s'", ip, name);
        if (!gateway && pg_gw && dv_ipv4_parse(pg_gw, &gw)) {
                mask = dv_prefix_mask((int)prefix);
                if ((gw & mask) == (addr & mask))
                        *ret_gateway = pg_gw;
        }
        return 0;
}

char *dv_net_kernel_arg(json_t *nic)
{
        const char *mac = str(nic, "mac"), *ip = str(nic, "ip"), *gw = str(nic, "gateway");
        json_t *prefix = json_object_get(nic, "prefix");

        if (!mac || !ip || !json_is_integer(prefix))
                return NULL;
        return dv_asprintf("drover.net=%s,%s/%lld%s%s", mac, ip,
                           (long long)json_integer_value(prefix), gw ? "," : "", gw ? gw : "");
}
