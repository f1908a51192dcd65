#include "dvs.h"

#include <string.h>

#include "agent.h"
#include "log.h"

#define NETSYNC_TIMEOUT_MS 10000
#define NETSYNC_RETRY_MIN_MS 1000
#define NETSYNC_RETRY_MAX_MS 30000

json_t *dv_dvs_host_entry(json_t *dvs, const char *host_id)
{
        json_t *h;
        size_t i;

        json_array_foreach(json_object_get(dvs, "hosts"), i, h)
                if (dv_streq(dv_doc_str(h, "host_id"), host_id))
                        return h;
        return NULL;
}

bool dv_vm_state_has_ports(const char *state)
{
        return state && !dv_streq(state, "stopped");
}

int dv_portgroup_users(struct dv_mgr *m, const char *pg, const char *host_id,
                       json_t **ret_vms)
{
        struct dv_store_filter f = { .host_id = host_id };
        json_t *vms = NULL, *out, *vm, *nic;
        size_t i, j;
        int r;

        r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0)
                return r;
        out = json_array();
        json_array_foreach(vms, i, vm)
                json_array_foreach(json_object_get(vm, "nics"), j, nic)
                        if (dv_streq(dv_doc_str(nic, "portgroup"), pg)) {
                                json_array_append(out, vm);
                                break;
                        }
        json_decref(vms);
        *ret_vms = out;
        return 0;
}

int dv_dvs_of_host(struct dv_mgr *m, const char *host_id, json_t **ret_names)
{
        json_t *all = NULL, *d, *names;
        size_t i;
        int r;

        r = dv_store_list(m->store, DV_KIND_DVS, NULL, &all);
        if (r < 0)
                return r;
        names = json_array();
        json_array_foreach(all, i, d)
                if (dv_dvs_host_entry(d, host_id))
                        json_array_append(names, json_object_get(d, "name"));
        json_decref(all);
        *ret_names = names;
        return 0;
}

int dv_dvs_sync_body(struct dv_mgr *m, const char *host_id, json_t **ret_body)
{
        struct dv_store_filter f = { .host_id = host_id };
        json_t *all = NULL, *pgs = NULL, *vms = NULL, *d, *h, *vm, *nic, *dvs, *ports, *vlans;
        size_t i, j;
        int r;

        r = dv_store_list(m->store, DV_KIND_DVS, NULL, &all);
        if (r >= 0)
                r = dv_store_list(m->store, DV_KIND_PORTGROUP, NULL, &pgs);
        if (r >= 0)
                r = dv_store_list(m->store, DV_KIND_VM, &f, &vms);
        if (r < 0) {
                json_decref(all);
                json_decref(pgs);
                return r;
        }
        dvs = json_array();
        json_array_foreach(all, i, d)
                if ((h = dv_dvs_host_entry(d, host_id)))
                        json_array_append_new(dvs, json_pack("{s:O,s:O,s:O}", "name",
                                                             json_object_get(d, "name"), "bridge",
                                                             json_object_get(d, "bridge"), "uplink",
                                                             json_object_get(h, "uplink")));
        vlans = json_object();
        json_array_foreach(pgs, i, d)
                json_object_set(vlans, dv_doc_str(d, "name"), json_object_get(d, "vlan"));
        ports = json_array();
        json_array_foreach(vms, i, vm) {
                if (!dv_vm_state_has_ports(dv_doc_str(vm, "state")))
                        continue;
                json_array_foreach(json_object_get(vm, "nics"), j, nic) {
                        json_t *vlan = json_object_get(vlans, dv_doc_str(nic, "portgroup"));
                        if (vlan && dv_doc_str(nic, "mac"))
                                json_array_append_new(ports,
                                                      json_pack("{s:O,s:O}", "mac",
                                                                json_object_get(nic, "mac"),
                                                                "vlan", vlan));
                }
        }
        json_decref(all);
        json_decref(pgs);
        json_decref(vms);
        json_decref(vlans);
        *ret_body = json_pack("{s:o,s:o}", "dvs", dvs, "ports", ports);
        return 0;
}

/* ---- netsync ------------------------------------------------------------ */

struct dv_netsync {
        struct dv_mgr *m;      /* the manager */
        pthread_t thread;      /* the pusher */
        pthread_mutex_t lock;  /* guards the fields below (a leaf) */
        pthread_cond_t cond;   /* kicks and stop */
        bool stop;             /* time to go */
        json_t *pending;       /* host id -> {"due_ms","gen","delay_ms"} */
        int64_t gen;           /* kick counter */
};

void dv_netsync_kick(struct dv_mgr *m, const char *host_id)
{
        struct dv_netsync *ns = m->netsync;

        if (!ns || !host_id)
                return;
        pthread_mutex_lock(&ns->lock);
        ns->gen++;
        json_object_set_new(ns->pending, host_id,
                            json_pack("{s:I,s:I,s:I}", "due_ms", (json_int_t)dv_now_ms(), "gen",
                                      (json_int_t)ns->gen, "delay_ms",
                                      (json_int_t)NETSYNC_RETRY_MIN_MS));
        pthread_cond_signal(&ns->cond);
        pthread_mutex_unlock(&ns->lock);
}

/* Push one host's configuration; 0 when done or nothing is to be done,
 * -EAGAIN to retry later. */
static int push(struct dv_mgr *m, const char *host_id)
{
        struct dv_error err = { 0 };
        json_t *host, *body = NULL, *reply = NULL, *v;
        size_t i;
        int r;

        pthread_mutex_lock(&m->net_lock);
        host = dv_mgr_get(m, DV_KIND_HOST, host_id);
        if (!host || !dv_streq(dv_doc_str(host, "state"), "connected")) {
                /* Gone, or away: a re-registration or reconnection kicks again. */
                r = 0;
                goto out;
        }
        r = dv_dvs_sync_body(m, host_id, &body);
        if (r < 0) {
                dv_warn_errno(r, "netsync: host %s: reading its dvs: %m", dv_doc_str(host, "name"));
                r = -EAGAIN;
                goto out;
        }
        r = dv_agent_call(host, "POST", "/agent/v1/dvs/sync", body, NETSYNC_TIMEOUT_MS, &reply,
                          &err);
        if (r < 0) {
                dv_warn("netsync: host %s: %s", dv_doc_str(host, "name"), err.message);
                r = -EAGAIN;
                goto out;
        }
        json_array_foreach(json_object_get(reply, "errors"), i, v)
                dv_warn("netsync: host %s: %s", dv_doc_str(host, "name"), json_string_value(v));
        if (json_array_size(json_object_get(reply, "deleted")) > 0 ||
            dv_doc_int(reply, "retagged", 0) > 0)
                dv_mgr_event(m, DV_USER_SYSTEM, "host.network-synced", "host", host,
                             "host '%s': %zu dvs bridges ensured, %zu stale removed, %lld ports "
                             "retagged",
                             dv_doc_str(host, "name"), json_array_size(json_object_get(body, "dvs")),
                             json_array_size(json_object_get(reply, "deleted")),
                             (long long)dv_doc_int(reply, "retagged", 0));
        dv_info("netsync: host %s: %zu dvs ensured", dv_doc_str(host, "name"),
                json_array_size(json_object_get(body, "dvs")));
        r = json_array_size(json_object_get(reply, "errors")) > 0 ? -EAGAIN : 0;
out:
        pthread_mutex_unlock(&m->net_lock);
        json_decref(reply);
        json_decref(body);
        json_decref(host);
        return r;
}

static void *netsync_main(void *arg)
{
        struct dv_netsync *ns = arg;

        pthread_mutex_lock(&ns->lock);
        while (!ns->stop) {
                int64_t now = dv_now_ms(), next = now + 60000;
                const char *id;
                char *due_id = NULL;
                json_t *e;
                int64_t gen = 0;

                json_object_foreach(ns->pending, id, e) {
                        int64_t due = dv_doc_int(e, "due_ms", 0);
                        if (due <= now && !due_id) {
                                due_id = dv_strdup(id);
                                gen = dv_doc_int(e, "gen", 0);
                        } else if (due < next) {
                                next = due;
                        }
                }
                if (due_id) {
                        int r;

                        pthread_mutex_unlock(&ns->lock);
                        r = push(ns->m, due_id);
                        pthread_mutex_lock(&ns->lock);
                        e = json_object_get(ns->pending, due_id);
                        if (e && dv_doc_int(e, "gen", 0) == gen) {
                                /* Not kicked again meanwhile. */
                                if (r == 0) {
                                        json_object_del(ns->pending, due_id);
                                } else {
                                        int64_t delay = dv_doc_int(e, "delay_ms", 0);
                                        json_object_set_new(e, "due_ms",
                                                            json_integer(dv_now_ms() + delay));
                                        json_object_set_new(
                                                e, "delay_ms",
                                                json_integer(DV_MIN(delay * 2,
                                                                    NETSYNC_RETRY_MAX_MS)));
                                }
                        }
                        free(due_id);
                        continue;
                }
                {
                        struct timespec ts;
                        int64_t wait = DV_MAX(next - now, 1);

                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += wait / 1000;
                        ts.tv_nsec += (wait % 1000) * 1000000L;
                        ts.tv_sec += ts.tv_nsec / 1000000000L;
                        ts.tv_nsec %= 1000000000L;
                        pthread_cond_timedwait(&ns->cond, &ns->lock, &ts);
                }
        }
        pthread_mutex_unlock(&ns->lock);
        return NULL;
}

int dv_netsync_start(struct dv_mgr *m)
{
        struct dv_netsync *ns = calloc(1, sizeof(*ns));
        json_t *hosts = NULL, *h;
        size_t i;
        int r;

        if (!ns)
                return -ENOMEM;
        ns->m = m;
        ns->pending = json_object();
        pthread_mutex_init(&ns->lock, NULL);
        pthread_cond_init(&ns->cond, NULL);
        r = pthread_create(&ns->thread, NULL, netsync_main, ns);
        if (r != 0) {
                json_decref(ns->pending);
                free(ns);
                return -r;
        }
        m->netsync = ns;
        /* Agents that kept running through a manager restart do not
         * register again: bring their bridges in line now. */
        if (dv_store_list(m->store, DV_KIND_HOST, NULL, &hosts) >= 0)
                json_array_foreach(hosts, i, h)
                        dv_netsync_kick(m, dv_doc_str(h, "id"));
        json_decref(hosts);
        return 0;
}

void dv_netsync_stop(struct dv_mgr *m)
{
        struct dv_netsync *ns = m->netsync;

        if (!ns)
                return;
        pthread_mutex_lock(&ns->lock);
        ns->stop = true;
        pthread_cond_signal(&ns->cond);
        pthread_mutex_unlock(&ns->lock);
        pthread_join(ns->thread, NULL);
        m->netsync = NULL;
        pthread_cond_destroy(&ns->cond);
        pthread_mutex_destroy(&ns->lock);
        json_decref(ns->pending);
        free(ns);
}
