#!/usr/bin/env bash
# tests/integration/lab-fabric.sh: the lab's network fabric, BMCs and cleanup,
# without Drover daemons or VMs.
#
# Builds `drover-lab up --no-daemons --hosts 3 --tors 2`, gives each host an
# OVS bridge dvs0 (netdev datapath) with the uplink as a trunk, and stands in
# for VMs with small namespaces whose veth is an access port on dvs0:
#
#   vm1 h1 VLAN 100 10.0.100.11    vm5 h1 VLAN 200 10.0.200.15
#   vm2 h1 VLAN 100 10.0.100.12    vm6 h2 VLAN 200 10.0.200.16
#   vm3 h2 VLAN 100 10.0.100.13    vm7 h2 VLAN 200 10.0.100.17 (VLAN 100's subnet)
#   vm4 h3 VLAN 100 10.0.100.14    (h3 is behind tor2)
#   gateways: VLAN 100 10.0.100.1/24, VLAN 200 10.0.200.1/24 on every TOR
#
# Prints PASS/FAIL per assertion; exits 0 only if all pass. Root only.
# Refuses to run while another lab is up (its 'down' would remove that lab).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=${DROVER_LAB:-$here/../../lab/drover-lab}
S=${DROVER_LAB_TEST_STATE:-/var/tmp/drover-lab-test-fabric}
fails=0 passes=0

lab() { "$LAB" --state-dir "$S" "$@"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
wait_until() {  # SECONDS CMD...
        local deadline=$(( $(now_ms) + $1 * 1000 )); shift
        until "$@"; do
                [ "$(now_ms)" -lt "$deadline" ] || return 1
                sleep 0.1
        done
}
ping1() {      # NS ADDR (NS "" = the root namespace)
        if [ -n "$1" ]; then ip netns exec "$1" busybox ping -q -c 1 -W 1 "$2" >/dev/null 2>&1
        else busybox ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; fi
}
noping2() { ! ping1 "$1" "$2" && ! ping1 "$1" "$2"; }  # two misses in a row

# expect_ping NAME NS ADDR / expect_noping NAME NS ADDR: wait (bounded) for the
# state, so a flow cached just before a change cannot fool the check.
expect_ping()   { if wait_until 10 ping1 "$2" "$3"; then pass "$1"; else fail "$1"; fi; }
expect_noping() { if wait_until 6 noping2 "$2" "$3"; then pass "$1"; else fail "$1"; fi; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi; }

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        if [ -f "$S/lab.env" ] || ip netns list 2>/dev/null | grep -q '^drvlab-'; then
                lab down >/dev/null 2>&1 || echo "cleanup: down failed"
        fi
        exit "$rc"
}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v busybox >/dev/null || { echo "SKIP: needs busybox (ping)"; exit 77; }
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
        exit 77
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
if ! lab up --no-daemons --hosts 3 --tors 2 >/dev/null; then
        fail "lab up"
        exit 1
fi
echo "info: up (3 hosts, 2 TORs, no daemons) took $(( $(now_ms) - t0 )) ms"
pass "lab up --no-daemons --hosts 3 --tors 2"

# The lab's own processes, to check that 'down' stops them all.
lab_pids=$(cat "$S"/*/ovs/*.pid "$S"/bmc/*/ipmi_sim.pid 2>/dev/null | tr '\n' ' ')

vsctl() { ovs-vsctl --db="unix:$S/h$1/ovs/db.sock" --timeout=20 "${@:2}"; }

# A DVS stand-in on each host: bridge dvs0, uplink as a trunk.
for n in 1 2 3; do
        vsctl "$n" add-br dvs0 -- set bridge dvs0 datapath_type=netdev \
                -- add-port dvs0 "up-h$n" vlan_mode=trunk || fail "dvs0 on h$n"
done

# mkvm NAME HOST VLAN IP/PREFIX GW
mkvm() {
        local name=$1 n=$2 vlan=$3 cidr=$4 gw=$5 ns=drvlab-$1
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip link add name eth0 netns "$ns" type veth peer name "$name" netns "drvlab-h$n"
        ip -n "$ns" addr add "$cidr" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$gw"
        ip -n "drvlab-h$n" link set "$name" up
        vsctl "$n" add-port dvs0 "$name" tag="$vlan"
}
mkvm vm1 1 100 10.0.100.11/24 10.0.100.1
mkvm vm2 1 100 10.0.100.12/24 10.0.100.1
mkvm vm3 2 100 10.0.100.13/24 10.0.100.1
mkvm vm4 3 100 10.0.100.14/24 10.0.100.1
mkvm vm5 1 200 10.0.200.15/24 10.0.200.1
mkvm vm6 2 200 10.0.200.16/24 10.0.200.1
mkvm vm7 2 200 10.0.100.17/24 10.0.100.1
check "gateway add 100" lab gateway add 100 10.0.100.1/24
check "gateway add 200" lab gateway add 200 10.0.200.1/24

ns() { echo "drvlab-$1"; }

# --- management network ------------------------------------------------------------
for n in 1 2 3; do
        expect_ping "mgmt: root reaches h$n at 10.77.0.$((10 + n))" "" "10.77.0.$((10 + n))"
done
check "mgmt: h1 reaches the manager address 10.77.0.1" ip netns exec drvlab-h1 busybox ping -c 1 -W 2 10.77.0.1
check "mgmt: h1 reaches h3 (different TOR, same management network)" ip netns exec drvlab-h1 busybox ping -c 1 -W 2 10.77.0.13

# --- VLANs ---------------------------------------------------------------------------
expect_ping   "VLAN 100: vm1 -> vm2 (same host)" "$(ns vm1)" 10.0.100.12
expect_ping   "VLAN 100: vm1 -> vm3 (h1 -> h2 through tor1)" "$(ns vm1)" 10.0.100.13
expect_ping   "VLAN 200: vm5 -> vm6 (h1 -> h2 through tor1)" "$(ns vm5)" 10.0.200.16
expect_ping   "gateway: vm1 -> 10.0.100.1" "$(ns vm1)" 10.0.100.1
expect_ping   "gateway: vm3 -> 10.0.100.1" "$(ns vm3)" 10.0.100.1
expect_ping   "gateway: vm5 -> 10.0.200.1" "$(ns vm5)" 10.0.200.1
expect_ping   "gateway: vm4 -> 10.0.100.1 (its own TOR, tor2)" "$(ns vm4)" 10.0.100.1
expect_noping "isolation: vm1 (VLAN 100) -/-> vm5 (VLAN 200), TOR does not route" "$(ns vm1)" 10.0.200.15
expect_noping "isolation: vm1 (VLAN 100) -/-> vm7 (VLAN 200, same subnet)" "$(ns vm1)" 10.0.100.17
expect_noping "isolation: vm1 -/-> VLAN 200's gateway 10.0.200.1" "$(ns vm1)" 10.0.200.1

# --- allowed VLANs on the TOR port --------------------------------------------------------
check "vlan h2 100 deny" lab vlan h2 100 deny
check "vlan h2 100 status says denied" bash -c "[ \"\$('$LAB' --state-dir '$S' vlan h2 100 status)\" = denied ]"
expect_noping "deny 100 on h2: vm1 -/-> vm3" "$(ns vm1)" 10.0.100.13
expect_ping   "deny 100 on h2: vm1 -> vm2 still (same host)" "$(ns vm1)" 10.0.100.12
expect_ping   "deny 100 on h2: vm5 -> vm6 still (VLAN 200)" "$(ns vm5)" 10.0.200.16
check "vlan h2 100 allow" lab vlan h2 100 allow
expect_ping   "allow 100 on h2: vm1 -> vm3 again" "$(ns vm1)" 10.0.100.13
check "vlan h2 all deny (empty allowed list)" lab vlan h2 all deny
check "an empty list is 'none' in OVS too (placeholder VLAN 4095)" \
        bash -c "[ \"\$(ovs-vsctl --db=unix:$S/tor1/ovs/db.sock get port t-h2 trunks)\" = '[4095]' ]"
expect_noping "no VLANs on h2: vm5 -/-> vm6" "$(ns vm5)" 10.0.200.16
expect_noping "no VLANs on h2: vm1 -/-> vm3" "$(ns vm1)" 10.0.100.13
check "vlan h2 100,200 allow" lab vlan h2 100,200 allow
expect_ping   "allow 100,200 on h2: vm1 -> vm3" "$(ns vm1)" 10.0.100.13
expect_ping   "allow 100,200 on h2: vm5 -> vm6" "$(ns vm5)" 10.0.200.16

# --- two TORs -------------------------------------------------------------------------------
expect_noping "TORs split: vm4 (h3, tor2) -/-> vm1 (h1, tor1)" "$(ns vm4)" 10.0.100.11
check "tor connect" lab tor connect
expect_ping   "TORs connected: vm4 -> vm1" "$(ns vm4)" 10.0.100.11
expect_ping   "TORs connected: vm4 -> gateway" "$(ns vm4)" 10.0.100.1
expect_noping "TORs connected: vm4 (VLAN 100) -/-> vm6 (VLAN 200)" "$(ns vm4)" 10.0.200.16
check "tor split" lab tor split
expect_noping "TORs split again: vm4 -/-> vm1" "$(ns vm4)" 10.0.100.11
expect_ping   "TORs split again: vm4 -> its gateway on tor2" "$(ns vm4)" 10.0.100.1

# --- routing on the TOR --------------------------------------------------------------------
check "route on" lab route on
expect_ping   "route on: vm1 -> vm5 through the gateways" "$(ns vm1)" 10.0.200.15
check "route off" lab route off
expect_noping "route off: vm1 -/-> vm5" "$(ns vm1)" 10.0.200.15

# --- link faults ------------------------------------------------------------------------------
check "link h2 uplink down" lab link h2 uplink down
expect_noping "uplink of h2 down: vm1 -/-> vm3" "$(ns vm1)" 10.0.100.13
check "link h2 uplink up" lab link h2 uplink up
expect_ping   "uplink of h2 up: vm1 -> vm3" "$(ns vm1)" 10.0.100.13
check "link h2 mgmt down" lab link h2 mgmt down
expect_noping "mgmt of h2 down: root -/-> 10.77.0.12" "" 10.77.0.12
check "link h2 mgmt up" lab link h2 mgmt up
expect_ping   "mgmt of h2 up: root -> 10.77.0.12" "" 10.77.0.12

# --- BMCs -----------------------------------------------------------------------------------------
pw=$(. "$S/lab.env"; echo "$BMC_PASS")
ipmi() { ipmitool -I lanplus -C 3 -H "10.77.0.$((100 + $1))" -p 623 -U admin -P "$pw" chassis power "$2" 2>&1; }
for n in 1 2 3; do
        check "BMC h$n: chassis power status answers 'on'" bash -c "ipmitool -I lanplus -C 3 -H 10.77.0.$((100 + n)) -p 623 -U admin -P '$pw' chassis power status | grep -qx 'Chassis Power is on'"
done
check "BMC rejects a wrong password" bash -c "! ipmitool -I lanplus -C 3 -N 1 -R 1 -H 10.77.0.101 -p 623 -U admin -P wrong chassis power status"
h2_ovs=$(cat "$S/h2/ovs/ovs-vswitchd.pid")
out=$(ipmi 2 off); check "ipmitool chassis power off h2 ($out)" [ -n "$out" ]
check "power off h2: its ovs-vswitchd is gone" bash -c "[ ! -d /proc/$h2_ovs ] || grep -q '^State:.*Z' /proc/$h2_ovs/status"
check "power off h2: BMC says off" bash -c "ipmitool -I lanplus -C 3 -H 10.77.0.102 -p 623 -U admin -P '$pw' chassis power status | grep -qx 'Chassis Power is off'"
check "power off h2: lab power status says off" bash -c "[ \"\$('$LAB' --state-dir '$S' power h2 status)\" = off ]"
expect_noping "power off h2: vm1 -/-> vm3" "$(ns vm1)" 10.0.100.13
expect_noping "power off h2: root -/-> 10.77.0.12" "" 10.77.0.12
check "power on h2 (drover-lab power, through the BMC)" lab power h2 on
check "power on h2: ovs-vswitchd runs again" bash -c "kill -0 \$(cat $S/h2/ovs/ovs-vswitchd.pid)"
expect_ping   "power on h2: root -> 10.77.0.12" "" 10.77.0.12
expect_ping   "power on h2: dvs0 comes back from the OVS db, vm1 -> vm3" "$(ns vm1)" 10.0.100.13

# --- status -----------------------------------------------------------------------------------------
check "status -o json is one JSON document" bash -c "'$LAB' --state-dir '$S' status -o json | jq -e '(.hosts | length) == 3 and .hosts[2].uplink.tor == \"tor2\"' >/dev/null"
check "env prints DROVER_URL" bash -c "'$LAB' --state-dir '$S' env | grep -q 'DROVER_URL=http://10.77.0.1:7080'"

# --- daemon logs ------------------------------------------------------------------------------------
# Injected faults explain some warnings (a port whose cable is pulled, a
# host powered off mid-flight); anything else fails the test.
expected='(on|from) (t-h2|up-h2): Network is down'
unexpected=$(grep -hE '\|(WARN|ERR|EMER)\|' "$S"/*/ovs/*.log 2>/dev/null | grep -vE "$expected")
grep -hE '\|(WARN|ERR|EMER)\|' "$S"/*/ovs/*.log 2>/dev/null | sed 's/^/info: log: /' | head -n 20
check "no unexpected WARN/ERR in OVS logs" [ -z "$unexpected" ]
[ -z "$unexpected" ] || echo "$unexpected" | head -n 20 | sed 's/^/  /'

# --- down -----------------------------------------------------------------------------------------
lab_pids="$lab_pids $(cat "$S"/*/ovs/*.pid 2>/dev/null | tr '\n' ' ')"
t0=$(now_ms)
check "lab down" lab down
echo "info: down took $(( $(now_ms) - t0 )) ms"
check "down: no drvlab- namespace left" bash -c "! ip netns list 2>/dev/null | grep -q '^drvlab-'"
check "down: no drvlab link left in the root namespace" bash -c "! ip -o link show | grep -q ': drvlab'"
alive=""
for p in $lab_pids; do [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && alive="$alive $p"; done
check "down: no lab OVS/BMC process left (${alive:-none})" [ -z "$alive" ]
leftover=""
for f in /proc/[0-9]*; do
        c=$(tr '\0' ' ' 2>/dev/null < "$f/cmdline") || continue
        [[ $c == *"$S/"* ]] && leftover="$leftover ${f#/proc/}"
done
check "down: no process mentions the state dir (${leftover:-none})" [ -z "$leftover" ]
check "down: state dir removed" [ ! -e "$S" ]
check "down again is a no-op" lab down

echo "lab-fabric: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
