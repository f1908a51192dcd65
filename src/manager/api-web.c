/* Static files of the web console and its login. */
#include "web.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "json.h"
#include "log.h"

#define WEB_MAX_FILE (16 * 1024 * 1024)
#define WEB_MAX_PATH 512

static const struct {
        const char *ext;
        const char *type;
} mime[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".map", "application/json" },
        { ".woff2", "font/woff2" },
};

static const char *mime_of(const char *path)
{
        size_t n = strlen(path);

        for (size_t i = 0; i < ELEMENTSOF(mime); i++) {
                size_t e = strlen(mime[i].ext);
                if (n > e && strcmp(path + n - e, mime[i].ext) == 0)
                        return mime[i].type;
        }
        return "application/octet-stream";
}

/* Segments of [A-Za-z0-9._-] not starting with a dot: no "..", no hidden
 * files, nothing a shell or a file system would read specially. */
static bool path_safe(const char *path)
{
        bool seg_start = true;

        if (path[0] != '/' || strlen(path) > WEB_MAX_PATH)
                return false;
        for (const char *p = path + 1; *p; p++) {
                if (*p == '/') {
                        if (seg_start)
                                return false; /* "//" */
                        seg_start = true;
                        continue;
                }
                if (seg_start && *p == '.')
                        return false;
                if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') ||
                      ('0' <= *p && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                        return false;
                seg_start = false;
        }
        return true;
}

void dv_web_static(const char *root, const struct dv_http_request *req,
                   struct dv_http_response *resp)
{
        const char *path = strcmp(req->path, "/") == 0 ? "/index.html" : req->path;
        _cleanup_(freep) char *full = NULL, *real = NULL, *data = NULL;
        const char *inm;
        char etag[64];
        struct stat st;
        size_t rootlen = strlen(root), len;
        int r;

        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
                dv_http_reply_error(resp, 405, "method-not-allowed", "%s is not allowed on %s",
                                    req->method, req->path);
                return;
        }
        if (!path_safe(path))
                goto not_found;
        full = dv_asprintf("%s%s", root, path);
        /* No symlink may lead out of the web directory. */
        real = realpath(full, NULL);
        if (!real || strncmp(real, root, rootlen) != 0 || real[rootlen] != '/')
                goto not_found;
        if (stat(real, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_MAX_FILE)
                goto not_found;
        snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
                 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                         (unsigned long long)st.st_mtim.tv_nsec);
        resp->static_headers = true;
        resp->cache_control = "no-cache";
        resp->etag = dv_strdup(etag);
        inm = dv_http_header(req, "If-None-Match");
        if (inm && strcmp(inm, etag) == 0) {
                resp->status = 304;
                resp->text = dv_strdup("");
                return;
        }
        r = dv_read_file(real, WEB_MAX_FILE, &data, &len);
        if (r < 0)
                goto not_found;
        if (len == 0) {
                resp->status = 200;
                resp->text = dv_strdup("");
                resp->content_type = mime_of(real);
                return;
        }
        resp->status = 200;
        resp->text = TAKE_PTR(data);
        resp->text_len = len;
        resp->content_type = mime_of(real);
        return;
not_found:
        dv_http_reply_error(resp, 404, "not-found", "no such file: %.200s", req->path);
}

void dv_api_login(struct dv_api *a)
{
        struct dv_error err = { 0 };
        _cleanup_(json_decrefp) json_t *body = NULL;
        json_t *v;
        const char *key, *user, *password;
        char token[65], exp[32];
        int64_t ttl_s = 0, expires_ms;
        int r;

        if (!dv_api_is(a, "POST")) {
                dv_api_bad_method(a);
                return;
        }
        if (!a->m->auth) {
                dv_api_error(a, 404, "not-found", "logins are not enabled");
                return;
        }
        if (dv_api_body(a, &body) < 0)
                return;
        json_object_foreach(body, key, v) {
                if (strcmp(key, "user") && strcmp(key, "password") && strcmp(key, "ttl_s")) {
                        dv_api_error(a, 400, "unknown-field", "unknown field '%.64s'", key);
                        return;
                }
        }
        user = json_string_value(json_object_get(body, "user"));
        password = json_string_value(json_object_get(body, "password"));
        if (!user || !password) {
                dv_api_error(a, 400, "missing-field", "fields 'user' and 'password' (strings) are required");
                return;
        }
        if (strlen(user) > 64 || strlen(password) > 128) {
                dv_api_error(a, 400, "invalid-field", "'user' is at most 64 bytes, 'password' 128");
                return;
        }
        v = json_object_get(body, "ttl_s");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                    json_integer_value(v) > DV_AUTH_SESSION_TTL_S) {
                        dv_api_error(a, 400, "out-of-range", "field 'ttl_s' is allowed 1..%d",
                                     DV_AUTH_SESSION_TTL_S);
                        return;
                }
                ttl_s = json_integer_value(v);
        }
        r = dv_auth_login(a->m->auth, user, password, a->req->peer, ttl_s, token, &expires_ms,
                          &err);
        if (r < 0) {
                dv_info("login of '%.64s' from %s refused: %s", user, a->req->peer, err.message);
                dv_api_dv_error(a, &err);
                return;
        }
        dv_iso_time(expires_ms, exp, sizeof(exp));
        dv_mgr_event(a->m, user, "user.login", NULL, NULL, "user '%s' logged in from %s", user,
                     a->req->peer);
        dv_api_reply(a, 200, json_pack("{s:s,s:s,s:s}", "token", token, "user", user,
                                       "expires_at", exp));
}

void dv_api_logout(struct dv_api *a)
{
        if (!dv_api_is(a, "POST")) {
                dv_api_bad_method(a);
                return;
        }
        if (a->nseg != 1 || !a->session) {
                dv_api_error(a, 409, "not-a-session", "only a session token can log out");
                return;
        }
        dv_auth_logout(a->m->auth, a->req->token);
        dv_mgr_event(a->m, a->user, "user.logout", NULL, NULL, "user '%s' logged out", a->user);
        dv_api_reply(a, 200, json_pack("{s:b}", "logged_out", 1));
}
