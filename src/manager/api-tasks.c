/* /api/v1/tasks, /api/v1/events, /api/v1/alarms. */
#include <string.h>

#include "api.h"
#include "dvs-health.h"
#include "ha-env.h"
#include "validate.h"
#include "view.h"

#define LIST_DEFAULT 100
#define TASKS_MAX 10000
#define EVENTS_MAX 100000

static bool finished(json_t *task)
{
        const char *s = dv_doc_str(task, "state");
        return dv_streq(s, "succeeded") || dv_streq(s, "failed") || dv_streq(s, "cancelled");
}

static void task_cancel(struct dv_api *a, json_t *task)
{
        struct dv_mgr *m = a->m;
        json_t *cur;
        int r;

        if (finished(task)) {
                dv_api_error(a, 409, "invalid-state", "task %s has already %s",
                             dv_doc_str(task, "id"), dv_doc_str(task, "state"));
                return;
        }
        r = dv_tasks_cancel(m->tasks, dv_doc_str(task, "id"));
        if (r < 0) {
                dv_api_error(a, 409, "invalid-state", "task %s is not running",
                             dv_doc_str(task, "id"));
                return;
        }
        dv_mgr_event(m, a->user, "task.cancel", "task", task, "cancel requested for task %s (%s)",
                     dv_doc_str(task, "id"), dv_doc_str(task, "op"));
        cur = dv_mgr_get(m, DV_KIND_TASK, dv_doc_str(task, "id"));
        dv_api_reply(a, 200, dv_view(cur ? cur : task));
        json_decref(cur);
}

void dv_api_tasks(struct dv_api *a)
{
        struct dv_error err = { 0 };
        struct dv_store_filter f = { 0 };
        json_t *task, *list = NULL, *out, *t;
        size_t i;
        int r;

        if (a->nseg == 1) {
                if (!dv_api_is(a, "GET")) {
                        dv_api_bad_method(a);
                        return;
                }
                if (dv_validate_limit(dv_http_query(a->req, "limit"), LIST_DEFAULT, TASKS_MAX,
                                      &f.limit, &err) < 0) {
                        dv_api_dv_error(a, &err);
                        return;
                }
                r = dv_store_list(a->m->store, DV_KIND_TASK, &f, &list);
                if (r < 0) {
                        dv_api_internal(a, r, "listing tasks");
                        return;
                }
                out = json_array();
                json_array_foreach(list, i, t)
                        json_array_append_new(out, dv_view(t));
                json_decref(list);
                dv_api_reply(a, 200, json_pack("{s:o}", "tasks", out));
                return;
        }
        if (a->nseg > 3 || (a->nseg == 3 && strcmp(a->segs[2], "cancel") != 0)) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, a->nseg == 3 ? "POST" : "GET")) {
                dv_api_bad_method(a);
                return;
        }
        task = dv_mgr_get(a->m, DV_KIND_TASK, a->segs[1]);
        if (!task) {
                dv_api_not_found(a, "task", a->segs[1]);
                return;
        }
        if (a->nseg == 3)
                task_cancel(a, task);
        else
                dv_api_reply(a, 200, dv_view(task));
        json_decref(task);
}

void dv_api_events(struct dv_api *a)
{
        struct dv_error err = { 0 };
        const char *since_arg = dv_http_query(a->req, "since");
        json_t *list = NULL;
        int64_t since = 0;
        int limit, r;

        if (a->nseg != 1) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "GET")) {
                dv_api_bad_method(a);
                return;
        }
        if (dv_validate_limit(dv_http_query(a->req, "limit"), LIST_DEFAULT, EVENTS_MAX, &limit,
                              &err) < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        if (since_arg && dv_parse_int64(since_arg, 0, INT64_MAX, &since) < 0) {
                dv_api_error(a, 400, "invalid-field",
                             "query 'since': '%.20s' is not an event id", since_arg);
                return;
        }
        r = a->m->store->ops->event_list(a->m->store, since, limit, &list);
        if (r < 0) {
                dv_api_internal(a, r, "listing events");
                return;
        }
        dv_api_reply(a, 200, json_pack("{s:o}", "events", list));
}

/* Alarms are derived from the current state: a host that is not
 * connected, a VM that crashed or whose removal is pending. */
void dv_api_alarms(struct dv_api *a)
{
        json_t *hosts = NULL, *vms = NULL, *out, *d;
        size_t i;

        if (a->nseg != 1) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (!dv_api_is(a, "GET")) {
                dv_api_bad_method(a);
                return;
        }
        if (dv_store_list(a->m->store, DV_KIND_HOST, NULL, &hosts) < 0 ||
            dv_store_list(a->m->store, DV_KIND_VM, NULL, &vms) < 0) {
                json_decref(hosts);
                dv_api_internal(a, -EIO, "listing hosts and vms");
                return;
        }
        out = json_array();
        json_array_foreach(hosts, i, d) {
                const char *state = dv_doc_str(d, "state");
                _cleanup_(freep) char *id = NULL, *kind = NULL, *msg = NULL;

                if (dv_streq(state, "connected") || dv_streq(state, "maintenance") ||
                    dv_streq(state, "standby"))
                        continue;
                id = dv_asprintf("host:%s:%s", dv_doc_str(d, "id"), state);
                kind = dv_asprintf("host.%s", state);
                msg = dv_asprintf("host '%s' is %s", dv_doc_str(d, "name"), state);
                json_array_append_new(
                        out, json_pack("{s:s,s:s,s:s,s:{s:s,s:s?,s:s?},s:s,s:O?}", "id", id,
                                       "severity", "critical", "kind", kind, "target", "kind",
                                       "host", "id", dv_doc_str(d, "id"), "name",
                                       dv_doc_str(d, "name"), "message", msg, "since",
                                       json_object_get(d, "last_heartbeat")));
        }
        json_array_foreach(vms, i, d) {
                _cleanup_(freep) char *id = NULL, *msg = NULL;
                const char *kind;

                if (dv_streq(dv_doc_str(d, "state"), "crashed")) {
                        kind = "vm.crashed";
                        msg = dv_asprintf("vm '%s' crashed: %s", dv_doc_str(d, "name"),
                                          dv_doc_str(d, "state_reason") ?: "?");
                } else if (json_object_get(d, "_cleanup") &&
                           dv_doc_str(d, "state_reason")) {
                        kind = "vm.removal-pending";
                        msg = dv_asprintf("vm '%s': %s", dv_doc_str(d, "name"),
                                          dv_doc_str(d, "state_reason"));
                } else {
                        continue;
                }
                id = dv_asprintf("vm:%s:%s", dv_doc_str(d, "id"), kind);
                json_array_append_new(
                        out, json_pack("{s:s,s:s,s:s,s:{s:s,s:s?,s:s?},s:s,s:n}", "id", id,
                                       "severity", "major", "kind", kind, "target", "kind", "vm",
                                       "id", dv_doc_str(d, "id"), "name", dv_doc_str(d, "name"),
                                       "message", msg, "since"));
        }
        json_decref(hosts);
        json_decref(vms);
        dv_ha_rt_alarms(a->m, out); /* ha-env.c: fence failed, not placed, restart limit */
        dv_dvs_health_alarms(a->m, out); /* dvs-health.c: the problems of the last check */
        dv_api_reply(a, 200, json_pack("{s:o}", "alarms", out));
}
