/* drover lab ...: the lab (lab/drover-lab, a script) is run in our place
 * with the same arguments. Not a table noun: its verbs and options are the
 * script's (lab/README.md). */
#include "cli.h"

#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define LAB_INSTALLED "/usr/local/libexec/drover/drover-lab"

static bool is_file(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the running binary (owned), or NULL. */
static char *exe_dir(void)
{
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return dv_strdup(dirname(buf));
}

/* $DROVER_LAB, else the source tree of a build tree
 * (<build>/src/cli/drover -> <repo>/lab/drover-lab), else the installed one. */
char *cli_lab_script(void)
{
        const char *env = getenv("DROVER_LAB");
        _cleanup_(freep) char *dir = exe_dir(), *tree = NULL;

        if (env && *env)
                return dv_strdup(env);
        if (dir) {
                tree = dv_asprintf("%s/../../../lab/drover-lab", dir);
                if (is_file(tree)) {
                        char real[PATH_MAX];
                        return dv_strdup(realpath(tree, real) ? real : tree);
                }
        }
        return dv_strdup(LAB_INSTALLED);
}

/* Where the lab finds droverd and drover-agent: next to us (installed), or
 * the build tree's root (the script looks in DIR/src/{manager,agent}). */
static char *bin_dir(void)
{
        _cleanup_(freep) char *dir = exe_dir(), *side = NULL, *tree = NULL;
        char real[PATH_MAX];

        if (!dir)
                return NULL;
        side = dv_asprintf("%s/droverd", dir);
        if (is_file(side))
                return TAKE_PTR(dir);
        tree = dv_asprintf("%s/../manager/droverd", dir);
        if (is_file(tree)) {
                char *root = dv_asprintf("%s/../..", dir);
                char *r = realpath(root, real) ? dv_strdup(real) : dv_strdup(root);
                free(root);
                return r;
        }
        return NULL;
}

int cli_lab_exec(struct cli_ctx *ctx, int argc, char **argv)
{
        _cleanup_(freep) char *script = cli_lab_script(), *bins = NULL;
        const char **args;
        int cmd = -1; /* index of the lab's command (after --state-dir DIR) */
        bool has_bin = false, has_o = false;
        size_t n = 0;

        if (!is_file(script))
                return cli_fail(ctx, CLI_EXIT_FAIL, "no-lab",
                                "the lab script %s is not there (set DROVER_LAB to its path)",
                                script);
        for (int i = 0; i < argc; i++) {
                if (cmd < 0 && strcmp(argv[i], "--state-dir") == 0) {
                        i++;
                        continue;
                }
                if (cmd < 0 && !dv_startswith(argv[i], "--state-dir="))
                        cmd = i;
                has_bin = has_bin || dv_startswith(argv[i], "--bin-dir");
                has_o = has_o || strcmp(argv[i], "-o") == 0;
        }
        if (cmd >= 0 && strcmp(argv[cmd], "up") == 0 && !has_bin)
                bins = bin_dir();
        args = calloc((size_t)argc + 8, sizeof(*args));
        if (!args)
                return cli_fail(ctx, CLI_EXIT_FAIL, "oom", "out of memory");
        args[n++] = "bash";
        args[n++] = script;
        for (int i = 0; i < argc; i++) {
                args[n++] = argv[i];
                if (i == cmd && bins) {
                        args[n++] = "--bin-dir";
                        args[n++] = bins;
                }
        }
        if (cmd >= 0 && strcmp(argv[cmd], "status") == 0 && ctx->json && !has_o) {
                args[n++] = "-o";
                args[n++] = "json";
        }
        args[n] = NULL;
        fflush(stdout);
        /* bash explicitly: the script's mode bits may have been lost. */
        execv("/bin/bash", (char *const *)args);
        free(args);
        return cli_fail(ctx, CLI_EXIT_FAIL, "no-lab", "cannot run %s: %s", script,
                        strerror(errno));
}
