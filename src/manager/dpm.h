/* DPM, the decision core (docs/drs.md, "DPM"): one pass over a snapshot of
 * a cluster says whether to power a host off (and which) or to power a
 * standby host on (and which), and why. Pure: no I/O, no clock, no locks;
 * dpm-run.c feeds it from the store and the metrics and carries its
 * recommendation out (maintenance mode, then the BMC).
 *
 * Utilisation of the powered-on hosts: cpu = sum of their VMs' CPU demand
 * / their CPU capacity, mem = sum of memory demand / their memory; the
 * cluster's utilisation is the larger of the two (0..1).
 *
 * A pass:
 *  1. power on, when the utilisation is above high_pct for persist_passes
 *     passes in a row, or at once when HA admission control is short of
 *     capacity with the hosts that are on (the VMs now powered on would be
 *     refused): the standby host with a BMC and the most memory (ties: the
 *     most CPUs, then name).
 *  2. else power off, when the utilisation is below low_pct for
 *     persist_passes passes in a row: among the powered-on hosts with a BMC
 *     (more than min_hosts of them on), one whose VMs are all movable
 *     (stopped ones are re-placed), fit on the other powered-on hosts
 *     (configured memory, CPUs; largest first, each on the host with the
 *     most unreserved memory), leave every receiving host and the cluster
 *     at or below high_pct, and whose absence HA admission control
 *     accepts (dv_ha_admission_check with the host left out). The host
 *     with the fewest running VMs wins, then the least demand, then the
 *     least reserved memory, then the name (last in order: hosts named
 *     first are kept).
 * At most one power action per pass; none while busy (a DPM action in
 * flight, or a host entering or leaving maintenance or powering). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"
#include "ha.h"

enum dv_dpm_mode { DV_DPM_OFF, DV_DPM_MANUAL, DV_DPM_AUTOMATIC };

struct dv_dpm_settings {
        enum dv_dpm_mode mode;  /* off, manual (recommend), automatic (power hosts) */
        int low_pct;            /* utilisation below this: power a host off (1..99) */
        int high_pct;           /* utilisation above this: power a host on (low+1..100) */
        int persist_passes;     /* damping: passes in a row the condition must last */
        int min_hosts;          /* never fewer hosts powered on than this (>= 1) */
};

void dv_dpm_settings_default(struct dv_dpm_settings *s);
const char *dv_dpm_mode_to_string(enum dv_dpm_mode m);
int dv_dpm_mode_from_string(const char *s, enum dv_dpm_mode *ret);
/* {"mode","low_pct","high_pct","persist_passes","min_hosts"} and its
 * checked patch (unknown keys, types, bounds and low >= high refused; *s
 * unchanged on error). */
json_t *dv_dpm_settings_to_json(const struct dv_dpm_settings *s);
int dv_dpm_settings_patch(struct dv_dpm_settings *s, json_t *patch, struct dv_error *err);

enum dv_dpm_power {
        DV_DPM_HOST_ON,          /* connected: runs VMs, counts for utilisation */
        DV_DPM_HOST_STANDBY,     /* powered off by DPM: may be powered on */
        DV_DPM_HOST_OTHER,       /* maintenance, unreachable, failed...: left alone */
};

struct dv_dpm_host {
        const char *name;        /* host name */
        enum dv_dpm_power power; /* see above */
        bool has_bmc;            /* DPM can power it off and on */
        double cpu_capacity;     /* CPUs x 100, same unit as VM demand */
        int64_t cpus;            /* CPUs (a VM needs cpus <= this) */
        int64_t memory_mib;      /* memory */
};

struct dv_dpm_vm {
        const char *name;        /* VM name */
        size_t host;             /* index into hosts */
        bool running;            /* powered on (counts for HA and load) */
        bool movable;            /* running: can live-migrate; stopped: can be re-placed */
        double cpu_demand;       /* % of one host CPU */
        double mem_demand_mib;   /* active memory */
        int64_t memory_mib;      /* configured memory (reserved where placed) */
        int64_t cpus;            /* vCPUs */
};

struct dv_dpm_input {
        const struct dv_dpm_host *hosts;
        size_t n_hosts;
        const struct dv_dpm_vm *vms;
        size_t n_vms;
        struct dv_dpm_settings settings;
        const struct dv_ha_settings *ha;  /* the cluster's HA settings, NULL: no HA */
        int low_before;                   /* passes in a row below low before this one */
        int high_before;                  /* passes in a row above high before this one */
        bool busy;                        /* a power action or maintenance in progress */
};

enum dv_dpm_action { DV_DPM_NONE, DV_DPM_POWER_OFF, DV_DPM_POWER_ON };
const char *dv_dpm_action_to_string(enum dv_dpm_action a); /* "none", "power-off", "power-on" */

struct dv_dpm_result {
        enum dv_dpm_action action;
        size_t host;              /* index into hosts (action != NONE) */
        double cpu_util;          /* of the powered-on hosts, 0..1 */
        double mem_util;
        double util;              /* max of the two */
        double util_after;        /* with the action done (NONE: = util) */
        size_t hosts_on;          /* powered-on hosts now */
        bool ha_short;            /* HA admission control lacks capacity now */
        int low_passes;           /* passes in a row below low, this one included */
        int high_passes;          /* passes in a row above high, this one included */
        char reason[400];         /* why the action (or why none), one sentence */
        char skipped[600];        /* hosts considered for power-off and why not, or "" */
};

/* One pass. Errors: -EINVAL (an index out of range, bad settings),
 * -ENOMEM. */
int dv_dpm_pass(const struct dv_dpm_input *in, struct dv_dpm_result *ret);
