/* The agent's cgroups (docs/qos.md): one cgroup per running VM,
 * PARENT/vm-<id>, holding all of QEMU's threads, for CPU limits (cfs
 * quota), shares and reservations (weights) and affinity (cpuset), and
 * for measuring the VM's CPU time.
 *
 * cgroup v2 (a cgroup2 file system at ROOT with the cpu controller) and v1
 * (per-controller hierarchies ROOT/cpu, ROOT/cpuacct, ROOT/cpuset; cpu and
 * cpuacct may be one) are both supported; auto picks v2 when ROOT's
 * cgroup.controllers offers "cpu", else v1 when ROOT/cpu/cpu.shares exists.
 *
 * Every write goes below PARENT in each hierarchy, through paths built
 * here from a validated VM id and a fixed set of file names, opened with
 * O_NOFOLLOW. The only writes outside are v2's cgroup.subtree_control of
 * ROOT and of PARENT's ancestors, to enable the cpu and cpuset controllers
 * for PARENT (as a delegating service manager would). Library code: no
 * logging. */
#pragma once

#include "error.h"
#include "qos.h"
#include "util.h"

struct dv_cgroup;

struct dv_cgroup_config {
        const char *root;   /* the cgroup mount point, e.g. "/sys/fs/cgroup" */
        const char *mode;   /* "auto", "v1" or "v2" */
        const char *parent; /* relative path of Drover's subtree, e.g. "drover/host1":
                             * components of [A-Za-z0-9._-], no "." or ".." */
};

/* Detect the version, create PARENT in every hierarchy used (v1 cpuset:
 * with its parent's CPUs and memory nodes; v2: controllers enabled down to
 * it). 409 not-supported when no usable cpu controller is found. */
int dv_cgroup_open(const struct dv_cgroup_config *cfg, struct dv_cgroup **ret_cg,
                   struct dv_error *err);
void dv_cgroup_free(struct dv_cgroup *cg); /* NULL-safe; removes nothing */

enum dv_cg_version dv_cgroup_version(const struct dv_cgroup *cg);
/* Whether affinity (a cpuset controller) is available. */
bool dv_cgroup_has_cpuset(const struct dv_cgroup *cg);
/* The CPUs PARENT may use (its effective cpuset; all online CPUs without
 * a cpuset controller). */
void dv_cgroup_host_cpus(const struct dv_cgroup *cg, struct dv_cpuset *ret);

/* Create the VM's cgroup (idempotent) and move the whole process pid (all
 * its threads) into it. */
int dv_cgroup_vm_attach(struct dv_cgroup *cg, const char *vm_id, pid_t pid);
/* Apply CPU values: quota_us per DV_QOS_PERIOD_US (-1: none), weight (v1
 * cpu.shares or v2 cpu.weight, already in range), cpus (NULL: PARENT's). */
int dv_cgroup_vm_set_cpu(struct dv_cgroup *cg, const char *vm_id, int64_t quota_us,
                         int64_t weight, const struct dv_cpuset *cpus);
/* CPU time the VM's cgroup used, ns. */
int dv_cgroup_vm_usage_ns(struct dv_cgroup *cg, const char *vm_id, uint64_t *ret_ns);
/* The VM's cgroup in the cpu hierarchy (owned string), for display. */
char *dv_cgroup_vm_path(const struct dv_cgroup *cg, const char *vm_id);
/* Remove the VM's cgroup from every hierarchy (it must be empty: QEMU
 * exited). 0 when it does not exist. */
int dv_cgroup_vm_remove(struct dv_cgroup *cg, const char *vm_id);
/* Remove every PARENT/vm-<id> for which keep(id) is false and that holds
 * no process (a later agent cleaning up after one that crashed). Returns
 * how many were removed. */
int dv_cgroup_sweep(struct dv_cgroup *cg, bool (*keep)(void *userdata, const char *vm_id),
                    void *userdata);
