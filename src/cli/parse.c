#include "parse.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <string.h>

int cli_parse_number(const char *s, int64_t min, int64_t max, int64_t *ret, char *err,
                     size_t err_len)
{
        int64_t v;
        size_t n = strspn(s, "0123456789");

        if (n == 0 || s[n] != 0) {
                snprintf(err, err_len, "'%s' is not a whole number", s);
                return -EINVAL;
        }
        if (dv_parse_int64(s, min, max, &v) < 0) {
                snprintf(err, err_len, "%s is out of range (%" PRId64 "..%" PRId64 ")", s, min,
                         max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int cli_parse_memory_mib(const char *s, int64_t *ret, char *err, size_t err_len)
{
        static const struct {
                const char *suffix;
                int64_t mult;
        } units[] = {
                { "", 1 }, { "M", 1 }, { "MiB", 1 }, { "G", 1024 }, { "GiB", 1024 },
        };
        size_t n = strspn(s, "0123456789");
        char digits[24];
        int64_t v;

        if (n == 0 || n >= sizeof(digits))
                goto bad;
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                if (strcmp(s + n, units[i].suffix) != 0)
                        continue;
                memcpy(digits, s, n);
                digits[n] = 0;
                if (dv_parse_int64(digits, 0, CLI_MEMORY_MIB_MAX, &v) < 0 ||
                    v * units[i].mult < CLI_MEMORY_MIB_MIN ||
                    v * units[i].mult > CLI_MEMORY_MIB_MAX) {
                        snprintf(err, err_len, "'%s' is out of range (%d MiB .. %d MiB)", s,
                                 CLI_MEMORY_MIB_MIN, CLI_MEMORY_MIB_MAX);
                        return -EINVAL;
                }
                *ret = v * units[i].mult;
                return 0;
        }
bad:
        snprintf(err, err_len, "'%s' is not a size in MiB (e.g. 512, 512M or 2G)", s);
        return -EINVAL;
}

int cli_parse_disk(const char *s, struct cli_disk_spec *ret, char *err, size_t err_len)
{
        struct cli_disk_spec d = { 0 };
        const char *at = strchr(s, '@');
        size_t n = at ? (size_t)(at - s) : strlen(s);
        char size[24], why[128];

        if (n == 0 || n >= sizeof(size)) {
                snprintf(err, err_len, "expected GIB[@DATASTORE], e.g. 10 or 10@ds1");
                return -EINVAL;
        }
        memcpy(size, s, n);
        size[n] = 0;
        if (cli_parse_number(size, 1, CLI_DISK_GIB_MAX, &d.size_gib, why, sizeof(why)) < 0) {
                snprintf(err, err_len, "disk size: %s", why);
                return -EINVAL;
        }
        if (at) {
                if (!dv_name_valid(at + 1)) {
                        snprintf(err, err_len, "invalid datastore name '%s'", at + 1);
                        return -EINVAL;
                }
                snprintf(d.datastore, sizeof(d.datastore), "%s", at + 1);
        }
        *ret = d;
        return 0;
}

static bool ipv4_valid(const char *s)
{
        struct in_addr a;

        return inet_pton(AF_INET, s, &a) == 1;
}

int cli_parse_nic(const char *s, struct cli_nic_spec *ret, char *err, size_t err_len)
{
        struct cli_nic_spec nic = { .prefix = -1 };
        _cleanup_(freep) char *copy = dv_strdup(s);
        char *pg = copy, *addr = NULL, *gw = NULL, *slash, *p;
        char why[128];
        int64_t prefix;

        p = strchr(pg, ':');
        if (p) {
                *p = 0;
                addr = p + 1;
                p = strchr(addr, ':');
                if (p) {
                        *p = 0;
                        gw = p + 1;
                        if (strchr(gw, ':')) {
                                snprintf(err, err_len,
                                         "expected PORTGROUP[:IP/PREFIX[:GW]] (IPv4 only)");
                                return -EINVAL;
                        }
                }
        }
        if (!dv_name_valid(pg)) {
                snprintf(err, err_len, "invalid port group name '%s'", pg);
                return -EINVAL;
        }
        snprintf(nic.portgroup, sizeof(nic.portgroup), "%s", pg);
        if (addr) {
                slash = strchr(addr, '/');
                if (!slash) {
                        snprintf(err, err_len, "expected IP/PREFIX after the port group, e.g. %s:10.0.0.5/24",
                                 pg);
                        return -EINVAL;
                }
                *slash = 0;
                if (!ipv4_valid(addr)) {
                        snprintf(err, err_len, "invalid IPv4 address '%s'", addr);
                        return -EINVAL;
                }
                if (cli_parse_number(slash + 1, 1, 32, &prefix, why, sizeof(why)) < 0) {
                        snprintf(err, err_len, "prefix length: %s", why);
                        return -EINVAL;
                }
                snprintf(nic.ip, sizeof(nic.ip), "%s", addr);
                nic.prefix = (int)prefix;
        }
        if (gw) {
                if (!ipv4_valid(gw)) {
                        snprintf(err, err_len, "invalid IPv4 gateway '%s'", gw);
                        return -EINVAL;
                }
                snprintf(nic.gateway, sizeof(nic.gateway), "%s", gw);
        }
        *ret = nic;
        return 0;
}

json_t *cli_disk_json(const struct cli_disk_spec *d)
{
        json_t *o = json_pack("{s:I}", "size_gib", (json_int_t)d->size_gib);

        if (o && d->datastore[0])
                json_object_set_new(o, "datastore", json_string(d->datastore));
        return o;
}

json_t *cli_nic_json(const struct cli_nic_spec *n)
{
        json_t *o = json_pack("{s:s}", "portgroup", n->portgroup);

        if (o && n->ip[0]) {
                json_object_set_new(o, "ip", json_string(n->ip));
                json_object_set_new(o, "prefix", json_integer(n->prefix));
        }
        if (o && n->gateway[0])
                json_object_set_new(o, "gateway", json_string(n->gateway));
        return o;
}

int cli_parse_ipv4(const char *s, char *err, size_t err_len)
{
        if (!ipv4_valid(s)) {
                snprintf(err, err_len, "'%s' is not an IPv4 address", s);
                return -EINVAL;
        }
        return 0;
}

int cli_parse_subnet(const char *s, char *err, size_t err_len)
{
        const char *slash = strchr(s, '/');
        char addr[16];
        int64_t prefix;

        if (!slash || (size_t)(slash - s) >= sizeof(addr) ||
            strspn(slash + 1, "0123456789") != strlen(slash + 1) || !slash[1] ||
            strlen(slash + 1) > 2 || dv_parse_int64(slash + 1, 1, 32, &prefix) < 0)
                goto bad;
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = 0;
        if (ipv4_valid(addr))
                return 0;
bad:
        snprintf(err, err_len, "'%s' is not an IPv4 network (a.b.c.d/1..32)", s);
        return -EINVAL;
}

int cli_parse_ifname(const char *s, char *err, size_t err_len)
{
        size_t n = strlen(s);
        bool ok = n > 0 && n <= 15 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;

        for (const char *p = s; ok && *p; p++)
                ok = *p != '/' && *p != ':' && (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f;
        if (!ok) {
                snprintf(err, err_len,
                         "'%s' is not a network interface name (1-15 characters, no '/', ':' or "
                         "spaces)",
                         s);
                return -EINVAL;
        }
        return 0;
}
