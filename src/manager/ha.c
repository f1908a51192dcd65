/* High availability: the decision core (see ha.h and docs/ha.md).
 *
 * Per tick: read the facts, advance each host's state machine (which may ask
 * for fencing), stop stale copies on hosts that came back, advance each VM
 * (failure detection, stops, starts in flight), then place and start the
 * VMs waiting for a restart, highest priority first. The two rules that keep
 * one copy of a VM: a VM is restarted only once its old copy is known dead
 * (host fenced, its lease released or expired, or its host reported it
 * stopped), and never while another host holds its unexpired lease. */
#include "ha.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* What HA is doing about one VM. */
enum ha_phase {
        PHASE_OK,           /* nothing */
        PHASE_STOPPING,     /* its copy must go before a restart; waiting for "stopped" */
        PHASE_PENDING,      /* its copy is dead: to be placed and started */
        PHASE_STARTING,     /* start_vm() asked; waiting for "running" on the target */
};

/* Why a VM is being restarted (the "reason=" of its events). */
enum ha_reason {
        REASON_HOST_FAILED,
        REASON_ISOLATED,
        REASON_HOST_RESTARTED,
        REASON_STORAGE_LOST,
        REASON_GUEST_PANICKED,
        REASON_TOOLS_LOST,
};

static const char *const reason_names[] = {
        [REASON_HOST_FAILED] = "host-failed",
        [REASON_ISOLATED] = "host-isolated",
        [REASON_HOST_RESTARTED] = "host-restarted",
        [REASON_STORAGE_LOST] = "storage-lost",
        [REASON_GUEST_PANICKED] = "guest-panicked",
        [REASON_TOOLS_LOST] = "tools-heartbeat-lost",
};

struct ha_host {
        char *name;                    /* host name */
        enum dv_ha_host_state state;   /* where it is in the state machine */
        int64_t first_seen_ms;         /* heartbeat ages count from here at most */
        int64_t fence_req_ms;          /* FENCING: when the BMC was asked */
        int64_t fence_retry_ms;        /* FAILED: when to ask the BMC (again) */
        int64_t reconcile_until_ms;    /* stop stale copies it reports until then */
        int64_t victims_until_ms;      /* back from a silence: its VMs reported stopped
                                        * until then were lost with it (host-restarted) */
        bool fence_alarm;              /* ha.fence-failed is raised for it */
        bool seen;                     /* in this tick's facts */
};

struct ha_vm {
        char *name;                    /* VM name */
        enum ha_phase phase;           /* what HA is doing about it */
        enum ha_reason reason;         /* why (phase != OK) */
        char *from;                    /* host it failed on (phase != OK) */
        char *failed_host;             /* host whose failure began this restart:
                                        * placed there only if nothing else fits */
        char *target;                  /* STARTING: host asked to start it */
        int64_t phase_ms;              /* when the phase began */
        int64_t next_try_ms;           /* PENDING: not before */
        char *victim_of;               /* host it was active on when that host turned suspect */
        char *stale_host;              /* host last asked to stop a stale copy */
        int64_t stale_ms;              /* ... and when */
        bool down_reported;            /* non-HA VM on a fenced host: said so */
        bool limit_reported;           /* restart limit hit: said so, alarm raised */
        bool noplace_reported;         /* could not be placed: said so, alarm raised */
        bool wait_reported;            /* waiting for a lease: said so */
        bool stop_asked;               /* STOPPING: stop_vm() was called */
        bool seen;                     /* in this tick's facts */
};

struct dv_ha {
        struct dv_ha_settings s;       /* cluster settings */
        struct ha_host **hosts;        /* sorted by name */
        size_t n_hosts;
        struct ha_vm **vms;            /* sorted by name */
        size_t n_vms;
};

/* ---- Settings and names -------------------------------------------------- */

void dv_ha_settings_default(struct dv_ha_settings *ret)
{
        *ret = (struct dv_ha_settings) {
                .enabled = true,
                .admission = DV_HA_ADMISSION_HOSTS,
                .host_failures = 1,
                .percent = 25,
                .isolation = DV_HA_ISOLATION_LEAVE_RUNNING,
                .net_timeout_ms = 2000,
                .ds_timeout_ms = 3000,
                .lease_timeout_ms = 5000,
                .fence_margin_ms = 2000,
                .fence_retry_ms = 5000,
                .isolation_delay_ms = 3000,
                .tools_timeout_ms = 15000,
                .max_restarts_per_hour = 3,
                .start_timeout_ms = 30000,
                .retry_ms = 5000,
        };
}

bool dv_ha_settings_valid(const struct dv_ha_settings *s, const char **ret_reason)
{
        const char *why = NULL;

        if (s->net_timeout_ms <= 0 || s->ds_timeout_ms <= 0 || s->lease_timeout_ms <= 0 ||
            s->fence_retry_ms <= 0 || s->isolation_delay_ms <= 0 || s->tools_timeout_ms <= 0 ||
            s->start_timeout_ms <= 0 || s->retry_ms <= 0)
                why = "timeouts must be positive";
        else if (s->fence_margin_ms < 0)
                why = "fence margin must not be negative";
        else if (s->max_restarts_per_hour < 0)
                why = "max restarts per hour must not be negative";
        else if (s->admission == DV_HA_ADMISSION_HOSTS && s->host_failures < 1)
                why = "host failures to tolerate must be at least 1";
        else if (s->admission == DV_HA_ADMISSION_PERCENT && (s->percent < 1 || s->percent > 100))
                why = "failover percentage must be 1..100";
        else if ((unsigned) s->admission > DV_HA_ADMISSION_PERCENT ||
                 (unsigned) s->isolation > DV_HA_ISOLATION_POWER_OFF)
                why = "unknown admission policy or isolation response";
        if (why && ret_reason)
                *ret_reason = why;
        return !why;
}

static const char *const isolation_names[] = {
        [DV_HA_ISOLATION_LEAVE_RUNNING] = "leave-running",
        [DV_HA_ISOLATION_SHUTDOWN] = "shutdown",
        [DV_HA_ISOLATION_POWER_OFF] = "power-off",
};

static const char *const admission_names[] = {
        [DV_HA_ADMISSION_OFF] = "off",
        [DV_HA_ADMISSION_HOSTS] = "hosts",
        [DV_HA_ADMISSION_PERCENT] = "percent",
};

static const char *const host_state_names[] = {
        [DV_HA_HOST_CONNECTED] = "connected",
        [DV_HA_HOST_SUSPECT] = "suspect",
        [DV_HA_HOST_ISOLATED] = "isolated",
        [DV_HA_HOST_FAILED] = "failed",
        [DV_HA_HOST_FENCING] = "fencing",
        [DV_HA_HOST_FENCED] = "fenced",
        [DV_HA_HOST_STANDBY] = "standby",
};

static const char *const action_names[] = {
        [DV_HA_ISOLATION_ACTION_NONE] = "none",
        [DV_HA_ISOLATION_ACTION_WAIT] = "wait",
        [DV_HA_ISOLATION_ACTION_LEAVE_RUNNING] = "leave-running",
        [DV_HA_ISOLATION_ACTION_SHUTDOWN] = "shutdown",
        [DV_HA_ISOLATION_ACTION_POWER_OFF] = "power-off",
};

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
        return i < n ? names[i] : "unknown";
}

static int index_of(const char *const *names, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (strcmp(names[i], s) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *dv_ha_isolation_to_string(enum dv_ha_isolation_response r)
{
        return name_of(isolation_names, ELEMENTSOF(isolation_names), r);
}

int dv_ha_isolation_from_string(const char *s, enum dv_ha_isolation_response *ret)
{
        int i = index_of(isolation_names, ELEMENTSOF(isolation_names), s);

        if (i < 0)
                return i;
        *ret = (enum dv_ha_isolation_response) i;
        return 0;
}

const char *dv_ha_admission_to_string(enum dv_ha_admission a)
{
        return name_of(admission_names, ELEMENTSOF(admission_names), a);
}

int dv_ha_admission_from_string(const char *s, enum dv_ha_admission *ret)
{
        int i = index_of(admission_names, ELEMENTSOF(admission_names), s);

        if (i < 0)
                return i;
        *ret = (enum dv_ha_admission) i;
        return 0;
}

enum dv_ha_stop_reason dv_ha_stop_reason_from_string(const char *s)
{
        if (dv_streq(s, DV_HA_STOP_REASON_LEASE_LOST))
                return DV_HA_STOP_LEASE_LOST;
        if (dv_streq(s, DV_HA_STOP_REASON_ISOLATION_POWER_OFF) ||
            dv_streq(s, DV_HA_STOP_REASON_ISOLATION_SHUTDOWN))
                return DV_HA_STOP_ISOLATION;
        return DV_HA_STOP_OTHER;
}

const char *dv_ha_host_state_to_string(enum dv_ha_host_state s)
{
        return name_of(host_state_names, ELEMENTSOF(host_state_names), s);
}

const char *dv_ha_isolation_action_to_string(enum dv_ha_isolation_action a)
{
        return name_of(action_names, ELEMENTSOF(action_names), a);
}

/* ---- Object ------------------------------------------------------------- */

static void host_free(struct ha_host *h)
{
        if (!h)
                return;
        free(h->name);
        free(h);
}

static void vm_free(struct ha_vm *v)
{
        if (!v)
                return;
        free(v->name);
        free(v->from);
        free(v->failed_host);
        free(v->target);
        free(v->victim_of);
        free(v->stale_host);
        free(v);
}

static void forget_all(struct dv_ha *ha)
{
        for (size_t i = 0; i < ha->n_hosts; i++)
                host_free(ha->hosts[i]);
        for (size_t i = 0; i < ha->n_vms; i++)
                vm_free(ha->vms[i]);
        free(ha->hosts);
        free(ha->vms);
        ha->hosts = NULL;
        ha->vms = NULL;
        ha->n_hosts = ha->n_vms = 0;
}

int dv_ha_new(const struct dv_ha_settings *s, struct dv_ha **ret)
{
        struct dv_ha *ha;

        if (!s || !ret)
                return -EINVAL;
        ha = calloc(1, sizeof(*ha));
        if (!ha)
                return -ENOMEM;
        ha->s = *s;
        *ret = ha;
        return 0;
}

void dv_ha_free(struct dv_ha *ha)
{
        if (!ha)
                return;
        forget_all(ha);
        free(ha);
}

void dv_ha_freep(struct dv_ha **ha)
{
        dv_ha_free(*ha);
}

void dv_ha_set_settings(struct dv_ha *ha, const struct dv_ha_settings *s)
{
        if (!s->enabled)
                forget_all(ha);
        ha->s = *s;
}

/* Binary search in an array of pointers to structs whose first member is the
 * name: the index found, or -(insertion point) - 1. */
static ssize_t find_name(void *const *arr, size_t n, const char *name)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(*(char *const *) arr[mid], name);

                if (c == 0)
                        return (ssize_t) mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -(ssize_t) lo - 1;
}

static int insert_at(void ***arr, size_t *n, size_t pos, void *item)
{
        void **a = realloc(*arr, (*n + 1) * sizeof(void *));

        if (!a)
                return -ENOMEM;
        memmove(a + pos + 1, a + pos, (*n - pos) * sizeof(void *));
        a[pos] = item;
        *arr = a;
        (*n)++;
        return 0;
}

enum dv_ha_host_state dv_ha_host_state_get(const struct dv_ha *ha, const char *host)
{
        ssize_t i;

        if (!ha || !host)
                return DV_HA_HOST_CONNECTED;
        i = find_name((void *const *) ha->hosts, ha->n_hosts, host);
        return i >= 0 ? ha->hosts[i]->state : DV_HA_HOST_CONNECTED;
}

bool dv_ha_vm_busy(const struct dv_ha *ha, const char *vm)
{
        ssize_t i;

        if (!ha || !vm)
                return false;
        i = find_name((void *const *) ha->vms, ha->n_vms, vm);
        return i >= 0 && ha->vms[i]->phase != PHASE_OK;
}

/* ---- One tick ------------------------------------------------------------ */

struct tick {
        struct dv_ha *ha;              /* the core */
        const struct dv_ha_settings *s;/* its settings */
        const struct dv_ha_env *env;   /* the environment */
        int64_t now;                   /* this tick's time */
        const struct dv_ha_host *hosts;/* host facts */
        size_t n_hosts;
        const struct dv_ha_vm *vms;    /* VM facts */
        size_t n_vms;
        struct ha_host **ht;           /* per host fact: its state */
        struct ha_vm **vt;             /* per VM fact: its state */
        int64_t *used_mem;             /* per host: MiB taken by restarts the facts do not show yet */
        int64_t *used_cpus;            /* per host: vCPUs, likewise */
};

static void set_str(char **p, const char *s)
{
        free(*p);
        *p = s ? dv_strdup(s) : NULL;
}

_printf_(4, 5)
static void say(struct tick *t, const char *kind, const char *target, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        t->env->emit_event(t->env->userdata, kind, target, msg);
}

_printf_(4, 5)
static void alarm_raise(struct tick *t, const char *kind, const char *target, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        t->env->raise_alarm(t->env->userdata, kind, target, msg);
}

static void alarm_clear(struct tick *t, const char *kind, const char *target)
{
        if (t->env->clear_alarm)
                t->env->clear_alarm(t->env->userdata, kind, target);
}

static const char *errstr(int r, char *buf, size_t len)
{
        return strerror_r(r < 0 ? -r : r, buf, len);
}

static ssize_t host_index(const struct tick *t, const char *name)
{
        for (size_t i = 0; name && i < t->n_hosts; i++)
                if (dv_streq(t->hosts[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static ssize_t vm_index(const struct tick *t, const char *name)
{
        for (size_t i = 0; name && i < t->n_vms; i++)
                if (dv_streq(t->vms[i].name, name))
                        return (ssize_t) i;
        return -1;
}

static bool has_name(const char *const *list, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (dv_streq(list[i], name))
                        return true;
        return false;
}

/* First of want[] missing from have[], or NULL. */
static const char *first_missing(const char *const *want, size_t n_want,
                                 const char *const *have, size_t n_have)
{
        for (size_t i = 0; i < n_want; i++)
                if (!has_name(have, n_have, want[i]))
                        return want[i];
        return NULL;
}

/* Matches the facts to the remembered states: new hosts and VMs are added,
 * gone ones forgotten. Fills t->ht and t->vt. */
static int sync_tracks(struct tick *t)
{
        struct dv_ha *ha = t->ha;
        size_t j;

        for (size_t i = 0; i < ha->n_hosts; i++)
                ha->hosts[i]->seen = false;
        for (size_t i = 0; i < ha->n_vms; i++)
                ha->vms[i]->seen = false;

        for (size_t i = 0; i < t->n_hosts; i++) {
                const char *name = t->hosts[i].name;
                ssize_t k = find_name((void *const *) ha->hosts, ha->n_hosts, name);
                struct ha_host *h;

                if (!name)
                        return -EINVAL;
                if (k < 0) {
                        h = calloc(1, sizeof(*h));
                        if (!h)
                                return -ENOMEM;
                        h->name = dv_strdup(name);
                        h->state = DV_HA_HOST_CONNECTED;
                        h->first_seen_ms = t->now;
                        h->reconcile_until_ms = -1;
                        h->victims_until_ms = -1;
                        if (insert_at((void ***) &ha->hosts, &ha->n_hosts, (size_t) (-k - 1), h) < 0) {
                                host_free(h);
                                return -ENOMEM;
                        }
                } else
                        h = ha->hosts[k];
                h->seen = true;
                t->ht[i] = h;
        }
        for (size_t i = 0; i < t->n_vms; i++) {
                const char *name = t->vms[i].name;
                ssize_t k = find_name((void *const *) ha->vms, ha->n_vms, name);
                struct ha_vm *v;

                if (!name)
                        return -EINVAL;
                if (k < 0) {
                        v = calloc(1, sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        v->name = dv_strdup(name);
                        if (insert_at((void ***) &ha->vms, &ha->n_vms, (size_t) (-k - 1), v) < 0) {
                                vm_free(v);
                                return -ENOMEM;
                        }
                } else
                        v = ha->vms[k];
                v->seen = true;
                t->vt[i] = v;
        }

        for (size_t i = j = 0; i < ha->n_hosts; i++) {
                if (ha->hosts[i]->seen)
                        ha->hosts[j++] = ha->hosts[i];
                else
                        host_free(ha->hosts[i]);
        }
        ha->n_hosts = j;
        for (size_t i = j = 0; i < ha->n_vms; i++) {
                if (ha->vms[i]->seen)
                        ha->vms[j++] = ha->vms[i];
                else
                        vm_free(ha->vms[i]);
        }
        ha->n_vms = j;
        return 0;
}

/* ---- Hosts --------------------------------------------------------------- */

/* The VMs active on a host that just went silent: if it comes back without
 * them, they are restarted. */
static void snapshot_victims(struct tick *t, const char *host)
{
        for (size_t i = 0; i < t->n_vms; i++)
                if (dv_streq(t->vms[i].host, host) && t->vms[i].state != DV_HA_VM_STOPPED)
                        set_str(&t->vt[i]->victim_of, host);
}

static bool host_set(struct ha_host *ht, enum dv_ha_host_state state)
{
        ht->state = state;
        return true;
}

static bool host_recover(struct tick *t, struct ha_host *ht)
{
        enum dv_ha_host_state from = ht->state;

        say(t, "host.recovered", ht->name, "from=%s", dv_ha_host_state_to_string(from));
        if (from != DV_HA_HOST_SUSPECT)
                ht->reconcile_until_ms = t->now + 2 * t->s->net_timeout_ms;
        /* The first sign of life (e.g. a re-registration) may come before
         * the heartbeat that says which VMs it lost: wait for it a while. */
        ht->victims_until_ms = t->now + 2 * t->s->net_timeout_ms;
        if (ht->fence_alarm) {
                alarm_clear(t, "ha.fence-failed", ht->name);
                ht->fence_alarm = false;
        }
        return host_set(ht, DV_HA_HOST_CONNECTED);
}

static bool host_fenced(struct tick *t, struct ha_host *ht, bool by_bmc, int64_t ds_age)
{
        if (by_bmc)
                say(t, "host.fenced", ht->name, "by=bmc");
        else
                say(t, "host.fenced", ht->name, "by=datastore-silence ds-silent-ms=%" PRId64, ds_age);
        if (ht->fence_alarm) {
                alarm_clear(t, "ha.fence-failed", ht->name);
                ht->fence_alarm = false;
        }
        return host_set(ht, DV_HA_HOST_FENCED);
}

static void fence_failed(struct tick *t, struct ha_host *ht, const char *why)
{
        say(t, "host.fence-failed", ht->name, "error=%s", why);
        if (!ht->fence_alarm) {
                alarm_raise(t, "ha.fence-failed", ht->name,
                            "host %s failed and its BMC did not power it off (%s); its VMs restart "
                            "when their leases expire, or when its datastore heartbeat has been "
                            "silent for %" PRId64 " ms", ht->name, why,
                            t->s->lease_timeout_ms + t->s->fence_margin_ms);
                ht->fence_alarm = true;
        }
}

/* One transition of a host's state machine; true if the state changed. */
static bool host_advance(struct tick *t, const struct dv_ha_host *h, struct ha_host *ht)
{
        const struct dv_ha_settings *s = t->s;
        int64_t now = t->now;
        int64_t net_last = DV_MAX(h->net_hb_ms, ht->first_seen_ms);
        int64_t ds_last = DV_MAX(h->ds_hb_ms, ht->first_seen_ms);
        int64_t net_age = now - net_last, ds_age = now - ds_last;
        bool net_ok = net_age <= s->net_timeout_ms;
        bool ds_ok = ds_age <= s->ds_timeout_ms;
        bool ds_expired = ds_age > s->lease_timeout_ms + s->fence_margin_ms;
        /* A BMC reading taken after the host's last sign of life. */
        bool fresh = h->has_bmc && h->power_ms > net_last && h->power_ms > ds_last;
        bool off = fresh && h->power == DV_HA_POWER_OFF;
        char buf[128];
        int r;

        if (h->admin == DV_HA_ADMIN_STANDBY) {
                if (ht->state == DV_HA_HOST_STANDBY)
                        return false;
                return host_set(ht, DV_HA_HOST_STANDBY);
        }

        switch (ht->state) {
        case DV_HA_HOST_STANDBY:
                /* Back in service: its heartbeats get a full timeout from now. */
                ht->first_seen_ms = now;
                return host_set(ht, DV_HA_HOST_CONNECTED);

        case DV_HA_HOST_CONNECTED:
                if (net_ok)
                        return false;
                snapshot_victims(t, h->name);
                say(t, "host.unreachable", h->name, "net-silent-ms=%" PRId64, net_age);
                return host_set(ht, DV_HA_HOST_SUSPECT);

        case DV_HA_HOST_SUSPECT:
        case DV_HA_HOST_ISOLATED:
                if (net_ok)
                        return host_recover(t, ht);
                if (off || !ds_ok) {
                        say(t, "host.failed", h->name,
                            "net-silent-ms=%" PRId64 " ds-silent-ms=%" PRId64 " power=%s bmc=%s",
                            net_age, ds_age,
                            off ? "off" : fresh && h->power == DV_HA_POWER_ON ? "on" : "unknown",
                            h->has_bmc ? "yes" : "no");
                        ht->fence_retry_ms = now;
                        return host_set(ht, DV_HA_HOST_FAILED);
                }
                if (ht->state == DV_HA_HOST_SUSPECT &&
                    net_age > s->net_timeout_ms + s->ds_timeout_ms) {
                        say(t, "host.isolated", h->name,
                            "net-silent-ms=%" PRId64 " ds-heartbeat-age-ms=%" PRId64 " response=%s",
                            net_age, ds_age, dv_ha_isolation_to_string(s->isolation));
                        return host_set(ht, DV_HA_HOST_ISOLATED);
                }
                return false;

        case DV_HA_HOST_FAILED:
                if (net_ok)
                        return host_recover(t, ht);
                if (off)
                        return host_fenced(t, ht, true, ds_age);
                if (ds_expired)
                        return host_fenced(t, ht, false, ds_age);
                if (!h->has_bmc || now < ht->fence_retry_ms)
                        return false;
                r = t->env->fence_host(t->env->userdata, h->name);
                if (r < 0) {
                        fence_failed(t, ht, errstr(r, buf, sizeof(buf)));
                        ht->fence_retry_ms = now + s->fence_retry_ms;
                        return false;
                }
                say(t, "host.fencing", h->name, "method=bmc");
                ht->fence_req_ms = now;
                return host_set(ht, DV_HA_HOST_FENCING);

        case DV_HA_HOST_FENCING:
                if (net_ok)
                        return host_recover(t, ht);
                if (off)
                        return host_fenced(t, ht, true, ds_age);
                if (ds_expired)
                        return host_fenced(t, ht, false, ds_age);
                if (now - ht->fence_req_ms < s->fence_retry_ms)
                        return false;
                snprintf(buf, sizeof(buf), "not-off-after-ms=%" PRId64, now - ht->fence_req_ms);
                fence_failed(t, ht, buf);
                ht->fence_retry_ms = now; /* ask again at once */
                return host_set(ht, DV_HA_HOST_FAILED);

        case DV_HA_HOST_FENCED:
                if (net_ok)
                        return host_recover(t, ht);
                return false;
        }
        return false;
}

/* A host that came back may run copies of VMs that now run elsewhere (a
 * frozen host resumed, an agent that restarted what it had): stop them. */
static void stop_stale_copies(struct tick *t, size_t hi)
{
        const struct dv_ha_host *h = &t->hosts[hi];
        char buf[128];

        for (size_t i = 0; i < h->n_vms; i++) {
                ssize_t vi = vm_index(t, h->vms[i]);
                const struct dv_ha_vm *vm;
                struct ha_vm *vt;
                int r;

                if (vi < 0)
                        continue;
                vm = &t->vms[vi];
                vt = t->vt[vi];
                if (dv_streq(vm->host, h->name) || vm->state == DV_HA_VM_MIGRATING)
                        continue;
                if (dv_streq(vt->stale_host, h->name) && t->now - vt->stale_ms < t->s->retry_ms)
                        continue;
                set_str(&vt->stale_host, h->name);
                vt->stale_ms = t->now;
                r = t->env->stop_vm(t->env->userdata, vm->name, h->name);
                if (r < 0)
                        say(t, "vm.stale-stop-failed", vm->name, "host=%s runs-on=%s error=%s",
                            h->name, vm->host ? vm->host : "none", errstr(r, buf, sizeof(buf)));
                else
                        say(t, "vm.stale-stopped", vm->name, "host=%s runs-on=%s", h->name,
                            vm->host ? vm->host : "none");
        }
}

/* ---- VMs ----------------------------------------------------------------- */

static bool lease_blocks(const struct dv_ha_vm *vm, const char *target, int64_t now)
{
        return vm->leased && vm->lease_holder && !dv_streq(vm->lease_holder, target) &&
               now < vm->lease_expiry_ms;
}

static bool lease_free(const struct dv_ha_vm *vm, int64_t now)
{
        return vm->leased && (!vm->lease_holder || now >= vm->lease_expiry_ms);
}

static void set_phase(struct tick *t, struct ha_vm *vt, enum ha_phase phase)
{
        vt->phase = phase;
        vt->phase_ms = t->now;
}

static bool is_vm_failure(enum ha_reason r)
{
        return r == REASON_GUEST_PANICKED || r == REASON_TOOLS_LOST;
}

/* The VM's copy is dead: queue it for a restart. */
static void make_pending(struct tick *t, const struct dv_ha_vm *vm, struct ha_vm *vt,
                         enum ha_reason reason)
{
        vt->reason = reason;
        set_str(&vt->from, vm->host);
        if (!vt->failed_host && !is_vm_failure(reason))
                set_str(&vt->failed_host, vm->host);
        set_str(&vt->target, NULL);
        vt->next_try_ms = t->now;
        vt->wait_reported = false;
        set_phase(t, vt, PHASE_PENDING);
}

static void clear_vm_alarms(struct tick *t, struct ha_vm *vt)
{
        if (vt->noplace_reported)
                alarm_clear(t, "ha.not-placed", vt->name);
        if (vt->limit_reported)
                alarm_clear(t, "ha.restart-limit", vt->name);
        vt->noplace_reported = vt->limit_reported = false;
}

static void back_to_ok(struct tick *t, struct ha_vm *vt)
{
        set_str(&vt->from, NULL);
        set_str(&vt->failed_host, NULL);
        set_str(&vt->target, NULL);
        vt->wait_reported = false;
        set_phase(t, vt, PHASE_OK);
}

static int place(struct tick *t, const struct dv_ha_vm *vm, const char *prefer,
                 const char *avoid, size_t *ret, char *why, size_t why_len);

static void ask_stop(struct tick *t, const struct dv_ha_vm *vm, struct ha_vm *vt)
{
        char buf[128];
        int r;

        vt->stop_asked = true;
        vt->phase_ms = t->now;
        r = t->env->stop_vm(t->env->userdata, vm->name, vm->host);
        if (r < 0)
                say(t, "vm.stop-failed", vm->name, "host=%s error=%s", vm->host,
                    errstr(r, buf, sizeof(buf)));
}

/* The VM's copy must go before it restarts. With stop, HA kills it now;
 * without, it waits for the VM to stop by itself (an agent that cannot
 * renew a lease kills the VM). */
static void begin_stop(struct tick *t, const struct dv_ha_vm *vm, struct ha_vm *vt,
                       enum ha_reason reason, bool stop)
{
        vt->reason = reason;
        vt->stop_asked = false;
        set_str(&vt->from, vm->host);
        set_phase(t, vt, PHASE_STOPPING);
        if (stop)
                ask_stop(t, vm, vt);
}

/* Could vm run elsewhere (a dry run of the placement)? */
static bool placeable(struct tick *t, const struct dv_ha_vm *vm)
{
        char why[256];
        size_t hi;

        return place(t, vm, NULL, NULL, &hi, why, sizeof(why)) == 0;
}


/* Restart limit reached: say so once, raise an alarm. */
static void limit_hit(struct tick *t, const struct dv_ha_vm *vm, struct ha_vm *vt,
                      enum ha_reason reason)
{
        if (vt->limit_reported)
                return;
        say(t, "vm.restart-limit", vm->name, "reason=%s restarts-last-hour=%d max=%d",
            reason_names[reason], vm->restarts_last_hour, t->s->max_restarts_per_hour);
        alarm_raise(t, "ha.restart-limit", vm->name,
                    "vm %s failed (%s) after %d restarts in the last hour; left as it is",
                    vm->name, reason_names[reason], vm->restarts_last_hour);
        vt->limit_reported = true;
}

static void vm_step(struct tick *t, size_t i)
{
        const struct dv_ha_settings *s = t->s;
        const struct dv_ha_vm *vm = &t->vms[i];
        struct ha_vm *vt = t->vt[i];
        ssize_t hi = host_index(t, vm->host);
        struct ha_host *ht;
        enum dv_ha_host_state hs;
        bool active = vm->state != DV_HA_VM_STOPPED;
        bool gone;

        if (vt->victim_of && !dv_streq(vt->victim_of, vm->host))
                set_str(&vt->victim_of, NULL);
        if (hi < 0)
                return; /* not placed, or on a host HA does not know */
        ht = t->ht[hi];
        hs = ht->state;

        if (!vm->ha) {
                if (vt->phase != PHASE_OK) {
                        say(t, "vm.restart-cancelled", vm->name, "reason=ha-off");
                        clear_vm_alarms(t, vt);
                        back_to_ok(t, vt);
                }
                if (hs == DV_HA_HOST_FENCED && (active || vt->victim_of) && !vt->down_reported) {
                        say(t, "vm.not-restarted", vm->name, "host=%s reason=ha-off", vm->host);
                        vt->down_reported = true;
                } else if (hs == DV_HA_HOST_CONNECTED) {
                        vt->down_reported = false;
                        set_str(&vt->victim_of, NULL);
                }
                return;
        }

        /* Is the copy on a lost host known dead? */
        if (vt->phase != PHASE_PENDING && (active || vt->victim_of) &&
            (vt->phase != PHASE_STARTING || dv_streq(vt->target, vm->host))) {
                if (hs == DV_HA_HOST_FENCED) {
                        make_pending(t, vm, vt, REASON_HOST_FAILED);
                        return;
                }
                if ((hs == DV_HA_HOST_ISOLATED || hs == DV_HA_HOST_FAILED ||
                     hs == DV_HA_HOST_FENCING) && lease_free(vm, t->now)) {
                        make_pending(t, vm, vt, hs == DV_HA_HOST_ISOLATED ? REASON_ISOLATED
                                                                          : REASON_HOST_FAILED);
                        return;
                }
        }

        switch (vt->phase) {
        case PHASE_OK: {
                enum ha_reason why;
                const char *ds;
                int64_t tools_age = 0;

                if (vm->state == DV_HA_VM_STOPPED && vm->stop_reason != DV_HA_STOP_OTHER) {
                        /* Its host killed it on its own: on lease loss (storage
                         * lost, maybe reported before HA saw the datastore go)
                         * or as the isolation response. Dead: restart it, once
                         * its lease lets another host (the placement waits). */
                        bool lease = vm->stop_reason == DV_HA_STOP_LEASE_LOST;

                        say(t, "vm.killed-by-host", vm->name, "host=%s reason=%s", vm->host,
                            lease ? DV_HA_STOP_REASON_LEASE_LOST : "isolation-response");
                        make_pending(t, vm, vt, lease ? REASON_STORAGE_LOST : REASON_ISOLATED);
                        break;
                }
                if (hs != DV_HA_HOST_CONNECTED)
                        break;
                if (vt->victim_of) {
                        /* Its host came back: without it, it is restarted. */
                        gone = vm->state == DV_HA_VM_STOPPED;
                        if (gone || t->now > ht->victims_until_ms)
                                set_str(&vt->victim_of, NULL);
                        if (gone) {
                                make_pending(t, vm, vt, REASON_HOST_RESTARTED);
                                break;
                        }
                }
                ds = first_missing(vm->datastores, vm->n_datastores, t->hosts[hi].datastores,
                                   t->hosts[hi].n_datastores);
                if (ds && (vm->state == DV_HA_VM_RUNNING || vm->state == DV_HA_VM_PAUSED ||
                           vm->state == DV_HA_VM_CRASHED)) {
                        /* Killed only if another host can run it: storage lost
                         * everywhere must not take every VM down with it. */
                        bool elsewhere = placeable(t, vm);

                        say(t, "vm.storage-lost", vm->name, "host=%s datastore=%s action=%s",
                            vm->host, ds, elsewhere ? "stop" : "wait");
                        begin_stop(t, vm, vt, REASON_STORAGE_LOST, elsewhere);
                        break;
                }
                if (vm->state == DV_HA_VM_CRASHED)
                        why = REASON_GUEST_PANICKED;
                else if (vm->state == DV_HA_VM_RUNNING && vm->tools != DV_HA_TOOLS_NONE &&
                         vm->tools_hb_ms >= 0 &&
                         (tools_age = t->now - vm->tools_hb_ms) > s->tools_timeout_ms)
                        why = REASON_TOOLS_LOST;
                else {
                        /* Healthy again (a user restarted it): the limit alarm goes. */
                        if (vt->limit_reported && vm->state == DV_HA_VM_RUNNING) {
                                alarm_clear(t, "ha.restart-limit", vm->name);
                                vt->limit_reported = false;
                        }
                        break;
                }
                if (vm->restarts_last_hour >= s->max_restarts_per_hour) {
                        limit_hit(t, vm, vt, why);
                        break;
                }
                if (why == REASON_TOOLS_LOST)
                        say(t, "vm.failed", vm->name, "reason=%s host=%s tools-silent-ms=%" PRId64,
                            reason_names[why], vm->host, tools_age);
                else
                        say(t, "vm.failed", vm->name, "reason=%s host=%s", reason_names[why],
                            vm->host);
                begin_stop(t, vm, vt, why, true);
                break;
        }

        case PHASE_STOPPING:
                if (vm->state == DV_HA_VM_STOPPED) {
                        make_pending(t, vm, vt, vt->reason);
                        break;
                }
                if (hs != DV_HA_HOST_CONNECTED)
                        break;
                if (vt->reason == REASON_STORAGE_LOST && !vt->stop_asked) {
                        const char *ds = first_missing(vm->datastores, vm->n_datastores,
                                                       t->hosts[hi].datastores,
                                                       t->hosts[hi].n_datastores);

                        if (!ds && (vm->state == DV_HA_VM_RUNNING || vm->state == DV_HA_VM_PAUSED)) {
                                say(t, "vm.storage-recovered", vm->name, "host=%s", vm->host);
                                back_to_ok(t, vt);
                        } else if (ds && placeable(t, vm)) {
                                say(t, "vm.storage-lost", vm->name, "host=%s datastore=%s action=stop",
                                    vm->host, ds);
                                ask_stop(t, vm, vt);
                        }
                        break;
                }
                if (vt->stop_asked && t->now - vt->phase_ms >= s->retry_ms)
                        ask_stop(t, vm, vt);
                break;

        case PHASE_PENDING:
                if (hs == DV_HA_HOST_CONNECTED &&
                    (vm->state == DV_HA_VM_RUNNING || vm->state == DV_HA_VM_PAUSED)) {
                        say(t, "vm.restart-cancelled", vm->name, "reason=running host=%s",
                            vm->host);
                        clear_vm_alarms(t, vt);
                        back_to_ok(t, vt);
                }
                break;

        case PHASE_STARTING: {
                bool on_target = dv_streq(vm->host, vt->target);
                char buf[64];

                if (on_target && vm->state == DV_HA_VM_RUNNING) {
                        say(t, "vm.restarted", vm->name, "host=%s reason=%s", vm->host,
                            reason_names[vt->reason]);
                        clear_vm_alarms(t, vt);
                        back_to_ok(t, vt);
                        break;
                }
                if (on_target && vm->state == DV_HA_VM_STOPPED && t->now > vt->phase_ms) {
                        /* The target reported it gone: try again. */
                        say(t, "vm.restart-failed", vm->name, "host=%s error=stopped", vt->target);
                        make_pending(t, vm, vt, vt->reason);
                        vt->next_try_ms = t->now + s->retry_ms;
                        break;
                }
                if (!on_target) {
                        /* The record never moved (the start did not take). */
                        if (t->now - vt->phase_ms < s->start_timeout_ms)
                                break;
                        say(t, "vm.restart-failed", vm->name, "host=%s error=not-recorded",
                            vt->target);
                        make_pending(t, vm, vt, vt->reason);
                        vt->next_try_ms = t->now + s->retry_ms;
                        break;
                }
                /* Crashed on the target, or not running in time: its copy there
                 * must go first. A target that is not connected is left to the
                 * host state machine (its copy may be running). */
                if (hs != DV_HA_HOST_CONNECTED)
                        break;
                if (vm->state == DV_HA_VM_CRASHED && t->now > vt->phase_ms)
                        snprintf(buf, sizeof(buf), "crashed");
                else if (t->now - vt->phase_ms >= s->start_timeout_ms)
                        snprintf(buf, sizeof(buf), "not-running-after-ms=%" PRId64,
                                 t->now - vt->phase_ms);
                else
                        break;
                say(t, "vm.restart-failed", vm->name, "host=%s error=%s", vt->target, buf);
                set_str(&vt->target, NULL);
                /* A guest that panics as it boots counts against the restart limit. */
                begin_stop(t, vm, vt, vm->state == DV_HA_VM_CRASHED ? REASON_GUEST_PANICKED
                                                                    : vt->reason, true);
                break;
        }
        }
}

/* ---- Placement and restarts ---------------------------------------------- */

/* Chooses a healthy host for vm: prefer if it fits, else the one with the
 * most free memory (ties: first by name), avoid only when no other host
 * fits (the host that failed under the VM: back after a reset, it is the
 * emptiest, and the one least to be trusted). On failure, why says what
 * stopped every host. */
static int place(struct tick *t, const struct dv_ha_vm *vm, const char *prefer,
                 const char *avoid, size_t *ret, char *why, size_t why_len)
{
        ssize_t best = -1, preferred = -1, avoided = -1;
        int64_t best_free = 0, max_free = -1;
        bool healthy = false, ds_ok = false, dvs_ok = false, mem_ok = false;
        const char *missing_ds = NULL, *missing_dvs = NULL;

        for (size_t i = 0; i < t->n_hosts; i++) {
                const struct dv_ha_host *h = &t->hosts[i];
                bool own = dv_streq(h->name, vm->host);
                int64_t free_mem, free_cpus;
                const char *m;

                if (t->ht[i]->state != DV_HA_HOST_CONNECTED || h->admin != DV_HA_ADMIN_ACTIVE)
                        continue;
                healthy = true;
                m = first_missing(vm->datastores, vm->n_datastores, h->datastores, h->n_datastores);
                if (m) {
                        missing_ds = missing_ds ? missing_ds : m;
                        continue;
                }
                ds_ok = true;
                m = first_missing(vm->dvs, vm->n_dvs, h->dvs, h->n_dvs);
                if (m) {
                        missing_dvs = missing_dvs ? missing_dvs : m;
                        continue;
                }
                dvs_ok = true;
                /* A VM placed here already holds its reservation here. */
                free_mem = h->mem_free_mib - t->used_mem[i] + (own ? vm->mem_mib : 0);
                free_cpus = h->cpus_free - t->used_cpus[i] + (own ? vm->cpus : 0);
                max_free = DV_MAX(max_free, free_mem);
                if (free_mem < vm->mem_mib)
                        continue;
                mem_ok = true;
                if (free_cpus < vm->cpus)
                        continue;
                if (prefer && dv_streq(h->name, prefer))
                        preferred = (ssize_t) i;
                if (avoid && dv_streq(h->name, avoid)) {
                        avoided = (ssize_t) i;
                        continue;
                }
                if (best < 0 || free_mem > best_free ||
                    (free_mem == best_free && strcmp(h->name, t->hosts[best].name) < 0)) {
                        best = (ssize_t) i;
                        best_free = free_mem;
                }
        }
        if (preferred >= 0)
                best = preferred;
        if (best < 0)
                best = avoided;
        if (best >= 0) {
                *ret = (size_t) best;
                return 0;
        }
        if (!healthy)
                snprintf(why, why_len, "no-healthy-host");
        else if (!ds_ok)
                snprintf(why, why_len, "datastore-unreachable datastore=%s", missing_ds);
        else if (!dvs_ok)
                snprintf(why, why_len, "dvs-not-attached dvs=%s", missing_dvs);
        else if (!mem_ok)
                snprintf(why, why_len, "memory need-mib=%" PRId64 " max-free-mib=%" PRId64,
                         vm->mem_mib, max_free);
        else
                snprintf(why, why_len, "cpus need=%" PRId64, vm->cpus);
        return -ENOSPC;
}

/* Restart order: priority (high first), then name. */
static bool restart_before(const struct tick *t, size_t a, size_t b)
{
        const struct dv_ha_vm *x = &t->vms[a], *y = &t->vms[b];

        if (x->priority != y->priority)
                return x->priority > y->priority;
        return strcmp(x->name, y->name) < 0;
}

/* Insertion sort of indexes into t->vms (qsort has no context argument). */
static void sort_restarts(const struct tick *t, size_t *idx, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                size_t v = idx[i], j = i;

                while (j > 0 && restart_before(t, v, idx[j - 1])) {
                        idx[j] = idx[j - 1];
                        j--;
                }
                idx[j] = v;
        }
}

static void reserve(struct tick *t, size_t hi, const struct dv_ha_vm *vm, int sign)
{
        if (dv_streq(t->hosts[hi].name, vm->host))
                return; /* already reserved there */
        t->used_mem[hi] += sign * vm->mem_mib;
        t->used_cpus[hi] += sign * vm->cpus;
}

static int restart_pending(struct tick *t)
{
        _cleanup_(freep) size_t *idx = NULL;
        int gate_prio = INT_MIN;  /* a VM of this priority waits for its lease */
        const char *gate_vm = NULL;
        size_t n = 0;

        idx = calloc(t->n_vms ? t->n_vms : 1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_vms; i++)
                if (t->vt[i]->phase == PHASE_PENDING && t->vms[i].ha &&
                    t->now >= t->vt[i]->next_try_ms)
                        idx[n++] = i;
        sort_restarts(t, idx, n);

        for (size_t k = 0; k < n; k++) {
                const struct dv_ha_vm *vm = &t->vms[idx[k]];
                struct ha_vm *vt = t->vt[idx[k]];
                const char *prefer = is_vm_failure(vt->reason) ? vm->host : NULL;
                const char *avoid = is_vm_failure(vt->reason) ? NULL : vt->failed_host;
                const char *target;
                char why[256], buf[128];
                size_t hi;
                int r;

                if (is_vm_failure(vt->reason) &&
                    vm->restarts_last_hour >= t->s->max_restarts_per_hour) {
                        limit_hit(t, vm, vt, vt->reason);
                        back_to_ok(t, vt);
                        continue;
                }
                if (place(t, vm, prefer, avoid, &hi, why, sizeof(why)) < 0) {
                        if (!vt->noplace_reported) {
                                say(t, "vm.not-placed", vm->name, "reason=%s", why);
                                alarm_raise(t, "ha.not-placed", vm->name,
                                            "vm %s cannot be restarted: no host fits (%s); "
                                            "retried when capacity returns", vm->name, why);
                                vt->noplace_reported = true;
                        }
                        continue;
                }
                target = t->hosts[hi].name;
                /* Held for it even while it waits: lower priorities come after. */
                reserve(t, hi, vm, 1);
                /* A higher priority VM still waiting for its lease starts
                 * first: lower ones wait with it, for at most the lease
                 * timeout and its grace after it went pending (a lease
                 * kept alive by its holder must not hold them forever). */
                if (vm->priority < gate_prio) {
                        if (!vt->wait_reported) {
                                say(t, "vm.restart-waiting", vm->name,
                                    "higher-priority=%s priority=%d", gate_vm, gate_prio);
                                vt->wait_reported = true;
                        }
                        continue;
                }
                if (lease_blocks(vm, target, t->now)) {
                        if (t->now - vt->phase_ms < t->s->lease_timeout_ms + t->s->fence_margin_ms &&
                            vm->priority > gate_prio) {
                                gate_prio = vm->priority;
                                gate_vm = vm->name;
                        }
                        if (!vt->wait_reported) {
                                say(t, "vm.restart-waiting", vm->name,
                                    "lease-holder=%s lease-expires-in-ms=%" PRId64,
                                    vm->lease_holder, vm->lease_expiry_ms - t->now);
                                vt->wait_reported = true;
                        }
                        continue;
                }
                r = t->env->start_vm(t->env->userdata, vm->name, target);
                if (r < 0) {
                        reserve(t, hi, vm, -1);
                        say(t, "vm.restart-failed", vm->name, "host=%s error=%s", target,
                            errstr(r, buf, sizeof(buf)));
                        vt->next_try_ms = t->now + t->s->retry_ms;
                        continue;
                }
                say(t, "vm.restarting", vm->name, "from=%s to=%s reason=%s priority=%d",
                    vt->from ? vt->from : "none", target, reason_names[vt->reason],
                    vm->priority);
                if (vt->noplace_reported) {
                        alarm_clear(t, "ha.not-placed", vm->name);
                        vt->noplace_reported = false;
                }
                set_str(&vt->target, target);
                vt->wait_reported = false;
                set_phase(t, vt, PHASE_STARTING);
        }
        return 0;
}

/* Restarts asked for in earlier ticks that the facts do not show yet (the
 * record still points elsewhere) hold their capacity on the target. */
static void reserve_in_flight(struct tick *t)
{
        for (size_t i = 0; i < t->n_vms; i++) {
                ssize_t hi;

                if (t->vt[i]->phase != PHASE_STARTING)
                        continue;
                hi = host_index(t, t->vt[i]->target);
                if (hi >= 0)
                        reserve(t, (size_t) hi, &t->vms[i], 1);
        }
}

int dv_ha_tick(struct dv_ha *ha, const struct dv_ha_env *env)
{
        _cleanup_(freep) struct ha_host **ht = NULL;
        _cleanup_(freep) struct ha_vm **vt = NULL;
        _cleanup_(freep) int64_t *used_mem = NULL;
        _cleanup_(freep) int64_t *used_cpus = NULL;
        struct tick t = { .ha = ha, .env = env };
        int r;

        if (!ha || !env)
                return -EINVAL;
        t.s = &ha->s;
        t.now = env->now_ms(env->userdata);
        r = env->get_hosts(env->userdata, &t.hosts, &t.n_hosts);
        if (r < 0)
                return r;
        r = env->get_vms(env->userdata, &t.vms, &t.n_vms);
        if (r < 0)
                return r;
        if (!ha->s.enabled) {
                forget_all(ha);
                return 0;
        }

        ht = calloc(t.n_hosts + 1, sizeof(*ht));
        vt = calloc(t.n_vms + 1, sizeof(*vt));
        used_mem = calloc(t.n_hosts + 1, sizeof(*used_mem));
        used_cpus = calloc(t.n_hosts + 1, sizeof(*used_cpus));
        if (!ht || !vt || !used_mem || !used_cpus)
                return -ENOMEM;
        t.ht = ht;
        t.vt = vt;
        t.used_mem = used_mem;
        t.used_cpus = used_cpus;
        r = sync_tracks(&t);
        if (r < 0)
                return r;

        for (size_t i = 0; i < t.n_hosts; i++)
                for (int guard = 0; guard < 8 && host_advance(&t, &t.hosts[i], ht[i]); guard++)
                        ;
        for (size_t i = 0; i < t.n_hosts; i++)
                if (ht[i]->state == DV_HA_HOST_CONNECTED && t.now <= ht[i]->reconcile_until_ms)
                        stop_stale_copies(&t, i);
        for (size_t i = 0; i < t.n_vms; i++)
                vm_step(&t, i);
        reserve_in_flight(&t);
        return restart_pending(&t);
}

/* ---- Admission control --------------------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

        return x > y ? -1 : x < y ? 1 : 0;
}

_printf_(3, 4)
static void fmt_reason(char *reason, size_t len, const char *fmt, ...)
{
        va_list ap;

        if (!reason || len == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(reason, len, fmt, ap);
        va_end(ap);
}

int dv_ha_admission_check(const struct dv_ha_settings *s,
                          const struct dv_ha_host *hosts, size_t n_hosts,
                          const struct dv_ha_vm *vms, size_t n_vms,
                          const struct dv_ha_vm *vm, char *reason, size_t reason_len)
{
        _cleanup_(freep) int64_t *cap = NULL;
        int64_t demand = 0, total = 0, avail = 0;
        size_t n_cap = 0;

        if (!s || !vm || !vm->name || (n_hosts && !hosts) || (n_vms && !vms))
                return -EINVAL;
        if (!s->enabled || s->admission == DV_HA_ADMISSION_OFF) {
                fmt_reason(reason, reason_len, "admission control is off");
                return 0;
        }
        for (size_t i = 0; i < n_vms; i++)
                if (vms[i].state != DV_HA_VM_STOPPED && !dv_streq(vms[i].name, vm->name))
                        demand += vms[i].mem_mib;
        demand += vm->mem_mib;

        cap = calloc(n_hosts + 1, sizeof(*cap));
        if (!cap)
                return -ENOMEM;
        for (size_t i = 0; i < n_hosts; i++)
                if (hosts[i].admin == DV_HA_ADMIN_ACTIVE && hosts[i].power != DV_HA_POWER_OFF) {
                        cap[n_cap++] = hosts[i].mem_total_mib;
                        total += hosts[i].mem_total_mib;
                }

        if (s->admission == DV_HA_ADMISSION_HOSTS) {
                if (s->host_failures < 1)
                        return -EINVAL;
                if (n_cap <= (size_t) s->host_failures) {
                        fmt_reason(reason, reason_len,
                                   "cannot power on %s: the cluster has %zu usable host(s) and must "
                                   "tolerate %d host failure(s)", vm->name, n_cap, s->host_failures);
                        return -ENOSPC;
                }
                qsort(cap, n_cap, sizeof(*cap), cmp_desc);
                avail = total;
                for (int i = 0; i < s->host_failures; i++)
                        avail -= cap[i];
                if (demand > avail) {
                        fmt_reason(reason, reason_len,
                                   "cannot power on %s (%" PRId64 " MiB): powered-on VMs would need "
                                   "%" PRId64 " MiB but only %" PRId64 " MiB remain after %d host "
                                   "failure(s)", vm->name, vm->mem_mib, demand, avail,
                                   s->host_failures);
                        return -ENOSPC;
                }
        } else if (s->admission == DV_HA_ADMISSION_PERCENT) {
                if (s->percent < 1 || s->percent > 100)
                        return -EINVAL;
                avail = total * (100 - s->percent) / 100;
                if (demand > avail) {
                        fmt_reason(reason, reason_len,
                                   "cannot power on %s (%" PRId64 " MiB): powered-on VMs would need "
                                   "%" PRId64 " MiB but %d%% of %" PRId64 " MiB is kept for failover, "
                                   "leaving %" PRId64 " MiB", vm->name, vm->mem_mib, demand,
                                   s->percent, total, avail);
                        return -ENOSPC;
                }
        } else
                return -EINVAL;
        fmt_reason(reason, reason_len,
                   "failover capacity kept: powered-on VMs would need %" PRId64 " of %" PRId64 " MiB",
                   demand, avail);
        return 0;
}

/* ---- Isolation (agent side) --------------------------------------------- */

enum dv_ha_isolation_action dv_ha_isolation_decide(const struct dv_ha_settings *s,
                                                   bool mgr_reachable, bool gw_reachable,
                                                   int64_t lost_since_ms, int64_t now_ms)
{
        if (!s || !s->enabled || mgr_reachable || gw_reachable)
                return DV_HA_ISOLATION_ACTION_NONE;
        if (now_ms - lost_since_ms < s->isolation_delay_ms)
                return DV_HA_ISOLATION_ACTION_WAIT;
        switch (s->isolation) {
        case DV_HA_ISOLATION_SHUTDOWN:
                return DV_HA_ISOLATION_ACTION_SHUTDOWN;
        case DV_HA_ISOLATION_POWER_OFF:
                return DV_HA_ISOLATION_ACTION_POWER_OFF;
        case DV_HA_ISOLATION_LEAVE_RUNNING:
        default:
                return DV_HA_ISOLATION_ACTION_LEAVE_RUNNING;
        }
}
