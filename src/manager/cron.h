/* The one place for periodic work (like Redis' serverCron): host liveness,
 * HA (ha-env.c), DRS passes (drs-run.c), finishing VM removals that a failure interrupted, pruning
 * old events and tasks. Runs on its own thread. */
#pragma once

#include "manager.h"

struct dv_cron;

int dv_cron_start(struct dv_mgr *m, struct dv_cron **ret);
void dv_cron_stop(struct dv_cron *c); /* NULL-safe; joins the thread */
