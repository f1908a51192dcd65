/* Maintenance mode (docs/drs.md) for callers other than the API: DPM
 * empties a host through the same plan and task. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "error.h"
#include "manager.h"

/* Put host_id in maintenance and submit the host.maintenance task that
 * empties it (takes m->lock). *ret_task: the task document (owned). On a
 * refusal (409 maintenance-refused) *ret_blockers (if not NULL) gets the
 * plan's VMs. Errors fill err: 404, 409 invalid-state, 409
 * maintenance-refused, 503 busy. */
int dv_maintenance_enter(struct dv_mgr *m, const char *host_id, const char *user,
                         bool stop_unmovable, json_t **ret_task, json_t **ret_blockers,
                         struct dv_error *err);
