/* /api/v1/portgroups: port groups (a VLAN on a DVS, with an optional subnet
 * and gateway). PATCH {vlan} retags the ports of the VMs on it at once,
 * through their agents. Changes hold m->net_lock (see manager.h). */
#include <string.h>

#include "agent.h"
#include "api.h"
#include "dvs.h"
#include "log.h"
#include "qos.h"
#include "validate.h"
#include "view.h"

static void pg_list(struct dv_api *a)
{
        json_t *list = NULL, *out, *pg;
        size_t i;
        int r;

        r = dv_store_list(a->m->store, DV_KIND_PORTGROUP, NULL, &list);
        if (r < 0) {
                dv_api_internal(a, r, "listing portgroups");
                return;
        }
        out = json_array();
        json_array_foreach(list, i, pg)
                json_array_append_new(out, dv_view(pg));
        json_decref(list);
        dv_api_reply(a, 200, json_pack("{s:o}", "portgroups", out));
}

static void pg_create(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_portgroup_req q;
        struct dv_shaping shaping = {};
        struct dv_error err = { 0 };
        json_t *body = NULL, *doc = NULL, *dvs = NULL, *old;
        char id[37], now[32];
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_portgroup_create(body, &q, &err) < 0 ||
            dv_shaping_merge(json_object_get(body, "shaping"), &shaping, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        pthread_mutex_lock(&m->net_lock);
        dv_mgr_lock(m);
        old = dv_mgr_get(m, DV_KIND_PORTGROUP, q.name);
        if (old) {
                json_decref(old);
                dv_api_error(a, 409, "name-taken", "portgroup '%s' already exists", q.name);
                goto out;
        }
        dvs = dv_mgr_get(m, DV_KIND_DVS, q.dvs);
        if (!dvs) {
                dv_api_error(a, 404, "unknown-dvs", "dvs '%s' not found", q.dvs);
                goto out;
        }
        if (dv_uuid_new(id) < 0)
                abort();
        dv_mgr_now(now);
        doc = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s?,s:s?,s:s}", "id", id, "name", q.name, "dvs",
                        dv_doc_str(dvs, "name"), "dvs_id", dv_doc_str(dvs, "id"), "vlan",
                        (json_int_t)q.vlan, "subnet", q.subnet, "gateway", q.gateway,
                        "created_at", now);
        if (!q.subnet)
                json_object_set_new(doc, "subnet", json_null());
        if (!q.gateway)
                json_object_set_new(doc, "gateway", json_null());
        json_object_set_new(doc, "shaping", dv_shaping_to_json(&shaping));
        r = dv_store_insert(m->store, DV_KIND_PORTGROUP, doc);
        if (r < 0) {
                if (r == -EEXIST)
                        dv_api_error(a, 409, "name-taken", "portgroup '%s' already exists",
                                     q.name);
                else
                        dv_api_internal(a, r, "writing the portgroup");
                goto out;
        }
        dv_mgr_event(m, a->user, "portgroup.created", "portgroup", doc,
                     "portgroup '%s' created on dvs '%s' (vlan %lld%s%s%s%s)", q.name,
                     dv_doc_str(dvs, "name"), (long long)q.vlan, q.subnet ? ", subnet " : "",
                     q.subnet ? q.subnet : "", q.gateway ? ", gateway " : "",
                     q.gateway ? q.gateway : "");
        dv_api_reply(a, 201, dv_view(doc));
out:
        dv_mgr_unlock(m);
        pthread_mutex_unlock(&m->net_lock);
        json_decref(dvs);
        json_decref(doc);
        json_decref(body);
}

/* "vm 'x' (nic0)": the first NIC of vm on the port group. */
static const char *nic_on(json_t *vm, const char *pg)
{
        json_t *nic;
        size_t i;

        json_array_foreach(json_object_get(vm, "nics"), i, nic)
                if (dv_streq(dv_doc_str(nic, "portgroup"), pg))
                        return dv_doc_str(nic, "name");
        return "?";
}

static void pg_delete(struct dv_api *a, json_t *pg)
{
        struct dv_mgr *m = a->m;
        const char *name = dv_doc_str(pg, "name");
        json_t *users = NULL, *vm;
        int r;

        pthread_mutex_lock(&m->net_lock);
        dv_mgr_lock(m);
        r = dv_portgroup_users(m, name, NULL, &users);
        if (r < 0) {
                dv_api_internal(a, r, "listing vms");
                goto out;
        }
        if (json_array_size(users) > 0) {
                vm = json_array_get(users, 0);
                dv_api_error(a, 409, "in-use", "portgroup '%s' is used by vm '%s' (%s)%s", name,
                             dv_doc_str(vm, "name"), nic_on(vm, name),
                             json_array_size(users) > 1 ? " and others" : "");
                goto out;
        }
        r = dv_store_remove(m->store, DV_KIND_PORTGROUP, dv_doc_str(pg, "id"));
        if (r < 0 && r != -ENOENT) {
                dv_api_internal(a, r, "removing the portgroup");
                goto out;
        }
        dv_mgr_event(m, a->user, "portgroup.deleted", "portgroup", pg,
                     "portgroup '%s' deleted", name);
        dv_api_reply(a, 204, NULL);
out:
        dv_mgr_unlock(m);
        pthread_mutex_unlock(&m->net_lock);
        json_decref(users);
}

/* Retag the NICs on port group pg of the VMs in users: "" or what failed. */
static char *retag(struct dv_mgr *m, const char *pg, int64_t vlan, json_t *shaping,
                   json_t *users, int *ret_count)
{
        char *failed = dv_strdup("");
        json_t *vm, *nic;
        size_t i, j;

        *ret_count = 0;
        json_array_foreach(users, i, vm) {
                json_t *host;

                if (!dv_vm_state_has_ports(dv_doc_str(vm, "state")))
                        continue;
                host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(vm, "host_id"));
                json_array_foreach(json_object_get(vm, "nics"), j, nic) {
                        struct dv_error err = { 0 };
                        json_t *body, *reply = NULL;
                        char *n;
                        int r;

                        if (!dv_streq(dv_doc_str(nic, "portgroup"), pg))
                                continue;
                        /* missing_ok: QEMU may not run there any more. */
                        body = json_pack("{s:s?,s:I,s:b}", "mac", dv_doc_str(nic, "mac"),
                                         "vlan", (json_int_t)vlan, "missing_ok", 1);
                        /* The shaping only when it changed: a vlan change
                         * leaves it alone. */
                        if (shaping)
                                json_object_set(body, "shaping", shaping);
                        r = host ? dv_agent_call(host, "POST", "/agent/v1/ports/vlan", body,
                                                 DV_AGENT_TIMEOUT_MS, &reply, &err)
                                 : dv_error_set(&err, 503, "agent-unreachable", "no host");
                        json_decref(body);
                        if (r >= 0) {
                                *ret_count += (int)json_array_size(json_object_get(reply, "ports"));
                                json_decref(reply);
                                continue;
                        }
                        n = dv_asprintf("%s%svm '%s' %s: %s", failed, *failed ? "; " : "",
                                        dv_doc_str(vm, "name"), dv_doc_str(nic, "name"),
                                        err.message);
                        free(failed);
                        failed = n;
                }
                json_decref(host);
        }
        return failed;
}

static void pg_patch(struct dv_api *a, json_t *pg_in)
{
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *body = NULL, *pg = NULL, *users = NULL, *view, *jshape;
        _cleanup_(freep) char *failed = NULL;
        struct dv_shaping shaping = {};
        int64_t vlan = dv_doc_int(pg_in, "vlan", 0), old;
        bool new_shaping;
        int r = 0, count = 0;

        if (dv_api_body(a, &body) < 0)
                return;
        /* Traffic shaping (docs/qos.md): {"shaping": {...}|null}, merged
         * over the current one; checked before anything changes. */
        jshape = json_incref(json_object_get(body, "shaping"));
        new_shaping = jshape != NULL;
        json_object_del(body, "shaping");
        (void)dv_shaping_merge(json_object_get(pg_in, "shaping"), &shaping, NULL);
        if (new_shaping)
                r = dv_shaping_merge(jshape, &shaping, &err);
        json_decref(jshape);
        if (r >= 0 && (json_object_size(body) > 0 || !new_shaping))
                r = dv_validate_portgroup_patch(body, &vlan, &err);
        json_decref(body);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        pthread_mutex_lock(&m->net_lock);
        dv_mgr_lock(m);
        pg = dv_mgr_get(m, DV_KIND_PORTGROUP, dv_doc_str(pg_in, "id"));
        if (!pg) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "portgroup", dv_doc_str(pg_in, "name"));
                goto out;
        }
        old = dv_doc_int(pg, "vlan", 0);
        json_object_set_new(pg, "vlan", json_integer(vlan));
        if (new_shaping)
                json_object_set_new(pg, "shaping", dv_shaping_to_json(&shaping));
        r = old == vlan && !new_shaping ? 0 : dv_store_update(m->store, DV_KIND_PORTGROUP, pg);
        if (r >= 0)
                r = dv_portgroup_users(m, dv_doc_str(pg, "name"), NULL, &users);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "writing the portgroup");
                goto out;
        }
        if (new_shaping) {
                _cleanup_(freep) char *t = json_dumps(json_object_get(pg, "shaping"),
                                                      JSON_COMPACT | JSON_ENCODE_ANY);

                dv_mgr_event(m, a->user, "portgroup.shaping", "portgroup", pg,
                             "portgroup '%s': traffic shaping %s", dv_doc_str(pg, "name"),
                             t ? t : "?");
        }
        if (old != vlan)
                dv_mgr_event(m, a->user, "portgroup.vlan", "portgroup", pg,
                             "portgroup '%s': vlan %lld -> %lld", dv_doc_str(pg, "name"),
                             (long long)old, (long long)vlan);
        dv_mgr_unlock(m);
        /* Every port, also when the VLAN did not change: a retry repairs. */
        failed = retag(m, dv_doc_str(pg, "name"), vlan,
                       new_shaping ? json_object_get(pg, "shaping") : NULL, users, &count);
        if (*failed) {
                dv_mgr_event(m, a->user, "portgroup.retag-failed", "portgroup", pg,
                             "portgroup '%s' is vlan %lld; retag failed: %s",
                             dv_doc_str(pg, "name"), (long long)vlan, failed);
                dv_api_error(a, 502, "agent-error",
                             "portgroup '%s' is now vlan %lld, but these ports were not retagged: "
                             "%s",
                             dv_doc_str(pg, "name"), (long long)vlan, failed);
                goto out;
        }
        view = dv_view(pg);
        json_object_set_new(view, "retagged", json_integer(count));
        dv_api_reply(a, 200, view);
out:
        pthread_mutex_unlock(&m->net_lock);
        json_decref(users);
        json_decref(pg);
}

void dv_api_portgroups(struct dv_api *a)
{
        json_t *pg;

        if (a->nseg == 1) {
                if (dv_api_is(a, "GET"))
                        pg_list(a);
                else if (dv_api_is(a, "POST"))
                        pg_create(a);
                else
                        dv_api_bad_method(a);
                return;
        }
        if (a->nseg != 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "GET") && !dv_api_is(a, "DELETE") && !dv_api_is(a, "PATCH")) {
                dv_api_bad_method(a);
                return;
        }
        pg = dv_mgr_get(a->m, DV_KIND_PORTGROUP, a->segs[1]);
        if (!pg) {
                dv_api_not_found(a, "portgroup", a->segs[1]);
                return;
        }
        if (dv_api_is(a, "GET"))
                dv_api_reply(a, 200, dv_view(pg));
        else if (dv_api_is(a, "DELETE"))
                pg_delete(a, pg);
        else
                pg_patch(a, pg);
        json_decref(pg);
}
