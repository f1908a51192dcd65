/* Small helpers shared by every Drover binary: cleanup attributes, strings,
 * files, time, random ids and name validation. Library code: never logs. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define DV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DV_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }

/* Longest name accepted for any object (VM, host, image, ...). */
#define DV_NAME_MAX 64

/* Names: [A-Za-z0-9._-]{1,64}, not "." or "..". */
bool dv_name_valid(const char *name);

/* Random bytes from getrandom(), hex-encoded into out (2*nbytes+1 bytes). */
int dv_random_hex(char *out, size_t nbytes);

/* A random (version 4) UUID as a 36-character string plus NUL. */
int dv_uuid_new(char out[37]);
bool dv_uuid_valid(const char *s);

/* Milliseconds on the monotonic clock / since the epoch. */
int64_t dv_now_ms(void);
int64_t dv_wall_ms(void);
/* "2026-11-26T19:36:00Z" into buf (at least 32 bytes). */
void dv_iso_time(int64_t wall_ms, char *buf, size_t len);

/* Formatting that aborts on out-of-memory: callers never see NULL. */
char *dv_strdup(const char *s);
char *dv_asprintf(const char *fmt, ...) _printf_(1, 2);
bool dv_streq(const char *a, const char *b);       /* NULL-safe */
bool dv_startswith(const char *s, const char *prefix);

/* Whole-file helpers. dv_read_file refuses files larger than max (-EFBIG). */
int dv_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* Write via a temporary file, fsync and rename, with the given mode. */
int dv_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Small kernel attribute files (sysfs, cgroupfs): DIR/FILE, not through
 * a symlink. dv_read_attr reads at most len-1 bytes, NUL-terminated, with
 * trailing newlines and spaces cut; dv_write_attr writes value in one
 * write() (-EIO when short), as a shell's ">" does. */
int dv_read_attr(const char *dir, const char *file, char *buf, size_t len);
int dv_write_attr(const char *dir, const char *file, const char *value);
int dv_mkdir_p(const char *path, mode_t mode);
/* Remove a directory tree (no symlink following). Missing is not an error. */
int dv_rm_rf(const char *path);

/* Parse "ADDR:PORT" (IPv4 or a host name resolved to IPv4). */
int dv_parse_hostport(const char *s, char *ret_addr, size_t addr_len, uint16_t *ret_port);

/* Parse a decimal integer in [min, max]; -EINVAL or -ERANGE otherwise. */
int dv_parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Is the process with this pid alive (and not a zombie)? */
bool dv_pid_alive(pid_t pid);

/* Run fn(arg, i) for i in 0..n-1 on n threads at once and wait for all
 * (an item whose thread cannot be created runs on the caller's). For a
 * handful of blocking calls (agents probed in parallel), not for work
 * queues. */
void dv_parallel(size_t n, void (*fn)(void *arg, size_t i), void *arg);
