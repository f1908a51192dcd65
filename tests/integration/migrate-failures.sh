#!/usr/bin/env bash
# Failure safety of live migration (issue 6), in a 2-host lab: a VM on the
# shared datastore migrates host1 -> host2 with its memory stream held to
# 2 MiB/s (the memory phase lasts), and mid-way
# 1. host2's management network (which carries the migration) is cut
#    (`drover lab link host2 mgmt down`): the stream stalls, the manager
#    cancels it; the task fails naming the stall, the VM runs on host1 (the
#    guest's writer goes on, never paused); once the link is back the
#    target's QEMU on host2 is removed (vm.migrate-recover, _abort_on);
# 2. host2 is powered off through its BMC (`drover lab power host2 off`):
#    the task fails, the VM runs on host1, exactly one QEMU;
# 3. a cancel mid-way: the task says cancelled, the VM runs on host1;
# 3b. host2 drops every packet to the migration ports (a firewall: its
#    agent still answers, so the prechecks pass and the target is
#    prepared): the source's connect is never answered; the task fails
#    within seconds naming it (migration-unreachable; the kernel alone
#    would retry the connect for ~2 min), the VM runs on host1;
# 4. the post-switchover network check: host2 back, a migration to host2
#    succeeds only once the VM pings its port group's gateway (on the TOR)
#    from host2 (the task's result.network); with VLAN 100 taken off
#    host1's TOR port, the migration back to host1 moves the VM but the task
#    fails with network-check-failed, naming the port group.
# After each failure the next migration of the VM must start (QEMU 7.2 could
# be left unable to migrate again: see migrate_settle in hv-qemu.c).
# (A cancel also in migrate-crash.sh and migrate-host-datastore.sh; a
# target that cannot make or open the disks: migrate-host-datastore.sh.)
# Run under `flock /tmp/drover-lab.lock` when others use the machine.
. "$(dirname "$0")/lib.sh"

dv_lab_up 2

"$DROVER" dvs create dc >/dev/null
"$DROVER" dvs add-host dc host1 >/dev/null
"$DROVER" dvs add-host dc host2 >/dev/null
"$DROVER" portgroup create pg --dvs dc --vlan 100 --subnet 10.0.100.0/24 --gateway 10.0.100.1 >/dev/null
lab sync >/dev/null
"$DROVER" vm create mig --cpus 1 --memory 256 --host host1 --disk 1@shared \
        --nic pg:10.0.100.21/24 --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm start mig >/dev/null
wait_until 120 "mig tools" dv_tools_state_is mig running
id=$(dv_json .id vm show mig)
log1=$(dv_json .console_log vm show mig)

qemu_hosts() {
        local p
        for p in $(dv_qemu_pids "$id"); do
                tr '\0' ' ' <"/proc/$p/cmdline" | grep -o "$S/h[0-9]*/run" | head -1 | sed -E 's|.*/(h[0-9]+)/run|\1|'
        done
}
one_copy_on() { [ "$(dv_qemu_pids "$id" | wc -l)" = 1 ] && [ "$(qemu_hosts)" = "$1" ]; }
in_memory_phase() {
        "$DROVER" -o json task show "$1" |
                jq -e '.detail.phase == "memory" and (.detail.bytes_done // 0) > 0 and (.detail.dirty_rate | type == "number")' >/dev/null
}
ended() { local s; s=$(dv_json .state task show "$1"); [ "$s" != running ] && [ "$s" != queued ]; }
writer_at() { grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}'; }
writer_moves() { local a=$1; [ "$(writer_at)" -gt "$a" ]; }

# ---- 1. the migration network is cut
task=$("$DROVER" -o json vm migrate mig --host host2 --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs" wait_until 60 "memory phase" in_memory_phase "$task"
lab link host2 mgmt down >/dev/null
t0=$(date +%s)
check "the task ends after the cut" wait_until 90 "the task ends" ended "$task"
dv_log "after the cut ($(( $(date +%s) - t0 )) s): $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "the task failed naming the stall" \
        [ "$(dv_json .state task show "$task") $(dv_json .error.code task show "$task")" = "failed migration-stalled" ]
check "vm show: running on host1" [ "$(dv_json '.host + " " + .state' vm show mig)" = "host1 running" ]
w=$(writer_at)
check "the guest runs on host1 (its writer goes on)" wait_until 10 "writer" writer_moves "$w"
lab link host2 mgmt up >/dev/null
wait_until 60 "host2 connected" dv_host_state_is host2 connected
check "once host2 answers, its target QEMU is removed: one QEMU, host1's" \
        wait_until 60 "one copy on h1" one_copy_on h1

# ---- 2. the target is powered off through its BMC
task=$("$DROVER" -o json vm migrate mig --host host2 --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs again" wait_until 60 "memory phase" in_memory_phase "$task"
lab power host2 off >/dev/null
t0=$(date +%s)
check "the task ends after the power-off" wait_until 90 "the task ends" ended "$task"
dv_log "after the power-off ($(( $(date +%s) - t0 )) s): $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "the task failed" [ "$(dv_json .state task show "$task")" = failed ]
check "vm show: running on host1" [ "$(dv_json '.host + " " + .state' vm show mig)" = "host1 running" ]
check "exactly one QEMU, host1's" wait_until 30 "one copy on h1" one_copy_on h1
w=$(writer_at)
check "the guest runs on host1 (its writer goes on)" wait_until 10 "writer" writer_moves "$w"

# ---- 3. a cancel in the memory phase (the network is fine)
lab power host2 on >/dev/null
check "host2 is back" wait_until 120 "host2 connected" dv_host_state_is host2 connected
task=$("$DROVER" -o json vm migrate mig --host host2 --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs a third time" wait_until 60 "memory phase" in_memory_phase "$task"
"$DROVER" task cancel "$task" >/dev/null
check "the cancelled task ends" wait_until 60 "the task ends" ended "$task"
dv_log "after the cancel: $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "it says cancelled" [ "$(dv_json .state task show "$task")" = cancelled ]
check "vm show: running on host1" [ "$(dv_json '.host + " " + .state' vm show mig)" = "host1 running" ]
check "exactly one QEMU, host1's" wait_until 30 "one copy on h1" one_copy_on h1
w=$(writer_at)
check "the guest runs on host1 (its writer goes on)" wait_until 10 "writer" writer_moves "$w"

# ---- 3b. host2 drops the migration ports (49152-49251, docs/migration.md)
fw() { ip netns exec drvlab-h2 nft "$@"; }
fw add table inet drvmigfw
DV_CLEANUP_HOOKS+=("ip netns exec drvlab-h2 nft delete table inet drvmigfw 2>/dev/null")
fw add chain inet drvmigfw in '{ type filter hook input priority 0 ; }'
fw add rule inet drvmigfw in tcp dport 49152-49251 drop
t0=$(date +%s%N)
task=$("$DROVER" -o json vm migrate mig --host host2 --no-wait | jq -r '.task.id // .id')
check "the migration to a target that does not answer ends" wait_until 30 "the task ends" ended "$task"
t_end=$(( ($(date +%s%N) - t0) / 1000000 ))
dv_log "unanswered connect: ended after $t_end ms: $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "it failed with migration-unreachable" \
        [ "$(dv_json '.state + " " + .error.code' task show "$task")" = "failed migration-unreachable" ]
check "... within 15 s (not the kernel's ~2 min of SYN retries)" [ "$t_end" -lt 15000 ]
check "... naming the target's migration address" dv_cmd_has "did not answer a connect" "$DROVER" task show "$task"
check "vm show: running on host1" [ "$(dv_json '.host + " " + .state' vm show mig)" = "host1 running" ]
check "exactly one QEMU, host1's" wait_until 30 "one copy on h1" one_copy_on h1
w=$(writer_at)
check "the guest runs on host1 (its writer goes on)" wait_until 10 "writer" writer_moves "$w"
fw delete table inet drvmigfw

# ---- 4. the network check after the switchover (each migration below
# also shows that the failures above left QEMU able to migrate again)
vmping() { "$DROVER" vm ping "$1" "$2" --count 1 >/dev/null 2>&1; }
check "mig pings its gateway from host1" wait_until 30 "gw" vmping mig 10.0.100.1
task=$("$DROVER" -o json vm migrate mig --host host2 --no-wait | jq -r '.task.id // .id')
check "the migration to host2 ends" wait_until 180 "the task ends" ended "$task"
dv_log "migration: $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
dv_log "network check: $("$DROVER" -o json task show "$task" | jq -c .result.network)"
check "it succeeded (task: $(dv_json .message task show "$task"))" [ "$(dv_json .state task show "$task")" = succeeded ]
check "... after the VM answered on pg from host2" \
        [ "$(dv_json '[.result.network.checked, .result.network.ok, .result.network.nics[0].portgroup] | map(tostring) | join(" ")' task show "$task")" = "true true pg" ]
lab vlan host1 100 deny >/dev/null
task=$("$DROVER" -o json vm migrate mig --host host1 --no-wait | jq -r '.task.id // .id')
check "the migration back to host1 ends" wait_until 180 "the task ends" ended "$task"
dv_log "migration: $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "with VLAN 100 off host1's TOR port it fails with network-check-failed" \
        [ "$(dv_json '.state + " " + .error.code' task show "$task")" = "failed network-check-failed" ]
check "... naming the port group" dv_cmd_has "port group 'pg'" "$DROVER" task show "$task"
check "... and vm show says where it runs: host1" \
        [ "$(dv_json '.host + " " + .state' vm show mig)" = "host1 running" ]
check "... one QEMU, host1's" wait_until 30 "one copy on h1" one_copy_on h1
lab vlan host1 100 allow >/dev/null

"$DROVER" vm stop mig --force >/dev/null
"$DROVER" vm delete mig >/dev/null
dv_finish
