/* drover host list|show|set|maintenance */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *fmt_memory(json_t *h, char *buf, size_t len)
{
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " MiB",
                 json_integer_value(json_object_get(h, "memory_used_mib")),
                 json_integer_value(json_object_get(h, "memory_mib")));
        return buf;
}

static const char *fmt_cpu(json_t *h, char *buf, size_t len)
{
        snprintf(buf, len, "%.0f%% of %" JSON_INTEGER_FORMAT,
                 json_number_value(json_object_get(h, "cpu_usage_pct")),
                 json_integer_value(json_object_get(h, "cpus")));
        return buf;
}

static const struct cli_column host_columns[] = {
        { "NAME", "name", NULL },
        { "STATE", "state", NULL },
        { "CLUSTER", "cluster", NULL },
        { "CPU", NULL, fmt_cpu },
        { "MEMORY", NULL, fmt_memory },
        { "VMS", "vm_count", NULL },
        { "ACCEL", "accel", NULL },
        { "URL", "url", NULL },
        { NULL },
};

static int host_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "hosts", "hosts", host_columns);
}

static void host_print(json_t *h)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        char b1[256], b2[256], b3[256];
        json_t *ds;
        size_t i;

        cli_table_kvj(t, "name", h, "name", NULL);
        cli_table_kvj(t, "id", h, "id", NULL);
        cli_table_kvj(t, "state", h, "state", NULL);
        cli_table_kvj(t, "cluster", h, "cluster", NULL);
        cli_table_kvj(t, "hostname", h, "hostname", NULL);
        cli_table_kvj(t, "url", h, "url", NULL);
        cli_table_kvj(t, "cpus", h, "cpus", NULL);
        cli_table_kvj(t, "cpu model", h, "cpu_model", NULL);
        cli_table_kvj(t, "cpu usage", h, "cpu_usage_pct", "%");
        cli_table_kvj(t, "accel", h, "accel", NULL);
        cli_table_kvj(t, "memory", h, "memory_mib", "MiB");
        cli_table_kvj(t, "memory used", h, "memory_used_mib", "MiB");
        cli_table_kvj(t, "memory reserved", h, "memory_reserved_mib", "MiB");
        {
                json_t *ksm = json_object_get(h, "ksm"), *sw = json_object_get(h, "swap"), *e;
                size_t k;

                cli_table_kv(t, "memory overcommit", "%s",
                             json_is_true(json_object_get(h, "memory_overcommit")) ? "on" : "off");
                if (json_object_get(ksm, "run"))
                        cli_table_kv(t, "ksm", "%s, saving %" JSON_INTEGER_FORMAT " MiB (%"
                                     JSON_INTEGER_FORMAT " MiB shared pages)",
                                     json_integer_value(json_object_get(ksm, "run")) == 1 ? "on" : "off",
                                     json_integer_value(json_object_get(ksm, "saved_mib")),
                                     json_integer_value(json_object_get(ksm, "shared_mib")));
                if (json_object_get(sw, "total_mib"))
                        cli_table_kv(t, "swap", "%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " MiB used",
                                     json_integer_value(json_object_get(sw, "used_mib")),
                                     json_integer_value(json_object_get(sw, "total_mib")));
                json_array_foreach(json_object_get(h, "vm_memory"), k, e)
                        cli_table_kv(t, "vm memory", "%s  rss %" JSON_INTEGER_FORMAT " MiB, balloon %"
                                     JSON_INTEGER_FORMAT " MiB (target %" JSON_INTEGER_FORMAT
                                     "), swap %" JSON_INTEGER_FORMAT " MiB",
                                     json_string_value(json_object_get(e, "name")) ?: "?",
                                     json_integer_value(json_object_get(e, "rss_mib")),
                                     json_integer_value(json_object_get(e, "balloon_mib")),
                                     json_integer_value(json_object_get(e, "balloon_target_mib")),
                                     json_integer_value(json_object_get(e, "swap_mib")));
        }
        cli_table_kvj(t, "vms", h, "vm_count", NULL);
        cli_table_demand(t, h);
        if (json_is_object(json_object_get(h, "maintenance")))
                cli_table_kv(t, "maintenance", "since %s (task %s)",
                             json_string_value(cli_jpath(h, "maintenance.since")) ?: "?",
                             json_string_value(cli_jpath(h, "maintenance.task")) ?: "?");
        cli_table_kvj(t, "uplink", h, "uplink", NULL);
        cli_table_kvj(t, "migration address", h, "migration_address", NULL);
        cli_table_kvj(t, "ha state", h, "ha_state", NULL);
        if (json_is_object(json_object_get(h, "bmc"))) {
                json_t *b = json_object_get(h, "bmc");
                const char *err = json_string_value(json_object_get(b, "error"));

                cli_table_kv(t, "bmc", "%s:%lld user %s%s, power %s%s%s",
                             json_string_value(json_object_get(b, "address")) ?: "-",
                             (long long)json_integer_value(json_object_get(b, "port")),
                             json_string_value(json_object_get(b, "user")) ?: "-",
                             json_is_true(json_object_get(b, "password_set")) ? " (password set)"
                                                                              : "",
                             json_string_value(json_object_get(b, "power")) ?: "unknown",
                             err ? ": " : "", err ? err : "");
        } else {
                cli_table_kv(t, "bmc", "none");
        }
        json_array_foreach(json_object_get(h, "datastores"), i, ds) {
                cli_table_kv(t, i == 0 ? "datastores" : "", "%s  %s/%s GiB free  %s",
                             cli_jtext(json_object_get(ds, "name"), b1, sizeof(b1)),
                             cli_jtext(json_object_get(ds, "free_gib"), b2, sizeof(b2)),
                             cli_jtext(json_object_get(ds, "capacity_gib"), b3, sizeof(b3)),
                             json_string_value(json_object_get(ds, "path")) ?: "");
        }
        cli_table_kvj(t, "version", h, "version", NULL);
        cli_table_kvj(t, "last heartbeat", h, "last_heartbeat", NULL);
        cli_table_kvj(t, "registered", h, "registered_at", NULL);
        cli_table_print(t, stdout);
}

static int host_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "host", "hosts", a->pos[0], host_print);
}

/* The BMC password from --bmc-password-file (first line) or
 * --bmc-password-env; NULL in *ret when neither is given. */
static int bmc_password(struct cli_ctx *ctx, const struct cli_args *a, char **ret)
{
        const char *file = cli_args_get(a, "bmc-password-file");
        const char *var = cli_args_get(a, "bmc-password-env");
        _cleanup_(freep) char *data = NULL;
        size_t len = 0;
        int r;

        *ret = NULL;
        if (file && var)
                return cli_usage(ctx, "give --bmc-password-file or --bmc-password-env, not both");
        if (var) {
                const char *v = getenv(var);
                if (!v)
                        return cli_usage(ctx, "--bmc-password-env: %s is not set", var);
                *ret = dv_strdup(v);
                return 0;
        }
        if (!file)
                return 0;
        r = dv_read_file(file, 4096, &data, &len);
        if (r < 0)
                return cli_usage(ctx, "--bmc-password-file %s: %s", file, strerror(-r));
        data[strcspn(data, "\r\n")] = 0;
        *ret = TAKE_PTR(data);
        return 0;
}

static int host_set(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        _cleanup_(freep) char *pw = NULL, *addr = NULL;
        const char *bmc = cli_args_get(a, "bmc"), *user = cli_args_get(a, "bmc-user");
        bool none = cli_args_has(a, "no-bmc");
        int64_t port = 623;
        int r;

        r = cli_check_name(ctx, "host", a->pos[0]);
        if (r == 0 && none && (bmc || user))
                r = cli_usage(ctx, "--no-bmc goes alone");
        if (r == 0 && !none && !bmc)
                r = cli_usage(ctx, "nothing to set: give --bmc ADDR[:PORT] --bmc-user U, or --no-bmc");
        if (r == 0 && bmc && !user)
                r = cli_usage(ctx, "--bmc needs --bmc-user U");
        if (r == 0 && bmc) {
                /* ADDR[:PORT]; an IPv6 literal goes in brackets. */
                const char *colon = strrchr(bmc, ':');
                char err[128];

                if (bmc[0] == '[') {
                        const char *end = strchr(bmc, ']');
                        if (!end || (end[1] && end[1] != ':'))
                                r = cli_usage(ctx, "--bmc: '%s' is not ADDR[:PORT]", bmc);
                        else {
                                addr = strndup(bmc + 1, (size_t)(end - bmc - 1));
                                colon = end[1] ? end + 1 : NULL;
                        }
                } else if (colon && strchr(bmc, ':') == colon) {
                        addr = strndup(bmc, (size_t)(colon - bmc));
                } else {
                        addr = dv_strdup(bmc);
                        colon = NULL;
                }
                if (r == 0 && colon &&
                    cli_parse_number(colon + 1, 1, 65535, &port, err, sizeof(err)) < 0)
                        r = cli_usage(ctx, "--bmc: port: %s", err);
                if (r == 0 && (!addr || !*addr))
                        r = cli_usage(ctx, "--bmc: '%s' is not ADDR[:PORT]", bmc);
        }
        if (r == 0 && bmc)
                r = bmc_password(ctx, a, &pw);
        if (r != 0)
                return r;
        if (none)
                body = json_pack("{s:n}", "bmc");
        else
                body = json_pack("{s:{s:s,s:I,s:s,s:s?}}", "bmc", "address", addr, "port",
                                 (json_int_t)port, "user", user, "password", pw);
        if (pw)
                explicit_bzero(pw, strlen(pw));
        r = cli_api(ctx, "PATCH", body, &reply, "hosts/%s", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else if (none)
                printf("host %s has no BMC now\n", a->pos[0]);
        else
                printf("host %s: BMC %s:%lld, user %s%s\n", a->pos[0], addr, (long long)port, user,
                       json_is_true(cli_jpath(reply, "bmc.password_set")) ? ", password set" : "");
        return 0;
}

static const struct cli_opt set_opts[] = {
        { "bmc", 0, "ADDR[:PORT]", "the host's BMC (IPMI over LAN, port 623 by default): HA fences through it" },
        { "bmc-user", 0, "USER", "the BMC user" },
        { "bmc-password-file", 0, "FILE", "read the BMC password from the first line of FILE" },
        { "bmc-password-env", 0, "VAR", "take the BMC password from environment variable VAR" },
        { "no-bmc", 0, NULL, "remove the host's BMC settings" },
        { NULL },
};


/* maintenance HOST enter|exit [--stop-unmovable]: empty the host by live
 * migration (a task), or take it back. */
static int host_maintenance(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL, *task = NULL;
        _cleanup_(freep) char *path = NULL;
        const char *action = a->pos[1];
        char err[512];
        long status = 0;
        bool stop = cli_args_has(a, "stop-unmovable");
        struct cli_wait w;
        json_t *e;
        size_t i;
        int r;

        r = cli_check_name(ctx, "host", a->pos[0]);
        if (r == 0 && strcmp(action, "enter") != 0 && strcmp(action, "exit") != 0)
                r = cli_usage(ctx, "host maintenance: say enter or exit, not '%s'", action);
        if (r == 0 && stop && strcmp(action, "enter") != 0)
                r = cli_usage(ctx, "--stop-unmovable goes with enter");
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r != 0)
                return r;
        /* The GET loads the token and names a missing host; the POST's
         * refusal carries every VM's fate, shown whole with -o json. */
        r = cli_api(ctx, "GET", NULL, &reply, "hosts/%s", a->pos[0]);
        if (r != 0)
                return r;
        json_decref(TAKE_PTR(reply));
        body = json_pack("{s:s,s:b}", "action", action, "stop_unmovable", stop);
        path = dv_asprintf("hosts/%s/maintenance", a->pos[0]);
        r = cli_api_try(ctx, "POST", path, body, &status, &reply, err, sizeof(err));
        if (r < 0)
                return cli_fail(ctx, CLI_EXIT_FAIL, "unreachable", "%s", err);
        if (status >= 300) {
                if (ctx->json && reply) {
                        cli_print_json(ctx, reply);
                        ctx->printed = true;
                }
                return cli_reply_fail(ctx, "POST", path, status, reply);
        }
        if (strcmp(action, "exit") == 0) {
                if (ctx->json)
                        cli_print_json(ctx, reply);
                else
                        printf("host %s left maintenance mode (%s)\n", a->pos[0],
                               json_string_value(json_object_get(reply, "state")) ?: "?");
                return 0;
        }
        if (w.no_wait)
                return cli_task_finish(ctx, reply, &w, "entering maintenance:", NULL);
        r = cli_task_wait(ctx, json_object_get(reply, "task"), w.timeout_ms, &task);
        if (r != 0)
                return r;
        if (ctx->json) {
                cli_print_json(ctx, task);
                return 0;
        }
        printf("host %s is in maintenance mode\n", a->pos[0]);
        json_array_foreach(cli_jpath(task, "result.moved"), i, e)
                printf("  moved   %s -> %s\n", json_string_value(json_object_get(e, "vm")) ?: "?",
                       json_string_value(json_object_get(e, "to")) ?: "?");
        json_array_foreach(cli_jpath(task, "result.placed"), i, e)
                printf("  placed  %s -> %s (stopped)\n",
                       json_string_value(json_object_get(e, "vm")) ?: "?",
                       json_string_value(json_object_get(e, "to")) ?: "?");
        json_array_foreach(cli_jpath(task, "result.stopped"), i, e)
                printf("  stopped %s\n", json_string_value(json_object_get(e, "vm")) ?: "?");
        json_array_foreach(cli_jpath(task, "result.stayed"), i, e)
                printf("  stays   %s: %s\n", json_string_value(json_object_get(e, "vm")) ?: "?",
                       json_string_value(json_object_get(e, "reason")) ?: "");
        return 0;
}

static const struct cli_opt maintenance_opts[] = {
        { "stop-unmovable", 0, NULL, "enter: stop running VMs that cannot move (host-local disks) instead of refusing" },
        { NULL },
};

static const struct cli_verb host_verbs[] = {
        { .name = "list", .summary = "list hosts", .run = host_list },
        { .name = "show", .args = "HOST", .min_args = 1, .max_args = 1,
          .summary = "show one host: state, capacity and use, datastores", .run = host_show },
        { .name = "set", .args = "HOST", .min_args = 1, .max_args = 1,
          .summary = "set the host's BMC (--bmc ADDR[:PORT] --bmc-user U --bmc-password-file F)",
          .opts = set_opts, .run = host_set },
        { .name = "maintenance", .args = "HOST enter|exit", .min_args = 2, .max_args = 2,
          .summary = "enter maintenance (live-migrate every VM off, no new placement) or exit it",
          .opts = maintenance_opts, .waits = true, .run = host_maintenance },
};

const struct cli_noun cli_noun_host = {
        .name = "host",
        .summary = "hosts running drover-agent",
        .verbs = host_verbs,
        .n_verbs = ELEMENTSOF(host_verbs),
};
