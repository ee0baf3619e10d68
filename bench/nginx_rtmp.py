"""The live bench's field tool: nginx with its RTMP module packaging the same publishers.

nginx-rtmp (Debian: `apt-get install nginx libnginx-mod-rtmp`) is what most live RTMP
servers are measured against. It cannot write Smooth Streaming, so it writes the nearest
thing: MPEG-DASH, i.e. the same fragmented MP4 (a video and an audio fragment per 2 s
keyframe interval, a rolling manifest, old fragments removed) into a folder on the same
web root's file system. Two worker processes, one per core, as the server under test has.

What is compared, for the same generator and the same N in the same run: CPU (master and
workers, utime+stime, % of one core), memory (the workers' VmRSS over their baseline, per
stream), fragments written (every name seen in the folder, sampled each second: a
fragment stays listed for the whole window), and the generator's lateness (a server that
falls behind pushes back on its TCP connections). nginx-rtmp reports no write delay.
"""
import os
import shutil
import socket
import tempfile
import threading
import time

import nginx_proc

MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Why nginx-rtmp cannot run here, or None."""
    if not shutil.which("nginx"):
        return "nginx not found (Debian: apt-get install nginx libnginx-mod-rtmp)"
    if not os.path.exists(MODULE):
        return f"{MODULE} not found (Debian: apt-get install libnginx-mod-rtmp)"
    return None


class NginxRtmp:
    """nginx with the RTMP module on a free loopback port, writing DASH under `folder`."""

    def __init__(self, folder, chunk_s):
        self.dir = tempfile.mkdtemp(prefix="live-bench-nginx-")
        self.folder = folder
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
load_module {MODULE};
worker_processes 2;
worker_rlimit_nofile 20000;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
daemon off;
events {{ worker_connections 16384; }}
rtmp {{
    server {{
        listen 127.0.0.1:{self.port};
        chunk_size 4096;
        application live {{
            live on;
            dash on;
            dash_path {folder};
            dash_fragment {chunk_s}s;
            dash_playlist_length {5 * chunk_s}s;
            dash_cleanup on;
        }}
    }}
}}
""")
        self.proc = nginx_proc.start(conf, self.dir, self.port, "nginx-rtmp")
        self.pids = [self.proc.pid] + self.workers()
        self.fragments = set()
        self._done = threading.Event()
        self._lister = threading.Thread(target=self._list, daemon=True)
        self._lister.start()

    def workers(self):
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                kids = []
            if len(kids) >= 2:
                return kids
            time.sleep(0.1)
        return kids

    def _list(self):
        while not self._done.is_set():
            try:
                with os.scandir(self.folder) as it:
                    self.fragments.update(e.name for e in it
                                          if e.name.endswith((".m4v", ".m4a")) and "-init" not in e.name)
            except OSError:
                pass
            self._done.wait(1.0)

    def stop(self):
        if hasattr(self, "_done"):
            self._done.set()
            self._lister.join()
        nginx_proc.stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)
