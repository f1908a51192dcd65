/* The hosts and VMs as the scheduler (sched-place.h) sees them, read from
 * the store: shared by VM creation (api-vms.c), maintenance mode
 * (maintenance.c) and DRS (drs-run.c). Call with m->lock held so that the
 * snapshot is consistent with what is then written. */
#pragma once

#include <jansson.h>

#include "manager.h"
#include "sched-place.h"
#include "validate.h"

struct dv_mcache_table;

struct dv_sched_snapshot {
        json_t *hosts;                 /* host documents (sh[i] borrows from hosts[i]) */
        struct dv_sched_host *sh;      /* one per host */
        size_t n;                      /* number of hosts */
        const char **names;            /* datastore names, all hosts */
        json_t *dvs;                   /* per host: array of DVS names (sh[i].dvs points in) */
        const char **dvs_names;        /* DVS names, all hosts */
        struct dv_mcache_table *table; /* the cached hosts sh borrows from (mcache.h), or NULL */
};

int dv_sched_snapshot_take(struct dv_mgr *m, struct dv_sched_snapshot *ret);
void dv_sched_snapshot_done(struct dv_sched_snapshot *s); /* NULL-safe members */

/* The placement request of an existing VM (no host asked for): its CPUs,
 * memory, the datastores of its disks and the DVSs of its NICs. */
struct dv_sched_vmreq {
        struct dv_sched_req req;            /* points into the members below */
        const char *ds[DV_VM_DISKS_MAX];    /* datastore names (borrowed from the vm) */
        const char *dvs[DV_VM_NICS_MAX];    /* DVS names (borrowed from keep) */
        const char *local_disk;             /* a disk on a host-local datastore, or NULL */
        json_t *keep;                       /* port group documents */
};

/* Fills *q from vm (borrowed: keep vm alive while q is used). */
void dv_sched_vmreq_init(struct dv_mgr *m, json_t *vm, struct dv_sched_vmreq *q);
void dv_sched_vmreq_done(struct dv_sched_vmreq *q);
