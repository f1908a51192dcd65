/* drover-tools, the guest agent: shared declarations. Static, libc only; no
 * code from src/common (that library links jansson, curl, ...). The wire
 * protocol is docs/tools-protocol.md. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "tjson.h"

#ifndef DV_TOOLS_VERSION
#ifdef DROVER_VERSION
#define DV_TOOLS_VERSION DROVER_VERSION
#else
#define DV_TOOLS_VERSION "0.0.0"
#endif
#endif

#define DV_TOOLS_PROTO 1
#define DV_TOOLS_PORT_NAME "org.drover.tools.0"
/* Longest line either side accepts, newline excluded. */
#define DV_TOOLS_LINE_MAX 65536
/* Bytes of replies and events waiting for the host; beyond it the newest
 * message is dropped (heartbeats) or replaced by a too-large error. */
#define DV_TOOLS_OUT_MAX (256 * 1024)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) { int e = errno; close(*fd); errno = e; } }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closedirp(DIR **d) { if (*d) closedir(*d); }

/* What an op handler fills when it fails: a stable code from
 * docs/tools-protocol.md and one sentence. */
struct dv_op_err {
        char code[32];
        char message[256];
};

int dv_op_fail(struct dv_op_err *e, const char *code, const char *fmt, ...) _printf_(3, 4);

/* What to do once the reply has reached the host. */
enum dv_after {
        DV_AFTER_NONE,
        DV_AFTER_EXIT,          /* upgrade committed: the respawn loop starts the new binary */
        DV_AFTER_POWEROFF,
        DV_AFTER_REBOOT,
        DV_AFTER_HIBERNATE,
};

struct dv_tools;

/* An op handler. args is the request's "args" object (never NULL: {} when
 * absent); the handler adds members to the open result object w. Returns 0
 * (reply ok), DV_OP_DEFERRED (the handler replies later through
 * dv_tools_reply_*), or a negative value with *e filled. */
#define DV_OP_DEFERRED 1
typedef int (*dv_op_fn)(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e);

struct dv_op {
        const char *name;
        dv_op_fn fn;
};

/* main loop (drover-tools.c) */
int64_t dv_now_ms(void);
int64_t dv_wall_ms(void);
void dv_log(const char *fmt, ...) _printf_(1, 2);
void dv_tools_set_after(struct dv_tools *t, enum dv_after after);
const char *dv_tools_session(struct dv_tools *t);
/* Queue a finished message line (without newline). */
int dv_tools_send(struct dv_tools *t, const char *line, size_t len);
int dv_tools_reply_error(struct dv_tools *t, uint64_t id, const char *code, const char *message);

/* Argument helpers: fill e with "invalid-args" naming the field. */
int dv_arg_int(const struct dv_tj *args, const char *key, bool required, int64_t min,
               int64_t max, int64_t *ret, struct dv_op_err *e);
int dv_arg_str(const struct dv_tj *args, const char *key, bool required, size_t max_len,
               const char **ret, struct dv_op_err *e);
int dv_arg_check_keys(const struct dv_tj *args, const char *const *allowed, struct dv_op_err *e);

/* Small file helpers (ops-util.c). */
/* Read a small file (at most max-1 bytes) into buf, NUL-terminated, trailing
 * newline stripped. */
int dv_read_small(const char *path, char *buf, size_t max);
int dv_write_small(const char *path, const char *s);
/* Mount table entries worth reporting or freezing: real block devices,
 * not "/" (rootfs), deduplicated by superblock. */
struct dv_mount {
        char dev[128];   /* source device, or the root fs's source */
        char dir[256];   /* mount point */
        char type[32];   /* filesystem type */
        bool ro;         /* mounted read-only */
        dev_t sb;        /* st_dev of the mount point: one entry per superblock */
};
int dv_mounts_real(struct dv_mount *out, size_t max, size_t *ret_n);

/* ops */
int dv_op_info(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
               struct dv_op_err *e);
int dv_op_net_config(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                     struct dv_tw *w, struct dv_op_err *e);
int dv_op_shutdown(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                   struct dv_op_err *e);
int dv_op_reboot(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                 struct dv_op_err *e);
int dv_op_hibernate(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                    struct dv_tw *w, struct dv_op_err *e);
int dv_op_cpus_online(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                      struct dv_tw *w, struct dv_op_err *e);
int dv_op_time_set(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                   struct dv_op_err *e);
int dv_op_fs_freeze(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                    struct dv_tw *w, struct dv_op_err *e);
int dv_op_fs_thaw(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
                  struct dv_op_err *e);
int dv_op_ping(struct dv_tools *t, uint64_t id, const struct dv_tj *args, struct dv_tw *w,
               struct dv_op_err *e);
int dv_op_upgrade_begin(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e);
int dv_op_upgrade_chunk(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e);
int dv_op_upgrade_commit(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                         struct dv_tw *w, struct dv_op_err *e);
int dv_op_upgrade_abort(struct dv_tools *t, uint64_t id, const struct dv_tj *args,
                        struct dv_tw *w, struct dv_op_err *e);

/* CPU counts (op-info.c): online, present, possible members of w. */
void dv_cpus_report(struct dv_tw *w);

/* Filesystem freeze state (op-fs.c): deadline handling from the main loop. */
int64_t dv_fs_thaw_deadline(void);          /* 0 when nothing is frozen */
void dv_fs_thaw_expired(struct dv_tools *t);  /* thaw, send the fs-thawed event */
void dv_fs_thaw_all(void);                  /* on exit */
void dv_fs_thaw_leftovers(void);            /* at start: thaw what a crashed run froze */
bool dv_fs_is_frozen(const char *dir);

/* Ping probes (op-ping.c): child processes watched by the main loop. */
#define DV_PING_MAX 4
struct pollfd;
size_t dv_ping_pollfds(struct pollfd *pfd, size_t max);
void dv_ping_handle(struct dv_tools *t, const struct pollfd *pfd, size_t n);
int64_t dv_ping_deadline(void);
void dv_ping_expire(struct dv_tools *t);

/* Firewall probe (firewall.c): kernel interfaces only, runs no command. */
struct dv_firewall {
        bool rules;          /* some packet-filter rule exists */
        int64_t rule_count;  /* nftables rules + iptables entries beyond the built-in ones */
        char detail[192];    /* what each method found */
};
void dv_firewall_probe(struct dv_firewall *fw);
#define DV_FIREWALL_METHOD "kernel: nf_tables netlink rule dump, ip_tables/ip6_tables getsockopt"

/* Upgrade (op-upgrade.c). */
/* Drop an unfinished upload (on exit). */
void dv_upgrade_cleanup(void);
