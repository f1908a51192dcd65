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
