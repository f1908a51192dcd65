#include "tjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tree and every decoded string live in one allocation sized from the
 * input: at most one node per two input bytes (plus one), and decoded
 * strings never exceed their source. */
struct dv_tj_doc {
        struct dv_tj *root;
        struct dv_tj *nodes;
        size_t nodes_used, nodes_cap;
        char *strs;
        size_t strs_used, strs_cap;
};

struct parser {
        const char *p, *end, *start;
        struct dv_tj_doc *doc;
        int depth;
};

static struct dv_tj *node_new(struct parser *ps, enum dv_tj_type type)
{
        struct dv_tj *n;

        if (ps->doc->nodes_used >= ps->doc->nodes_cap)
                return NULL;
        n = &ps->doc->nodes[ps->doc->nodes_used++];
        memset(n, 0, sizeof(*n));
        n->type = type;
        return n;
}

static void skip_ws(struct parser *ps)
{
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
                ps->p++;
}

static int hex4(const char *p, unsigned *ret)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                        v |= (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v |= (unsigned)(c - 'A' + 10);
                else
                        return -EINVAL;
        }
        *ret = v;
        return 0;
}

static size_t put_utf8(char *out, unsigned cp)
{
        if (cp < 0x80) {
                out[0] = (char)cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (char)(0xe0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        return 4;
}

/* Length of the valid UTF-8 sequence at p (at most avail bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
        unsigned cp;
        size_t n;

        if (p[0] < 0x80)
                return 1;
        if ((p[0] & 0xe0) == 0xc0) {
                n = 2;
                cp = p[0] & 0x1f;
        } else if ((p[0] & 0xf0) == 0xe0) {
                n = 3;
                cp = p[0] & 0x0f;
        } else if ((p[0] & 0xf8) == 0xf0) {
                n = 4;
                cp = p[0] & 0x07;
        } else
                return 0;
        if (n > avail)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* Decodes the string starting after the opening quote. */
static int parse_string(struct parser *ps, const char **ret_s, size_t *ret_n)
{
        struct dv_tj_doc *d = ps->doc;
        char *out = d->strs + d->strs_used;
        size_t n = 0;

        for (;;) {
                unsigned char c;

                if (ps->p >= ps->end)
                        return -EINVAL;
                c = (unsigned char)*ps->p;
                if (c == '"') {
                        ps->p++;
                        break;
                }
                if (c < 0x20)
                        return -EINVAL;
                if (c == '\\') {
                        char e;

                        if (ps->end - ps->p < 2)
                                return -EINVAL;
                        e = ps->p[1];
                        ps->p += 2;
                        switch (e) {
                        case '"': out[n++] = '"'; break;
                        case '\\': out[n++] = '\\'; break;
                        case '/': out[n++] = '/'; break;
                        case 'b': out[n++] = '\b'; break;
                        case 'f': out[n++] = '\f'; break;
                        case 'n': out[n++] = '\n'; break;
                        case 'r': out[n++] = '\r'; break;
                        case 't': out[n++] = '\t'; break;
                        case 'u': {
                                unsigned cp, lo;

                                if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0)
                                        return -EINVAL;
                                ps->p += 4;
                                if (cp >= 0xd800 && cp <= 0xdbff) {
                                        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                                            hex4(ps->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                                                return -EINVAL;
                                        ps->p += 6;
                                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                } else if (cp >= 0xdc00 && cp <= 0xdfff)
                                        return -EINVAL;
                                if (cp == 0)
                                        return -EINVAL; /* no NUL inside C strings */
                                /* "\uXXXX" is 6 source bytes, at most 4 out */
                                n += put_utf8(out + n, cp);
                                break;
                        }
                        default:
                                return -EINVAL;
                        }
                        continue;
                }
                {
                        size_t k = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));

                        if (k == 0)
                                return -EINVAL;
                        memcpy(out + n, ps->p, k);
                        n += k;
                        ps->p += k;
                }
        }
        out[n] = '\0';
        d->strs_used += n + 1;
        *ret_s = out;
        *ret_n = n;
        return 0;
}

static int parse_number(struct parser *ps, struct dv_tj *v)
{
        bool neg = false, real = false;
        uint64_t acc = 0;
        bool overflow = false;

        if (ps->p < ps->end && *ps->p == '-') {
                neg = true;
                ps->p++;
        }
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
                return -EINVAL;
        if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
                return -EINVAL; /* no leading zeros */
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
                unsigned dgt = (unsigned)(*ps->p - '0');
                if (acc > (UINT64_MAX - dgt) / 10)
                        overflow = true;
                else
                        acc = acc * 10 + dgt;
                ps->p++;
        }
        if (ps->p < ps->end && *ps->p == '.') {
                real = true;
                ps->p++;
                if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
                        return -EINVAL;
                while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
                        ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
                real = true;
                ps->p++;
                if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
                        ps->p++;
                if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
                        return -EINVAL;
                while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
                        ps->p++;
        }
        if (real || overflow || (!neg && acc > (uint64_t)INT64_MAX) ||
            (neg && acc > (uint64_t)INT64_MAX + 1)) {
                v->type = DV_TJ_REAL; /* kept, but no getter accepts it */
                return 0;
        }
        v->type = DV_TJ_INT;
        v->i = neg ? (int64_t)(0 - acc) : (int64_t)acc;
        return 0;
}

static int parse_value(struct parser *ps, struct dv_tj **ret);

static int parse_container(struct parser *ps, struct dv_tj *v, bool object)
{
        struct dv_tj *last = NULL;
        char close = object ? '}' : ']';

        if (++ps->depth > DV_TJ_DEPTH_MAX)
                return -EINVAL;
        ps->p++; /* '{' or '[' */
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                ps->depth--;
                return 0;
        }
        for (;;) {
                const char *key = NULL;
                size_t klen;
                struct dv_tj *item;
                int r;

                skip_ws(ps);
                if (object) {
                        if (ps->p >= ps->end || *ps->p != '"')
                                return -EINVAL;
                        ps->p++;
                        r = parse_string(ps, &key, &klen);
                        if (r < 0)
                                return r;
                        for (struct dv_tj *m = v->child; m; m = m->next)
                                if (strcmp(m->key, key) == 0)
                                        return -EINVAL; /* duplicate key */
                        skip_ws(ps);
                        if (ps->p >= ps->end || *ps->p != ':')
                                return -EINVAL;
                        ps->p++;
                        skip_ws(ps);
                }
                r = parse_value(ps, &item);
                if (r < 0)
                        return r;
                item->key = key;
                if (last)
                        last->next = item;
                else
                        v->child = item;
                last = item;
                v->n++;
                skip_ws(ps);
                if (ps->p >= ps->end)
                        return -EINVAL;
                if (*ps->p == ',') {
                        ps->p++;
                        continue;
                }
                if (*ps->p == close) {
                        ps->p++;
                        break;
                }
                return -EINVAL;
        }
        ps->depth--;
        return 0;
}

static bool match(struct parser *ps, const char *lit)
{
        size_t n = strlen(lit);

        if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
                return false;
        ps->p += n;
        return true;
}

static int parse_value(struct parser *ps, struct dv_tj **ret)
{
        struct dv_tj *v;
        int r = 0;

        skip_ws(ps);
        if (ps->p >= ps->end)
                return -EINVAL;
        v = node_new(ps, DV_TJ_NULL);
        if (!v)
                return -EINVAL;
        switch (*ps->p) {
        case '{':
                v->type = DV_TJ_OBJECT;
                r = parse_container(ps, v, true);
                break;
        case '[':
                v->type = DV_TJ_ARRAY;
                r = parse_container(ps, v, false);
                break;
        case '"':
                v->type = DV_TJ_STRING;
                ps->p++;
                r = parse_string(ps, &v->s, &v->n);
                break;
        case 't':
                v->type = DV_TJ_BOOL;
                v->b = true;
                r = match(ps, "true") ? 0 : -EINVAL;
                break;
        case 'f':
                v->type = DV_TJ_BOOL;
                r = match(ps, "false") ? 0 : -EINVAL;
                break;
        case 'n':
                r = match(ps, "null") ? 0 : -EINVAL;
                break;
        default:
                r = parse_number(ps, v);
                break;
        }
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int dv_tj_parse(const char *text, size_t len, struct dv_tj_doc **ret_doc, size_t *ret_errpos)
{
        struct dv_tj_doc *d;
        struct parser ps = { .p = text, .end = text + len, .start = text };
        size_t ncap = len / 2 + 2;
        int r;

        if (len > (size_t)1 << 26)
                return -E2BIG;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->nodes_cap = ncap;
        d->nodes = calloc(ncap, sizeof(struct dv_tj));
        d->strs_cap = len + 1;
        d->strs = malloc(d->strs_cap);
        if (!d->nodes || !d->strs) {
                dv_tj_doc_free(d);
                return -ENOMEM;
        }
        ps.doc = d;
        r = parse_value(&ps, &d->root);
        if (r == 0) {
                skip_ws(&ps);
                if (ps.p != ps.end)
                        r = -EINVAL;
        }
        if (r < 0) {
                if (ret_errpos)
                        *ret_errpos = (size_t)(ps.p - ps.start);
                dv_tj_doc_free(d);
                return r;
        }
        *ret_doc = d;
        return 0;
}

const struct dv_tj *dv_tj_root(const struct dv_tj_doc *doc)
{
        return doc->root;
}

void dv_tj_doc_free(struct dv_tj_doc *doc)
{
        if (!doc)
                return;
        free(doc->nodes);
        free(doc->strs);
        free(doc);
}

void dv_tj_doc_freep(struct dv_tj_doc **doc)
{
        dv_tj_doc_free(*doc);
}

const struct dv_tj *dv_tj_get(const struct dv_tj *obj, const char *key)
{
        if (!obj || obj->type != DV_TJ_OBJECT)
                return NULL;
        for (const struct dv_tj *m = obj->child; m; m = m->next)
                if (strcmp(m->key, key) == 0)
                        return m;
        return NULL;
}

/* ---- writer ---- */

void dv_tw_init(struct dv_tw *w, char *buf, size_t cap)
{
        memset(w, 0, sizeof(*w));
        w->buf = buf;
        w->cap = cap;
        w->first[0] = true;
        if (cap > 0)
                buf[0] = '\0';
}

static void put(struct dv_tw *w, const char *s, size_t n)
{
        if (w->overflow)
                return;
        if (w->len + n + 1 > w->cap) {
                w->overflow = true;
                return;
        }
        memcpy(w->buf + w->len, s, n);
        w->len += n;
        w->buf[w->len] = '\0';
}

static void putc_(struct dv_tw *w, char c)
{
        put(w, &c, 1);
}

static void put_escaped(struct dv_tw *w, const char *s, size_t n)
{
        putc_(w, '"');
        for (size_t i = 0; i < n;) {
                unsigned char c = (unsigned char)s[i];
                char esc[8];
                size_t k;

                if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)c;
                        put(w, esc, 2);
                        i++;
                } else if (c < 0x20 || c == 0x7f) {
                        snprintf(esc, sizeof(esc), "\\u%04x", c);
                        put(w, esc, 6);
                        i++;
                } else if (c < 0x80) {
                        putc_(w, (char)c);
                        i++;
                } else if ((k = utf8_len((const unsigned char *)s + i, n - i)) > 0) {
                        put(w, s + i, k);
                        i += k;
                } else {
                        putc_(w, '?');
                        i++;
                }
        }
        putc_(w, '"');
}

/* Comma and key before a value. */
static void member(struct dv_tw *w, const char *key)
{
        if (!w->first[w->depth])
                putc_(w, ',');
        w->first[w->depth] = false;
        if (key) {
                put_escaped(w, key, strlen(key));
                putc_(w, ':');
        }
}

static void open_(struct dv_tw *w, const char *key, char c)
{
        member(w, key);
        putc_(w, c);
        if (w->depth + 1 >= DV_TJ_DEPTH_MAX) {
                w->overflow = true;
                return;
        }
        w->first[++w->depth] = true;
}

static void close_(struct dv_tw *w, char c)
{
        putc_(w, c);
        if (w->depth > 0)
                w->depth--;
}

void dv_tw_obj_begin(struct dv_tw *w, const char *key) { open_(w, key, '{'); }
void dv_tw_obj_end(struct dv_tw *w) { close_(w, '}'); }
void dv_tw_arr_begin(struct dv_tw *w, const char *key) { open_(w, key, '['); }
void dv_tw_arr_end(struct dv_tw *w) { close_(w, ']'); }

void dv_tw_strn(struct dv_tw *w, const char *key, const char *s, size_t n)
{
        member(w, key);
        put_escaped(w, s, n);
}

void dv_tw_str(struct dv_tw *w, const char *key, const char *s)
{
        dv_tw_strn(w, key, s, strlen(s));
}

void dv_tw_int(struct dv_tw *w, const char *key, int64_t v)
{
        char b[24];
        int n = snprintf(b, sizeof(b), "%lld", (long long)v);

        member(w, key);
        put(w, b, (size_t)n);
}

void dv_tw_bool(struct dv_tw *w, const char *key, bool v)
{
        member(w, key);
        put(w, v ? "true" : "false", v ? 4 : 5);
}

void dv_tw_null(struct dv_tw *w, const char *key)
{
        member(w, key);
        put(w, "null", 4);
}

void dv_tw_raw(struct dv_tw *w, const char *s, size_t n)
{
        put(w, s, n);
}
