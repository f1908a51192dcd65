/* HTTP server (libmicrohttpd) and client (libcurl) with JSON bodies.
 *
 * The server runs one thread per connection, so a handler may block (for
 * example while an agent waits for QEMU). Request bodies larger than the
 * configured limit are answered with 413 before the handler runs. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

struct MHD_Connection;
struct dv_http_server;

struct dv_http_request {
        const char *method;   /* "GET", "POST", "PUT", "DELETE", ... */
        const char *path;     /* URL path, without the query string */
        const char *token;    /* the bearer token, or NULL when absent */
        const char *body;     /* NUL-terminated request body ("" when none) */
        size_t body_len;      /* body length in bytes */
        const char *peer;     /* peer address as text */
        struct MHD_Connection *conn; /* for query arguments */
};

/* Runs in a thread of its own once the connection is upgraded (HTTP 101):
 * fd is the raw socket (blocking), extra the bytes the client sent after
 * its request. Owns ctx; the server closes fd when it returns. */
typedef void (*dv_http_upgrade_fn)(void *ctx, int fd, const char *extra, size_t extra_len);

struct dv_http_response {
        int status;           /* HTTP status; 0 means "not set" (500 is sent) */
        json_t *json;         /* owned JSON body, or NULL */
        char *text;           /* owned raw body (used when json is NULL) */
        size_t text_len;      /* bytes in text; 0: strlen(text) */
        const char *content_type; /* for text; default text/plain */
        const char *cache_control; /* default "no-store" */
        char *etag;           /* owned ETag header value, or NULL */
        bool static_headers;  /* a web page: CSP, nosniff, no framing */
        /* Upgrade (status 101): the protocol ("websocket", "drover-vnc"),
         * the handler and its context (freed with upgrade_free when the
         * upgrade does not happen), and the WebSocket reply headers. */
        const char *upgrade_proto;
        dv_http_upgrade_fn upgrade;
        void *upgrade_ctx;
        void (*upgrade_free)(void *ctx);
        char ws_accept[32];   /* Sec-WebSocket-Accept, or "" */
        const char *ws_protocol; /* Sec-WebSocket-Protocol chosen, or NULL */
};

typedef void (*dv_http_handler)(void *userdata, const struct dv_http_request *req,
                                struct dv_http_response *resp);

/* Listen on "ADDR:PORT". max_body bounds request bodies. */
int dv_http_server_start(const char *listen, size_t max_body, dv_http_handler handler,
                         void *userdata, struct dv_http_server **ret_server);
void dv_http_server_stop(struct dv_http_server *server); /* NULL-safe */

/* A request header, or NULL. */
const char *dv_http_header(const struct dv_http_request *req, const char *name);

/* A query argument of the request, or NULL. */
const char *dv_http_query(const struct dv_http_request *req, const char *key);

/* Response helpers. Consumes json. */
void dv_http_reply(struct dv_http_response *resp, int status, json_t *json);
void dv_http_reply_error(struct dv_http_response *resp, int status, const char *code,
                         const char *fmt, ...) _printf_(4, 5);
void dv_http_reply_dv_error(struct dv_http_response *resp, const struct dv_error *err);

/* Split "/a/b/c" into at most max segments (pointers into a copy owned by
 * *ret_buf). Returns the number of segments, or -E2BIG when there are more. */
int dv_http_split_path(const char *path, char **ret_buf, const char **segs, int max);

/* Client. Sends body (borrowed, may be NULL) as JSON with a bearer token
 * (may be NULL). Returns 0 when any HTTP response arrived: *ret_status is
 * its status and *ret_json the parsed body (NULL if it was not JSON).
 * Returns a negative errno on transport failure, with a message in
 * err_buf when given. Response bodies are bounded (16 MiB). */
int dv_http_call(const char *method, const char *url, const char *token, json_t *body,
                 long timeout_ms, long *ret_status, json_t **ret_json, char *err_buf,
                 size_t err_len);

/* The error message of a {"error":{"code","message"}} body, or NULL. */
const char *dv_http_error_message(json_t *body);
const char *dv_http_error_code(json_t *body);

/* Call once at program start, before threads (curl_global_init). */
void dv_http_global_init(void);
