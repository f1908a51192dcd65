/* (Named sched-place.h, not sched.h: that would shadow <sched.h>.) */
/* Placement of a new VM: a pure function over a snapshot of the hosts.
 *
 * Admission counts every VM placed on a host, whatever its state (a stopped
 * VM keeps its reservation so that it can always start where it is):
 * unreserved = memory_mib - reserved_mib. vCPUs are not reserved; a VM
 * needs cpus <= the host's CPUs. A VM with NICs is placed only on hosts
 * attached to every DVS its port groups belong to. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

struct dv_sched_host {
        const char *id;                /* host id */
        const char *name;              /* host name */
        bool connected;                /* state "connected": takes new VMs */
        int64_t cpus;                  /* host CPUs */
        int64_t memory_mib;            /* host memory */
        int64_t reserved_mib;          /* sum of memory of the VMs placed on it */
        const char *const *datastores; /* datastore names on the host */
        size_t n_datastores;
        const char *const *dvs;        /* names of the DVSs the host is attached to */
        size_t n_dvs;
        int64_t cpu_mhz;               /* MHz of a core (0: CPU reservations not checked) */
        int64_t cpu_reserved_mhz;      /* sum of the CPU reservations of the VMs placed on it */
        const char *state;             /* "connected", "maintenance", ... (may be NULL) */
};

struct dv_sched_req {
        int64_t cpus;                  /* vCPUs of the VM */
        int64_t memory_mib;            /* memory of the VM */
        const char *host_id;           /* the host asked for, or NULL */
        const char *const *datastores; /* datastores the disks name */
        size_t n_datastores;
        bool need_local;               /* a disk uses the host's "HOST-local" */
        const char *const *dvs;        /* DVSs the NICs' port groups belong to */
        size_t n_dvs;
        int64_t cpu_reservation_mhz;   /* CPU reservation of the VM (docs/qos.md), 0 = none */
};

/* Chooses a host: the one asked for, else the connected host with the most
 * unreserved memory that fits (ties: the first by name). Errors: 409
 * insufficient-resources (also: no host, or not the asked-for host, is
 * attached to a needed DVS; the message names it), 409 invalid-state
 * (asked-for host not connected), 404 unknown-datastore (asked-for host
 * lacks a datastore). */
int dv_sched_place(const struct dv_sched_host *hosts, size_t n_hosts,
                   const struct dv_sched_req *req, size_t *ret_index, struct dv_error *err);

/* Checks one host for the VM as dv_sched_place() checks an asked-for host
 * (the same errors, in the same order: state, datastores, DVSs, CPUs, CPU
 * reservation, memory). 0 when it fits. */
int dv_sched_check_host(const struct dv_sched_host *h, const struct dv_sched_req *req,
                        struct dv_error *err);

/* A host's load as DRS measures it (docs/drs.md "The imbalance"). */
struct dv_sched_load {
        double cpu; /* its VMs' CPU demand / its capacity (CPUs x 100 %) */
        double mem; /* its VMs' memory demand / its memory */
};

/* The explanation of a placement (docs/api.md "PLACEMENT"): the host
 * asked for (req->host_id), else every host, each with its verdict —
 * rejected with dv_sched_check_host()'s reason, or a candidate with its
 * headroom (unreserved memory once the VM is there: the ranking key) and
 * the cluster's DRS imbalance with the VM there, counted at its full size
 * (every vCPU busy, all its memory touched) — and chosen: the index
 * dv_sched_place() returned, SIZE_MAX when it failed. loads: per host, or
 * NULL (no imbalance figures). Hosts listed chosen first, then candidates
 * by headroom, then the rejected ones. Pure; a new object. */
json_t *dv_sched_explain(const struct dv_sched_host *hosts, size_t n_hosts,
                         const struct dv_sched_req *req, const struct dv_sched_load *loads,
                         size_t chosen);

/* Evacuation (maintenance mode): places n_vms VMs, each reqs[i] (host_id
 * ignored), on the hosts other than hosts[source], as dv_sched_place()
 * would one after the other, each placement reserving the VM's memory on
 * its host (in a copy: hosts is not changed). The largest VMs go first.
 * ret_targets[i]: the host index, or SIZE_MAX with errs[i] saying why.
 * Returns the number of VMs that found no host (0: all fit). Pure. */
size_t dv_sched_evacuate(const struct dv_sched_host *hosts, size_t n_hosts, size_t source,
                         const struct dv_sched_req *const *reqs, size_t n_vms,
                         size_t *ret_targets, struct dv_error *errs);
