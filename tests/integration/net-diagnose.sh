#!/usr/bin/env bash
# Issue 5's acceptance: `drover net diagnose` and `drover dvs health` in a
# 4-host lab with two TORs. Each fault is injected in turn, diagnosed with
# the right conclusion and nothing else blamed, then repaired.
#
#   host1, host2 on tor1; host3, host4 on tor2 (TORs connected unless split)
#   dvs dc on all four; pg10 (VLAN 10, 10.10.0.0/24, gateway .1),
#   pg20 (VLAN 20, 10.20.0.0/24, gateway .1), pg21 (VLAN 21, no subnet)
#   va host1 pg10 10.10.0.11/24     vb host2 pg10 10.10.0.12/24
#   vc host3 pg10 10.10.0.13/24     vd host2 pg21 10.10.0.14/24 (other VLAN)
#   ve host2 pg10 10.10.0.140/25 (wrong prefix, so no gateway)
#   vf host2 pg10 10.10.0.16/24, guest firewall drops ICMP
#   vg host2 pg10 10.10.0.17/24, Tools not started
#   vh host1 pg10 10.10.0.18/24, never started
. "$(dirname "$0")/lib.sh"

dv_lab_up 4 2
lab tor connect >/dev/null

"$DROVER" dvs create dc >/dev/null
for n in 1 2 3 4; do "$DROVER" dvs add-host dc "host$n" >/dev/null; done
"$DROVER" portgroup create pg10 --dvs dc --vlan 10 --subnet 10.10.0.0/24 --gateway 10.10.0.1 >/dev/null
"$DROVER" portgroup create pg20 --dvs dc --vlan 20 --subnet 10.20.0.0/24 --gateway 10.20.0.1 >/dev/null
"$DROVER" portgroup create pg21 --dvs dc --vlan 21 >/dev/null
lab sync >/dev/null

mkvm() {  # NAME HOST NIC [KERNEL-ARGS]
        "$DROVER" vm create "$1" --cpus 1 --memory 128 --host "$2" --nic "$3" \
                ${4:+--kernel-args "$4"} >/dev/null
}
mkvm va host1 pg10:10.10.0.11/24
mkvm vb host2 pg10:10.10.0.12/24
mkvm vc host3 pg10:10.10.0.13/24
mkvm vd host2 pg21:10.10.0.14/24
mkvm ve host2 pg10:10.10.0.140/25
mkvm vf host2 pg10:10.10.0.16/24 drover.firewall=drop-icmp
mkvm vg host2 pg10:10.10.0.17/24 drover.tools=off
mkvm vh host1 pg10:10.10.0.18/24
for v in va vb vc vd ve vf vg; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in va vb vc vd ve vf vg; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v boot" dv_file_has "$(dv_json .console_log vm show "$v")" DROVER-GUEST-READY
done
for v in va vb vc vd ve vf; do wait_until 60 "$v Tools" dv_tools_state_is "$v" running; done

# diag VM1 VM2: runs the diagnosis; $out is its JSON, $rc its exit status.
diag() { rc=0; out=$("$DROVER" -o json net diagnose "$1" "$2" 2>"$DV_TMP/diag.err") || rc=$?; }
faults() { jq -r '[.faults[].fault] | join(",")' <<<"$out"; }
fault_on() { jq -r ".faults[0].${1}" <<<"$out"; }
failed() { jq -r '[.checks[] | select(.status == "fail") | .id] | unique | join(",")' <<<"$out"; }
show() { dv_log "diagnosis: rc=$rc faults=$(faults) failed=$(failed)"; }

# --- the healthy case ----------------------------------------------------------
diag va vb; show
check "healthy: exit 0" [ "$rc" = 0 ]
check "healthy: no fault, they can talk" \
        [ "$(jq -r '"\(.conclusion.fault) \(.can_talk)"' <<<"$out")" = "none true" ]
check "healthy: no check fails" [ -z "$(failed)" ]
check "healthy: the peers answered each other" \
        [ "$(jq -r '[.checks[] | select(.id == "probe.peer") | .status] | join(",")' <<<"$out")" = pass,pass ]
text=$("$DROVER" net diagnose va vb)
check "the text output ends with the conclusion" \
        grep -q "^conclusion: vm va and vm vb can talk" <<<"$text"
check "dvs health: healthy" "$DROVER" dvs health dc

# --- VLAN 10 removed from host2's TOR port ---------------------------------------
lab vlan h2 10 deny >/dev/null
diag va vb; show
check "VLAN not trunked: exit 1" [ "$rc" = 1 ]
check "VLAN not trunked: the only fault is vlan-not-trunked" [ "$(faults)" = vlan-not-trunked ]
check "... on host2" [ "$(fault_on host)" = host2 ]
check "... and no guest-side or switch check fails" \
        [ -z "$(jq -r '[.checks[] | select(.status == "fail") | .id | select(startswith("guest.") or startswith("ip.") or startswith("vlan.") or startswith("dvs.") or startswith("tools."))] | join(",")' <<<"$out")" ]
hrc=0; hout=$("$DROVER" -o json dvs health dc) || hrc=$?
check "dvs health finds it too (exit 1)" [ "$hrc" = 1 ]
check "dvs health: host2 VLAN 10 not carried, and nothing else" \
        [ "$(jq -r '[.problems[] | "\(.host)/\(.vlan)/\(.status)"] | join(",")' <<<"$hout")" = host2/10/not-carried ]
check "dvs health: host2 VLAN 20 is fine" \
        [ "$(jq -r '.hosts[] | select(.host == "host2") | .vlans[] | select(.vlan == 20) | .status' <<<"$hout")" = ok ]
check "an alarm is raised for it" \
        bash -c "'$DROVER' -o json alarm list | jq -e '[.alarms[] | select(.kind == \"dvs.health\")] | length == 1' >/dev/null"
check "an event records the change" \
        bash -c "'$DROVER' -o json event list | jq -e '[.events[] | select(.kind == \"dvs.health-changed\")] | length >= 1' >/dev/null"
lab vlan h2 10 allow >/dev/null
check "allowed again: dvs health is clean" "$DROVER" dvs health dc
check "... and the alarm is gone" \
        bash -c "'$DROVER' -o json alarm list | jq -e '[.alarms[] | select(.kind == \"dvs.health\")] | length == 0' >/dev/null"

# --- host2's uplink down ----------------------------------------------------------
lab link h2 uplink down >/dev/null
diag va vb; show
check "uplink down: the only fault is uplink-down, on host2" \
        [ "$(faults)/$(fault_on host)" = uplink-down/host2 ]
lab link h2 uplink up >/dev/null

# --- VMs behind two TORs that are not interconnected --------------------------------
lab tor split >/dev/null
diag va vc; show
check "TORs split: the only fault is networks-not-interconnected" \
        [ "$(faults)" = networks-not-interconnected ]
check "... while both VMs reach their gateways" \
        [ "$(jq -r '[.checks[] | select(.id == "probe.gateway") | .status] | join(",")' <<<"$out")" = pass,pass ]
lab tor connect >/dev/null
diag va vc; show
check "TORs connected again: va and vc can talk" [ "$rc" = 0 ]

# --- guest and switch faults ---------------------------------------------------------
diag va vd; show
check "different VLANs: the only fault is different-vlans" [ "$(faults)" = different-vlans ]
diag va ve; show
check "wrong prefix, no gateway: the only fault is not-same-subnet, on ve" \
        [ "$(faults)/$(fault_on vm)" = not-same-subnet/ve ]
diag va vf; show
check "guest firewall: the only fault is guest-firewall, on vf" \
        [ "$(faults)/$(fault_on vm)" = guest-firewall/vf ]
diag va vg; show
check "Tools not running: the only fault is tools-not-running, on vg" \
        [ "$(faults)/$(fault_on vm)" = tools-not-running/vg ]

# --- an address used twice on VLAN 10 -----------------------------------------------------
mkvm vi host1 pg10:10.10.0.12/24
"$DROVER" vm start vi >/dev/null
diag va vb; show
check "vb's address also on running vi: the only fault is address-conflict" \
        [ "$(faults)" = address-conflict ]
check "... naming vi" [ "$(jq -r '.faults[0].summary' <<<"$out" | grep -c "vm vi")" = 1 ]
"$DROVER" vm stop vi --force >/dev/null

# --- the periodic health check ----------------------------------------------------------
health_alarms() { "$DROVER" -o json alarm list | jq -r '[.alarms[] | select(.kind == "dvs.health") | .message] | join(";")'; }
h3_alarm() { [[ "$(health_alarms)" == *host3*20* ]]; }
no_alarm() { [ -z "$(health_alarms)" ]; }
check "a health interval below 10 s is refused" bash -c "! '$DROVER' dvs set dc --health-interval 5 2>/dev/null"
check "the dvs says the check is on demand" bash -c "'$DROVER' dvs show dc | grep -q 'on demand'"
check "dvs set --health-interval 10" "$DROVER" dvs set dc --health-interval 10
lab vlan h3 20 deny >/dev/null
check "the periodic check raises an alarm for host3 VLAN 20 by itself" \
        wait_until 30 "health alarm" h3_alarm
lab vlan h3 20 allow >/dev/null
check "... and clears it once VLAN 20 is allowed again" \
        wait_until 30 "alarm cleared" no_alarm
"$DROVER" dvs set dc --health-interval 0 >/dev/null

# --- VMs that cannot be diagnosed fully ------------------------------------------------
diag va vh; show
check "stopped VM: exit 1, the only fault is vm-not-running on vh" \
        [ "$rc/$(faults)/$(fault_on vm)" = 1/vm-not-running/vh ]
check "... its guest checks are skipped" \
        [ "$(jq -r '[.checks[] | select(.vm == "vh" and (.id | startswith("guest."))) | .status] | unique | join(",")' <<<"$out")" = skip ]
diag va nosuch; show
check "a VM that does not exist: exit 2" [ "$rc" = 2 ]
check "... with a clear error" grep -q "no vm 'nosuch'" "$DV_TMP/diag.err"
diag va va
check "the same VM twice: exit 2" [ "$rc" = 2 ]
rc=0; "$DROVER" net diagnose va 'bad name!' 2>/dev/null || rc=$?
check "a bad name: exit 2" [ "$rc" = 2 ]

dv_finish
