//! The HTTP query API through the real stack: commands go through the bus to
//! a real gateway and nats-server, the projector folds them, and every read
//! is an HTTP request with reqwest. Each answer is validated against the
//! committed OpenAPI document's schemas.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Duration as Span;
use reqwest::StatusCode;
use serde_json::{json, Value};
use signoff_api::readside::ReadSide;
use signoff_engine::{RequestId, Role};
use signoff_tests::{accepted, TestEnv};

fn openapi_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.json")
}

fn openapi() -> Value {
    serde_json::from_str(&std::fs::read_to_string(openapi_path()).expect("schemas/openapi.json"))
        .expect("the OpenAPI document is JSON")
}

/// One HTTP client on one read side, checking every answer against the document.
struct Api {
    http: reqwest::Client,
    base: String,
    doc: Value,
}

/// One answer: status, parsed body, raw body.
struct Answer {
    status: StatusCode,
    body: Value,
    text: String,
}

impl Api {
    fn new(read_side: &ReadSide) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: read_side.http_url(),
            doc: openapi(),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("the query API answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.expect("a body");
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "GET {path} answered {status} with {content_type:?}: {text}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path} answered {status} with non-JSON ({e}): {text}"));
        if !status.is_success() {
            self.check("Error", &body, path);
        }
        Answer { status, body, text }
    }

    /// GET that must answer 200 with a body of the component schema `schema`.
    async fn ok(&self, path: &str, token: &str, schema: &str) -> Answer {
        let answer = self.get(path, Some(token)).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.text);
        self.check(schema, &answer.body, path);
        answer
    }

    /// GET that must fail with `status` and error `code`.
    async fn fails(
        &self,
        path: &str,
        token: Option<&str>,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let answer = self.get(path, token).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (status, Some(code)),
            "GET {path}: {}",
            answer.text
        );
        answer.body
    }

    #[track_caller]
    fn check(&self, schema: &str, instance: &Value, what: &str) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"].clone(),
            "$ref": format!("#/components/schemas/{schema}"),
        });
        let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "GET {what} does not match {schema}:\n{}\n{instance:#}",
            errors.join("\n")
        );
    }

    /// The request view once the projection has folded `sequence`.
    async fn request(&self, id: RequestId, sequence: u64, token: &str) -> Answer {
        self.ok(
            &format!("/v1/requests/{id}?minSequence={sequence}"),
            token,
            "RequestView",
        )
        .await
    }

    /// Request ids in `user`'s inbox once the projection has folded `sequence`.
    async fn inbox(&self, env: &TestEnv, user: &str, sequence: u64) -> Vec<String> {
        let answer = self
            .ok(
                &format!("/v1/inbox?minSequence={sequence}"),
                &env.token(user),
                "Inbox",
            )
            .await;
        assert_eq!(answer.body["user"], user);
        ids(&answer.body["items"])
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["requestId"].as_str().expect("requestId").to_owned())
        .collect()
}

fn admin(env: &TestEnv) -> String {
    env.issuer.issue("auditor", &[Role::Admin], 3600)
}

#[tokio::test]
async fn request_views_after_guide_workflows_hold_status_stages_tallies_votes_and_context() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);
    let alice = env.token("alice");

    // Single approver, with context, uiConfig and params written unusually.
    let context =
        r#"{ "jiraTicket":  "PROJ-123", "ünïcode": 1.50, "nested": {"z": [ 1, 2 ], "a": null} }"#;
    let ui_config = r#"{"showDiff": true,  "order": [3, 1]}"#;
    let params = r#"{"ticket": "PROJ-1" ,"amount": 10.0}"#;
    let spec = format!(
        r#"{{"title":"Important Action","description":"This action requires approval","approvers":["user_123"],
            "context":{context},"uiComponent":"DeploymentApprovalForm","uiConfig":{ui_config}}}"#
    );
    let (single, submitted) = env.submit_ok("alice", &spec, params).await;
    let pending = api.request(single, submitted.sequence, &alice).await;
    assert_eq!(pending.body["status"], "pending");
    assert_eq!(pending.body["lastSequence"], submitted.sequence);
    assert_eq!(pending.body["stages"][0]["status"], "current");
    assert_eq!(pending.body["decidedAt"], Value::Null);
    let approved = accepted(env.approve("user_123", single).await);
    let view = api.request(single, approved.sequence, &alice).await;
    let body = &view.body;
    assert_eq!(body["requestId"], single.0.to_string());
    assert_eq!(body["lastSequence"], approved.sequence);
    assert_eq!(body["status"], "approved");
    assert_eq!(body["title"], "Important Action");
    assert_eq!(body["description"], "This action requires approval");
    assert_eq!(body["requester"], "alice");
    assert_eq!(body["submittedAt"], "2026-11-26T10:00:00Z");
    assert_eq!(body["decidedAt"], "2026-11-26T10:00:00Z");
    assert_eq!(
        (body["currentStage"].clone(), body["stageCount"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(body["currentStageTitle"], Value::Null);
    let stage = &body["stages"][0];
    assert_eq!(stage["status"], "approved");
    assert_eq!(stage["approvers"], json!([{"user": "user_123"}]));
    assert_eq!(
        stage["tally"],
        json!({"approvals": 1, "minApprovals": 1, "rejections": 0, "minRejections": 1})
    );
    let vote = &stage["approvals"][0];
    assert_eq!(vote["user"], "user_123");
    assert_eq!(vote["via"], json!({"user": "user_123"}));
    assert_eq!(vote["team"], Value::Null);
    assert_eq!(vote["note"], "ok from user_123");
    assert_eq!(vote["at"], "2026-11-26T10:00:00Z");
    assert_eq!(vote["paramsHash"], body["paramsHash"]);
    assert!(body["paramsHash"].as_str().unwrap().starts_with("sha256:"));
    assert!(body["contextHash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(body["uiComponent"], "DeploymentApprovalForm");
    assert_eq!(body["execution"], Value::Null);
    assert_eq!(body["plan"]["resolution"], "approvers");
    // Caller JSON is embedded byte for byte.
    assert!(
        view.text.contains(&format!(r#""context":{context},"#)),
        "context byte for byte: {}",
        view.text
    );
    assert!(
        view.text.contains(&format!(r#""uiConfig":{ui_config},"#)),
        "{}",
        view.text
    );
    assert!(
        view.text.contains(&format!(r#""params":{params},"#)),
        "{}",
        view.text
    );
    // Another party (an admin) reads the same bytes: the answer is deterministic.
    // (Reads are scoped to the request's parties: `tokens.rs` tests who may.)
    let again = api.request(single, approved.sequence, &admin(&env)).await;
    assert_eq!(again.text, view.text);

    // Team: the vote records the team it came through.
    let (team, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","description":"Update to security settings","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    let decided = accepted(env.approve("sofia", team).await);
    let body = api.request(team, decided.sequence, &alice).await.body;
    assert_eq!(body["status"], "approved");
    let vote = &body["stages"][0]["approvals"][0];
    assert_eq!(vote["user"], "sofia");
    assert_eq!(vote["via"], json!({"team": "security-team"}));
    assert_eq!(vote["team"], "security-team");
    assert_eq!(vote["escalationLevel"], Value::Null);
    assert_eq!(body["context"], Value::Null);
    assert_eq!(body["contextHash"], Value::Null);

    // Sequential 3-stage chain, read stage by stage.
    let spec = r#"{"stages":[
        {"title":"Manager Approval","description":"First-level approval by manager","approvers":["manager-team"]},
        {"title":"Security Review","description":"Security team review","approvers":["security-team"]},
        {"title":"Executive Sign-off","description":"Final executive approval","approvers":["executive-team"]}]}"#;
    let (chain, _) = env.submit_ok("alice", spec, "{}").await;
    let one = accepted(env.approve("maria", chain).await);
    let body = api.request(chain, one.sequence, &alice).await.body;
    assert_eq!(
        (body["status"].clone(), body["currentStage"].clone()),
        (json!("pending"), json!(1))
    );
    assert_eq!(body["currentStageTitle"], "Security Review");
    let statuses: Vec<&Value> = body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("approved"), &json!("current"), &json!("waiting")]
    );
    assert_eq!(body["stages"][0]["approvals"][0]["team"], "manager-team");
    assert_ne!(body["stages"][0]["approvedAt"], Value::Null);
    accepted(env.approve("sam", chain).await);
    let three = accepted(env.approve("erin", chain).await);
    let body = api.request(chain, three.sequence, &alice).await.body;
    assert_eq!(body["status"], "approved");
    assert_eq!(body["stageCount"], 3);
    let voters: Vec<(&str, &str)> = body["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["status"], "approved");
            assert_eq!(s["tally"]["approvals"], 1);
            (
                s["approvals"][0]["user"].as_str().unwrap(),
                s["approvals"][0]["team"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        voters,
        [
            ("maria", "manager-team"),
            ("sam", "security-team"),
            ("erin", "executive-team")
        ]
    );
    assert_eq!(body["plan"]["resolution"], "sequential");

    // Escalation: maria (manager-team) is added at level 1 after 15 minutes.
    let spec = r#"{"title":"Critical Fix","description":"Apply critical system fix","approvers":["on-call-team"],
        "escalation":{"afterMinutes":15,"to":["manager-team"],"afterMinutes2":30,"to2":["executive-team"]}}"#;
    let (escalating, _) = env.submit_ok("alice", spec, "{}").await;
    env.clock.advance(Span::minutes(15));
    let escalated = accepted(
        env.act("scheduler", "escalate", escalating, json!({"level": 1}))
            .await,
    );
    let body = api
        .request(escalating, escalated.sequence, &alice)
        .await
        .body;
    assert_eq!(body["status"], "pending");
    assert_eq!(body["escalationLevel"], 1);
    assert_eq!(
        body["stages"][0]["escalatedTo"],
        json!([{"level": 1, "principal": {"team": "manager-team"}}])
    );
    let levels = body["escalation"].as_array().unwrap();
    assert_eq!(levels.len(), 2);
    assert_eq!(
        (
            levels[0]["level"].clone(),
            levels[0]["afterMinutes"].clone(),
            levels[0]["reached"].clone()
        ),
        (json!(1), json!(15), json!(true))
    );
    assert_eq!(levels[0]["dueAt"], "2026-11-26T10:15:00Z");
    assert_eq!(levels[1]["dueAt"], "2026-11-26T10:30:00Z");
    assert_eq!(levels[1]["reached"], false);
    let decided = accepted(env.approve("maria", escalating).await);
    let body = api.request(escalating, decided.sequence, &alice).await.body;
    assert_eq!(body["status"], "approved");
    let vote = &body["stages"][0]["approvals"][0];
    assert_eq!(
        (
            vote["user"].clone(),
            vote["team"].clone(),
            vote["escalationLevel"].clone()
        ),
        (json!("maria"), json!("manager-team"), json!(1))
    );

    // A rejection: the stage is rejected, the reason is kept.
    let (rejected, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Risky","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    let no = accepted(env.reject("sam", rejected, "too risky").await);
    let body = api.request(rejected, no.sequence, &alice).await.body;
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["stages"][0]["status"], "rejected");
    assert_eq!(body["stages"][0]["rejections"][0]["note"], "too risky");
    assert_eq!(body["stages"][0]["tally"]["rejections"], 1);

    read_side.shutdown().await;
}

#[tokio::test]
async fn inboxes_follow_votes_decisions_and_escalation() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);

    // A security-team request needing two approvals.
    let (quorum, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","approvers":["security-team"],"minApprovals":2}"#,
            "{}",
        )
        .await;
    let id = quorum.0.to_string();
    let seq = submitted.sequence;
    assert_eq!(api.inbox(&env, "sam", seq).await, std::slice::from_ref(&id));
    assert_eq!(
        api.inbox(&env, "sofia", seq).await,
        std::slice::from_ref(&id)
    );
    assert!(
        api.inbox(&env, "alice", seq).await.is_empty(),
        "the requester never sees her own request"
    );
    assert!(api.inbox(&env, "maria", seq).await.is_empty());
    let entry = api
        .ok(
            &format!("/v1/inbox?minSequence={seq}"),
            &env.token("sam"),
            "Inbox",
        )
        .await
        .body;
    assert_eq!(entry["teams"], json!(["security-team"]));
    assert_eq!(
        entry["items"][0]["principal"],
        json!({"team": "security-team"})
    );
    assert_eq!(entry["items"][0]["title"], "Security Change");
    assert_eq!(entry["items"][0]["requester"], "alice");

    let sam_voted = accepted(env.approve("sam", quorum).await).sequence;
    assert!(
        api.inbox(&env, "sam", sam_voted).await.is_empty(),
        "sam has voted"
    );
    assert_eq!(
        api.inbox(&env, "sofia", sam_voted).await,
        std::slice::from_ref(&id)
    );
    let decided = accepted(env.approve("sofia", quorum).await).sequence;
    for user in ["sam", "sofia", "alice", "maria"] {
        assert!(
            api.inbox(&env, user, decided).await.is_empty(),
            "{user} after the decision"
        );
    }

    // The requester named as an approver still never sees her own request.
    let (own, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Own","approvers":["alice","user_123"]}"#,
            "{}",
        )
        .await;
    assert!(api
        .inbox(&env, "alice", submitted.sequence)
        .await
        .is_empty());
    assert_eq!(
        api.inbox(&env, "user_123", submitted.sequence).await,
        [own.0.to_string()]
    );

    // Escalation adds the request to maria's inbox.
    let (escalating, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Critical Fix","approvers":["on-call-team"],"escalation":{"afterMinutes":15,"to":["manager-team"]}}"#,
            "{}",
        )
        .await;
    let id = escalating.0.to_string();
    assert!(!api
        .inbox(&env, "maria", submitted.sequence)
        .await
        .contains(&id));
    assert!(api
        .inbox(&env, "oscar", submitted.sequence)
        .await
        .contains(&id));
    env.clock.advance(Span::minutes(15));
    let escalated = accepted(
        env.act("scheduler", "escalate", escalating, json!({"level": 1}))
            .await,
    )
    .sequence;
    assert!(api.inbox(&env, "maria", escalated).await.contains(&id));
    let body = api
        .ok(
            &format!("/v1/inbox?minSequence={escalated}"),
            &env.token("maria"),
            "Inbox",
        )
        .await
        .body;
    let entry = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["requestId"] == id.as_str())
        .unwrap();
    assert_eq!(entry["escalationLevel"], 1);
    assert_eq!(entry["principal"], json!({"team": "manager-team"}));
    let decided = accepted(env.approve("maria", escalating).await).sequence;
    assert!(!api.inbox(&env, "maria", decided).await.contains(&id));
    assert!(!api.inbox(&env, "oscar", decided).await.contains(&id));

    // Reading someone else's inbox: themselves and admins only.
    let path = format!("/v1/inbox/user_123?minSequence={decided}");
    let theirs = api.ok(&path, &env.token("user_123"), "Inbox").await.body;
    assert_eq!(ids(&theirs["items"]), [own.0.to_string()]);
    let by_admin = api.ok(&path, &admin(&env), "Inbox").await.body;
    assert_eq!(by_admin, theirs);
    api.fails(
        &path,
        Some(&env.token("alice")),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    read_side.shutdown().await;
}

#[tokio::test]
async fn lists_by_status_requester_and_title_page_newest_first() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);
    let token = env.token("mike");

    let mut mine = Vec::new();
    let mut last = 0;
    for i in 0..5 {
        env.clock.advance(Span::seconds(1));
        let (id, reply) = env
            .submit_ok(
                "alice",
                r#"{"title":"Paged Thing","approvers":["user_123"]}"#,
                &format!(r#"{{"n":{i}}}"#),
            )
            .await;
        mine.push(id.0.to_string());
        last = reply.sequence;
    }
    env.clock.advance(Span::seconds(1));
    let (other, _) = env
        .submit_ok(
            "user_456",
            r#"{"title":"Other Thing","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    let approved_seq = accepted(env.approve("user_123", other).await).sequence;
    // Decide the oldest of alice's: it leaves the pending list.
    let decided = accepted(
        env.reject("user_123", RequestId(mine[0].parse().unwrap()), "no")
            .await,
    )
    .sequence;
    last = last.max(approved_seq).max(decided);
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();

    async fn all_pages(
        api: &Api,
        token: &str,
        query: &str,
        limit: usize,
        min: u64,
    ) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/requests?{query}&limit={limit}&minSequence={min}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let body = api.ok(&path, token, "RequestPage").await.body;
            pages.push(ids(&body["items"]));
            match body["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages.len() < 10, "paging does not end");
        }
        pages
    }

    // By requester: 5 requests, limit 2 → 3 pages, newest first, no duplicates.
    let pages = all_pages(&api, &token, "requester=alice", 2, last).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let flat: Vec<String> = pages.concat();
    assert_eq!(flat, newest_first);
    assert_eq!(flat.iter().collect::<BTreeSet<_>>().len(), 5);
    // By title.
    assert_eq!(
        all_pages(&api, &token, "title=Paged%20Thing", 2, last)
            .await
            .concat(),
        newest_first
    );
    assert_eq!(
        all_pages(&api, &token, "title=Other+Thing", 50, last).await,
        [vec![other.0.to_string()]]
    );
    // By status: the rejected one left pending.
    let pending = all_pages(&api, &token, "status=pending", 3, last).await;
    assert_eq!(pending.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(pending.concat(), newest_first[..4]);
    assert_eq!(
        all_pages(&api, &token, "status=rejected", 2, last).await,
        [vec![mine[0].clone()]]
    );
    assert_eq!(
        all_pages(&api, &token, "status=approved", 2, last).await,
        [vec![other.0.to_string()]]
    );
    assert_eq!(
        all_pages(&api, &token, "status=expired", 2, last).await,
        [Vec::<String>::new()]
    );

    // Summaries carry the essentials; the default limit takes everything here.
    let body = api
        .ok(
            &format!("/v1/requests?requester=alice&minSequence={last}"),
            &token,
            "RequestPage",
        )
        .await
        .body;
    assert_eq!(body["next"], Value::Null);
    let oldest = &body["items"][4];
    assert_eq!(oldest["requestId"], mine[0].as_str());
    assert_eq!(oldest["status"], "rejected");
    assert_eq!(oldest["title"], "Paged Thing");
    assert_eq!(oldest["requester"], "alice");
    assert_eq!(oldest["submittedAt"], "2026-11-26T10:00:01Z");
    assert_eq!(body["items"][0]["currentStageTitle"], "Paged Thing");

    // Refusals name the parameter.
    for (query, parameter) in [
        ("", "status"),
        ("status=pending&requester=alice", "requester"),
        ("status=bogus", "status"),
        ("status=notSubmitted", "status"),
        ("requester=", "requester"),
        ("status=pending&limit=0", "limit"),
        ("status=pending&limit=201", "limit"),
        ("status=pending&limit=two", "limit"),
        ("status=pending&cursor=not-a-cursor", "cursor"),
        ("status=pending&cursor=abcd", "cursor"),
        ("status=pending&sort=asc", "sort"),
        ("status=pending&status=approved", "status"),
        ("status=pending&minSequence=-1", "minSequence"),
        ("status=pending&waitMs=30001", "waitMs"),
    ] {
        let body = api
            .fails(
                &format!("/v1/requests?{query}"),
                Some(&token),
                StatusCode::BAD_REQUEST,
                "BAD_QUERY",
            )
            .await;
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(parameter),
            "{query}: {body}"
        );
    }

    read_side.shutdown().await;
}

#[tokio::test]
async fn protected_routes_need_a_token_and_the_right_caller() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);

    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Security Change","approvers":["security-team"],"minApprovals":2}"#,
            "{}",
        )
        .await;
    let seq = accepted(env.approve("sam", id).await).sequence;

    let protected = [
        format!("/v1/requests/{id}"),
        "/v1/requests?status=pending".to_owned(),
        format!("/v1/requests/{id}/audit"),
        "/v1/inbox".to_owned(),
        "/v1/inbox/alice".to_owned(),
        "/v1/audit".to_owned(),
    ];
    let expired = env.issuer.sign(&signoff_api::identity::Claims {
        sub: "alice".into(),
        iss: env.auth.issuer.clone(),
        aud: env.auth.audience.clone(),
        exp: 1,
        iat: 0,
        jti: None,
        roles: vec![Role::Admin],
    });
    for path in &protected {
        let body = api
            .fails(path, None, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
            .await;
        assert!(
            body["message"].as_str().unwrap().contains("Authorization"),
            "{body}"
        );
        api.fails(
            path,
            Some("not-a-jwt"),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        )
        .await;
        api.fails(
            path,
            Some(&expired),
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        )
        .await;
        // Authentication comes before anything else, even a bad query.
        let bad = format!(
            "{path}{}bogus=1",
            if path.contains('?') { "&" } else { "?" }
        );
        api.fails(&bad, None, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED")
            .await;
    }
    let basic = api
        .http
        .get(format!("{}/v1/inbox", api.base))
        .header("Authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(basic.headers()["www-authenticate"], "Bearer");

    // Inboxes: one's own, or an admin.
    api.fails(
        "/v1/inbox/bob",
        Some(&env.token("alice")),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    api.ok("/v1/inbox/alice", &env.token("alice"), "Inbox")
        .await;
    let bobs = api.ok("/v1/inbox/bob", &admin(&env), "Inbox").await.body;
    assert_eq!(bobs["user"], "bob");

    // The global audit trail: admins only.
    api.fails(
        "/v1/audit",
        Some(&env.token("alice")),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    api.fails(
        "/v1/audit",
        Some(&env.issuer.issue("sched", &[Role::Scheduler], 60)),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    // A request's audit trail: requester, voters, admins.
    let path = format!("/v1/requests/{id}/audit?minSequence={seq}");
    for who in ["alice", "sam"] {
        let body = api.ok(&path, &env.token(who), "RequestAudit").await.body;
        assert_eq!(body["requestId"], id.0.to_string());
        let events: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["RequestSubmitted", "ApprovalGranted"], "{who}");
    }
    api.ok(&path, &admin(&env), "RequestAudit").await;
    for outsider in ["sofia", "maria", "bob"] {
        api.fails(
            &path,
            Some(&env.token(outsider)),
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        )
        .await;
    }

    // Unknown requests and routes, bad ids, other methods.
    let token = env.token("alice");
    let unknown = uuid::Uuid::new_v4();
    api.fails(
        &format!("/v1/requests/{unknown}"),
        Some(&token),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    api.fails(
        &format!("/v1/requests/{unknown}/audit"),
        Some(&admin(&env)),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let body = api
        .fails(
            "/v1/requests/not-a-uuid",
            Some(&token),
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
        )
        .await;
    assert_eq!(body["parameter"], "id");
    api.fails(
        "/v1/nothing-here",
        Some(&token),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let post = api
        .http
        .post(format!("{}/v1/inbox", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    let post: Value = post.json().await.unwrap();
    assert_eq!(post["code"], "METHOD_NOT_ALLOWED");

    // Health needs no token.
    let health = api.get("/v1/health", None).await;
    assert_eq!(health.status, StatusCode::OK);
    api.check("Health", &health.body, "/v1/health");
    assert!(health.body["checkpoint"].as_u64().unwrap() <= env.last_sequence().await);

    read_side.shutdown().await;
}

#[tokio::test]
async fn the_global_audit_trail_pages_in_chain_order_for_admins() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);
    let (a, _) = env
        .submit_ok("alice", r#"{"title":"One","approvers":["user_123"]}"#, "{}")
        .await;
    accepted(env.approve("user_123", a).await);
    let (b, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Two","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    let last = accepted(env.reject("sofia", b, "no").await).sequence;
    let token = admin(&env);

    let mut records: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let body = api
            .ok(
                &format!("/v1/audit?after={after}&limit=3&minSequence={last}"),
                &token,
                "AuditPage",
            )
            .await
            .body;
        assert!(body["checkpoint"].as_u64().unwrap() >= last);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        records.extend(items.iter().cloned());
        match body["next"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    // 4 events for the approval (submitted, granted, stage, approved), 3 for the rejection.
    assert_eq!(records.len(), 7, "{records:#?}");
    for (i, record) in records.iter().enumerate() {
        assert_eq!(record["index"], i as u64 + 1);
        if i > 0 {
            assert_eq!(record["prevHash"], records[i - 1]["hash"]);
        }
    }
    assert_eq!(records.last().unwrap()["outcome"], "rejected");
    assert_eq!(records.last().unwrap()["sequence"], last);
    // The request's own trail is the same records.
    let own = api
        .ok(&format!("/v1/requests/{b}/audit"), &token, "RequestAudit")
        .await
        .body;
    assert_eq!(own["items"].as_array().unwrap()[..], records[4..]);

    for query in [
        "after=-1",
        "limit=0",
        "limit=1001",
        "after=1&after=2",
        "cursor=x",
    ] {
        api.fails(
            &format!("/v1/audit?{query}"),
            Some(&token),
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
        )
        .await;
    }
    read_side.shutdown().await;
}

#[tokio::test]
async fn read_your_writes_waits_for_the_projection_or_answers_503() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);
    let token = env.token("alice");

    // Right after the reply, minSequence makes the write visible.
    let (id, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Fresh","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    let body = api.request(id, submitted.sequence, &token).await.body;
    assert_eq!(body["status"], "pending");
    let decided = accepted(env.approve("user_123", id).await).sequence;
    let body = api.request(id, decided, &token).await.body;
    assert_eq!(body["status"], "approved");
    assert!(body["lastSequence"].as_u64().unwrap() >= decided);

    // Beyond the end of the stream: 503 with the checkpoint, after waitMs.
    let end = env.last_sequence().await;
    let beyond = end + 1000;
    for path in [
        format!("/v1/requests/{id}?minSequence={beyond}&waitMs=200"),
        format!("/v1/requests?status=approved&minSequence={beyond}&waitMs=200"),
        format!("/v1/requests/{id}/audit?minSequence={beyond}&waitMs=200"),
        format!("/v1/inbox?minSequence={beyond}&waitMs=200"),
        format!("/v1/inbox/alice?minSequence={beyond}&waitMs=200"),
    ] {
        let started = std::time::Instant::now();
        let body = api
            .fails(
                &path,
                Some(&token),
                StatusCode::SERVICE_UNAVAILABLE,
                "NOT_YET_PROJECTED",
            )
            .await;
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(200),
            "{path} waited waitMs"
        );
        assert_eq!(body["checkpoint"], end, "{path}: {body}");
    }
    let audit = api
        .get(
            &format!("/v1/audit?minSequence={beyond}&waitMs=0"),
            Some(&admin(&env)),
        )
        .await;
    assert_eq!(audit.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(audit.body["checkpoint"], end);

    // A write that lands while a reader waits is seen by that reader.
    let next = end + 1;
    let reader = {
        let path = format!(
            "{}/v1/requests?requester=bob&minSequence={next}&waitMs=10000",
            api.base
        );
        let http = api.http.clone();
        let token = env.token("bob");
        tokio::spawn(async move {
            let response = http.get(path).bearer_auth(token).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        })
    };
    let (late, submitted) = env
        .submit_ok("bob", r#"{"title":"Late","approvers":["user_123"]}"#, "{}")
        .await;
    assert_eq!(submitted.sequence, next);
    let (status, body) = reader.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body["items"]), [late.0.to_string()]);

    read_side.shutdown().await;
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_file_and_lists_every_route() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let api = Api::new(&read_side);

    let response = api
        .http
        .get(format!("{}/openapi.json", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.bytes().await.unwrap();
    let committed = std::fs::read(openapi_path()).unwrap();
    assert!(
        served[..] == committed[..],
        "served /openapi.json differs from schemas/openapi.json"
    );
    assert_eq!(
        String::from_utf8(committed).unwrap(),
        signoff_api::http::openapi_document(),
        "schemas/openapi.json is stale: SIGNOFF_BLESS_OPENAPI=1 cargo test -p signoff --lib http::tests"
    );

    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routes: BTreeSet<&str> = signoff_api::http::ROUTES.iter().copied().collect();
    assert_eq!(paths, routes);
    for route in [
        "/v1/requests/{id}",
        "/v1/requests",
        "/v1/inbox",
        "/v1/inbox/{user}",
        "/v1/requests/{id}/audit",
        "/v1/audit",
        "/v1/health",
        "/openapi.json",
    ] {
        let get = &doc["paths"][route]["get"];
        assert!(get.is_object(), "{route} is documented");
        let responses = get["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("200") && responses.contains_key("400"),
            "{route}"
        );
        let public = route == "/v1/health" || route == "/openapi.json";
        assert_eq!(get["security"] == json!([]), public, "{route}");
        assert_eq!(responses.contains_key("401"), !public, "{route}");
        assert_eq!(
            responses.contains_key("503"),
            route.starts_with("/v1/") && !public,
            "{route}"
        );
    }
    // Every $ref resolves inside the document.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| match (k.as_str(), v) {
                ("$ref", Value::String(r)) => out.push(r),
                _ => refs(v, out),
            }),
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    // The schemas are strict: an answer with a field too many or one missing fails.
    let (id, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Strict","approvers":["user_123"]}"#,
            "{}",
        )
        .await;
    let view = api
        .request(id, submitted.sequence, &env.token("alice"))
        .await
        .body;
    let mut extra = view.clone();
    extra["surprise"] = json!(1);
    let mut missing = view.clone();
    missing.as_object_mut().unwrap().remove("stages");
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"].clone(),
        "$ref": "#/components/schemas/RequestView",
    });
    let validator = jsonschema::validator_for(&root).unwrap();
    assert!(validator.is_valid(&view));
    assert!(!validator.is_valid(&extra));
    assert!(!validator.is_valid(&missing));
    // The document needs no token and takes no query parameters.
    api.fails(
        "/openapi.json?x=1",
        None,
        StatusCode::BAD_REQUEST,
        "BAD_QUERY",
    )
    .await;
    api.fails("/v1/health?x=1", None, StatusCode::BAD_REQUEST, "BAD_QUERY")
        .await;

    read_side.shutdown().await;
}
