#!/usr/bin/env bash
# Tools acceptance: `vm stop` of a running VM with Tools is a clean guest
# shutdown through Tools (path "tools"); `vm reboot` goes through Tools too.
# Then drover-tools is killed inside the guest and `vm stop` falls back to
# ACPI and says so (path "acpi").
#
# How drover-tools is killed: nothing in Drover runs an arbitrary command
# in a guest, and the serial console is a write-only log. So the test uses
# the one honest way in: it replaces the image's drover-tools with a static
# program that exits at once and pushes it with `vm tools-upgrade`. The
# guest swaps it in, the old drover-tools exits, and its respawn loop then
# restarts a program that dies immediately: from then on the guest has no
# working Tools. The upgrade task fails (the new binary never says hello),
# the agent loses the heartbeat (--tools-timeout-s 4) and reports Tools
# not-running with an event, and the stop goes through ACPI.
. "$(dirname "$0")/lib.sh"

dv_private_image "$DV_TMP/image"
dv_start_manager
dv_start_agent host1 --tools-timeout-s 4

"$DROVER" vm create s1 --cpus 1 --memory 256 --start >/dev/null
log=$(dv_json .console_log vm show s1)
wait_until 60 "Tools running" dv_tools_state_is s1 running

# Reboot through Tools: the guest boots again and Tools comes back.
path=$("$DROVER" -o json vm reboot s1 | jq -r .result.path)
check "vm reboot went through Tools" [ "$path" = tools ]
wait_until 60 "second boot" bash -c "[ \$(grep -c DROVER-GUEST-READY '$log') -ge 2 ]"
check "the guest booted again" [ "$(grep -c DROVER-GUEST-READY "$log")" -ge 2 ]
wait_until 30 "Tools running after the reboot" dv_tools_state_is s1 running

start=$(date +%s)
path=$("$DROVER" -o json vm stop s1 --timeout 60 | jq -r .result.path)
check "vm stop went through Tools" [ "$path" = tools ]
check "... within 30 s (half the timeout)" [ $(($(date +%s) - start)) -lt 30 ]
check "the guest shut itself down cleanly" dv_file_has "$log" "poweroff requested"
check "VM is stopped" dv_vm_state_is s1 stopped
check "Tools shows not-running while stopped" dv_tools_state_is s1 not-running
check "the stop event names the path" dv_cmd_has "stopped (tools)" "$DROVER" event list

# --- Tools killed inside the guest --------------------------------------------
"$DROVER" vm start s1 >/dev/null
wait_until 60 "Tools running again" dv_tools_state_is s1 running
printf 'int main(void) { return 0; }\n' >"$DV_TMP/exit.c"
cc -static -O2 -o "$DV_TMP/exit" "$DV_TMP/exit.c"
install -m 0755 "$DV_TMP/exit" "$DV_IMAGE_DIR/drover-tools"
rc=0
out=$("$DROVER" vm tools-upgrade s1 2>&1) || rc=$?
dv_log "tools-upgrade to a program that exits: rc $rc: $out"
check "the upgrade to it fails: no new drover-tools said hello" [ "$rc" = 1 ]
wait_until 20 "Tools not-running" dv_tools_state_is s1 not-running
check "Tools is not-running" dv_tools_state_is s1 not-running
check "... because the heartbeat is lost" dv_cmd_has "no heartbeat" dv_json .tools.reason vm show s1
check "event vm.tools-not-running names why" dv_cmd_has "Tools is not running in vm 's1': no heartbeat" \
        "$DROVER" event list

start=$(date +%s)
path=$("$DROVER" -o json vm stop s1 --timeout 60 | jq -r .result.path)
check "vm stop fell back to ACPI" [ "$path" = acpi ]
check "... without waiting for Tools" [ $(($(date +%s) - start)) -lt 30 ]
check "the guest shut down cleanly (power button)" \
        [ "$(grep -c "poweroff requested" "$log")" = 1 ]
check "VM is stopped" dv_vm_state_is s1 stopped
check "the stop event says acpi" dv_cmd_has "stopped (acpi)" "$DROVER" event list
dv_finish
