#!/usr/bin/env bash
# Tools acceptance: a guest that writes garbage, an oversized line and then
# floods the Tools channel does not crash or stall the agent; the VM's
# Tools state becomes not-running with an event saying why, while another
# VM on the same host keeps a working Tools and the host stays connected.
#
# The misbehaving guest: the test pushes (vm tools-upgrade) a static
# program in place of drover-tools that opens the guest's end of the port
# and writes a line that is not JSON, a 70000-byte line, then malformed
# messages as fast as it can, forever (the guest's respawn loop restarts
# it if it dies). The guest is the attacker here; the host must hold.
. "$(dirname "$0")/lib.sh"

dv_private_image "$DV_TMP/image"
dv_start_manager
dv_start_agent host1

"$DROVER" vm create bad --cpus 1 --memory 256 --start >/dev/null
"$DROVER" vm create good --cpus 1 --memory 256 --start >/dev/null
wait_until 60 "Tools running in bad" dv_tools_state_is bad running
wait_until 60 "Tools running in good" dv_tools_state_is good running

cat >"$DV_TMP/flood.c" <<'EOF'
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char big[70001];

int main(void)
{
        static const char junk[] = "{\"event\":\"heartbeat\",\"seq\":\"not a number\"}\n";
        int fd = open("/dev/virtio-ports/org.drover.tools.0", O_WRONLY);

        if (fd < 0)
                return 1;
        (void)!write(fd, "this is not JSON\n", 17);
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\n';
        (void)!write(fd, big, sizeof(big));
        for (;;)
                (void)!write(fd, junk, sizeof(junk) - 1);
}
EOF
cc -static -O2 -o "$DV_TMP/flood" "$DV_TMP/flood.c"
install -m 0755 "$DV_TMP/flood" "$DV_IMAGE_DIR/drover-tools"
rc=0
out=$("$DROVER" vm tools-upgrade bad 2>&1) || rc=$?
dv_log "upgrade to the flooder: rc $rc: $out"
check "the flooder never says hello: the upgrade fails" [ "$rc" = 1 ]

wait_until 30 "Tools not-running in bad" dv_tools_state_is bad not-running
reason=$(dv_json .tools.reason vm show bad)
dv_log "reason: $reason"
check "Tools of bad is not-running" dv_tools_state_is bad not-running
check "... because the channel misbehaves" grep -q "^misbehaving channel: " <<<"$reason"
check "event vm.tools-not-running says why" \
        dv_cmd_has "Tools is not running in vm 'bad': misbehaving channel" "$DROVER" event list

# Meanwhile (the flood goes on) the agent serves everyone else.
sleep 3 # let the flood run: no condition to wait for, this is the point
for i in 1 2 3; do
        t0=$(date +%s%N)
        hn=$(dv_json .guest.hostname vm guest good)
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        dv_log "vm guest good: $hn in $ms ms"
        check "the other VM's Tools answers ($ms ms)" [ "$hn" = good ]
        check "... quickly" [ "$ms" -lt 3000 ]
done
check "Tools of good is still running" dv_tools_state_is good running
check "host1 stays connected" dv_host_state_is host1 connected
check "the agent still runs" kill -0 "$DV_AGENT_PID"
check "Tools of bad is still not-running" dv_tools_state_is bad not-running

# Tools unusable: the stop falls back to ACPI.
check "vm stop bad goes through ACPI" [ "$(dv_json .result.path vm stop bad)" = acpi ]
check "vm stop good goes through Tools" [ "$(dv_json .result.path vm stop good)" = tools ]
dv_finish
