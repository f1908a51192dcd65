#!/usr/bin/env bash
# Tools acceptance: `vm freeze` freezes the guest's data filesystem
# (/mnt/vda on the VM's disk) and `vm thaw` thaws it; a freeze left alone
# thaws itself after its timeout. The evidence is the guest's own view, the
# "frozen" flag of each filesystem in `vm guest` (Tools info). (That a
# writer in the guest blocks meanwhile is FIFREEZE's job; nothing in Drover
# runs a writer in a guest, see docs/tools.md.)
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

"$DROVER" vm create f1 --cpus 1 --memory 256 --disk 1 --start >/dev/null
wait_until 60 "Tools running" dv_tools_state_is f1 running
frozen() { dv_json '.guest.filesystems[] | select(.mount == "/mnt/vda") | .frozen' vm guest f1; }
frozen_is() { [ "$(frozen)" = "$1" ]; }
wait_until 30 "/mnt/vda mounted in the guest" frozen_is false
check "the guest has /mnt/vda, not frozen" [ "$(frozen)" = false ]

out=$("$DROVER" -o json vm freeze f1 --timeout 120)
check "vm freeze froze /mnt/vda" [ "$(jq -r '.frozen | join(",")' <<<"$out")" = /mnt/vda ]
check "the guest reports /mnt/vda frozen" [ "$(frozen)" = true ]
rc=0
out=$("$DROVER" -o json vm freeze f1) || rc=$?
check "a second freeze is refused as busy" [ "$rc" = 1 ]
check "... (409 busy)" [ "$(jq -r .error.code <<<"$out")" = busy ]
out=$("$DROVER" -o json vm thaw f1)
check "vm thaw thawed /mnt/vda" [ "$(jq -r '.thawed | join(",")' <<<"$out")" = /mnt/vda ]
check "the guest reports it thawed" [ "$(frozen)" = false ]
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
