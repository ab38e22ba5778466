//! Identity tokens and authorization through the real gateway on a real
//! nats-server: Ed25519 (production) and HMAC (dev) keys, rotation,
//! revocation, every way a token can be wrong — each refused with a typed
//! error, counted by reason, and with nothing written — roles that come only
//! from a trusted key, and no token or secret in the log even at TRACE.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use signoff_api::client::CommandClient;
use signoff_api::identity::{
    redact_secrets, AuthConfig, Claims, Ed25519Key, HmacKey, RefusalReason, TokenIssuer,
};
use signoff_engine::Role;
use signoff_schemas::subjects::{command_subject, AUTHORIZATION_HEADER};
use signoff_schemas::Reply;
use signoff_tests::{accepted, refused, test_auth, TestEnv};
use uuid::Uuid;

/// An environment whose one gateway verifies with `auth`; `env.issuer` is `issuer`.
async fn env_with(auth: AuthConfig, issuer: TokenIssuer) -> TestEnv {
    let mut env = TestEnv::start_with_gateways(0).await;
    env.issuer = issuer;
    env.auth = auth;
    let gateway = env.spawn_gateway().await;
    env.gateways.push(gateway);
    env
}

/// Production-style: two Ed25519 keys (rotation), the gateway holding public keys only.
fn ed25519_auth(keys: &[Ed25519Key]) -> AuthConfig {
    AuthConfig {
        keys: Vec::new(),
        ed25519_keys: keys.to_vec(),
        ..test_auth()
    }
}

fn public_only(auth: &AuthConfig) -> AuthConfig {
    AuthConfig {
        ed25519_keys: auth
            .ed25519_keys
            .iter()
            .map(Ed25519Key::public_only)
            .collect(),
        ..auth.clone()
    }
}

fn issuer_for(auth: &AuthConfig, kid: &str) -> TokenIssuer {
    TokenIssuer::new(&AuthConfig {
        signing_key: Some(kid.into()),
        revoked_keys: Vec::new(),
        ..auth.clone()
    })
    .expect("issuer")
}

fn submit_body() -> serde_json::Value {
    json!({"commandId": Uuid::new_v4(), "requestId": Uuid::new_v4(),
           "spec": {"title": "Deploy", "approvers": ["maria"]}})
}

async fn send_with_header(env: &TestEnv, header: Option<&str>) -> Reply {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(value) = header {
        headers.insert(AUTHORIZATION_HEADER, value);
    }
    let message = env
        .client
        .request_with_headers(
            command_subject("submit"),
            headers,
            serde_json::to_vec(&submit_body()).unwrap().into(),
        )
        .await
        .expect("gateway answers");
    serde_json::from_slice(&message.payload).expect("a reply")
}

/// base64url without padding, as JWT parts are written.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn claims(sub: &str, roles: Vec<Role>) -> Claims {
    let now = chrono::Utc::now().timestamp() as u64;
    Claims {
        sub: sub.into(),
        iss: test_auth().issuer,
        aud: test_auth().audience,
        exp: now + 600,
        iat: now,
        jti: None,
        roles,
    }
}

#[tokio::test]
async fn every_bad_token_is_refused_typed_counted_by_reason_and_writes_nothing() {
    let old = Ed25519Key::generate("ed-old");
    let new = Ed25519Key::generate("ed-new");
    let compromised = Ed25519Key::generate("ed-compromised");
    let full = ed25519_auth(&[old.clone(), new.clone(), compromised.clone()]);
    // The gateway knows public keys only, and still lists the compromised key but revokes it.
    let gateway_auth = AuthConfig {
        revoked_keys: vec!["ed-compromised".into()],
        signing_key: Some("ed-new".into()),
        ..full.clone()
    };
    let good = issuer_for(&full, "ed-new");
    let env = env_with(public_only(&gateway_auth), good.clone()).await;
    let valid = good.issue("alice", &[], 600);
    let (header, payload, signature) = {
        let parts: Vec<&str> = valid.split('.').collect();
        (
            parts[0].to_owned(),
            parts[1].to_owned(),
            parts[2].to_owned(),
        )
    };

    let mut foreign_issuer = claims("alice", vec![]);
    foreign_issuer.iss = "someone-else".into();
    let mut foreign_audience = claims("alice", vec![]);
    foreign_audience.aud = "another-service".into();
    let mut expired = claims("alice", vec![]);
    expired.exp = 1_000;
    expired.iat = 0;
    let ghost = Ed25519Key::generate("ed-ghost");
    // Signature bytes changed in the middle (the last character carries padding bits only).
    let mut tampered_signature = signature.clone().into_bytes();
    let middle = tampered_signature.len() / 2;
    tampered_signature[middle] = if tampered_signature[middle] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered_signature = String::from_utf8(tampered_signature).unwrap();
    // Claims rewritten to grant admin, original signature kept.
    let escalated = b64url(&serde_json::to_vec(&claims("alice", vec![Role::Admin])).unwrap());
    // Algorithm confusion: HS256 "signed" with the Ed25519 public key as the HMAC secret.
    let confused = TokenIssuer::new(&AuthConfig {
        keys: vec![HmacKey {
            kid: "ed-new".into(),
            secret: new.public_key.clone(),
        }],
        ed25519_keys: Vec::new(),
        signing_key: None,
        ..test_auth()
    })
    .unwrap()
    .issue("mallory", &[Role::Admin], 600);
    let hmac_unknown = TokenIssuer::new(&test_auth())
        .unwrap()
        .issue("alice", &[], 600);
    let no_kid = format!(
        "{}.{payload}.{signature}",
        b64url(br#"{"alg":"EdDSA","typ":"JWT"}"#)
    );
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","kid":"ed-new"}"#),
        b64url(&serde_json::to_vec(&claims("mallory", vec![Role::Admin])).unwrap())
    );

    let cases: Vec<(&str, Option<String>, RefusalReason, &str)> = vec![
        (
            "expired",
            Some(good.sign(&expired)),
            RefusalReason::Expired,
            "expired",
        ),
        (
            "wrong_issuer",
            Some(good.sign(&foreign_issuer)),
            RefusalReason::WrongIssuer,
            "iss",
        ),
        (
            "wrong_audience",
            Some(good.sign(&foreign_audience)),
            RefusalReason::WrongAudience,
            "aud",
        ),
        (
            "unknown_kid",
            Some(issuer_for(&ed25519_auth(&[ghost]), "ed-ghost").issue("alice", &[], 600)),
            RefusalReason::UnknownKey,
            "ed-ghost",
        ),
        (
            "unknown_kid_hmac",
            Some(hmac_unknown),
            RefusalReason::UnknownKey,
            "test-1",
        ),
        (
            "revoked_kid_still_listed",
            Some(issuer_for(&full, "ed-compromised").issue("alice", &[Role::Admin], 600)),
            RefusalReason::RevokedKey,
            "revoked",
        ),
        (
            "tampered_signature",
            Some(format!("{header}.{payload}.{tampered_signature}")),
            RefusalReason::BadSignature,
            "does not verify",
        ),
        (
            "tampered_claims",
            Some(format!("{header}.{escalated}.{signature}")),
            RefusalReason::BadSignature,
            "does not verify",
        ),
        (
            "alg_confusion_hs256_with_public_key",
            Some(confused),
            RefusalReason::WrongAlgorithm,
            "EdDSA",
        ),
        (
            "alg_none",
            Some(alg_none),
            RefusalReason::Malformed,
            "not a well-formed",
        ),
        ("no_kid", Some(no_kid), RefusalReason::NoKeyId, "kid"),
        (
            "garbage",
            Some("not.a.jwt".into()),
            RefusalReason::Malformed,
            "not a well-formed",
        ),
        (
            "bad_subject",
            Some(good.sign(&claims("not a user!", vec![]))),
            RefusalReason::BadSubject,
            "subject",
        ),
    ];
    let before = env.last_sequence().await;
    let stats = &env.gateways[0].gateway.stats;
    for (name, token, reason, says) in &cases {
        let reply = refused(
            CommandClient::new(env.client.clone(), token.clone().unwrap())
                .send("submit", &submit_body())
                .await
                .unwrap(),
        );
        assert_eq!(reply.code, "UNAUTHENTICATED", "{name}: {}", reply.message);
        assert!(!reply.retryable, "{name}");
        assert!(reply.message.contains(says), "{name}: {}", reply.message);
        assert!(
            !reply.message.contains(token.as_deref().unwrap()),
            "{name}: the reply quotes the token"
        );
        assert!(
            stats.refused_tokens.count(*reason) >= 1,
            "{name}: counted as {}",
            reason.as_str()
        );
        assert_eq!(env.last_sequence().await, before, "{name}: nothing written");
    }
    // Header-level refusals.
    for (name, header, reason) in [
        ("missing_header", None, RefusalReason::Missing),
        (
            "basic_not_bearer",
            Some("Basic YWxpY2U6cHc="),
            RefusalReason::NotBearer,
        ),
    ] {
        let reply = refused(send_with_header(&env, header).await);
        assert_eq!(reply.code, "UNAUTHENTICATED", "{name}");
        assert_eq!(stats.refused_tokens.count(reason), 1, "{name}");
    }
    // Exact counts: each case once, by its reason.
    let mut expected = std::collections::HashMap::new();
    for (_, _, reason, _) in &cases {
        *expected.entry(reason.as_str()).or_insert(0u64) += 1;
    }
    expected.insert("missing", 1);
    expected.insert("not_bearer", 1);
    for (label, count) in stats.refused_tokens.snapshot() {
        assert_eq!(
            count,
            expected.get(label).copied().unwrap_or(0),
            "refused tokens counted as {label}"
        );
    }
    let total = cases.len() as u64 + 2;
    assert_eq!(stats.refused_tokens.total(), total);
    assert_eq!(
        stats
            .unauthenticated
            .load(std::sync::atomic::Ordering::Relaxed),
        total
    );
    assert_eq!(env.last_sequence().await, before, "nothing was written");

    // The valid token itself is accepted: the refusals were about the token alone.
    let ok = accepted(
        CommandClient::new(env.client.clone(), valid)
            .send("submit", &submit_body())
            .await
            .unwrap(),
    );
    assert_eq!(ok.sequence, before + 1);
}

#[tokio::test]
async fn ed25519_rotation_accepts_old_and_new_while_both_are_active_then_revokes_the_old() {
    let old = Ed25519Key::generate("ed-2026-01");
    let new = Ed25519Key::generate("ed-2026-07");
    let both = ed25519_auth(&[old.clone(), new.clone()]);
    let mut env = env_with(public_only(&both), issuer_for(&both, "ed-2026-07")).await;
    let old_token = issuer_for(&both, "ed-2026-01").issue("alice", &[], 600);
    let new_token = issuer_for(&both, "ed-2026-07").issue("alice", &[], 600);
    for (name, token) in [("old", &old_token), ("new", &new_token)] {
        let reply = accepted(
            CommandClient::new(env.client.clone(), token.clone())
                .send("submit", &submit_body())
                .await
                .unwrap(),
        );
        assert_eq!(reply.events, ["RequestSubmitted"], "{name}");
    }
    // A dev HMAC key beside the Ed25519 ones works too: keys of either kind rotate together.
    let mixed = AuthConfig {
        keys: test_auth().keys,
        ..both.clone()
    };
    // The old key is compromised: the gateway restarts with it revoked (still listed).
    let revoked = AuthConfig {
        revoked_keys: vec!["ed-2026-01".into()],
        ..public_only(&mixed)
    };
    for gateway in env.gateways.drain(..) {
        gateway.shutdown().await;
    }
    env.auth = revoked;
    let gateway = env.spawn_gateway().await;
    env.gateways.push(gateway);
    let before = env.last_sequence().await;
    let refusal = refused(
        CommandClient::new(env.client.clone(), old_token)
            .send("submit", &submit_body())
            .await
            .unwrap(),
    );
    assert_eq!(refusal.code, "UNAUTHENTICATED");
    assert!(refusal.message.contains("revoked"), "{}", refusal.message);
    assert_eq!(env.last_sequence().await, before, "nothing written");
    assert_eq!(
        env.gateways[0]
            .gateway
            .stats
            .refused_tokens
            .count(RefusalReason::RevokedKey),
        1
    );
    for token in [
        new_token,
        TokenIssuer::new(&test_auth())
            .unwrap()
            .issue("alice", &[], 600),
    ] {
        let reply = accepted(
            CommandClient::new(env.client.clone(), token)
                .send("submit", &submit_body())
                .await
                .unwrap(),
        );
        assert_eq!(reply.events, ["RequestSubmitted"]);
    }
    let commits = env.stream_messages().await;
    assert_eq!(commits, 4, "two before the rotation, two after");
}

#[tokio::test]
async fn roles_come_from_a_trusted_token_only_never_from_a_user_name() {
    let env = TestEnv::start().await;
    let (id, _) = env
        .submit_ok(
            "alice",
            r#"{"title":"Drop column","approvers":["security-team"]}"#,
            "{}",
        )
        .await;
    let before = env.last_sequence().await;
    // Only an eligible approver may approve.
    for outsider in ["bob", "maria", "admin", "root"] {
        let reply = refused(env.approve(outsider, id).await);
        assert_eq!(
            reply.code, "NOT_AN_APPROVER",
            "{outsider}: {}",
            reply.message
        );
    }
    // Only the requester or an admin role may cancel; a user *named* admin is nobody special.
    for outsider in ["sam", "admin", "administrator", "root", "scheduler-not"] {
        let reply = refused(
            env.act(outsider, "cancel", id, json!({"reason": "mine now"}))
                .await,
        );
        assert_eq!(reply.code, "NOT_PERMITTED", "{outsider}: {}", reply.message);
    }
    // Deadlines are the scheduler's (a role), not anyone's.
    let reply = refused(env.act("alice", "expire", id, json!({})).await);
    assert_eq!(reply.code, "NOT_PERMITTED", "alice: {}", reply.message);
    let reply = refused(env.act("admin", "escalate", id, json!({"level": 1})).await);
    assert_eq!(reply.code, "NOT_PERMITTED", "{}", reply.message);
    // An admin token from a key the gateway does not trust is refused outright.
    let mut untrusted = test_auth();
    untrusted.keys[0].secret = "an-attacker-secret-an-attacker-secret".into();
    let forged_admin = TokenIssuer::new(&untrusted)
        .unwrap()
        .issue("mallory", &[Role::Admin], 600);
    let reply = refused(
        CommandClient::new(env.client.clone(), forged_admin)
            .send(
                "cancel",
                &json!({"commandId": Uuid::new_v4(), "requestId": id.0}),
            )
            .await
            .unwrap(),
    );
    assert_eq!(reply.code, "UNAUTHENTICATED");
    assert_eq!(
        env.last_sequence().await,
        before,
        "no refusal wrote anything"
    );
    // The admin role from the trusted key cancels.
    let admin = env.issuer.issue("auditor", &[Role::Admin], 600);
    let cancelled = accepted(
        CommandClient::new(env.client.clone(), admin)
            .send(
                "cancel",
                &json!({"commandId": Uuid::new_v4(), "requestId": id.0, "reason": "change freeze"}),
            )
            .await
            .unwrap(),
    );
    assert_eq!(cancelled.events, ["RequestCancelled"]);
}

#[tokio::test]
async fn reads_are_scoped_by_role_not_by_user_name() {
    let env = TestEnv::start().await;
    let read_side = env.start_read_side().await;
    let base = read_side.http_url();
    let http = reqwest::Client::new();
    let (id, submitted) = env
        .submit_ok(
            "alice",
            r#"{"title":"Rotate keys","approvers":["security-team"],"escalation":{"afterMinutes":30,"to":["executive-team"]}}"#,
            "{}",
        )
        .await;
    let wait = format!("minSequence={}", submitted.sequence);
    let get = |path: String, token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let named_admin = env.token("admin");
    let real_admin = env.issuer.issue("auditor", &[Role::Admin], 600);
    let scheduler = env.issuer.issue("scheduler", &[Role::Scheduler], 600);
    // Another person's inbox, an unrelated request's audit, the global audit: admins only.
    for (path, who, token, status) in [
        (
            format!("/v1/inbox/sam?{wait}"),
            "admin-by-name",
            named_admin.clone(),
            403,
        ),
        (
            format!("/v1/inbox/sam?{wait}"),
            "bob",
            env.token("bob"),
            403,
        ),
        (
            format!("/v1/inbox/sam?{wait}"),
            "scheduler role",
            scheduler.clone(),
            403,
        ),
        (
            format!("/v1/inbox/sam?{wait}"),
            "sam",
            env.token("sam"),
            200,
        ),
        (
            format!("/v1/inbox/sam?{wait}"),
            "admin role",
            real_admin.clone(),
            200,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "admin-by-name",
            named_admin.clone(),
            403,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "bob (unrelated)",
            env.token("bob"),
            403,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "scheduler role",
            scheduler.clone(),
            403,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "maria (other team)",
            env.token("maria"),
            403,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "alice (requester)",
            env.token("alice"),
            200,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "sofia (named through security-team)",
            env.token("sofia"),
            200,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "erin (escalation target)",
            env.token("erin"),
            200,
        ),
        (
            format!("/v1/requests/{id}?{wait}"),
            "admin role",
            real_admin.clone(),
            200,
        ),
        (
            format!("/v1/requests/{id}/audit?{wait}"),
            "admin-by-name",
            named_admin.clone(),
            403,
        ),
        (
            format!("/v1/requests/{id}/audit?{wait}"),
            "bob",
            env.token("bob"),
            403,
        ),
        (
            format!("/v1/requests/{id}/audit?{wait}"),
            "alice (requester)",
            env.token("alice"),
            200,
        ),
        (
            format!("/v1/requests/{id}/audit?{wait}"),
            "admin role",
            real_admin.clone(),
            200,
        ),
        (
            format!("/v1/audit?{wait}"),
            "admin-by-name",
            named_admin.clone(),
            403,
        ),
        (
            format!("/v1/audit?{wait}"),
            "scheduler role",
            scheduler.clone(),
            403,
        ),
        (
            format!("/v1/audit?{wait}"),
            "admin role",
            real_admin.clone(),
            200,
        ),
    ] {
        assert_eq!(get(path.clone(), token).await, status, "{who} GET {path}");
    }
    read_side.shutdown().await;
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs the gateway and sends good and bad commands with tokens while
/// `filter` decides what is logged; returns the log and the secrets used.
async fn traffic_logged_with(filter: tracing_subscriber::EnvFilter) -> (String, Vec<String>) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test runs on a current-thread runtime: every task of the gateway,
    // the NATS client and the store runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let key = Ed25519Key::generate("ed-log");
    let auth = AuthConfig {
        keys: test_auth().keys,
        ed25519_keys: vec![key.clone()],
        signing_key: Some("ed-log".into()),
        ..test_auth()
    };
    let env = env_with(auth.clone(), TokenIssuer::new(&auth).unwrap()).await;
    let ed_token = env.issuer.issue("alice", &[], 600);
    let hmac_token = issuer_for(&auth, "test-1").issue("alice", &[], 600);
    let mut bad_claims = claims("alice", vec![]);
    bad_claims.exp = 1_000;
    let expired = env.issuer.sign(&bad_claims);
    for token in [&ed_token, &hmac_token, &expired] {
        let _ = CommandClient::new(env.client.clone(), token.clone())
            .send("submit", &submit_body())
            .await
            .unwrap();
    }
    // Configs and key holders printed with Debug, as a careless log line would.
    tracing::info!(config = ?env.config(), issuer = ?env.issuer, key = ?key, "debug of secrets holders");
    drop(env);
    let secrets = vec![
        ed_token,
        hmac_token,
        expired,
        key.private_key.clone().unwrap(),
        test_auth().keys[0].secret.clone(),
    ];
    (captured.text(), secrets)
}

#[tokio::test]
async fn tokens_and_secrets_never_reach_the_log_even_at_trace() {
    let (log, secrets) =
        traffic_logged_with(redact_secrets(tracing_subscriber::EnvFilter::new("trace"))).await;
    // The capture works: the gateway's command spans and refusals are there.
    assert!(log.contains("command"), "nothing captured:\n{log}");
    assert!(log.contains("token refused"), "{log}");
    assert!(log.contains("reason=\"expired\""), "{log}");
    assert!(
        log.contains("async_nats"),
        "the NATS client logs at debug still"
    );
    assert!(
        log.contains("<redacted>"),
        "Debug of keys shows up, redacted"
    );
    for secret in &secrets {
        // Any long fragment of a token (its signature, say) counts as a leak.
        let fragment = &secret[secret.len().saturating_sub(40)..];
        assert!(
            !log.contains(fragment),
            "a secret reached the log ({} bytes of log)",
            log.len()
        );
    }
    // The control: without `redact_secrets` the NATS client's wire trace
    // prints message headers, tokens included — which is why every process uses it.
    let (unfiltered, secrets) =
        traffic_logged_with(tracing_subscriber::EnvFilter::new("trace")).await;
    assert!(
        unfiltered.contains(&secrets[0]),
        "the NATS wire trace no longer shows headers; the control is moot"
    );
}
