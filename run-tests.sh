#!/usr/bin/env bash
# Runs every test of redsim on a fresh machine. Installs what it needs
# (redis-server/redis-tools via apt when root), builds both flavours (tokio
# and madsim), runs unit + integration tests, the conformance suite against
# real Redis 7, the simulator over many seeds, and a short benchmark smoke.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing redis-server (real Redis is the reference for conformance)"
    apt-get install -y redis-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y redis-server >/dev/null; }
    # The package starts a service on 6379; the tests use their own ports.
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  else
    echo "redis-server is required (apt-get install redis-server)"; exit 1
  fi
fi
redis-server --version

echo "==> formatting"
cargo fmt --all --check

echo "==> build (tokio flavour)"
cargo build --release -p redsim-server
export REDSIM_SERVER_BIN="$ROOT/target/release/redsim-server"

echo "==> unit, integration and conformance tests"
cargo test --release --workspace

echo "==> build and test the madsim flavour"
export CARGO_TARGET_DIR_SIM="$ROOT/target-sim"
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$CARGO_TARGET_DIR_SIM" \
  cargo test --release -p redsim-core -p redsim-server -p redsim-sim
if [ -f sim/src/main.rs ]; then
  echo "==> simulator: seeds sweep + determinism check"
  RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$CARGO_TARGET_DIR_SIM" \
    cargo run --release -p redsim-sim -- --seeds 200 --check-determinism
  echo "==> simulator: AOF on a crashing simulated disk (always, everysec)"
  for policy in always everysec; do
    RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$CARGO_TARGET_DIR_SIM" \
      cargo run --release -p redsim-sim -- --seeds 300 --kills 3 --appendfsync $policy --check-determinism
  done
fi

echo "==> benches compile; redis-benchmark comparison smoke run"
cargo bench -p redsim-benches --no-run
benches/compare.sh 1 20000
echo "==> all tests passed"
