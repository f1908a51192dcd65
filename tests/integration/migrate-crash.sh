#!/usr/bin/env bash
# Crash safety of live migration (issue 6), two agents on loopback (no lab):
# a VM on a shared datastore migrates host1 -> host2 with its memory stream
# held to 2 MiB/s so that the memory phase lasts.
# 1. kill -9 the manager in the memory phase, start it again: recovery
#    (a vm.migrate-recover task) resolves the VM from what both hosts run:
#    it ends `running`, exactly one QEMU runs it, from the run dir of the
#    host `vm show` names.
# 2. kill -9 the source agent right after QEMU reported completion (its
#    log says "migrated to"), start it again: the VM ends on host2, exactly
#    one QEMU (host2's); the source's held QEMU is never resumed.
# 2b. kill -9 the source agent in the middle of the memory phase, start it
#    again: one copy runs, on the host `vm show` names.
# 3. a cancel in the memory phase leaves the VM running on its host, the
#    target's QEMU gone; meanwhile (droverd --max-migrations-per-host 1)
#    another VM of that host is blocked by the migration-slots precheck.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }

mkdir -p "$DV_TMP/shared"
dv_start_manager
dv_start_agent host1 --datastore "shared=$DV_TMP/shared"
A1=$DV_AGENT_PID
dv_start_agent host2 --datastore "shared=$DV_TMP/shared"
A2=$DV_AGENT_PID

"$DROVER" vm create mig --cpus 1 --memory 256 --host host1 --disk 1@shared \
        --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm start mig >/dev/null
wait_until 120 "mig tools" dv_tools_state_is mig running
id=$(dv_json .id vm show mig)

# The QEMUs of the VM and the host whose run dir each one uses.
qemu_hosts() {
        local p
        for p in $(dv_qemu_pids "$id"); do
                tr '\0' ' ' <"/proc/$p/cmdline" | grep -o "agent-host[0-9]*/" | head -1 | tr -d /
        done
}
one_copy_on() { [ "$(qemu_hosts | sort -u | tr '\n' ' ')" = "agent-$1 " ] && [ "$(dv_qemu_pids "$id" | wc -l)" = 1 ]; }
settled() {
        local s
        s=$(dv_json .state vm show mig)
        [ "$s" = running ] && one_copy_on "$(dv_json .host vm show mig)"
}
in_memory_phase() {
        "$DROVER" -o json task show "$1" | jq -e '.detail.phase == "memory" and (.detail.bytes_done // 0) > 0' >/dev/null
}

# ---- 1. the manager dies in the memory phase
task=$("$DROVER" -o json vm migrate mig --host host2 --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs" wait_until 60 "memory phase" in_memory_phase "$task"
check "vm show says migrating" dv_vm_state_is mig migrating
kill -9 "$DV_MGR_PID"
wait "$DV_MGR_PID" 2>/dev/null || true
dv_log "manager killed in the memory phase; QEMUs now: $(qemu_hosts | tr '\n' ' ')"
dv_start_manager --max-migrations-per-host 1
check "after the restart the VM settles: running, one QEMU, on the host vm show names" \
        wait_until 120 "settled" settled
dv_log "after the manager restart: $(dv_json .host vm show mig), $(dv_json .state_reason vm show mig)"
check "a vm.migrate-recover task resolved it" bash -c "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"vm.migrate-recover\" and .state==\"succeeded\")] | length >= 1' >/dev/null"
check "the interrupted task failed naming the restart" \
        [ "$(dv_json .error.code task show "$task")" = manager-restart ]
check "no migration record left" [ "$(dv_json '.migration // "none"' vm show mig)" = none ]
check "Tools answers" wait_until 60 "tools" dv_tools_state_is mig running

# ---- 2. the source agent dies right after QEMU reported completion
src=$(dv_json .host vm show mig)
[ "$src" = host1 ] && dst=host2 || dst=host1
[ "$src" = host1 ] && SPID=$A1 || SPID=$A2
slog=$DV_TMP/agent-$src.log
marks=$(grep -c "vm $id: migrated to" "$slog" || true)
task=$("$DROVER" -o json vm migrate mig --host "$dst" --no-wait | jq -r '.task.id // .id')
completed() { [ "$(grep -c "vm $id: migrated to" "$slog" || true)" -gt "$marks" ]; }
for _ in $(seq 1500); do completed && break; sleep 0.05; done
kill -9 "$SPID"
wait "$SPID" 2>/dev/null || true
check "the source's QEMU reported completion before its agent was killed" completed
dv_log "source agent killed after completion; QEMUs now: $(qemu_hosts | tr '\n' ' ')"
dv_start_agent "$src" --datastore "shared=$DV_TMP/shared"
[ "$src" = host1 ] && A1=$DV_AGENT_PID || A2=$DV_AGENT_PID
ended() { local s; s=$(dv_json .state task show "$task"); [ "$s" != running ] && [ "$s" != queued ]; }
wait_until 120 "the task ends" ended
dv_log "task: $(dv_json .state task show "$task"): $(dv_json .message task show "$task")"
check "the VM ends on $dst with one QEMU there" wait_until 120 "one copy on $dst" \
        bash -c "[ \"\$('$DROVER' -o json vm show mig | jq -r '.host + \" \" + .state')\" = '$dst running' ]"
check "... exactly one QEMU, $dst's" wait_until 60 "one qemu" one_copy_on "$dst"
check "the writer continues on $dst" wait_until 30 "writer" \
        dv_file_has "$(dv_json .console_log vm show mig)" '^drover-writer: '

# ---- 2b. the source agent dies in the middle of the memory phase (its
# QEMU goes on sending): whatever the resolver decides, one copy runs, on
# the host vm show names
src=$dst
[ "$src" = host1 ] && dst=host2 || dst=host1
[ "$src" = host1 ] && SPID=$A1 || SPID=$A2
task=$("$DROVER" -o json vm migrate mig --host "$dst" --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs (2b)" wait_until 60 "memory phase" in_memory_phase "$task"
kill -9 "$SPID"
wait "$SPID" 2>/dev/null || true
sleep 3
dv_start_agent "$src" --datastore "shared=$DV_TMP/shared"
[ "$src" = host1 ] && A1=$DV_AGENT_PID || A2=$DV_AGENT_PID
check "after the source agent's restart the VM settles: one QEMU, on the host vm show names" \
        wait_until 180 "settled" settled
dv_log "2b: task $(dv_json .state task show "$task"): $(dv_json .message task show "$task"); vm on $(dv_json .host vm show mig)"
dst=$(dv_json .host vm show mig)

# ---- 3. a cancel in the memory phase
src=$dst
[ "$src" = host1 ] && dst=host2 || dst=host1
task=$("$DROVER" -o json vm migrate mig --host "$dst" --memory-rate 2 --no-wait | jq -r '.task.id // .id')
check "the memory phase runs again" wait_until 60 "memory phase" in_memory_phase "$task"
# The per-host limit (droverd --max-migrations-per-host 1): another VM of
# the same host is blocked while this migration runs.
"$DROVER" vm create other --cpus 1 --memory 128 --host "$src" >/dev/null
rc=0; out=$("$DROVER" vm migrate other --host "$dst" --check 2>&1) || rc=$?
slots_blocked() { [ "$rc" = 1 ] && grep -q 'FAIL migration-slots' <<<"$out"; }
check "a second migration from $src is blocked by migration-slots (limit 1)" slots_blocked
slots_blocked || dv_log "$out"
"$DROVER" task cancel "$task" >/dev/null
wait_until 60 "the task ends" ended
check "the task is cancelled" [ "$(dv_json .state task show "$task")" = cancelled ]
check "the VM runs on $src, one QEMU" wait_until 30 "one copy on $src" one_copy_on "$src"
check "... vm show says $src, running" \
        [ "$(dv_json '.host + " " + .state' vm show mig)" = "$src running" ]

"$DROVER" vm stop mig --force >/dev/null
"$DROVER" vm delete mig >/dev/null
"$DROVER" vm delete other >/dev/null
dv_finish
