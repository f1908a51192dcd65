/* Datastores, disks and the spawn helper (src/agent/datastore.c, spawn.c).
 * Disk creation runs the real qemu-img; skipped when it is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"

static char tmpdir[PATH_MAX];

static int setup(void **state)
{
        char tmpl[] = "/tmp/test-agent-ds.XXXXXX";

        if (!mkdtemp(tmpl))
                return -1;
        if (!realpath(tmpl, tmpdir))
                return -1;
        return 0;
}

static int teardown(void **state)
{
        return dv_rm_rf(tmpdir);
}

static void test_within(void **state)
{
        assert_true(dv_path_strictly_within("/a/b", "/a/b/c"));
        assert_true(dv_path_strictly_within("/a/b", "/a/b/c/d.qcow2"));
        assert_false(dv_path_strictly_within("/a/b", "/a/b"));
        assert_false(dv_path_strictly_within("/a/b", "/a/b/"));
        assert_false(dv_path_strictly_within("/a/b", "/a/bc"));
        assert_false(dv_path_strictly_within("/a/b", "/a"));
        assert_false(dv_path_strictly_within("/a/b", "a/b/c"));
        assert_true(dv_path_strictly_within("/", "/x"));
        assert_false(dv_path_strictly_within("/", "/"));
        assert_false(dv_path_strictly_within(NULL, "/x"));
}

static void test_add(void **state)
{
        struct dv_datastores ds;
        _cleanup_(freep) char *a = dv_asprintf("%s/a", tmpdir);
        _cleanup_(freep) char *a_sub = dv_asprintf("%s/a/sub", tmpdir);
        _cleanup_(freep) char *b = dv_asprintf("%s/x/../b", tmpdir);
        _cleanup_(freep) char *x = dv_asprintf("%s/x", tmpdir);
        _cleanup_(json_decrefp) json_t *j = NULL;

        assert_int_equal(dv_mkdir_p(x, 0700), 0);
        dv_datastores_init(&ds);
        assert_int_equal(dv_datastores_add(&ds, "h-local", a), 0);
        assert_int_equal(dv_datastores_add(&ds, "h-local", x), -EEXIST);
        assert_int_equal(dv_datastores_add(&ds, "nested", a_sub), -ENOTUNIQ);
        assert_int_equal(dv_datastores_add(&ds, "bad name", x), -EINVAL);
        assert_int_equal(dv_datastores_add(&ds, "b", b), 0);
        /* stored canonical */
        assert_true(dv_startswith(dv_datastores_find(&ds, "b")->path, tmpdir));
        assert_null(strstr(dv_datastores_find(&ds, "b")->path, ".."));
        assert_null(dv_datastores_find(&ds, "zz"));

        j = dv_datastores_to_json(&ds);
        assert_int_equal(json_array_size(j), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "name")),
                            "h-local");
        assert_true(json_is_integer(json_object_get(json_array_get(j, 0), "capacity_gib")));
        assert_true(json_is_integer(json_object_get(json_array_get(j, 0), "free_gib")));
        assert_int_equal(json_object_size(json_array_get(j, 0)), 4);
        dv_datastores_done(&ds);
}

static bool have_qemu_img(void)
{
        const char *argv[] = { "qemu-img", "--version", NULL };
        char err[64];
        int st;

        return dv_spawn_capture(argv, 10000, err, sizeof(err), &st) == 0 && st == 0;
}

static void test_disks(void **state)
{
        struct dv_datastores ds;
        struct dv_error err = {};
        _cleanup_(freep) char *root = dv_asprintf("%s/ds", tmpdir);
        _cleanup_(freep) char *path = NULL, *path2 = NULL, *outside = NULL, *link = NULL;
        _cleanup_(freep) char *vmdir = NULL, *sneaky = NULL, *expect = NULL;
        struct stat st;
        bool deleted = true;

        if (!have_qemu_img())
                skip();
        dv_datastores_init(&ds);
        assert_int_equal(dv_datastores_add(&ds, "h-local", root), 0);

        assert_int_equal(dv_disk_create(&ds, "nope", "vm1", "disk0", 1, getuid(), &path, &err),
                         -ENOENT);
        assert_string_equal(err.code, "unknown-datastore");
        assert_int_equal(err.status, 404);

        assert_int_equal(dv_disk_create(&ds, "h-local", "vm1", "disk0", 2, getuid(), &path, &err),
                         0);
        vmdir = dv_asprintf("%s/vm1", root);
        expect = dv_asprintf("%s/disk0.qcow2", vmdir);
        assert_string_equal(path, expect);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, getuid());
        assert_true(st.st_blocks * 512 < 10 * 1024 * 1024); /* thin */

        /* again: refused, the existing disk stays */
        assert_int_equal(dv_disk_create(&ds, "h-local", "vm1", "disk0", 2, getuid(), &path2, &err),
                         -EEXIST);
        assert_string_equal(err.code, "name-taken");
        assert_int_equal(dv_disk_create(&ds, "h-local", "vm1", "disk1", 1, getuid(), &path2, &err),
                         0);

        /* outside every datastore */
        outside = dv_asprintf("%s/outside.qcow2", tmpdir);
        assert_int_equal(dv_write_file_atomic(outside, "x", 1, 0600), 0);
        assert_true(dv_disk_delete(&ds, outside, &deleted, &err) < 0);
        assert_string_equal(err.code, "invalid-path");
        sneaky = dv_asprintf("%s/vm1/../../outside.qcow2", root);
        assert_true(dv_disk_delete(&ds, sneaky, &deleted, &err) < 0);
        assert_string_equal(err.code, "invalid-path");
        assert_true(dv_disk_delete(&ds, "relative/x", &deleted, &err) < 0);
        assert_true(dv_disk_delete(&ds, root, &deleted, &err) < 0);
        assert_true(dv_disk_delete(&ds, vmdir, &deleted, &err) < 0); /* a directory */
        assert_string_equal(err.code, "invalid-path");
        /* a symlink inside pointing outside: not followed, refused */
        link = dv_asprintf("%s/vm1/evil.qcow2", root);
        assert_int_equal(symlink(outside, link), 0);
        assert_true(dv_disk_delete(&ds, link, &deleted, &err) < 0);
        assert_int_equal(access(outside, F_OK), 0);
        assert_int_equal(unlink(link), 0);

        assert_int_equal(dv_disk_delete(&ds, path, &deleted, &err), 0);
        assert_true(deleted);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(access(vmdir, F_OK), 0); /* disk1 remains */
        assert_int_equal(dv_disk_delete(&ds, path2, &deleted, &err), 0);
        assert_true(deleted);
        assert_int_equal(access(vmdir, F_OK), -1); /* empty VM dir removed */
        assert_int_equal(access(root, F_OK), 0);   /* never the datastore */
        /* already gone: fine, not deleted */
        assert_int_equal(dv_disk_delete(&ds, path2, &deleted, &err), 0);
        assert_false(deleted);
        free(path2);
        path2 = NULL;
        dv_datastores_done(&ds);
}

/* A migration's copy: a blank qcow2 of exactly the source's virtual size. */
static void test_disk_bytes(void **state)
{
        struct dv_datastores ds;
        struct dv_error err = {};
        _cleanup_(freep) char *root = dv_asprintf("%s/ds2", tmpdir);
        _cleanup_(freep) char *path = NULL, *out = NULL, *path2 = NULL;
        const char *argv[] = { "qemu-img", "info", "--output=json", NULL, NULL };
        char errbuf[256];
        int status = -1;
        bool deleted;

        if (!have_qemu_img())
                skip();
        dv_datastores_init(&ds);
        assert_int_equal(dv_datastores_add(&ds, "ds2", root), 0);
        /* not a multiple of 512, or too small: refused */
        assert_true(dv_disk_create_bytes(&ds, "ds2", "vm1", "disk0", 1000, getuid(), &path2,
                                         &err) < 0);
        assert_string_equal(err.code, "out-of-range");
        assert_true(dv_disk_create_bytes(&ds, "ds2", "vm1", "disk0", 0, getuid(), &path2, &err) < 0);
        assert_int_equal(dv_disk_create_bytes(&ds, "ds2", "vm1", "disk0", 1536 * 1024 * 1024LL + 512,
                                              getuid(), &path, &err),
                         0);
        argv[3] = path;
        assert_int_equal(dv_spawn_output(argv, 10000, 65536, &out, errbuf, sizeof(errbuf), &status),
                         0);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "\"virtual-size\": 1610613248"));
        assert_non_null(strstr(out, "\"format\": \"qcow2\""));
        /* the same name again: refused (a stale copy is never reused) */
        assert_int_equal(dv_disk_create_bytes(&ds, "ds2", "vm1", "disk0", 1024 * 1024, getuid(),
                                              &path2, &err),
                         -EEXIST);
        assert_int_equal(dv_disk_delete(&ds, path, &deleted, &err), 0);
        assert_true(deleted);
        dv_datastores_done(&ds);
}

static void test_spawn(void **state)
{
        const char *fail[] = { "sh", "-c", "echo first line >&2; echo second >&2; exit 3", NULL };
        const char *slow[] = { "sleep", "5", NULL };
        const char *missing[] = { "/nonexistent/program", NULL };
        char err[16];
        int st = 0;

        assert_int_equal(dv_spawn_capture(fail, 5000, err, sizeof(err), &st), 0);
        assert_int_equal(st, 3);
        assert_string_equal(err, "first line\nseco"); /* bounded */
        assert_int_equal(dv_spawn_capture(slow, 100, err, sizeof(err), &st), -ETIMEDOUT);
        assert_true(dv_spawn_capture(missing, 1000, err, sizeof(err), &st) < 0 || st == 127);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_within),
                cmocka_unit_test_setup_teardown(test_add, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_bytes, setup, teardown),
                cmocka_unit_test(test_spawn),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
