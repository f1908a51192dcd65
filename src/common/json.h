/* Strict JSON input: parse request bodies and read typed fields, with a
 * user-facing error naming the field on every failure. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

/* jansson provides json_decrefp() for _cleanup_(json_decrefp). */


/* Parse as a JSON object (duplicate keys refused). 400 "invalid-json". */
int dv_json_parse_object(const char *text, size_t len, json_t **ret, struct dv_error *err);

/* 400 "unknown-field" if obj has a key outside the NULL-terminated list. */
int dv_json_check_keys(json_t *obj, const char *const *allowed, struct dv_error *err);

/* Typed getters. A missing optional field leaves *ret untouched and
 * returns 0; a missing required one or a wrong type gives 400
 * "missing-field" / "invalid-field". */
int dv_json_get_string(json_t *obj, const char *key, bool required, const char **ret,
                       struct dv_error *err);
int dv_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *ret, struct dv_error *err);
int dv_json_get_bool(json_t *obj, const char *key, bool required, bool *ret,
                     struct dv_error *err);
/* A name field: a string that passes dv_name_valid(); 400 "invalid-name". */
int dv_json_get_name(json_t *obj, const char *key, bool required, const char **ret,
                     struct dv_error *err);
