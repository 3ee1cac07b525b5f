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
echo "==> simulator: a fixed sweep of every scenario (determinism checked)"
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR="$CARGO_TARGET_DIR_SIM" cargo build --release -p redsim-sim
SIM="$CARGO_TARGET_DIR_SIM/release/redsim-sim"
for sc in $("$SIM" list | awk '/^[a-z]/ && NF >= 1 && $1 !~ /:$/ && $1 != "run" {print $1}'); do
  "$SIM" "$sc" --seeds 0..300 --jobs 2 --check-determinism
done
echo "==> simulator: same seed, same trace hash across processes"
for sc in crash-always expiry-clock; do
  a=$("$SIM" "$sc" --seed 7 | grep -o 'trace=[0-9a-f]*' | head -1)
  b=$("$SIM" "$sc" --seed 7 | grep -o 'trace=[0-9a-f]*' | head -1)
  echo "$sc seed 7: $a / $b"
  [ -n "$a" ] && [ "$a" = "$b" ] || { echo "nondeterminism across processes"; exit 4; }
done

echo "==> benches compile; redis-benchmark comparison smoke run"
cargo bench -p redsim-benches --no-run
benches/compare.sh 1 20000
echo "==> all tests passed"
