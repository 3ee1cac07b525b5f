#!/usr/bin/env bash
# Persistence costs, redsim vs real Redis in one run (issue 5):
#  1. SET throughput with `appendonly yes, appendfsync everysec` relative to no
#     persistence (redis-benchmark -P 16, 50 clients), for both servers;
#  2. BGSAVE of N keys: wall time until rdb_bgsave_in_progress:0, and the
#     extra memory it took (redsim: used_memory_peak growth during the save,
#     no fork; Redis: the child's copy-on-write, rdb_last_cow_size);
#  3. start-up load time of that dump.rdb (until the server answers PING).
#
#   benches/persist.sh [keys=1000000] [requests=300000]
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
P=$((27000 + RANDOM % 2000))
start() { # flavor dir args...
  local f=$1 d=$2; shift 2
  P=$((P + 1)); mkdir -p "$d"
  if [ "$f" = redsim ]; then (cd "$d" && exec "$BIN" --port $P --dir "$d" --loglevel warning "$@" >/dev/null 2>&1) &
  else redis-server --port $P --dir "$d" --loglevel warning "$@" >/dev/null 2>&1 & fi
  SPID=$!; PIDS+=($SPID)
  for _ in $(seq 600); do redis-cli -p $P ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
}
field() { redis-cli -p $1 info $2 | awk -F: -v f=$3 '$1==f {print $2}' | tr -d '\r'; }
now_ms() { date +%s%3N; }

echo "== SET throughput, AOF everysec vs none (redis-benchmark -P 16 -c 50 -n $N)"
printf "%-7s %12s %12s %8s\n" server none_ops aof_ops ratio
for f in redsim redis; do
  start $f "$WORK/$f-none" --save "" --appendonly no
  a=$(redis-benchmark -p $P -r 1000000 -n $N -c 50 -P 16 -t set --csv 2>/dev/null | tail -n1 | cut -d, -f2 | tr -d '"')
  kill $SPID; wait $SPID 2>/dev/null || true
  start $f "$WORK/$f-aof" --save "" --appendonly yes --appendfsync everysec
  b=$(redis-benchmark -p $P -r 1000000 -n $N -c 50 -P 16 -t set --csv 2>/dev/null | tail -n1 | cut -d, -f2 | tr -d '"')
  kill $SPID; wait $SPID 2>/dev/null || true
  printf "%-7s %12s %12s %8s\n" $f $a $b "$(awk -v a=$a -v b=$b 'BEGIN{printf "%.2f", b/a}')"
done

echo
echo "== BGSAVE of $KEYS keys (16-byte values) and start-up load"
printf "%-7s %10s %14s %12s\n" server bgsave_ms extra_mem_kb load_ms
for f in redsim redis; do
  d="$WORK/$f-rdb"
  start $f "$d" --save "" --appendonly no
  "$HR" $P load $KEYS 16
  base=$(field $P memory used_memory)
  redis-cli -p $P config resetstat >/dev/null
  t0=$(now_ms)
  redis-cli -p $P bgsave >/dev/null
  peak=$base
  while [ "$(field $P persistence rdb_bgsave_in_progress)" = 1 ]; do
    u=$(field $P memory used_memory); [ "$u" -gt "$peak" ] && peak=$u
    sleep 0.01
  done
  t1=$(now_ms)
  if [ $f = redis ]; then extra=$(( $(field $P persistence rdb_last_cow_size) / 1024 ))
  else extra=$(( (peak - base) / 1024 )); fi
  st=$(field $P persistence rdb_last_bgsave_status)
  kill $SPID; wait $SPID 2>/dev/null || true
  t2=$(now_ms)
  start $f "$d" --save "" --appendonly no
  t3=$(now_ms)
  n=$(redis-cli -p $P dbsize)
  kill $SPID; wait $SPID 2>/dev/null || true
  [ "$n" = "$KEYS" ] || echo "  $f: loaded $n keys, expected $KEYS"
  [ "$st" = ok ] || echo "  $f: bgsave status $st"
  printf "%-7s %10s %14s %12s\n" $f $((t1 - t0)) $extra $((t3 - t2))
done
