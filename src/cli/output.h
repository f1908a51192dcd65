/* Text output of the CLI: aligned tables (lists), key: value blocks (show),
 * JSON values as short text, and the progress line. Pure logic: everything
 * writes to a FILE * or a caller's buffer. */
#pragma once

#include <jansson.h>

#include "util.h"

struct cli_table;

/* A table of ncols columns. headers (ncols strings) form the first row, or
 * NULL for none (key: value blocks). */
struct cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_free(struct cli_table *t); /* NULL-safe */
static inline void cli_table_freep(struct cli_table **t) { cli_table_free(*t); }
/* Appends one cell; rows fill left to right, ncols cells each. A NULL or
 * empty result prints as "-". */
void cli_table_add(struct cli_table *t, const char *fmt, ...) _printf_(2, 3);
/* Adds a "key:" / value row (for two-column tables without headers); an
 * empty key continues the previous key on a new line. */
void cli_table_kv(struct cli_table *t, const char *key, const char *fmt, ...) _printf_(3, 4);
/* Adds a "key:" row with the JSON value at path in obj as text, followed by
 * " unit" when unit is given and the value is present. */
/* Rows "cpu demand" and "memory demand" from obj's "demand" (docs/api.md
 * Metrics): now, 1-min and 5-min averages; nothing when it is null. */
void cli_table_demand(struct cli_table *t, json_t *obj);
void cli_table_kvj(struct cli_table *t, const char *key, json_t *obj, const char *path,
                   const char *unit);
/* Columns separated by two spaces, padded to the widest cell (counted in
 * characters, not bytes); the last column is not padded. */
void cli_table_print(const struct cli_table *t, FILE *f);

/* Characters in a UTF-8 string. */
size_t cli_text_width(const char *s);

/* The member at a dotted path ("tools.state"), or NULL. Borrowed. */
json_t *cli_jpath(json_t *obj, const char *path);
/* A JSON value as text: strings as they are, integers in decimal, reals
 * with one decimal, booleans as yes/no, null or missing as "-", arrays
 * and objects as compact JSON (truncated with "..." to fit). The result is
 * v's string or buf. */
const char *cli_jtext(json_t *v, char *buf, size_t len);

/* A column of a list: header and a dotted path, or a formatter. */
struct cli_column {
        const char *header;  /* "NAME" */
        const char *path;    /* dotted path into each item, used when fmt is NULL */
        const char *(*fmt)(json_t *item, char *buf, size_t len); /* custom text */
};
/* One row per element of the array items, columns as given (ended by a
 * column with a NULL header). */
void cli_print_rows(json_t *items, const struct cli_column *cols, FILE *f);

/* "[=======>      ]  45% label", cut to width characters (at least 20). */
void cli_progress_line(char *buf, size_t len, int width, int64_t pct, const char *label);

/* Column formatter for an item's "target": {"kind","id","name"} as
 * "kind name", or a string as it is. */
const char *cli_fmt_target(json_t *item, char *buf, size_t len);
/* Bytes in MiB or GiB, one decimal ("1.5 GiB"). */
const char *cli_fmt_bytes(double bytes, char *buf, size_t len);
/* Column formatter for "size_bytes" in MiB or GiB. */
const char *cli_fmt_size(json_t *item, char *buf, size_t len);

/* The strings of a JSON array joined by ", " into buf (truncated to fit;
 * "" for none); returns buf. */
const char *cli_join_strings(json_t *array, char *buf, size_t len);
