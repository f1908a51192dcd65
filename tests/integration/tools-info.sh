#!/usr/bin/env bash
# Tools acceptance: a booted VM shows Tools running with the version of the
# image's drover-tools; `vm guest` (the Tools info op) matches the guest:
# its hostname is the VM's name, its memory total is close to the VM's
# memory, one vCPU online, the OS of the default image. Then the probe:
# `vm ping` of an address that answers exits 0 (the guest's own loopback:
# without a DVS this VM has no NIC, so 127.0.0.1 is the only address that
# answers; VM-to-VM pings are the lab tests'), of one that does not exits
# 1 and shows the loss. Also: timesync answers, hibernate is refused with
# not-supported (the image has no swap), Tools survives an agent restart
# (the new agent adopts the VM and reconnects), and a stopped VM keeps its
# last guest info, marked cached.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

want_version=$("$DV_IMAGE_DIR/drover-tools" --version | awk '{print $2}')
"$DROVER" vm create t1 --cpus 1 --memory 256 --start >/dev/null
wait_until 60 "Tools running" dv_tools_state_is t1 running
check "vm show: Tools running" dv_tools_state_is t1 running
check "vm show: Tools version $want_version" [ "$(dv_json .tools.version vm show t1)" = "$want_version" ]
check "vm show text names Tools" dv_cmd_has "running (version $want_version)" "$DROVER" vm show t1
check "event vm.tools-running" dv_cmd_has vm.tools-running "$DROVER" event list

"$DROVER" -o json vm guest t1 >"$DV_TMP/guest.json"
g() { jq -r "$1" "$DV_TMP/guest.json"; }
check "guest info is fresh" [ "$(g .cached)" = false ]
check "guest hostname is the VM name" [ "$(g .guest.hostname)" = t1 ]
total_mib=$(( $(g .guest.memory.total_kib) / 1024 ))
dv_log "guest memory total: $total_mib MiB of 256"
check "guest memory total close to 256 MiB ($total_mib)" dv_between "$total_mib" 200 256
check "guest has 1 CPU online" [ "$(g .guest.cpus.online)" = 1 ]
check "guest OS is the default image" [ "$(g .guest.os.id)" = drover-guest ]
check "guest Tools version" [ "$(g .guest.tools_version)" = "$want_version" ]
check "guest text output names the hostname" dv_cmd_has "hostname:" "$DROVER" vm guest t1

rc=0
"$DROVER" -o json vm ping t1 127.0.0.1 --count 2 >"$DV_TMP/ping.json" || rc=$?
check "vm ping 127.0.0.1 exits 0" [ "$rc" = 0 ]
check "2 echo requests answered" [ "$(jq -r .received "$DV_TMP/ping.json")" = 2 ]
out=$("$DROVER" vm ping t1 127.0.0.1 --count 1) || true
check "text output shows the loss" grep -q "0% loss" <<<"$out"
rc=0
out=$("$DROVER" vm ping t1 192.0.2.1 --count 1 2>&1) || rc=$?
dv_log "ping 192.0.2.1: $out"
check "vm ping of an address that does not answer exits 1" [ "$rc" = 1 ]
check "... and shows 100% loss" grep -q "100% loss" <<<"$out"
check "vm ping refuses a name" [ "$("$DROVER" vm ping t1 example.org >/dev/null 2>&1; echo $?)" = 2 ]

# Bad input to the manager's Tools actions (the CLI checks most of it first).
api() { curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" "$@"; }
codes=$(api -d '{}' "$DROVER_URL/api/v1/vms/t1/ping"
        api -d '{"address":"10.0.0.1","count":11}' "$DROVER_URL/api/v1/vms/t1/ping"
        api -d '{"address":"10.0.0.1; reboot"}' "$DROVER_URL/api/v1/vms/t1/ping"
        api -d '{"timeout_s":0}' "$DROVER_URL/api/v1/vms/t1/freeze"
        api -d '{"cpus":"two"}' "$DROVER_URL/api/v1/vms/t1/set-cpus"
        api -d '{"path":"/bin/sh"}' "$DROVER_URL/api/v1/vms/t1/tools-upgrade"
        api "$DROVER_URL/api/v1/vms/t1/ping"
        api -d '{}' "$DROVER_URL/api/v1/vms/nope/guest")
check "bad Tools requests are refused before reaching the guest ($codes)" \
        [ "$codes" = "400 400 400 400 400 400 405 405 " ]
check "vm timesync answers" "$DROVER" vm timesync t1
rc=0
out=$("$DROVER" -o json vm hibernate t1) || rc=$?
check "vm hibernate exits 1" [ "$rc" = 1 ]
check "... with not-supported (no swap)" [ "$(jq -r .error.code <<<"$out")" = not-supported ]
check "the VM still runs" dv_vm_state_is t1 running

# An agent restart: the new agent adopts the VM and opens its Tools channel again.
kill -TERM "$DV_AGENT_PID"
wait "$DV_AGENT_PID" 2>/dev/null || true
dv_start_agent host1
check "right after an agent restart Tools still shows running" dv_tools_state_is t1 running
wait_until 30 "the new agent hears Tools" dv_file_has "$DV_TMP/agent-host1.log" "agent\[$DV_AGENT_PID\].*Tools running"
check "after an agent restart Tools is running" dv_tools_state_is t1 running
check "... and answers" [ "$(dv_json .guest.hostname vm guest t1)" = t1 ]
check "the new agent reopened the channel" dv_file_has "$DV_TMP/agent-host1.log" "Tools channel opened"

"$DROVER" vm stop t1 >/dev/null
check "a stopped VM shows Tools not-running" dv_tools_state_is t1 not-running
check "its guest info is the cached one" [ "$(dv_json .cached vm guest t1)" = true ]
check "... with the hostname" [ "$(dv_json .guest.hostname vm guest t1)" = t1 ]
dv_finish
