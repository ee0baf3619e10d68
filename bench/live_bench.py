#!/usr/bin/env python3
"""Benchmark: the live server under N simultaneous real-time RTMP publishers on loopback.

For each N: a fresh `smoothcast serve` (every port 0, web root under bench/out/), one
createMSSStream per stream over the HTTP API, then `rtmp-load` publishes a 2 Mbit/s FLV on
N connections for D seconds. Measured: the server's CPU (utime+stime, % of one core) and
RSS (VmRSS) sampled every second, the generator's CPU and lateness (did it keep up?), and
the server's own serverStats (fragments written, write delay p50/p99/max).

    python3 bench/live_bench.py [--streams 50] [--seconds 60]
    python3 bench/live_bench.py --find-max [--seconds 40] [--start 50] [--step 50]
    python3 bench/live_bench.py --streams 650 --seconds 30 --viewer   # dash.js plays one

--whole-rewrites writes every version of a live fragment as a new file (before heads were
rewritten in place, the default); with --lookahead-memory MIB the versions before the last
are served from memory instead (each fragment written once, the media kept in memory);
--webroot /dev/shm/x takes the disk out; --server PATH runs a prebuilt binary (A/B builds);
--against-nginx runs the same load on nginx-rtmp after each N (the field's tool: CPU and
memory ratios, bench/nginx_rtmp.py).

"Holds in real time" = all publishers connected and none dropped, fragments written >= 90%
of expected (N x D/chunk per track x 2 tracks), the server's write delay p99 <= 50 ms (a
fragment on disk 50 ms after its last sample arrived: later, and live viewers stall),
steady memory <= 1.5 MiB per stream, generator p99 lateness < 500 ms and server CPU < 190%
(two cores). --find-max stops at the first N that does not hold. Each N starts from a clean
web root and state file.

With --events the server also sends every event to a JSON-lines file and POSTs it to a
receiver in this script; the row then says how many arrived, how many were dropped and how
long the endpoint took to catch up after the publishers stopped.

Needs ffmpeg and cargo. Writes to bench/out/ (ignored by git). Loopback only.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nginx_rtmp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
WEBROOT = os.path.join(OUT, "live-webroot")
CONFIG = os.path.join(OUT, "live-bench.toml")
SERVER_LOG = os.path.join(OUT, "live-server.log")
TICK = os.sysconf("SC_CLK_TCK")
CHUNK = 2  # chunkLength, seconds

# The goal of issue 20: 1,000 real-time streams on two cores, under the verdict below.
TARGET_STREAMS = 1000
HOLD_FRAGMENTS = 0.90
HOLD_LATENESS_MS = 500.0
HOLD_CPU = 190.0
HOLD_WRITE_P99_MS = 50.0
HOLD_MIB_PER_STREAM = 1.5

# Set by --events: {"url": ..., "file": ...} and the receiver counting POSTs.
EVENTS = None
# Set by --lookahead-memory: [web] lookahead_memory_bytes (0: every version on disk).
LOOKAHEAD_MEMORY = 0
# Set by --whole-rewrites: [web] live_rewrite_in_place = false.
WHOLE_REWRITES = False
# Set by --read-interval-ms: [limits] rtmp_publish_read_interval_ms (None: the server's default).
READ_INTERVAL_MS = None
RECEIVER = None


class EventReceiver(BaseHTTPRequestHandler):
    """Counts POSTed events and checks that their seq numbers only go up."""
    protocol_version = "HTTP/1.1"
    count = 0
    last_seq = 0
    out_of_order = 0
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            seq = json.loads(body).get("seq", 0)
        except ValueError:
            seq = 0
        cls = EventReceiver
        with cls.lock:
            cls.count += 1
            if seq <= cls.last_seq:
                cls.out_of_order += 1
            cls.last_seq = seq
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EventReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def metric_values(text, prefix):
    """Sum of the samples whose name{labels} starts with prefix."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "smoothcast", "-p", "smoothcast-rtmp-load"],
                   cwd=ROOT, check=True, timeout=1800)
    return (os.path.join(ROOT, "target", "release", "smoothcast"),
            os.path.join(ROOT, "target", "release", "rtmp-load"))


def make_flv():
    path = os.path.join(OUT, "live-2mbps-30s.flv")
    if os.path.exists(path):
        return path
    os.makedirs(OUT, exist_ok=True)
    print(f"generating {path} (30 s, 1280x720 25 fps, 1.9 Mbit/s video + 96 kbit/s AAC)...", flush=True)
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


def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[11]) + int(fields[12])


def system_cpu_ticks():
    """(busy, total, steal) clock ticks of the whole machine, all CPUs (iowait counts as
    idle; steal, the time a VM's CPUs waited for the host, is not counted as busy)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]) - idle - steal, sum(v[:8]), steal


def proc_io(pid):
    """(wchar, write_bytes): bytes the process wrote, and bytes it caused to go to disk."""
    try:
        with open(f"/proc/{pid}/io") as f:
            v = dict(line.split(": ") for line in f.read().splitlines())
        return int(v["wchar"]), int(v["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Server:
    """`smoothcast serve` on ports 0; the first stdout line gives the addresses."""

    def __init__(self, exe, streams):
        shutil.rmtree(WEBROOT, ignore_errors=True)
        os.makedirs(WEBROOT)
        # A clean state file too: the configs an earlier run saved would come back at start
        # ("group g0 already packages stream load0").
        state = os.path.join(OUT, "live-bench.state.json")
        if os.path.exists(state):
            os.remove(state)
        with open(CONFIG, "w") as f:
            f.write('bind = "127.0.0.1"\nrtmp_port = 0\njson_cli_port = 0\nascii_cli_port = 0\n'
                    f'http_api_port = 0\nweb_port = 0\nmpegts_port = 0\nwebroot = {json.dumps(WEBROOT)}\n'
                    # A state file of its own, never the working directory's.
                    f'state_file = {json.dumps(state)}\n')
            if EVENTS:
                f.write(f'[events]\nfile = {json.dumps(EVENTS["file"])}\n'
                        f'http_url = {json.dumps(EVENTS["url"])}\n')
            # Every publisher comes from 127.0.0.1: no per-address cap (the global one stays).
            f.write('[limits]\nrtmp_connections_per_address = 0\n')
            if READ_INTERVAL_MS is not None:
                f.write(f'rtmp_publish_read_interval_ms = {READ_INTERVAL_MS}\n')
            # One createMSSStream per stream: above the default cap of 256 configs.
            f.write(f'[security]\nmax_mss_configs = {max(256, streams + 16)}\n')
            f.write(f'[web]\nlookahead_memory_bytes = {LOOKAHEAD_MEMORY}\n')
            if WHOLE_REWRITES:
                f.write('live_rewrite_in_place = false\n')
        self.log = open(SERVER_LOG, "w")
        env = dict(os.environ, SMOOTHCAST_LOG=os.environ.get("SMOOTHCAST_LOG", "warn"))
        self.proc = subprocess.Popen([exe, "serve", "--config", CONFIG], stdout=subprocess.PIPE,
                                     stderr=self.log, env=env, cwd=OUT)
        first = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(20)
        line = first[0].decode(errors="replace").strip() if first else ""
        if not line.startswith("listening "):
            self.stop()
            sys.exit(f"server did not start: first line {line!r}; see {SERVER_LOG}")
        self.addrs = dict(p.split("=", 1) for p in line.split()[1:])
        # Keep draining stdout so the server never blocks on it.
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

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
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Sampler(threading.Thread):
    """Every second: (time, server CPU ticks, server RSS KiB, generator CPU ticks, machine
    busy ticks, machine steal ticks). A server of several processes (nginx's master and
    workers) is their sum."""

    def __init__(self, server_pids):
        super().__init__(daemon=True)
        self.server_pids = server_pids
        self.gen_pid = None
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            gen = proc_cpu_ticks(self.gen_pid) if self.gen_pid else None
            busy, _, steal = system_cpu_ticks()
            self.samples.append((time.monotonic(), sum_of(proc_cpu_ticks, self.server_pids),
                                 sum_of(proc_rss_kib, self.server_pids), gen, busy, steal))
            self.done.wait(1.0)


def sum_of(read, pids):
    values = [read(p) for p in pids]
    return None if None in values else sum(values)


def cpu_percent(samples, index, t0, t1):
    """CPU % of one core of one process between the samples nearest t0 and t1."""
    window = [s for s in samples if t0 <= s[0] <= t1 and s[index] is not None]
    if len(window) < 2:
        return None
    a, b = window[0], window[-1]
    return (b[index] - a[index]) / TICK / (b[0] - a[0]) * 100.0


# Seconds between the viewer's browser launch and the load's start: Chromium is up by then.
VIEWER_LAUNCH_S = 5.0


class Viewer(threading.Thread):
    """dash.js in headless Chromium (tests/player/play.mjs) playing one live stream during
    the run: proof that a viewer is served in real time, not only that files are written.
    It stands for a player on another machine, so it runs as SCHED_IDLE (`chrt --idle`): it
    gets only the CPU the server and the generator leave (and must still play). At nice 10 it
    still took a share of the two cores when they were busy.

    Its browser is launched before the load and opens the player `delay` seconds later
    (`play.mjs --start-after`). Launched during the load, Chromium took ~80% of the two cores
    for two seconds even as SCHED_IDLE (the machine then spent most of its time in the
    kernel), and the server, starved that long with 1,000 streams, fell seconds behind. A
    viewer's browser on another machine costs the server nothing; its requests during the
    load are what this measures."""

    def __init__(self, url, delay):
        super().__init__(daemon=True)
        self.url, self.delay, self.result = url, delay, None

    def run(self):
        play = os.path.join(ROOT, "tests", "player", "play.mjs")
        cmd = ["chrt", "--idle", "0", "node", play, "--url", self.url, "--live", "--seconds", "20",
               "--min-time", "10", "--start-after", f"{self.delay:.1f}"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + self.delay)
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            r = json.loads(lines[-1]) if lines else {}
            self.result = {"ok": r.get("ok", False), "reason": r.get("reason", p.stderr[-300:]),
                           "played_from": r.get("played_from"),
                           "current_time": r.get("current_time"), "url": self.url}
        except (OSError, subprocess.TimeoutExpired, ValueError) as e:
            self.result = {"ok": False, "reason": str(e), "url": self.url}


def publish(load_exe, rtmp_addr, flv, n, seconds, args, sampler):
    """Runs rtmp-load's N publishers to the end: (its summary, start, end)."""
    load_start = time.monotonic()
    cmd = [load_exe, "--addr", rtmp_addr, "--streams", str(n), "--seconds", str(seconds),
           "--flv", flv, "--prefix", args.prefix, "--stagger-ms", str(args.stagger_ms),
           "--threads", str(args.gen_threads)]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    sampler.gen_pid = gen.pid
    limit = n * args.stagger_ms / 1000.0 + seconds + 90
    try:
        out, _ = gen.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        gen.kill()
        out, _ = gen.communicate()
        print(f"rtmp-load did not finish within {limit:.0f} s; killed", file=sys.stderr)
    load_end = time.monotonic()
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if gen.returncode != 0 or not lines:
        sys.exit(f"rtmp-load failed (exit {gen.returncode}): {' '.join(cmd)}")
    return json.loads(lines[-1]), load_start, load_end


def steady_window(load_start, load_end, n, seconds, args):
    """Steady state: every publisher running (after the stagger and setup), until the first
    ends."""
    steady0 = load_start + n * args.stagger_ms / 1000.0 + 2.0
    steady1 = load_start + seconds - 1.0
    if steady1 - steady0 < 5.0:
        return load_start, load_end
    return steady0, steady1


def run_nginx(load_exe, flv, n, seconds, args):
    """The same load on nginx-rtmp writing DASH (bench/nginx_rtmp.py): its CPU, memory and
    fragments, for the ratios."""
    ng = nginx_rtmp.NginxRtmp(os.path.join(WEBROOT, "nginx-dash"), CHUNK)
    try:
        time.sleep(1.0)
        baseline_kib = sum_of(proc_rss_kib, ng.pids)
        sampler = Sampler(ng.pids)
        sampler.start()
        time.sleep(1.0)
        load, load_start, load_end = publish(load_exe, ng.addr, flv, n, seconds, args, sampler)
        time.sleep(3.0)
        sampler.done.set()
        sampler.join()
        alive = ng.proc.poll() is None
        fragments = len(ng.fragments)
    finally:
        ng.stop()
    steady0, steady1 = steady_window(load_start, load_end, n, seconds, args)
    s = sampler.samples
    cpu = cpu_percent(s, 1, steady0, steady1)
    rss = [x[2] for x in s if steady0 <= x[0] <= steady1 and x[2] is not None]
    steady_kib = statistics.median(rss) if rss else 0
    return {
        "streams": n,
        "connected": load["connected"],
        "dropped": load["dropped_while_publishing"],
        "cpu_pct": cpu,
        "gen_cpu_pct": cpu_percent(s, 3, steady0, steady1),
        "mib_per_stream": (steady_kib - (baseline_kib or 0)) / 1024 / n,
        "fragments": fragments,
        "fragments_expected": n * (seconds / CHUNK) * 2,
        "lateness_p99_ms": load["lateness_ms"]["p99"],
        "alive": alive,
    }


def print_against(rows, against):
    """Smoothcast's row against nginx-rtmp's for each N, and the ratios."""
    print("\nagainst nginx-rtmp (DASH, same load, same run; bench/nginx_rtmp.py):")
    print(f"{'N':>5}{'conn':>6}{'CPU%':>7}{'gen%':>6}{'MiB/strm':>9}{'frags':>13}{'late p99':>9}"
          f"{'CPU x':>7}{'MiB x':>7}")
    for r, g in zip(rows, against):
        cpu_x = r["server_cpu_pct"] / g["cpu_pct"] if r["server_cpu_pct"] and g["cpu_pct"] else None
        mib_x = r["mib_per_stream"] / g["mib_per_stream"] if g["mib_per_stream"] > 0 else None
        print(f"{g['streams']:>5}{g['connected']:>6}{fmt(g['cpu_pct'], '.0f'):>7}"
              f"{fmt(g['gen_cpu_pct'], '.0f'):>6}{fmt(g['mib_per_stream'], '.2f'):>9}"
              f"{g['fragments']:>6}/{g['fragments_expected']:<6.0f}{fmt(g['lateness_p99_ms'], '.1f'):>9}"
              f"{fmt(cpu_x, '.2f'):>7}{fmt(mib_x, '.2f'):>7}")
    print("CPU x, MiB x: Smoothcast's figure over nginx-rtmp's at the same N (below 1: Smoothcast uses less).")


def run_one(server_exe, load_exe, flv, n, seconds, args):
    if EVENTS:
        with EventReceiver.lock:
            EventReceiver.count = EventReceiver.last_seq = EventReceiver.out_of_order = 0
        if os.path.exists(EVENTS["file"]):
            os.remove(EVENTS["file"])
    events = {}
    server = Server(server_exe, n)
    try:
        for i in range(n):
            reply = server.api(
                "createMSSStream",
                f"localstreamnames={args.prefix}{i} targetfolder={WEBROOT} groupname=g{i} "
                f"playlisttype=rolling playlistLength=5 staleRetentionCount=2 chunkLength={CHUNK} "
                "bandwidths=2000000")
            if reply.get("status") != "SUCCESS":
                sys.exit(f"createMSSStream {i} failed: {reply}")
        time.sleep(1.0)
        baseline_kib = proc_rss_kib(server.pid)
        io0 = proc_io(server.pid)
        sampler = Sampler([server.pid])
        sampler.start()
        viewer = None
        if args.viewer:
            # The last publisher's stream, 8 s after it started (all are publishing then);
            # the browser starts now, before the load (see Viewer).
            viewer = Viewer(f"http://{server.addrs['web']}/g{n - 1}/manifest.ismc",
                            delay=VIEWER_LAUNCH_S + n * args.stagger_ms / 1000.0 + 8.0)
            viewer.start()
        time.sleep(VIEWER_LAUNCH_S if viewer else 1.0)
        load, load_start, load_end = publish(load_exe, server.addrs["rtmp"], flv, n, seconds, args,
                                             sampler)
        # The last fragments are written when the publishers stop.
        time.sleep(3.0)
        stats = server.api("serverStats")["data"]
        if EVENTS:
            # How long the endpoint needs to get everything emitted so far.
            t0 = time.monotonic()
            while True:
                m = server.metrics()
                emitted = metric_values(m, "smoothcast_events_emitted_total")
                dropped = metric_values(m, "smoothcast_events_dropped_total")
                if EventReceiver.count + dropped >= emitted or time.monotonic() - t0 > 60:
                    break
                time.sleep(0.2)
            with open(EVENTS["file"]) as f:
                file_lines = sum(1 for _ in f)
            events = {"events_emitted": emitted, "events_http": EventReceiver.count,
                      "events_file": file_lines, "events_dropped": dropped,
                      "events_out_of_order": EventReceiver.out_of_order,
                      "events_catch_up_s": round(time.monotonic() - t0 + 3.0, 1)}
        if viewer:
            viewer.join()
            events["viewer"] = viewer.result
        io1 = proc_io(server.pid)
        sampler.done.set()
        sampler.join()
        server_alive = server.proc.poll() is None
    finally:
        server.stop()
    shutil.rmtree(WEBROOT, ignore_errors=True)

    steady0, steady1 = steady_window(load_start, load_end, n, seconds, args)
    s = sampler.samples
    srv_cpu = cpu_percent(s, 1, steady0, steady1)
    gen_cpu = cpu_percent(s, 3, steady0, steady1)
    machine_cpu = cpu_percent(s, 4, steady0, steady1)
    # A VM's CPUs taken by its host: every figure is worse, and nothing here is the cause.
    steal_cpu = cpu_percent(s, 5, steady0, steady1)
    # Everything else on the machine (other processes, kernel threads such as writeback):
    # a busy machine makes every figure worse, so it is reported with them.
    other_cpu = (machine_cpu - (srv_cpu or 0) - (gen_cpu or 0)) if machine_cpu is not None else None
    rss_steady = [x[2] for x in s if steady0 <= x[0] <= steady1 and x[2] is not None]
    rss_all = [x[2] for x in s if x[2] is not None]
    peak_kib = max(rss_all) if rss_all else 0
    steady_kib = statistics.median(rss_steady) if rss_steady else peak_kib
    expected = n * (seconds / CHUNK) * 2
    with open(SERVER_LOG) as f:
        log = f.read().splitlines()
    warnings = [l for l in log if "WARN" in l or "ERROR" in l]
    r = {
        "streams": n,
        "seconds": seconds,
        "connected": load["connected"],
        "publish_failures": load["publish_failures"],
        "dropped": load["dropped_while_publishing"],
        "gen_errors": load["errors"],
        "sent_mbit_s": load["bytes_sent"] * 8 / 1e6 / max(seconds, 1e-9),
        "server_cpu_pct": srv_cpu,
        "server_cpu_pct_per_stream": srv_cpu / n if srv_cpu is not None else None,
        "gen_cpu_pct": gen_cpu,
        "other_cpu_pct": other_cpu,
        "steal_cpu_pct": steal_cpu,
        "loadavg": open("/proc/loadavg").read().split()[0],
        "baseline_mib": (baseline_kib or 0) / 1024,
        "steady_rss_mib": steady_kib / 1024,
        "peak_rss_mib": peak_kib / 1024,
        "mib_per_stream": (steady_kib - (baseline_kib or 0)) / 1024 / n,
        "peak_mib_per_stream": (peak_kib - (baseline_kib or 0)) / 1024 / n,
        "fragments": stats["fragmentsWritten"],
        "fragments_expected": expected,
        "write_p50_ms": stats["writeDelayP50Us"] / 1000,
        "write_p99_ms": stats["writeDelayP99Us"] / 1000,
        "write_max_ms": stats["writeDelayMaxUs"] / 1000,
        "lateness_p50_ms": load["lateness_ms"]["p50"],
        "lateness_p99_ms": load["lateness_ms"]["p99"],
        "lateness_max_ms": load["lateness_ms"]["max"],
        "server_alive": server_alive,
        # Write amplification: bytes the server wrote (fragments, look-ahead rewrites,
        # manifests) per byte published.
        "written_mb": (io1[0] - io0[0]) / 1e6 if io0 and io1 else None,
        "disk_written_mb": (io1[1] - io0[1]) / 1e6 if io0 and io1 else None,
        "write_amplification": (io1[0] - io0[0]) / load["bytes_sent"] if io0 and io1 and load["bytes_sent"] else None,
        "server_warnings": len(warnings),
        "first_warnings": warnings[:3],
        **events,
    }
    why = []
    if r["connected"] < n or r["dropped"]:
        why.append(f"{n - r['connected']} not connected, {r['dropped']} dropped")
    if r["fragments"] < HOLD_FRAGMENTS * expected:
        why.append(f"fragments {r['fragments']} < {HOLD_FRAGMENTS:.0%} of {expected:.0f}")
    if r["write_p99_ms"] > HOLD_WRITE_P99_MS:
        why.append(f"write delay p99 {r['write_p99_ms']:.0f} ms > {HOLD_WRITE_P99_MS:.0f} ms")
    if r["mib_per_stream"] > HOLD_MIB_PER_STREAM:
        why.append(f"{r['mib_per_stream']:.2f} MiB per stream > {HOLD_MIB_PER_STREAM}")
    if r["lateness_p99_ms"] >= HOLD_LATENESS_MS:
        why.append(f"generator p99 lateness {r['lateness_p99_ms']:.0f} ms")
    if srv_cpu is None or srv_cpu >= HOLD_CPU:
        why.append(f"server CPU {srv_cpu if srv_cpu is not None else float('nan'):.0f}%")
    if not server_alive:
        why.append("server died")
    if "viewer" in r and not (r["viewer"] or {}).get("ok"):
        why.append(f"the dash.js viewer failed: {(r['viewer'] or {}).get('reason')}")
    r["holds"] = not why
    r["why_not"] = why
    return r


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows):
    cols = [
        ("N", lambda r: str(r["streams"]), 5),
        ("D s", lambda r: fmt(r["seconds"], ".0f"), 5),
        ("conn", lambda r: f"{r['connected']}", 5),
        ("srv CPU%", lambda r: fmt(r["server_cpu_pct"], ".0f"), 9),
        ("%/strm", lambda r: fmt(r["server_cpu_pct_per_stream"], ".2f"), 7),
        ("gen CPU%", lambda r: fmt(r["gen_cpu_pct"], ".0f"), 9),
        ("other%", lambda r: fmt(r.get("other_cpu_pct"), ".0f"), 7),
        ("steal%", lambda r: fmt(r.get("steal_cpu_pct"), ".0f"), 7),
        ("RSS MiB", lambda r: fmt(r["steady_rss_mib"], ".0f"), 8),
        ("base", lambda r: fmt(r["baseline_mib"], ".0f"), 5),
        ("MiB/strm", lambda r: fmt(r["mib_per_stream"], ".2f"), 9),
        ("peak/strm", lambda r: fmt(r["peak_mib_per_stream"], ".2f"), 10),
        ("frags", lambda r: f"{r['fragments']}/{r['fragments_expected']:.0f}", 12),
        ("wd p50ms", lambda r: fmt(r["write_p50_ms"], ".1f"), 9),
        ("p99", lambda r: fmt(r["write_p99_ms"], ".1f"), 7),
        ("max", lambda r: fmt(r["write_max_ms"], ".1f"), 7),
        ("late p50", lambda r: fmt(r["lateness_p50_ms"], ".1f"), 9),
        ("p99", lambda r: fmt(r["lateness_p99_ms"], ".1f"), 7),
        ("max", lambda r: fmt(r["lateness_max_ms"], ".0f"), 7),
        ("wr x", lambda r: fmt(r.get("write_amplification"), ".1f"), 5),
        ("holds", lambda r: "yes" if r["holds"] else "NO", 6),
    ]
    print("".join(f"{name:>{w}}" for name, _, w in cols))
    for r in rows:
        print("".join(f"{get(r):>{w}}" for _, get, w in cols))
    for r in rows:
        if not r["holds"]:
            print(f"N={r['streams']} does not hold: {'; '.join(r['why_not'])}")
        if (r.get("steal_cpu_pct") or 0) >= 5:
            print(f"N={r['streams']}: the host took {r['steal_cpu_pct']:.0f}% of a CPU (steal): repeat on a quiet host")
        if r["gen_errors"]:
            print(f"N={r['streams']} generator errors: {r['gen_errors']}")
        if r["server_warnings"]:
            print(f"N={r['streams']} server warnings/errors: {r['server_warnings']}, first: {r['first_warnings']}")
    print("CPU: % of one core, steady state (all publishers running); other% = the rest of the machine")
    print("(other processes, kernel writeback), steal% = CPU time the host took from this VM: figures are only")
    print("clean when both are near 0. RSS: median steady VmRSS;")
    print("MiB/strm = (steady RSS - baseline after createMSSStream) / N; wd = write delay (serverStats);")
    print("late = generator lateness against the tags' schedule; wr x = bytes the server wrote per byte published.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=None, help="publish time (default 60, 40 with --find-max)")
    ap.add_argument("--find-max", action="store_true")
    ap.add_argument("--start", type=int, default=50)
    ap.add_argument("--step", type=int, default=50)
    ap.add_argument("--max-streams", type=int, default=1000)
    ap.add_argument("--stagger-ms", type=int, default=20)
    ap.add_argument("--gen-threads", type=int, default=1, help="rtmp-load runtime threads")
    ap.add_argument("--prefix", default="load")
    ap.add_argument("--webroot", help="web root to write into (default bench/out/live-webroot; "
                    "a tmpfs folder such as /dev/shm/x takes the disk out of the picture)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--lookahead-memory", type=int, default=0, metavar="MIB",
                    help="[web] lookahead_memory_bytes in MiB: look-ahead versions of live "
                    "fragments stay in memory and each fragment is written once (default 0: "
                    "every version on disk)")
    ap.add_argument("--whole-rewrites", action="store_true",
                    help="[web] live_rewrite_in_place = false: every version of a live fragment "
                    "is a whole new file (or, with --lookahead-memory, kept in memory)")
    ap.add_argument("--read-interval-ms", type=int, metavar="MS",
                    help="[limits] rtmp_publish_read_interval_ms: least time between two reads "
                    "of a publisher's socket (0: read as soon as anything arrives; default: "
                    "the server's)")
    ap.add_argument("--viewer", action="store_true",
                    help="a dash.js viewer (headless Chromium) plays the last stream during "
                    "each run; a run whose viewer fails does not hold")
    ap.add_argument("--server", help="run this smoothcast binary instead of building one (A/B of "
                    "builds: build each variant, copy target/release/smoothcast aside)")
    ap.add_argument("--events", action="store_true",
                    help="send events to a file and to an HTTP receiver in this script")
    ap.add_argument("--against-nginx", action="store_true",
                    help="after each N, the same load on nginx-rtmp writing DASH into the same "
                    "web root's file system (bench/nginx_rtmp.py): CPU and memory ratios")
    args = ap.parse_args()
    if args.against_nginx and (why := nginx_rtmp.available()):
        sys.exit(why)
    if args.events:
        global EVENTS, RECEIVER
        RECEIVER = start_receiver()
        EVENTS = {"url": f"http://127.0.0.1:{RECEIVER.server_address[1]}/hook",
                  "file": os.path.join(OUT, "live-events.jsonl")}
    if args.whole_rewrites:
        global WHOLE_REWRITES
        WHOLE_REWRITES = True
    if args.read_interval_ms is not None:
        global READ_INTERVAL_MS
        READ_INTERVAL_MS = args.read_interval_ms
    if args.lookahead_memory:
        global LOOKAHEAD_MEMORY
        LOOKAHEAD_MEMORY = args.lookahead_memory << 20
    if args.webroot:
        global WEBROOT
        WEBROOT = os.path.abspath(args.webroot)
    seconds = args.seconds if args.seconds is not None else (40.0 if args.find_max else 60.0)

    server_exe, load_exe = build()
    if args.server:
        server_exe = os.path.abspath(args.server)
    flv = make_flv()
    rows, against = [], []
    counts = range(args.start, args.max_streams + 1, args.step) if args.find_max else [args.streams]
    for n in counts:
        print(f"N={n}: {seconds:g} s...", flush=True)
        r = run_one(server_exe, load_exe, flv, n, seconds, args)
        rows.append(r)
        print(json.dumps(r), flush=True)
        if args.against_nginx:
            g = run_nginx(load_exe, flv, n, seconds, args)
            against.append(g)
            print(json.dumps({"nginx_rtmp": g}), flush=True)
        if args.find_max and not r["holds"]:
            break
    print()
    print_table(rows)
    if against:
        print_against(rows, against)
    held = [r["streams"] for r in rows if r["holds"]]
    if args.find_max:
        best = max(held) if held else 0
        print(f"\nmost streams held in real time: {best} (target >= {TARGET_STREAMS})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"smoothcast": rows, "nginx_rtmp": against} if against else rows, f, indent=1)


if __name__ == "__main__":
    main()
