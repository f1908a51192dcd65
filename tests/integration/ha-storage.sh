#!/usr/bin/env bash
# Shared storage taken away from one host only (`lab storage h1 down`: the
# shared directory is covered by an empty read-only tmpfs in host1's
# agent's mount namespace; docs/ha.md, lab/README.md). host1 can no longer
# renew its HA VM's lease nor write its datastore heartbeat: the VM is
# killed there (by HA's stop, or by the agent before the lease expires)
# and restarted on another host of the 3-host lab (X) once, after the lease.
# Then the same on X with a datastore timeout longer than the agent's kill,
# so that the kill (VM stopped, reason lease-lost) is reported before HA
# sees the datastore stale: restarted on a host other than X, once. Image
# locking is off; a poller checks every 100 ms that the disk is never open
# in two QEMUs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ha-lab.sh"

ha_lab_up 3
"$DROVER" vm create web --cpus 1 --memory 128 --disk 1@shared --host host1 --ha \
        --kernel-args drover.writer=100 >/dev/null
"$DROVER" vm start web >/dev/null
id=$(dv_json .id vm show web)
disk=$(dv_json '.disks[0].path' vm show web)
lease=$S/shared/.drover-lease/$id
wait_until 60 "web running on host1" vm_on web host1
ha_poll_disks "$disk"
qpid=$(cat "$S/h1/run/$id/qemu.pid")

t0=$(now_ms)
lab storage h1 down >/dev/null
check "host1's agent no longer sees the shared datastore" \
        nsenter -t "$(cat "$S/h1/lab/agent.pid")" -m sh -c "! test -e '$lease'"
check "the other hosts still do" test -e "$lease"
killed() { ! kill -0 "$qpid" 2>/dev/null; }
if wait_until 30 "web's QEMU on host1 killed" killed; then
        dv_log "web killed on host1 $(( $(now_ms) - t0 )) ms after its storage went"
fi
check "web's QEMU on host1 was killed" killed
check "killed before its lease expired" [ "$(now_ms)" -lt "$(( $(jq -r .expiry_wall_ms "$lease") + 500 ))" ]
ON=
if wait_until 60 "web running on another host" vm_on_other web host1; then
        dv_log "web running on $ON $(( $(now_ms) - t0 )) ms after host1's storage went"
fi
check "web restarted on another host ($ON)" vm_on_other web host1
X=$ON
check "the lease is $X's" [ "$(jq -r .holder "$lease")" = "$X" ]
check "host1's agent says why it lost web" eval \
        'grep -E "cannot renew its lease|the manager asks to stop it" "$S/h1/agent.log" | grep -q .'

lab storage h1 up >/dev/null
stable=1
for _ in $(seq 25); do vm_on web "$X" || stable=0; sleep 0.2; done
check "web stays on $X once host1's storage is back" [ "$stable" = 1 ]
check "web was restarted once" [ "$(ha_events | grep -c '^vm.restarted web')" = 1 ]
# Which of the two came first (both orders must end as above).
if has_event vm.killed-by-host web; then
        dv_log "order: host1's kill on lease loss was reported before HA saw its datastore stale"
else
        dv_log "order: HA saw host1's datastore stale before its agent's kill"
fi

# The race forced the other way: with a datastore timeout (6 s) longer than
# the agent's kill on lease loss (3.5-4.5 s), X's kill is always reported
# first; the VM, recorded stopped with reason lease-lost, must still be
# restarted (on another host), once, after its lease.
api() { curl -sf -X "$1" -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" \
        -H 'Content-Type: application/json' "$DROVER_URL/api/v1/$2" ${3:+--data "$3"}; }
api PATCH clusters/default '{"ha":{"ds_timeout_ms":6000}}' >/dev/null
check "the cluster takes a 6 s datastore timeout" \
        [ "$(api GET clusters/default | jq -r .ha.ds_timeout_ms)" = 6000 ]
qpid=$(cat "$S/h${X#host}/run/$id/qemu.pid")
t0=$(now_ms)
lab storage "h${X#host}" down >/dev/null
wait_until 30 "web's QEMU on $X killed" killed
stopped_lease_lost() {
        "$DROVER" -o json event list --limit 200 |
                jq -e '[.events[] | select(.kind == "vm.stopped" and .target.name == "web"
                        and (.message | test("lease-lost")))] | length >= 1' >/dev/null
}
check "$X reported web stopped for lease-lost" stopped_lease_lost
ON=
if wait_until 60 "web running on a host other than $X" vm_on_other web "$X"; then
        dv_log "web running on $ON $(( $(now_ms) - t0 )) ms after $X's storage went"
fi
check "web restarted on another host ($ON) after $X's kill on lease loss" vm_on_other web "$X"
check "HA saw the kill by $X" has_event vm.killed-by-host web
check "the lease is $ON's" [ "$(jq -r .holder "$lease")" = "$ON" ]
lab storage "h${X#host}" up >/dev/null
stable=1
for _ in $(seq 25); do vm_on web "$ON" || stable=0; sleep 0.2; done
check "web stays on $ON once $X's storage is back" [ "$stable" = 1 ]
check "web was restarted once more (twice in all)" [ "$(ha_events | grep -c '^vm.restarted web')" = 2 ]
check "the disk was never open in two QEMU processes (polled every 100 ms)" no_two_open
dv_finish
