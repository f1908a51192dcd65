#!/usr/bin/env bash
# DRS (issue 9) in a 3-host lab: four guests burning CPU (drover.burn=1)
# all on host1, and an anti-affinity rule on two of them. Manual mode lists
# recommendations (the rule first, then balance moves, each with the
# imbalance before/after, gain and cost) and moves nothing; automatic mode
# carries them out until the hosts' CPU load is within the threshold's band,
# and the two anti-affine VMs never share a host.
. "$(dirname "$0")/lib.sh"

dv_lab_up 3

VMS="b1 b2 b3 b4"
# jq over the last report (a function: the reasons hold quotes)
jqjs() { jq -e "$1" <<<"$js" >/dev/null; }
for v in $VMS; do
        "$DROVER" vm create $v --cpus 1 --memory 128 --host host1 --kernel-args drover.burn=1 >/dev/null
        "$DROVER" vm start $v --no-wait >/dev/null
done
for v in $VMS; do
        wait_until 90 "$v running" dv_vm_state_is $v running
        wait_until 180 "$v tools" dv_tools_state_is $v running
done
"$DROVER" drs rule add default apart --anti-affinity b1,b2 >/dev/null
check "the rule is listed" dv_cmd_has apart "$DROVER" drs rule list default

host1_busy() {
        local c
        c=$("$DROVER" -o json host show host1 | jq -r '.demand.cpu_pct.avg_1m // 0')
        awk -v c="$c" 'BEGIN { exit !(c >= 60) }'
}
check "host1's CPU demand climbs over 60% (1-min average)" wait_until 120 "host1 busy" host1_busy
dv_log "host1: $("$DROVER" host show host1 | grep 'cpu demand')"

# Manual: recommendations, nothing moves.
"$DROVER" cluster set default --drs manual --drs-threshold 3 --drs-interval 5 --drs-persist 2 \
        --drs-max-moves 4 --drs-max-concurrent 1 >/dev/null
"$DROVER" drs run default >/dev/null
out=$("$DROVER" drs run default)
dv_log "manual pass:"$'\n'"$out"
js=$("$DROVER" -o json drs recommendations default)
nrec=$(jq '.recommendations | length' <<<"$js")
check "manual mode: recommendations listed ($nrec)" [ "$nrec" -ge 2 ]
check "... the rule is fixed first" \
        jqjs '.recommendations[0].why == "rule" and .recommendations[0].rule == "apart"'
check "... each says imbalance before/after, gain, cost and why" \
        jqjs 'all(.recommendations[]; .cost_mib > 0 and (.reason | length) > 20 and (.gain | type) == "number" and (.why == "rule" or .imbalance_before > .imbalance_after))'
check "... the imbalance is above the target" jqjs '.imbalance > .target'
sleep_polls() { local i; for i in 1 2 3; do "$DROVER" drs recommendations default >/dev/null; done; }
sleep_polls
all_on_host1() { local v; for v in $VMS; do [ "$(dv_json .host vm show $v)" = host1 ] || return 1; done; }
check "... and nothing moved" all_on_host1
check "... no migration task" bash -c "! '$DROVER' -o json task list | jq -e '.tasks[] | select(.op==\"vm.migrate\")' >/dev/null"

# Automatic: DRS migrates until the load is within the band.
apart_ok=1
watch_apart() {
        local h1 h2
        h1=$(dv_json .host vm show b1); h2=$(dv_json .host vm show b2)
        moved=$(for v in $VMS; do [ "$(dv_json .host vm show $v)" != host1 ] && echo $v; done | wc -l)
        # once the rule is fixed, b1 and b2 never share a host again
        if [ "$h1" != "$h2" ]; then fixed=1; elif [ "${fixed:-0}" = 1 ]; then apart_ok=0; fi
}
balanced() {
        watch_apart
        local js
        js=$("$DROVER" -o json drs recommendations default)
        jq -e '.mode == "automatic" and (.imbalance <= .target) and .migrations_in_flight == 0 and (.recommendations | length) == 0' <<<"$js" >/dev/null
}
"$DROVER" cluster set default --drs automatic >/dev/null
t0=$(date +%s)
check "automatic mode balances the hosts (imbalance within the threshold's target)" \
        wait_until 400 "balanced" balanced
dv_log "balanced after $(( $(date +%s) - t0 )) s"
dv_log "$("$DROVER" drs recommendations default)"
n_mig=$("$DROVER" -o json task list | jq '[.tasks[] | select(.op=="vm.migrate" and .state=="succeeded")] | length')
check "DRS migrated VMs ($n_mig; manual listed $nrec)" [ "$n_mig" -ge 2 ]
check "VMs left host1 ($moved of 4)" [ "${moved:-0}" -ge 2 ]
check "b1 and b2 are on different hosts" [ "$(dv_json .host vm show b1)" != "$(dv_json .host vm show b2)" ]
check "... and never shared one after the rule was fixed" [ "$apart_ok" = 1 ]
js=$("$DROVER" -o json drs recommendations default)
check "every host's CPU load is within the band (mean +/- 2 x target)" \
        jqjs '([.hosts[].cpu_load_pct] | add / length) as $m | .target as $t | all(.hosts[]; ((.cpu_load_pct - $m) | if . < 0 then -. else . end) <= 200 * $t)'
dv_log "host loads: $(jq -c '[.hosts[] | {name, cpu_load_pct}]' <<<"$js")"
check "the migrations are DRS's" bash -c "'$DROVER' -o json task list | jq -e '[.tasks[] | select(.op==\"vm.migrate\" and .user==\"drs\")] | length >= 2' >/dev/null"

"$DROVER" cluster set default --drs off >/dev/null
for v in $VMS; do "$DROVER" vm stop $v --force >/dev/null; done
for v in $VMS; do "$DROVER" vm delete $v >/dev/null; done
dv_finish
