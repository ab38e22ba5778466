//! The read side through the real stack: after guide scenarios the views,
//! inboxes and audit trail hold exactly what happened; a rebuild reaches the
//! same bytes; a projector killed (SIGKILL, as a separate process) at
//! arbitrary points ends identical to a clean rebuild.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Duration as Minutes;
use serde_json::json;
use signoff_engine::{RequestId, Status, TeamId, UserId};
use signoff_projections::{ListFilter, ProjectionDb};
use signoff_tests::{accepted, signoff_binary, TestEnv};

const WAIT: Duration = Duration::from_secs(20);

fn user(u: &str) -> UserId {
    UserId::parse(u).unwrap()
}

fn teams(env: &TestEnv, u: &str) -> BTreeSet<TeamId> {
    use signoff_engine::TeamDirectory;
    env.directory.teams_of(&user(u))
}

fn inbox_ids(env: &TestEnv, db: &ProjectionDb, u: &str) -> Vec<RequestId> {
    db.inbox(&user(u), &teams(env, u))
        .unwrap()
        .into_iter()
        .map(|e| e.request_id)
        .collect()
}

/// A mixed workload: every outcome, a sequential chain, an escalation.
async fn workload(env: &TestEnv) -> Vec<RequestId> {
    let mut ids = Vec::new();
    // Distinct submission times, so "newest first" has one answer.
    let tick = || env.clock.advance(Minutes::seconds(1));
    tick();
    let (approved, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Important Action","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    accepted(env.approve("user_123", approved).await);
    tick();
    let (rejected, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    accepted(env.reject("sofia", rejected, "too risky").await);
    tick();
    let (chain, _) = env
        .submit_ok(
            "alice",
            r#"{"stages":[{"title":"Manager Approval","approvers":["manager-team"]},{"title":"Security Review","approvers":["security-team"]}]}"#,
            "{}",
        )
        .await;
    accepted(env.approve("maria", chain).await);
    tick();
    let (escalating, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Critical Fix","approvers":["on-call-team"],"expiresIn":3600,"escalation":{"afterMinutes":15,"to":["manager-team"]}}"#,
            "{}",
        )
        .await;
    env.clock.advance(Minutes::minutes(15));
    accepted(
        env.act("scheduler", "escalate", escalating, json!({"level": 1}))
            .await,
    );
    tick();
    let (expiring, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Time-Sensitive Action","approvers":["operations-team"],"expiresIn":60}"#,
            "{}",
        )
        .await;
    env.clock.advance(Minutes::minutes(2));
    accepted(env.act("scheduler", "expire", expiring, json!({})).await);
    tick();
    let (cancelled, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Create Jira Issue","approvers":["project-managers"]}"#,
            "{}",
        )
        .await;
    accepted(
        env.act("alice", "cancel", cancelled, json!({"reason": "duplicate"}))
            .await,
    );
    ids.extend([approved, rejected, chain, escalating, expiring, cancelled]);
    ids
}

#[tokio::test]
async fn views_inboxes_and_audit_hold_exactly_what_happened() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let ids = workload(&env).await;
    let [approved, rejected, chain, escalating, expiring, cancelled] = ids[..] else {
        unreachable!()
    };
    assert!(read_side
        .db
        .wait_for(env.last_sequence().await, WAIT)
        .await
        .unwrap());
    let db = &read_side.db;

    let status = |id| db.request(id).unwrap().expect("view").state.status;
    assert_eq!(
        [
            status(approved),
            status(rejected),
            status(chain),
            status(escalating),
            status(expiring),
            status(cancelled)
        ],
        [
            Status::Approved,
            Status::Rejected,
            Status::Pending,
            Status::Pending,
            Status::Expired,
            Status::Cancelled
        ]
    );
    let chain_view = db.request(chain).unwrap().unwrap();
    assert_eq!(chain_view.state.current_stage, 1);
    let vote = &chain_view.state.stages[0].approvals[0];
    assert_eq!(
        (
            vote.by.user.as_str(),
            vote.via.principal.to_string().as_str()
        ),
        ("maria", "team manager-team")
    );

    // Inboxes: the chain waits for security now; the escalation added managers.
    assert_eq!(inbox_ids(&env, db, "sam"), vec![chain]);
    assert_eq!(
        inbox_ids(&env, db, "maria"),
        vec![escalating],
        "maria approved stage 0 of the chain (four eyes)"
    );
    assert_eq!(
        inbox_ids(&env, db, "mike"),
        vec![escalating],
        "the chain's stage 1 is security's, not managers'"
    );
    assert_eq!(inbox_ids(&env, db, "oscar"), vec![escalating]);
    assert!(
        inbox_ids(&env, db, "alice").is_empty(),
        "a requester never sees her own requests"
    );
    assert!(
        inbox_ids(&env, db, "otto").is_empty(),
        "expired requests leave inboxes"
    );

    // Dashboard lists.
    let pending = db
        .list(&ListFilter::Status(Status::Pending), None, 50)
        .unwrap();
    assert_eq!(
        pending
            .items
            .iter()
            .map(|r| r.request_id)
            .collect::<Vec<_>>(),
        vec![escalating, chain],
        "newest first"
    );
    assert_eq!(
        db.list(&ListFilter::Requester("alice".into()), None, 50)
            .unwrap()
            .items
            .len(),
        6
    );
    assert_eq!(
        db.list(&ListFilter::Title("Critical Fix".into()), None, 50)
            .unwrap()
            .items[0]
            .request_id,
        escalating
    );
    let first = db
        .list(&ListFilter::Requester("alice".into()), None, 4)
        .unwrap();
    let second = db
        .list(
            &ListFilter::Requester("alice".into()),
            first.next.as_deref(),
            4,
        )
        .unwrap();
    assert_eq!(
        (first.items.len(), second.items.len(), second.next),
        (4, 2, None)
    );

    // Audit: one record per event, both chains linked.
    let events: usize = env
        .commits(escalating)
        .await
        .iter()
        .map(|c| c.commit.events.len())
        .sum();
    let trail = db.audit_for_request(escalating).unwrap();
    assert_eq!(trail.len(), events);
    assert_eq!(trail[0].request_prev_hash, signoff_projections::GENESIS);
    for pair in trail.windows(2) {
        assert_eq!(pair[1].request_prev_hash, pair[0].hash);
    }
    let escalated = trail
        .iter()
        .find(|r| r.event == "RequestEscalated")
        .unwrap();
    assert!(
        escalated
            .rule
            .as_deref()
            .unwrap()
            .contains("escalation level 1"),
        "{:?}",
        escalated.rule
    );
    let expired = db
        .audit_for_request(expiring)
        .unwrap()
        .into_iter()
        .find(|r| r.event == "RequestExpired")
        .unwrap();
    assert_eq!(expired.outcome, Status::Expired);
    let all = db.audit_after(0, 10_000).unwrap();
    let total: usize = futures::future::join_all(ids.iter().map(|id| env.commits(*id)))
        .await
        .iter()
        .flatten()
        .map(|c| c.commit.events.len())
        .sum();
    assert_eq!(all.len(), total);
    for (i, record) in all.iter().enumerate() {
        assert_eq!(record.index, i as u64 + 1);
        assert_eq!(record.hash, record.compute_hash());
        // The fast canonical writer agrees with the sorted-`Value` reference
        // on every event kind the story produces.
        assert_eq!(record.hash, record.compute_hash_via_value());
    }
    read_side.shutdown().await;
}

/// Every commit of the log, in stream order.
async fn log_commits(env: &TestEnv) -> Vec<signoff_eventstore::StoredCommit> {
    use futures::StreamExt;
    let last = env.last_sequence().await;
    let mut commits = Vec::new();
    let all = env.store.watch_all().await.unwrap();
    futures::pin_mut!(all);
    while let Some(stored) = all.next().await {
        let stored = stored.unwrap();
        let sequence = stored.sequence;
        commits.push(stored);
        if sequence >= last {
            break;
        }
    }
    commits
}

/// Over a workload of every outcome: the projector stores each audit record
/// as its own canonical JSON (`hash` included), byte for byte what verify
/// derives from the log in one pass with the hash; and the unchained records
/// replay shows are the chained ones less their chain, field for field.
#[tokio::test]
async fn stored_audit_records_are_canonical_and_replays_records_are_the_chained_ones() {
    use signoff_projections::audit::{
        records_for_commit, stored_records_for_commit, unchained_records_for_commit, AuditRecord,
        ChainHead,
    };
    use std::collections::HashMap;
    let env = TestEnv::start().await;
    workload(&env).await;
    let commits = log_commits(&env).await;
    let db = ProjectionDb::open(&env.temp_path("trail")).unwrap();
    db.apply(&commits).await.unwrap();
    let trail: Vec<Vec<u8>> = db
        .tree()
        .scan_prefix(b"a:")
        .map(|entry| entry.unwrap().1.to_vec())
        .collect();

    let (mut global, mut heads) = (ChainHead::default(), HashMap::new());
    let (mut stored_global, mut stored_heads) = (ChainHead::default(), HashMap::new());
    let mut bare_heads = HashMap::new();
    let mut events = BTreeSet::new();
    let mut derived = 0;
    for stored in &commits {
        let id = stored.commit.request_id;
        let chained = records_for_commit(stored, &mut global, heads.entry(id).or_default());
        let with_bytes = stored_records_for_commit(
            stored,
            &mut stored_global,
            stored_heads.entry(id).or_default(),
        );
        let bare = unchained_records_for_commit(stored, bare_heads.entry(id).or_default());
        assert_eq!(
            (chained.len(), with_bytes.len(), bare.len()),
            (stored.commit.events.len(), chained.len(), chained.len())
        );
        for ((record, sealed), bare) in chained.into_iter().zip(with_bytes).zip(bare) {
            events.insert(record.event.clone());
            assert_eq!(sealed.record, record);
            assert_eq!(sealed.json, record.to_stored_json());
            assert_eq!(
                String::from_utf8_lossy(&trail[derived]),
                String::from_utf8_lossy(&sealed.json),
                "record {} as stored",
                record.index
            );
            // Canonical: keys sorted at every level, compact.
            let value: serde_json::Value = serde_json::from_slice(&sealed.json).unwrap();
            assert_eq!(
                signoff_engine::raw_json::canonical_json(&value).as_bytes(),
                sealed.json.as_slice()
            );
            assert_eq!(
                serde_json::from_slice::<AuditRecord>(&sealed.json).unwrap(),
                record
            );
            let unchained = AuditRecord {
                index: 0,
                prev_hash: String::new(),
                request_prev_hash: String::new(),
                hash: String::new(),
                ..record
            };
            assert_eq!(bare, unchained);
            derived += 1;
        }
    }
    assert_eq!(derived, trail.len());
    // Each request's pointers, read past its view undecoded, are the decoded ones.
    let pointers: Vec<_> = db.stored_pointers().map(Result::unwrap).collect();
    assert_eq!(pointers.len(), heads.len());
    for (id, chain, audit) in pointers {
        let whole = db.stored_request(id).unwrap().unwrap();
        assert_eq!((chain, audit), (whole.chain.clone(), whole.audit));
        assert_eq!(whole.chain, heads[&id]);
    }
    for kind in [
        "RequestSubmitted",
        "ApprovalGranted",
        "RequestApproved",
        "RequestRejected",
        "RequestEscalated",
    ] {
        assert!(
            events.contains(kind),
            "the workload has no {kind}: {events:?}"
        );
    }
}

/// The projector folds batch N + 1 while batch N is still being written:
/// requests it touched come from the folder's memory, not from sled. Cut
/// anywhere, with the write of a batch held back until the next one is
/// folded, the database ends byte for byte as one batch of everything
/// would leave it.
#[tokio::test]
async fn a_batch_folded_before_the_previous_one_is_written_reaches_the_same_bytes() {
    use signoff_projections::db::Folder;
    let env = TestEnv::start().await;
    workload(&env).await;
    let commits = log_commits(&env).await;
    assert!(
        commits.len() > 6,
        "a workload of several commits per request"
    );
    let whole = ProjectionDb::open(&env.temp_path("whole")).unwrap();
    whole.apply(&commits).await.unwrap();
    let expected = whole.dump().unwrap();
    for size in [1, 2, 3, 5] {
        let db = ProjectionDb::open(&env.temp_path(&format!("batches-of-{size}"))).unwrap();
        let mut folder = Folder::new(db.clone()).unwrap();
        let mut held = None;
        for chunk in commits.chunks(size) {
            let folded = folder.fold(chunk.to_vec()).unwrap().expect("new commits");
            // The previous batch is written only now, after this one folded.
            if let Some(previous) = held.replace(folded) {
                db.write(previous).await.unwrap();
            }
        }
        db.write(held.take().unwrap()).await.unwrap();
        // A redelivered batch folds to nothing.
        assert!(folder.fold(commits[..size].to_vec()).unwrap().is_none());
        assert_eq!(db.dump().unwrap(), expected, "batches of {size}");
    }
}

#[tokio::test]
async fn a_rebuild_from_sequence_one_reaches_the_same_bytes() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    workload(&env).await;
    workload(&env).await;
    let last = env.last_sequence().await;
    assert!(read_side.db.wait_for(last, WAIT).await.unwrap());
    let incremental = read_side.db.dump().unwrap();
    read_side.shutdown().await;

    let fresh = ProjectionDb::open(&env.temp_path("rebuilt")).unwrap();
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    let reached = signoff_projections::rebuild(client, &env.config().stream.settings(), &fresh, 7)
        .await
        .unwrap();
    assert_eq!(reached, last);
    assert_eq!(fresh.dump().unwrap(), incremental, "byte for byte");
}

#[tokio::test]
async fn a_restarted_projector_resumes_after_its_checkpoint() {
    let env = TestEnv::start().await;
    let path = env.temp_path("resume");
    let read_side = env.start_read_side_at(&path).await;
    workload(&env).await;
    assert!(read_side
        .db
        .wait_for(env.last_sequence().await, WAIT)
        .await
        .unwrap());
    read_side.shutdown().await;
    workload(&env).await; // while it is down
    let read_side = env.start_read_side_at(&path).await;
    let last = env.last_sequence().await;
    assert!(read_side.db.wait_for(last, WAIT).await.unwrap());
    let audit = read_side.db.audit_after(0, 100_000).unwrap();
    let mut events = 0;
    for seq in 1..=last {
        let message = env
            .store
            .jetstream()
            .get_stream("SIGNOFF_EVENTS")
            .await
            .unwrap()
            .direct_get(seq)
            .await
            .unwrap();
        events += signoff_eventstore::Commit::decode(seq, &message.payload)
            .unwrap()
            .events
            .len();
    }
    assert_eq!(audit.len(), events, "every event exactly once");
    read_side.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_ends_identical_to_a_clean_rebuild() {
    let env = TestEnv::start().await;
    let binary = signoff_binary();
    let config_path = env.temp_path("signoff.json");
    env.config().save(&config_path).unwrap();
    let db_path = env.temp_path("crashy");
    let spawn = || {
        std::process::Command::new(&binary)
            .args(["projector", "--config"])
            .arg(&config_path)
            .arg("--db")
            .arg(&db_path)
            .args(["--http", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the projector process")
    };
    // Commands keep flowing while the projector is killed (SIGKILL) and restarted.
    let writer = {
        let env_url = env.nats.url();
        let token_alice = env.token("alice");
        let token_maria = env.token("maria");
        tokio::spawn(async move {
            let client = async_nats::connect(env_url).await.unwrap();
            let alice = signoff_api::client::CommandClient::new(client.clone(), token_alice);
            let maria = signoff_api::client::CommandClient::new(client, token_maria);
            let lanes = (0..8).map(|_| {
                let (alice, maria) = (alice.clone(), maria.clone());
                async move {
                    for _ in 0..60 {
                        let id = uuid::Uuid::new_v4();
                        let submit = json!({"commandId": uuid::Uuid::new_v4(), "requestId": id, "spec": {"title": "Deploy", "approvers": ["manager-team"]}});
                        accepted(alice.send("submit", &submit).await.unwrap());
                        accepted(maria.send("approve", &json!({"commandId": uuid::Uuid::new_v4(), "requestId": id})).await.unwrap());
                    }
                }
            });
            futures::future::join_all(lanes).await;
        })
    };
    let mut kills = 0;
    for delay_ms in [150u64, 40, 400, 90, 250, 10].into_iter().cycle() {
        let mut child = spawn();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.kill().expect("SIGKILL the projector");
        child.wait().unwrap();
        kills += 1;
        if writer.is_finished() && kills >= 6 {
            break;
        }
    }
    writer.await.unwrap();

    let last = env.last_sequence().await;
    let reached_by_killed = ProjectionDb::open(&db_path).unwrap().checkpoint().unwrap();
    assert!(reached_by_killed > 0, "the killed processes made progress");
    eprintln!("{kills} killed projectors reached sequence {reached_by_killed} of {last}");
    let survivor = env.start_read_side_at(&db_path).await;
    assert!(
        survivor.db.wait_for(last, WAIT).await.unwrap(),
        "the survivor catches up"
    );
    let crashed = survivor.db.dump().unwrap();
    survivor.shutdown().await;

    let clean = ProjectionDb::open(&env.temp_path("clean")).unwrap();
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    signoff_projections::rebuild(client, &env.config().stream.settings(), &clean, 500)
        .await
        .unwrap();
    assert_eq!(clean.checkpoint().unwrap(), last);
    assert_eq!(crashed.len(), clean.dump().unwrap().len());
    assert!(
        crashed == clean.dump().unwrap(),
        "killed-and-restarted projection equals a clean rebuild"
    );
}

/// Stopping the read side while a batch is being written finishes, flushes
/// and acknowledges that batch before `shutdown` returns: the same process
/// can reopen the database at once (sled locks an open database), and the
/// projector resumed after any number of such stops ends where one that was
/// never stopped would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_side_stopped_mid_batch_can_be_reopened_at_once() {
    let env = TestEnv::start().await;
    let alice = signoff_api::client::CommandClient::new(
        async_nats::connect(env.nats.url()).await.unwrap(),
        env.token("alice"),
    );
    let lanes = (0..8).map(|_| {
        let alice = alice.clone();
        async move {
            for _ in 0..375 {
                let submit = json!({"commandId": uuid::Uuid::new_v4(), "requestId": uuid::Uuid::new_v4(), "spec": {"title": "Deploy", "approvers": ["manager-team"]}});
                accepted(alice.send("submit", &submit).await.unwrap());
            }
        }
    });
    futures::future::join_all(lanes).await;
    let last = env.last_sequence().await;
    assert_eq!(last, 3000);

    let path = env.temp_path("stopped");
    let (mut stops, mut stopped_mid_stream, mut checkpoint) = (0, 0, 0);
    while checkpoint < last {
        let read_side = env.start_read_side_at(&path).await;
        if stops % 2 == 0 {
            // Stop as soon as a batch has landed (batches hold at most 1,000
            // of the 3,000 commits): the next one is being folded or written.
            assert!(read_side.db.wait_for(checkpoint + 1, WAIT).await.unwrap());
            if read_side.db.checkpoint().unwrap() < last {
                stopped_mid_stream += 1;
            }
        }
        // Odd rounds stop at once, while the consumer is being created.
        read_side.shutdown().await;
        let db =
            ProjectionDb::open(&path).expect("the database reopens as soon as shutdown returns");
        checkpoint = db.checkpoint().unwrap();
        stops += 1;
        assert!(stops < 100, "the stopped projector makes progress");
    }
    assert!(
        stopped_mid_stream > 0,
        "a stop came while the projector was catching up"
    );

    let resumed = env.start_read_side_at(&path).await;
    signoff_tests::faults::assert_views_equal_rebuild(
        env.client.clone(),
        &env.store,
        &resumed.db,
        &env.temp_path("clean"),
    )
    .await;
    resumed.shutdown().await;
}

/// A projector whose page cache (`projection.cacheMiB`, here 1 MiB) is a
/// fraction of its database evicts pages and reads them back on every batch,
/// approvals reaching back to requests submitted long before, and still ends
/// byte-identical to a clean rebuild with the default cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_with_a_small_page_cache_projects_the_same_bytes() {
    let env = TestEnv::start().await;
    let client = async_nats::connect(env.nats.url()).await.unwrap();
    let alice = signoff_api::client::CommandClient::new(client.clone(), env.token("alice"));
    let maria = signoff_api::client::CommandClient::new(client, env.token("maria"));
    let ids: Vec<uuid::Uuid> = (0..1200).map(|_| uuid::Uuid::new_v4()).collect();
    let send = |action: &'static str, ids: Vec<uuid::Uuid>| {
        let (alice, maria) = (alice.clone(), maria.clone());
        async move {
            for id in ids {
                let reply = match action {
                    "submit" => {
                        alice
                            .send("submit", &json!({"commandId": uuid::Uuid::new_v4(), "requestId": id, "spec": {"title": format!("Deploy {id}"), "approvers": ["manager-team"], "context": {"note": "x".repeat(400)}}}))
                            .await
                    }
                    _ => {
                        maria
                            .send("approve", &json!({"commandId": uuid::Uuid::new_v4(), "requestId": id}))
                            .await
                    }
                };
                accepted(reply.unwrap());
            }
        }
    };
    // Every request submitted first, then approved oldest first: each
    // approval folds a request whose page the small cache has long evicted.
    futures::future::join_all(ids.chunks(150).map(|c| send("submit", c.to_vec()))).await;
    futures::future::join_all(ids.chunks(150).map(|c| send("approve", c.to_vec()))).await;
    assert_eq!(env.last_sequence().await, 2400);

    let mut config = env.config();
    config.projection.cache_mib = 1;
    let path = env.temp_path("small-cache");
    let read_side = signoff_api::readside::start(&config, &path, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("read side starts");
    signoff_tests::faults::assert_views_equal_rebuild(
        env.client.clone(),
        &env.store,
        &read_side.db,
        &env.temp_path("clean"),
    )
    .await;
    let approved = read_side
        .db
        .list(&ListFilter::Status(Status::Approved), None, 2000)
        .unwrap();
    assert_eq!(approved.items.len(), 1200, "every request approved");
    let on_disk: u64 = std::fs::read_dir(&path)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(
        on_disk > 4 * 1024 * 1024,
        "the database ({on_disk} bytes) outgrew the 1 MiB cache"
    );
    read_side.shutdown().await;
}

/// A projector that meets an error it cannot get past (here a commit that
/// does not replay: a request whose history begins with an approval) stops
/// without skipping it, and the `signoff projector` process exits non-zero
/// naming the commit, instead of staying up serving a projection that no
/// longer advances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_that_cannot_go_on_exits_non_zero_and_says_why() {
    use signoff_engine::{Action, ApprovalCommand, CommandId};

    let env = TestEnv::start().await;
    let (good, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Important Action","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    // The events of an approval, committed as the first commit of another request.
    let loaded = env.store.load(good).await.unwrap();
    let approve = ApprovalCommand {
        command_id: CommandId(uuid::Uuid::new_v4()),
        request_id: good,
        actor: signoff_tests::actor("user_123"),
        at: signoff_tests::t0(),
        action: Action::Approve {
            comment: None,
            params_hash: None,
        },
    };
    let events = loaded.aggregate.decide(&approve, &env.directory).unwrap();
    let orphan = RequestId(uuid::Uuid::new_v4());
    let commit = signoff_eventstore::Commit {
        schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
        request_id: orphan,
        command_id: approve.command_id,
        command_hash: "test".into(),
        action: "approve".into(),
        actor: approve.actor.user.clone(),
        at: approve.at,
        events,
    };
    let appended = env
        .store
        .append(&signoff_eventstore::Loaded::empty(orphan), commit)
        .await
        .unwrap();

    let config_path = env.temp_path("signoff.json");
    env.config().save(&config_path).unwrap();
    let db_path = env.temp_path("stops");
    let mut child = std::process::Command::new(signoff_binary())
        .args(["projector", "--config"])
        .arg(&config_path)
        .arg("--db")
        .arg(&db_path)
        .args(["--http", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the projector process");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the projector process kept running after the commit that does not replay");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "exited with {status}; stderr: {stderr}");
    assert!(
        stderr.contains("the projector stopped")
            && stderr.contains(&format!("commit {}", appended.sequence))
            && stderr.contains("does not replay"),
        "{stderr}"
    );
    // Nothing of that commit's batch was written: not skipped, not half-applied.
    let db = ProjectionDb::open(&db_path).unwrap();
    assert!(db.checkpoint().unwrap() < appended.sequence);
    assert!(db.request(orphan).unwrap().is_none());
}

/// A commit the projector cannot read (as a newer writer's would look)
/// stops it, reported through `failed` and naming the commit, instead of
/// recreating its consumer forever on the same commit with the projection
/// standing still; nothing of that commit's batch is written.
#[tokio::test]
async fn a_commit_the_projector_cannot_read_stops_it_and_names_the_commit() {
    let env = TestEnv::start().await;
    env.submit_ok(
        "alice",
        r#"{"title":"Important Action","approvers":["user_123"]}"#,
        "{}",
    )
    .await;
    let unreadable = env.append_unreadable_commit().await;
    let path = env.temp_path("unreadable");
    let mut read_side = env.start_read_side_at(&path).await;
    let failure = tokio::time::timeout(Duration::from_secs(30), read_side.failed())
        .await
        .expect("the projector stops instead of retrying the same commit");
    assert!(
        failure.contains(&format!("message {unreadable} does not decode")),
        "{failure}"
    );
    read_side.shutdown().await;
    let db = ProjectionDb::open(&path).unwrap();
    assert!(db.checkpoint().unwrap() < unreadable);
}

/// Two read sides, each with its own `projection.consumerName`, follow the
/// log side by side on their own durable consumers, each up to the end, and
/// keep following; neither deletes the other's consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_read_sides_with_their_own_consumer_names_both_keep_up() {
    let env = TestEnv::start().await;
    let spec = r#"{"title":"Important Action","approvers":["user_123"]}"#;
    for _ in 0..20 {
        env.submit_ok("alice", spec, "{}").await;
    }
    let mut read_sides = Vec::new();
    for name in ["projector-a", "projector-b"] {
        let mut config = env.config();
        config.projection.consumer_name = name.into();
        let path = env.temp_path(name);
        read_sides.push(
            signoff_api::readside::start(&config, &path, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
    }
    for _ in 0..20 {
        env.submit_ok("alice", spec, "{}").await;
    }
    let last = env.last_sequence().await;
    for read_side in &read_sides {
        assert!(read_side.db.wait_for(last, WAIT).await.unwrap());
    }
    let stream = env
        .store
        .jetstream()
        .get_stream("SIGNOFF_EVENTS")
        .await
        .unwrap();
    for name in ["projector-a", "projector-b"] {
        let info = stream
            .consumer_info(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.delivered.stream_sequence, last, "{name}");
    }
    for read_side in read_sides {
        read_side.shutdown().await;
    }
}
