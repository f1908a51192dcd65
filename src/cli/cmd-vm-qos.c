#include "cmd-vm-qos.h"

#include <string.h>

/* "2600", "2600MHz", "25%", "none"/"0"; *ret_pct set for a percentage. */
static int parse_limit(const char *s, int64_t *ret, bool *ret_pct)
{
        char buf[32];
        size_t n = strlen(s);
        int64_t v;

        if (strcmp(s, "none") == 0 || strcmp(s, "unlimited") == 0) {
                *ret = 0;
                *ret_pct = false;
                return 0;
        }
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n + 1);
        *ret_pct = buf[n - 1] == '%';
        if (*ret_pct)
                buf[--n] = 0;
        else if (n > 3 && strcasecmp(buf + n - 3, "mhz") == 0)
                buf[n -= 3] = 0;
        if (dv_parse_int64(buf, 0, *ret_pct ? DV_QOS_LIMIT_PCT_MAX : DV_QOS_MHZ_MAX, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* A byte rate with an optional K, M or G (powers of 1024). */
static int parse_bytes(const char *s, int64_t *ret)
{
        char buf[32];
        size_t n = strlen(s);
        int64_t v, mul = 1;

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n + 1);
        switch (buf[n - 1]) {
        case 'k': case 'K': mul = 1024; break;
        case 'm': case 'M': mul = 1024 * 1024; break;
        case 'g': case 'G': mul = 1024 * 1024 * 1024; break;
        default: break;
        }
        if (mul > 1)
                buf[--n] = 0;
        if (dv_parse_int64(buf, 0, DV_QOS_BPS_MAX / mul, &v) < 0)
                return -EINVAL;
        *ret = v * mul;
        return 0;
}

bool cli_vm_qos_given(const struct cli_args *a)
{
        static const char *const names[] = { "cpu-shares", "cpu-limit", "cpu-reservation",
                                             "cpu-affinity", "iops-max", "bps-max", NULL };

        for (const char *const *n = names; *n; n++)
                if (cli_args_has(a, *n))
                        return true;
        return false;
}

static int disk_limits(struct cli_ctx *ctx, const struct cli_args *a, json_t *d)
{
        const char *v;
        int64_t n;

        if ((v = cli_args_get(a, "iops-max"))) {
                if (dv_parse_int64(v, 0, DV_QOS_IOPS_MAX, &n) < 0)
                        return cli_usage(ctx, "--iops-max: expected 0..%d, got '%s'",
                                         DV_QOS_IOPS_MAX, v);
                json_object_set_new(d, "iops_max", json_integer(n));
        }
        if ((v = cli_args_get(a, "bps-max"))) {
                if (parse_bytes(v, &n) < 0)
                        return cli_usage(ctx, "--bps-max: expected bytes per second "
                                              "(K, M, G suffixes; 0 = unlimited), got '%s'", v);
                json_object_set_new(d, "bps_max", json_integer(n));
        }
        return 0;
}

int cli_vm_qos_body(struct cli_ctx *ctx, const struct cli_args *a, json_t *body, json_t *disks)
{
        _cleanup_(json_decrefp) json_t *cpu = json_object();
        const char *v;
        json_t *d;
        size_t i;
        int64_t n;
        bool pct;
        int r;

        if ((v = cli_args_get(a, "cpu-shares"))) {
                if (strcmp(v, "low") == 0)
                        n = 500;
                else if (strcmp(v, "normal") == 0)
                        n = DV_QOS_SHARES_DEFAULT;
                else if (strcmp(v, "high") == 0)
                        n = 2000;
                else if (dv_parse_int64(v, DV_QOS_SHARES_MIN, DV_QOS_SHARES_MAX, &n) < 0)
                        return cli_usage(ctx, "--cpu-shares: expected %d..%d, low, normal or high, got '%s'",
                                         DV_QOS_SHARES_MIN, DV_QOS_SHARES_MAX, v);
                json_object_set_new(cpu, "shares", json_integer(n));
        }
        if ((v = cli_args_get(a, "cpu-limit"))) {
                if (parse_limit(v, &n, &pct) < 0)
                        return cli_usage(ctx, "--cpu-limit: expected MHz (0..%d), a percent of one "
                                              "core (1%%..%d%%) or none, got '%s'",
                                         DV_QOS_MHZ_MAX, DV_QOS_LIMIT_PCT_MAX, v);
                /* One unit replaces the other (the manager clears it). */
                json_object_set_new(cpu, pct ? "limit_pct" : "limit_mhz", json_integer(n));
        }
        if ((v = cli_args_get(a, "cpu-reservation"))) {
                if (strcmp(v, "none") == 0)
                        n = 0;
                else if (parse_limit(v, &n, &pct) < 0 || pct)
                        return cli_usage(ctx, "--cpu-reservation: expected MHz (0..%d) or none, got '%s'",
                                         DV_QOS_MHZ_MAX, v);
                json_object_set_new(cpu, "reservation_mhz", json_integer(n));
        }
        if ((v = cli_args_get(a, "cpu-affinity"))) {
                struct dv_cpuset s;

                if (strcmp(v, "none") == 0)
                        json_object_set_new(cpu, "affinity", json_null());
                else if (dv_cpuset_parse(v, &s) < 0)
                        return cli_usage(ctx, "--cpu-affinity: expected a CPU list such as 0-3,8 or none, got '%s'", v);
                else
                        json_object_set_new(cpu, "affinity", json_string(v));
        }
        if (json_object_size(cpu) > 0)
                json_object_set(body, "cpu_qos", cpu);
        if (!disks)
                return 0;
        if ((cli_args_has(a, "iops-max") || cli_args_has(a, "bps-max")) &&
            json_array_size(disks) == 0)
                return cli_usage(ctx, "--iops-max and --bps-max need a --disk");
        json_array_foreach(disks, i, d) {
                r = disk_limits(ctx, a, d);
                if (r != 0)
                        return r;
        }
        return 0;
}

int cli_vm_qos_set_disks(struct cli_ctx *ctx, const struct cli_args *a, json_t *vm, json_t *body)
{
        _cleanup_(json_decrefp) json_t *out = json_array();
        const char *v;
        size_t it = 0, i;
        json_t *d;
        int r;

        if (!cli_args_has(a, "iops-max") && !cli_args_has(a, "bps-max")) {
                if (cli_args_has(a, "disk"))
                        return cli_usage(ctx, "--disk needs --iops-max or --bps-max");
                return 0;
        }
        while ((v = cli_args_next(a, "disk", &it))) {
                d = json_pack("{s:s}", "name", v);
                json_array_append_new(out, d);
        }
        if (json_array_size(out) == 0)
                json_array_foreach(json_object_get(vm, "disks"), i, d)
                        json_array_append_new(out, json_pack("{s:O}", "name", json_object_get(d, "name")));
        if (json_array_size(out) == 0)
                return cli_usage(ctx, "vm has no disks for --iops-max/--bps-max");
        json_array_foreach(out, i, d) {
                r = disk_limits(ctx, a, d);
                if (r != 0)
                        return r;
        }
        json_object_set(body, "disks", out);
        return 0;
}

void cli_vm_qos_print(struct cli_table *t, json_t *vm)
{
        json_t *q = json_object_get(vm, "cpu_qos"), *d;
        json_int_t mhz = json_integer_value(json_object_get(q, "limit_mhz"));
        json_int_t pct = json_integer_value(json_object_get(q, "limit_pct"));
        json_int_t res = json_integer_value(json_object_get(q, "reservation_mhz"));
        const char *aff = json_string_value(json_object_get(q, "affinity"));
        char limit[64], rsv[64], iops[32], bps[32];
        size_t i;

        if (json_is_object(q)) {
                if (mhz > 0)
                        snprintf(limit, sizeof(limit), "%" JSON_INTEGER_FORMAT " MHz", mhz);
                else if (pct > 0)
                        snprintf(limit, sizeof(limit), "%" JSON_INTEGER_FORMAT "%% of a core", pct);
                else
                        snprintf(limit, sizeof(limit), "none");
                if (res > 0)
                        snprintf(rsv, sizeof(rsv), "%" JSON_INTEGER_FORMAT " MHz", res);
                else
                        snprintf(rsv, sizeof(rsv), "none");
                cli_table_kv(t, "cpu qos",
                             "shares %" JSON_INTEGER_FORMAT ", limit %s, reservation %s, affinity %s",
                             json_integer_value(json_object_get(q, "shares")), limit, rsv,
                             aff ? aff : "all CPUs");
        }
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                json_int_t io = json_integer_value(json_object_get(d, "iops_max"));
                json_int_t b = json_integer_value(json_object_get(d, "bps_max"));

                if (io <= 0 && b <= 0)
                        continue;
                snprintf(iops, sizeof(iops), io > 0 ? "%" JSON_INTEGER_FORMAT : "unlimited", io);
                snprintf(bps, sizeof(bps), b > 0 ? "%" JSON_INTEGER_FORMAT : "unlimited", b);
                cli_table_kv(t, "disk limits", "%s  iops %s, bytes/s %s",
                             json_string_value(json_object_get(d, "name")) ?: "-", iops, bps);
        }
}
