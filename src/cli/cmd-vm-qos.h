/* QoS options of `drover vm create` and `drover vm set` (cmd-vm-qos.c,
 * docs/qos.md), and the QoS lines of `vm show`. */
#pragma once

#include "cli.h"
#include "output.h"
#include "qos.h"

#define CLI_VM_QOS_OPTS                                                                         \
        { "cpu-shares", 0, "N|low|normal|high", "CPU shares under contention, 10..100000 (normal = 1000)" }, \
        { "cpu-limit", 0, "MHZ|PCT%|none", "most CPU it ever gets: MHz, or percent of one core" }, \
        { "cpu-reservation", 0, "MHZ|none", "CPU it is guaranteed under contention (admission-controlled)" }, \
        { "cpu-affinity", 0, "CPUS|none", "host CPUs it may run on, e.g. 0-3,8" },            \
        { "iops-max", 0, "N", "disk I/O operations per second (0 = unlimited)" },              \
        { "bps-max", 0, "BYTES", "disk bytes per second, K/M/G suffixes (0 = unlimited)" }

/* Adds "cpu_qos" from the options to body when any is given. With disks
 * (create): --iops-max/--bps-max go into every element of it. Returns 0,
 * or a usage error's exit status. */
int cli_vm_qos_body(struct cli_ctx *ctx, const struct cli_args *a, json_t *body, json_t *disks);
/* Whether any QoS option is given. */
bool cli_vm_qos_given(const struct cli_args *a);
/* vm set: "disks": [{"name", "iops_max"?, "bps_max"?}] for the --disk
 * NAMEs given (default: every disk of vm, a VM document). */
int cli_vm_qos_set_disks(struct cli_ctx *ctx, const struct cli_args *a, json_t *vm, json_t *body);
/* `vm show` lines: "cpu qos" and each disk's limits. */
void cli_vm_qos_print(struct cli_table *t, json_t *vm);
