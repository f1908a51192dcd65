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

for t in ovsdb-server ovs-vswitchd ovs-vsctl ovsdb-tool busybox curl; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done

NS=tnet-$$
RV=tnetr$$
OVS=$DV_TMP/ovs
NET=10.232.$((RANDOM % 200 + 20))
VSCTL=(ovs-vsctl --db="unix:$OVS/db.sock" --timeout=10)

cleanup_net() {
        local p
        for p in "$OVS/ovs-vswitchd.pid" "$OVS/ovsdb-server.pid"; do
                [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null
        done
        ip netns del "$NS" 2>/dev/null
        ip link del "$RV" 2>/dev/null
        return 0
}
DV_CLEANUP_HOOKS+=(cleanup_net)
nsx() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
nsx ip link set lo up
ip link add "$RV" type veth peer name mg0 netns "$NS"
ip addr add "$NET.1/30" dev "$RV"
ip link set "$RV" up
nsx ip addr add "$NET.2/30" dev mg0
nsx ip link set mg0 up
mkdir -p "$OVS"
ovsdb-tool create "$OVS/conf.db" /usr/share/openvswitch/vswitch.ovsschema
export OVS_RUNDIR=$OVS OVS_DBDIR=$OVS OVS_LOGDIR=$OVS OVS_SYSCONFDIR=$OVS
nsx ovsdb-server "$OVS/conf.db" --remote="punix:$OVS/db.sock" --pidfile="$OVS/ovsdb-server.pid" \
        --unixctl="$OVS/ovsdb-server.ctl" --log-file="$OVS/ovsdb-server.log" -vconsole:off \
        -vsyslog:off --no-chdir --detach
wait_until 10 "ovsdb-server" "${VSCTL[@]}" --no-wait show
"${VSCTL[@]}" --no-wait init
nsx ovs-vswitchd "unix:$OVS/db.sock" --disable-system --pidfile="$OVS/ovs-vswitchd.pid" \
        --unixctl="$OVS/ovs-vswitchd.ctl" --log-file="$OVS/ovs-vswitchd.log" -vconsole:off \
        -vsyslog:off --no-chdir --detach
unset OVS_RUNDIR OVS_DBDIR OVS_LOGDIR OVS_SYSCONFDIR
nsx ip link add up0 type veth peer name tor0
nsx ip link set tor0 up
"${VSCTL[@]}" -- add-br tor -- set Bridge tor datapath_type=netdev \
        -- add-port tor tor0 -- set Port tor0 vlan_mode=trunk \
        -- add-port tor gw100 tag=100 -- set Interface gw100 type=internal
wait_until 10 "gateway port" nsx ip link show gw100
nsx ip addr add 10.0.100.1/24 dev gw100
nsx ip link set gw100 up
nsx ethtool -K up0 tx off >/dev/null 2>&1 || true
nsx ethtool -K tor0 tx off >/dev/null 2>&1 || true

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
