/* drover dvs create|list|show|delete|add-host|remove-host|health|set */
#include "cli.h"

#include <string.h>

/* "host1 (up-h1), host2 (up-h2)" */
static const char *fmt_hosts(json_t *d, char *buf, size_t len)
{
        json_t *h;
        size_t i, n = 0;

        buf[0] = 0;
        json_array_foreach(json_object_get(d, "hosts"), i, h) {
                int k = snprintf(buf + n, len - n, "%s%s (%s)", i ? ", " : "",
                                 json_string_value(json_object_get(h, "host")) ?: "?",
                                 json_string_value(json_object_get(h, "uplink")) ?: "?");
                if (k < 0 || (size_t)k >= len - n)
                        break;
                n += (size_t)k;
        }
        return buf[0] ? buf : NULL;
}

static const char *fmt_portgroups(json_t *d, char *buf, size_t len)
{
        cli_join_strings(json_object_get(d, "portgroups"), buf, len);
        return buf[0] ? buf : NULL;
}

static const struct cli_column dvs_columns[] = {
        { "NAME", "name", NULL },
        { "BRIDGE", "bridge", NULL },
        { "HOSTS", NULL, fmt_hosts },
        { "PORTGROUPS", NULL, fmt_portgroups },
        { NULL },
};

static void dvs_print(json_t *d)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        char buf[1024];
        json_t *h;
        size_t i;

        cli_table_kvj(t, "name", d, "name", NULL);
        cli_table_kvj(t, "id", d, "id", NULL);
        cli_table_kvj(t, "bridge", d, "bridge", NULL);
        if (json_array_size(json_object_get(d, "hosts")) == 0)
                cli_table_kv(t, "hosts", "-");
        json_array_foreach(json_object_get(d, "hosts"), i, h)
                cli_table_kv(t, i == 0 ? "hosts" : "", "%s  uplink %s",
                             json_string_value(json_object_get(h, "host")) ?: "?",
                             json_string_value(json_object_get(h, "uplink")) ?: "?");
        cli_table_kv(t, "portgroups", "%s", fmt_portgroups(d, buf, sizeof(buf)) ?: "-");
        if (json_integer_value(json_object_get(d, "health_interval_s")) > 0)
                cli_table_kv(t, "health check", "every %lld s",
                             (long long)json_integer_value(json_object_get(d, "health_interval_s")));
        else
                cli_table_kv(t, "health check", "on demand (drover dvs health)");
        if (json_object_get(d, "health"))
                cli_table_kv(t, "last health", "%s at %s (%lld problems)",
                             json_is_true(cli_jpath(d, "health.ok")) ? "healthy" : "PROBLEMS",
                             json_string_value(cli_jpath(d, "health.checked_at")) ?: "?",
                             (long long)json_integer_value(cli_jpath(d, "health.problems")));
        cli_table_kvj(t, "created", d, "created_at", NULL);
        cli_table_print(t, stdout);
}

static int dvs_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "dvs", "dvs", dvs_columns);
}

static int dvs_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "dvs", "dvs", a->pos[0], dvs_print);
}

/* Print the object the manager answered (-o json) or a line. */
static int done(struct cli_ctx *ctx, json_t *reply, const char *fmt, ...) _printf_(3, 4);
static int done(struct cli_ctx *ctx, json_t *reply, const char *fmt, ...)
{
        va_list ap;

        if (ctx->json) {
                cli_print_json(ctx, reply);
                return 0;
        }
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        return 0;
}

static int dvs_create(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        int r;

        r = cli_check_name(ctx, "dvs", a->pos[0]);
        if (r != 0)
                return r;
        body = json_pack("{s:s}", "name", a->pos[0]);
        r = cli_api(ctx, "POST", body, &reply, "dvs");
        if (r != 0)
                return r;
        return done(ctx, reply, "created dvs %s (bridge %s)", a->pos[0],
                    json_string_value(json_object_get(reply, "bridge")) ?: "?");
}

static int dvs_delete(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_delete_named(ctx, "dvs", "dvs", a->pos[0]);
}

static int dvs_add_host(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        const char *uplink = cli_args_get(a, "uplink");
        char why[160];
        int r;

        r = cli_check_name(ctx, "dvs", a->pos[0]);
        if (r == 0)
                r = cli_check_name(ctx, "host", a->pos[1]);
        if (r != 0)
                return r;
        if (uplink && cli_parse_ifname(uplink, why, sizeof(why)) < 0)
                return cli_usage(ctx, "--uplink: %s", why);
        body = json_pack("{s:s,s:s?}", "host", a->pos[1], "uplink", uplink);
        r = cli_api(ctx, "POST", body, &reply, "dvs/%s/hosts", a->pos[0]);
        if (r != 0)
                return r;
        if (!uplink) {
                json_t *h;
                size_t i;

                json_array_foreach(json_object_get(reply, "hosts"), i, h)
                        if (dv_streq(json_string_value(json_object_get(h, "host")), a->pos[1]))
                                uplink = json_string_value(json_object_get(h, "uplink"));
        }
        return done(ctx, reply, "host %s joined dvs %s (uplink %s)", a->pos[1], a->pos[0],
                    uplink ?: "?");
}

static int dvs_remove_host(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = cli_check_name(ctx, "dvs", a->pos[0]);
        if (r == 0)
                r = cli_check_name(ctx, "host", a->pos[1]);
        if (r == 0)
                r = cli_api(ctx, "DELETE", NULL, &reply, "dvs/%s/hosts/%s", a->pos[0], a->pos[1]);
        if (r != 0)
                return r;
        return done(ctx, reply, "host %s left dvs %s", a->pos[1], a->pos[0]);
}

static void health_print(json_t *h)
{
        static const char *const heads[] = { "HOST", "UPLINK", "VLAN", "STATUS", "PEERS",
                                             "MISSING" };
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(6, heads);
        json_t *host, *v, *p, *nets = json_object_get(h, "networks");
        size_t i, k;
        char peers[512], missing[512];

        printf("dvs %s, checked %s: %s\n", json_string_value(json_object_get(h, "dvs")) ?: "?",
               json_string_value(json_object_get(h, "checked_at")) ?: "?",
               json_is_true(json_object_get(h, "ok")) ? "healthy" : "PROBLEMS");
        json_array_foreach(json_object_get(h, "hosts"), i, host) {
                json_array_foreach(json_object_get(host, "vlans"), k, v) {
                        cli_table_add(t, "%s", json_string_value(json_object_get(host, "host")));
                        cli_table_add(t, "%s", json_string_value(json_object_get(host, "uplink")));
                        cli_table_add(t, "%lld",
                                      (long long)json_integer_value(json_object_get(v, "vlan")));
                        cli_table_add(t, "%s", json_string_value(json_object_get(v, "status")));
                        cli_table_add(t, "%s", cli_join_strings(json_object_get(v, "peers"), peers,
                                                                sizeof(peers)));
                        cli_table_add(t, "%s", cli_join_strings(json_object_get(v, "missing"),
                                                                missing, sizeof(missing)));
                }
        }
        cli_table_print(t, stdout);
        if (json_array_size(nets) > 1)
                json_array_foreach(nets, i, v)
                        printf("network %zu: %s\n", i + 1,
                               cli_join_strings(v, peers, sizeof(peers)));
        json_array_foreach(json_object_get(h, "problems"), i, p) {
                const char *who = json_string_value(json_object_get(p, "host")) ?: "dvs";
                const char *why = json_string_value(json_object_get(p, "reason")) ?: "?";

                if (json_object_get(p, "vlan"))
                        printf("problem: %s VLAN %lld: %s\n", who,
                               (long long)json_integer_value(json_object_get(p, "vlan")), why);
                else
                        printf("problem: %s: %s\n", who, why);
        }
}

static int dvs_health(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = cli_check_name(ctx, "dvs", a->pos[0]);
        if (r != 0)
                return r;
        r = cli_api(ctx, cli_args_has(a, "last") ? "GET" : "POST", NULL, &reply, "dvs/%s/health",
                    a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                health_print(reply);
        return json_is_true(json_object_get(reply, "ok")) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int dvs_set(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        int64_t every = 0;
        int r;

        r = cli_check_name(ctx, "dvs", a->pos[0]);
        if (r != 0)
                return r;
        if (!cli_args_has(a, "health-interval"))
                return cli_usage(ctx, "nothing to set: give --health-interval S");
        r = cli_opt_number(ctx, a, "health-interval", 0, 86400, &every);
        if (r != 0)
                return r;
        body = json_pack("{s:I}", "health_interval_s", (json_int_t)every);
        r = cli_api(ctx, "PATCH", body, &reply, "dvs/%s", a->pos[0]);
        if (r != 0)
                return r;
        if (every)
                return done(ctx, reply, "dvs %s: health check every %lld s", a->pos[0],
                            (long long)every);
        return done(ctx, reply, "dvs %s: periodic health check off", a->pos[0]);
}

static const struct cli_opt set_opts[] = {
        { "health-interval", 0, "S", "run the health check every S seconds (10..86400; 0: only on demand)" },
        { NULL },
};

static const struct cli_opt health_opts[] = {
        { "last", 0, NULL, "show the result kept from the last check instead of running one" },
        { NULL },
};

static const struct cli_opt add_host_opts[] = {
        { "uplink", 0, "IFACE", "the host's NIC to the TOR switch, a trunk (default: the one the host's agent reports)" },
        { NULL },
};

static const struct cli_verb dvs_verbs[] = {
        { .name = "create", .args = "NAME", .min_args = 1, .max_args = 1,
          .summary = "create a distributed virtual switch", .run = dvs_create },
        { .name = "list", .summary = "list distributed virtual switches", .run = dvs_list },
        { .name = "show", .args = "DVS", .min_args = 1, .max_args = 1,
          .summary = "show a dvs: its bridge, hosts and uplinks, port groups", .run = dvs_show },
        { .name = "delete", .args = "DVS", .min_args = 1, .max_args = 1,
          .summary = "delete a dvs without port groups (its bridges go from every host)",
          .run = dvs_delete },
        { .name = "add-host", .args = "DVS HOST", .min_args = 2, .max_args = 2,
          .summary = "span the dvs to a host: its bridge there, the uplink as a trunk",
          .opts = add_host_opts, .run = dvs_add_host },
        { .name = "health", .args = "DVS", .min_args = 1, .max_args = 1,
          .summary = "check which VLANs reach which hosts through their uplinks and TOR ports, "
                     "and MTU mismatches (exit 1 on a problem)",
          .opts = health_opts, .run = dvs_health },
        { .name = "set", .args = "DVS", .min_args = 1, .max_args = 1,
          .summary = "change a dvs's settings (the periodic health check)", .opts = set_opts,
          .run = dvs_set },
        { .name = "remove-host", .args = "DVS HOST", .min_args = 2, .max_args = 2,
          .summary = "take a host off the dvs (refused while VMs there use it)",
          .run = dvs_remove_host },
};

const struct cli_noun cli_noun_dvs = {
        .name = "dvs",
        .summary = "distributed virtual switches (an OVS bridge on each host)",
        .verbs = dvs_verbs,
        .n_verbs = ELEMENTSOF(dvs_verbs),
};
