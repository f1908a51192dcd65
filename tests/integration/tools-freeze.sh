#!/usr/bin/env bash
# Tools acceptance: `vm freeze` freezes the guest's data filesystem
# (/mnt/vda on the VM's disk) and `vm thaw` thaws it; a freeze left alone
# thaws itself after its timeout. The evidence is the guest's own view, the
# "frozen" flag of each filesystem in `vm guest` (Tools info), and a writer
# in the guest (the default image's drover.writer loop, started through the
# VM's kernel arguments) whose console lines stop while the filesystem is
# frozen and resume after the thaw.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

"$DROVER" vm create f1 --cpus 1 --memory 256 --disk 1 --kernel-args drover.writer=100 --start >/dev/null
log=$(dv_json .console_log vm show f1)
writes() { grep -c '^drover-writer: ' "$log" 2>/dev/null || true; }
writes_above() { [ "$(writes)" -gt "$1" ]; }
wait_until 60 "Tools running" dv_tools_state_is f1 running
frozen() { dv_json '.guest.filesystems[] | select(.mount == "/mnt/vda") | .frozen' vm guest f1; }
frozen_is() { [ "$(frozen)" = "$1" ]; }
wait_until 30 "/mnt/vda mounted in the guest" frozen_is false
check "the guest has /mnt/vda, not frozen" [ "$(frozen)" = false ]

wait_until 30 "the guest's writer writes" writes_above 3
check "the guest's writer writes to its disk every 100 ms" writes_above 3
out=$("$DROVER" -o json vm freeze f1 --timeout 120)
check "vm freeze froze /mnt/vda" [ "$(jq -r '.frozen | join(",")' <<<"$out")" = /mnt/vda ]
check "the guest reports /mnt/vda frozen" [ "$(frozen)" = true ]
# At most one write was in flight when the freeze landed; after that the
# writer blocks: 2 s (20 periods) later it has written nothing more.
n0=$(writes)
wait_until 5 "one more write at most" true
sleep 2   # the absence of writes over a period is what is measured
n1=$(writes)
check "the guest's writer is blocked while frozen ($n0 -> $n1 writes in 2 s)" [ $((n1 - n0)) -le 1 ]
rc=0
out=$("$DROVER" -o json vm freeze f1) || rc=$?
check "a second freeze is refused as busy" [ "$rc" = 1 ]
check "... (409 busy)" [ "$(jq -r .error.code <<<"$out")" = busy ]
out=$("$DROVER" -o json vm thaw f1)
check "vm thaw thawed /mnt/vda" [ "$(jq -r '.thawed | join(",")' <<<"$out")" = /mnt/vda ]
check "the guest reports it thawed" [ "$(frozen)" = false ]
wait_until 10 "writer resumes" writes_above $((n1 + 2))
check "the writer resumes after the thaw" writes_above $((n1 + 2))
check "events vm.frozen and vm.thawed" dv_cmd_has vm.thawed "$DROVER" event list

# Left frozen: the guest thaws by itself after the timeout.
start=$(date +%s)
"$DROVER" vm freeze f1 --timeout 3 >/dev/null
check "frozen again" [ "$(frozen)" = true ]
wait_until 30 "self-thaw" frozen_is false
took=$(($(date +%s) - start))
dv_log "thawed by itself after about $took s"
check "thawed by itself after its 3 s timeout ($took s)" dv_between "$took" 3 20
wait_until 10 "agent log of the guest's fs-thawed" dv_file_has "$DV_TMP/agent-host1.log" "thawed its filesystems by itself"
check "the agent heard the guest's fs-thawed event" dv_file_has "$DV_TMP/agent-host1.log" "thawed its filesystems by itself"
check "nothing left to thaw" [ "$(dv_json '.thawed | length' vm thaw f1)" = 0 ]
dv_finish
