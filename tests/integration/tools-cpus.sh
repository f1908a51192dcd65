#!/usr/bin/env bash
# Tools acceptance: `vm set-cpus` from 1 to 2 on a running VM created with
# --max-cpus 2 hot-plugs a vCPU through QMP and Tools brings it online: the
# guest's own /sys/devices/system/cpu/online (as `vm guest` reports it,
# from Tools info) counts 2 CPUs. Above max_cpus is refused, and so is
# removing vCPUs online; a stopped VM takes a new count for its next start.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

"$DROVER" vm create c1 --cpus 1 --max-cpus 2 --memory 256 --start >/dev/null
wait_until 60 "Tools running" dv_tools_state_is c1 running
check "the guest starts with 1 CPU online" [ "$(dv_json .guest.cpus.online vm guest c1)" = 1 ]
check "... of 2 possible" [ "$(dv_json .guest.cpus.possible vm guest c1)" = 2 ]

rc=0
out=$("$DROVER" vm set-cpus c1 2 2>&1) || rc=$?
dv_log "set-cpus: $out"
check "vm set-cpus c1 2 succeeds" [ "$rc" = 0 ]
check "... and says 2 are online" grep -q "2 online" <<<"$out"
check "the guest's /sys/devices/system/cpu/online counts 2" \
        [ "$(dv_json .guest.cpus.online vm guest c1)" = 2 ]
check "vm show: 2 cpus" [ "$(dv_json .cpus vm show c1)" = 2 ]
check "event vm.set-cpus" dv_cmd_has "vm.set-cpus" "$DROVER" event list

rc=0
out=$("$DROVER" -o json vm set-cpus c1 3) || rc=$?
check "3 vCPUs (above max_cpus 2) refused" [ "$rc" = 1 ]
check "... as out-of-range" [ "$(jq -r .error.code <<<"$out")" = out-of-range ]
rc=0
out=$("$DROVER" -o json vm set-cpus c1 1) || rc=$?
check "going down to 1 vCPU online refused" [ "$rc" = 1 ]
check "... as invalid-state" [ "$(jq -r .error.code <<<"$out")" = invalid-state ]
check "the guest still has 2 online" [ "$(dv_json .guest.cpus.online vm guest c1)" = 2 ]

"$DROVER" vm stop c1 >/dev/null
check "a stopped VM takes 1 vCPU" "$DROVER" vm set-cpus c1 1
check "vm show: 1 cpu" [ "$(dv_json .cpus vm show c1)" = 1 ]
dv_finish
