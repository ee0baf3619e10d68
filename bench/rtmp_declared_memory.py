#!/usr/bin/env python3
"""Hostile-peer memory check: 50 RTMP connections each declare a 16 MiB message after the
handshake and send up to 8 MB of it (128-byte chunks), then stay open; prints the server's
VmRSS before and after. Before the guard checked declared sizes this grew by ~3 MB a
connection (more with the full 8 MB); with it the connections are refused on the header.

    python3 bench/rtmp_declared_memory.py target/debug/smoothcast

127.0.0.1 only, a temp folder and its own state file, the server killed at the end.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

CONNECTIONS = 50
DECLARED = (16 << 20) - 1  # the 24-bit most
SEND = 8_000_000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "target/debug/smoothcast"
    tmp = tempfile.mkdtemp(prefix="smoothcast-declared-")
    cfg = os.path.join(tmp, "server.toml")
    with open(cfg, "w") as f:
        f.write('bind = "127.0.0.1"\nrtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\n'
                'http_api_port = 0\nweb_port = 0\nmpegts_port = 0\n'
                f'webroot = "{tmp}/www"\nstate_file = "{tmp}/server.state.json"\n')
    server = subprocess.Popen([exe, "serve", "--config", cfg], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        first = server.stdout.readline().decode()
        addrs = dict(p.split("=", 1) for p in first.split()[1:])
        host, port = addrs["rtmp"].rsplit(":", 1)
        time.sleep(0.5)
        before = rss_kib(server.pid)
        conns, took = [], 0
        header = bytes([3, 0, 0, 0, DECLARED >> 16, (DECLARED >> 8) & 255, DECLARED & 255,
                        9, 1, 0, 0, 0])
        # The first chunk's 128 bytes, then type-3 chunks of 128 bytes.
        block = bytes(128) + (bytes([0xC3]) + bytes(128)) * 2047
        for _ in range(CONNECTIONS):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"\x03" + bytes(1536))  # C0, C1
            got = b""
            while len(got) < 1 + 2 * 1536:  # S0, S1, S2
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.sendall(got[1:1537])  # C2 echoes S1
            sent = 0
            try:
                s.settimeout(2)
                s.sendall(header)
                while sent < SEND:
                    s.sendall(block)
                    sent += len(block)
            except OSError:
                pass
            took += sent >= SEND
            conns.append(s)
        time.sleep(1)
        after = rss_kib(server.pid)
        print(f"VmRSS {before} KiB before, {after} KiB after {CONNECTIONS} connections declaring "
              f"16 MiB; {took} of them took {SEND} bytes")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
