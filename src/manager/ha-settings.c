/* Cluster HA settings as JSON (see ha-env.h). Pure. */
#include <string.h>

#include "ha-env.h"
#include "json.h"

#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 3600000

/* The millisecond settings: JSON key and member. */
struct ms_field {
        const char *key;
        size_t offset;
        int64_t min;
};

static const struct ms_field ms_fields[] = {
        { "net_timeout_ms", offsetof(struct dv_ha_settings, net_timeout_ms), TIMEOUT_MIN_MS },
        { "ds_timeout_ms", offsetof(struct dv_ha_settings, ds_timeout_ms), TIMEOUT_MIN_MS },
        { "lease_timeout_ms", offsetof(struct dv_ha_settings, lease_timeout_ms), TIMEOUT_MIN_MS },
        { "fence_margin_ms", offsetof(struct dv_ha_settings, fence_margin_ms), 0 },
        { "fence_retry_ms", offsetof(struct dv_ha_settings, fence_retry_ms), TIMEOUT_MIN_MS },
        { "isolation_delay_ms", offsetof(struct dv_ha_settings, isolation_delay_ms),
          TIMEOUT_MIN_MS },
        { "tools_timeout_ms", offsetof(struct dv_ha_settings, tools_timeout_ms), TIMEOUT_MIN_MS },
        { "start_timeout_ms", offsetof(struct dv_ha_settings, start_timeout_ms), TIMEOUT_MIN_MS },
        { "retry_ms", offsetof(struct dv_ha_settings, retry_ms), TIMEOUT_MIN_MS },
};

json_t *dv_ha_settings_to_json(const struct dv_ha_settings *s)
{
        json_t *o = json_pack("{s:b,s:s,s:i,s:i,s:s,s:i}", "enabled", s->enabled, "admission",
                              dv_ha_admission_to_string(s->admission), "host_failures",
                              s->host_failures, "percent", s->percent, "isolation_response",
                              dv_ha_isolation_to_string(s->isolation), "max_restarts_per_hour",
                              s->max_restarts_per_hour);

        for (size_t i = 0; o && i < ELEMENTSOF(ms_fields); i++)
                json_object_set_new(o, ms_fields[i].key,
                                    json_integer(*(const int64_t *)((const char *)s +
                                                                     ms_fields[i].offset)));
        return o;
}

int dv_ha_settings_patch(struct dv_ha_settings *s, json_t *patch, struct dv_error *err)
{
        static const char *const keys[] = {
                "enabled", "admission", "host_failures", "percent", "isolation_response",
                "max_restarts_per_hour", "net_timeout_ms", "ds_timeout_ms", "lease_timeout_ms",
                "fence_margin_ms", "fence_retry_ms", "isolation_delay_ms", "tools_timeout_ms",
                "start_timeout_ms", "retry_ms", NULL,
        };
        struct dv_ha_settings n = *s;
        const char *str = NULL, *why = NULL;
        int64_t v;
        int r;

        if (!json_is_object(patch))
                return dv_error_set(err, 400, "invalid-field", "field 'ha' must be an object");
        r = dv_json_check_keys(patch, keys, err);
        if (r < 0)
                return r;
        r = dv_json_get_bool(patch, "enabled", false, &n.enabled, err);
        if (r < 0)
                return r;
        str = NULL;
        r = dv_json_get_string(patch, "admission", false, &str, err);
        if (r < 0)
                return r;
        if (str && dv_ha_admission_from_string(str, &n.admission) < 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'admission' must be off, hosts or percent");
        str = NULL;
        r = dv_json_get_string(patch, "isolation_response", false, &str, err);
        if (r < 0)
                return r;
        if (str && dv_ha_isolation_from_string(str, &n.isolation) < 0)
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'isolation_response' must be leave-running, shutdown "
                                    "or power-off");
        v = n.host_failures;
        r = dv_json_get_int(patch, "host_failures", false, 1, 64, &v, err);
        if (r < 0)
                return r;
        n.host_failures = (int)v;
        v = n.percent;
        r = dv_json_get_int(patch, "percent", false, 1, 100, &v, err);
        if (r < 0)
                return r;
        n.percent = (int)v;
        v = n.max_restarts_per_hour;
        r = dv_json_get_int(patch, "max_restarts_per_hour", false, 0, 1000, &v, err);
        if (r < 0)
                return r;
        n.max_restarts_per_hour = (int)v;
        for (size_t i = 0; i < ELEMENTSOF(ms_fields); i++) {
                int64_t *p = (int64_t *)((char *)&n + ms_fields[i].offset);

                r = dv_json_get_int(patch, ms_fields[i].key, false, ms_fields[i].min,
                                    TIMEOUT_MAX_MS, p, err);
                if (r < 0)
                        return r;
        }
        if (!dv_ha_settings_valid(&n, &why))
                return dv_error_set(err, 400, "invalid-field", "ha: %s", why);
        *s = n;
        return 0;
}

void dv_cluster_ha_settings(json_t *doc, struct dv_ha_settings *ret)
{
        struct dv_error err = { 0 };
        struct dv_ha_settings s;
        json_t *ha = json_object_get(doc, "ha");

        dv_ha_settings_default(&s);
        /* A stored document was checked when written; if it does not read
         * back (written by a newer droverd?), the defaults run. */
        if (ha && dv_ha_settings_patch(&s, ha, &err) < 0)
                dv_ha_settings_default(&s);
        *ret = s;
}
