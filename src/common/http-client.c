#include "http.h"

#include <curl/curl.h>
#include <string.h>

#define HTTP_CLIENT_MAX_BODY (16u * 1024 * 1024)

struct buf {
        char *data;  /* received bytes, NUL-terminated */
        size_t len;  /* bytes received */
        bool overflow; /* the response was larger than the limit */
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;
        char *nd;

        if (b->len + n > HTTP_CLIENT_MAX_BODY) {
                b->overflow = true;
                return 0;
        }
        nd = realloc(b->data, b->len + n + 1);
        if (!nd)
                return 0;
        memcpy(nd + b->len, ptr, n);
        b->len += n;
        nd[b->len] = 0;
        b->data = nd;
        return n;
}

void dv_http_global_init(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

int dv_http_call(const char *method, const char *url, const char *token, json_t *body,
                 long timeout_ms, long *ret_status, json_t **ret_json, char *err_buf,
                 size_t err_len)
{
        CURL *c;
        struct curl_slist *hdrs = NULL;
        struct buf b = { 0 };
        _cleanup_(freep) char *payload = NULL;
        _cleanup_(freep) char *auth = NULL;
        char cerr[CURL_ERROR_SIZE] = "";
        CURLcode cr;
        long status = 0;
        int r = 0;

        c = curl_easy_init();
        if (!c)
                return -ENOMEM;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, DV_MIN(timeout_ms, 5000L));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (token) {
                auth = dv_asprintf("Authorization: Bearer %s", token);
                hdrs = curl_slist_append(hdrs, auth);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload) {
                        r = -ENOMEM;
                        goto out;
                }
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        } else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }

        cr = curl_easy_perform(c);
        if (cr != CURLE_OK) {
                if (err_buf)
                        snprintf(err_buf, err_len, "%s: %s", url,
                                 cerr[0] ? cerr : curl_easy_strerror(cr));
                switch (cr) {
                case CURLE_COULDNT_CONNECT: r = -ECONNREFUSED; break;
                case CURLE_OPERATION_TIMEDOUT: r = -ETIMEDOUT; break;
                case CURLE_COULDNT_RESOLVE_HOST: r = -EHOSTUNREACH; break;
                case CURLE_WRITE_ERROR: r = b.overflow ? -EFBIG : -EIO; break;
                default: r = -EIO; break;
                }
                goto out;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        *ret_status = status;
        if (ret_json) {
                *ret_json = b.len ? json_loadb(b.data, b.len, 0, NULL) : NULL;
        }
out:
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        free(b.data);
        return r;
}

const char *dv_http_error_message(json_t *body)
{
        return json_string_value(json_object_get(json_object_get(body, "error"), "message"));
}

const char *dv_http_error_code(json_t *body)
{
        return json_string_value(json_object_get(json_object_get(body, "error"), "code"));
}
