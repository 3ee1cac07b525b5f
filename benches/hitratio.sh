#!/usr/bin/env bash
# Cache effectiveness vs real Redis (issue 4): the same Zipf GET-miss-then-SET
# workload against redsim and Redis with the same maxmemory and policy, for
# allkeys-lru and allkeys-lfu; prints both hit ratios. Then bytes per key:
# RSS growth while 1M small keys (SET key:N <16 bytes>) are loaded over the
# wire; then the same for 200k keys of each small collection kind (5 elements
# each: hash, zset, list, intset, set of short strings), both servers.
#
#   benches/hitratio.sh [ops=2000000] [keys=1000000] [maxmemory=32mb] [collection_keys=200000]
set -euo pipefail
OPS=${1:-2000000}
KEYS=${2:-1000000}
MAXMEM=${3:-32mb}
COLL_KEYS=${4:-200000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${REDSIM_SERVER_BIN:-$ROOT/target/release/redsim-server}
# Two builds: `--bin` would otherwise filter the server binary out too.
(cd "$ROOT" && cargo build --release -q -p redsim-server && cargo build --release -q -p redsim-benches --bin hitratio)
HR=$ROOT/target/release/hitratio
command -v redis-server >/dev/null || { echo "redis-server not found"; exit 1; }
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done' EXIT
start() { # flavor port args...
  local f=$1 p=$2; shift 2
  if [ "$f" = redsim ]; then "$BIN" --port $p --save "" "$@" >/dev/null 2>&1 & else
    redis-server --port $p --save "" --appendonly no "$@" >/dev/null 2>&1 & fi
  SPID=$!
  PIDS+=($SPID)
  for _ in $(seq 50); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' /proc/$1/status; }
P=$((26000 + RANDOM % 3000))
printf "%-12s %-7s %10s %10s\n" policy server hit_ratio evicted
for policy in allkeys-lru allkeys-lfu; do
  for f in redsim redis; do
    P=$((P + 1))
    start $f $P --maxmemory $MAXMEM --maxmemory-policy $policy; pid=$SPID
    r=$("$HR" $P zipf $OPS $KEYS 100 42)
    ev=$(redis-cli -p $P info stats | awk -F: '/^evicted_keys/ {print $2}' | tr -d '\r')
    printf "%-12s %-7s %10s %10s\n" $policy $f "$(echo $r | cut -d' ' -f3)" "$ev"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
printf "\n%-7s %14s %14s %12s\n" server rss_before_kb rss_after_kb bytes/key
for f in redsim redis; do
  P=$((P + 1))
  start $f $P; pid=$SPID
  a=$(rss_kb $pid)
  "$HR" $P load 1000000 16
  sleep 0.5
  b=$(rss_kb $pid)
  printf "%-7s %14s %14s %12s\n" $f $a $b $(( (b - a) * 1024 / 1000000 ))
  kill $pid; wait $pid 2>/dev/null || true
done
printf "\n%-7s %16s %16s   (%s keys of 5 elements)\n" kind redsim_bytes/key redis_bytes/key $COLL_KEYS
for kind in hash zset list intset set; do
  row=()
  for f in redsim redis; do
    P=$((P + 1))
    start $f $P; pid=$SPID
    a=$(rss_kb $pid)
    "$HR" $P load $COLL_KEYS 0 $kind
    sleep 0.5
    b=$(rss_kb $pid)
    row+=($(( (b - a) * 1024 / COLL_KEYS )))
    kill $pid; wait $pid 2>/dev/null || true
  done
  printf "%-7s %16s %16s\n" $kind "${row[0]}" "${row[1]}"
done
