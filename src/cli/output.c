#include "output.h"

#include <stdarg.h>
#include <string.h>

struct cli_table {
        size_t ncols;     /* columns per row */
        bool header;      /* the first row is a header */
        char **cells;     /* cells, row by row (owned) */
        size_t n;         /* cells used */
        size_t cap;       /* cells allocated */
};

static void table_push(struct cli_table *t, char *cell)
{
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 32;
                char **c = realloc(t->cells, cap * sizeof(*c));

                if (!c)
                        abort();
                t->cells = c;
                t->cap = cap;
        }
        t->cells[t->n++] = cell;
}

struct cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
        struct cli_table *t = calloc(1, sizeof(*t));

        if (!t)
                abort();
        t->ncols = ncols;
        if (headers) {
                t->header = true;
                for (size_t i = 0; i < ncols; i++)
                        table_push(t, dv_strdup(headers[i]));
        }
        return t;
}

void cli_table_free(struct cli_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
}

static void table_addv(struct cli_table *t, const char *fmt, va_list ap)
{
        char *s;

        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        if (!*s) {
                free(s);
                s = dv_strdup("-");
        }
        table_push(t, s);
}

void cli_table_add(struct cli_table *t, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        table_addv(t, fmt, ap);
        va_end(ap);
}

void cli_table_kv(struct cli_table *t, const char *key, const char *fmt, ...)
{
        va_list ap;

        table_push(t, *key ? dv_asprintf("%s:", key) : dv_strdup(""));
        va_start(ap, fmt);
        table_addv(t, fmt, ap);
        va_end(ap);
}

void cli_table_kvj(struct cli_table *t, const char *key, json_t *obj, const char *path,
                   const char *unit)
{
        json_t *v = cli_jpath(obj, path);
        char buf[256];

        if (unit && v && !json_is_null(v))
                cli_table_kv(t, key, "%s %s", cli_jtext(v, buf, sizeof(buf)), unit);
        else
                cli_table_kv(t, key, "%s", cli_jtext(v, buf, sizeof(buf)));
}

size_t cli_text_width(const char *s)
{
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char)*s & 0xc0) != 0x80)
                        w++;
        return w;
}

void cli_table_print(const struct cli_table *t, FILE *f)
{
        _cleanup_(freep) size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));

        if (!width)
                abort();
        for (size_t i = 0; i < t->n; i++)
                width[i % t->ncols] = DV_MAX(width[i % t->ncols], cli_text_width(t->cells[i]));
        for (size_t i = 0; i < t->n; i++) {
                size_t col = i % t->ncols;
                bool last = col == t->ncols - 1 || i == t->n - 1;

                fputs(t->cells[i], f);
                if (last) {
                        fputc('\n', f);
                        continue;
                }
                for (size_t k = cli_text_width(t->cells[i]); k < width[col] + 2; k++)
                        fputc(' ', f);
        }
}

json_t *cli_jpath(json_t *obj, const char *path)
{
        const char *p = path;

        while (obj && *p) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);

                obj = json_is_object(obj) ? json_object_getn(obj, p, n) : NULL;
                p += n + (dot ? 1 : 0);
        }
        return obj;
}

const char *cli_jtext(json_t *v, char *buf, size_t len)
{
        _cleanup_(freep) char *dump = NULL;
        size_t n;

        if (!v)
                return "-";
        switch (json_typeof(v)) {
        case JSON_STRING:
                return json_string_value(v);
        case JSON_INTEGER:
                snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        case JSON_REAL:
                snprintf(buf, len, "%.1f", json_real_value(v));
                return buf;
        case JSON_TRUE:
                return "yes";
        case JSON_FALSE:
                return "no";
        case JSON_OBJECT:
        case JSON_ARRAY:
                /* ASCII only, so that cutting never splits a character. */
                dump = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
                if (!dump)
                        abort();
                n = strlen(dump);
                if (n < len)
                        snprintf(buf, len, "%s", dump);
                else if (len >= 4)
                        snprintf(buf, len, "%.*s...", (int)(len - 4), dump);
                else
                        snprintf(buf, len, "%.*s", (int)(len ? len - 1 : 0), "...");
                return buf;
        default:
                return "-";
        }
}

void cli_print_rows(json_t *items, const struct cli_column *cols, FILE *f)
{
        _cleanup_(cli_table_freep) struct cli_table *t = NULL;
        const char *headers[32];
        size_t ncols = 0, i;
        json_t *item;

        while (cols[ncols].header && ncols < ELEMENTSOF(headers)) {
                headers[ncols] = cols[ncols].header;
                ncols++;
        }
        t = cli_table_new(ncols, headers);
        json_array_foreach(items, i, item) {
                for (size_t c = 0; c < ncols; c++) {
                        char buf[256];
                        const char *s = cols[c].fmt ? cols[c].fmt(item, buf, sizeof(buf))
                                                    : cli_jtext(cli_jpath(item, cols[c].path),
                                                                buf, sizeof(buf));
                        cli_table_add(t, "%s", s ? s : "-");
                }
        }
        cli_table_print(t, f);
}

void cli_progress_line(char *buf, size_t len, int width, int64_t pct, const char *label)
{
        enum { BAR = 20 };
        char bar[BAR + 1];
        int fill;
        size_t max = (size_t)DV_MAX(width, 20) - 1, n = 0, chars = 0;

        pct = DV_MAX(0, DV_MIN(pct, 100));
        fill = (int)(pct * BAR / 100);
        for (int i = 0; i < BAR; i++)
                bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[BAR] = 0;
        snprintf(buf, len, "[%s] %3d%% %s", bar, (int)pct, label ? label : "");
        /* Cut to max characters, never inside a UTF-8 sequence. */
        for (; buf[n]; n++) {
                if (((unsigned char)buf[n] & 0xc0) != 0x80 && chars++ == max)
                        break;
        }
        buf[n] = 0;
}

const char *cli_fmt_target(json_t *item, char *buf, size_t len)
{
        json_t *t = json_object_get(item, "target");
        const char *kind = json_string_value(json_object_get(t, "kind"));
        const char *name = json_string_value(json_object_get(t, "name"));

        if (!json_is_object(t))
                return cli_jtext(t, buf, len);
        if (!name)
                name = json_string_value(json_object_get(t, "id"));
        snprintf(buf, len, "%s%s%s", kind ? kind : "", kind && name ? " " : "",
                 name ? name : "");
        return buf;
}

const char *cli_fmt_bytes(double b, char *buf, size_t len)
{
        if (b >= 1024.0 * 1024 * 1024)
                snprintf(buf, len, "%.1f GiB", b / (1024.0 * 1024 * 1024));
        else
                snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024));
        return buf;
}

const char *cli_fmt_size(json_t *item, char *buf, size_t len)
{
        json_t *v = json_object_get(item, "size_bytes");

        if (!json_is_number(v))
                return "-";
        return cli_fmt_bytes(json_number_value(v), buf, len);
}

const char *cli_join_strings(json_t *array, char *buf, size_t len)
{
        size_t i, n = 0;
        json_t *v;

        if (len == 0)
                return buf;
        buf[0] = 0;
        json_array_foreach(array, i, v) {
                int k = snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
                                 json_string_value(v) ?: "?");

                if (k < 0 || (size_t)k >= len - n)
                        break;
                n += (size_t)k;
        }
        return buf;
}

static void demand_row(struct cli_table *t, const char *key, json_t *d, const char *unit)
{
        json_t *now = json_object_get(d, "now"), *a1 = json_object_get(d, "avg_1m"),
               *a5 = json_object_get(d, "avg_5m");

        if (!json_is_number(now))
                return;
        cli_table_kv(t, key, "%.1f%s (1 min %.1f%s, 5 min %.1f%s)", json_number_value(now), unit,
                     json_number_value(a1), unit, json_number_value(a5), unit);
}

/* Bytes per second in B/s, KiB/s, MiB/s or GiB/s. */
static const char *fmt_bps(double v, char *buf, size_t len)
{
        static const char *const units[] = { "B/s", "KiB/s", "MiB/s", "GiB/s" };
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
        return buf;
}

/* "disk read: 1.2 MiB/s, 30 IOPS (1 min 0.8 MiB/s, 20 IOPS)" from the
 * summaries of a byte rate and an operation rate; nothing when unknown. */
static void rate_row(struct cli_table *t, const char *key, json_t *bytes, json_t *ops,
                     const char *ops_unit)
{
        json_t *now = json_object_get(bytes, "now"), *a1 = json_object_get(bytes, "avg_1m");
        char b1[32], b2[32];

        if (!json_is_number(now))
                return;
        cli_table_kv(t, key, "%s, %.0f %s (1 min %s, %.0f %s)",
                     fmt_bps(json_number_value(now), b1, sizeof(b1)),
                     json_number_value(json_object_get(ops, "now")), ops_unit,
                     fmt_bps(json_number_value(a1), b2, sizeof(b2)),
                     json_number_value(json_object_get(ops, "avg_1m")), ops_unit);
}

void cli_table_demand(struct cli_table *t, json_t *obj)
{
        json_t *d = json_object_get(obj, "demand");

        if (!json_is_object(d))
                return;
        demand_row(t, "cpu demand", json_object_get(d, "cpu_pct"), "%");
        demand_row(t, "memory demand", json_object_get(d, "memory_mib"), " MiB");
        rate_row(t, "disk read", json_object_get(d, "disk_read_bps"),
                 json_object_get(d, "disk_read_iops"), "IOPS");
        rate_row(t, "disk write", json_object_get(d, "disk_write_bps"),
                 json_object_get(d, "disk_write_iops"), "IOPS");
        rate_row(t, "network rx", json_object_get(d, "net_rx_bps"),
                 json_object_get(d, "net_rx_pps"), "pkt/s");
        rate_row(t, "network tx", json_object_get(d, "net_tx_bps"),
                 json_object_get(d, "net_tx_pps"), "pkt/s");
}
