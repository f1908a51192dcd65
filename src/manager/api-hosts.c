/* GET /api/v1/hosts, GET|PATCH /api/v1/hosts/{id|name}, POST
 * /api/v1/hosts/{id}/maintenance (maintenance.c). PATCH sets the
 * host's BMC (for HA fencing): {"bmc": {"address","port"?,"user","password"?}}
 * or {"bmc": null}. The password is stored (internal "_bmc_password") and
 * never shown: the view says "password_set". */
#include <string.h>

#include "api.h"
#include "ha-bmc.h"
#include "ha-env.h"
#include "json.h"
#include "view.h"

static json_t *host_view(struct dv_mgr *m, json_t *h)
{
        json_t *v = dv_view_host(m, h);

        dv_ha_rt_host_view(m, v);
        return v;
}

/* Printable ASCII without spaces, 1..max characters (IPMI user names). */
static bool user_valid(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > DV_BMC_USER_MAX || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

/* Printable ASCII (spaces allowed), 0..max characters. */
static bool password_valid(const char *s)
{
        size_t n = strlen(s);

        if (n > DV_BMC_PASSWORD_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < ' ' || s[i] > '~')
                        return false;
        return true;
}

/* Reads {"bmc": ...} into the public object *ret_bmc (or NULL to remove)
 * and *ret_password (NULL: keep the stored one). */
static int parse_patch(json_t *body, json_t **ret_bmc, const char **ret_password,
                       struct dv_error *err)
{
        static const char *const keys[] = { "bmc", NULL };
        static const char *const bmc_keys[] = { "address", "port", "user", "password", NULL };
        const char *address = NULL, *user = NULL, *password = NULL;
        int64_t port = DV_BMC_DEFAULT_PORT;
        json_t *b;
        int r;

        r = dv_json_check_keys(body, keys, err);
        if (r < 0)
                return r;
        b = json_object_get(body, "bmc");
        if (!b)
                return dv_error_set(err, 400, "missing-field", "field 'bmc' is required");
        if (json_is_null(b)) {
                *ret_bmc = NULL;
                *ret_password = NULL;
                return 0;
        }
        if (!json_is_object(b))
                return dv_error_set(err, 400, "invalid-field", "field 'bmc' must be an object or null");
        r = dv_json_check_keys(b, bmc_keys, err);
        if (r >= 0)
                r = dv_json_get_string(b, "address", true, &address, err);
        if (r >= 0)
                r = dv_json_get_int(b, "port", false, 1, 65535, &port, err);
        if (r >= 0)
                r = dv_json_get_string(b, "user", true, &user, err);
        if (r >= 0)
                r = dv_json_get_string(b, "password", false, &password, err);
        if (r < 0)
                return r;
        if (!dv_bmc_address_valid(address))
                return dv_error_set(err, 400, "invalid-field",
                                    "bmc: field 'address' must be a host name or an IP address");
        if (!user_valid(user))
                return dv_error_set(err, 400, "invalid-field",
                                    "bmc: field 'user' must be 1..%d printable characters without "
                                    "spaces", DV_BMC_USER_MAX);
        if (password && !password_valid(password))
                return dv_error_set(err, 400, "invalid-field",
                                    "bmc: field 'password' must be at most %d printable characters",
                                    DV_BMC_PASSWORD_MAX);
        *ret_bmc = json_pack("{s:s,s:I,s:s}", "address", address, "port", (json_int_t)port, "user",
                             user);
        *ret_password = password;
        return 0;
}

static void host_patch(struct dv_api *a, const char *id)
{
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *body = NULL, *bmc = NULL, *h = NULL;
        const char *password = NULL;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (parse_patch(body, &bmc, &password, &err) < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        dv_mgr_lock(m);
        h = dv_mgr_get(m, DV_KIND_HOST, id);
        if (!h) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "host", id);
                goto out;
        }
        if (bmc) {
                if (password)
                        json_object_set_new(h, "_bmc_password", json_string(password));
                json_object_set_new(bmc, "password_set",
                                    json_boolean(dv_doc_str(h, "_bmc_password") &&
                                                 *dv_doc_str(h, "_bmc_password")));
                json_object_set(h, "bmc", bmc);
        } else {
                json_object_del(h, "bmc");
                json_object_del(h, "_bmc_password");
        }
        r = dv_store_update(m->store, DV_KIND_HOST, h);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "writing the host");
                goto out;
        }
        if (bmc)
                dv_mgr_event(m, a->user, "host.bmc-set", "host", h,
                             "host '%s': BMC %s:%lld, user %s%s", dv_doc_str(h, "name"),
                             dv_doc_str(bmc, "address"), (long long)dv_doc_int(bmc, "port", 0),
                             dv_doc_str(bmc, "user"),
                             password ? ", new password" : "");
        else
                dv_mgr_event(m, a->user, "host.bmc-removed", "host", h,
                             "host '%s': BMC settings removed (HA cannot fence it)",
                             dv_doc_str(h, "name"));
        dv_mgr_unlock(m);
        dv_api_reply(a, 200, host_view(m, h));
out:
        json_decref(h);
        json_decref(bmc);
        json_decref(body);
}

void dv_api_hosts(struct dv_api *a)
{
        json_t *list = NULL, *out, *h;
        size_t i;
        int r;

        if (a->nseg == 3 && dv_streq(a->segs[2], "maintenance")) {
                h = dv_mgr_get(a->m, DV_KIND_HOST, a->segs[1]);
                if (!h) {
                        dv_api_not_found(a, "host", a->segs[1]);
                        return;
                }
                dv_api_host_maintenance(a, h); /* maintenance.c */
                json_decref(h);
                return;
        }
        if (a->nseg == 3 && dv_streq(a->segs[2], "metrics")) {
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                h = dv_mgr_get(a->m, DV_KIND_HOST, a->segs[1]);
                if (!h) {
                        dv_api_not_found(a, "host", a->segs[1]);
                        return;
                }
                dv_api_reply(a, 200, dv_view_metrics(a->m, "host", h));
                json_decref(h);
                return;
        }
        if (a->nseg > 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (a->nseg == 2 && dv_api_is(a, "PATCH")) {
                host_patch(a, a->segs[1]);
                return;
        }
        if (!dv_api_is(a, "GET")) {
                dv_api_bad_method(a);
                return;
        }
        if (a->nseg == 2) {
                h = dv_mgr_get(a->m, DV_KIND_HOST, a->segs[1]);
                if (!h) {
                        dv_api_not_found(a, "host", a->segs[1]);
                        return;
                }
                dv_api_reply(a, 200, host_view(a->m, h));
                json_decref(h);
                return;
        }
        r = dv_store_list(a->m->store, DV_KIND_HOST, NULL, &list);
        if (r < 0) {
                dv_api_internal(a, r, "listing hosts");
                return;
        }
        out = json_array();
        json_array_foreach(list, i, h)
                json_array_append_new(out, host_view(a->m, h));
        json_decref(list);
        dv_api_reply(a, 200, json_pack("{s:o}", "hosts", out));
}
