#!/usr/bin/env bash
# Acceptance (foundation): kill -9 the manager while a VM runs and a task is
# in flight; after a restart the VM is still running and the task failed with
# a reason. Kill -9 the agent: the restarted agent re-adopts the QEMU process
# instead of starting a second one.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1
"$DROVER" vm create vm1 --cpus 1 --memory 256 --disk 1 >/dev/null
"$DROVER" vm create vm2 --cpus 1 --memory 256 >/dev/null
"$DROVER" vm start vm1 >/dev/null
check "vm1 running before the crash" dv_vm_state_is vm1 running
id1=$(dv_json .id vm show vm1)
id2=$(dv_json .id vm show vm2)
qpid=$(dv_qemu_pids "$id1")

# A task in flight: start vm2 without waiting, then kill the manager at once.
task=$("$DROVER" -o json vm start vm2 --no-wait | jq -r '.id // .task.id')
kill -9 "$DV_MGR_PID"
wait "$DV_MGR_PID" 2>/dev/null || true
dv_start_manager

check "vm1 still listed as running after the manager restart" dv_vm_state_is vm1 running
st=$(dv_json .state task show "$task")
check "the in-flight task is finished, not stuck ($st)" bash -c "[ '$st' = failed ] || [ '$st' = succeeded ]"
if [ "$st" = failed ]; then
        check "the failed task names the restart" [ "$(dv_json .error.code task show "$task")" = manager-restart ]
fi
# The agent may still be carrying out the dead manager's start of vm2: let
# it finish, then vm2 must settle to what its host really runs (at most one
# QEMU, and a state that agrees).
alog=$DV_TMP/agent-host1.log
agent_done() { ! grep -q "vm $id2: starting" "$alog" || grep -qE "vm $id2: (running|start:)" "$alog"; }
wait_until 60 "the agent's start of vm2 finished" agent_done
agrees() {
        local s n
        s=$(dv_json .state vm show vm2)
        n=$(dv_qemu_pids "$id2" | wc -l)
        { [ "$s" = running ] && [ "$n" = 1 ]; } || { [ "$s" = stopped ] && [ "$n" = 0 ]; }
}
wait_until 20 "vm2's state agrees with its QEMU processes" agrees || true
n2=$(dv_qemu_pids "$id2" | wc -l)
s2=$(dv_json .state vm show vm2)
check "vm2 has at most one QEMU ($n2)" [ "$n2" -le 1 ]
check "vm2 state ($s2) matches its QEMU count ($n2)" bash -c "{ [ '$s2' = running ] && [ $n2 = 1 ]; } || { [ '$s2' = stopped ] && [ $n2 = 0 ]; }"

# Agent crash: QEMU survives, the new agent adopts it.
kill -9 "$DV_AGENT_PID"
wait "$DV_AGENT_PID" 2>/dev/null || true
check "QEMU outlives the agent" kill -0 "$qpid"
dv_start_agent host1
wait_until 10 "vm1 reported running" dv_vm_state_is vm1 running
check "vm1 running after agent restart" dv_vm_state_is vm1 running
check "vm1 still has exactly its old QEMU" [ "$(dv_qemu_pids "$id1")" = "$qpid" ]
check "host1 appears once" [ "$("$DROVER" -o json host list | jq '[(if type == "array" then . else .hosts end)[] | select(.name == "host1")] | length')" = 1 ]
path=$("$DROVER" -o json vm stop vm1 --force | jq -r .result.path)
check "the adopted VM can be stopped" [ "$path" = forced ]
check "no QEMU left for vm1" [ -z "$(dv_qemu_pids "$id1")" ]
dv_finish
