#include "http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct dv_http_server {
        struct MHD_Daemon *daemon; /* the libmicrohttpd daemon */
        dv_http_handler handler;   /* called once per complete request */
        void *userdata;            /* passed to handler */
        size_t max_body;           /* request body limit in bytes */
};

struct upgrade_cls;

/* Per-request accumulation of the body. */
struct req_state {
        char *body;     /* accumulated body, NUL-terminated */
        size_t len;     /* bytes in body */
        bool too_large; /* body exceeded max_body */
        struct upgrade_cls *uc; /* an upgrade response's handler, or NULL */
};

void dv_http_reply(struct dv_http_response *resp, int status, json_t *json)
{
        json_decref(resp->json);
        resp->json = json;
        resp->status = status;
}

void dv_http_reply_error(struct dv_http_response *resp, int status, const char *code,
                         const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        dv_http_reply(resp, status,
                      json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void dv_http_reply_dv_error(struct dv_http_response *resp, const struct dv_error *err)
{
        dv_http_reply_error(resp, err->status ? err->status : 500,
                            err->code[0] ? err->code : "internal", "%s", err->message);
}

const char *dv_http_header(const struct dv_http_request *req, const char *name)
{
        return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *dv_http_query(const struct dv_http_request *req, const char *key)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

int dv_http_split_path(const char *path, char **ret_buf, const char **segs, int max)
{
        char *buf = dv_strdup(path), *save = NULL, *tok;
        int n = 0;

        for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
                if (n == max) {
                        free(buf);
                        return -E2BIG;
                }
                segs[n++] = tok;
        }
        *ret_buf = buf;
        return n;
}

/* An upgraded connection: its handler runs in a detached thread. */
struct upgraded {
        dv_http_upgrade_fn fn;              /* the response's handler */
        void *ctx;                          /* owned by fn once it runs */
        char *extra;                        /* bytes after the request */
        size_t extra_len;
        int fd;                             /* the socket (MHD's) */
        struct MHD_UpgradeResponseHandle *urh; /* to close it */
};

static void *upgraded_thread(void *arg)
{
        struct upgraded *u = arg;
        int fl = fcntl(u->fd, F_GETFL);

        if (fl >= 0 && (fl & O_NONBLOCK))
                (void)fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK);
        u->fn(u->ctx, u->fd, u->extra, u->extra_len);
        MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
        free(u->extra);
        free(u);
        return NULL;
}

/* The response's cls: the handler and context until the upgrade. */
struct upgrade_cls {
        dv_http_upgrade_fn fn;
        void *ctx;
        void (*ctx_free)(void *ctx);
        bool used;
};

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
        struct upgrade_cls *uc = cls;
        struct upgraded *u = calloc(1, sizeof(*u));
        pthread_attr_t attr;
        pthread_t t;

        (void)conn;
        (void)req_cls;
        if (u && extra_in_size > 0) {
                u->extra = malloc(extra_in_size);
                if (!u->extra) {
                        free(u);
                        u = NULL;
                } else {
                        memcpy(u->extra, extra_in, extra_in_size);
                }
        }
        if (!u) {
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                return;
        }
        u->fn = uc->fn;
        u->ctx = uc->ctx;
        u->extra_len = extra_in_size;
        u->fd = sock;
        u->urh = urh;
        uc->used = true;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, upgraded_thread, u) != 0) {
                if (uc->ctx_free)
                        uc->ctx_free(uc->ctx);
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                free(u->extra);
                free(u);
        }
        pthread_attr_destroy(&attr);
}

static MHD_RESULT send_upgrade(struct MHD_Connection *conn, struct dv_http_response *r,
                               struct req_state *st)
{
        struct MHD_Response *mr;
        struct upgrade_cls *uc = calloc(1, sizeof(*uc));
        MHD_RESULT ret;

        if (!uc) {
                if (r->upgrade_free)
                        r->upgrade_free(r->upgrade_ctx);
                return MHD_NO;
        }
        /* The cls lives as long as the connection: freed in on_completed. */
        uc->fn = r->upgrade;
        uc->ctx = r->upgrade_ctx;
        uc->ctx_free = r->upgrade_free;
        mr = MHD_create_response_for_upgrade(on_upgrade, uc);
        if (!mr) {
                if (r->upgrade_free)
                        r->upgrade_free(r->upgrade_ctx);
                free(uc);
                return MHD_NO;
        }
        MHD_add_response_header(mr, "Upgrade", r->upgrade_proto);
        MHD_add_response_header(mr, "Connection", "Upgrade");
        if (r->ws_accept[0])
                MHD_add_response_header(mr, "Sec-WebSocket-Accept", r->ws_accept);
        if (r->ws_protocol)
                MHD_add_response_header(mr, "Sec-WebSocket-Protocol", r->ws_protocol);
        ret = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, mr);
        MHD_destroy_response(mr);
        st->uc = uc;
        return ret;
}

static MHD_RESULT send_response(struct MHD_Connection *conn, struct dv_http_response *r)
{
        struct MHD_Response *mr;
        char *data;
        size_t len;
        const char *ctype = "application/json";
        MHD_RESULT ret;


        if (r->status == 0) {
                r->status = 500;
                if (!r->json && !r->text)
                        r->json = json_pack("{s:{s:s,s:s}}", "error", "code", "internal",
                                            "message", "the handler produced no response");
        }
        if (r->json) {
                data = json_dumps(r->json, JSON_COMPACT);
                if (!data)
                        data = dv_strdup("{}");
        } else if (r->text) {
                len = r->text_len ? r->text_len : strlen(r->text);
                data = TAKE_PTR(r->text);
                ctype = r->content_type ? r->content_type : "text/plain";
                goto have_len;
        } else {
                data = dv_strdup("");
        }
        len = strlen(data);
have_len:
        mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
                free(data);
                return MHD_NO;
        }
        if (r->status != 304)
                MHD_add_response_header(mr, "Content-Type", ctype);
        MHD_add_response_header(mr, "Cache-Control",
                                r->cache_control ? r->cache_control : "no-store");
        if (r->etag)
                MHD_add_response_header(mr, "ETag", r->etag);
        MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
        if (r->static_headers) {
                /* Only our own scripts, no inline ones; the API and the
                 * console's websocket on this origin only; never framed. */
                MHD_add_response_header(
                        mr, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self'; connect-src 'self'; "
                        "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
                MHD_add_response_header(mr, "X-Frame-Options", "DENY");
                MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
        }
        ret = MHD_queue_response(conn, (unsigned)r->status, mr);
        MHD_destroy_response(mr);
        return ret;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
        struct dv_http_server *s = cls;
        struct req_state *st = *con_cls;
        struct dv_http_response resp = { 0 };
        struct dv_http_request req = { 0 };
        const char *auth;
        char peer[INET6_ADDRSTRLEN] = "?";
        const union MHD_ConnectionInfo *ci;
        MHD_RESULT ret;

        if (!st) {
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                *con_cls = st;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                if (!st->too_large) {
                        if (st->len + *upload_data_size > s->max_body) {
                                st->too_large = true;
                                free(st->body);
                                st->body = NULL;
                                st->len = 0;
                        } else {
                                char *nb = realloc(st->body, st->len + *upload_data_size + 1);
                                if (!nb)
                                        return MHD_NO;
                                memcpy(nb + st->len, upload_data, *upload_data_size);
                                st->len += *upload_data_size;
                                nb[st->len] = 0;
                                st->body = nb;
                        }
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (st->too_large) {
                dv_http_reply_error(&resp, 413, "body-too-large",
                                    "request body exceeds %zu bytes", s->max_body);
                ret = send_response(conn, &resp);
                json_decref(resp.json);
                return ret;
        }

        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, peer,
                          sizeof(peer));

        auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        req.method = method;
        req.path = url;
        req.token = (auth && strncasecmp(auth, "Bearer ", 7) == 0) ? auth + 7 : NULL;
        req.body = st->body ? st->body : "";
        req.body_len = st->len;
        req.peer = peer;
        req.conn = conn;
        s->handler(s->userdata, &req, &resp);
        if (resp.status == 101 && resp.upgrade)
                ret = send_upgrade(conn, &resp, st);
        else
                ret = send_response(conn, &resp);
        json_decref(resp.json);
        free(resp.text);
        free(resp.etag);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct req_state *st = *con_cls;

        (void)cls;
        (void)toe;
        if (st) {
                /* Both run in the connection's thread: on_upgrade (which
                 * hands ctx to its thread) before this. */
                if (st->uc && !st->uc->used && st->uc->ctx_free)
                        st->uc->ctx_free(st->uc->ctx);
                free(st->uc);
                free(st->body);
                free(st);
                *con_cls = NULL;
        }
}

int dv_http_server_start(const char *listen, size_t max_body, dv_http_handler handler,
                         void *userdata, struct dv_http_server **ret_server)
{
        struct dv_http_server *s;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        char addr[256];
        uint16_t port;
        int r;

        r = dv_parse_hostport(listen, addr, sizeof(addr), &port);
        if (r < 0)
                return r;
        if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
                return -EINVAL;
        sa.sin_port = htons(port);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->handler = handler;
        s->userdata = userdata;
        s->max_body = max_body;
        s->daemon = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                        MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE,
                port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                MHD_OPTION_END);
        if (!s->daemon) {
                free(s);
                return -EADDRINUSE;
        }
        *ret_server = s;
        return 0;
}

void dv_http_server_stop(struct dv_http_server *server)
{
        if (!server)
                return;
        MHD_stop_daemon(server->daemon);
        free(server);
}
