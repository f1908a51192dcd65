/* libFuzzer target: the guest's tiny JSON reader and writer
 * (src/tools/tjson.c) on arbitrary bytes: parse, then write every string
 * back and check the output stays within its buffer. */
#include <stdint.h>
#include <string.h>

#include "tjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct dv_tj *v, struct dv_tw *w, int depth)
{
        for (; v; v = v->next) {
                switch (v->type) {
                case DV_TJ_STRING:
                        dv_tw_strn(w, NULL, v->s, v->n);
                        break;
                case DV_TJ_INT:
                        dv_tw_int(w, NULL, v->i);
                        break;
                case DV_TJ_ARRAY:
                case DV_TJ_OBJECT:
                        if (depth < 8) {
                                dv_tw_arr_begin(w, NULL);
                                walk(v->child, w, depth + 1);
                                dv_tw_arr_end(w);
                        }
                        if (v->type == DV_TJ_OBJECT && v->child)
                                (void)dv_tj_get(v, v->child->key);
                        break;
                default:
                        dv_tw_null(w, NULL);
                        break;
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char out[4096];
        struct dv_tj_doc *doc = NULL;
        struct dv_tw w;

        if (dv_tj_parse((const char *)data, size, &doc, NULL) < 0) {
                /* The writer must escape anything, valid UTF-8 or not. */
                dv_tw_init(&w, out, sizeof(out));
                dv_tw_strn(&w, NULL, (const char *)data, size);
                if (!w.overflow && strlen(out) != w.len)
                        __builtin_trap();
                return 0;
        }
        dv_tw_init(&w, out, sizeof(out));
        dv_tw_arr_begin(&w, NULL);
        walk(dv_tj_root(doc), &w, 0);
        dv_tw_arr_end(&w);
        if (w.len >= sizeof(out))
                __builtin_trap();
        /* What the writer produced parses again (unless it was cut). */
        if (!w.overflow) {
                struct dv_tj_doc *again = NULL;
                if (dv_tj_parse(out, w.len, &again, NULL) < 0)
                        __builtin_trap();
                dv_tj_doc_free(again);
        }
        dv_tj_doc_free(doc);
        return 0;
}
