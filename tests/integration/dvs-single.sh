#!/usr/bin/env bash
# The DVS on one host, without the lab. The host is a network namespace of
# our own with a private Open vSwitch (ovsdb-server + ovs-vswitchd
# --disable-system, run directory under the test's temp dir) and the agent;
# the manager runs in the root namespace and reaches the agent over a veth.
# No bridge is ever made in the root namespace.
#
# Inside the namespace a second OVS bridge "tor" stands in for the TOR
# switch: the DVS's uplink is a veth into a trunk port of it, and an internal
# port gw100 (VLAN 100, 10.0.100.1/24) is the port group's gateway. Pings
# go from gw100 (the namespace) through the TOR trunk and the DVS bridge to
# the guests, whose /init configured their NICs from drover.net=.
#
# VM1 and VM2 are on pg100 (VLAN 100), VM3 on pg200 (VLAN 200) with an
# address in the same subnet: only the VLAN keeps it apart. Retagging pg200
# to 100 makes VM3 answer; back to 200, it stops. Deleting an in-use port
# group or DVS, and removing the host from a DVS its VMs use, are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ovs-host.sh"
contains() { [[ "$1" == *"$2"* ]]; }

ovs_host_up dvs1 231

# --- manager (root namespace) and agent (the host namespace) -----------------
DV_MGR_ADDR=$NET.1 dv_start_manager
DV_AGENT_NETNS=$NS DV_AGENT_ADDR=$NET.2 dv_start_agent host1 \
        --ovs-db "unix:$OVS/db.sock" --uplink up0
check "host reports its default uplink" [ "$(dv_json .uplink host show host1)" = up0 ]

# --- DVS, port groups ----------------------------------------------------------
"$DROVER" dvs create lab >/dev/null
check "dvs add-host realises the bridge" "$DROVER" dvs add-host lab host1
check "bridge dvs-lab exists in the host's OVS" "${VSCTL[@]}" br-exists dvs-lab
check "bridge uses the userspace datapath" \
        [ "$("${VSCTL[@]}" get Bridge dvs-lab datapath_type)" = netdev ]
check "uplink is a trunk port of the bridge" \
        [ "$("${VSCTL[@]}" port-to-br up0):$("${VSCTL[@]}" get Port up0 vlan_mode)" = dvs-lab:trunk ]
check "no bridge in the root namespace" bash -c "! ip link show dvs-lab 2>/dev/null"
check "dvs show lists host1 with up0" \
        [ "$(dv_json '.hosts[0].host + "/" + .hosts[0].uplink' dvs show lab)" = host1/up0 ]
check "add-host again is idempotent" "$DROVER" dvs add-host lab host1 --uplink up0
check "add-host with another uplink is refused" bash -c "! '$DROVER' dvs add-host lab host1 --uplink mg0 2>/dev/null"
"$DROVER" dvs create spare >/dev/null
nsx ip link add up1 type veth peer name tor1
check "a second dvs on another uplink" "$DROVER" dvs add-host spare host1 --uplink up1
"$DROVER" dvs create nic9 >/dev/null
out=$("$DROVER" dvs add-host nic9 host1 --uplink nope9 2>&1 || true)
check "a missing uplink is refused and named" contains "$out" "nope9: no such network interface"

"$DROVER" portgroup create pg100 --dvs lab --vlan 100 --subnet 10.0.100.0/24 --gateway 10.0.100.1 >/dev/null
"$DROVER" portgroup create pg200 --dvs lab --vlan 200 >/dev/null
"$DROVER" portgroup create pgv100 --dvs lab --vlan 100 >/dev/null
check "portgroup show has vlan and gateway" \
        [ "$(dv_json '"\(.vlan) \(.gateway)"' portgroup show pg100)" = "100 10.0.100.1" ]
check "vlan 4095 is a usage error" bash -c "'$DROVER' portgroup create bad --dvs lab --vlan 4095 2>/dev/null; [ \$? = 2 ]"
check "gateway outside the subnet is refused" bash -c "! '$DROVER' portgroup create bad --dvs lab --vlan 5 --subnet 10.9.0.0/24 --gateway 10.8.0.1 2>/dev/null"
check "unknown dvs is refused" bash -c "! '$DROVER' portgroup create bad --dvs nope --vlan 5 2>/dev/null"

# --- VMs -----------------------------------------------------------------------
check "an address outside the port group's subnet is refused" \
        bash -c "! '$DROVER' vm create bad --cpus 1 --memory 128 --nic pg100:10.0.200.5/24 2>/dev/null"
"$DROVER" portgroup create pgfar --dvs spare --vlan 7 >/dev/null
"$DROVER" dvs create island >/dev/null
"$DROVER" portgroup create pgisland --dvs island --vlan 7 >/dev/null
check "no host on the port group's dvs: insufficient-resources naming it" \
        bash -c "'$DROVER' vm create bad --cpus 1 --memory 128 --nic pgisland 2>&1 | grep -q \"dvs 'island'\""
"$DROVER" vm create vm1 --cpus 1 --memory 192 --nic pg100:10.0.100.11/24 >/dev/null
"$DROVER" vm create vm2 --cpus 1 --memory 192 --nic pgv100:10.0.100.12/24:10.0.100.1 >/dev/null
"$DROVER" vm create vm3 --cpus 1 --memory 192 --nic pg200:10.0.100.13/24 >/dev/null
check "vm1's gateway defaults to the port group's" \
        [ "$(dv_json '.nics[0].gateway' vm show vm1)" = 10.0.100.1 ]
macs=$("$DROVER" -o json vm list | jq -r '[.vms[].nics[].mac] | unique | length')
check "three distinct MACs" [ "$macs" = 3 ]
mac1=$(dv_json '.nics[0].mac' vm show vm1)
check "a MAC already in use is refused" bash -c "curl -s -o /dev/null -w '%{http_code}' -H \"Authorization: Bearer \$(cat '$DROVER_TOKEN_FILE')\" -d '{\"name\":\"dup\",\"cpus\":1,\"memory_mib\":64,\"nics\":[{\"portgroup\":\"pg100\",\"mac\":\"$mac1\"}]}' $DROVER_URL/api/v1/vms | grep -qx 409"

for v in vm1 vm2 vm3; do "$DROVER" vm start "$v" >/dev/null; done
for v in vm1 vm2 vm3; do
        wait_until 90 "$v boot" dv_file_has "$(dv_json .console_log vm show "$v")" DROVER-GUEST-READY
done
log1=$(dv_json .console_log vm show vm1)
check "vm1's /init configured its NIC from drover.net" \
        dv_file_has "$log1" "net eth0 $mac1 10.0.100.11/24 gw 10.0.100.1"
tap1=$("${VSCTL[@]}" --bare --columns=name find Interface "external_ids:attached-mac=\"$mac1\"")
check "vm1's tap is an access port on VLAN 100" \
        [ "$("${VSCTL[@]}" get Port "$tap1" tag):$("${VSCTL[@]}" get Port "$tap1" vlan_mode)" = 100:access ]

ping1() { nsx busybox ping -q -c 1 -W 1 "$1" >/dev/null 2>&1; }
noping() { ! ping1 "$1" && ! ping1 "$1"; }   # two misses in a row
check "the gateway reaches vm1 (VLAN 100, across the trunk)" wait_until 30 "ping vm1" ping1 10.0.100.11
check "the gateway reaches vm2 (another port group on VLAN 100)" wait_until 30 "ping vm2" ping1 10.0.100.12
check "vm3 on VLAN 200 does not answer" noping 10.0.100.13

out=$("$DROVER" portgroup set pg200 --vlan 100)
check "portgroup set retags the running port" contains "$out" "1 running ports retagged"
check "vm3 answers once retagged to VLAN 100" wait_until 20 "ping vm3" ping1 10.0.100.13
"$DROVER" portgroup set pg200 --vlan 200 >/dev/null
nsx ip neigh flush dev gw100
check "vm3 is cut off again on VLAN 200" wait_until 10 "vm3 silent" noping 10.0.100.13
check "vm1 still answers" ping1 10.0.100.11

# --- refusals -------------------------------------------------------------------
out=$("$DROVER" portgroup delete pg100 2>&1 || true)
check "deleting an in-use port group is refused (names the vm)" contains "$out" "used by vm 'vm1'"
out=$("$DROVER" dvs delete lab 2>&1 || true)
check "deleting a dvs with port groups is refused" contains "$out" "portgroup"
out=$("$DROVER" dvs remove-host lab host1 2>&1 || true)
check "removing the host from a dvs its vms use is refused" contains "$out" "uses dvs 'lab'"
check "the bridge is still there" "${VSCTL[@]}" br-exists dvs-lab

# --- agent restart: the manager pushes the DVS again ------------------------------
kill -TERM "$DV_AGENT_PID"
wait_until 20 "agent gone" bash -c "! kill -0 $DV_AGENT_PID 2>/dev/null"
"${VSCTL[@]}" del-br dvs-spare
DV_AGENT_NETNS=$NS DV_AGENT_ADDR=$NET.2 dv_start_agent host1 \
        --ovs-db "unix:$OVS/db.sock" --uplink up0
check "a restarted agent gets its bridges back from the manager" \
        wait_until 20 "dvs-spare again" "${VSCTL[@]}" br-exists dvs-spare
check "vm1 kept running and answering" ping1 10.0.100.11

# --- teardown through the API -----------------------------------------------------
for v in vm1 vm2 vm3; do "$DROVER" vm stop "$v" --force >/dev/null; done
check "a stopped VM's port is gone from the bridge" \
        wait_until 10 "port gone" bash -c "! ${VSCTL[*]} port-to-br $tap1 2>/dev/null"
for v in vm1 vm2 vm3; do "$DROVER" vm delete "$v" >/dev/null; done
for p in pg100 pg200 pgv100 pgfar pgisland; do "$DROVER" portgroup delete "$p" >/dev/null; done
check "remove-host takes the bridge off the host" "$DROVER" dvs remove-host spare host1
check "bridge dvs-spare is gone" bash -c "! ${VSCTL[*]} br-exists dvs-spare"
check "dvs delete removes its bridges" "$DROVER" dvs delete lab
check "bridge dvs-lab is gone" bash -c "! ${VSCTL[*]} br-exists dvs-lab"
check "the TOR's bridge was left alone" "${VSCTL[@]}" br-exists tor
check "dvs list has what is left" [ "$("$DROVER" -o json dvs list | jq -r '[.dvs[].name] | join(",")')" = "island,nic9,spare" ]
dv_finish
