/* The agent's Tools registry: one Tools channel (tools-chan.h) per running
 * VM, opened when a VM starts or is adopted and closed when it exits. It
 * keeps each VM's Tools state for the heartbeat's VMSTATUS ("tools":
 * {"state","version","reason"}), asks for an immediate heartbeat when that
 * state changes, and does the work a guest event calls for on a worker
 * thread of its own (never on a channel's thread): net-config from the
 * VM's SPEC on every hello, time-set after a resume.
 *
 * Threads and locks: tm->lock guards the VM table and each entry's cached
 * state; it is a leaf (nothing else is taken with it held, and no channel
 * is freed under it). Entries are reference counted; a channel's
 * callbacks never drop the last reference, so a channel is never freed on
 * its own thread. The driver's event hook (dv_tools_mgr_vm_event) only
 * records and queues: it returns at once. */
#pragma once

#include <jansson.h>

#include "error.h"
#include "tools-chan.h"
#include "util.h"

#define DV_TOOLS_DEFAULT_TIMEOUT_S 10 /* heartbeat loss: --tools-timeout-s */

struct dv_tools_mgr_config {
        const char *run_dir;          /* the driver's RUN_DIR: RUN_DIR/<vm-id>/tools.sock */
        int heartbeat_timeout_ms;     /* Tools heartbeat loss after this; 0: 10000 */
        void (*kick)(void *userdata); /* a Tools state changed: send a heartbeat now */
        void *userdata;               /* for kick */
};

struct dv_tools_mgr;
/* One VM's entry (a reference). */
struct dv_tools_vm;

int dv_tools_mgr_new(const struct dv_tools_mgr_config *cfg, struct dv_tools_mgr **ret_tm);
/* Stops the worker and closes every channel (VMs keep running). NULL-safe. */
void dv_tools_mgr_free(struct dv_tools_mgr *tm);

/* The Tools member of a SPEC, {"nics":[{mac, ip?, prefix?, gateway?}]} (the
 * args of net-config), or absent/null. 400 errors name the field. */
int dv_tools_spec_check(json_t *spec, struct dv_error *err);

/* A VM was (re)started from spec: a fresh channel (any earlier one of that
 * id is closed), with the spec's net configuration for later hellos. */
int dv_tools_mgr_vm_started(struct dv_tools_mgr *tm, const char *vm_id, json_t *spec);

/* The driver's state report for a VM (running, paused, crashed, stopped).
 * Returns at once: "stopped" wakes dv_tools_vm_wait_exit() and closes the
 * channel later; "running" after "paused" syncs the guest's clock. */
void dv_tools_mgr_vm_event(struct dv_tools_mgr *tm, const char *vm_id, const char *state);

/* For a VMSTATUS array (heartbeat, GET /agent/v1/vms): add "tools" to each
 * entry, open channels for running VMs that have none (adopted VMs: the net
 * configuration comes from their spec.json) and close the channels of VMs
 * no longer listed or stopped. */
void dv_tools_mgr_annotate(struct dv_tools_mgr *tm, json_t *vms);

/* The entry of a VM with a channel: 0, or -ENOENT. */
int dv_tools_mgr_get(struct dv_tools_mgr *tm, const char *vm_id, struct dv_tools_vm **ret_vm);
void dv_tools_vm_unref(struct dv_tools_vm *v); /* NULL-safe */
static inline void dv_tools_vm_unrefp(struct dv_tools_vm **v) { dv_tools_vm_unref(*v); }
/* The entry's channel (borrowed: valid while the reference is held). */
struct dv_tools_chan *dv_tools_vm_chan(struct dv_tools_vm *v);
/* Is Tools running (and the VM not paused or crashed, as far as known)? */
bool dv_tools_vm_usable(struct dv_tools_vm *v);
/* Wait until the driver reported the VM stopped: true, or false after
 * timeout_ms. */
bool dv_tools_vm_wait_exit(struct dv_tools_vm *v, int timeout_ms);
/* Queue a time-set (e.g. after a migration). */
void dv_tools_mgr_time_sync(struct dv_tools_mgr *tm, const char *vm_id);
