/* drover host list|show */
#include "cli.h"

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
        cli_table_kvj(t, "vms", h, "vm_count", NULL);
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

static const struct cli_verb host_verbs[] = {
        { .name = "list", .summary = "list hosts", .run = host_list },
        { .name = "show", .args = "HOST", .min_args = 1, .max_args = 1,
          .summary = "show one host: state, capacity and use, datastores", .run = host_show },
};

const struct cli_noun cli_noun_host = {
        .name = "host",
        .summary = "hosts running drover-agent",
        .verbs = host_verbs,
        .n_verbs = ELEMENTSOF(host_verbs),
};
