/* POST /api/v1/net/diagnose {"vms":[VM1, VM2]}: gathers the facts of the
 * decision tree (netdiag.h) - the VMs and their port groups, addresses
 * used twice on the same VLAN, the guests' own view through Tools, the
 * uplinks' carrier, a DVS health check, pings through Tools - and answers
 * the evaluation. The calls to agents run in parallel: the whole takes
 * about the length of one ping run (a few seconds). */
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "api.h"
#include "dvs-health.h"
#include "dvs.h"
#include "json.h"
#include "log.h"
#include "netdiag.h"
#include "vm-tools.h"

#define INFO_TIMEOUT_MS 10000
#define LINK_TIMEOUT_MS 10000
#define PING_COUNT 3
#define PING_TIMEOUT_S 3

enum job_kind { JOB_INFO, JOB_LINK, JOB_PING, JOB_HEALTH };

/* One blocking call, run in parallel with others. */
struct job {
        enum job_kind kind;    /* what to call */
        struct dv_mgr *m;      /* the manager (JOB_HEALTH) */
        json_t *host;          /* the agent's host (borrowed) */
        const char *vm_id;     /* the VM (JOB_INFO, JOB_PING) */
        const char *arg;       /* interface (LINK), address (PING), dvs id (HEALTH) */
        json_t *reply;         /* the answer (owned) or NULL */
        struct dv_error err;   /* why there is none */
};

static void run_job(void *arg, size_t i)
{
        struct job *j = &((struct job *)arg)[i];
        _cleanup_(json_decrefp) json_t *body = NULL;

        switch (j->kind) {
        case JOB_INFO:
                (void)dv_vm_tools_call(j->host, j->vm_id, "tools/info", NULL, INFO_TIMEOUT_MS,
                                       &j->reply, &j->err);
                break;
        case JOB_LINK:
                body = json_pack("{s:s}", "interface", j->arg);
                (void)dv_agent_call(j->host, "POST", "/agent/v1/net/link", body, LINK_TIMEOUT_MS,
                                    &j->reply, &j->err);
                break;
        case JOB_PING:
                body = json_pack("{s:s,s:i,s:i}", "address", j->arg, "count", PING_COUNT,
                                 "timeout_s", PING_TIMEOUT_S);
                (void)dv_vm_tools_call(j->host, j->vm_id, "tools/ping", body,
                                       (PING_TIMEOUT_S + 15) * 1000, &j->reply, &j->err);
                break;
        case JOB_HEALTH:
                (void)dv_dvs_health_run(j->m, j->arg, &j->reply, &j->err);
                break;
        }
}

static void jobs_free(struct job *jobs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                json_decref(jobs[i].reply);
}

/* One side of the diagnosis. */
struct side {
        json_t *vm;            /* the VM document (owned) */
        json_t *host;          /* its host's document (owned) or NULL */
        json_t *nic;           /* the NIC looked at (borrowed from vm) or NULL */
        json_t *pg;            /* its port group (owned) or NULL */
        json_t *facts;         /* VM facts being built (borrowed from the facts) */
};

static json_t *portgroup(struct dv_mgr *m, json_t *nic)
{
        return nic ? dv_mgr_get(m, DV_KIND_PORTGROUP, dv_doc_str(nic, "portgroup")) : NULL;
}

/* The NICs to look at: on one port group, else one VLAN of one DVS, else
 * one DVS, else the first ones. */
static void pick_nics(struct dv_mgr *m, struct side *s)
{
        json_t *n0 = json_object_get(s[0].vm, "nics"), *n1 = json_object_get(s[1].vm, "nics");
        int best = -1;
        size_t i, j;

        s[0].nic = json_array_get(n0, 0);
        s[1].nic = json_array_get(n1, 0);
        for (i = 0; i < json_array_size(n0); i++) {
                _cleanup_(json_decrefp) json_t *p0 = portgroup(m, json_array_get(n0, i));

                for (j = 0; j < json_array_size(n1); j++) {
                        _cleanup_(json_decrefp) json_t *p1 = portgroup(m, json_array_get(n1, j));
                        int score = 0;

                        if (!p0 || !p1)
                                continue;
                        if (dv_streq(dv_doc_str(p0, "dvs_id"), dv_doc_str(p1, "dvs_id")))
                                score = 1;
                        if (score && json_integer_value(json_object_get(p0, "vlan")) ==
                                             json_integer_value(json_object_get(p1, "vlan")))
                                score = 2;
                        if (dv_streq(dv_doc_str(p0, "id"), dv_doc_str(p1, "id")))
                                score = 3;
                        if (score > best) {
                                best = score;
                                s[0].nic = json_array_get(n0, i);
                                s[1].nic = json_array_get(n1, j);
                        }
                }
        }
        for (i = 0; i < 2; i++)
                s[i].pg = portgroup(m, s[i].nic);
}

/* Does the guest info of vm show ip on the NIC with this MAC? */
static bool guest_has_ip(json_t *vm, const char *mac, const char *ip)
{
        json_t *info = json_object_get(json_object_get(vm, "_guest"), "info"), *n, *a;
        size_t i, k;

        json_array_foreach(json_object_get(info, "nics"), i, n) {
                if (!mac || !dv_doc_str(n, "mac") || strcasecmp(dv_doc_str(n, "mac"), mac) != 0)
                        continue;
                json_array_foreach(json_object_get(n, "addresses"), k, a)
                        if (dv_streq(dv_doc_str(a, "address"), ip))
                                return true;
        }
        return false;
}

/* Other NICs on the same layer-2 network (DVS and VLAN) with the same MAC,
 * or the same address in their spec or in what their guest last reported
 * (the VMs' cached guest info). ip: the address the side really uses. */
static json_t *conflicts(struct dv_mgr *m, json_t *vms, struct side *me, struct side *peer,
                         const char *ip)
{
        json_t *out = json_array(), *vm, *nic, *pgs = json_object();
        const char *mac = dv_doc_str(me->nic, "mac");
        size_t i, k;

        if (!me->pg || !me->nic)
                goto done;
        json_array_foreach(vms, i, vm) {
                if (dv_streq(dv_doc_str(vm, "id"), dv_doc_str(me->vm, "id")) ||
                    dv_streq(dv_doc_str(vm, "id"), dv_doc_str(peer->vm, "id")) ||
                    !dv_vm_state_has_ports(dv_doc_str(vm, "state")))
                        continue; /* a stopped VM holds no address on the wire */
                json_array_foreach(json_object_get(vm, "nics"), k, nic) {
                        const char *pgname = dv_doc_str(nic, "portgroup");
                        json_t *pg = pgname ? json_object_get(pgs, pgname) : NULL;

                        if (mac && dv_doc_str(nic, "mac") &&
                            strcasecmp(mac, dv_doc_str(nic, "mac")) == 0)
                                json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "kind",
                                                                     "mac", "value", mac, "vm",
                                                                     dv_doc_str(vm, "name")));
                        if (!ip || !pgname)
                                continue;
                        if (!pg) {
                                pg = dv_mgr_get(m, DV_KIND_PORTGROUP, pgname);
                                json_object_set_new(pgs, pgname, pg ? pg : json_null());
                        }
                        if (!json_is_object(pg) ||
                            !dv_streq(dv_doc_str(pg, "dvs_id"), dv_doc_str(me->pg, "dvs_id")) ||
                            dv_doc_int(pg, "vlan", -1) != dv_doc_int(me->pg, "vlan", -2))
                                continue;
                        if (dv_streq(ip, dv_doc_str(nic, "ip")) ||
                            guest_has_ip(vm, dv_doc_str(nic, "mac"), ip))
                                json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "kind",
                                                                     "ip", "value", ip, "vm",
                                                                     dv_doc_str(vm, "name")));
                }
        }
done:
        json_decref(pgs);
        return out;
}

static json_t *pg_facts(json_t *pg)
{
        if (!pg)
                return json_null();
        return json_pack("{s:O,s:O,s:O,s:O?,s:O?}", "name", json_object_get(pg, "name"), "dvs",
                         json_object_get(pg, "dvs"), "vlan", json_object_get(pg, "vlan"),
                         "subnet", json_object_get(pg, "subnet"), "gateway",
                         json_object_get(pg, "gateway"));
}

static json_t *vm_facts(struct side *s)
{
        json_t *vm = s->vm;
        json_t *f = json_pack("{s:O,s:O,s:O?,s:O?,s:s?,s:I}", "name", json_object_get(vm, "name"),
                              "state", json_object_get(vm, "state"), "host",
                              json_object_get(vm, "host"), "tools",
                              json_object_get(json_object_get(vm, "tools"), "state"), "host_state",
                              dv_doc_str(s->host, "state"), "nic_count",
                              (json_int_t)json_array_size(json_object_get(vm, "nics")));

        json_object_set_new(f, "nic", s->nic ? json_deep_copy(s->nic) : json_null());
        json_object_set_new(f, "portgroup", pg_facts(s->pg));
        return f;
}

/* The uplink of the DVS of the NIC on the VM's host. */
static const char *uplink_of(struct dv_mgr *m, struct side *s, json_t **ret_dvs)
{
        json_t *dvs = s->pg ? dv_mgr_get(m, DV_KIND_DVS, dv_doc_str(s->pg, "dvs_id")) : NULL;
        json_t *e = dvs ? dv_dvs_host_entry(dvs, dv_doc_str(s->vm, "host_id")) : NULL;

        *ret_dvs = dvs;
        return e ? dv_doc_str(e, "uplink") : NULL;
}

static json_t *probe_facts(struct job *j, const char *target)
{
        if (!j->reply)
                return json_pack("{s:s,s:b,s:i,s:i,s:s}", "target", target, "ok", 0,
                                 "transmitted", 0, "received", 0, "error", j->err.message);
        return json_pack("{s:s,s:b,s:O?,s:O?}", "target", target, "ok",
                         dv_doc_int(j->reply, "received", 0) > 0, "transmitted",
                         json_object_get(j->reply, "transmitted"), "received",
                         json_object_get(j->reply, "received"));
}

static bool can_probe(struct side *s)
{
        return dv_streq(dv_doc_str(s->vm, "state"), "running") &&
               dv_streq(dv_doc_str(s->host, "state"), "connected") &&
               dv_streq(dv_doc_str(json_object_get(s->vm, "tools"), "state"), "running");
}

static void diagnose(struct dv_api *a, json_t *refs)
{
        struct dv_mgr *m = a->m;
        struct side s[2] = {};
        struct job jobs[6] = {};
        _cleanup_(json_decrefp) json_t *facts = NULL, *all_vms = NULL, *dvs0 = NULL,
                                        *dvs1 = NULL, *result = NULL;
        json_t *vms_f, *gw_f, *peer_f;
        const char *up[2];
        size_t n = 0, i;
        int gw_job[2] = { -1, -1 }, peer_job[2] = { -1, -1 }, health_job = -1;

        for (i = 0; i < 2; i++) {
                const char *ref = json_string_value(json_array_get(refs, i));

                s[i].vm = dv_mgr_get(m, DV_KIND_VM, ref);
                if (!s[i].vm) {
                        dv_api_error(a, 404, "not-found", "no vm '%.80s'", ref);
                        goto out;
                }
                s[i].host = dv_doc_str(s[i].vm, "host_id")
                                    ? dv_mgr_get(m, DV_KIND_HOST, dv_doc_str(s[i].vm, "host_id"))
                                    : NULL;
        }
        if (dv_streq(dv_doc_str(s[0].vm, "id"), dv_doc_str(s[1].vm, "id"))) {
                dv_api_error(a, 400, "invalid-field", "name two different VMs");
                goto out;
        }
        pick_nics(m, s);
        if (dv_store_list(m->store, DV_KIND_VM, NULL, &all_vms) < 0) {
                dv_api_internal(a, -EIO, "listing vms");
                goto out;
        }
        facts = json_pack("{s:[],s:{s:[n,n],s:[n,n]},s:n}", "vms", "probes", "gateway", "peer",
                          "health");
        vms_f = json_object_get(facts, "vms");
        gw_f = json_object_get(json_object_get(facts, "probes"), "gateway");
        peer_f = json_object_get(json_object_get(facts, "probes"), "peer");
        for (i = 0; i < 2; i++) {
                s[i].facts = vm_facts(&s[i]);
                json_array_append_new(vms_f, s[i].facts);
        }

        /* Round 1: the guests' view and the uplinks. */
        up[0] = uplink_of(m, &s[0], &dvs0);
        up[1] = uplink_of(m, &s[1], &dvs1);
        for (i = 0; i < 2; i++) {
                if (can_probe(&s[i]))
                        jobs[n++] = (struct job){ .kind = JOB_INFO, .host = s[i].host,
                                                  .vm_id = dv_doc_str(s[i].vm, "id") };
                if (i == 1 && dv_streq(dv_doc_str(s[0].vm, "host_id"),
                                       dv_doc_str(s[1].vm, "host_id")))
                        continue;
                if (up[i] && s[i].host)
                        jobs[n++] = (struct job){ .kind = JOB_LINK, .host = s[i].host,
                                                  .arg = up[i], .vm_id = dv_doc_str(s[i].vm, "id") };
                else
                        json_object_set_new(s[i].facts, "uplink_error",
                                            json_string(s[i].pg ? "the host is not on the DVS"
                                                                : "no port group"));
        }
        dv_parallel(n, run_job, jobs);
        for (i = 0; i < n; i++) {
                struct job *j = &jobs[i];
                int side = dv_streq(j->vm_id, dv_doc_str(s[0].vm, "id")) ? 0 : 1;
                const char *key = j->kind == JOB_INFO ? "guest" : "uplink";

                if (j->reply) {
                        json_object_set(s[side].facts, key, j->reply);
                        if (j->kind == JOB_LINK && side == 0 &&
                            dv_streq(dv_doc_str(s[0].vm, "host_id"), dv_doc_str(s[1].vm, "host_id")))
                                json_object_set(s[1].facts, key, j->reply);
                } else {
                        json_object_set_new(s[side].facts,
                                            j->kind == JOB_INFO ? "guest_error" : "uplink_error",
                                            json_string(j->err.message));
                }
        }
        jobs_free(jobs, n);
        memset(jobs, 0, sizeof(jobs));
        n = 0;

        /* Address conflicts, with the addresses the guests really use. */
        for (i = 0; i < 2; i++) {
                const char *ip = NULL, *gw = NULL;
                int prefix;
                bool from_guest;

                if (!dv_netdiag_effective_ip(s[i].facts, &ip, &prefix, &gw, &from_guest))
                        ip = NULL;
                json_object_set_new(s[i].facts, "conflicts",
                                    conflicts(m, all_vms, &s[i], &s[1 - i], ip));
        }

        /* Round 2: the DVS health check and the pings, together. */
        if (s[0].pg && s[1].pg &&
            dv_streq(dv_doc_str(s[0].pg, "dvs_id"), dv_doc_str(s[1].pg, "dvs_id")) &&
            can_probe(&s[0]) && can_probe(&s[1]) &&
            !dv_streq(dv_doc_str(s[0].vm, "host_id"), dv_doc_str(s[1].vm, "host_id"))) {
                health_job = (int)n;
                jobs[n++] = (struct job){ .kind = JOB_HEALTH, .m = m,
                                          .arg = dv_doc_str(s[0].pg, "dvs_id") };
        }
        for (i = 0; i < 2; i++) {
                const char *ip = NULL, *gw = NULL, *pip = NULL, *pgw = NULL;
                int prefix, pprefix;
                bool from_guest;

                if (!can_probe(&s[i]))
                        continue;
                if (dv_netdiag_effective_ip(s[i].facts, &ip, &prefix, &gw, &from_guest) && gw) {
                        gw_job[i] = (int)n;
                        jobs[n++] = (struct job){ .kind = JOB_PING, .host = s[i].host,
                                                  .vm_id = dv_doc_str(s[i].vm, "id"), .arg = gw };
                }
                if (dv_streq(dv_doc_str(s[1 - i].vm, "state"), "running") &&
                    dv_netdiag_effective_ip(s[1 - i].facts, &pip, &pprefix, &pgw, &from_guest)) {
                        peer_job[i] = (int)n;
                        jobs[n++] = (struct job){ .kind = JOB_PING, .host = s[i].host,
                                                  .vm_id = dv_doc_str(s[i].vm, "id"), .arg = pip };
                }
        }
        dv_parallel(n, run_job, jobs);
        for (i = 0; i < 2; i++) {
                if (gw_job[i] >= 0)
                        json_array_set_new(gw_f, i, probe_facts(&jobs[gw_job[i]], jobs[gw_job[i]].arg));
                if (peer_job[i] >= 0)
                        json_array_set_new(peer_f, i,
                                           probe_facts(&jobs[peer_job[i]], jobs[peer_job[i]].arg));
        }
        if (health_job >= 0) {
                if (jobs[health_job].reply)
                        json_object_set(facts, "health", jobs[health_job].reply);
                else
                        json_object_set_new(facts, "health_error",
                                            json_string(jobs[health_job].err.message));
        }
        jobs_free(jobs, n);

        result = dv_netdiag_evaluate(facts);
        if (!result) {
                dv_api_internal(a, -ENOMEM, "evaluating the diagnosis");
                goto out;
        }
        if (json_is_object(json_object_get(facts, "health")))
                json_object_set(result, "health", json_object_get(facts, "health"));
        dv_info("net diagnose %s %s: %s", dv_doc_str(s[0].vm, "name"), dv_doc_str(s[1].vm, "name"),
                dv_doc_str(json_object_get(result, "conclusion"), "summary"));
        dv_api_reply(a, 200, json_incref(result));
out:
        for (i = 0; i < 2; i++) {
                json_decref(s[i].vm);
                json_decref(s[i].host);
                json_decref(s[i].pg);
        }
}

void dv_api_net(struct dv_api *a)
{
        static const char *const keys[] = { "vms", NULL };
        struct dv_error err = {};
        json_t *body = NULL, *refs;

        if (a->nseg != 2 || strcmp(a->segs[1], "diagnose") != 0) {
                dv_api_error(a, 404, "not-found", "no such path: %.200s", a->req->path);
                return;
        }
        if (dv_api_post_body(a, &body) < 0)
                return;
        refs = json_object_get(body, "vms");
        if (dv_json_check_keys(body, keys, &err) < 0) {
                dv_api_dv_error(a, &err);
        } else if (!json_is_array(refs) || json_array_size(refs) != 2 ||
                   !dv_name_valid(json_string_value(json_array_get(refs, 0))) ||
                   !dv_name_valid(json_string_value(json_array_get(refs, 1)))) {
                dv_api_error(a, 400, "invalid-field",
                             "field 'vms' must name two VMs: [\"VM1\", \"VM2\"]");
        } else {
                diagnose(a, refs);
        }
        json_decref(body);
}
