/* High availability: the decision core. Pure logic, no I/O, no threads, no
 * clock of its own: everything it knows comes from an environment (struct
 * dv_ha_env, a table of operations like libvirt's drivers) and everything it
 * decides goes back through it. The manager implements the environment over
 * its store, agents and BMCs; tests/unit/test-ha.c implements a fake one and
 * runs the scenario files of tests/unit/data/ha/ against it.
 *
 * One struct dv_ha per cluster. dv_ha_tick() is one evaluation step; the
 * manager's periodic thread calls it every ~500 ms. The state machine,
 * timers, events and guarantees are described in docs/ha.md.
 *
 * All times are milliseconds on the environment's clock (now_ms()); a time
 * of -1 means "never / unknown". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Cluster settings ---------------------------------------------------- */

enum dv_ha_admission {
        DV_HA_ADMISSION_OFF,           /* no admission control */
        DV_HA_ADMISSION_HOSTS,         /* keep room for the VMs of N failed hosts */
        DV_HA_ADMISSION_PERCENT,       /* keep a percentage of cluster memory free */
};

enum dv_ha_isolation_response {
        DV_HA_ISOLATION_LEAVE_RUNNING, /* an isolated host keeps its VMs running */
        DV_HA_ISOLATION_SHUTDOWN,      /* ... shuts them down through Tools (then powers off) */
        DV_HA_ISOLATION_POWER_OFF,     /* ... kills them at once */
};

struct dv_ha_settings {
        bool enabled;                  /* HA on for this cluster */
        enum dv_ha_admission admission;/* admission control policy */
        int host_failures;             /* HOSTS: host failures to tolerate (>= 1) */
        int percent;                   /* PERCENT: % of cluster memory kept for failover (1..100) */
        enum dv_ha_isolation_response isolation; /* what an isolated agent does to its HA VMs */
        int64_t net_timeout_ms;        /* no network heartbeat for longer: host suspect (2000) */
        int64_t ds_timeout_ms;         /* no datastore heartbeat for longer: host failed (3000) */
        int64_t lease_timeout_ms;      /* a lease expires this long after its renewal (5000) */
        int64_t fence_margin_ms;       /* no BMC: fenced when the datastore heartbeat is silent
                                        * for lease_timeout_ms + this (2000) */
        int64_t fence_retry_ms;        /* BMC off not seen after this: ask again (5000) */
        int64_t isolation_delay_ms;    /* agent: manager + gateway lost this long (3000) */
        int64_t tools_timeout_ms;      /* Tools silent this long: VM failed (15000) */
        int max_restarts_per_hour;     /* VM-failure restarts allowed per VM per hour (3) */
        int64_t start_timeout_ms;      /* a restart not running after this has failed (30000) */
        int64_t retry_ms;              /* wait before retrying a failed start or stop (5000) */
};

/* The defaults above (HA enabled, admission HOSTS with N = 1, leave-running). */
void dv_ha_settings_default(struct dv_ha_settings *ret);
/* Are the settings usable? On false, *ret_reason (static) says why. */
bool dv_ha_settings_valid(const struct dv_ha_settings *s, const char **ret_reason);

/* "leave-running", "shutdown", "power-off" (and back; -EINVAL if unknown). */
const char *dv_ha_isolation_to_string(enum dv_ha_isolation_response r);
int dv_ha_isolation_from_string(const char *s, enum dv_ha_isolation_response *ret);
/* "off", "hosts", "percent" (and back; -EINVAL if unknown). */
const char *dv_ha_admission_to_string(enum dv_ha_admission a);
int dv_ha_admission_from_string(const char *s, enum dv_ha_admission *ret);

/* ---- Facts the environment reports -------------------------------------- */

enum dv_ha_power {
        DV_HA_POWER_UNKNOWN,           /* no BMC, or no reading */
        DV_HA_POWER_ON,                /* the BMC says on */
        DV_HA_POWER_OFF,               /* the BMC says off */
};

enum dv_ha_admin {
        DV_HA_ADMIN_ACTIVE,            /* in service */
        DV_HA_ADMIN_MAINTENANCE,       /* monitored, but never a restart target */
        DV_HA_ADMIN_STANDBY,           /* powered off on purpose (DPM): not monitored */
};

struct dv_ha_host {
        const char *name;              /* host name (unique) */
        enum dv_ha_admin admin;        /* administrative state */
        int64_t net_hb_ms;             /* last network heartbeat from its agent, -1 none */
        int64_t ds_hb_ms;              /* newest heartbeat it wrote on shared storage */
        bool has_bmc;                  /* fence_host() can power it off */
        enum dv_ha_power power;        /* the BMC's last power reading */
        int64_t power_ms;              /* when that reading was taken, -1 never */
        int64_t mem_total_mib;         /* memory */
        int64_t mem_free_mib;          /* memory not reserved by the VMs placed on it */
        int64_t cpus_total;            /* CPUs */
        int64_t cpus_free;             /* vCPUs that more VMs may still use */
        const char *const *dvs;        /* DVSs the host is attached to */
        size_t n_dvs;
        const char *const *datastores; /* shared datastores the host reaches now */
        size_t n_datastores;
        const char *const *vms;        /* VMs its agent last reported a QEMU process for */
        size_t n_vms;
};

enum dv_ha_vm_state {
        DV_HA_VM_STOPPED,
        DV_HA_VM_STARTING,
        DV_HA_VM_RUNNING,
        DV_HA_VM_PAUSED,
        DV_HA_VM_MIGRATING,
        DV_HA_VM_STOPPING,
        DV_HA_VM_CRASHED,              /* GUEST_PANICKED */
};

enum dv_ha_tools_state {
        DV_HA_TOOLS_NONE,              /* no Tools in this guest: not monitored */
        DV_HA_TOOLS_RUNNING,           /* Tools heartbeat seen in this run */
        DV_HA_TOOLS_NOT_RUNNING,       /* Tools installed, no heartbeat (yet) */
};

/* Why a host reports a VM stopped (its VMSTATUS "reason", the record's
 * state_reason), when its agent stopped it on its own for HA: */
#define DV_HA_STOP_REASON_LEASE_LOST "lease-lost"   /* its lease could not be renewed
                                                     * (storage lost): killed before expiry */
#define DV_HA_STOP_REASON_LEASE_TAKEN "lease-taken" /* another host took its lease */
#define DV_HA_STOP_REASON_ISOLATION_POWER_OFF "isolation-power-off" /* isolation response */
#define DV_HA_STOP_REASON_ISOLATION_SHUTDOWN "isolation-shutdown"   /* isolation response */

/* What a stopped VM's stop means to HA. */
enum dv_ha_stop_reason {
        DV_HA_STOP_OTHER,              /* the user, HA, the guest, QEMU exiting, a lease
                                        * taken by another host: not restarted for it */
        DV_HA_STOP_LEASE_LOST,         /* its host killed it on lease loss: restart elsewhere */
        DV_HA_STOP_ISOLATION,          /* its isolated host stopped it: restart elsewhere */
};

/* The stop reason of a state_reason string (NULL: DV_HA_STOP_OTHER). */
enum dv_ha_stop_reason dv_ha_stop_reason_from_string(const char *s);

struct dv_ha_vm {
        const char *name;              /* VM name (unique) */
        const char *host;              /* host it is placed on (the record), NULL none */
        bool ha;                       /* HA on for this VM */
        int priority;                  /* restart priority: higher restarts first */
        int64_t mem_mib;               /* memory (reserved where it is placed) */
        int64_t cpus;                  /* vCPUs */
        enum dv_ha_vm_state state;     /* the record's state (last reported by its host) */
        enum dv_ha_stop_reason stop_reason; /* STOPPED: why, as its host reported it */
        enum dv_ha_tools_state tools;  /* Tools state */
        int64_t tools_hb_ms;           /* last Tools heartbeat since it started, -1 */
        int restarts_last_hour;        /* start_vm() calls from HA for it in the last 3600 s */
        const char *const *datastores; /* shared datastores its disks are on */
        size_t n_datastores;
        const char *const *dvs;        /* DVSs its NICs' port groups belong to */
        size_t n_dvs;
        bool leased;                   /* it has a lease on shared storage */
        const char *lease_holder;      /* host holding the lease, NULL free (released) */
        int64_t lease_expiry_ms;       /* when the holder's lease runs out unless renewed */
};

/* ---- The environment ---------------------------------------------------- */

/* Every operation gets userdata. The arrays and strings that get_hosts and
 * get_vms return belong to the environment and stay valid until the next
 * call of the same operation (dv_ha_tick calls each once, first thing).
 * Actions are requests: their result shows in later facts (a fenced host's
 * power reading, a started VM's state). They return 0 when the request was
 * accepted, -errno when it was refused at once. */
struct dv_ha_env {
        void *userdata;
        int64_t (*now_ms)(void *userdata);
        int (*get_hosts)(void *userdata, const struct dv_ha_host **ret_hosts, size_t *ret_n);
        int (*get_vms)(void *userdata, const struct dv_ha_vm **ret_vms, size_t *ret_n);
        /* Power the host off through its BMC (IPMI "chassis power off"). */
        int (*fence_host)(void *userdata, const char *host);
        /* Start vm on host, from shared storage, same disks, MACs and port
         * groups. Before returning 0 the record must say host = host and
         * state = starting (the reservation moves with it); a start that
         * fails later leaves the record stopped (or crashed) on host. */
        int (*start_vm)(void *userdata, const char *vm, const char *host);
        /* Kill vm's QEMU on host (forced stop), and only there: other hosts'
         * copies are not touched. The record becomes stopped when host is its
         * host. Idempotent. */
        int (*stop_vm)(void *userdata, const char *vm, const char *host);
        void (*raise_alarm)(void *userdata, const char *kind, const char *target,
                            const char *message);
        void (*clear_alarm)(void *userdata, const char *kind, const char *target); /* may be NULL */
        void (*emit_event)(void *userdata, const char *kind, const char *target,
                           const char *message);
};

/* ---- The core ----------------------------------------------------------- */

enum dv_ha_host_state {
        DV_HA_HOST_CONNECTED,          /* heartbeats arrive */
        DV_HA_HOST_SUSPECT,            /* network heartbeat lost > net_timeout */
        DV_HA_HOST_ISOLATED,           /* network lost, datastore heartbeat alive */
        DV_HA_HOST_FAILED,             /* both lost; not fenced yet */
        DV_HA_HOST_FENCING,            /* BMC power-off requested, not confirmed */
        DV_HA_HOST_FENCED,             /* off (BMC) or silent past lease expiry: its VMs are dead */
        DV_HA_HOST_STANDBY,            /* admin standby: not monitored */
};

struct dv_ha;

int dv_ha_new(const struct dv_ha_settings *s, struct dv_ha **ret);
void dv_ha_free(struct dv_ha *ha);                       /* NULL-safe */
void dv_ha_freep(struct dv_ha **ha);
/* New cluster settings; they apply from the next tick. Disabling HA forgets
 * every host and VM state. */
void dv_ha_set_settings(struct dv_ha *ha, const struct dv_ha_settings *s);

/* One evaluation step. Returns 0, or the error of get_hosts/get_vms
 * (nothing decided), or -ENOMEM. */
int dv_ha_tick(struct dv_ha *ha, const struct dv_ha_env *env);

/* The state of a host as of the last tick (CONNECTED if unknown). */
enum dv_ha_host_state dv_ha_host_state_get(const struct dv_ha *ha, const char *host);
/* "connected", "suspect", "isolated", "failed", "fencing", "fenced",
 * "standby". For DESIGN's host states: suspect is "unreachable"; failed,
 * fencing and fenced are "failed". */
const char *dv_ha_host_state_to_string(enum dv_ha_host_state s);
/* Is HA working on this VM (failure seen, restart not finished)? The
 * manager can refuse conflicting user operations meanwhile. */
bool dv_ha_vm_busy(const struct dv_ha *ha, const char *vm);

/* ---- Pure decisions outside the tick ------------------------------------- */

/* Admission control: may vm power on without breaking the failover capacity?
 * hosts: the cluster's hosts (those in maintenance or standby, or with a BMC
 * reading of off, give no capacity; the caller leaves out hosts that are
 * down). vms: the cluster's VMs; every one not stopped counts with its
 * memory. vm may be one of vms or not. HOSTS: the memory left after losing
 * the N largest hosts must hold them all plus vm; PERCENT: they must fit in
 * (100 - percent)% of the memory. Returns 0 (allowed), -ENOSPC (refused) or
 * -EINVAL; reason (if not NULL) always says why, one line. */
int dv_ha_admission_check(const struct dv_ha_settings *s,
                          const struct dv_ha_host *hosts, size_t n_hosts,
                          const struct dv_ha_vm *vms, size_t n_vms,
                          const struct dv_ha_vm *vm, char *reason, size_t reason_len);

enum dv_ha_isolation_action {
        DV_HA_ISOLATION_ACTION_NONE,          /* not isolated: nothing to do */
        DV_HA_ISOLATION_ACTION_WAIT,          /* looks isolated, not for long enough yet */
        DV_HA_ISOLATION_ACTION_LEAVE_RUNNING, /* isolated: keep the HA VMs running */
        DV_HA_ISOLATION_ACTION_SHUTDOWN,      /* isolated: shut HA VMs down, release leases */
        DV_HA_ISOLATION_ACTION_POWER_OFF,     /* isolated: kill the HA VMs, release their leases */
};

/* The agent's side: what to do about the host's HA VMs. mgr_reachable: the
 * manager answered recently; gw_reachable: the host's gateway answers a
 * ping; lost_since_ms: when the manager was last reachable. A host that
 * still reaches its gateway is partitioned from the manager, not isolated. */
enum dv_ha_isolation_action dv_ha_isolation_decide(const struct dv_ha_settings *s,
                                                   bool mgr_reachable, bool gw_reachable,
                                                   int64_t lost_since_ms, int64_t now_ms);
const char *dv_ha_isolation_action_to_string(enum dv_ha_isolation_action a);
