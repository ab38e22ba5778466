//! `signoff audit` through the real stack: after guide scenarios (approve,
//! reject, expire) the projector's trail verifies against the log; every kind
//! of tampering (an edited field, a deleted record, swapped records, a record
//! re-hashed by the attacker) is found and the first bad record named; replay
//! writes one row per event with the engine's status; an evidence pack
//! verifies offline and stops verifying when a byte changes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, Utc};
use serde_json::{json, Value};
use signoff_api::audit::{
    check_chain, check_db_indexes, compare, expected_from_log, export, replay, trail_from_api,
    trail_from_api_at, trail_from_db, verify_pack, verify_projection, Manifest, Mismatch,
    PackError, ReplayFilter, ReplayFormat, ReplayRow, ReplaySummary, REPLAY_COLUMNS,
};
use signoff_api::local_nats::LocalNats;
use signoff_engine::{RequestId, Role, Status};
use signoff_projections::{keys, AuditRecord, ProjectionDb, GENESIS};
use signoff_tests::{accepted, signoff_binary, t0, TestEnv};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const WAIT: Duration = Duration::from_secs(20);

/// The requests of [`story`], one per outcome.
struct Story {
    approved: RequestId,
    rejected: RequestId,
    expired: RequestId,
}

/// Guide scenarios, one clock minute apart: an approval (t0+1..2 min), a
/// rejection (t0+3..4 min) and an expiry (t0+5..7 min).
async fn story(env: &TestEnv) -> Story {
    let minute = || env.clock.advance(Minutes::minutes(1));
    minute();
    let (approved, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Important Action","approvers":["user_123"]}"#,
            r#"{"ticket":"PROJ-1"}"#,
        )
        .await;
    minute();
    accepted(env.approve("user_123", approved).await);
    minute();
    let (rejected, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    minute();
    accepted(env.reject("sofia", rejected, "too risky").await);
    minute();
    let (expired, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Time-Sensitive Action","approvers":["operations-team"],"expiresIn":60}"#,
            "{}",
        )
        .await;
    env.clock.advance(Minutes::minutes(2));
    accepted(env.act("scheduler", "expire", expired, json!({})).await);
    Story {
        approved,
        rejected,
        expired,
    }
}

/// An environment after [`story`], with the projector's database caught up
/// and stopped (so this process can open and tamper with it).
struct Fixture {
    env: TestEnv,
    story: Story,
    db_path: PathBuf,
}

async fn fixture() -> Fixture {
    let env = TestEnv::start().await;
    let db_path = env.temp_path("projection");
    let read_side = env.start_read_side_at(&db_path).await;
    let story = story(&env).await;
    assert!(read_side
        .db
        .wait_for(env.last_sequence().await, WAIT)
        .await
        .unwrap());
    read_side.shutdown().await;
    Fixture {
        env,
        story,
        db_path,
    }
}

impl Fixture {
    fn open(&self) -> ProjectionDb {
        ProjectionDb::open(&self.db_path).expect("the stopped projection opens")
    }

    async fn expected(&self) -> Vec<AuditRecord> {
        expected_from_log(&self.env.store, None)
            .await
            .expect("the log reads")
    }

    /// The verification `signoff audit verify --db` does: the streaming
    /// pass, and the full comparison that names a departure.
    async fn verify(&self, db: &ProjectionDb) -> Result<u64, Mismatch> {
        let streamed = verify_projection(&self.env.store, db).await;
        // The slow, whole-trail comparison agrees with it.
        let compared = match trail_from_db(db) {
            Ok(found) => compare(&self.expected().await, &found).map(|s| s.records),
            Err(e) => Err(e
                .downcast::<Mismatch>()
                .expect("a mismatch, not an I/O error")),
        };
        match streamed {
            Ok(summary) => {
                assert_eq!(
                    compared,
                    Ok(summary.records),
                    "streaming and full verify agree"
                );
                Ok(summary.records)
            }
            Err(e) => {
                let mismatch = e
                    .downcast::<Mismatch>()
                    .expect("a mismatch, not an I/O error");
                if let Err(full) = &compared {
                    assert_eq!(full, &mismatch, "streaming and full verify agree");
                }
                Err(mismatch)
            }
        }
    }

    /// [`verify_projection`] alone, on a projection whose trail is intact
    /// but whose pointers may not be.
    async fn verify_pointers(&self, db: &ProjectionDb) -> Result<u64, Mismatch> {
        verify_projection(&self.env.store, db)
            .await
            .map(|summary| summary.records)
            .map_err(|e| {
                e.downcast::<Mismatch>()
                    .expect("a mismatch, not an I/O error")
            })
    }

    /// Global index of the first record of `request` whose event is `event`.
    async fn index_of(&self, request: RequestId, event: &str) -> u64 {
        self.expected()
            .await
            .iter()
            .find(|r| r.request_id == request && r.event == event)
            .unwrap_or_else(|| panic!("no {event} record"))
            .index
    }
}

fn raw(db: &ProjectionDb, index: u64) -> Value {
    serde_json::from_slice(
        &db.tree()
            .get(keys::audit(index))
            .unwrap()
            .expect("stored record"),
    )
    .unwrap()
}

fn put_raw(db: &ProjectionDb, index: u64, value: &Value) {
    db.tree()
        .insert(keys::audit(index), serde_json::to_vec(value).unwrap())
        .unwrap();
}

fn events_in_log(expected: &[AuditRecord], request: RequestId) -> Vec<&str> {
    expected
        .iter()
        .filter(|r| r.request_id == request)
        .map(|r| r.event.as_str())
        .collect()
}

#[tokio::test]
async fn the_untouched_trail_verifies_against_the_log() {
    let f = fixture().await;
    let expected = f.expected().await;
    assert_eq!(
        events_in_log(&expected, f.story.approved),
        [
            "RequestSubmitted",
            "ApprovalGranted",
            "StageApproved",
            "RequestApproved"
        ]
    );
    assert_eq!(
        events_in_log(&expected, f.story.rejected),
        ["RequestSubmitted", "RejectionRecorded", "RequestRejected"]
    );
    assert_eq!(
        events_in_log(&expected, f.story.expired),
        ["RequestSubmitted", "RequestExpired"]
    );

    let db = f.open();
    let found = trail_from_db(&db).unwrap();
    let summary = compare(&expected, &found).expect("verifies");
    assert_eq!((summary.records, summary.requests), (9, 3));
    assert_eq!(summary.head, found.last().unwrap().hash);
    assert_eq!(check_chain(&found).unwrap(), summary);
    check_db_indexes(&db, &expected).expect("the per-request index and heads agree");
    // Reading only up to an earlier sequence is a prefix of the same chain.
    let first_commit = expected_from_log(&f.env.store, Some(1)).await.unwrap();
    assert_eq!(first_commit[..], expected[..1]);
    assert_eq!(compare(&expected[..1], &found[..1]).unwrap().records, 1);
    assert_eq!(first_commit[0].prev_hash, GENESIS);

    // Verify compares the stored bytes with the derived record's; a record a
    // store re-encoded (other key order, whitespace) is still the same
    // record, and decoding it says so.
    assert_eq!(f.verify(&db).await, Ok(9));
    let record = raw(&db, 2);
    db.tree()
        .insert(keys::audit(2), serde_json::to_vec_pretty(&record).unwrap())
        .unwrap();
    assert_eq!(f.verify(&db).await, Ok(9));
}

#[tokio::test]
async fn an_edited_field_is_named_with_its_index() {
    let f = fixture().await;
    let k = f.index_of(f.story.approved, "ApprovalGranted").await;
    let db = f.open();
    let mut record = raw(&db, k);
    record["actor"] = json!("mallory");
    put_raw(&db, k, &record);

    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (k, "actor"),
        "{mismatch}"
    );
    assert_eq!(mismatch.request_id, Some(f.story.approved));
    assert!(
        mismatch
            .to_string()
            .contains(r#"the log implies "user_123", the trail holds "mallory""#),
        "{mismatch}"
    );
    // Not re-hashed: the trail's own chain already shows it.
    let chain = check_chain(&trail_from_db(&db).unwrap()).unwrap_err();
    assert_eq!((chain.index, chain.what()), (k, "hash"), "{chain}");
}

#[tokio::test]
async fn a_deleted_record_is_missing() {
    let f = fixture().await;
    let k = f.index_of(f.story.rejected, "RejectionRecorded").await;
    let db = f.open();
    db.tree().remove(keys::audit(k)).unwrap();

    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (k, "missing"),
        "{mismatch}"
    );
    assert_eq!(mismatch.request_id, Some(f.story.rejected));
    // Deleting the last record is missing too.
    let db_last = 9;
    db.tree()
        .insert(
            keys::audit(k),
            serde_json::to_vec(&f.expected().await[k as usize - 1]).unwrap(),
        )
        .unwrap();
    db.tree().remove(keys::audit(db_last)).unwrap();
    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (db_last, "missing"),
        "{mismatch}"
    );
    put_raw(
        &db,
        db_last,
        &serde_json::to_value(&f.expected().await[8]).unwrap(),
    );
    assert_eq!(f.verify(&db).await, Ok(9), "restored");
}

#[tokio::test]
async fn swapped_records_are_out_of_order_at_the_first_of_them() {
    let f = fixture().await;
    let (i, j) = (
        f.index_of(f.story.approved, "ApprovalGranted").await,
        f.index_of(f.story.rejected, "RequestSubmitted").await,
    );
    assert!(i < j);
    let db = f.open();
    let (a, b) = (raw(&db, i), raw(&db, j));
    put_raw(&db, i, &b);
    put_raw(&db, j, &a);

    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (i, "order"),
        "{mismatch}"
    );
    assert!(
        mismatch
            .to_string()
            .contains(&format!("record {j} stands in its place")),
        "{mismatch}"
    );
}

#[tokio::test]
async fn a_record_re_hashed_by_the_attacker_breaks_the_next_link() {
    let f = fixture().await;
    let k = f.index_of(f.story.rejected, "RejectionRecorded").await;
    let db = f.open();
    let mut record: AuditRecord = serde_json::from_value(raw(&db, k)).unwrap();
    assert_eq!(record.note.as_deref(), Some("too risky"));
    record.note = Some("fine by me".into());
    record.hash = record.compute_hash();
    put_raw(&db, k, &serde_json::to_value(&record).unwrap());

    let found = trail_from_db(&db).unwrap();
    // The trail alone: record k is self-consistent now, its successor's link is not.
    let chain = check_chain(&found).unwrap_err();
    assert_eq!((chain.index, chain.what()), (k + 1, "prevHash"), "{chain}");
    // Against the log: record k itself already differs.
    let mismatch = compare(&f.expected().await, &found).unwrap_err();
    assert_eq!((mismatch.index, mismatch.what()), (k, "note"), "{mismatch}");

    // Re-hashing the whole rest of the chain keeps the trail self-consistent,
    // and the log still names record k.
    let mut rechained = found.clone();
    for n in k as usize..rechained.len() {
        let prev = rechained[n - 1].hash.clone();
        let request = rechained[n].request_id;
        let request_prev = rechained[..n]
            .iter()
            .rev()
            .find(|r| r.request_id == request)
            .map_or(GENESIS.to_owned(), |r| r.hash.clone());
        let record = &mut rechained[n];
        record.prev_hash = prev;
        record.request_prev_hash = request_prev;
        record.hash = record.compute_hash();
    }
    assert!(check_chain(&rechained).is_ok());
    let mismatch = compare(&f.expected().await, &rechained).unwrap_err();
    assert_eq!((mismatch.index, mismatch.what()), (k, "note"), "{mismatch}");
}

#[tokio::test]
async fn undecodable_records_and_bad_index_entries_are_named() {
    let f = fixture().await;
    let expected = f.expected().await;
    let db = f.open();
    db.tree()
        .insert(keys::audit(4), b"{\"index\":4,".to_vec())
        .unwrap();
    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (4, "undecodable"),
        "{mismatch}"
    );
    // A field the record type does not have (serde would drop it, and `hash` does not cover it).
    let mut padded = serde_json::to_value(&expected[3]).unwrap();
    padded["approvedBy"] = json!("mallory");
    put_raw(&db, 4, &padded);
    let mismatch = f.verify(&db).await.unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (4, "undecodable"),
        "{mismatch}"
    );
    assert!(mismatch.to_string().contains("approvedBy"), "{mismatch}");
    put_raw(&db, 4, &serde_json::to_value(&expected[3]).unwrap());
    assert_eq!(f.verify(&db).await, Ok(9));

    // The per-request index points the second record of `approved` elsewhere.
    let mut stored = db.stored_request(f.story.approved).unwrap().unwrap();
    let second = stored.audit[1];
    stored.audit[1] = 7;
    db.put_stored_request(&stored).unwrap();
    let mismatch = check_db_indexes(&db, &expected).unwrap_err();
    assert_eq!(
        (mismatch.index, mismatch.what()),
        (second, "index"),
        "{mismatch}"
    );
    assert!(
        mismatch.to_string().contains("request index 2 points to 7"),
        "{mismatch}"
    );
    // Verify (which compares digests of the pointers while it streams the
    // log) reports the same.
    assert_eq!(f.verify_pointers(&db).await, Err(mismatch));
    // Its chain head rewound by one record.
    stored.audit[1] = second;
    stored.chain.next_index -= 1;
    db.put_stored_request(&stored).unwrap();
    let mismatch = check_db_indexes(&db, &expected).unwrap_err();
    assert_eq!(mismatch.what(), "index", "{mismatch}");
    assert!(mismatch.to_string().contains("chain head"), "{mismatch}");
    assert_eq!(f.verify_pointers(&db).await, Err(mismatch));
    // Its plan's spec hash, the one field a chain head holds besides its place.
    stored.chain.next_index += 1;
    let spec_hash = stored.chain.spec_hash.replace("sha256:00".into());
    db.put_stored_request(&stored).unwrap();
    let mismatch = check_db_indexes(&db, &expected).unwrap_err();
    assert!(mismatch.to_string().contains("chain head"), "{mismatch}");
    assert_eq!(f.verify_pointers(&db).await, Err(mismatch));
    stored.chain.spec_hash = spec_hash;
    db.put_stored_request(&stored).unwrap();
    check_db_indexes(&db, &expected).expect("restored");
    assert_eq!(
        f.verify(&db).await,
        Ok(9),
        "the global trail itself is intact"
    );

    // A request the log has no records of, holding an index.
    let mut stranger = stored.clone();
    stranger.record.request_id = RequestId(uuid::Uuid::from_u128(0x5752_a6e7));
    stranger.audit = vec![2];
    db.put_stored_request(&stranger).unwrap();
    let mismatch = check_db_indexes(&db, &expected).unwrap_err();
    assert!(
        mismatch
            .to_string()
            .contains("for a request the log has no records of"),
        "{mismatch}"
    );
    assert_eq!(f.verify_pointers(&db).await, Err(mismatch));
    // Holding none (and a fresh chain), it is no concern of the trail's.
    stranger.audit.clear();
    stranger.chain = signoff_projections::ChainHead::default();
    db.put_stored_request(&stranger).unwrap();
    assert_eq!(f.verify(&db).await, Ok(9));

    // The global chain head (`m:audit`) a record behind.
    let head = db.global_head().unwrap();
    let behind = signoff_projections::ChainHead {
        next_index: head.next_index - 1,
        ..head.clone()
    };
    db.tree()
        .insert(keys::AUDIT_HEAD, serde_json::to_vec(&behind).unwrap())
        .unwrap();
    let mismatch = check_db_indexes(&db, &expected).unwrap_err();
    assert_eq!(
        (mismatch.what(), mismatch.index),
        ("index", head.next_index - 1),
        "{mismatch}"
    );
    assert_eq!(f.verify_pointers(&db).await, Err(mismatch));
    db.tree()
        .insert(keys::AUDIT_HEAD, serde_json::to_vec(&head).unwrap())
        .unwrap();
    assert_eq!(f.verify(&db).await, Ok(9));
}

/// All rows of a replay.
async fn replayed(
    env: &TestEnv,
    filter: ReplayFilter,
    format: ReplayFormat,
) -> (String, ReplaySummary) {
    let mut out = Vec::new();
    let summary = replay(&env.store, &filter, format, &mut out)
        .await
        .expect("replays");
    (String::from_utf8(out).unwrap(), summary)
}

fn rows(jsonl: &str) -> Vec<ReplayRow> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("a replay row"))
        .collect()
}

fn statuses(rows: &[ReplayRow], request: RequestId) -> Vec<Status> {
    rows.iter()
        .filter(|r| r.request_id == request)
        .map(|r| r.status_after)
        .collect()
}

/// A CSV document as rows of cells (quotes and doubled quotes understood).
fn csv_cells(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell, mut quoted) = (Vec::new(), Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the document ends with a newline"
    );
    rows
}

#[tokio::test]
async fn replay_writes_one_row_per_event_with_the_engines_status() {
    let env = TestEnv::start().await;
    let s = story(&env).await;
    use Status::{Approved, Expired, Pending, Rejected};

    let (jsonl, summary) = replayed(&env, ReplayFilter::default(), ReplayFormat::Jsonl).await;
    assert_eq!(
        summary,
        ReplaySummary {
            commits: 6,
            events: 9,
            requests: 3
        }
    );
    let all = rows(&jsonl);
    assert_eq!(all.len(), 9);
    assert_eq!(
        statuses(&all, s.approved),
        [Pending, Pending, Pending, Approved]
    );
    assert_eq!(statuses(&all, s.rejected), [Pending, Pending, Rejected]);
    assert_eq!(statuses(&all, s.expired), [Pending, Expired]);
    let rejection = all.iter().find(|r| r.event == "RejectionRecorded").unwrap();
    assert_eq!(
        (
            rejection.actor.as_str(),
            rejection.note.as_deref(),
            rejection.team.as_deref(),
            rejection.action.as_str()
        ),
        ("sofia", Some("too risky"), Some("security-team"), "reject")
    );
    assert_eq!(
        (rejection.rejections, rejection.min_rejections),
        (Some(1), Some(1))
    );
    let expiry = all.iter().find(|r| r.event == "RequestExpired").unwrap();
    assert_eq!(
        (expiry.actor.as_str(), expiry.at),
        ("scheduler", t0() + Minutes::minutes(7))
    );
    assert!(
        expiry
            .rule
            .as_deref()
            .unwrap()
            .starts_with("expiresIn elapsed"),
        "{:?}",
        expiry.rule
    );
    assert!(all
        .windows(2)
        .all(|w| (w[0].sequence, w[0].event_in_commit) < (w[1].sequence, w[1].event_in_commit)));
    // The engine's status agrees with the outcome the audit trail records.
    let expected = expected_from_log(&env.store, None).await.unwrap();
    for (row, record) in all.iter().zip(&expected) {
        assert_eq!(
            (row.sequence, row.event_in_commit),
            (record.sequence, record.event_in_commit)
        );
        assert_eq!(row.status_after, record.outcome, "{row:?}");
        assert_eq!(row.request_index, record.request_index);
    }

    // CSV: the same rows, cell for cell.
    let (csv, csv_summary) = replayed(&env, ReplayFilter::default(), ReplayFormat::Csv).await;
    assert_eq!(csv_summary, summary);
    let cells = csv_cells(&csv);
    assert_eq!(cells[0], REPLAY_COLUMNS);
    assert_eq!(cells.len(), 1 + 9);
    for (line, row) in cells[1..].iter().zip(&all) {
        let json = serde_json::to_value(row).unwrap();
        let wanted: Vec<String> = REPLAY_COLUMNS
            .iter()
            .map(|c| match &json[*c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(line, &wanted);
    }
    let status_column = REPLAY_COLUMNS
        .iter()
        .position(|c| *c == "status_after")
        .unwrap();
    assert_eq!(
        cells[1..]
            .iter()
            .filter(|r| r[status_column] == "approved")
            .count(),
        1,
        "one event leaves a request approved"
    );

    // One request: its subject only, its own indexes.
    let only = ReplayFilter {
        request: Some(s.rejected),
        ..Default::default()
    };
    let (jsonl, summary) = replayed(&env, only, ReplayFormat::Jsonl).await;
    let rejected = rows(&jsonl);
    assert_eq!(
        (summary.commits, summary.events, summary.requests),
        (2, 3, 1)
    );
    assert!(rejected.iter().all(|r| r.request_id == s.rejected));
    assert_eq!(
        rejected.iter().map(|r| r.request_index).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        statuses(&rejected, s.rejected),
        [Pending, Pending, Rejected]
    );
    let unknown = ReplayFilter {
        request: Some(RequestId(uuid::Uuid::new_v4())),
        ..Default::default()
    };
    let error = replay(&env.store, &unknown, ReplayFormat::Jsonl, Vec::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("has no commits"), "{error}");
}

#[tokio::test]
async fn replay_filters_by_commit_time_but_folds_the_whole_history() {
    let env = TestEnv::start().await;
    let s = story(&env).await;
    let at = |minutes| t0() + Minutes::minutes(minutes);
    let window = |since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>| ReplayFilter {
        request: None,
        since,
        until,
    };

    // [t0+3, t0+5): the rejected request's submission and rejection.
    let (jsonl, summary) =
        replayed(&env, window(Some(at(3)), Some(at(5))), ReplayFormat::Jsonl).await;
    let in_window = rows(&jsonl);
    assert_eq!(
        (summary.commits, summary.events, summary.requests),
        (2, 3, 1)
    );
    assert!(in_window
        .iter()
        .all(|r| r.request_id == s.rejected && r.at >= at(3) && r.at < at(5)));
    // Since alone; until alone (exclusive).
    let (jsonl, _) = replayed(&env, window(Some(at(5)), None), ReplayFormat::Jsonl).await;
    assert_eq!(
        statuses(&rows(&jsonl), s.expired),
        [Status::Pending, Status::Expired]
    );
    assert_eq!(rows(&jsonl).len(), 2);
    let (jsonl, summary) = replayed(&env, window(None, Some(at(2))), ReplayFormat::Jsonl).await;
    assert_eq!(
        (summary.events, rows(&jsonl)[0].event.as_str()),
        (1, "RequestSubmitted")
    );
    // A window that starts after the submission still reports the status the
    // whole history leads to.
    let late = ReplayFilter {
        request: Some(s.approved),
        since: Some(at(2)),
        until: None,
    };
    let (jsonl, _) = replayed(&env, late, ReplayFormat::Csv).await;
    let cells = csv_cells(&jsonl);
    assert_eq!(cells.len(), 1 + 3, "the approval commit's three events");
    let status_column = REPLAY_COLUMNS
        .iter()
        .position(|c| *c == "status_after")
        .unwrap();
    assert_eq!(cells[3][status_column], "approved");
    let (empty, summary) = replayed(&env, window(Some(at(60)), None), ReplayFormat::Csv).await;
    assert_eq!(
        (summary.events, csv_cells(&empty).len()),
        (0, 1),
        "the header alone"
    );
}

fn python(dir: &Path, script: &str) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("python3 runs (the README names Python 3 as a requirement)")
}

/// Step 2 of VERIFY.md, exactly as written there.
fn verify_md_script(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("VERIFY.md")).unwrap();
    let start = text.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

const SHA256_OF_FILES: &str = r#"
import hashlib, json
manifest = json.load(open("manifest.json"))
for name, digest in manifest["files"].items():
    assert hashlib.sha256(open(name, "rb").read()).hexdigest() == digest, name
print("files OK")
"#;

#[tokio::test]
async fn an_evidence_pack_verifies_offline_until_a_byte_changes() {
    let f = fixture().await;
    let dir = f.env.temp_path("pack");
    let summary = export(&f.env.store, f.story.approved, &dir)
        .await
        .expect("exports");
    assert_eq!(
        (summary.commits, summary.records, summary.status),
        (2, 4, Status::Approved)
    );

    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        (manifest.format, manifest.request_id, manifest.records),
        (1, f.story.approved, 4)
    );
    assert_eq!(
        manifest.files.keys().collect::<Vec<_>>(),
        ["VERIFY.md", "audit.jsonl", "commits.jsonl"]
    );
    assert_eq!(manifest.request_chain_head, summary.request_chain_head);
    let commits: Vec<Value> = std::fs::read_to_string(dir.join("commits.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(commits.len(), 2);
    assert_eq!(commits[1]["commit"]["action"], "approve");
    assert!(commits[0]["sequence"].as_u64().unwrap() < commits[1]["sequence"].as_u64().unwrap());
    assert_eq!(
        commits[0]["commit"]["events"][0]["RequestSubmitted"]["params"],
        json!({"ticket": "PROJ-1"})
    );

    // audit.jsonl holds the records exactly as the projector stores them,
    // global index and prevHash included.
    let audit: Vec<AuditRecord> = std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let db = f.open();
    assert_eq!(audit, db.audit_for_request(f.story.approved).unwrap());
    assert_eq!(audit.last().unwrap().hash, manifest.request_chain_head);
    drop(db);

    let verified = verify_pack(&dir).expect("a fresh pack verifies");
    assert_eq!(
        (verified.commits, verified.records, verified.status),
        (2, 4, Status::Approved)
    );
    // The offline procedure of VERIFY.md, with nothing of signoff.
    let out = python(&dir, SHA256_OF_FILES);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = python(&dir, &verify_md_script(&dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("OK: 4 records, request chain head sha256:"));

    // One byte of audit.jsonl changed.
    let path = dir.join("audit.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replacen("ok from user_123", "ok from user_124", 1);
    assert_ne!(edited, original);
    std::fs::write(&path, &edited).unwrap();
    match verify_pack(&dir) {
        Err(PackError::FileHash { file, .. }) => assert_eq!(file, "audit.jsonl"),
        other => panic!("expected a file hash mismatch, got {other:?}"),
    }
    assert!(!python(&dir, SHA256_OF_FILES).status.success());
    let out = python(&dir, &verify_md_script(&dir));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("record 2: hash"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The manifest updated to match: the record's own hash gives it away.
    let mut manifest_value: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let rewrite_manifest = |manifest_value: &mut Value, head: Option<&str>| {
        let digest = sha256_hex_of(&dir.join("audit.jsonl"));
        manifest_value["files"]["audit.jsonl"] = json!(digest);
        if let Some(head) = head {
            manifest_value["requestChainHead"] = json!(head);
        }
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec_pretty(manifest_value).unwrap(),
        )
        .unwrap();
    };
    rewrite_manifest(&mut manifest_value, None);
    match verify_pack(&dir) {
        Err(PackError::Record { line, problem }) => {
            assert_eq!(line, 2);
            assert!(problem.contains("hashes to"), "{problem}");
        }
        other => panic!("expected a record hash mismatch, got {other:?}"),
    }

    // Every hash and link re-computed by the attacker: the pack agrees with
    // itself (the Python check passes) but not with its commits.
    let mut forged = audit.clone();
    forged[1].note = Some("ok from user_124".into());
    for n in 1..forged.len() {
        let prev = forged[n - 1].hash.clone();
        forged[n].request_prev_hash = prev.clone();
        if forged[n].sequence == forged[n - 1].sequence {
            forged[n].prev_hash = prev;
        }
        forged[n].hash = forged[n].compute_hash();
    }
    let text: String = forged
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    rewrite_manifest(&mut manifest_value, Some(&forged.last().unwrap().hash));
    assert!(
        python(&dir, &verify_md_script(&dir)).status.success(),
        "consistent with itself"
    );
    match verify_pack(&dir) {
        Err(PackError::Record { line, problem }) => {
            assert_eq!(line, 2);
            assert!(
                problem.contains("does not follow from commit") && problem.contains("`note`"),
                "{problem}"
            );
        }
        other => panic!("expected records that do not follow from the commits, got {other:?}"),
    }
    // Exporting into a non-empty directory is refused.
    assert!(export(&f.env.store, f.story.approved, &dir).await.is_err());
}

fn sha256_hex_of(path: &Path) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())")
        .arg(path)
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn admin(env: &TestEnv) -> String {
    env.issuer.issue("auditor", &[Role::Admin], 3600)
}

#[tokio::test]
async fn the_trail_read_over_the_query_api_verifies() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    story(&env).await;
    let last = env.last_sequence().await;
    // The API waits for the projector to reach the log's end.
    let found = trail_from_api_at(&read_side.http_url(), &admin(&env), last, WAIT)
        .await
        .unwrap();
    let expected = expected_from_log(&env.store, Some(last)).await.unwrap();
    assert_eq!(compare(&expected, &found).unwrap().records, 9);
    assert_eq!(found, read_side.db.audit_after(0, 1000).unwrap());
    assert_eq!(
        trail_from_api(&format!("{}/", read_side.http_url()), &admin(&env))
            .await
            .unwrap(),
        found
    );

    let error = trail_from_api(&read_side.http_url(), &env.token("alice"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("HTTP 403"), "{error:#}");
    let error = trail_from_api(&read_side.http_url(), "not-a-token")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("HTTP 401"), "{error:#}");
    read_side.shutdown().await;
}

/// A stand-in query API serving `records` four at a time (whatever `limit`
/// asks), chunked, to an `Authorization: Bearer secret` caller only.
async fn fake_api(records: Vec<AuditRecord>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/base", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let records = records.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let request = String::from_utf8(request).unwrap();
                let target = request.split(' ').nth(1).unwrap().to_owned();
                let answer = if !request
                    .to_ascii_lowercase()
                    .contains("authorization: bearer secret")
                {
                    "HTTP/1.1 401 Unauthorized\r\ncontent-length: 15\r\nconnection: close\r\n\r\nUNAUTHENTICATED".to_owned()
                } else if !target.starts_with("/base/v1/audit?after=") {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_owned()
                } else {
                    let after: u64 = target["/base/v1/audit?after=".len()..]
                        .split('&')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let page: Vec<&AuditRecord> =
                        records.iter().filter(|r| r.index > after).take(4).collect();
                    let next = (page.len() == 4).then(|| page.last().unwrap().index);
                    let body = serde_json::to_string(
                        &json!({"items": page, "next": next, "checkpoint": 99}),
                    )
                    .unwrap();
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                };
                socket.write_all(answer.as_bytes()).await.unwrap();
                let _ = socket.shutdown().await;
            });
        }
    });
    url
}

#[tokio::test]
async fn the_http_client_follows_pages_and_decodes_chunked_answers() {
    let f = fixture().await;
    let expected = f.expected().await;
    let url = fake_api(expected.clone()).await;
    let found = trail_from_api(&url, "secret").await.unwrap();
    assert_eq!(found, expected, "9 records over 3 pages");
    let error = trail_from_api(&url, "wrong").await.unwrap_err();
    assert!(
        error.to_string().contains("HTTP 401: UNAUTHENTICATED"),
        "{error:#}"
    );
    // https is spoken (here to a plain-HTTP server, so the handshake fails, named).
    let error = trail_from_api(&url.replace("http://", "https://"), "secret")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("GET https://"), "{error:#}");
    let error = trail_from_api(&url.replace("http://", "ftp://"), "secret")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected an http:// or https:// URL"),
        "{error:#}"
    );
}

/// [`signoff_binary`] builds the binary only when it is missing: refuse to
/// test one older than the sources it is built from.
fn fresh_signoff_binary() -> PathBuf {
    fn newest(path: &Path) -> std::time::SystemTime {
        let meta = std::fs::metadata(path).unwrap();
        if !meta.is_dir() {
            return meta.modified().unwrap();
        }
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| newest(&e.unwrap().path()))
            .max()
            .unwrap_or(std::time::UNIX_EPOCH)
    }
    let binary = signoff_binary();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = [
        "api",
        "engine",
        "eventstore",
        "projections",
        "schemas",
        "Cargo.lock",
    ]
    .iter()
    .map(|p| newest(&root.join(p)))
    .max()
    .unwrap();
    let built = std::fs::metadata(&binary).unwrap().modified().unwrap();
    assert!(
        built >= sources,
        "{} is older than its sources: run `cargo build -p signoff` (or `cargo test --workspace`) first",
        binary.display()
    );
    binary
}

fn signoff(binary: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(binary)
        .args(args.iter().map(|a| AsRef::<std::ffi::OsStr>::as_ref(*a)))
        .env_remove("SIGNOFF_CONFIG")
        .env_remove("SIGNOFF_TOKEN")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run signoff")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_replays_verifies_and_exports() {
    let f = fixture().await;
    let binary = fresh_signoff_binary();
    let config = f.env.temp_path("signoff.json");
    f.env.config().save(&config).unwrap();
    let head = f.expected().await.last().unwrap().hash.clone();

    let out = signoff(
        &binary,
        &[
            &"audit",
            &"verify",
            &"--config",
            &config,
            &"--db",
            &f.db_path,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("audit verified: 9 records, head {head}\n")
    );

    let csv = f.env.temp_path("history.csv");
    let out = signoff(
        &binary,
        &[
            &"audit",
            &"replay",
            &"--config",
            &config,
            &"--format",
            &"csv",
            &"--out",
            &csv,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(csv_cells(&std::fs::read_to_string(&csv).unwrap()).len(), 10);
    assert!(
        text(&out.stderr).contains("replayed 9 events of 6 commits (3 requests)"),
        "{}",
        text(&out.stderr)
    );
    let out = signoff(
        &binary,
        &[
            &"audit",
            &"replay",
            &"--config",
            &config,
            &"--request",
            &f.story.expired.to_string(),
            &"--since",
            &"2026-11-26T10:06:00Z",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        rows(&text(&out.stdout))
            .iter()
            .map(|r| r.status_after)
            .collect::<Vec<_>>(),
        [Status::Expired]
    );

    let pack = f.env.temp_path("pack");
    let request = f.story.rejected.to_string();
    let out = signoff(
        &binary,
        &[
            &"audit",
            &"export",
            &"--config",
            &config,
            &"--request",
            &request,
            &"--out",
            &pack,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = signoff(&binary, &[&"audit", &"verify-pack", &pack]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!(
        "evidence pack verified: request {request}, 2 commits, 3 records"
    )));

    // Over the query API of a fresh read side (its own database).
    let read_side = f.env.start_read_side().await;
    let token = admin(&f.env);
    let url = read_side.http_url();
    let out = signoff(
        &binary,
        &[
            &"audit",
            &"verify",
            &"--config",
            &config,
            &"--api",
            &url,
            &"--token",
            &token,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("audit verified: 9 records, head {head}\n")
    );
    read_side.shutdown().await;

    // Tampered: non-zero exit naming the record and the field.
    let k = f.index_of(f.story.rejected, "RejectionRecorded").await;
    {
        let db = f.open();
        let mut record = raw(&db, k);
        record["note"] = json!("fine by me");
        put_raw(&db, k, &record);
        db.flush().await.unwrap();
    }
    let out = signoff(
        &binary,
        &[
            &"audit",
            &"verify",
            &"--config",
            &config,
            &"--db",
            &f.db_path,
        ],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("audit verification FAILED"), "{stderr}");
    assert!(
        stderr.contains(&format!("record {k} (request {})", f.story.rejected)),
        "{stderr}"
    );
    assert!(stderr.contains("field `note` differs"), "{stderr}");
    assert!(
        stderr.contains(&format!("the trail's own hash chain breaks at record {k}")),
        "{stderr}"
    );

    // One byte of a pack changed.
    let audit = pack.join("audit.jsonl");
    let bytes = std::fs::read_to_string(&audit)
        .unwrap()
        .replacen("too risky", "too risk!", 1);
    std::fs::write(&audit, bytes).unwrap();
    let out = signoff(&binary, &[&"audit", &"verify-pack", &pack]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("audit.jsonl: sha256 is"),
        "{}",
        text(&out.stderr)
    );

    // Neither --db nor --api.
    let out = signoff(&binary, &[&"audit", &"verify", &"--config", &config]);
    assert!(!out.status.success());
}

/// A replay writer that freezes the server (SIGSTOP) when the pass has
/// written `at_row` rows, and says when it did.
struct FreezingWriter<'a> {
    out: Vec<u8>,
    rows: usize,
    at_row: usize,
    nats: &'a LocalNats,
    frozen: Option<tokio::sync::oneshot::Sender<std::time::Instant>>,
}

impl std::io::Write for FreezingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.rows += buf.iter().filter(|b| **b == b'\n').count();
        if self.rows >= self.at_row {
            if let Some(frozen) = self.frozen.take() {
                self.nats.pause().expect("SIGSTOP");
                let _ = frozen.send(std::time::Instant::now());
            }
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A whole-log pass whose server goes silent mid-read picks up after the
/// last commit it saw instead of failing or starting again: a replay read
/// across a 3 s freeze of the server (the store's read stall at 500 ms, so
/// the pass gives up on its consumer several times) writes exactly the rows
/// of an undisturbed replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_log_pass_resumes_after_the_server_goes_silent() {
    use futures::StreamExt as _;
    use signoff_engine::{Action, ApprovalCommand, CommandId, RawJson, WorkflowSpec};
    use signoff_eventstore::{Commit, EventStore, Loaded};

    let env = TestEnv::start().await;
    // More commits than the pass reads ahead of its rows.
    const COMMITS: usize = 12_000;
    let spec = WorkflowSpec::from_json(r#"{"title":"Deploy","approvers":["maria"]}"#).unwrap();
    let commits: Vec<Commit> = (0..COMMITS)
        .map(|_| {
            let request_id = RequestId(uuid::Uuid::new_v4());
            let submit = ApprovalCommand {
                command_id: CommandId(uuid::Uuid::new_v4()),
                request_id,
                actor: signoff_tests::actor("alice"),
                at: t0(),
                action: Action::Submit {
                    spec: Box::new(spec.clone()),
                    params: RawJson::parse(r#"{"service":"billing"}"#).unwrap(),
                },
            };
            let events = Loaded::empty(request_id)
                .aggregate
                .decide(&submit, &env.directory)
                .unwrap();
            Commit {
                schema_version: signoff_engine::EVENT_SCHEMA_VERSION,
                request_id,
                command_id: submit.command_id,
                command_hash: "test".into(),
                action: "submit".into(),
                actor: submit.actor.user.clone(),
                at: submit.at,
                events,
            }
        })
        .collect();
    futures::stream::iter(commits)
        .map(|commit| {
            let store = env.store.clone();
            async move {
                store
                    .append(&Loaded::empty(commit.request_id), commit)
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;

    let (undisturbed, summary) = replayed(&env, ReplayFilter::default(), ReplayFormat::Jsonl).await;
    assert_eq!(summary.commits, COMMITS as u64);

    let store = EventStore::open(env.client.clone(), env.store.settings().clone())
        .await
        .unwrap()
        .with_read_stall(Duration::from_millis(500));
    let freeze = Duration::from_secs(3);
    let (frozen, frozen_at) = tokio::sync::oneshot::channel();
    let mut writer = FreezingWriter {
        out: Vec::new(),
        rows: 0,
        at_row: 100,
        nats: &env.nats,
        frozen: Some(frozen),
    };
    // The server goes on (SIGCONT) `freeze` after the writer froze it; this
    // runs while the pass waits on the silent server.
    let thawing = async {
        let frozen_at = frozen_at.await.expect("the pass reaches its 100th row");
        tokio::time::sleep(freeze).await;
        env.nats.resume().expect("SIGCONT");
        frozen_at
    };
    let replaying = async {
        let summary = replay(
            &store,
            &ReplayFilter::default(),
            ReplayFormat::Jsonl,
            &mut writer,
        )
        .await
        .expect("the pass resumes after the freeze");
        (summary, std::time::Instant::now())
    };
    let (frozen_at, (resumed, ended_at)) = tokio::join!(thawing, replaying);
    // The pass was still reading when the server came back: it went
    // through the silence, not around it.
    assert!(
        ended_at.duration_since(frozen_at) >= freeze,
        "the pass ended {:?} after the freeze began",
        ended_at.duration_since(frozen_at)
    );
    assert_eq!(resumed, summary);
    assert_eq!(String::from_utf8(writer.out).unwrap(), undisturbed);
}
