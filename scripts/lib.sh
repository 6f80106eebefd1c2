# Shared helpers for the scripts: repository-local tool installs, so a fresh machine needs
# nothing but the Rust toolchain, Node/npm, Python 3 and a JDK.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo/.cache"
mkdir -p "$cache"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# npm packages pinned in package.json / package-lock.json.
ensure_node_modules() {
  if [ ! -f "$repo/node_modules/.package-lock.json" ] || [ "$repo/package-lock.json" -nt "$repo/node_modules/.package-lock.json" ]; then
    log "installing npm packages (package-lock.json)"
    (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# cargo-zigbuild + zig from PyPI, to link the Linux binary against glibc 2.28.
ensure_zig() {
  if [ ! -x "$cache/tools/bin/cargo-zigbuild" ]; then
    log "installing cargo-zigbuild and zig (PyPI)"
    python3 -m venv "$cache/tools"
    "$cache/tools/bin/pip" install -q --disable-pip-version-check cargo-zigbuild==0.24.0 ziglang==0.15.2
  fi
  export PATH="$cache/tools/bin:$PATH"
}

# Apache Flink 2.3 from PyPI (a real session cluster for tests and the demo).
ensure_flink() {
  if [ ! -f "$cache/flink/ok" ]; then
    log "installing Apache Flink 2.3 (PyPI)"
    rm -rf "$cache/flink"
    python3 -m venv "$cache/flink/venv"
    "$cache/flink/venv/bin/pip" install -q --disable-pip-version-check --no-deps apache-flink-libraries==2.3.0 apache-flink==2.3.0
    touch "$cache/flink/ok"
  fi
  FLINK_HOME="$(ls -d "$cache"/flink/venv/lib/python3*/site-packages/pyflink)"
  export FLINK_HOME
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# GET a URL and print the body (Python, so curl is not needed).
http_get() {
  python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

# A Flink session cluster whose files (config, logs, pids, state) all live under DIR, bound to
# loopback on free ports. Needs ensure_flink. Sets FLINK_URL.
#   flink_start DIR [SLOTS]
flink_start() {
  local dir="$1" slots="${2:-4}"
  mkdir -p "$dir"/{conf,log,pid,tmp,web,checkpoints,savepoints}
  local rest_port rpc_port java_opts
  rest_port="$(free_port)"
  rpc_port="$(free_port)"
  cp "$FLINK_HOME"/conf/log4j*.properties "$dir/conf/"
  # Flink's own module flags (--add-opens ...) from the shipped config; jobs fail without them.
  java_opts="$(sed -n 's/^ *all: *\(--add-.*\)$/\1/p' "$FLINK_HOME/conf/config.yaml" | head -1)"
  echo "localhost" >"$dir/conf/workers"
  echo "localhost:$rest_port" >"$dir/conf/masters"
  # Small memory so a JobManager and a TaskManager fit beside other builds; everything on
  # 127.0.0.1 so nothing is reachable from outside the machine.
  cat >"$dir/conf/config.yaml" <<YAML
env:
  java:
    opts:
      all: $java_opts
  pid.dir: $dir/pid
  log.dir: $dir/log
jobmanager:
  bind-host: 127.0.0.1
  rpc:
    address: localhost
    port: $rpc_port
  memory:
    process:
      size: 1024m
  execution:
    failover-strategy: region
taskmanager:
  bind-host: 127.0.0.1
  host: localhost
  numberOfTaskSlots: $slots
  memory:
    process:
      size: 1280m
    managed:
      size: 128m
parallelism:
  default: 1
rest:
  address: 127.0.0.1
  bind-address: 127.0.0.1
  port: $rest_port
execution:
  checkpointing:
    dir: file://$dir/checkpoints
    savepoint-dir: file://$dir/savepoints
io:
  tmp:
    dirs: $dir/tmp
web:
  tmpdir: $dir/web
  upload:
    dir: $dir/web
YAML
  FLINK_CONF_DIR="$dir/conf" FLINK_LOG_DIR="$dir/log" "$FLINK_HOME/bin/start-cluster.sh" >"$dir/log/start.out" 2>&1
  FLINK_URL="http://127.0.0.1:$rest_port"
  export FLINK_URL
  local i
  for i in $(seq 1 120); do
    if http_get "$FLINK_URL/overview" 2>/dev/null | grep -q '"slots-available":[1-9]'; then
      return 0
    fi
    sleep 0.5
  done
  echo "the Flink cluster in $dir did not come up within 60 s; logs: $dir/log" >&2
  return 1
}

# The pids of the cluster started by flink_start DIR (from its own pid files).
flink_pids() {
  cat "$1"/pid/*.pid 2>/dev/null || true
}

# Stop the cluster started by flink_start DIR, by pid: TERM, then KILL after 15 s.
flink_stop() {
  local dir="$1" pid pids i
  pids="$(flink_pids "$dir")"
  [ -n "$pids" ] || return 0
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for i in $(seq 1 30); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  rm -f "$dir"/pid/*.pid
}

# Compile the test job (tests/job) against the Flink in FLINK_HOME into OUT (a jar).
build_test_job() {
  local out="$1" classes sources
  classes="$(mktemp -d)"
  mapfile -t sources < <(find "$repo/tests/job/src" -name '*.java')
  javac --release 17 -nowarn -cp "$FLINK_HOME/lib/*" -d "$classes" "${sources[@]}"
  mkdir -p "$(dirname "$out")"
  jar --create --file "$out" --main-class flinkdeploy.testjob.StatefulSum -C "$classes" .
  rm -rf "$classes"
}
