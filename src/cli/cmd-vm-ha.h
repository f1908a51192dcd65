/* The HA verb of `drover vm` (cmd-vm-ha.c), listed in cmd-vm.c's verb
 * table through CLI_VM_HA_VERBS. */
#pragma once

#include "cli.h"

extern const struct cli_opt cli_vm_set_opts[];

int cli_vm_set(struct cli_ctx *ctx, const struct cli_args *a);

#define CLI_VM_HA_VERBS                                                                          \
        { .name = "set", .args = "VM", .min_args = 1, .max_args = 1,                             \
          .summary = "change a VM's settings: HA (--ha, --ha-priority), QoS (--cpu-*, --iops-max, --bps-max)",                      \
          .opts = cli_vm_set_opts, .run = cli_vm_set },
