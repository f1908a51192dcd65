/* The Tools verbs of `drover vm` (cmd-vm-tools.c), listed in cmd-vm.c's
 * verb table through CLI_VM_TOOLS_VERBS. */
#pragma once

#include "cli.h"

extern const struct cli_opt cli_vm_ping_opts[];
extern const struct cli_opt cli_vm_freeze_opts[];

int cli_vm_ping(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_guest(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_set_cpus(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_freeze(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_thaw(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_timesync(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_tools_upgrade(struct cli_ctx *ctx, const struct cli_args *a);
int cli_vm_hibernate(struct cli_ctx *ctx, const struct cli_args *a);

#define CLI_VM_TOOLS_VERBS                                                                       \
        { .name = "ping", .args = "VM ADDRESS", .min_args = 2, .max_args = 2,                   \
          .summary = "ping an IPv4 address from inside the guest (exit 0 when answered)",        \
          .opts = cli_vm_ping_opts, .run = cli_vm_ping },                                        \
        { .name = "guest", .args = "VM", .min_args = 1, .max_args = 1,                           \
          .summary = "what Tools sees in the guest: OS, hostname, memory, CPUs, NICs, "          \
                     "filesystems, firewall",                                                    \
          .run = cli_vm_guest },                                                                 \
        { .name = "set-cpus", .args = "VM N", .min_args = 2, .max_args = 2,                      \
          .summary = "hot-add vCPUs up to N (at most max_cpus); Tools brings them online",       \
          .waits = true, .run = cli_vm_set_cpus },                                               \
        { .name = "freeze", .args = "VM", .min_args = 1, .max_args = 1,                          \
          .summary = "freeze the guest's filesystems (they thaw by themselves after --timeout)", \
          .opts = cli_vm_freeze_opts, .run = cli_vm_freeze },                                    \
        { .name = "thaw", .args = "VM", .min_args = 1, .max_args = 1,                            \
          .summary = "thaw the guest's frozen filesystems", .run = cli_vm_thaw },                \
        { .name = "timesync", .args = "VM", .min_args = 1, .max_args = 1,                        \
          .summary = "set the guest's clock from its host's", .run = cli_vm_timesync },          \
        { .name = "tools-upgrade", .args = "VM", .min_args = 1, .max_args = 1,                   \
          .summary = "push the image's drover-tools into the guest", .waits = true,              \
          .run = cli_vm_tools_upgrade },                                                         \
        { .name = "hibernate", .args = "VM", .min_args = 1, .max_args = 1,                       \
          .summary = "suspend the guest to disk (where it can: swap needed)",                    \
          .run = cli_vm_hibernate },
