/* The manager's side of VM QoS (docs/qos.md): CPU reservations admitted
 * per host, the QoS of a VM document, and PATCH /api/v1/vms/{id} with
 * "cpu_qos" and "disks" (applied at once on the agent of a running VM). */
#pragma once

#include <jansson.h>

#include "api.h"
#include "qos.h"

/* MHz of a core of a host ("cpu_mhz" from its registration; 1000 for an
 * agent that does not report it). */
int64_t dv_host_cpu_mhz(json_t *host);
/* A VM's stored "cpu_qos" (defaults when absent). */
void dv_vm_cpu_qos_get(json_t *vm, struct dv_cpu_qos *ret);
/* Sum of the CPU reservations of the VMs placed on a host (m->lock held
 * or not: one store read). */
int64_t dv_host_cpu_reserved_mhz(struct dv_mgr *m, const char *host_id);

/* Whether vm (id vm_id, or a new one when vm_id matches none) with vcpus
 * and CPU QoS q fits on host: dv_cpu_qos_check() then dv_cpu_qos_admit()
 * over the VMs placed there. 409 qos-conflict / insufficient-resources.
 * m->lock held. */
int dv_vm_qos_admit(struct dv_mgr *m, json_t *host, const char *vm_id, const char *vm_name,
                    int64_t vcpus, const struct dv_cpu_qos *q, struct dv_error *err);

/* Create: read "cpu_qos" of the body (NULL: defaults) into ret. */
int dv_validate_cpu_qos(json_t *body, struct dv_cpu_qos *ret, struct dv_error *err);

/* PATCH with QoS fields (m->lock NOT held): checks body's "cpu_qos" and
 * "disks" ([{"name","iops_max"?,"bps_max"?}]) against vm (the caller's
 * fresh copy) and its host, applies them on the agent when the VM runs,
 * and on success writes them into vm (not the store: the caller stores
 * it) and returns 0. On failure it has replied with the error, nothing
 * changed, and it returns < 0. *ret_old: the QoS before (for undo). */
int dv_vm_qos_patch(struct dv_api *a, json_t *vm, json_t *body, struct dv_cpu_qos *ret_old);
/* Re-check under m->lock before storing (a create may have raced): 0 or
 * an error in err. */
int dv_vm_qos_recheck(struct dv_mgr *m, json_t *vm, struct dv_error *err);
/* m->lock held: recheck patched (dv_vm_qos_patch's result) and copy its
 * QoS fields into cur (the document about to be stored). */
int dv_vm_qos_commit_locked(struct dv_mgr *m, json_t *cur, json_t *patched, struct dv_error *err);
/* Put the QoS of before (a VM document) back on its agent, best effort
 * (m->lock NOT held). */
void dv_vm_qos_undo(struct dv_mgr *m, json_t *before);
