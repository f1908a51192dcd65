# shellcheck shell=bash
# Helpers of the HA split-brain lab tests (ha-isolation.sh, ha-watchdog.sh,
# ha-storage.sh). Source after lib.sh. The lab runs its agents with
# --no-image-locking, so that QEMU's image lock does not hide a second copy:
# HA's leases and fencing are what is tested.

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in ipmi_sim ipmitool ovs-vswitchd jq pgrep nsenter stdbuf; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
        exit 77
fi

S=$DV_TMP/lab
lab() { "$DROVER" lab --state-dir "$S" "$@"; }
# DROVER_TEST_KEEP_LOGS=DIR: the lab's logs are copied there before it goes.
lab_down() {
        if [ -n "${DROVER_TEST_KEEP_LOGS:-}" ] && [ -d "$S" ]; then
                mkdir -p "$DROVER_TEST_KEEP_LOGS"
                (cd "$S" && find . -name '*.log' -print0 | cpio -0pdm "$DROVER_TEST_KEEP_LOGS" 2>/dev/null)
        fi
        [ -f "$S/lab.env" ] && lab down >/dev/null 2>&1
        return 0
}
DV_CLEANUP_HOOKS+=(lab_down)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# ha_lab_up N: an N-host lab, agents without image locking.
ha_lab_up() {
        local n t
        t=$(now_ms)
        lab up --hosts "$1" --image-dir "$DV_IMAGE_DIR" --agent-arg --no-image-locking \
                >"$DV_TMP/lab-up.log" 2>&1 || { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
        dv_log "lab up took $(( $(now_ms) - t )) ms"
        eval "$(lab env)"
        export DROVER_URL DROVER_TOKEN_FILE
        for n in $(seq 1 "$1"); do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
        ln -s "$S/manager.log" "$DV_TMP/manager.log"
        for n in $(seq 1 "$1"); do wait_until 30 "host$n connected" dv_host_state_is "host$n" connected; done
}

bmc_power_is() { [ "$(dv_json .bmc.power host show "$1")" = "$2" ]; }
vm_on() { [ "$(dv_json '"\(.state) \(.host)"' vm show "$1")" = "running $2" ]; }
# vm_on_other VM HOST: VM runs, on a host other than HOST; its host is
# left in $ON (HA may pick any of the other hosts).
vm_on_other() {
        local st h
        read -r st h < <(dv_json '"\(.state) \(.host)"' vm show "$1")
        [ "$st" = running ] && [ -n "$h" ] && [ "$h" != null ] && [ "$h" != "$2" ] || return 1
        ON=$h
}

# Pids of the lab's QEMU processes that have FILE open (one find, cheap
# enough to run every 100 ms next to TCG guests on two cores).
qemus_with_open() {
        local pids p dirs=()
        pids=$(pgrep -f "qemu-system.*$S/h" || true)
        for p in $pids; do dirs+=("/proc/$p/fd"); done
        [ ${#dirs[@]} -gt 0 ] || return 0
        find "${dirs[@]}" -maxdepth 1 -lname "$1" 2>/dev/null | cut -d/ -f3 | sort -u
        return 0
}

# ha_poll_disks FILE...: in the background, every 100 ms, log VIOLATION
# when a disk is open in two QEMU processes at once (to DV_TMP/poll.log).
ha_poll_disks() {
        (
                set +e
                while :; do
                        for d in "$@"; do
                                pids=$(qemus_with_open "$d" | tr '\n' ' ')
                                [ "$(wc -w <<<"$pids")" -le 1 ] ||
                                        echo "VIOLATION t=$(now_ms) $d open in QEMU $pids"
                        done
                        sleep 0.1
                done
        ) >"$DV_TMP/poll.log" 2>&1 &
        DV_PIDS+=("$!")
}
no_two_open() { ! grep -q VIOLATION "$DV_TMP/poll.log"; }

# ha_event_time KIND TARGET: the first event of that kind, its time in ms.
ha_events() { "$DROVER" -o json event list --limit 200 | jq -r '.events[] | "\(.kind) \(.target.name)"'; }
# has_event KIND NAME: the event is among the last 200 (the list is read
# whole, so that no early exit of grep turns into a SIGPIPE failure).
has_event() { ha_events | awk -v k="$1" -v n="$2" '$1 == k && $2 == n { f = 1 } END { exit !f }'; }
