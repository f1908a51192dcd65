#!/usr/bin/env bash
# Issue 10's acceptance: the web console in Debian's Chromium (headless,
# driven by playwright-core from web/package-lock.json) against a 2-host
# lab: log in (a wrong password refused), see the CLI's hosts and VMs,
# start a VM and watch it run, migrate it with the prechecks shown and the
# task's progress watched, open its noVNC console and type into the
# guest's shell, console tickets refused when reused / for another VM /
# from another origin, a diagnosis naming the fault, maintenance mode
# entered and left, sessions that expire and log out. Screenshots of every view: tests/screenshots/web-console/.
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || { echo "SKIP: needs /usr/bin/chromium (scripts/install-deps.sh)"; exit 77; }
command -v node >/dev/null || { echo "SKIP: needs node (scripts/install-deps.sh)"; exit 77; }
[ -d "$DV_ROOT/web/node_modules/playwright-core" ] ||
        { echo "SKIP: needs web/node_modules (cd web && npm ci)"; exit 77; }
[ -f "$DV_ROOT/web/dist/index.html" ] || { echo "SKIP: needs web/dist (cd web && npm run build)"; exit 77; }

dv_lab_up 2
"$DROVER" dvs create dc >/dev/null
for n in 1 2; do "$DROVER" dvs add-host dc "host$n" >/dev/null; done
"$DROVER" portgroup create pg10 --dvs dc --vlan 10 --subnet 10.10.0.0/24 --gateway 10.10.0.1 >/dev/null
lab sync >/dev/null
# web1's shell is on the VGA console (the last console= wins) so that the
# VNC screen shows it; its boot marker still goes to the serial log.
"$DROVER" vm create web1 --cpus 1 --memory 128 --host host1 --disk 1@shared \
        --nic pg10:10.10.0.10/24 --kernel-args "console=tty0" >/dev/null
"$DROVER" vm create va --cpus 1 --memory 128 --host host1 --nic pg10:10.10.0.11/24 >/dev/null
"$DROVER" vm create vf --cpus 1 --memory 128 --host host2 --nic pg10:10.10.0.16/24 \
        --kernel-args drover.firewall=drop-icmp >/dev/null
for v in va vf; do "$DROVER" vm start "$v" --no-wait >/dev/null; done
for v in va vf; do
        wait_until 60 "$v running" dv_vm_state_is "$v" running
        wait_until 60 "$v Tools" dv_tools_state_is "$v" running
done

shots=$DV_ROOT/tests/screenshots/web-console
rm -rf "$shots" && mkdir -p "$shots"
hosts=$("$DROVER" -o json host list | jq -r '[.hosts[].name] | sort | join(",")')
vms=$("$DROVER" -o json vm list | jq -r '[.vms[].name] | sort | join(",")')
rc=0
URL=$DROVER_URL PASSWORD=$(cat "$S/manager/admin-password") SHOTS=$shots HOSTS=$hosts VMS=$vms \
        WEB_DIR=$DV_ROOT/web \
        node "$DV_ROOT/tests/integration/web-console.mjs" >&2 || rc=$?
check "the browser test passed (web-console.mjs)" [ "$rc" = 0 ]
check "the CLI sees web1 running on host2" \
        [ "$(dv_json '"\(.state) \(.host)"' vm show web1)" = "running host2" ]
check "every main view has a screenshot" [ "$(ls "$shots"/*.png | wc -l)" -ge 16 ]
dv_log "screenshots in $shots"
dv_finish
