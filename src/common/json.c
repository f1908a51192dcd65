#include "json.h"

#include <string.h>

int dv_json_parse_object(const char *text, size_t len, json_t **ret, struct dv_error *err)
{
        json_error_t je;
        json_t *j;

        j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return dv_error_set(err, 400, "invalid-json", "malformed JSON at line %d: %s",
                                    je.line, je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return dv_error_set(err, 400, "invalid-json", "the body must be a JSON object");
        }
        *ret = j;
        return 0;
}

int dv_json_check_keys(json_t *obj, const char *const *allowed, struct dv_error *err)
{
        const char *key;
        json_t *v;

        json_object_foreach(obj, key, v) {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, key) == 0) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return dv_error_set(err, 400, "unknown-field", "unknown field '%.64s'",
                                            key);
        }
        return 0;
}

static json_t *field(json_t *obj, const char *key, bool required, struct dv_error *err, int *r)
{
        json_t *v = json_object_get(obj, key);

        *r = 0;
        if (!v || json_is_null(v)) {
                if (required)
                        *r = dv_error_set(err, 400, "missing-field", "field '%s' is required",
                                          key);
                return NULL;
        }
        return v;
}

int dv_json_get_string(json_t *obj, const char *key, bool required, const char **ret,
                       struct dv_error *err)
{
        int r;
        json_t *v = field(obj, key, required, err, &r);

        if (!v)
                return r;
        if (!json_is_string(v))
                return dv_error_set(err, 400, "invalid-field", "field '%s' must be a string",
                                    key);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return dv_error_set(err, 400, "invalid-field", "field '%s' contains NUL", key);
        *ret = json_string_value(v);
        return 0;
}

int dv_json_get_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
                    int64_t *ret, struct dv_error *err)
{
        int r;
        json_t *v = field(obj, key, required, err, &r);
        json_int_t i;

        if (!v)
                return r;
        if (!json_is_integer(v))
                return dv_error_set(err, 400, "invalid-field", "field '%s' must be an integer",
                                    key);
        i = json_integer_value(v);
        if (i < min || i > max)
                return dv_error_set(err, 400, "out-of-range",
                                    "field '%s' is %lld, allowed %lld..%lld", key, (long long)i,
                                    (long long)min, (long long)max);
        *ret = i;
        return 0;
}

int dv_json_get_bool(json_t *obj, const char *key, bool required, bool *ret,
                     struct dv_error *err)
{
        int r;
        json_t *v = field(obj, key, required, err, &r);

        if (!v)
                return r;
        if (!json_is_boolean(v))
                return dv_error_set(err, 400, "invalid-field", "field '%s' must be true or false",
                                    key);
        *ret = json_is_true(v);
        return 0;
}

int dv_json_get_name(json_t *obj, const char *key, bool required, const char **ret,
                     struct dv_error *err)
{
        const char *s = NULL;
        int r = dv_json_get_string(obj, key, required, &s, err);

        if (r < 0 || !s)
                return r;
        if (!dv_name_valid(s))
                return dv_error_set(err, 400, "invalid-name",
                                    "field '%s': '%.80s' is not a valid name (1-64 of A-Z a-z 0-9 . _ -)",
                                    key, s);
        *ret = s;
        return 0;
}
