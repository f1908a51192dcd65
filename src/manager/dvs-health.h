/* The DVS health check, run side: every connected host of a DVS sends probe
 * frames out of its uplink on every VLAN the DVS's port groups use, all at
 * once (POST /agent/v1/net/probe), and nethealth.c reads who heard whom.
 * The last result is kept in the DVS document (internal key "_health",
 * with "checked_at"); a change of any host/VLAN status is an event
 * dvs.health-changed, and the problems of the kept result are alarms
 * (GET /alarms) until a later check clears them. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "manager.h"

#define DV_HEALTH_WINDOW_MS 1500
#define DV_HEALTH_INTERVAL_MIN_S 10     /* health_interval_s bounds (0: no periodic check) */
#define DV_HEALTH_INTERVAL_MAX_S 86400

/* Run the check of the DVS (id or name) now. *ret: the result (new), also
 * kept. 404 not-found, 409 no-vlans / no-hosts. Blocks ~2 s. */
int dv_dvs_health_run(struct dv_mgr *m, const char *dvs_ref, json_t **ret, struct dv_error *err);

/* Append the alarms of every DVS's kept result to out (GET /alarms). */
void dv_dvs_health_alarms(struct dv_mgr *m, json_t *out);

/* Periodic checks: a thread runs the check of every DVS whose
 * "health_interval_s" is set, that often (vSphere's health check interval).
 * NULL-safe stop. */
struct dv_health_sched;
int dv_health_sched_start(struct dv_mgr *m, struct dv_health_sched **ret);
void dv_health_sched_stop(struct dv_health_sched *s);

/* PATCH /api/v1/dvs/{id} {"health_interval_s": 0 | 10..86400}. */
struct dv_api;
void dv_api_dvs_patch(struct dv_api *a, json_t *dvs);

/* GET|POST /api/v1/dvs/{id}/health (api-dvs.c routes here). */
void dv_api_dvs_health(struct dv_api *a, json_t *dvs);
