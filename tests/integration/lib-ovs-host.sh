# One host without the lab, for the DVS, Tools-network and shaping tests:
# a network namespace of our own with a private Open vSwitch (ovsdb-server
# + ovs-vswitchd --disable-system, run directory under the test's temp
# dir), a management veth to the root namespace (where the manager runs),
# and a second OVS bridge "tor" standing in for the TOR switch: the DVS's
# uplink up0 is a veth into its trunk port tor0, and its internal port
# gw100 (VLAN 100, 10.0.100.1/24) is the port group's gateway. No bridge is
# ever made in the root namespace. Sourced after lib.sh.
#
# ovs_host_up NAME OCTET: sets NS (the namespace), RV (root end of the
# management veth), OVS (the OVS run directory), NET (10.OCTET.x, the
# management /30: .1 root, .2 host) and VSCTL; registers the cleanup.
# nsx CMD...: run CMD in the host's namespace.

for t in ovsdb-server ovs-vswitchd ovs-vsctl ovsdb-tool busybox curl; do
        command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
done

nsx() { ip netns exec "$NS" "$@"; }

ovs_host_cleanup() {
        local p
        for p in "$OVS/ovs-vswitchd.pid" "$OVS/ovsdb-server.pid"; do
                [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null
        done
        ip netns del "$NS" 2>/dev/null
        ip link del "$RV" 2>/dev/null
        return 0
}

ovs_host_up() {
        NS=$1-$$
        RV=$1r$$
        OVS=$DV_TMP/ovs
        NET=10.$2.$((RANDOM % 200 + 20))
        VSCTL=(ovs-vsctl --db="unix:$OVS/db.sock" --timeout=10)
        DV_CLEANUP_HOOKS+=(ovs_host_cleanup)

        # The host namespace and its management link.
        ip netns add "$NS"
        nsx ip link set lo up
        nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip link add "$RV" type veth peer name mg0 netns "$NS"
        ip addr add "$NET.1/30" dev "$RV"
        ip link set "$RV" up
        nsx ip addr add "$NET.2/30" dev mg0
        nsx ip link set mg0 up

        # Its private OVS.
        mkdir -p "$OVS"
        ovsdb-tool create "$OVS/conf.db" /usr/share/openvswitch/vswitch.ovsschema
        (
                export OVS_RUNDIR=$OVS OVS_DBDIR=$OVS OVS_LOGDIR=$OVS OVS_SYSCONFDIR=$OVS
                nsx ovsdb-server "$OVS/conf.db" --remote="punix:$OVS/db.sock" \
                        --pidfile="$OVS/ovsdb-server.pid" --unixctl="$OVS/ovsdb-server.ctl" \
                        --log-file="$OVS/ovsdb-server.log" -vconsole:off -vsyslog:off \
                        --no-chdir --detach
        )
        wait_until 10 "ovsdb-server" "${VSCTL[@]}" --no-wait show
        "${VSCTL[@]}" --no-wait init
        "${VSCTL[@]}" --no-wait set Open_vSwitch . other_config:n-handler-threads=1 \
                other_config:n-revalidator-threads=1
        (
                export OVS_RUNDIR=$OVS OVS_DBDIR=$OVS OVS_LOGDIR=$OVS OVS_SYSCONFDIR=$OVS
                nsx ovs-vswitchd "unix:$OVS/db.sock" --disable-system \
                        --pidfile="$OVS/ovs-vswitchd.pid" --unixctl="$OVS/ovs-vswitchd.ctl" \
                        --log-file="$OVS/ovs-vswitchd.log" -vconsole:off -vsyslog:off \
                        --no-chdir --detach
        )

        # The stand-in TOR: bridge "tor", trunk port tor0 <-> uplink up0,
        # gateway gw100.
        nsx ip link add up0 type veth peer name tor0
        nsx ip link set tor0 up
        "${VSCTL[@]}" -- add-br tor -- set Bridge tor datapath_type=netdev \
                -- add-port tor tor0 -- set Port tor0 vlan_mode=trunk \
                -- add-port tor gw100 tag=100 -- set Interface gw100 type=internal
        wait_until 10 "gateway port" nsx ip link show gw100
        nsx ip addr add 10.0.100.1/24 dev gw100
        nsx ip link set gw100 up
        # The userspace datapath does not complete partial checksums
        # (lab/README.md).
        nsx ethtool -K up0 tx off >/dev/null 2>&1 || true
        nsx ethtool -K tor0 tx off >/dev/null 2>&1 || true
}
