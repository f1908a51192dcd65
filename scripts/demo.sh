#!/usr/bin/env bash
# The main job: on a fresh Debian 12 machine (as root), install what Drover
# needs, build it and its guest image, bring up a 3-host lab cluster (droverd
# on the embedded SQLite store, three hosts with their own OVS and BMC, a TOR
# switch), create a distributed switch with two port groups and start a few
# VMs on it. Leaves the cluster running; `bash scripts/demo.sh down` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
D=$root/build/src/cli/drover

if [ "${1:-}" = down ]; then
        exec "$D" lab down
fi

bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
bash guest/build.sh guest/out --tools build/src/tools/drover-tools

"$D" lab down >/dev/null 2>&1 || true
"$D" lab up --hosts 3 --image-dir "$root/guest/out"
eval "$("$D" lab env)"

"$D" dvs create dvs0
for h in 1 2 3; do
        "$D" dvs add-host dvs0 "host$h" --uplink "up-h$h"
done
"$D" portgroup create web --dvs dvs0 --vlan 100 --subnet 192.168.100.0/24 --gateway 192.168.100.1
"$D" portgroup create db --dvs dvs0 --vlan 200 --subnet 192.168.200.0/24 --gateway 192.168.200.1
"$D" lab sync        # the lab's TORs answer on the port groups' gateways

"$D" vm create web1 --cpus 1 --memory 256 --disk 1 --nic web:192.168.100.11/24 --host host1 --start
"$D" vm create web2 --cpus 1 --memory 256 --disk 1 --nic web:192.168.100.12/24 --host host2 --start
"$D" vm create db1 --cpus 1 --memory 256 --disk 1 --nic db:192.168.200.11/24 --host host3 --start

# Wait (bounded) for Tools in the guests: pings run from inside them.
for vm in web1 web2 db1; do
        for _ in $(seq 150); do
                [ "$("$D" -o json vm show "$vm" | jq -r .tools.state)" = running ] && break
                sleep 0.2
        done
done
echo
"$D" host list
echo
"$D" vm list
echo
echo "web1 -> web2 (same VLAN, across hosts and the TOR):"
"$D" vm ping web1 192.168.100.12 --count 3 || true
echo "web1 -> its gateway on the TOR:"
"$D" vm ping web1 192.168.100.1 --count 2 || true
echo "web1 -> db1 (VLAN 100 to VLAN 200: isolated):"
"$D" vm ping web1 192.168.200.11 --count 2 || true
echo
echo "Why can web1 and db1 not talk? (every check with its evidence, then the fault):"
"$D" net diagnose web1 db1 || true
echo
echo "The distributed switch's health check (which VLANs reach which hosts):"
"$D" dvs health dvs0 || true
echo
echo "The cluster keeps running. Use it with:"
echo "  $("$D" lab env)"
echo "  $D vm list"
echo "The web console (docs/web.md): ${DROVER_URL}/  user admin, password in $(dirname "$DROVER_TOKEN_FILE")/admin-password"
echo "Remove it with: bash scripts/demo.sh down"
