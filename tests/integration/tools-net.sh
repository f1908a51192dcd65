#!/usr/bin/env bash
# Tools acceptance, with a network: a VM on a port group (a one-host DVS as
# in dvs-single.sh: the host is a namespace with a private Open vSwitch; a
# stand-in TOR bridge has the port group's gateway 10.0.100.1 on VLAN 100).
#  - Guest info matches the guest: its NIC has the IP/prefix from the VM
#    spec and its default gateway is the port group's.
#  - `vm ping` of the gateway from inside the guest is answered (exit 0).
#  - Guest customization: the agent pushes net-config from the VM spec
#    whenever Tools says hello. Shown by changing the guest's address
#    behind the spec's back (the agent API's net-config op) and restarting
#    the agent: the new agent's channel gets a hello, pushes the spec, and
#    the guest has its spec address again. (The default image's /init also
#    applies drover.net= from the kernel command line at boot, the fallback
#    for guests without Tools.)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-ovs-host.sh"
ovs_host_up tnet 232

DV_MGR_ADDR=$NET.1 dv_start_manager
start_agent() {
        DV_AGENT_NETNS=$NS DV_AGENT_ADDR=$NET.2 dv_start_agent host1 \
                --ovs-db "unix:$OVS/db.sock" --uplink up0
}
start_agent
"$DROVER" dvs create lan >/dev/null
"$DROVER" dvs add-host lan host1 >/dev/null
"$DROVER" portgroup create pg100 --dvs lan --vlan 100 --subnet 10.0.100.0/24 --gateway 10.0.100.1 >/dev/null
"$DROVER" vm create n1 --cpus 1 --memory 192 --nic pg100:10.0.100.21/24 --start >/dev/null
mac=$(dv_json '.nics[0].mac' vm show n1)
wait_until 60 "Tools running" dv_tools_state_is n1 running
wait_until 20 "net-config pushed" dv_file_has "$DV_TMP/agent-host1.log" "Tools net-config: $mac"
check "the agent pushed net-config from the spec when Tools came up" \
        dv_file_has "$DV_TMP/agent-host1.log" "Tools net-config: $mac"

addr() { dv_json ".guest.nics[] | select(.mac == \"$mac\") | .addresses[] | select(.family == \"inet\") | \"\(.address)/\(.prefix)\"" vm guest n1; }
check "guest info: the NIC has the spec's address" [ "$(addr)" = 10.0.100.21/24 ]
check "guest info: the default gateway is the port group's" \
        [ "$(dv_json .guest.gateway.address vm guest n1)" = 10.0.100.1 ]
rc=0
out=$("$DROVER" vm ping n1 10.0.100.1 --count 2) || rc=$?
dv_log "$out"
check "vm ping of the gateway from inside the guest exits 0" [ "$rc" = 0 ]
check "... with no loss" grep -q " 0% loss" <<<"$out"

# Behind the spec's back: the agent API's net-config op (the host's own
# credential), as a stale configuration would be.
url=$(dv_json .url host show host1)
id=$(dv_json .id vm show n1)
cred=$(cat "$DV_TMP/agent-host1/credential")
curl -sf -H "Authorization: Bearer $cred" -d "{\"nics\":[{\"mac\":\"$mac\",\"ip\":\"10.0.100.31\",\"prefix\":24,\"gateway\":\"10.0.100.1\"}]}" \
        "$url/agent/v1/vms/$id/tools/net-config" >/dev/null
check "the guest now has 10.0.100.31" [ "$(addr)" = 10.0.100.31/24 ]
kill -TERM "$DV_AGENT_PID"
wait_until 20 "agent gone" bash -c "! kill -0 $DV_AGENT_PID 2>/dev/null"
start_agent
addr_is() { [ "$(addr)" = "$1" ]; }
wait_until 30 "spec address back" addr_is 10.0.100.21/24
check "on Tools' hello to the new agent, the spec's address is back" addr_is 10.0.100.21/24
check "... and the gateway answers the guest" "$DROVER" vm ping n1 10.0.100.1 --count 1
"$DROVER" vm stop n1 --force >/dev/null
dv_finish
