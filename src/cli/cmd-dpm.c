/* drover dpm recommendations|run|apply: DPM (docs/drs.md, "DPM"). */
#include "cli.h"

#include <string.h>

static double num(json_t *o, const char *key)
{
        return json_number_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

static void report_print(json_t *r)
{
        json_t *h, *rec = json_object_get(r, "recommendation"), *op = json_object_get(r, "operation");
        size_t i;

        printf("cluster %s: DPM %s, utilisation %lld..%lld%%; pass at %s\n", str(r, "cluster") ?: "?",
               str(r, "mode") ?: "?", (long long)json_integer_value(json_object_get(r, "low_pct")),
               (long long)json_integer_value(json_object_get(r, "high_pct")),
               str(r, "passed_at") ?: "-");
        if (json_is_number(json_object_get(r, "util_pct")))
                printf("utilisation %.1f%% (cpu %.1f%%, memory %.1f%%) of %lld powered-on host(s)%s\n",
                       num(r, "util_pct"), num(r, "cpu_util_pct"), num(r, "memory_util_pct"),
                       (long long)json_integer_value(json_object_get(r, "hosts_on")),
                       json_is_true(json_object_get(r, "ha_short"))
                               ? "; HA admission control is short of capacity" : "");
        json_array_foreach(json_object_get(r, "hosts"), i, h)
                printf("  host %-12s %-8s cpu %5.1f%%  memory %5.1f%%%s\n", str(h, "name") ?: "?",
                       str(h, "power") ?: "?", num(h, "cpu_load_pct"), num(h, "memory_load_pct"),
                       json_is_true(json_object_get(h, "bmc")) ? "" : "  (no BMC)");
        printf("%s\n", str(r, "reason") ?: "");
        if (str(r, "skipped") && *str(r, "skipped"))
                printf("  not powered off: %s\n", str(r, "skipped"));
        if (json_is_object(rec))
                printf("%s  %s host %s  %s%s%s\n", str(rec, "id") ?: "?", str(rec, "action") ?: "?",
                       str(rec, "host") ?: "?", str(rec, "state") ?: "?",
                       str(rec, "error") ? ": " : "", str(rec, "error") ?: "");
        if (json_is_object(op))
                printf("in progress: %s host %s (%s)\n", str(op, "action") ?: "?",
                       str(op, "host") ?: "?", str(op, "phase") ?: "?");
}

static int dpm_report(struct cli_ctx *ctx, const struct cli_args *a, bool run)
{
        _cleanup_(json_decrefp) json_t *reply = NULL, *body = json_object();
        int r;

        r = cli_check_name(ctx, "cluster", a->pos[0]);
        if (r == 0)
                r = run ? cli_api(ctx, "POST", body, &reply, "clusters/%s/dpm/run", a->pos[0])
                        : cli_api(ctx, "GET", NULL, &reply, "clusters/%s/dpm/recommendations",
                                  a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                report_print(reply);
        return 0;
}

static int dpm_recommendations(struct cli_ctx *ctx, const struct cli_args *a)
{
        return dpm_report(ctx, a, false);
}

static int dpm_run(struct cli_ctx *ctx, const struct cli_args *a)
{
        return dpm_report(ctx, a, true);
}

static int dpm_apply(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL, *body = json_object();
        int r;

        r = cli_check_name(ctx, "recommendation", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "POST", body, &reply, "dpm/recommendations/%s/apply", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                printf("%s: %s host %s started (watch it with drover dpm recommendations C or "
                       "drover host show %s)\n", a->pos[0], str(reply, "action") ?: "?",
                       str(reply, "host") ?: "?", str(reply, "host") ?: "?");
        return 0;
}

static const struct cli_verb dpm_verbs[] = {
        { .name = "recommendations", .args = "CLUSTER", .min_args = 1, .max_args = 1,
          .summary = "the last DPM pass: utilisation, hosts, the recommended power action and why",
          .run = dpm_recommendations },
        { .name = "run", .args = "CLUSTER", .min_args = 1, .max_args = 1,
          .summary = "run a DPM pass now (automatic mode then acts)", .run = dpm_run },
        { .name = "apply", .args = "ID", .min_args = 1, .max_args = 1,
          .summary = "carry out a recommendation (empty + power off, or power on)",
          .run = dpm_apply },
};

const struct cli_noun cli_noun_dpm = {
        .name = "dpm",
        .summary = "DPM: power hosts off when load is low and on when it rises (through their BMCs)",
        .verbs = dpm_verbs,
        .n_verbs = ELEMENTSOF(dpm_verbs),
};
