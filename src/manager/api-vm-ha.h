/* PATCH /api/v1/vms/{id} (api-vm-ha.c): a VM's HA settings. */
#pragma once

#include "api.h"

/* vm: the VM's document as found by the router (borrowed). */
void dv_api_vm_patch(struct dv_api *a, json_t *vm);
