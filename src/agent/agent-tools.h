/* The agent's Tools glue (agent-tools.c): the per-VM Tools registry of the
 * daemon (tools-mgr.h), the Tools part of the agent API (docs/api.md,
 * "Agent": /agent/v1/vms/{id}/tools/{op}, /agent/v1/vms/{id}/cpus), and
 * stop/reboot that go through Tools when it runs. */
#pragma once

#include "agent.h"

/* Create agent->tools for the driver's run_dir (before the driver starts,
 * so that adopted VMs get channels); free it after the driver is gone. */
int dv_agent_tools_init(struct dv_agent *agent, const char *run_dir);
void dv_agent_tools_done(struct dv_agent *agent);

/* Requests under /agent/v1/vms/{id}/: rest[0..n-1] are the segments after
 * the id. Returns false (nothing replied) when the path is not ours. */
bool dv_agent_tools_route(struct dv_agent *agent, const char *id, const char *const *rest, int n,
                          const struct dv_http_request *req, struct dv_http_response *resp);

/* Graceful stop: Tools "shutdown" first when Tools runs (half the timeout
 * to finish), then the driver's ACPI stop for what is left of it, then
 * forced. *ret_path = "tools" | "acpi" | "forced" | "already-stopped". */
int dv_agent_vm_stop(struct dv_agent *agent, const char *id, bool force, int timeout_s,
                     const char **ret_path, struct dv_error *err);
/* Reboot through Tools when it runs ("tools"), else a reset ("reset"). */
int dv_agent_vm_reboot(struct dv_agent *agent, const char *id, const char **ret_path,
                       struct dv_error *err);
