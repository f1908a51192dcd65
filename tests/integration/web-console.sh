#!/usr/bin/env bash
# Issue 10's acceptance: the web console in Debian's Chromium (headless,
# driven by playwright-core from web/package-lock.json) against a 2-host
# lab: log in (a wrong password refused), see the CLI's hosts and VMs,
# start a VM and watch it run, migrate it with the prechecks shown and the
# task's progress watched, open its noVNC console and type into the
# guest's shell, console tickets refused when reused / for another VM /
# from another origin, a diagnosis naming the fault, maintenance mode
# entered and left, sessions that expire and log out and that outlive a
# restart of droverd, the charts of a VM with disk and network activity
# and of its host, polling with conditional GETs. Screenshots of every
# view: tests/screenshots/web-console/.
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
check "vm show lists web1's disk and network rates" dv_cmd_has "disk write" "$DROVER" vm show web1

# Sessions outlive a restart of droverd: DATA/sessions keeps their hashes
# (never the tokens) with their expiry; a logout is not undone by one.
pw=$(cat "$S/manager/admin-password")
login() {
        curl -s -X POST "$DROVER_URL/api/v1/login" -H 'Content-Type: application/json' \
                -d "{\"user\":\"admin\",\"password\":\"$pw\"}" | jq -r .token
}
code() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$DROVER_URL/api/v1/hosts"; }
manager_up() { [ "$(code "$(cat "$S/manager/token" 2>/dev/null)")" = 200 ]; }
tok=$(login)
tok_out=$(login)
curl -s -o /dev/null -X POST -H "Authorization: Bearer $tok_out" "$DROVER_URL/api/v1/logout"
check "a web session works" [ "$(code "$tok")" = 200 ]
check "the session file holds no token" bash -c "[ -s '$S/manager/sessions' ] && ! grep -q '$tok' '$S/manager/sessions'"
mpid=$(cat "$S/manager.pid")
mapfile -d '' margv < "/proc/$mpid/cmdline"
kill -TERM "$mpid"
gone() { ! kill -0 "$mpid" 2>/dev/null; }
wait_until 20 "droverd exited" gone
t_restart=$(date +%s%N)
setsid "${margv[@]}" </dev/null >>"$S/manager.log" 2>&1 &
echo $! > "$S/manager.pid"
wait_until 30 "droverd answers again" manager_up
dv_log "droverd restarted in $(( ($(date +%s%N) - t_restart) / 1000000 )) ms"
check "after a droverd restart the session still works" [ "$(code "$tok")" = 200 ]
check "... a session logged out before it is still refused" [ "$(code "$tok_out")" = 401 ]
check "every main view has a screenshot" [ "$(ls "$shots"/*.png | wc -l)" -ge 19 ]
dv_log "screenshots in $shots"
dv_finish
