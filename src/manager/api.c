/* The router: authentication, path splitting, dispatch by collection. */
#include "api.h"
#include "dpm-run.h"
#include "drs-run.h"

#include <stdarg.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "auth.h"
#include "crypto.h"
#include "token.h"
#include "web.h"

void dv_api_reply(struct dv_api *a, int status, json_t *json)
{
        dv_http_reply(a->resp, status, json);
}

void dv_api_error(struct dv_api *a, int status, const char *code, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        dv_http_reply_error(a->resp, status, code, "%s", msg);
}

void dv_api_dv_error(struct dv_api *a, const struct dv_error *err)
{
        dv_http_reply_dv_error(a->resp, err);
}

void dv_api_internal(struct dv_api *a, int r, const char *what)
{
        dv_log_errno(r, "%s %s: %s: %m", a->req->method, a->req->path, what);
        dv_api_error(a, 500, "internal", "%s: %s", what, strerror(-r));
}

void dv_api_not_found(struct dv_api *a, const char *kind, const char *id)
{
        dv_api_error(a, 404, "not-found", "%s '%.64s' not found", kind, id);
}

void dv_api_bad_method(struct dv_api *a)
{
        dv_api_error(a, 405, "method-not-allowed", "%s is not allowed on %s", a->req->method,
                     a->req->path);
}

bool dv_api_is(struct dv_api *a, const char *method)
{
        return strcmp(a->req->method, method) == 0;
}

int dv_api_body(struct dv_api *a, json_t **ret)
{
        struct dv_error err = { 0 };
        bool blank = true;
        int r;

        for (size_t i = 0; i < a->req->body_len && blank; i++)
                blank = strchr(" \t\r\n", a->req->body[i]) && a->req->body[i];
        if (blank) {
                *ret = json_object();
                return 0;
        }
        r = dv_json_parse_object(a->req->body, a->req->body_len, ret, &err);
        if (r < 0)
                dv_api_dv_error(a, &err);
        return r;
}

int dv_api_post_body(struct dv_api *a, json_t **ret)
{
        if (!dv_api_is(a, "POST")) {
                dv_api_bad_method(a);
                return -EINVAL;
        }
        return dv_api_body(a, ret);
}

struct route {
        const char *collection;        /* first segment after /api/v1 */
        void (*handler)(struct dv_api *a);
};

static const struct route routes[] = {
        { "hosts", dv_api_hosts },   { "vms", dv_api_vms },       { "images", dv_api_images },
        { "tasks", dv_api_tasks },   { "events", dv_api_events }, { "alarms", dv_api_alarms },
        { "agent", dv_api_agent },   { "dvs", dv_api_dvs },       { "portgroups", dv_api_portgroups },
        { "clusters", dv_api_clusters }, { "net", dv_api_net }, { "drs", dv_api_drs }, { "dpm", dv_api_dpm },
        { "logout", dv_api_logout },
};

/* Who is calling? Fills a->user / a->agent_host; replies 401 otherwise. */
static int authenticate(struct dv_api *a)
{
        const char *tok = a->req->token;
        json_t *host = NULL;
        static __thread char user[DV_NAME_MAX + 8];
        static __thread char suser[64];

        if (tok && dv_token_equal(a->m->token, tok)) {
                a->user = DV_USER_ADMIN;
                return 0;
        }
        /* A login session (auth.h) acts as its user, like the admin token. */
        if (tok && a->m->auth && dv_auth_session(a->m->auth, tok, suser)) {
                a->user = suser;
                a->session = true;
                return 0;
        }
        if (tok && a->m->store->ops->host_by_credential(a->m->store, tok, &host) >= 0) {
                snprintf(user, sizeof(user), "agent:%s", dv_doc_str(host, "name"));
                a->user = user;
                a->agent_host = host;
                return 0;
        }
        dv_api_error(a, 401, "unauthorized",
                     tok ? "the token is not valid" : "an Authorization: Bearer token is required");
        return -EPERM;
}

/* Conditional GETs (docs/web.md "Live updates"): a 200 JSON answer to a
 * GET gets an ETag (a hash of its bytes); a request whose If-None-Match
 * names it gets 304 and no body. What a poller fetches again unchanged
 * then costs a header, not a document. */
static void conditional_get(const struct dv_http_request *req, struct dv_http_response *resp)
{
        const char *inm = dv_http_header(req, "If-None-Match");
        uint8_t sum[20];
        char etag[32];
        char *body;

        if (strcmp(req->method, "GET") != 0 || resp->status != 200 || !resp->json)
                return;
        body = json_dumps(resp->json, JSON_COMPACT);
        if (!body)
                return;
        dv_sha1(body, strlen(body), sum);
        snprintf(etag, sizeof(etag), "\"%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x\"", sum[0],
                 sum[1], sum[2], sum[3], sum[4], sum[5], sum[6], sum[7], sum[8], sum[9]);
        resp->etag = dv_strdup(etag);
        json_decref(resp->json);
        resp->json = NULL;
        if (inm && strcmp(inm, etag) == 0) {
                free(body);
                resp->status = 304;
                resp->text = dv_strdup("");
                return;
        }
        resp->text = body; /* sent as it is: dumped once */
        resp->content_type = "application/json";
}

void dv_api_handle(void *userdata, const struct dv_http_request *req,
                   struct dv_http_response *resp)
{
        struct dv_api a = { .m = userdata, .req = req, .resp = resp };
        _cleanup_(freep) char *buf = NULL;
        const char *segs[DV_API_MAX_SEGS + 2];
        int n;

        /* The web console's files need no token; everything under /api
         * does, but for the login itself and the console websocket (whose
         * one-time ticket is its credential). */
        if (strncmp(req->path, "/api/", 5) != 0 && strcmp(req->path, "/api") != 0 &&
            a.m->web_root) {
                dv_web_static(a.m->web_root, req, resp);
                dv_debug("%s %s from %s: %d", req->method, req->path, req->peer, resp->status);
                return;
        }
        /* Commits in this request are on disk before the reply, synced
         * together with other threads' after the handler released the
         * manager's lock (store.h). */
        dv_store_defer_syncs(true);
        if (strcmp(req->path, "/api/v1/login") == 0) {
                dv_api_login(&a);
                goto out;
        }
        if (dv_console_ws_path(req->path)) {
                dv_api_console_ws(&a);
                goto out;
        }
        if (authenticate(&a) < 0)
                goto out;
        n = dv_http_split_path(req->path, &buf, segs, DV_API_MAX_SEGS + 2);
        if (n < 3 || strcmp(segs[0], "api") != 0 || strcmp(segs[1], "v1") != 0) {
                dv_api_error(&a, 404, "not-found", "no such path: %.200s", req->path);
                goto out;
        }
        a.nseg = n - 2;
        memcpy(a.segs, segs + 2, sizeof(segs[0]) * (size_t)a.nseg);
        if (a.agent_host && strcmp(a.segs[0], "agent") != 0) {
                dv_api_error(&a, 403, "forbidden",
                             "an agent credential is accepted only on /api/v1/agent/*");
                goto out;
        }
        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                if (strcmp(routes[i].collection, a.segs[0]) == 0) {
                        routes[i].handler(&a);
                        goto out;
                }
        dv_api_error(&a, 404, "not-found", "no such path: %.200s", req->path);
out:
        dv_store_defer_syncs(false);
        if (dv_store_sync_deferred(a.m->store) < 0)
                dv_api_error(&a, 500, "internal", "the store could not sync its writes to disk");
        conditional_get(req, resp);
        if (resp->status >= 500)
                dv_warn("%s %s from %s: %d", req->method, req->path, req->peer, resp->status);
        else
                dv_debug("%s %s from %s: %d", req->method, req->path, req->peer, resp->status);
        json_decref(a.agent_host);
}
