/* The manager's HTTP API (docs/api.md): the router (api.c) authenticates,
 * splits the path and hands the request to one file per resource. */
#pragma once

#include <jansson.h>

#include "http.h"
#include "manager.h"

#define DV_API_MAX_SEGS 8

struct dv_api {
        struct dv_mgr *m;                     /* the manager */
        const struct dv_http_request *req;    /* the request */
        struct dv_http_response *resp;        /* the reply being built */
        const char *user;                     /* "admin" or "agent:HOST" */
        json_t *agent_host;                   /* the host of an agent credential, or NULL */
        bool session;                         /* the token is a login session's */
        const char *segs[DV_API_MAX_SEGS];    /* path segments after /api/v1 */
        int nseg;                             /* number of segs (>= 1) */
};

/* The dv_http_handler of droverd; userdata is the struct dv_mgr. */
void dv_api_handle(void *userdata, const struct dv_http_request *req,
                   struct dv_http_response *resp);

/* Replies. */
void dv_api_reply(struct dv_api *a, int status, json_t *json); /* consumes json */
void dv_api_error(struct dv_api *a, int status, const char *code, const char *fmt, ...)
        _printf_(4, 5);
void dv_api_dv_error(struct dv_api *a, const struct dv_error *err);
void dv_api_internal(struct dv_api *a, int r, const char *what); /* 500, logged */
void dv_api_not_found(struct dv_api *a, const char *kind, const char *id);
void dv_api_bad_method(struct dv_api *a);

/* The request body as a JSON object ({} when empty). On error replies 400
 * and returns < 0. */
int dv_api_body(struct dv_api *a, json_t **ret);

bool dv_api_is(struct dv_api *a, const char *method);

/* An action's request: 405 unless POST, else as dv_api_body(). */
int dv_api_post_body(struct dv_api *a, json_t **ret);

/* Resources: segs[0] is the collection. */
void dv_api_hosts(struct dv_api *a);
void dv_api_host_maintenance(struct dv_api *a, json_t *host); /* maintenance.c */
void dv_api_vms(struct dv_api *a);
void dv_api_images(struct dv_api *a);
void dv_api_tasks(struct dv_api *a);
void dv_api_events(struct dv_api *a);
void dv_api_alarms(struct dv_api *a);
void dv_api_agent(struct dv_api *a);
void dv_api_dvs(struct dv_api *a);
void dv_api_portgroups(struct dv_api *a);
void dv_api_clusters(struct dv_api *a); /* api-clusters.c */
void dv_api_net(struct dv_api *a);      /* api-net.c: POST /net/diagnose */
