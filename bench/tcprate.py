#!/usr/bin/env python3
"""TCP rate for the benchmarks' floor: tcprate.py recv ADDR PORT, or
tcprate.py send ADDR PORT BYTES.

recv accepts one connection and reads it to the end into one reused
buffer, then answers one byte. send streams BYTES from one 4 MiB buffer
(no pipe, no extra copy: what a migration stream costs the kernel), waits
for the receiver's byte (everything arrived) and prints the rate in
bytes/s. Standard library only."""
import socket
import sys
import time

CHUNK = 4 << 20


def recv(addr, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    s, _ = ls.accept()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while s.recv_into(view) > 0:
        pass
    s.sendall(b"k")
    s.close()


def send(addr, port, total):
    data = memoryview(b"\xa5" * CHUNK)
    s = socket.create_connection((addr, port), timeout=60)
    t0 = time.monotonic()
    left = total
    while left > 0:
        n = min(left, CHUNK)
        s.sendall(data[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    if s.recv(1) != b"k":
        raise SystemExit("tcprate: the receiver did not confirm")
    dt = time.monotonic() - t0
    print(int(total / dt))


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
