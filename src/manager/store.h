/* The manager's store: an interface (a table of operations) so that other
 * back ends (PostgreSQL) can join the SQLite one. Objects are JSON documents;
 * the store indexes the fields it needs (id, name, host_id, state, ...).
 *
 * Keys starting with "_" in a document are internal to the manager (never
 * shown by the API) but are stored like any other.
 *
 * Thread safety: every operation may be called from any thread. A
 * transaction (begin .. commit/rollback) belongs to the thread that began it;
 * other threads wait for it to end. Library code: never logs. */
#pragma once

#include <jansson.h>

#include "util.h"

enum dv_kind {
        DV_KIND_HOST,  /* hosts: id, name, state, credential */
        DV_KIND_VM,    /* vms: id, name, host_id, image_id, state */
        DV_KIND_IMAGE, /* images: id, name */
        DV_KIND_TASK,  /* tasks: id, state, target.id; listed newest first */
        DV_KIND_DVS,   /* dvs: id, name (distributed virtual switches) */
        DV_KIND_PORTGROUP, /* portgroups: id, name, dvs_id */
        DV_KIND_CLUSTER, /* clusters: id, name (HA settings; one "default" for now) */
        _DV_KIND_MAX,
};

const char *dv_kind_name(enum dv_kind kind); /* "host", "vm", ... */

/* Filters for list(); NULL / 0 members do not filter. */
struct dv_store_filter {
        const char *host_id;   /* vms placed on this host */
        const char *image_id;  /* vms booting this image */
        const char *state;     /* objects in this state */
        const char *dvs_id;    /* port groups of this DVS */
        int limit;             /* at most this many (0: no limit) */
        const char *after;     /* only those whose order key (name, for named kinds)
                                * sorts after this: the next page (NULL: from the first) */
};

/* One event of the append-only log. */
struct dv_event {
        const char *time;        /* ISO 8601 UTC */
        const char *user;        /* "admin", "agent:HOST" or "system" */
        const char *kind;        /* "vm.started", "host.unreachable", ... */
        const char *target_kind; /* "vm", "host", "image", "task" or NULL */
        const char *target_id;   /* may be NULL */
        const char *target_name; /* may be NULL */
        const char *message;     /* one sentence */
};

struct dv_store_ops;

/* An observer of document writes (a cache's feed, mcache.h): called after
 * each successful insert, update or remove of a host, VM, DVS or cluster (old_doc:
 * the document before for a remove, else NULL — an observer keeps what it
 * needs of a document by id; new_doc: NULL for a remove);
 * inside a transaction only once it commits (rolled-back writes are never
 * seen). Called with the store's lock held: it must not call the store. */
typedef void (*dv_store_observer)(void *userdata, enum dv_kind kind, json_t *old_doc,
                                  json_t *new_doc);

/* Every back end embeds this as its first member. */
struct dv_store {
        const struct dv_store_ops *ops; /* the back end's operations */
        dv_store_observer observe;      /* or NULL (set once, before other threads) */
        void *observe_userdata;         /* for observe */
};

struct dv_store_ops {
        const char *name; /* "sqlite" */
        /* Open (creating or upgrading the schema). */
        int (*open)(const char *path, struct dv_store **ret_store);
        void (*close)(struct dv_store *store); /* NULL-safe */

        /* Transactions: begin/commit/rollback; not nested. */
        int (*begin)(struct dv_store *store);
        int (*commit)(struct dv_store *store);
        void (*rollback)(struct dv_store *store);
        /* Full durability (DROVER_STORE_SYNC unset or "full"): wait until
         * the commits this thread made since dv_store_defer_syncs(true)
         * are on disk. 0 at once when there are none. */
        int (*sync_deferred)(struct dv_store *store);

        /* Documents must have string "id" (and "name" for every kind but
         * tasks). insert: -EEXIST when the id or the name is taken.
         * update: -ENOENT when missing, -EEXIST when the new name is taken.
         * remove: -ENOENT when missing. get: by id, else by name; -ENOENT. */
        int (*insert)(struct dv_store *store, enum dv_kind kind, json_t *doc);
        int (*update)(struct dv_store *store, enum dv_kind kind, json_t *doc);
        int (*remove)(struct dv_store *store, enum dv_kind kind, const char *id);
        int (*get)(struct dv_store *store, enum dv_kind kind, const char *id_or_name,
                   json_t **ret_doc);
        /* A new JSON array of documents (by name; tasks newest first). */
        int (*list)(struct dv_store *store, enum dv_kind kind,
                    const struct dv_store_filter *filter, json_t **ret_array);

        /* The host whose "_credential" equals credential; -ENOENT. */
        int (*host_by_credential)(struct dv_store *store, const char *credential,
                                  json_t **ret_doc);

        /* Counters: returns the next value of key (first when new). */
        int (*counter_next)(struct dv_store *store, const char *key, int64_t first,
                            int64_t *ret_value);

        /* Events: append (returns the new id, increasing). list: the
         * newest limit events with id > since_id, newest first. */
        int (*event_append)(struct dv_store *store, const struct dv_event *ev, int64_t *ret_id);
        int (*event_list)(struct dv_store *store, int64_t since_id, int limit,
                          json_t **ret_array);
        /* Keep only the newest keep events and finished tasks. */
        int (*prune)(struct dv_store *store, int64_t keep_events, int64_t keep_tasks);

        /* Recovery after a restart: every task "queued" or "running" becomes
         * "failed" with error {code, message} and finished_at = now_iso.
         * Returns the tasks changed (a new array, after the change). */
        int (*fail_unfinished_tasks)(struct dv_store *store, const char *code,
                                     const char *message, const char *now_iso,
                                     json_t **ret_tasks);
};

extern const struct dv_store_ops dv_store_sqlite_ops;

/* With on, this thread's commits return before they are on disk and
 * sync_deferred() waits for them all at once (group commit across the
 * threads that commit meanwhile): an API request defers its syncs and
 * waits before its reply, after releasing the manager's lock. Whoever
 * acts on a deferred intent first commits something itself, which waits
 * for every commit before it (a task's first state write). */
void dv_store_defer_syncs(bool on);

/* Convenience wrappers: dv_store_get(s, ...) is s->ops->get(s, ...). */
static inline int dv_store_open(const struct dv_store_ops *ops, const char *path,
                                struct dv_store **ret_store)
{
        return ops->open(path, ret_store);
}
static inline void dv_store_close(struct dv_store *s) { if (s) s->ops->close(s); }
static inline void dv_store_closep(struct dv_store **s) { dv_store_close(*s); }
static inline int dv_store_begin(struct dv_store *s) { return s->ops->begin(s); }
static inline int dv_store_commit(struct dv_store *s) { return s->ops->commit(s); }
static inline void dv_store_rollback(struct dv_store *s) { s->ops->rollback(s); }
static inline int dv_store_sync_deferred(struct dv_store *s) { return s->ops->sync_deferred(s); }
static inline int dv_store_insert(struct dv_store *s, enum dv_kind k, json_t *doc)
{
        return s->ops->insert(s, k, doc);
}
static inline int dv_store_update(struct dv_store *s, enum dv_kind k, json_t *doc)
{
        return s->ops->update(s, k, doc);
}
static inline int dv_store_remove(struct dv_store *s, enum dv_kind k, const char *id)
{
        return s->ops->remove(s, k, id);
}
static inline int dv_store_get(struct dv_store *s, enum dv_kind k, const char *id_or_name,
                               json_t **ret_doc)
{
        return s->ops->get(s, k, id_or_name, ret_doc);
}
static inline int dv_store_list(struct dv_store *s, enum dv_kind k,
                                const struct dv_store_filter *f, json_t **ret_array)
{
        return s->ops->list(s, k, f, ret_array);
}

/* Write a new task and the object it acts on in one transaction, so that
 * the intent is durable before anyone acts on it. obj may be NULL; insert
 * says whether obj is new (insert) or exists (update). Rolls back on error. */
static inline int dv_store_write_intent(struct dv_store *s, json_t *task, enum dv_kind kind,
                                        json_t *obj, bool insert)
{
        int r = dv_store_begin(s);

        if (r < 0)
                return r;
        r = dv_store_insert(s, DV_KIND_TASK, task);
        if (r >= 0 && obj)
                r = insert ? dv_store_insert(s, kind, obj) : dv_store_update(s, kind, obj);
        if (r >= 0)
                r = dv_store_commit(s);
        else
                dv_store_rollback(s);
        return r;
}
