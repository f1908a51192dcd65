/* The SQLite store: one connection in WAL mode, guarded by one recursive
 * mutex so that a transaction can span several operations of one thread.
 *
 * Durability (DROVER_STORE_SYNC, droverd --store-sync): "full" (the
 * default): a commit is on disk when it returns. It is done by group
 * commit: SQLite runs with synchronous=NORMAL (a commit appends to the WAL
 * without a sync) and the committing thread, once it has released the
 * store's lock, waits until an fdatasync of the WAL that began after its
 * commit has ended; one thread syncs at a time and each sync covers every
 * commit made before it started, so threads that commit meanwhile share
 * the next sync instead of taking turns for one each. "normal": no wait
 * (a commit survives a crash of the manager, not of the OS).
 *
 * Schema (user_version 3; 1 had no dvs/portgroups, 2 no clusters): one table per kind holding the JSON document in
 * "doc" next to the indexed columns extracted from it; "kv" for counters;
 * "events" append-only with AUTOINCREMENT ids (never reused, even after
 * pruning). */
#include "store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define STMT_CACHE_MAX 64 /* statements kept prepared; later ones are prepared each time */

struct sqlite_store {
        struct dv_store up;    /* must be first */
        sqlite3 *db;           /* the one connection */
        pthread_mutex_t lock;  /* recursive; held for a whole transaction */
        int depth;             /* lock() nesting of the holder */
        bool in_txn;           /* a begin() is open */
        json_t *pending;       /* observed writes of the open transaction: [[kind, old, new]...] */
        uint64_t committed;    /* commits made (under lock) */

        /* Group commit (full durability), under sync_lock: */
        bool group;            /* commits wait for a sync of the WAL */
        pthread_mutex_t sync_lock;
        pthread_cond_t sync_cond;
        bool syncing;          /* a thread is in fdatasync() */
        uint64_t synced;       /* every commit up to this one is on disk */
        int wal_fd;            /* the WAL file, opened on the first sync; -1 */
        char *wal_path;        /* its path */

        /* Prepared statements kept for reuse (under lock): parsing the SQL
         * again was a sixth of the manager's time creating VMs. */
        struct cached_stmt {
                char *sql;           /* its text */
                sqlite3_stmt *st;    /* prepared once */
                bool busy;           /* handed out, not yet released */
        } cache[STMT_CACHE_MAX];
        size_t n_cache;
};

/* An indexed column and the document key it is taken from ("a.b" = nested). */
struct col {
        const char *column; /* column name */
        const char *key;    /* top-level key */
        const char *subkey; /* key inside key, or NULL */
};

struct kind_desc {
        const char *name;     /* "vm" */
        const char *table;    /* "vms" */
        bool has_name;        /* a unique name column */
        const char *order;    /* ORDER BY for list() */
        struct col cols[6];   /* indexed columns, "id" first; NULL-terminated */
};

static const struct kind_desc kinds[_DV_KIND_MAX] = {
        [DV_KIND_HOST] = { "host", "hosts", true, "name",
                           { { "id", "id", NULL }, { "name", "name", NULL },
                             { "state", "state", NULL },
                             { "credential", "_credential", NULL } } },
        [DV_KIND_VM] = { "vm", "vms", true, "name",
                         { { "id", "id", NULL }, { "name", "name", NULL },
                           { "host_id", "host_id", NULL }, { "image_id", "image_id", NULL },
                           { "state", "state", NULL } } },
        [DV_KIND_IMAGE] = { "image", "images", true, "name",
                            { { "id", "id", NULL }, { "name", "name", NULL } } },
        [DV_KIND_TASK] = { "task", "tasks", false, "seq DESC",
                           { { "id", "id", NULL }, { "state", "state", NULL },
                             { "target_id", "target", "id" } } },
        [DV_KIND_DVS] = { "dvs", "dvs", true, "name",
                          { { "id", "id", NULL }, { "name", "name", NULL } } },
        [DV_KIND_PORTGROUP] = { "portgroup", "portgroups", true, "name",
                                { { "id", "id", NULL }, { "name", "name", NULL },
                                  { "dvs_id", "dvs_id", NULL } } },
        [DV_KIND_CLUSTER] = { "cluster", "clusters", true, "name",
                              { { "id", "id", NULL }, { "name", "name", NULL } } },
};

/* Migrations: schema_sql[i] takes user_version i to i + 1. */
static const char *const schema_sql[] = {
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE hosts (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        "  state TEXT, credential TEXT UNIQUE, doc TEXT NOT NULL);"
        "CREATE TABLE images (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        "  doc TEXT NOT NULL);"
        "CREATE TABLE vms (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        "  host_id TEXT REFERENCES hosts(id), image_id TEXT REFERENCES images(id),"
        "  state TEXT, doc TEXT NOT NULL);"
        "CREATE INDEX vms_host ON vms(host_id);"
        "CREATE INDEX vms_image ON vms(image_id);"
        "CREATE INDEX vms_state ON vms(state);"
        "CREATE TABLE tasks (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        "  state TEXT, target_id TEXT, doc TEXT NOT NULL);"
        "CREATE INDEX tasks_state ON tasks(state);"
        "CREATE INDEX tasks_target ON tasks(target_id);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,"
        "  user TEXT NOT NULL, kind TEXT NOT NULL, target_kind TEXT, target_id TEXT,"
        "  target_name TEXT, message TEXT NOT NULL);",
        /* 1 -> 2: the distributed virtual switch. */
        "CREATE TABLE dvs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);"
        "CREATE TABLE portgroups (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        "  dvs_id TEXT NOT NULL REFERENCES dvs(id), doc TEXT NOT NULL);"
        "CREATE INDEX portgroups_dvs ON portgroups(dvs_id);",
        /* 2 -> 3: clusters (HA settings). */
        "CREATE TABLE clusters (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);",
};

const char *dv_kind_name(enum dv_kind kind)
{
        return kind < _DV_KIND_MAX ? kinds[kind].name : "?";
}

static struct sqlite_store *SS(struct dv_store *s)
{
        return (struct sqlite_store *)s;
}

static int errno_from_sqlite(int rc)
{
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW: return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return -EBUSY;
        case SQLITE_NOMEM: return -ENOMEM;
        case SQLITE_READONLY: return -EROFS;
        case SQLITE_FULL: return -ENOSPC;
        case SQLITE_CANTOPEN: return -EACCES;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return -EBADMSG;
        case SQLITE_CONSTRAINT:
                if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                        return -ENXIO;
                if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                        return -EEXIST;
                return -EINVAL;
        case SQLITE_TOOBIG: return -E2BIG;
        default: return -EIO;
        }
}

static void lock(struct sqlite_store *s)
{
        pthread_mutex_lock(&s->lock);
        s->depth++;
}

static void unlock(struct sqlite_store *s)
{
        s->depth--;
        pthread_mutex_unlock(&s->lock);
}

/* Wait until commit seq is on disk (s->lock not held): sync the WAL if no
 * one is, else wait for the sync under way and check again. */
static int wait_synced(struct sqlite_store *s, uint64_t seq)
{
        int r = 0;

        pthread_mutex_lock(&s->sync_lock);
        while (r >= 0 && s->synced < seq) {
                uint64_t upto;

                if (s->syncing) {
                        pthread_cond_wait(&s->sync_cond, &s->sync_lock);
                        continue;
                }
                s->syncing = true;
                /* Every commit counted now has been written to the WAL. */
                upto = __atomic_load_n(&s->committed, __ATOMIC_ACQUIRE);
                pthread_mutex_unlock(&s->sync_lock);
                if (s->wal_fd < 0)
                        s->wal_fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
                r = s->wal_fd < 0 || fdatasync(s->wal_fd) < 0 ? -errno : 0;
                pthread_mutex_lock(&s->sync_lock);
                s->syncing = false;
                if (r >= 0 && upto > s->synced)
                        s->synced = upto;
                pthread_cond_broadcast(&s->sync_cond);
        }
        pthread_mutex_unlock(&s->sync_lock);
        return r;
}

/* This thread's commits wait at dv_store_sync_deferred() instead of
 * each at its end (dv_store_defer_syncs()); the last one not yet waited for. */
static __thread bool defer_syncs;
static __thread uint64_t deferred_seq;

void dv_store_defer_syncs(bool on)
{
        defer_syncs = on;
}

/* unlock() after a write that returned r: when it ended a commit (the
 * outermost call, no transaction open), count it and, for full
 * durability, wait until it is on disk (or note it, when deferred).
 * Returns r or the sync's error. */
static int unlock_written(struct sqlite_store *s, int r)
{
        uint64_t seq = 0;

        if (r >= 0 && !s->in_txn && s->depth == 1)
                seq = __atomic_add_fetch(&s->committed, 1, __ATOMIC_ACQ_REL);
        unlock(s);
        if (seq && s->group && defer_syncs) {
                deferred_seq = DV_MAX(deferred_seq, seq);
        } else if (seq && s->group) {
                int rs = wait_synced(s, seq);
                if (rs < 0)
                        return rs; /* the callers log */
        }
        return r;
}

static void finalizep(sqlite3_stmt **st)
{
        if (*st)
                sqlite3_finalize(*st);
}

/* A statement belongs to the connection, which only the holder of s->lock
 * may use (it is opened without SQLite's own mutex): release it before
 * unlock(), never in a cleanup that runs after it. A cached statement is
 * reset for its next use, any other finalized. */
static void finalize_now(struct sqlite_store *s, sqlite3_stmt **st)
{
        if (!*st)
                return;
        for (size_t i = 0; i < s->n_cache; i++)
                if (s->cache[i].st == *st) {
                        sqlite3_reset(*st);
                        sqlite3_clear_bindings(*st);
                        s->cache[i].busy = false;
                        *st = NULL;
                        return;
                }
        sqlite3_finalize(*st);
        *st = NULL;
}

/* A statement for sql (s->lock held), from the cache when one is free;
 * release it with finalize_now(). */
static int prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **ret)
{
        sqlite3_stmt *st = NULL;
        int rc;

        for (size_t i = 0; i < s->n_cache; i++)
                if (!s->cache[i].busy && strcmp(s->cache[i].sql, sql) == 0) {
                        s->cache[i].busy = true;
                        *ret = s->cache[i].st;
                        return 0;
                }
        rc = sqlite3_prepare_v3(s->db, sql, -1,
                                s->n_cache < STMT_CACHE_MAX ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                                NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        if (s->n_cache < STMT_CACHE_MAX)
                s->cache[s->n_cache++] = (struct cached_stmt){ .sql = dv_strdup(sql), .st = st,
                                                                .busy = true };
        *ret = st;
        return 0;
}

/* An uncached statement (finalizep() in a cleanup is fine). */
static int prepare_once(struct sqlite_store *s, const char *sql, sqlite3_stmt **ret)
{
        return errno_from_sqlite(sqlite3_prepare_v2(s->db, sql, -1, ret, NULL));
}

static int step_done(sqlite3_stmt *st);

/* One statement (cached, like BEGIN and COMMIT) or a script (';'). */
static int exec(struct sqlite_store *s, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int r;

        if (strchr(sql, ';'))
                return errno_from_sqlite(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
        r = prepare(s, sql, &st);
        if (r < 0)
                return r;
        r = step_done(st);
        finalize_now(s, &st);
        return r;
}

/* Run a statement that returns no rows. */
static int step_done(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

static const char *col_value(json_t *doc, const struct col *c)
{
        json_t *v = json_object_get(doc, c->key);

        if (c->subkey)
                v = json_object_get(v, c->subkey);
        return json_string_value(v);
}

static int doc_text(json_t *doc, char **ret)
{
        char *t = json_dumps(doc, JSON_COMPACT);

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static json_t *row_doc(sqlite3_stmt *st, int col)
{
        const char *text = (const char *)sqlite3_column_text(st, col);

        return text ? json_loads(text, 0, NULL) : NULL;
}

/* --- transactions ------------------------------------------------------ */

static bool observed(struct sqlite_store *s, enum dv_kind kind)
{
        return s->up.observe &&
               (kind == DV_KIND_VM || kind == DV_KIND_HOST || kind == DV_KIND_DVS ||
                kind == DV_KIND_CLUSTER);
}

static int query_first_doc(struct sqlite_store *s, const char *sql, const char *param,
                           json_t **ret_doc);

/* The document as stored now (for the observer), or NULL. */
static json_t *old_doc(struct sqlite_store *s, enum dv_kind kind, const char *id)
{
        _cleanup_(freep) char *sql = dv_asprintf("SELECT doc FROM %s WHERE id = ?",
                                                 kinds[kind].table);
        json_t *doc = NULL;

        if (query_first_doc(s, sql, id, &doc) < 0)
                return NULL;
        return doc;
}

/* A write succeeded (s->lock held): tell the observer now, or at commit.
 * Consumes old and new. */
static void note_write(struct sqlite_store *s, enum dv_kind kind, json_t *old, json_t *new)
{
        if (s->in_txn) {
                if (!s->pending)
                        s->pending = json_array();
                json_array_append_new(s->pending,
                                      json_pack("[i,o,o]", (int)kind, old ? old : json_null(),
                                                new ? new : json_null()));
                return;
        }
        s->up.observe(s->up.observe_userdata, kind, old, new);
        json_decref(old);
        json_decref(new);
}

static void deliver_pending(struct sqlite_store *s, bool committed)
{
        json_t *e;
        size_t i;

        if (committed && s->up.observe)
                json_array_foreach(s->pending, i, e) {
                        json_t *o = json_array_get(e, 1), *n = json_array_get(e, 2);

                        s->up.observe(s->up.observe_userdata,
                                      (enum dv_kind)json_integer_value(json_array_get(e, 0)),
                                      json_is_null(o) ? NULL : o, json_is_null(n) ? NULL : n);
                }
        json_decref(s->pending);
        s->pending = NULL;
}

static int ss_begin(struct dv_store *store)
{
        struct sqlite_store *s = SS(store);
        int r;

        lock(s);
        if (s->in_txn) {
                unlock(s);
                return -EBUSY;
        }
        r = exec(s, "BEGIN IMMEDIATE");
        if (r < 0) {
                unlock(s);
                return r;
        }
        s->in_txn = true;
        return 0; /* the lock stays held until commit or rollback */
}

static int ss_commit(struct dv_store *store)
{
        struct sqlite_store *s = SS(store);
        int r;

        if (!s->in_txn)
                return -EINVAL;
        r = exec(s, "COMMIT");
        if (r < 0)
                exec(s, "ROLLBACK");
        s->in_txn = false;
        deliver_pending(s, r >= 0);
        return unlock_written(s, r);
}

static void ss_rollback(struct dv_store *store)
{
        struct sqlite_store *s = SS(store);

        if (!s->in_txn)
                return;
        exec(s, "ROLLBACK");
        s->in_txn = false;
        deliver_pending(s, false);
        unlock(s);
}

static int ss_sync_deferred(struct dv_store *store)
{
        struct sqlite_store *s = SS(store);
        uint64_t seq = deferred_seq;

        deferred_seq = 0;
        if (!seq || !s->group)
                return 0;
        return wait_synced(s, seq);
}

/* --- documents --------------------------------------------------------- */

static int check_doc(enum dv_kind kind, json_t *doc)
{
        if (kind >= _DV_KIND_MAX || !json_is_object(doc))
                return -EINVAL;
        if (!json_string_value(json_object_get(doc, "id")))
                return -EINVAL;
        if (kinds[kind].has_name && !json_string_value(json_object_get(doc, "name")))
                return -EINVAL;
        return 0;
}

static int bind_cols(sqlite3_stmt *st, const struct kind_desc *k, json_t *doc, int *ret_next)
{
        int i = 1;

        for (const struct col *c = k->cols; c->column; c++, i++) {
                const char *v = col_value(doc, c);
                int rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
                           : sqlite3_bind_null(st, i);
                if (rc != SQLITE_OK)
                        return errno_from_sqlite(rc);
        }
        *ret_next = i;
        return 0;
}

static int ss_insert(struct dv_store *store, enum dv_kind kind, json_t *doc)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *sql = NULL, *cols = NULL, *marks = NULL, *text = NULL;
        const struct kind_desc *k;
        int r, next;

        r = check_doc(kind, doc);
        if (r < 0)
                return r;
        k = &kinds[kind];
        cols = dv_strdup("");
        marks = dv_strdup("");
        for (const struct col *c = k->cols; c->column; c++) {
                char *nc = dv_asprintf("%s%s, ", cols, c->column);
                char *nm = dv_asprintf("%s?, ", marks);
                free(cols);
                free(marks);
                cols = nc;
                marks = nm;
        }
        sql = dv_asprintf("INSERT INTO %s (%sdoc) VALUES (%s?)", k->table, cols, marks);
        r = doc_text(doc, &text);
        if (r < 0)
                return r;
        lock(s);
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = bind_cols(st, k, doc, &next);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(st, next, text, -1, SQLITE_STATIC));
        if (r >= 0)
                r = step_done(st);
        if (r >= 0 && observed(s, kind))
                note_write(s, kind, NULL, json_deep_copy(doc));
        finalize_now(s, &st);
        return unlock_written(s, r);
}

static int ss_update(struct dv_store *store, enum dv_kind kind, json_t *doc)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *sql = NULL, *sets = NULL, *text = NULL;
        const struct kind_desc *k;
        int r, next;

        r = check_doc(kind, doc);
        if (r < 0)
                return r;
        k = &kinds[kind];
        sets = dv_strdup("");
        for (const struct col *c = k->cols; c->column; c++) {
                char *n = dv_asprintf("%s%s = ?, ", sets, c->column);
                free(sets);
                sets = n;
        }
        /* The id is bound twice: once as a column (unchanged), once in WHERE. */
        sql = dv_asprintf("UPDATE %s SET %sdoc = ? WHERE id = ?", k->table, sets);
        r = doc_text(doc, &text);
        if (r < 0)
                return r;
        lock(s);
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = bind_cols(st, k, doc, &next);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(st, next, text, -1, SQLITE_STATIC));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(
                        st, next + 1, json_string_value(json_object_get(doc, "id")), -1,
                        SQLITE_TRANSIENT));
        if (r >= 0)
                r = step_done(st);
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = -ENOENT;
        /* No old document: the observer keeps what it needs by id. */
        if (r >= 0 && observed(s, kind))
                note_write(s, kind, NULL, json_deep_copy(doc));
        finalize_now(s, &st);
        return unlock_written(s, r);
}

static int ss_remove(struct dv_store *store, enum dv_kind kind, const char *id)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *sql = NULL;
        json_t *old = NULL;
        int r;

        if (kind >= _DV_KIND_MAX || !id)
                return -EINVAL;
        sql = dv_asprintf("DELETE FROM %s WHERE id = ?", kinds[kind].table);
        lock(s);
        old = observed(s, kind) ? old_doc(s, kind, id) : NULL;
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT));
        if (r >= 0) {
                r = step_done(st);
                if (r == -ENXIO) /* still referenced */
                        r = -EBUSY;
        }
        if (r >= 0 && sqlite3_changes(s->db) == 0)
                r = -ENOENT;
        if (r >= 0 && observed(s, kind))
                note_write(s, kind, TAKE_PTR(old), NULL);
        json_decref(old);
        finalize_now(s, &st);
        return unlock_written(s, r);
}

/* Run a query whose first column is a document; collect into an array. */
static int collect_docs(sqlite3_stmt *st, json_t *arr)
{
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *d = row_doc(st, 0);
                if (!d)
                        return -EBADMSG;
                json_array_append_new(arr, d);
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* The documents' texts, copied (the lock's holder steps; parsing them,
 * the larger part of a long list, is left for after unlock()). */
struct texts {
        char **v;
        size_t n, cap;
};

static void texts_free(struct texts *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i]);
        free(t->v);
        *t = (struct texts){ 0 };
}

static int collect_texts(sqlite3_stmt *st, struct texts *t)
{
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *text = (const char *)sqlite3_column_text(st, 0);

                if (!text)
                        return -EBADMSG;
                if (t->n == t->cap) {
                        size_t cap = t->cap ? 2 * t->cap : 64;
                        char **v = realloc(t->v, cap * sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        t->v = v;
                        t->cap = cap;
                }
                t->v[t->n++] = dv_strdup(text);
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* The first document sql (one text parameter, ?1 = param) returns;
 * -ENOENT when there is none. */
static int query_first_doc(struct sqlite_store *s, const char *sql, const char *param,
                           json_t **ret_doc)
{
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        json_t *arr = json_array();
        int r;

        if (!arr)
                return -ENOMEM;
        lock(s);
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT));
        if (r >= 0)
                r = collect_docs(st, arr);
        finalize_now(s, &st);
        unlock(s);
        if (r >= 0 && json_array_size(arr) == 0)
                r = -ENOENT;
        if (r >= 0)
                *ret_doc = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        return r;
}

static int ss_get(struct dv_store *store, enum dv_kind kind, const char *id_or_name,
                  json_t **ret_doc)
{
        _cleanup_(freep) char *sql = NULL;

        if (kind >= _DV_KIND_MAX || !id_or_name)
                return -EINVAL;
        /* An id wins over a name that happens to look like one. */
        if (kinds[kind].has_name)
                sql = dv_asprintf("SELECT doc FROM %1$s WHERE id = ?1 UNION ALL "
                                  "SELECT doc FROM %1$s WHERE name = ?1 LIMIT 1",
                                  kinds[kind].table);
        else
                sql = dv_asprintf("SELECT doc FROM %s WHERE id = ?1", kinds[kind].table);
        return query_first_doc(SS(store), sql, id_or_name, ret_doc);
}

static bool kind_has_col(enum dv_kind kind, const char *column)
{
        for (const struct col *c = kinds[kind].cols; c->column; c++)
                if (strcmp(c->column, column) == 0)
                        return true;
        return false;
}

static int ss_list(struct dv_store *store, enum dv_kind kind, const struct dv_store_filter *f,
                   json_t **ret_array)
{
        static const struct dv_store_filter none = { 0 };
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        _cleanup_(freep) char *sql = NULL;
        const char *vals[4];
        const char *names[4] = { "host_id", "image_id", "state", "dvs_id" };
        struct texts texts = { 0 };
        json_t *arr;
        int r;

        if (kind >= _DV_KIND_MAX)
                return -EINVAL;
        if (!f)
                f = &none;
        vals[0] = f->host_id;
        vals[1] = f->image_id;
        vals[2] = f->state;
        vals[3] = f->dvs_id;
        sql = dv_asprintf("SELECT doc FROM %s WHERE 1", kinds[kind].table);
        for (int i = 0; i < 4; i++) {
                char *ns;
                if (!vals[i])
                        continue;
                if (!kind_has_col(kind, names[i]))
                        return -EINVAL;
                ns = dv_asprintf("%s AND %s = ?%d", sql, names[i], i + 1);
                free(sql);
                sql = ns;
        }
        if (f->after) {
                char *ns = dv_asprintf("%s AND %s > ?5", sql, kinds[kind].order);
                free(sql);
                sql = ns;
        }
        {
                /* The limit bound, not written in: one cached statement. */
                char *ns = dv_asprintf("%s ORDER BY %s LIMIT ?6", sql, kinds[kind].order);
                free(sql);
                sql = ns;
        }
        lock(s);
        r = prepare(s, sql, &st);
        for (int i = 0; r >= 0 && i < 4; i++)
                if (vals[i])
                        r = errno_from_sqlite(
                                sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_TRANSIENT));
        if (r >= 0 && f->after)
                r = errno_from_sqlite(sqlite3_bind_text(st, 5, f->after, -1, SQLITE_TRANSIENT));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int(st, 6, f->limit > 0 ? f->limit : -1));
        if (r >= 0)
                r = collect_texts(st, &texts);
        finalize_now(s, &st);
        unlock(s);
        arr = json_array();
        for (size_t i = 0; r >= 0 && i < texts.n; i++) {
                json_t *d = json_loads(texts.v[i], 0, NULL);

                if (!d)
                        r = -EBADMSG;
                json_array_append_new(arr, d);
                free(texts.v[i]);
                texts.v[i] = NULL;
        }
        texts_free(&texts);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret_array = arr;
        return 0;
}

static int ss_host_by_credential(struct dv_store *store, const char *credential,
                                 json_t **ret_doc)
{
        if (!credential || !*credential)
                return -ENOENT;
        return query_first_doc(SS(store), "SELECT doc FROM hosts WHERE credential = ?1",
                               credential, ret_doc);
}

/* --- counters, events -------------------------------------------------- */

static int ss_counter_next(struct dv_store *store, const char *key, int64_t first,
                           int64_t *ret_value)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        lock(s);
        r = prepare(s,
                    "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) "
                    "DO UPDATE SET value = value + 1 RETURNING value",
                    &st);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int64(st, 2, first));
        if (r >= 0) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        int64_t v = sqlite3_column_int64(st, 0);
                        r = step_done(st);
                        if (r >= 0)
                                *ret_value = v;
                } else {
                        r = rc == SQLITE_DONE ? -EIO : errno_from_sqlite(rc);
                }
        }
        finalize_now(s, &st);
        return unlock_written(s, r);
}

static int bind_opt(sqlite3_stmt *st, int i, const char *v)
{
        return errno_from_sqlite(v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
                                   : sqlite3_bind_null(st, i));
}

static int ss_event_append(struct dv_store *store, const struct dv_event *ev, int64_t *ret_id)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        const char *vals[7] = { ev->time, ev->user, ev->kind, ev->target_kind,
                                ev->target_id, ev->target_name, ev->message };
        int r;

        if (!ev->time || !ev->user || !ev->kind || !ev->message)
                return -EINVAL;
        lock(s);
        r = prepare(s,
                    "INSERT INTO events (time, user, kind, target_kind, target_id, target_name,"
                    " message) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    &st);
        for (int i = 0; r >= 0 && i < 7; i++)
                r = bind_opt(st, i + 1, vals[i]);
        if (r >= 0)
                r = step_done(st);
        if (r >= 0 && ret_id)
                *ret_id = sqlite3_last_insert_rowid(s->db);
        finalize_now(s, &st);
        return unlock_written(s, r);
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
        const char *t = (const char *)sqlite3_column_text(st, col);
        return t ? json_string(t) : json_null();
}

static int ss_event_list(struct dv_store *store, int64_t since_id, int limit,
                         json_t **ret_array)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        const char *sql;
        json_t *arr;
        int r, rc;

        sql = "SELECT id, time, user, kind, target_kind, target_id, target_name, message"
              " FROM events WHERE id > ?1 ORDER BY id DESC LIMIT ?2";
        arr = json_array();
        lock(s);
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int64(st, 1, DV_MAX(since_id, 0)));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int(st, 2, limit > 0 ? limit : -1));
        while (r >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *target = json_null();

                if (sqlite3_column_type(st, 4) != SQLITE_NULL)
                        target = json_pack("{s:o,s:o,s:o}", "kind", text_or_null(st, 4), "id",
                                           text_or_null(st, 5), "name", text_or_null(st, 6));
                json_array_append_new(
                        arr, json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "id",
                                       (json_int_t)sqlite3_column_int64(st, 0), "time",
                                       text_or_null(st, 1), "user", text_or_null(st, 2), "kind",
                                       text_or_null(st, 3), "target", target, "message",
                                       text_or_null(st, 7)));
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = errno_from_sqlite(rc);
        finalize_now(s, &st);
        unlock(s);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret_array = arr;
        return 0;
}

static int ss_prune(struct dv_store *store, int64_t keep_events, int64_t keep_tasks)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st1 = NULL, *st2 = NULL;
        int r;

        lock(s);
        r = prepare(s, "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?", &st1);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int64(st1, 1, keep_events));
        if (r >= 0)
                r = step_done(st1);
        if (r >= 0)
                r = prepare(s,
                            "DELETE FROM tasks WHERE state IN ('succeeded', 'failed', 'cancelled')"
                            " AND seq <= (SELECT max(seq) FROM tasks) - ?",
                            &st2);
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_bind_int64(st2, 1, keep_tasks));
        if (r >= 0)
                r = step_done(st2);
        finalize_now(s, &st1);
        finalize_now(s, &st2);
        return unlock_written(s, r);
}

static int ss_fail_unfinished_tasks(struct dv_store *store, const char *code,
                                    const char *message, const char *now_iso,
                                    json_t **ret_tasks)
{
        struct sqlite_store *s = SS(store);
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        json_t *arr = json_array(), *d;
        size_t i;
        int r;

        lock(s);
        r = exec(s, "SAVEPOINT fail_unfinished");
        if (r < 0)
                goto out;
        r = prepare(s, "SELECT doc FROM tasks WHERE state IN ('queued', 'running') ORDER BY seq",
                    &st);
        if (r >= 0)
                r = collect_docs(st, arr);
        json_array_foreach(arr, i, d) {
                if (r < 0)
                        break;
                json_object_set_new(d, "state", json_string("failed"));
                json_object_set_new(d, "error",
                                    json_pack("{s:s,s:s}", "code", code, "message", message));
                json_object_set_new(d, "message", json_string(message));
                json_object_set_new(d, "finished_at", json_string(now_iso));
                r = ss_update(store, DV_KIND_TASK, d);
        }
        if (r >= 0)
                r = exec(s, "RELEASE fail_unfinished");
        else
                exec(s, "ROLLBACK TO fail_unfinished; RELEASE fail_unfinished");
out:
        finalize_now(s, &st);
        r = unlock_written(s, r);
        if (r < 0) {
                json_decref(arr);
                return r;
        }
        *ret_tasks = arr;
        return 0;
}

/* --- open / close ------------------------------------------------------ */

static int pragma_text(struct sqlite_store *s, const char *sql, char *buf, size_t len)
{
        _cleanup_(finalizep) sqlite3_stmt *st = NULL;
        int r = prepare_once(s, sql, &st);

        if (r < 0)
                return r;
        if (sqlite3_step(st) != SQLITE_ROW)
                return -EIO;
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        return 0;
}

static int migrate(struct sqlite_store *s)
{
        char buf[32];
        int64_t version;
        int r;

        r = pragma_text(s, "PRAGMA user_version", buf, sizeof(buf));
        if (r < 0)
                return r;
        version = strtoll(buf, NULL, 10);
        if (version > (int64_t)ELEMENTSOF(schema_sql))
                return -EPROTO; /* written by a newer droverd */
        for (; version < (int64_t)ELEMENTSOF(schema_sql); version++) {
                _cleanup_(freep) char *bump =
                        dv_asprintf("PRAGMA user_version = %lld", (long long)version + 1);
                r = exec(s, "BEGIN IMMEDIATE");
                if (r < 0)
                        return r;
                r = exec(s, schema_sql[version]);
                if (r >= 0)
                        r = exec(s, bump);
                if (r >= 0)
                        r = exec(s, "COMMIT");
                if (r < 0) {
                        exec(s, "ROLLBACK");
                        return r;
                }
        }
        return 0;
}

static void ss_close(struct dv_store *store)
{
        struct sqlite_store *s = SS(store);

        if (!s)
                return;
        for (size_t i = 0; i < s->n_cache; i++) {
                sqlite3_finalize(s->cache[i].st);
                free(s->cache[i].sql);
        }
        s->n_cache = 0;
        if (s->db) {
                /* Fold the WAL back into the database on a clean close. */
                sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
                sqlite3_close_v2(s->db);
        }
        if (s->wal_fd >= 0)
                close(s->wal_fd);
        free(s->wal_path);
        pthread_cond_destroy(&s->sync_cond);
        pthread_mutex_destroy(&s->sync_lock);
        pthread_mutex_destroy(&s->lock);
        free(s);
}

static int ss_open(const char *path, struct dv_store **ret_store)
{
        struct sqlite_store *s;
        pthread_mutexattr_t attr;
        char mode[16];
        int fd, r;

        /* Create the file 0600 first: SQLite gives the -wal and -shm files
         * the database's mode, and hosts' credentials live in it. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        close(fd);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->up.ops = &dv_store_sqlite_ops;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        pthread_mutex_init(&s->lock, &attr);
        pthread_mutexattr_destroy(&attr);
        pthread_mutex_init(&s->sync_lock, NULL);
        pthread_cond_init(&s->sync_cond, NULL);
        s->wal_fd = -1;
        s->wal_path = dv_asprintf("%s-wal", path);
        s->group = !dv_streq(getenv("DROVER_STORE_SYNC"), "normal");

        r = errno_from_sqlite(sqlite3_open_v2(
                path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                NULL));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_extended_result_codes(s->db, 1));
        if (r >= 0)
                r = errno_from_sqlite(sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS));
        if (r >= 0)
                r = pragma_text(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
        if (r >= 0 && strcmp(mode, "wal") != 0)
                r = -EIO;
        if (r >= 0)
                /* Full durability too: group commit syncs the WAL (above). */
                r = exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
        if (r >= 0)
                r = migrate(s);
        if (r < 0) {
                ss_close(&s->up);
                return r;
        }
        *ret_store = &s->up;
        return 0;
}

const struct dv_store_ops dv_store_sqlite_ops = {
        .name = "sqlite",
        .open = ss_open,
        .close = ss_close,
        .begin = ss_begin,
        .commit = ss_commit,
        .rollback = ss_rollback,
        .sync_deferred = ss_sync_deferred,
        .insert = ss_insert,
        .update = ss_update,
        .remove = ss_remove,
        .get = ss_get,
        .list = ss_list,
        .host_by_credential = ss_host_by_credential,
        .counter_next = ss_counter_next,
        .event_append = ss_event_append,
        .event_list = ss_event_list,
        .prune = ss_prune,
        .fail_unfinished_tasks = ss_fail_unfinished_tasks,
};
