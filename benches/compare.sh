#!/usr/bin/env bash
# Run redis-benchmark against redsim and real Redis on this machine, in one
# run, alternating A B A B, and print ops/s for both and the median ratio.
#
#   benches/compare.sh [rounds=3] [requests=500000]
#   TESTS="set get sadd hset" benches/compare.sh     # choose redis-benchmark -t tests
#   TESTS="xadd" benches/compare.sh                  # xadd: XADD s MAXLEN ~ 10000 * f v
#
# Same redis-benchmark binary and flags for both: -r 1000000 (keys spread over
# 1M names), 50 clients, -P 1 and -P 16, tests SET GET INCR MSET. Also reports
# server CPU time per op (from /proc/PID/stat), steadier than wall-clock
# throughput on a shared 2-core machine.
set -euo pipefail
ROUNDS=${1:-3}
N=${2:-500000}
TESTS=${TESTS:-set get incr mset sadd hset}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${REDSIM_SERVER_BIN:-$ROOT/target/release/redsim-server}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (apt-get install redis-tools)"; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server not found"; exit 1; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -p redsim-server)
P_RS=$((20000 + RANDOM % 5000)); P_RD=$((P_RS + 1))
"$BIN" --port $P_RS --save "" --loglevel warning >/dev/null 2>&1 & RS=$!
redis-server --port $P_RD --save "" --appendonly no --loglevel warning >/dev/null 2>&1 & RD=$!
trap 'kill $RS $RD 2>/dev/null || true' EXIT
for p in $P_RS $P_RD; do for _ in $(seq 50); do redis-cli -p $p ping >/dev/null 2>&1 && break; sleep 0.1; done; done
cpu_ticks() { awk '{print $14+$15}' /proc/$1/stat; }
declare -A OPS CPU
run() { # name port pid pipeline test
  local t0 t1 out
  t0=$(cpu_ticks $3)
  local cmd=(-t "$5")
  # redis-benchmark has no XADD test: run the command itself (one capped stream).
  [ "$5" = xadd ] && cmd=(XADD bench:stream MAXLEN '~' 10000 '*' field value)
  out=$(redis-benchmark -p $2 -r 1000000 -n $N -c 50 -P $4 --csv "${cmd[@]}" 2>/dev/null | tail -n 1)
  t1=$(cpu_ticks $3)
  local ops; ops=$(echo "$out" | cut -d, -f2 | tr -d '"')
  OPS[$1]="${OPS[$1]:-} $ops"
  CPU[$1]="${CPU[$1]:-} $(awk -v a=$t0 -v b=$t1 -v n=$N 'BEGIN{printf "%.3f", (b-a)*10000/n}')"
}
for P in 1 16; do
  for T in $TESTS; do
    for r in $(seq $ROUNDS); do
      run "rs-$T-$P" $P_RS $RS $P $T
      run "rd-$T-$P" $P_RD $RD $P $T
      redis-cli -p $P_RS flushall >/dev/null; redis-cli -p $P_RD flushall >/dev/null
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
printf "%-10s %3s %14s %14s %8s %14s %14s\n" test P redsim_ops/s redis_ops/s ratio rs_cpu_us/op rd_cpu_us/op
for P in 1 16; do
  for T in $TESTS; do
    a=(${OPS[rs-$T-$P]}); b=(${OPS[rd-$T-$P]}); ratios=""
    for i in "${!a[@]}"; do ratios="$ratios $(awk -v x=${a[$i]} -v y=${b[$i]} 'BEGIN{printf "%.3f", x/y}')"; done
    printf "%-10s %3s %14s %14s %8s %14s %14s\n" "$T" "$P" \
      "$(echo ${OPS[rs-$T-$P]} | median)" "$(echo ${OPS[rd-$T-$P]} | median)" \
      "$(echo $ratios | median)" "$(echo ${CPU[rs-$T-$P]} | median)" "$(echo ${CPU[rd-$T-$P]} | median)"
  done
done
