# Shared helpers for scripts/dev and scripts/test. Source it; do not run it.
# Installs what is missing (idempotent) and starts local services on 127.0.0.1.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/.venv"
MOTO_SPEC=('moto[server]>=5.2,<6' 'waitress>=3,<4')

# Each line carries the seconds since the script started, so a CI log shows where time goes.
log() { printf '\033[1;34m[campus-pay %4ss]\033[0m %s\n' "$SECONDS" "$*" >&2; }

# moto server (DynamoDB, SNS, S3 emulation) in a project-local venv.
ensure_moto() {
  if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/waitress-serve" ]; then
    log "installing ${MOTO_SPEC[*]} into .venv (first run only)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${MOTO_SPEC[@]}"
  fi
}

# Template lint tools (cfn-lint, SAM CLI) from PyPI into the same venv; run offline.
LINT_SPECS=('cfn-lint>=1.20,<2' 'aws-sam-cli>=1.130,<2')
ensure_lint_tools() {
  if [ ! -x "$VENV/bin/cfn-lint" ] || [ ! -x "$VENV/bin/sam" ]; then
    log "installing ${LINT_SPECS[*]} into .venv (first run only)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${LINT_SPECS[@]}"
  fi
}

# cargo-lambda (with zig, its cross-linker) from PyPI into the same venv.
CARGO_LAMBDA_SPEC='cargo-lambda>=1.8,<2'
ensure_cargo_lambda() {
  if [ ! -x "$VENV/bin/cargo-lambda" ]; then
    log "installing $CARGO_LAMBDA_SPEC into .venv (first run only)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$CARGO_LAMBDA_SPEC"
  fi
}

# The cargo binaries the template deploys (Metadata.BuildProperties.Binary), one a line.
template_binaries() {
  awk '/^[[:space:]]*#/{next} /BuildMethod: rust-cargolambda/{want=1} want && /Binary:/{print $2; want=0}' "$ROOT/infra/template.yaml"
}

# Debian Chromium + playwright-core for the browser tests (no browser downloads).
ensure_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Debian chromium (first run only)"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null
  fi
  if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
    log "installing playwright-core (npm ci)"
    (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --silent)
  fi
}

# wrk (Debian package) for the endpoint benchmark and its smoke run in the tests.
ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    log "installing Debian wrk (first run only)"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get install -y -qq wrk >/dev/null 2>&1 || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null; }
  fi
}

# Prints a TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Fails if something already listens on 127.0.0.1:$1.
require_free_port() {
  if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
    log "port $1 is already in use (another platform running?); set another port"; return 1
  fi
}

# Waits until an HTTP endpoint answers (any status), at most $2 seconds.
wait_http() {
  local url="$1" limit="${2:-30}" i=0
  until curl -s -o /dev/null "$url"; do
    i=$((i + 1))
    if [ "$i" -gt $((limit * 10)) ]; then log "timed out waiting for $url"; return 1; fi
    sleep 0.1
  done
}

# Starts moto on 127.0.0.1:$1; its pid goes to MOTO_PID. Callers trap cleanup.
start_moto() {
  local port="$1"
  require_free_port "$port"
  mkdir -p "$ROOT/.local"
  # moto with requests serialised: see scripts/moto_server.py.
  "$VENV/bin/python" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$ROOT/.local/moto-$port.log" 2>&1 &
  MOTO_PID=$!
  wait_http "http://127.0.0.1:$port/moto-api/" 30
  log "moto server on http://127.0.0.1:$port (pid $MOTO_PID)"
}

# Kills the given pids (and their children) if still running.
stop_pids() {
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
}
