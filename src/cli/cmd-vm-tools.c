/* drover vm ping|guest|set-cpus|freeze|thaw|timesync|tools-upgrade|hibernate:
 * what the platform does inside a guest through Tools (docs/cli.md). */
#include "cmd-vm-tools.h"

#include <string.h>

/* ---- vm ping VM ADDRESS [--count N] [--timeout S] ---------------------------- */

const struct cli_opt cli_vm_ping_opts[] = {
        { "count", 0, "N", "echo requests (1..10, default 3)" },
        { "timeout", 0, "S", "seconds the probe may take (1..10, default 5)" },
        { NULL },
};

int cli_vm_ping(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        int64_t count = 0, timeout_s = 0;
        char why[160];
        json_int_t tx, rx;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r != 0)
                return r;
        if (cli_parse_ipv4(a->pos[1], why, sizeof(why)) < 0)
                return cli_usage(ctx, "ADDRESS '%s': %s", a->pos[1], why);
        r = cli_opt_number(ctx, a, "count", 1, 10, &count);
        if (r == 0)
                r = cli_opt_number(ctx, a, "timeout", 1, 10, &timeout_s);
        if (r != 0)
                return r;
        body = json_pack("{s:s}", "address", a->pos[1]);
        if (count > 0)
                json_object_set_new(body, "count", json_integer(count));
        if (timeout_s > 0)
                json_object_set_new(body, "timeout_s", json_integer(timeout_s));
        r = cli_api(ctx, "POST", body, &reply, "vms/%s/ping", a->pos[0]);
        if (r != 0)
                return r;
        tx = json_integer_value(json_object_get(reply, "transmitted"));
        rx = json_integer_value(json_object_get(reply, "received"));
        if (ctx->json) {
                cli_print_json(ctx, reply);
        } else {
                printf("ping %s from vm %s: %" JSON_INTEGER_FORMAT " sent, %" JSON_INTEGER_FORMAT
                       " received, %" JSON_INTEGER_FORMAT "%% loss",
                       a->pos[1], a->pos[0], tx, rx,
                       json_integer_value(json_object_get(reply, "loss_pct")));
                if (json_is_integer(json_object_get(reply, "rtt_avg_us")))
                        printf(", rtt min/avg/max %.3f/%.3f/%.3f ms",
                               (double)json_integer_value(json_object_get(reply, "rtt_min_us")) / 1000,
                               (double)json_integer_value(json_object_get(reply, "rtt_avg_us")) / 1000,
                               (double)json_integer_value(json_object_get(reply, "rtt_max_us")) / 1000);
                printf("\n");
        }
        return rx > 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- vm guest VM --------------------------------------------------------------- */

static void guest_print(json_t *reply)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        json_t *g = json_object_get(reply, "guest"), *x, *ad;
        char b1[128], b2[128];
        size_t i, j;

        cli_table_kvj(t, "os", g, "os.pretty_name", NULL);
        cli_table_kv(t, "kernel", "%s %s", cli_jtext(cli_jpath(g, "kernel.release"), b1, sizeof(b1)),
                     cli_jtext(cli_jpath(g, "kernel.machine"), b2, sizeof(b2)));
        cli_table_kvj(t, "hostname", g, "hostname", NULL);
        cli_table_kvj(t, "uptime", g, "uptime_s", "s");
        cli_table_kv(t, "memory", "%" JSON_INTEGER_FORMAT " MiB total, %" JSON_INTEGER_FORMAT
                     " MiB available",
                     json_integer_value(cli_jpath(g, "memory.total_kib")) / 1024,
                     json_integer_value(cli_jpath(g, "memory.available_kib")) / 1024);
        cli_table_kv(t, "cpus", "%" JSON_INTEGER_FORMAT " online, %" JSON_INTEGER_FORMAT
                     " present, %" JSON_INTEGER_FORMAT " possible",
                     json_integer_value(cli_jpath(g, "cpus.online")),
                     json_integer_value(cli_jpath(g, "cpus.present")),
                     json_integer_value(cli_jpath(g, "cpus.possible")));
        if (json_array_size(json_object_get(g, "nics")) == 0)
                cli_table_kv(t, "nics", "-");
        json_array_foreach(json_object_get(g, "nics"), i, x) {
                char addrs[512] = "";
                size_t n = 0;

                json_array_foreach(json_object_get(x, "addresses"), j, ad) {
                        int k = snprintf(addrs + n, sizeof(addrs) - n, "%s%s/%" JSON_INTEGER_FORMAT,
                                         n ? " " : "",
                                         json_string_value(json_object_get(ad, "address")) ?: "?",
                                         json_integer_value(json_object_get(ad, "prefix")));
                        if (k < 0 || (size_t)k >= sizeof(addrs) - n)
                                break;
                        n += (size_t)k;
                }
                cli_table_kv(t, i == 0 ? "nics" : "", "%s  %s  %s  %s",
                             json_string_value(json_object_get(x, "name")) ?: "-",
                             json_string_value(json_object_get(x, "mac")) ?: "-",
                             json_is_true(json_object_get(x, "up")) ? "up" : "down",
                             addrs[0] ? addrs : "-");
        }
        if (json_is_object(json_object_get(g, "gateway")))
                cli_table_kv(t, "gateway", "%s via %s",
                             cli_jtext(cli_jpath(g, "gateway.address"), b1, sizeof(b1)),
                             cli_jtext(cli_jpath(g, "gateway.nic"), b2, sizeof(b2)));
        else
                cli_table_kv(t, "gateway", "-");
        json_array_foreach(json_object_get(g, "filesystems"), i, x)
                cli_table_kv(t, i == 0 ? "filesystems" : "", "%s  %s  %s  %s%s",
                             json_string_value(json_object_get(x, "mount")) ?: "-",
                             json_string_value(json_object_get(x, "type")) ?: "-",
                             json_string_value(json_object_get(x, "device")) ?: "-",
                             json_is_true(json_object_get(x, "read_only")) ? "ro" : "rw",
                             json_is_true(json_object_get(x, "frozen")) ? "  FROZEN" : "");
        cli_table_kv(t, "firewall", "%s (%s)",
                     json_is_true(cli_jpath(g, "firewall.rules")) ? "has rules" : "no rules",
                     cli_jtext(cli_jpath(g, "firewall.method"), b1, sizeof(b1)));
        cli_table_kvj(t, "tools version", g, "tools_version", NULL);
        if (json_is_true(json_object_get(reply, "cached")))
                cli_table_kv(t, "updated", "%s (cached: %s)",
                             cli_jtext(json_object_get(reply, "updated_at"), b1, sizeof(b1)),
                             cli_jtext(cli_jpath(reply, "error.message"), b2, sizeof(b2)));
        else
                cli_table_kvj(t, "updated", reply, "updated_at", NULL);
        cli_table_print(t, stdout);
}

int cli_vm_guest(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "GET", NULL, &reply, "vms/%s/guest", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                guest_print(reply);
        return 0;
}

/* ---- vm freeze|thaw|timesync|hibernate VM ------------------------------------- */

const struct cli_opt cli_vm_freeze_opts[] = {
        { "timeout", 0, "S", "the guest thaws by itself after S seconds (1..600, default 60)" },
        { NULL },
};

/* POST vms/VM/action with body; the answer in *ret (printed with -o json). */
static int quick(struct cli_ctx *ctx, const struct cli_args *a, const char *action, json_t *body,
                 json_t **ret)
{
        int r = cli_check_name(ctx, "vm", a->pos[0]);

        if (r == 0)
                r = cli_api(ctx, "POST", body, ret, "vms/%s/%s", a->pos[0], action);
        if (r == 0 && ctx->json)
                cli_print_json(ctx, *ret);
        return r;
}

static void print_paths(const char *what, json_t *paths)
{
        json_t *p;
        size_t i;

        printf("%s", what);
        json_array_foreach(paths, i, p)
                printf("%s%s", i ? ", " : " (", json_string_value(p));
        printf("%s\n", json_array_size(paths) ? ")" : "");
}

int cli_vm_freeze(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = json_object(), *reply = NULL;
        _cleanup_(freep) char *what = NULL;
        int64_t timeout_s = 0;
        int r;

        r = cli_opt_number(ctx, a, "timeout", 1, 600, &timeout_s);
        if (r != 0)
                return r;
        if (timeout_s > 0)
                json_object_set_new(body, "timeout_s", json_integer(timeout_s));
        r = quick(ctx, a, "freeze", body, &reply);
        if (r != 0 || ctx->json)
                return r;
        what = dv_asprintf("froze %zu filesystem(s) of vm %s, thawing by itself after %" JSON_INTEGER_FORMAT " s",
                           json_array_size(json_object_get(reply, "frozen")), a->pos[0],
                           json_integer_value(json_object_get(reply, "timeout_s")));
        print_paths(what, json_object_get(reply, "frozen"));
        return 0;
}

int cli_vm_thaw(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_(freep) char *what = NULL;
        int r;

        r = quick(ctx, a, "thaw", NULL, &reply);
        if (r != 0 || ctx->json)
                return r;
        what = dv_asprintf("thawed %zu filesystem(s) of vm %s",
                           json_array_size(json_object_get(reply, "thawed")), a->pos[0]);
        print_paths(what, json_object_get(reply, "thawed"));
        return 0;
}

int cli_vm_timesync(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = quick(ctx, a, "timesync", NULL, &reply);
        if (r == 0 && !ctx->json)
                printf("set the clock of vm %s from its host (it was off by %" JSON_INTEGER_FORMAT
                       " ms)\n",
                       a->pos[0], json_integer_value(json_object_get(reply, "delta_ms")));
        return r;
}

int cli_vm_hibernate(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = quick(ctx, a, "hibernate", NULL, &reply);
        if (r == 0 && !ctx->json)
                printf("vm %s is hibernating (%s)\n", a->pos[0],
                       json_string_value(json_object_get(reply, "method")) ?: "?");
        return r;
}

/* ---- vm set-cpus VM N, vm tools-upgrade VM (tasks) ------------------------------ */

/* Wait for the task of reply and return it in *ret_task (NULL with --no-wait). */
static int wait_task(struct cli_ctx *ctx, json_t *reply, const struct cli_wait *w,
                     json_t **ret_task)
{
        *ret_task = NULL;
        if (w->no_wait)
                return cli_task_finish(ctx, reply, w, NULL, NULL);
        return cli_task_wait(ctx, json_object_get(reply, "task"), w->timeout_ms, ret_task);
}

int cli_vm_set_cpus(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL, *task = NULL;
        struct cli_wait w;
        int64_t n;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r != 0)
                return r;
        if (dv_parse_int64(a->pos[1], 1, CLI_CPUS_MAX, &n) < 0)
                return cli_usage(ctx, "N '%s': expected a vCPU count 1..%d", a->pos[1],
                                 CLI_CPUS_MAX);
        r = cli_wait_from_args(ctx, a, &w);
        if (r != 0)
                return r;
        body = json_pack("{s:I}", "cpus", (json_int_t)n);
        r = cli_api(ctx, "POST", body, &reply, "vms/%s/set-cpus", a->pos[0]);
        if (r == 0)
                r = wait_task(ctx, reply, &w, &task);
        if (r != 0 || !task)
                return r;
        if (ctx->json)
                cli_print_json(ctx, task);
        else if (json_is_integer(cli_jpath(task, "result.online")))
                printf("vm %s has %lld vCPUs, %" JSON_INTEGER_FORMAT " online in the guest\n",
                       a->pos[0], (long long)n,
                       json_integer_value(cli_jpath(task, "result.online")));
        else
                printf("vm %s will start with %lld vCPUs\n", a->pos[0], (long long)n);
        return 0;
}

int cli_vm_tools_upgrade(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL, *task = NULL;
        struct cli_wait w;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r == 0)
                r = cli_api(ctx, "POST", NULL, &reply, "vms/%s/tools-upgrade", a->pos[0]);
        if (r == 0)
                r = wait_task(ctx, reply, &w, &task);
        if (r != 0 || !task)
                return r;
        if (ctx->json)
                cli_print_json(ctx, task);
        else
                printf("upgraded Tools of vm %s from %s to %s\n", a->pos[0],
                       json_string_value(cli_jpath(task, "result.previous_version")) ?: "?",
                       json_string_value(cli_jpath(task, "result.version")) ?: "?");
        return 0;
}
