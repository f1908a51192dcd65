/* DRS at work (docs/drs.md): the cluster's DRS settings and rules (kept in
 * the cluster document: "drs" and "drs_rules"), a pass every interval from
 * the cron thread (store reads, the metrics, drs.c; no agent calls: moves
 * are vm.migrate tasks), the last pass's recommendations in memory, and
 * their API:
 *   GET  /api/v1/clusters/{id}/drs/recommendations   the last pass
 *   POST /api/v1/clusters/{id}/drs/run               a pass now
 *   POST /api/v1/clusters/{id}/drs/rules             add a rule
 *   DELETE /api/v1/clusters/{id}/drs/rules/{name}    remove one
 *   POST /api/v1/drs/recommendations/{id}/apply      a vm.migrate task
 * Automatic mode submits the recommendations itself, at most
 * max_concurrent migrations in the cluster at once.
 *
 * Locks: the runtime's mutex is a leaf; a pass takes m->lock to read a
 * snapshot and releases it before submitting tasks. */
#pragma once

#include <jansson.h>

#include "drs.h"
#include "manager.h"
#include "sched-place.h"

struct dv_api;
struct dv_drs_rt;

int dv_drs_rt_new(struct dv_mgr *m, struct dv_drs_rt **ret);
void dv_drs_rt_free(struct dv_drs_rt *rt); /* NULL-safe */

/* Cron: a pass when the interval has passed and DRS is not off. */
void dv_drs_tick(struct dv_mgr *m);

/* The cluster document's settings (defaults when absent) and its rules
 * as the API shows them. */
void dv_cluster_drs_settings(json_t *cluster, struct dv_drs_settings *ret);
json_t *dv_cluster_drs_view(json_t *cluster);

/* The DRS load (drs.h: the VMs' 1-minute demand over the host's capacity)
 * of each of the n scheduler hosts sh, into ret[n] (zero for a host DRS
 * does not know). m->lock held. */
int dv_drs_host_loads(struct dv_mgr *m, const struct dv_sched_host *sh, size_t n,
                      struct dv_sched_load *ret);

/* /clusters/{id}/drs/... (segs[3..]) on the cluster document. */
void dv_api_cluster_drs(struct dv_api *a, json_t *cluster);
/* /drs/... */
void dv_api_drs(struct dv_api *a);
