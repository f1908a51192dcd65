#!/usr/bin/env bash
# Issue 3's DVS acceptance in a 3-host lab with two TORs, as far as it can be
# seen without pinging from inside guests (that needs Tools: see the marked
# block below, which runs once `drover vm ping` exists and Tools run).
#
# The seed's topology, through the CLI (`drover lab ...` runs lab/drover-lab):
#   vm1 host1 pg100  (VLAN 100) 10.0.100.11     host1, host2 on tor1
#   vm2 host1 pg100b (VLAN 100) 10.0.100.12     host3 on tor2 (not connected)
#   vm3 host2 pg100  (VLAN 100) 10.0.100.13
#   vm4 host3 pg100  (VLAN 100) 10.0.100.14
#   vm5 host1 pg200  (VLAN 200) 10.0.200.15
#   vm6 host2 pg200x (VLAN 200) 10.0.100.16   (VLAN 100's subnet: only the VLAN keeps it out)
# Port groups with --gateway get their gateway on the TORs from `drover lab
# sync`; pings go from a TOR's namespace, i.e. from the gateway.
. "$(dirname "$0")/lib.sh"

contains() { [[ "$1" == *"$2"* ]]; }

ping1() { ip netns exec "drvlab-$1" busybox ping -q -c 1 -W 1 "$2" >/dev/null 2>&1; }
noping2() { ! ping1 "$1" "$2" && ! ping1 "$1" "$2"; }        # two misses in a row
reach() { wait_until "${3:-30}" "$1 reaches $2" ping1 "$1" "$2"; }
unreach() { wait_until "${3:-10}" "$1 does not reach $2" noping2 "$1" "$2"; }

t0=$(date +%s)
dv_lab_up 3 2
dv_log "lab up took $(( $(date +%s) - t0 )) s"
check "hosts report their lab uplink" [ "$(dv_json .uplink host show host2)" = up-h2 ]

# --- the DVS ------------------------------------------------------------------
"$DROVER" dvs create dc >/dev/null
for n in 1 2 3; do check "host$n joins the dvs (default uplink)" "$DROVER" dvs add-host dc "host$n"; done
vsctl() { ovs-vsctl --db="unix:$S/h$1/ovs/db.sock" --timeout=10 "${@:2}"; }
check "host3's bridge has up-h3 as a trunk" \
        [ "$(vsctl 3 port-to-br up-h3):$(vsctl 3 get Port up-h3 vlan_mode)" = dvs-dc:trunk ]
"$DROVER" portgroup create pg100 --dvs dc --vlan 100 --subnet 10.0.100.0/24 --gateway 10.0.100.1 >/dev/null
"$DROVER" portgroup create pg100b --dvs dc --vlan 100 >/dev/null
"$DROVER" portgroup create pg200 --dvs dc --vlan 200 --subnet 10.0.200.0/24 --gateway 10.0.200.1 >/dev/null
"$DROVER" portgroup create pg200x --dvs dc --vlan 200 >/dev/null
check "lab sync puts the port groups' gateways on the TORs" lab sync
check "the TORs answer 10.0.100.1 in VLAN 100 and 10.0.200.1 in VLAN 200" \
        [ "$(lab gateway list | sort | paste -sd,)" = "100 10.0.100.1/24,200 10.0.200.1/24" ]
out=$(lab sync)
check "sync again changes nothing" eval '! contains "$out" removed && ! contains "$out" "on VLAN"'

mkvm() {  # NAME HOST NIC
        "$DROVER" vm create "$1" --cpus 1 --memory 160 --host "$2" --nic "$3" >/dev/null
}
mkvm vm1 host1 pg100:10.0.100.11/24
mkvm vm2 host1 pg100b:10.0.100.12/24:10.0.100.1
mkvm vm3 host2 pg100:10.0.100.13/24
mkvm vm4 host3 pg100:10.0.100.14/24
mkvm vm5 host1 pg200:10.0.200.15/24
mkvm vm6 host2 pg200x:10.0.100.16/24
for v in vm1 vm2 vm3 vm4 vm5 vm6; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in vm1 vm2 vm3 vm4 vm5 vm6; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v boot" dv_file_has "$(dv_json .console_log vm show "$v")" DROVER-GUEST-READY
done

# --- reachability through the TOR ----------------------------------------------
check "tor1's gateway reaches vm1 (host1, VLAN 100)" reach tor1 10.0.100.11
check "tor1's gateway reaches vm2 (host1, second port group, VLAN 100)" reach tor1 10.0.100.12
check "tor1's gateway reaches vm3 (host2, across the TOR)" reach tor1 10.0.100.13
check "tor1's VLAN 200 gateway reaches vm5" reach tor1 10.0.200.15
check "vm6 (VLAN 200, VLAN 100's subnet) is not reachable from VLAN 100" unreach tor1 10.0.100.16
check "tor2's own gateway reaches vm4 (host3)" reach tor2 10.0.100.14
check "tor1 does not reach vm4 behind tor2 (TORs not interconnected)" unreach tor1 10.0.100.14

# --- a VLAN denied on host2's TOR port -----------------------------------------
lab vlan h2 100 deny >/dev/null
check "VLAN 100 denied on host2's port: vm3 is cut off its gateway" unreach tor1 10.0.100.13
check "... while vm1 on host1 still answers" reach tor1 10.0.100.11 10
lab vlan h2 100 allow >/dev/null
check "VLAN 100 allowed again: vm3 answers" reach tor1 10.0.100.13

# --- TORs interconnected ----------------------------------------------------------
lab tor connect >/dev/null
check "tor connect: tor1's gateway reaches vm4 on host3" reach tor1 10.0.100.14
check "... and still vm1" reach tor1 10.0.100.11 10

# --- retag across hosts -------------------------------------------------------------
out=$("$DROVER" portgroup set pg200x --vlan 100)
check "retagging pg200x to VLAN 100 retags vm6's port on host2" contains "$out" "1 running ports retagged"
check "vm6 answers in VLAN 100" reach tor1 10.0.100.16 20
"$DROVER" portgroup set pg200x --vlan 200 >/dev/null
check "back on VLAN 200, vm6 does not" unreach tor1 10.0.100.16

# ---------------------------------------------------------------------------------
# IN-GUEST PINGS (Tools). Issue 3 wants VM-to-VM pings from inside guests:
# vm1<->vm2 and vm1<->vm3 ping, vm1<->vm5 does not; VLAN 100 denied on host2:
# vm1->vm3 fails, vm1->vm2 works; vm1->vm4 fails until `lab tor connect`.
# They go through Tools (`drover vm ping`), so every guest's Tools must run.
# ---------------------------------------------------------------------------------
for v in vm1 vm2 vm3 vm4 vm5; do
        check "$v's Tools run" wait_until 60 "$v tools running" \
                bash -c "[ \"\$('$DROVER' -o json vm show $v | jq -r .tools.state)\" = running ]"
done
vmping() { "$DROVER" vm ping "$1" "$2" --count 1 >/dev/null 2>&1; }
vmnoping() { ! vmping "$1" "$2" && ! vmping "$1" "$2"; }
lab tor split >/dev/null
check "guest: vm1 pings vm2 (same VLAN, other port group)" wait_until 20 "vm1->vm2" vmping vm1 10.0.100.12
check "guest: vm2 pings vm1" wait_until 20 "vm2->vm1" vmping vm2 10.0.100.11
check "guest: vm1 pings vm3 (other host)" wait_until 20 "vm1->vm3" vmping vm1 10.0.100.13
check "guest: vm3 pings vm1" wait_until 20 "vm3->vm1" vmping vm3 10.0.100.11
for pair in vm1:10.0.100.1 vm2:10.0.100.1 vm3:10.0.100.1 vm4:10.0.100.1 vm5:10.0.200.1; do
        check "guest: ${pair%%:*} pings its gateway ${pair#*:}" wait_until 20 "$pair" vmping "${pair%%:*}" "${pair#*:}"
done
check "guest: vm1 does not reach vm5 (VLAN 200)" vmnoping vm1 10.0.200.15
check "guest: vm1 does not reach vm4 (behind tor2)" vmnoping vm1 10.0.100.14
lab vlan h2 100 deny >/dev/null
check "guest: VLAN 100 denied on host2: vm1 does not reach vm3" wait_until 10 "vm1-/->vm3" vmnoping vm1 10.0.100.13
check "guest: ... vm1 still pings vm2" vmping vm1 10.0.100.12
lab vlan h2 100 allow >/dev/null
check "guest: allowed again: vm1 pings vm3" wait_until 20 "vm1->vm3" vmping vm1 10.0.100.13
lab tor connect >/dev/null
check "guest: TORs connected: vm1 pings vm4" wait_until 20 "vm1->vm4" vmping vm1 10.0.100.14

# --- refusals, and the end -----------------------------------------------------------
out=$("$DROVER" dvs remove-host dc host3 2>&1 || true)
check "host3 cannot leave the dvs while vm4 uses it" contains "$out" "vm 'vm4'"
out=$("$DROVER" portgroup delete pg100 2>&1 || true)
check "pg100 cannot go while VMs use it" contains "$out" "used by vm"
for v in vm1 vm2 vm3 vm4 vm5 vm6; do "$DROVER" vm stop "$v" --force --no-wait >/dev/null; done
for v in vm1 vm2 vm3 vm4 vm5 vm6; do wait_until 60 "$v stopped" dv_vm_state_is "$v" stopped; done
for v in vm1 vm2 vm3 vm4 vm5 vm6; do "$DROVER" vm delete "$v" >/dev/null; done
for p in pg100 pg100b pg200 pg200x; do "$DROVER" portgroup delete "$p" >/dev/null; done
check "lab sync removes gateways no port group asks for" lab sync
check "no gateways left" [ -z "$(lab gateway list)" ]
check "the dvs goes with its bridges on all hosts" "$DROVER" dvs delete dc
check "no dvs bridge left on host2" bash -c "! ovs-vsctl --db=unix:$S/h2/ovs/db.sock --timeout=10 br-exists dvs-dc"
dv_finish
