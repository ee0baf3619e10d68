#!/usr/bin/env python3
"""Benchmark: just-in-time fragments (an MP4 in the web root) against the same fragments
packaged ahead of time, same server, same run.

One clip (default 120 s, 1280x720 1.5 Mbit/s H.264 + AAC, 2 s GOPs, moov at the end) is put
into the web root N times (hard links: N distinct paths, so N distinct index-cache entries)
and packaged once with `smoothcast package`. One `smoothcast serve` on a free 127.0.0.1 port
serves both. One keep-alive connection measures, per request:

  cold        /jit/c<i>.mp4/QualityLevels(b)/Fragments(video=t): the first request for each
              path, so the index (moov read, presentation cut) is built for it
  warm        the same URLs again, rotating over every video fragment of c0 (index cached)
  packaged    the same fragments from the packaged folder (IIS URLs)

Then, if wrk is installed, throughput with 16 connections rotating over every fragment,
warm JIT against packaged.

    python3 bench/jit_bench.py [--seconds 120] [--copies 30] [--rounds 3] [--exe PATH]

Writes to bench/out/ (ignored by git). Loopback only; the server it starts it stops.
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
WEBROOT = os.path.join(OUT, "jit-webroot")


def make_clip(seconds):
    os.makedirs(OUT, exist_ok=True)
    mp4 = os.path.join(OUT, f"jit-{seconds}s.mp4")
    if not os.path.exists(mp4):
        print(f"generating {mp4}...", flush=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k",
             "-maxrate", "1500k", "-bufsize", "3000k",
             "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
             "-c:a", "aac", "-b:a", "128k", "-shortest", mp4],
            check=True)
    return mp4


class Server:
    def __init__(self, exe):
        config = os.path.join(OUT, "jit-bench.toml")
        state = os.path.join(OUT, "jit-bench.state.json")
        if os.path.exists(state):
            os.remove(state)
        with open(config, "w") as f:
            f.write('bind = "127.0.0.1"\nrtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\n'
                    f'http_api_port = 0\nweb_port = 0\nmpegts_port = 0\nwebroot = "{WEBROOT}"\n'
                    f'state_file = "{state}"\n'
                    "[web]\nmax_connections_per_address = 0\n")
        self.log = open(os.path.join(OUT, "jit-server.log"), "w")
        self.proc = subprocess.Popen([exe, "serve", "--config", config],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            sys.exit(f"unexpected first line from the server: {line!r}")
        addrs = dict(p.split("=", 1) for p in line.split()[1:])
        self.web = addrs["web"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def timed_gets(conn, paths):
    """Latency in ms of each GET, in order, on one keep-alive connection; bodies checked."""
    out = []
    for p in paths:
        t0 = time.perf_counter()
        conn.request("GET", p)
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t0) * 1000)
        if r.status != 200 or not body:
            sys.exit(f"{p}: HTTP {r.status}")
    return out


def manifest_fragments(conn, base):
    conn.request("GET", f"{base}/Manifest")
    r = conn.getresponse()
    xml = r.read().decode()
    if r.status != 200:
        sys.exit(f"{base}/Manifest: HTTP {r.status}: {xml[:200]}")
    video = xml.split('Type="video"', 1)[1].split("</StreamIndex>", 1)[0]
    bitrate = re.search(r'Bitrate="(\d+)"', video).group(1)
    times, t = [], 0
    for m in re.finditer(r'<c(?: t="(\d+)")? d="(\d+)"', video):
        if m.group(1):
            t = int(m.group(1))
        times.append(t)
        t += int(m.group(2))
    return [f"{base}/QualityLevels({bitrate})/Fragments(video={t})" for t in times]


def wrk_rps(host, paths, seconds):
    script = os.path.join(OUT, "jit-rotate.lua")
    with open(script, "w") as f:
        f.write("local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
                "local i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                "  return wrk.format(\"GET\", paths[i])\nend\n")
    r = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", script,
                        f"http://{host}/"], capture_output=True, text=True, timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", r.stdout)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return (float(m.group(1)) if m else 0.0,
            float(p50.group(1)) * scale[p50.group(2)] if p50 else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=120, help="clip length")
    ap.add_argument("--copies", type=int, default=30, help="cold requests (one per path)")
    ap.add_argument("--rounds", type=int, default=3, help="warm/packaged rotations")
    ap.add_argument("--wrk-seconds", type=int, default=5)
    ap.add_argument("--exe", help="smoothcast binary (default: cargo build --release)")
    args = ap.parse_args()
    exe = args.exe
    if not exe:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "smoothcast"], cwd=ROOT,
                       check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        exe = os.path.join(target, "release", "smoothcast")
    clip = make_clip(args.seconds)
    shutil.rmtree(WEBROOT, ignore_errors=True)
    os.makedirs(os.path.join(WEBROOT, "jit"))
    for i in range(args.copies):
        os.link(clip, os.path.join(WEBROOT, "jit", f"c{i}.mp4"))
    subprocess.run([exe, "package", "--target-folder", WEBROOT, "--group-name", "pkg", clip],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"clip: {args.seconds} s, {os.path.getsize(clip) / 1e6:.1f} MB; cores: "
          f"{os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}", flush=True)
    server = Server(exe)
    try:
        host, port = server.web.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        packaged = manifest_fragments(conn, "/pkg")
        # Manifest of c0 only: its fragment list (this builds c0's index, not measured).
        warm_paths = manifest_fragments(conn, "/jit/c0.mp4")
        mid = len(warm_paths) // 2
        suffix = warm_paths[mid].split(".mp4", 1)[1]
        cold = timed_gets(conn, [f"/jit/c{i}.mp4{suffix}" for i in range(1, args.copies)])
        timed_gets(conn, warm_paths + packaged)  # first touch of every file, not measured
        warm, pkg = [], []
        for _ in range(args.rounds):
            warm += timed_gets(conn, warm_paths)
            pkg += timed_gets(conn, packaged)
        conn.close()
        have_wrk = shutil.which("wrk") is not None
        if have_wrk:
            jit_rps, jit_p50 = wrk_rps(server.web, warm_paths, args.wrk_seconds)
            pkg_rps, pkg_p50 = wrk_rps(server.web, packaged, args.wrk_seconds)
    finally:
        server.stop()
    med = statistics.median
    c, w, p = med(cold), med(warm), med(pkg)
    print(f"\none connection, median latency per fragment request (ms):")
    print(f"  cold JIT (index built)   {c:8.3f}  ({len(cold)} requests)  {c / p:6.1f}x packaged")
    print(f"  warm JIT (index cached)  {w:8.3f}  ({len(warm)} requests)  {w / p:6.1f}x packaged")
    print(f"  packaged file            {p:8.3f}  ({len(pkg)} requests)")
    if have_wrk:
        print(f"\nwrk -t2 -c16 -d{args.wrk_seconds}s rotating over every video fragment:")
        print(f"  warm JIT  {jit_rps:9.0f} req/s  p50 {jit_p50:.3f} ms")
        print(f"  packaged  {pkg_rps:9.0f} req/s  p50 {pkg_p50:.3f} ms  "
              f"(JIT/packaged {jit_rps / max(pkg_rps, 1):.2f}x req/s)")


if __name__ == "__main__":
    main()
