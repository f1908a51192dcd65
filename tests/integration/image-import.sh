#!/usr/bin/env bash
# Foundation: an operator imports their own raw or qcow2 image; a VM created
# from it gets a first disk that is an independent copy of the image (grown
# to the size asked for) and boots from that disk.
. "$(dirname "$0")/lib.sh"

dv_start_manager
dv_start_agent host1

# A 64 MiB raw image with 1 MiB of random data at its start and a marker
# further in: content we can recognise in the VM's disk.
img=$DV_TMP/mine.raw
truncate -s 64M "$img"
dd if=/dev/urandom of="$img" bs=1M count=1 conv=notrunc status=none
printf 'drover-image-marker' | dd of="$img" bs=1 seek=$((40 * 1024 * 1024)) conv=notrunc status=none

"$DROVER" image import mine --path "$img" --format raw >/dev/null
check "the imported image is listed as a disk image" [ "$(dv_json .kind image show mine)" = disk ]
check "it was converted to qcow2 in the manager's image library" \
        bash -c "qemu-img info --output=json '$(dv_json .path image show mine)' | jq -e '.format == \"qcow2\"'"

"$DROVER" vm create fromimg --cpus 1 --memory 64 --image mine --disk 2 >/dev/null
disk=$(dv_json '.disks[0].path' vm show fromimg)
check "the VM's first disk holds the image's content" \
        bash -c "qemu-img compare -q -f raw -F qcow2 '$img' '$disk'"
check "... grown to the 2 GiB asked for" \
        bash -c "qemu-img info --output=json '$disk' | jq -e '.\"virtual-size\" == 2147483648'"
check "... as an independent copy (no backing file)" \
        bash -c "! qemu-img info --output=json '$disk' | jq -e 'has(\"backing-filename\")'"
check "vm show reports the disk's size" [ "$(dv_json '.disks[0].size_gib' vm show fromimg)" = 2 ]

"$DROVER" vm create nodisk --cpus 1 --memory 64 --image mine >/dev/null
disk2=$(dv_json '.disks[0].path' vm show nodisk)
check "a VM asked for no disk still gets the image's disk" test -f "$disk2"
check "... of the image's size, rounded up to 1 GiB" [ "$(dv_json '.disks[0].size_gib' vm show nodisk)" = 1 ]
check "... holding the image" bash -c "qemu-img compare -q -f raw -F qcow2 '$img' '$disk2'"

# It boots from that disk (there is no kernel to load: the firmware boots it).
"$DROVER" vm start fromimg >/dev/null
check "the VM runs" dv_vm_state_is fromimg running
pid=$(dv_qemu_pids "$(dv_json .id vm show fromimg)")
check "QEMU boots from the image's disk (bootindex on disk0, no -kernel)" \
        bash -c "tr '\\0' ' ' </proc/$pid/cmdline | grep -q 'bootindex=1' && ! tr '\\0' ' ' </proc/$pid/cmdline | grep -q -- '-kernel '"
"$DROVER" vm stop fromimg --force >/dev/null

# Bad imports change nothing.
rc=0; out=$("$DROVER" image import ghost --path "$DV_TMP/none.raw" --format raw 2>&1) || rc=$?
check "importing a missing file fails ($out)" [ "$rc" -ne 0 ]
check "... and leaves no image behind" bash -c "! '$DROVER' image show ghost >/dev/null 2>&1"
rc=0; out=$("$DROVER" image import bad --path "$img" --format vmdk 2>&1) || rc=$?
check "an unsupported format is refused ($out)" [ "$rc" -ne 0 ]
rc=0; out=$("$DROVER" image delete mine 2>&1) || rc=$?
check "an image in use cannot be deleted ($out)" [ "$rc" -ne 0 ]

"$DROVER" vm delete fromimg >/dev/null
"$DROVER" vm delete nodisk >/dev/null
check "the VMs' disks are gone, the image stays" bash -c "[ ! -e '$disk' ] && [ ! -e '$disk2' ] && '$DROVER' image show mine >/dev/null"
dv_finish
