/* The live-migration part of the agent API (docs/api.md, "Agent";
 * docs/migration.md): /agent/v1/vms/{id}/migrate-in, migrate-out,
 * migrate-finish, migrate-abort. The driver does the work (hv.h
 * migrate_* ops); this file checks requests, picks the listening port on
 * the agent's own address (the management network) and wires Tools. */
#pragma once

#include "agent.h"

/* First port tried for an incoming migration, and how many are tried. */
#define DV_MIGRATE_PORT_BASE 49152
#define DV_MIGRATE_PORT_COUNT 100

/* Requests under /agent/v1/vms/{id}/{action}. Returns false (nothing
 * replied) when action is not a migration one. */
bool dv_agent_migrate_route(struct dv_agent *agent, const char *id, const char *action,
                            const struct dv_http_request *req, struct dv_http_response *resp);
