/* Live migration endpoints of the agent (agent-migrate.h). */
#include "agent-migrate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "qemu-cmd.h"
#include "tools-mgr.h"

#define MIGRATE_OUT_MAX_S 3600

static int body_object(const struct dv_http_request *req, const char *const *allowed,
                       json_t **ret, struct dv_error *err)
{
        json_t *obj = NULL;
        int r;

        if (req->body_len == 0)
                obj = json_object();
        else if ((r = dv_json_parse_object(req->body, req->body_len, &obj, err)) < 0)
                return r;
        if (!obj)
                return -ENOMEM;
        r = dv_json_check_keys(obj, allowed, err);
        if (r < 0) {
                json_decref(obj);
                return r;
        }
        *ret = obj;
        return 0;
}

static void reply_error(struct dv_http_response *resp, int r, struct dv_error *err,
                        const char *id, const char *what)
{
        if (!err->status)
                dv_error_set(err, 500, "internal", "vm %s: %s: %s", id, what, strerror(-r));
        dv_warn("vm %s: %s: %s", id, what, err->message);
        dv_http_reply_dv_error(resp, err);
}

/* Where migrations to this host arrive: --migration-address, else the
 * IPv4 address of --listen (0.0.0.0 is no use to a peer). */
static int listen_addr(struct dv_agent *agent, char addr[INET_ADDRSTRLEN], struct dv_error *err)
{
        const char *l = agent->cfg.listen ? agent->cfg.listen : "";
        const char *colon = strrchr(l, ':');
        size_t n = colon ? (size_t)(colon - l) : strlen(l);

        if (agent->cfg.migration_address) {
                snprintf(addr, INET_ADDRSTRLEN, "%s", agent->cfg.migration_address);
                return 0;
        }
        if (n == 0 || n >= INET_ADDRSTRLEN)
                return dv_error_set(err, 409, "not-supported", "no migration address (--listen %s)", l);
        memcpy(addr, l, n);
        addr[n] = 0;
        if (strcmp(addr, "0.0.0.0") == 0)
                return dv_error_set(err, 409, "not-supported",
                                    "the agent listens on 0.0.0.0: give --listen a host address "
                                    "to receive migrations");
        return 0;
}

/* A port on addr nobody listens on now (QEMU binds it right after). */
static int free_port(const char *addr, int *ret_port)
{
        for (int p = DV_MIGRATE_PORT_BASE; p < DV_MIGRATE_PORT_BASE + DV_MIGRATE_PORT_COUNT; p++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

                if (fd < 0)
                        return -errno;
                inet_pton(AF_INET, addr, &sa.sin_addr);
                ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
                close(fd);
                if (ok) {
                        *ret_port = p;
                        return 0;
                }
        }
        return -EADDRINUSE;
}

static void api_migrate_in(struct dv_agent *agent, const char *id,
                           const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "spec", "listen_port", "nbd_disks", "channels", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_(freep) char *uri = NULL;
        char addr[INET_ADDRSTRLEN];
        struct dv_error err = {};
        json_t *spec, *nd, *v;
        int64_t port = 0, channels = 0;
        int nbd_port = 0, disks[DV_VM_MAX_DISKS];
        size_t n_nbd = 0, i;
        bool nbd;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_int(body, "listen_port", false, 1024, 65535, &port, &err);
        if (r == 0)
                r = dv_json_get_int(body, "channels", false, 1, 16, &channels, &err);
        nd = json_object_get(body, "nbd_disks");
        nbd = nd != NULL;
        if (r == 0 && nd && (!json_is_array(nd) || json_array_size(nd) == 0 ||
                             json_array_size(nd) > DV_VM_MAX_DISKS))
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'nbd_disks' must be an array of 1..%d disk indices",
                                 DV_VM_MAX_DISKS);
        json_array_foreach(r == 0 ? nd : NULL, i, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) >= DV_VM_MAX_DISKS) {
                        r = dv_error_set(&err, 400, "invalid-field",
                                         "nbd_disks[%zu] must be a disk index", i);
                        break;
                }
                disks[n_nbd++] = (int)json_integer_value(v);
        }
        if (r == 0 && nbd && !agent->ops->nbd_export)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot export disks");
        spec = json_object_get(body, "spec");
        if (r == 0 && !json_is_object(spec))
                r = dv_error_set(&err, 400, "missing-field", "field 'spec' (an object) is required");
        if (r == 0 && !dv_streq(json_string_value(json_object_get(spec, "id")), id))
                r = dv_error_set(&err, 400, "invalid-field", "spec.id differs from the VM in the path");
        if (r == 0)
                r = dv_agent_check_spec_disks(agent, spec, &err);
        if (r == 0)
                r = dv_tools_spec_check(spec, &err);
        if (r == 0)
                r = listen_addr(agent, addr, &err);
        if (r == 0 && port == 0) {
                int p = 0;

                r = free_port(addr, &p);
                if (r < 0)
                        dv_error_set(&err, 503, "busy", "no free migration port on %s", addr);
                port = p;
        }
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-in");
                return;
        }
        if (!agent->ops->migrate_in) {
                dv_http_reply_error(resp, 409, "not-supported", "the driver cannot migrate");
                return;
        }
        dv_info("vm %s: preparing an incoming migration on %s:%lld", id, addr, (long long)port);
        r = agent->ops->migrate_in(agent->hv, spec, addr, (int)port, (int)channels, &uri, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-in");
                return;
        }
        if (nbd) {
                /* The disks' NBD server: on the management address only,
                 * until migrate-finish or migrate-abort. */
                r = free_port(addr, &nbd_port);
                if (r < 0)
                        dv_error_set(&err, 503, "busy", "no free NBD port on %s", addr);
                else
                        r = agent->ops->nbd_export(agent->hv, id, addr, nbd_port, disks, n_nbd, &err);
                if (r < 0) {
                        struct dv_error ignored = {};

                        (void)agent->ops->migrate_abort(agent->hv, id, &ignored);
                        reply_error(resp, r, &err, id, "migrate-in (NBD export)");
                        return;
                }
                dv_info("vm %s: disks exported over NBD on %s:%d", id, addr, nbd_port);
                dv_http_reply(resp, 200, json_pack("{s:s,s:{s:s,s:i}}", "uri", uri, "nbd", "host",
                                                   addr, "port", nbd_port));
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:s}", "uri", uri));
}

static void api_migrate_out(struct dv_agent *agent, const char *id,
                            const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "uri", "timeout_s", "max_bandwidth", "channels", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *stats = NULL;
        const char *uri = NULL;
        struct dv_error err = {};
        int64_t timeout_s = 600, max_bandwidth = 0, channels = 0;
        int64_t t0 = dv_now_ms();
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "uri", true, &uri, &err);
        if (r == 0)
                r = dv_json_get_int(body, "timeout_s", false, 1, MIGRATE_OUT_MAX_S, &timeout_s, &err);
        if (r == 0)
                r = dv_json_get_int(body, "max_bandwidth", false, 0, INT64_C(1) << 40,
                                    &max_bandwidth, &err);
        if (r == 0)
                r = dv_json_get_int(body, "channels", false, 1, 16, &channels, &err);
        if (r == 0 && !agent->ops->migrate_out)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-out");
                return;
        }
        dv_info("vm %s: migrating to %s", id, uri);
        r = agent->ops->migrate_out(agent->hv, id, uri, (int)timeout_s, max_bandwidth,
                                    (int)channels, &stats, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-out");
                return;
        }
        dv_info("vm %s: migrated to %s in %lld ms (downtime %lld ms, %lld bytes)", id, uri,
                (long long)(dv_now_ms() - t0),
                (long long)json_integer_value(json_object_get(stats, "downtime_ms")),
                (long long)json_integer_value(json_object_get(stats, "transferred")));
        dv_http_reply(resp, 200, json_pack("{s:o}", "migration", stats ? stats : json_object()));
}

static void api_migrate_finish(struct dv_agent *agent, const char *id,
                               const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "spec", "timeout_s", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *status = NULL, *spec;
        struct dv_error err = {};
        int64_t timeout_s = 60;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_int(body, "timeout_s", false, 1, 3600, &timeout_s, &err);
        spec = json_object_get(body, "spec");
        if (r == 0 && spec)
                r = dv_tools_spec_check(spec, &err);
        if (r == 0 && !agent->ops->migrate_finish)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-finish");
                return;
        }
        r = agent->ops->migrate_finish(agent->hv, id, (int)timeout_s, &status, &err);
        if (r < 0 || !status) {
                reply_error(resp, r < 0 ? r : -EIO, &err, id, "migrate-finish");
                return;
        }
        dv_info("vm %s: incoming migration done, running (pid %lld)", id,
                (long long)json_integer_value(json_object_get(status, "pid")));
        /* A fresh Tools channel on this host, and the guest's clock set
         * (it stood still during the switchover) once the guest's
         * drover-tools says hello on it: the time sync job waits for that
         * (up to 15 s), this reply does not. It waited up to 5 s here,
         * which made every switchover wait for the hello (a busy guest
         * took longer, and then its clock was never set). */
        if (agent->tools && spec && dv_tools_mgr_vm_started(agent->tools, id, spec) >= 0) {
                json_t *one = json_pack("[O]", status);

                dv_tools_mgr_annotate(agent->tools, one);
                json_decref(one);
                dv_tools_mgr_time_sync(agent->tools, id);
        }
        dv_http_reply(resp, 200, json_pack("{s:o}", "vm", status));
}

static void api_migrate_abort(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        struct dv_error err = {};
        int r;

        r = agent->ops->migrate_abort ? agent->ops->migrate_abort(agent->hv, id, &err) : 0;
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-abort");
                return;
        }
        dv_info("vm %s: incoming migration aborted", id);
        dv_http_reply(resp, 200, json_pack("{s:b}", "aborted", 1));
}

/* Progress of an outgoing migration (while migrate-out runs). */
static void api_migrate_status(struct dv_agent *agent, const char *id,
                               const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        json_t *stats = NULL;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0 && !agent->ops->migrate_status)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r == 0)
                r = agent->ops->migrate_status(agent->hv, id, &stats, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:o}", "migration", stats));
}

/* An empty-bodied migration step on VM id: op (NULL: the driver cannot
 * migrate), then log done and reply {key: true}; what names it in errors. */
static void migrate_step(struct dv_agent *agent, const char *id, const struct dv_http_request *req,
                         struct dv_http_response *resp,
                         int (*op)(struct dv_hv *hv, const char *vm_id, struct dv_error *err),
                         const char *what, const char *done, const char *key)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0 && !op)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r == 0)
                r = op(agent->hv, id, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, what);
                return;
        }
        dv_info("vm %s: %s", id, done);
        dv_http_reply(resp, 200, json_pack("{s:b}", key, 1));
}

/* Cancel an outgoing migration: migrate-out resumes the guest and fails. */
static void api_migrate_cancel(struct dv_agent *agent, const char *id,
                               const struct dv_http_request *req, struct dv_http_response *resp)
{
        migrate_step(agent, id, req, resp, agent->ops->migrate_cancel, "migrate-cancel",
                     "outgoing migration cancelled", "cancelled");
}

/* Source side after completion: the target runs the guest, quit here. */
static void api_migrate_confirm(struct dv_agent *agent, const char *id,
                                const struct dv_http_request *req, struct dv_http_response *resp)
{
        migrate_step(agent, id, req, resp, agent->ops->migrate_confirm, "migrate-confirm",
                     "migration confirmed, the source QEMU is gone", "confirmed");
}

/* Source side: the target is gone, the guest runs here again. */
static void api_migrate_resume(struct dv_agent *agent, const char *id,
                               const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "force", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        bool force = false;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_bool(body, "force", false, &force, &err);
        if (r == 0 && !agent->ops->migrate_resume)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r == 0)
                r = agent->ops->migrate_resume(agent->hv, id, force, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-resume");
                return;
        }
        dv_info("vm %s: migration rolled back, the guest runs here", id);
        dv_http_reply(resp, 200, json_pack("{s:b}", "resumed", 1));
}

/* Either side: what runs here, for the manager's recovery. */
static void api_migrate_query(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        json_t *q = NULL;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0 && !agent->ops->migrate_query)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot migrate");
        if (r == 0)
                r = agent->ops->migrate_query(agent->hv, id, &q, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-query");
                return;
        }
        dv_http_reply(resp, 200, q);
}

/* ---- disk mirrors -------------------------------------------------------- */

#define MIRROR_FINISH_MAX_S 3600

static void api_disk_info(struct dv_agent *agent, const char *id,
                          const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        json_t *disks = NULL;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0 && !agent->ops->disk_info)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot mirror disks");
        if (r == 0)
                r = agent->ops->disk_info(agent->hv, id, &disks, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "disk-info");
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:o}", "disks", disks));
}

/* The copies made for a mirror-start that failed go again. */
static void delete_copies(struct dv_agent *agent, json_t *made)
{
        json_t *p;
        size_t i;

        json_array_foreach(made, i, p) {
                struct dv_error err = {};
                bool deleted;

                if (dv_disk_delete(&agent->ds, json_string_value(p), &deleted, &err) < 0)
                        dv_warn("deleting the copy %s: %s", json_string_value(p), err.message);
        }
}

/* {"uid"?, "disks":[{"disk", "datastore", "name"} | {"disk", "nbd":{"host","port","export"}}]}:
 * local copies are made here (DS/VM_ID/NAME.qcow2, the disk's exact
 * virtual size, owned by uid); NBD targets are another host's exports. */
static void api_mirror_start(struct dv_agent *agent, const char *id,
                             const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "uid", "disks", "speed", NULL };
        static const char *const dkeys[] = { "disk", "datastore", "name", "nbd", NULL };
        static const char *const nkeys[] = { "host", "port", "export", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL, *info = NULL, *made = json_array(),
                                      *out = json_array();
        struct dv_hv_mirror_target t[DV_VM_MAX_DISKS] = {};
        struct dv_error err = {};
        json_t *disks, *d;
        int64_t uid = 0, speed = 0;
        size_t i, n = 0;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_int(body, "uid", false, DV_VM_MIN_UID, DV_VM_MAX_UID, &uid, &err);
        if (r == 0)
                r = dv_json_get_int(body, "speed", false, 0, INT64_C(1) << 40, &speed, &err);
        disks = json_object_get(body, "disks");
        if (r == 0 && (!json_is_array(disks) || json_array_size(disks) == 0 ||
                       json_array_size(disks) > DV_VM_MAX_DISKS))
                r = dv_error_set(&err, 400, "invalid-field",
                                 "field 'disks' must be an array of 1..%d objects", DV_VM_MAX_DISKS);
        if (r == 0 && (!agent->ops->mirror_start || !agent->ops->disk_info))
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot mirror disks");
        if (r == 0)
                r = agent->ops->disk_info(agent->hv, id, &info, &err);
        json_array_foreach(r == 0 ? disks : NULL, i, d) {
                const char *ds = NULL, *name = NULL, *host = NULL, *exp = NULL;
                json_t *nbd = json_object_get(d, "nbd"), *x, *src = NULL;
                struct in_addr a;
                int64_t disk = -1, port = 0;
                size_t k;

                r = json_is_object(d) ? dv_json_check_keys(d, dkeys, &err)
                                      : dv_error_set(&err, 400, "invalid-field",
                                                     "disks[%zu] must be an object", i);
                if (r == 0)
                        r = dv_json_get_int(d, "disk", true, 0, DV_VM_MAX_DISKS - 1, &disk, &err);
                json_array_foreach(info, k, x)
                        if (json_integer_value(json_object_get(x, "disk")) == disk)
                                src = x;
                if (r == 0 && !src)
                        r = dv_error_set(&err, 400, "invalid-field",
                                         "disks[%zu]: the VM has no disk %lld", i, (long long)disk);
                if (r == 0 && nbd) {
                        r = json_is_object(nbd) ? dv_json_check_keys(nbd, nkeys, &err)
                                                : dv_error_set(&err, 400, "invalid-field",
                                                               "disks[%zu].nbd must be an object", i);
                        if (r == 0)
                                r = dv_json_get_string(nbd, "host", true, &host, &err);
                        if (r == 0 && inet_pton(AF_INET, host, &a) != 1)
                                r = dv_error_set(&err, 400, "invalid-field",
                                                 "disks[%zu].nbd.host must be an IPv4 address", i);
                        if (r == 0)
                                r = dv_json_get_int(nbd, "port", true, 1, 65535, &port, &err);
                        if (r == 0)
                                r = dv_json_get_name(nbd, "export", true, &exp, &err);
                        t[n] = (struct dv_hv_mirror_target){ .disk = (int)disk, .nbd_host = host,
                                                             .nbd_port = (int)port,
                                                             .nbd_export = exp };
                } else if (r == 0) {
                        _cleanup_(freep) char *path = NULL;

                        r = dv_json_get_name(d, "datastore", true, &ds, &err);
                        if (r == 0)
                                r = dv_json_get_name(d, "name", true, &name, &err);
                        if (r == 0 && uid == 0)
                                r = dv_error_set(&err, 400, "missing-field",
                                                 "field 'uid' is required for local copies");
                        if (r == 0)
                                r = dv_disk_create_bytes(
                                        &agent->ds, ds, id, name,
                                        json_integer_value(json_object_get(src, "virtual_size")),
                                        (uid_t)uid, &path, &err);
                        if (r == 0) {
                                json_array_append_new(made, json_string(path));
                                t[n] = (struct dv_hv_mirror_target){
                                        .disk = (int)disk,
                                        .path = json_string_value(json_array_get(
                                                made, json_array_size(made) - 1)),
                                };
                        }
                }
                if (r < 0)
                        break;
                t[n].speed = speed;
                json_array_append_new(out, json_pack("{s:I,s:s?,s:O,s:O}", "disk",
                                                     (json_int_t)disk, "path", t[n].path,
                                                     "virtual_size",
                                                     json_object_get(src, "virtual_size"),
                                                     "allocated",
                                                     json_object_get(src, "allocated")));
                n++;
        }
        if (r == 0) {
                dv_info("vm %s: mirroring %zu disk(s)", id, n);
                r = agent->ops->mirror_start(agent->hv, id, t, n, &err);
        }
        if (r < 0) {
                delete_copies(agent, made);
                reply_error(resp, r, &err, id, "mirror-start");
                return;
        }
        dv_http_reply(resp, 200, json_pack("{s:O}", "disks", out));
}

static void api_mirror_status(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        json_t *st = NULL;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0 && !agent->ops->mirror_status)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot mirror disks");
        if (r == 0)
                r = agent->ops->mirror_status(agent->hv, id, &st, &err);
        if (r < 0) {
                dv_http_reply_dv_error(resp, &err);
                return;
        }
        dv_http_reply(resp, 200, st);
}

/* {"mode": "pivot" | "sync" | "abort", "timeout_s"?: 60} */
static void api_mirror_finish(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "mode", "timeout_s", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct dv_error err = {};
        const char *mode = NULL;
        enum dv_mirror_end how = DV_MIRROR_ABORT;
        int64_t timeout_s = 60;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "mode", true, &mode, &err);
        if (r == 0)
                r = dv_json_get_int(body, "timeout_s", false, 1, MIRROR_FINISH_MAX_S, &timeout_s,
                                    &err);
        if (r == 0) {
                if (dv_streq(mode, "pivot"))
                        how = DV_MIRROR_PIVOT;
                else if (dv_streq(mode, "sync"))
                        how = DV_MIRROR_SYNC;
                else if (!dv_streq(mode, "abort"))
                        r = dv_error_set(&err, 400, "invalid-field",
                                         "field 'mode' must be pivot, sync or abort");
        }
        if (r == 0 && !agent->ops->mirror_finish)
                r = dv_error_set(&err, 409, "not-supported", "the driver cannot mirror disks");
        if (r == 0)
                r = agent->ops->mirror_finish(agent->hv, id, how, (int)timeout_s, &err);
        if (r < 0) {
                reply_error(resp, r, &err, id, "mirror-finish");
                return;
        }
        dv_info("vm %s: disk mirrors ended (%s)", id, mode);
        dv_http_reply(resp, 200, json_pack("{s:s}", "finished", mode));
}

/* The migration network's rate test (docs/migration.md, prechecks). The
 * target opens a one-shot sink (migrate-sink): one connection within
 * SINK_ACCEPT_MS, read and dropped up to SINK_MAX_BYTES or SINK_READ_MS,
 * then one byte back. The source (migrate-probe with sink_port) sends
 * PROBE_BYTES or for PROBE_SEND_MS, whichever ends first, and takes the
 * rate once that byte arrives: every byte crossed. */
#define SINK_ACCEPT_MS 5000
#define SINK_READ_MS 3000
#define SINK_MAX_BYTES (INT64_C(512) << 20)
#define PROBE_BYTES (INT64_C(256) << 20)
#define PROBE_SEND_MS 1000
#define PROBE_CHUNK (1 << 20)
#define MEASURE_CALC_S 1           /* calc-dirty-rate's calc-time */

static void *sink_thread(void *arg)
{
        int lfd = (int)(intptr_t)arg, fd;
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };
        struct timeval tv = { .tv_sec = SINK_READ_MS / 1000 };
        int64_t got = 0, deadline;
        _cleanup_(freep) char *buf = malloc(PROBE_CHUNK);

        if (!buf || poll(&pfd, 1, SINK_ACCEPT_MS) != 1 ||
            (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
                close(lfd);
                return NULL;
        }
        close(lfd);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        deadline = dv_now_ms() + SINK_READ_MS;
        while (got < SINK_MAX_BYTES && dv_now_ms() < deadline) {
                ssize_t n = recv(fd, buf, PROBE_CHUNK, 0);

                if (n <= 0)
                        break;
                got += n;
        }
        (void)send(fd, "k", 1, MSG_NOSIGNAL);
        close(fd);
        return NULL;
}

/* A socket listening on sa's address, on a port the kernel picks but none
 * of the migrations' own (a sink must not take one, and a firewall may
 * treat them apart); sa gets the port. The fd, or a negative errno. */
static int sink_listen(struct sockaddr_in *sa)
{
        for (int tries = 0;; tries++) {
                socklen_t len = sizeof(*sa);
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

                if (fd < 0)
                        return -errno;
                sa->sin_port = 0;
                if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0 &&
                    getsockname(fd, (struct sockaddr *)sa, &len) == 0) {
                        uint16_t port = ntohs(sa->sin_port);

                        if (tries < 16 && port >= DV_MIGRATE_PORT_BASE &&
                            port < DV_MIGRATE_PORT_BASE + DV_MIGRATE_PORT_COUNT) {
                                close(fd);
                                continue;
                        }
                        if (listen(fd, 1) == 0)
                                return fd;
                }
                r = -errno;
                close(fd);
                return r;
        }
}

/* {"address"}: a one-shot sink on that address of this host -> {"port"}. */
static void api_migrate_sink(struct dv_agent *agent, const char *id,
                             const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "address", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const char *address = NULL;
        struct dv_error err = {};
        pthread_t t;
        int r, fd;

        (void)agent;
        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "address", true, &address, &err);
        if (r == 0 && inet_pton(AF_INET, address, &sa.sin_addr) != 1)
                r = dv_error_set(&err, 400, "invalid-field", "address must be an IPv4 address");
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-sink");
                return;
        }
        fd = sink_listen(&sa);
        if (fd < 0) {
                dv_http_reply_error(resp, 409, "invalid-field", "no sink on %s: %s", address,
                                    strerror(-fd));
                return;
        }
        if (pthread_create(&t, NULL, sink_thread, (void *)(intptr_t)fd) != 0) {
                close(fd);
                dv_http_reply_error(resp, 500, "internal", "no thread for the sink");
                return;
        }
        pthread_detach(t);
        dv_http_reply(resp, 200, json_pack("{s:i}", "port", (int)ntohs(sa.sin_port)));
}

/* A connect error as the operator reads it (a connect that SO_SNDTIMEO
 * cut says "in progress"). */
static const char *connect_error(int e)
{
        return e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT ? "no answer within 3 s"
                                                                : strerror(e);
}

/* A TCP connect to sa within 3 s, closed at once: 0 or a negative errno. */
static int connect_probe(const struct sockaddr_in *sa)
{
        struct timeval tv = { .tv_sec = 3 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
        close(fd);
        return r;
}

/* Send to a sink (see above): bytes/s, or a negative errno
 * (*ret_connected: whether the connect itself succeeded). */
static int64_t probe_rate(const struct sockaddr_in *sink, int64_t *ret_bytes, int64_t *ret_ms,
                          bool *ret_connected)
{
        static const char zeros[PROBE_CHUNK];
        struct timeval tv = { .tv_sec = 3 };
        int64_t sent = 0, t0, end, ms;
        char k;
        int fd, r = 0;

        *ret_connected = false;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (const struct sockaddr *)sink, sizeof(*sink)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_connected = true;
        t0 = dv_now_ms();
        end = t0 + PROBE_SEND_MS;
        while (sent < PROBE_BYTES && dv_now_ms() < end) {
                ssize_t n = send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL);

                if (n <= 0) {
                        r = n < 0 ? -errno : -EPIPE;
                        break;
                }
                sent += n;
        }
        if (r == 0 && (shutdown(fd, SHUT_WR) < 0 || recv(fd, &k, 1, 0) != 1))
                r = -EPIPE;
        ms = dv_now_ms() - t0;
        close(fd);
        if (r < 0)
                return r;
        *ret_bytes = sent;
        *ret_ms = ms;
        return sent * 1000 / DV_MAX(ms, 1);
}

/* Can this host reach the target's migration address (a TCP connect to
 * port, a sink the target opened), how fast (rate: the connect of the
 * rate test is then the reachability test), and how fast does the guest
 * dirty its memory (measure)? */
static void api_migrate_probe(struct dv_agent *agent, const char *id,
                              const struct dv_http_request *req, struct dv_http_response *resp)
{
        static const char *const keys[] = { "address", "port", "rate", "measure", NULL };
        _cleanup_(json_decrefp) json_t *body = NULL, *out = NULL;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const char *address = NULL;
        struct dv_error err = {};
        int64_t port = 0, t0, rate = 0, bytes = 0, ms = 0;
        bool measure = false, rate_test = false, connected = false;
        int r;

        r = body_object(req, keys, &body, &err);
        if (r == 0)
                r = dv_json_get_string(body, "address", true, &address, &err);
        if (r == 0)
                r = dv_json_get_int(body, "port", true, 1, 65535, &port, &err);
        if (r == 0)
                r = dv_json_get_bool(body, "rate", false, &rate_test, &err);
        if (r == 0)
                r = dv_json_get_bool(body, "measure", false, &measure, &err);
        if (r == 0 && inet_pton(AF_INET, address, &sa.sin_addr) != 1)
                r = dv_error_set(&err, 400, "invalid-field", "address must be an IPv4 address");
        if (r < 0) {
                reply_error(resp, r, &err, id, "migrate-probe");
                return;
        }
        sa.sin_port = htons((uint16_t)port);
        t0 = dv_now_ms();
        if (rate_test) {
                rate = probe_rate(&sa, &bytes, &ms, &connected);
                r = connected ? 0 : (int)rate;
        } else {
                r = connect_probe(&sa);
        }
        if (r < 0) {
                dv_http_reply(resp, 200, json_pack("{s:b,s:s}", "reachable", 0, "error",
                                                   connect_error(-r)));
                return;
        }
        out = json_pack("{s:b,s:I}", "reachable", 1, "connect_ms", (json_int_t)(dv_now_ms() - t0));
        if (!out) {
                dv_http_reply_error(resp, 500, "internal", "out of memory");
                return;
        }
        if (rate_test && rate > 0) {
                json_object_set_new(out, "rate", json_integer(rate));
                json_object_set_new(out, "rate_bytes", json_integer(bytes));
                json_object_set_new(out, "rate_ms", json_integer(ms));
        } else if (rate_test) {
                json_object_set_new(out, "rate_error",
                                    json_string(strerror(rate < 0 ? (int)-rate : EIO)));
        }
        if (measure && agent->ops->migrate_measure) {
                int64_t dirty = -1;
                double nonzero = 0;

                if (agent->ops->migrate_measure(agent->hv, id, MEASURE_CALC_S, &dirty, &nonzero,
                                                &err) >= 0) {
                        if (dirty >= 0)
                                json_object_set_new(out, "dirty_rate", json_integer(dirty));
                        if (nonzero > 0)
                                json_object_set_new(out, "nonzero_ratio", json_real(nonzero));
                }
        }
        dv_http_reply(resp, 200, TAKE_PTR(out));
}

bool dv_agent_migrate_route(struct dv_agent *agent, const char *id, const char *action,
                            const struct dv_http_request *req, struct dv_http_response *resp)
{
        void (*fn)(struct dv_agent *, const char *, const struct dv_http_request *,
                   struct dv_http_response *);

        if (strcmp(action, "migrate-in") == 0)
                fn = api_migrate_in;
        else if (strcmp(action, "migrate-out") == 0)
                fn = api_migrate_out;
        else if (strcmp(action, "migrate-finish") == 0)
                fn = api_migrate_finish;
        else if (strcmp(action, "migrate-abort") == 0)
                fn = api_migrate_abort;
        else if (strcmp(action, "migrate-probe") == 0)
                fn = api_migrate_probe;
        else if (strcmp(action, "migrate-sink") == 0)
                fn = api_migrate_sink;
        else if (strcmp(action, "migrate-status") == 0)
                fn = api_migrate_status;
        else if (strcmp(action, "migrate-cancel") == 0)
                fn = api_migrate_cancel;
        else if (strcmp(action, "migrate-confirm") == 0)
                fn = api_migrate_confirm;
        else if (strcmp(action, "migrate-resume") == 0)
                fn = api_migrate_resume;
        else if (strcmp(action, "migrate-query") == 0)
                fn = api_migrate_query;
        else if (strcmp(action, "disk-info") == 0)
                fn = api_disk_info;
        else if (strcmp(action, "mirror-start") == 0)
                fn = api_mirror_start;
        else if (strcmp(action, "mirror-status") == 0)
                fn = api_mirror_status;
        else if (strcmp(action, "mirror-finish") == 0)
                fn = api_mirror_finish;
        else
                return false;
        if (strcmp(req->method, "POST") != 0)
                dv_http_reply_error(resp, 405, "method-not-allowed", "%s %s: use POST",
                                    req->method, req->path);
        else if (!dv_name_valid(id))
                dv_http_reply_error(resp, 400, "invalid-name", "'%.80s' is not a valid VM id", id);
        else
                fn(agent, id, req, resp);
        return true;
}
