/* The drover CLI: a table of nouns (one cmd-<noun>.c each), each with a
 * table of verbs. A verb's run() returns the process exit status; every
 * helper here that can fail prints the error itself (on stderr, and as the
 * JSON document on stdout with -o json) and returns the exit status to pass
 * up, so a verb only has to "return r" when r != 0. */
#pragma once

#include <jansson.h>

#include "args.h"
#include "output.h"
#include "parse.h"
#include "util.h"

/* Exit statuses (docs/cli.md). */
enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAIL = 1,          /* the server refused, or a task failed */
        CLI_EXIT_USAGE = 2,         /* unknown command or option, bad value */
        CLI_EXIT_UNREACHABLE = 3,   /* no answer from the manager */
        CLI_EXIT_INTERRUPTED = 130, /* SIGINT while waiting for a task */
};

#define CLI_DEFAULT_URL "http://127.0.0.1:7080"
#define CLI_DEFAULT_TOKEN_FILE "/var/lib/drover/token"

struct cli_ctx {
        char *url;             /* manager base URL, without a trailing '/' */
        bool json;             /* -o json: one JSON document on stdout */
        bool tty;              /* stderr is a terminal: draw a progress bar */
        const char *cmd;       /* "vm create", for messages */
        const char *help_cmd;  /* "drover vm create --help", for usage errors */
        bool token_loaded;     /* token and token_note are set */
        char *token;           /* bearer token, or NULL */
        char *token_note;      /* why there is no token (shown on 401), or NULL */
        bool printed;          /* the JSON document has been printed */
};

struct cli_verb {
        const char *name;            /* "create" */
        const char *args;            /* positional usage, "NAME" */
        size_t min_args, max_args;   /* positional count bounds */
        const char *summary;         /* one line for help */
        const struct cli_opt *opts;  /* options, or NULL */
        bool waits;                  /* a long operation: accepts --no-wait / --timeout */
        int (*run)(struct cli_ctx *ctx, const struct cli_args *a);
};

struct cli_noun {
        const char *name;            /* "vm" */
        const char *summary;         /* one line for help */
        const struct cli_verb *verbs;
        size_t n_verbs;
};

/* The nouns, one per cmd-<noun>.c. */
extern const struct cli_noun cli_noun_host;
extern const struct cli_noun cli_noun_vm;
extern const struct cli_noun cli_noun_task;
extern const struct cli_noun cli_noun_event;
extern const struct cli_noun cli_noun_image;
extern const struct cli_noun cli_noun_alarm;
extern const struct cli_noun cli_noun_dvs;
extern const struct cli_noun cli_noun_portgroup;
extern const struct cli_noun cli_noun_cluster;
extern const struct cli_noun cli_noun_drs;
extern const struct cli_noun cli_noun_dpm;
extern const struct cli_noun cli_noun_net;

/* drover lab ...: exec the lab script (cmd-lab.c); returns only on error. */
int cli_lab_exec(struct cli_ctx *ctx, int argc, char **argv);
/* The lab script's path: $DROVER_LAB, the source tree of a build tree, or
 * /usr/local/libexec/drover/drover-lab (owned). */
char *cli_lab_script(void);

/* Errors. Each prints "error: MESSAGE" on stderr and, with -o json and no
 * document printed yet, {"error":{"code","message"}} on stdout; returns
 * the exit status. */
int cli_fail(struct cli_ctx *ctx, int status, const char *code, const char *fmt, ...)
        _printf_(4, 5);
/* A usage error of the current command (exit 2), with a pointer to --help. */
int cli_usage(struct cli_ctx *ctx, const char *fmt, ...) _printf_(2, 3);

/* Argument checks (usage errors): what is "vm", "host", ... */
int cli_check_name(struct cli_ctx *ctx, const char *what, const char *name);
/* An integer option, if given, in [min, max]; *ret untouched when absent. */
int cli_opt_number(struct cli_ctx *ctx, const struct cli_args *a, const char *opt,
                   int64_t min, int64_t max, int64_t *ret);

/* Calls the manager: METHOD URL/api/v1/PATH with body (borrowed, may be
 * NULL). On a 2xx answer returns 0 with the body in *ret (NULL when empty;
 * ret may be NULL). Otherwise prints the server's message (exit 1) or
 * that the manager cannot be reached (exit 3). */
int cli_api(struct cli_ctx *ctx, const char *method, json_t *body, json_t **ret,
            const char *path_fmt, ...) _printf_(5, 6);

/* DELETE api/v1/COLLECTION/NAME for a "what" named name, then prints
 * "deleted WHAT NAME" (or {"name","deleted":true} with -o json). */
int cli_delete_named(struct cli_ctx *ctx, const char *what, const char *collection,
                     const char *name);

/* Loads the token as cli_api() does (once), for cli_api_try(); non-zero
 * (printed) when an explicit token file cannot be read. */
int cli_load_token(struct cli_ctx *ctx);

/* The same call without printing: returns a negative errno when no answer
 * came (message in err), else 0 with the status and body (NULL when not
 * JSON). Uses the token cli_api() loaded: call it after one cli_api(). */
int cli_api_try(struct cli_ctx *ctx, const char *method, const char *path, json_t *body,
                long *ret_status, json_t **ret_body, char *err, size_t err_len);

/* Reports a non-2xx answer: the server's message (with a token hint on
 * 401) and exit 1. */
int cli_reply_fail(struct cli_ctx *ctx, const char *method, const char *path, long status,
                   json_t *reply);

/* The common read verbs. cli_list GETs path (a collection, with any
 * query) and prints the answer (-o json) or a table of answer[key].
 * cli_show checks the name, GETs collection/name and prints the object
 * (-o json) or print(object). */
int cli_list(struct cli_ctx *ctx, const char *path, const char *key,
             const struct cli_column *cols);
int cli_show(struct cli_ctx *ctx, const char *kind, const char *collection, const char *name,
             void (*print)(json_t *obj));

/* Prints doc as the command's JSON document (-o json), at most once. */
void cli_print_json(struct cli_ctx *ctx, json_t *doc);

/* Long operations (202 + task). */
#define CLI_WAIT_TIMEOUT_MAX_S (7 * 24 * 3600)
struct cli_wait {
        bool no_wait;          /* --no-wait: print the task and return */
        int64_t timeout_ms;    /* give up waiting after this long; 0 = never */
};
/* The options every verb with .waits accepts: --no-wait, --timeout S. A
 * verb may define its own --timeout, which then shadows the waiting one. */
extern const struct cli_opt cli_wait_opts[];
/* Reads --no-wait and the waiting --timeout S. */
int cli_wait_from_args(struct cli_ctx *ctx, const struct cli_args *a, struct cli_wait *ret);
/* Follows the task until it ends, drawing progress on stderr. Returns 0
 * with the finished task in *ret_task when it succeeded; otherwise prints
 * "error: <task error>" (and the task as JSON document) and returns 1, 3
 * or 130. task is the task as the 202 answer gave it (borrowed). */
int cli_task_wait(struct cli_ctx *ctx, json_t *task, int64_t timeout_ms, json_t **ret_task);
/* The usual end of a long-operation verb: with --no-wait prints the 202
 * answer (-o json) or the task id; else waits, then prints the finished
 * task (-o json) or "<done> <kind> <name>" (e.g. "started vm web1"), plus
 * extra when given. */
int cli_task_finish(struct cli_ctx *ctx, json_t *reply, const struct cli_wait *w,
                    const char *done, const char *extra);
