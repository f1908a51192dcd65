/* drover portgroup create|list|show|delete|set */
#include "cli.h"

#include <string.h>

static const struct cli_column pg_columns[] = {
        { "NAME", "name", NULL },
        { "DVS", "dvs", NULL },
        { "VLAN", "vlan", NULL },
        { "SUBNET", "subnet", NULL },
        { "GATEWAY", "gateway", NULL },
        { NULL },
};

/* "AVG[:PEAK[:BURST]]" in kbit/s (and KiB) or "none" into *ret (JSON
 * null for none). */
static int parse_shape(struct cli_ctx *ctx, const char *opt, const char *v, json_t **ret)
{
        long long avg = 0, peak = 0, burst = 0;
        char extra;
        int n;

        if (strcmp(v, "none") == 0) {
                *ret = json_null();
                return 0;
        }
        n = sscanf(v, "%lld:%lld:%lld%c", &avg, &peak, &burst, &extra);
        if (n < 1 || n > 3 || avg <= 0 || (n >= 2 && peak <= 0) || (n == 3 && burst <= 0))
                return cli_usage(ctx, "--%s: expected AVG[:PEAK[:BURST]] (kbit/s, kbit/s, KiB) "
                                      "or none, got '%s'", opt, v);
        *ret = json_pack("{s:I}", "average_kbps", (json_int_t)avg);
        if (n >= 2)
                json_object_set_new(*ret, "peak_kbps", json_integer(peak));
        if (n == 3)
                json_object_set_new(*ret, "burst_kb", json_integer(burst));
        return 0;
}

/* "shaping" from --shape-in / --shape-out / --shape (both) into body. */
static int shaping_body(struct cli_ctx *ctx, const struct cli_args *a, json_t *body)
{
        static const char *const opts[][2] = { { "shape", NULL }, { "shape-in", "ingress" },
                                               { "shape-out", "egress" } };
        json_t *sh = json_object();
        int r = 0;

        for (size_t i = 0; i < 3 && r == 0; i++) {
                const char *v = cli_args_get(a, opts[i][0]);
                json_t *one = NULL;

                if (!v)
                        continue;
                r = parse_shape(ctx, opts[i][0], v, &one);
                if (r != 0)
                        break;
                if (!opts[i][1]) {
                        json_object_set(sh, "ingress", one);
                        json_object_set(sh, "egress", one);
                } else {
                        json_object_set(sh, opts[i][1], one);
                }
                json_decref(one);
        }
        if (r == 0 && json_object_size(sh) > 0)
                json_object_set(body, "shaping", sh);
        json_decref(sh);
        return r;
}

static void shape_line(struct cli_table *t, const char *key, json_t *s)
{
        if (!json_is_object(s)) {
                cli_table_kv(t, key, "not shaped");
                return;
        }
        cli_table_kv(t, key, "average %" JSON_INTEGER_FORMAT " kbit/s, peak %" JSON_INTEGER_FORMAT
                     " kbit/s, burst %" JSON_INTEGER_FORMAT " KiB",
                     json_integer_value(json_object_get(s, "average_kbps")),
                     json_integer_value(json_object_get(s, "peak_kbps")),
                     json_integer_value(json_object_get(s, "burst_kb")));
}

static void pg_print(json_t *pg)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        json_int_t vlan = json_integer_value(json_object_get(pg, "vlan"));

        cli_table_kvj(t, "name", pg, "name", NULL);
        cli_table_kvj(t, "id", pg, "id", NULL);
        cli_table_kvj(t, "dvs", pg, "dvs", NULL);
        if (vlan == 0)
                cli_table_kv(t, "vlan", "0 (untagged)");
        else
                cli_table_kvj(t, "vlan", pg, "vlan", NULL);
        cli_table_kvj(t, "subnet", pg, "subnet", NULL);
        cli_table_kvj(t, "gateway", pg, "gateway", NULL);
        shape_line(t, "shaping in", json_object_get(json_object_get(pg, "shaping"), "ingress"));
        shape_line(t, "shaping out", json_object_get(json_object_get(pg, "shaping"), "egress"));
        cli_table_kvj(t, "created", pg, "created_at", NULL);
        cli_table_print(t, stdout);
}

static int pg_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "portgroups", "portgroups", pg_columns);
}

static int pg_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "portgroup", "portgroups", a->pos[0], pg_print);
}

static int pg_create(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        const char *dvs = cli_args_get(a, "dvs"), *subnet = cli_args_get(a, "subnet");
        const char *gw = cli_args_get(a, "gateway");
        int64_t vlan = -1;
        char why[160];
        int r;

        r = cli_check_name(ctx, "portgroup", a->pos[0]);
        if (r == 0 && !dvs)
                r = cli_usage(ctx, "--dvs D is required");
        if (r == 0)
                r = cli_check_name(ctx, "dvs", dvs);
        if (r == 0 && !cli_args_get(a, "vlan"))
                r = cli_usage(ctx, "--vlan V is required (0 = untagged)");
        if (r == 0)
                r = cli_opt_number(ctx, a, "vlan", 0, 4094, &vlan);
        if (r == 0 && subnet && cli_parse_subnet(subnet, why, sizeof(why)) < 0)
                r = cli_usage(ctx, "--subnet: %s", why);
        if (r == 0 && gw && cli_parse_ipv4(gw, why, sizeof(why)) < 0)
                r = cli_usage(ctx, "--gateway: %s", why);
        if (r == 0 && gw && !subnet)
                r = cli_usage(ctx, "--gateway needs --subnet");
        if (r != 0)
                return r;
        body = json_pack("{s:s,s:s,s:I,s:s?,s:s?}", "name", a->pos[0], "dvs", dvs, "vlan",
                         (json_int_t)vlan, "subnet", subnet, "gateway", gw);
        r = shaping_body(ctx, a, body);
        if (r != 0)
                return r;
        r = cli_api(ctx, "POST", body, &reply, "portgroups");
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                printf("created portgroup %s on dvs %s (vlan %lld)\n", a->pos[0], dvs,
                       (long long)vlan);
        return 0;
}

static int pg_delete(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_delete_named(ctx, "portgroup", "portgroups", a->pos[0]);
}

static int pg_set(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        int64_t vlan = -1;
        int r;

        r = cli_check_name(ctx, "portgroup", a->pos[0]);
        body = json_object();
        if (r == 0 && !cli_args_get(a, "vlan") && !cli_args_get(a, "shape") &&
            !cli_args_get(a, "shape-in") && !cli_args_get(a, "shape-out"))
                r = cli_usage(ctx, "nothing to set: give --vlan V or --shape/--shape-in/--shape-out");
        if (r == 0 && cli_args_get(a, "vlan")) {
                r = cli_opt_number(ctx, a, "vlan", 0, 4094, &vlan);
                if (r == 0)
                        json_object_set_new(body, "vlan", json_integer(vlan));
        }
        if (r == 0)
                r = shaping_body(ctx, a, body);
        if (r != 0)
                return r;
        r = cli_api(ctx, "PATCH", body, &reply, "portgroups/%s", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                printf("portgroup %s is vlan %lld (%lld running ports %s)\n", a->pos[0],
                       (long long)json_integer_value(json_object_get(reply, "vlan")),
                       (long long)json_integer_value(json_object_get(reply, "retagged")),
                       json_object_get(body, "shaping") ? "updated" : "retagged");
        return 0;
}

static const struct cli_opt create_opts[] = {
        { "dvs", 0, "DVS", "the distributed virtual switch (required)" },
        { "vlan", 0, "V", "VLAN id 0..4094, 0 = untagged (required)" },
        { "subnet", 0, "CIDR", "IPv4 network of the port group, e.g. 10.0.100.0/24: VM addresses must lie in it" },
        { "gateway", 0, "IP", "the gateway inside the subnet; the default gateway of VM NICs" },
        { "shape", 0, "AVG[:PEAK[:BURST]]", "traffic shaping both ways: kbit/s, kbit/s, KiB" },
        { "shape-in", 0, "AVG[:PEAK[:BURST]]", "shaping of what the VMs send (ingress)" },
        { "shape-out", 0, "AVG[:PEAK[:BURST]]", "shaping of what the VMs receive (egress)" },
        { NULL },
};

static const struct cli_opt set_opts[] = {
        { "vlan", 0, "V", "the new VLAN id 0..4094; running VMs' ports are retagged at once" },
        { "shape", 0, "AVG[:PEAK[:BURST]]|none", "traffic shaping both ways, applied to running VMs at once" },
        { "shape-in", 0, "AVG[:PEAK[:BURST]]|none", "shaping of what the VMs send (ingress)" },
        { "shape-out", 0, "AVG[:PEAK[:BURST]]|none", "shaping of what the VMs receive (egress)" },
        { NULL },
};

static const struct cli_verb pg_verbs[] = {
        { .name = "create", .args = "NAME", .min_args = 1, .max_args = 1,
          .summary = "create a port group (--dvs D --vlan V [--subnet CIDR --gateway IP])",
          .opts = create_opts, .run = pg_create },
        { .name = "list", .summary = "list port groups", .run = pg_list },
        { .name = "show", .args = "PORTGROUP", .min_args = 1, .max_args = 1,
          .summary = "show a port group", .run = pg_show },
        { .name = "delete", .args = "PORTGROUP", .min_args = 1, .max_args = 1,
          .summary = "delete a port group no VM NIC uses", .run = pg_delete },
        { .name = "set", .args = "PORTGROUP", .min_args = 1, .max_args = 1,
          .summary = "change a port group's VLAN (--vlan V)", .opts = set_opts, .run = pg_set },
};

const struct cli_noun cli_noun_portgroup = {
        .name = "portgroup",
        .summary = "port groups: a VLAN on a dvs that VM NICs attach to",
        .verbs = pg_verbs,
        .n_verbs = ELEMENTSOF(pg_verbs),
};
