/* The manager's caches of what every VM create and placement would
 * otherwise read from the whole store (bench/scale: O(VMs) per create):
 * per host, the memory reserved by the VMs placed on it, their count and
 * their CPU reservations; the hosts' documents and the DVSs each host is
 * attached to, for the scheduler's snapshot. Fed by the store's observer
 * (store.h), so every committed write of a VM, host or DVS keeps them
 * right, whoever makes it; a rolled-back write is never seen.
 *
 * Locks: the cache's mutex is a leaf (the observer runs under the store's
 * lock). */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "manager.h"
#include "sched-place.h"

struct dv_mcache;
struct dv_mcache_table;

/* Scans the VMs once and starts observing the store (before other threads
 * use the store). */
int dv_mcache_new(struct dv_mgr *m, struct dv_mcache **ret);
void dv_mcache_free(struct dv_mcache *c); /* NULL-safe; stops observing */

/* The VMs placed on host_id: the memory they count (configured sizes, or
 * their reservations when the cluster's memory overcommit is on:
 * dv_vm_mem_admitted_mib), count, CPU reservation (MHz). Zeros for a host
 * without VMs. */
void dv_mcache_host_usage(struct dv_mcache *c, const char *host_id, int64_t *ret_reserved_mib,
                          int64_t *ret_count, int64_t *ret_cpu_reserved_mhz);

/* What DRS needs of a VM, kept per VM from its document (no JSON in a
 * pass). Strings are copies (truncated to their buffers: ids are UUIDs). */
struct dv_mcache_vm {
        char id[40];                  /* VM id */
        char name[DV_NAME_MAX + 1];   /* VM name */
        char host_id[40];             /* its host, "" when not placed */
        char state[16];               /* "running", "stopped", ... */
        char task[40];                /* the task at work on it ("_task"), or "" */
        char migration_target[40];    /* migrating: the target host id, or "" */
        int64_t memory_mib;           /* configured memory */
        int64_t cpus;                 /* vCPUs (1 when absent) */
        bool local_disk;              /* a disk on a host-local datastore */
        bool tools_running;           /* Tools state "running" */
        bool migration;               /* has a "migration" record (in flight or to recover) */
        bool abort_on;                /* has "_abort_on" (a migration target to remove) */
};

/* Fills *ret from a VM document (the same facts the cache keeps). */
void dv_mcache_vm_from_doc(json_t *vm, struct dv_mcache_vm *ret);

/* Every VM's facts as of now (keep: only those it accepts, NULL: all):
 * *ret a new array (free()) of *ret_n, in no order. */
int dv_mcache_vms(struct dv_mcache *c, bool (*keep)(const struct dv_mcache_vm *v),
                  struct dv_mcache_vm **ret, size_t *ret_n);

/* The default cluster's document as last written (a new reference to a
 * shared, read-only document; NULL when it does not exist yet), and its
 * memory overcommit switch (false without the document). No store
 * read: kept from the writes. */
json_t *dv_mcache_cluster(struct dv_mcache *c);
bool dv_mcache_overcommit(struct dv_mcache *c);

/* Every VM's facts by name (the store's order): from m->cache when there
 * is one (no JSON parsed), else from the store. *ret a new array (free()). */
int dv_mgr_vm_facts(struct dv_mgr *m, struct dv_mcache_vm **ret, size_t *ret_n);
/* The default cluster's document, read-only: the cached one, else
 * dv_cluster_get_default() (which creates it). A new reference. */
int dv_mgr_cluster_default(struct dv_mgr *m, json_t **ret);

/* The ids of the VMs marked for removal (_cleanup), a new array. */
json_t *dv_mcache_cleanup_ids(struct dv_mcache *c);

/* The host documents (as dv_store_list gives them) and, per host, the
 * array of the DVS names it is attached to (as dv_dvs_of_host): new
 * references to shared, read-only arrays, rebuilt after any host or DVS
 * write. */
int dv_mcache_hosts(struct dv_mgr *m, json_t **ret_hosts, json_t **ret_dvs);

/* The scheduler's view of every host for a placement (sched-snap.c):
 * *ret_sh a new array (free()) of *ret_n hosts, usage as of now, whose
 * strings borrow from *ret_table (a reference on the cached hosts,
 * released with dv_mcache_table_unref). No store read unless a host or
 * DVS changed since the last call. */
int dv_mcache_sched_hosts(struct dv_mgr *m, struct dv_mcache_table **ret_table,
                          struct dv_sched_host **ret_sh, size_t *ret_n);
json_t *dv_mcache_table_hosts(struct dv_mcache_table *t); /* borrowed */
json_t *dv_mcache_table_dvs(struct dv_mcache_table *t);   /* borrowed */
void dv_mcache_table_unref(struct dv_mcache_table *t);    /* NULL-safe */
