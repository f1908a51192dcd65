/* /api/v1/dvs: distributed virtual switches and the hosts they span.
 * Every change holds m->net_lock (the DVS changes one at a time, agent calls
 * included) and takes m->lock only around reads and writes of documents. */
#include <string.h>

#include "agent.h"
#include "api.h"
#include "dvs-health.h"
#include "dvs.h"
#include "log.h"
#include "net.h"
#include "validate.h"
#include "view.h"

json_t *dv_view_dvs(struct dv_mgr *m, json_t *dvs)
{
        struct dv_store_filter f = { .dvs_id = dv_doc_str(dvs, "id") };
        json_t *v = dv_doc_public(dvs), *pgs = NULL, *names = json_array(), *pg;
        size_t i;

        if (dv_store_list(m->store, DV_KIND_PORTGROUP, &f, &pgs) >= 0)
                json_array_foreach(pgs, i, pg)
                        json_array_append(names, json_object_get(pg, "name"));
        json_decref(pgs);
        json_object_set_new(v, "portgroups", names);
        if (!json_object_get(v, "health_interval_s"))
                json_object_set_new(v, "health_interval_s", json_integer(0));
        if (json_is_object(json_object_get(dvs, "_health"))) {
                json_t *h = json_object_get(dvs, "_health");

                json_object_set_new(v, "health",
                                    json_pack("{s:O,s:O?,s:I}", "ok", json_object_get(h, "ok"),
                                              "checked_at", json_object_get(h, "checked_at"),
                                              "problems",
                                              (json_int_t)json_array_size(
                                                      json_object_get(h, "problems"))));
        }
        return v;
}

static void dvs_list(struct dv_api *a)
{
        json_t *list = NULL, *out, *d;
        size_t i;
        int r;

        r = dv_store_list(a->m->store, DV_KIND_DVS, NULL, &list);
        if (r < 0) {
                dv_api_internal(a, r, "listing dvs");
                return;
        }
        out = json_array();
        json_array_foreach(list, i, d)
                json_array_append_new(out, dv_view_dvs(a->m, d));
        json_decref(list);
        dv_api_reply(a, 200, json_pack("{s:o}", "dvs", out));
}

static void dvs_create(struct dv_api *a)
{
        struct dv_mgr *m = a->m;
        struct dv_dvs_req q;
        struct dv_error err = { 0 };
        json_t *body = NULL, *doc = NULL, *old, *all = NULL, *d;
        char id[37], now[32], bridge[DV_BRIDGE_NAME_MAX];
        size_t i;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_dvs_create(body, &q, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        dv_dvs_bridge_name(q.name, bridge);
        pthread_mutex_lock(&m->net_lock);
        dv_mgr_lock(m);
        old = dv_mgr_get(m, DV_KIND_DVS, q.name);
        if (old) {
                json_decref(old);
                dv_api_error(a, 409, "name-taken", "dvs '%s' already exists", q.name);
                goto out;
        }
        r = dv_store_list(m->store, DV_KIND_DVS, NULL, &all);
        if (r < 0) {
                dv_api_internal(a, r, "listing dvs");
                goto out;
        }
        json_array_foreach(all, i, d)
                if (dv_streq(dv_doc_str(d, "bridge"), bridge)) {
                        dv_api_error(a, 409, "name-taken",
                                     "dvs '%s' would use bridge %s like dvs '%s'; choose "
                                     "another name",
                                     q.name, bridge, dv_doc_str(d, "name"));
                        goto out;
                }
        if (dv_uuid_new(id) < 0)
                abort();
        dv_mgr_now(now);
        doc = json_pack("{s:s,s:s,s:s,s:[],s:s}", "id", id, "name", q.name, "bridge", bridge,
                        "hosts", "created_at", now);
        r = dv_store_insert(m->store, DV_KIND_DVS, doc);
        if (r < 0) {
                if (r == -EEXIST)
                        dv_api_error(a, 409, "name-taken", "dvs '%s' already exists", q.name);
                else
                        dv_api_internal(a, r, "writing the dvs");
                goto out;
        }
        dv_mgr_event(m, a->user, "dvs.created", "dvs", doc, "dvs '%s' created (bridge %s)",
                     q.name, bridge);
        dv_api_reply(a, 201, dv_view_dvs(m, doc));
out:
        dv_mgr_unlock(m);
        pthread_mutex_unlock(&m->net_lock);
        json_decref(all);
        json_decref(doc);
        json_decref(body);
}

/* Remove the bridge from a host: 0, or err filled. Hosts that are not
 * connected are skipped (netsync removes stale bridges when they come
 * back); *ret_skipped tells. */
static int unrealise(json_t *dvs, json_t *host, bool *ret_skipped, struct dv_error *err)
{
        json_t *body;
        int r;

        *ret_skipped = !dv_streq(dv_doc_str(host, "state"), "connected");
        if (*ret_skipped)
                return 0;
        body = json_pack("{s:s}", "bridge", dv_doc_str(dvs, "bridge"));
        r = dv_agent_call(host, "POST", "/agent/v1/dvs/delete", body, DV_AGENT_TIMEOUT_MS, NULL,
                          err);
        json_decref(body);
        return r;
}

static void dvs_delete(struct dv_api *a, json_t *dvs_in)
{
        struct dv_mgr *m = a->m;
        struct dv_store_filter f = { .dvs_id = dv_doc_str(dvs_in, "id") };
        struct dv_error err = { 0 };
        json_t *dvs, *pgs = NULL, *hosts, *h;
        int r;

        pthread_mutex_lock(&m->net_lock);
        dvs = dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(dvs_in, "id"));
        if (!dvs) {
                dv_api_not_found(a, "dvs", dv_doc_str(dvs_in, "name"));
                goto out;
        }
        r = dv_store_list(m->store, DV_KIND_PORTGROUP, &f, &pgs);
        if (r < 0) {
                dv_api_internal(a, r, "listing portgroups");
                goto out;
        }
        if (json_array_size(pgs) > 0) {
                dv_api_error(a, 409, "in-use", "dvs '%s' has %zu portgroup(s) (e.g. '%s'); "
                             "delete them first",
                             dv_doc_str(dvs, "name"), json_array_size(pgs),
                             dv_doc_str(json_array_get(pgs, 0), "name"));
                goto out;
        }
        /* Take the bridge off every host; the record keeps the hosts where
         * that failed, so that a retry finds them. */
        hosts = json_object_get(dvs, "hosts");
        while (json_array_size(hosts) > 0) {
                json_t *entry = json_array_get(hosts, 0);
                bool skipped;

                h = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(entry, "host_id"));
                r = h ? unrealise(dvs, h, &skipped, &err) : 0;
                json_decref(h);
                if (r < 0) {
                        dv_mgr_lock(m);
                        dv_store_update(m->store, DV_KIND_DVS, dvs);
                        dv_mgr_unlock(m);
                        dv_api_dv_error(a, &err);
                        goto out;
                }
                json_array_remove(hosts, 0);
        }
        dv_mgr_lock(m);
        r = dv_store_remove(m->store, DV_KIND_DVS, dv_doc_str(dvs, "id"));
        if (r == -EBUSY)
                dv_api_error(a, 409, "in-use", "dvs '%s' has portgroups", dv_doc_str(dvs, "name"));
        else if (r < 0 && r != -ENOENT)
                dv_api_internal(a, r, "removing the dvs");
        else {
                dv_mgr_event(m, a->user, "dvs.deleted", "dvs", dvs, "dvs '%s' deleted",
                             dv_doc_str(dvs, "name"));
                dv_api_reply(a, 204, NULL);
        }
        dv_mgr_unlock(m);
out:
        pthread_mutex_unlock(&m->net_lock);
        json_decref(pgs);
        json_decref(dvs);
}

/* The DVS another than dvs on host that uses uplink, or NULL (new reference). */
static json_t *uplink_user(struct dv_mgr *m, json_t *dvs, const char *host_id,
                           const char *uplink)
{
        json_t *all = NULL, *d, *e, *found = NULL;
        size_t i;

        if (dv_store_list(m->store, DV_KIND_DVS, NULL, &all) < 0)
                return NULL;
        json_array_foreach(all, i, d) {
                if (dv_streq(dv_doc_str(d, "id"), dv_doc_str(dvs, "id")))
                        continue;
                e = dv_dvs_host_entry(d, host_id);
                if (e && dv_streq(dv_doc_str(e, "uplink"), uplink) && !found)
                        found = json_incref(d);
        }
        json_decref(all);
        return found;
}

static void dvs_add_host(struct dv_api *a, json_t *dvs_in)
{
        struct dv_mgr *m = a->m;
        struct dv_dvs_host_req q;
        struct dv_error err = { 0 };
        json_t *body = NULL, *dvs = NULL, *host = NULL, *entry, *other, *req;
        const char *uplink;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_validate_dvs_add_host(body, &q, &err) < 0) {
                dv_api_dv_error(a, &err);
                json_decref(body);
                return;
        }
        pthread_mutex_lock(&m->net_lock);
        dvs = dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(dvs_in, "id"));
        if (!dvs) {
                dv_api_not_found(a, "dvs", dv_doc_str(dvs_in, "name"));
                goto out;
        }
        host = dv_mgr_get(m, DV_KIND_HOST, q.host);
        if (!host) {
                dv_api_error(a, 404, "unknown-host", "host '%s' not found", q.host);
                goto out;
        }
        uplink = q.uplink ? q.uplink : dv_doc_str(host, "uplink");
        if (!uplink) {
                dv_api_error(a, 400, "missing-field",
                             "field 'uplink' is required: host '%s' has no default uplink",
                             dv_doc_str(host, "name"));
                goto out;
        }
        entry = dv_dvs_host_entry(dvs, dv_doc_str(host, "id"));
        if (entry && !dv_streq(dv_doc_str(entry, "uplink"), uplink)) {
                dv_api_error(a, 409, "invalid-state",
                             "host '%s' is already attached to dvs '%s' with uplink %s; "
                             "remove it first",
                             dv_doc_str(host, "name"), dv_doc_str(dvs, "name"),
                             dv_doc_str(entry, "uplink"));
                goto out;
        }
        other = uplink_user(m, dvs, dv_doc_str(host, "id"), uplink);
        if (other) {
                dv_api_error(a, 409, "in-use", "uplink %s of host '%s' is used by dvs '%s'",
                             uplink, dv_doc_str(host, "name"), dv_doc_str(other, "name"));
                json_decref(other);
                goto out;
        }
        if (!dv_streq(dv_doc_str(host, "state"), "connected")) {
                dv_api_error(a, 503, "agent-unreachable", "host '%s' is %s",
                             dv_doc_str(host, "name"), dv_doc_str(host, "state"));
                goto out;
        }
        /* Idempotent on the agent: an attached host gets its bridge re-ensured. */
        req = json_pack("{s:s,s:s,s:s}", "name", dv_doc_str(dvs, "name"), "bridge",
                        dv_doc_str(dvs, "bridge"), "uplink", uplink);
        r = dv_agent_call(host, "POST", "/agent/v1/dvs", req, DV_AGENT_TIMEOUT_MS, NULL, &err);
        json_decref(req);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        dv_mgr_lock(m);
        if (!entry) {
                json_array_append_new(json_object_get(dvs, "hosts"),
                                      json_pack("{s:s,s:s,s:s}", "host",
                                                dv_doc_str(host, "name"), "host_id",
                                                dv_doc_str(host, "id"), "uplink", uplink));
                r = dv_store_update(m->store, DV_KIND_DVS, dvs);
                if (r < 0) {
                        dv_mgr_unlock(m);
                        dv_api_internal(a, r, "writing the dvs");
                        goto out;
                }
                dv_mgr_event(m, a->user, "dvs.host-added", "dvs", dvs,
                             "host '%s' joined dvs '%s' with uplink %s",
                             dv_doc_str(host, "name"), dv_doc_str(dvs, "name"), uplink);
        }
        dv_mgr_unlock(m);
        dv_api_reply(a, 200, dv_view_dvs(m, dvs));
out:
        pthread_mutex_unlock(&m->net_lock);
        json_decref(host);
        json_decref(dvs);
        json_decref(body);
}

/* The first VM on host_id with a NIC on a port group of dvs (new
 * reference), its port group's name in pg. */
static json_t *dvs_user_on_host(struct dv_mgr *m, json_t *dvs, const char *host_id,
                                char pg_name[DV_NAME_MAX + 1])
{
        struct dv_store_filter f = { .dvs_id = dv_doc_str(dvs, "id") };
        json_t *pgs = NULL, *pg, *vms, *found = NULL;
        size_t i;

        if (dv_store_list(m->store, DV_KIND_PORTGROUP, &f, &pgs) < 0)
                return NULL;
        json_array_foreach(pgs, i, pg) {
                if (dv_portgroup_users(m, dv_doc_str(pg, "name"), host_id, &vms) < 0)
                        continue;
                if (json_array_size(vms) > 0 && !found) {
                        found = json_incref(json_array_get(vms, 0));
                        snprintf(pg_name, DV_NAME_MAX + 1, "%s", dv_doc_str(pg, "name"));
                }
                json_decref(vms);
        }
        json_decref(pgs);
        return found;
}

static void dvs_remove_host(struct dv_api *a, json_t *dvs_in, const char *host_ref)
{
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        json_t *dvs = NULL, *host = NULL, *entry, *user, *hosts;
        char pg[DV_NAME_MAX + 1] = "";
        bool skipped = false;
        size_t i;
        int r;

        pthread_mutex_lock(&m->net_lock);
        dv_mgr_lock(m);
        dvs = dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(dvs_in, "id"));
        if (!dvs) {
                dv_mgr_unlock(m);
                dv_api_not_found(a, "dvs", dv_doc_str(dvs_in, "name"));
                goto out;
        }
        host = dv_mgr_get(m, DV_KIND_HOST, host_ref);
        entry = NULL;
        hosts = json_object_get(dvs, "hosts");
        json_array_foreach(hosts, i, entry)
                if (dv_streq(dv_doc_str(entry, "host_id"), host ? dv_doc_str(host, "id") : NULL) ||
                    dv_streq(dv_doc_str(entry, "host"), host_ref))
                        break;
        if (i == json_array_size(hosts)) {
                dv_mgr_unlock(m);
                dv_api_error(a, 404, "not-found", "host '%s' is not attached to dvs '%s'",
                             host_ref, dv_doc_str(dvs, "name"));
                goto out;
        }
        user = dvs_user_on_host(m, dvs, dv_doc_str(entry, "host_id"), pg);
        if (user) {
                dv_mgr_unlock(m);
                dv_api_error(a, 409, "in-use",
                             "vm '%s' on host '%s' uses dvs '%s' (portgroup '%s')",
                             dv_doc_str(user, "name"), dv_doc_str(entry, "host"),
                             dv_doc_str(dvs, "name"), pg);
                json_decref(user);
                goto out;
        }
        /* Off the record first: no VM can be placed there from now on. */
        entry = json_incref(entry);
        json_array_remove(hosts, i);
        r = dv_store_update(m->store, DV_KIND_DVS, dvs);
        dv_mgr_unlock(m);
        if (r < 0) {
                json_decref(entry);
                dv_api_internal(a, r, "writing the dvs");
                goto out;
        }
        r = host ? unrealise(dvs, host, &skipped, &err) : 0;
        dv_mgr_lock(m);
        if (r < 0) {
                /* Still there: put it back. */
                json_array_append(hosts, entry);
                dv_store_update(m->store, DV_KIND_DVS, dvs);
                dv_mgr_unlock(m);
                json_decref(entry);
                dv_api_dv_error(a, &err);
                goto out;
        }
        dv_mgr_event(m, a->user, "dvs.host-removed", "dvs", dvs,
                     "host '%s' left dvs '%s'%s", dv_doc_str(entry, "host"),
                     dv_doc_str(dvs, "name"),
                     skipped ? " (the host is not connected: its bridge goes when it returns)"
                             : "");
        dv_mgr_unlock(m);
        json_decref(entry);
        dv_api_reply(a, 200, dv_view_dvs(m, dvs));
out:
        pthread_mutex_unlock(&m->net_lock);
        json_decref(host);
        json_decref(dvs);
}

void dv_api_dvs(struct dv_api *a)
{
        json_t *dvs;

        if (a->nseg == 1) {
                if (dv_api_is(a, "GET"))
                        dvs_list(a);
                else if (dv_api_is(a, "POST"))
                        dvs_create(a);
                else
                        dv_api_bad_method(a);
                return;
        }
        if (a->nseg == 3 && strcmp(a->segs[2], "health") == 0) {
                dvs = dv_mgr_get(a->m, DV_KIND_DVS, a->segs[1]);
                if (!dvs) {
                        dv_api_not_found(a, "dvs", a->segs[1]);
                        return;
                }
                dv_api_dvs_health(a, dvs); /* dvs-health.c */
                json_decref(dvs);
                return;
        }
        if (a->nseg > 4 || (a->nseg >= 3 && strcmp(a->segs[2], "hosts") != 0)) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if ((a->nseg == 2 && !dv_api_is(a, "GET") && !dv_api_is(a, "DELETE") &&
             !dv_api_is(a, "PATCH")) ||
            (a->nseg == 3 && !dv_api_is(a, "POST")) || (a->nseg == 4 && !dv_api_is(a, "DELETE"))) {
                dv_api_bad_method(a);
                return;
        }
        dvs = dv_mgr_get(a->m, DV_KIND_DVS, a->segs[1]);
        if (!dvs) {
                dv_api_not_found(a, "dvs", a->segs[1]);
                return;
        }
        if (a->nseg == 2 && dv_api_is(a, "GET"))
                dv_api_reply(a, 200, dv_view_dvs(a->m, dvs));
        else if (a->nseg == 2 && dv_api_is(a, "PATCH"))
                dv_api_dvs_patch(a, dvs); /* dvs-health.c */
        else if (a->nseg == 2)
                dvs_delete(a, dvs);
        else if (a->nseg == 3)
                dvs_add_host(a, dvs);
        else
                dvs_remove_host(a, dvs, a->segs[3]);
        json_decref(dvs);
}
