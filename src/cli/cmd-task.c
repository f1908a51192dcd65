/* drover task list|show|wait|cancel */
#include "cli.h"

#include <inttypes.h>

static const char *fmt_progress(json_t *task, char *buf, size_t len)
{
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT "%%",
                 json_integer_value(json_object_get(task, "progress")));
        return buf;
}

/* The error of a failed task, else its message. */
static const char *fmt_message(json_t *task, char *buf, size_t len)
{
        return json_string_value(cli_jpath(task, "error.message")) ?:
               json_string_value(json_object_get(task, "message"));
}

static const struct cli_column task_columns[] = {
        { "ID", "id", NULL },
        { "OP", "op", NULL },
        { "TARGET", NULL, cli_fmt_target },
        { "STATE", "state", NULL },
        { "PROGRESS", NULL, fmt_progress },
        { "CREATED", "created_at", NULL },
        { "MESSAGE", NULL, fmt_message },
        { NULL },
};

static void task_print(json_t *task)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        char buf[512];

        cli_table_kvj(t, "id", task, "id", NULL);
        cli_table_kvj(t, "op", task, "op", NULL);
        cli_table_kv(t, "target", "%s", cli_fmt_target(task, buf, sizeof(buf)));
        cli_table_kvj(t, "state", task, "state", NULL);
        cli_table_kv(t, "progress", "%s", fmt_progress(task, buf, sizeof(buf)));
        cli_table_kvj(t, "message", task, "message", NULL);
        if (json_is_object(json_object_get(task, "detail"))) {
                /* Structured progress, e.g. a migration's phase, bytes and rate. */
                const char *key;
                json_t *v;

                json_object_foreach(json_object_get(task, "detail"), key, v) {
                        char name[64];

                        snprintf(name, sizeof(name), "  %s", key);
                        cli_table_kv(t, name, "%s", cli_jtext(v, buf, sizeof(buf)));
                }
        }
        if (json_is_object(json_object_get(task, "error")))
                cli_table_kv(t, "error", "%s (%s)",
                             cli_jtext(cli_jpath(task, "error.message"), buf, sizeof(buf)),
                             json_string_value(cli_jpath(task, "error.code")) ?: "-");
        else
                cli_table_kv(t, "error", "-");
        cli_table_kvj(t, "result", task, "result", NULL);
        cli_table_kvj(t, "user", task, "user", NULL);
        cli_table_kvj(t, "created", task, "created_at", NULL);
        cli_table_kvj(t, "started", task, "started_at", NULL);
        cli_table_kvj(t, "finished", task, "finished_at", NULL);
        cli_table_print(t, stdout);
}

static int task_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(freep) char *path = NULL;
        int64_t limit = 0;
        int r;

        r = cli_opt_number(ctx, a, "limit", 1, 10000, &limit);
        if (r != 0)
                return r;
        path = limit > 0 ? dv_asprintf("tasks?limit=%" PRId64, limit) : dv_strdup("tasks");
        return cli_list(ctx, path, "tasks", task_columns);
}

static int task_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "task", "tasks", a->pos[0], task_print);
}

static int task_wait(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *task = NULL;
        struct cli_wait w = { 0 };
        int64_t timeout_s = 0;
        int r;

        r = cli_opt_number(ctx, a, "timeout", 1, CLI_WAIT_TIMEOUT_MAX_S, &timeout_s);
        if (r == 0)
                r = cli_check_name(ctx, "task", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "GET", NULL, &task, "tasks/%s", a->pos[0]);
        if (r != 0)
                return r;
        w.timeout_ms = timeout_s * 1000;
        return cli_task_finish(ctx, task, &w, NULL, NULL);
}

static int task_cancel(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *task = NULL;
        int r;

        r = cli_check_name(ctx, "task", a->pos[0]);
        if (r == 0)
                r = cli_api(ctx, "POST", NULL, &task, "tasks/%s/cancel", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, task);
        else
                printf("task %s: %s\n", a->pos[0],
                       json_string_value(json_object_get(task, "state")) ?: "cancel requested");
        return 0;
}

static const struct cli_opt list_opts[] = {
        { "limit", 0, "N", "at most N tasks, newest first" },
        { NULL },
};

static const struct cli_opt wait_opts[] = {
        { "timeout", 0, "S", "stop waiting after S seconds (exit 1; the task goes on)" },
        { NULL },
};

static const struct cli_verb task_verbs[] = {
        { .name = "list", .summary = "list tasks, newest first", .opts = list_opts,
          .run = task_list },
        { .name = "show", .args = "ID", .min_args = 1, .max_args = 1,
          .summary = "show a task", .run = task_show },
        { .name = "wait", .args = "ID", .min_args = 1, .max_args = 1,
          .summary = "wait for a task to end (exit 1 if it failed)", .opts = wait_opts,
          .run = task_wait },
        { .name = "cancel", .args = "ID", .min_args = 1, .max_args = 1,
          .summary = "cancel a queued or running task", .run = task_cancel },
};

const struct cli_noun cli_noun_task = {
        .name = "task",
        .summary = "long operations and their progress",
        .verbs = task_verbs,
        .n_verbs = ELEMENTSOF(task_verbs),
};
