"""nginx as the benchmarks that compare with it run it: on a config of theirs, with a prefix
folder of theirs, ready once its loopback port answers, stopped gracefully."""
import signal
import socket
import subprocess
import sys
import time


def start(conf, prefix, port, what="nginx"):
    """Starts `nginx -c conf -p prefix` and waits (10 s at most) until 127.0.0.1:port
    answers; exits the benchmark with nginx's own message if it does not start."""
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", prefix],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"{what} failed: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.1)
    stop(proc)
    sys.exit(f"{what} did not start")


def stop(proc):
    """A graceful stop (SIGQUIT: workers finish what they are doing), then a kill."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
