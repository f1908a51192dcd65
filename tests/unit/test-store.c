/* The SQLite store on a temporary file: CRUD, name uniqueness, filters,
 * counters, events, transactions, reopen, recovery of unfinished tasks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

struct fixture {
        char dir[64];   /* temporary directory */
        char path[128]; /* the database file */
        struct dv_store *s;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        snprintf(f->dir, sizeof(f->dir), "/tmp/test-store.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        dv_store_close(f->s);
        dv_rm_rf(f->dir);
        free(f);
        return 0;
}

static json_t *vm_doc(const char *id, const char *name, const char *host_id, const char *state)
{
        return json_pack("{s:s,s:s,s:s?,s:s,s:i}", "id", id, "name", name, "host_id", host_id,
                         "state", state, "memory_mib", 512);
}

static void test_crud(void **state)
{
        struct fixture *f = *state;
        json_t *d = vm_doc("id-1", "vm1", NULL, "stopped"), *got = NULL;

        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, d), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "id-1", &got), 0);
        assert_true(json_equal(d, got));
        json_decref(got);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "vm1", &got), 0); /* by name */
        assert_string_equal(json_string_value(json_object_get(got, "id")), "id-1");
        json_decref(got);

        json_object_set_new(d, "state", json_string("running"));
        assert_int_equal(dv_store_update(f->s, DV_KIND_VM, d), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "vm1", &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "state")), "running");
        json_decref(got);

        assert_int_equal(dv_store_remove(f->s, DV_KIND_VM, "id-1"), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "vm1", &got), -ENOENT);
        assert_int_equal(dv_store_remove(f->s, DV_KIND_VM, "id-1"), -ENOENT);
        assert_int_equal(dv_store_update(f->s, DV_KIND_VM, d), -ENOENT);
        json_decref(d);

        /* Documents without id / name are refused. */
        d = json_pack("{s:s}", "name", "x");
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, d), -EINVAL);
        json_decref(d);
}

static void test_unique_names(void **state)
{
        struct fixture *f = *state;
        json_t *a = vm_doc("id-a", "same", NULL, "stopped");
        json_t *b = vm_doc("id-b", "same", NULL, "stopped");
        json_t *c = vm_doc("id-a", "other", NULL, "stopped");
        json_t *d = vm_doc("id-d", "dname", NULL, "stopped"), *list = NULL;

        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, a), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, b), -EEXIST); /* name */
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, c), -EEXIST); /* id */
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, d), 0);
        json_object_set_new(d, "name", json_string("same"));
        assert_int_equal(dv_store_update(f->s, DV_KIND_VM, d), -EEXIST); /* rename onto */
        /* Names are per kind: an image may be called "same". */
        json_decref(b);
        b = json_pack("{s:s,s:s}", "id", "img-1", "name", "same");
        assert_int_equal(dv_store_insert(f->s, DV_KIND_IMAGE, b), 0);
        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, NULL, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        json_decref(list);
        json_decref(a);
        json_decref(b);
        json_decref(c);
        json_decref(d);
}

static void test_filters_and_fk(void **state)
{
        struct fixture *f = *state;
        json_t *h = json_pack("{s:s,s:s,s:s,s:s}", "id", "h-1", "name", "host1", "state",
                              "connected", "_credential", "c0ffee");
        json_t *v1 = vm_doc("v1", "b-vm", "h-1", "running");
        json_t *v2 = vm_doc("v2", "a-vm", "h-1", "stopped");
        json_t *v3 = vm_doc("v3", "c-vm", NULL, "stopped");
        json_t *bad = vm_doc("v4", "d-vm", "no-such-host", "stopped");
        json_t *list = NULL, *got = NULL;
        struct dv_store_filter fh = { .host_id = "h-1" }, fs = { .state = "stopped" };

        assert_int_equal(dv_store_insert(f->s, DV_KIND_HOST, h), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, v1), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, v2), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, v3), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, bad), -ENXIO); /* foreign key */

        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fh, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        /* Sorted by name. */
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
                            "a-vm");
        json_decref(list);
        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fs, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        json_decref(list);
        fs.limit = 1;
        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fs, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        json_decref(list);
        /* Paging by name: after "a-vm", two at most: b-vm, c-vm; after
         * "c-vm": none; with a filter: the stopped ones after "a-vm". */
        {
                struct dv_store_filter fp = { .limit = 2, .after = "a-vm" };

                assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fp, &list), 0);
                assert_int_equal(json_array_size(list), 2);
                assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
                                                                      "name")), "b-vm");
                assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1),
                                                                      "name")), "c-vm");
                json_decref(list);
                fp.after = "c-vm";
                assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fp, &list), 0);
                assert_int_equal(json_array_size(list), 0);
                json_decref(list);
                fp.after = "a-vm";
                fp.state = "stopped";
                assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fp, &list), 0);
                assert_int_equal(json_array_size(list), 1);
                assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
                                                                      "name")), "c-vm");
                json_decref(list);
        }

        assert_int_equal(f->s->ops->host_by_credential(f->s, "c0ffee", &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "name")), "host1");
        json_decref(got);
        assert_int_equal(f->s->ops->host_by_credential(f->s, "nope", &got), -ENOENT);
        assert_int_equal(f->s->ops->host_by_credential(f->s, "", &got), -ENOENT);
        /* A host with VMs cannot go. */
        assert_int_equal(dv_store_remove(f->s, DV_KIND_HOST, "h-1"), -EBUSY);

        json_decref(h);
        json_decref(v1);
        json_decref(v2);
        json_decref(v3);
        json_decref(bad);
}

static void test_transaction(void **state)
{
        struct fixture *f = *state;
        json_t *a = vm_doc("t-a", "ta", NULL, "stopped"), *got = NULL;

        assert_int_equal(dv_store_begin(f->s), 0);
        assert_int_equal(dv_store_begin(f->s), -EBUSY); /* not nested */
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, a), 0);
        dv_store_rollback(f->s);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "t-a", &got), -ENOENT);

        assert_int_equal(dv_store_begin(f->s), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, a), 0);
        assert_int_equal(dv_store_commit(f->s), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "t-a", &got), 0);
        json_decref(got);
        json_decref(a);
}

static void test_counter_events(void **state)
{
        struct fixture *f = *state;
        struct dv_event ev = { .time = "2026-01-01T00:00:00Z", .user = "admin",
                               .kind = "vm.create", .target_kind = "vm", .target_id = "x",
                               .target_name = "vm-x", .message = "m" };
        int64_t v, id1, id2, id3;
        json_t *list = NULL;

        assert_int_equal(f->s->ops->counter_next(f->s, "uid", 100000, &v), 0);
        assert_int_equal(v, 100000);
        assert_int_equal(f->s->ops->counter_next(f->s, "uid", 100000, &v), 0);
        assert_int_equal(v, 100001);
        assert_int_equal(f->s->ops->counter_next(f->s, "other", 5, &v), 0);
        assert_int_equal(v, 5);

        assert_int_equal(f->s->ops->event_append(f->s, &ev, &id1), 0);
        ev.target_kind = NULL;
        ev.kind = "host.unreachable";
        assert_int_equal(f->s->ops->event_append(f->s, &ev, &id2), 0);
        assert_int_equal(f->s->ops->event_append(f->s, &ev, &id3), 0);
        assert_true(id1 < id2 && id2 < id3);
        assert_int_equal(f->s->ops->event_list(f->s, 0, 2, &list), 0);
        assert_int_equal(json_array_size(list), 2); /* the newest two, newest first */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), id3);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "id")), id2);
        assert_true(json_is_null(json_object_get(json_array_get(list, 0), "target")));
        json_decref(list);
        assert_int_equal(f->s->ops->event_list(f->s, id1, 100, &list), 0);
        assert_int_equal(json_array_size(list), 2);
        json_decref(list);
        assert_int_equal(f->s->ops->event_list(f->s, 0, 100, &list), 0);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_array_get(list, 2), "target"), "name")),
                            "vm-x");
        json_decref(list);
        /* Pruning keeps the newest and never reuses ids. */
        assert_int_equal(f->s->ops->prune(f->s, 1, 10), 0);
        assert_int_equal(f->s->ops->event_list(f->s, 0, 100, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        json_decref(list);
        assert_int_equal(f->s->ops->event_append(f->s, &ev, &v), 0);
        assert_true(v > id3);
}

static json_t *task_doc(const char *id, const char *state)
{
        return json_pack("{s:s,s:s,s:{s:s,s:s,s:s},s:s,s:n}", "id", id, "op", "vm.start",
                         "target", "kind", "vm", "id", "v1", "name", "vm1", "state", state,
                         "error");
}

static void test_reopen_and_recovery(void **state)
{
        struct fixture *f = *state;
        json_t *t1 = task_doc("task-1", "running"), *t2 = task_doc("task-2", "queued");
        json_t *t3 = task_doc("task-3", "succeeded"), *v = vm_doc("r-1", "keep", NULL, "stopped");
        json_t *failed = NULL, *got = NULL, *list = NULL;
        struct stat st;
        int64_t n;

        assert_int_equal(dv_store_insert(f->s, DV_KIND_TASK, t1), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_TASK, t2), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_TASK, t3), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_VM, v), 0);
        assert_int_equal(f->s->ops->counter_next(f->s, "uid", 100000, &n), 0);
        dv_store_close(f->s);

        /* The database is private: it will hold hosts' credentials. */
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "keep", &got), 0);
        json_decref(got);
        assert_int_equal(f->s->ops->counter_next(f->s, "uid", 100000, &n), 0);
        assert_int_equal(n, 100001);

        assert_int_equal(f->s->ops->fail_unfinished_tasks(f->s, "manager-restart", "restarted",
                                                          "2026-01-01T00:00:00Z", &failed),
                         0);
        assert_int_equal(json_array_size(failed), 2);
        json_decref(failed);
        assert_int_equal(dv_store_get(f->s, DV_KIND_TASK, "task-1", &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "state")), "failed");
        assert_string_equal(json_string_value(json_object_get(json_object_get(got, "error"),
                                                              "code")),
                            "manager-restart");
        json_decref(got);
        assert_int_equal(dv_store_get(f->s, DV_KIND_TASK, "task-3", &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "state")), "succeeded");
        json_decref(got);
        /* Tasks list newest first. */
        assert_int_equal(dv_store_list(f->s, DV_KIND_TASK, NULL, &list), 0);
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
                            "task-3");
        json_decref(list);
        /* Nothing left to fail. */
        assert_int_equal(f->s->ops->fail_unfinished_tasks(f->s, "x", "y", "z", &failed), 0);
        assert_int_equal(json_array_size(failed), 0);
        json_decref(failed);

        json_decref(t1);
        json_decref(t2);
        json_decref(t3);
        json_decref(v);
}

static void test_newer_schema_refused(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db;

        dv_store_close(f->s);
        f->s = NULL;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), -EPROTO);
        f->s = NULL;
}

/* The schema of user_version 1, as droverd 0.1 (the foundation) wrote it. */
static const char v1_schema[] =
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
        "  target_name TEXT, message TEXT NOT NULL);"
        "INSERT INTO hosts (id, name, state, credential, doc) VALUES ('h-1', 'host1',"
        "  'connected', 'c0ffee', '{\"id\":\"h-1\",\"name\":\"host1\",\"state\":\"connected\"}');"
        "PRAGMA user_version = 1;";

/* A version 1 database gains the dvs and portgroups tables and keeps its
 * documents. */
static void test_migrate_v1(void **state)
{
        struct fixture *f = *state;
        struct dv_store_filter fd = { .dvs_id = "d-1" };
        json_t *got = NULL, *list = NULL, *d1, *d2, *p1, *p2, *bad;
        sqlite3 *db;
        sqlite3_stmt *st;

        dv_store_close(f->s);
        f->s = NULL;
        unlink(f->path);
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);

        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_HOST, "host1", &got), 0);
        assert_string_equal(json_string_value(json_object_get(got, "id")), "h-1");
        json_decref(got);

        d1 = json_pack("{s:s,s:s,s:s,s:[]}", "id", "d-1", "name", "lan", "bridge", "dvs-lan",
                       "hosts");
        d2 = json_pack("{s:s,s:s}", "id", "d-2", "name", "dmz");
        p1 = json_pack("{s:s,s:s,s:s,s:i}", "id", "p-1", "name", "pg100", "dvs_id", "d-1",
                       "vlan", 100);
        p2 = json_pack("{s:s,s:s,s:s,s:i}", "id", "p-2", "name", "pg200", "dvs_id", "d-2",
                       "vlan", 200);
        bad = json_pack("{s:s,s:s,s:s,s:i}", "id", "p-3", "name", "pg300", "dvs_id", "nope",
                        "vlan", 300);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_DVS, d1), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_DVS, d2), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_DVS, d1), -EEXIST);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_PORTGROUP, p1), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_PORTGROUP, p2), 0);
        assert_int_equal(dv_store_insert(f->s, DV_KIND_PORTGROUP, bad), -ENXIO);
        assert_int_equal(dv_store_list(f->s, DV_KIND_PORTGROUP, &fd, &list), 0);
        assert_int_equal(json_array_size(list), 1);
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
                            "pg100");
        json_decref(list);
        assert_int_equal(dv_store_get(f->s, DV_KIND_PORTGROUP, "pg200", &got), 0);
        json_decref(got);
        /* A DVS with port groups cannot go. */
        assert_int_equal(dv_store_remove(f->s, DV_KIND_DVS, "d-1"), -EBUSY);
        assert_int_equal(dv_store_remove(f->s, DV_KIND_PORTGROUP, "p-1"), 0);
        assert_int_equal(dv_store_remove(f->s, DV_KIND_DVS, "d-1"), 0);
        /* Filtering on a column a kind lacks is refused. */
        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, &fd, &list), -EINVAL);

        dv_store_close(f->s);
        f->s = NULL;
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 3);
        sqlite3_finalize(st);
        sqlite3_close(db);
        /* Reopening a current database changes nothing. */
        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_DVS, "dmz", &got), 0);
        json_decref(got);

        json_decref(d1);
        json_decref(d2);
        json_decref(p1);
        json_decref(p2);
        json_decref(bad);
}

/* Many threads on one store at once (as droverd's API threads, task
 * workers and cron use it): every call must keep the connection to
 * itself, statements included (the connection is opened without SQLite's
 * own mutex). Before the fix, statements were finalized after the store's
 * lock was released, and at scale droverd aborted in free(). */
#define RACE_THREADS 4
#define RACE_ROUNDS 1500

struct race_arg {
        struct dv_store *s;
        int n;      /* the thread's number */
        int rounds; /* iterations */
        int failed; /* calls that did not answer as expected */
};

static void *race_thread(void *p)
{
        struct race_arg *a = p;

        for (int i = 0; i < a->rounds; i++) {
                char id[32], name[32];
                json_t *d, *got = NULL, *list = NULL;
                int64_t v = 0;

                snprintf(id, sizeof(id), "t%d-%d", a->n, i);
                snprintf(name, sizeof(name), "vm-%d-%d", a->n, i);
                d = vm_doc(id, name, NULL, "stopped");
                a->failed += dv_store_insert(a->s, DV_KIND_VM, d) != 0;
                json_object_set_new(d, "state", json_string("running"));
                a->failed += dv_store_update(a->s, DV_KIND_VM, d) != 0;
                a->failed += dv_store_get(a->s, DV_KIND_VM, name, &got) != 0;
                a->failed += !dv_streq(json_string_value(json_object_get(got, "state")), "running");
                json_decref(got);
                a->failed += a->s->ops->counter_next(a->s, "race", 1, &v) != 0;
                if (i % 50 == 0) {
                        a->failed += dv_store_list(a->s, DV_KIND_VM, NULL, &list) != 0;
                        json_decref(list);
                }
                if (i % 2 == 0)
                        a->failed += dv_store_remove(a->s, DV_KIND_VM, id) != 0;
                /* Reads are the most frequent calls; many make a race likely. */
                for (int k = 0; k < 20; k++) {
                        a->failed += dv_store_get(a->s, DV_KIND_VM, "no-such-vm", &got) != -ENOENT;
                }
                json_decref(d);
        }
        return NULL;
}

static void race(struct fixture *f, const char *sync, int rounds)
{
        struct race_arg args[RACE_THREADS];
        pthread_t th[RACE_THREADS];
        json_t *list = NULL;
        int64_t v = 0;

        dv_store_close(f->s);
        setenv("DROVER_STORE_SYNC", sync, 1);
        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        unsetenv("DROVER_STORE_SYNC");
        for (int i = 0; i < RACE_THREADS; i++) {
                args[i] = (struct race_arg){ .s = f->s, .n = i, .rounds = rounds };
                assert_int_equal(pthread_create(&th[i], NULL, race_thread, &args[i]), 0);
        }
        for (int i = 0; i < RACE_THREADS; i++) {
                assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(args[i].failed, 0);
        }
        /* Half of each thread's VMs were removed; the counter saw every call. */
        assert_int_equal(dv_store_list(f->s, DV_KIND_VM, NULL, &list), 0);
        assert_int_equal(json_array_size(list), RACE_THREADS * rounds / 2);
        json_decref(list);
        assert_int_equal(f->s->ops->counter_next(f->s, "race", 1, &v), 0);
        assert_int_equal(v, RACE_THREADS * rounds + 1);
}

/* Without a sync per commit (droverd --store-sync normal), as at scale. */
static void test_concurrent(void **state)
{
        race(*state, "normal", RACE_ROUNDS);
}

/* Full durability: commits of several threads share the WAL's syncs
 * (group commit); every call still answers as it should. Fewer rounds:
 * each commit waits for the disk. */
static void test_concurrent_full(void **state)
{
        struct fixture *f = *state;
        json_t *got = NULL;

        race(f, "full", 40);
        /* What was committed is there after a reopen. */
        dv_store_close(f->s);
        assert_int_equal(dv_store_open(&dv_store_sqlite_ops, f->path, &f->s), 0);
        assert_int_equal(dv_store_get(f->s, DV_KIND_VM, "vm-3-39", &got), 0);
        json_decref(got);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unique_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filters_and_fk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_counter_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_and_recovery, setup, teardown),
                cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_full, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
