/* HA on the agent (see agent-ha.h). */
#include "agent-ha.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "ha.h"
#include "lease.h"
#include "log.h"

#define TICK_MS 500            /* the HA thread's period */
#define RENEW_EVERY_MS 1000    /* lease renewals */
#define KILL_MARGIN_MS 1500    /* an unrenewed lease: its VM is killed this long before expiry */
#define MGR_LOST_MS 2000       /* no heartbeat accepted for this long: manager unreachable */
#define PING_TIMEOUT_MS 1000   /* one echo request to the isolation address */
#define PET_EVERY_MS 1000      /* BMC watchdog */
#define IPMITOOL_TIMEOUT_MS 3000
#define LOG_EVERY_MS 30000

struct dv_agent_ha {
        struct dv_agent *agent;        /* borrowed */
        pthread_t thread;              /* isolation + leases */
        pthread_t wdog;                /* BMC watchdog petting */
        bool have_wdog;                /* wdog was started */
        char gw[INET_ADDRSTRLEN];      /* the isolation address, "" none */

        pthread_mutex_t lock;          /* guards the members below */
        pthread_cond_t cond;           /* signalled by stop */
        bool stop;                     /* time to go */
        bool known;                    /* a heartbeat reply brought settings */
        struct dv_ha_settings settings;/* the cluster's HA settings (defaults until known) */
        json_t *ha_vms;                /* id -> lease datastore name (or null): HA VMs placed here */
        int64_t mgr_ok_ms;             /* last accepted heartbeat (monotonic), -1 never */
        int64_t alive_ms;              /* the HA thread made progress then, or may block
                                        * until then (monotonic) */
        json_t *leases;                /* id -> {"path","generation","expiry","starting"} */

        /* HA thread only */
        bool applied;                  /* the isolation response ran in this isolation */
        bool isolated_logged;          /* "isolated" was logged in this isolation */
        bool gw_warned;                /* "no isolation address" was logged */
        int64_t renewed_ms;            /* last renewal round */
        int64_t renew_logged_ms;       /* last renewal failure logged */
};

/* ---- ICMP echo ------------------------------------------------------------- */

static uint16_t icmp_sum(const void *data, size_t len)
{
        const uint8_t *p = data;
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < len; i += 2)
                sum += (uint32_t)(p[i] << 8 | p[i + 1]);
        if (len & 1)
                sum += (uint32_t)p[len - 1] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return htons((uint16_t)~sum);
}

/* One echo request to addr (a raw socket: the agent runs as root). */
static bool ping_once(const char *addr, int timeout_ms)
{
        static uint16_t seq;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        struct icmphdr req = { .type = ICMP_ECHO };
        _cleanup_(closep) int fd = -1;
        int64_t deadline = dv_now_ms() + timeout_ms;
        uint16_t id = (uint16_t)(getpid() & 0xffff), s = ++seq;

        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return false;
        fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
        if (fd < 0)
                return false;
        req.un.echo.id = htons(id);
        req.un.echo.sequence = htons(s);
        req.checksum = icmp_sum(&req, sizeof(req));
        if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return false;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - dv_now_ms();
                uint8_t buf[1500];
                struct sockaddr_in from;
                socklen_t fl = sizeof(from);
                const struct iphdr *ip = (const void *)buf;
                const struct icmphdr *rep;
                ssize_t n;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        return false;
                n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
                if (n < (ssize_t)sizeof(*ip) || n < (ssize_t)(ip->ihl * 4 + sizeof(*rep)))
                        continue;
                rep = (const void *)(buf + ip->ihl * 4);
                if (from.sin_addr.s_addr == sa.sin_addr.s_addr && rep->type == ICMP_ECHOREPLY &&
                    ntohs(rep->un.echo.id) == id && ntohs(rep->un.echo.sequence) == s)
                        return true;
        }
}

/* The gateway of the default route (/proc/net/route), "" if none. */
static void default_gateway(char out[INET_ADDRSTRLEN])
{
        _cleanup_(freep) char *text = NULL;
        size_t len = 0;
        char *line, *save = NULL;

        out[0] = 0;
        if (dv_read_file("/proc/net/route", 1 << 20, &text, &len) < 0)
                return;
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char ifname[64];
                unsigned dst, gw, flags;
                struct in_addr in;

                if (sscanf(line, "%63s %x %x %x", ifname, &dst, &gw, &flags) == 4 && dst == 0 &&
                    gw != 0 && (flags & 0x2)) {
                        in.s_addr = gw; /* already in network order */
                        inet_ntop(AF_INET, &in, out, INET_ADDRSTRLEN);
                        return;
                }
        }
}

/* ---- leases ------------------------------------------------------------------ */

static void lease_forget(struct dv_agent_ha *h, const char *id)
{
        pthread_mutex_lock(&h->lock);
        json_object_del(h->leases, id);
        pthread_mutex_unlock(&h->lock);
}

/* Release a lease we hold (holder "", generation + 1), and forget it. */
static void lease_release(struct dv_agent_ha *h, const char *id, const char *path)
{
        struct dv_lease l;
        int r;

        r = dv_lease_read(path, &l);
        if (r >= 0 && dv_streq(l.holder, h->agent->cfg.name)) {
                l.holder[0] = 0;
                l.generation++;
                l.renewed_wall_ms = l.expiry_wall_ms = dv_wall_ms();
                r = dv_lease_write(path, id, &l);
                if (r < 0)
                        dv_warn_errno(r, "vm %s: cannot release its lease %s: %m", id, path);
                else
                        dv_info("vm %s: lease released (generation %llu)", id,
                                (unsigned long long)l.generation);
        }
        lease_forget(h, id);
}

/* Kill id's QEMU; its exit is reported with reason (static), which tells
 * the manager why it stopped (docs/ha.md). */
static void kill_vm(struct dv_agent_ha *h, const char *id, const char *reason, const char *why)
{
        struct dv_error err = {};
        const char *path = NULL;
        int r;

        dv_warn("vm %s: %s: killing its QEMU (%s)", id, why, reason);
        r = h->agent->ops->stop(h->agent->hv, id, true, 0, reason, &path, &err);
        if (r < 0)
                dv_err("vm %s: kill failed: %s", id, err.message[0] ? err.message : strerror(-r));
}

/* Take (or keep) the lease at path for id. 0, -EBUSY (held elsewhere,
 * *ret_cur says by whom), or the I/O error. */
static int lease_take(struct dv_agent_ha *h, const char *id, const char *path, int64_t timeout_ms,
                      bool starting, struct dv_lease *ret_cur)
{
        const char *me = h->agent->cfg.name;
        struct dv_lease l = { 0 };
        int64_t now = dv_wall_ms();
        int r;

        r = dv_lease_read(path, &l);
        if (r == -ENOENT || r == -EBADMSG) /* none yet, or a torn file of a crashed writer */
                l = (struct dv_lease){ 0 };
        else if (r < 0)
                return r;
        *ret_cur = l;
        if (!dv_lease_takeable(&l, me, now))
                return -EBUSY;
        if (!dv_streq(l.holder, me))
                l.generation++;
        snprintf(l.holder, sizeof(l.holder), "%s", me);
        l.renewed_wall_ms = now;
        l.expiry_wall_ms = now + timeout_ms;
        r = dv_lease_write(path, id, &l);
        if (r < 0)
                return r;
        pthread_mutex_lock(&h->lock);
        json_object_set_new(h->leases, id,
                            json_pack("{s:s,s:I,s:I,s:b}", "path", path, "generation",
                                      (json_int_t)l.generation, "expiry",
                                      (json_int_t)l.expiry_wall_ms, "starting", starting));
        pthread_mutex_unlock(&h->lock);
        return 0;
}

int dv_agent_ha_lease_take(struct dv_agent_ha *h, const char *vm_id, json_t *lease,
                           struct dv_error *err)
{
        const char *dsname = json_string_value(json_object_get(lease, "datastore"));
        const struct dv_datastore *ds;
        _cleanup_(freep) char *path = NULL;
        struct dv_lease cur;
        int64_t timeout;
        int r;

        if (!h || !lease || json_is_null(lease))
                return 0;
        if (!json_is_object(lease) || !dsname)
                return dv_error_set(err, 400, "invalid-field",
                                    "field 'lease' must be an object with a 'datastore'");
        ds = dv_datastores_find(&h->agent->ds, dsname);
        if (!ds)
                return dv_error_set(err, 400, "invalid-field",
                                    "lease: datastore '%s' is not one of this host's", dsname);
        path = dv_lease_path(ds->path, vm_id);
        pthread_mutex_lock(&h->lock);
        timeout = h->settings.lease_timeout_ms;
        pthread_mutex_unlock(&h->lock);
        r = lease_take(h, vm_id, path, timeout, true, &cur);
        if (r == -EBUSY)
                return dv_error_set(err, 409, "lease-held",
                                    "vm %s: its lease on %s is held by host %s for another %lld ms",
                                    vm_id, dsname, cur.holder,
                                    (long long)(cur.expiry_wall_ms - dv_wall_ms()));
        if (r < 0)
                return dv_error_set(err, 503, "lease-unavailable",
                                    "vm %s: cannot take its lease %s: %s", vm_id, path,
                                    strerror(-r));
        dv_info("vm %s: lease taken on %s (generation %llu)", vm_id, dsname,
                (unsigned long long)json_integer_value(json_object_get(
                        json_object_get(h->leases, vm_id), "generation")));
        return 0;
}

void dv_agent_ha_lease_started(struct dv_agent_ha *h, const char *vm_id, bool started)
{
        json_t *e;
        _cleanup_(freep) char *path = NULL;

        if (!h)
                return;
        pthread_mutex_lock(&h->lock);
        e = json_object_get(h->leases, vm_id);
        if (e && started)
                json_object_set_new(e, "starting", json_false());
        if (e && !started)
                path = dv_strdup(json_string_value(json_object_get(e, "path")));
        pthread_mutex_unlock(&h->lock);
        if (path)
                lease_release(h, vm_id, path);
}

/* Renew every lease of a VM running here; kill the VMs whose lease is
 * lost (taken by another host; or not renewable before expiry, HA on). */
static void renew_all(struct dv_agent_ha *h, json_t *running, int64_t timeout_ms, bool enabled)
{
        const char *me = h->agent->cfg.name, *id;
        _cleanup_(json_decrefp) json_t *leases = NULL;
        json_t *e;
        int64_t now_mono = dv_now_ms();

        pthread_mutex_lock(&h->lock);
        leases = json_deep_copy(h->leases);
        pthread_mutex_unlock(&h->lock);
        json_object_foreach(leases, id, e) {
                const char *path = json_string_value(json_object_get(e, "path"));
                int64_t expiry = json_integer_value(json_object_get(e, "expiry"));
                struct dv_lease cur = { 0 };
                int64_t wall;
                int r;

                if (json_is_true(json_object_get(e, "starting")))
                        continue;
                if (!json_object_get(running, id)) {
                        lease_release(h, id, path); /* stopped here */
                        continue;
                }
                r = dv_lease_read(path, &cur);
                if (r >= 0 && cur.holder[0] && !dv_streq(cur.holder, me)) {
                        _cleanup_(freep) char *why = dv_asprintf(
                                "its lease was taken by host %s (generation %llu)", cur.holder,
                                (unsigned long long)cur.generation);
                        kill_vm(h, id, DV_HA_STOP_REASON_LEASE_TAKEN, why);
                        lease_forget(h, id);
                        continue;
                }
                wall = dv_wall_ms();
                if (r >= 0 || r == -ENOENT || r == -EBADMSG) {
                        struct dv_lease l = {
                                .generation = r >= 0 ? cur.generation
                                                     : (uint64_t)json_integer_value(
                                                               json_object_get(e, "generation")),
                                .renewed_wall_ms = wall,
                                .expiry_wall_ms = wall + timeout_ms,
                        };

                        if (r >= 0 && !cur.holder[0])
                                l.generation++; /* released meanwhile: ours again */
                        snprintf(l.holder, sizeof(l.holder), "%s", me);
                        r = dv_lease_write(path, id, &l);
                        if (r >= 0) {
                                pthread_mutex_lock(&h->lock);
                                e = json_object_get(h->leases, id);
                                if (e)
                                        json_object_set_new(e, "expiry",
                                                            json_integer(l.expiry_wall_ms));
                                pthread_mutex_unlock(&h->lock);
                                continue;
                        }
                }
                /* HA off: nothing would restart it elsewhere; keep it. */
                if (enabled && wall >= expiry - KILL_MARGIN_MS) {
                        _cleanup_(freep) char *why = dv_asprintf(
                                "cannot renew its lease %s (%s) and it expires in %lld ms", path,
                                strerror(-r), (long long)(expiry - wall));
                        kill_vm(h, id, DV_HA_STOP_REASON_LEASE_LOST, why);
                        lease_forget(h, id);
                } else if (now_mono - h->renew_logged_ms >= LOG_EVERY_MS) {
                        dv_warn("vm %s: cannot renew its lease %s: %s (expires in %lld ms)", id,
                                path, strerror(-r), (long long)(expiry - wall));
                        h->renew_logged_ms = now_mono;
                }
        }
}

/* Running HA VMs without a lease here take theirs when it is free. */
static void adopt_leases(struct dv_agent_ha *h, json_t *ha_vms, json_t *running, json_t *leases,
                         int64_t timeout_ms)
{
        const char *id;
        json_t *dsname;

        json_object_foreach(ha_vms, id, dsname) {
                const struct dv_datastore *ds;
                _cleanup_(freep) char *path = NULL;
                struct dv_lease cur;
                int r;

                if (!json_is_string(dsname) || !json_object_get(running, id) ||
                    json_object_get(leases, id))
                        continue;
                ds = dv_datastores_find(&h->agent->ds, json_string_value(dsname));
                if (!ds)
                        continue;
                path = dv_lease_path(ds->path, id);
                r = lease_take(h, id, path, timeout_ms, false, &cur);
                if (r >= 0)
                        dv_info("vm %s: runs here without its lease: taken", id);
                else if (r != -EBUSY)
                        dv_debug("vm %s: cannot take its lease: %s", id, strerror(-r));
        }
}

/* ---- isolation -------------------------------------------------------------- */

/* The HA thread is alive now, and may block for up to busy_ms more (a
 * bounded VM stop): the watchdog keeps being petted meanwhile. */
static void set_alive_for(struct dv_agent_ha *h, int64_t busy_ms)
{
        pthread_mutex_lock(&h->lock);
        h->alive_ms = dv_now_ms() + busy_ms;
        pthread_mutex_unlock(&h->lock);
}

static void set_alive(struct dv_agent_ha *h)
{
        set_alive_for(h, 0);
}

static void apply_isolation(struct dv_agent_ha *h, enum dv_ha_isolation_action action,
                            const struct dv_ha_settings *s, json_t *ha_vms, json_t *running,
                            json_t *leases)
{
        bool force = action == DV_HA_ISOLATION_ACTION_POWER_OFF;
        /* A shutdown must end before the lease (last renewed up to 1 s ago)
         * could expire: the guest gets lease timeout - 2.5 s, then it is killed. */
        int timeout_s = (int)DV_MAX((s->lease_timeout_ms - 2500) / 1000, 1);
        _cleanup_(json_decrefp) json_t *ids = json_object();
        const char *id;
        json_t *v;

        json_object_update(ids, ha_vms);
        json_object_update(ids, leases);
        json_object_foreach(ids, id, v) {
                struct dv_error err = {};
                const char *path = NULL;
                json_t *e;
                int r;

                if (!json_object_get(running, id))
                        continue;
                dv_warn("vm %s: host isolated (isolation response %s): %s it", id,
                        dv_ha_isolation_to_string(s->isolation),
                        force ? "killing" : "shutting down");
                set_alive_for(h, (int64_t)timeout_s * 1000 + 2000);
                r = h->agent->ops->stop(h->agent->hv, id, force, timeout_s,
                                        force ? DV_HA_STOP_REASON_ISOLATION_POWER_OFF
                                              : DV_HA_STOP_REASON_ISOLATION_SHUTDOWN,
                                        &path, &err);
                set_alive(h);
                if (r < 0) {
                        dv_err("vm %s: stop failed: %s", id,
                               err.message[0] ? err.message : strerror(-r));
                        continue; /* its lease stays: it is renewed, or it expires */
                }
                e = json_object_get(leases, id);
                if (e)
                        lease_release(h, id, json_string_value(json_object_get(e, "path")));
        }
}

/* ---- the HA thread -------------------------------------------------------------- */

static void tick(struct dv_agent_ha *h)
{
        _cleanup_(json_decrefp) json_t *ha_vms = NULL, *leases = NULL, *listed = NULL;
        _cleanup_(json_decrefp) json_t *running = json_object();
        struct dv_ha_settings s;
        bool known;
        int64_t mgr_ok_ms, now = dv_now_ms();
        enum dv_ha_isolation_action action = DV_HA_ISOLATION_ACTION_NONE;
        size_t i;
        json_t *st;

        pthread_mutex_lock(&h->lock);
        s = h->settings;
        known = h->known;
        mgr_ok_ms = h->mgr_ok_ms;
        ha_vms = json_deep_copy(h->ha_vms);
        leases = json_deep_copy(h->leases);
        pthread_mutex_unlock(&h->lock);
        /* Through the snapshot: a VM's final "stopped" report stays for
         * the heartbeat (the driver's list() gives it only once). */
        if (dv_agent_vms_snapshot(h->agent, &listed) < 0)
                return; /* nothing known: decide nothing */
        json_array_foreach(listed, i, st)
                if (!dv_streq(json_string_value(json_object_get(st, "state")), "stopped") &&
                    json_string_value(json_object_get(st, "id")))
                        json_object_set_new(running, json_string_value(json_object_get(st, "id")),
                                            json_true());

        if (known) {
                bool mgr_ok = mgr_ok_ms >= 0 && now - mgr_ok_ms <= MGR_LOST_MS;
                bool gw_ok = true;

                if (!mgr_ok && h->gw[0]) {
                        gw_ok = ping_once(h->gw, PING_TIMEOUT_MS);
                } else if (!mgr_ok && !h->gw_warned) {
                        dv_warn("manager unreachable and no isolation address: this host "
                                "never considers itself isolated");
                        h->gw_warned = true;
                }
                action = dv_ha_isolation_decide(&s, mgr_ok, gw_ok, mgr_ok_ms, dv_now_ms());
                if (action == DV_HA_ISOLATION_ACTION_NONE && h->isolated_logged)
                        dv_info("isolation over (%s answers)", mgr_ok ? "the manager" : h->gw);
                if (action == DV_HA_ISOLATION_ACTION_NONE)
                        h->applied = h->isolated_logged = false;
        }
        if (action >= DV_HA_ISOLATION_ACTION_LEAVE_RUNNING && !h->isolated_logged) {
                dv_warn("host isolated: the manager and %s do not answer; isolation response %s",
                        h->gw, dv_ha_isolation_to_string(s.isolation));
                h->isolated_logged = true;
        }
        if ((action == DV_HA_ISOLATION_ACTION_SHUTDOWN ||
             action == DV_HA_ISOLATION_ACTION_POWER_OFF) && !h->applied) {
                apply_isolation(h, action, &s, ha_vms, running, leases);
                h->applied = true;
                return; /* the next tick renews what is left */
        }
        if (dv_now_ms() - h->renewed_ms >= RENEW_EVERY_MS) {
                h->renewed_ms = dv_now_ms();
                renew_all(h, running, s.lease_timeout_ms, s.enabled);
                /* Never take a lease back while the isolation response holds. */
                if (!h->applied)
                        adopt_leases(h, ha_vms, running, leases, s.lease_timeout_ms);
        }
}

static bool wait_stop(struct dv_agent_ha *h, int64_t ms)
{
        int64_t deadline = dv_now_ms() + ms;
        bool stop;

        pthread_mutex_lock(&h->lock);
        while (!h->stop) {
                int64_t left = deadline - dv_now_ms();
                struct timespec ts;

                if (left <= 0)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += left / 1000;
                ts.tv_nsec += (left % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        stop = h->stop;
        pthread_mutex_unlock(&h->lock);
        return stop;
}

static void *ha_main(void *arg)
{
        struct dv_agent_ha *h = arg;

        while (!wait_stop(h, TICK_MS)) {
                tick(h);
                set_alive(h);
        }
        return NULL;
}

/* ---- the BMC watchdog ------------------------------------------------------------ */

/* ipmitool ... raw NETFN CMD DATA... against our BMC. 0 or -EIO. */
static int ipmi_raw(struct dv_agent_ha *h, const char *const *bytes, char *err, size_t err_len)
{
        const struct dv_agent_config *c = &h->agent->cfg;
        char port[8];
        const char *argv[32] = { "ipmitool", "-I", "lanplus", "-C", "3", "-H", c->watchdog_bmc,
                                 "-p", port, "-U", c->watchdog_user, "-f",
                                 c->watchdog_password_file, "-N", "1", "-R", "1", "raw" };
        size_t n = 18;
        int r, status = 0;

        snprintf(port, sizeof(port), "%u", (unsigned)c->watchdog_port);
        for (; *bytes && n < 31; bytes++)
                argv[n++] = *bytes;
        argv[n] = NULL;
        r = dv_spawn_capture(argv, IPMITOOL_TIMEOUT_MS, err, err_len, &status);
        if (r < 0)
                return r;
        return status == 0 ? 0 : -EIO;
}

/* Set Watchdog Timer (netfn 0x06, cmd 0x24): use SMS/OS (4), "don't
 * stop" when arming, action hard reset with a 1 s pre-timeout message
 * interrupt (arm) or none (disarm), clear the SMS/OS expiration flag, the
 * countdown in 100 ms units. The pre-timeout is there for ipmi_sim
 * (OpenIPMI 2.0): its Reset Watchdog Timer does not move a timer that is
 * already running, but its pre-timeout step re-reads the expiry that each
 * reset moves, so the reset comes one timeout after the last pet, as on a
 * real BMC (checked in the lab; harmless there). */
static int wdog_set(struct dv_agent_ha *h, bool arm, char *err, size_t err_len)
{
        unsigned ticks = (unsigned)(h->agent->cfg.watchdog_timeout_ms / 100);
        char lsb[8], msb[8];
        const char *bytes[] = { "0x06", "0x24", arm ? "0x44" : "0x04", arm ? "0x31" : "0x00",
                                arm ? "0x01" : "0x00", "0x10", lsb, msb, NULL };

        snprintf(lsb, sizeof(lsb), "0x%02x", ticks & 0xff);
        snprintf(msb, sizeof(msb), "0x%02x", (ticks >> 8) & 0xff);
        return ipmi_raw(h, bytes, err, err_len);
}

static int wdog_pet(struct dv_agent_ha *h, char *err, size_t err_len)
{
        const char *bytes[] = { "0x06", "0x22", NULL }; /* Reset Watchdog Timer */

        return ipmi_raw(h, bytes, err, err_len);
}

static void *wdog_main(void *arg)
{
        struct dv_agent_ha *h = arg;
        int64_t stall = DV_MAX(h->agent->cfg.watchdog_timeout_ms - PET_EVERY_MS, PET_EVERY_MS);
        int64_t logged = -LOG_EVERY_MS;
        bool armed = false, failing = false;

        do {
                char err[256] = "";
                int64_t alive;
                int r = 0;

                pthread_mutex_lock(&h->lock);
                alive = h->alive_ms;
                pthread_mutex_unlock(&h->lock);
                /* A stuck HA thread renews no lease: let the BMC reset us. */
                if (dv_now_ms() - alive > stall)
                        continue;
                if (!armed)
                        r = wdog_set(h, true, err, sizeof(err));
                if (r >= 0)
                        r = wdog_pet(h, err, sizeof(err));
                if (r >= 0 && !armed)
                        dv_info("BMC watchdog armed: %s:%u resets this host %lld ms after the "
                                "last pet",
                                h->agent->cfg.watchdog_bmc, (unsigned)h->agent->cfg.watchdog_port,
                                (long long)h->agent->cfg.watchdog_timeout_ms);
                if (r >= 0 && failing)
                        dv_info("BMC watchdog: petting works again");
                armed = r >= 0; /* after a failure, arm again (a restarted BMC forgets) */
                if (r < 0 && dv_now_ms() - logged >= LOG_EVERY_MS) {
                        dv_warn("BMC watchdog: ipmitool failed: %s", err[0] ? err : strerror(-r));
                        logged = dv_now_ms();
                }
                failing = r < 0;
        } while (!wait_stop(h, PET_EVERY_MS));
        if (armed) {
                char err[256] = "";

                if (wdog_set(h, false, err, sizeof(err)) < 0)
                        dv_warn("BMC watchdog: cannot disarm it: %s", err);
                else
                        dv_info("BMC watchdog disarmed");
        }
        return NULL;
}

/* ---- life cycle and the heartbeat's input ------------------------------------------ */

static int64_t int_or(json_t *obj, const char *key, int64_t def)
{
        json_t *v = json_object_get(obj, key);

        return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : def;
}

void dv_agent_ha_manager_reply(struct dv_agent_ha *h, json_t *ha)
{
        struct dv_ha_settings s;
        json_t *vms, *v, *map;
        size_t i;

        if (!h)
                return;
        dv_ha_settings_default(&s);
        if (json_is_object(ha)) {
                json_t *iso = json_object_get(ha, "isolation");

                s.enabled = json_is_true(json_object_get(ha, "enabled"));
                if (json_is_string(iso))
                        (void)dv_ha_isolation_from_string(json_string_value(iso), &s.isolation);
                s.isolation_delay_ms = int_or(ha, "isolation_delay_ms", s.isolation_delay_ms);
                s.lease_timeout_ms = int_or(ha, "lease_timeout_ms", s.lease_timeout_ms);
        }
        map = json_object();
        vms = json_object_get(ha, "vms");
        json_array_foreach(vms, i, v) {
                const char *id = json_string_value(json_object_get(v, "id"));
                json_t *ds = json_object_get(v, "lease_datastore");

                if (id && dv_name_valid(id))
                        json_object_set(map, id, json_is_string(ds) ? ds : json_null());
        }
        pthread_mutex_lock(&h->lock);
        h->mgr_ok_ms = dv_now_ms();
        if (json_is_object(ha)) {
                if (!h->known || h->settings.enabled != s.enabled ||
                    h->settings.isolation != s.isolation ||
                    h->settings.isolation_delay_ms != s.isolation_delay_ms ||
                    h->settings.lease_timeout_ms != s.lease_timeout_ms)
                        dv_info("HA settings: %s, isolation response %s after %lld ms, "
                                "lease timeout %lld ms",
                                s.enabled ? "on" : "off", dv_ha_isolation_to_string(s.isolation),
                                (long long)s.isolation_delay_ms, (long long)s.lease_timeout_ms);
                h->settings = s;
                h->known = true;
                json_decref(h->ha_vms);
                h->ha_vms = map;
                map = NULL;
        }
        pthread_mutex_unlock(&h->lock);
        json_decref(map);
}

static void ha_free(struct dv_agent_ha *h)
{
        json_decref(h->ha_vms);
        json_decref(h->leases);
        pthread_cond_destroy(&h->cond);
        pthread_mutex_destroy(&h->lock);
        free(h);
}

int dv_agent_ha_start(struct dv_agent *agent, struct dv_agent_ha **ret)
{
        struct dv_agent_ha *h = calloc(1, sizeof(*h));
        pthread_condattr_t ca;
        int r;

        if (!h)
                return -ENOMEM;
        h->agent = agent;
        pthread_mutex_init(&h->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&h->cond, &ca);
        pthread_condattr_destroy(&ca);
        dv_ha_settings_default(&h->settings);
        h->ha_vms = json_object();
        h->leases = json_object();
        h->mgr_ok_ms = -1;
        h->alive_ms = dv_now_ms();
        if (!h->ha_vms || !h->leases) {
                ha_free(h);
                return -ENOMEM;
        }
        if (agent->cfg.isolation_address)
                snprintf(h->gw, sizeof(h->gw), "%s", agent->cfg.isolation_address);
        else
                default_gateway(h->gw);
        r = pthread_create(&h->thread, NULL, ha_main, h);
        if (r != 0) {
                ha_free(h);
                return -r;
        }
        if (agent->cfg.watchdog_bmc) {
                r = pthread_create(&h->wdog, NULL, wdog_main, h);
                if (r != 0) {
                        dv_agent_ha_stop(h);
                        return -r;
                }
                h->have_wdog = true;
        }
        dv_info("HA: isolation address %s; VM leases renewed every %d ms; BMC watchdog %s",
                h->gw[0] ? h->gw : "none", RENEW_EVERY_MS,
                agent->cfg.watchdog_bmc ? agent->cfg.watchdog_bmc : "off");
        *ret = h;
        return 0;
}

void dv_agent_ha_stop(struct dv_agent_ha *h)
{
        if (!h)
                return;
        pthread_mutex_lock(&h->lock);
        h->stop = true;
        pthread_cond_broadcast(&h->cond);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->thread, NULL);
        if (h->have_wdog)
                pthread_join(h->wdog, NULL);
        ha_free(h);
}
