#include "manager.h"

#include <stdarg.h>
#include <string.h>

#include "log.h"

void dv_mgr_lock(struct dv_mgr *m)
{
        pthread_mutex_lock(&m->lock);
}

void dv_mgr_unlock(struct dv_mgr *m)
{
        pthread_mutex_unlock(&m->lock);
}

void dv_mgr_now(char buf[32])
{
        dv_iso_time(dv_wall_ms(), buf, 32);
}

void dv_mgr_event(struct dv_mgr *m, const char *user, const char *kind, const char *target_kind,
                  json_t *target, const char *fmt, ...)
{
        char msg[512], now[32];
        struct dv_event ev;
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        dv_mgr_now(now);
        ev = (struct dv_event){
                .time = now,
                .user = user,
                .kind = kind,
                .target_kind = target_kind,
                .target_id = dv_doc_str(target, "id"),
                .target_name = dv_doc_str(target, "name"),
                .message = msg,
        };
        r = m->store->ops->event_append(m->store, &ev, NULL);
        if (r < 0)
                dv_warn_errno(r, "cannot append event %s: %m", kind);
        dv_info("event %s by %s: %s", kind, user, msg);
}

const char *dv_doc_str(json_t *doc, const char *key)
{
        return json_string_value(json_object_get(doc, key));
}

int64_t dv_doc_int(json_t *doc, const char *key, int64_t def)
{
        json_t *v = json_object_get(doc, key);

        return json_is_integer(v) ? json_integer_value(v) : def;
}

void dv_doc_set_str(json_t *doc, const char *key, const char *v)
{
        json_object_set_new(doc, key, v ? json_string(v) : json_null());
}

json_t *dv_doc_public(json_t *doc)
{
        json_t *c = json_object();
        const char *key;
        json_t *v;

        json_object_foreach(doc, key, v)
                if (key[0] != '_')
                        json_object_set(c, key, v);
        return c;
}

json_t *dv_mgr_get(struct dv_mgr *m, enum dv_kind kind, const char *id_or_name)
{
        json_t *doc = NULL;

        if (!id_or_name || dv_store_get(m->store, kind, id_or_name, &doc) < 0)
                return NULL;
        return doc;
}

void dv_mgr_host_seen(struct dv_mgr *m, const char *host_id, json_t *metrics)
{
        char now[32];
        json_t *rt = json_object_get(m->host_rt, host_id);

        if (!rt) {
                rt = json_object();
                json_object_set_new(m->host_rt, host_id, rt);
        }
        dv_mgr_now(now);
        json_object_set_new(rt, "seen_ms", json_integer(dv_now_ms()));
        json_object_set_new(rt, "last_heartbeat", json_string(now));
        if (metrics)
                json_object_set(rt, "metrics", metrics);
}
