#!/usr/bin/env python3
"""One-shot QMP client for the benchmarks: qmp.py SOCKET JSON-COMMAND...

Connects to QEMU's QMP unix socket, negotiates capabilities, sends each
command in turn and prints each reply's "return" (or {"error": ...}) as one
JSON line. Events are skipped. Standard library only."""
import json
import socket
import sys


def main():
    path, cmds = sys.argv[1], sys.argv[2:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rw")

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("qmp: connection closed")
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return msg

    json.loads(f.readline())  # greeting
    f.write('{"execute":"qmp_capabilities"}\n')
    f.flush()
    reply()
    rc = 0
    for c in cmds:
        f.write(c + "\n")
        f.flush()
        msg = reply()
        if "error" in msg:
            rc = 1
            print(json.dumps({"error": msg["error"]}))
        else:
            print(json.dumps(msg["return"]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
