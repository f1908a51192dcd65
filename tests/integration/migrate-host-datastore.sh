#!/usr/bin/env bash
# Live migration, change host + datastore (issue 6), in a 2-host lab: a VM
# with two disks on host1's local datastore, a NIC on a DVS port group and
# the guest's disk writer (drover.writer=50) moves to host2 and host2's
# local datastore while it runs: host2 exports the new disks over NBD on
# its management address, host1 mirrors them (write-blocking), then memory
# follows. Before that, three failures leave the VM running on host1 with
# nothing left on host2: a target that cannot make a disk's copy (the file
# is in the way), a cancel during the (throttled) disk copy while the
# target's NBD server is seen listening, and a cancel in the (throttled)
# memory phase. After the move: `vm show` says host2 / host2-local, one
# QEMU runs it (host2's), the old files are gone, the NBD server is gone,
# the writer continues from where it was, Tools and the network work.
# After a clean stop the copies are read on host2: writer.log is gap-free
# and reaches what the guest printed on host1, and disk1 holds the pattern
# written before the start.
# Run under `flock /tmp/drover-lab.lock` when others use the machine.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in busybox ipmi_sim ovs-vswitchd jq qemu-io debugfs ss; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
        exit 77
fi

PATTERN_MIB=256
S=$DV_TMP/lab
lab() { "$DROVER" lab --state-dir "$S" "$@"; }
lab_down() { [ -f "$S/lab.env" ] && "$DV_ROOT/lab/drover-lab" --state-dir "$S" down >/dev/null 2>&1; return 0; }
DV_CLEANUP_HOOKS+=(lab_down)
contains() { [[ "$1" == *"$2"* ]]; }

lab up --hosts 2 --image-dir "$DV_IMAGE_DIR" >"$DV_TMP/lab-up.log" 2>&1 ||
        { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
eval "$(lab env)"
for n in 1 2; do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
ln -s "$S/manager.log" "$DV_TMP/manager.log"
for n in 1 2; do wait_until 30 "host$n connected" dv_host_state_is "host$n" connected; done
h2addr=$("$DROVER" -o json host show host2 | jq -r .url | sed -E 's|http://([0-9.]+):.*|\1|')

"$DROVER" dvs create dc >/dev/null
"$DROVER" dvs add-host dc host1 >/dev/null
"$DROVER" dvs add-host dc host2 >/dev/null
"$DROVER" portgroup create pg --dvs dc --vlan 100 >/dev/null

"$DROVER" vm create mig --cpus 1 --memory 256 --host host1 --disk 1@host1-local \
        --disk 1@host1-local --nic pg:10.0.100.21/24 --kernel-args drover.writer=50 >/dev/null
"$DROVER" vm create peer --cpus 1 --memory 160 --host host2 --nic pg:10.0.100.22/24 >/dev/null
id=$(dv_json .id vm show mig)
d0=$(dv_json '.disks[0].path' vm show mig)
d1=$(dv_json '.disks[1].path' vm show mig)
qemu-io -f qcow2 -c "write -q -P 0x5a 0 ${PATTERN_MIB}M" "$d1" >/dev/null

for v in mig peer; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in mig peer; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v tools" dv_tools_state_is "$v" running
done
log1=$(dv_json .console_log vm show mig)
wait_until 30 "writer runs" dv_file_has "$log1" '^drover-writer: 20 '
vmping() { "$DROVER" vm ping "$1" "$2" --count 1 >/dev/null 2>&1; }
check "peer pings mig on host1" wait_until 20 "peer->mig" vmping peer 10.0.100.21

rc=0; out=$("$DROVER" vm migrate mig --host host2 --datastore host2-local --check 2>&1) || rc=$?
check "--check --host host2 --datastore host2-local passes" [ "$rc" = 0 ]
[ "$rc" = 0 ] || dv_log "$out"

qemus() {
        local p
        for p in /proc/[0-9]*; do
                tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "qemu-system.*$id" && echo "${p#/proc/}"
        done
        return 0
}
one_qemu_in() { [ "$(qemus | wc -l)" = 1 ] && tr '\0' ' ' <"/proc/$(qemus | head -1)/cmdline" | grep -q "$S/$1/run/$id"; }
h2copies() { find "$S/h2/datastores/local" -name '*.qcow2' 2>/dev/null; }
on_host1() {
        [ "$(dv_json '.host + " " + .state + " " + ([.disks[].datastore] | unique | join(","))' vm show mig)" = "host1 running host1-local" ]
}
qemu_listeners_h2() { ip netns exec drvlab-h2 ss -ltnpH 2>/dev/null | grep qemu-system | grep -c "$h2addr:" || true; }

# Failure 1: host2 cannot make disk1's copy (a file is in the way).
mkdir -p "$S/h2/datastores/local/$id"
echo blocker >"$S/h2/datastores/local/$id/disk1.qcow2"
rc=0; out=$("$DROVER" vm migrate mig --host host2 --datastore host2-local 2>&1) || rc=$?
dv_log "target cannot make the copy: $out"
check "a target that cannot make a copy fails the task" [ "$rc" != 0 ]
check "... naming the cause" contains "$out" "disk1"
check "... the VM keeps running on host1 on its disks" on_host1
check "... in one QEMU, host1's" one_qemu_in h1
rm -f "$S/h2/datastores/local/$id/disk1.qcow2"
check "... disk0's copy is removed from host2" bash -c "[ -z \"\$(find '$S/h2/datastores/local' -name '*.qcow2')\" ]"

# Failure 2: a cancel during the disk copy (held at 8 MiB/s).
task=$("$DROVER" -o json vm migrate mig --host host2 --datastore host2-local --disk-rate 8 --no-wait | jq -r '.task.id // .id')
copying() { "$DROVER" -o json task show "$task" | jq -e '.detail.phase == "disks" and .detail.bytes_done > 0' >/dev/null; }
check "the throttled copy to host2 runs" wait_until 60 "the copy starts" copying
dv_log "while copying: $("$DROVER" -o json task show "$task" | jq -c .detail)"
n=$(qemu_listeners_h2)
check "host2's target QEMU listens on its management address only (migration + NBD: $n)" \
        bash -c "[ $n -ge 2 ] && ! ip netns exec drvlab-h2 ss -ltnpH | grep qemu-system | grep -v '$h2addr:' | grep -q ."
"$DROVER" task cancel "$task" >/dev/null
ended() { [ "$(dv_json .state task show "$task")" != running ]; }
wait_until 60 "the task ends" ended
check "the cancelled task says cancelled" [ "$(dv_json .state task show "$task")" = cancelled ]
check "... the VM keeps running on host1 on its disks" on_host1
check "... in one QEMU, host1's" wait_until 10 "one qemu" one_qemu_in h1
check "... host2 has no copy left" bash -c "[ -z \"\$(find '$S/h2/datastores/local' -name '*.qcow2')\" ]"
check "... and no NBD server" [ "$(qemu_listeners_h2)" = 0 ]
check "... the writer goes on" wait_until 10 "writer" bash -c \
        "[ \$(grep -a '^drover-writer: ' '$log1' | tail -1 | awk '{print \$2}') -gt $(grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}') ]"

# Failure 3: a cancel in the memory phase (the stream held at 2 MiB/s), the
# disks in sync by then: the source's mirrors end, the target goes.
task=$("$DROVER" -o json vm migrate mig --host host2 --datastore host2-local --memory-rate 2 --no-wait | jq -r '.task.id // .id')
in_memory() { "$DROVER" -o json task show "$task" | jq -e '.detail.phase == "memory" and (.detail.pass // 0) >= 1 and .detail.bytes_done > 0' >/dev/null; }
check "the memory phase shows its pass, bytes and rate" wait_until 60 "memory phase" in_memory
dv_log "memory phase: $("$DROVER" -o json task show "$task" | jq -c '[.message, .detail]')"
"$DROVER" task cancel "$task" >/dev/null
wait_until 60 "the task ends" ended
check "the task cancelled in the memory phase says cancelled" [ "$(dv_json .state task show "$task")" = cancelled ]
check "... the VM keeps running on host1 on its disks" on_host1
check "... in one QEMU, host1's" wait_until 10 "one qemu" one_qemu_in h1
check "... host2 has no copy left and no NBD server" \
        bash -c "[ -z \"\$(find '$S/h2/datastores/local' -name '*.qcow2')\" ] && [ \"\$(ip netns exec drvlab-h2 ss -ltnpH | grep -c qemu-system)\" = 0 ]"
check "... the VM is not paused (the writer goes on)" wait_until 10 "writer" bash -c \
        "[ \$(grep -a '^drover-writer: ' '$log1' | tail -1 | awk '{print \$2}') -gt $(grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}') ]"

# The migration.
t0=$(date +%s%N)
task=$("$DROVER" -o json vm migrate mig --host host2 --datastore host2-local --no-wait | jq -r '.task.id // .id')
phases=""
before=0
while :; do
        j=$("$DROVER" -o json task show "$task")
        ph=$(jq -r '.detail.phase // empty' <<<"$j")
        [ -n "$ph" ] && [[ " $phases " != *" $ph "* ]] && phases="$phases $ph"
        st=$(jq -r .state <<<"$j")
        # The last number printed on host1 (the source runs until the switchover).
        b=$(grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}')
        [ "${b:-0}" -gt "$before" ] && before=$b
        [ "$st" = running ] || [ "$st" = queued ] || break
        sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
j=$("$DROVER" -o json task show "$task")
dv_log "task: $(jq -c '{state,message,result:(.result|{total_ms,disk_ms,memory_ms,switchover_ms,disk_bytes,disk_allocated_bytes,disk_rate,downtime_ms:.qemu.downtime_ms})}' <<<"$j") (wall ${ms} ms)"
dv_log "phases seen:$phases"
check "vm migrate mig --host host2 --datastore host2-local succeeds" [ "$(jq -r .state <<<"$j")" = succeeded ]
[ "$(jq -r .state <<<"$j")" = succeeded ] || dv_log "$(jq -c .error <<<"$j")"
check "the task went through the disks and memory phases" \
        bash -c "[[ '$phases' == *disks* && '$phases' == *memory* ]]"
check "vm show says host2, running" \
        [ "$(dv_json '.host + " " + .state' vm show mig)" = "host2 running" ]
check "... with both disks on host2-local" \
        [ "$(dv_json '[.disks[].datastore] | unique | join(",")' vm show mig)" = host2-local ]
n0=$(dv_json '.disks[0].path' vm show mig)
n1=$(dv_json '.disks[1].path' vm show mig)
check "the new paths are in host2's datastore" bash -c "[[ '$n0' == '$S/h2/'* && '$n1' == '$S/h2/'* ]]"
check "exactly one QEMU runs the VM, host2's" wait_until 10 "one qemu" one_qemu_in h2
check "it has the copies open" bash -c "ls -l /proc/$(qemus | head -1)/fd | grep -q '$n0'"
check "the old files on host1 are gone" test ! -e "$d0" -a ! -e "$d1"
check "host2's NBD server is gone" [ "$(qemu_listeners_h2)" = 0 ]
log2=$(dv_json .console_log vm show mig)
check "the writer continues on host2" wait_until 10 "writer on host2" dv_file_has "$log2" '^drover-writer: '
first=$(grep -a '^drover-writer: ' "$log2" | head -1 | awk '{print $2}')
dv_log "writer: last on host1 $before, first on host2 $first"
check "... from where it was ($before < $first, no reboot)" [ "${first:-0}" -gt "$before" ]
check "no boot on host2's console" bash -c "! grep -aq DROVER-GUEST-READY '$log2'"
check "Tools runs again" wait_until 30 "tools on host2" dv_tools_state_is mig running
check "peer pings mig on host2" wait_until 20 "peer->mig" vmping peer 10.0.100.21

# Content, read on host2 after a clean stop.
"$DROVER" vm stop mig >/dev/null
qemu-img convert -O raw "$n0" "$DV_TMP/disk0.raw"
debugfs -R 'cat /writer.log' "$DV_TMP/disk0.raw" 2>/dev/null >"$DV_TMP/writer.log"
count=$(wc -l <"$DV_TMP/writer.log")
top=$(tail -1 "$DV_TMP/writer.log")
dv_log "writer.log on host2's copy: $count lines, last ${top:-none}"
check "writer.log on the copy is 1..N without a gap" \
        bash -c "[ $count -gt 0 ] && seq 1 $count | cmp -s - '$DV_TMP/writer.log'"
check "... reaching what the guest printed on host1 ($top >= $before)" [ "${top:-0}" -ge "$before" ]
pattern_ok() {
        local out
        out=$(qemu-io -f qcow2 -r -c "read -P 0x5a 0 ${PATTERN_MIB}M" "$1" 2>&1) || return 1
        ! grep -q 'verification failed' <<<"$out" && grep -q "read $((PATTERN_MIB * 1048576))/" <<<"$out"
}
check "disk1's copy on host2 holds the pattern" pattern_ok "$n1"

"$DROVER" vm stop peer --force >/dev/null
for v in mig peer; do "$DROVER" vm delete "$v" >/dev/null; done
check "the copies are deleted with the VM" test ! -e "$n0" -a ! -e "$n1"
dv_finish
