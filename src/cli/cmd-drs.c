/* drover drs recommendations|run|apply|rule: DRS (docs/drs.md). */
#include "cli.h"

#include <string.h>

static double num(json_t *o, const char *key)
{
        return json_number_value(json_object_get(o, key));
}

static void report_print(json_t *r)
{
        json_t *rec, *h;
        size_t i;
        const char *note = json_string_value(json_object_get(r, "note"));
        const char *viol = json_string_value(json_object_get(r, "violations"));

        printf("cluster %s: DRS %s, threshold %lld; pass at %s\n",
               json_string_value(json_object_get(r, "cluster")) ?: "?",
               json_string_value(json_object_get(r, "mode")) ?: "?",
               (long long)json_integer_value(json_object_get(r, "threshold")),
               json_string_value(json_object_get(r, "passed_at")) ?: "-");
        if (json_is_number(json_object_get(r, "imbalance")))
                printf("imbalance %.3f (target %.3f; %.3f after the moves), above the target "
                       "for %lld of %lld pass(es)\n",
                       num(r, "imbalance"), num(r, "target"), num(r, "imbalance_after"),
                       (long long)json_integer_value(json_object_get(r, "persisted")),
                       (long long)json_integer_value(json_object_get(r, "persist_passes")));
        json_array_foreach(json_object_get(r, "hosts"), i, h)
                printf("  host %-12s cpu %5.1f%% -> %5.1f%%  memory %5.1f%% -> %5.1f%%%s\n",
                       json_string_value(json_object_get(h, "name")) ?: "?",
                       num(h, "cpu_load_pct"), num(h, "cpu_load_after_pct"),
                       num(h, "memory_load_pct"), num(h, "memory_load_after_pct"),
                       json_is_true(json_object_get(h, "usable")) ? "" : "  (takes no VMs)");
        if (json_array_size(json_object_get(r, "recommendations")) == 0)
                printf("no recommendations%s%s\n", note && *note ? ": " : "", note ?: "");
        json_array_foreach(json_object_get(r, "recommendations"), i, rec) {
                const char *task = json_string_value(json_object_get(rec, "task"));

                printf("%s  vm %s  %s -> %s  %s%s%s  imbalance %.3f -> %.3f (gain %.3f)  "
                       "copy %lld MiB  %s%s%s\n",
                       json_string_value(json_object_get(rec, "id")) ?: "?",
                       json_string_value(json_object_get(rec, "vm")) ?: "?",
                       json_string_value(json_object_get(rec, "from")) ?: "?",
                       json_string_value(json_object_get(rec, "to")) ?: "?",
                       json_string_value(json_object_get(rec, "why")) ?: "?",
                       json_string_value(json_object_get(rec, "rule")) ? " " : "",
                       json_string_value(json_object_get(rec, "rule")) ?: "",
                       num(rec, "imbalance_before"), num(rec, "imbalance_after"),
                       num(rec, "gain"),
                       (long long)json_integer_value(json_object_get(rec, "cost_mib")),
                       json_string_value(json_object_get(rec, "state")) ?: "?",
                       task ? " task " : "", task ?: "");
                printf("    %s\n", json_string_value(json_object_get(rec, "reason")) ?: "");
        }
        if (viol && *viol)
                printf("rules left broken: %s\n", viol);
}

static int drs_recommendations(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = cli_check_name(ctx, "cluster", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "GET", NULL, &reply, "clusters/%s/drs/recommendations",
                            a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                report_print(reply);
        return 0;
}

static int drs_run(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL, *body = json_object();
        int r;

        r = cli_check_name(ctx, "cluster", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "POST", body, &reply, "clusters/%s/drs/run", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                report_print(reply);
        return 0;
}

static int drs_apply(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL, *body = json_object();
        struct cli_wait w;
        int r;

        r = cli_check_name(ctx, "recommendation", a->pos[0]);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r == 0)
                r = cli_api(ctx, "POST", body, &reply, "drs/recommendations/%s/apply",
                            a->pos[0]);
        if (r != 0)
                return r;
        return cli_task_finish(ctx, reply, &w, "migrated", NULL);
}

/* "a,b,c" -> ["a","b","c"] */
static json_t *split_names(const char *s)
{
        json_t *out = json_array();
        const char *p = s;

        while (p && *p) {
                const char *c = strchr(p, ',');
                size_t n = c ? (size_t)(c - p) : strlen(p);

                if (n > 0)
                        json_array_append_new(out, json_stringn(p, n));
                p = c ? c + 1 : NULL;
        }
        return out;
}

static int drs_rule(struct cli_ctx *ctx, const struct cli_args *a)
{
        static const char *const kinds[][2] = {
                { "affinity", "affinity" },
                { "anti-affinity", "anti-affinity" },
                { "host-must", "host-must" },
                { "host-should", "host-should" },
        };
        _cleanup_(json_decrefp) json_t *reply = NULL, *body = NULL;
        const char *verb = a->pos[0], *cluster = a->pos[1];
        const char *name = a->n_pos > 2 ? a->pos[2] : NULL, *kind = NULL, *vms = NULL;
        const char *hosts = cli_args_get(a, "hosts");
        json_t *rule;
        size_t i;
        int r;

        r = cli_check_name(ctx, "cluster", cluster);
        if (r != 0)
                return r;
        if (strcmp(verb, "list") == 0) {
                r = cli_api(ctx, "GET", NULL, &reply, "clusters/%s/drs/rules", cluster);
                if (r != 0)
                        return r;
                if (ctx->json) {
                        cli_print_json(ctx, reply);
                        return 0;
                }
                json_array_foreach(json_object_get(reply, "rules"), i, rule) {
                        _cleanup_(freep) char *v = json_dumps(json_object_get(rule, "vms"), JSON_COMPACT);
                        _cleanup_(freep) char *h = json_object_get(rule, "hosts")
                                ? json_dumps(json_object_get(rule, "hosts"), JSON_COMPACT) : NULL;

                        printf("%-16s %-14s vms %s%s%s\n",
                               json_string_value(json_object_get(rule, "name")) ?: "?",
                               json_string_value(json_object_get(rule, "kind")) ?: "?", v,
                               h ? " hosts " : "", h ?: "");
                }
                return 0;
        }
        if (!name)
                return cli_usage(ctx, "drs rule %s: give CLUSTER NAME", verb);
        if (strcmp(verb, "delete") == 0) {
                r = cli_api(ctx, "DELETE", NULL, &reply, "clusters/%s/drs/rules/%s", cluster,
                            name);
                if (r != 0)
                        return r;
                if (ctx->json)
                        cli_print_json(ctx, reply);
                else
                        printf("deleted drs rule %s\n", name);
                return 0;
        }
        if (strcmp(verb, "add") != 0)
                return cli_usage(ctx, "drs rule: say add, delete or list, not '%s'", verb);
        for (i = 0; i < ELEMENTSOF(kinds); i++)
                if (cli_args_get(a, kinds[i][0])) {
                        if (kind)
                                return cli_usage(ctx, "give one of --affinity, --anti-affinity, "
                                                      "--host-must, --host-should");
                        kind = kinds[i][1];
                        vms = cli_args_get(a, kinds[i][0]);
                }
        if (!kind)
                return cli_usage(ctx, "drs rule add: give --affinity VMS, --anti-affinity VMS, "
                                      "--host-must VMS --hosts HOSTS or --host-should VMS "
                                      "--hosts HOSTS");
        if (dv_startswith(kind, "host-") != !!hosts)
                return cli_usage(ctx, "--hosts HOSTS goes with --host-must and --host-should "
                                      "(and they need it)");
        body = json_pack("{s:s,s:s,s:o}", "name", name, "kind", kind, "vms", split_names(vms));
        if (hosts)
                json_object_set_new(body, "hosts", split_names(hosts));
        r = cli_api(ctx, "POST", body, &reply, "clusters/%s/drs/rules", cluster);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                printf("added drs rule %s (%s)\n", name, kind);
        return 0;
}

static const struct cli_opt rule_opts[] = {
        { "affinity", 0, "VM,VM,...", "keep these VMs on one host" },
        { "anti-affinity", 0, "VM,VM,...", "keep these VMs on different hosts" },
        { "host-must", 0, "VM,...", "these VMs must run on one of --hosts" },
        { "host-should", 0, "VM,...", "these VMs should run on one of --hosts (when balance allows)" },
        { "hosts", 0, "HOST,...", "the hosts of a --host-must or --host-should rule" },
        { NULL },
};

static const struct cli_verb drs_verbs[] = {
        { .name = "recommendations", .args = "CLUSTER", .min_args = 1, .max_args = 1,
          .summary = "the last DRS pass: imbalance, host loads, recommended migrations with "
                     "their reasons",
          .run = drs_recommendations },
        { .name = "run", .args = "CLUSTER", .min_args = 1, .max_args = 1,
          .summary = "run a DRS pass now (automatic mode then migrates)", .run = drs_run },
        { .name = "apply", .args = "ID", .min_args = 1, .max_args = 1,
          .summary = "carry out a recommendation (a live migration task)", .waits = true,
          .run = drs_apply },
        { .name = "rule", .args = "add|delete|list CLUSTER [NAME]", .min_args = 2,
          .max_args = 3,
          .summary = "DRS rules: VM-VM affinity / anti-affinity, VM-host must / should",
          .opts = rule_opts, .run = drs_rule },
};

const struct cli_noun cli_noun_drs = {
        .name = "drs",
        .summary = "DRS: load balancing by live migration, recommendations and rules",
        .verbs = drs_verbs,
        .n_verbs = ELEMENTSOF(drs_verbs),
};
