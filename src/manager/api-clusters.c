/* GET /api/v1/clusters, GET|PATCH /api/v1/clusters/{id|name}: for now one
 * cluster, "default", holding every host, the HA settings (ha-env.h) and
 * the DRS settings and rules (drs-run.h; /clusters/{id}/drs/... there). */
#include <string.h>

#include "api.h"
#include "dpm-run.h"
#include "drs-run.h"
#include "ha-env.h"
#include "json.h"
#include "vm-qos.h"

/* CLUSTER: the document plus its hosts. */
static json_t *cluster_view(struct dv_mgr *m, json_t *doc)
{
        struct dv_ha_settings s;
        json_t *v = dv_doc_public(doc), *hosts = NULL, *names = json_array(), *h;
        size_t i;

        dv_cluster_ha_settings(doc, &s);
        json_object_set_new(v, "ha", dv_ha_settings_to_json(&s));
        json_object_set_new(v, "overcommit", json_boolean(json_is_true(json_object_get(doc, "overcommit"))));
        json_object_del(v, "drs_rules");
        json_object_set_new(v, "drs", dv_cluster_drs_view(doc));
        {
                struct dv_dpm_settings ps;

                dv_cluster_dpm_settings(doc, &ps);
                json_object_set_new(v, "dpm", dv_dpm_settings_to_json(&ps));
        }
        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) >= 0)
                json_array_foreach(hosts, i, h)
                        json_array_append(names, json_object_get(h, "name"));
        json_decref(hosts);
        json_object_set_new(v, "hosts", names);
        return v;
}

/* Memory overcommit off: every host must hold its VMs' configured memory
 * (m->lock held). 409 insufficient-resources naming the first that does not. */
static int overcommit_off_fits(struct dv_mgr *m, struct dv_error *err)
{
        json_t *hosts = NULL, *h;
        size_t i;
        int r = 0;

        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) < 0)
                return dv_error_set(err, 500, "internal", "reading the hosts");
        json_array_foreach(hosts, i, h) {
                struct dv_store_filter f = { .host_id = dv_doc_str(h, "id") };
                json_t *vms = NULL, *vm;
                int64_t sum = 0, cap = dv_doc_int(h, "memory_mib", 0);
                size_t j;

                if (dv_store_list(m->store, DV_KIND_VM, &f, &vms) < 0)
                        continue;
                json_array_foreach(vms, j, vm)
                        sum += dv_vm_mem_admitted_mib(vm, false);
                json_decref(vms);
                if (sum > cap) {
                        r = dv_error_set(err, 409, "insufficient-resources",
                                         "memory overcommit cannot be turned off: host '%s' gives "
                                         "%lld MiB to vms, the configured memory of its vms is "
                                         "%lld MiB (move or shrink vms first)",
                                         dv_doc_str(h, "name"), (long long)cap, (long long)sum);
                        break;
                }
        }
        json_decref(hosts);
        return r;
}

static void cluster_patch(struct dv_api *a)
{
        static const char *const keys[] = { "ha", "drs", "dpm", "overcommit", NULL };
        struct dv_mgr *m = a->m;
        struct dv_error err = { 0 };
        struct dv_ha_settings s, before;
        struct dv_drs_settings ds;
        struct dv_dpm_settings ps;
        json_t *body = NULL, *doc = NULL, *ha, *drs, *dpm, *over;
        bool was_over;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        if (dv_json_check_keys(body, keys, &err) < 0) {
                dv_api_dv_error(a, &err);
                goto out;
        }
        ha = json_object_get(body, "ha");
        drs = json_object_get(body, "drs");
        dpm = json_object_get(body, "dpm");
        over = json_object_get(body, "overcommit");
        if (!ha && !drs && !dpm && !over) {
                dv_api_error(a, 400, "missing-field", "give 'ha', 'drs', 'dpm' or 'overcommit'");
                goto out;
        }
        if (over && !json_is_boolean(over)) {
                dv_api_error(a, 400, "invalid-field", "field 'overcommit' must be true or false");
                goto out;
        }
        dv_mgr_lock(m);
        r = dv_cluster_get_default(m, &doc);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "reading the cluster");
                goto out;
        }
        dv_cluster_ha_settings(doc, &s);
        dv_cluster_drs_settings(doc, &ds);
        dv_cluster_dpm_settings(doc, &ps);
        before = s;
        was_over = json_is_true(json_object_get(doc, "overcommit"));
        if ((ha && dv_ha_settings_patch(&s, ha, &err) < 0) ||
            (drs && dv_drs_settings_patch(&ds, drs, &err) < 0) ||
            (dpm && dv_dpm_settings_patch(&ps, dpm, &err) < 0) ||
            (over && was_over && !json_is_true(over) && overcommit_off_fits(m, &err) < 0)) {
                dv_mgr_unlock(m);
                dv_api_dv_error(a, &err);
                goto out;
        }
        if (ha)
                json_object_set_new(doc, "ha", dv_ha_settings_to_json(&s));
        if (drs)
                json_object_set_new(doc, "drs", dv_drs_settings_to_json(&ds));
        if (dpm)
                json_object_set_new(doc, "dpm", dv_dpm_settings_to_json(&ps));
        if (over)
                json_object_set_new(doc, "overcommit", json_boolean(json_is_true(over)));
        r = dv_store_update(m->store, DV_KIND_CLUSTER, doc);
        if (r < 0) {
                dv_mgr_unlock(m);
                dv_api_internal(a, r, "writing the cluster");
                goto out;
        }
        if (over && was_over != json_is_true(over))
                dv_mgr_event(m, a->user, "cluster.overcommit-set", "cluster", doc,
                             "cluster '%s': memory overcommit %s", dv_doc_str(doc, "name"),
                             json_is_true(over) ? "on (KSM, ballooning, swap; admission counts "
                                                  "reservations)"
                                                : "off");
        if (drs)
                dv_mgr_event(m, a->user, "cluster.drs-set", "cluster", doc,
                             "cluster '%s': DRS %s, threshold %d, every %lld s",
                             dv_doc_str(doc, "name"), dv_drs_mode_to_string(ds.mode), ds.threshold,
                             (long long)ds.interval_s);
        if (dpm)
                dv_mgr_event(m, a->user, "cluster.dpm-set", "cluster", doc,
                             "cluster '%s': DPM %s, utilisation %d..%d%%, %d pass(es), at least "
                             "%d host(s) on", dv_doc_str(doc, "name"),
                             dv_dpm_mode_to_string(ps.mode), ps.low_pct, ps.high_pct,
                             ps.persist_passes, ps.min_hosts);
        if (ha)
                dv_mgr_event(m, a->user, "cluster.ha-set", "cluster", doc,
                     "cluster '%s': HA %s, isolation response %s, admission %s%s",
                     dv_doc_str(doc, "name"), s.enabled ? "on" : "off",
                     dv_ha_isolation_to_string(s.isolation), dv_ha_admission_to_string(s.admission),
                     before.enabled != s.enabled ? (s.enabled ? " (turned on)" : " (turned off)")
                                                 : "");
        dv_mgr_unlock(m);
        dv_api_reply(a, 200, cluster_view(m, doc));
out:
        json_decref(doc);
        json_decref(body);
}

void dv_api_clusters(struct dv_api *a)
{
        json_t *doc = NULL;
        int r;

        if (a->nseg >= 3 && dv_streq(a->segs[2], "dpm")) {
                r = dv_cluster_get_default(a->m, &doc);
                if (r < 0 || !(dv_streq(a->segs[1], DV_CLUSTER_DEFAULT) ||
                               dv_streq(dv_doc_str(doc, "id"), a->segs[1])))
                        dv_api_not_found(a, "cluster", a->segs[1]);
                else
                        dv_api_cluster_dpm(a, doc); /* dpm-run.c */
                json_decref(doc);
                return;
        }
        if (a->nseg >= 3 && dv_streq(a->segs[2], "drs")) {
                r = dv_cluster_get_default(a->m, &doc);
                if (r < 0 || !(dv_streq(a->segs[1], DV_CLUSTER_DEFAULT) ||
                               dv_streq(dv_doc_str(doc, "id"), a->segs[1])))
                        dv_api_not_found(a, "cluster", a->segs[1]);
                else
                        dv_api_cluster_drs(a, doc); /* drs-run.c */
                json_decref(doc);
                return;
        }
        if (a->nseg > 2) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (a->nseg == 2 && !dv_streq(a->segs[1], DV_CLUSTER_DEFAULT)) {
                /* By id too. */
                r = dv_cluster_get_default(a->m, &doc);
                if (r < 0 || !dv_streq(dv_doc_str(doc, "id"), a->segs[1])) {
                        json_decref(doc);
                        dv_api_not_found(a, "cluster", a->segs[1]);
                        return;
                }
                json_decref(doc);
                doc = NULL;
        }
        if (a->nseg == 2 && dv_api_is(a, "PATCH")) {
                cluster_patch(a);
                return;
        }
        if (!dv_api_is(a, "GET")) {
                dv_api_bad_method(a);
                return;
        }
        r = dv_cluster_get_default(a->m, &doc);
        if (r < 0) {
                dv_api_internal(a, r, "reading the cluster");
                return;
        }
        if (a->nseg == 2)
                dv_api_reply(a, 200, cluster_view(a->m, doc));
        else
                dv_api_reply(a, 200, json_pack("{s:[o]}", "clusters", cluster_view(a->m, doc)));
        json_decref(doc);
}
