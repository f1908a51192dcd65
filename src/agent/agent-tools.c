/* The agent's Tools glue: see agent-tools.h. The guest is untrusted: every
 * call goes through the host library (tools-chan.c), which bounds and
 * validates what comes back; every call here has a timeout, and a guest
 * that does not answer costs only the HTTP thread of the request that
 * asked it something. */
#include "agent-tools.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "tools-mgr.h"

#define SHUTDOWN_CALL_MS 5000     /* the guest replies before it acts */
#define CPUS_ONLINE_WAIT_MS 30000 /* hot-added vCPUs appear in the guest, then go online */
#define CPUS_ONLINE_POLL_MS 300
#define UPGRADE_TIMEOUT_MS 120000

/* The ops the agent API passes on (docs/api.md), with their timeouts. */
static const struct tools_op {
        const char *name;   /* the URL's op = the protocol's op */
        int timeout_ms;     /* for the call (ping: + its own timeout_s) */
} tools_ops[] = {
        { "info", 5000 },         { "ping", 5000 },     { "net-config", 10000 },
        { "time-set", 5000 },     { "fs-freeze", 30000 }, { "fs-thaw", 10000 },
        { "cpus-online", 10000 }, { "hibernate", 5000 },
};

static void kick(void *userdata)
{
        struct dv_agent *agent = userdata;

        pthread_mutex_lock(&agent->lock);
        agent->kick = true;
        pthread_cond_signal(&agent->cond);
        pthread_mutex_unlock(&agent->lock);
}

int dv_agent_tools_init(struct dv_agent *agent, const char *run_dir)
{
        struct dv_tools_mgr_config cfg = {
                .run_dir = run_dir,
                .heartbeat_timeout_ms = agent->cfg.tools_timeout_s * 1000,
                .kick = kick,
                .userdata = agent,
        };

        return dv_tools_mgr_new(&cfg, &agent->tools);
}

void dv_agent_tools_done(struct dv_agent *agent)
{
        dv_tools_mgr_free(agent->tools);
        agent->tools = NULL;
}

/* ---- helpers ------------------------------------------------------------ */

/* The body as an object ({} when empty). */
static int body_object(const struct dv_http_request *req, json_t **ret, struct dv_error *err)
{
        for (size_t i = 0; i < req->body_len; i++)
                if (!isspace((unsigned char)req->body[i]))
                        return dv_json_parse_object(req->body, req->body_len, ret, err);
        *ret = json_object();
        return *ret ? 0 : -ENOMEM;
}

/* The VM's Tools entry, or a 409 naming why there is none. */
static int get_vm(struct dv_agent *agent, const char *id, struct dv_tools_vm **ret,
                  struct dv_error *err)
{
        if (dv_tools_mgr_get(agent->tools, id, ret) < 0)
                return dv_error_set(err, 409, "invalid-state",
                                    "vm '%.64s' is not running on this host", id);
        return 0;
}

static void reply_err(struct dv_http_response *resp, const char *id, const char *what,
                      const struct dv_error *err)
{
        if (err->status >= 500)
                dv_warn("vm %s: %s: %s", id, what, err->message);
        else
                dv_info("vm %s: %s: %s", id, what, err->message);
        dv_http_reply_dv_error(resp, err);
}

/* ---- POST /agent/v1/vms/{id}/tools/{op} ---------------------------------- */

static void api_tools_op(struct dv_agent *agent, const char *id, const struct tools_op *op,
                         const struct dv_http_request *req, struct dv_http_response *resp)
{
        _cleanup_(dv_tools_vm_unrefp) struct dv_tools_vm *v = NULL;
        _cleanup_(json_decrefp) json_t *args = NULL, *result = NULL;
        struct dv_error err = {};
        int timeout = op->timeout_ms;

        if (body_object(req, &args, &err) < 0 || get_vm(agent, id, &v, &err) < 0) {
                reply_err(resp, id, op->name, &err);
                return;
        }
        if (strcmp(op->name, "time-set") == 0 && !json_object_get(args, "epoch_ms"))
                json_object_set_new(args, "epoch_ms", json_integer(dv_wall_ms()));
        if (strcmp(op->name, "ping") == 0) {
                json_t *t = json_object_get(args, "timeout_s");

                timeout += (json_is_integer(t) ? (int)DV_MIN(json_integer_value(t), 60) : 5) * 1000;
        }
        if (dv_tools_call(dv_tools_vm_chan(v), op->name, args, timeout, &result, &err) < 0) {
                reply_err(resp, id, op->name, &err);
                return;
        }
        if (strcmp(op->name, "info") != 0 && strcmp(op->name, "ping") != 0)
                dv_info("vm %s: Tools %s done", id, op->name);
        dv_http_reply(resp, 200, TAKE_PTR(result));
}

/* POST /agent/v1/vms/{id}/tools/upgrade {"path"} */
static void api_tools_upgrade(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "path", NULL };
        _cleanup_(dv_tools_vm_unrefp) struct dv_tools_vm *v = NULL;
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_(freep) char *old = NULL, *new = NULL;
        const char *path = NULL;
        struct dv_error err = {};
        int r;

        r = body_object(req, &body, &err);
        if (r >= 0)
                r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_string(body, "path", true, &path, &err);
        if (r >= 0 && (path[0] != '/' || strlen(path) > 4096))
                r = dv_error_set(&err, 400, "invalid-field", "field 'path' must be an absolute path");
        if (r >= 0)
                r = get_vm(agent, id, &v, &err);
        if (r < 0) {
                reply_err(resp, id, "Tools upgrade", &err);
                return;
        }
        (void)dv_tools_chan_get_state(dv_tools_vm_chan(v), NULL, &old, NULL);
        dv_info("vm %s: pushing %s to drover-tools %s", id, path, old ? old : "(not running)");
        r = dv_tools_upgrade(dv_tools_vm_chan(v), path, UPGRADE_TIMEOUT_MS, &new, &err);
        if (r < 0) {
                if (!err.status)
                        dv_error_set(&err, 500, "internal", "upgrade: %s", strerror(-r));
                reply_err(resp, id, "Tools upgrade", &err);
                return;
        }
        dv_info("vm %s: drover-tools upgraded from %s to %s", id, old ? old : "?", new);
        dv_http_reply(resp, 200, json_pack("{s:s,s:s?}", "version", new, "previous_version", old));
}

/* POST /agent/v1/vms/{id}/cpus {"count"}: hot-plug, then online. */
static void api_cpus(struct dv_agent *agent, const char *id, const struct dv_http_request *req,
                     struct dv_http_response *resp)
{
        static const char *const keys[] = { "count", NULL };
        _cleanup_(dv_tools_vm_unrefp) struct dv_tools_vm *v = NULL;
        _cleanup_(json_decrefp) json_t *body = NULL, *last = NULL;
        struct dv_error err = {};
        int64_t count = 0, deadline, onlined = 0;
        int r, present = 0;

        r = body_object(req, &body, &err);
        if (r >= 0)
                r = dv_json_check_keys(body, keys, &err);
        if (r >= 0)
                r = dv_json_get_int(body, "count", true, 1, 64, &count, &err);
        if (r >= 0)
                r = get_vm(agent, id, &v, &err);
        /* Nothing is plugged that nobody would bring online. */
        if (r >= 0 && !dv_tools_vm_usable(v))
                r = dv_error_set(&err, 409, "tools-not-running",
                                 "Tools is not running in vm '%s': it is needed to bring vCPUs "
                                 "online", id);
        if (r >= 0 && !agent->ops->set_cpus)
                r = dv_error_set(&err, 409, "not-supported", "the %s driver cannot hot-plug vCPUs",
                                 agent->ops->name);
        if (r >= 0)
                r = agent->ops->set_cpus(agent->hv, id, (int)count, &present, &err);
        if (r < 0) {
                if (!err.status)
                        dv_error_set(&err, 500, "internal", "set cpus: %s", strerror(-r));
                reply_err(resp, id, "set cpus", &err);
                return;
        }
        dv_info("vm %s: %d vCPUs present; asking Tools to bring them online", id, present);
        /* The guest learns of a new vCPU from an ACPI event: poll until it
         * sees them all online. */
        deadline = dv_now_ms() + CPUS_ONLINE_WAIT_MS;
        for (;;) {
                json_t *res = NULL;
                struct timespec ts = { 0, CPUS_ONLINE_POLL_MS * 1000000L };

                r = dv_tools_call(dv_tools_vm_chan(v), "cpus-online", NULL, 10000, &res, &err);
                if (r >= 0) {
                        json_decref(last);
                        last = res;
                        onlined += json_integer_value(json_object_get(res, "onlined"));
                        if (json_integer_value(json_object_get(res, "online")) >= count)
                                break;
                } else if (err.status != 502 || strcmp(err.code, "failed") != 0) {
                        break; /* "failed": nothing to online yet; try again */
                }
                if (dv_now_ms() >= deadline)
                        break;
                nanosleep(&ts, NULL);
        }
        if (!last) {
                reply_err(resp, id, "cpus-online", &err);
                return;
        }
        dv_info("vm %s: %lld of %lld vCPUs online in the guest", id,
                (long long)json_integer_value(json_object_get(last, "online")), (long long)count);
        dv_http_reply(resp, 200,
                      json_pack("{s:I,s:i,s:O,s:O,s:I}", "count", (json_int_t)count, "present",
                                present, "online", json_object_get(last, "online"), "possible",
                                json_object_get(last, "possible"), "onlined",
                                (json_int_t)onlined));
}

bool dv_agent_tools_route(struct dv_agent *agent, const char *id, const char *const *rest, int n,
                          const struct dv_http_request *req, struct dv_http_response *resp)
{
        const struct tools_op *op = NULL;
        bool cpus = n == 1 && strcmp(rest[0], "cpus") == 0;

        if (!cpus && (n != 2 || strcmp(rest[0], "tools") != 0))
                return false;
        if (!cpus && strcmp(rest[1], "upgrade") != 0) {
                for (size_t i = 0; i < ELEMENTSOF(tools_ops); i++)
                        if (strcmp(tools_ops[i].name, rest[1]) == 0)
                                op = &tools_ops[i];
                if (!op)
                        return false; /* e.g. shutdown: only through stop */
        }
        if (strcmp(req->method, "POST") != 0)
                dv_http_reply_error(resp, 405, "method-not-allowed", "%s %s: use POST",
                                    req->method, req->path);
        else if (!dv_name_valid(id))
                dv_http_reply_error(resp, 400, "invalid-name", "'%.80s' is not a valid VM id", id);
        else if (cpus)
                api_cpus(agent, id, req, resp);
        else if (op)
                api_tools_op(agent, id, op, req, resp);
        else
                api_tools_upgrade(agent, id, req, resp);
        return true;
}

/* ---- stop and reboot ------------------------------------------------------ */

int dv_agent_vm_stop(struct dv_agent *agent, const char *id, bool force, int timeout_s,
                     const char **ret_path, struct dv_error *err)
{
        _cleanup_(dv_tools_vm_unrefp) struct dv_tools_vm *v = NULL;
        struct dv_error terr = {};
        int64_t start = dv_now_ms();
        bool asked = false;
        int r;

        if (timeout_s < 0 || timeout_s > 3600)
                return dv_error_set(err, 400, "out-of-range",
                                    "field 'timeout_s' is %d, allowed 0..3600", timeout_s);
        if (!force && timeout_s > 0 && dv_tools_mgr_get(agent->tools, id, &v) >= 0 &&
            dv_tools_vm_usable(v)) {
                /* Half the time for Tools, the rest for ACPI. */
                int budget_ms = timeout_s * 500;

                r = dv_tools_call(dv_tools_vm_chan(v), "shutdown", NULL,
                                  DV_MIN(SHUTDOWN_CALL_MS, budget_ms), NULL, &terr);
                if (r >= 0) {
                        asked = true;
                        if (dv_tools_vm_wait_exit(v, (int)DV_MAX(budget_ms - (dv_now_ms() - start), 0))) {
                                *ret_path = "tools";
                                return 0;
                        }
                        dv_warn("vm %s: Tools shutdown did not finish within %d s: ACPI next", id,
                                budget_ms / 1000);
                } else {
                        dv_warn("vm %s: Tools shutdown failed (%s): ACPI next", id, terr.message);
                }
        } else if (!force && timeout_s > 0) {
                dv_info("vm %s: Tools is not running: ACPI shutdown", id);
        }
        timeout_s = (int)DV_MAX(timeout_s - (dv_now_ms() - start + 999) / 1000, 0);
        r = agent->ops->stop(agent->hv, id, force, timeout_s, NULL, ret_path, err);
        /* The guest finished what Tools started just as the wait ended. */
        if (r >= 0 && asked && dv_streq(*ret_path, "already-stopped"))
                *ret_path = "tools";
        return r;
}

int dv_agent_vm_reboot(struct dv_agent *agent, const char *id, const char **ret_path,
                       struct dv_error *err)
{
        _cleanup_(dv_tools_vm_unrefp) struct dv_tools_vm *v = NULL;
        struct dv_error terr = {};
        int r;

        if (dv_tools_mgr_get(agent->tools, id, &v) >= 0 && dv_tools_vm_usable(v)) {
                r = dv_tools_call(dv_tools_vm_chan(v), "reboot", NULL, SHUTDOWN_CALL_MS, NULL,
                                  &terr);
                if (r >= 0) {
                        *ret_path = "tools";
                        return 0;
                }
                dv_warn("vm %s: Tools reboot failed (%s): resetting it", id, terr.message);
        }
        r = agent->ops->reboot(agent->hv, id, err);
        if (r >= 0)
                *ret_path = "reset";
        return r;
}
