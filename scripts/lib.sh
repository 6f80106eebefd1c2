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
