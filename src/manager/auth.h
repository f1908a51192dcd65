/* Users, sessions and console tickets of the web console (docs/web.md).
 *
 * One user for now, "admin". Its password is DATA/admin-password (mode
 * 0600, 20 random characters, written on first start) or the contents of
 * --admin-password-file; DATA/users keeps only a salted PBKDF2-HMAC-SHA256
 * hash of it. A login gives a session token (64 hex, random) that the API
 * accepts like the admin token until it expires (8 h, or less when the
 * client asks), is logged out, or droverd restarts. Sessions are bounded
 * in number; failed logins are bounded per client address. A console
 * ticket opens one console websocket of one VM once, within 30 s. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define DV_AUTH_PBKDF2_ITER 100000
#define DV_AUTH_SESSION_TTL_S (8 * 3600)
#define DV_AUTH_MAX_SESSIONS 64
#define DV_AUTH_TICKET_TTL_MS 30000
#define DV_AUTH_MAX_TICKETS 32
#define DV_AUTH_FAIL_WINDOW_MS 60000
#define DV_AUTH_FAIL_MAX 10            /* failures per address per window */

struct dv_auth;

/* Reads or creates DATA/users (and DATA/admin-password). With
 * password_file, admin's password is that file's first line (8..128
 * bytes) and the hash is renewed. */
int dv_auth_new(const char *data_dir, const char *password_file, struct dv_auth **ret);
void dv_auth_free(struct dv_auth *a);

/* Check user/password; on success a new session (ttl_s 1..8 h, 0 = 8 h).
 * Errors: 401 bad-credentials, 429 too-many-attempts, 503 too-many-sessions. */
int dv_auth_login(struct dv_auth *a, const char *user, const char *password, const char *peer,
                  int64_t ttl_s, char ret_token[65], int64_t *ret_expires_ms,
                  struct dv_error *err);
/* The user of a live session token (copied into user, 64 bytes), or false. */
bool dv_auth_session(struct dv_auth *a, const char *token, char user[64]);
/* Ends a session; false when it was not one. */
bool dv_auth_logout(struct dv_auth *a, const char *token);

/* A console ticket for vm_id, issued to user. */
int dv_auth_ticket_new(struct dv_auth *a, const char *vm_id, const char *user,
                       char ret_ticket[65], int64_t *ret_expires_ms);
/* Use a ticket up (whatever the outcome, it never works again): 0 and the
 * user it was issued to when it is live and for vm_id; -EACCES when
 * unknown, used or expired; -EXDEV when for another VM. */
int dv_auth_ticket_take(struct dv_auth *a, const char *ticket, const char *vm_id,
                        char user[64]);
