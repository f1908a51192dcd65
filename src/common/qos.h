/* QoS arithmetic shared by the manager and the agent (docs/qos.md): CPU
 * limits, shares and reservations of VMs, their admission on a host, and
 * their translation into cgroup values. Pure functions, no I/O, unit-tested
 * in tests/unit/test-qos.c. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

/* Bounds of the user-visible values. 0 means "none" for limits and
 * reservations. */
#define DV_QOS_SHARES_MIN 10
#define DV_QOS_SHARES_MAX 100000
#define DV_QOS_SHARES_DEFAULT 1000       /* "normal"; "low" 500, "high" 2000 */
#define DV_QOS_MHZ_MAX 1048576           /* limit and reservation, MHz */
#define DV_QOS_LIMIT_PCT_MAX 6400        /* percent of one core (64 vCPUs) */
#define DV_QOS_IOPS_MAX 1000000          /* per disk, operations/s */
#define DV_QOS_BPS_MAX (INT64_C(1) << 40) /* per disk, bytes/s */
#define DV_QOS_AFFINITY_LEN_MAX 256      /* "0-3,8" text */
#define DV_CPUSET_MAX 256                /* CPUs 0..255 */
#define DV_QOS_DISKS_MAX 16              /* disks of a VM */
#define DV_QOS_MEM_MIB_MAX 1048576       /* memory reservation / limit, MiB */

/* cgroup CPU period (cpu.cfs_period_us / cpu.max's second number). */
#define DV_QOS_PERIOD_US 100000
/* The smallest quota the kernel accepts is 1 ms: a limit below 1 % of a
 * core is raised to it. */
#define DV_QOS_QUOTA_MIN_US 1000

struct dv_cpuset {
        uint64_t bits[DV_CPUSET_MAX / 64]; /* bit n set: CPU n */
};

/* Parse a CPU list ("0-3,8,10-11"): 1..DV_CPUSET_MAX-1 CPU numbers, ranges
 * lo-hi with lo <= hi, no spaces, not empty. -EINVAL otherwise. */
int dv_cpuset_parse(const char *s, struct dv_cpuset *ret);
/* Canonical text ("0-3,8") into buf; "" for an empty set. */
void dv_cpuset_format(const struct dv_cpuset *set, char *buf, size_t len);
int dv_cpuset_count(const struct dv_cpuset *set);
bool dv_cpuset_is_subset(const struct dv_cpuset *a, const struct dv_cpuset *b);
/* CPUs 0..n-1. */
void dv_cpuset_first_n(int n, struct dv_cpuset *ret);
void dv_cpuset_and(struct dv_cpuset *a, const struct dv_cpuset *b);

/* A VM's CPU QoS, as stored (VM "cpu_qos") and sent to agents (SPEC
 * "cpu_qos"). */
struct dv_cpu_qos {
        int64_t shares;          /* 10..100000 (default 1000) */
        int64_t limit_mhz;       /* 0 = none */
        int64_t limit_pct;       /* percent of one core, 0 = none; at most one of the two */
        int64_t reservation_mhz; /* 0 = none */
        bool has_affinity;       /* affinity given */
        struct dv_cpuset affinity; /* host CPUs the VM may run on */
};

void dv_cpu_qos_default(struct dv_cpu_qos *q);

/* Read {"shares"?,"limit_mhz"?,"limit_pct"?,"reservation_mhz"?,"affinity"?}
 * (NULL or JSON null: defaults) over *q: fields present replace those in
 * *q; giving a limit in one unit clears the other; both non-zero is 400
 * invalid-field; unknown fields 400 unknown-field; bounds 400 out-of-range.
 * affinity null clears it. Error messages name "cpu_qos.FIELD". *q is
 * changed only on success. */
int dv_cpu_qos_merge(json_t *obj, struct dv_cpu_qos *q, struct dv_error *err);
/* The stored form: {"shares","limit_mhz","limit_pct","reservation_mhz","affinity"}
 * (affinity a string or null). */
json_t *dv_cpu_qos_to_json(const struct dv_cpu_qos *q);

/* The limit in MHz (0: none) on a host whose cores run at host_mhz. */
int64_t dv_cpu_qos_limit_mhz(const struct dv_cpu_qos *q, int64_t host_mhz);

/* The VM's own contradictions on a host (409 qos-conflict, the message
 * says which): reservation over the limit; reservation over what the VM's
 * vCPUs (or its affinity's CPUs) can use; affinity naming CPUs the host
 * lacks. */
int dv_cpu_qos_check(const struct dv_cpu_qos *q, int64_t vcpus, int64_t host_cpus,
                     int64_t host_mhz, struct dv_error *err);

/* Admission of CPU reservations on one host: for the whole host and for
 * every affinity set S some VM has, the reservations of the VMs confined
 * to S must fit in |S| x host_mhz. 409 insufficient-resources naming the
 * host and the amounts otherwise. */
struct dv_qos_vm {
        const char *name;          /* for messages */
        const struct dv_cpu_qos *q;
};
int dv_cpu_qos_admit(const char *host, const struct dv_qos_vm *vms, size_t n, int64_t host_cpus,
                     int64_t host_mhz, struct dv_error *err);

/* ---- realisation in cgroups (the agent) ---- */

enum dv_cg_version { DV_CG_V1 = 1, DV_CG_V2 = 2 };

/* cfs quota in us per DV_QOS_PERIOD_US for a limit (-1: none). */
int64_t dv_qos_quota_us(int64_t limit_mhz, int64_t host_mhz);

/* cgroup weight of each of n running VMs (out[i]), so that under full
 * contention among them VM i gets at least its reservation and the rest is
 * split by shares:
 *   rho_i  = reservation_i / (CPUs VM i may run on x host_mhz)
 *   P      = sum rho (if > 1, every rho is scaled down by 1/P and P = 1)
 *   frac_i = rho_i + (1 - P) x shares_i / sum shares
 *   w_i    = frac_i x K, clamped to the version's range
 * (v1 cpu.shares: K = 100000 in 2..262144; v2 cpu.weight: K = 10000 in
 * 1..10000). cpus[i] is that count (>= 1). */
void dv_qos_weights(enum dv_cg_version v, size_t n, const struct dv_cpu_qos *const *qs,
                    const int *cpus, int64_t host_mhz, int64_t *out);

/* Nominal MHz of the host from /proc/cpuinfo's text ("cpu MHz : 2600.000",
 * the highest), or 0. */
int64_t dv_qos_cpuinfo_mhz(const char *cpuinfo);

/* A disk's I/O limits (0: none). */
struct dv_disk_qos {
        int64_t iops_max; /* 0..1000000 */
        int64_t bps_max;  /* 0..2^40 */
};

/* ---- memory (docs/qos.md "Memory") ---- */

/* A VM's memory QoS, as stored (VM "mem_qos") and sent to agents (SPEC
 * "mem_qos"). The limit is the VM's configured size (memory_mib): shown
 * as "limit_mib", accepted only when equal to it. */
struct dv_mem_qos {
        int64_t shares;          /* 10..100000 (default 1000): who gives memory back first */
        int64_t reservation_mib; /* 0..memory_mib: never reclaimed, admission-controlled */
        int64_t limit_mib;       /* as given in a request (-1: not given); not stored */
};

void dv_mem_qos_default(struct dv_mem_qos *q);
/* Read {"shares"?,"reservation_mib"?,"limit_mib"?} (NULL or null: nothing)
 * over *q, as dv_cpu_qos_merge (messages name "mem_qos.FIELD"). */
int dv_mem_qos_merge(json_t *obj, struct dv_mem_qos *q, struct dv_error *err);
/* {"shares","reservation_mib","limit_mib"} (limit_mib = memory_mib). */
json_t *dv_mem_qos_to_json(const struct dv_mem_qos *q, int64_t memory_mib);
/* 409 qos-conflict: a reservation over the configured size; a limit other
 * than the configured size. */
int dv_mem_qos_check(const struct dv_mem_qos *q, int64_t memory_mib, struct dv_error *err);

/* What a VM counts against a host's memory for admission and placement:
 * its reservation with memory overcommit on, else its configured size. */
static inline int64_t dv_mem_admitted_mib(const struct dv_mem_qos *q, int64_t memory_mib,
                                          bool overcommit)
{
        return overcommit ? q->reservation_mib : memory_mib;
}

/* ---- the balloon controller's decision (docs/qos.md "Ballooning") ---- */

struct dv_balloon_vm {
        const char *name;        /* for messages */
        int64_t memory_mib;      /* configured size: the most a balloon gives back */
        int64_t reservation_mib; /* never ballooned below */
        int64_t shares;          /* lower shares give memory back first */
        int64_t guest_used_mib;  /* Tools' report (-1: unknown) */
        int64_t target_mib;      /* the current balloon target (memory_mib: deflated) */
        int64_t new_target_mib;  /* out: the target to set */
};

struct dv_balloon_params {
        int64_t capacity_mib;    /* memory the host gives to VMs */
        int64_t used_mib;        /* what the VMs use now (RSS less KSM's savings) */
        int64_t low_pct;         /* free below this % of capacity: reclaim */
        int64_t high_pct;        /* free above this %: give back; reclaim aims here */
        int64_t margin_mib;      /* floor = guest used + margin */
        int64_t step_mib;        /* the most one VM's target moves per round */
        bool reclaiming;         /* the last round reclaimed: go on until free reaches high */
};

/* The floor of a VM's balloon target: max(reservation, guest used +
 * margin) (guest used unknown: its current target, i.e. no reclaim),
 * at most memory_mib. */
int64_t dv_balloon_floor(const struct dv_balloon_vm *v, int64_t margin_mib);
/* One round: sets every vms[i].new_target_mib. First every target is
 * brought within [floor, memory_mib] when the guest's use is known (a
 * guest whose use grew gets memory back at once). Under pressure (free <
 * low, or below high while reclaiming) it takes memory from the VMs with
 * the lowest shares first (a VM
 * whose use is unknown stops the round: higher shares wait), each
 * down to its floor, until free would reach high (at least step_mib a
 * round); when free >= high it gives
 * memory back, highest shares first, up to memory_mib, as much as free
 * above high allows but at least step_mib a round. At most step_mib per
 * VM per round taken. Then the
 * shares order is kept as floors fall: a VM with lower shares and room
 * above its floor takes over (up to step_mib) the balloon of a VM with
 * higher shares. Returns the MiB reclaimed (> 0) or given back (< 0). */
int64_t dv_balloon_decide(const struct dv_balloon_params *p, struct dv_balloon_vm *vms, size_t n);

/* ---- port-group traffic shaping (docs/qos.md "Network") ---- */

#define DV_SHAPE_KBPS_MAX 100000000    /* 100 Gbit/s */
#define DV_SHAPE_BURST_KB_MAX 1048576  /* 1 GiB */

/* One direction: 0 average = not shaped. */
struct dv_shape {
        int64_t average_kbps; /* 1..DV_SHAPE_KBPS_MAX, kbit/s */
        int64_t peak_kbps;    /* >= average (default: average) */
        int64_t burst_kb;     /* KiB (default: 1 s at the average, at least 16) */
};

/* "ingress": traffic the VMs send into the switch; "egress": traffic the
 * switch sends to the VMs (as vSphere names them). */
struct dv_shaping {
        struct dv_shape ingress;
        struct dv_shape egress;
};

/* {"ingress"?: SHAPE|null, "egress"?: SHAPE|null} or null (no shaping)
 * over *s; SHAPE {"average_kbps", "peak_kbps"?, "burst_kb"?}. 400 for
 * types, ranges, unknown fields; 409 qos-conflict for a peak below the
 * average. *s changes only on success. */
int dv_shaping_merge(json_t *obj, struct dv_shaping *s, struct dv_error *err);
/* {"ingress": SHAPE|null, "egress": SHAPE|null}, or null when neither. */
json_t *dv_shaping_to_json(const struct dv_shaping *s);
