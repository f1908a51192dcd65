/* VM operations run as tasks (vm.create, vm.start, vm.stop, vm.reboot,
 * vm.delete). The API handler (api-vms.c) checks the request and writes the
 * intent (the VM's new state, its "_task", the task row) in one store
 * transaction before submitting; these functions then talk to the agent
 * and record the outcome.
 *
 * Internal keys of a VM document:
 *   _task       the task operating on the VM (meaningful while that task is
 *               active in this process; heartbeats leave the VM alone then)
 *   _creating   the create task has not finished: the disks are not all made
 *   _cleanup    the record must go: "delete" (asked for) or "create-failed";
 *               disks with a path are deleted first unless _keep_disks
 *   _prev_state the state before starting/stopping, restored when the agent
 *               refuses
 */
#pragma once

#include <jansson.h>

#include "manager.h"
#include "task.h"

struct dv_vm_op {
        struct dv_mgr *m;    /* the manager */
        char vm_id[37];      /* the VM */
        char user[80];       /* who asked */
        bool force;          /* stop: kill at once */
        int64_t timeout_s;   /* stop: graceful timeout */
};

struct dv_vm_op *dv_vm_op_new(struct dv_mgr *m, const char *vm_id, const char *user);

void dv_vm_task_create(struct dv_task *t, void *op);
void dv_vm_task_start(struct dv_task *t, void *op);
void dv_vm_task_stop(struct dv_task *t, void *op);
void dv_vm_task_reboot(struct dv_task *t, void *op);
void dv_vm_task_delete(struct dv_task *t, void *op);

/* The SPEC the agent starts a VM from (docs/api.md); image may be NULL
 * (boot from disk). nets maps a port group name to {"vlan","bridge"} (may
 * be NULL; a NIC whose port group is missing gets null vlan and bridge).
 * A kernel boot's command line gets drover.net=MAC,IP/PREFIX[,GW] for every
 * NIC with an address. Pure. */
json_t *dv_vm_spec_new(json_t *vm, json_t *image, json_t *nets);

/* For the SPEC: port group name -> {"vlan","bridge"} of every NIC of vm on
 * host; 409 when a port group is gone or its DVS is not on host. */
int dv_vm_nets(struct dv_mgr *m, json_t *vm, json_t *host, json_t **ret_nets,
               struct dv_error *err);

/* migrate.c: POST /api/v1/vms/{id}/migrate (vm: the VM's document,
 * borrowed) and the vm.migrate task. */
struct dv_api;
void dv_api_vm_migrate(struct dv_api *a, json_t *vm);
/* Submit a vm.migrate task of vm_id (running) to host target_id (takes
 * m->lock; caller must not hold it). *ret_task: the stored task. Errors as
 * the API's: 404 not-found / unknown-host, 409 invalid-state, 503 busy. */
int dv_migrate_submit(struct dv_mgr *m, const char *vm_id, const char *target_id,
                      const char *user, json_t **ret_task, struct dv_error *err);
/* Cron (m->lock held): a VM left "migrating" with no task at work (a
 * manager restart, an agent lost mid-way), or with a migration target
 * left to remove (_abort_on): start a system vm.migrate-recover task that
 * resolves it to exactly one running copy (docs/migration.md). */
int dv_migrate_submit_recover(struct dv_mgr *m, json_t *vm);
/* Poll the store until task_id has ended (succeeded, failed, cancelled);
 * *ret_task: its document. -ETIMEDOUT after timeout_ms. */
int dv_task_wait_doc(struct dv_mgr *m, const char *task_id, int64_t timeout_ms,
                     json_t **ret_task);

/* Cron: a VM marked _cleanup with no active task: start a system vm.delete
 * task for it (m->lock held by the caller). */
int dv_vm_submit_cleanup(struct dv_mgr *m, json_t *vm);
