#!/usr/bin/env bash
# Migration prechecks provoked in a lab (issue 6), each reported by name,
# and the migration network: a 3-host lab with a separate migration
# network (lab up --migration-net: each agent has --migration-address on
# 10.78.0.0/24, a bridge of its own). host3 reports a CPU without one of
# this machine's features (--cpu-mask) and gives VMs 200 MiB
# (--vm-memory-mib). VM "pc" (256 MiB) and VM "nt" (its guest runs no
# Tools: drover.tools=off) on host1.
# - host2: --check passes, predicts the duration from the measured rate of
#   the migration network (its address, not the management one);
# - nt: tools-running; host3: cpu-compatible and target-capacity at once;
# - host2's migration link cut (management still up): migration-network;
# - host2 in maintenance: target-state;
# - then pc migrates to host2 over the migration network (host2's agent
#   prepared it on 10.78.0.12) and runs there; a later check from host1
#   to host2 reports the rate QEMU's stream reached in it.
. "$(dirname "$0")/lib.sh"

contains() { [[ "$1" == *"$2"* ]]; }
flag=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|sse4_2|sse2' | head -1)
[ -n "$flag" ] || { echo "SKIP: no avx2, sse4_2 or sse2 in /proc/cpuinfo to mask"; exit 77; }
dv_lab_up 3 1 --migration-net --host-agent-arg 3 "--cpu-mask $flag --vm-memory-mib 200"

check "host show: host2's migration address" [ "$(dv_json .migration_address host show host2)" = 10.78.0.12 ]
"$DROVER" vm create pc --cpus 1 --memory 256 --host host1 >/dev/null
"$DROVER" vm create nt --cpus 1 --memory 128 --host host1 --kernel-args drover.tools=off >/dev/null
for v in pc nt; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in pc nt; do wait_until 60 "$v running" dv_vm_state_is "$v" running; done
wait_until 120 "pc tools" dv_tools_state_is pc running

# precheck VM HOST: sets rc and out.
precheck() { rc=0; out=$("$DROVER" vm migrate "$1" --host "$2" --check 2>&1) || rc=$?; dv_log "$out"; }
fails() { [ "$rc" = 1 ] && grep -q "^FAIL $1 " <<<"$out"; }
passes() { grep -q "^PASS $1 " <<<"$out"; }

precheck pc host2
check "--check pc --host host2 passes" [ "$rc" = 0 ]
check "... probed host2's migration address 10.78.0.12 and measured its rate" \
        eval 'grep -q "^PASS migration-network .*(10.78.0.12), .*/s measured" <<<"$out"'
check "... and predicts the duration" eval 'grep -qE "^predicted: .* in all" <<<"$out"'

precheck nt host2
check "a guest without Tools: FAIL tools-running" fails tools-running
check "... and nothing else fails" [ "$(grep -c '^FAIL' <<<"$out")" = 1 ]

precheck pc host3
check "host3 (CPU without $flag, 200 MiB for VMs): FAIL cpu-compatible" fails cpu-compatible
check "... naming the feature" eval 'grep "^FAIL cpu-compatible" <<<"$out" | grep -qw "$flag"'
check "... and FAIL target-capacity in the same answer" fails target-capacity
check "... with the sizes" eval 'grep "^FAIL target-capacity" <<<"$out" | grep -q "needs 256 MiB.*200 MiB unreserved"'

lab link h2 migration down >/dev/null
precheck pc host2
check "host2's migration link cut: FAIL migration-network" fails migration-network
check "... naming the address" eval 'grep "^FAIL migration-network" <<<"$out" | grep -q "10.78.0.12"'
check "... while host2 is connected (target-state passes)" passes target-state
lab link h2 migration up >/dev/null

"$DROVER" host maintenance host2 enter >/dev/null
precheck pc host2
check "host2 in maintenance: FAIL target-state" fails target-state
check "... saying maintenance" eval 'grep "^FAIL target-state" <<<"$out" | grep -q maintenance'
"$DROVER" host maintenance host2 exit >/dev/null
wait_until 20 "host2 connected" dv_host_state_is host2 connected

rc=0; out=$("$DROVER" vm migrate pc --host host2 2>&1) || rc=$?
dv_log "$out"
check "vm migrate pc --host host2 succeeds" [ "$rc" = 0 ]
check "vm show: host2, running" [ "$(dv_json '.host + " " + .state' vm show pc)" = "host2 running" ]
check "host2's agent received it on its migration address" \
        dv_file_has "$S/h2/agent.log" "incoming migration on 10.78.0.12:"
# The next check between the two hosts knows QEMU's pace from that one.
precheck nt host2
check "a later check host1 -> host2 reports the last migration's rate" \
        eval 'grep "^PASS migration-network" <<<"$out" | grep -q "/s in the last migration"'
res=$("$DROVER" -o json task list | jq -c '[.tasks[] | select(.op=="vm.migrate" and .state=="succeeded")][0].id' -r)
dv_log "the migration: $("$DROVER" -o json task show "$res" | jq -c '{task_ms: .result.total_ms, memory_ms: .result.memory_ms, qemu_ms: .result.qemu.total_ms, downtime_ms: .result.qemu.downtime_ms, sent: .result.qemu.transferred}')"

for v in pc nt; do "$DROVER" vm stop "$v" --force >/dev/null; done
dv_finish
