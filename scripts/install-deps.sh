#!/usr/bin/env bash
# Installs what Drover needs to build, test and run its lab on Debian 12.
set -euo pipefail
pkgs=(
        build-essential meson ninja-build pkg-config
        libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libcmocka-dev
        qemu-system-x86 qemu-utils
        openvswitch-switch openipmi ipmitool
        busybox-static cpio kmod zstd xz-utils
        nftables                # nft for the guest image (guest/build.sh, drover.firewall=)
        iproute2 procps curl jq socat e2fsprogs
        clang                   # libFuzzer for tests/fuzz (tests/integration/tools-fuzz.sh)
)
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The guest image builder fetches the kernel with apt-get download, which
# needs current package lists even when nothing is missing.
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The distribution's OVS service must not run: the lab starts private instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q openvswitch-switch 2>/dev/null; then
        systemctl stop openvswitch-switch || true
fi
