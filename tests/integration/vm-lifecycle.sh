#!/usr/bin/env bash
# Acceptance (foundation): through the CLI against a real droverd and
# drover-agent, a 1 vCPU / 256 MiB VM with a 1 GiB disk boots the default
# image to userspace, sees /dev/vda, stops (Tools/ACPI), starts again, stops by
# force, and is deleted together with its disk file.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

"$DROVER" vm create vm1 --cpus 1 --memory 256 --disk 1 >/dev/null
check "new VM is stopped" dv_vm_state_is vm1 stopped
check "VM is placed on host1" [ "$(dv_json .host vm show vm1)" = host1 ]
disk=$(dv_json '.disks[0].path' vm show vm1)
check "disk file exists on the host's datastore" test -f "$disk"
check "disk is a 1 GiB qcow2" bash -c "qemu-img info --output=json '$disk' | jq -e '.format == \"qcow2\" and .\"virtual-size\" == 1073741824'"

"$DROVER" vm start vm1 >/dev/null
log=$(dv_json .console_log vm show vm1)
check "vm show says running" dv_vm_state_is vm1 running
check "vm show says host1" [ "$(dv_json .host vm show vm1)" = host1 ]
wait_until 90 "guest boot marker" dv_file_has "$log" DROVER-GUEST-READY
check "guest reached userspace" dv_file_has "$log" DROVER-GUEST-READY
check "guest saw /dev/vda" dv_file_has "$log" "disk /dev/vda present"
check "exactly one QEMU for vm1" [ "$(dv_qemu_pids "$(dv_json .id vm show vm1)" | wc -l)" = 1 ]

path=$("$DROVER" -o json vm stop vm1 | jq -r .result.path)
# The default image runs Tools: a clean shutdown through it (ACPI when
# Tools has not come up yet; tools-stop.sh checks each path).
check "graceful stop went through Tools or ACPI ($path)" grep -qxE 'tools|acpi' <<<"$path"
check "VM is stopped" dv_vm_state_is vm1 stopped
check "no QEMU left for vm1" [ -z "$(dv_qemu_pids "$(dv_json .id vm show vm1)")" ]

"$DROVER" vm start vm1 >/dev/null
check "VM runs again" dv_vm_state_is vm1 running
wait_until 90 "second boot marker" bash -c "[ \$(grep -c DROVER-GUEST-READY '$log') -ge 1 ]"
path=$("$DROVER" -o json vm stop vm1 --force | jq -r .result.path)
check "forced stop says forced" [ "$path" = forced ]
check "VM is stopped after force" dv_vm_state_is vm1 stopped

"$DROVER" vm delete vm1 >/dev/null
check "disk file is gone" test ! -e "$disk"
check "vm show fails for a deleted VM" bash -c "! '$DROVER' vm show vm1 2>/dev/null"
check "vm list is empty" [ "$("$DROVER" -o json vm list | jq 'if type == "array" then length else .vms | length end')" = 0 ]
dv_finish
