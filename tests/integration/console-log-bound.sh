#!/usr/bin/env bash
# The guest is untrusted and writes its own serial console log: the agent
# keeps that file within --console-log-max-kib, whatever the guest prints,
# and the VM runs on.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1 --console-log-max-kib 4

# The default image's disk writer prints a console line every 20 ms.
"$DROVER" vm create chatty --cpus 1 --memory 128 --disk 1 --kernel-args drover.writer=20 --start >/dev/null
log=$(dv_json .console_log vm show chatty)
wait_until 60 "the guest's writer prints" dv_file_has "$log" "drover-writer: "
wait_until 30 "the log is cut back" dv_file_has "$log" "drover: console log cut back after"
check "the agent cut the log back once it outgrew 4 KiB" dv_file_has "$log" "drover: console log cut back after"
# Sampled over 5 s (about 250 more lines): never far past the bound. The
# agent checks once per heartbeat (1 s), in which the guest adds about 2 KiB.
max=0
for _ in $(seq 25); do
        size=$(stat -c %s "$log")
        [ "$size" -gt "$max" ] && max=$size
        sleep 0.2   # sampling the size over time is the measurement
done
check "the log stays within the bound plus one heartbeat of output (max $max bytes)" [ "$max" -le $((4096 + 4096)) ]
n=$(grep -c '^drover-writer: ' "$log" || true)
check "the guest keeps writing after the cut ($n lines now)" [ "$n" -gt 0 ]
check "the VM still runs" dv_vm_state_is chatty running
"$DROVER" vm stop chatty --force >/dev/null
dv_finish
