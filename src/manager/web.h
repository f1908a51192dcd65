/* The web console's server side (docs/web.md): static files under "/",
 * login and logout (api-web.c), and the console websocket that relays a
 * VM's VNC through its host's agent (console-ws.c). */
#pragma once

#include "api.h"
#include "http.h"

/* Serve GET/HEAD of a file under root (a realpath, no trailing slash). */
void dv_web_static(const char *root, const struct dv_http_request *req,
                   struct dv_http_response *resp);
/* POST /api/v1/login (no token needed) and POST /api/v1/logout. */
void dv_api_login(struct dv_api *a);
void dv_api_logout(struct dv_api *a);
/* GET /api/v1/vms/{id}/console/ws?ticket=T (the ticket is the credential). */
bool dv_console_ws_path(const char *path);
void dv_api_console_ws(struct dv_api *a);
