/* GET /api/v1/hosts, GET /api/v1/hosts/{id|name}. */
#include "api.h"
#include "view.h"

void dv_api_hosts(struct dv_api *a)
{
        json_t *list = NULL, *out, *h;
        size_t i;
        int r;

        if (a->nseg > 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
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
                dv_api_reply(a, 200, dv_view_host(a->m, h));
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
                json_array_append_new(out, dv_view_host(a->m, h));
        json_decref(list);
        dv_api_reply(a, 200, json_pack("{s:o}", "hosts", out));
}
