/* drover: the command-line client of the manager. Nouns come from a table
 * (one cmd-<noun>.c each); this file parses the global options, finds the
 * noun and verb, parses the verb's options and runs it. */
#include "cli.h"

#include <ctype.h>
#include <string.h>

#include "http.h"

/* Add a noun here and its cmd-<noun>.c to meson.build. */
static const struct cli_noun *const nouns[] = {
        &cli_noun_host,
        &cli_noun_vm,
        &cli_noun_task,
        &cli_noun_event,
        &cli_noun_image,
        &cli_noun_alarm,
        &cli_noun_dvs,
        &cli_noun_portgroup,
        &cli_noun_cluster,
        &cli_noun_drs,
        &cli_noun_dpm,
        &cli_noun_net,
};

static const struct cli_opt global_opts[] = {
        { "output", 'o', "FORMAT", "text (default) or json: one JSON document on stdout" },
        { "url", 0, "URL", "the manager (default $DROVER_URL, else " CLI_DEFAULT_URL ")" },
        { "help", 'h', NULL, "show help" },
        { NULL },
};

/* Accepted only before the noun. */
static const struct cli_opt version_opts[] = {
        { "version", 0, NULL, "print the version" },
        { NULL },
};

static const struct cli_noun *noun_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(nouns); i++)
                if (strcmp(nouns[i]->name, name) == 0)
                        return nouns[i];
        return NULL;
}

static const struct cli_verb *verb_find(const struct cli_noun *n, const char *name)
{
        for (size_t i = 0; i < n->n_verbs; i++)
                if (strcmp(n->verbs[i].name, name) == 0)
                        return &n->verbs[i];
        return NULL;
}

/* The option tables of a verb, first match wins. */
static void verb_tables(const struct cli_verb *v, const struct cli_opt *tables[4])
{
        size_t n = 0;

        if (v->opts)
                tables[n++] = v->opts;
        if (v->waits)
                tables[n++] = cli_wait_opts;
        tables[n++] = global_opts;
        tables[n] = NULL;
}

static void print_options(FILE *f, const struct cli_opt *const *tables)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);

        for (size_t i = 0; tables[i]; i++) {
                for (const struct cli_opt *o = tables[i]; o->name; o++) {
                        if (cli_opt_find(tables, o->name) != o)
                                continue; /* shadowed by the verb's own */
                        char alias[8] = "    ";

                        if (o->short_name)
                                snprintf(alias, sizeof(alias), "-%c, ", o->short_name);
                        cli_table_add(t, "  %s--%s%s%s", alias, o->name, o->arg ? " " : "",
                                      o->arg ? o->arg : "");
                        cli_table_add(t, "%s", o->help);
                }
        }
        cli_table_print(t, f);
}

static void print_main_help(FILE *f)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        const struct cli_opt *tables[] = { global_opts, version_opts, NULL };

        fprintf(f, "usage: drover [-o json|text] [--url URL] NOUN VERB [ARGS...]\n"
                   "       drover NOUN --help | drover version\n\n"
                   "Manage a Drover cluster through its manager (droverd).\n\nNouns:\n");
        for (size_t i = 0; i < ELEMENTSOF(nouns); i++) {
                cli_table_add(t, "  %s", nouns[i]->name);
                cli_table_add(t, "%s", nouns[i]->summary);
        }
        cli_table_add(t, "  lab");
        cli_table_add(t, "a whole cluster on this machine (runs lab/drover-lab; 'drover lab --help')");
        cli_table_add(t, "  version");
        cli_table_add(t, "print the version");
        cli_table_print(t, f);
        fprintf(f, "\nOptions (-o and --url are also accepted after the verb):\n");
        print_options(f, tables);
        fprintf(f, "\nEnvironment:\n"
                   "  DROVER_URL         the manager, e.g. http://10.0.0.1:7080\n"
                   "  DROVER_TOKEN       the API token, else read from\n"
                   "  DROVER_TOKEN_FILE  a file holding it (default " CLI_DEFAULT_TOKEN_FILE ")\n"
                   "\nExit status: 0 done, 1 refused by the manager or the task failed,\n"
                   "2 usage error, 3 the manager cannot be reached.\n");
}

static void print_noun_help(FILE *f, const struct cli_noun *n)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);

        fprintf(f, "usage: drover %s VERB [ARGS...] [OPTIONS]\n\n%c%s.\n\nVerbs:\n", n->name,
                toupper((unsigned char)n->summary[0]), n->summary + 1);
        for (size_t i = 0; i < n->n_verbs; i++) {
                cli_table_add(t, "  %s%s%s", n->verbs[i].name, n->verbs[i].args ? " " : "",
                              n->verbs[i].args ? n->verbs[i].args : "");
                cli_table_add(t, "%s", n->verbs[i].summary);
        }
        cli_table_print(t, f);
        fprintf(f, "\nRun 'drover %s VERB --help' for a verb's options.\n", n->name);
}

static void print_verb_help(FILE *f, const struct cli_noun *n, const struct cli_verb *v)
{
        const struct cli_opt *tables[4];

        verb_tables(v, tables);
        fprintf(f, "usage: drover %s %s%s%s [OPTIONS]\n\n%c%s.\n\nOptions:\n", n->name,
                v->name, v->args ? " " : "", v->args ? v->args : "",
                toupper((unsigned char)v->summary[0]), v->summary + 1);
        print_options(f, tables);
}

static int set_url(struct cli_ctx *ctx, const char *url, const char *what)
{
        size_t n;

        if (!dv_startswith(url, "http://") && !dv_startswith(url, "https://"))
                return cli_usage(ctx, "%s: '%s' is not an http:// or https:// URL", what, url);
        free(ctx->url);
        ctx->url = dv_strdup(url);
        n = strlen(ctx->url);
        while (n > 0 && ctx->url[n - 1] == '/')
                ctx->url[--n] = 0;
        return 0;
}

/* -o and --url, from before the noun or after the verb (the later wins). */
static int apply_globals(struct cli_ctx *ctx, const struct cli_args *a)
{
        const char *o = cli_args_get(a, "output"), *url = cli_args_get(a, "url");

        if (o && strcmp(o, "json") == 0)
                ctx->json = true;
        else if (o && strcmp(o, "text") == 0)
                ctx->json = false;
        else if (o)
                return cli_usage(ctx, "-o: '%s' is not json or text", o);
        return url ? set_url(ctx, url, "--url") : 0;
}

static int verb_call(struct cli_ctx *ctx, const struct cli_noun *n, const struct cli_verb *v,
                     const struct cli_args *a)
{
        if (cli_args_has(a, "help")) {
                print_verb_help(stdout, n, v);
                return 0;
        }
        if (a->n_pos < v->min_args)
                return cli_usage(ctx, "expected %s", v->args);
        if (a->n_pos > v->max_args)
                return cli_usage(ctx, "unexpected argument '%s'", a->pos[v->max_args]);
        return v->run(ctx, a);
}

static int run_verb(struct cli_ctx *ctx, const struct cli_noun *n, const struct cli_verb *v,
                    int argc, char **argv)
{
        const struct cli_opt *tables[4];
        struct cli_args a;
        char err[256];
        int r, k;

        verb_tables(v, tables);
        k = cli_args_parse(argc, argv, tables, false, &a, err, sizeof(err));
        r = apply_globals(ctx, &a);
        if (r == 0)
                r = k < 0 ? cli_usage(ctx, "%s", err) : verb_call(ctx, n, v, &a);
        cli_args_done(&a);
        return r;
}

static int run_help(struct cli_ctx *ctx, int argc, char **argv)
{
        const struct cli_noun *n = argc > 0 ? noun_find(argv[0]) : NULL;
        const struct cli_verb *v = n && argc > 1 ? verb_find(n, argv[1]) : NULL;

        if (argc > 0 && !n)
                return cli_usage(ctx, "unknown noun '%s'", argv[0]);
        if (argc > 1 && !v)
                return cli_usage(ctx, "unknown verb '%s %s'", argv[0], argv[1]);
        if (v)
                print_verb_help(stdout, n, v);
        else if (n)
                print_noun_help(stdout, n);
        else
                print_main_help(stdout);
        return 0;
}

static int run_version(struct cli_ctx *ctx)
{
        _cleanup_(json_decrefp) json_t *doc = NULL;

        if (!ctx->json) {
                printf("drover %s\n", DROVER_VERSION);
                return 0;
        }
        doc = json_pack("{s:s}", "version", DROVER_VERSION);
        cli_print_json(ctx, doc);
        return 0;
}

/* NOUN VERB ARGS..., or NOUN --help. */
static int run_noun(struct cli_ctx *ctx, int argc, char **argv)
{
        _cleanup_(freep) char *cmd = NULL, *help_cmd = NULL;
        const struct cli_noun *n = noun_find(argv[0]);
        const struct cli_verb *v;
        int r;

        if (!n)
                return cli_usage(ctx, "unknown command '%s'", argv[0]);
        if (argc == 1) {
                print_noun_help(stderr, n);
                return CLI_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
            strcmp(argv[1], "help") == 0) {
                print_noun_help(stdout, n);
                return 0;
        }
        v = verb_find(n, argv[1]);
        if (!v) {
                help_cmd = dv_asprintf("drover %s --help", n->name);
                ctx->help_cmd = help_cmd;
                r = cli_usage(ctx, "unknown verb '%s %s'", n->name, argv[1]);
                ctx->help_cmd = NULL;
                return r;
        }
        cmd = dv_asprintf("%s %s", n->name, v->name);
        help_cmd = dv_asprintf("drover %s %s --help", n->name, v->name);
        ctx->cmd = cmd;
        ctx->help_cmd = help_cmd;
        r = run_verb(ctx, n, v, argc - 2, argv + 2);
        ctx->cmd = ctx->help_cmd = NULL;
        return r;
}

static int run(struct cli_ctx *ctx, int argc, char **argv)
{
        const struct cli_opt *tables[] = { global_opts, version_opts, NULL };
        struct cli_args a;
        bool help, version;
        char err[256];
        int r, k;

        k = cli_args_parse(argc, argv, tables, true, &a, err, sizeof(err));
        r = apply_globals(ctx, &a);
        help = cli_args_has(&a, "help");
        version = cli_args_has(&a, "version");
        argc -= (int)a.n_used;
        argv += a.n_used;
        cli_args_done(&a);
        if (r != 0)
                return r;
        if (k < 0)
                return cli_usage(ctx, "%s", err);
        if (version)
                return run_version(ctx);
        if (help) {
                print_main_help(stdout);
                return 0;
        }
        if (argc == 0) {
                print_main_help(stderr);
                return CLI_EXIT_USAGE;
        }
        if (strcmp(argv[0], "version") == 0)
                return argc == 1 ? run_version(ctx) : cli_usage(ctx, "version takes no arguments");
        if (strcmp(argv[0], "help") == 0)
                return run_help(ctx, argc - 1, argv + 1);
        if (strcmp(argv[0], "lab") == 0)
                return cli_lab_exec(ctx, argc - 1, argv + 1);
        return run_noun(ctx, argc, argv);
}

int main(int argc, char **argv)
{
        struct cli_ctx ctx = { .url = dv_strdup(CLI_DEFAULT_URL) };
        const char *url = getenv("DROVER_URL");
        int r = 0;

        ctx.tty = isatty(STDERR_FILENO) && !dv_streq(getenv("TERM"), "dumb");
        dv_http_global_init();

        if (url && *url)
                r = set_url(&ctx, url, "DROVER_URL");
        if (r == 0)
                r = run(&ctx, argc - 1, argv + 1);

        free(ctx.url);
        free(ctx.token);
        free(ctx.token_note);
        return r;
}
