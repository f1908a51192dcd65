/* A QMP (QEMU Machine Protocol) client.
 *
 * Framing: QEMU sends one compact JSON object per line ("...\r\n"). Input is
 * fed through dv_qmp_feed(), which cuts it into messages however it was
 * split by read(), bounds each message (dv_qmp_set_max_message(), 1 MiB by
 * default) and dispatches it: the greeting is kept, replies wake the caller
 * waiting for their "id", events go to the event callback. A message that is
 * too large or not a JSON object is a protocol error: the connection is
 * dropped and every waiter fails with -EPROTO or -EMSGSIZE.
 *
 * Threads: one reader and any number of callers.
 *  - The reader is whoever calls dv_qmp_process() when dv_qmp_fd() is
 *    readable (e.g. a per-VM watcher polling it with other fds), or the
 *    thread started by dv_qmp_start_reader(). Only one thread may read at a
 *    time (enforced by read_lock). Events are delivered on the reader thread
 *    with read_lock held and no other lock: the event callback must not call
 *    dv_qmp_execute() on the same connection (nobody would read the reply).
 *  - Callers of dv_qmp_execute() / dv_qmp_send() / dv_qmp_wait() may be any
 *    threads. Writes of whole commands are serialised by write_lock; pending
 *    replies and the link state are guarded by lock. Locks are taken in the
 *    order read_lock -> lock, write_lock is never held with another one.
 *
 * A dv_qmp without a socket (dv_qmp_new_detached()) runs the same parser
 * and dispatch: input comes only from dv_qmp_feed() and commands are
 * appended to an output buffer (dv_qmp_take_output()). The unit tests use
 * it with recorded transcripts. Library code: never logs. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "util.h"

/* Default bound on one QMP message (bytes, without the line end). */
#define DV_QMP_MAX_MESSAGE (1024 * 1024)

struct dv_qmp;

/* An asynchronous event: name is e.g. "SHUTDOWN"; data (borrowed, may be
 * NULL) is the event's "data" member; ts_us is its timestamp in
 * microseconds since the epoch (0 when absent). */
typedef void (*dv_qmp_event_cb)(void *userdata, const char *name, json_t *data, int64_t ts_us);

/* Connect to a QMP UNIX socket, read the greeting and negotiate
 * capabilities, all within timeout_ms. Events received before this returns
 * are delivered on the calling thread. The caller then must arrange for a
 * reader (dv_qmp_process() or dv_qmp_start_reader()) before executing
 * commands. -ETIMEDOUT, -ECONNREFUSED, -ENOENT, -EPROTO, ... on failure. */
int dv_qmp_connect(const char *path, int timeout_ms, dv_qmp_event_cb cb, void *userdata,
                   struct dv_qmp **ret_qmp);

/* A connection object without a socket, for the parser and for tests. */
int dv_qmp_new_detached(dv_qmp_event_cb cb, void *userdata, struct dv_qmp **ret_qmp);

/* Reference counting: the object lives until the last unref. Unref of
 * the last reference stops the internal reader thread (if any) and closes
 * the socket. NULL-safe. */
struct dv_qmp *dv_qmp_ref(struct dv_qmp *qmp);
void dv_qmp_unref(struct dv_qmp *qmp);
static inline void dv_qmp_unrefp(struct dv_qmp **qmp) { dv_qmp_unref(*qmp); }

/* Bound on one message (bytes). For tests; default DV_QMP_MAX_MESSAGE. */
void dv_qmp_set_max_message(struct dv_qmp *qmp, size_t max);

/* The socket to poll for input (-1 when detached or closed). */
int dv_qmp_fd(struct dv_qmp *qmp);

/* Reader side: read whatever is available without blocking and dispatch
 * it. Returns 0 while the link is up, or the negative errno that took it
 * down (-ECONNRESET on EOF, -EPROTO / -EMSGSIZE on protocol errors). */
int dv_qmp_process(struct dv_qmp *qmp);

/* Feed raw bytes as if read from the socket (any split). Same return as
 * dv_qmp_process(). */
int dv_qmp_feed(struct dv_qmp *qmp, const void *data, size_t len);

/* Run a reader thread inside the object until the link goes down or the
 * last reference is dropped. */
int dv_qmp_start_reader(struct dv_qmp *qmp);

/* Execute a command and wait up to timeout_ms for its reply. args (may be
 * NULL) is borrowed. On success *ret_return (may be NULL) gets a new
 * reference to the reply's "return" member. An "error" reply gives -EIO
 * with its class and description in err (code "qemu-failed"); a timeout
 * -ETIMEDOUT; a lost link its errno. */
int dv_qmp_execute(struct dv_qmp *qmp, const char *cmd, json_t *args, int timeout_ms,
                   json_t **ret_return, struct dv_error *err);

/* The two halves of dv_qmp_execute(), for callers (and tests) that send
 * first and collect later. dv_qmp_send() registers the command and writes
 * it (blocking at most timeout_ms); *ret_id is its id. Every sent command
 * must be collected with dv_qmp_wait() (or dv_qmp_forget()). */
int dv_qmp_send(struct dv_qmp *qmp, const char *cmd, json_t *args, int timeout_ms,
                uint64_t *ret_id);
int dv_qmp_wait(struct dv_qmp *qmp, uint64_t id, int timeout_ms, json_t **ret_return,
                struct dv_error *err);
void dv_qmp_forget(struct dv_qmp *qmp, uint64_t id);
/* Has the reply to id arrived (so that dv_qmp_wait() returns at once)?
 * Lets the reader thread itself issue a command and collect it later. */
bool dv_qmp_reply_ready(struct dv_qmp *qmp, uint64_t id);

/* Mark the link down (shutting the socket down so a blocked reader
 * wakes) and fail every waiter with -ECONNABORTED. Idempotent. */
void dv_qmp_close(struct dv_qmp *qmp);

/* 0 while the link is up, else the errno (negative) that took it down. */
int dv_qmp_link_error(struct dv_qmp *qmp);

/* The greeting's "QMP" object (borrowed; NULL before it arrived). */
json_t *dv_qmp_greeting(struct dv_qmp *qmp);

/* Detached objects: the commands written so far (owned by the caller,
 * NUL-terminated, each ending in "\n"); the buffer is emptied. */
char *dv_qmp_take_output(struct dv_qmp *qmp);

/* Counters, for tests and debugging: replies whose id matched no waiter,
 * and messages that were neither greeting, reply nor event. */
unsigned dv_qmp_stray_count(struct dv_qmp *qmp);
