/* The HA decision core against a fake environment: the scenario files of
 * tests/unit/data/ha/ (format in docs/ha.md) inject faults into a small
 * model of a cluster (hosts with agents, BMCs, shared storage, VM copies and
 * leases), step time in ticks, run dv_ha_tick and compare the log of
 * decisions and events with the expected one, line by line. The model also
 * checks, at every start, that no other live copy of the VM exists.
 *
 * HA_SCN_PRINT=1 prints each scenario's actual log as "expect" lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ha.h"
#include "util.h"

#define MAXH 8         /* hosts in a scenario */
#define MAXV 24        /* VMs in a scenario */
#define MAXL 8         /* names in a list (dvs=, ds=) */
#define MAXARGS 12     /* words in a step */
#define NAMELEN (DV_NAME_MAX + 1)

#define BMC_DELAY_MS 500    /* a BMC power-off takes effect this long after the request */
#define TOOLS_BOOT_MS 1000  /* Tools heartbeat begins this long after a start */
#define KILL_MARGIN_MS 1000 /* an agent that cannot renew a lease kills the VM this long before expiry */

/* How starts on a host go. */
enum fstarts { STARTS_OK, STARTS_REFUSE, STARTS_HANG, STARTS_CRASH };

struct fcopy {
        bool on;               /* a QEMU process of the VM exists on this host */
        bool hung;             /* QEMU started but never runs the guest */
        bool crashed;          /* the guest panicked */
        bool tools_up;         /* drover-tools is alive in it */
        bool rogue;            /* started by a misbehaving agent: ignores leases */
        int64_t started;       /* when it started */
        int64_t tools_hb;      /* its last Tools heartbeat, -1 none */
};

struct fhost {
        char name[NAMELEN];
        int64_t mem, cpus;             /* capacity */
        bool bmc, bmc_up;              /* has a BMC; the BMC answers */
        bool bmc_stuck;                /* the BMC accepts power-off but does nothing */
        enum fstarts starts;           /* how VM starts go here */
        bool power_on, frozen;         /* power; all its processes stopped */
        bool link, gw;                 /* management link up; gateway reachable */
        bool storage;                  /* reaches shared storage */
        int64_t frozen_at, link_lost_at, watchdog_ms;
        int64_t boot_ms, boot_until;   /* boot time after power-on or reset; agent up then */
        int64_t net_hb, ds_hb;         /* last heartbeats the manager got */
        enum dv_ha_power reading;      /* last BMC reading */
        int64_t power_ms;              /* ... and when */
        int64_t fence_at;              /* pending BMC power-off, -1 none */
        enum dv_ha_admin admin;
        char dvs[MAXL][NAMELEN];
        size_t n_dvs;
        char ds[MAXL][NAMELEN];
        size_t n_ds;
        bool iso_applied;              /* isolation response applied in this isolation */
        bool reported[MAXV];           /* VMs its agent last reported */
        bool saved[MAXV];              /* copies it had at power-off */
};

struct fvm {
        char name[NAMELEN];
        int host;                      /* the record's host, -1 none */
        bool ha, tools, leased, deleted;
        int prio;
        int64_t mem, cpus;
        enum dv_ha_vm_state state;     /* the record's state */
        enum dv_ha_stop_reason stop_reason; /* the record's stop reason (its host's report) */
        enum dv_ha_stop_reason killed[MAXH]; /* why the agent killed the copy on a host */
        int64_t tools_hb;              /* the record's Tools heartbeat */
        char ds[MAXL][NAMELEN];
        size_t n_ds;
        char dvs[MAXL][NAMELEN];
        size_t n_dvs;
        int holder;                    /* lease holder, -1 free */
        int64_t expiry;                /* lease expiry */
        struct fcopy copy[MAXH];       /* per host */
        int64_t restarts[64];          /* times HA started it */
        size_t n_restarts;
};

struct step {
        int64_t at;
        int argc;
        char *argv[MAXARGS];
        int line;
        bool done;
};

struct fake {
        struct dv_ha_settings s;
        int64_t now, tick, end;
        struct fhost h[MAXH];
        size_t nh;
        struct fvm v[MAXV];
        size_t nv;
        struct step *steps;
        size_t n_steps;
        char **expect;
        size_t n_expect;
        char **log;
        size_t n_log;
        bool ds_late;                  /* the manager sees storage lost only when the
                                        * datastore heartbeat is ds_timeout old */
        struct dv_ha *ha;
        /* facts handed to the core */
        struct dv_ha_host hf[MAXH];
        const char *hf_dvs[MAXH][MAXL], *hf_ds[MAXH][MAXL], *hf_vms[MAXH][MAXV];
        struct dv_ha_vm vf[MAXV];
        const char *vf_ds[MAXV][MAXL], *vf_dvs[MAXV][MAXL];
};

/* ---- Log ----------------------------------------------------------------- */

_printf_(2, 3)
static void logf_(struct fake *f, const char *fmt, ...)
{
        char buf[1024];
        int n;
        va_list ap;

        n = snprintf(buf, sizeof(buf), "%" PRId64 " ", f->now);
        va_start(ap, fmt);
        vsnprintf(buf + n, sizeof(buf) - (size_t) n, fmt, ap);
        va_end(ap);
        f->log = realloc(f->log, (f->n_log + 1) * sizeof(char *));
        assert_non_null(f->log);
        f->log[f->n_log++] = dv_strdup(buf);
}

static const char *errno_name(int r)
{
        switch (-r) {
        case EBUSY: return "EBUSY";
        case EIO: return "EIO";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case EOPNOTSUPP: return "EOPNOTSUPP";
        default: return "E?";
        }
}

/* ---- Model ---------------------------------------------------------------- */

static int host_idx(const struct fake *f, const char *name)
{
        for (size_t i = 0; i < f->nh; i++)
                if (strcmp(f->h[i].name, name) == 0)
                        return (int) i;
        return -1;
}

static int vm_idx(const struct fake *f, const char *name)
{
        for (size_t i = 0; i < f->nv; i++)
                if (strcmp(f->v[i].name, name) == 0 && !f->v[i].deleted)
                        return (int) i;
        return -1;
}

/* Powered, not frozen, booted: its agent works. */
static bool alive(const struct fake *f, const struct fhost *h)
{
        return h->power_on && !h->frozen && f->now >= h->boot_until;
}

static void kill_copy(struct fake *f, size_t vi, size_t hi)
{
        f->v[vi].copy[hi] = (struct fcopy) { .tools_hb = -1 };
        f->v[vi].killed[hi] = DV_HA_STOP_OTHER;
}

static void power_off(struct fake *f, size_t hi)
{
        struct fhost *h = &f->h[hi];

        h->power_on = false;
        h->frozen = false;
        h->iso_applied = false;
        for (size_t vi = 0; vi < f->nv; vi++) {
                h->saved[vi] = f->v[vi].copy[hi].on;
                kill_copy(f, vi, hi);
        }
}

static void power_on(struct fake *f, size_t hi, bool stale)
{
        f->h[hi].power_on = true;
        f->h[hi].boot_until = f->now + f->h[hi].boot_ms;
        for (size_t vi = 0; stale && vi < f->nv; vi++)
                if (f->h[hi].saved[vi])
                        f->v[vi].copy[hi] = (struct fcopy) {
                                .on = true, .tools_up = true, .rogue = true,
                                .started = f->now, .tools_hb = -1,
                        };
}

/* What the host's agent does in one tick: isolation response, leases,
 * Tools, heartbeats, the report to the manager. */
static void agent_step(struct fake *f, size_t hi)
{
        struct fhost *h = &f->h[hi];
        int64_t t = f->now;

        if (!h->link) {
                enum dv_ha_isolation_action a =
                        dv_ha_isolation_decide(&f->s, false, h->gw, h->link_lost_at, t);

                if ((a == DV_HA_ISOLATION_ACTION_SHUTDOWN || a == DV_HA_ISOLATION_ACTION_POWER_OFF) &&
                    !h->iso_applied) {
                        for (size_t vi = 0; vi < f->nv; vi++) {
                                struct fvm *v = &f->v[vi];

                                if (!v->copy[hi].on || v->copy[hi].rogue || !v->ha)
                                        continue;
                                kill_copy(f, vi, hi);
                                v->killed[hi] = DV_HA_STOP_ISOLATION;
                                if (v->holder == (int) hi && h->storage)
                                        v->holder = -1;
                        }
                        h->iso_applied = true;
                }
        }

        for (size_t vi = 0; vi < f->nv; vi++) {
                struct fvm *v = &f->v[vi];
                struct fcopy *c = &v->copy[hi];

                if (!c->on)
                        continue;
                if (v->leased && !c->rogue) {
                        if (h->storage && v->holder == (int) hi)
                                v->expiry = t + f->s.lease_timeout_ms;
                        else if (h->storage || t >= v->expiry - KILL_MARGIN_MS) {
                                /* Lost its lease, or cannot renew it in time. */
                                kill_copy(f, vi, hi);
                                if (!h->storage)
                                        v->killed[hi] = DV_HA_STOP_LEASE_LOST;
                                continue;
                        }
                }
                if (v->tools && c->tools_up && !c->crashed && t >= c->started + TOOLS_BOOT_MS)
                        c->tools_hb = t;
        }

        if (h->link)
                h->net_hb = t;
        if (h->storage && h->n_ds > 0)
                h->ds_hb = t;
        if (!h->link)
                return;
        for (size_t vi = 0; vi < f->nv; vi++) {
                struct fvm *v = &f->v[vi];
                struct fcopy *c = &v->copy[hi];

                h->reported[vi] = c->on;
                if (v->host != (int) hi)
                        continue;
                if (c->on) {
                        v->state = c->crashed ? DV_HA_VM_CRASHED
                                   : c->hung ? DV_HA_VM_STARTING : DV_HA_VM_RUNNING;
                        v->tools_hb = c->tools_hb;
                } else if (v->state != DV_HA_VM_STOPPED) {
                        v->state = DV_HA_VM_STOPPED;
                        v->stop_reason = v->killed[hi];
                        v->tools_hb = -1;
                }
        }
}

static void world_step(struct fake *f)
{
        for (size_t hi = 0; hi < f->nh; hi++) {
                struct fhost *h = &f->h[hi];

                if (h->fence_at >= 0 && f->now >= h->fence_at) {
                        h->fence_at = -1;
                        power_off(f, hi);
                }
                if (h->frozen && h->watchdog_ms > 0 && f->now - h->frozen_at >= h->watchdog_ms) {
                        /* The BMC watchdog was not petted: reset. */
                        for (size_t vi = 0; vi < f->nv; vi++)
                                kill_copy(f, vi, hi);
                        h->frozen = false;
                        h->boot_until = f->now + h->boot_ms;
                }
                if (h->bmc && h->bmc_up) {
                        h->reading = h->power_on ? DV_HA_POWER_ON : DV_HA_POWER_OFF;
                        h->power_ms = f->now;
                }
                if (alive(f, h))
                        agent_step(f, hi);
        }
}

/* Can the copy of v on host hi still run the guest? A copy whose lease is
 * gone dies before it can write (the agent's and the watchdog's contract),
 * even on a host that is frozen now. */
static bool copy_live(const struct fake *f, const struct fvm *v, size_t hi)
{
        if (!v->copy[hi].on || !f->h[hi].power_on)
                return false;
        return !v->leased || v->copy[hi].rogue ||
               (v->holder == (int) hi && f->now < v->expiry);
}

static int restarts_last_hour(const struct fake *f, const struct fvm *v)
{
        int n = 0;

        for (size_t i = 0; i < v->n_restarts; i++)
                if (f->now - v->restarts[i] < 3600 * 1000)
                        n++;
        return n;
}

/* ---- The environment ------------------------------------------------------ */

static int64_t env_now(void *u)
{
        return ((struct fake *) u)->now;
}

static int env_hosts(void *u, const struct dv_ha_host **ret, size_t *ret_n)
{
        struct fake *f = u;

        for (size_t hi = 0; hi < f->nh; hi++) {
                struct fhost *h = &f->h[hi];
                struct dv_ha_host *x = &f->hf[hi];
                size_t nds = 0, nvms = 0;
                int64_t mem = h->mem, cpus = h->cpus;

                for (size_t i = 0; i < h->n_dvs; i++)
                        f->hf_dvs[hi][i] = h->dvs[i];
                for (size_t i = 0; i < h->n_ds; i++)
                        if (f->ds_late ? h->ds_hb >= 0 && f->now - h->ds_hb <= f->s.ds_timeout_ms
                                       : h->storage)
                                f->hf_ds[hi][nds++] = h->ds[i];
                for (size_t vi = 0; vi < f->nv; vi++) {
                        if (f->v[vi].deleted)
                                continue;
                        if (h->reported[vi])
                                f->hf_vms[hi][nvms++] = f->v[vi].name;
                        if (f->v[vi].host == (int) hi) {
                                mem -= f->v[vi].mem;
                                cpus -= f->v[vi].cpus;
                        }
                }
                *x = (struct dv_ha_host) {
                        .name = h->name,
                        .admin = h->admin,
                        .net_hb_ms = h->net_hb,
                        .ds_hb_ms = h->ds_hb,
                        .has_bmc = h->bmc,
                        .power = h->reading,
                        .power_ms = h->power_ms,
                        .mem_total_mib = h->mem,
                        .mem_free_mib = mem,
                        .cpus_total = h->cpus,
                        .cpus_free = cpus,
                        .dvs = f->hf_dvs[hi],
                        .n_dvs = h->n_dvs,
                        .datastores = f->hf_ds[hi],
                        .n_datastores = nds,
                        .vms = f->hf_vms[hi],
                        .n_vms = nvms,
                };
        }
        *ret = f->hf;
        *ret_n = f->nh;
        return 0;
}

static int env_vms(void *u, const struct dv_ha_vm **ret, size_t *ret_n)
{
        struct fake *f = u;
        size_t n = 0;

        for (size_t vi = 0; vi < f->nv; vi++) {
                struct fvm *v = &f->v[vi];

                if (v->deleted)
                        continue;
                for (size_t i = 0; i < v->n_ds; i++)
                        f->vf_ds[n][i] = v->ds[i];
                for (size_t i = 0; i < v->n_dvs; i++)
                        f->vf_dvs[n][i] = v->dvs[i];
                f->vf[n] = (struct dv_ha_vm) {
                        .name = v->name,
                        .host = v->host >= 0 ? f->h[v->host].name : NULL,
                        .ha = v->ha,
                        .priority = v->prio,
                        .mem_mib = v->mem,
                        .cpus = v->cpus,
                        .state = v->state,
                        .stop_reason = v->state == DV_HA_VM_STOPPED ? v->stop_reason
                                                                    : DV_HA_STOP_OTHER,
                        .tools = !v->tools ? DV_HA_TOOLS_NONE
                                 : v->tools_hb >= 0 ? DV_HA_TOOLS_RUNNING : DV_HA_TOOLS_NOT_RUNNING,
                        .tools_hb_ms = v->tools_hb,
                        .restarts_last_hour = restarts_last_hour(f, v),
                        .datastores = f->vf_ds[n],
                        .n_datastores = v->n_ds,
                        .dvs = f->vf_dvs[n],
                        .n_dvs = v->n_dvs,
                        .leased = v->leased,
                        .lease_holder = v->leased && v->holder >= 0 ? f->h[v->holder].name : NULL,
                        .lease_expiry_ms = v->expiry,
                };
                n++;
        }
        *ret = f->vf;
        *ret_n = n;
        return 0;
}

static int env_fence(void *u, const char *host)
{
        struct fake *f = u;
        int hi = host_idx(f, host);
        int r = 0;

        assert_true(hi >= 0);
        if (!f->h[hi].bmc)
                r = -EOPNOTSUPP;
        else if (!f->h[hi].bmc_up)
                r = -EIO;
        else if (f->h[hi].fence_at < 0 && !f->h[hi].bmc_stuck)
                f->h[hi].fence_at = f->now + BMC_DELAY_MS;
        if (r < 0)
                logf_(f, "fence %s error=%s", host, errno_name(r));
        else
                logf_(f, "fence %s", host);
        return r;
}

static int env_start(void *u, const char *vm, const char *host)
{
        struct fake *f = u;
        int hi = host_idx(f, host), vi = vm_idx(f, vm);
        struct fvm *v;
        int r = 0;

        assert_true(hi >= 0 && vi >= 0);
        v = &f->v[vi];
        if (!alive(f, &f->h[hi]) || !f->h[hi].link)
                r = -EHOSTUNREACH;
        else if (f->h[hi].starts == STARTS_REFUSE)
                r = -EIO;
        else if (v->leased && v->holder >= 0 && v->holder != hi && f->now < v->expiry)
                r = -EBUSY; /* the lease manager refuses, like sanlock */
        if (r < 0) {
                logf_(f, "start %s %s error=%s", vm, host, errno_name(r));
                return r;
        }
        logf_(f, "start %s %s", vm, host);
        for (size_t hj = 0; hj < f->nh; hj++)
                if ((int) hj != hi && copy_live(f, v, hj))
                        logf_(f, "VIOLATION two copies of %s: %s and %s", vm, f->h[hj].name, host);
        v->host = hi;
        v->state = DV_HA_VM_STARTING;
        v->stop_reason = DV_HA_STOP_OTHER;
        v->tools_hb = -1;
        v->copy[hi] = (struct fcopy) { .on = true, .tools_up = true, .started = f->now,
                                       .tools_hb = -1,
                                       .hung = f->h[hi].starts == STARTS_HANG,
                                       .crashed = f->h[hi].starts == STARTS_CRASH };
        if (v->leased) {
                v->holder = hi;
                v->expiry = f->now + f->s.lease_timeout_ms;
        }
        if (v->n_restarts < ELEMENTSOF(v->restarts))
                v->restarts[v->n_restarts++] = f->now;
        return 0;
}

static int env_stop(void *u, const char *vm, const char *host)
{
        struct fake *f = u;
        int hi = host_idx(f, host), vi = vm_idx(f, vm);
        struct fvm *v;

        assert_true(hi >= 0 && vi >= 0);
        v = &f->v[vi];
        if (!alive(f, &f->h[hi]) || !f->h[hi].link) {
                logf_(f, "stop %s %s error=%s", vm, host, errno_name(-EHOSTUNREACH));
                return -EHOSTUNREACH;
        }
        logf_(f, "stop %s %s", vm, host);
        kill_copy(f, (size_t) vi, (size_t) hi);
        f->h[hi].reported[vi] = false;
        if (v->host == hi) {
                v->state = DV_HA_VM_STOPPED;
                v->stop_reason = DV_HA_STOP_OTHER;
                v->tools_hb = -1;
        }
        if (v->holder == hi && f->h[hi].storage)
                v->holder = -1;
        return 0;
}

static void env_alarm(void *u, const char *kind, const char *target, const char *msg)
{
        logf_(u, "alarm %s %s %s", kind, target, msg);
}

static void env_clear(void *u, const char *kind, const char *target)
{
        logf_(u, "clear %s %s", kind, target);
}

static void env_event(void *u, const char *kind, const char *target, const char *msg)
{
        logf_(u, "event %s %s %s", kind, target, msg);
}

static struct dv_ha_env make_env(struct fake *f)
{
        return (struct dv_ha_env) {
                .userdata = f,
                .now_ms = env_now,
                .get_hosts = env_hosts,
                .get_vms = env_vms,
                .fence_host = env_fence,
                .start_vm = env_start,
                .stop_vm = env_stop,
                .raise_alarm = env_alarm,
                .clear_alarm = env_clear,
                .emit_event = env_event,
        };
}

/* ---- Scenario files -------------------------------------------------------- */

static int split(char *line, char **argv, int max)
{
        int n = 0;

        for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
                if (n == max)
                        return -E2BIG;
                argv[n++] = tok;
        }
        return n;
}

static int64_t num(const char *s, const char *what, int line)
{
        int64_t v;

        if (dv_parse_int64(s, -1, INT64_MAX / 4, &v) < 0)
                fail_msg("line %d: bad %s '%s'", line, what, s);
        return v;
}

static bool yes(const char *s, int line)
{
        if (dv_streq(s, "yes") || dv_streq(s, "on"))
                return true;
        if (dv_streq(s, "no") || dv_streq(s, "off"))
                return false;
        fail_msg("line %d: want yes/no, got '%s'", line, s);
        return false;
}

static size_t list(const char *s, char out[MAXL][NAMELEN], int line)
{
        _cleanup_(freep) char *copy = dv_strdup(s);
        char *save = NULL;
        size_t n = 0;

        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (n == MAXL || strlen(tok) >= NAMELEN)
                        fail_msg("line %d: list too long", line);
                strcpy(out[n++], tok);
        }
        return n;
}

static enum dv_ha_admin admin_of(const char *s, int line)
{
        if (dv_streq(s, "active"))
                return DV_HA_ADMIN_ACTIVE;
        if (dv_streq(s, "maintenance"))
                return DV_HA_ADMIN_MAINTENANCE;
        if (dv_streq(s, "standby"))
                return DV_HA_ADMIN_STANDBY;
        fail_msg("line %d: bad admin state '%s'", line, s);
        return DV_HA_ADMIN_ACTIVE;
}

static void parse_set(struct fake *f, char *key, char *val, int line)
{
        struct dv_ha_settings *s = &f->s;
        struct { const char *key; int64_t *p; } times[] = {
                { "net-timeout", &s->net_timeout_ms }, { "ds-timeout", &s->ds_timeout_ms },
                { "lease-timeout", &s->lease_timeout_ms }, { "fence-margin", &s->fence_margin_ms },
                { "fence-retry", &s->fence_retry_ms }, { "isolation-delay", &s->isolation_delay_ms },
                { "tools-timeout", &s->tools_timeout_ms }, { "start-timeout", &s->start_timeout_ms },
                { "retry", &s->retry_ms }, { "tick", &f->tick }, { "end", &f->end },
        };

        for (size_t i = 0; i < ELEMENTSOF(times); i++)
                if (strcmp(key, times[i].key) == 0) {
                        *times[i].p = num(val, key, line);
                        return;
                }
        if (strcmp(key, "enabled") == 0)
                s->enabled = yes(val, line);
        else if (strcmp(key, "ds-view") == 0) {
                if (!dv_streq(val, "instant") && !dv_streq(val, "heartbeat"))
                        fail_msg("line %d: ds-view=instant|heartbeat", line);
                f->ds_late = dv_streq(val, "heartbeat");
        }
        else if (strcmp(key, "max-restarts") == 0)
                s->max_restarts_per_hour = (int) num(val, key, line);
        else if (strcmp(key, "isolation") == 0) {
                if (dv_ha_isolation_from_string(val, &s->isolation) < 0)
                        fail_msg("line %d: bad isolation response '%s'", line, val);
        } else if (strcmp(key, "admission") == 0) {
                char *colon = strchr(val, ':');

                if (colon)
                        *colon++ = '\0';
                if (dv_ha_admission_from_string(val, &s->admission) < 0)
                        fail_msg("line %d: bad admission '%s'", line, val);
                if (s->admission == DV_HA_ADMISSION_HOSTS && colon)
                        s->host_failures = (int) num(colon, "host failures", line);
                if (s->admission == DV_HA_ADMISSION_PERCENT && colon)
                        s->percent = (int) num(colon, "percent", line);
        } else
                fail_msg("line %d: unknown setting '%s'", line, key);
}

static void parse_host(struct fake *f, int argc, char **argv, int line)
{
        struct fhost *h;

        if (argc < 2 || f->nh == MAXH || strlen(argv[1]) >= NAMELEN)
                fail_msg("line %d: bad host", line);
        h = &f->h[f->nh++];
        *h = (struct fhost) {
                .mem = 4096, .cpus = 4, .power_on = true, .link = true, .gw = true,
                .storage = true, .net_hb = -1, .ds_hb = -1, .power_ms = -1, .fence_at = -1,
        };
        strcpy(h->name, argv[1]);
        for (int i = 2; i < argc; i++) {
                char *val = strchr(argv[i], '=');

                if (!val)
                        fail_msg("line %d: want key=value, got '%s'", line, argv[i]);
                *val++ = '\0';
                if (strcmp(argv[i], "mem") == 0)
                        h->mem = num(val, "mem", line);
                else if (strcmp(argv[i], "cpus") == 0)
                        h->cpus = num(val, "cpus", line);
                else if (strcmp(argv[i], "bmc") == 0)
                        h->bmc = h->bmc_up = yes(val, line);
                else if (strcmp(argv[i], "dvs") == 0)
                        h->n_dvs = list(val, h->dvs, line);
                else if (strcmp(argv[i], "ds") == 0)
                        h->n_ds = list(val, h->ds, line);
                else if (strcmp(argv[i], "watchdog") == 0)
                        h->watchdog_ms = num(val, "watchdog", line);
                else if (strcmp(argv[i], "boot") == 0)
                        h->boot_ms = num(val, "boot", line);
                else if (strcmp(argv[i], "admin") == 0)
                        h->admin = admin_of(val, line);
                else
                        fail_msg("line %d: unknown host key '%s'", line, argv[i]);
        }
}

static void parse_vm(struct fake *f, int argc, char **argv, int line)
{
        struct fvm *v;
        bool running = true;
        int lease = -1;

        if (argc < 2 || f->nv == MAXV || strlen(argv[1]) >= NAMELEN)
                fail_msg("line %d: bad vm", line);
        v = &f->v[f->nv++];
        *v = (struct fvm) { .host = -1, .ha = true, .mem = 512, .cpus = 1, .holder = -1,
                            .tools = true, .tools_hb = -1 };
        for (size_t hi = 0; hi < MAXH; hi++)
                v->copy[hi].tools_hb = -1;
        strcpy(v->name, argv[1]);
        for (int i = 2; i < argc; i++) {
                char *val = strchr(argv[i], '=');

                if (!val)
                        fail_msg("line %d: want key=value, got '%s'", line, argv[i]);
                *val++ = '\0';
                if (strcmp(argv[i], "host") == 0) {
                        v->host = host_idx(f, val);
                        if (v->host < 0)
                                fail_msg("line %d: unknown host '%s'", line, val);
                } else if (strcmp(argv[i], "ha") == 0)
                        v->ha = yes(val, line);
                else if (strcmp(argv[i], "prio") == 0)
                        v->prio = (int) num(val, "prio", line);
                else if (strcmp(argv[i], "mem") == 0)
                        v->mem = num(val, "mem", line);
                else if (strcmp(argv[i], "cpus") == 0)
                        v->cpus = num(val, "cpus", line);
                else if (strcmp(argv[i], "ds") == 0)
                        v->n_ds = list(val, v->ds, line);
                else if (strcmp(argv[i], "dvs") == 0)
                        v->n_dvs = list(val, v->dvs, line);
                else if (strcmp(argv[i], "tools") == 0)
                        v->tools = yes(val, line);
                else if (strcmp(argv[i], "lease") == 0)
                        lease = yes(val, line);
                else if (strcmp(argv[i], "state") == 0) {
                        if (dv_streq(val, "running"))
                                running = true;
                        else if (dv_streq(val, "stopped"))
                                running = false;
                        else
                                fail_msg("line %d: bad state '%s'", line, val);
                } else
                        fail_msg("line %d: unknown vm key '%s'", line, argv[i]);
        }
        if (v->host < 0)
                fail_msg("line %d: vm without host=", line);
        /* A lease per HA VM on shared storage, unless told otherwise. */
        v->leased = lease >= 0 ? lease : v->ha && v->n_ds > 0;
        if (running) {
                v->state = DV_HA_VM_RUNNING;
                v->copy[v->host] = (struct fcopy) { .on = true, .tools_up = true,
                                                    .started = -TOOLS_BOOT_MS, .tools_hb = -1 };
                if (v->leased) {
                        v->holder = v->host;
                        v->expiry = f->s.lease_timeout_ms;
                }
        }
}

/* "expect TIME LINE": the line with its words single-spaced. */
static void add_expect(struct fake *f, const char *text)
{
        char *s = calloc(1, strlen(text) + 1), *out = s;
        bool space = false;

        assert_non_null(s);
        for (const char *p = text; *p; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\r') {
                        space = out != s;
                        continue;
                }
                if (space)
                        *out++ = ' ';
                space = false;
                *out++ = *p;
        }
        f->expect = realloc(f->expect, (f->n_expect + 1) * sizeof(char *));
        assert_non_null(f->expect);
        f->expect[f->n_expect++] = s;
}

static void parse_scenario(struct fake *f, const char *name)
{
        _cleanup_(freep) char *path = dv_asprintf("%s/%s.scn", HA_DATA_DIR, name);
        _cleanup_(freep) char *data = NULL;
        char *save = NULL;
        size_t len;
        int lineno = 0;

        if (dv_read_file(path, 1 << 20, &data, &len) < 0)
                fail_msg("cannot read %s", path);
        dv_ha_settings_default(&f->s);
        f->tick = 500;
        f->end = 30000;
        for (char *line = data; line; line = save) {
                char *argv[MAXARGS + 8], *nl = strchr(line, '\n'), *hash;
                int argc;

                save = nl ? nl + 1 : NULL;
                if (nl)
                        *nl = '\0';
                lineno++;
                hash = strchr(line, '#');
                if (hash)
                        *hash = '\0';
                if (dv_startswith(line, "expect ")) {
                        add_expect(f, line + strlen("expect "));
                        continue;
                }
                argc = split(line, argv, (int) ELEMENTSOF(argv));
                if (argc < 0)
                        fail_msg("%s:%d: too many words", name, lineno);
                if (argc == 0)
                        continue;
                if (strcmp(argv[0], "set") == 0) {
                        for (int i = 1; i < argc; i++) {
                                char *val = strchr(argv[i], '=');

                                if (!val)
                                        fail_msg("%s:%d: want key=value", name, lineno);
                                *val++ = '\0';
                                parse_set(f, argv[i], val, lineno);
                        }
                } else if (strcmp(argv[0], "host") == 0)
                        parse_host(f, argc, argv, lineno);
                else if (strcmp(argv[0], "vm") == 0)
                        parse_vm(f, argc, argv, lineno);
                else if (strcmp(argv[0], "at") == 0 && argc >= 3 && argc - 2 <= MAXARGS) {
                        struct step *st;

                        f->steps = realloc(f->steps, (f->n_steps + 1) * sizeof(*f->steps));
                        assert_non_null(f->steps);
                        st = &f->steps[f->n_steps++];
                        *st = (struct step) { .at = num(argv[1], "time", lineno),
                                              .argc = argc - 2, .line = lineno };
                        for (int i = 2; i < argc; i++)
                                st->argv[i - 2] = dv_strdup(argv[i]);
                } else
                        fail_msg("%s:%d: cannot parse '%s'", name, lineno, argv[0]);
        }
}

/* ---- Steps ---------------------------------------------------------------- */

static int need_host(struct fake *f, const struct step *st, int i)
{
        int hi = i < st->argc ? host_idx(f, st->argv[i]) : -1;

        if (hi < 0)
                fail_msg("line %d: unknown host", st->line);
        return hi;
}

static int need_vm(struct fake *f, const struct step *st, int i)
{
        int vi = i < st->argc ? vm_idx(f, st->argv[i]) : -1;

        if (vi < 0)
                fail_msg("line %d: unknown vm", st->line);
        return vi;
}

static const char *arg(const struct step *st, int i)
{
        return i < st->argc ? st->argv[i] : "";
}

/* A fault or a change, applied before the tick's world step. */
static void apply_fault(struct fake *f, const struct step *st)
{
        const char *what = st->argv[0];

        if (strcmp(what, "power") == 0) {
                int hi = need_host(f, st, 1);

                if (dv_streq(arg(st, 2), "off"))
                        power_off(f, (size_t) hi);
                else if (dv_streq(arg(st, 2), "on"))
                        power_on(f, (size_t) hi, dv_streq(arg(st, 3), "stale"));
                else
                        fail_msg("line %d: power H on|off", st->line);
        } else if (strcmp(what, "link") == 0) {
                struct fhost *h = &f->h[need_host(f, st, 1)];

                if (dv_streq(arg(st, 2), "down") || dv_streq(arg(st, 2), "partition")) {
                        h->link = false;
                        h->gw = dv_streq(arg(st, 2), "partition");
                        h->link_lost_at = f->now;
                } else {
                        h->link = h->gw = true;
                        h->iso_applied = false;
                }
        } else if (strcmp(what, "storage") == 0)
                f->h[need_host(f, st, 1)].storage = dv_streq(arg(st, 2), "up");
        else if (strcmp(what, "freeze") == 0) {
                struct fhost *h = &f->h[need_host(f, st, 1)];

                h->frozen = true;
                h->frozen_at = f->now;
        } else if (strcmp(what, "thaw") == 0) {
                int hi = need_host(f, st, 1);

                if (!f->h[hi].frozen)
                        return;
                f->h[hi].frozen = false;
                /* The agent's first act on resuming: copies whose lease is gone die. */
                for (size_t vi = 0; vi < f->nv; vi++) {
                        struct fvm *v = &f->v[vi];

                        if (v->copy[hi].on && v->leased && !v->copy[hi].rogue &&
                            (v->holder != hi || f->now >= v->expiry))
                                kill_copy(f, vi, (size_t) hi);
                }
        } else if (strcmp(what, "bmc") == 0) {
                struct fhost *h = &f->h[need_host(f, st, 1)];

                h->bmc_up = !dv_streq(arg(st, 2), "down");
                h->bmc_stuck = dv_streq(arg(st, 2), "stuck");
        }
        else if (strcmp(what, "starts") == 0) {
                static const char *const modes[] = { "ok", "refuse", "hang", "crash" };
                struct fhost *h = &f->h[need_host(f, st, 1)];
                size_t m = 0;

                while (m < ELEMENTSOF(modes) && !dv_streq(modes[m], arg(st, 2)))
                        m++;
                if (m == ELEMENTSOF(modes))
                        fail_msg("line %d: starts H ok|refuse|hang|crash", st->line);
                h->starts = (enum fstarts) m;
        } else if (strcmp(what, "admin") == 0)
                f->h[need_host(f, st, 1)].admin = admin_of(arg(st, 2), st->line);
        else if (strcmp(what, "panic") == 0) {
                struct fvm *v = &f->v[need_vm(f, st, 1)];

                for (size_t hi = 0; hi < f->nh; hi++)
                        if (v->copy[hi].on)
                                v->copy[hi].crashed = true;
        } else if (strcmp(what, "tools") == 0) {
                struct fvm *v = &f->v[need_vm(f, st, 1)];

                for (size_t hi = 0; hi < f->nh; hi++)
                        v->copy[hi].tools_up = dv_streq(arg(st, 2), "up");
        } else if (strcmp(what, "stop") == 0) {
                /* The user stops it (through its host's agent). */
                int vi = need_vm(f, st, 1);
                struct fvm *v = &f->v[vi];

                kill_copy(f, (size_t) vi, (size_t) v->host);
                v->state = DV_HA_VM_STOPPED;
                v->stop_reason = DV_HA_STOP_OTHER;
                v->tools_hb = -1;
                if (v->holder == v->host && f->h[v->host].storage)
                        v->holder = -1;
        } else if (strcmp(what, "delete") == 0) {
                int vi = need_vm(f, st, 1);

                for (size_t hi = 0; hi < f->nh; hi++)
                        kill_copy(f, (size_t) vi, hi);
                f->v[vi].deleted = true;
        } else
                fail_msg("line %d: unknown step '%s'", st->line, what);
}

/* A user powering a VM on through admission control. */
static void apply_admit(struct fake *f, const struct step *st)
{
        const struct dv_ha_host *hosts;
        struct dv_ha_host live[MAXH];
        const struct dv_ha_vm *vms;
        size_t nh, nv, n_live = 0;
        int vi = need_vm(f, st, 1);
        struct fvm *v = &f->v[vi];
        char reason[512];
        int r;

        assert_int_equal(env_hosts(f, &hosts, &nh), 0);
        assert_int_equal(env_vms(f, &vms, &nv), 0);
        /* The manager leaves out hosts that are down. */
        for (size_t i = 0; i < nh; i++)
                if (dv_ha_host_state_get(f->ha, hosts[i].name) == DV_HA_HOST_CONNECTED)
                        live[n_live++] = hosts[i];
        for (size_t i = 0; i < nv; i++)
                if (dv_streq(vms[i].name, v->name)) {
                        r = dv_ha_admission_check(&f->s, live, n_live, vms, nv, &vms[i],
                                                  reason, sizeof(reason));
                        assert_true(r == 0 || r == -ENOSPC);
                        logf_(f, "admit %s %s: %s", v->name, r == 0 ? "ok" : "refused", reason);
                        if (r == 0 && v->state == DV_HA_VM_STOPPED) {
                                v->state = DV_HA_VM_STARTING;
                                v->copy[v->host] = (struct fcopy) { .on = true, .tools_up = true,
                                                                    .started = f->now,
                                                                    .tools_hb = -1 };
                                if (v->leased) {
                                        v->holder = v->host;
                                        v->expiry = f->now + f->s.lease_timeout_ms;
                                }
                        }
                        return;
                }
}

static const char *state_name(enum dv_ha_vm_state s)
{
        static const char *const names[] = {
                [DV_HA_VM_STOPPED] = "stopped", [DV_HA_VM_STARTING] = "starting",
                [DV_HA_VM_RUNNING] = "running", [DV_HA_VM_PAUSED] = "paused",
                [DV_HA_VM_MIGRATING] = "migrating", [DV_HA_VM_STOPPING] = "stopping",
                [DV_HA_VM_CRASHED] = "crashed",
        };
        return names[s];
}

static int live_copies(const struct fake *f, const struct fvm *v, char *where, size_t len)
{
        int n = 0;

        where[0] = '\0';
        for (size_t hi = 0; hi < f->nh; hi++)
                if (copy_live(f, v, hi)) {
                        n++;
                        snprintf(where + strlen(where), len - strlen(where), "%s%s",
                                 n > 1 ? "," : "", f->h[hi].name);
                }
        return n;
}

/* check VM STATE [on HOST] [copies=N]: a mismatch becomes a log line. */
static void apply_check(struct fake *f, const struct step *st)
{
        struct fvm *v = &f->v[need_vm(f, st, 1)];
        const char *want_host = NULL;
        int want_copies = -1, have;
        char where[256];

        for (int i = 3; i < st->argc; i++) {
                if (strcmp(st->argv[i], "on") == 0 && i + 1 < st->argc)
                        want_host = st->argv[++i];
                else if (dv_startswith(st->argv[i], "copies="))
                        want_copies = (int) num(st->argv[i] + 7, "copies", st->line);
                else
                        fail_msg("line %d: bad check", st->line);
        }
        have = live_copies(f, v, where, sizeof(where));
        if (!dv_streq(state_name(v->state), arg(st, 2)) ||
            (want_host && (v->host < 0 || !dv_streq(f->h[v->host].name, want_host))) ||
            (want_copies >= 0 && have != want_copies))
                logf_(f, "CHECK FAILED (line %d) %s: state=%s host=%s copies=%d on [%s]", st->line,
                      v->name, state_name(v->state), v->host >= 0 ? f->h[v->host].name : "none",
                      have, where);
}

/* ---- Running and comparing -------------------------------------------------- */

/* Prints a line diff (- expected, + actual) of the two logs. */
static void print_diff(char **a, size_t na, char **b, size_t nb)
{
        _cleanup_(freep) size_t *lcs = calloc((na + 1) * (nb + 1), sizeof(size_t));
        size_t i = 0, j = 0;

#define L(x, y) lcs[(x) * (nb + 1) + (y)]
        assert_non_null(lcs);
        for (size_t x = na; x-- > 0;)
                for (size_t y = nb; y-- > 0;)
                        L(x, y) = strcmp(a[x], b[y]) == 0 ? L(x + 1, y + 1) + 1
                                  : DV_MAX(L(x + 1, y), L(x, y + 1));
        while (i < na || j < nb) {
                if (i < na && j < nb && strcmp(a[i], b[j]) == 0) {
                        fprintf(stderr, "  %s\n", a[i]);
                        i++, j++;
                } else if (j < nb && (i == na || L(i, j + 1) >= L(i + 1, j)))
                        fprintf(stderr, "+ %s\n", b[j++]);
                else
                        fprintf(stderr, "- %s\n", a[i++]);
        }
#undef L
}

static void fake_free(struct fake *f)
{
        for (size_t i = 0; i < f->n_steps; i++)
                for (int k = 0; k < f->steps[i].argc; k++)
                        free(f->steps[i].argv[k]);
        for (size_t i = 0; i < f->n_expect; i++)
                free(f->expect[i]);
        for (size_t i = 0; i < f->n_log; i++)
                free(f->log[i]);
        free(f->steps);
        free(f->expect);
        free(f->log);
        dv_ha_free(f->ha);
}

static void run_steps(struct fake *f, int kind)
{
        for (size_t i = 0; i < f->n_steps; i++) {
                struct step *st = &f->steps[i];
                bool is_check = strcmp(st->argv[0], "check") == 0;
                bool is_admit = strcmp(st->argv[0], "admit") == 0;
                int k = is_check ? 2 : is_admit ? 1 : 0;

                if (st->done || st->at > f->now || k != kind)
                        continue;
                st->done = true;
                if (is_check)
                        apply_check(f, st);
                else if (is_admit)
                        apply_admit(f, st);
                else
                        apply_fault(f, st);
        }
}

static void run_scenario(void **state)
{
        const char *name = *state;
        struct fake *f = calloc(1, sizeof(*f));
        struct dv_ha_env env;
        const char *why = NULL;
        bool same;

        assert_non_null(f);
        parse_scenario(f, name);
        if (!dv_ha_settings_valid(&f->s, &why))
                fail_msg("%s: settings: %s", name, why);
        assert_int_equal(dv_ha_new(&f->s, &f->ha), 0);
        env = make_env(f);
        for (f->now = 0; f->now <= f->end; f->now += f->tick) {
                run_steps(f, 0);
                world_step(f);
                run_steps(f, 1);
                assert_int_equal(dv_ha_tick(f->ha, &env), 0);
                run_steps(f, 2);
        }
        f->now = f->end;
        for (size_t vi = 0; vi < f->nv; vi++) {
                char where[256];

                if (!f->v[vi].deleted && live_copies(f, &f->v[vi], where, sizeof(where)) > 1)
                        logf_(f, "END two copies of %s on %s", f->v[vi].name, where);
        }

        if (getenv("HA_SCN_PRINT"))
                for (size_t i = 0; i < f->n_log; i++)
                        printf("expect %s\n", f->log[i]);
        same = f->n_log == f->n_expect;
        for (size_t i = 0; same && i < f->n_log; i++)
                same = strcmp(f->log[i], f->expect[i]) == 0;
        if (!same) {
                fprintf(stderr, "scenario %s: the log differs (- expected, + actual):\n", name);
                print_diff(f->expect, f->n_expect, f->log, f->n_log);
        }
        fake_free(f);
        free(f);
        assert_true(same);
}

/* ---- Pure functions ---------------------------------------------------------- */

static void test_isolation_decide(void **state)
{
        struct dv_ha_settings s;

        dv_ha_settings_default(&s);
        s.isolation = DV_HA_ISOLATION_POWER_OFF;
        s.isolation_delay_ms = 3000;
        /* Manager reachable, or gateway reachable (partition): not isolated. */
        assert_int_equal(dv_ha_isolation_decide(&s, true, false, 0, 10000), DV_HA_ISOLATION_ACTION_NONE);
        assert_int_equal(dv_ha_isolation_decide(&s, false, true, 0, 10000), DV_HA_ISOLATION_ACTION_NONE);
        assert_int_equal(dv_ha_isolation_decide(&s, false, false, 1000, 3999), DV_HA_ISOLATION_ACTION_WAIT);
        assert_int_equal(dv_ha_isolation_decide(&s, false, false, 1000, 4000),
                         DV_HA_ISOLATION_ACTION_POWER_OFF);
        s.isolation = DV_HA_ISOLATION_SHUTDOWN;
        assert_int_equal(dv_ha_isolation_decide(&s, false, false, 1000, 9000),
                         DV_HA_ISOLATION_ACTION_SHUTDOWN);
        s.isolation = DV_HA_ISOLATION_LEAVE_RUNNING;
        assert_int_equal(dv_ha_isolation_decide(&s, false, false, 1000, 9000),
                         DV_HA_ISOLATION_ACTION_LEAVE_RUNNING);
        s.enabled = false;
        s.isolation = DV_HA_ISOLATION_POWER_OFF;
        assert_int_equal(dv_ha_isolation_decide(&s, false, false, 1000, 9000), DV_HA_ISOLATION_ACTION_NONE);
        assert_string_equal(dv_ha_isolation_action_to_string(DV_HA_ISOLATION_ACTION_POWER_OFF), "power-off");
}

static const char *const shared[] = { "shared" };

static void test_admission(void **state)
{
        struct dv_ha_settings s;
        struct dv_ha_host hosts[] = {
                { .name = "h1", .mem_total_mib = 8192 },
                { .name = "h2", .mem_total_mib = 4096 },
                { .name = "h3", .mem_total_mib = 4096 },
                { .name = "h4", .mem_total_mib = 65536, .admin = DV_HA_ADMIN_MAINTENANCE },
                { .name = "h5", .mem_total_mib = 65536, .power = DV_HA_POWER_OFF },
        };
        struct dv_ha_vm vms[] = {
                { .name = "a", .host = "h1", .ha = true, .mem_mib = 4096, .state = DV_HA_VM_RUNNING },
                { .name = "b", .host = "h2", .mem_mib = 2048, .state = DV_HA_VM_CRASHED },
                { .name = "c", .host = "h3", .ha = true, .mem_mib = 8192, .state = DV_HA_VM_STOPPED,
                  .datastores = shared, .n_datastores = 1 },
        };
        struct dv_ha_vm fits = { .name = "new", .ha = true, .mem_mib = 2048 };
        struct dv_ha_vm big = { .name = "big", .ha = true, .mem_mib = 2049 };
        char reason[256];

        dv_ha_settings_default(&s);
        /* N = 1: 16384 - 8192 (largest) = 8192 left; 4096 + 2048 running. */
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &fits, reason, sizeof(reason)), 0);
        assert_non_null(strstr(reason, "8192 of 8192 MiB"));
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &big, reason, sizeof(reason)),
                         -ENOSPC);
        assert_string_equal(reason, "cannot power on big (2049 MiB): powered-on VMs would need 8193 MiB "
                                    "but only 8192 MiB remain after 1 host failure(s)");
        /* A VM already counted is not counted twice; c is stopped: 8192 more. */
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &vms[0], NULL, 0), 0);
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &vms[2], NULL, 0), -ENOSPC);
        /* N = 2: 4096 left. */
        s.host_failures = 2;
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &fits, NULL, 0), -ENOSPC);
        /* N = 3 with 3 usable hosts: impossible. */
        s.host_failures = 3;
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &fits, reason, sizeof(reason)),
                         -ENOSPC);
        assert_non_null(strstr(reason, "3 usable host(s)"));
        /* Percent: 25% of 16384 kept, 12288 usable; 6144 running. */
        s.admission = DV_HA_ADMISSION_PERCENT;
        s.percent = 25;
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &vms[2], NULL, 0), -ENOSPC);
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &big, NULL, 0), 0);
        s.percent = 50; /* 8192 usable */
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &fits, NULL, 0), 0);
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &big, reason, sizeof(reason)),
                         -ENOSPC);
        assert_non_null(strstr(reason, "50% of 16384 MiB"));
        /* Off, or HA off: always. */
        s.admission = DV_HA_ADMISSION_OFF;
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &vms[2], NULL, 0), 0);
        s.admission = DV_HA_ADMISSION_HOSTS;
        s.enabled = false;
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, &vms[2], NULL, 0), 0);
        assert_int_equal(dv_ha_admission_check(&s, hosts, 5, vms, 3, NULL, NULL, 0), -EINVAL);
        assert_int_equal(dv_ha_admission_check(&s, NULL, 5, vms, 3, &fits, NULL, 0), -EINVAL);
}

static void test_settings(void **state)
{
        struct dv_ha_settings s;
        enum dv_ha_isolation_response r;
        enum dv_ha_admission a;
        const char *why = NULL;

        dv_ha_settings_default(&s);
        assert_true(dv_ha_settings_valid(&s, &why));
        s.lease_timeout_ms = 0;
        assert_false(dv_ha_settings_valid(&s, &why));
        assert_string_equal(why, "timeouts must be positive");
        dv_ha_settings_default(&s);
        s.host_failures = 0;
        assert_false(dv_ha_settings_valid(&s, &why));
        s.admission = DV_HA_ADMISSION_PERCENT;
        s.percent = 101;
        assert_false(dv_ha_settings_valid(&s, &why));
        s.percent = 30;
        assert_true(dv_ha_settings_valid(&s, NULL));

        assert_int_equal(dv_ha_isolation_from_string("power-off", &r), 0);
        assert_int_equal(r, DV_HA_ISOLATION_POWER_OFF);
        assert_string_equal(dv_ha_isolation_to_string(DV_HA_ISOLATION_SHUTDOWN), "shutdown");
        assert_int_equal(dv_ha_isolation_from_string("reboot", &r), -EINVAL);
        assert_int_equal(dv_ha_admission_from_string("percent", &a), 0);
        assert_int_equal(a, DV_HA_ADMISSION_PERCENT);
        assert_string_equal(dv_ha_admission_to_string(DV_HA_ADMISSION_HOSTS), "hosts");
        assert_string_equal(dv_ha_host_state_to_string(DV_HA_HOST_FENCING), "fencing");
        assert_string_equal(dv_ha_host_state_to_string((enum dv_ha_host_state) 99), "unknown");
}

static int fail_hosts(void *u, const struct dv_ha_host **ret, size_t *ret_n)
{
        return -EIO;
}

static void test_env_errors(void **state)
{
        struct fake *f = calloc(1, sizeof(*f));
        struct dv_ha_env env = make_env(f);
        _cleanup_(dv_ha_freep) struct dv_ha *ha = NULL;

        assert_non_null(f);
        dv_ha_settings_default(&f->s);
        assert_int_equal(dv_ha_new(&f->s, &ha), 0);
        env.get_hosts = fail_hosts;
        assert_int_equal(dv_ha_tick(ha, &env), -EIO);
        assert_int_equal(dv_ha_tick(NULL, &env), -EINVAL);
        assert_int_equal(dv_ha_new(NULL, &ha), -EINVAL);
        assert_int_equal(dv_ha_host_state_get(ha, "nope"), DV_HA_HOST_CONNECTED);
        assert_false(dv_ha_vm_busy(ha, "nope"));
        free(f);
}

#define SCENARIO(n) { n, run_scenario, NULL, NULL, (void *) n }

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_isolation_decide),
                cmocka_unit_test(test_admission),
                cmocka_unit_test(test_settings),
                cmocka_unit_test(test_env_errors),
                SCENARIO("host-power-off"),
                SCENARIO("isolation-leave-running"),
                SCENARIO("isolation-power-off"),
                SCENARIO("isolation-partition"),
                SCENARIO("host-freeze"),
                SCENARIO("host-freeze-watchdog"),
                SCENARIO("host-reset-avoided"),
                SCENARIO("fence-failed"),
                SCENARIO("fence-retry"),
                SCENARIO("no-capacity"),
                SCENARIO("start-failures"),
                SCENARIO("target-lost"),
                SCENARIO("guest-panic"),
                SCENARIO("tools-lost"),
                SCENARIO("host-returns"),
                SCENARIO("storage-lost"),
                SCENARIO("storage-lost-everywhere"),
                SCENARIO("storage-outage"),
                SCENARIO("storage-lost-kill-first"),
                SCENARIO("storage-lost-ds-first"),
                SCENARIO("isolation-blip"),
                SCENARIO("admission"),
                SCENARIO("disabled"),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
