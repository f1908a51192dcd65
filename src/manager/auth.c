#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/sha256.h"
#include "crypto.h"
#include "log.h"
#include "token.h"
#include "util.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define FAIL_SLOTS 64

struct user {
        char name[64];              /* "admin" */
        uint8_t salt[SALT_LEN];     /* random per hash */
        uint8_t hash[HASH_LEN];     /* PBKDF2-HMAC-SHA256(password, salt, iter) */
        uint32_t iter;              /* iterations */
};

/* A session is kept (and stored in DATA/sessions) by the SHA-256 of its
 * token, never the token: a copy of the file opens nothing. */
struct session {
        char id[DV_TOKEN_LEN + 1];    /* hex SHA-256 of the token; "" = free slot */
        char user[64];                /* who logged in */
        int64_t expires_ms;           /* dv_wall_ms() deadline (survives a restart) */
};

struct ticket {
        char ticket[DV_TOKEN_LEN + 1]; /* "" = free slot */
        char vm_id[64];                /* the one VM it opens */
        char user[64];                 /* who asked for it */
        int64_t expires_ms;            /* dv_now_ms() deadline */
};

struct fail {
        char peer[64];        /* client address */
        int64_t since_ms;     /* start of its window */
        int count;            /* failures in the window */
};

struct dv_auth {
        char *sessions_path;           /* DATA/sessions */
        pthread_mutex_t lock;          /* guards everything below */
        struct user admin;             /* the one user */
        struct session sessions[DV_AUTH_MAX_SESSIONS];
        struct ticket tickets[DV_AUTH_MAX_TICKETS];
        struct fail fails[FAIL_SLOTS]; /* failed logins per address */
};

static void hex(const uint8_t *p, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", p[i]);
}

/* The stored id of a token: hex SHA-256. */
static void session_id(const char *token, char out[DV_TOKEN_LEN + 1])
{
        struct dv_sha256 c;
        uint8_t d[32];

        dv_sha256_init(&c);
        dv_sha256_update(&c, token, strlen(token));
        dv_sha256_final(&c, d);
        dv_sha256_hex(d, out);
}

/* Under lock. Write the live sessions to DATA/sessions (0600, replaced
 * atomically), one "ID USER EXPIRES_MS" line each. A failure is logged:
 * the sessions still work until droverd restarts. */
static void save_sessions(struct dv_auth *a)
{
        char buf[DV_AUTH_MAX_SESSIONS * 160];
        int64_t now = dv_wall_ms();
        size_t n = 0;
        int r;

        if (!a->sessions_path)
                return;
        for (int i = 0; i < DV_AUTH_MAX_SESSIONS; i++) {
                const struct session *s = &a->sessions[i];

                if (s->id[0] && s->expires_ms > now)
                        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s %s %lld\n", s->id,
                                              s->user, (long long)s->expires_ms);
        }
        r = dv_write_file_atomic(a->sessions_path, buf, n, 0600);
        if (r < 0)
                dv_warn_errno(r, "cannot write %s: %m", a->sessions_path);
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
        unsigned v;

        if (strlen(s) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        return 0;
}

static int make_hash(struct user *u, const char *password)
{
        char salt[2 * SALT_LEN + 1];
        int r = dv_random_hex(salt, SALT_LEN);

        if (r < 0)
                return r;
        r = unhex(salt, u->salt, SALT_LEN);
        if (r < 0)
                return r;
        u->iter = DV_AUTH_PBKDF2_ITER;
        dv_pbkdf2_sha256(password, strlen(password), u->salt, SALT_LEN, u->iter, u->hash,
                         HASH_LEN);
        return 0;
}

static int write_users(const char *path, const struct user *u)
{
        char salt[2 * SALT_LEN + 1], hash[2 * HASH_LEN + 1], line[256];
        int n;

        hex(u->salt, SALT_LEN, salt);
        hex(u->hash, HASH_LEN, hash);
        n = snprintf(line, sizeof(line), "%s:pbkdf2-sha256:%u:%s:%s\n", u->name, u->iter, salt,
                     hash);
        return dv_write_file_atomic(path, line, (size_t)n, 0600);
}

/* "NAME:pbkdf2-sha256:ITER:SALT:HASH" */
static int parse_users(char *data, struct user *u)
{
        char *save = NULL, *f[5];
        int64_t iter;

        data[strcspn(data, "\r\n")] = 0;
        for (int i = 0; i < 5; i++) {
                f[i] = strtok_r(i ? NULL : data, ":", &save);
                if (!f[i])
                        return -EBADMSG;
        }
        if (strcmp(f[0], "admin") != 0 || strcmp(f[1], "pbkdf2-sha256") != 0 ||
            dv_parse_int64(f[2], 1000, 100000000, &iter) < 0 ||
            unhex(f[3], u->salt, SALT_LEN) < 0 || unhex(f[4], u->hash, HASH_LEN) < 0)
                return -EBADMSG;
        snprintf(u->name, sizeof(u->name), "%s", f[0]);
        u->iter = (uint32_t)iter;
        return 0;
}

/* Read DATA/sessions back: the live, well-formed lines; the rest is
 * dropped (and goes at the next save). */
static void load_sessions(struct dv_auth *a)
{
        _cleanup_(freep) char *data = NULL;
        int64_t now = dv_wall_ms();
        char *save = NULL, *line;
        int k = 0;

        if (dv_read_file(a->sessions_path, 1024 * 1024, &data, NULL) < 0)
                return;
        for (line = strtok_r(data, "\n", &save); line && k < DV_AUTH_MAX_SESSIONS;
             line = strtok_r(NULL, "\n", &save)) {
                char id[DV_TOKEN_LEN + 2], user[64];
                long long exp;
                uint8_t raw[32];

                if (sscanf(line, "%65s %63s %lld", id, user, &exp) != 3 ||
                    strlen(id) != DV_TOKEN_LEN || unhex(id, raw, sizeof(raw)) < 0 ||
                    strcmp(user, a->admin.name) != 0 || exp <= now ||
                    exp > now + DV_AUTH_SESSION_TTL_S * 1000LL)
                        continue;
                snprintf(a->sessions[k].id, sizeof(a->sessions[k].id), "%s", id);
                snprintf(a->sessions[k].user, sizeof(a->sessions[k].user), "%s", user);
                a->sessions[k].expires_ms = exp;
                k++;
        }
}

static int read_password_file(const char *path, char pw[160])
{
        _cleanup_(freep) char *data = NULL;
        size_t len;
        int r = dv_read_file(path, 4096, &data, &len);

        if (r < 0)
                return r;
        len = strcspn(data, "\r\n");
        if (len < 8 || len > 128)
                return -EINVAL;
        memcpy(pw, data, len);
        pw[len] = 0;
        return 0;
}

int dv_auth_new(const char *data_dir, const char *password_file, struct dv_auth **ret)
{
        _cleanup_(freep) char *users = dv_asprintf("%s/users", data_dir);
        _cleanup_(freep) char *pwpath = dv_asprintf("%s/admin-password", data_dir);
        _cleanup_(freep) char *data = NULL;
        struct dv_auth *a = calloc(1, sizeof(*a));
        char pw[160];
        size_t len;
        int r;

        if (!a)
                return -ENOMEM;
        pthread_mutex_init(&a->lock, NULL);
        a->sessions_path = dv_asprintf("%s/sessions", data_dir);
        snprintf(a->admin.name, sizeof(a->admin.name), "admin");
        if (password_file) {
                r = read_password_file(password_file, pw);
                if (r < 0)
                        goto fail;
                r = make_hash(&a->admin, pw);
                if (r >= 0)
                        r = write_users(users, &a->admin);
                goto done;
        }
        r = dv_read_file(users, 4096, &data, &len);
        if (r >= 0) {
                r = parse_users(data, &a->admin);
                goto done;
        }
        if (r != -ENOENT)
                goto fail;
        /* First start: a random password for the operator to read. */
        r = dv_random_hex(pw, 12);
        if (r < 0)
                goto fail;
        r = make_hash(&a->admin, pw);
        if (r < 0)
                goto fail;
        strcat(pw, "\n");
        r = dv_write_file_atomic(pwpath, pw, strlen(pw), 0600);
        if (r >= 0)
                r = write_users(users, &a->admin);
done:
        if (r < 0)
                goto fail;
        memset(pw, 0, sizeof(pw));
        load_sessions(a);
        *ret = a;
        return 0;
fail:
        memset(pw, 0, sizeof(pw));
        dv_auth_free(a);
        return r;
}

void dv_auth_free(struct dv_auth *a)
{
        if (!a)
                return;
        pthread_mutex_destroy(&a->lock);
        free(a->sessions_path);
        free(a);
}

/* The failure slot of peer (a new or the oldest one). Under lock. */
static struct fail *fail_slot(struct dv_auth *a, const char *peer, int64_t now)
{
        struct fail *oldest = &a->fails[0];

        for (int i = 0; i < FAIL_SLOTS; i++) {
                if (strcmp(a->fails[i].peer, peer) == 0) {
                        if (now - a->fails[i].since_ms > DV_AUTH_FAIL_WINDOW_MS) {
                                a->fails[i].since_ms = now;
                                a->fails[i].count = 0;
                        }
                        return &a->fails[i];
                }
                if (a->fails[i].since_ms < oldest->since_ms)
                        oldest = &a->fails[i];
        }
        snprintf(oldest->peer, sizeof(oldest->peer), "%s", peer);
        oldest->since_ms = now;
        oldest->count = 0;
        return oldest;
}

int dv_auth_login(struct dv_auth *a, const char *user, const char *password, const char *peer,
                  int64_t ttl_s, char ret_token[65], int64_t *ret_expires_ms,
                  struct dv_error *err)
{
        struct user u;
        uint8_t got[HASH_LEN];
        struct session *slot = NULL;
        struct fail *f;
        int64_t now = dv_now_ms(), wall = dv_wall_ms();
        char token[DV_TOKEN_LEN + 1];
        bool ok;
        int r;

        if (ttl_s <= 0 || ttl_s > DV_AUTH_SESSION_TTL_S)
                ttl_s = DV_AUTH_SESSION_TTL_S;
        pthread_mutex_lock(&a->lock);
        f = fail_slot(a, peer, now);
        if (f->count >= DV_AUTH_FAIL_MAX) {
                pthread_mutex_unlock(&a->lock);
                dv_error_set(err, 429, "too-many-attempts",
                             "too many failed logins from %s; try again in a minute", peer);
                return -EAGAIN;
        }
        u = a->admin;
        pthread_mutex_unlock(&a->lock);

        /* The hash is computed whatever the user name, so that a wrong
         * name takes as long as a wrong password. */
        dv_pbkdf2_sha256(password, strlen(password), u.salt, SALT_LEN, u.iter, got, HASH_LEN);
        ok = dv_mem_equal_ct(got, u.hash, HASH_LEN) & (strcmp(user, u.name) == 0);

        pthread_mutex_lock(&a->lock);
        if (!ok) {
                f = fail_slot(a, peer, now);
                f->count++;
                pthread_mutex_unlock(&a->lock);
                dv_error_set(err, 401, "bad-credentials", "wrong user name or password");
                return -EACCES;
        }
        for (int i = 0; i < DV_AUTH_MAX_SESSIONS && !slot; i++)
                if (!a->sessions[i].id[0] || a->sessions[i].expires_ms <= wall)
                        slot = &a->sessions[i];
        if (!slot) {
                pthread_mutex_unlock(&a->lock);
                dv_error_set(err, 503, "too-many-sessions",
                             "%d sessions are open; log out of one first", DV_AUTH_MAX_SESSIONS);
                return -EBUSY;
        }
        r = dv_random_hex(token, DV_TOKEN_LEN / 2);
        if (r < 0) {
                pthread_mutex_unlock(&a->lock);
                dv_error_set(err, 500, "internal", "no random bytes: %s", strerror(-r));
                return r;
        }
        session_id(token, slot->id);
        snprintf(slot->user, sizeof(slot->user), "%s", u.name);
        slot->expires_ms = wall + ttl_s * 1000;
        save_sessions(a);
        memcpy(ret_token, token, DV_TOKEN_LEN + 1);
        *ret_expires_ms = slot->expires_ms;
        pthread_mutex_unlock(&a->lock);
        return 0;
}

bool dv_auth_session(struct dv_auth *a, const char *token, char user[64])
{
        int64_t now = dv_wall_ms();
        char id[DV_TOKEN_LEN + 1];
        bool found = false;

        if (!token || strlen(token) != DV_TOKEN_LEN)
                return false;
        session_id(token, id);
        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < DV_AUTH_MAX_SESSIONS; i++) {
                struct session *s = &a->sessions[i];
                /* Every slot is compared, so the time says nothing. */
                if (s->id[0] && dv_token_equal(s->id, id) && !found) {
                        if (s->expires_ms > now) {
                                found = true;
                                snprintf(user, 64, "%s", s->user);
                        } else {
                                s->id[0] = 0;
                        }
                }
        }
        pthread_mutex_unlock(&a->lock);
        return found;
}

bool dv_auth_logout(struct dv_auth *a, const char *token)
{
        bool found = false;

        char id[DV_TOKEN_LEN + 1];

        if (!token || strlen(token) != DV_TOKEN_LEN)
                return false;
        session_id(token, id);
        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < DV_AUTH_MAX_SESSIONS; i++)
                if (a->sessions[i].id[0] && dv_token_equal(a->sessions[i].id, id)) {
                        memset(&a->sessions[i], 0, sizeof(a->sessions[i]));
                        found = true;
                }
        if (found)
                save_sessions(a);
        pthread_mutex_unlock(&a->lock);
        return found;
}

int dv_auth_ticket_new(struct dv_auth *a, const char *vm_id, const char *user,
                       char ret_ticket[65], int64_t *ret_expires_ms)
{
        int64_t now = dv_now_ms();
        struct ticket *slot = NULL;
        int r;

        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < DV_AUTH_MAX_TICKETS; i++) {
                struct ticket *t = &a->tickets[i];
                if (!t->ticket[0] || t->expires_ms <= now) {
                        slot = t;
                        break;
                }
                if (!slot || t->expires_ms < slot->expires_ms)
                        slot = t; /* all live: the oldest goes */
        }
        r = dv_random_hex(slot->ticket, DV_TOKEN_LEN / 2);
        if (r < 0) {
                slot->ticket[0] = 0;
                pthread_mutex_unlock(&a->lock);
                return r;
        }
        snprintf(slot->vm_id, sizeof(slot->vm_id), "%s", vm_id);
        snprintf(slot->user, sizeof(slot->user), "%s", user);
        slot->expires_ms = now + DV_AUTH_TICKET_TTL_MS;
        memcpy(ret_ticket, slot->ticket, DV_TOKEN_LEN + 1);
        *ret_expires_ms = dv_wall_ms() + DV_AUTH_TICKET_TTL_MS;
        pthread_mutex_unlock(&a->lock);
        return 0;
}

int dv_auth_ticket_take(struct dv_auth *a, const char *ticket, const char *vm_id,
                        char user[64])
{
        int64_t now = dv_now_ms();
        int r = -EACCES;

        if (!ticket || strlen(ticket) != DV_TOKEN_LEN)
                return -EACCES;
        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < DV_AUTH_MAX_TICKETS; i++) {
                struct ticket *t = &a->tickets[i];
                if (!t->ticket[0] || !dv_token_equal(t->ticket, ticket))
                        continue;
                if (t->expires_ms <= now)
                        r = -EACCES;
                else if (strcmp(t->vm_id, vm_id) != 0)
                        r = -EXDEV;
                else {
                        snprintf(user, 64, "%s", t->user);
                        r = 0;
                }
                memset(t, 0, sizeof(*t)); /* used up, whatever the outcome */
        }
        pthread_mutex_unlock(&a->lock);
        return r;
}
