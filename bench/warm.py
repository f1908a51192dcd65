#!/usr/bin/env python3
"""warm.py MIB: touch MIB MiB of fresh anonymous memory (2 MiB pages where
the kernel gives them, as QEMU asks for its guest RAM), print the time it
took in ms, and free it.

bench/migrate runs it before every migration of every configuration. This
machine is itself a virtual machine whose hypervisor takes back the
memory it reports free (virtio-balloon free page reporting, about 2 s
after a page is freed): the first touch of such memory costs about 1.6 s
per GiB here, against 0.16 to 0.2 s when it was freed a moment ago.
Without this, a migration target that allocates its guest's RAM pays one
or the other depending on how long ago the previous run's QEMU exited, an
artifact of this machine (a real host zeroes pages at the warm rate) that
is larger than the migration itself. bench/migrate also pauses the
reporting while it runs. Standard library only."""
import mmap
import sys
import time


def main():
    size = int(sys.argv[1]) << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        m.madvise(mmap.MADV_HUGEPAGE)
    t0 = time.monotonic()
    for off in range(0, size, 4096):
        m[off] = 1
    print(int((time.monotonic() - t0) * 1000))
    m.close()


if __name__ == "__main__":
    main()
