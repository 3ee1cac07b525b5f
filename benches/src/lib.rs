//! Benchmarks for redsim. `benches/core.rs` holds criterion benches of the
//! engine (RESP parsing, dispatch, GET/SET on the keyspace); `compare.sh`
//! runs `redis-benchmark` against redsim and real Redis and prints ratios.
