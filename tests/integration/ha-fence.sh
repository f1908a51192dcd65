#!/usr/bin/env bash
# HA fences a failed host itself: host3's agent freezes (SIGSTOP; its QEMU
# keeps running, the host stays powered), so both heartbeats stop while the
# BMC still reads "on". The manager must power host3 off through its BMC
# (ipmitool chassis power off) before it restarts the HA VM elsewhere, and
# never run two copies of it. Through the CLI in a 3-host lab whose agents
# pet no BMC watchdog (`lab up --no-watchdog`, as on hosts without one):
# otherwise the frozen agent's watchdog would reset host3 about 3 s in and
# race the manager's fence (tests/integration/ha-watchdog.sh tests that).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in ipmi_sim ipmitool ovs-vswitchd jq pgrep; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
        exit 77
fi

S=$DV_TMP/lab
lab() { "$DROVER" lab --state-dir "$S" "$@"; }
lab_down() { [ -f "$S/lab.env" ] && lab down >/dev/null 2>&1; return 0; }
DV_CLEANUP_HOOKS+=(lab_down)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

lab up --hosts 3 --no-watchdog --image-dir "$DV_IMAGE_DIR" >"$DV_TMP/lab-up.log" 2>&1 ||
        { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
eval "$(lab env)"
export DROVER_URL DROVER_TOKEN_FILE
for n in 1 2 3; do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
ln -s "$S/manager.log" "$DV_TMP/manager.log"
for n in 1 2 3; do wait_until 30 "host$n connected" dv_host_state_is "host$n" connected; done
bmc_power_is() { [ "$(dv_json .bmc.power host show "$1")" = "$2" ]; }
wait_until 20 "host3's BMC read as on" bmc_power_is host3 on

"$DROVER" vm create web --cpus 1 --memory 192 --disk 1@shared --host host3 --ha >/dev/null
"$DROVER" vm start web >/dev/null
id=$(dv_json .id vm show web)
wait_until 120 "web Tools running" dv_tools_state_is web running

our_qemus() { pgrep -a qemu-system | grep -F "$S/h" || true; }
copies() { our_qemus | grep -cF "/run/$id/" || true; }
poll() {
        set +e
        while :; do
                c=$(copies)
                [ "$c" -le 1 ] || echo "VIOLATION t=$(now_ms) $(our_qemus | grep -F "/run/$id/")"
                sleep 0.1
        done
}
poll >"$DV_TMP/poll.log" 2>&1 &
DV_PIDS+=("$!")

t0=$(now_ms)
kill -STOP "$(cat "$S/h3/lab/agent.pid")"
moved() { [[ "$(dv_json '"\(.state) \(.host)"' vm show web)" =~ ^running\ host[12]$ ]]; }
if wait_until 60 "web running on another host" moved; then
        dv_log "web running on $(dv_json .host vm show web) $(( $(now_ms) - t0 )) ms after host3's agent froze"
fi
check "web restarted on another host" moved
check "the manager powered host3 off through its BMC" dv_file_has "$S/bmc/h3/chassis.log" "set power 0"
check "host3's BMC reads off" bmc_power_is host3 off
check "host3 is failed" dv_host_state_is host3 failed
check "events: host3 failed, fencing, fenced by the BMC" eval '
        ev=$("$DROVER" -o json event list --limit 100 | jq -r ".events[] | select(.target.name == \"host3\") | .kind")
        grep -qx host.failed <<<"$ev" && grep -qx host.fencing <<<"$ev" && grep -qx host.fenced <<<"$ev"'
check "no QEMU of web left on host3" eval '! our_qemus | grep -F "/run/$id/" | grep -qF "$S/h3/"'
wait_until 90 "web Tools running on its new host" dv_tools_state_is web running
check "web's Tools runs on its new host" dv_tools_state_is web running

check "lab power host3 on" lab power host3 on
wait_until 60 "host3 connected again" dv_host_state_is host3 connected
check "host3 is connected again" dv_host_state_is host3 connected
stable=1
for _ in $(seq 30); do moved || stable=0; sleep 0.2; done  # past HA's reconciliation window
check "web stays where it is after host3's return" [ "$stable" = 1 ]
check "never two QEMU processes for web (polled every 100 ms)" bash -c "! grep -q VIOLATION '$DV_TMP/poll.log'"
dv_finish
