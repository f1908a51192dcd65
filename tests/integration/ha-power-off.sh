#!/usr/bin/env bash
# Issue 7, HA acceptance 1, in a 3-host lab through the CLI: power a host off
# through its BMC; its HA VMs run on the other hosts with Tools heartbeat,
# their disks hold what was written before the failure, the non-HA VM stays
# down and is reported; never two QEMU processes for one VM; the host comes
# back without duplicates, and the manager's view (state, host, QEMU pid of
# each VM) matches the QEMU processes that run.
#
# What "the disk holds what was written" means here, honestly: before the
# first boot the test writes an ext2 filesystem with a marker file (a random
# token) into each VM's qcow2 on the shared datastore. The guest on host2
# mounts it (the kernel writes the superblock: mount count 1). Tools then
# freezes the guest's filesystem (a sync and a cache flush down to the
# qcow2) and the test reads the image as it is on storage (qemu-img -U:
# what another QEMU would open after a crash): marker, filesystem UUID,
# mount count 1. After the failover the new guest must find that filesystem
# (its console says "found existing filesystem", not "created"), and the
# same read on the new host shows the same UUID and marker and mount count
# 2: the first guest's write survived the power cut and the second guest
# wrote on top of it.
#
# Prints one JSON line per HA VM: power-off to "running" on the new host
# (QEMU started) and to Tools "running" there.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for t in ipmi_sim ipmitool ovs-vswitchd jq mke2fs debugfs dumpe2fs qemu-img pgrep; do
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

t=$(now_ms)
lab up --hosts 3 --image-dir "$DV_IMAGE_DIR" >"$DV_TMP/lab-up.log" 2>&1 ||
        { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
dv_log "lab up took $(( $(now_ms) - t )) ms"
eval "$(lab env)"
export DROVER_URL DROVER_TOKEN_FILE
for n in 1 2 3; do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
ln -s "$S/manager.log" "$DV_TMP/manager.log"
for n in 1 2 3; do wait_until 30 "host$n connected" dv_host_state_is "host$n" connected; done

bmc_power_is() { [ "$(dv_json .bmc.power host show "$1")" = "$2" ]; }
check "lab up registered host2's BMC (password set, never shown)" \
        [ "$(dv_json '.bmc.password_set' host show host2):$(dv_json '.bmc.password // "absent"' host show host2)" = true:absent ]
wait_until 20 "host2's BMC read as on" bmc_power_is host2 on
check "the manager reads host2's power through its BMC" bmc_power_is host2 on
check "HA is on in the default cluster" [ "$(dv_json .ha.enabled cluster show default)" = true ]

# --- VMs: two HA, one not, all on host2 with a disk on the shared datastore ---
"$DROVER" vm create ha1 --cpus 1 --memory 192 --disk 1@shared --host host2 --ha >/dev/null
"$DROVER" vm create ha2 --cpus 1 --memory 192 --disk 1@shared --host host2 --ha >/dev/null
"$DROVER" vm create plain --cpus 1 --memory 192 --disk 1@shared --host host2 >/dev/null
check "vm set ha2 --ha-priority 10" "$DROVER" vm set ha2 --ha-priority 10
check "ha2 has priority 10 and HA on" [ "$(dv_json '"\(.ha):\(.ha_priority)"' vm show ha2)" = true:10 ]
check "vm set refuses a bad --ha" bash -c "! '$DROVER' vm set plain --ha maybe 2>/dev/null"
declare -A ID DISK TOKEN UUID
for v in ha1 ha2 plain; do
        ID[$v]=$(dv_json .id vm show "$v")
        DISK[$v]=$(dv_json '.disks[0].path' vm show "$v")
        TOKEN[$v]=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
        # The filesystem and its marker, written into the qcow2 before the
        # first boot (qemu-img -n keeps the file, its owner and mode).
        mkdir -p "$DV_TMP/fs-$v"
        echo "${TOKEN[$v]}" > "$DV_TMP/fs-$v/marker"
        truncate -s 1G "$DV_TMP/fs-$v.raw"
        mke2fs -q -F -t ext2 -L drover-data -d "$DV_TMP/fs-$v" "$DV_TMP/fs-$v.raw" >/dev/null
        qemu-img convert -n -f raw -O qcow2 "$DV_TMP/fs-$v.raw" "${DISK[$v]}"
        rm -f "$DV_TMP/fs-$v.raw"
done
for v in ha1 ha2 plain; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in ha1 ha2 plain; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 120 "$v Tools running" dv_tools_state_is "$v" running
done

# The image as storage holds it (as a QEMU opening it after a crash would
# see it): "UUID MOUNT_COUNT MARKER".
disk_facts() {
        local raw=$DV_TMP/read.raw uuid count marker
        rm -f "$raw"
        qemu-img convert -U -f qcow2 -O raw "$1" "$raw" || return 1
        uuid=$(dumpe2fs -h "$raw" 2>/dev/null | sed -n 's/^Filesystem UUID: *//p')
        count=$(dumpe2fs -h "$raw" 2>/dev/null | sed -n 's/^Mount count: *//p')
        marker=$(debugfs -R "cat /marker" "$raw" 2>/dev/null)
        rm -f "$raw"
        echo "$uuid $count $marker"
}
# Freeze (sync + flush in the guest), read the image, thaw.
flushed_facts() {
        "$DROVER" vm freeze "$1" --timeout 30 >/dev/null || return 1
        disk_facts "${DISK[$1]}"
        "$DROVER" vm thaw "$1" >/dev/null
}
for v in ha1 ha2; do
        f=$(flushed_facts "$v")
        UUID[$v]=${f%% *}
        check "$v on host2: its disk holds the marker and the guest's mount (count 1) [$f]" \
                [ "${f#* }" = "1 ${TOKEN[$v]}" ]
done

# --- never two copies: every 100 ms, QEMU processes per VM --------------------
# (pgrep by process name: a -f pattern would match our own shells.)
our_qemus() { pgrep -a qemu-system | grep -F "$S/h" || true; }
poll_qemu() {
        local prev="" cur
        set +e
        while :; do
                cur=$(our_qemus | awk -v s="$S/h" '
                        { i = index($0, s); if (!i) next
                          rest = substr($0, i + length(s))          # N/run/ID/...
                          split(rest, p, "/"); host = p[1]; id = p[3]
                          if (!seen[id, $1]++) { n[id]++; where[id] = where[id] " h" host ":" $1 } }
                        END { for (id in n) printf "%s%s%s\n", (n[id] > 1 ? "VIOLATION " : ""), id, where[id] }' | sort)
                if [ "$cur" != "$prev" ]; then
                        printf '%s\n%s\n' "t=$(now_ms)" "$cur"
                        prev=$cur
                fi
                sleep 0.1
        done
}
poll_qemu >"$DV_TMP/qemu-poll.log" 2>&1 &
DV_PIDS+=("$!")
wait_until 10 "the QEMU poller's first sample" dv_file_has "$DV_TMP/qemu-poll.log" "${ID[ha1]}"

# --- power host2 off through its BMC -----------------------------------------
t0=$(now_ms)
check "lab power host2 off (BMC chassis power off)" lab power host2 off
declare -A RUN_MS TOOLS_MS HOST
moved() { local h; h=$(dv_json '"\(.state) \(.host)"' vm show "$1"); [[ $h == running* && $h != *host2 ]]; }
for v in ha1 ha2; do
        if wait_until 60 "$v running on another host" moved "$v"; then
                RUN_MS[$v]=$(( $(now_ms) - t0 ))
        fi
done
for v in ha1 ha2; do
        if wait_until 90 "$v Tools running on its new host" dv_tools_state_is "$v" running; then
                TOOLS_MS[$v]=$(( $(now_ms) - t0 ))
        fi
done
for v in ha1 ha2; do
        HOST[$v]=$(dv_json .host vm show "$v")
        n=${HOST[$v]#host}
        check "$v runs on another host (${HOST[$v]}) after ${RUN_MS[$v]:-?} ms" \
                eval '[ -n "${RUN_MS[$v]:-}" ] && [ "${HOST[$v]}" != host2 ]'
        check "$v has a live QEMU in ${HOST[$v]}'s run dir" \
                eval 'p=$(cat "$S/h$n/run/${ID[$v]}/qemu.pid" 2>/dev/null) && kill -0 "$p"'
        check "the QEMU poller saw $v move from h2 to h$n" \
                eval 'grep -q "^${ID[$v]} h2:" "$DV_TMP/qemu-poll.log" && grep -q "^${ID[$v]} h$n:" "$DV_TMP/qemu-poll.log"'
        check "$v: Tools heartbeat on ${HOST[$v]} after ${TOOLS_MS[$v]:-?} ms" \
                eval '[ -n "${TOOLS_MS[$v]:-}" ]'
        printf '{"bench":"ha-power-off","vm":"%s","from":"host2","to":"%s","running_ms":%s,"tools_ms":%s}\n' \
                "$v" "${HOST[$v]}" "${RUN_MS[$v]:-null}" "${TOOLS_MS[$v]:-null}"
done
check "host2 is failed (or unreachable)" \
        eval 's=$(dv_json .state host show host2); [ "$s" = failed ] || [ "$s" = unreachable ]'
check "host2's BMC reads off" bmc_power_is host2 off
check "the non-HA vm stays stopped on host2 (state_reason host-failed)" \
        [ "$(dv_json '"\(.state) \(.host) \(.state_reason)"' vm show plain)" = "stopped host2 host-failed" ]
ev() { "$DROVER" -o json event list --limit 200 | jq -r --arg k "$1" --arg n "$2" \
        '[.events[] | select(.kind == $k and .target.name == $n)] | .[0].message // empty'; }
check "an event says why plain was not restarted: $(ev vm.not-restarted plain)" \
        eval '[[ "$(ev vm.not-restarted plain)" == *ha-off* ]]'
check "an event says host2 was fenced through its BMC" eval '[[ "$(ev host.fenced host2)" == *by=bmc* ]]'
for v in ha1 ha2; do
        check "an event says where $v went: $(ev vm.restarted "$v")" \
                eval '[[ "$(ev vm.restarted "$v")" == *"host=${HOST[$v]}"* ]]'
done
# ha2 (priority 10) is restarted before ha1 (priority 0).
first=$("$DROVER" -o json event list --limit 200 |
        jq -r '[.events[] | select(.kind == "vm.restarting")] | sort_by(.id) | .[0].target.name')
check "the higher priority vm is restarted first (first: $first)" [ "$first" = ha2 ]

# The disks after the failover.
for v in ha1 ha2; do
        log=$(dv_json .console_log vm show "$v")
        check "$v's new guest found the filesystem (not formatted again)" \
                eval 'dv_file_has "$log" "found existing filesystem on /dev/vda" && ! dv_file_has "$log" "created ext2"'
        f=$(flushed_facts "$v")
        check "$v on ${HOST[$v]}: same filesystem, marker intact, mounted twice [$f]" \
                [ "$f" = "${UUID[$v]} 2 ${TOKEN[$v]}" ]
done
check "never two QEMU processes for one VM (polled every 100 ms)" \
        bash -c "! grep -q VIOLATION '$DV_TMP/qemu-poll.log'"

# --- power host2 back on --------------------------------------------------------
check "lab power host2 on" lab power host2 on
t=$(now_ms)
wait_until 60 "host2 connected again" dv_host_state_is host2 connected
check "host2 is connected again ($(( $(now_ms) - t )) ms after power on)" dv_host_state_is host2 connected
# Watch it for a while (past HA's reconciliation window of 2 x net timeout):
# nothing may start twice, nothing may start on host2.
stable=1
for _ in $(seq 40); do
        for v in ha1 ha2; do
                [ "$(dv_json '"\(.state) \(.host)"' vm show "$v")" = "running ${HOST[$v]}" ] || stable=0
        done
        [ "$(dv_json .state vm show plain)" = stopped ] || stable=0
        sleep 0.2
done
check "after host2's return the HA vms stay where they are and plain stays stopped" [ "$stable" = 1 ]
check "no QEMU of ours runs on host2" eval '! our_qemus | grep -qF "$S/h2/"'
check "still never two QEMU processes for one VM" bash -c "! grep -q VIOLATION '$DV_TMP/qemu-poll.log'"
check "HA marks host2 connected (ha_state)" [ "$(dv_json .ha_state host show host2)" = connected ]
# The manager's view matches reality: each HA VM's record (state, host,
# QEMU pid) is its one live QEMU process; plain, stopped for the manager,
# has none.
view_matches() { # VM
        local v=$1 rec pid
        rec=$(dv_json '"\(.state) \(.host) \(.pid)"' vm show "$v")
        pid=$(cat "$S/h${HOST[$v]#host}/run/${ID[$v]}/qemu.pid") || return 1
        [ "$rec" = "running ${HOST[$v]} $pid" ] && kill -0 "$pid" &&
                [ "$(our_qemus | grep -cF "/${ID[$v]}/")" = 1 ]
}
for v in ha1 ha2; do
        check "$v: the manager's record (running on ${HOST[$v]}, its pid) is its only live QEMU" \
                view_matches "$v"
done
check "plain: stopped for the manager, and no QEMU of it runs anywhere" \
        eval '[ "$(dv_json .state vm show plain)" = stopped ] && ! our_qemus | grep -qF "/${ID[plain]}/"'
dv_log "QEMU processes over time (vm id, then host:pid):"
cat "$DV_TMP/qemu-poll.log" >&2
dv_finish
