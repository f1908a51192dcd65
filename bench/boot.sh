#!/usr/bin/env bash
# bench/boot: time from the start API call to the guest's boot marker
# (DROVER-GUEST-READY on the serial console), against a raw
# qemu-system-x86_64 boot of the same image with the same command line, in
# the same run, alternating. Prints one JSON line per sample and a summary:
#   {"bench":"boot","peer":"raw-qemu","drover_ms":..,"raw_ms":..,"ratio":..}
# Usage: bash bench/boot.sh [ROUNDS]   (default 5; needs a built tree)
. "$(dirname "$0")/../tests/integration/lib.sh"
rounds=${1:-5}
DV_TEST=bench-boot

now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_marker() { # FILE → returns when the marker is in FILE (10 ms polling)
        local deadline=$(($(now_ms) + 120000))
        until grep -q DROVER-GUEST-READY "$1" 2>/dev/null; do
                [ "$(now_ms)" -lt "$deadline" ] || return 1
                sleep 0.01
        done
}

dv_start_manager
dv_start_agent bench1
"$DROVER" vm create bvm --cpus 1 --memory 256 --disk 1 >/dev/null
TOKEN=$(cat "$DROVER_TOKEN_FILE")
id=$(dv_json .id vm show bvm)
# Warm-up boot: the guest formats its blank disk on the first boot only.
"$DROVER" vm start bvm >/dev/null
wait_marker "$(dv_json .console_log vm show bvm)"
"$DROVER" vm stop bvm >/dev/null
d_samples=()
r_samples=()
for i in $(seq "$rounds"); do
        # Drover: API call → marker.
        t0=$(now_ms)
        curl -s -X POST -H "Authorization: Bearer $TOKEN" "$DROVER_URL/api/v1/vms/bvm/start" >/dev/null
        # The console log path is known once the agent has started QEMU
        # (the driver truncates the log at each start).
        log=null
        while [ "$log" = null ]; do
                log=$(curl -s -H "Authorization: Bearer $TOKEN" "$DROVER_URL/api/v1/vms/bvm" | jq -r .console_log)
        done
        wait_marker "$log"
        d=$(($(now_ms) - t0))
        qpid=$(dv_qemu_pids "$id")
        # The same argv for the raw peer, with its own paths.
        mapfile -d '' argv <"/proc/$qpid/cmdline"
        "$DROVER" vm stop bvm --force >/dev/null
        raw=$DV_TMP/raw
        rm -rf "$raw"
        mkdir -p "$raw"
        disk=$(dv_json '.disks[0].path' vm show bvm)
        # The same disk content (formatted by the guest's first boot).
        cp --sparse=always "$disk" "$raw/disk.qcow2"
        rundir=$(dirname "$log")
        args=()
        for a in "${argv[@]:1}"; do
                a=${a//$disk/$raw/disk.qcow2}
                a=${a//$rundir/$raw}
                args+=("$a")
        done
        t0=$(now_ms)
        "${argv[0]}" "${args[@]}" 2>>"$DV_TMP/raw-qemu.log" &
        rpid=$!
        wait_marker "$raw/console.log"
        r=$(($(now_ms) - t0))
        kill -9 "$rpid" 2>/dev/null || true
        wait "$rpid" 2>/dev/null || true
        echo "{\"bench\":\"boot\",\"round\":$i,\"drover_ms\":$d,\"raw_ms\":$r}"
        d_samples+=("$d")
        r_samples+=("$r")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
dm=$(median "${d_samples[@]}")
rm_=$(median "${r_samples[@]}")
echo "{\"bench\":\"boot\",\"peer\":\"raw-qemu\",\"rounds\":$rounds,\"drover_median_ms\":$dm,\"raw_median_ms\":$rm_,\"ratio\":$(awk "BEGIN{printf \"%.3f\", $dm/$rm_}")}"
trap - EXIT
DV_FAILS=0
dv_cleanup
