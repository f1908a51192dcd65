/* A tiny, bounded JSON reader and writer for drover-tools (libc only).
 *
 * Reader: parses one document into a tree allocated in a single block;
 * strings must be valid UTF-8 without NUL; numbers are integers that fit
 * int64 (a fraction or an exponent makes a REAL, which the getters refuse);
 * duplicate object keys and nesting deeper than DV_TJ_DEPTH_MAX are refused.
 *
 * Writer: appends to a fixed-capacity buffer; on overflow it sets a flag
 * and ignores further output, so a caller checks once at the end. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DV_TJ_DEPTH_MAX 32

enum dv_tj_type {
        DV_TJ_NULL,
        DV_TJ_BOOL,
        DV_TJ_INT,
        DV_TJ_REAL,
        DV_TJ_STRING,
        DV_TJ_ARRAY,
        DV_TJ_OBJECT,
};

struct dv_tj {
        enum dv_tj_type type;
        const char *key;      /* member name inside an object, else NULL */
        struct dv_tj *next;   /* next element or member */
        struct dv_tj *child;  /* first element or member (arrays, objects) */
        size_t n;             /* string length, or number of elements/members */
        bool b;               /* BOOL */
        int64_t i;            /* INT */
        const char *s;        /* STRING, NUL-terminated */
};

struct dv_tj_doc;

/* Parse text[0..len). On error returns -EINVAL and points *ret_errpos at
 * the offending byte when ret_errpos is non-NULL. */
int dv_tj_parse(const char *text, size_t len, struct dv_tj_doc **ret_doc, size_t *ret_errpos);
const struct dv_tj *dv_tj_root(const struct dv_tj_doc *doc);
void dv_tj_doc_free(struct dv_tj_doc *doc);
void dv_tj_doc_freep(struct dv_tj_doc **doc);

/* Member of an object, or NULL. */
const struct dv_tj *dv_tj_get(const struct dv_tj *obj, const char *key);

/* ---- writer ---- */
struct dv_tw {
        char *buf;
        size_t len;
        size_t cap;
        bool overflow;
        int depth;
        bool first[DV_TJ_DEPTH_MAX]; /* no member written yet at this depth */
};

/* Writes into buf (cap bytes, the text stays NUL-terminated). */
void dv_tw_init(struct dv_tw *w, char *buf, size_t cap);
/* key is the member name inside an object, NULL inside an array or at top. */
void dv_tw_obj_begin(struct dv_tw *w, const char *key);
void dv_tw_obj_end(struct dv_tw *w);
void dv_tw_arr_begin(struct dv_tw *w, const char *key);
void dv_tw_arr_end(struct dv_tw *w);
void dv_tw_str(struct dv_tw *w, const char *key, const char *s);
/* A string of n bytes; invalid UTF-8 and control bytes become escapes or '?'. */
void dv_tw_strn(struct dv_tw *w, const char *key, const char *s, size_t n);
void dv_tw_int(struct dv_tw *w, const char *key, int64_t v);
void dv_tw_bool(struct dv_tw *w, const char *key, bool v);
void dv_tw_null(struct dv_tw *w, const char *key);
/* Raw text appended as is (used to splice an already-built object). */
void dv_tw_raw(struct dv_tw *w, const char *s, size_t n);
