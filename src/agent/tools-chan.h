/* A per-VM Tools channel, host side: connects to the UNIX socket QEMU
 * serves for the guest's org.drover.tools.0 port (run_dir/VMID/tools.sock),
 * runs a reader thread, tracks the Tools state from hellos and heartbeats,
 * and matches replies to calls by id. Library code: never logs.
 *
 * States (docs/tools.md):
 *   not-installed  nothing valid ever heard on this channel
 *   not-running    heard before, but the heartbeat is lost (heartbeat_timeout_ms),
 *                  the socket closed, or the guest misbehaves (reason says which)
 *   running        heartbeats arrive; version known
 *
 * Thread safety: every function may be called from any thread, except that
 * dv_tools_chan_free() must not race with calls on the same channel. The
 * callbacks run on the channel's thread with no lock held; they must not
 * call dv_tools_chan_free() on their own channel. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "tools-proto.h"
#include "util.h"

enum dv_tools_state {
        DV_TOOLS_NOT_INSTALLED,
        DV_TOOLS_NOT_RUNNING,
        DV_TOOLS_RUNNING,
};

/* "not-installed", "not-running", "running". */
const char *dv_tools_state_to_string(enum dv_tools_state state);

/* On every change of state, version or reason. version is set when
 * running, reason when not running (both borrowed for the call). */
typedef void (*dv_tools_state_cb)(void *userdata, enum dv_tools_state state, const char *version,
                                  const char *reason);
/* Guest events other than heartbeats: "hello" (drover-tools started, or
 * the channel (re)connected; after the state callback) and "fs-thawed" (a
 * freeze timed out). body is the validated message, borrowed for the call. */
typedef void (*dv_tools_event_cb)(void *userdata, const char *event, json_t *body);

struct dv_tools_chan_config {
        const char *socket_path;             /* QEMU's chardev socket for the port */
        int heartbeat_timeout_ms;            /* 0: 5000 */
        int reconnect_ms;                    /* retry period while the socket is absent; 0: 1000 */
        const struct dv_tools_limits *limits; /* NULL: dv_tools_limits_default() */
        dv_tools_state_cb state_cb;          /* may be NULL */
        dv_tools_event_cb event_cb;          /* may be NULL */
        void *userdata;                      /* passed to both callbacks */
};

struct dv_tools_chan;

/* Starts the channel's thread; the socket need not exist yet. */
int dv_tools_chan_new(const struct dv_tools_chan_config *cfg, struct dv_tools_chan **ret_chan);
/* Stops the thread, fails calls in flight, closes the socket. NULL-safe. */
void dv_tools_chan_free(struct dv_tools_chan *chan);
void dv_tools_chan_freep(struct dv_tools_chan **chan);

/* The current state. ret_version / ret_reason (optional) get owned copies,
 * NULL when not applicable. */
int dv_tools_chan_get_state(struct dv_tools_chan *chan, enum dv_tools_state *ret_state,
                            char **ret_version, char **ret_reason);
/* Wait until the state is running: 0, or -ETIMEDOUT. */
int dv_tools_chan_wait_running(struct dv_tools_chan *chan, int timeout_ms);

/* Call op with args (NULL means {}; not consumed) and wait for the reply.
 * On success *ret_result (optional) owns the validated result object.
 * Errors (err filled): 400 invalid-field (bad op or args), 409
 * tools-not-running, 409 tools-busy (too many calls in flight), 504
 * tools-timeout, 502 tools-restarted / tools-disconnected /
 * tools-bad-reply, and the guest's own errors: 409 not-supported, 409
 * busy, 502 for the rest, with the guest's code when it is a documented
 * one (else "tools-error") and its message after "guest: ". */
int dv_tools_call(struct dv_tools_chan *chan, const char *op, json_t *args, int timeout_ms,
                  json_t **ret_result, struct dv_error *err);

/* Push the static x86-64 binary at path to the guest: begin, chunks,
 * commit, then wait for the new drover-tools to say hello. *ret_version
 * (optional) gets the version now running. timeout_ms bounds the whole
 * operation; a heartbeat loss after the commit (the new binary did not
 * start) ends it early with 504 tools-timeout. 400 invalid-binary when the
 * file would be refused. */
int dv_tools_upgrade(struct dv_tools_chan *chan, const char *path, int timeout_ms,
                     char **ret_version, struct dv_error *err);

/* Reader counters of the current connection (for metrics and tests). */
int dv_tools_chan_get_stats(struct dv_tools_chan *chan, struct dv_tools_reader_stats *ret_stats);
