#!/usr/bin/env bash
# guest/build.sh OUTDIR [--tools PATH_TO_STATIC_BINARY]
#
# Builds Drover's default guest image from Debian packages: the current cloud
# kernel (linux-image-cloud-amd64) and busybox-static, fetched with
# `apt-get download` into OUTDIR/cache, plus this machine's /usr/sbin/nft
# (package nftables) and the shared libraries it needs, for the
# drover.firewall= test aid. Writes OUTDIR/vmlinuz,
# OUTDIR/initrd.img and OUTDIR/image.json (with --tools also a copy of the
# binary, OUTDIR/drover-tools, for upgrades). The build is skipped when
# OUTDIR/.stamp holds the hash of the current inputs. See guest/README.md.
set -euo pipefail

# Top-level modules wanted in the guest, in load order. Their dependencies
# come from modules.dep; those built into the kernel are left out.
MODULES=(
        virtio_pci          # PCI transport for every virtio device below
        virtio_blk          # data disks (/dev/vda)
        virtio_net          # NICs (pulls in net_failover, failover)
        virtio_console      # virtio-serial: the drover-tools channel
        virtio_balloon      # memory ballooning
        virtio_rng          # entropy from the host
        ext4                # data disk filesystem (ext2 via the ext4 driver)
        evdev               # /dev/input/event* for acpid
        button              # ACPI power button (QMP system_powerdown)
        pvpanic_pci         # report guest panics to QEMU (-device pvpanic-pci)
        pvpanic_mmio        # ... and to the ISA/ACPI -device pvpanic
)
# Modules that /init loads only for the drover.firewall= test aid, never at a
# normal boot (see below). nf_tables has the inet family, filter chains and
# the meta/cmp/immediate expressions built in: all that
# `meta l4proto icmp drop` needs.
FIREWALL_MODULES=(
        nf_tables           # nftables (+ nfnetlink, libcrc32c)
)
# The nft binary copied into the image with the shared libraries ldd names.
NFT=/usr/sbin/nft
CMDLINE="console=ttyS0 quiet"
KERNEL_META=${DROVER_GUEST_KERNEL_META:-linux-image-cloud-amd64}
BUSYBOX_PKG=busybox-static

prog=guest/build.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "$prog: $*" >&2; exit 1; }
usage() { echo "usage: $prog OUTDIR [--tools PATH_TO_STATIC_BINARY]" >&2; exit 2; }

outdir=""
tools=""
tools_arg=""
while [ $# -gt 0 ]; do
        case "$1" in
        --tools)   [ $# -ge 2 ] || usage; tools=$2; tools_arg=$2; shift 2 ;;
        --tools=*) tools=${1#--tools=}; tools_arg=$tools; shift ;;
        -h|--help) usage ;;
        -*)        echo "$prog: unknown option $1" >&2; usage ;;
        *)         [ -z "$outdir" ] || usage; outdir=$1; shift ;;
        esac
done
[ -n "$outdir" ] || usage

for cmd in apt-cache apt-get dpkg-deb depmod modprobe modinfo cpio gzip sha256sum flock ldd; do
        command -v "$cmd" >/dev/null || die "missing command: $cmd"
done
[ -x "$NFT" ] || die "missing $NFT (install nftables: scripts/install-deps.sh)"

umask 022
t_start=$(date +%s%N)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
# Downloaded .debs; DROVER_GUEST_CACHE lets several OUTDIRs share one cache.
cache=${DROVER_GUEST_CACHE:-$outdir/cache}
mkdir -p "$cache"

# Concurrent builds into the same OUTDIR wait for each other.
exec 9>"$outdir/.lock"
flock 9

if [ -n "$tools" ]; then
        [ -f "$tools" ] && [ -r "$tools" ] || die "--tools: $tools is not a readable file"
        if command -v readelf >/dev/null; then
                readelf -h "$tools" >/dev/null 2>&1 || die "--tools: $tools is not an ELF binary"
                if readelf -l "$tools" 2>/dev/null | grep -q 'program interpreter'; then
                        die "--tools: $tools is dynamically linked; the guest has no libc"
                fi
        fi
        # Stripped (no debug info, no build id): builds of the same source in
        # different build directories then give the same image and cache key.
        tools_tmp=$(mktemp "$outdir/.tools.XXXXXX")
        trap 'rm -f "$tools_tmp"' EXIT
        if command -v strip >/dev/null; then
                strip --strip-all -R .note.gnu.build-id -o "$tools_tmp" "$tools" ||
                        die "--tools: cannot strip $tools"
        else
                cp "$tools" "$tools_tmp"
        fi
        tools=$tools_tmp
        tools_sha=$(sha256sum "$tools" | cut -d' ' -f1)
else
        tools_sha=none
fi

# --- resolve packages ----------------------------------------------------------
# candidate PKG: the version apt would install, from one `apt-cache policy`
# call for all packages (apt-cache takes ~0.4 s per call).
policy=""
candidate() {
        awk -v pkg="$1:" '$0 == pkg { p = 1; next } /^[^ ]/ { p = 0 }
                p && $1 == "Candidate:" { print $2; exit }' <<<"$policy"
}

kpkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || die "cannot resolve $KERNEL_META (is apt-get update needed?)"
kver=${kpkg#linux-image-}
policy=$(apt-cache policy "$kpkg" "$BUSYBOX_PKG" 2>/dev/null)
kpkg_ver=$(candidate "$kpkg")
bb_ver=$(candidate "$BUSYBOX_PKG")
[ -n "$kpkg_ver" ] && [ "$kpkg_ver" != "(none)" ] || die "no installable version of $kpkg (run apt-get update)"
[ -n "$bb_ver" ] && [ "$bb_ver" != "(none)" ] || die "no installable version of $BUSYBOX_PKG (run apt-get update)"

# nft and every shared object it loads (the dynamic loader too), as ldd
# resolves them on this machine; copied to the same paths in the image.
nft_ldd=$(ldd "$NFT") || die "ldd $NFT failed"
! grep -q 'not found' <<<"$nft_ldd" || die "ldd $NFT: $(grep 'not found' <<<"$nft_ldd" | tr -s '\t\n' '  ')"
nft_files=("$NFT")
while read -r f; do
        nft_files+=("$f")
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3; next }
              $1 ~ /^\// { print $1 }' <<<"$nft_ldd")
[ ${#nft_files[@]} -gt 1 ] || die "ldd $NFT found no shared libraries"
for f in "${nft_files[@]}"; do
        [ -r "$f" ] || die "$NFT needs $f, which is not readable"
done
nft_ver=$(dpkg-query -W -f='${Version}' nftables 2>/dev/null) || nft_ver=""
[ -n "$nft_ver" ] || nft_ver=unknown

# --- cache check -----------------------------------------------------------------
hash=$(
        {
                for f in "$here/build.sh" "$here/init" "$here/shutdown"; do
                        echo "== ${f##*/}"; cat "$f"
                done
                echo "kernel $kpkg $kpkg_ver"
                echo "busybox $BUSYBOX_PKG $bb_ver"
                echo "tools $tools_sha"
                echo "nftables $nft_ver"
                for f in "${nft_files[@]}"; do
                        echo "file $f $(sha256sum <"$f" | cut -d' ' -f1)"
                done
        } | sha256sum | cut -d' ' -f1
)
if [ -f "$outdir/.stamp" ] && [ "$(cat "$outdir/.stamp")" = "$hash" ] &&
   [ -f "$outdir/vmlinuz" ] && [ -f "$outdir/initrd.img" ] && [ -f "$outdir/image.json" ]; then
        echo "guest: using cached image in $outdir (kernel $kver, hash ${hash:0:12})"
        exit 0
fi

# --- fetch -------------------------------------------------------------------------
apt_opts=(-q)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)

# fetch PKG VERSION -> prints the path of the .deb in the cache
fetch() {
        local pkg=$1 ver=$2 f part
        for f in "$cache/${pkg}_${ver//:/%3a}_"*.deb; do
                if [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version 2>/dev/null)" = "$ver" ]; then
                        echo "$f"; return 0
                fi
        done
        part=$(mktemp -d "$cache/.partial.XXXXXX")
        if ! (cd "$part" && apt-get "${apt_opts[@]}" download "$pkg=$ver" >/dev/null); then
                rm -rf "$part"
                die "apt-get download $pkg=$ver failed"
        fi
        # Keep one version per package in the cache.
        rm -f "$cache/${pkg}_"*.deb
        for f in "$part"/*.deb; do
                mv "$f" "$cache/"
                echo "$cache/${f##*/}"
        done
        rmdir "$part"
}

kdeb=$(fetch "$kpkg" "$kpkg_ver")
bbdeb=$(fetch "$BUSYBOX_PKG" "$bb_ver")

work=$(mktemp -d "$outdir/.work.XXXXXX")
trap 'rm -rf "$work" ${tools_tmp:+"$tools_tmp"}' EXIT

# --- unpack ------------------------------------------------------------------------
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bbdeb" "$work/busybox"
kroot="$work/kernel"
[ -f "$kroot/boot/vmlinuz-$kver" ] || die "$kdeb has no boot/vmlinuz-$kver"
[ -d "$kroot/lib/modules/$kver" ] || die "$kdeb has no lib/modules/$kver"
bb="$work/busybox/bin/busybox"
[ -x "$bb" ] || die "$bbdeb has no bin/busybox"

# The package ships no modules.dep (its postinst runs depmod): make one to
# resolve dependencies with the host's kmod.
depmod -b "$kroot" "$kver"

# --- initramfs tree ----------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/acpi,etc/drover,proc,sys,dev,run,tmp,mnt,root,var/log}
mkdir -p "$root/lib/modules/$kver"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
ln -s ../run "$root/var/run"

# Modules: the closure of MODULES in dependency order, decompressed so that
# busybox modprobe/insmod can load them.
mdir="$root/lib/modules/$kver"
top=()
order=()
declare -A seen=()
for m in "${MODULES[@]}"; do
        deps=$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>/dev/null) ||
                die "module $m not found in $kver"
        if [[ "$deps" == builtin* ]] && ! grep -q '^insmod ' <<<"$deps"; then
                continue                # built into the kernel
        fi
        top+=("$m")
        while read -r verb path _; do
                [ "$verb" = insmod ] || continue
                rel=${path#"$kroot/lib/modules/$kver/"}
                base=${rel%.ko*}.ko
                [ -z "${seen[$base]:-}" ] || continue
                seen[$base]=1
                mkdir -p "$mdir/$(dirname "$rel")"
                case "$rel" in
                *.ko)     cp "$path" "$mdir/$base" ;;
                *.ko.xz)  xz -dc <"$path" >"$mdir/$base" ;;
                *.ko.zst) zstd -dcq <"$path" >"$mdir/$base" ;;
                *.ko.gz)  gzip -dc <"$path" >"$mdir/$base" ;;
                *)        die "unknown module file $rel" ;;
                esac
                n=${base##*/}; order+=("${n%.ko}")
        done <<<"$deps"
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
        [ -f "$kroot/lib/modules/$kver/$f" ] && cp "$kroot/lib/modules/$kver/$f" "$mdir/"
done
# modules.order names compressed files on kernels that compress modules.
sed -i -E 's/\.ko\.(xz|zst|gz)$/.ko/' "$mdir/modules.order"
depmod -b "$root" "$kver"
printf '%s\n' "${top[@]}" >"$root/etc/drover/modules"
printf '%s\n' "${order[@]}" >"$root/etc/drover/modules.load-order"

# Firewall modules (drover.firewall=): kept out of /lib/modules so that the
# kernel's on-demand loading (modprobe via modules.alias, e.g. when
# drover-tools opens a NETLINK_NETFILTER socket) never loads them at a
# normal boot. /init insmods them from /lib/drover/firewall in the order of
# /etc/drover/modules.firewall: hard dependencies (modules.dep, depth first)
# before the modules that need them. Soft dependencies are left out
# (libcrc32c's crc32c: crc32c_generic is built in).
fwdir="$root/lib/drover/firewall"
fw_order=()
declare -A fw_seen=()
fw_visit() {
        local rel=$1 line d base deps=()
        [ -z "${fw_seen[$rel]:-}" ] || return 0
        fw_seen[$rel]=1
        line=$(awk -v r="$rel:" '$1 == r { $1 = ""; print; f = 1 } END { exit !f }' \
                "$kroot/lib/modules/$kver/modules.dep") || die "$rel is not in modules.dep"
        read -ra deps <<<"$line"
        for d in ${deps[@]+"${deps[@]}"}; do
                fw_visit "$d"
        done
        base=${rel##*/}; base=${base%.ko*}.ko
        case "$rel" in
        *.ko)     cp "$kroot/lib/modules/$kver/$rel" "$fwdir/$base" ;;
        *.ko.xz)  xz -dc <"$kroot/lib/modules/$kver/$rel" >"$fwdir/$base" ;;
        *.ko.zst) zstd -dcq <"$kroot/lib/modules/$kver/$rel" >"$fwdir/$base" ;;
        *.ko.gz)  gzip -dc <"$kroot/lib/modules/$kver/$rel" >"$fwdir/$base" ;;
        *)        die "unknown module file $rel" ;;
        esac
        fw_order+=("$base")
}
mkdir -p "$fwdir"
for m in "${FIREWALL_MODULES[@]}"; do
        path=$(modinfo -b "$kroot" -k "$kver" -n "$m" 2>/dev/null) ||
                die "module $m not found in $kver"
        [[ "$path" == /* ]] || continue         # built into the kernel
        fw_visit "${path#"$kroot/lib/modules/$kver/"}"
done
printf '%s\n' ${fw_order[@]+"${fw_order[@]}"} >"$root/etc/drover/modules.firewall"

# nft for drover.firewall=, with its libraries and loader at the paths ldd
# gave (the loader's default search path then finds them without a cache).
for f in "${nft_files[@]}"; do
        mkdir -p "$root$(dirname "$f")"
        cp -L "$f" "$root$f"
done
chmod 0755 "$root$NFT"

# Busybox and its applet links.
install -m 0755 "$bb" "$root/bin/busybox"
while read -r applet; do
        [ -n "$applet" ] && [ ! -e "$root/$applet" ] && [ ! -L "$root/$applet" ] || continue
        ln -s /bin/busybox "$root/$applet"
done < <("$bb" --list-full)
[ -L "$root/bin/sh" ] || die "busybox has no sh applet"

# Init, shutdown, configuration.
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/shutdown" "$root/sbin/drover-shutdown"
printf 'PWRF power\n' >"$root/etc/acpid.conf"
printf '#!/bin/sh\nexec /sbin/drover-shutdown poweroff\n' >"$root/etc/acpi/power"
chmod 0755 "$root/etc/acpi/power"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
# Protocol names, so that `nft list ruleset` prints "icmp" rather than "1".
printf 'ip 0 IP\nicmp 1 ICMP\ntcp 6 TCP\nudp 17 UDP\nipv6-icmp 58 IPv6-ICMP\n' >"$root/etc/protocols"
printf 'drover\n' >"$root/etc/hostname"
cat >"$root/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PS1='\h:\w\$ '
EOF
bb_upstream=${bb_ver#*:}; bb_upstream=${bb_upstream%%-*}
cat >"$root/etc/os-release" <<EOF
NAME="Drover guest"
ID=drover-guest
VERSION_ID="$kver"
PRETTY_NAME="Drover default guest (Linux $kver, BusyBox $bb_upstream)"
EOF
if [ -n "$tools" ]; then
        install -m 0755 "$tools" "$root/usr/sbin/drover-tools"
fi
# The kernel opens /dev/console before /init runs; its built-in initramfs
# provides one, add our own when we may.
if [ "$(id -u)" -eq 0 ]; then
        mknod -m 0600 "$root/dev/console" c 5 1
fi

# Reproducible archive: fixed times and owners, sorted names.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --reproducible --quiet) |
        gzip -9 -n >"$work/initrd.img"

# --- publish -------------------------------------------------------------------------
cat >"$work/image.json" <<EOF
{"name":"default","kind":"kernel","kernel":"vmlinuz","initrd":"initrd.img","cmdline":"$CMDLINE","kernel_version":"$kver","kernel_package":"$kpkg=$kpkg_ver","busybox_version":"$bb_ver","nftables_version":"$nft_ver","tools":$([ -n "$tools" ] && echo true || echo false),$([ -n "$tools" ] && echo '"tools_binary":"drover-tools",')"hash":"$hash"}
EOF
rm -f "$outdir/.stamp"
install -m 0644 "$kroot/boot/vmlinuz-$kver" "$outdir/.vmlinuz.new"
install -m 0644 "$work/initrd.img" "$outdir/.initrd.img.new"
install -m 0644 "$work/image.json" "$outdir/.image.json.new"
mv -f "$outdir/.vmlinuz.new" "$outdir/vmlinuz"
mv -f "$outdir/.initrd.img.new" "$outdir/initrd.img"
# The image's drover-tools also lies next to it: the manager pushes this
# copy to running guests (vm tools-upgrade).
if [ -n "$tools" ]; then
        install -m 0755 "$tools" "$outdir/.drover-tools.new"
        mv -f "$outdir/.drover-tools.new" "$outdir/drover-tools"
else
        rm -f "$outdir/drover-tools"
fi
mv -f "$outdir/.image.json.new" "$outdir/image.json"
echo "$hash" >"$outdir/.stamp"

t_ms=$(( ($(date +%s%N) - t_start) / 1000000 ))
size_kib=$(( $(stat -c %s "$outdir/initrd.img") / 1024 ))
echo "guest: built image in $outdir (kernel $kver, ${#order[@]} modules, initrd ${size_kib} KiB, tools: ${tools_arg:-none}) in ${t_ms} ms, hash ${hash:0:12}"
