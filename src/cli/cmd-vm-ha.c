/* drover vm set VM --ha on|off [--ha-priority N] [QoS options]: a VM's HA
 * and QoS settings (PATCH /api/v1/vms/{id}; QoS: cmd-vm-qos.c). */
#include "cmd-vm-ha.h"
#include "cmd-vm-qos.h"

#include <string.h>

const struct cli_opt cli_vm_set_opts[] = {
        { "ha", 0, "on|off", "restart the VM on another host when its host or guest fails" },
        { "ha-priority", 0, "N", "restart priority -1000..1000: higher restarts first (default 0)" },
        CLI_VM_QOS_OPTS,
        { "disk", 0, "NAME", "with --iops-max/--bps-max: this disk (repeatable; default every disk)" },
        { NULL },
};

int cli_vm_set(struct cli_ctx *ctx, const struct cli_args *a)
{
        _cleanup_(json_decrefp) json_t *body = json_object(), *reply = NULL;
        const char *ha = cli_args_get(a, "ha");
        int64_t prio = 0;
        int r;

        r = cli_check_name(ctx, "vm", a->pos[0]);
        if (r == 0 && ha) {
                if (strcmp(ha, "on") == 0 || strcmp(ha, "off") == 0)
                        json_object_set_new(body, "ha", json_boolean(strcmp(ha, "on") == 0));
                else
                        r = cli_usage(ctx, "--ha must be on or off, not '%s'", ha);
        }
        if (r == 0 && cli_args_get(a, "ha-priority")) {
                r = cli_opt_number(ctx, a, "ha-priority", -1000, 1000, &prio);
                if (r == 0)
                        json_object_set_new(body, "ha_priority", json_integer(prio));
        }
        if (r == 0)
                r = cli_vm_qos_body(ctx, a, body, NULL);
        if (r == 0 && (cli_args_has(a, "iops-max") || cli_args_has(a, "bps-max") ||
                       cli_args_has(a, "disk"))) {
                _cleanup_(json_decrefp) json_t *vm = NULL;

                if (!cli_args_has(a, "disk"))
                        r = cli_api(ctx, "GET", NULL, &vm, "vms/%s", a->pos[0]);
                if (r == 0)
                        r = cli_vm_qos_set_disks(ctx, a, vm, body);
        }
        if (r == 0 && json_object_size(body) == 0)
                r = cli_usage(ctx, "nothing to set: give --ha on|off, --ha-priority N or a QoS option");
        if (r != 0)
                return r;
        r = cli_api(ctx, "PATCH", body, &reply, "vms/%s", a->pos[0]);
        if (r != 0)
                return r;
        if (ctx->json)
                cli_print_json(ctx, reply);
        else if (!ha && !cli_args_get(a, "ha-priority"))
                printf("vm %s: QoS set\n", a->pos[0]);
        else
                printf("vm %s: HA %s, restart priority %lld\n", a->pos[0],
                       json_is_true(json_object_get(reply, "ha")) ? "on" : "off",
                       (long long)json_integer_value(json_object_get(reply, "ha_priority")));
        return 0;
}
