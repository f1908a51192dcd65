/* Startup recovery, before the API opens: tasks left queued or running fail
 * with "manager-restart"; the VMs and images they touched are put in a
 * state the rest of the manager resolves (heartbeats, the cron). */
#pragma once

#include "manager.h"

int dv_recover(struct dv_mgr *m);
