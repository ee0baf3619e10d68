#!/usr/bin/env python3
"""Benchmark: `smoothcast package` against `ffmpeg -c copy -f smoothstreaming` and `cp`,
and PlayReady-protected packaging (`--key`) against clear (issue 16: encryption's cost).

Same input, same run, several rounds, medians reported. Also packages a short and a long
input to show whether peak memory grows with input length.

    python3 bench/package_bench.py [--rounds 5] [--minutes 5] [--mbps 5]

Needs ffmpeg, cargo and GNU time (`apt-get install time`). Writes to bench/out/ (ignored by git).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")


def run(cmd):
    """Runs cmd, returns (wall seconds, peak RSS in MiB).

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`): the rusage wait4 reports counts the
    forked Python image before exec, which hides small tools' real figures.
    """
    rss_file = os.path.join(OUT, ".rss")
    timed = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd if os.path.exists("/usr/bin/time") else cmd
    start = time.perf_counter()
    proc = subprocess.run(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}")
    try:
        with open(rss_file) as f:
            rss_mib = int(f.read().split()[-1]) / 1024.0
    except (OSError, ValueError, IndexError):
        rss_mib = float("nan")
    return wall, rss_mib


def make_input(minutes, mbps):
    path = os.path.join(OUT, f"input-{minutes}min-{mbps}mbps.mp4")
    if os.path.exists(path):
        return path
    os.makedirs(OUT, exist_ok=True)
    secs = int(minutes * 60)
    print(f"generating {path} ({secs} s at {mbps} Mbit/s)...", flush=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={secs}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={secs}",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{mbps}M", "-maxrate", f"{mbps}M",
         "-bufsize", f"{2 * mbps}M", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
         "-c:a", "aac", "-b:a", "128k", "-shortest", path],
        check=True)
    return path


def clean(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--mbps", type=int, default=5)
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "smoothcast"], cwd=ROOT, check=True)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target_dir, "release", "smoothcast")
    src = make_input(args.minutes, args.mbps)
    size_mb = os.path.getsize(src) / 1e6

    tools = {
        "smoothcast": lambda dst: [exe, "package", "--target-folder", dst, "--group-name", "g", src],
        # The reference's test key; AES-128-CTR over audio and video slices.
        "smoothcast-drm": lambda dst: [exe, "package", "--target-folder", dst, "--group-name", "g",
                                       "--key", "01020304050607080910111213141516:00112233445566778899aabbccddeeff",
                                       "--playready-la-url", "http://127.0.0.1/pr", src],
        "ffmpeg": lambda dst: ["ffmpeg", "-v", "error", "-y", "-i", src, "-c", "copy", "-f", "smoothstreaming", dst],
        "cp": lambda dst: ["cp", src, dst],
    }
    results = {name: [] for name in tools}
    for r in range(args.rounds):
        for name, cmd in tools.items():
            dst = os.path.join(OUT, f"dst-{name}")
            clean(dst)
            results[name].append(run(cmd(dst)))
            clean(dst)
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    print(f"\ninput: {src} ({size_mb:.0f} MB), {args.rounds} rounds, medians")
    print(f"{'tool':<16}{'wall s':>10}{'peak RSS MiB':>15}")
    med = {}
    for name, rs in results.items():
        wall = statistics.median(w for w, _ in rs)
        rss = statistics.median(m for _, m in rs)
        med[name] = wall
        print(f"{name:<16}{wall:>10.3f}{rss:>15.1f}")
    print(f"\nsmoothcast / ffmpeg wall: {med['smoothcast'] / med['ffmpeg']:.2f}x (target <= 0.5x)")
    print(f"smoothcast / cp wall:     {med['smoothcast'] / med['cp']:.2f}x (target <= 3x)")
    print(f"protected / clear wall:   {med['smoothcast-drm'] / med['smoothcast']:.2f}x")

    # Memory against input length: a 1/5-length input packaged the same way.
    short = make_input(args.minutes / 5, args.mbps)
    dst = os.path.join(OUT, "dst-short")
    clean(dst)
    _, rss_short = run([exe, "package", "--target-folder", dst, "--group-name", "g", short])
    clean(dst)
    rss_long = statistics.median(m for _, m in results["smoothcast"])
    print(f"peak RSS: {args.minutes / 5:g} min input {rss_short:.1f} MiB, {args.minutes:g} min input {rss_long:.1f} MiB")


if __name__ == "__main__":
    main()
