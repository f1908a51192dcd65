/* Waiting for tasks: poll GET /tasks/ID every 200 ms, a progress bar on a
 * terminal (one updating line on stderr), plain lines otherwise. */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#define POLL_MS 200
/* How long the manager may stay unreachable during a wait (it may restart). */
#define UNREACHABLE_GRACE_MS 10000

const struct cli_opt cli_wait_opts[] = {
        { "no-wait", 0, NULL, "return at once with the task id (JSON: the task)" },
        { "timeout", 0, "S", "stop waiting after S seconds (the task goes on)" },
        { NULL },
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
        interrupted = 1;
}

int cli_wait_from_args(struct cli_ctx *ctx, const struct cli_args *a, struct cli_wait *ret)
{
        struct cli_wait w = { .no_wait = cli_args_has(a, "no-wait") };

        /* Only the waiting --timeout: a verb's own --timeout shadows it. */
        for (size_t i = 0; i < a->n_vals; i++) {
                int64_t s;
                char why[160];

                if (a->vals[i].opt != &cli_wait_opts[1])
                        continue;
                if (cli_parse_number(a->vals[i].value, 1, CLI_WAIT_TIMEOUT_MAX_S, &s, why,
                                     sizeof(why)) < 0)
                        return cli_usage(ctx, "--timeout: %s", why);
                w.timeout_ms = s * 1000;
        }
        *ret = w;
        return 0;
}

static int term_width(void)
{
        struct winsize ws;

        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

struct progress {
        bool drawn;          /* a bar is on the terminal line */
        int64_t pct;         /* last shown percent, -1 before the first */
        char *label;         /* last shown label */
};

static const char *jstr(json_t *o, const char *path)
{
        return json_string_value(cli_jpath(o, path));
}

static void progress_show(struct cli_ctx *ctx, struct progress *p, json_t *task)
{
        _cleanup_(freep) char *label = NULL;
        const char *msg = jstr(task, "message");
        const char *name = jstr(task, "target.name");
        int64_t pct = json_integer_value(json_object_get(task, "progress"));
        char line[512];

        label = dv_asprintf("%s%s%s%s%s", jstr(task, "op") ? jstr(task, "op") : "task",
                            name ? " " : "", name ? name : "", msg && *msg ? ": " : "",
                            msg ? msg : "");
        if (pct == p->pct && dv_streq(label, p->label))
                return;
        p->pct = pct;
        free(p->label);
        p->label = TAKE_PTR(label);
        if (ctx->tty) {
                cli_progress_line(line, sizeof(line), term_width(), pct, p->label);
                fprintf(stderr, "\r\033[K%s", line);
                p->drawn = true;
        } else {
                fprintf(stderr, "%3d%% %s\n", (int)pct, p->label);
        }
        fflush(stderr);
}

static void progress_clear(struct progress *p)
{
        if (p->drawn)
                fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
}

static void sleep_ms(int64_t ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

        nanosleep(&ts, NULL); /* SIGINT cuts it short, on purpose */
}

static bool task_finished(const char *state)
{
        return dv_streq(state, "succeeded") || dv_streq(state, "failed") ||
               dv_streq(state, "cancelled");
}

/* One poll; transport failures are retried for UNREACHABLE_GRACE_MS. */
static int task_poll(struct cli_ctx *ctx, const char *id, int64_t *unreachable_since,
                     json_t **task)
{
        _cleanup_(freep) char *path = dv_asprintf("tasks/%s", id);
        _cleanup_(json_decrefp) json_t *reply = NULL;
        long status = 0;
        char err[512];
        int r;

        r = cli_api_try(ctx, "GET", path, NULL, &status, &reply, err, sizeof(err));
        if (r < 0) {
                if (*unreachable_since == 0)
                        *unreachable_since = dv_now_ms();
                if (dv_now_ms() - *unreachable_since < UNREACHABLE_GRACE_MS)
                        return 0;
                return cli_fail(ctx, CLI_EXIT_UNREACHABLE, "unreachable",
                                "cannot reach the manager at %s: %s (task %s may still run)",
                                ctx->url, err, id);
        }
        *unreachable_since = 0;
        if (status < 200 || status >= 300)
                return cli_reply_fail(ctx, "GET", path, status, reply);
        if (!json_is_object(reply))
                return cli_fail(ctx, CLI_EXIT_FAIL, "bad-reply",
                                "task %s: the manager's answer is not a task", id);
        json_decref(*task);
        *task = TAKE_PTR(reply);
        return 0;
}

static int task_failed(struct cli_ctx *ctx, json_t *task)
{
        const char *state = jstr(task, "state");
        const char *id = jstr(task, "id");
        const char *msg = jstr(task, "error.message");
        const char *code = jstr(task, "error.code");

        if (ctx->json)
                cli_print_json(ctx, task);
        if (dv_streq(state, "cancelled"))
                return cli_fail(ctx, CLI_EXIT_FAIL, "cancelled", "task %s was cancelled", id);
        if (!msg)
                msg = jstr(task, "message");
        return cli_fail(ctx, CLI_EXIT_FAIL, code ? code : "task-failed", "%s",
                        msg && *msg ? msg : "the task failed");
}

int cli_task_wait(struct cli_ctx *ctx, json_t *task, int64_t timeout_ms, json_t **ret_task)
{
        _cleanup_(json_decrefp) json_t *cur = json_incref(task);
        _cleanup_(freep) char *id = NULL;
        struct progress p = { .pct = -1 };
        struct sigaction sa = { .sa_handler = on_sigint }, old;
        int64_t start = dv_now_ms(), unreachable_since = 0;
        int r = 0;

        if (!json_string_value(json_object_get(task, "id")))
                return cli_fail(ctx, CLI_EXIT_FAIL, "bad-reply",
                                "the manager's answer names no task");
        id = dv_strdup(json_string_value(json_object_get(task, "id")));
        interrupted = 0;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old); /* no SA_RESTART: cut the sleep short */

        for (;;) {
                progress_show(ctx, &p, cur);
                if (task_finished(jstr(cur, "state")))
                        break;
                if (interrupted) {
                        progress_clear(&p);
                        fprintf(stderr, "interrupted: task %s goes on; 'drover task wait %s' follows it\n",
                                id, id);
                        r = CLI_EXIT_INTERRUPTED;
                        break;
                }
                if (timeout_ms > 0 && dv_now_ms() - start >= timeout_ms) {
                        progress_clear(&p);
                        r = cli_fail(ctx, CLI_EXIT_FAIL, "timeout",
                                     "gave up waiting for task %s after %" PRId64
                                     " s (still %s); 'drover task wait %s' waits again",
                                     id, timeout_ms / 1000, jstr(cur, "state") ?: "unknown", id);
                        break;
                }
                sleep_ms(POLL_MS);
                r = task_poll(ctx, id, &unreachable_since, &cur);
                if (r != 0) {
                        progress_clear(&p);
                        break;
                }
        }
        sigaction(SIGINT, &old, NULL);
        progress_clear(&p);
        free(p.label);
        if (r != 0)
                return r;
        if (!dv_streq(jstr(cur, "state"), "succeeded"))
                return task_failed(ctx, cur);
        *ret_task = TAKE_PTR(cur);
        return 0;
}

int cli_task_finish(struct cli_ctx *ctx, json_t *reply, const struct cli_wait *w,
                    const char *done, const char *extra)
{
        _cleanup_(json_decrefp) json_t *final = NULL;
        json_t *task = json_object_get(reply, "task");
        const char *kind, *name;
        int r;

        if (!task)
                task = reply;
        if (w->no_wait) {
                if (ctx->json)
                        cli_print_json(ctx, reply);
                else
                        printf("%s\n", jstr(task, "id") ?: "-");
                return 0;
        }
        r = cli_task_wait(ctx, task, w->timeout_ms, &final);
        if (r != 0)
                return r;
        if (ctx->json) {
                cli_print_json(ctx, final);
                return 0;
        }
        kind = jstr(final, "target.kind");
        name = jstr(final, "target.name") ?: jstr(final, "target.id");
        if (done && kind && name)
                printf("%s %s %s%s%s\n", done, kind, name, extra ? " " : "", extra ? extra : "");
        else
                printf("task %s (%s) succeeded\n", jstr(final, "id"),
                       jstr(final, "op") ?: "-");
        return 0;
}
