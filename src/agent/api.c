/* The agent API (docs/api.md "Agent"), served under /agent/v1 with the
 * host's credential. Runs in the HTTP server's per-connection threads;
 * VM work is delegated to the hypervisor driver. */
#include "agent.h"
#include "vnc-relay.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent-ha.h"
#include "agent-migrate.h"
#include "agent-tools.h"
#include "json.h"
#include "log.h"
#include "netprobe.h"

#define MAX_PATH_SEGMENTS 8

bool dv_agent_token_valid(const char *s)
{
        size_t n = 0;

        if (!s)
                return false;
        for (; s[n]; n++)
                if (!isxdigit((unsigned char)s[n]))
                        return false;
        return n == DV_AGENT_CREDENTIAL_LEN;
}

bool dv_agent_token_equal(const char *presented, const char *expected)
{
        size_t pl, el;
        volatile unsigned char diff;

        if (!presented || !expected || !*expected)
                return false;
        pl = strlen(presented);
        el = strlen(expected);
        diff = pl != el;
        /* Touch every byte of expected whatever presented looks like. */
        for (size_t i = 0; i < el; i++)
                diff |= (unsigned char)(expected[i] ^ (i < pl ? presented[i] : 0));
        return diff == 0;
}

/* Parse a request body as an object with only the allowed keys; an empty
 * body counts as {} where allow_empty. */
static int parse_body(const struct dv_http_request *req, const char *const *allowed,
                      bool allow_empty, json_t **ret, struct dv_error *err)
{
        _cleanup_(json_decrefp) json_t *obj = NULL;
        bool blank = true;
        int r;

        for (size_t i = 0; i < req->body_len; i++)
                if (!isspace((unsigned char)req->body[i])) {
                        blank = false;
                        break;
                }
        if (blank) {
                if (!allow_empty)
                        return dv_error_set(err, 400, "invalid-json", "a JSON body is required");
                obj = json_object();
        } else {
                r = dv_json_parse_object(req->body, req->body_len, &obj, err);
                if (r < 0)
                        return r;
        }
        if (!obj)
                return -ENOMEM;
        if (allowed) {
                r = dv_json_check_keys(obj, allowed, err);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(obj);
        return 0;
}

/* A failed driver call: its own error when it gave one. */
static void reply_hv_error(struct dv_http_response *resp, int r, const struct dv_error *err,
                           const char *vm_id, const char *what)
{
        if (err->status) {
                dv_warn("vm %s: %s: %s", vm_id, what, err->message);
                dv_http_reply_dv_error(resp, err);
        } else if (r == -ENOENT) {
                dv_http_reply_error(resp, 404, "not-found", "vm '%s' not found", vm_id);
        } else {
                dv_warn("vm %s: %s: %s", vm_id, what, strerror(-r));
                dv_http_reply_error(resp, 500, "internal", "vm %s: %s: %s", vm_id, what,
                                    strerror(-r));
        }
}

static void api_info(struct dv_agent *agent, struct dv_http_response *resp)
{
        json_t *info = dv_agent_info_json(agent);

        if (!info) {
                dv_http_reply_error(resp, 500, "internal", "out of memory");
                return;
        }
        dv_http_reply(resp, 200, info);
}

static void api_vms(struct dv_agent *agent, struct dv_http_response *resp)
{
        json_t *vms = NULL;
        int r;

        r = dv_agent_vms_snapshot(agent, &vms);
        if (r < 0) {
                dv_warn_errno(r, "listing VMs: %m");
                dv_http_reply_error(resp, 500, "internal", "listing VMs: %s", strerror(-r));
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:o}", "vms", vms));
}

static void api_disk_create(struct dv_agent *agent, const struct dv_http_request *req,
                            struct dv_http_response *resp)
{
        static const char *const keys[] = { "datastore", "vm_id", "name", "size_gib", "format",
                                            "uid", "source", "source_format", "size_bytes",
                                            NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_(freep) char *path = NULL;
        const char *datastore = NULL, *vm_id = NULL, *name = NULL, *format = "qcow2";
        const char *source = NULL, *source_format = "qcow2";
        int64_t size_gib = 0, uid = 0, made_gib = 0, size_bytes = 0;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, false, &body, &err);
        if (r == 0)
                r = dv_json_get_name(body, "datastore", true, &datastore, &err);
        if (r == 0)
                r = dv_json_get_name(body, "vm_id", true, &vm_id, &err);
        if (r == 0)
                r = dv_json_get_name(body, "name", true, &name, &err);
        if (r == 0)
                r = dv_json_get_int(body, "size_bytes", false, 512, INT64_C(16384) << 30,
                                    &size_bytes, &err);
        if (r == 0)
                r = dv_json_get_int(body, "size_gib", size_bytes == 0, 1, 16384, &size_gib, &err);
        if (r == 0)
                r = dv_json_get_string(body, "format", false, &format, &err);
        if (r == 0)
                r = dv_json_get_int(body, "uid", true, 0, (int64_t)UINT32_MAX - 1, &uid, &err);
        if (r == 0)
                r = dv_json_get_string(body, "source", false, &source, &err);
        if (r == 0)
                r = dv_json_get_string(body, "source_format", false, &source_format, &err);
        if (r == 0 && strcmp(format, "qcow2") != 0)
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'format': only qcow2 is supported");
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        if (r == 0 && size_bytes > 0 && source)
                r = dv_error_set(&err, 400, "invalid-field",
                                 "size_bytes makes a blank disk: not with 'source'");
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        if (size_bytes > 0) {
                r = dv_disk_create_bytes(&agent->ds, datastore, vm_id, name, size_bytes,
                                         (uid_t)uid, &path, &err);
                made_gib = (size_bytes + (INT64_C(1) << 30) - 1) >> 30;
        } else {
                r = dv_disk_create_from(&agent->ds, datastore, vm_id, name, size_gib, (uid_t)uid,
                                        source, source_format, &path, &made_gib, &err);
        }
        if (r < 0) {
                dv_warn("vm %s: creating disk %s on %s: %s", vm_id, name, datastore, err.message);
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("vm %s: created disk %s (%lld GiB%s%s, uid %lld)", vm_id, path,
                (long long)made_gib, source ? " from " : "", source ? source : "", (long long)uid);
        dv_http_reply(resp, 200, json_pack("{s:s,s:I}", "path", path, "size_gib",
                                           (json_int_t)made_gib));
}

static void api_disk_delete(struct dv_agent *agent, const struct dv_http_request *req,
                            struct dv_http_response *resp)
{
        static const char *const keys[] = { "path", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *path = NULL;
        struct dv_error err = {};
        bool deleted = false;
        int r;

        r = parse_body(req, keys, false, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "path", true, &path, &err);
        if (r == 0)
                r = dv_disk_delete(&agent->ds, path, &deleted, &err);
        if (r < 0) {
                if (path)
                        dv_warn("deleting disk %s: %s", path, err.message);
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        if (deleted)
                dv_info("deleted disk %s", path);
        dv_http_reply(resp, 200, json_pack("{s:s,s:b}", "path", path, "deleted", deleted));
}

/* Every disk of a SPEC must be a file inside one of our datastores. */
int dv_agent_check_spec_disks(struct dv_agent *agent, json_t *spec, struct dv_error *err)
{
        json_t *disks = json_object_get(spec, "disks"), *d;
        size_t i;

        if (!disks || json_is_null(disks))
                return 0;
        if (!json_is_array(disks))
                return dv_error_set(err, 400, "invalid-field", "field 'disks' must be an array");
        json_array_foreach(disks, i, d) {
                const char *path = json_string_value(json_object_get(d, "path"));
                char canon[PATH_MAX];

                if (!path)
                        return dv_error_set(err, 400, "missing-field",
                                            "field 'disks[%zu].path' is required", i);
                if (!realpath(path, canon))
                        return dv_error_set(err, 400, "invalid-path", "disk '%s': %s", path,
                                            strerror(errno));
                if (!dv_datastores_owner(&agent->ds, canon))
                        return dv_error_set(err, 400, "invalid-path",
                                            "disk '%s' is not inside a datastore of this host",
                                            path);
        }
        return 0;
}

static void api_vm_start(struct dv_agent *agent, const char *id, const struct dv_http_request *req,
                         struct dv_http_response *resp)
{
        static const char *const keys[] = { "id", "name", "uid", "cpus", "max_cpus",
                                            "memory_mib", "disks", "nics", "boot", "tools",
                                            "cpu_qos", "lease", NULL };
        _cleanup_(json_decrefp) json_t *spec = NULL;
        json_t *status = NULL;
        const char *spec_id = NULL;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, false, &spec, &err);
        if (r == 0)
                r = dv_json_get_name(spec, "id", false, &spec_id, &err);
        if (r == 0 && spec_id && strcmp(spec_id, id) != 0)
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'id' ('%s') differs from the VM in the path ('%s')",
                                 spec_id, id);
        if (r == 0 && !spec_id)
                r = json_object_set_new(spec, "id", json_string(id)) < 0 ? -ENOMEM : 0;
        if (r == 0)
                r = dv_agent_check_spec_disks(agent, spec, &err);
        if (r == 0)
                r = dv_tools_spec_check(spec, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        /* HA VMs start only where they hold their lease (docs/ha.md). */
        r = dv_agent_ha_lease_take(agent->ha, id, json_object_get(spec, "lease"), &err);
        if (r < 0) {
                dv_warn("vm %s: not started: %s", id, err.message);
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("vm %s: starting", id);
        r = agent->ops->start(agent->hv, spec, &status, &err);
        dv_agent_ha_lease_started(agent->ha, id, r >= 0 && status);
        if (r < 0 || !status) {
                reply_hv_error(resp, r < 0 ? r : -EIO, &err, id, "start");
                return;
        }
        dv_info("vm %s: running (pid %lld)", id,
                (long long)json_integer_value(json_object_get(status, "pid")));
        /* Its Tools channel (agent-tools.c), with the spec's net-config. */
        if (agent->tools && dv_tools_mgr_vm_started(agent->tools, id, spec) >= 0) {
                json_t *one = json_pack("[O]", status);

                dv_tools_mgr_annotate(agent->tools, one);
                json_decref(one);
        }
        dv_http_reply(resp, 200, json_pack("{s:o}", "vm", status));
}

static void api_vm_stop(struct dv_agent *agent, const char *id, const struct dv_http_request *req,
                        struct dv_http_response *resp)
{
        static const char *const keys[] = { "force", "timeout_s", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        bool force = false;
        int64_t timeout_s = 60;
        const char *path = NULL;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, true, &body, &err);
        if (r == 0)
                r = dv_json_get_bool(body, "force", false, &force, &err);
        if (r == 0)
                r = dv_json_get_int(body, "timeout_s", false, 0, 3600, &timeout_s, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("vm %s: stopping (%s, timeout %llds)", id, force ? "forced" : "graceful",
                (long long)timeout_s);
        r = dv_agent_vm_stop(agent, id, force, (int)timeout_s, &path, &err);
        if (r < 0 || !path) {
                reply_hv_error(resp, r < 0 ? r : -EIO, &err, id, "stop");
                return;
        }
        dv_info("vm %s: stopped (%s)", id, path);
        dv_http_reply(resp, 200, json_pack("{s:s}", "path", path));
}

static void api_vm_reboot(struct dv_agent *agent, const char *id,
                          const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *path = NULL;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, true, &body, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("vm %s: reboot", id);
        r = dv_agent_vm_reboot(agent, id, &path, &err);
        if (r < 0) {
                reply_hv_error(resp, r, &err, id, "reboot");
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:s}", "path", path));
}

/* GET: the VM's QoS as applied (cgroup values, CPU time used); POST:
 * change it live (docs/qos.md). */
static void api_vm_qos(struct dv_agent *agent, const char *id, const struct dv_http_request *req,
                       struct dv_http_response *resp)
{
        static const char *const keys[] = { "cpu_qos", "disks", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *info = NULL;
        struct dv_error err = {};
        bool post = strcmp(req->method, "POST") == 0;
        int r;

        if (!agent->ops->set_qos || !agent->ops->get_qos) {
                dv_http_reply_error(resp, 409, "not-supported", "the %s driver has no QoS",
                                    agent->ops->name);
                return;
        }
        if (post) {
                r = parse_body(req, keys, false, &body, &err);
                if (r < 0) {
                        dv_http_reply_dv_error(resp, &err);
                        return;
                }
                r = agent->ops->set_qos(agent->hv, id, body, &info, &err);
        } else {
                r = agent->ops->get_qos(agent->hv, id, &info, &err);
        }
        if (r < 0 || !info) {
                reply_hv_error(resp, r < 0 ? r : -EIO, &err, id, post ? "set qos" : "qos");
                return;
        }
        if (post) {
                _cleanup_(freep) char *text = json_dumps(json_object_get(info, "cpu_qos"),
                                                         JSON_COMPACT);
                dv_info("vm %s: qos set: cpu %s, weight %lld, quota %lld us", id,
                        text ? text : "?",
                        (long long)json_integer_value(json_object_get(info, "weight")),
                        (long long)json_integer_value(json_object_get(info, "quota_us")));
        }
        dv_http_reply(resp, 200, info);
}

static void api_vm_console(struct dv_agent *agent, const char *id,
                           const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "ttl_s", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *info = NULL;
        int64_t ttl_s = 60;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, true, &body, &err);
        if (r == 0)
                r = dv_json_get_int(body, "ttl_s", false, 1, 86400, &ttl_s, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        r = agent->ops->console_ticket(agent->hv, id, (int)ttl_s, &info, &err);
        if (r < 0 || !info) {
                reply_hv_error(resp, r < 0 ? r : -EIO, &err, id, "console");
                return;
        }
        dv_info("vm %s: console ticket issued (ttl %llds)", id, (long long)ttl_s);
        dv_http_reply(resp, 200, info);
}

/* ---- the DVS (ovs.c) ---- */

static bool ifname_ok(const char *s)
{
        if (!s || !*s || strlen(s) > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

static int get_ifname(json_t *o, const char *key, bool required, const char **ret,
                      struct dv_error *err)
{
        const char *s = NULL;
        int r = dv_json_get_string(o, key, required, &s, err);

        if (r < 0 || !s)
                return r;
        if (!ifname_ok(s))
                return dv_error_set(err, 400, "invalid-field",
                                    "field '%s': '%.40s' is not a network interface name", key, s);
        *ret = s;
        return 0;
}

/* {"name","bridge","uplink"}: one DVS of a host. */
static int parse_dvs(json_t *o, const char **name, const char **bridge, const char **uplink,
                     struct dv_error *err)
{
        static const char *const keys[] = { "name", "bridge", "uplink", NULL };
        int r = dv_json_check_keys(o, keys, err);

        if (r == 0)
                r = dv_json_get_name(o, "name", true, name, err);
        if (r == 0)
                r = get_ifname(o, "bridge", true, bridge, err);
        if (r == 0)
                r = get_ifname(o, "uplink", true, uplink, err);
        return r;
}

static void api_dvs_ensure(struct dv_agent *agent, const struct dv_http_request *req,
                           struct dv_http_response *resp)
{
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *name = NULL, *bridge = NULL, *uplink = NULL;
        struct dv_error err = {};
        int r;

        r = parse_body(req, NULL, false, &body, &err);
        if (r == 0)
                r = parse_dvs(body, &name, &bridge, &uplink, &err);
        if (r == 0)
                r = dv_ovs_bridge_ensure(&agent->ovs, name, bridge, uplink, &err);
        if (r < 0) {
                if (name)
                        dv_warn("dvs %s: %s", name, err.message);
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("dvs %s: bridge %s with uplink %s (datapath %s)", name, bridge, uplink,
                agent->ovs.datapath);
        dv_http_reply(resp, 200, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "bridge", bridge,
                                           "uplink", uplink, "datapath", agent->ovs.datapath));
}

static void api_dvs_delete(struct dv_agent *agent, const struct dv_http_request *req,
                           struct dv_http_response *resp)
{
        static const char *const keys[] = { "bridge", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *bridge = NULL;
        struct dv_error err = {};
        bool deleted = false;
        int r;

        r = parse_body(req, keys, false, &body, &err);
        if (r == 0)
                r = get_ifname(body, "bridge", true, &bridge, &err);
        if (r == 0)
                r = dv_ovs_bridge_delete(&agent->ovs, bridge, &deleted, &err);
        if (r < 0) {
                if (bridge)
                        dv_warn("deleting bridge %s: %s", bridge, err.message);
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        if (deleted)
                dv_info("deleted dvs bridge %s", bridge);
        dv_http_reply(resp, 200, json_pack("{s:s,s:b}", "bridge", bridge, "deleted", deleted));
}

static void api_dvs_sync(struct dv_agent *agent, const struct dv_http_request *req,
                         struct dv_http_response *resp)
{
        static const char *const keys[] = { "dvs", "ports", NULL };
        static const char *const port_keys[] = { "mac", "vlan", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *dvs, *ports, *v, *result = NULL;
        struct dv_error err = {};
        size_t i;
        int r;

        r = parse_body(req, keys, false, &body, &err);
        dvs = json_object_get(body, "dvs");
        ports = json_object_get(body, "ports");
        if (r == 0 && (!json_is_array(dvs) || (ports && !json_is_array(ports))))
                r = dv_error_set(&err, 400, "invalid-field",
                                 "fields 'dvs' and 'ports' must be arrays");
        json_array_foreach(dvs, i, v) {
                const char *n, *b, *u;

                if (r < 0)
                        break;
                r = json_is_object(v) ? parse_dvs(v, &n, &b, &u, &err)
                                      : dv_error_set(&err, 400, "invalid-field",
                                                     "dvs[%zu] must be an object", i);
        }
        json_array_foreach(ports, i, v) {
                const char *mac = NULL;
                int64_t vlan;

                if (r < 0)
                        break;
                r = json_is_object(v) ? dv_json_check_keys(v, port_keys, &err)
                                      : dv_error_set(&err, 400, "invalid-field",
                                                     "ports[%zu] must be an object", i);
                if (r == 0)
                        r = dv_json_get_string(v, "mac", true, &mac, &err);
                if (r == 0)
                        r = dv_json_get_int(v, "vlan", true, 0, 4094, &vlan, &err);
        }
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_ovs_sync(&agent->ovs, dvs, ports, &result);
        json_array_foreach(json_object_get(result, "errors"), i, v)
                dv_warn("dvs sync: %s", json_string_value(v));
        dv_info("dvs sync: %zu bridges ensured, %zu removed, %lld ports retagged, %lld stale "
                "ports removed",
                json_array_size(json_object_get(result, "bridges")),
                json_array_size(json_object_get(result, "deleted")),
                (long long)json_integer_value(json_object_get(result, "retagged")),
                (long long)json_integer_value(json_object_get(result, "removed_ports")));
        dv_http_reply(resp, 200, result);
}

static void api_ports_vlan(struct dv_agent *agent, const struct dv_http_request *req,
                           struct dv_http_response *resp)
{
        static const char *const keys[] = { "mac", "port", "vlan", "missing_ok", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        const char *mac = NULL, *port = NULL;
        json_t *ports = NULL;
        int64_t vlan = 0;
        bool missing_ok = false;
        struct dv_error err = {};
        int r;

        r = parse_body(req, keys, false, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "mac", false, &mac, &err);
        if (r == 0)
                r = get_ifname(body, "port", false, &port, &err);
        if (r == 0)
                r = dv_json_get_int(body, "vlan", true, 0, 4094, &vlan, &err);
        if (r == 0)
                r = dv_json_get_bool(body, "missing_ok", false, &missing_ok, &err);
        if (r == 0 && !!mac == !!port)
                r = dv_error_set(&err, 400, "invalid-field", "give exactly one of 'mac' and 'port'");
        if (r == 0)
                r = dv_ovs_port_set_vlan(&agent->ovs, mac, port, (int)vlan, &ports, &err);
        if (r < 0 && missing_ok && err.status == 404) {
                dv_http_reply(resp, 200, json_pack("{s:[],s:I}", "ports", "vlan", (json_int_t)vlan));
                return;
        }
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_info("vlan %lld on port(s) of %s", (long long)vlan, mac ? mac : port);
        dv_http_reply(resp, 200, json_pack("{s:o,s:I}", "ports", ports, "vlan", (json_int_t)vlan));
}

static bool want(const struct dv_http_request *req, const char *method,
                 struct dv_http_response *resp)
{
        if (strcmp(req->method, method) == 0)
                return true;
        dv_http_reply_error(resp, 405, "method-not-allowed", "%s %s: use %s", req->method,
                            req->path, method);
        return false;
}

static bool authorized(struct dv_agent *agent, const struct dv_http_request *req,
                       struct dv_http_response *resp)
{
        char cred[DV_AGENT_CREDENTIAL_LEN + 1];
        bool ok;

        pthread_mutex_lock(&agent->lock);
        snprintf(cred, sizeof(cred), "%s", agent->credential);
        pthread_mutex_unlock(&agent->lock);
        if (!cred[0]) {
                dv_http_reply_error(resp, 401, "unauthorized",
                                    "this agent has not registered with the manager yet");
                return false;
        }
        ok = dv_agent_token_equal(req->token, cred);
        if (!ok) {
                dv_debug("%s %s from %s: bad or missing token", req->method, req->path, req->peer);
                dv_http_reply_error(resp, 401, "unauthorized", "token missing or wrong");
        }
        return ok;
}

void dv_agent_api_handle(void *userdata, const struct dv_http_request *req,
                         struct dv_http_response *resp)
{
        struct dv_agent *agent = userdata;
        _cleanup_(freep) char *buf = NULL;
        const char *seg[MAX_PATH_SEGMENTS];
        int n;

        if (!authorized(agent, req, resp))
                return;
        n = dv_http_split_path(req->path, &buf, seg, MAX_PATH_SEGMENTS);
        if (n < 3 || strcmp(seg[0], "agent") != 0 || strcmp(seg[1], "v1") != 0)
                goto not_found;

        if (n == 3 && strcmp(seg[2], "info") == 0) {
                if (want(req, "GET", resp))
                        api_info(agent, resp);
        } else if (n == 3 && strcmp(seg[2], "vms") == 0) {
                if (want(req, "GET", resp))
                        api_vms(agent, resp);
        } else if (n == 3 && strcmp(seg[2], "disks") == 0) {
                if (want(req, "POST", resp))
                        api_disk_create(agent, req, resp);
        } else if (n == 4 && strcmp(seg[2], "disks") == 0 && strcmp(seg[3], "delete") == 0) {
                if (want(req, "POST", resp))
                        api_disk_delete(agent, req, resp);
        } else if (n == 3 && strcmp(seg[2], "dvs") == 0) {
                if (want(req, "POST", resp))
                        api_dvs_ensure(agent, req, resp);
        } else if (n == 4 && strcmp(seg[2], "dvs") == 0 && strcmp(seg[3], "delete") == 0) {
                if (want(req, "POST", resp))
                        api_dvs_delete(agent, req, resp);
        } else if (n == 4 && strcmp(seg[2], "dvs") == 0 && strcmp(seg[3], "sync") == 0) {
                if (want(req, "POST", resp))
                        api_dvs_sync(agent, req, resp);
        } else if (n == 4 && strcmp(seg[2], "ports") == 0 && strcmp(seg[3], "vlan") == 0) {
                if (want(req, "POST", resp))
                        api_ports_vlan(agent, req, resp);
        } else if (n == 4 && strcmp(seg[2], "net") == 0 &&
                   dv_netprobe_route(seg[3], req, resp)) {
                /* link facts, VLAN/MTU probes (netprobe.c) */
        } else if (n == 5 && strcmp(seg[2], "vms") == 0 &&
                   dv_agent_migrate_route(agent, seg[3], seg[4], req, resp)) {
                /* live migration (agent-migrate.c) */
        } else if (n >= 5 && strcmp(seg[2], "vms") == 0 &&
                   dv_agent_tools_route(agent, seg[3], seg + 4, n - 4, req, resp)) {
                /* Tools ops, vCPU hot-plug (agent-tools.c) */
        } else if (n == 5 && strcmp(seg[2], "vms") == 0 && strcmp(seg[4], "vnc") == 0) {
                if (!dv_name_valid(seg[3]))
                        dv_http_reply_error(resp, 400, "invalid-name",
                                            "'%.80s' is not a valid VM id", seg[3]);
                else
                        dv_agent_vnc_relay(agent, seg[3], req, resp); /* vnc-relay.c */
        } else if (n == 5 && strcmp(seg[2], "vms") == 0) {
                const char *id = seg[3], *action = seg[4];

                if (strcmp(action, "start") != 0 && strcmp(action, "stop") != 0 &&
                    strcmp(action, "reboot") != 0 && strcmp(action, "console") != 0 &&
                    strcmp(action, "qos") != 0)
                        goto not_found;
                if (strcmp(action, "qos") == 0) {
                        if (strcmp(req->method, "GET") != 0 && !want(req, "POST", resp))
                                return;
                } else if (!want(req, "POST", resp)) {
                        return;
                }
                if (!dv_name_valid(id))
                        dv_http_reply_error(resp, 400, "invalid-name", "'%.80s' is not a valid VM id",
                                            id);
                else if (strcmp(action, "start") == 0)
                        api_vm_start(agent, id, req, resp);
                else if (strcmp(action, "stop") == 0)
                        api_vm_stop(agent, id, req, resp);
                else if (strcmp(action, "reboot") == 0)
                        api_vm_reboot(agent, id, req, resp);
                else if (strcmp(action, "qos") == 0)
                        api_vm_qos(agent, id, req, resp);
                else
                        api_vm_console(agent, id, req, resp);
        } else {
                goto not_found;
        }
        return;

not_found:
        dv_http_reply_error(resp, 404, "not-found", "no such path: %.200s", req->path);
}
