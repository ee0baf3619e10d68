#!/usr/bin/env bash
# Installs the .deb built by build-deb.sh and checks it as installed: `smoothcast --version`
# from /usr/bin, the unit through `systemd-analyze verify`, the completions and man pages in
# place, and the installed binary serving the packaged /etc/smoothcast/smoothcast.toml (started
# directly as the smoothcast user: CI has no running systemd) until its ports answer.
# Needs root (dpkg -i). Usage: check-deb.sh PATH.deb
set -euo pipefail
deb=$1
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

as_root env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
/usr/bin/smoothcast --version
id smoothcast
systemd-analyze verify /usr/lib/systemd/system/smoothcast.service
# The hardening that the unit promises, as systemd reads it (exposure: lower is better).
systemd-analyze security --offline=yes /usr/lib/systemd/system/smoothcast.service | tail -n 1
for f in /usr/share/bash-completion/completions/smoothcast \
         /usr/share/zsh/vendor-completions/_smoothcast \
         /usr/share/fish/vendor_completions.d/smoothcast.fish \
         /usr/share/man/man1/smoothcast.1.gz /usr/share/man/man1/smoothcast-serve.1.gz; do
  [ -s "$f" ] || { echo "missing: $f" >&2; exit 1; }
done
zcat /usr/share/man/man1/smoothcast-serve.1.gz | grep -q -- 'demo' || { echo "man page lacks --demo" >&2; exit 1; }
grep -q -- '--webroot' /usr/share/bash-completion/completions/smoothcast
dpkg-query -W -f='${Conffiles}\n' smoothcast | grep -q /etc/smoothcast/smoothcast.toml

# The packaged config's ports must be free, or another server would answer for ours.
conf=/etc/smoothcast/smoothcast.toml
port() { sed -n "s/^$1 *= *\([0-9]*\).*/\1/p" "$conf"; }
api=$(port http_api_port) web=$(port web_port) rtmp=$(port rtmp_port)
for p in "$api" "$web" "$rtmp"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is already in use: cannot check the installed server" >&2; exit 1
  fi
done

log=$(mktemp)
# As the service runs it: its user, its working directory, the packaged config.
# setpriv execs the server itself (no PAM session in between), so the TERM below reaches it.
run_as=(setpriv --reuid=smoothcast --regid=smoothcast --init-groups --no-new-privs)
[ "$(id -u)" -eq 0 ] || run_as=(sudo "${run_as[@]}")
(cd /var/lib/smoothcast && exec "${run_as[@]}" /usr/bin/smoothcast serve --config "$conf") >"$log" 2>&1 &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT
ok=
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$api/version" 2>/dev/null | grep -q '"status":"SUCCESS"'; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ok" ] || { echo "installed server did not answer on $api:"; cat "$log"; exit 1; } >&2
curl -fsS "http://127.0.0.1:$api/version"; echo
# The console answers on the API port, the player page on the web port, RTMP accepts.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api/console")
echo "console: HTTP $code"
[ "$code" = 200 ]
curl -fsS "http://127.0.0.1:$api/console" | grep -q "Smoothcast console"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web/")
echo "web /: HTTP $code"; [ "$code" = 200 ]
(exec 3<>"/dev/tcp/127.0.0.1/$rtmp") && echo "rtmp: port $rtmp accepts"
grep -q "webroot /var/lib/smoothcast/www" "$log" || { echo "unexpected webroot:"; cat "$log"; exit 1; } >&2
stop
trap - EXIT
echo "installed server stopped; log:"; cat "$log"
