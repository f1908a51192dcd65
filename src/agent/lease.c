/* VM lease files (see lease.h). */
#include "lease.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>

#include <jansson.h>

char *dv_lease_content(const char *vm_id, const struct dv_lease *l)
{
        json_t *j = json_pack("{s:s,s:s,s:I,s:I,s:I}", "vm", vm_id, "holder", l->holder,
                              "generation", (json_int_t)l->generation, "expiry_wall_ms",
                              (json_int_t)l->expiry_wall_ms, "renewed_wall_ms",
                              (json_int_t)l->renewed_wall_ms);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        char *line;

        json_decref(j);
        if (!s)
                return NULL;
        line = dv_asprintf("%s\n", s);
        free(s);
        return line;
}

int dv_lease_parse(const char *text, struct dv_lease *ret)
{
        json_t *j = json_loads(text, 0, NULL);
        json_t *holder = json_object_get(j, "holder"), *gen = json_object_get(j, "generation");
        json_t *exp = json_object_get(j, "expiry_wall_ms");
        json_t *ren = json_object_get(j, "renewed_wall_ms");
        struct dv_lease l = { 0 };
        int r = -EBADMSG;

        if (json_is_string(holder) && strlen(json_string_value(holder)) <= DV_NAME_MAX &&
            json_is_integer(gen) && json_integer_value(gen) >= 0 && json_is_integer(exp) &&
            json_is_integer(ren)) {
                snprintf(l.holder, sizeof(l.holder), "%s", json_string_value(holder));
                l.generation = (uint64_t)json_integer_value(gen);
                l.expiry_wall_ms = json_integer_value(exp);
                l.renewed_wall_ms = json_integer_value(ren);
                *ret = l;
                r = 0;
        }
        json_decref(j);
        return r;
}

bool dv_lease_takeable(const struct dv_lease *l, const char *host, int64_t now_wall_ms)
{
        return !l->holder[0] || strcmp(l->holder, host) == 0 || now_wall_ms >= l->expiry_wall_ms;
}

char *dv_lease_path(const char *ds_path, const char *vm_id)
{
        return dv_asprintf("%s/%s/%s", ds_path, DV_LEASE_DIR, vm_id);
}

int dv_lease_read(const char *path, struct dv_lease *ret)
{
        _cleanup_(freep) char *data = NULL;
        size_t len = 0;
        int r;

        r = dv_read_file(path, DV_LEASE_MAX, &data, &len);
        if (r < 0)
                return r;
        return dv_lease_parse(data, ret);
}

int dv_lease_write(const char *path, const char *vm_id, const struct dv_lease *l)
{
        _cleanup_(freep) char *data = dv_lease_content(vm_id, l), *dir = dv_strdup(path);
        int r;

        if (!data || !dir)
                return -ENOMEM;
        r = dv_mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return r;
        return dv_write_file_atomic(path, data, strlen(data), 0644);
}
