//! The named scenarios: what `cargo sim list` prints and what the first
//! positional argument of `cargo sim <scenario>` selects.
//!
//! A scenario is a name, the promise it checks (in one paragraph: what must
//! hold, and which checker holds it) and its base [`SimOptions`]. Command-line
//! knobs are applied on top of the base, and reproduce lines list only the
//! knobs that differ from it. Invariants: names are unique, lower-case, and
//! never start with `-` (the parser tells them from flags by that); the first
//! entry is the default scenario (used when no name is given, for the old
//! `redsim-sim --seeds N` command line). Adding a scenario is one entry in
//! [`scenarios`].

use crate::SimOptions;

/// One named experiment.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    /// What the scenario promises and which checker holds the promise.
    pub promises: &'static str,
    /// The base options (the CLI knobs override them).
    pub options: fn() -> SimOptions,
}

fn strings() -> SimOptions {
    SimOptions::default()
}

fn partitions() -> SimOptions {
    SimOptions {
        partitions: 2,
        ..SimOptions::default()
    }
}

fn durable(policy: &str) -> SimOptions {
    SimOptions {
        kills: 3,
        appendfsync: Some(policy.to_string()),
        ..SimOptions::default()
    }
}

fn durability_always() -> SimOptions {
    durable("always")
}

fn durability_everysec() -> SimOptions {
    durable("everysec")
}

fn durability_no() -> SimOptions {
    durable("no")
}

/// Four clients on their own nodes running every multi-client workload.
fn multi(workloads: &str) -> SimOptions {
    SimOptions {
        clients: 4,
        ops: 150,
        op_timeout_ms: 1000,
        workloads: workloads.into(),
        swarm: true,
        buggify: true,
        kills: 0,
        partitions: 3,
        pauses: 3,
        client_cuts: 4,
        one_way: 2,
        spikes: 3,
        loss: 3,
        clock_jumps: 2,
        ..SimOptions::default()
    }
}

fn crash_always() -> SimOptions {
    SimOptions {
        kills: 3,
        disk_faults: 2,
        appendfsync: Some("always".into()),
        ..multi("rcslq")
    }
}

fn client_faults() -> SimOptions {
    multi("rcsl")
}

fn blocking_tx() -> SimOptions {
    SimOptions {
        partitions: 0,
        pauses: 0,
        clock_jumps: 0,
        ..multi("lq")
    }
}

fn expiry_clock() -> SimOptions {
    SimOptions {
        clock_jumps: 4,
        buggify: true,
        ..SimOptions::default()
    }
}

/// A master with two replicas; clients write to the master, WAIT for the
/// replicas; replica links are cut and replicas killed while it runs.
fn replication() -> SimOptions {
    SimOptions {
        replicas: 2,
        repl_faults: 6,
        clock_jumps: 0,
        disk_faults: 0,
        ..multi("rcslwp")
    }
}

/// PSYNC2 stress: coordinated failovers while writes continue and
/// replica links flap.
fn psync2() -> SimOptions {
    SimOptions {
        replicas: 2,
        repl_faults: 6,
        failovers: 6,
        kills: 0,
        clock_jumps: 0,
        disk_faults: 0,
        ..multi("rcslp")
    }
}

/// Sentinel high availability: a master, two replicas, three Sentinels;
/// the master is partitioned (with a minority of clients), killed and
/// paused while clients write through the Sentinels.
fn sentinel() -> SimOptions {
    SimOptions {
        replicas: 2,
        sentinels: 3,
        sentinel_cuts: 2,
        ops: 200,
        keys: 4,
        max_think_ms: 60,
        kills: 2,
        partitions: 3,
        max_partition_ms: 8000,
        pauses: 2,
        repl_faults: 3,
        client_cuts: 0,
        one_way: 0,
        clock_jumps: 0,
        disk_faults: 0,
        ..multi("a")
    }
}

/// Every scenario, the default first.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "strings",
            promises: "An in-memory server runs string and TTL commands \
                (GET/SET with EX/PX/NX/XX/KEEPTTL/GET, INCR, DEL, EXPIRE/PEXPIRE with \
                flags, MSET, APPEND) from one client while it is killed and restarted. \
                Every reply matches a legal execution of the per-key model with TTL \
                intervals and kills wiping the data (checker::Checker::new); the \
                workload finishes within its simulated budget and active expiry \
                reclaims every expired key before the final DBSIZE.",
            options: strings,
        },
        Scenario {
            name: "partitions",
            promises: "The strings workload while the server is also partitioned \
                (both directions clogged, 50..max-partition-ms) twice per run. Same \
                promise and checker as strings: replies stay legal, ops whose fate is \
                unknown are tracked as such, and the client recovers and finishes.",
            options: partitions,
        },
        Scenario {
            name: "durability-always",
            promises: "An AOF server with appendfsync always on a simulated disk that \
                crashes (unsynced bytes lost, torn tails) at each of 3 kills. Every \
                restart loads its files, and no acknowledged write is ever lost: each \
                key is back in exactly its state at the kill, or with the in-flight op \
                applied (checker::Checker::durable(0), per key).",
            options: durability_always,
        },
        Scenario {
            name: "durability-everysec",
            promises: "As durability-always with appendfsync everysec: a crash may \
                lose at most the writes of the last ~2 s, Redis's documented bound \
                (checker::Checker::durable(2000)); older acknowledged writes survive.",
            options: durability_everysec,
        },
        Scenario {
            name: "durability-no",
            promises: "As durability-always with appendfsync no: a crash may lose any \
                unsynced writes, but every restart loads its files and each key comes \
                back in a state it really had at some moment before the kill (never an \
                invented value) (checker::Checker::durable with an unbounded window).",
            options: durability_no,
        },
        Scenario {
            name: "crash-always",
            promises: "Four clients run registers, counters, sets, lists (with MULTI/EXEC \
                and transactions abandoned before EXEC) and queues (LPUSH/BRPOP, clients \
                hanging up while blocked) against an AOF server with appendfsync always, \
                under a per-seed swarm of kills with disk crashes, disk EIO periods (the \
                server exits and is restarted), pauses, partitions, client cuts, lost \
                replies, latency spikes, packet loss, clock jumps and BUGGIFY points. \
                Promises: per-key linearizability (linearize.rs; timeouts are unknown \
                outcomes), no list-append anomaly (append.rs), queues deliver at most \
                once and lose no acknowledged element, every restart recovers a prefix of \
                the applied commands (oracle.rs), the final dataset is all of them, and \
                after the heal every client completes its operations in time.",
            options: crash_always,
        },
        Scenario {
            name: "client-faults",
            promises: "An in-memory server (never killed) and four clients under network \
                faults: partitions, client-side cuts, one-way loss of replies, latency \
                spikes, packet loss, server pauses, clock jumps, BUGGIFY. Operations \
                without a reply are indeterminate (they may apply later or never); the \
                registers, counters and sets must stay linearizable, lists free of \
                anomalies, the final dataset equal to the applied commands, and every \
                client live after the heal.",
            options: client_faults,
        },
        Scenario {
            name: "blocking-tx",
            promises: "Blocking commands and transactions under client disconnects: \
                BRPOP clients hang up while blocked (the server must not deliver the \
                element elsewhere twice nor lose it), MULTI/EXEC blocks are atomic, and a \
                transaction abandoned before EXEC leaves no trace (an element of it seen \
                later is a phantom). Checked by the queue checker and append.rs.",
            options: blocking_tx,
        },
        Scenario {
            name: "expiry-clock",
            promises: "The strings/TTL workload of the strings scenario while the \
                server's clock jumps forward (0.5..20 s, four times) and BUGGIFY points \
                fire: expiry follows the server's clock, which the checker reads from \
                the history (events carry server time), so keys expire exactly when \
                the server's clock passes their deadline, never early by real time nor \
                kept past it; kills wipe the in-memory data.",
            options: expiry_clock,
        },
        Scenario {
            name: "replication",
            promises: "An in-memory master with two replicas (PSYNC, forkless full \
                syncs, partial resyncs from the backlog), four clients on the master \
                running the register, counter, set-add and list-append workloads, \
                SET-then-WAIT and pipelined write batches, under swarm faults: replica links cut, replicas killed \
                and restarted, the master partitioned or paused, client cuts, latency \
                spikes, packet loss, BUGGIFY. The master's workloads stay linearizable; \
                WAIT never counts a replica that does not hold the write (checked \
                against the replicas' data when the reply arrives); after the heal every \
                replica reaches the master's offset with exactly its dataset.",
            options: replication,
        },
        Scenario {
            name: "psync2",
            promises: "A master and two replicas under coordinated failovers (clients \
                held and cut from the master, the target caught up, promoted with \
                REPLICAOF NO ONE, every other node pointed at it, clients follow) while \
                replica links flap and the swarm's network faults run. Nothing is lost: \
                the register, counter, set-add and list-append workloads stay \
                linearizable across failovers; every resync after the two initial full \
                syncs is a partial one (replid2 continuation); after the heal every node \
                reaches the current master's offset with exactly its dataset.",
            options: psync2,
        },
        Scenario {
            name: "sentinel",
            promises: "Three in-memory data nodes (a master and two replicas, \
                min-replicas-to-write 1, min-replicas-max-lag 2) and three redsim \
                Sentinels (quorum 2, down-after 1 s); four clients ask the Sentinels for \
                the master and write unique set elements. Swarm faults: the master \
                partitioned away with a minority of the clients, killed (restarted empty \
                once a replica is promoted), paused; replica links cut, replicas killed; \
                one Sentinel cut off from everything; latency spikes, packet loss. After the heal the Sentinels agree and every \
                node reaches the master's offset with its dataset; every acknowledged \
                write that is lost is attributed, from the writes' replication offsets \
                and the promotions' branch points, to an asynchronous-replication window \
                (a later promotion chose a history without it, including Sentinel \
                promoting a stale master it still lists as a replica) or a \
                minority-master window (its master had been superseded), nothing else \
                is lost and no \
                rejected write takes effect; a master cut off from its replicas \
                acknowledges nothing sent more than min-replicas-max-lag + 1.5 s after the \
                cut. Failover times are reported as notes.",
            options: sentinel,
        },
    ]
}

/// The scenario called `name`, if any.
pub fn scenario_by_name(name: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_flag_free() {
        let all = scenarios();
        assert_eq!(all[0].name, "strings", "the default scenario comes first");
        for (i, s) in all.iter().enumerate() {
            assert!(!s.name.starts_with('-') && !s.name.is_empty());
            assert!(all[i + 1..].iter().all(|o| o.name != s.name), "{}", s.name);
            assert!(!s.promises.is_empty());
        }
        assert_eq!(
            scenario_by_name("durability-always")
                .map(|s| (s.options)().appendfsync)
                .flatten()
                .as_deref(),
            Some("always")
        );
        assert!(scenario_by_name("nope").is_none());
    }
}
