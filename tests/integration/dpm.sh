#!/usr/bin/env bash
# DPM (issue 9) in a 3-host lab, DPM and DRS automatic with a fast cadence.
# Light load (three idle guests, one per host): DPM empties one host (its
# guest live-migrates away), powers it off through its BMC over IPMI (the
# BMC reports power off: `drover lab power hN status`) and marks it standby;
# HA admission control (hosts:1) keeps the other two on. Then load (two
# guests burning CPU, drover.burn=1) pushes the utilisation over the high
# threshold: DPM powers the host on through its BMC, its agent registers
# again, and DRS moves load back onto it.
# Run it under the lab lock: flock /tmp/drover-lab.lock tests/integration/dpm.sh
. "$(dirname "$0")/lib.sh"

dv_lab_up 3

jqjs() { jq -e "$1" <<<"$js" >/dev/null; }
report() { "$DROVER" -o json dpm recommendations default; }

for n in 1 2 3; do
        "$DROVER" vm create i$n --cpus 1 --memory 128 --host host$n >/dev/null
        "$DROVER" vm start i$n --no-wait >/dev/null
done
for n in 1 2 3; do
        wait_until 90 "i$n running" dv_vm_state_is i$n running
        wait_until 180 "i$n tools" dv_tools_state_is i$n running
done

# Thresholds for a lab where every host is the same 2-core machine (each
# reports 2 CPUs): an idle TCG guest is ~15% of one CPU, so three are ~8%
# of three hosts (~10% of two); a burning guest gets ~40-60% of a CPU on
# this saturated machine, so three burners make ~40% of two hosts and
# ~25% of three.
# Three passes in a row (15 s) before acting: the CPU burst of a migration
# under TCG is not load.
"$DROVER" cluster set default --drs automatic --drs-interval 5 --drs-persist 1 \
        --drs-threshold 5 --dpm automatic --dpm-low 12 --dpm-high 25 --dpm-persist 3 >/dev/null
check "cluster show lists the DPM settings" dv_cmd_has "automatic, utilisation 12..25%" \
        "$DROVER" cluster show default

standby_host() {
        local h
        h=$("$DROVER" -o json host list | jq -r '.hosts[] | select(.state=="standby") | .name' | head -1)
        [ -n "$h" ] && echo "$h"
}
powered_off() {
        js=$(report)
        jqjs '.operation == null' && SB=$(standby_host) &&
                [ "$(lab power "${SB#host}" status)" = off ]
}
t0=$(date +%s)
check "light load: DPM empties a host and powers it off through its BMC" \
        wait_until 150 "a host in standby and powered off" powered_off
dv_log "powered off after $(( $(date +%s) - t0 )) s: ${SB:-none}"
dv_log "$("$DROVER" dpm recommendations default)"
SB=${SB:-host3}
N=${SB#host}
check "the BMC of $SB reports power off" [ "$(lab power $N status)" = off ]
check "$SB is in standby" dv_host_state_is "$SB" standby
vms_on() { "$DROVER" -o json vm list | jq -r --arg h "$1" '[.vms[] | select(.host==$h)] | length'; }
check "no VM is left on $SB" [ "$(vms_on "$SB")" = 0 ]
check "every idle guest still runs" bash -c "for n in 1 2 3; do [ \"\$('$DROVER' -o json vm show i\$n | jq -r .state)\" = running ] || exit 1; done"
check "the evacuation was a maintenance task of user dpm" bash -c \
        "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"host.maintenance\" and .user==\"dpm\" and .state==\"succeeded\")] | length >= 1' >/dev/null"
check "events say standby" dv_cmd_has "in standby" "$DROVER" event list --limit 1000
ha_keeps() { js=$(report); jqjs '.hosts_on == 2 and (.skipped | test("HA admission control needs it"))'; }
check "HA admission control keeps the other two hosts on" wait_until 60 "a pass naming HA" ha_keeps
dv_log "$("$DROVER" dpm recommendations default)"
check "HA does not treat the standby host as failed" \
        bash -c "[ \"\$('$DROVER' -o json host show $SB | jq -r .ha_state)\" = standby ]"

# Load: three guests burning CPU on the powered-on hosts.
ON=($("$DROVER" -o json host list | jq -r '.hosts[] | select(.state=="connected") | .name'))
for k in 1 2 3; do
        h=${ON[$(( (k - 1) % ${#ON[@]} ))]}
        "$DROVER" vm create b$k --cpus 1 --memory 128 --host "$h" --kernel-args drover.burn=1 >/dev/null
        "$DROVER" vm start b$k --no-wait >/dev/null
done
for v in b1 b2 b3; do
        wait_until 90 "$v running" dv_vm_state_is $v running
        wait_until 180 "$v tools" dv_tools_state_is $v running
done
t0=$(date +%s)
back_on() { dv_host_state_is "$SB" connected; }
check "load: DPM powers $SB on through its BMC and its agent connects" \
        wait_until 200 "$SB connected" back_on || true
dv_log "$("$DROVER" dpm recommendations default)"
dv_log "powered on after $(( $(date +%s) - t0 )) s (after the burners ran)"
dv_log "$("$DROVER" event list --limit 1000 | grep -E 'dpm|standby' | tail -4)"
check "the BMC of $SB reports power on" [ "$(lab power $N status)" = on ]
check "events say it left standby" wait_until 15 "event host.standby-exit" dv_cmd_has "powered on and connected again" "$DROVER" event list --limit 1000
drs_used() { [ "$(vms_on "$SB")" -ge 1 ]; }
check "DRS moves load back to $SB" wait_until 150 "a VM on $SB" drs_used
dv_log "$("$DROVER" vm list)"
check "the move was a DRS migration" bash -c \
        "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"vm.migrate\" and .user==\"drs\" and .state==\"succeeded\")] | length >= 1' >/dev/null"

"$DROVER" cluster set default --drs off --dpm off >/dev/null
for v in i1 i2 i3 b1 b2 b3; do "$DROVER" vm stop $v --force >/dev/null 2>&1 || true; done
dv_finish
