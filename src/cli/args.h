/* Command-line options of the CLI: one table of descriptors per verb, parsed
 * GNU-style. Options and positionals may be mixed; "--opt VAL", "--opt=VAL",
 * "-o VAL" and "-oVAL" are accepted; "--" ends the options. Pure logic: no
 * output, no exit. */
#pragma once

#include "util.h"

struct cli_opt {
        const char *name;    /* long name without "--"; NULL ends a table */
        char short_name;     /* one-letter alias ('o' for "-o"), or 0 */
        const char *arg;     /* value placeholder for help ("N"); NULL for a flag */
        const char *help;    /* one line for --help */
};

struct cli_optval {
        const struct cli_opt *opt; /* the option given */
        const char *value;         /* its value (borrowed from argv); NULL for a flag */
};

struct cli_args {
        const char **pos;          /* positional arguments (borrowed from argv) */
        size_t n_pos;              /* number of positional arguments */
        struct cli_optval *vals;   /* options in command-line order */
        size_t n_vals;             /* number of options */
        size_t n_used;             /* argv entries consumed (see stop_at_positional) */
};

/* Parses argv[0..argc) against the NULL-terminated list of option tables
 * (the first table defining a name wins). With stop_at_positional, stops
 * before the first positional argument and leaves it to the caller
 * (ret->n_used tells where). On a usage error returns -EINVAL with the
 * first mistake in err; *ret still holds everything else, so that options
 * like "-o json" are known when the error is reported. *ret must always be
 * released with cli_args_done(). */
int cli_args_parse(int argc, char **argv, const struct cli_opt *const *tables,
                   bool stop_at_positional, struct cli_args *ret, char *err, size_t err_len);
void cli_args_done(struct cli_args *a);

/* The last value of option name (or "" for a given flag), NULL when absent. */
const char *cli_args_get(const struct cli_args *a, const char *name);
bool cli_args_has(const struct cli_args *a, const char *name);
/* Iterates over every value of a repeatable option: start with *iter = 0. */
const char *cli_args_next(const struct cli_args *a, const char *name, size_t *iter);

/* The option with this long name in the tables (shadowing respected), or NULL. */
const struct cli_opt *cli_opt_find(const struct cli_opt *const *tables, const char *name);
