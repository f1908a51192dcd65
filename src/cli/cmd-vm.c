/* drover vm create|start|stop|reboot|delete|show|list|console (and the Tools
 * verbs of cmd-vm-tools.c) */
#include "cli.h"
#include "cmd-vm-ha.h"
#include "cmd-vm-qos.h"
#include "cmd-vm-tools.h"

#include <inttypes.h>
#include <string.h>

static const char *fmt_memory(json_t *vm, char *buf, size_t len)
{
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT " MiB",
                 json_integer_value(json_object_get(vm, "memory_mib")));
        return buf;
}

/* A NIC's "10.0.0.5/24", or NULL when it has no address. */
static const char *nic_addr(json_t *nic, char *buf, size_t len)
{
        const char *ip = json_string_value(json_object_get(nic, "ip"));

        if (!ip)
                return NULL;
        snprintf(buf, len, "%s/%" JSON_INTEGER_FORMAT, ip,
                 json_integer_value(json_object_get(nic, "prefix")));
        return buf;
}

/* The address of the first NIC that has one. */
static const char *fmt_ip(json_t *vm, char *buf, size_t len)
{
        const char *addr = NULL;
        json_t *nic;
        size_t i;

        json_array_foreach(json_object_get(vm, "nics"), i, nic) {
                addr = nic_addr(nic, buf, len);
                if (addr)
                        break;
        }
        return addr;
}

static const struct cli_column vm_columns[] = {
        { "NAME", "name", NULL },
        { "STATE", "state", NULL },
        { "HOST", "host", NULL },
        { "CPUS", "cpus", NULL },
        { "MEMORY", NULL, fmt_memory },
        { "TOOLS", "tools.state", NULL },
        { "HA", "ha", NULL },
        { "IP", NULL, fmt_ip },
        { NULL },
};

static void vm_print(json_t *vm)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        const char *reason = json_string_value(json_object_get(vm, "state_reason"));
        json_int_t cpus = json_integer_value(json_object_get(vm, "cpus"));
        json_int_t max_cpus = json_integer_value(json_object_get(vm, "max_cpus"));
        char b1[256], b2[256];
        json_t *d, *n;
        size_t i;

        cli_table_kvj(t, "name", vm, "name", NULL);
        cli_table_kvj(t, "id", vm, "id", NULL);
        if (reason && *reason)
                cli_table_kv(t, "state", "%s (%s)",
                             cli_jtext(json_object_get(vm, "state"), b1, sizeof(b1)), reason);
        else
                cli_table_kvj(t, "state", vm, "state", NULL);
        cli_table_kvj(t, "host", vm, "host", NULL);
        if (max_cpus > cpus)
                cli_table_kv(t, "cpus", "%" JSON_INTEGER_FORMAT " (max %" JSON_INTEGER_FORMAT ")",
                             cpus, max_cpus);
        else
                cli_table_kvj(t, "cpus", vm, "cpus", NULL);
        cli_table_kvj(t, "memory", vm, "memory_mib", "MiB");
        cli_table_demand(t, vm);
        cli_table_kvj(t, "image", vm, "image", NULL);
        cli_table_kvj(t, "ha", vm, "ha", NULL);
        if (json_string_value(cli_jpath(vm, "tools.version")))
                cli_table_kv(t, "tools", "%s (version %s)%s%s",
                             cli_jtext(cli_jpath(vm, "tools.state"), b1, sizeof(b1)),
                             json_string_value(cli_jpath(vm, "tools.version")),
                             json_string_value(cli_jpath(vm, "tools.reason")) ? ": " : "",
                             json_string_value(cli_jpath(vm, "tools.reason")) ?: "");
        else
                cli_table_kv(t, "tools", "%s%s%s",
                             cli_jtext(cli_jpath(vm, "tools.state"), b1, sizeof(b1)),
                             json_string_value(cli_jpath(vm, "tools.reason")) ? ": " : "",
                             json_string_value(cli_jpath(vm, "tools.reason")) ?: "");
        if (json_array_size(json_object_get(vm, "disks")) == 0)
                cli_table_kv(t, "disks", "-");
        json_array_foreach(json_object_get(vm, "disks"), i, d) {
                cli_table_kv(t, i == 0 ? "disks" : "", "%s  %s GiB  %s  %s  %s",
                             json_string_value(json_object_get(d, "name")) ?: "-",
                             cli_jtext(json_object_get(d, "size_gib"), b1, sizeof(b1)),
                             json_string_value(json_object_get(d, "datastore")) ?: "-",
                             json_string_value(json_object_get(d, "format")) ?: "-",
                             json_string_value(json_object_get(d, "path")) ?: "-");
        }
        if (json_array_size(json_object_get(vm, "nics")) == 0)
                cli_table_kv(t, "nics", "-");
        json_array_foreach(json_object_get(vm, "nics"), i, n) {
                const char *gw = json_string_value(json_object_get(n, "gateway"));

                cli_table_kv(t, i == 0 ? "nics" : "", "%s  %s  %s  %s%s%s",
                             json_string_value(json_object_get(n, "name")) ?: "-",
                             json_string_value(json_object_get(n, "portgroup")) ?: "-",
                             json_string_value(json_object_get(n, "mac")) ?: "-",
                             nic_addr(n, b2, sizeof(b2)) ?: "-",
                             gw ? "  gw " : "", gw ? gw : "");
        }
        cli_vm_qos_print(t, vm);
        cli_table_kvj(t, "console log", vm, "console_log", NULL);
        cli_table_kvj(t, "vnc", vm, "vnc", NULL);
        cli_table_kvj(t, "pid", vm, "pid", NULL);
        cli_table_kvj(t, "created", vm, "created_at", NULL);
        cli_table_print(t, stdout);
}

/* list [--limit N [--after NAME]]: one page, by name; the next page's
 * --after is named on stderr. */
static int vm_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        _cleanup_(freep) char *path = NULL;
        const char *after = cli_args_get(a, "after");
        int64_t limit = 0;
        int r;

        r = cli_opt_number(ctx, a, "limit", 1, 100000, &limit);
        if (r != 0)
                return r;
        if (after && limit == 0)
                return cli_usage(ctx, "--after NAME goes with --limit N");
        if (after) {
                r = cli_check_name(ctx, "vm", after);
                if (r != 0)
                        return r;
        }
        if (limit == 0)
                return cli_list(ctx, "vms", "vms", vm_columns);
        path = after ? dv_asprintf("vms?limit=%" PRId64 "&after=%s", limit, after)
                     : dv_asprintf("vms?limit=%" PRId64, limit);
        r = cli_api(ctx, "GET", NULL, &reply, "%s", path);
        if (r != 0)
                return r;
        if (ctx->json) {
                cli_print_json(ctx, reply);
                return 0;
        }
        cli_print_rows(json_object_get(reply, "vms"), vm_columns, stdout);
        if (json_is_string(json_object_get(reply, "next")))
                fprintf(stderr, "more: drover vm list --limit %" PRId64 " --after %s\n", limit,
                        json_string_value(json_object_get(reply, "next")));
        return 0;
}

static const struct cli_opt list_opts[] = {
        { "limit", 0, "N", "at most N VMs (1..100000), by name: one page" },
        { "after", 0, "NAME", "the page after VM NAME (with --limit)" },
        { NULL },
};

static int vm_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "vm", "vms", a->pos[0], vm_print);
}

/* The request body of vm create, from the options; checked here so that
 * mistakes are named before anything is sent. */
static int create_body(struct cli_ctx *ctx, const struct cli_args *a, json_t **ret)
{
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_(json_decrefp) json_t *disks = json_array(), *nics = json_array();
        int64_t cpus = 0, max_cpus = 0, memory = 0;
        const char *v;
        char why[160];
        size_t it = 0;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r != 0)
                return r;
        if (!cli_args_has(a, "cpus"))
                return cli_usage(ctx, "--cpus N is required");
        if (!cli_args_has(a, "memory"))
                return cli_usage(ctx, "--memory MIB is required");
        r = cli_opt_number(ctx, a, "cpus", 1, CLI_CPUS_MAX, &cpus);
        if (r != 0)
                return r;
        r = cli_opt_number(ctx, a, "max-cpus", cpus, CLI_CPUS_MAX, &max_cpus);
        if (r != 0)
                return r;
        if (cli_parse_memory_mib(cli_args_get(a, "memory"), &memory, why, sizeof(why)) < 0)
                return cli_usage(ctx, "--memory: %s", why);
        body = json_pack("{s:s,s:I,s:I}", "name", a->pos[0], "cpus", (json_int_t)cpus,
                         "memory_mib", (json_int_t)memory);
        if (max_cpus > 0)
                json_object_set_new(body, "max_cpus", json_integer(max_cpus));

        while ((v = cli_args_next(a, "disk", &it))) {
                struct cli_disk_spec d;

                if (cli_parse_disk(v, &d, why, sizeof(why)) < 0)
                        return cli_usage(ctx, "--disk '%s': %s", v, why);
                json_array_append_new(disks, cli_disk_json(&d));
        }
        it = 0;
        while ((v = cli_args_next(a, "nic", &it))) {
                struct cli_nic_spec n;

                if (cli_parse_nic(v, &n, why, sizeof(why)) < 0)
                        return cli_usage(ctx, "--nic '%s': %s", v, why);
                json_array_append_new(nics, cli_nic_json(&n));
        }
        if (json_array_size(disks) > 0)
                json_object_set(body, "disks", disks);
        if (json_array_size(nics) > 0)
                json_object_set(body, "nics", nics);

        v = cli_args_get(a, "host");
        if (v) {
                r = cli_check_name(ctx, "host", v);
                if (r != 0)
                        return r;
                json_object_set_new(body, "host", json_string(v));
        }
        v = cli_args_get(a, "image");
        if (v) {
                r = cli_check_name(ctx, "image", v);
                if (r != 0)
                        return r;
                json_object_set_new(body, "image", json_string(v));
        }
        if (cli_args_has(a, "ha"))
                json_object_set_new(body, "ha", json_true());
        v = cli_args_get(a, "kernel-args");
        if (v)
                json_object_set_new(body, "kernel_args", json_string(v));
        r = cli_vm_qos_body(ctx, a, body, json_object_get(body, "disks"));
        if (r != 0)
                return r;
        *ret = TAKE_PTR(body);
        return 0;
}

/* The placement's explanation (docs/api.md PLACEMENT), readably. */
static void placement_print(json_t *p, const char *vm)
{
        json_t *h;
        size_t i;

        if (!json_is_object(p))
                return;
        printf("placement of vm %s (%lld CPUs, %lld MiB): %s\n", vm,
               (long long)json_integer_value(cli_jpath(p, "vm.cpus")),
               (long long)json_integer_value(cli_jpath(p, "vm.memory_mib")),
               json_string_value(json_object_get(p, "policy")) ?: "?");
        if (json_is_number(json_object_get(p, "imbalance")))
                printf("cluster imbalance now %.3f (DRS: sd of the hosts' CPU and memory load)\n",
                       json_number_value(json_object_get(p, "imbalance")));
        json_array_foreach(json_object_get(p, "hosts"), i, h) {
                json_t *hr = json_object_get(h, "headroom_mib");
                json_t *imb = json_object_get(h, "imbalance_after");
                char head[48] = "", load[64] = "", after[48] = "";

                if (json_is_integer(hr))
                        snprintf(head, sizeof(head), "headroom %lld MiB",
                                 (long long)json_integer_value(hr));
                if (json_is_number(json_object_get(h, "cpu_load_pct")))
                        snprintf(load, sizeof(load), "cpu %.1f%% mem %.1f%%",
                                 json_number_value(json_object_get(h, "cpu_load_pct")),
                                 json_number_value(json_object_get(h, "memory_load_pct")));
                if (json_is_number(imb))
                        snprintf(after, sizeof(after), "imbalance after %.3f",
                                 json_number_value(imb));
                printf("  %-9s %-12s %s%s%s%s%s\n    %s\n",
                       json_string_value(json_object_get(h, "verdict")) ?: "?",
                       json_string_value(json_object_get(h, "name")) ?: "?", head,
                       *head && *load ? "  " : "", load, (*head || *load) && *after ? "  " : "",
                       after, json_string_value(json_object_get(h, "reason")) ?: "");
        }
}

/* POST vms (?explain=true with --explain): the reply, or non-zero after
 * printing the refusal (with its explanation). */
static int create_post(struct cli_ctx *ctx, json_t *body, bool explain, json_t **ret)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        const char *path = explain ? "vms?explain=true" : "vms";
        char err[512];
        long status = 0;
        int r;

        if (!explain)
                return cli_api(ctx, "POST", body, ret, "vms");
        r = cli_load_token(ctx);
        if (r != 0)
                return r;
        r = cli_api_try(ctx, "POST", path, body, &status, &reply, err, sizeof(err));
        if (r < 0)
                return cli_fail(ctx, CLI_EXIT_UNREACHABLE, "unreachable",
                                "cannot reach the manager at %s: %s", ctx->url, err);
        if (status >= 300) {
                if (ctx->json && reply) {
                        cli_print_json(ctx, reply);
                        ctx->printed = true;
                } else {
                        placement_print(cli_jpath(reply, "error.placement"),
                                        json_string_value(json_object_get(body, "name")));
                }
                return cli_reply_fail(ctx, "POST", path, status, reply);
        }
        *ret = TAKE_PTR(reply);
        return 0;
}

static int vm_create(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL, *done = NULL,
                                       *started = NULL;
        _cleanup_(freep) char *extra = NULL;
        bool explain = cli_args_has(a, "explain");
        const char *host, *id;
        struct cli_wait w;
        int r;

        r = create_body(ctx, a, &body);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r == 0)
                r = create_post(ctx, body, explain, &reply);
        if (r != 0)
                return r;
        if (explain && !ctx->json)
                placement_print(json_object_get(reply, "placement"), a->pos[0]);
        host = json_string_value(cli_jpath(reply, "vm.host"));
        if (host)
                extra = dv_asprintf("on host %s", host);
        if (explain && ctx->json && !w.no_wait) {
                /* -o json: the finished task with the explanation beside it. */
                json_t *task = json_object_get(reply, "task");

                r = cli_task_wait(ctx, task, w.timeout_ms, &done);
                if (r != 0)
                        return r;
                if (!cli_args_has(a, "start")) {
                        _cleanup_(json_decrefp) json_t *doc =
                                json_pack("{s:O,s:O?}", "task", done, "placement",
                                          json_object_get(reply, "placement"));

                        cli_print_json(ctx, doc);
                        return 0;
                }
        }
        if (!cli_args_has(a, "start"))
                return cli_task_finish(ctx, reply, &w, "created", extra);

        /* --start: the create must finish first, whatever --no-wait says. */
        if (!done) {
                r = cli_task_wait(ctx, json_object_get(reply, "task"), w.timeout_ms, &done);
                if (r != 0)
                        return r;
        }
        if (!ctx->json)
                printf("created vm %s%s%s\n", a->pos[0], extra ? " " : "", extra ? extra : "");
        id = json_string_value(cli_jpath(reply, "vm.id")) ?: a->pos[0];
        r = cli_api(ctx, "POST", NULL, &started, "vms/%s/start", id);
        if (r != 0)
                return r;
        return cli_task_finish(ctx, started, &w, "started", NULL);
}

/* start, reboot: POST vms/NAME/ACTION, then wait. */
static int vm_action(struct cli_ctx *ctx, const struct cli_args *a, const char *action,
                     const char *done)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        struct cli_wait w;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r == 0)
                r = cli_api(ctx, "POST", NULL, &reply, "vms/%s/%s", a->pos[0], action);
        if (r != 0)
                return r;
        return cli_task_finish(ctx, reply, &w, done, NULL);
}

static int vm_start(struct cli_ctx *ctx, const struct cli_args *a)
{
        return vm_action(ctx, a, "start", "started");
}

static int vm_reboot(struct cli_ctx *ctx, const struct cli_args *a)
{
        return vm_action(ctx, a, "reboot", "rebooted");
}

static int vm_stop(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = json_object(), *reply = NULL, *task = NULL;
        int64_t timeout_s = 0;
        struct cli_wait w;
        const char *path;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_opt_number(ctx, a, "timeout", 1, 3600, &timeout_s);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r != 0)
                return r;
        if (cli_args_has(a, "force"))
                json_object_set_new(body, "force", json_true());
        if (timeout_s > 0)
                json_object_set_new(body, "timeout_s", json_integer(timeout_s));
        r = cli_api(ctx, "POST", body, &reply, "vms/%s/stop", a->pos[0]);
        if (r != 0)
                return r;
        if (w.no_wait)
                return cli_task_finish(ctx, reply, &w, "stopped", NULL);
        /* The stop itself is bounded by the manager (timeout_s, then forced). */
        r = cli_task_wait(ctx, json_object_get(reply, "task"), w.timeout_ms, &task);
        if (r != 0)
                return r;
        path = json_string_value(cli_jpath(task, "result.path"));
        if (ctx->json)
                cli_print_json(ctx, task);
        else
                printf("stopped vm %s%s%s%s\n",
                       json_string_value(cli_jpath(task, "target.name")) ?: a->pos[0],
                       path ? " (" : "", path ? path : "", path ? ")" : "");
        return 0;
}

static int vm_delete(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        struct cli_wait w;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r == 0)
                r = cli_api(ctx, "DELETE", NULL, &reply, "vms/%s%s", a->pos[0],
                            cli_args_has(a, "keep-disks") ? "?keep_disks=true" : "");
        if (r != 0)
                return r;
        return cli_task_finish(ctx, reply, &w, "deleted", NULL);
}

/* The --check prediction (docs/migration.md, "The prediction"). */
static void print_prediction(json_t *p)
{
        char a[32], b[32];
        double total = json_number_value(json_object_get(p, "total_ms"));
        double down = json_number_value(json_object_get(p, "downtime_ms"));
        double disk = json_number_value(json_object_get(p, "disk_bytes"));
        json_int_t rounds = json_integer_value(json_object_get(p, "rounds"));

        if (!json_is_true(json_object_get(p, "available"))) {
                printf("no prediction: %s\n",
                       json_string_value(json_object_get(p, "reason")) ?: "unknown");
                return;
        }
        printf("predicted: %.2f s in all, %.0f ms downtime\n", total / 1000.0, down);
        if (disk > 0)
                printf("  disks: %s mirrored in %.1f s\n", cli_fmt_bytes(disk, a, sizeof(a)),
                       json_number_value(json_object_get(p, "disk_ms")) / 1000.0);
        if (json_number_value(json_object_get(p, "link_rate")) <= 0)
                return;
        printf("  memory: %" JSON_INTEGER_FORMAT " pre-copy round%s, %s at %s/s; ", rounds,
               rounds == 1 ? "" : "s",
               cli_fmt_bytes(json_number_value(json_object_get(p, "memory_bytes")), a, sizeof(a)),
               cli_fmt_bytes(json_number_value(json_object_get(p, "link_rate")), b, sizeof(b)));
        if (!json_is_true(json_object_get(p, "dirty_rate_known")))
                printf("dirty rate not measured (a lower bound)\n");
        else if (json_is_true(json_object_get(p, "throttled")))
                printf("the guest dirties %s/s, too fast: throttled to %s/s\n",
                       cli_fmt_bytes(json_number_value(json_object_get(p, "guest_dirty_rate")), a,
                                     sizeof(a)),
                       cli_fmt_bytes(json_number_value(json_object_get(p, "dirty_rate")), b,
                                     sizeof(b)));
        else
                printf("the guest dirties %s/s\n",
                       cli_fmt_bytes(json_number_value(json_object_get(p, "dirty_rate")), a,
                                     sizeof(a)));
}

/* migrate VM [--host H] [--datastore DS] [--check]: live migration
 * (docs/migration.md): change host, change host + datastore, or storage
 * live migration (--datastore alone). */
static int vm_migrate(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL, *task = NULL;
        const char *host = cli_args_get(a, "host"), *ds = cli_args_get(a, "datastore");
        bool check = cli_args_has(a, "check");
        struct cli_wait w;
        json_t *c, *b;
        size_t i, pass = 0, skip = 0;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0 && !host && !ds)
                r = cli_usage(ctx, "vm migrate: --host HOST, --datastore DS or both are required");
        if (r == 0 && ds)
                r = cli_check_name(ctx, "datastore", ds);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r != 0)
                return r;
        body = json_pack("{s:s?,s:s?,s:b}", "host", host, "datastore", ds, "check", check);
        if (cli_args_get(a, "disk-rate")) {
                char *end;
                long long mib = strtoll(cli_args_get(a, "disk-rate"), &end, 10);

                if (*end || mib < 1 || mib > 1048576)
                        return cli_usage(ctx, "vm migrate: --disk-rate takes 1..1048576 (MiB/s)");
                json_object_set_new(body, "disk_rate_limit", json_integer(mib << 20));
        }
        if (cli_args_get(a, "memory-rate")) {
                char *end;
                long long mib = strtoll(cli_args_get(a, "memory-rate"), &end, 10);

                if (*end || mib < 1 || mib > 1048576)
                        return cli_usage(ctx, "vm migrate: --memory-rate takes 1..1048576 (MiB/s)");
                json_object_set_new(body, "memory_rate_limit", json_integer(mib << 20));
        }
        r = cli_api(ctx, "POST", body, &reply, "vms/%s/migrate", a->pos[0]);
        if (r != 0)
                return r;
        if (check) {
                bool ok = json_is_true(json_object_get(reply, "ok"));

                if (ctx->json) {
                        cli_print_json(ctx, reply);
                        return ok ? 0 : CLI_EXIT_FAIL;
                }
                json_array_foreach(json_object_get(reply, "checks"), i, c) {
                        const char *st = json_string_value(json_object_get(c, "status"));
                        const char *fix = json_string_value(json_object_get(c, "fix"));

                        pass += st && strcmp(st, "pass") == 0;
                        skip += st && strcmp(st, "skip") == 0;
                        printf("%-4s %-22s %s%s%s\n",
                               st && strcmp(st, "pass") == 0   ? "PASS"
                               : st && strcmp(st, "fail") == 0 ? "FAIL"
                                                               : "SKIP",
                               json_string_value(json_object_get(c, "code")) ?: "?",
                               json_string_value(json_object_get(c, "reason")) ?: "",
                               fix && *fix ? " — " : "", fix && *fix ? fix : "");
                }
                if (ok) {
                        printf("ok: %zu checks passed, %zu skipped\n", pass, skip);
                        print_prediction(json_object_get(reply, "prediction"));
                } else {
                        printf("blocked by %zu check%s:",
                               json_array_size(json_object_get(reply, "blockers")),
                               json_array_size(json_object_get(reply, "blockers")) == 1 ? "" : "s");
                        json_array_foreach(json_object_get(reply, "blockers"), i, b)
                                printf("%s %s", i ? "," : "", json_string_value(b));
                        printf("\n");
                }
                return ok ? 0 : CLI_EXIT_FAIL;
        }
        if (w.no_wait)
                return cli_task_finish(ctx, reply, &w, "migrated", NULL);
        r = cli_task_wait(ctx, json_object_get(reply, "task"), w.timeout_ms, &task);
        if (r != 0)
                return r;
        if (ctx->json) {
                cli_print_json(ctx, task);
                return 0;
        }
        if (!host || ds) /* the disks moved */
                printf("mirrored %.1f MiB of disk (%.1f MiB allocated) at %.1f MiB/s in %.2f s\n",
                       (double)json_integer_value(cli_jpath(task, "result.disk_bytes")) / 1048576,
                       (double)json_integer_value(cli_jpath(task, "result.disk_allocated_bytes")) /
                               1048576,
                       json_number_value(cli_jpath(task, "result.disk_rate")) / 1048576,
                       (double)json_integer_value(cli_jpath(task, "result.disk_ms")) / 1000);
        if (!host)
                printf("moved vm %s to datastore %s in %.2f s\n", a->pos[0], ds,
                       (double)json_integer_value(cli_jpath(task, "result.total_ms")) / 1000);
        else
                printf("migrated vm %s to host %s%s%s in %.2f s (downtime %lld ms)\n", a->pos[0],
                       json_string_value(cli_jpath(task, "result.target")) ?: host,
                       ds ? " and datastore " : "", ds ? ds : "",
                       (double)json_integer_value(cli_jpath(task, "result.total_ms")) / 1000,
                       (long long)json_integer_value(cli_jpath(task, "result.qemu.downtime_ms")));
        return 0;
}

static int vm_console(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *vm = NULL, *console = NULL;
        _cleanup_(cli_table_freep) struct cli_table *t = NULL;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "GET", NULL, &vm, "vms/%s", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "POST", NULL, &console, "vms/%s/console", a->pos[0]);
        if (r != 0)
                return r;
        if (!json_is_object(console)) {
                json_decref(console);
                console = json_object();
        }
        json_object_set(console, "console_log", json_object_get(vm, "console_log") ?: json_null());
        if (ctx->json) {
                cli_print_json(ctx, console);
                return 0;
        }
        t = cli_table_new(2, NULL);
        cli_table_kvj(t, "vnc", console, "vnc", NULL);
        cli_table_kvj(t, "ticket", console, "ticket", NULL);
        cli_table_kvj(t, "expires", console, "expires_at", NULL);
        cli_table_kvj(t, "console log", console, "console_log", NULL);
        cli_table_print(t, stdout);
        return 0;
}

static const struct cli_opt create_opts[] = {
        { "cpus", 0, "N", "virtual CPUs (1..64), required" },
        { "memory", 0, "MIB", "memory in MiB (16..1048576; 512M and 2G work too), required" },
        { "max-cpus", 0, "N", "most vCPUs it can grow to online (cpus..64)" },
        { "disk", 0, "GIB[@DATASTORE]", "a data disk of GIB GiB (1..16384); repeatable" },
        { "nic", 0, "PORTGROUP[:IP/PREFIX[:GW]]", "a NIC on a port group, IPv4 set by Tools; repeatable" },
        { "host", 0, "HOST", "place it on this host (default: the one with most free memory)" },
        { "image", 0, "IMAGE", "boot image (default: default)" },
        { "ha", 0, NULL, "restart it elsewhere when its host or guest fails" },
        { "kernel-args", 0, "ARGS", "extra kernel command line for kernel images" },
        { "start", 0, NULL, "start it once created (waits for the create even with --no-wait)" },
        { "explain", 0, NULL, "print why the scheduler chose its host: every host's verdict, headroom and DRS load" },
        CLI_VM_QOS_OPTS,
        { NULL },
};

static const struct cli_opt stop_opts[] = {
        { "force", 0, NULL, "power off at once instead of a clean shutdown" },
        { "timeout", 0, "S", "seconds allowed for a clean shutdown before forcing (1..3600; default 60)" },
        { NULL },
};

static const struct cli_opt delete_opts[] = {
        { "keep-disks", 0, NULL, "leave the disk files on their datastores" },
        { NULL },
};

static const struct cli_opt migrate_opts[] = {
        { "host", 0, "HOST", "the host to move the running VM to (shared storage unless --datastore)" },
        { "datastore", 0, "DS", "move the disks to datastore DS (alone: storage live migration on the same host)" },
        { "disk-rate", 0, "MIB", "limit each disk's background copy to MIB MiB/s (guest writes are never held back)" },
        { "memory-rate", 0, "MIB", "limit the memory stream to MIB MiB/s" },
        { "check", 0, NULL, "only run the prechecks and print them (exit 1 when blocked)" },
        { NULL },
};

static const struct cli_verb vm_verbs[] = {
        { .name = "create", .args = "NAME", .min_args = 1, .max_args = 1,
          .summary = "create a VM (--cpus N --memory MIB required)", .opts = create_opts,
          .waits = true, .run = vm_create },
        { .name = "start", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "power a VM on", .waits = true, .run = vm_start },
        { .name = "stop", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "shut a VM down cleanly through ACPI/Tools, or --force it off",
          .opts = stop_opts, .waits = true, .run = vm_stop },
        { .name = "reboot", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "reboot a running VM", .waits = true, .run = vm_reboot },
        { .name = "delete", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "delete a stopped VM and its disks", .opts = delete_opts, .waits = true,
          .run = vm_delete },
        { .name = "show", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "show a VM: state, host, sizing, disks, NICs, Tools, HA, console",
          .run = vm_show },
        { .name = "list", .summary = "list VMs (--limit N [--after NAME]: one page)",
          .opts = list_opts, .run = vm_list },
        { .name = "console", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "a VNC ticket and the serial console log of a VM", .run = vm_console },
        { .name = "migrate", .args = "VM", .min_args = 1, .max_args = 1,
          .summary = "live-migrate a running VM to another host and/or datastore, or --check it",
          .opts = migrate_opts, .waits = true, .run = vm_migrate },
        CLI_VM_TOOLS_VERBS /* cmd-vm-tools.c */
        CLI_VM_HA_VERBS /* cmd-vm-ha.c */
};

const struct cli_noun cli_noun_vm = {
        .name = "vm",
        .summary = "virtual machines",
        .verbs = vm_verbs,
        .n_verbs = ELEMENTSOF(vm_verbs),
};
