#!/usr/bin/env bash
# bench/migrate: live migration (change host, shared storage) of a guest
# whose memory is filled with random data (guest aid drover.memfill=), under
# three dirtying workloads (drover.dirty=: idle, 50 MiB/s, and "max": as fast
# as the guest can), between the two hosts of a 2-host lab (drover-lab: each
# host a network namespace, the migration on the management network: veth
# pairs through a Linux bridge in the lab's management namespace).
# Configurations, in the same run:
#   drover    Drover itself: `vm migrate` through the manager (QEMU >= 9:
#             multifd, one channel per CPU of the smaller host, up to 4;
#             before: one plain stream; no bandwidth cap, downtime limit
#             100 ms, auto-converge)
#   plain     raw QEMU, default migration parameters (7.2: 128 MiB/s cap,
#             300 ms downtime limit, no multifd)
#   proxmox   raw QEMU tuned as Proxmox VE tunes it: no bandwidth cap, 100 ms
#             downtime limit doubled whenever a pass leaves more than the one
#             before, auto-converge, xbzrle
#   multifd2  raw QEMU, no bandwidth cap, multifd with 2 channels
# and, for profiling Drover's own choices on raw QEMU (not in the default
# set): dmfd1 (Drover's agent settings: multifd 1 channel, no cap, 100 ms,
# auto-converge) and dprecopy (the same without multifd).
# The raw peers run Drover's own QEMU command line (same machine, devices,
# kernel and initrd) in the same two host namespaces, with a QMP client of
# their own (bench/qmp.py), each QEMU in a CPU cgroup of the same shape as
# an agent's (one group per "host" under the benchmark's subtree): in the
# root cgroup every thread of a raw QEMU would weigh as much as all of
# Drover's VMs together on a loaded machine.
# For each configuration and workload the guest boots once, fills its
# memory, then migrates RUNS times back and forth; one JSON line per run
#   {"bench":"migrate","config","workload","run","total_ms","downtime_ms",
#    "bytes","normal_bytes","converged","dirty_rate","guest_ok", ...}
# (guest_ok: 2 s after the migration the guest kernel has not oopsed on the
# target's console; a Drover guest that crashed ends its series)
# (raw peers: cpu_ms, the CPU time both QEMUs used from migrate to the end,
# a cost the machine's load does not stretch as it stretches total_ms)
# and one summary line per configuration and workload: medians, where a run
# that did not converge or whose guest crashed counts as failed (at the
# budget: a migration that kills the guest is not a fast one), with the
# floor: the guest's non-zero RAM (QEMU's normal-bytes of the first idle
# migration: every non-zero page sent once; the fill alone without an idle
# run) divided by the TCP rate measured between the two hosts' management
# addresses (bench/tcprate.py: 1 GiB from a buffer, sender and receiver in
# the two namespaces and the raw peers' two cgroups; the best of 3), and
# total/floor. While it runs, this machine's free page reporting is
# paused (restored at exit), and before every migration of every
# configuration bench/warm.py touches and frees the guest's RAM size plus
# 256 MiB, so that every target allocates memory this machine's
# hypervisor still backs (see warm.py and below; the header line gives
# both first-touch costs: touch_first_ms, touch_again_ms). Every line
# also goes to bench/results-migrate-TAG.jsonl (DROVER_BENCH_TAG, default
# the start time). Drover's lines also carry the task's own timings
# (task_ms: request to done; memory_ms; switchover_ms) and, with
# DROVER_BENCH_PREDICT=1, what `vm migrate --check` predicted just before
# (predicted_ms, predicted_downtime_ms, predicted_dirty_rate; the check's
# rate test and dirty-rate sampling then run before every migration).
# Environment: DROVER_BENCH_MIB (guest RAM, default 1024), DROVER_BENCH_RUNS
# (default 5), DROVER_BENCH_CONFIGS, DROVER_BENCH_WORKLOADS ("idle 50 max"),
# DROVER_BENCH_BUDGET_S (a run that has not converged by then is cancelled
# and counts as not converged; default 120). A benchmark, not a test: needs
# root, the lab's tools, no other lab up, a built tree and the guest image
# with the aids (guest/build.sh).
. "$(dirname "$0")/../tests/integration/lib.sh"
DV_TEST=bench-migrate
here=$(cd "$(dirname "$0")" && pwd)
MIB=${DROVER_BENCH_MIB:-1024}
RUNS=${DROVER_BENCH_RUNS:-5}
CONFIGS=${DROVER_BENCH_CONFIGS:-"drover plain proxmox multifd2"}
WORKLOADS=${DROVER_BENCH_WORKLOADS:-"idle 50 max"}
BUDGET_S=${DROVER_BENCH_BUDGET_S:-120}
FILL=$((MIB * 3 / 4))   # the rest: the guest kernel, its initramfs in RAM, page tables
QMP() { python3 "$here/qmp.py" "$@" || true; }   # set -e: an error reply is data
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
api() { curl -s -H "Authorization: Bearer $(cat "$DROVER_TOKEN_FILE")" -H 'Content-Type: application/json' "$@"; }

RESULTS=$here/results-migrate-${DROVER_BENCH_TAG:-$(date -u +%Y%m%d-%H%M)}.jsonl
exec > >(tee -a "$RESULTS")

dv_lab_up 2
# This machine is a virtual machine whose hypervisor takes back memory its
# kernel reports free (virtio-balloon free page reporting): a target's
# first touch of such memory costs ~1.6 s per GiB here, against ~0.16 s
# for memory freed and still backed, and which one a run gets depends on
# when the previous run's QEMU exited. While the benchmark runs, no order
# is reported (page_reporting_order 11: past this kernel's largest order,
# 10; measured: nothing reported in 10 s) and warm() before every
# migration leaves backed memory free for the target; restored at exit.
PR_ORDER=/sys/module/page_reporting/parameters/page_reporting_order
if [ -w "$PR_ORDER" ]; then
        PR_OLD=$(cat "$PR_ORDER")
        pr_restore() { echo "$PR_OLD" >"$PR_ORDER"; }
        DV_CLEANUP_HOOKS+=(pr_restore)
        echo 11 >"$PR_ORDER"
fi
# The two hosts: namespace and management address, by lab host number.
NS=("" "$(lab status -o json | jq -r '.hosts[0].namespace')" "$(lab status -o json | jq -r '.hosts[1].namespace')")
IP=("" "$(lab status -o json | jq -r '.hosts[0].mgmt_ip')" "$(lab status -o json | jq -r '.hosts[1].mgmt_ip')")

# The raw peers' CPU cgroups, beside the agents' (tests/integration/lib.sh
# removes them at exit): rawa and rawb, one per "host" directory. The
# agents make their own parent only when a VM starts: make it here.
if [ -d /sys/fs/cgroup/cpu ]; then
        CG_BASE=/sys/fs/cgroup/cpu/drover-test/${DV_TMP##*/}
        mkdir -p "$CG_BASE/rawa" "$CG_BASE/rawb"
else
        CG_BASE=/sys/fs/cgroup/drover-test/${DV_TMP##*/}
        mkdir -p "$CG_BASE/rawa" "$CG_BASE/rawb"
        echo +cpu >/sys/fs/cgroup/drover-test/cgroup.subtree_control
        echo +cpu >"$CG_BASE/cgroup.subtree_control"
fi
# in_cg GROUP CMD...: CMD (exec'd) inside the raw cgroup GROUP.
in_cg() {
        local g=$1
        shift
        echo "$BASHPID" >"$CG_BASE/$g/cgroup.procs"
        exec "$@"
}

# The TCP rate between the two hosts' management addresses.
tcp_rate=0
for _ in 1 2 3; do
        port=$(dv_free_port)
        (in_cg rawb ip netns exec "${NS[2]}" python3 "$here/tcprate.py" recv "${IP[2]}" "$port") &
        rpid=$!
        DV_PIDS+=("$rpid")
        sleep 0.5
        r=$( (in_cg rawa ip netns exec "${NS[1]}" python3 "$here/tcprate.py" send "${IP[2]}" "$port" 1073741824) ) || r=0
        wait "$rpid" 2>/dev/null || true
        [ "$r" -gt "$tcp_rate" ] && tcp_rate=$r
done
[ "$tcp_rate" -gt 0 ] || { dv_log "no TCP rate measured"; exit 1; }
# Non-zero RAM for the floor: the fill until an idle run measures it.
NONZERO=$(( FILL * 1048576 ))
floor_ms() { echo $(( NONZERO * 1000 / tcp_rate )); }
# warm: before each migration (see warm.py). First-touch costs for the record.
warm() { python3 "$here/warm.py" $((MIB + 256)) >/dev/null; }
touch_first=$(python3 "$here/warm.py" "$MIB"); touch_again=$(python3 "$here/warm.py" "$MIB")
echo "{\"bench\":\"migrate\",\"tcp_rate\":$tcp_rate,\"path\":\"${IP[1]} -> ${IP[2]} (lab namespaces)\",\"memory_mib\":$MIB,\"fill_mib\":$FILL,\"fill_floor_ms\":$(floor_ms),\"touch_first_ms\":$touch_first,\"touch_again_ms\":$touch_again,\"runs\":$RUNS,\"budget_s\":$BUDGET_S,\"configs\":\"$CONFIGS\",\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

args_for() { # workload -> kernel args
        if [ "$1" = idle ]; then echo "drover.memfill=$FILL"; else echo "drover.memfill=$FILL drover.dirty=$1"; fi
}
wait_filled() { # console log [dirty]
        wait_until 900 "memory filled" dv_file_has "$1" 'drover-memfill: done' || return 1
        [ "$2" = idle ] || wait_until 30 "dirtying" dv_file_has "$1" 'drover-dirty: '
        sleep 2   # the dirtying reaches its rate
}
# emit config workload run total downtime bytes normal_bytes converged
#      dirty_rate guest_ok [extra JSON members]
emit() {
        echo "{\"bench\":\"migrate\",\"config\":\"$1\",\"workload\":\"$2\",\"run\":$3,\"total_ms\":$4,\"downtime_ms\":$5,\"bytes\":$6,\"normal_bytes\":$7,\"converged\":$8,\"dirty_rate\":$9,\"guest_ok\":${10}${11:+,${11}}}"
        if [ "$8" = true ] && [ "${10}" = true ]; then
                R_TOTAL+=("$4"); R_DOWN+=("$5")
                # The first idle migration measures the guest's non-zero RAM.
                [ "$2" = idle ] && [ -z "$NONZERO_MEASURED" ] && [ "$7" -gt 0 ] && { NONZERO=$7; NONZERO_MEASURED=1; }
        else
                R_TOTAL+=($((BUDGET_S * 1000))); R_DOWN+=(0)
        fi
        R_BYTES+=("$6")
        [ "$8" = true ] || R_NOTCONV=$((R_NOTCONV + 1))
        [ "${10}" = true ] || R_CRASH=$((R_CRASH + 1))
}
NONZERO_MEASURED=
summary() { # config workload
        local mt md mb f
        mt=$(median "${R_TOTAL[@]}"); md=$(median "${R_DOWN[@]}"); mb=$(median "${R_BYTES[@]}"); f=$(floor_ms)
        echo "{\"bench\":\"migrate\",\"summary\":true,\"config\":\"$1\",\"workload\":\"$2\",\"runs\":${#R_TOTAL[@]},\"median_total_ms\":$mt,\"median_downtime_ms\":$md,\"median_bytes\":$mb,\"not_converged\":$R_NOTCONV,\"guest_crashed\":$R_CRASH,\"nonzero_bytes\":$NONZERO,\"floor_ms\":$f,\"total_over_floor\":$(awk "BEGIN{printf \"%.2f\", $mt/$f}")}"
}

# The guest's kernel has not oopsed or panicked in console log $1 (a
# migration that loses or tears guest memory shows there first).
guest_ok() { sleep 2; if tr -d '\000' <"$1" 2>/dev/null | grep -aqE 'BUG: |Oops|Kernel panic'; then echo false; else echo true; fi; }

# ---- Drover
run_drover() { # workload
        local w=$1 k task st res to ok
        "$DROVER" vm create bm --cpus 1 --memory "$MIB" --host host1 --kernel-args "$(args_for "$w")" >/dev/null
        "$DROVER" vm start bm >/dev/null
        wait_until 120 "tools" dv_tools_state_is bm running
        wait_filled "$(dv_json .console_log vm show bm)" "$w"
        for k in $(seq "$RUNS"); do
                # Tools must run (a precheck): under the "max" workload the
                # busy guest can take more than the switchover's 5 s wait
                # to say hello on the new host.
                wait_until 120 "tools" dv_tools_state_is bm running || true
                [ "$(dv_json .host vm show bm)" = host1 ] && to=host2 || to=host1
                # What --check predicts for this run (its rate test and
                # dirty-rate sampling run before the warm-up).
                pred='{"predicted_ms":null}'
                [ "${DROVER_BENCH_PREDICT:-0}" = 1 ] &&
                pred=$("$DROVER" -o json vm migrate bm --host "$to" --check 2>/dev/null |
                        jq -c '{predicted_ms: (.prediction.total_ms // null), predicted_downtime_ms: (.prediction.downtime_ms // null), predicted_dirty_rate: (.prediction.guest_dirty_rate // null)}' 2>/dev/null) || pred=""
                [ -n "$pred" ] || pred='{"predicted_ms":null}'
                warm
                task=$(api -X POST -d "{\"host\":\"$to\",\"memory_timeout_s\":$BUDGET_S}" \
                        "$DROVER_URL/api/v1/vms/bm/migrate" | jq -r .task.id)
                wait_until $((BUDGET_S + 120)) "task" bash -c "[ \"\$('$DROVER' -o json task show $task | jq -r .state)\" != running ]" || true
                res=$("$DROVER" -o json task show "$task")
                st=$(jq -r .state <<<"$res")
                if [ "$st" = succeeded ]; then
                        ok=$(guest_ok "$(dv_json .console_log vm show bm)")
                        emit drover "$w" "$k" "$(jq .result.qemu.total_ms <<<"$res")" \
                                "$(jq .result.qemu.downtime_ms <<<"$res")" \
                                "$(jq .result.qemu.transferred <<<"$res")" \
                                "$(jq '.result.qemu.normal_bytes // 0' <<<"$res")" true \
                                "$(jq '.result.qemu.dirty_pages_rate * 4096' <<<"$res")" "$ok" \
                                "$(jq -c '.result | "\"task_ms\":\(.total_ms),\"memory_ms\":\(.memory_ms),\"switchover_ms\":\(.switchover_ms),\"setup_ms\":\(.qemu.setup_ms),\"channels\":\(.channels)"' -r <<<"$res"),${pred:1:-1}"
                        [ "$ok" = true ] || { dv_log "drover run $k: the guest crashed after the migration"; break; }
                else
                        emit drover "$w" "$k" $((BUDGET_S * 1000)) 0 0 0 false 0 true
                        dv_log "drover run $k: $(jq -r .message <<<"$res")"
                fi
                wait_until 60 "running" dv_vm_state_is bm running || true
        done
        "$DROVER" vm stop bm --force >/dev/null
        "$DROVER" vm delete bm >/dev/null
}

# ---- raw QEMU peers, on Drover's command line
ARGV=()
capture_argv() { # the QEMU argv Drover uses for this guest (diskless, no NIC)
        local qpid
        "$DROVER" vm create bmraw --cpus 1 --memory "$MIB" --host host1 --kernel-args "__ARGS__" >/dev/null
        "$DROVER" vm start bmraw >/dev/null
        qpid=$(dv_qemu_pids "$(dv_json .id vm show bmraw)")
        mapfile -d '' ARGV <"/proc/$qpid/cmdline"
        RAW_RUNDIR=$(dirname "$(dv_json .console_log vm show bmraw)")
        "$DROVER" vm stop bmraw --force >/dev/null
        "$DROVER" vm delete bmraw >/dev/null
}
# raw_start dir kernel-args [incoming]: a raw QEMU in the cgroup named after
# DIR (raw-a: host1's namespace, raw-b: host2's).
raw_start() {
        local dir=$1 a args=() ns
        [ "${dir##*/raw-}" = a ] && ns=${NS[1]} || ns=${NS[2]}
        rm -rf "$dir"; mkdir -p "$dir"
        for a in "${ARGV[@]:1}"; do
                a=${a//$RAW_RUNDIR/$dir}
                a=${a//__ARGS__/$2}
                args+=("$a")
        done
        [ -n "${3:-}" ] && args+=(-incoming defer)
        (in_cg "raw${dir##*/raw-}" ip netns exec "$ns" "${ARGV[0]}" "${args[@]}") >/dev/null 2>>"$DV_TMP/raw-qemu.log" &
        echo $!
}
raw_setup() { # config sock side(src|dst)
        local caps params
        case "$1" in
        plain)    caps='[]'; params='{}' ;;
        proxmox)  caps='[{"capability":"auto-converge","state":true},{"capability":"xbzrle","state":true}]'
                  params='{"max-bandwidth":107374182400,"downtime-limit":100}' ;;
        multifd2) caps='[{"capability":"multifd","state":true}]'
                  params='{"max-bandwidth":107374182400,"multifd-channels":2}' ;;
        dmfd1)    caps='[{"capability":"multifd","state":true},{"capability":"auto-converge","state":true}]'
                  params='{"max-bandwidth":107374182400,"multifd-channels":1,"downtime-limit":100}' ;;
        dprecopy) caps='[{"capability":"auto-converge","state":true}]'
                  params='{"max-bandwidth":107374182400,"downtime-limit":100}' ;;
        esac
        if [ "$3" = dst ]; then
                case "$1" in
                multifd2) params='{"multifd-channels":2}' ;;
                dmfd1)    params='{"multifd-channels":1}'; caps='[{"capability":"multifd","state":true}]' ;;
                dprecopy) params='{}'; caps='[]' ;;
                *)        params='{}' ;;
                esac
                [ "$1" = proxmox ] && caps='[{"capability":"xbzrle","state":true}]'
        fi
        QMP "$2" "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":$caps}}" \
                "{\"execute\":\"migrate-set-parameters\",\"arguments\":$params}" >/dev/null
}
# CPU time (user + system, ms) a process has used so far.
cpu_ms() { awk -v t="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / t) }' "/proc/$1/stat" 2>/dev/null || echo 0; }
run_raw() { # config workload
        local cfg=$1 w=$2 k src=$DV_TMP/raw-a dst=$DV_TMP/raw-b spid dpid q st port kargs
        local t_end rem prev_rem passes prev_passes downtime tmp dip
        kargs=$(args_for "$w")
        spid=$(raw_start "$src" "$kargs")
        DV_PIDS+=("$spid")
        wait_until 60 "qmp" test -S "$src/qmp.sock"
        wait_filled "$src/console.log" "$w"
        for k in $(seq "$RUNS"); do
                dpid=$(raw_start "$dst" "$kargs" incoming)
                DV_PIDS+=("$dpid")
                wait_until 60 "qmp" test -S "$dst/qmp.sock"
                port=$(dv_free_port)
                [ "${dst##*/raw-}" = a ] && dip=${IP[1]} || dip=${IP[2]}
                raw_setup "$cfg" "$dst/qmp.sock" dst
                QMP "$dst/qmp.sock" "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:$dip:$port\"}}" >/dev/null
                raw_setup "$cfg" "$src/qmp.sock" src
                warm
                c0=$(( $(cpu_ms "$spid") + $(cpu_ms "$dpid") ))
                QMP "$src/qmp.sock" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:$dip:$port\"}}" >/dev/null
                t_end=$(( $(now_ms) + BUDGET_S * 1000 )); prev_rem=-1; prev_passes=0; downtime=100
                while :; do
                        q=$(QMP "$src/qmp.sock" '{"execute":"query-migrate"}')
                        st=$(jq -r .status <<<"$q")
                        case "$st" in completed|failed|cancelled) break ;; esac
                        if [ "$cfg" = proxmox ]; then
                                # Proxmox: the downtime limit doubles when a
                                # pass leaves more than the one before.
                                passes=$(jq '.ram["dirty-sync-count"] // 0' <<<"$q")
                                rem=$(jq '.ram.remaining // 0' <<<"$q")
                                if [ "$passes" -gt "$prev_passes" ]; then
                                        if [ "$prev_rem" -ge 0 ] && [ "$rem" -ge "$prev_rem" ]; then
                                                downtime=$((downtime * 2))
                                                QMP "$src/qmp.sock" "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":$downtime}}" >/dev/null
                                        fi
                                        prev_rem=$rem; prev_passes=$passes
                                fi
                        fi
                        if [ "$(now_ms)" -ge "$t_end" ]; then
                                QMP "$src/qmp.sock" '{"execute":"migrate_cancel"}' >/dev/null
                                st=timeout
                                break
                        fi
                        sleep 0.1
                done
                if [ "$st" = completed ]; then
                        cpu=$(( $(cpu_ms "$spid") + $(cpu_ms "$dpid") - c0 ))
                        emit "$cfg" "$w" "$k" "$(jq '.["total-time"]' <<<"$q")" "$(jq .downtime <<<"$q")" \
                                "$(jq .ram.transferred <<<"$q")" "$(jq '.ram["normal-bytes"] // 0' <<<"$q")" true \
                                "$(jq '.ram["dirty-pages-rate"] * 4096' <<<"$q")" "$(guest_ok "$dst/console.log")" \
                                "\"cpu_ms\":$cpu"
                        kill -9 "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
                        wait_until 30 "target runs" bash -c "python3 '$here/qmp.py' '$dst/qmp.sock' '{\"execute\":\"query-status\"}' | grep -q '\"running\"'" || true
                        spid=$dpid; tmp=$src; src=$dst; dst=$tmp
                else
                        emit "$cfg" "$w" "$k" $((BUDGET_S * 1000)) 0 0 0 false 0 true
                        dv_log "$cfg run $k: $st"
                        kill -9 "$dpid" 2>/dev/null || true; wait "$dpid" 2>/dev/null || true
                        wait_until 30 "source runs" bash -c "python3 '$here/qmp.py' '$src/qmp.sock' '{\"execute\":\"query-status\"}' | grep -q '\"running\"'" || true
                fi
        done
        kill -9 "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
}

for cfg in $CONFIGS; do
        [ "$cfg" = drover ] || [ ${#ARGV[@]} -gt 0 ] || capture_argv
        for w in $WORKLOADS; do
                R_TOTAL=(); R_DOWN=(); R_BYTES=(); R_NOTCONV=0; R_CRASH=0
                if [ "$cfg" = drover ]; then run_drover "$w"; else run_raw "$cfg" "$w"; fi
                summary "$cfg" "$w"
        done
done
trap - EXIT
DV_FAILS=0
dv_cleanup
