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
        chromium                # the web console's browser tests (tests/integration/web-console.sh)
)
# node and npm for the web console's build and browser tests (web/): any
# node >= 18 will do; Debian's when there is none.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
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
# playwright-core (and noVNC, for `npm run build`) from web/package-lock.json.
# No browser download: the tests use Debian's /usr/bin/chromium.
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$root/web/node_modules/playwright-core" ] ||
   [ "$root/web/package-lock.json" -nt "$root/web/node_modules/.package-lock.json" ]; then
        (cd "$root/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
