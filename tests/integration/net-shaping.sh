#!/usr/bin/env bash
# Acceptance (issue 8, network QoS): a port group shaped to 10 Mbit/s holds
# a guest-to-guest TCP stream within 10 % of that, measured outside the
# guests (bytes OVS delivers to the receiver's tap, in the host's
# namespace; the guests' aids drover.source/drover.sink, busybox httpd and
# wget, reach hundreds of Mbit/s unshaped under TCG); raising it to 20 Mbit/s on the running VMs takes effect at
# once; removing it lets the stream run free; a peak below the average is
# refused with the reason and changes nothing. The host is a namespace with
# a private OVS (userspace datapath), as in dvs-single.sh.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lib-ovs-host.sh"
contains() { [[ "$1" == *"$2"* ]]; }

ovs_host_up shp1 233

DV_MGR_ADDR=$NET.1 dv_start_manager
DV_AGENT_NETNS=$NS DV_AGENT_ADDR=$NET.2 dv_start_agent host1 \
        --ovs-db "unix:$OVS/db.sock" --uplink up0
"$DROVER" dvs create lab >/dev/null
"$DROVER" dvs add-host lab host1 >/dev/null
"$DROVER" portgroup create pg100 --dvs lab --vlan 100 --subnet 10.0.100.0/24 >/dev/null
"$DROVER" vm create tx --cpus 1 --memory 192 --nic pg100:10.0.100.11/24 --kernel-args drover.source=5001 >/dev/null
"$DROVER" vm create rx --cpus 1 --memory 192 --nic pg100:10.0.100.12/24 --kernel-args drover.sink=10.0.100.11:5001 >/dev/null
"$DROVER" vm start rx >/dev/null
"$DROVER" vm start tx >/dev/null
macrx=$(dv_json '.nics[0].mac' vm show rx)
taprx=$("${VSCTL[@]}" --bare --columns=name find Interface "external_ids:attached-mac=\"$macrx\"")
check "the receiver's tap is on the bridge" [ -n "$taprx" ]
OFCTL=(ovs-ofctl -O OpenFlow13)

rxbytes() { nsx cat "/sys/class/net/$taprx/statistics/tx_bytes"; }
streaming() { local a b; a=$(rxbytes); sleep 1; b=$(rxbytes); [ $((b - a)) -gt 20000 ]; }
check "the stream flows" wait_until 120 "stream" streaming
window() { local a b; a=$(rxbytes); sleep 5; b=$(rxbytes); echo $(( (b - a) * 8 / 5000 )); }
# rate LO HI: the first of three 5 s windows whose kbit/s lie in LO..HI.
rate() {
        local lo=$1 hi=$2 k
        for _ in 1 2 3; do
                k=$(window)
                dv_log "stream to rx: $k kbit/s (want $lo..$hi)"
                [ "$k" -ge "$lo" ] && [ "$k" -le "$hi" ] && return 0
        done
        return 1
}
T=10000
check "unshaped, the guests stream more than $((T * 5 / 2)) kbit/s" rate $((T * 5 / 2)) 100000000
# A new meter's bucket starts full (the burst, by default 1 s at the
# average): the windows start a second after each change.
"$DROVER" portgroup set pg100 --shape $T >/dev/null
sleep 1
check "portgroup show has the shaping" \
        [ "$(dv_json '"\(.shaping.ingress.average_kbps) \(.shaping.egress.average_kbps)"' portgroup show pg100)" = "$T $T" ]
check "meters on the bridge" bash -c "${OFCTL[*]} dump-meters unix:$OVS/dvs-lab.mgmt | grep -q 'rate=$T'"
check "shaping to $T kbit/s, set on the running VMs, holds the stream within 10 %" \
        rate $((T * 9 / 10)) $((T * 11 / 10))

out=$("$DROVER" -o json portgroup set pg100 --shape "$((T * 2)):$T" 2>/dev/null || true)
dv_log "refused: $(jq -c .error <<<"$out")"
check "a peak below the average is refused with the reason" \
        jq -e '.error.code == "qos-conflict" and (.error.message | contains("is below the average"))' <<<"$out"
check "and nothing changed" [ "$(dv_json .shaping.ingress.average_kbps portgroup show pg100)" = "$T" ]

"$DROVER" portgroup set pg100 --shape $((T * 2)) >/dev/null
sleep 1
check "raised to $((T * 2)) kbit/s at once" rate $((T * 18 / 10)) $((T * 22 / 10))
"$DROVER" portgroup set pg100 --shape none >/dev/null
check "no meters left" bash -c "! ${OFCTL[*]} dump-meters unix:$OVS/dvs-lab.mgmt | grep -q rate="
check "shaping removed: the stream runs above $((T * 5 / 2)) kbit/s again" rate $((T * 5 / 2)) 100000000
dv_finish
