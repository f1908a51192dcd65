/* auth.c: the admin password file and hash, logins, sessions, the failed
 * login bound, console tickets (one use, one VM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "auth.h"
#include "util.h"

static char dir[] = "/tmp/drover-auth-XXXXXX";

static int setup(void **state)
{
        (void)state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        char cmd[128];

        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd);
}

static char *read_pw(void)
{
        char path[256], *data = NULL;
        size_t len;

        snprintf(path, sizeof(path), "%s/admin-password", dir);
        assert_int_equal(dv_read_file(path, 4096, &data, &len), 0);
        data[strcspn(data, "\n")] = 0;
        return data;
}

static void test_login_session_logout(void **state)
{
        struct dv_auth *a = NULL;
        struct dv_error err = { 0 };
        char tok[65], user[64], path[256];
        int64_t exp;
        struct stat st;
        char *pw;

        (void)state;
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        pw = read_pw();
        snprintf(path, sizeof(path), "%s/admin-password", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        snprintf(path, sizeof(path), "%s/users", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(dv_auth_login(a, "admin", "nope", "p1", 0, tok, &exp, &err), -EACCES);
        assert_string_equal(err.code, "bad-credentials");
        assert_int_equal(dv_auth_login(a, "root", pw, "p1", 0, tok, &exp, &err), -EACCES);
        assert_int_equal(dv_auth_login(a, "admin", pw, "p1", 0, tok, &exp, &err), 0);
        assert_true(dv_auth_session(a, tok, user));
        assert_string_equal(user, "admin");
        assert_false(dv_auth_session(a, "0000000000000000000000000000000000000000000000000000000000000000", user));
        assert_true(dv_auth_logout(a, tok));
        assert_false(dv_auth_session(a, tok, user));
        dv_auth_free(a);

        /* A restart reads the hash back: the same password works. */
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        assert_int_equal(dv_auth_login(a, "admin", pw, "p2", 0, tok, &exp, &err), 0);
        dv_auth_free(a);
        free(pw);
}

/* Sessions survive a restart of droverd (DATA/sessions keeps their
 * hashes, 0600, never the tokens); a logout or an expiry is not undone by
 * one. */
static void test_sessions_persist(void **state)
{
        struct dv_auth *a = NULL;
        struct dv_error err = { 0 };
        char t1[65], t2[65], t3[65], user[64], path[256];
        _cleanup_(freep) char *data = NULL;
        int64_t exp;
        struct stat st;
        size_t len;
        char *pw;

        (void)state;
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        pw = read_pw();
        assert_int_equal(dv_auth_login(a, "admin", pw, "p3", 0, t1, &exp, &err), 0);
        assert_int_equal(dv_auth_login(a, "admin", pw, "p3", 0, t2, &exp, &err), 0);
        assert_int_equal(dv_auth_login(a, "admin", pw, "p3", 1, t3, &exp, &err), 0);
        assert_true(dv_auth_logout(a, t2));
        dv_auth_free(a);

        snprintf(path, sizeof(path), "%s/sessions", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(dv_read_file(path, 65536, &data, &len), 0);
        assert_null(strstr(data, t1)); /* only hashes */
        assert_null(strstr(data, t3));

        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        assert_true(dv_auth_session(a, t1, user));
        assert_string_equal(user, "admin");
        assert_false(dv_auth_session(a, t2, user)); /* logged out before */
        dv_auth_free(a);
        sleep(1);
        usleep(100 * 1000);
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        assert_false(dv_auth_session(a, t3, user)); /* expired */
        assert_true(dv_auth_session(a, t1, user));
        assert_true(dv_auth_logout(a, t1));
        dv_auth_free(a);
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        assert_false(dv_auth_session(a, t1, user));
        dv_auth_free(a);
        free(pw);
}

static void test_fail_bound(void **state)
{
        struct dv_auth *a = NULL;
        struct dv_error err = { 0 };
        char tok[65];
        int64_t exp;
        char *pw;

        (void)state;
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        pw = read_pw();
        for (int i = 0; i < DV_AUTH_FAIL_MAX; i++)
                assert_int_equal(dv_auth_login(a, "admin", "x", "bad", 0, tok, &exp, &err), -EACCES);
        /* Even the right password waits now, from that address only. */
        assert_int_equal(dv_auth_login(a, "admin", pw, "bad", 0, tok, &exp, &err), -EAGAIN);
        assert_string_equal(err.code, "too-many-attempts");
        assert_int_equal(dv_auth_login(a, "admin", pw, "good", 0, tok, &exp, &err), 0);
        dv_auth_free(a);
        free(pw);
}

static void test_tickets(void **state)
{
        struct dv_auth *a = NULL;
        char t1[65], t2[65], user[64];
        int64_t exp;

        (void)state;
        assert_int_equal(dv_auth_new(dir, NULL, &a), 0);
        assert_int_equal(dv_auth_ticket_new(a, "vm-a", "admin", t1, &exp), 0);
        assert_int_equal(dv_auth_ticket_take(a, t1, "vm-a", user), 0);
        assert_string_equal(user, "admin");
        assert_int_equal(dv_auth_ticket_take(a, t1, "vm-a", user), -EACCES); /* once */
        assert_int_equal(dv_auth_ticket_new(a, "vm-a", "admin", t2, &exp), 0);
        assert_int_equal(dv_auth_ticket_take(a, t2, "vm-b", user), -EXDEV);  /* other VM */
        assert_int_equal(dv_auth_ticket_take(a, t2, "vm-a", user), -EACCES); /* used up */
        assert_int_equal(dv_auth_ticket_take(a, NULL, "vm-a", user), -EACCES);
        assert_int_equal(dv_auth_ticket_take(a, "short", "vm-a", user), -EACCES);
        dv_auth_free(a);
}

static void test_password_file(void **state)
{
        struct dv_auth *a = NULL;
        struct dv_error err = { 0 };
        char path[256], tok[65];
        int64_t exp;

        (void)state;
        snprintf(path, sizeof(path), "%s/pw-given", dir);
        assert_int_equal(dv_write_file_atomic(path, "correct horse\n", 14, 0600), 0);
        assert_int_equal(dv_auth_new(dir, path, &a), 0);
        assert_int_equal(dv_auth_login(a, "admin", "correct horse", "p3", 0, tok, &exp, &err), 0);
        dv_auth_free(a);
        assert_int_equal(dv_write_file_atomic(path, "short\n", 6, 0600), 0);
        assert_int_equal(dv_auth_new(dir, path, &a), -EINVAL); /* under 8 bytes */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_login_session_logout),
                cmocka_unit_test(test_sessions_persist), cmocka_unit_test(test_fail_bound),
                cmocka_unit_test(test_tickets),
                cmocka_unit_test(test_password_file),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
