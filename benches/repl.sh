#!/usr/bin/env bash
# Replication costs, redsim vs real Redis in one run (issue 7):
#  1. SET throughput on a master with two replicas attached (redis-benchmark
#     -P 16, 50 clients), and the same master alone, for both servers; the
#     replicas must have caught up at the end (offsets compared);
#  2. full sync of N keys: time from REPLICAOF on a fresh replica until its
#     INFO says master_link_status:up with the master's offset.
#
#   benches/repl.sh [keys=1000000] [requests=300000]
set -euo pipefail
KEYS=${1:-1000000}
N=${2:-300000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${REDSIM_SERVER_BIN:-$ROOT/target/release/redsim-server}
(cd "$ROOT" && cargo build --release -q -p redsim-server && cargo build --release -q -p redsim-benches --bin hitratio)
HR=$ROOT/target/release/hitratio
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found"; exit 1; }
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
P=$((29000 + RANDOM % 2000))
start() { # flavor dir args...  (sets P to the new server's port)
  local f=$1 d=$2; shift 2
  P=$((P + 1)); mkdir -p "$d"
  if [ "$f" = redsim ]; then (cd "$d" && exec "$BIN" --port $P --dir "$d" --loglevel warning --save "" "$@" >/dev/null 2>&1) &
  else redis-server --port $P --dir "$d" --loglevel warning --save "" --appendonly no "$@" >/dev/null 2>&1 & fi
  PIDS+=($!)
  for _ in $(seq 600); do redis-cli -p $P ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
}
field() { redis-cli -p $1 info $2 | awk -F: -v f=$3 '$1==f {print $2}' | tr -d '\r'; }
now_ms() { date +%s%3N; }
synced() { # master replica
  [ "$(field $2 replication master_link_status)" = up ] &&
    [ "$(field $1 replication master_repl_offset)" = "$(field $2 replication slave_repl_offset)" ]
}
bench() { redis-benchmark -p $1 -r 1000000 -n $N -c 50 -P 16 -t set --csv 2>/dev/null | tail -n1 | cut -d, -f2 | tr -d '"'; }

echo "== SET throughput, master alone vs master with 2 replicas (redis-benchmark -P 16 -c 50 -n $N)"
printf "%-7s %12s %14s %8s\n" server alone_ops 2replicas_ops ratio
declare -A WITH
for f in redsim redis; do
  start $f "$WORK/$f-alone" --repl-diskless-sync-delay 0; a=$(bench $P)
  start $f "$WORK/$f-m" --repl-diskless-sync-delay 0; M=$P
  start $f "$WORK/$f-r1" --replicaof "127.0.0.1 $M"; R1=$P
  start $f "$WORK/$f-r2" --replicaof "127.0.0.1 $M"; R2=$P
  for _ in $(seq 600); do synced $M $R1 && synced $M $R2 && break; sleep 0.05; done
  b=$(bench $M)
  for _ in $(seq 600); do synced $M $R1 && synced $M $R2 && break; sleep 0.05; done
  synced $M $R1 && synced $M $R2 || { echo "$f: replicas did not catch up"; exit 1; }
  WITH[$f]=$b
  printf "%-7s %12s %14s %8s\n" $f $a $b "$(awk -v a=$a -v b=$b 'BEGIN{printf "%.2f", b/a}')"
done
echo "redsim/redis with 2 replicas: $(awk -v a=${WITH[redsim]} -v b=${WITH[redis]} 'BEGIN{printf "%.2f", a/b}')"

echo
echo "== full sync of $KEYS keys (16-byte values): REPLICAOF until link up at the master's offset"
printf "%-7s %10s\n" server sync_ms
for f in redsim redis; do
  start $f "$WORK/$f-fm" --repl-diskless-sync-delay 0; M=$P
  "$HR" $M load $KEYS 16
  start $f "$WORK/$f-fr"; R=$P
  t0=$(now_ms)
  redis-cli -p $R replicaof 127.0.0.1 $M >/dev/null
  for _ in $(seq 6000); do synced $M $R && break; sleep 0.01; done
  synced $M $R || { echo "$f: full sync did not finish"; exit 1; }
  t1=$(now_ms)
  n=$(redis-cli -p $R dbsize)
  [ "$n" = "$KEYS" ] || { echo "$f: replica has $n keys, expected $KEYS"; exit 1; }
  printf "%-7s %10s\n" $f $((t1 - t0))
done
