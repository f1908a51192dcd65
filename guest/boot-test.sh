#!/usr/bin/env bash
# guest/boot-test.sh OUTDIR
#
# Boots the image built by guest/build.sh under QEMU (TCG) twice on the same
# blank 1 GiB qcow2 virtio-blk disk with a virtio-net NIC. Each boot must
# print DROVER-GUEST-READY and the /dev/vda lines (first boot formats the
# disk, second finds the filesystem), then QMP system_powerdown must make the
# guest shut down cleanly and QEMU exit by itself. Exit 0 only on success.
#
# Environment: BOOT_TIMEOUT (s, default 60), POWEROFF_TIMEOUT (s, default 30),
# BOOT_TEST_ACCEL (default tcg), QEMU (default qemu-system-x86_64).
set -euo pipefail

prog=guest/boot-test.sh
boot_timeout=${BOOT_TIMEOUT:-60}
poweroff_timeout=${POWEROFF_TIMEOUT:-30}
accel=${BOOT_TEST_ACCEL:-tcg}
qemu=${QEMU:-qemu-system-x86_64}
mac=52:54:00:d0:00:01
ip=10.0.2.15/24
gw=10.0.2.2

[ $# -eq 1 ] || { echo "usage: $prog OUTDIR" >&2; exit 2; }
img=$(cd "$1" && pwd)
for f in vmlinuz initrd.img image.json; do
        [ -r "$img/$f" ] || { echo "$prog: $img/$f missing (run guest/build.sh $1)" >&2; exit 1; }
done
for cmd in "$qemu" qemu-img socat; do
        command -v "$cmd" >/dev/null || { echo "$prog: missing command: $cmd" >&2; exit 1; }
done
cmdline=$(sed -n 's/.*"cmdline": *"\([^"]*\)".*/\1/p' "$img/image.json")
[ -n "$cmdline" ] || { echo "$prog: no cmdline in $img/image.json" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/drover-boot-test.XXXXXX")
qpid=""
cleanup() {
        if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
                kill -TERM "$qpid" 2>/dev/null || true
                for _ in $(seq 50); do
                        kill -0 "$qpid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$qpid" 2>/dev/null || true
        fi
        [ -z "$qpid" ] || wait "$qpid" 2>/dev/null || true
        if [ -n "${QMP_PID:-}" ]; then
                kill "$QMP_PID" 2>/dev/null || true
                wait "$QMP_PID" 2>/dev/null || true
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

log=""
fail() {
        echo "$prog: FAIL: $*" >&2
        if [ -n "$log" ] && [ -f "$log" ]; then
                echo "---- last console lines ($log) ----" >&2
                tail -n 40 "$log" | tr -d '\r' >&2
                echo "----" >&2
        fi
        exit 1
}

# wait_for DEADLINE_MS LINE...: poll the console log until every LINE is in
# it. Fails early if QEMU exits.
wait_for() {
        local deadline=$1 missing l
        shift
        while :; do
                missing=""
                for l in "$@"; do
                        grep -qF -- "$l" "$log" 2>/dev/null || { missing=$l; break; }
                done
                [ -n "$missing" ] || return 0
                kill -0 "$qpid" 2>/dev/null || fail "QEMU exited before the guest printed '$missing'"
                [ "$(now_ms)" -lt "$deadline" ] || fail "timeout waiting for '$missing'"
                sleep 0.05
        done
}

# qmp_send CMD: send one QMP command on the open connection, wait for its
# reply (skipping events), fail on an error reply.
qmp_send() {
        local line
        printf '{"execute":"%s"}\n' "$1" >&"${QMP[1]}"
        while :; do
                IFS= read -r -t 10 line <&"${QMP[0]}" || fail "QMP: no reply to $1"
                case "$line" in
                *'"return"'*) return 0 ;;
                *'"error"'*)  fail "QMP $1: $line" ;;
                esac
        done
}

# qmp_powerdown: connect to QMP, negotiate, press the power button.
qmp_powerdown() {
        local line wfd
        coproc QMP { exec socat - "UNIX-CONNECT:$tmp/qmp.sock"; }
        IFS= read -r -t 10 line <&"${QMP[0]}" || fail "QMP: no greeting"
        case "$line" in *'"QMP"'*) ;; *) fail "QMP: bad greeting: $line" ;; esac
        qmp_send qmp_capabilities
        qmp_send system_powerdown
        wfd=${QMP[1]}
        exec {wfd}>&-
}

# boot N FS_LINE: one boot/powerdown cycle; FS_LINE is the disk line expected.
boot() {
        local n=$1 fs_line=$2 t0 t_ready t_off rc
        log="$tmp/console-$n.log"
        rm -f "$tmp/qmp.sock"
        t0=$(now_ms)
        "$qemu" -accel "$accel" -m 256 -smp 1 -nodefaults -no-user-config \
                -display none -no-reboot \
                -serial "file:$log" \
                -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
                -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
                -append "$cmdline drover.net=$mac,$ip,$gw drover.hostname=boottest" \
                -drive "if=none,id=disk0,file=$tmp/disk.qcow2,format=qcow2" \
                -device virtio-blk-pci,drive=disk0 \
                -netdev user,id=net0 -device "virtio-net-pci,netdev=net0,mac=$mac" \
                -device virtio-serial-pci \
                -chardev "socket,id=tools0,path=$tmp/tools.sock,server=on,wait=off" \
                -device virtserialport,chardev=tools0,name=org.drover.tools.0 \
                -device virtio-balloon-pci \
                </dev/null >"$tmp/qemu-$n.out" 2>&1 &
        qpid=$!

        wait_for $((t0 + boot_timeout * 1000)) DROVER-GUEST-READY
        t_ready=$(now_ms)
        wait_for $((t0 + boot_timeout * 1000)) \
                "drover-guest: disk /dev/vda present" \
                "$fs_line" \
                "drover-guest: mounted /dev/vda on /mnt/vda" \
                "drover-guest: net eth0 $mac $ip gw $gw" \
                "drover-guest: hostname boottest" \
                "drover-guest: virtio-serial port org.drover.tools.0"
        echo "boot-test: boot $n: DROVER-GUEST-READY $((t_ready - t0)) ms after QEMU start"

        qmp_powerdown
        t_off=$(now_ms)
        while kill -0 "$qpid" 2>/dev/null; do
                [ "$(now_ms)" -lt $((t_off + poweroff_timeout * 1000)) ] ||
                        fail "QEMU still running ${poweroff_timeout}s after system_powerdown"
                sleep 0.05
        done
        rc=0
        wait "$qpid" || rc=$?
        qpid=""
        # bash unsets QMP_PID itself once it has reaped the coprocess.
        [ -z "${QMP_PID:-}" ] || wait "$QMP_PID" 2>/dev/null || true
        [ "$rc" -eq 0 ] || fail "QEMU exited with status $rc: $(tail -n 3 "$tmp/qemu-$n.out")"
        grep -qF "drover-guest: unmounted /mnt/vda" "$log" || fail "guest did not unmount /mnt/vda"
        echo "boot-test: boot $n: powered off and QEMU exited $(( $(now_ms) - t_off )) ms after system_powerdown"
}

qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 1G
boot 1 "drover-guest: created ext2 filesystem on /dev/vda"
boot 2 "drover-guest: found existing filesystem on /dev/vda"
echo "boot-test: PASS ($img)"
