#include "http.h"

#include <arpa/inet.h>
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

/* Per-request accumulation of the body. */
struct req_state {
        char *body;     /* accumulated body, NUL-terminated */
        size_t len;     /* bytes in body */
        bool too_large; /* body exceeded max_body */
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

static MHD_RESULT send_response(struct MHD_Connection *conn, struct dv_http_response *r)
{
        struct MHD_Response *mr;
        char *data;
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
                data = TAKE_PTR(r->text);
                ctype = r->content_type ? r->content_type : "text/plain";
        } else {
                data = dv_strdup("");
        }
        mr = MHD_create_response_from_buffer(strlen(data), data, MHD_RESPMEM_MUST_FREE);
        if (!mr) {
                free(data);
                return MHD_NO;
        }
        MHD_add_response_header(mr, "Content-Type", ctype);
        MHD_add_response_header(mr, "Cache-Control", "no-store");
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
        ret = send_response(conn, &resp);
        json_decref(resp.json);
        free(resp.text);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        struct req_state *st = *con_cls;

        if (st) {
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
                        MHD_USE_ERROR_LOG,
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
