#include "dvs-health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "api.h"
#include "dvs.h"
#include "json.h"
#include "log.h"
#include "nethealth.h"
#include "validate.h"

/* One host's part of a probe session. */
struct probe_job {
        json_t *host;          /* its document (owned) */
        const char *uplink;    /* the DVS's uplink on it (borrowed from the DVS) */
        json_t *reply;         /* the agent's answer (owned) or NULL */
        struct dv_error err;   /* why there is none */
};

struct probe_run {
        struct probe_job *jobs; /* one per host */
        json_t *vlans;          /* the VLANs (borrowed) */
        const char *session;    /* the session id */
};

static void probe_one(void *arg, size_t i)
{
        struct probe_run *run = arg;
        struct probe_job *j = &run->jobs[i];
        _cleanup_(json_decrefp) json_t *body = json_pack(
                "{s:s,s:s,s:s,s:O,s:i,s:i}", "interface", j->uplink, "session", run->session,
                "host", dv_doc_str(j->host, "name"), "vlans", run->vlans, "window_ms",
                DV_HEALTH_WINDOW_MS, "rounds", 3);

        if (!dv_streq(dv_doc_str(j->host, "state"), "connected") &&
            !dv_streq(dv_doc_str(j->host, "state"), "maintenance")) {
                dv_error_set(&j->err, 503, "host-not-connected", "host '%s' is %s",
                             dv_doc_str(j->host, "name"), dv_doc_str(j->host, "state"));
                return;
        }
        (void)dv_agent_call(j->host, "POST", "/agent/v1/net/probe", body,
                            DV_HEALTH_WINDOW_MS + 10000, &j->reply, &j->err);
}

/* The distinct VLANs of the DVS's port groups, ascending (a new array). */
static json_t *dvs_vlans(struct dv_mgr *m, json_t *dvs)
{
        struct dv_store_filter f = { .dvs_id = dv_doc_str(dvs, "id") };
        json_t *pgs = NULL, *pg, *out = json_array();
        bool seen[4096] = { false };
        size_t i;

        if (dv_store_list(m->store, DV_KIND_PORTGROUP, &f, &pgs) < 0)
                return out;
        json_array_foreach(pgs, i, pg) {
                json_int_t v = json_integer_value(json_object_get(pg, "vlan"));

                if (v >= 0 && v < 4096)
                        seen[v] = true;
        }
        json_decref(pgs);
        for (int v = 0; v < 4096 && json_array_size(out) < DV_HEALTH_MAX_VLANS; v++)
                if (seen[v])
                        json_array_append_new(out, json_integer(v));
        return out;
}

/* The analysis input from the agents' answers. */
static json_t *analysis_input(struct probe_run *run, size_t n)
{
        json_t *hosts = json_array();
        json_int_t mtu = 0;

        for (size_t i = 0; i < n; i++) {
                struct probe_job *j = &run->jobs[i];
                json_t *h = json_pack("{s:s}", "host", dv_doc_str(j->host, "name"));

                if (!j->reply) {
                        json_object_set_new(h, "error", json_string(j->err.message[0]
                                                                            ? j->err.message
                                                                            : "no answer"));
                } else {
                        json_int_t hm = json_integer_value(json_object_get(j->reply, "mtu"));

                        json_object_set(h, "carrier", json_object_get(j->reply, "carrier"));
                        json_object_set(h, "received", json_object_get(j->reply, "received"));
                        json_object_set(h, "send_errors",
                                        json_object_get(j->reply, "send_errors"));
                        json_object_set(h, "interface", json_object_get(j->reply, "interface"));
                        if (hm > 0 && (mtu == 0 || hm < mtu))
                                mtu = hm;
                }
                json_array_append_new(hosts, h);
        }
        return json_pack("{s:O,s:I,s:o}", "vlans", run->vlans, "mtu", mtu, "hosts", hosts);
}

/* Events for every host/VLAN whose status changed since the kept result. */
static void note_changes(struct dv_mgr *m, json_t *dvs, json_t *old, json_t *now)
{
        size_t i, k;
        json_t *h, *e;

        json_array_foreach(json_object_get(now, "hosts"), i, h) {
                const char *host = dv_doc_str(h, "host");

                json_array_foreach(json_object_get(h, "vlans"), k, e) {
                        int vlan = (int)json_integer_value(json_object_get(e, "vlan"));
                        const char *st = dv_doc_str(e, "status");
                        const char *was = old ? dv_health_status(old, host, vlan) : NULL;

                        if (dv_streq(st, was) || (!was && (dv_streq(st, "ok") ||
                                                           dv_streq(st, "no-peers"))))
                                continue;
                        dv_mgr_event(m, DV_USER_SYSTEM, "dvs.health-changed", "dvs", dvs,
                                     "dvs '%s' host %s VLAN %d: %s%s%s (%s)",
                                     dv_doc_str(dvs, "name"), host, vlan, was ? was : "",
                                     was ? " -> " : "", st, dv_doc_str(e, "reason"));
                }
        }
}

int dv_dvs_health_run(struct dv_mgr *m, const char *dvs_ref, json_t **ret, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *dvs = dv_mgr_get(m, DV_KIND_DVS, dvs_ref);
        _cleanup_(json_decrefp) json_t *vlans = NULL, *input = NULL, *result = NULL;
        json_t *entries, *e, *cur = NULL;
        struct probe_run run = {};
        char session[33], now[32];
        size_t n = 0, i;
        int r;

        if (!dvs)
                return dv_error_set(err, 404, "not-found", "no dvs '%.80s'", dvs_ref);
        vlans = dvs_vlans(m, dvs);
        if (json_array_size(vlans) == 0)
                return dv_error_set(err, 409, "no-vlans",
                                    "dvs '%s' has no port groups: no VLAN to check",
                                    dv_doc_str(dvs, "name"));
        entries = json_object_get(dvs, "hosts");
        if (json_array_size(entries) == 0)
                return dv_error_set(err, 409, "no-hosts", "dvs '%s' spans no host",
                                    dv_doc_str(dvs, "name"));
        r = dv_random_hex(session, 16);
        if (r < 0)
                return dv_error_set(err, 500, "internal", "no random session id: %s",
                                    strerror(-r));
        run.jobs = calloc(json_array_size(entries), sizeof(*run.jobs));
        if (!run.jobs)
                return dv_error_set(err, 500, "internal", "out of memory");
        run.vlans = vlans;
        run.session = session;
        json_array_foreach(entries, i, e) {
                json_t *host = dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(e, "host_id"));

                if (!host)
                        continue;
                run.jobs[n].host = host;
                run.jobs[n].uplink = dv_doc_str(e, "uplink");
                n++;
        }
        dv_parallel(n, probe_one, &run);
        input = analysis_input(&run, n);
        for (i = 0; i < n; i++) {
                json_decref(run.jobs[i].host);
                json_decref(run.jobs[i].reply);
        }
        free(run.jobs);

        result = dv_health_analyze(input);
        if (!result)
                return dv_error_set(err, 500, "internal", "out of memory");
        dv_mgr_now(now);
        json_object_set_new(result, "dvs", json_string(dv_doc_str(dvs, "name")));
        json_object_set_new(result, "checked_at", json_string(now));

        /* Keep it (the DVS may have changed meanwhile: reload it). */
        dv_mgr_lock(m);
        if (dv_store_get(m->store, DV_KIND_DVS, dv_doc_str(dvs, "id"), &cur) >= 0) {
                note_changes(m, cur, json_object_get(cur, "_health"), result);
                json_object_set(cur, "_health", result);
                r = dv_store_update(m->store, DV_KIND_DVS, cur);
                if (r < 0)
                        dv_warn_errno(r, "dvs %s: cannot keep the health result: %m",
                                      dv_doc_str(dvs, "name"));
                json_decref(cur);
        }
        dv_mgr_unlock(m);
        *ret = TAKE_PTR(result);
        return 0;
}

void dv_dvs_health_alarms(struct dv_mgr *m, json_t *out)
{
        json_t *list = NULL, *d, *p;
        size_t i, k;

        if (dv_store_list(m->store, DV_KIND_DVS, NULL, &list) < 0)
                return;
        json_array_foreach(list, i, d) {
                json_t *h = json_object_get(d, "_health");

                json_array_foreach(json_object_get(h, "problems"), k, p) {
                        _cleanup_(freep) char *id = dv_asprintf(
                                "dvs:%s:health:%s:%lld:%s", dv_doc_str(d, "id"),
                                dv_doc_str(p, "host") ?: "-",
                                (long long)json_integer_value(json_object_get(p, "vlan")),
                                dv_doc_str(p, "status"));
                        _cleanup_(freep) char *msg = dv_asprintf("dvs '%s': %s",
                                                                 dv_doc_str(d, "name"),
                                                                 dv_doc_str(p, "reason"));

                        json_array_append_new(
                                out, json_pack("{s:s,s:s,s:s,s:{s:s,s:s?,s:s?},s:s,s:O?}", "id",
                                               id, "severity", "major", "kind", "dvs.health",
                                               "target", "kind", "dvs", "id",
                                               dv_doc_str(d, "id"), "name", dv_doc_str(d, "name"),
                                               "message", msg, "since",
                                               json_object_get(h, "checked_at")));
                }
        }
        json_decref(list);
}

void dv_api_dvs_health(struct dv_api *a, json_t *dvs)
{
        struct dv_error err = {};
        json_t *result = NULL, *body = NULL;

        if (dv_api_is(a, "GET")) {
                json_t *h = json_object_get(dvs, "_health");

                if (!h) {
                        dv_api_error(a, 404, "not-found",
                                     "dvs '%s' has not been checked yet (POST to run a check)",
                                     dv_doc_str(dvs, "name"));
                        return;
                }
                dv_api_reply(a, 200, json_incref(h));
                return;
        }
        if (dv_api_post_body(a, &body) < 0)
                return;
        if (dv_validate_empty(body, &err) < 0) {
                json_decref(body);
                dv_api_dv_error(a, &err);
                return;
        }
        json_decref(body);
        if (dv_dvs_health_run(a->m, dv_doc_str(dvs, "id"), &result, &err) < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        dv_api_reply(a, 200, result);
}

void dv_api_dvs_patch(struct dv_api *a, json_t *dvs_in)
{
        static const char *const keys[] = { "health_interval_s", NULL };
        struct dv_error err = {};
        json_t *body = NULL, *dvs = NULL;
        int64_t s = 0;
        int r;

        if (dv_api_body(a, &body) < 0)
                return;
        r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "health_interval_s", true, 0, DV_HEALTH_INTERVAL_MAX_S,
                                    &s, &err);
        if (r >= 0 && s > 0 && s < DV_HEALTH_INTERVAL_MIN_S)
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'health_interval_s': %lld s is too often (0 turns the "
                                 "periodic check off; else %d..%d)",
                                 (long long)s, DV_HEALTH_INTERVAL_MIN_S, DV_HEALTH_INTERVAL_MAX_S);
        json_decref(body);
        if (r < 0) {
                dv_api_dv_error(a, &err);
                return;
        }
        dv_mgr_lock(a->m);
        r = dv_store_get(a->m->store, DV_KIND_DVS, dv_doc_str(dvs_in, "id"), &dvs);
        if (r >= 0) {
                json_object_set_new(dvs, "health_interval_s", json_integer(s));
                r = dv_store_update(a->m->store, DV_KIND_DVS, dvs);
        }
        dv_mgr_unlock(a->m);
        if (r < 0) {
                json_decref(dvs);
                dv_api_internal(a, r, "updating the dvs");
                return;
        }
        dv_mgr_event(a->m, a->user, "dvs.updated", "dvs", dvs,
                     "dvs '%s': periodic health check %s%lld%s", dv_doc_str(dvs, "name"),
                     s ? "every " : "off", s ? (long long)s : 0LL, s ? " s" : "");
        dv_api_reply(a, 200, dv_view_dvs(a->m, dvs));
        json_decref(dvs);
}

/* ---- periodic checks ------------------------------------------------------- */

#define SCHED_TICK_MS 1000

struct dv_health_sched {
        struct dv_mgr *m;       /* the manager */
        pthread_t thread;       /* the scheduler */
        pthread_mutex_t lock;   /* guards stop */
        pthread_cond_t cond;    /* signalled by stop */
        bool stop;              /* time to go */
        json_t *last;           /* dvs id -> monotonic ms of its last periodic check */
};

static void sched_tick(struct dv_health_sched *s)
{
        json_t *list = NULL, *d;
        int64_t now = dv_now_ms();
        size_t i;

        if (dv_store_list(s->m->store, DV_KIND_DVS, NULL, &list) < 0)
                return;
        json_array_foreach(list, i, d) {
                int64_t every = dv_doc_int(d, "health_interval_s", 0) * 1000;
                json_t *last = json_object_get(s->last, dv_doc_str(d, "id"));
                struct dv_error err = {};
                json_t *result = NULL;

                if (every <= 0 || (last && now - json_integer_value(last) < every))
                        continue;
                json_object_set_new(s->last, dv_doc_str(d, "id"), json_integer(now));
                if (dv_dvs_health_run(s->m, dv_doc_str(d, "id"), &result, &err) < 0)
                        dv_debug("dvs %s: periodic health check: %s", dv_doc_str(d, "name"),
                                 err.message);
                json_decref(result);
        }
        json_decref(list);
}

static void *sched_main(void *arg)
{
        struct dv_health_sched *s = arg;

        pthread_mutex_lock(&s->lock);
        while (!s->stop) {
                struct timespec ts;

                pthread_mutex_unlock(&s->lock);
                sched_tick(s);
                pthread_mutex_lock(&s->lock);
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += SCHED_TICK_MS / 1000;
                if (!s->stop)
                        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

int dv_health_sched_start(struct dv_mgr *m, struct dv_health_sched **ret)
{
        struct dv_health_sched *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->m = m;
        s->last = json_object();
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->cond, NULL);
        r = pthread_create(&s->thread, NULL, sched_main, s);
        if (r != 0) {
                json_decref(s->last);
                free(s);
                return -r;
        }
        *ret = s;
        return 0;
}

void dv_health_sched_stop(struct dv_health_sched *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
        json_decref(s->last);
        free(s);
}
