# Shared helpers for Drover's integration tests. Source it from a test:
#   . "$(dirname "$0")/lib.sh"
# Every test gets a private temp dir; everything started through these
# helpers is stopped by pid (and QEMU processes by their pidfiles) on exit,
# whether the test passes or fails.
set -euo pipefail

DV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DV_BUILD=${DROVER_BUILD:-$DV_ROOT/build}
DV_IMAGE_DIR=${DROVER_IMAGE_DIR:-$DV_ROOT/guest/out}
DV_BIN=$DV_BUILD/src
DROVER=$DV_BIN/cli/drover
DV_TOOLS_BIN=$DV_BIN/tools/drover-tools
DV_TMP=$(mktemp -d /tmp/drover-test.XXXXXX)
# QEMU runs as an unprivileged per-VM uid: it must be able to reach its
# run directory under here.
chmod 0755 "$DV_TMP"
DV_PIDS=()
DV_CLEANUP_HOOKS=()   # commands run at exit after our processes are gone
DV_FAILS=0
DV_CHECKS=0
DV_TEST=$(basename "$0" .sh)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

dv_log() { printf '[%s] %s\n' "$DV_TEST" "$*" >&2; }

# Kill our QEMU processes (from every agent run dir under DV_TMP), then our
# daemons, then remove the temp dir.
dv_cleanup() {
        local rc=$? pidfile pid
        set +e
        for pid in $(dv_qemu_pids); do
                kill -9 "$pid" 2>/dev/null
        done
        for pid in "${DV_PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${DV_PIDS[@]}"; do
                for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$pid" 2>/dev/null
        done
        if [ "$rc" -ne 0 ] || [ "$DV_FAILS" -ne 0 ]; then
                for f in "$DV_TMP"/*.log; do
                        [ -f "$f" ] || continue
                        echo "---- tail of $f" >&2
                        tail -n 40 "$f" >&2
                done
        fi
        for hook in "${DV_CLEANUP_HOOKS[@]}"; do
                eval "$hook"
        done
        # The agents' cgroups (docs/qos.md): a private subtree per test.
        rmdir /sys/fs/cgroup/*/drover-test/"${DV_TMP##*/}"/*/vm-* \
                /sys/fs/cgroup/*/drover-test/"${DV_TMP##*/}"/* \
                /sys/fs/cgroup/*/drover-test/"${DV_TMP##*/}" /sys/fs/cgroup/*/drover-test 2>/dev/null
        rm -rf "$DV_TMP"
        exit "$rc"
}
trap dv_cleanup EXIT
trap 'exit 130' INT TERM

# Pids of QEMU processes started for this test: their command line names a
# path under DV_TMP (and optionally a VM id).
dv_qemu_pids() {
        local p cmd
        for p in /proc/[0-9]*; do
                cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
                case "$cmd" in
                *qemu-system*"$DV_TMP"*)
                        if [[ -z "${1:-}" || "$cmd" == *"$1"* ]]; then echo "${p#/proc/}"; fi ;;
                esac
        done
        return 0   # the loop's last test must not become the status (pipefail)
}

# A free TCP port on 127.0.0.1, below the kernel's ephemeral range
# (32768..60999 by default): a port the connect test finds free there can
# be some client socket's bound local port a moment later ("cannot serve
# on ...: Address already in use").
dv_free_port() {
        local p
        while :; do
                p=$((20000 + RANDOM % 12768))
                (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }
        done
}

# wait_until TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.2 s.
wait_until() {
        local timeout=$1 desc=$2 deadline
        shift 2
        deadline=$(($(date +%s%N) / 1000000 + timeout * 1000))
        until "$@" >/dev/null 2>&1; do
                if [ $(($(date +%s%N) / 1000000)) -ge "$deadline" ]; then
                        dv_log "timed out after ${timeout}s waiting for: $desc"
                        return 1
                fi
                sleep 0.2
        done
}

# check DESCRIPTION CMD...: one assertion a user would see.
check() {
        local desc=$1
        shift
        DV_CHECKS=$((DV_CHECKS + 1))
        if "$@"; then
                dv_log "ok: $desc"
        else
                dv_log "FAIL: $desc"
                DV_FAILS=$((DV_FAILS + 1))
        fi
}

# Fail the test on sanitizer reports or crashes in daemon logs.
dv_check_logs() {
        local f bad=0
        for f in "$DV_TMP"/*.log; do
                [ -f "$f" ] || continue
                if grep -E "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|Segmentation fault" "$f" >&2; then
                        dv_log "FAIL: sanitizer or crash report in $f"
                        bad=1
                fi
        done
        return $bad
}

dv_finish() {
        check "no sanitizer or crash reports in daemon logs" dv_check_logs
        if [ "$DV_FAILS" -ne 0 ]; then
                dv_log "$DV_FAILS of $DV_CHECKS checks failed"
                exit 1
        fi
        dv_log "all $DV_CHECKS checks passed"
        exit 0
}

# dv_build_image DIR [--tools BINARY]: a guest image (guest/build.sh,
# cached per DIR; the .deb cache of the default image is shared).
dv_build_image() {
        DROVER_GUEST_CACHE=${DROVER_GUEST_CACHE:-$DV_ROOT/guest/out/cache} \
                bash "$DV_ROOT/guest/build.sh" "$@" >&2
}

# dv_private_image DIR: an image directory of the test's own, served as
# "default" by dv_start_manager: the default image's kernel and initrd
# (symlinks) and its own copy of drover-tools, which the test may replace
# (`vm tools-upgrade` pushes that file). Sets DV_IMAGE_DIR.
dv_private_image() {
        local dir=$1
        mkdir -p "$dir"
        cp "$DV_IMAGE_DIR/image.json" "$dir/"
        ln -sf "$DV_IMAGE_DIR/vmlinuz" "$dir/vmlinuz"
        ln -sf "$DV_IMAGE_DIR/initrd.img" "$dir/initrd.img"
        install -m 0755 "$DV_IMAGE_DIR/drover-tools" "$dir/drover-tools"
        DV_IMAGE_DIR=$dir
}

# dv_build_tools OUT VERSION: drover-tools of this tree stamped with another
# version (a static binary, as the guest needs).
dv_build_tools() {
        cc -std=gnu11 -O2 -D_GNU_SOURCE "-DDV_TOOLS_VERSION=\"$2\"" -static -o "$1" \
                "$DV_ROOT"/src/tools/*.c
}

# The default image with this build's drover-tools (tests/run.sh built it
# already when DROVER_IMAGE_READY=1; a test run on its own builds it here).
if [ "${DROVER_IMAGE_READY:-}" != 1 ] && [ -x "$DV_TOOLS_BIN" ]; then
        bash "$DV_ROOT/guest/build.sh" "$DV_IMAGE_DIR" --tools "$DV_TOOLS_BIN" >&2
fi

# Start droverd with a data dir under DV_TMP, listening on DV_MGR_ADDR
# (default 127.0.0.1). Sets DV_MGR_PID, DV_MGR_PORT, DROVER_URL and
# DROVER_TOKEN_FILE.
dv_start_manager() {
        local data=$DV_TMP/manager addr=${DV_MGR_ADDR:-127.0.0.1}
        mkdir -p "$data"
        DV_MGR_PORT=${DV_MGR_PORT:-$(dv_free_port)}
        "$DV_BIN/manager/droverd" --listen "$addr:$DV_MGR_PORT" --data-dir "$data" \
                --image-dir "$DV_IMAGE_DIR" "$@" >>"$DV_TMP/manager.log" 2>&1 &
        DV_MGR_PID=$!
        DV_PIDS+=("$DV_MGR_PID")
        export DROVER_URL=http://$addr:$DV_MGR_PORT
        export DROVER_TOKEN_FILE=$data/token
        wait_until 20 "manager token file" test -s "$data/token"
        wait_until 20 "manager answering" "$DROVER" host list
}

# Start an agent named $1, listening on DV_AGENT_ADDR (default 127.0.0.1),
# inside the network namespace DV_AGENT_NETNS when set. Sets DV_AGENT_PID
# (of the last one started).
dv_start_agent() {
        local name=$1 port wrap=()
        shift
        port=$(dv_free_port)
        [ -n "${DV_AGENT_NETNS:-}" ] && wrap=(ip netns exec "$DV_AGENT_NETNS")
        mkdir -p "$DV_TMP/agent-$name"
        "${wrap[@]}" "$DV_BIN/agent/drover-agent" --manager "$DROVER_URL" \
                --listen "${DV_AGENT_ADDR:-127.0.0.1}:$port" \
                --name "$name" --data-dir "$DV_TMP/agent-$name" \
                --cgroup-parent "drover-test/${DV_TMP##*/}/$name" \
                --token-file "$DROVER_TOKEN_FILE" "$@" >>"$DV_TMP/agent-$name.log" 2>&1 &
        DV_AGENT_PID=$!
        DV_PIDS+=("$DV_AGENT_PID")
        # Connected through this agent: after a restart the host stays
        # connected on the old agent's heartbeats for a while, with its URL.
        wait_until 30 "host $name connected at port $port" dv_host_up_at "$name" "$port"
}

# JSON field of a CLI object: dv_json FIELD CMD... (uses jq).
dv_json() {
        local field=$1
        shift
        "$DROVER" -o json "$@" | jq -r "$field"
}

dv_host_state_is() { [ "$(dv_json .state host show "$1")" = "$2" ]; }
dv_host_up_at() {
        local h
        h=$("$DROVER" -o json host show "$1" 2>/dev/null) || return 1
        [ "$(jq -r .state <<<"$h")" = connected ] && [[ "$(jq -r .url <<<"$h")" == *":$2" ]]
}
dv_vm_state_is() { [ "$(dv_json .state vm show "$1")" = "$2" ]; }
dv_file_has() { grep -q -- "$2" "$1" 2>/dev/null; }
dv_tools_state_is() { [ "$(dv_json .tools.state vm show "$1")" = "$2" ]; }
# dv_cmd_has TEXT CMD...: CMD's output contains TEXT.
dv_cmd_has() {
        local text=$1 out
        shift
        out=$("$@" 2>&1) || true
        grep -qF -- "$text" <<<"$out"
}
# dv_between N MIN MAX
dv_between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# A lab for this test: dv_lab_up HOSTS [TORS] [EXTRA lab up ARGS...].
# Skips (77) unless root with the lab's tools and no other lab up (only one
# lab fits on a machine); brings it up in $DV_TMP/lab, sets S (its state
# dir), defines lab() (the CLI's `drover lab` on it), takes it down at exit,
# links its logs next to the test's, exports DROVER_URL/DROVER_TOKEN_FILE and
# waits until every host is connected.
dv_lab_up() {
        local hosts=$1 tors=${2:-1} n t
        shift; [ $# -gt 0 ] && shift
        [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
        for t in busybox ipmi_sim ovs-vswitchd jq; do
                command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
        done
        if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
                echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"
                exit 77
        fi
        S=$DV_TMP/lab
        DV_CLEANUP_HOOKS+=(dv_lab_down)
        lab up --hosts "$hosts" --tors "$tors" --image-dir "$DV_IMAGE_DIR" "$@" \
                >"$DV_TMP/lab-up.log" 2>&1 || { cat "$DV_TMP/lab-up.log" >&2; exit 1; }
        eval "$(lab env)"
        for n in $(seq 1 "$hosts"); do ln -s "$S/h$n/agent.log" "$DV_TMP/agent-h$n.log"; done
        ln -s "$S/manager.log" "$DV_TMP/manager.log"
        for n in $(seq 1 "$hosts"); do
                wait_until 30 "host$n connected" dv_host_state_is "host$n" connected
        done
}
lab() { "$DROVER" lab --state-dir "$S" "$@"; }
dv_lab_down() {
        [ -n "${S:-}" ] && [ -f "$S/lab.env" ] &&
                "$DV_ROOT/lab/drover-lab" --state-dir "$S" down >/dev/null 2>&1
        return 0
}
