/* DPM at work (docs/drs.md, "DPM"): the cluster's DPM settings (the
 * cluster document's "dpm"), a pass on the DRS cadence (the DRS interval)
 * from the cron thread (store reads, the metrics, dpm.c), the last pass's
 * recommendation in memory, and carrying one out:
 *   power-off: maintenance mode (the host.maintenance task empties the
 *              host), then host state "standby", then "chassis power off"
 *              through the host's BMC, done when the BMC reads off;
 *   power-on:  "chassis power on" through the BMC, done when the agent has
 *              registered again (the host is "connected": DRS moves load
 *              back to it).
 * One power action at a time per cluster. Its API:
 *   GET  /api/v1/clusters/{id}/dpm                   settings
 *   GET  /api/v1/clusters/{id}/dpm/recommendations   the last pass
 *   POST /api/v1/clusters/{id}/dpm/run               a pass now
 *   POST /api/v1/dpm/recommendations/{id}/apply      carry one out
 *
 * Locks: the runtime's mutex is a leaf; never held while taking m->lock. */
#pragma once

#include <jansson.h>

#include "dpm.h"
#include "manager.h"

struct dv_api;
struct dv_dpm_rt;

int dv_dpm_rt_new(struct dv_mgr *m, struct dv_dpm_rt **ret);
void dv_dpm_rt_free(struct dv_dpm_rt *rt); /* NULL-safe */

/* Cron (every second): moves a power action on; a pass when the DRS
 * interval has passed and DPM is not off. */
void dv_dpm_tick(struct dv_mgr *m);

/* The cluster document's DPM settings (defaults when absent). */
void dv_cluster_dpm_settings(json_t *cluster, struct dv_dpm_settings *ret);

/* /clusters/{id}/dpm/... (segs[3..]). */
void dv_api_cluster_dpm(struct dv_api *a, json_t *cluster);
/* /dpm/... */
void dv_api_dpm(struct dv_api *a);
