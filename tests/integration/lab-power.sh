#!/usr/bin/env bash
# tests/integration/lab-power.sh: a lab with the real daemons; powering a
# host off through its BMC (ipmitool, as an operator's IPMI would) makes the
# manager mark it unreachable (failed, with HA), powering it on brings it back.
#
# Needs built droverd, drover-agent and drover (DROVER_BIN_DIR, default the
# repo's build/); exits 77 (skip) without them. PASS/FAIL per assertion.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
LAB=${DROVER_LAB:-$repo/lab/drover-lab}
BIN=${DROVER_BIN_DIR:-${DROVER_BUILD:-$repo/build}}
S=${DROVER_LAB_TEST_STATE:-/var/tmp/drover-lab-test-power}
fails=0 passes=0

lab() { "$LAB" --state-dir "$S" "$@"; }
pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
wait_until() {  # SECONDS CMD...
        local deadline=$(( $(now_ms) + $1 * 1000 )); shift
        until "$@"; do
                [ "$(now_ms)" -lt "$deadline" ] || return 1
                sleep 0.2
        done
}
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi; }

find_bin() { local d; for d in "$BIN" "$BIN/src/$2"; do [ -x "$d/$1" ] && { echo "$d/$1"; return; }; done; }
cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        [ -f "$S/lab.env" ] && { lab down >/dev/null 2>&1 || echo "cleanup: down failed"; }
        exit "$rc"
}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
DROVER=$(find_bin drover cli)
if [ -z "$(find_bin droverd manager)" ] || [ -z "$(find_bin drover-agent agent)" ] || [ -z "$DROVER" ]; then
        echo "SKIP: droverd, drover-agent or drover not built in $BIN"; exit 77
fi
if ip netns list 2>/dev/null | grep -q '^drvlab-'; then
        echo "SKIP: a lab is already up (drvlab-* namespaces); not touching it"; exit 77
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
if ! lab up --hosts 3 --bin-dir "$BIN" >/dev/null; then fail "lab up --hosts 3"; exit 1; fi
echo "info: up (3 hosts, daemons) took $(( $(now_ms) - t0 )) ms"
pass "lab up --hosts 3"
eval "$(lab env)"
export DROVER_URL DROVER_TOKEN_FILE
DROVER_TOKEN=$(cat "$DROVER_TOKEN_FILE"); export DROVER_TOKEN

host_state() { "$DROVER" -o json host show "$1" 2>/dev/null | jq -r .state 2>/dev/null; }
state_is() { [ "$(host_state "$1")" = "$2" ]; }

t0=$(now_ms)
for h in host1 host2 host3; do
        if wait_until 30 state_is "$h" connected; then pass "$h connected"; else fail "$h connected (state: $(host_state "$h"))"; fi
done
echo "info: all hosts connected $(( $(now_ms) - t0 )) ms after up"

pw=$(. "$S/lab.env"; echo "$BMC_PASS")
agent=$(cat "$S/h2/lab/agent.pid")
check "ipmitool chassis power off (BMC of h2)" \
        ipmitool -I lanplus -C 3 -H 10.77.0.102 -p 623 -U admin -P "$pw" chassis power off
check "power off: the agent of h2 is gone" bash -c "[ ! -d /proc/$agent ] || grep -q '^State:.*Z' /proc/$agent/status"
t0=$(now_ms)
# With HA on (the default) and the BMC that 'lab up' registered, the
# manager goes on from unreachable to failed (its BMC reads off) at once.
down_state() { local s; s=$(host_state host2); [ "$s" = unreachable ] || [ "$s" = failed ]; }
if wait_until 60 down_state; then
        pass "manager marks host2 unreachable or failed: $(host_state host2) ($(( $(now_ms) - t0 )) ms)"
else
        fail "manager marks host2 unreachable or failed (state: $(host_state host2))"
fi
check "host1 still connected" state_is host1 connected
check "ipmitool chassis power on (BMC of h2)" \
        ipmitool -I lanplus -C 3 -H 10.77.0.102 -p 623 -U admin -P "$pw" chassis power on
t0=$(now_ms)
if wait_until 60 state_is host2 connected; then
        pass "host2 rejoins ($(( $(now_ms) - t0 )) ms)"
else
        fail "host2 rejoins (state: $(host_state host2))"
fi

check "lab down" lab down
check "down: no drvlab- namespace left" bash -c "! ip netns list 2>/dev/null | grep -q '^drvlab-'"
check "down: state dir removed" [ ! -e "$S" ]

echo "lab-power: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
