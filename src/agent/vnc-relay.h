/* The VNC relay of the web console (vnc-relay.c). */
#pragma once

#include "agent.h"
#include "http.h"

/* GET /agent/v1/vms/{id}/vnc, upgraded to "drover-vnc". */
void dv_agent_vnc_relay(struct dv_agent *agent, const char *id,
                        const struct dv_http_request *req, struct dv_http_response *resp);
