/* DRS, the decision core (docs/drs.md): one pass over a snapshot of a
 * cluster gives the live migrations that fix broken rules and balance the
 * hosts' load. Pure: no I/O, no clock, no locks; drs-run.c feeds it from
 * the store and the metrics and carries its recommendations out.
 *
 * Load of a host: cpu = sum of its VMs' CPU demand / its CPU capacity,
 * mem = sum of its VMs' memory demand / its memory (0..1, may exceed 1).
 * Imbalance of the cluster: sqrt(sd(cpu)^2 + sd(mem)^2) over the usable
 * hosts (sd: population standard deviation), as vSphere's DRS measures
 * the standard deviation of normalised host load.
 *
 * A pass:
 *  1. rules first, each fixed with the fewest moves: VM-host "must" (move
 *     each VM outside its hosts), anti-affinity (keep one VM per host, move
 *     the others), affinity (gather on the host that already holds the most
 *     of them), then VM-host "should" when that does not push the
 *     imbalance over the target. Rule fixes are never damped.
 *  2. balance: while the imbalance is above the threshold's target, the
 *     single move with the largest gain (ties: the least memory to copy)
 *     that keeps every rule, fits the target (unreserved memory, CPUs),
 *     copies at most max_copy_mib, touches no host already running
 *     max_concurrent migrations (in flight: the pass's own moves are a plan,
 *     which automatic mode submits max_concurrent at a time), and gains at
 *     least the threshold's minimum.
 *     Damping: only when the imbalance has been above the target for
 *     persist_passes passes in a row (this one included).
 * At most max_moves recommendations per pass. */
#pragma once

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

enum dv_drs_mode { DV_DRS_OFF, DV_DRS_MANUAL, DV_DRS_AUTOMATIC };

#define DV_DRS_THRESHOLD_MIN 1
#define DV_DRS_THRESHOLD_MAX 5

struct dv_drs_settings {
        enum dv_drs_mode mode;  /* off, manual (recommend), automatic (migrate) */
        int threshold;          /* 1 (conservative: rules only) .. 5 (aggressive) */
        int64_t interval_s;     /* between passes */
        int max_moves;          /* recommendations per pass */
        int max_concurrent;     /* migrations at once per host (and cluster, automatic) */
        int persist_passes;     /* damping: passes the imbalance must last */
        int64_t max_copy_mib;   /* largest memory to copy for one balancing move */
};

void dv_drs_settings_default(struct dv_drs_settings *s);
const char *dv_drs_mode_to_string(enum dv_drs_mode m);
int dv_drs_mode_from_string(const char *s, enum dv_drs_mode *ret);
/* The imbalance tolerated at a threshold (threshold 1: none is acted on:
 * +inf) and the least gain of one balancing move. */
double dv_drs_target(int threshold);
double dv_drs_min_gain(int threshold);
/* {"mode","threshold","interval_s","max_moves","max_concurrent",
 * "persist_passes","max_copy_mib"} and its checked patch (unknown keys,
 * types and bounds refused; *s unchanged on error). */
json_t *dv_drs_settings_to_json(const struct dv_drs_settings *s);
int dv_drs_settings_patch(struct dv_drs_settings *s, json_t *patch, struct dv_error *err);

struct dv_drs_host {
        const char *id;          /* host id */
        const char *name;        /* host name */
        bool usable;             /* connected: may receive VMs (maintenance: no) */
        double cpu_capacity;     /* CPU capacity, same unit as VM demand (CPUs x 100) */
        int64_t cpus;            /* CPUs (a VM needs cpus <= this) */
        int64_t memory_mib;      /* memory */
        int64_t reserved_mib;    /* configured memory of every VM placed on it */
        int migrations;          /* migrations in flight from or to it */
};

struct dv_drs_vm {
        const char *id;          /* VM id */
        const char *name;        /* VM name */
        size_t host;             /* index into hosts */
        bool movable;            /* running, shared storage, not busy */
        double cpu_demand;       /* % of one host CPU */
        double mem_demand_mib;   /* active memory */
        int64_t memory_mib;      /* configured memory (admission) */
        int64_t cpus;            /* vCPUs */
};

enum dv_drs_rule_kind {
        DV_DRS_RULE_AFFINITY,      /* the VMs on one host */
        DV_DRS_RULE_ANTI_AFFINITY, /* the VMs on different hosts */
        DV_DRS_RULE_HOST_MUST,     /* the VMs on one of the hosts, always */
        DV_DRS_RULE_HOST_SHOULD,   /* the VMs on one of the hosts, when balance allows */
};

const char *dv_drs_rule_kind_to_string(enum dv_drs_rule_kind k);
int dv_drs_rule_kind_from_string(const char *s, enum dv_drs_rule_kind *ret);

struct dv_drs_rule {
        const char *name;          /* the rule's name */
        enum dv_drs_rule_kind kind;
        const size_t *vms;         /* indices into vms */
        size_t n_vms;
        const size_t *hosts;       /* HOST_MUST / HOST_SHOULD: indices into hosts */
        size_t n_hosts;
};

struct dv_drs_input {
        const struct dv_drs_host *hosts;
        size_t n_hosts;
        const struct dv_drs_vm *vms;
        size_t n_vms;
        const struct dv_drs_rule *rules;
        size_t n_rules;
        struct dv_drs_settings settings;
        int persisted_before;      /* imbalanced passes in a row before this one */
};

enum dv_drs_why { DV_DRS_WHY_RULE, DV_DRS_WHY_BALANCE };

struct dv_drs_rec {
        size_t vm;                 /* index into vms */
        size_t from, to;           /* indices into hosts */
        enum dv_drs_why why;       /* a rule, or balance */
        const char *rule;          /* the rule's name (why == RULE) */
        double imbalance_before;   /* with the recommendations before this one done */
        double imbalance_after;    /* with this one done too */
        double gain;               /* before - after (negative: a rule costs balance) */
        int64_t cost_mib;          /* memory to copy */
        char reason[400];          /* one sentence */
};

#define DV_DRS_MAX_RECS 64

struct dv_drs_result {
        double imbalance;          /* now */
        double target;             /* tolerated at the threshold */
        double imbalance_after;    /* with every recommendation done */
        double cpu_load_sd;        /* sd of the hosts' CPU load now */
        double mem_load_sd;        /* sd of the hosts' memory load now */
        bool imbalanced;           /* imbalance > target */
        int persisted;             /* imbalanced passes in a row, this one included */
        struct dv_drs_rec recs[DV_DRS_MAX_RECS];
        size_t n_recs;
        char note[400];            /* why nothing (more) is recommended, or "" */
        char violations[400];      /* rules left broken (cannot be fixed), or "" */
};

/* One pass. Errors: -EINVAL (an index out of range, a threshold out of
 * bounds). */
int dv_drs_pass(const struct dv_drs_input *in, struct dv_drs_result *ret);

/* The hosts' loads for the given placement (place[i]: host of vm i; NULL:
 * as in the input): ret_cpu/ret_mem have n_hosts entries. Returns the
 * imbalance. */
double dv_drs_loads(const struct dv_drs_input *in, const size_t *place, double *ret_cpu,
                    double *ret_mem);

/* Population standard deviation of k values from their sum and sum of
 * squares (0 under two values): the imbalance's building block, shared by
 * the pass and the placement explanation (sched-explain.c). */
static inline double dv_drs_sd(double k, double sum, double sq)
{
        double var;

        if (k < 2)
                return 0;
        var = sq / k - (sum / k) * (sum / k);
        return var > 0 ? sqrt(var) : 0;
}
