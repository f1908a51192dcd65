#!/usr/bin/env bash
# tests/integration/lab-down.sh: `drover-lab down` leaves nothing behind, also
# after `up` crashed half-way (SIGKILL at several points), after the state dir
# was lost under a running lab, and when run twice.
#
# Daemons are stand-ins (a droverd that writes its token, an agent that waits)
# so that the test does not depend on the real binaries; they show up in the
# process table under the real names. Prints PASS/FAIL per assertion; exits 0
# only if all pass. Root only; refuses to run while another lab is up.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=${DROVER_LAB:-$here/../../lab/drover-lab}
S=${DROVER_LAB_TEST_STATE:-/var/tmp/drover-lab-test-down}
fails=0 passes=0
stubs=""
up_pid=""

lab() { "$LAB" --state-dir "$S" "$@"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
wait_until() {  # SECONDS CMD...
        local deadline=$(( $(now_ms) + $1 * 1000 )); shift
        until "$@"; do
                [ "$(now_ms)" -lt "$deadline" ] || return 1
                sleep 0.01
        done
}
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        [ -n "$up_pid" ] && alive "$up_pid" && kill -KILL "$up_pid" 2>/dev/null
        if [ -e "$S" ] || ip netns list 2>/dev/null | grep -q '^drvlab-'; then
                lab down >/dev/null 2>&1 || echo "cleanup: down failed"
        fi
        [ -n "$stubs" ] && rm -rf "$stubs"
        exit "$rc"
}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
if ip netns list 2>/dev/null | grep -q '^drvlab-' || [ -e "$S" ]; then
        echo "SKIP: a lab is already up (drvlab-* namespaces or $S); not touching it"
        exit 77
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stand-in daemons: block on a FIFO in their data dir (no child processes).
stubs=$(mktemp -d /tmp/drover-lab-stubs.XXXXXX)
cat > "$stubs/droverd" <<'EOF'
#!/bin/bash
while [ $# -gt 0 ]; do [ "$1" = --data-dir ] && d=$2; shift; done
mkdir -p "$d"
[ -n "${STUB_NO_TOKEN:-}" ] || echo stub-token > "$d/token"
mkfifo "$d/.stub-fifo" 2>/dev/null; exec 3<>"$d/.stub-fifo"; read -r -u 3
EOF
cat > "$stubs/drover-agent" <<'EOF'
#!/bin/bash
if [ "${1:-}" = --help ]; then
        # STUB_HANG_HELP: a helper that hangs, so that a killed 'up' leaves
        # an orphaned subshell holding the state lock.
        [ -n "${STUB_HANG_HELP:-}" ] && { touch "$(dirname "$0")/help-running"; exec sleep 60; }
        echo "usage: drover-agent (stand-in)"; exit 0
fi
while [ $# -gt 0 ]; do [ "$1" = --data-dir ] && d=$2; shift; done
mkfifo "$d/.stub-fifo" 2>/dev/null; exec 3<>"$d/.stub-fifo"; read -r -u 3
EOF
chmod +x "$stubs/droverd" "$stubs/drover-agent"

# Every process that belongs to the lab: recorded pids plus anything whose
# command line names the state dir or that lives in a drvlab- namespace.
lab_pids() {
        local f c ns
        cat "$S"/*/ovs/*.pid "$S"/bmc/*/*.pid "$S"/*/lab/*.pid "$S"/manager.pid 2>/dev/null
        for f in /proc/[0-9]*; do
                c=$(tr '\0' ' ' 2>/dev/null < "$f/cmdline") || continue
                [[ $c == *"$S"* ]] && echo "${f#/proc/}"
        done
        for ns in $(ip netns list 2>/dev/null | awk '/^drvlab-/ {print $1}'); do ip netns pids "$ns" 2>/dev/null; done
}

# assert_clean WHAT PIDS: nothing of the lab is left.
assert_clean() {
        local what=$1 p left=""
        for p in $2; do alive "$p" && left="$left $p($(cat /proc/$p/comm 2>/dev/null))"; done
        if [ -z "$left" ]; then pass "$what: no lab process left"; else fail "$what: processes left:$left"; fi
        if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
                fail "$what: namespaces left: $(ip netns list 2>/dev/null | awk '/^drvlab-/ {print $1}' | tr '\n' ' ')"
        else pass "$what: no drvlab- namespace left"; fi
        if ip -o link show | grep -q ': drvlab'; then fail "$what: drvlab links left in the root namespace"
        else pass "$what: no drvlab link in the root namespace"; fi
        if [ -e "$S" ]; then fail "$what: state dir $S left"; else pass "$what: state dir removed"; fi
        if ip -4 route show | grep -q '^10\.77\.0\.'; then fail "$what: 10.77.0.0/24 route left"
        else pass "$what: no management route left"; fi
}

# crash_up WHAT COND [UP-ARGS...]: start 'up', SIGKILL it once COND holds,
# then 'down' and check.
crash_up() {
        local what=$1 cond=$2 pids; shift 2
        "$LAB" --state-dir "$S" up "$@" >/dev/null 2>&1 &
        up_pid=$!
        if wait_until 30 eval "$cond"; then
                kill -KILL "$up_pid" 2>/dev/null
                wait "$up_pid" 2>/dev/null
                pass "$what: 'up' killed at: $cond"
        else
                fail "$what: never reached: $cond"
                kill -KILL "$up_pid" 2>/dev/null; wait "$up_pid" 2>/dev/null
        fi
        up_pid=""
        pids=$(lab_pids | sort -u | tr '\n' ' ')
        if lab down >/dev/null 2>&1; then pass "$what: down"; else fail "$what: down failed"; fi
        assert_clean "$what" "$pids"
}

crash_up "crash 1 (mgmt network)" "ip netns list 2>/dev/null | grep -q '^drvlab-mgmt'" --no-daemons --hosts 3 --tors 2
crash_up "crash 2 (TOR OVS)" "[ -s $S/tor1/ovs/ovs-vswitchd.pid ]" --no-daemons --hosts 3 --tors 2
crash_up "crash 3 (between hosts)" "[ -s $S/h2/ovs/ovsdb-server.pid ]" --no-daemons --hosts 3 --tors 2
crash_up "crash 4 (BMCs)" "[ -s $S/bmc/h2/ipmi_sim.pid ]" --no-daemons --hosts 3 --tors 2
STUB_NO_TOKEN=1 crash_up "crash 5 (waiting for droverd's token)" "[ -s $S/manager.pid ]" \
        --bin-dir "$stubs" --hosts 2
crash_up "crash 6 (starting agents)" "[ -s $S/h1/lab/agent.pid ]" --bin-dir "$stubs" --hosts 3
STUB_HANG_HELP=1 crash_up "crash 7 (a helper of up hangs, holding the lock)" "[ -e $stubs/help-running ]" \
        --bin-dir "$stubs" --hosts 2

# A lab with (stand-in) daemons whose state dir is lost: down finds the
# leftovers by the drvlab- prefix and by the state dir named on command lines.
if lab up --bin-dir "$stubs" --hosts 3 --tors 2 >/dev/null 2>&1; then
        pass "up with stand-in daemons"
        pids=$(lab_pids | sort -u | tr '\n' ' ')
        n=0; for p in $pids; do alive "$p" && n=$((n + 1)); done
        # 5 OVS pairs, 3 BMCs, 3 agents, 1 droverd
        if [ "$n" -ge 17 ]; then pass "lab runs $n processes"; else fail "lab runs only $n processes"; fi
        rm -rf "$S"
        if lab down >/dev/null 2>&1; then pass "state dir lost: down"; else fail "state dir lost: down failed"; fi
        assert_clean "state dir lost" "$pids"
else
        fail "up with stand-in daemons"
fi

# An 'up' interrupted with SIGTERM cleans up after itself.
"$LAB" --state-dir "$S" up --no-daemons --hosts 3 >/dev/null 2>&1 &
up_pid=$!
wait_until 30 test -s "$S/h1/ovs/ovs-vswitchd.pid" || true
pids=$(lab_pids | sort -u | tr '\n' ' ')
kill -TERM "$up_pid" 2>/dev/null
wait "$up_pid" 2>/dev/null
up_pid=""
assert_clean "SIGTERM during up (no down)" "$pids"

if lab down >/dev/null 2>&1 && lab down >/dev/null 2>&1; then pass "down twice on nothing"; else fail "down on nothing"; fi

echo "lab-down: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
