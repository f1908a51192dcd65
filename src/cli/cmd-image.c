/* drover image list|show|import|delete */
#include "cli.h"

#include <string.h>

static const struct cli_column image_columns[] = {
        { "NAME", "name", NULL },
        { "KIND", "kind", NULL },
        { "FORMAT", "format", NULL },
        { "SIZE", NULL, cli_fmt_size },
        { "CREATED", "created_at", NULL },
        { "PATH", "path", NULL },
        { NULL },
};

static void image_print(json_t *img)
{
        _cleanup_(cli_table_freep) struct cli_table *t = cli_table_new(2, NULL);
        char buf[64];

        cli_table_kvj(t, "name", img, "name", NULL);
        cli_table_kvj(t, "id", img, "id", NULL);
        cli_table_kvj(t, "kind", img, "kind", NULL);
        cli_table_kvj(t, "format", img, "format", NULL);
        cli_table_kv(t, "size", "%s", cli_fmt_size(img, buf, sizeof(buf)));
        cli_table_kvj(t, "path", img, "path", NULL);
        if (dv_streq(json_string_value(json_object_get(img, "kind")), "kernel")) {
                cli_table_kvj(t, "kernel", img, "kernel", NULL);
                cli_table_kvj(t, "initrd", img, "initrd", NULL);
                cli_table_kvj(t, "cmdline", img, "cmdline", NULL);
        }
        cli_table_kvj(t, "created", img, "created_at", NULL);
        cli_table_print(t, stdout);
}

static int image_list(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_list(ctx, "images", "images", image_columns);
}

static int image_show(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_show(ctx, "image", "images", a->pos[0], image_print);
}

/* --format, else guessed from the file name's extension. */
static const char *image_format(const char *path, const char *given)
{
        const char *dot = strrchr(path, '.');

        if (given)
                return given;
        if (dot && strcmp(dot, ".qcow2") == 0)
                return "qcow2";
        if (dot && (strcmp(dot, ".raw") == 0 || strcmp(dot, ".img") == 0))
                return "raw";
        return NULL;
}

static int image_import(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = NULL, *reply = NULL;
        _cleanup_(freep) char *abs = NULL;
        const char *path = cli_args_get(a, "path"), *format;
        struct cli_wait w;
        int r;

        r = cli_check_name(ctx, "image", a->pos[0]);
        if (r == 0)
                r = cli_wait_from_args(ctx, a, &w);
        if (r != 0)
                return r;
        if (!path || !*path)
                return cli_usage(ctx, "--path P is required");
        format = image_format(path, cli_args_get(a, "format"));
        if (!format)
                return cli_usage(ctx, "--format qcow2|raw is required for '%s'", path);
        if (!dv_streq(format, "qcow2") && !dv_streq(format, "raw"))
                return cli_usage(ctx, "--format: '%s' is not qcow2 or raw", format);
        /* The manager reads the file: give it an absolute path. */
        if (path[0] != '/') {
                _cleanup_(freep) char *cwd = getcwd(NULL, 0);

                if (!cwd)
                        return cli_fail(ctx, CLI_EXIT_FAIL, "cwd",
                                        "cannot resolve '%s': the current directory is unknown",
                                        path);
                abs = dv_asprintf("%s/%s", cwd, path);
                path = abs;
        }
        body = json_pack("{s:s,s:s,s:s}", "name", a->pos[0], "path", path, "format", format);
        r = cli_api(ctx, "POST", body, &reply, "images");
        if (r != 0)
                return r;
        return cli_task_finish(ctx, reply, &w, "imported", NULL);
}

static int image_delete(struct cli_ctx *ctx, const struct cli_args *a)
{
        return cli_delete_named(ctx, "image", "images", a->pos[0]);
}

static const struct cli_opt import_opts[] = {
        { "path", 0, "P", "the file to import, as the manager sees it (required)" },
        { "format", 0, "qcow2|raw", "its format (default: from a .qcow2/.raw/.img name)" },
        { NULL },
};

static const struct cli_verb image_verbs[] = {
        { .name = "list", .summary = "list images", .run = image_list },
        { .name = "show", .args = "IMAGE", .min_args = 1, .max_args = 1,
          .summary = "show an image", .run = image_show },
        { .name = "import", .args = "NAME", .min_args = 1, .max_args = 1,
          .summary = "import a disk image (--path P --format qcow2|raw)", .opts = import_opts,
          .waits = true, .run = image_import },
        { .name = "delete", .args = "IMAGE", .min_args = 1, .max_args = 1,
          .summary = "delete an image no VM uses", .run = image_delete },
};

const struct cli_noun cli_noun_image = {
        .name = "image",
        .summary = "boot images VMs are created from",
        .verbs = image_verbs,
        .n_verbs = ELEMENTSOF(image_verbs),
};
