/* Tools, manager side: the VM's "tools" field from heartbeats (with events
 * on changes), the Tools actions on a VM (api-vm-tools.c) and their tasks.
 *
 * Internal keys of a VM document:
 *   _guest   the guest info of the last successful "info" call, with
 *            "updated_at" (shown by GET /api/v1/vms/{id}/guest)
 */
#pragma once

#include <jansson.h>

#include "error.h"
#include "manager.h"
#include "task.h"

/* VMSTATUS "tools" = {"state","version","reason"} (absent or null is
 * fine). Pure. */
int dv_validate_vm_tools_status(json_t *tools, struct dv_error *err);

/* The Tools part of a heartbeat (m->lock held, after the VMs were
 * reconciled): each VM of host takes the Tools state its agent reports
 * while it runs, and is "not-running" while it does not; a change of state
 * or version while the VM runs is an event vm.tools-running /
 * vm.tools-not-running (with the reason). */
/* records: the host's VM documents as just read (updated in place when
 * written), or NULL to read them. */
void dv_vm_tools_heartbeat(struct dv_mgr *m, json_t *host, json_t *reported, json_t *records,
                           const char *user);

/* The SPEC's "tools" member: {"nics":[{"mac","ip","prefix","gateway"?}]}
 * for every NIC with an address on a bridge (the NICs the guest has), for
 * the agent to push as net-config when Tools comes up; NULL when there is
 * none. nets as for dv_vm_spec_new(). Pure. */
json_t *dv_vm_tools_spec(json_t *vm, json_t *nets);

/* A Tools call through the VM's agent: POST /agent/v1/vms/{id}/SUFFIX.
 * Unlike dv_agent_call(), the agent's Tools errors keep their status and
 * code (409 tools-not-running, 409 not-supported, 504 tools-timeout, ...);
 * other failures are 502 agent-error / 503 agent-unreachable. */
int dv_vm_tools_call(json_t *host, const char *vm_id, const char *suffix, json_t *body,
                     long timeout_ms, json_t **ret_reply, struct dv_error *err);

/* api-vm-tools.c: the Tools actions under /api/v1/vms/{id}/SUB. */
struct dv_api;
bool dv_api_vm_tools_match(const char *sub);   /* is SUB one of them? */
void dv_api_vm_tools(struct dv_api *a, const char *sub);

/* Tasks: vm.set-cpus and vm.tools-upgrade. */
struct dv_vm_tools_op {
        struct dv_mgr *m;    /* the manager */
        char vm_id[37];      /* the VM */
        char user[80];       /* who asked */
        int64_t cpus;        /* set-cpus: the count wanted */
        char *path;          /* tools-upgrade: the binary on the host (owned) */
};
void dv_vm_tools_op_free(void *op);
void dv_vm_task_set_cpus(struct dv_task *t, void *op);
void dv_vm_task_tools_upgrade(struct dv_task *t, void *op);
