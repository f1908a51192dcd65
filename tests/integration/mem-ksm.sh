#!/usr/bin/env bash
# Acceptance (issue 8, memory overcommit), measured outside the guests:
#   - the host gives 1200 MiB to VMs (--vm-memory-mib); with memory
#     overcommit off, admission counts configured sizes (the 7th 192 MiB VM
#     is refused); with it on, reservations: ten 192 MiB guests (1920 MiB,
#     1.6x) are placed and run;
#   - each guest fills 96 MiB with identical pages (drover.fill): KSM,
#     switched on and tuned by the agent, shares them; host show reports
#     the savings, and the QEMUs' merged pages (/proc/PID/ksm_merging_pages)
#     confirm them;
#   - invalid combinations are refused with the reason and change nothing:
#     overcommit off while the host runs 1280 MiB of VMs, a reservation
#     over the VM's size, reservations beyond the host;
#   - no guest is killed. KSM settings of the machine are restored at exit.
. "$(dirname "$0")/lib.sh"

ksm=/sys/kernel/mm/ksm
[ -w $ksm/run ] || { dv_log "SKIP: no writable $ksm"; exit 77; }
ksm_saved="$(cat $ksm/run) $(cat $ksm/pages_to_scan) $(cat $ksm/sleep_millisecs)"
DV_CLEANUP_HOOKS+=("read -r r p s <<<'$ksm_saved'; echo \$p >$ksm/pages_to_scan; echo \$s >$ksm/sleep_millisecs; echo \$r >$ksm/run")

dv_start_manager
dv_start_agent host1 --vm-memory-mib 1200

refused() {
        local code=$1 text=$2 out
        shift 2
        out=$("$DROVER" -o json "$@" 2>/dev/null) && return 1
        dv_log "refused: $(jq -c .error <<<"$out")"
        jq -e --arg c "$code" --arg t "$text" \
                '.error.code == $c and (.error.message | contains($t))' <<<"$out" >/dev/null
}
nvms() { "$DROVER" -o json vm list | jq '.vms | length'; }
mk() { "$DROVER" vm create "$1" --cpus 1 --memory 192 --mem-reservation 32 \
        --kernel-args drover.fill=96 >/dev/null; }

check "host gives 1200 MiB to VMs" [ "$(dv_json .memory_mib host show host1)" = 1200 ]
for i in 1 2 3 4 5 6; do mk g$i; done
check "overcommit off: the 7th 192 MiB VM does not fit in 1200 MiB" \
        refused insufficient-resources "no connected host has 192 MiB of unreserved memory" \
        vm create g7 --cpus 1 --memory 192 --mem-reservation 32
check "overcommit off: host counts configured sizes" [ "$(dv_json .memory_reserved_mib host show host1)" = 1152 ]
check "a reservation over the VM's size is refused" \
        refused qos-conflict "memory reservation 200 MiB is over the vm's memory (its limit) 192 MiB" \
        vm create bad --cpus 1 --memory 192 --mem-reservation 200

"$DROVER" cluster set default --overcommit on >/dev/null
check "cluster shows overcommit on" [ "$(dv_json .overcommit cluster show default)" = true ]
check "overcommit on: host counts reservations" [ "$(dv_json .memory_reserved_mib host show host1)" = 192 ]
for i in 7 8 9 10; do mk g$i; done
check "ten VMs placed" [ "$(nvms)" = 10 ]
check "reservations beyond the host are refused" \
        refused insufficient-resources "host 'host1' has 880 MiB of unreserved memory, the vm needs 900 MiB" \
        vm create big --cpus 1 --memory 1024 --mem-reservation 900 --host host1
check "overcommit off refused while the host's VMs total 1920 MiB" \
        refused insufficient-resources "host 'host1' gives 1200 MiB to vms, the configured memory of its vms is 1920 MiB" \
        cluster set default --overcommit off
check "the switch is still on" [ "$(dv_json .overcommit cluster show default)" = true ]
check "vm set: a reservation over the VM's size is refused" \
        refused qos-conflict "memory reservation 600 MiB is over the vm's memory (its limit) 192 MiB" \
        vm set g1 --mem-reservation 600 --mem-shares high
check "and nothing changed" [ "$(dv_json .mem_qos.reservation_mib vm show g1)" = 32 ]

for i in $(seq 10); do "$DROVER" vm start g$i >/dev/null; done
running() { [ "$("$DROVER" -o json vm list | jq '[.vms[] | select(.state == "running")] | length')" = 10 ]; }
check "ten guests (1920 MiB configured, 1.6x of 1200) run" wait_until 90 "10 running" running
check "KSM is on, tuned by the agent" wait_until 20 "ksm run" bash -c "[ \$(cat $ksm/run) = 1 ]"
dv_log "ksm: pages_to_scan $(cat $ksm/pages_to_scan), sleep $(cat $ksm/sleep_millisecs) ms"
# Each QEMU's pages that KSM merged (/proc/PID/ksm_merging_pages): its
# guest's fill, measured from outside.
each_merged() {
        local p n=0
        for p in $(dv_qemu_pids); do
                [ $(( $(cat /proc/$p/ksm_merging_pages) * 4 / 1024 )) -ge 80 ] && n=$((n + 1))
        done
        [ "$n" = 10 ]
}
check "each guest's QEMU has >= 80 MiB of merged pages" wait_until 240 "ksm merging" each_merged
for p in $(dv_qemu_pids); do
        dv_log "qemu $p: merged $(( $(cat /proc/$p/ksm_merging_pages) * 4 / 1024 )) MiB, rss $(awk '/VmRSS/ {print int($2/1024)}' /proc/$p/status) MiB"
done
for f in $(find "$DV_TMP" -name console.log); do dv_log "$(grep -a -c 'MiB written' $f) $(grep -a 'fill' $f | tail -1)"; done
uptime >&2
merged_mib() {
        local sum=0 p
        for p in $(dv_qemu_pids); do sum=$((sum + $(cat /proc/$p/ksm_merging_pages 2>/dev/null || echo 0))); done
        echo $((sum * 4 / 1024))
}
saved() { [ "$(dv_json .ksm.saved_mib host show host1)" -ge 800 ]; }
check "host show reports KSM savings >= 800 MiB" wait_until 90 "ksm savings" saved
dv_log "host: $("$DROVER" -o json host show host1 | jq -c '{ksm, swap, memory_mib, memory_reserved_mib}')"
dv_log "the QEMUs' merged pages: $(merged_mib) MiB; rss: $(for p in $(dv_qemu_pids); do grep VmRSS /proc/$p/status | awk '{print $2/1024}'; done | paste -sd+ | bc) MiB"
check "the QEMUs' pages merged >= 850 MiB (measured in /proc)" [ "$(merged_mib)" -ge 850 ]
"$DROVER" host show host1 | grep -E "ksm|overcommit" >&2
check "no guest was killed" running
check "no VM crashed" bash -c "! grep -q 'vm.crashed' <('$DROVER' -o json event list 2>/dev/null | jq -r '.events[].kind')"
check "ten QEMUs still run" [ "$(dv_qemu_pids | wc -l)" = 10 ]
dv_finish
