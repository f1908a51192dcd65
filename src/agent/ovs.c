/* Open vSwitch through ovs-vsctl (see ovs.h). */
#include "ovs.h"

#include <ctype.h>
#include <stdarg.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "agent.h"
#include "qos.h"

#define MAX_ARGS 128

int dv_ovs_init(struct dv_ovs *ovs, const char *db, const char *datapath)
{
        *ovs = (struct dv_ovs){
                .db = dv_strdup(db ? db : DV_OVS_DEFAULT_DB),
                .datapath = dv_strdup(datapath ? datapath : "netdev"),
                .timeout_ms = DV_OVS_TIMEOUT_MS,
                .run = dv_ovs_run_vsctl,
        };
        pthread_mutex_init(&ovs->lock, NULL);
        return 0;
}

void dv_ovs_done(struct dv_ovs *ovs)
{
        free(ovs->db);
        free(ovs->datapath);
        pthread_mutex_destroy(&ovs->lock);
        *ovs = (struct dv_ovs){};
}

int dv_ovs_run_vsctl(void *userdata, const char *const *argv, int timeout_ms, char **ret_out,
                     struct dv_error *err)
{
        char msg[400];
        int r, status = 0;

        r = dv_spawn_output(argv, timeout_ms + 2000, DV_OVS_MAX_OUTPUT, ret_out, msg, sizeof(msg),
                            &status);
        if (r == -ETIMEDOUT)
                return dv_error_set(err, 504, "ovs-timeout",
                                    "ovs-vsctl did not finish within %d ms (is ovs-vswitchd "
                                    "running?)",
                                    timeout_ms + 2000);
        if (r < 0)
                return dv_error_set(err, 500, "ovs-error", "cannot run ovs-vsctl: %s",
                                    strerror(-r));
        if (status != 0) {
                if (ret_out) {
                        free(*ret_out);
                        *ret_out = NULL;
                }
                return dv_error_set(err, 500, "ovs-error", "%s",
                                    msg[0] ? msg : "ovs-vsctl failed without a message");
        }
        return 0;
}

/* ---- command lines ------------------------------------------------------ */

struct argv {
        const char *v[MAX_ARGS + 1]; /* borrowed strings, NULL-terminated */
        char *own[MAX_ARGS];         /* the ones we formatted */
        size_t n, n_own;
};

static void argv_done(struct argv *a)
{
        for (size_t i = 0; i < a->n_own; i++)
                free(a->own[i]);
        a->n = a->n_own = 0;
}

static void add(struct argv *a, const char *s)
{
        if (a->n < MAX_ARGS)
                a->v[a->n++] = s;
        a->v[a->n] = NULL;
}

_printf_(2, 3) static void addf(struct argv *a, const char *fmt, ...)
{
        va_list ap;
        char *s;

        if (a->n >= MAX_ARGS || a->n_own >= MAX_ARGS)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        a->own[a->n_own++] = s;
        add(a, s);
}

static void vsctl_start(struct dv_ovs *ovs, struct argv *a)
{
        add(a, "ovs-vsctl");
        addf(a, "--db=%s", ovs->db);
        addf(a, "--timeout=%d", DV_MAX(ovs->timeout_ms / 1000, 1));
}

/* Run; prefix the error with what was being done. */
_printf_(5, 6) static int run(struct dv_ovs *ovs, struct argv *a, char **ret_out,
                              struct dv_error *err, const char *what, ...)
{
        char ctx[200];
        va_list ap;
        int r;

        if (a->n >= MAX_ARGS)
                return dv_error_set(err, 500, "ovs-error", "too many ovs-vsctl arguments");
        r = ovs->run(ovs->run_userdata, a->v, ovs->timeout_ms, ret_out, err);
        if (r < 0 && err) {
                char msg[sizeof(ctx) + sizeof(err->message) + 2];
                size_t n;

                va_start(ap, what);
                vsnprintf(ctx, sizeof(ctx), what, ap);
                va_end(ap);
                snprintf(msg, sizeof(msg), "%s: %s", ctx, err->message);
                n = DV_MIN(strlen(msg), sizeof(err->message) - 1);
                memcpy(err->message, msg, n);
                err->message[n] = 0;
        }
        return r;
}

/* ---- reading the database ----------------------------------------------- */

static json_t *convert(json_t *v)
{
        const char *tag;
        json_t *x, *e;
        size_t i;

        if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)))
                return json_incref(v);
        tag = json_string_value(json_array_get(v, 0));
        x = json_array_get(v, 1);
        if (strcmp(tag, "uuid") == 0 || strcmp(tag, "named-uuid") == 0)
                return json_incref(x);
        if (strcmp(tag, "set") == 0 && json_is_array(x)) {
                json_t *arr = json_array();
                json_array_foreach(x, i, e)
                        json_array_append_new(arr, convert(e));
                return arr;
        }
        if (strcmp(tag, "map") == 0 && json_is_array(x)) {
                json_t *obj = json_object();
                json_array_foreach(x, i, e) {
                        json_t *k = json_array_get(e, 0);
                        if (json_is_string(k))
                                json_object_set_new(obj, json_string_value(k),
                                                    convert(json_array_get(e, 1)));
                }
                return obj;
        }
        return json_incref(v);
}

int dv_ovs_parse_list(const char *text, json_t **ret_rows, struct dv_error *err)
{
        json_t *doc, *data, *head, *row, *rows;
        size_t i, j;

        doc = json_loads(text ? text : "", 0, NULL);
        data = json_object_get(doc, "data");
        head = json_object_get(doc, "headings");
        if (!json_is_array(data) || !json_is_array(head)) {
                json_decref(doc);
                return dv_error_set(err, 500, "ovs-error",
                                    "cannot parse the output of ovs-vsctl --format=json");
        }
        rows = json_array();
        json_array_foreach(data, i, row) {
                json_t *o = json_object(), *h;

                json_array_foreach(head, j, h)
                        if (json_is_string(h) && j < json_array_size(row))
                                json_object_set_new(o, json_string_value(h),
                                                    convert(json_array_get(row, j)));
                json_array_append_new(rows, o);
        }
        json_decref(doc);
        *ret_rows = rows;
        return 0;
}

static int list_table(struct dv_ovs *ovs, const char *table, const char *columns,
                      json_t **ret_rows, struct dv_error *err)
{
        struct argv a = { 0 };
        _cleanup_(freep) char *out = NULL;
        int r;

        vsctl_start(ovs, &a);
        add(&a, "--format=json");
        addf(&a, "--columns=%s", columns);
        add(&a, "list");
        add(&a, table);
        r = run(ovs, &a, &out, err, "reading the OVS %s table", table);
        argv_done(&a);
        if (r < 0)
                return r;
        return dv_ovs_parse_list(out, ret_rows, err);
}

static const char *ext(json_t *row, const char *key)
{
        return json_string_value(json_object_get(json_object_get(row, "external_ids"), key));
}

static const char *name_of(json_t *row)
{
        return json_string_value(json_object_get(row, "name"));
}

static json_t *find_row(json_t *rows, const char *name)
{
        json_t *row;
        size_t i;

        json_array_foreach(rows, i, row)
                if (dv_streq(name_of(row), name))
                        return row;
        return NULL;
}

/* Does a set-valued column (an array, or a single atom) hold v? */
static bool set_has(json_t *set, const char *v)
{
        json_t *e;
        size_t i;

        if (json_is_string(set))
                return dv_streq(json_string_value(set), v);
        json_array_foreach(set, i, e)
                if (dv_streq(json_string_value(e), v))
                        return true;
        return false;
}

/* The bridge (row) a port (row) belongs to, or NULL. */
static json_t *bridge_of(json_t *bridges, json_t *port)
{
        const char *uuid = json_string_value(json_object_get(port, "_uuid"));
        json_t *b;
        size_t i;

        json_array_foreach(bridges, i, b)
                if (uuid && set_has(json_object_get(b, "ports"), uuid))
                        return b;
        return NULL;
}

struct snap {
        json_t *bridges; /* name, external_ids, ports */
        json_t *ports;   /* _uuid, name, external_ids, tag */
        json_t *ifaces;  /* name, external_ids */
};

static void snap_done(struct snap *s)
{
        json_decref(s->bridges);
        json_decref(s->ports);
        json_decref(s->ifaces);
        *s = (struct snap){};
}

static int snap_read(struct dv_ovs *ovs, bool with_ifaces, struct snap *s, struct dv_error *err)
{
        int r;

        *s = (struct snap){};
        r = list_table(ovs, "Bridge", "name,external_ids,ports", &s->bridges, err);
        if (r >= 0)
                r = list_table(ovs, "Port", "_uuid,name,external_ids,tag", &s->ports, err);
        if (r >= 0 && with_ifaces)
                r = list_table(ovs, "Interface", "name,external_ids", &s->ifaces, err);
        if (r < 0)
                snap_done(s);
        return r;
}

/* ---- bridges -------------------------------------------------------------- */

static int link_up(const char *ifname)
{
        _cleanup_(closep) int sock = -1;
        struct ifreq ifr = { 0 };

        sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        if (ifr.ifr_flags & IFF_UP)
                return 0;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

static int ensure_locked(struct dv_ovs *ovs, const char *dvs, const char *bridge,
                         const char *uplink, struct dv_error *err)
{
        struct snap s;
        struct argv a = { 0 };
        json_t *b, *p, *owner;
        size_t i;
        int r;

        if (if_nametoindex(uplink) == 0)
                return dv_error_set(err, 400, "invalid-uplink",
                                    "dvs '%s': uplink %s: no such network interface on this host",
                                    dvs, uplink);
        r = snap_read(ovs, false, &s, err);
        if (r < 0)
                return r;
        b = find_row(s.bridges, bridge);
        if (b && !dv_streq(ext(b, "drover-dvs"), dvs)) {
                r = dv_error_set(err, 409, "not-ours",
                                 "dvs '%s': a bridge %s exists that is not this dvs's (%s)", dvs,
                                 bridge, ext(b, "drover-dvs") ? ext(b, "drover-dvs") : "not drover's");
                goto out;
        }
        p = find_row(s.ports, uplink);
        owner = p ? bridge_of(s.bridges, p) : NULL;
        if (owner && !dv_streq(name_of(owner), bridge)) {
                const char *other = ext(owner, "drover-dvs");

                r = dv_error_set(err, 409, "in-use",
                                 "dvs '%s': uplink %s is already a port of bridge %s (%s%s%s)",
                                 dvs, uplink, name_of(owner), other ? "dvs '" : "not drover's",
                                 other ? other : "", other ? "'" : "");
                goto out;
        }

        vsctl_start(ovs, &a);
        add(&a, "--");
        add(&a, "--may-exist");
        add(&a, "add-br");
        add(&a, bridge);
        add(&a, "--");
        add(&a, "set");
        add(&a, "Bridge");
        add(&a, bridge);
        addf(&a, "datapath_type=%s", ovs->datapath);
        addf(&a, "external_ids:drover-dvs=\"%s\"", dvs);
        /* A former uplink of this bridge goes. */
        json_array_foreach(s.ports, i, p)
                if (dv_streq(ext(p, "drover-uplink"), bridge) && !dv_streq(name_of(p), uplink)) {
                        add(&a, "--");
                        add(&a, "--if-exists");
                        add(&a, "del-port");
                        add(&a, name_of(p));
                }
        add(&a, "--");
        add(&a, "--may-exist");
        add(&a, "add-port");
        add(&a, bridge);
        add(&a, uplink);
        add(&a, "--");
        add(&a, "set");
        add(&a, "Port");
        add(&a, uplink);
        add(&a, "vlan_mode=trunk");
        addf(&a, "external_ids:drover-uplink=\"%s\"", bridge);
        add(&a, "--");
        add(&a, "clear");
        add(&a, "Port");
        add(&a, uplink);
        add(&a, "tag");
        add(&a, "trunks");
        r = run(ovs, &a, NULL, err, "dvs '%s': bridge %s with uplink %s", dvs, bridge, uplink);
        argv_done(&a);
        if (r < 0)
                goto out;
        r = link_up(uplink);
        if (r < 0)
                r = dv_error_set(err, 500, "ovs-error", "dvs '%s': cannot bring uplink %s up: %s",
                                 dvs, uplink, strerror(-r));
out:
        snap_done(&s);
        return r;
}

int dv_ovs_bridge_ensure(struct dv_ovs *ovs, const char *dvs, const char *bridge,
                         const char *uplink, struct dv_error *err)
{
        int r;

        pthread_mutex_lock(&ovs->lock);
        r = ensure_locked(ovs, dvs, bridge, uplink, err);
        pthread_mutex_unlock(&ovs->lock);
        return r;
}

static int delete_locked(struct dv_ovs *ovs, json_t *bridges, const char *bridge,
                         bool *ret_deleted, struct dv_error *err)
{
        struct argv a = { 0 };
        json_t *b = find_row(bridges, bridge);
        int r;

        *ret_deleted = false;
        if (!b)
                return 0;
        if (!ext(b, "drover-dvs"))
                return dv_error_set(err, 409, "not-ours",
                                    "bridge %s was not made by drover; not deleting it", bridge);
        vsctl_start(ovs, &a);
        add(&a, "--if-exists");
        add(&a, "del-br");
        add(&a, bridge);
        r = run(ovs, &a, NULL, err, "deleting bridge %s", bridge);
        argv_done(&a);
        if (r >= 0)
                *ret_deleted = true;
        return r;
}

int dv_ovs_bridge_delete(struct dv_ovs *ovs, const char *bridge, bool *ret_deleted,
                         struct dv_error *err)
{
        json_t *bridges = NULL;
        int r;

        pthread_mutex_lock(&ovs->lock);
        r = list_table(ovs, "Bridge", "name,external_ids", &bridges, err);
        if (r >= 0)
                r = delete_locked(ovs, bridges, bridge, ret_deleted, err);
        pthread_mutex_unlock(&ovs->lock);
        json_decref(bridges);
        return r;
}

int dv_ovs_bridges(struct dv_ovs *ovs, json_t **ret, struct dv_error *err)
{
        json_t *bridges = NULL, *b, *out;
        size_t i;
        int r;

        pthread_mutex_lock(&ovs->lock);
        r = list_table(ovs, "Bridge", "name,external_ids", &bridges, err);
        pthread_mutex_unlock(&ovs->lock);
        if (r < 0)
                return r;
        out = json_object();
        json_array_foreach(bridges, i, b)
                if (ext(b, "drover-dvs") && name_of(b))
                        json_object_set_new(out, name_of(b), json_string(ext(b, "drover-dvs")));
        json_decref(bridges);
        *ret = out;
        return 0;
}

/* ---- VM ports ------------------------------------------------------------ */

int dv_ovs_port_plug(struct dv_ovs *ovs, const char *bridge, const char *port, int vlan,
                     const char *vm_id, const char *mac, struct dv_error *err)
{
        struct argv a = { 0 };
        int r;

        if (vlan < 0 || vlan > 4094)
                return dv_error_set(err, 400, "invalid-field", "port %s: vlan %d is not 0..4094",
                                    port, vlan);
        vsctl_start(ovs, &a);
        add(&a, "--");
        add(&a, "--if-exists");
        add(&a, "del-port");
        add(&a, port);
        add(&a, "--");
        add(&a, "add-port");
        add(&a, bridge);
        add(&a, port);
        add(&a, "--");
        add(&a, "set");
        add(&a, "Port");
        add(&a, port);
        add(&a, "vlan_mode=access");
        addf(&a, "tag=%d", vlan);
        add(&a, "--");
        add(&a, "set");
        add(&a, "Interface");
        add(&a, port);
        addf(&a, "external_ids:attached-mac=\"%s\"", mac ? mac : "");
        addf(&a, "external_ids:drover-vm=\"%s\"", vm_id ? vm_id : "");
        pthread_mutex_lock(&ovs->lock);
        r = run(ovs, &a, NULL, err, "plugging %s into bridge %s (vlan %d)", port, bridge, vlan);
        pthread_mutex_unlock(&ovs->lock);
        argv_done(&a);
        return r;
}

int dv_ovs_port_unplug(struct dv_ovs *ovs, const char *port, struct dv_error *err)
{
        struct argv a = { 0 };
        int r;

        vsctl_start(ovs, &a);
        add(&a, "--if-exists");
        add(&a, "del-port");
        add(&a, port);
        pthread_mutex_lock(&ovs->lock);
        r = run(ovs, &a, NULL, err, "unplugging %s", port);
        pthread_mutex_unlock(&ovs->lock);
        argv_done(&a);
        return r;
}

/* The VM ports (Interface rows marked drover-vm or attached-mac) whose MAC
 * is mac (case-insensitive). */
static json_t *ports_with_mac(json_t *ifaces, const char *mac)
{
        json_t *out = json_array(), *i_row;
        size_t i;

        json_array_foreach(ifaces, i, i_row) {
                const char *m = ext(i_row, "attached-mac");
                if (m && mac && strcasecmp(m, mac) == 0 && name_of(i_row))
                        json_array_append_new(out, json_string(name_of(i_row)));
        }
        return out;
}

static int64_t port_tag(json_t *port)
{
        json_t *t = json_object_get(port, "tag");

        return json_is_integer(t) ? json_integer_value(t) : -1;
}

/* One transaction setting the VLAN of every port in names. */
static int set_vlan(struct dv_ovs *ovs, json_t *names, int vlan, struct dv_error *err)
{
        struct argv a = { 0 };
        json_t *n;
        size_t i;
        int r;

        if (json_array_size(names) == 0)
                return 0;
        vsctl_start(ovs, &a);
        json_array_foreach(names, i, n) {
                add(&a, "--");
                add(&a, "set");
                add(&a, "Port");
                add(&a, json_string_value(n));
                add(&a, "vlan_mode=access");
                addf(&a, "tag=%d", vlan);
        }
        r = run(ovs, &a, NULL, err, "setting vlan %d", vlan);
        argv_done(&a);
        return r;
}

int dv_ovs_port_set_vlan(struct dv_ovs *ovs, const char *mac, const char *port, int vlan,
                         json_t **ret_ports, struct dv_error *err)
{
        json_t *rows = NULL, *names = NULL;
        int r;

        if (vlan < 0 || vlan > 4094)
                return dv_error_set(err, 400, "invalid-field", "vlan %d is not 0..4094", vlan);
        pthread_mutex_lock(&ovs->lock);
        if (mac) {
                r = list_table(ovs, "Interface", "name,external_ids", &rows, err);
                if (r >= 0)
                        names = ports_with_mac(rows, mac);
        } else {
                r = list_table(ovs, "Port", "name", &rows, err);
                names = json_array();
                if (r >= 0 && find_row(rows, port))
                        json_array_append_new(names, json_string(port));
        }
        if (r >= 0 && json_array_size(names) == 0)
                r = dv_error_set(err, 404, "not-found", "no port %s %s on this host",
                                 mac ? "with mac" : "named", mac ? mac : port);
        if (r >= 0)
                r = set_vlan(ovs, names, vlan, err);
        pthread_mutex_unlock(&ovs->lock);
        json_decref(rows);
        if (r < 0) {
                json_decref(names);
                return r;
        }
        *ret_ports = names;
        return 0;
}

/* ---- sync ------------------------------------------------------------------ */

static void sync_error(json_t *errors, const struct dv_error *err)
{
        json_array_append_new(errors, json_string(err->message));
}

int dv_ovs_sync(struct dv_ovs *ovs, json_t *dvs, json_t *ports, json_t **ret)
{
        json_t *ensured = json_array(), *deleted = json_array(), *errors = json_array();
        json_t *d, *p, *row;
        struct snap s = { 0 };
        struct dv_error err = { 0 };
        int64_t retagged = 0, removed = 0;
        size_t i;
        int r;

        pthread_mutex_lock(&ovs->lock);
        json_array_foreach(dvs, i, d) {
                const char *name = json_string_value(json_object_get(d, "name"));
                const char *bridge = json_string_value(json_object_get(d, "bridge"));
                const char *uplink = json_string_value(json_object_get(d, "uplink"));

                if (!name || !bridge || !uplink)
                        continue;
                if (ensure_locked(ovs, name, bridge, uplink, &err) < 0)
                        sync_error(errors, &err);
                else
                        json_array_append_new(ensured, json_string(bridge));
        }
        r = snap_read(ovs, true, &s, &err);
        if (r < 0) {
                sync_error(errors, &err);
                goto out;
        }
        /* Bridges of ours the manager no longer wants. */
        json_array_foreach(s.bridges, i, row) {
                const char *b = name_of(row);
                bool wanted = false, done;
                json_t *w;
                size_t j;

                if (!ext(row, "drover-dvs"))
                        continue;
                json_array_foreach(dvs, j, w)
                        wanted = wanted || dv_streq(json_string_value(json_object_get(w, "bridge")), b);
                if (wanted)
                        continue;
                if (delete_locked(ovs, s.bridges, b, &done, &err) < 0)
                        sync_error(errors, &err);
                else if (done)
                        json_array_append_new(deleted, json_string(b));
        }
        /* VM ports whose tap is gone (QEMU died while OVS was away). */
        json_array_foreach(s.ifaces, i, row) {
                const char *n = name_of(row);
                struct argv a = { 0 };

                if (!n || !ext(row, "drover-vm") || if_nametoindex(n) != 0)
                        continue;
                vsctl_start(ovs, &a);
                add(&a, "--if-exists");
                add(&a, "del-port");
                add(&a, n);
                if (run(ovs, &a, NULL, &err, "removing stale port %s", n) < 0)
                        sync_error(errors, &err);
                else
                        removed++;
                argv_done(&a);
        }
        /* VLANs of the VM ports. */
        json_array_foreach(ports, i, p) {
                const char *mac = json_string_value(json_object_get(p, "mac"));
                json_t *vlan = json_object_get(p, "vlan"), *names, *fix = json_array(), *n;
                size_t j;

                if (!mac || !json_is_integer(vlan)) {
                        json_decref(fix);
                        continue;
                }
                names = ports_with_mac(s.ifaces, mac);
                json_array_foreach(names, j, n) {
                        json_t *port = find_row(s.ports, json_string_value(n));
                        if (port && port_tag(port) != json_integer_value(vlan))
                                json_array_append(fix, n);
                }
                if (set_vlan(ovs, fix, (int)json_integer_value(vlan), &err) < 0)
                        sync_error(errors, &err);
                else
                        retagged += (int64_t)json_array_size(fix);
                json_decref(fix);
                json_decref(names);
        }
out:
        pthread_mutex_unlock(&ovs->lock);
        snap_done(&s);
        *ret = json_pack("{s:o,s:o,s:I,s:I,s:o}", "bridges", ensured, "deleted", deleted,
                         "retagged", (json_int_t)retagged, "removed_ports", (json_int_t)removed,
                         "errors", errors);
        return 0;
}

/* ---- traffic shaping (docs/qos.md "Network") ------------------------------ */

/* OpenFlow meters, which the userspace datapath (dpif-netdev) implements
 * (and the kernel datapath since Linux 4.15): tc-based QoS does not see
 * the packets OVS reads from a tap with AF_PACKET (ingress policing,
 * measured: no effect). Two tables: table 0 meters what a shaped VM
 * sends (in_port), then resubmits to table 1, which meters what goes to
 * a shaped VM (dl_dst) and does NORMAL switching (VLANs as before). The
 * meters of a port are 2 x ofport (ingress) and 2 x ofport + 1 (egress). */

#define SHAPE_COOKIE "0xd20e"

/* A port name or MAC safe inside an ovs-ofctl match: [A-Za-z0-9_.:-]. */
static bool token_ok(const char *s, size_t max)
{
        if (!s || !*s || strlen(s) > max)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("_.:-", *s))
                        return false;
        return true;
}

static int ofctl(struct dv_ovs *ovs, const char *bridge, const char *cmd, const char *arg,
                 const char *arg2, struct dv_error *err)
{
        struct argv a = { 0 };
        const char *db = ovs->db;
        const char *slash = strrchr(db, '/');
        int r;

        if (!dv_startswith(db, "unix:") || !slash)
                return dv_error_set(err, 409, "not-supported",
                                    "traffic shaping needs a local OVS (--ovs-db unix:PATH)");
        add(&a, "ovs-ofctl");
        add(&a, "-O");
        add(&a, "OpenFlow13");
        add(&a, cmd);
        /* The bridge's management socket lives next to the database's. */
        addf(&a, "unix:%.*s/%s.mgmt", (int)(slash - db - 5), db + 5, bridge);
        if (arg)
                add(&a, arg);
        if (arg2)
                add(&a, arg2);
        r = run(ovs, &a, NULL, err, "ovs-ofctl %s on %s", cmd, bridge);
        argv_done(&a);
        return r;
}

static int vsctl_get(struct dv_ovs *ovs, const char *what, const char *rec, const char *col,
                     char **ret, struct dv_error *err)
{
        struct argv a = { 0 };
        char *out = NULL;
        int r;

        vsctl_start(ovs, &a);
        if (dv_streq(what, "port-to-br")) {
                add(&a, "port-to-br");
                add(&a, rec);
        } else {
                add(&a, "get");
                add(&a, what);
                add(&a, rec);
                add(&a, col);
        }
        r = run(ovs, &a, &out, err, "reading %s %s", what, rec);
        argv_done(&a);
        if (r < 0)
                return r;
        out[strcspn(out, "\n")] = 0;
        *ret = out;
        return 0;
}

static int shape_one(struct dv_ovs *ovs, const char *bridge, const char *match, long meter,
                     const struct dv_shape *s, const char *table, const char *then,
                     struct dv_error *err)
{
        char spec[160], flow[320];
        int r;

        snprintf(flow, sizeof(flow), "table=%s,cookie=" SHAPE_COOKIE "/-1,%s", table, match);
        r = ofctl(ovs, bridge, "del-flows", flow, NULL, err);
        if (r >= 0) {
                snprintf(spec, sizeof(spec), "meter=%ld", meter);
                (void)ofctl(ovs, bridge, "del-meter", spec, NULL, NULL);
        }
        if (r < 0 || s->average_kbps <= 0)
                return r;
        snprintf(spec, sizeof(spec), "meter=%ld,kbps,burst,bands=type=drop,rate=%lld,burst_size=%lld",
                 meter, (long long)s->average_kbps, (long long)s->burst_kb * 8);
        r = ofctl(ovs, bridge, "add-meter", spec, NULL, err);
        if (r < 0)
                return r;
        snprintf(flow, sizeof(flow), "table=%s,priority=100,cookie=" SHAPE_COOKIE ",%s,actions=meter:%ld,%s",
                 table, match, meter, then);
        return ofctl(ovs, bridge, "add-flow", flow, NULL, err);
}

int dv_ovs_port_shape(struct dv_ovs *ovs, const char *port, const char *mac,
                      const struct dv_shaping *s, struct dv_error *err)
{
        _cleanup_(freep) char *bridge = NULL, *ofport = NULL;
        char match[64];
        long of;
        int r;

        if (!token_ok(port, 15) || !token_ok(mac, 17))
                return dv_error_set(err, 400, "invalid-field", "bad port or mac");
        pthread_mutex_lock(&ovs->lock);
        r = vsctl_get(ovs, "port-to-br", port, NULL, &bridge, err);
        if (r >= 0)
                r = vsctl_get(ovs, "Interface", port, "ofport", &ofport, err);
        if (r < 0)
                goto out;
        of = strtol(ofport, NULL, 10);
        if (of <= 0 || of > 60000) {
                r = dv_error_set(err, 409, "not-ready", "port %s has no OpenFlow port yet", port);
                goto out;
        }
        if (s->ingress.average_kbps > 0 || s->egress.average_kbps > 0) {
                struct argv a = { 0 };

                vsctl_start(ovs, &a);
                add(&a, "set");
                add(&a, "Bridge");
                add(&a, bridge);
                add(&a, "protocols=OpenFlow10,OpenFlow13");
                r = run(ovs, &a, NULL, err, "enabling OpenFlow 1.3 on %s", bridge);
                argv_done(&a);
                if (r >= 0)
                        r = ofctl(ovs, bridge, "add-flow",
                                  "table=0,priority=1,cookie=" SHAPE_COOKIE ",actions=resubmit(,1)",
                                  NULL, err);
                if (r >= 0)
                        r = ofctl(ovs, bridge, "add-flow",
                                  "table=1,priority=0,cookie=" SHAPE_COOKIE ",actions=NORMAL", NULL,
                                  err);
                if (r < 0)
                        goto out;
        }
        snprintf(match, sizeof(match), "in_port=%s", port);
        r = shape_one(ovs, bridge, match, of * 2, &s->ingress, "0", "resubmit(,1)", err);
        if (r >= 0) {
                snprintf(match, sizeof(match), "dl_dst=%s", mac);
                r = shape_one(ovs, bridge, match, of * 2 + 1, &s->egress, "1", "NORMAL", err);
        }
out:
        pthread_mutex_unlock(&ovs->lock);
        return r;
}
