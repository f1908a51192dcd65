#include "agent.h"

#include <string.h>

#include "http.h"
#include "manager.h"

int dv_agent_call(json_t *host, const char *method, const char *path, json_t *body,
                  long timeout_ms, json_t **ret_reply, struct dv_error *err)
{
        _cleanup_(freep) char *url = NULL;
        const char *base = dv_doc_str(host, "url"), *name = dv_doc_str(host, "name");
        json_t *reply = NULL;
        char cerr[256] = "";
        long status = 0;
        size_t n;
        int r;

        if (!base) {
                dv_error_set(err, 503, "agent-unreachable", "host '%s' has no url", name);
                return -EHOSTUNREACH;
        }
        n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
                n--;
        url = dv_asprintf("%.*s%s", (int)n, base, path);
        r = dv_http_call(method, url, dv_doc_str(host, "_credential"), body, timeout_ms, &status,
                         &reply, cerr, sizeof(cerr));
        if (r < 0) {
                dv_error_set(err, 503, "agent-unreachable", "host '%s' did not answer: %s", name,
                             cerr[0] ? cerr : strerror(-r));
                return -EHOSTUNREACH;
        }
        if (status < 200 || status > 299) {
                const char *msg = dv_http_error_message(reply);
                const char *code = dv_http_error_code(reply);
                dv_error_set(err, 502, "agent-error", "host '%s': %s%s%s (HTTP %ld)", name,
                             msg ? msg : "error", code ? " - " : "", code ? code : "", status);
                json_decref(reply);
                return -EPROTO;
        }
        if (ret_reply)
                *ret_reply = reply;
        else
                json_decref(reply);
        return 0;
}
