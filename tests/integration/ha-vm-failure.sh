#!/usr/bin/env bash
# Issue 7, VM failures and admission control (no lab needed):
# - a guest whose kernel panics (drover.panic=S: sysrq c, pvpanic) is
#   restarted by HA, until the restart limit, which raises an alarm and
#   leaves it crashed;
# - a guest whose drover-tools stops (drover.tools-stop=S) while the VM
#   runs is restarted after the cluster's Tools timeout, and Tools comes back;
# - admission control refuses to power on an HA VM that would break the
#   failover capacity, with the reason, and changes nothing; non-HA VMs are
#   not checked.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1 --tools-timeout-s 3
wait_until 30 "host1 connected" dv_host_state_is host1 connected
api() { curl -sf -X "$1" -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" \
        -H 'Content-Type: application/json' "$DROVER_URL/api/v1/$2" ${3:+--data "$3"}; }

# One host cannot tolerate a host failure: admission off for the VM-failure part.
"$DROVER" cluster set default --admission off --max-restarts 2 >/dev/null
api PATCH clusters/default '{"ha":{"tools_timeout_ms":4000}}' >/dev/null
check "the cluster takes a 4 s Tools timeout" \
        [ "$(api GET clusters/default | jq -r .ha.tools_timeout_ms)" = 4000 ]

events() { "$DROVER" -o json event list | jq -r --arg v "$1" '[.events[] | select(.target.name == $v) | .kind] | join(",")'; }
# A new QEMU (pid) whose guest reached its ready marker (each start has a new console log).
pid_of() { dv_json .pid vm show "$1"; }
booted_anew() {  # VM OLD-PID
        local p; p=$(pid_of "$1")
        [ -n "$p" ] && [ "$p" != null ] && [ "$p" != "$2" ] &&
                dv_file_has "$(dv_json .console_log vm show "$1")" DROVER-GUEST-READY
}
has_event() { [[ ",$(events "$1")," == *",$2,"* ]]; }
ha_alarm() { "$DROVER" -o json alarm list | jq -e --arg v "$1" '[.alarms[] | select(.kind == "ha.restart-limit" and .target.name == $v)] | length == 1' >/dev/null; }

# --- a guest kernel panic ------------------------------------------------------
"$DROVER" vm create p1 --cpus 1 --memory 128 --ha --kernel-args drover.panic=5 >/dev/null
"$DROVER" vm start p1 >/dev/null
p0=$(pid_of p1)
wait_until 60 "p1 panics" has_event p1 vm.failed
check "the panic is seen as a VM failure" dv_cmd_has "guest-panicked" "$DROVER" event list
check "HA restarts the panicked guest (a new QEMU boots it)" wait_until 60 "p1 boots anew" booted_anew p1 "$p0"
check "... on its host, with an event" wait_until 20 "vm.restarted" has_event p1 vm.restarted
# Every boot panics again: after 2 restarts in the hour the limit holds.
check "after 2 restarts the limit stops HA: an alarm" wait_until 90 "restart-limit alarm" ha_alarm p1
check "... the event says so" has_event p1 vm.restart-limit
check "... and the VM is left crashed" wait_until 20 "p1 crashed" dv_vm_state_is p1 crashed
p_last=$(pid_of p1)
sleep 4   # HA ticks every second: four ticks without a restart
check "... and stays so (same QEMU, still crashed)" \
        [ "$(pid_of p1)/$(dv_json .state vm show p1)" = "$p_last/crashed" ]
"$DROVER" vm stop p1 --force >/dev/null 2>&1 || true

# --- Tools heartbeat lost while the VM runs --------------------------------------
"$DROVER" cluster set default --max-restarts 3 >/dev/null
"$DROVER" vm create t1 --cpus 1 --memory 128 --ha --kernel-args drover.tools-stop=6 >/dev/null
"$DROVER" vm start t1 >/dev/null
wait_until 60 "t1 Tools running" dv_tools_state_is t1 running
t0=$(pid_of t1)
wait_until 30 "t1 Tools lost" dv_tools_state_is t1 not-running
lost=$(date +%s)
check "HA restarts t1 after the Tools timeout" wait_until 40 "t1 boots anew" booted_anew t1 "$t0"
check "... because its Tools heartbeat was lost" dv_cmd_has "tools-heartbeat-lost" "$DROVER" event list
check "... not before the 4 s timeout" [ $(( $(date +%s) - lost )) -ge 3 ]
check "Tools runs again in the restarted guest" wait_until 60 "t1 Tools back" dv_tools_state_is t1 running
"$DROVER" vm stop t1 --force >/dev/null 2>&1 || true
"$DROVER" vm delete p1 >/dev/null 2>&1 || true
"$DROVER" vm delete t1 >/dev/null 2>&1 || true

# --- admission control -------------------------------------------------------------
"$DROVER" cluster set default --admission hosts:1 >/dev/null
"$DROVER" vm create a1 --cpus 1 --memory 128 --ha >/dev/null
rc=0; out=$("$DROVER" vm start a1 2>&1) || rc=$?
check "one host cannot keep room for a failed host: the HA VM is refused" [ "$rc" = 1 ]
check "... with the reason" grep -q "must tolerate 1 host failure" <<<"$out"
check "... and nothing changed: a1 is stopped" dv_vm_state_is a1 stopped
"$DROVER" vm create n1 --cpus 1 --memory 128 >/dev/null
check "a non-HA VM is not checked: it starts" "$DROVER" vm start n1
"$DROVER" vm stop n1 --force >/dev/null

dv_start_agent host2
wait_until 30 "host2 connected" dv_host_state_is host2 connected
check "with a second host a1 starts (hosts:1 holds)" "$DROVER" vm start a1
mem=$(( $(dv_json .memory_mib host show host1) + $(dv_json .memory_mib host show host2) ))
# Keep 99 %: 1 % of both hosts' memory is left for powered-on VMs.
"$DROVER" cluster set default --admission percent:99 >/dev/null
room=$(( mem / 100 ))
big=$(( room - 128 + 64 ))   # a1 (128) plus this one exceed the 1 %
"$DROVER" vm create a2 --cpus 1 --memory "$big" --ha >/dev/null
rc=0; out=$("$DROVER" vm start a2 2>&1) || rc=$?
check "percent:99 refuses a2 ($big MiB; $room MiB left for VMs)" [ "$rc" = 1 ]
check "... naming the kept percentage" grep -q "99% of" <<<"$out"
check "... and a2 stays stopped" dv_vm_state_is a2 stopped
"$DROVER" vm stop a1 --force >/dev/null
check "once a1 is off, a2 fits" "$DROVER" vm start a2
"$DROVER" vm stop a2 --force >/dev/null

dv_finish
