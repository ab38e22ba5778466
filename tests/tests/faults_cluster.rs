//! The fault suite on a three-node JetStream cluster (loopback), the event
//! stream at 3 replicas, a gateway on each node: kill -9 the node leading the
//! stream mid-load, then a follower, bringing each back. From the log: every
//! acknowledged command exactly once; the views equal a clean rebuild.
//! `cargo xtask faults` runs more rounds (`SIGNOFF_FAULTS_LONG`).

use std::time::Duration;

use signoff_tests::faults::{assert_nothing_lost, rounds, ClusterEnv, Workload};

/// Longer than a leader election: a caller retries after it with the same command id.
const ATTEMPT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_killed_mid_load_loses_nothing_acknowledged() {
    let mut env = ClusterEnv::start().await;
    // The read side on node 1, the callers on node 0, a gateway on each node.
    let read_side = signoff_api::readside::start(
        &env.config(1),
        &env.temp_path("projection"),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("read side starts");
    let load = Workload::start(
        env.client_as("alice").with_timeout(ATTEMPT),
        env.client_as("maria").with_timeout(ATTEMPT),
        8,
    );
    let kills = rounds(2, 6);
    let mut killed = Vec::new();
    let mut previous = None;
    for round in 0..kills {
        load.progress("load before the kill", 40).await;
        let leader = env.stream_leader().await;
        // Even rounds kill the stream leader, odd rounds a follower (another
        // node than the last victim, when the leadership moved there).
        let nodes = env.cluster.nodes().len();
        let victim = if round % 2 == 0 {
            leader
        } else {
            (0..nodes)
                .find(|&i| i != leader && Some(i) != previous)
                .unwrap_or((leader + 1) % nodes)
        };
        previous = Some(victim);
        env.cluster.kill(victim).await.expect("kill -9 a node");
        killed.push(format!(
            "{}{}",
            env.cluster.server_name(victim),
            if victim == leader { "(leader)" } else { "" }
        ));
        load.progress("load with a node down", 40).await;
        if victim == leader {
            let new_leader = env.stream_leader().await;
            assert_ne!(new_leader, victim, "another node leads the stream");
        }
        env.cluster.restart(victim).await.expect("restart the node");
        env.wait_until_replicas_current().await;
        load.progress("load after the node is back", 40).await;
    }
    let ledger = load.finish().await;
    env.wait_until_replicas_current().await;
    assert_nothing_lost(
        "cluster-node-kill-9",
        &ledger,
        &format!("killed={} retries={}", killed.join(","), ledger.retries()),
        env.client.clone(),
        &env.store,
        &read_side.db,
        &env.temp_path("clean"),
    )
    .await;
    read_side.shutdown().await;
}
