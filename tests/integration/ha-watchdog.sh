#!/usr/bin/env bash
# A hung host is reset by its BMC watchdog before its VM leases expire
# (docs/ha.md). host1's agent and QEMU are frozen (SIGSTOP): nothing on it
# pets the watchdog or renews the lease of its HA VM. Its BMC (ipmi_sim)
# must reset it before the lease expires; HA restarts the VM only after
# that, on another host of the 3-host lab; a SIGCONT afterwards finds
# nothing to resume; the guest's disk writer (drover.writer=100, a counter
# on its disk) shows one writer at a time. Image locking is off: a second copy would not be refused by QEMU.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ha-lab.sh"
for t in debugfs qemu-img; do command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }; done

ha_lab_up 3
"$DROVER" vm create web --cpus 1 --memory 128 --disk 1@shared --host host1 --ha \
        --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm start web >/dev/null
id=$(dv_json .id vm show web)
disk=$(dv_json '.disks[0].path' vm show web)
lease=$S/shared/.drover-lease/$id
wait_until 60 "web running on host1" vm_on web host1
log1=$(dv_json .console_log vm show web)
wait_until 60 "web's disk writer runs" dv_file_has "$log1" '^drover-writer: 10 '
wait_until 20 "host1's watchdog armed" dv_file_has "$S/h1/agent.log" "BMC watchdog armed"
ha_poll_disks "$disk"

# --- freeze host1 --------------------------------------------------------
apid=$(cat "$S/h1/lab/agent.pid")
qpid=$(cat "$S/h1/run/$id/qemu.pid")
t0=$(now_ms)
kill -STOP "$apid" "$qpid"
size=$(stat -c %s "$log1")
old_last=$(grep -a '^drover-writer: ' "$log1" | tail -1 | awk '{print $2}')
expiry=$(jq -r .expiry_wall_ms "$lease")
dv_log "host1 frozen; web's lease (holder $(jq -r .holder "$lease")) expires in $(( expiry - t0 )) ms"
early=0
reset_seen() {
        [ "$(qemus_with_open "$disk" | grep -vx "$qpid" | wc -l)" -eq 0 ] || early=1
        dv_file_has "$S/bmc/h1/board.log" "BMC: reset"
}
if wait_until 20 "host1's BMC watchdog resets it" reset_seen; then
        t_reset=$(now_ms)
        dv_log "watchdog reset seen $(( t_reset - t0 )) ms after the freeze, $(( expiry - t_reset )) ms before the lease expiry"
fi
check "host1's BMC watchdog reset it" dv_file_has "$S/bmc/h1/board.log" "BMC: reset"
check "the reset came before web's lease expired" [ "${t_reset:-$expiry}" -lt "$expiry" ]
old_gone() { ! kill -0 "$apid" 2>/dev/null && ! kill -0 "$qpid" 2>/dev/null; }
wait_until 10 "the frozen agent and QEMU gone" old_gone
check "the reset killed the frozen agent and QEMU" old_gone
check "no copy of web started before the reset" [ "$early" = 0 ]
# Elsewhere: host1, back at once after its reset and the emptiest host, is
# taken only when no other host fits.
restarted() { has_event vm.restarted web && vm_on_other web host1; }
ON=
if wait_until 60 "web restarted by HA" restarted; then
        dv_log "web running on $ON $(( $(now_ms) - t0 )) ms after the freeze"
fi
check "HA restarted web on another host ($ON)" restarted
check "the lease is held where web runs now" \
        [ "$(jq -r .holder "$lease")" = "$(dv_json .host vm show web)" ]

# --- SIGCONT: nothing stale to resume -----------------------------------------
kill -CONT "$apid" "$qpid" 2>/dev/null || true
log2=$(dv_json .console_log vm show web)
check "after SIGCONT one QEMU has web's disk open" [ "$(qemus_with_open "$disk" | wc -l)" = 1 ]
wait_until 60 "the new copy's writer runs" eval "[ \$(grep -ac '^drover-writer: ' '$log2') -ge 20 ]"
new_first=$(grep -a '^drover-writer: ' "$log2" | head -1 | awk '{print $2}')
dv_log "writer: the old copy printed up to $old_last, the new copy starts at $new_first"
if [ "$log2" != "$log1" ]; then
        # host1's agent, back after the reset, may have swept the dead VM's
        # run directory (console log included): gone did not grow either.
        old_size() { stat -c %s "$log1" 2>/dev/null || echo 0; }
        check "the old copy's console did not grow after SIGCONT" [ "$(old_size)" -le "$size" ]
fi
# One writer at a time: the new copy's counter counts up by one from where
# the disk held it; frozen (synced) its last printed value is on the disk.
seq_ok() {
        grep -a '^drover-writer: ' "$log2" | awk '{print $2}' | tail -n +2 |
                awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { exit bad }'
}
check "the new copy's writer counts up by one (no other writer)" seq_ok
"$DROVER" vm freeze web --timeout 30 >/dev/null
printed=$(grep -a '^drover-writer: ' "$log2" | tail -1 | awk '{print $2}')
raw=$DV_TMP/read.raw
qemu-img convert -U -f qcow2 -O raw "$disk" "$raw"
ondisk=$(debugfs -R "cat /writer.seq" "$raw" 2>/dev/null | tr -d '\n')
rm -f "$raw"
"$DROVER" vm thaw web >/dev/null
dv_log "writer: the new copy printed up to $printed, the disk holds $ondisk"
check "the disk holds the new copy's counter" eval '[ "$ondisk" -ge "$printed" ] && [ "$ondisk" -le $((printed + 1)) ]'
check "the disk was never open in two QEMU processes (polled every 100 ms)" no_two_open
dv_finish
