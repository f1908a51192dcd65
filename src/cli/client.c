/* Talking to the manager: token, calls, and the mapping of failures to
 * messages and exit statuses (one place). */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#include "http.h"

#define CLI_CALL_TIMEOUT_MS 30000
#define CLI_TOKEN_MAX 4096

static void print_error_doc(struct cli_ctx *ctx, const char *code, const char *message)
{
        _cleanup_(json_decrefp) json_t *doc = NULL;

        if (!ctx->json || ctx->printed)
                return;
        doc = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
        cli_print_json(ctx, doc);
}

static int failv(struct cli_ctx *ctx, int status, const char *code, const char *hint,
                 const char *fmt, va_list ap)
{
        _cleanup_(freep) char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        fflush(stdout);
        fprintf(stderr, "error: %s\n", msg);
        if (hint)
                fprintf(stderr, "%s\n", hint);
        print_error_doc(ctx, code, msg);
        return status;
}

int cli_fail(struct cli_ctx *ctx, int status, const char *code, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = failv(ctx, status, code, NULL, fmt, ap);
        va_end(ap);
        return r;
}

int cli_usage(struct cli_ctx *ctx, const char *fmt, ...)
{
        _cleanup_(freep) char *fmt2 = NULL, *hint = NULL;
        va_list ap;
        int r;

        fmt2 = ctx->cmd ? dv_asprintf("%s: %s", ctx->cmd, fmt) : dv_strdup(fmt);
        hint = dv_asprintf("Try '%s'.", ctx->help_cmd ? ctx->help_cmd : "drover --help");
        va_start(ap, fmt);
        r = failv(ctx, CLI_EXIT_USAGE, "usage", hint, fmt2, ap);
        va_end(ap);
        return r;
}

int cli_check_name(struct cli_ctx *ctx, const char *what, const char *name)
{
        if (dv_name_valid(name))
                return 0;
        return cli_usage(ctx, "invalid %s name '%s': use 1 to %d of A-Z a-z 0-9 . _ -", what,
                         name, DV_NAME_MAX);
}

int cli_opt_number(struct cli_ctx *ctx, const struct cli_args *a, const char *opt,
                   int64_t min, int64_t max, int64_t *ret)
{
        const char *v = cli_args_get(a, opt);
        char why[160];

        if (!v)
                return 0;
        if (cli_parse_number(v, min, max, ret, why, sizeof(why)) < 0)
                return cli_usage(ctx, "--%s: %s", opt, why);
        return 0;
}

void cli_print_json(struct cli_ctx *ctx, json_t *doc)
{
        if (ctx->printed)
                return;
        json_dumpf(doc ? doc : json_null(), stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', stdout);
        fflush(stdout);
        ctx->printed = true;
}

static char *trim(char *s)
{
        size_t n;

        s += strspn(s, " \t\r\n");
        n = strlen(s);
        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                s[--n] = 0;
        return s;
}

/* DROVER_TOKEN, else the file DROVER_TOKEN_FILE, else the default file.
 * A missing default file is not an error here: the manager's 401 is
 * explained with token_note. An explicit file that cannot be read is. */
static int load_token(struct cli_ctx *ctx)
{
        const char *env = getenv("DROVER_TOKEN");
        const char *file = getenv("DROVER_TOKEN_FILE");
        const char *path = file && *file ? file : CLI_DEFAULT_TOKEN_FILE;
        _cleanup_(freep) char *data = NULL;
        const char *token;
        int r;

        if (ctx->token_loaded)
                return 0;
        ctx->token_loaded = true;
        if (env && *env) {
                ctx->token = dv_strdup(env);
                return 0;
        }
        r = dv_read_file(path, CLI_TOKEN_MAX, &data, NULL);
        if (r < 0 && path == file)
                return cli_fail(ctx, CLI_EXIT_USAGE, "no-token",
                                "cannot read the token file %s (DROVER_TOKEN_FILE): %s", file,
                                strerror(-r));
        if (r < 0) {
                ctx->token_note = dv_asprintf("no token sent: set DROVER_TOKEN or "
                                              "DROVER_TOKEN_FILE; cannot read %s: %s",
                                              path, strerror(-r));
                return 0;
        }
        token = trim(data);
        if (!*token) {
                ctx->token_note = dv_asprintf("the token file %s is empty", path);
                return 0;
        }
        ctx->token = dv_strdup(token);
        return 0;
}

int cli_load_token(struct cli_ctx *ctx)
{
        return load_token(ctx);
}

int cli_api_try(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
                long *ret_status, json_t **ret_body, char *err, size_t err_len)
{
        _cleanup_(freep) char *url = dv_asprintf("%s/api/v1/%s", ctx->url, path);
        char cerr[512] = "";
        size_t n = strlen(url);
        int r;

        r = dv_http_call(method, url, ctx->token, body, CLI_CALL_TIMEOUT_MS, ret_status,
                         ret_body, cerr, sizeof(cerr));
        if (r < 0) {
                /* dv_http_call says "URL: reason"; the caller names the URL. */
                const char *why = strncmp(cerr, url, n) == 0 && strncmp(cerr + n, ": ", 2) == 0
                                          ? cerr + n + 2
                                          : cerr;
                snprintf(err, err_len, "%s", *why ? why : strerror(-r));
        }
        return r;
}

int cli_reply_fail(struct cli_ctx *ctx, const char *method, const char *path, long status,
                   json_t *reply)
{
        const char *msg = dv_http_error_message(reply);
        const char *code = dv_http_error_code(reply);

        if (status == 401)
                return cli_fail(ctx, CLI_EXIT_FAIL, code ? code : "unauthorized", "%s (%s)",
                                msg ? msg : "unauthorized",
                                ctx->token_note ? ctx->token_note
                                                : "check DROVER_TOKEN or DROVER_TOKEN_FILE");
        if (msg)
                return cli_fail(ctx, CLI_EXIT_FAIL, code ? code : "error", "%s", msg);
        return cli_fail(ctx, CLI_EXIT_FAIL, "http-error",
                        "%s %s/api/v1/%s: HTTP status %ld without an error message", method,
                        ctx->url, path, status);
}

int cli_api(struct cli_ctx *ctx, const char *method, json_t *body, json_t **ret,
            const char *path_fmt, ...)
{
        _cleanup_(freep) char *path = NULL;
        _cleanup_(json_decrefp) json_t *reply = NULL;
        char err[512];
        long status = 0;
        va_list ap;
        int r;

        r = load_token(ctx);
        if (r != 0)
                return r;
        va_start(ap, path_fmt);
        if (vasprintf(&path, path_fmt, ap) < 0)
                abort();
        va_end(ap);

        r = cli_api_try(ctx, method, path, body, &status, &reply, err, sizeof(err));
        if (r < 0)
                return cli_fail(ctx, CLI_EXIT_UNREACHABLE, "unreachable",
                                "cannot reach the manager at %s: %s", ctx->url, err);
        if (status >= 200 && status < 300) {
                if (ret)
                        *ret = TAKE_PTR(reply);
                return 0;
        }
        return cli_reply_fail(ctx, method, path, status, reply);
}

int cli_list(struct cli_ctx *ctx, const char *path, const char *key,
             const struct cli_column *cols)
{
        _cleanup_(json_decrefp) json_t *reply = NULL;
        int r;

        r = cli_api(ctx, "GET", NULL, &reply, "%s", path);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else
                cli_print_rows(json_object_get(reply, key), cols, stdout);
        return 0;
}

int cli_show(struct cli_ctx *ctx, const char *kind, const char *collection, const char *name,
             void (*print)(json_t *obj))
{
        _cleanup_(json_decrefp) json_t *obj = NULL;
        int r;

        r = cli_check_name(ctx, kind, name);
        if (r == 0)
                r = cli_api(ctx, "GET", NULL, &obj, "%s/%s", collection, name);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, obj);
        else
                print(obj);
        return 0;
}

int cli_delete_named(struct cli_ctx *ctx, const char *what, const char *collection,
                     const char *name)
{
        _cleanup_(json_decrefp) json_t *doc = NULL;
        int r;

        r = cli_check_name(ctx, what, name);
        if (r == 0)
                r = cli_api(ctx, "DELETE", NULL, NULL, "%s/%s", collection, name);
        if (r != 0)
                return r;
        if (ctx->json) {
                doc = json_pack("{s:s,s:b}", "name", name, "deleted", 1);
                cli_print_json(ctx, doc);
        } else {
                printf("deleted %s %s\n", what, name);
        }
        return 0;
}
