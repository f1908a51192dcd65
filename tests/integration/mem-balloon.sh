#!/usr/bin/env bash
# Acceptance (issue 8, ballooning), measured outside the guests: a host
# giving 600 MiB to VMs, memory overcommit on, three 256 MiB guests (two
# with low memory shares, one high; each reserves 64 MiB), KSM left off
# (--ksm off) so that nothing is shared. Each writes 128 MiB into its RAM
# (drover.fill=128,20) and frees it 20 s later: the host's pages stay
# touched, the
# guests' are free, the VMs use more than the host gives them. The
# manager's controller then inflates balloons, the low-share VMs first,
# never below a reservation nor below what Tools says the guest uses plus
# a margin; QEMU gives the pages back (the VMs' resident RAM falls); once
# the pressure is over it deflates them again. No guest is killed. Swap is
# reported per host.
. "$(dirname "$0")/lib.sh"

# The controller's round every second (default 3 s), so that the test is
# short.
dv_start_manager --balloon-interval-ms 1000
dv_start_agent host1 --vm-memory-mib 600 --ksm off
"$DROVER" cluster set default --overcommit on >/dev/null
mk() { "$DROVER" vm create "$1" --cpus 1 --memory 256 --mem-reservation 64 --mem-shares "$2" \
        --kernel-args drover.fill=128,20 >/dev/null; }
mk lo1 low
mk lo2 low
mk hi1 high
for v in lo1 lo2 hi1; do "$DROVER" vm start $v >/dev/null; done

samples=$DV_TMP/balloons
: >"$samples"
sample() {
        "$DROVER" -o json host show host1 |
                jq -r '.vm_memory[] | "\(.name) \(.balloon_target_mib) \(.balloon_mib) \(.rss_mib)"' >>"$samples"
        echo "--" >>"$samples"
}
inflated() { sample; "$DROVER" -o json event list | jq -e '[.events[] | select(.kind == "vm.balloon-inflate")] | length > 0' >/dev/null; }
t0=$SECONDS
check "under pressure the controller inflates balloons" wait_until 150 "an inflation" inflated
dv_log "first inflation after $((SECONDS - t0)) s"
t0=$SECONDS
kinds() { "$DROVER" -o json event list | jq -r '[.events[] | select(.kind == "vm.balloon-inflate" or .kind == "vm.balloon-deflate")] | sort_by(.id) | .[] | "\(.kind) \(.message)"'; }
# The pressure ends when the guests have freed their fills and the
# balloons have taken those pages from the host: the VMs' resident memory
# falls under 80 % of the 600 MiB (the controller's high mark). Memory is
# given back then: every target at 256 MiB again, by a deflation made at
# a use under 480 MiB (the event's "VMs use U of 600"), after the fills
# were freed (the guests' use rising to their size is no end of pressure).
freed() { [ "$(find "$DV_TMP" -name console.log -exec grep -a -l 'fill: freed' {} + | wc -l)" = 3 ]; }
check "the guests free their fills" wait_until 120 "fills freed" freed
dv_log "fills freed $((SECONDS - t0)) s after the first inflation"
mark=$("$DROVER" -o json event list | jq '[.events[].id] | max')
deflated() {
        sample
        [ "$("$DROVER" -o json host show host1 | jq '[.vm_memory[] | select(.balloon_target_mib == 256)] | length')" = 3 ] &&
                "$DROVER" -o json event list | jq -e --argjson mark "$mark" '[.events[] |
                        select(.id > $mark and .kind == "vm.balloon-deflate") | .message |
                        capture("VMs use (?<u>[0-9]+) of").u | tonumber | select(. <= 480)] | length > 0' >/dev/null
}
check "once the pressure is over, memory is given back (all targets 256 MiB again)" wait_until 150 "deflated" deflated
dv_log "all given back $((SECONDS - t0)) s after the first inflation; last sample (name target balloon rss): $(tail -n 4 "$samples" | head -n 3 | tr '\n' ',')"
kinds | sed 's/^/    /' >&2
first=$(kinds | grep -m1 balloon-inflate)
check "the first balloon inflated is a low-share VM's" grep -q "vm 'lo[12]'" <<<"$first"
# order_ok: the high-share VM is inflated only in rounds where both
# low-share VMs are at their floors: the last move of each before it
# ended at its floor (target == the floor its event names). Floors move
# with the guests' use (the fills, then their freeing), so a low-share VM
# may be inflated again later, when its floor falls: that is the order by
# shares, not against it.
order_ok() {
        local line name to floor
        local -A at_floor=([lo1]=0 [lo2]=0)

        while read -r line; do
                name=$(sed -n "s/.*vm '\([a-z0-9]*\)'.*/\1/p" <<<"$line")
                to=$(sed -n 's/.* -> \([0-9]*\) MiB.*/\1/p' <<<"$line")
                floor=$(sed -n 's/.*floor \([0-9]*\) MiB.*/\1/p' <<<"$line")
                case "$name" in
                lo1|lo2) at_floor[$name]=$([ "$to" = "$floor" ] && echo 1 || echo 0) ;;
                hi1)
                        case "$line" in
                        vm.balloon-inflate*)
                                [ "${at_floor[lo1]}" = 1 ] && [ "${at_floor[lo2]}" = 1 ] || return 1 ;;
                        esac
                        ;;
                esac
        done < <(kinds)
}
check "the high-share VM is inflated only while both low-share VMs are at their floors" order_ok
min_target=$(awk '$2 ~ /^[0-9]+$/ {print $2}' "$samples" | sort -n | head -1)
dv_log "lowest balloon target seen: $min_target MiB; samples: $(grep -c -- -- "$samples")"
check "no balloon below a reservation (64 MiB)" [ "${min_target:-0}" -ge 64 ]
check "the messages name the floors" bash -c "'$DROVER' -o json event list | jq -r '.events[].message' | grep -q 'floor'"
check "no guest was killed" bash -c "! '$DROVER' -o json event list | jq -r '.events[].kind' | grep -q 'vm.crashed\|vm.stopped'"
check "three QEMUs still run" [ "$(dv_qemu_pids | wc -l)" = 3 ]
check "host show reports swap" bash -c "'$DROVER' -o json host show host1 | jq -e '.swap.total_mib != null and .swap.used_mib != null' >/dev/null"
check "and each VM's swap" bash -c "'$DROVER' -o json host show host1 | jq -e '[.vm_memory[] | select(.swap_mib != null)] | length == 3' >/dev/null"
dv_finish
