/* drover cluster list|show|set: the cluster's HA settings (one cluster,
 * "default", holding every host). */
#include "cli.h"

#include <string.h>

static const char *fmt_admission(json_t *c, char *buf, size_t len)
{
        json_t *ha = json_object_get(c, "ha");
        const char *a = json_string_value(json_object_get(ha, "admission"));

        if (dv_streq(a, "hosts"))
                snprintf(buf, len, "hosts:%lld",
                         (long long)json_integer_value(json_object_get(ha, "host_failures")));
        else if (dv_streq(a, "percent"))
                snprintf(buf, len, "percent:%lld",
                         (long long)json_integer_value(json_object_get(ha, "percent")));
        else
                snprintf(buf, len, "%s", a ? a : "-");
        return buf;
}

static const char *fmt_hosts(json_t *c, char *buf, size_t len)
{
        snprintf(buf, len, "%zu", json_array_size(json_object_get(c, "hosts")));
        return buf;
}

static const struct cli_column cluster_columns[] = {
        { "NAME", "name", NULL },
        { "HA", "ha.enabled", NULL },
        { "ISOLATION", "ha.isolation_response", NULL },
        { "ADMISSION", NULL, fmt_admission },
        { "HOSTS", NULL, fmt_hosts },
        { NULL },
};

static void cluster_print(json_t *c)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        json_t *ha = json_object_get(c, "ha"), *h;
        char buf[128];
        size_t i;

        cli_table_kvj(t, "name", c, "name", NULL);
        cli_table_kvj(t, "id", c, "id", NULL);
        cli_table_kvj(t, "ha", ha, "enabled", NULL);
        cli_table_kv(t, "memory overcommit", "%s",
                     json_is_true(json_object_get(c, "overcommit")) ? "on" : "off");
        cli_table_kvj(t, "isolation response", ha, "isolation_response", NULL);
        cli_table_kv(t, "admission", "%s", fmt_admission(c, buf, sizeof(buf)));
        cli_table_kvj(t, "restarts per hour", ha, "max_restarts_per_hour", NULL);
        cli_table_kvj(t, "net timeout", ha, "net_timeout_ms", "ms");
        cli_table_kvj(t, "datastore timeout", ha, "ds_timeout_ms", "ms");
        cli_table_kvj(t, "lease timeout", ha, "lease_timeout_ms", "ms");
        cli_table_kvj(t, "fence margin", ha, "fence_margin_ms", "ms");
        cli_table_kvj(t, "fence retry", ha, "fence_retry_ms", "ms");
        cli_table_kvj(t, "isolation delay", ha, "isolation_delay_ms", "ms");
        cli_table_kvj(t, "tools timeout", ha, "tools_timeout_ms", "ms");
        cli_table_kvj(t, "start timeout", ha, "start_timeout_ms", "ms");
        cli_table_kvj(t, "retry", ha, "retry_ms", "ms");
        {
                json_t *d = json_object_get(c, "drs"), *r;

                cli_table_kv(t, "drs", "%s, threshold %lld, every %lld s, %lld move(s) per pass, "
                             "%lld at once, after %lld pass(es)",
                             json_string_value(json_object_get(d, "mode")) ?: "off",
                             (long long)json_integer_value(json_object_get(d, "threshold")),
                             (long long)json_integer_value(json_object_get(d, "interval_s")),
                             (long long)json_integer_value(json_object_get(d, "max_moves")),
                             (long long)json_integer_value(json_object_get(d, "max_concurrent")),
                             (long long)json_integer_value(json_object_get(d, "persist_passes")));
                {
                        json_t *p = json_object_get(c, "dpm");

                        cli_table_kv(t, "dpm", "%s, utilisation %lld..%lld%%, after %lld pass(es), "
                                     "at least %lld host(s) on",
                                     json_string_value(json_object_get(p, "mode")) ?: "off",
                                     (long long)json_integer_value(json_object_get(p, "low_pct")),
                                     (long long)json_integer_value(json_object_get(p, "high_pct")),
                                     (long long)json_integer_value(json_object_get(p, "persist_passes")),
                                     (long long)json_integer_value(json_object_get(p, "min_hosts")));
                }
                json_array_foreach(json_object_get(d, "rules"), i, r)
                        cli_table_kv(t, i == 0 ? "drs rules" : "", "%s  %s",
                                     json_string_value(json_object_get(r, "name")) ?: "-",
                                     json_string_value(json_object_get(r, "kind")) ?: "-");
        }
        json_array_foreach(json_object_get(c, "hosts"), i, h)
                cli_table_kv(t, i == 0 ? "hosts" : "", "%s", json_string_value(h) ?: "-");
        cli_table_kvj(t, "created", c, "created_at", NULL);
        cli_table_print(t, stdout);
}

static int cluster_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "clusters", "clusters", cluster_columns);
}

static int cluster_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "cluster", "clusters", a->n_pos ? a->pos[0] : "default",
                        cluster_print);
}

/* --admission off | hosts[:N] | percent[:P] into ha. */
static int parse_admission(struct cli_ctx *ctx, const char *s, json_t *ha)
{
        const char *colon = strchr(s, ':');
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        int64_t v;
        char err[128];

        if (n == 3 && strncmp(s, "off", 3) == 0 && !colon) {
                json_object_set_new(ha, "admission", json_string("off"));
                return 0;
        }
        if (n == 5 && strncmp(s, "hosts", 5) == 0) {
                json_object_set_new(ha, "admission", json_string("hosts"));
                if (!colon)
                        return 0;
                if (cli_parse_number(colon + 1, 1, 64, &v, err, sizeof(err)) < 0)
                        return cli_usage(ctx, "--admission hosts:N: %s", err);
                json_object_set_new(ha, "host_failures", json_integer(v));
                return 0;
        }
        if (n == 7 && strncmp(s, "percent", 7) == 0) {
                json_object_set_new(ha, "admission", json_string("percent"));
                if (!colon)
                        return 0;
                if (cli_parse_number(colon + 1, 1, 100, &v, err, sizeof(err)) < 0)
                        return cli_usage(ctx, "--admission percent:P: %s", err);
                json_object_set_new(ha, "percent", json_integer(v));
                return 0;
        }
        return cli_usage(ctx, "--admission must be off, hosts[:N] or percent[:P], not '%s'", s);
}

static int cluster_set(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *ha = json_object(), *drs = json_object(), *body = NULL,
                                      *reply = NULL, *dpm = json_object();
        static const struct {
                const char *opt, *key;
                int64_t min, max;
        } drs_nums[] = {
                { "drs-threshold", "threshold", 1, 5 },
                { "drs-interval", "interval_s", 5, 86400 },
                { "drs-max-moves", "max_moves", 1, 64 },
                { "drs-max-concurrent", "max_concurrent", 1, 16 },
                { "drs-persist", "persist_passes", 1, 100 },
        }, dpm_nums[] = {
                { "dpm-low", "low_pct", 1, 99 },
                { "dpm-high", "high_pct", 2, 100 },
                { "dpm-persist", "persist_passes", 1, 100 },
                { "dpm-min-hosts", "min_hosts", 1, 100000 },
        };
        const char *mode = cli_args_get(a, "drs"), *pmode = cli_args_get(a, "dpm");
        const char *on = cli_args_get(a, "ha"), *iso = cli_args_get(a, "isolation-response");
        const char *adm = cli_args_get(a, "admission"), *over = cli_args_get(a, "overcommit");
        int64_t v = -1;
        int r;

        r = cli_check_name(ctx, "cluster", a->pos[0]);
        if (r == 0 && on) {
                if (strcmp(on, "on") == 0 || strcmp(on, "off") == 0)
                        json_object_set_new(ha, "enabled", json_boolean(strcmp(on, "on") == 0));
                else
                        r = cli_usage(ctx, "--ha must be on or off, not '%s'", on);
        }
        if (r == 0 && iso) {
                if (strcmp(iso, "leave-running") == 0 || strcmp(iso, "shutdown") == 0 ||
                    strcmp(iso, "power-off") == 0)
                        json_object_set_new(ha, "isolation_response", json_string(iso));
                else
                        r = cli_usage(ctx,
                                      "--isolation-response must be leave-running, shutdown or "
                                      "power-off, not '%s'", iso);
        }
        if (r == 0 && adm)
                r = parse_admission(ctx, adm, ha);
        if (r == 0 && cli_args_get(a, "max-restarts")) {
                r = cli_opt_number(ctx, a, "max-restarts", 0, 1000, &v);
                if (r == 0)
                        json_object_set_new(ha, "max_restarts_per_hour", json_integer(v));
        }
        if (r == 0 && over && strcmp(over, "on") != 0 && strcmp(over, "off") != 0)
                r = cli_usage(ctx, "--overcommit must be on or off, not '%s'", over);
        if (r == 0 && mode) {
                if (strcmp(mode, "off") == 0 || strcmp(mode, "manual") == 0 ||
                    strcmp(mode, "automatic") == 0)
                        json_object_set_new(drs, "mode", json_string(mode));
                else
                        r = cli_usage(ctx, "--drs must be off, manual or automatic, not '%s'",
                                      mode);
        }
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(drs_nums); i++)
                if (cli_args_get(a, drs_nums[i].opt)) {
                        r = cli_opt_number(ctx, a, drs_nums[i].opt, drs_nums[i].min,
                                           drs_nums[i].max, &v);
                        if (r == 0)
                                json_object_set_new(drs, drs_nums[i].key, json_integer(v));
                }
        if (r == 0 && pmode) {
                if (strcmp(pmode, "off") == 0 || strcmp(pmode, "manual") == 0 ||
                    strcmp(pmode, "automatic") == 0)
                        json_object_set_new(dpm, "mode", json_string(pmode));
                else
                        r = cli_usage(ctx, "--dpm must be off, manual or automatic, not '%s'",
                                      pmode);
        }
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(dpm_nums); i++)
                if (cli_args_get(a, dpm_nums[i].opt)) {
                        r = cli_opt_number(ctx, a, dpm_nums[i].opt, dpm_nums[i].min,
                                           dpm_nums[i].max, &v);
                        if (r == 0)
                                json_object_set_new(dpm, dpm_nums[i].key, json_integer(v));
                }
        if (r == 0 && json_object_size(ha) == 0 && json_object_size(drs) == 0 &&
            json_object_size(dpm) == 0 && !over)
                r = cli_usage(ctx, "nothing to set: give --ha, --isolation-response, --admission, "
                                   "--max-restarts, --drs, --drs-threshold, --dpm, --dpm-low or "
                                   "--overcommit");
        if (r != 0)
                return r;
        body = json_object();
        if (json_object_size(ha))
                json_object_set(body, "ha", ha);
        if (json_object_size(drs))
                json_object_set(body, "drs", drs);
        if (json_object_size(dpm))
                json_object_set(body, "dpm", dpm);
        if (over)
                json_object_set_new(body, "overcommit", json_boolean(strcmp(over, "on") == 0));
        r = cli_api(ctx, "PATCH", body, &reply, "clusters/%s", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json) {
                cli_print_json(ctx, reply);
        } else {
                json_t *h = json_object_get(reply, "ha"), *d = json_object_get(reply, "drs");
                char buf[64];

                if (json_object_size(drs))
                        printf("cluster %s: DRS %s, threshold %lld, every %lld s\n", a->pos[0],
                               json_string_value(json_object_get(d, "mode")) ?: "?",
                               (long long)json_integer_value(json_object_get(d, "threshold")),
                               (long long)json_integer_value(json_object_get(d, "interval_s")));
                if (json_object_size(dpm)) {
                        json_t *p = json_object_get(reply, "dpm");

                        printf("cluster %s: DPM %s, utilisation %lld..%lld%%, after %lld "
                               "pass(es), at least %lld host(s) on\n", a->pos[0],
                               json_string_value(json_object_get(p, "mode")) ?: "?",
                               (long long)json_integer_value(json_object_get(p, "low_pct")),
                               (long long)json_integer_value(json_object_get(p, "high_pct")),
                               (long long)json_integer_value(json_object_get(p, "persist_passes")),
                               (long long)json_integer_value(json_object_get(p, "min_hosts")));
                }
                if (json_object_size(ha) || over)
                        printf("cluster %s: HA %s, isolation response %s, admission %s, memory overcommit %s\n",
                       a->pos[0], json_is_true(json_object_get(h, "enabled")) ? "on" : "off",
                       json_string_value(json_object_get(h, "isolation_response")) ?: "-",
                       fmt_admission(reply, buf, sizeof(buf)),
                       json_is_true(json_object_get(reply, "overcommit")) ? "on" : "off");
        }
        return 0;
}

static const struct cli_opt set_opts[] = {
        { "ha", 0, "on|off", "HA for the cluster's VMs that have it on" },
        { "isolation-response", 0, "R",
          "what an isolated host does to its HA VMs: leave-running, shutdown or power-off" },
        { "admission", 0, "POLICY",
          "admission control: off, hosts[:N] (room for N failed hosts) or percent[:P]" },
        { "max-restarts", 0, "N", "restarts per hour of a VM after VM failures (0..1000)" },
        { "overcommit", 0, "on|off",
          "memory overcommit: KSM, ballooning and swap; admission counts memory reservations" },
        { "drs", 0, "MODE", "DRS: off, manual (recommend) or automatic (migrate)" },
        { "drs-threshold", 0, "N", "DRS migration threshold, 1 (rules only) .. 5 (aggressive)" },
        { "drs-interval", 0, "S", "seconds between DRS passes (5..86400)" },
        { "drs-max-moves", 0, "N", "DRS recommendations per pass (1..64)" },
        { "drs-max-concurrent", 0, "N", "DRS migrations at once (1..16)" },
        { "drs-persist", 0, "N", "passes an imbalance must last before DRS moves VMs (1..100)" },
        { "dpm", 0, "MODE", "DPM: off, manual (recommend) or automatic (power hosts off and on)" },
        { "dpm-low", 0, "PCT", "DPM: power a host off below this utilisation (1..99, default 30)" },
        { "dpm-high", 0, "PCT", "DPM: power a host on above this utilisation (2..100, default 70)" },
        { "dpm-persist", 0, "N", "DPM: passes a condition must last (1..100, default 3)" },
        { "dpm-min-hosts", 0, "N", "DPM: never fewer hosts powered on (default 1)" },
        { NULL },
};

static const struct cli_verb cluster_verbs[] = {
        { .name = "list", .summary = "list clusters", .run = cluster_list },
        { .name = "show", .args = "[CLUSTER]", .min_args = 0, .max_args = 1,
          .summary = "show a cluster and its HA settings (default: default)",
          .run = cluster_show },
        { .name = "set", .args = "CLUSTER", .min_args = 1, .max_args = 1,
          .summary = "change HA settings (--ha, --isolation-response, --admission, "
                     "--max-restarts), DRS settings (--drs, --drs-threshold, ...) and DPM "
                     "settings (--dpm, --dpm-low, --dpm-high, ...)",
          .opts = set_opts, .run = cluster_set },
};

const struct cli_noun cli_noun_cluster = {
        .name = "cluster",
        .summary = "clusters and their HA and DRS settings (one cluster, default, for now)",
        .verbs = cluster_verbs,
        .n_verbs = ELEMENTSOF(cluster_verbs),
};
