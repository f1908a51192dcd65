#!/usr/bin/env bash
# Maintenance mode (issue 9), in a 3-host lab: two running VMs and a
# stopped one on host1. Refusals first, each changing nothing: the other
# hosts too full (stopped "hog" VMs reserve their memory), then the other
# hosts themselves in maintenance. Then `host maintenance host1 enter`
# live-migrates the running VMs to host2/host3, re-places the stopped one,
# leaves host1 in state maintenance and refusing `vm create --host host1`;
# `exit` makes it connected again.
. "$(dirname "$0")/lib.sh"

contains() { [[ "$1" == *"$2"* ]]; }
dv_lab_up 3

for v in m1 m2; do "$DROVER" vm create $v --cpus 1 --memory 128 --host host1 >/dev/null; done
"$DROVER" vm create cold --cpus 1 --memory 128 --host host1 --disk 1@shared >/dev/null
for v in m1 m2; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in m1 m2; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v tools" dv_tools_state_is "$v" running
done
# Load metrics (the same heartbeats): host and VM demand, and the series.
has_demand() { "$DROVER" -o json $1 show $2 | jq -e '.demand.cpu_pct.now | type == "number"' >/dev/null; }
check "host show has the CPU demand of host1" wait_until 20 "host demand" has_demand host host1
check "vm show has m1's demand" wait_until 20 "vm demand" has_demand vm m1
check "GET /vms/m1/metrics has samples" \
        bash -c "curl -sf -H \"Authorization: Bearer \$(cat \$DROVER_TOKEN_FILE)\" \$DROVER_URL/api/v1/vms/m1/metrics | jq -e '(.samples | length) > 0 and .memory_mib.now > 0' >/dev/null"
dv_log "host1: $("$DROVER" host show host1 | grep demand | tr -s ' ' | paste -sd';')"
on_host() { [ "$(dv_json .host vm show "$1")" = "$2" ]; }
all_on_host1() { on_host m1 host1 && on_host m2 host1 && on_host cold host1; }

# 1. The others are too full: refused, per VM, nothing changes.
mem=$(dv_json .memory_mib host show host2)
for n in 2 3; do "$DROVER" vm create hog$n --cpus 1 --memory $((mem - 100)) --host host$n >/dev/null; done
rc=0; out=$("$DROVER" host maintenance host1 enter 2>&1) || rc=$?
dv_log "refused (full): $out"
check "enter with full hosts fails" [ "$rc" != 0 ]
check "... names the reason (maintenance refused, fits on no other host)" \
        eval 'contains "$out" "cannot enter maintenance" && contains "$out" "fits on no other host"'
check "... names the VMs" eval 'contains "$out" "m1" && contains "$out" "m2"'
check "... host1 is still connected" dv_host_state_is host1 connected
check "... every VM stays on host1" all_on_host1
rc=0; js=$("$DROVER" -o json host maintenance host1 enter 2>/dev/null) || rc=$?
check "-o json: the refusal lists each VM's action" \
        bash -c "jq -e '.error.code==\"maintenance-refused\" and ([.error.vms[] | select(.action==\"blocked\")] | length == 2)' <<<'$js' >/dev/null"
for n in 2 3; do "$DROVER" vm delete hog$n >/dev/null; done

# 2. The other hosts are in maintenance themselves (they are empty: at once).
for n in 2 3; do "$DROVER" host maintenance host$n enter >/dev/null; done
check "host2 and host3 in maintenance" eval 'dv_host_state_is host2 maintenance && dv_host_state_is host3 maintenance'
rc=0; out=$("$DROVER" host maintenance host1 enter 2>&1) || rc=$?
dv_log "refused (others in maintenance): $out"
check "enter with no other host fails and says why" \
        eval '[ "$rc" != 0 ] && contains "$out" "no connected host"'
check "... host1 is still connected, the VMs on host1" eval 'dv_host_state_is host1 connected && all_on_host1'
rc=0; out=$("$DROVER" vm create nope --cpus 1 --memory 128 --host host2 2>&1) || rc=$?
check "vm create --host host2 (maintenance) is refused by name" \
        eval '[ "$rc" != 0 ] && contains "$out" "maintenance mode"'
for n in 2 3; do "$DROVER" host maintenance host$n exit >/dev/null; done
check "host2 and host3 connected again" eval 'dv_host_state_is host2 connected && dv_host_state_is host3 connected'

# 3. Enter: every VM leaves host1.
t0=$(date +%s%N)
rc=0; out=$("$DROVER" host maintenance host1 enter 2>&1) || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
dv_log "enter: $out (${ms} ms)"
check "enter succeeds" [ "$rc" = 0 ]
check "host1 is in maintenance" dv_host_state_is host1 maintenance
for v in m1 m2; do
        h=$(dv_json .host vm show $v)
        check "$v runs on $h (host2 or host3)" eval '[ "$h" = host2 -o "$h" = host3 ] && dv_vm_state_is $v running'
done
h=$(dv_json .host vm show cold)
check "the stopped vm is placed on $h, still stopped" eval '[ "$h" != host1 ] && dv_vm_state_is cold stopped'
check "the output says what moved where" eval 'contains "$out" "moved   m1 ->" && contains "$out" "moved   m2 ->"'
check "the task result lists both moves" bash -c "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"host.maintenance\" and .state==\"succeeded\")][0].result.moved | length == 2' >/dev/null"
rc=0; out=$("$DROVER" vm create late --cpus 1 --memory 128 --host host1 2>&1) || rc=$?
check "vm create --host host1 is refused: maintenance mode" \
        eval '[ "$rc" != 0 ] && contains "$out" "maintenance mode"'
# --explain: host1 rejected for maintenance, the emptier of host2/host3
# chosen, the other a candidate; --host host1 --explain says why not.
free_mib() { echo $(( $(dv_json .memory_mib host show $1) - $(dv_json .memory_reserved_mib host show $1) )); }
f2=$(free_mib host2); f3=$(free_mib host3)
emptier=host2; [ "$f3" -gt "$f2" ] && emptier=host3
js=$("$DROVER" -o json vm create late --cpus 1 --memory 128 --explain)
dv_log "explain (free host2 $f2, host3 $f3): $(jq -c '.placement | {chosen, hosts: [.hosts[] | {name, verdict, headroom_mib, imbalance_after}]}' <<<"$js")"
check "vm create without a host avoids host1" eval '! on_host late host1'
js_has() { jq -e --arg e "$emptier" "$1" <<<"$js" >/dev/null; }
check "--explain: host1 rejected, in maintenance mode" \
        js_has '.placement.hosts[] | select(.name=="host1") | .verdict=="rejected" and (.reason | contains("maintenance mode"))'
check "--explain: the emptier host ($emptier) chosen, the other a candidate" \
        js_has '.placement.chosen==$e and .placement.hosts[0].name==$e and ([.placement.hosts[] | select(.verdict=="candidate")] | length == 1) and (.placement.hosts[0].imbalance_after | type == "number")'
check "... and the vm is on $emptier" on_host late "$emptier"
rc=0; out=$("$DROVER" vm create late2 --cpus 1 --memory 128 --host host1 --explain 2>&1) || rc=$?
check "--host host1 --explain: refused, the explanation says why" \
        eval '[ "$rc" != 0 ] && contains "$out" "rejected  host1" && contains "$out" "maintenance mode"'
rc=0; "$DROVER" host maintenance host1 enter >/dev/null 2>&1 || rc=$?
check "enter again: refused (already)" [ "$rc" != 0 ]
check "Tools still answer in the moved VMs" \
        eval 'wait_until 30 "tools m1" dv_tools_state_is m1 running && wait_until 30 "tools m2" dv_tools_state_is m2 running'

# 4. Exit.
"$DROVER" host maintenance host1 exit >/dev/null
check "exit: host1 connected" dv_host_state_is host1 connected
"$DROVER" vm create back --cpus 1 --memory 128 --host host1 >/dev/null
check "... and takes VMs again" on_host back host1

# vm list paging: pages of 2 (--limit 2 --after NEXT) add up to the
# whole list, in name order.
all=$("$DROVER" -o json vm list | jq -c '[.vms[].name]')
paged='[]'; after=''
for _ in 1 2 3 4 5; do
        page=$("$DROVER" -o json vm list --limit 2 ${after:+--after "$after"})
        paged=$(jq -c --argjson p "$paged" '$p + [.vms[].name]' <<<"$page")
        after=$(jq -r '.next // empty' <<<"$page")
        [ -n "$after" ] || break
done
dv_log "list $all, paged $paged"
check "vm list --limit 2 pages add up to the whole list, by name" \
        eval '[ "$paged" = "$all" ] && [ "$(jq -c sort <<<"$all")" = "$all" ] && [ "$(jq length <<<"$all")" -ge 5 ]'

for v in m1 m2; do "$DROVER" vm stop "$v" --force >/dev/null; done
for v in m1 m2 cold late back; do "$DROVER" vm delete "$v" >/dev/null; done
dv_finish
