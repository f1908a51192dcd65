#!/usr/bin/env bash
# HA isolation response (docs/ha.md): only host1's management link is cut
# (`lab link h1 mgmt down`); its datastore heartbeats continue and it can no
# longer reach the manager nor the isolation address (the management
# network's gateway, 10.77.0.254, reachable through mgmt only). With
# "leave-running" host1 keeps its HA VM and renews its lease; nothing is
# restarted elsewhere. With "power-off" host1 kills it and releases the
# lease; the manager restarts it on one of the other two hosts of the
# 3-host lab. A poller checks every 100 ms that the VM's disk is never open
# in two QEMU processes (image locking is off).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ha-lab.sh"

ha_lab_up 3
"$DROVER" vm create web --cpus 1 --memory 128 --disk 1@shared --host host1 --ha \
        --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm start web >/dev/null
id=$(dv_json .id vm show web)
disk=$(dv_json '.disks[0].path' vm show web)
lease=$S/shared/.drover-lease/$id
wait_until 60 "web running on host1" vm_on web host1
ha_poll_disks "$disk"
lease_holder() { jq -r .holder "$lease" 2>/dev/null; }
check "web's lease is held by host1" [ "$(lease_holder)" = host1 ]
check "host1's agent pets its BMC watchdog" dv_file_has "$S/h1/agent.log" "BMC watchdog armed"
check "host1's agent uses the management gateway as isolation address" \
        dv_file_has "$S/h1/agent.log" "isolation address 10.77.0.254"

# --- leave-running ---------------------------------------------------------
"$DROVER" cluster set default --isolation-response leave-running >/dev/null
qpid=$(qemus_with_open "$disk")
t0=$(now_ms)
lab link h1 mgmt down >/dev/null
wait_until 30 "host1's agent sees itself isolated" dv_file_has "$S/h1/agent.log" "host isolated"
dv_log "host1 isolated (agent) after $(( $(now_ms) - t0 )) ms"
wait_until 30 "the manager sees host1 isolated" dv_host_state_is host1 isolated
dv_log "host1 isolated (manager) after $(( $(now_ms) - t0 )) ms"
stable=1
for _ in $(seq 40); do   # 8 s: past the lease timeout and the isolation delay
        kill -0 "$qpid" 2>/dev/null || stable=0
        [ "$(qemus_with_open "$disk")" = "$qpid" ] || stable=0
        sleep 0.2
done
check "leave-running: web's QEMU keeps running on host1, no copy elsewhere" [ "$stable" = 1 ]
check "leave-running: host1 keeps renewing web's lease" eval \
        '[ "$(lease_holder)" = host1 ] && [ "$(jq -r .expiry_wall_ms "$lease")" -gt "$(now_ms)" ]'
check "leave-running: no restart was attempted" eval '! has_event vm.restarting web'
lab link h1 mgmt up >/dev/null
wait_until 30 "host1 connected again" dv_host_state_is host1 connected
check "web still runs on host1 after the link returns" vm_on web host1

# --- power-off ---------------------------------------------------------------
"$DROVER" cluster set default --isolation-response power-off >/dev/null
wait_until 10 "host1's agent has the new response" \
        dv_file_has "$S/h1/agent.log" "isolation response power-off"
# shellcheck disable=SC2034  # used in an eval below
gen0=$(jq -r .generation "$lease")
t1=$(now_ms)
lab link h1 mgmt down >/dev/null
ON=
if wait_until 60 "web running on another host" vm_on_other web host1; then
        dv_log "power-off: web running on $ON $(( $(now_ms) - t1 )) ms after the link cut"
fi
check "power-off: web restarted on another host ($ON)" vm_on_other web host1
check "power-off: host1 killed its copy" eval '! kill -0 "$qpid" 2>/dev/null'
check "power-off: host1's agent applied the response" \
        dv_file_has "$S/h1/agent.log" "isolation response power-off): killing it"
check "power-off: the lease moved to $ON with a new generation" eval \
        '[ "$(lease_holder)" = "$ON" ] && [ "$(jq -r .generation "$lease")" -gt "$gen0" ]'
check "power-off: the restart says why" wait_until 15 "the vm.restarted event" has_event vm.restarted web
lab link h1 mgmt up >/dev/null
wait_until 30 "host1 connected again" dv_host_state_is host1 connected
stable=1
for _ in $(seq 20); do vm_on web "$ON" || stable=0; sleep 0.2; done
check "web stays on $ON once host1 is back" [ "$stable" = 1 ]
check "the disk was never open in two QEMU processes (polled every 100 ms)" no_two_open
dv_finish
