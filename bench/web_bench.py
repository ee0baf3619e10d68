#!/usr/bin/env python3
"""Benchmark: Smoothcast's web tier against nginx, same files, same run, same machine.

One presentation (2 bitrates, 24 s, 2 s fragments) is packaged with `smoothcast package`
and served by `smoothcast serve` (web port) and by nginx (`sendfile on`, config written to
a temp folder), both on free 127.0.0.1 ports. wrk measures, for each server:

  fragments  -c64, a Lua script rotating over every fragment file URL
  manifest   -c64, the manifest
  one conn   -c1 -t1, rotating over every fragment (latency of one viewer's fetches)
  (Smoothcast only: the same rotation through the IIS URLs, which nginx cannot serve)

Then a live viewer load: two bitrates published over RTMP (ffmpeg, -c copy, real time) into
a rolling createMSSStream; N simulated viewers (wrk connections running a Lua script: each
refreshes the manifest and fetches the newest video and audio fragment once per fragment
duration, jittered) against Smoothcast, then nginx serving the same live folder. N doubles
until p99 latency (over every viewer request) passes 100 ms or errors appear, in a step and
in its one retry.

    python3 bench/web_bench.py [--seconds 8] [--rounds 3] [--live-seconds 10] [--max-viewers 4096]
    python3 bench/web_bench.py --no-live --baseline --exe OLD/smoothcast   # a build without [web]

Needs ffmpeg, wrk, nginx (Debian: `apt-get install nginx wrk`) and cargo (or --exe).
Writes to bench/out/ (ignored by git). Loopback only; every process it starts it stops.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import nginx_proc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
WEBROOT = os.path.join(OUT, "web-webroot")
CHUNK = 2  # seconds

# Targets from the issue.
TARGET_RATIO = 1.0
TARGET_P50_MS = 2.0
LIVE_P99_MS = 100.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_inputs():
    """Two renditions of one 24 s clip, 2 s GOPs, as MP4 (for package) and FLV (for RTMP)."""
    os.makedirs(OUT, exist_ok=True)
    out = []
    for name, size, kbps in [("lo", "640x360", 500), ("hi", "1280x720", 1000)]:
        mp4 = os.path.join(OUT, f"web-{name}.mp4")
        if not os.path.exists(mp4):
            print(f"generating {mp4}...", flush=True)
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y",
                 "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration=24",
                 "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=24",
                 "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{kbps}k",
                 "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k",
                 "-g", "48", "-keyint_min", "48", "-sc_threshold", "0",
                 "-c:a", "aac", "-b:a", "96k", "-shortest", mp4],
                check=True)
        flv = mp4[:-4] + ".flv"
        if not os.path.exists(flv):
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", mp4, "-c", "copy", "-f", "flv", flv],
                           check=True)
        out.append((name, mp4, flv, kbps * 1000))
    return out


class Smoothcast:
    def __init__(self, exe, web_section=True):
        self.config = os.path.join(OUT, "web-bench.toml")
        # A fresh state file: a live config saved by an earlier run must not come back.
        state = os.path.join(OUT, "web-bench.state.json")
        if os.path.exists(state):
            os.remove(state)
        with open(self.config, "w") as f:
            f.write(
                'bind = "127.0.0.1"\nrtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\n'
                f'http_api_port = 0\nweb_port = 0\nmpegts_port = 0\nwebroot = "{WEBROOT}"\n'
                f'state_file = "{state}"\n'
                # One load generator on one address holds every connection: no per-address cap.
                + ("[web]\nmax_connections = 16384\nmax_connections_per_address = 0\n"
                   if web_section else ""))
        self.log = open(os.path.join(OUT, "web-server.log"), "w")
        self.proc = subprocess.Popen([exe, "serve", "--config", self.config],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening "):
            self.stop()
            sys.exit(f"unexpected first line from the server: {line!r}")
        self.addrs = dict(p.split("=", 1) for p in line.split()[1:])
        self.web = self.addrs["web"]

    def api(self, command, params=""):
        url = f"http://{self.addrs['http_api']}/{command}"
        if params:
            url += "?params=" + base64.b64encode(params.encode()).decode()
        with urllib.request.urlopen(url, timeout=20) as r:
            return json.loads(r.read())

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.addrs['http_api']}/metrics", timeout=20) as r:
            return r.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Nginx:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="web-bench-nginx-")
        self.port = free_port()
        self.web = f"127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "nginx.conf")
        # nginx at its best for static files: sendfile, one worker per core, open-file cache,
        # no access log, long keep-alive. Same files (root = the same web root).
        with open(conf, "w") as f:
            f.write(f"""
worker_processes auto;
worker_rlimit_nofile 20000;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
daemon off;
events {{ worker_connections 16384; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/vnd.ms-sstr+xml ismc; video/mp4 fmp4; }}
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    open_file_cache max=10000 inactive=20s;
    open_file_cache_valid 1s;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {WEBROOT};
        location ~ \\.ismc$ {{ add_header Cache-Control no-cache; }}
    }}
}}
""")
        self.proc = nginx_proc.start(conf, self.dir, self.port)

    def stop(self):
        nginx_proc.stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


ROTATE_LUA = """
local paths = {%s}
local i = 0
function setup(thread) end
function init(args) i = math.random(#paths) end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""

# One wrk connection = one live viewer: per fragment duration, the manifest, the newest
# video fragment (bitrates alternate) and the newest audio fragment, each after a jittered
# delay of about a third of the duration. The newest times come from the last manifest any
# connection of the thread read (wrk keeps one Lua state per thread, not per connection).
VIEWER_LUA = r"""
local manifest = "%s"
local base = "%s"
local period = %d
local step = 0
local targets = nil
function init(args) math.randomseed(os.time() + math.random(1000000)) end
function delay() return math.random(math.floor(period / 6), math.floor(period / 2)) end
local function newest(block)
  local t, last = nil, nil
  for attrs in block:gmatch("<c ([^>]*)/?>") do
    local ct = attrs:match('t="(%%d+)"')
    local d = attrs:match('d="(%%d+)"')
    if ct then t = tonumber(ct) end
    if t then last = t; if d then t = t + tonumber(d) end end
  end
  return last
end
local function parse(body)
  local found = {}
  for attrs, inner in body:gmatch("<StreamIndex([^>]*)>(.-)</StreamIndex>") do
    local kind = attrs:match('Type="(%%a+)"')
    local url = attrs:match('Url="([^"]+)"')
    local t = newest(inner)
    local rates = {}
    for b in inner:gmatch('<QualityLevel[^>]-Bitrate="(%%d+)"') do rates[#rates + 1] = b end
    if kind and url and t and #rates > 0 then
      found[#found + 1] = { kind = kind, url = url, t = t, rates = rates }
    end
  end
  if #found > 0 then targets = found end
end
function request()
  step = step + 1
  local slot = step %% 3
  if targets == nil or slot == 1 then return wrk.format("GET", manifest) end
  local s = targets[1]
  for _, x in ipairs(targets) do
    if (slot == 2 and x.kind == "video") or (slot == 0 and x.kind == "audio") then s = x end
  end
  local b = s.rates[(step %% #s.rates) + 1]
  local p = s.url:gsub("{bitrate}", b):gsub("{start time}", tostring(s.t))
  return wrk.format("GET", base .. p)
end
function response(status, headers, body)
  if status == 200 and body:find("<SmoothStreamingMedia", 1, true) then parse(body) end
end
"""


def write_lua(name, text):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    if not m:
        return float("nan")
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def wrk(host, script, threads, conns, seconds, path="/"):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s",
           "-s", script, f"http://{host}{path}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    res = {"rps": 0.0, "p50": float("nan"), "p99": float("nan"), "errors": 0, "mbs": 0.0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    if m:
        res["mbs"] = float(m.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(m.group(2), 0)
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res["p" + pct] = to_ms(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    if r.returncode != 0 or res["rps"] == 0:
        res["errors"] = max(res["errors"], 1)
        print(f"    wrk: {r.stderr.strip()[:300]}", flush=True)
    return res


def median_run(runs):
    """The run with the median requests/s (its latencies with it)."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def lua_list(paths):
    return ", ".join(f'"{p}"' for p in paths)


def row(label, s, n, unit_ratio=True):
    ratio = s["rps"] / n["rps"] if n["rps"] else float("nan")
    print(f"{label:<22}{s['rps']:>12.0f}{n['rps']:>12.0f}{ratio:>8.2f}x"
          f"{s['p50']:>9.2f}{n['p50']:>9.2f}{s['p99']:>9.2f}{n['p99']:>9.2f}"
          f"{s['mbs']:>9.0f}{n['mbs']:>9.0f}{s['errors']:>6}{n['errors']:>6}", flush=True)
    return ratio


def static_part(sc, ng, args):
    group = os.path.join(WEBROOT, "vod")
    frags = []
    for dirpath, _, files in os.walk(group):
        for f in sorted(files):
            if not f.endswith(".ismc"):
                frags.append("/" + os.path.relpath(os.path.join(dirpath, f), WEBROOT))
    frags.sort()
    sizes = [os.path.getsize(os.path.join(WEBROOT, p[1:])) for p in frags]
    print(f"\nVOD: {len(frags)} fragment files, {sum(sizes) / len(sizes) / 1e3:.0f} KB average; "
          f"wrk -d{args.seconds}s, median of {args.rounds} alternating rounds; latencies in ms",
          flush=True)
    # The IIS form of every fragment, from the manifest's Url templates.
    man = open(os.path.join(group, "manifest.ismc")).read()
    iis = []
    for attrs, inner in re.findall(r"<StreamIndex([^>]*)>(.*?)</StreamIndex>", man, re.S):
        name = re.search(r'Name="([^"]+)"', attrs).group(1)
        rates = re.findall(r'<QualityLevel[^>]*Bitrate="(\d+)"', inner)
        t = 0
        times = []
        for c in re.findall(r"<c ([^>]*)/?>", inner):
            ct = re.search(r'\bt="(\d+)"', c)
            d = re.search(r'\bd="(\d+)"', c)
            if ct:
                t = int(ct.group(1))
            times.append(t)
            t += int(d.group(1)) if d else 0
        iis += [f"/vod/QualityLevels({b})/Fragments({name}={x})" for b in rates for x in times]
    rotate = write_lua("web-rotate.lua", ROTATE_LUA % lua_list(frags))
    rotate_iis = write_lua("web-rotate-iis.lua", ROTATE_LUA % lua_list(iis))
    manifest = write_lua("web-manifest.lua", ROTATE_LUA % lua_list(["/vod/manifest.ismc"]))
    print(f"{'':<22}{'sc req/s':>12}{'ng req/s':>12}{'ratio':>9}{'sc p50':>9}{'ng p50':>9}"
          f"{'sc p99':>9}{'ng p99':>9}{'sc MB/s':>9}{'ng MB/s':>9}{'sc er':>6}{'ng er':>6}")
    ratios = {}
    for label, script, t, c in [("fragments -c64", rotate, 2, 64),
                                ("manifest -c64", manifest, 2, 64),
                                ("one connection", rotate, 1, 1)]:
        # Warm both (first reads from the disk, caches filled), then measure in alternating
        # rounds (the machine's speed drifts) and keep each server's median round.
        for host in (sc.web, ng.web):
            wrk(host, script, t, c, 1)
        runs = {"sc": [], "ng": []}
        for i in range(args.rounds):
            order = [("sc", sc.web), ("ng", ng.web)]
            for key, host in (order if i % 2 == 0 else order[::-1]):
                runs[key].append(wrk(host, script, t, c, args.seconds))
        s, n = (median_run(runs["sc"]), median_run(runs["ng"]))
        ratios[label] = (row(label, s, n), s, n)
    s = wrk(sc.web, rotate_iis, 2, 64, args.seconds)
    print(f"{'IIS URLs -c64 (sc)':<22}{s['rps']:>12.0f}{'':>12}{'':>9}{s['p50']:>9.2f}{'':>9}"
          f"{s['p99']:>9.2f}{'':>9}{s['mbs']:>9.0f}{'':>9}{s['errors']:>6}")
    return ratios


def live_part(sc, ng, inputs, args):
    print("\nlive: publishing 2 renditions over RTMP...", flush=True)
    pubs = []
    for name, _, flv, _ in inputs:
        pubs.append(subprocess.Popen(
            ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", flv, "-c", "copy",
             "-f", "flv", f"rtmp://{sc.addrs['rtmp']}/live/{name}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    results = {"smoothcast": [], "nginx": []}
    try:
        bws = ",".join(str(b) for _, _, _, b in inputs)
        names = ",".join(n for n, _, _, _ in inputs)
        reply = sc.api("createMSSStream",
                       f"localstreamnames={names} targetfolder={WEBROOT} groupname=live "
                       f"playlisttype=rolling playlistLength=10 staleRetentionCount=10 "
                       f"chunkLength={CHUNK} bandwidths={bws}")
        if reply.get("status") != "SUCCESS":
            sys.exit(f"createMSSStream failed: {reply}")
        man = os.path.join(WEBROOT, "live", "manifest.ismc")
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(man) and open(man).read().count("<c ") >= 6:
                break
            time.sleep(0.5)
        else:
            sys.exit("the live presentation did not start")
        viewer = write_lua("web-viewer.lua", VIEWER_LUA % ("/live/manifest.ismc", "/live/", CHUNK * 1000))
        print(f"N viewers, each per {CHUNK} s: manifest + newest video + newest audio; "
              f"{args.live_seconds} s per step; latencies in ms", flush=True)
        print(f"{'N':>6}{'sc req/s':>10}{'sc p50':>9}{'sc p99':>9}{'sc err':>8}"
              f"{'ng req/s':>10}{'ng p50':>9}{'ng p99':>9}{'ng err':>8}", flush=True)
        alive = {"smoothcast": True, "nginx": True}
        n = 32
        while n <= args.max_viewers and any(alive.values()):
            cells = {}
            for label, host in (("smoothcast", sc.web), ("nginx", ng.web)):
                if not alive[label]:
                    cells[label] = None
                    continue
                r = wrk(host, viewer, 2, n, args.live_seconds)
                ok = r["errors"] == 0 and r["p99"] <= LIVE_P99_MS
                if not ok:
                    # One spike on a shared machine is not a limit: a step fails only when
                    # its retry fails too (the same rule for both servers).
                    r = wrk(host, viewer, 2, n, args.live_seconds)
                    ok = r["errors"] == 0 and r["p99"] <= LIVE_P99_MS
                cells[label] = r
                if ok:
                    results[label].append(n)
                else:
                    alive[label] = False
            line = f"{n:>6}"
            for label in ("smoothcast", "nginx"):
                r = cells[label]
                line += (f"{r['rps']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8}"
                         if r else f"{'-':>10}{'-':>9}{'-':>9}{'-':>8}")
            print(line, flush=True)
            n *= 2
    finally:
        for p in pubs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    best = {k: (max(v) if v else 0) for k, v in results.items()}
    capped = {k: alive_at_cap for k, alive_at_cap in ((k, bool(v) and max(v) >= args.max_viewers)
                                                      for k, v in results.items())}
    return best, capped


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8, help="wrk duration per static run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs per static row")
    ap.add_argument("--live-seconds", type=int, default=10, help="wrk duration per viewer step")
    ap.add_argument("--max-viewers", type=int, default=4096)
    ap.add_argument("--exe", help="smoothcast binary (default: cargo build --release)")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--baseline", action="store_true",
                    help="--exe is a build from before the [web] section existed (written without it)")
    args = ap.parse_args()
    for tool in ("wrk", "nginx", "ffmpeg"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} not found (Debian: apt-get install nginx wrk ffmpeg)")
    exe = args.exe
    if not exe:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "smoothcast"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        exe = os.path.join(target, "release", "smoothcast")
    inputs = make_inputs()
    shutil.rmtree(WEBROOT, ignore_errors=True)
    os.makedirs(WEBROOT)
    subprocess.run([exe, "package", "--target-folder", WEBROOT, "--group-name", "vod"]
                   + [f"{mp4}@{b}" for _, mp4, _, b in inputs],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f} (other work on the "
          "machine skews both servers alike; ratios are from one run)", flush=True)
    sc = Smoothcast(exe, web_section=not args.baseline)
    ng = Nginx()
    try:
        ratios = static_part(sc, ng, args)
        live = None if args.no_live else live_part(sc, ng, inputs, args)
        m = sc.metrics()
        hits = re.search(r'web_cache_lookups_total\{result="hit"\} (\d+)', m)
        miss = re.search(r'web_cache_lookups_total\{result="miss"\} (\d+)', m)
    finally:
        sc.stop()
        ng.stop()
    print("\nsummary (Smoothcast / nginx):")
    for label in ("fragments -c64", "manifest -c64"):
        r = ratios[label][0]
        print(f"  {label:<16} {r:.2f}x req/s (target >= {TARGET_RATIO:.1f}x)")
    one = ratios["one connection"]
    print(f"  one connection   p50 {one[1]['p50']:.3f} ms (nginx {one[2]['p50']:.3f} ms; "
          f"target <= {TARGET_P50_MS:.0f} ms), {one[0]:.2f}x req/s")
    if live:
        best, capped = live
        more = lambda k: "+" if capped[k] else ""
        print(f"  live viewers at p99 <= {LIVE_P99_MS:.0f} ms and no errors: smoothcast "
              f"{best['smoothcast']}{more('smoothcast')}, nginx {best['nginx']}{more('nginx')} "
              f"(+ = still holding at --max-viewers)")
    if hits and miss:
        h, mi = int(hits.group(1)), int(miss.group(1))
        print(f"  Smoothcast cache hit ratio: {h / max(1, h + mi):.4f} ({h} hits, {mi} misses)")


if __name__ == "__main__":
    main()
