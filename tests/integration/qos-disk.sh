#!/usr/bin/env bash
# Acceptance (issue 8, disk QoS): a VM whose disk has an IOPS limit of 100,
# running the guest's random-read loop (drover.randread=4,4: 4 readers, each
# reading 4 KiB O_DIRECT blocks in runs of 4 from random offsets), does 100 +- 10 % reads per second,
# counted outside the guest (QEMU's block statistics, through the agent's
# GET /agent/v1/vms/{id}/qos). Raising the limit to 200 on the running VM
# (`vm set --iops-max`) takes effect at once; bad values are refused and
# change nothing.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1 --cgroup-parent "drover-test/${DV_TMP##*/}"
DV_CLEANUP_HOOKS+=("rmdir /sys/fs/cgroup/*/drover-test/${DV_TMP##*/}/vm-* /sys/fs/cgroup/*/drover-test/${DV_TMP##*/} /sys/fs/cgroup/*/drover-test 2>/dev/null")

"$DROVER" vm create d1 --cpus 1 --memory 128 --disk 1 --iops-max 100 \
        --kernel-args "drover.randread=4,4" >/dev/null
check "vm show has the disk's IOPS limit" [ "$(dv_json '.disks[0].iops_max' vm show d1)" = 100 ]
check "vm show (text) prints the disk limits" dv_cmd_has "disk0  iops 100, bytes/s unlimited" "$DROVER" vm show d1

# Invalid values are refused with the reason, and nothing changes.
out=$("$DROVER" vm set d1 --iops-max 1000001 2>&1) && st=0 || st=$?
check "an IOPS limit out of range is a usage error ($st)" [ "$st" = 2 ]
out=$(curl -s -X PATCH -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" \
        -d '{"disks":[{"name":"disk0","iops_max":-5}]}' "$DROVER_URL/api/v1/vms/d1")
check "the API refuses a negative limit naming it ($out)" \
        bash -c "jq -e '.error.code == \"out-of-range\" and (.error.message | test(\"iops_max\"))' <<<'$out' >/dev/null"
out=$(curl -s -X PATCH -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" \
        -d '{"disks":[{"name":"disk9","iops_max":50}]}' "$DROVER_URL/api/v1/vms/d1")
check "the API refuses an unknown disk ($out)" \
        bash -c "jq -e '.error.code == \"not-found\"' <<<'$out' >/dev/null"
check "... and the limit is still 100" [ "$(dv_json '.disks[0].iops_max' vm show d1)" = 100 ]

"$DROVER" vm start d1 >/dev/null
log=$(dv_json .console_log vm show d1)
wait_until 90 "guest random readers" dv_file_has "$log" "randread: 4 readers of 4 blocks"

url=$(dv_json .url host show host1)
id=$(dv_json .id vm show d1)
cred=$(cat "$DV_TMP/agent-host1/credential")
reads() {
        curl -sf -H "Authorization: Bearer $cred" "$url/agent/v1/vms/$id/qos" |
                jq -r '.disks[0].rd_operations'
}
# iops_over SECONDS: read operations per second over a window.
iops_over() {
        local a b t0 t1
        a=$(reads); t0=$(date +%s%N)
        sleep "$1"
        b=$(reads); t1=$(date +%s%N)
        echo $(( (b - a) * 1000000000 / (t1 - t0) ))
}
applied=$(curl -sf -H "Authorization: Bearer $cred" "$url/agent/v1/vms/$id/qos" | jq -r '.disks[0].iops_max')
check "the agent applied 100 IOPS at start ($applied)" [ "$applied" = 100 ]
cg=$(curl -sf -H "Authorization: Bearer $cred" "$url/agent/v1/vms/$id/qos" | jq -r .cgroup)
check "QEMU runs in the VM's own cgroup ($cg)" grep -qx "$(dv_qemu_pids "$id")" "$cg/cgroup.procs"
sleep 2 # past the throttle's initial burst
iops=$(iops_over 10)
dv_log "measured $iops reads/s with a limit of 100"
check "100 IOPS limit holds within 10 % ($iops/s)" dv_between "$iops" 90 110

"$DROVER" vm set d1 --iops-max 200 >/dev/null
check "vm show has the new limit" [ "$(dv_json '.disks[0].iops_max' vm show d1)" = 200 ]
iops=$(iops_over 8)
dv_log "measured $iops reads/s at once after raising the limit to 200"
check "raising the limit to 200 takes effect at once ($iops/s)" dv_between "$iops" 180 220

# An agent killed and started again adopts the VM: QEMU stays in its
# cgroup, the QoS is known from its spec.json, the throttle still holds.
kill -9 "$DV_AGENT_PID"
wait_until 20 "agent gone" bash -c "! kill -0 $DV_AGENT_PID 2>/dev/null"
dv_start_agent host1 --cgroup-parent "drover-test/${DV_TMP##*/}"
url=$(dv_json .url host show host1)
cred=$(cat "$DV_TMP/agent-host1/credential")
check "after an agent restart QEMU is still in its cgroup" grep -qx "$(dv_qemu_pids "$id")" "$cg/cgroup.procs"
check "... and the agent knows its limit of 200" \
        [ "$(curl -sf -H "Authorization: Bearer $cred" "$url/agent/v1/vms/$id/qos" | jq -r '.disks[0].iops_max')" = 200 ]
iops=$(iops_over 5)
dv_log "measured $iops reads/s after the agent restart"
check "the limit of 200 still holds ($iops/s)" dv_between "$iops" 180 220

"$DROVER" vm set d1 --iops-max 0 >/dev/null
iops=$(iops_over 5)
dv_log "measured $iops reads/s without a limit"
check "without a limit the guest reads faster than 300/s ($iops/s)" [ "$iops" -gt 300 ]
check "vm show has no disk limits line" bash -c "! '$DROVER' vm show d1 | grep -q 'disk limits'"

"$DROVER" vm stop d1 --force >/dev/null
check "the VM's cgroup is removed when it stops" [ ! -e "$cg" ]
"$DROVER" vm delete d1 >/dev/null
dv_finish
