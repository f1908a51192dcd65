/* The link to the manager: one thread that registers (with backoff until
 * the manager answers) and then sends a heartbeat every --heartbeat-ms, or
 * at once when the driver reports a VM state change. A 401 to a heartbeat
 * means the manager no longer knows our credential: register again.
 *
 * Final "stopped" reports of the driver's list() are given only once; they
 * are kept in agent->pending until a heartbeat carrying them is accepted,
 * so a manager outage does not lose them. */
#include "agent.h"

#include <string.h>
#include <time.h>

#include "agent-ha.h"
#include "log.h"

#define HEARTBEAT_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define FAILURE_LOG_EVERY_MS 30000
#define MAX_STOP_REQUESTS 1024

/* ---- pure helpers (tested) ---- */

static bool is_stopped(json_t *status)
{
        return dv_streq(json_string_value(json_object_get(status, "state")), "stopped");
}

void dv_heartbeat_track(json_t *pending, json_t *listed)
{
        size_t i;
        json_t *st;

        json_array_foreach(listed, i, st) {
                const char *id = json_string_value(json_object_get(st, "id"));

                if (!id)
                        continue;
                if (!is_stopped(st))
                        json_object_del(pending, id); /* running again */
                else if (json_object_size(pending) < DV_HEARTBEAT_MAX_PENDING ||
                         json_object_get(pending, id))
                        json_object_set(pending, id, st);
        }
}

json_t *dv_heartbeat_vms(json_t *pending, json_t *listed)
{
        json_t *out = json_array(), *st;
        const char *id;
        size_t i;

        if (!out)
                return NULL;
        json_array_foreach(listed, i, st)
                json_array_append(out, st);
        json_object_foreach(pending, id, st) {
                bool seen = false;
                json_t *l;

                json_array_foreach(listed, i, l)
                        if (dv_streq(json_string_value(json_object_get(l, "id")), id)) {
                                seen = true;
                                break;
                        }
                if (!seen)
                        json_array_append(out, st);
        }
        return out;
}

void dv_heartbeat_forget(json_t *pending, json_t *sent)
{
        size_t i;
        json_t *st;

        json_array_foreach(sent, i, st) {
                const char *id = json_string_value(json_object_get(st, "id"));

                if (id && json_object_get(pending, id) == st)
                        json_object_del(pending, id);
        }
}

/* ---- agent state ---- */

int dv_agent_init(struct dv_agent *agent)
{
        pthread_condattr_t ca;

        pthread_mutex_init(&agent->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&agent->cond, &ca);
        pthread_condattr_destroy(&ca);
        dv_datastores_init(&agent->ds);
        agent->pending = json_object();
        return agent->pending ? 0 : -ENOMEM; /* dv_agent_done() cleans up either way */
}

void dv_agent_done(struct dv_agent *agent)
{
        dv_datastores_done(&agent->ds);
        pthread_cond_destroy(&agent->cond);
        pthread_mutex_destroy(&agent->lock);
        json_decref(agent->pending);
        agent->pending = NULL;
}

int dv_agent_vms_snapshot(struct dv_agent *agent, json_t **ret_vms)
{
        _cleanup_(json_decrefp) json_t *listed = NULL;
        json_t *vms;
        int r;

        r = agent->ops->list(agent->hv, &listed);
        if (r < 0)
                return r;
        if (!json_is_array(listed))
                return -EBADMSG;
        dv_tools_mgr_annotate(agent->tools, listed); /* "tools" of each VM */
        pthread_mutex_lock(&agent->lock);
        dv_heartbeat_track(agent->pending, listed);
        vms = dv_heartbeat_vms(agent->pending, listed);
        pthread_mutex_unlock(&agent->lock);
        if (!vms)
                return -ENOMEM;
        *ret_vms = vms;
        return 0;
}

void dv_agent_on_vm_event(void *userdata, const char *vm_id, const char *state,
                          const char *reason)
{
        struct dv_agent *agent = userdata;

        dv_info("vm %s: now %s%s%s%s", vm_id ? vm_id : "?", state ? state : "?",
                reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
        dv_tools_mgr_vm_event(agent->tools, vm_id, state); /* returns at once */
        /* Never call HTTP from the driver's thread: wake the link thread. */
        pthread_mutex_lock(&agent->lock);
        agent->kick = true;
        pthread_cond_signal(&agent->cond);
        pthread_mutex_unlock(&agent->lock);
}

/* ---- the link thread ---- */

/* Wait (agent->lock held) until deadline (monotonic ms), a kick or stop. */
static void wait_until(struct dv_agent *agent, int64_t deadline_ms, bool wake_on_kick)
{
        while (!agent->stopping && !(wake_on_kick && agent->kick)) {
                int64_t now = dv_now_ms();
                struct timespec ts;

                if (now >= deadline_ms)
                        return;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += (deadline_ms - now) / 1000;
                ts.tv_nsec += ((deadline_ms - now) % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&agent->cond, &agent->lock, &ts);
        }
}

/* Failures are logged when they start, every 30 s while they last, and
 * when they end: a manager outage does not flood the log. */
struct failure_log {
        bool failing;    /* the last heartbeat failed */
        int64_t last_ms; /* when a failure was last logged */
};

static void failure_note(struct failure_log *fl, const char *msg)
{
        int64_t now = dv_now_ms();

        if (!fl->failing || now - fl->last_ms >= FAILURE_LOG_EVERY_MS) {
                dv_warn("heartbeat: %s", msg);
                fl->last_ms = now;
        }
        fl->failing = true;
}

static void act_on_stop_list(struct dv_agent *agent, json_t *stop)
{
        size_t i, n = 0;
        json_t *item;

        json_array_foreach(stop, i, item) {
                const char *id = json_string_value(json_object_get(item, "id"));
                const char *reason = json_string_value(json_object_get(item, "reason"));
                struct dv_error err = {};
                const char *path = NULL;
                int r;

                if (++n > MAX_STOP_REQUESTS)
                        break;
                if (!dv_name_valid(id)) {
                        dv_warn("heartbeat reply: ignoring a stop request without a valid id");
                        continue;
                }
                dv_warn("vm %s: the manager asks to stop it (%s): forcing it off", id,
                        reason ? reason : "no reason given");
                r = agent->ops->stop(agent->hv, id, true, 0, NULL, &path, &err);
                if (r < 0)
                        dv_err("vm %s: forced stop failed: %s", id,
                               err.message[0] ? err.message : strerror(-r));
                else
                        dv_info("vm %s: stopped (%s)", id, path ? path : "?");
        }
}

/* One heartbeat. 0 = accepted, -EACCES = the manager answered 401. */
static int send_heartbeat(struct dv_agent *agent, const char *url, const char *cred,
                          struct dv_cpu_sample *cpu, struct failure_log *fl)
{
        _cleanup_(json_decrefp) json_t *vms = NULL, *metrics = NULL, *body = NULL, *reply = NULL;
        char errbuf[512] = "";
        long status = 0;
        int r;

        r = dv_agent_vms_snapshot(agent, &vms);
        if (r < 0) {
                dv_warn_errno(r, "heartbeat: the driver's VM list failed: %m");
                vms = json_array();
        }
        r = dv_metrics_collect(cpu, &metrics);
        if (r < 0) {
                dv_warn_errno(r, "heartbeat: cannot read host metrics: %m");
                metrics = json_pack("{s:f,s:i,s:i,s:f,s:i}", "cpu_usage_pct", 0.0, "mem_total_mib",
                                    0, "mem_used_mib", 0, "load1", 0.0, "uptime_s", 0);
        }
        body = json_pack("{s:O,s:O,s:o*}", "metrics", metrics, "vms", vms, "io",
                         dv_metrics_io(&agent->ds));
        if (!body)
                return -ENOMEM;
        r = dv_http_call("POST", url, cred, body, HEARTBEAT_TIMEOUT_MS, &status, &reply, errbuf,
                         sizeof(errbuf));
        if (r < 0) {
                _cleanup_(freep) char *msg = dv_asprintf("manager unreachable: %s", errbuf);

                failure_note(fl, msg);
                return r;
        }
        if (status == 401)
                return -EACCES;
        if (status != 200) {
                _cleanup_(freep) char *msg = dv_asprintf(
                        "the manager answered %ld: %s", status,
                        dv_http_error_message(reply) ? dv_http_error_message(reply) : "(no message)");

                failure_note(fl, msg);
                return -EPROTO;
        }
        if (fl->failing)
                dv_info("heartbeat: the manager accepts heartbeats again");
        fl->failing = false;
        pthread_mutex_lock(&agent->lock);
        dv_heartbeat_forget(agent->pending, vms);
        pthread_mutex_unlock(&agent->lock);
        dv_agent_ha_manager_reply(agent->ha, json_object_get(reply, "ha"));
        act_on_stop_list(agent, json_object_get(reply, "stop"));
        return 0;
}

static void *link_main(void *userdata)
{
        struct dv_agent *agent = userdata;
        _cleanup_(freep) char *url = dv_asprintf("%s/api/v1/agent/heartbeat",
                                                 agent->cfg.manager_url);
        struct dv_cpu_sample cpu = {};
        struct failure_log fl = {};
        int64_t backoff = BACKOFF_MIN_MS, next = 0;
        char cred[DV_AGENT_CREDENTIAL_LEN + 1];
        int r;

        (void)dv_metrics_sample_cpu(&cpu);
        pthread_mutex_lock(&agent->lock);
        while (!agent->stopping) {
                if (!agent->registered) {
                        pthread_mutex_unlock(&agent->lock);
                        r = dv_agent_register_once(agent);
                        pthread_mutex_lock(&agent->lock);
                        if (r < 0) {
                                dv_info("registration: next attempt in %lld ms",
                                        (long long)backoff);
                                wait_until(agent, dv_now_ms() + backoff, false);
                                backoff = DV_MIN(backoff * 2, BACKOFF_MAX_MS);
                                continue;
                        }
                        backoff = BACKOFF_MIN_MS;
                        next = 0; /* first heartbeat at once */
                }
                wait_until(agent, next, true);
                if (agent->stopping)
                        break;
                agent->kick = false;
                snprintf(cred, sizeof(cred), "%s", agent->credential);
                pthread_mutex_unlock(&agent->lock);

                next = dv_now_ms() + agent->cfg.heartbeat_ms;
                r = send_heartbeat(agent, url, cred, &cpu, &fl);

                pthread_mutex_lock(&agent->lock);
                if (r == -EACCES) {
                        dv_warn("heartbeat: the manager answered 401; registering again");
                        agent->registered = false;
                }
        }
        pthread_mutex_unlock(&agent->lock);
        return NULL;
}

int dv_agent_link_start(struct dv_agent *agent, pthread_t *ret_thread)
{
        pthread_t t;
        int r;

        r = pthread_create(&t, NULL, link_main, agent);
        if (r != 0)
                return -r;
        *ret_thread = t;
        return 0;
}

void dv_agent_link_request_stop(struct dv_agent *agent)
{
        pthread_mutex_lock(&agent->lock);
        agent->stopping = true;
        pthread_cond_broadcast(&agent->cond);
        pthread_mutex_unlock(&agent->lock);
}
