#include "args.h"

#include <stdarg.h>
#include <string.h>

const struct cli_opt *cli_opt_find(const struct cli_opt *const *tables, const char *name)
{
        for (size_t t = 0; tables[t]; t++)
                for (const struct cli_opt *o = tables[t]; o->name; o++)
                        if (strcmp(o->name, name) == 0)
                                return o;
        return NULL;
}

static const struct cli_opt *opt_find_short(const struct cli_opt *const *tables, char c)
{
        for (size_t t = 0; tables[t]; t++)
                for (const struct cli_opt *o = tables[t]; o->name; o++)
                        if (o->short_name == c)
                                return o;
        return NULL;
}

/* Finds a long option by the text after "--", up to '=' if any. */
static const struct cli_opt *opt_find_long(const struct cli_opt *const *tables, const char *s,
                                           size_t n)
{
        for (size_t t = 0; tables[t]; t++)
                for (const struct cli_opt *o = tables[t]; o->name; o++)
                        if (strlen(o->name) == n && strncmp(o->name, s, n) == 0)
                                return o;
        return NULL;
}

/* Keeps the first error's message; parsing goes on, so that the options
 * after a mistake (-o json) are still known. */
static int fail(int r, char *err, size_t err_len, const char *fmt, ...) _printf_(4, 5);
static int fail(int r, char *err, size_t err_len, const char *fmt, ...)
{
        va_list ap;

        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int cli_args_parse(int argc, char **argv, const struct cli_opt *const *tables,
                   bool stop_at_positional, struct cli_args *ret, char *err, size_t err_len)
{
        struct cli_args a = { 0 };
        bool options_done = false;
        int i, r = 0;

        /* Every argument is at most one positional or one option. */
        a.pos = calloc((size_t)argc + 1, sizeof(*a.pos));
        a.vals = calloc((size_t)argc + 1, sizeof(*a.vals));
        if (!a.pos || !a.vals)
                abort();

        for (i = 0; i < argc; i++) {
                const char *s = argv[i];
                const struct cli_opt *o;
                const char *value = NULL;

                if (options_done || s[0] != '-' || s[1] == 0) {
                        if (stop_at_positional)
                                break;
                        a.pos[a.n_pos++] = s;
                        continue;
                }
                if (strcmp(s, "--") == 0) {
                        options_done = true;
                        if (stop_at_positional) {
                                i++;
                                break;
                        }
                        continue;
                }
                if (s[1] == '-') {
                        const char *eq = strchr(s + 2, '=');
                        size_t n = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);

                        o = opt_find_long(tables, s + 2, n);
                        if (!o) {
                                r = fail(r, err, err_len, "unknown option '%.*s'",
                                         (int)(n + 2), s);
                                continue;
                        }
                        if (eq) {
                                if (!o->arg) {
                                        r = fail(r, err, err_len,
                                                 "option '--%s' takes no value", o->name);
                                        continue;
                                }
                                value = eq + 1;
                        }
                } else {
                        o = opt_find_short(tables, s[1]);
                        if (!o) {
                                r = fail(r, err, err_len, "unknown option '-%c'", s[1]);
                                continue;
                        }
                        if (s[2]) {
                                if (!o->arg) {
                                        r = fail(r, err, err_len,
                                                 "option '-%c' takes no value", s[1]);
                                        continue;
                                }
                                value = s + 2;
                        }
                }
                if (o->arg && !value) {
                        if (i + 1 >= argc) {
                                r = fail(r, err, err_len, "option '--%s' needs a value (%s)",
                                         o->name, o->arg);
                                continue;
                        }
                        value = argv[++i];
                }
                a.vals[a.n_vals].opt = o;
                a.vals[a.n_vals].value = o->arg ? value : NULL;
                a.n_vals++;
        }
        a.n_used = (size_t)i;
        *ret = a;
        return r;
}

void cli_args_done(struct cli_args *a)
{
        free(a->pos);
        free(a->vals);
        *a = (struct cli_args){ 0 };
}

const char *cli_args_next(const struct cli_args *a, const char *name, size_t *iter)
{
        for (; *iter < a->n_vals; (*iter)++) {
                const struct cli_optval *v = &a->vals[*iter];

                if (strcmp(v->opt->name, name) == 0) {
                        (*iter)++;
                        return v->value ? v->value : "";
                }
        }
        return NULL;
}

const char *cli_args_get(const struct cli_args *a, const char *name)
{
        const char *last = NULL, *v;
        size_t it = 0;

        while ((v = cli_args_next(a, name, &it)))
                last = v;
        return last;
}

bool cli_args_has(const struct cli_args *a, const char *name)
{
        return cli_args_get(a, name) != NULL;
}
