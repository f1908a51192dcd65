#!/usr/bin/env bash
# Live migration, change host on shared storage (issue 6), in a 3-host lab:
# a VM with a disk on the shared datastore, a NIC on a DVS port group and the
# guest's disk writer (drover.writer=100: a counter in /mnt/vda bumped every
# 100 ms and printed on the console) moves host1 -> host2. After it: `vm
# show` says host2, exactly one QEMU runs it (host2's), the writer's counter
# continues on host2's console from where it was (no reboot, the disk
# stayed consistent), Tools runs again and another VM on the port group
# pings it. Prechecks: a stopped VM is blocked by vm-running, a host not on
# the DVS by target-dvs.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in busybox ipmi_sim ovs-vswitchd jq; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
        exit 77
fi

S=$DV_TMP/lab
lab() { "$DROVER" lab --state-dir "$S" "$@"; }
lab_down() { [ -f "$S/lab.env" ] && "$DV_ROOT/lab/drover-lab" --state-dir "$S" down >/dev/null 2>&1; return 0; }
DV_CLEANUP_HOOKS+=(lab_down)
contains() { [[ "$1" == *"$2"* ]]; }

lab up --hosts 3 --image-dir "$DV_IMAGE_DIR" >"$DV_TMP/lab-up.log" 2>&1 ||
        { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
eval "$(lab env)"
for n in 1 2 3; do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
ln -s "$S/manager.log" "$DV_TMP/manager.log"
for n in 1 2 3; do wait_until 30 "host$n connected" dv_host_state_is "host$n" connected; done

# host1 and host2 on the DVS; host3 is not.
"$DROVER" dvs create dc >/dev/null
"$DROVER" dvs add-host dc host1 >/dev/null
"$DROVER" dvs add-host dc host2 >/dev/null
"$DROVER" portgroup create pg --dvs dc --vlan 100 >/dev/null

"$DROVER" vm create mig --cpus 1 --memory 256 --host host1 --disk 1@shared \
        --nic pg:10.0.100.21/24 --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm create peer --cpus 1 --memory 160 --host host2 --nic pg:10.0.100.22/24 >/dev/null

rc=0; out=$("$DROVER" vm migrate mig --host host2 --check 2>&1) || rc=$?
check "--check on a stopped VM exits 1" [ "$rc" = 1 ]
check "... and names vm-running" eval 'contains "$out" "FAIL vm-running"'

for v in mig peer; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in mig peer; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v tools" dv_tools_state_is "$v" running
done
log1=$(dv_json .console_log vm show mig)
wait_until 30 "writer runs" dv_file_has "$log1" '^drover-writer: 20 '
vmping() { "$DROVER" vm ping "$1" "$2" --count 1 >/dev/null 2>&1; }
check "peer pings mig on host1" wait_until 20 "peer->mig" vmping peer 10.0.100.21

rc=0; out=$("$DROVER" vm migrate mig --host host3 --check 2>&1) || rc=$?
check "--check against host3 (not on the DVS) exits 1 and names target-dvs" \
        eval '[ "$rc" = 1 ] && contains "$out" "FAIL target-dvs"'
rc=0; out=$("$DROVER" vm migrate mig --host host2 --check 2>&1) || rc=$?
check "--check against host2 passes" [ "$rc" = 0 ]
dv_log "$out"
# The prediction: the source measured the rate to host2 and the guest's
# dirty rate (its writer dirties pages every 100 ms).
check "... measures the migration network's rate" eval 'grep -q "PASS migration-network.*/s measured" <<<"$out"'
check "... and predicts the duration and downtime" eval 'grep -qE "^predicted: .* in all, .* downtime" <<<"$out"'
check "... from a measured dirty rate" eval '! grep -q "dirty rate not measured" <<<"$out"'
predicted=$(sed -n 's/^predicted: \(.*\) in all.*/\1/p' <<<"$out")

before=$(grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}')
t0=$(date +%s%N)
rc=0; out=$("$DROVER" vm migrate mig --host host2 2>&1) || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
dv_log "migrate: $out (CLI wall time ${ms} ms; predicted ${predicted:-nothing})"
check "vm migrate mig --host host2 succeeds" [ "$rc" = 0 ]
check "vm show says host2" [ "$(dv_json .host vm show mig)" = host2 ]
check "... and running" dv_vm_state_is mig running
id=$(dv_json .id vm show mig)
qemus() {
        local p
        for p in /proc/[0-9]*; do
                tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "qemu-system.*$id" && echo "${p#/proc/}"
        done
        return 0
}
one_qemu() { [ "$(qemus | wc -l)" = 1 ]; }
check "exactly one QEMU runs the VM" wait_until 10 "one qemu" one_qemu
pid=$(qemus | head -1)
check "... from host2's run dir" bash -c "tr '\\0' ' ' </proc/$pid/cmdline | grep -q '$S/h2/run/$id'"
log2=$(dv_json .console_log vm show mig)
check "the console log is host2's" contains "$log2" "$S/h2/"
check "the writer continues on host2" wait_until 30 "writer on host2" dv_file_has "$log2" '^drover-writer: '
if ! dv_file_has "$log2" '^drover-writer: '; then
        dv_log "host1's console ends: $(tail -c 600 "$log1" 2>/dev/null | tr -c '[:print:]\n' '.')"
        dv_log "host2's console: $(tail -c 600 "$log2" 2>/dev/null | tr -c '[:print:]\n' '.')"
fi
first=$(grep -a '^drover-writer: ' "$log2" | head -1 | awk '{print $2}')
dv_log "writer: last on host1 >= $before, first on host2 $first"
check "... from where it was (no reboot: $before <= $first)" [ "${first:-0}" -ge "$before" ]
check "no boot on host2's console" bash -c "! grep -aq DROVER-GUEST-READY '$log2'"
check "Tools runs again" wait_until 30 "tools on host2" dv_tools_state_is mig running
check "peer pings mig on host2" wait_until 20 "peer->mig" vmping peer 10.0.100.21
check "mig pings peer" wait_until 20 "mig->peer" vmping mig 10.0.100.22
check "the task names the hosts" bash -c "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"vm.migrate\" and .state==\"succeeded\")] | length == 1' >/dev/null"

for v in mig peer; do "$DROVER" vm stop "$v" --force >/dev/null; done
for v in mig peer; do "$DROVER" vm delete "$v" >/dev/null; done
dv_finish
