//! Identity: who sent a command is read from a signed token (a JWT in the
//! `Authorization: Bearer` header), never from a field the caller typed.
//!
//! Two kinds of key, each with a key id (`kid`) that the token names:
//! - **Ed25519** (`EdDSA`), the production option: verifiers hold only the
//!   public key; only the issuer holds the private one.
//! - **HMAC-SHA256** (`HS256`), for development: one shared secret signs and verifies.
//!
//! Several keys of either kind may be active at once, so keys rotate without a
//! flag day. A key is revoked by removing it or by listing its id in
//! `revokedKeys` (refused even while still listed among the keys). A key only
//! ever verifies tokens of its own algorithm, so a token that names an
//! Ed25519 key but is "signed" with HS256 over the public key's bytes (the
//! classic algorithm confusion) is refused.
//!
//! Secrets and tokens never reach a log: `Debug` of every key redacts its
//! secret part, errors never quote the token, and [`redact_secrets`] keeps the
//! NATS client's wire trace (which prints message headers, the token among
//! them) out of every log filter.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use signoff_engine::{Actor, Authentication, Role, UserId};

/// Shortest HMAC secret accepted (bytes).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// Active HMAC (HS256) keys, for development; tokens name theirs in the `kid` header.
    #[serde(default)]
    pub keys: Vec<HmacKey>,
    /// Active Ed25519 (EdDSA) keys, the production option.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ed25519_keys: Vec<Ed25519Key>,
    /// Key id used to issue new tokens (default: the first Ed25519 key with
    /// a private key, else the first HMAC key, skipping revoked ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// Key ids whose tokens are refused, whether or not the key is still listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_keys: Vec<String>,
    /// Clock skew tolerated on `exp`/`nbf`, seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HmacKey {
    pub kid: String,
    pub secret: String,
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacKey {{ kid: {:?}, secret: <redacted> }}", self.kid)
    }
}

/// An Ed25519 key: the public key (32 bytes, hex) verifies; the private key
/// (the 32-byte seed, hex) signs and is needed only where tokens are issued.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ed25519Key {
    pub kid: String,
    pub public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ed25519Key {{ kid: {:?}, public_key: {:?}, private_key: {} }}",
            self.kid,
            self.public_key,
            if self.private_key.is_some() {
                "<redacted>"
            } else {
                "None"
            }
        )
    }
}

impl Ed25519Key {
    /// A new key pair from the operating system's random source.
    pub fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random source works");
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        Self {
            kid: kid.to_owned(),
            public_key: hex::encode(signing.verifying_key().as_bytes()),
            private_key: Some(hex::encode(seed)),
        }
    }

    /// The same key without its private half: what a verifier's config holds.
    pub fn public_only(&self) -> Self {
        Self {
            private_key: None,
            ..self.clone()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// Why a token was refused. Every variant means: nothing was written.
/// Messages never quote the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token names no key id (`kid` header)")]
    NoKeyId,
    #[error("token is signed with key `{0}`, which is not active")]
    UnknownKey(String),
    #[error("token is signed with key `{0}`, which is revoked")]
    RevokedKey(String),
    #[error("token says algorithm {got}, but key `{kid}` verifies {expected} only")]
    WrongAlgorithm {
        kid: String,
        expected: &'static str,
        got: String,
    },
    #[error("token signature does not verify with key `{0}`")]
    BadSignature(String),
    #[error("token has expired")]
    Expired,
    #[error("token was issued by someone else (wrong `iss`)")]
    WrongIssuer,
    #[error("token is meant for another audience (wrong `aud`)")]
    WrongAudience,
    #[error("token lacks or has a malformed required claim: {0}")]
    BadClaim(String),
    #[error("token subject is not a valid user id: {0}")]
    BadSubject(String),
}

/// The reason a token was refused, as counted in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    Missing,
    NotBearer,
    Malformed,
    NoKeyId,
    UnknownKey,
    RevokedKey,
    WrongAlgorithm,
    BadSignature,
    Expired,
    WrongIssuer,
    WrongAudience,
    BadClaim,
    BadSubject,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 13] = [
        RefusalReason::Missing,
        RefusalReason::NotBearer,
        RefusalReason::Malformed,
        RefusalReason::NoKeyId,
        RefusalReason::UnknownKey,
        RefusalReason::RevokedKey,
        RefusalReason::WrongAlgorithm,
        RefusalReason::BadSignature,
        RefusalReason::Expired,
        RefusalReason::WrongIssuer,
        RefusalReason::WrongAudience,
        RefusalReason::BadClaim,
        RefusalReason::BadSubject,
    ];

    /// Stable metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::Missing => "missing",
            RefusalReason::NotBearer => "not_bearer",
            RefusalReason::Malformed => "malformed",
            RefusalReason::NoKeyId => "no_key_id",
            RefusalReason::UnknownKey => "unknown_key",
            RefusalReason::RevokedKey => "revoked_key",
            RefusalReason::WrongAlgorithm => "wrong_algorithm",
            RefusalReason::BadSignature => "bad_signature",
            RefusalReason::Expired => "expired",
            RefusalReason::WrongIssuer => "wrong_issuer",
            RefusalReason::WrongAudience => "wrong_audience",
            RefusalReason::BadClaim => "bad_claim",
            RefusalReason::BadSubject => "bad_subject",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .expect("listed in ALL")
    }
}

impl AuthError {
    pub fn reason(&self) -> RefusalReason {
        match self {
            AuthError::Missing => RefusalReason::Missing,
            AuthError::NotBearer => RefusalReason::NotBearer,
            AuthError::Malformed(_) => RefusalReason::Malformed,
            AuthError::NoKeyId => RefusalReason::NoKeyId,
            AuthError::UnknownKey(_) => RefusalReason::UnknownKey,
            AuthError::RevokedKey(_) => RefusalReason::RevokedKey,
            AuthError::WrongAlgorithm { .. } => RefusalReason::WrongAlgorithm,
            AuthError::BadSignature(_) => RefusalReason::BadSignature,
            AuthError::Expired => RefusalReason::Expired,
            AuthError::WrongIssuer => RefusalReason::WrongIssuer,
            AuthError::WrongAudience => RefusalReason::WrongAudience,
            AuthError::BadClaim(_) => RefusalReason::BadClaim,
            AuthError::BadSubject(_) => RefusalReason::BadSubject,
        }
    }
}

/// Refused tokens, counted by reason (for metrics and tests).
#[derive(Debug, Default)]
pub struct TokenRefusals {
    counts: [AtomicU64; RefusalReason::ALL.len()],
}

impl TokenRefusals {
    pub fn record(&self, reason: RefusalReason) {
        self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self, reason: RefusalReason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `(label, count)` for every reason, zeros included.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        RefusalReason::ALL
            .iter()
            .map(|r| (r.as_str(), self.count(*r)))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("auth.keys and auth.ed25519Keys are both empty: at least one key is needed")]
    NoKeys,
    #[error("auth.keys[{index}] (`{kid}`): secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    WeakSecret {
        index: usize,
        kid: String,
        len: usize,
    },
    #[error("key id `{kid}` is listed twice among auth.keys and auth.ed25519Keys")]
    DuplicateKid { index: usize, kid: String },
    #[error("auth.ed25519Keys[{index}] (`{kid}`): {field} {problem}")]
    BadEd25519Key {
        index: usize,
        kid: String,
        field: &'static str,
        problem: String,
    },
    #[error("auth.signingKey `{0}` is not among auth.keys or auth.ed25519Keys")]
    UnknownSigningKey(String),
    #[error("auth.signingKey `{0}` is listed in auth.revokedKeys")]
    RevokedSigningKey(String),
    #[error("auth.signingKey `{0}` is an Ed25519 key without its privateKey; only its public key is configured here")]
    NoPrivateKey(String),
    #[error(
        "no key here can sign: every key is revoked or is an Ed25519 key without a privateKey"
    )]
    NoSigningKey,
}

/// One active key as the verifier holds it.
#[derive(Clone)]
struct VerifyingKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

/// Verified tokens kept by a [`TokenVerifier`] (the token text → who it names).
const VERIFIED_TOKENS_KEPT: usize = 10_000;

/// A token that verified: what it names, and until when it may be used.
#[derive(Clone)]
struct VerifiedToken {
    actor: Actor,
    kid: String,
    /// The `exp` claim (seconds since the epoch).
    exp: u64,
}

/// Verifies tokens against the active keys.
///
/// A client sends the same token with every command, so the verifier keeps
/// the tokens that verified (up to [`VERIFIED_TOKENS_KEPT`], keyed by their
/// exact text) and skips the decoding and the signature check when one comes
/// again. Everything that can change with time is still checked on every use:
/// the expiry (with the same leeway) and the revocation of its key. A token
/// that fails is never kept. Clones share the kept tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, VerifyingKey>,
    revoked: HashSet<String>,
    hs256: Validation,
    eddsa: Validation,
    issuer: String,
    leeway_secs: u64,
    verified: Arc<Mutex<HashMap<String, VerifiedToken>>>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("key_ids", &kids)
            .field("revoked", &self.revoked)
            .finish()
    }
}

impl TokenVerifier {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        check_config(config)?;
        let mut keys = HashMap::new();
        for key in &config.keys {
            keys.insert(
                key.kid.clone(),
                VerifyingKey {
                    key: DecodingKey::from_secret(key.secret.as_bytes()),
                    algorithm: Algorithm::HS256,
                },
            );
        }
        for (index, key) in config.ed25519_keys.iter().enumerate() {
            let public = parse_public(index, key)?;
            keys.insert(
                key.kid.clone(),
                VerifyingKey {
                    // The raw 32-byte public key (what a JWK's `x` holds).
                    key: DecodingKey::from_ed_der(&public),
                    algorithm: Algorithm::EdDSA,
                },
            );
        }
        let validation = |algorithm| {
            let mut validation = Validation::new(algorithm);
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.leeway = config.leeway_secs;
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation
        };
        Ok(Self {
            keys,
            revoked: config.revoked_keys.iter().cloned().collect(),
            hs256: validation(Algorithm::HS256),
            eddsa: validation(Algorithm::EdDSA),
            issuer: config.issuer.clone(),
            leeway_secs: config.leeway_secs,
            verified: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Reads the `Authorization` header value and returns the verified actor.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Actor, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value.strip_prefix("Bearer ").ok_or(AuthError::NotBearer)?;
        self.verify(token.trim())
    }

    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        if let Some(actor) = self.verified_before(token) {
            return Ok(actor);
        }
        let (actor, exp) = self.verify_uncached(token)?;
        let kid = actor.authentication.key_id.clone().unwrap_or_default();
        let mut verified = self.verified.lock().expect("verified tokens lock");
        if verified.len() >= VERIFIED_TOKENS_KEPT {
            verified.clear();
        }
        verified.insert(
            token.to_owned(),
            VerifiedToken {
                actor: actor.clone(),
                kid,
                exp,
            },
        );
        Ok(actor)
    }

    /// The actor of a token that verified before and is still usable now;
    /// `None` sends it through the full check (which gives the reason).
    fn verified_before(&self, token: &str) -> Option<Actor> {
        let mut verified = self.verified.lock().expect("verified tokens lock");
        let entry = verified.get(token)?;
        // As jsonwebtoken checks it: expired when `exp < now - leeway`.
        let expired = entry.exp.saturating_add(self.leeway_secs) < now_secs();
        if expired || self.revoked.contains(&entry.kid) || !self.keys.contains_key(&entry.kid) {
            verified.remove(token);
            return None;
        }
        Some(entry.actor.clone())
    }

    /// Decodes the token and checks its key, signature and claims. Returns
    /// the actor and the token's expiry.
    fn verify_uncached(&self, token: &str) -> Result<(Actor, u64), AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Malformed(describe(e.kind())))?;
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        if self.revoked.contains(&kid) {
            return Err(AuthError::RevokedKey(kid));
        }
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        if header.alg != key.algorithm {
            return Err(AuthError::WrongAlgorithm {
                kid,
                expected: algorithm_name(key.algorithm),
                got: format!("{:?}", header.alg),
            });
        }
        let validation = match key.algorithm {
            Algorithm::EdDSA => &self.eddsa,
            _ => &self.hs256,
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.key, validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature(kid.clone()),
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                    ErrorKind::InvalidAudience => AuthError::WrongAudience,
                    ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm {
                        kid: kid.clone(),
                        expected: algorithm_name(key.algorithm),
                        got: format!("{:?}", header.alg),
                    },
                    ErrorKind::MissingRequiredClaim(claim) => {
                        AuthError::BadClaim(format!("`{claim}` is missing"))
                    }
                    ErrorKind::InvalidClaimFormat(claim) => {
                        AuthError::BadClaim(format!("`{claim}` is malformed"))
                    }
                    ErrorKind::Json(e) => AuthError::BadClaim(e.to_string()),
                    other => AuthError::Malformed(describe(other)),
                }
            })?;
        let claims = data.claims;
        let user = UserId::parse(&claims.sub).map_err(|e| AuthError::BadSubject(e.to_string()))?;
        let actor = Actor {
            user,
            roles: claims.roles,
            authentication: Authentication {
                method: format!("jwt/{}", algorithm_name(key.algorithm)),
                key_id: Some(kid),
                issuer: Some(self.issuer.clone()),
                token_id: claims.jti,
            },
        };
        Ok((actor, claims.exp))
    }
}

/// Seconds since the epoch, the clock jsonwebtoken checks `exp` against.
fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A jsonwebtoken error, described without quoting the token.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidToken => "it is not three base64url parts separated by dots".into(),
        ErrorKind::Base64(_) => "a part is not base64url".into(),
        ErrorKind::Json(_) => "the header or claims are not the expected JSON".into(),
        ErrorKind::Utf8(_) => "a part is not UTF-8".into(),
        ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            "the algorithm is not supported".into()
        }
        other => format!("{other:?}"),
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::EdDSA => "EdDSA",
        _ => "HS256",
    }
}

/// Issues tokens (for `signoff dev`, `signoff token issue` and tests).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: String,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        check_config(config)?;
        let revoked = |kid: &str| config.revoked_keys.iter().any(|r| r == kid);
        let kid = match &config.signing_key {
            Some(kid) => kid.clone(),
            None => config
                .ed25519_keys
                .iter()
                .filter(|k| k.private_key.is_some())
                .map(|k| &k.kid)
                .chain(config.keys.iter().map(|k| &k.kid))
                .find(|kid| !revoked(kid))
                .cloned()
                .ok_or(AuthConfigError::NoSigningKey)?,
        };
        if revoked(&kid) {
            return Err(AuthConfigError::RevokedSigningKey(kid));
        }
        let (key, algorithm) = if let Some(key) = config.keys.iter().find(|k| k.kid == kid) {
            (
                EncodingKey::from_secret(key.secret.as_bytes()),
                Algorithm::HS256,
            )
        } else if let Some((index, key)) = config
            .ed25519_keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.kid == kid)
        {
            let seed =
                parse_private(index, key)?.ok_or(AuthConfigError::NoPrivateKey(kid.clone()))?;
            let der = ed25519_dalek::SigningKey::from_bytes(&seed)
                .to_pkcs8_der()
                .map_err(|e| AuthConfigError::BadEd25519Key {
                    index,
                    kid: kid.clone(),
                    field: "privateKey",
                    problem: e.to_string(),
                })?;
            (EncodingKey::from_ed_der(der.as_bytes()), Algorithm::EdDSA)
        } else {
            return Err(AuthConfigError::UnknownSigningKey(kid));
        };
        Ok(Self {
            key,
            algorithm,
            kid,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// The key id this issuer signs with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token for `user` with `roles`, valid for `ttl_secs`.
    pub fn issue(&self, user: &str, roles: &[Role], ttl_secs: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            sub: user.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl_secs,
            iat: now,
            jti: Some(uuid::Uuid::new_v4().to_string()),
            roles: roles.to_vec(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .expect("signing with a key checked at start cannot fail")
    }
}

fn decode_32(
    index: usize,
    key: &Ed25519Key,
    field: &'static str,
    hex_text: &str,
) -> Result<[u8; 32], AuthConfigError> {
    let bad = |problem: String| AuthConfigError::BadEd25519Key {
        index,
        kid: key.kid.clone(),
        field,
        problem,
    };
    let bytes = hex::decode(hex_text.trim()).map_err(|_| bad("is not hex".into()))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| bad(format!("is {} bytes; an Ed25519 key is 32", bytes.len())))
}

fn parse_public(index: usize, key: &Ed25519Key) -> Result<[u8; 32], AuthConfigError> {
    let bytes = decode_32(index, key, "publicKey", &key.public_key)?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| {
        AuthConfigError::BadEd25519Key {
            index,
            kid: key.kid.clone(),
            field: "publicKey",
            problem: "is not a point on the Ed25519 curve".into(),
        }
    })?;
    Ok(bytes)
}

fn parse_private(index: usize, key: &Ed25519Key) -> Result<Option<[u8; 32]>, AuthConfigError> {
    let Some(private) = &key.private_key else {
        return Ok(None);
    };
    let seed = decode_32(index, key, "privateKey", private)?;
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    if public.as_bytes() != &parse_public(index, key)? {
        return Err(AuthConfigError::BadEd25519Key {
            index,
            kid: key.kid.clone(),
            field: "privateKey",
            problem: "does not belong to the publicKey".into(),
        });
    }
    Ok(Some(seed))
}

fn check_config(config: &AuthConfig) -> Result<(), AuthConfigError> {
    if config.keys.is_empty() && config.ed25519_keys.is_empty() {
        return Err(AuthConfigError::NoKeys);
    }
    let mut seen = HashSet::new();
    for (index, key) in config.keys.iter().enumerate() {
        if key.secret.len() < MIN_SECRET_BYTES {
            return Err(AuthConfigError::WeakSecret {
                index,
                kid: key.kid.clone(),
                len: key.secret.len(),
            });
        }
        if !seen.insert(key.kid.as_str()) {
            return Err(AuthConfigError::DuplicateKid {
                index,
                kid: key.kid.clone(),
            });
        }
    }
    for (index, key) in config.ed25519_keys.iter().enumerate() {
        parse_public(index, key)?;
        parse_private(index, key)?;
        if !seen.insert(key.kid.as_str()) {
            return Err(AuthConfigError::DuplicateKid {
                index,
                kid: key.kid.clone(),
            });
        }
    }
    Ok(())
}

/// Adds to a log filter the directives that keep secrets out of the log,
/// whatever level was asked for: the NATS client traces every message it
/// writes or reads with its headers (`Authorization: Bearer <token>`), so its
/// trace level is never enabled. Every process's subscriber goes through this.
/// Only a filter that could enable TRACE somewhere gets `async_nats=debug`:
/// the level is capped, never raised, so a quiet filter stays quiet.
pub fn redact_secrets(filter: tracing_subscriber::EnvFilter) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    match filter.max_level_hint() {
        Some(level) if level <= LevelFilter::DEBUG => filter,
        _ => filter.add_directive("async_nats=debug".parse().expect("a valid directive")),
    }
}

/// A fresh development config with one random key.
pub fn dev_auth_config() -> AuthConfig {
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    AuthConfig {
        issuer: "signoff-dev".into(),
        audience: "signoff".into(),
        keys: vec![HmacKey {
            kid: "dev-1".into(),
            secret,
        }],
        ed25519_keys: Vec::new(),
        signing_key: None,
        revoked_keys: Vec::new(),
        leeway_secs: default_leeway(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuthConfig {
        AuthConfig {
            issuer: "iss".into(),
            audience: "aud".into(),
            keys: vec![
                HmacKey {
                    kid: "k1".into(),
                    secret: "a".repeat(32),
                },
                HmacKey {
                    kid: "k2".into(),
                    secret: "b".repeat(32),
                },
            ],
            ed25519_keys: Vec::new(),
            signing_key: None,
            revoked_keys: Vec::new(),
            leeway_secs: 0,
        }
    }

    fn ed_config() -> AuthConfig {
        AuthConfig {
            keys: Vec::new(),
            ed25519_keys: vec![Ed25519Key::generate("ed-1"), Ed25519Key::generate("ed-2")],
            ..config()
        }
    }

    #[test]
    fn the_secret_filter_caps_the_nats_client_and_never_raises_it() {
        use tracing_subscriber::filter::LevelFilter;
        use tracing_subscriber::EnvFilter;
        let quiet = redact_secrets(EnvFilter::new("signoff=info,warn"));
        assert_eq!(quiet.max_level_hint(), Some(LevelFilter::INFO));
        let loud = redact_secrets(EnvFilter::new("trace"));
        assert!(loud.to_string().contains("async_nats=debug"), "{loud}");
    }

    #[test]
    fn a_token_from_an_active_key_yields_the_actor_with_roles() {
        let cfg = config();
        let token = TokenIssuer::new(&cfg)
            .unwrap()
            .issue("alice", &[Role::Admin], 60);
        let actor = TokenVerifier::new(&cfg)
            .unwrap()
            .verify_header(Some(&format!("Bearer {token}")))
            .unwrap();
        assert_eq!(actor.user.as_str(), "alice");
        assert_eq!(actor.roles, vec![Role::Admin]);
        assert_eq!(actor.authentication.key_id.as_deref(), Some("k1"));
        assert_eq!(actor.authentication.method, "jwt/HS256");
    }

    #[test]
    fn a_verified_token_is_kept_but_its_expiry_is_checked_on_every_use() {
        let cfg = config();
        let verifier = TokenVerifier::new(&cfg).unwrap();
        let token = TokenIssuer::new(&cfg).unwrap().issue("alice", &[], 60);
        let first = verifier.verify(&token).unwrap();
        assert_eq!(verifier.verify(&token).unwrap(), first);
        let kept = |text: &str| verifier.verified.lock().unwrap().contains_key(text);
        assert!(kept(&token));
        // A refused token is never kept.
        let mut forged = token.clone();
        forged.pop();
        assert!(verifier.verify(&forged).is_err());
        assert!(!kept(&forged));
        // A kept entry is honoured while unexpired, and dropped once expired
        // (the token then goes through the full check, which refuses this one).
        let entry = |exp| VerifiedToken {
            actor: first.clone(),
            kid: "k1".into(),
            exp,
        };
        let insert = |text: &str, e| {
            verifier.verified.lock().unwrap().insert(text.into(), e);
        };
        insert("not-a-jwt", entry(now_secs() + 60));
        assert_eq!(verifier.verify("not-a-jwt").unwrap(), first);
        insert("not-a-jwt", entry(now_secs() - 1));
        assert!(matches!(
            verifier.verify("not-a-jwt"),
            Err(AuthError::Malformed(_))
        ));
        assert!(!kept("not-a-jwt"));
        // A kept entry of a key that is no longer active is dropped too.
        let revoked = TokenVerifier {
            revoked: ["k1".to_string()].into(),
            ..verifier.clone()
        };
        insert("not-a-jwt", entry(now_secs() + 60));
        assert!(revoked.verify("not-a-jwt").is_err());
        assert!(!kept("not-a-jwt"));
        // Clones share what was kept.
        assert!(verifier.clone().verified_before(&token).is_some());
    }

    #[test]
    fn rotated_keys_both_verify_and_a_removed_or_revoked_key_is_refused() {
        let cfg = config();
        let mut second = cfg.clone();
        second.signing_key = Some("k2".into());
        let token = TokenIssuer::new(&second).unwrap().issue("bob", &[], 60);
        assert!(TokenVerifier::new(&cfg).unwrap().verify(&token).is_ok());
        let mut removed = cfg.clone();
        removed.keys.retain(|k| k.kid != "k2");
        assert_eq!(
            TokenVerifier::new(&removed).unwrap().verify(&token),
            Err(AuthError::UnknownKey("k2".into()))
        );
        let mut revoked = cfg.clone();
        revoked.revoked_keys = vec!["k2".into()];
        assert_eq!(
            TokenVerifier::new(&revoked).unwrap().verify(&token),
            Err(AuthError::RevokedKey("k2".into()))
        );
        // An issuer never signs with a revoked key, named or by default.
        assert!(matches!(
            TokenIssuer::new(&AuthConfig {
                signing_key: Some("k2".into()),
                ..revoked.clone()
            }),
            Err(AuthConfigError::RevokedSigningKey(_))
        ));
        revoked.revoked_keys = vec!["k1".into()];
        assert_eq!(TokenIssuer::new(&revoked).unwrap().kid(), "k2");
    }

    #[test]
    fn ed25519_tokens_verify_with_the_public_key_alone() {
        let cfg = ed_config();
        let issuer = TokenIssuer::new(&cfg).unwrap();
        assert_eq!(issuer.kid(), "ed-1");
        let token = issuer.issue("alice", &[Role::Admin], 60);
        let public = AuthConfig {
            ed25519_keys: cfg
                .ed25519_keys
                .iter()
                .map(Ed25519Key::public_only)
                .collect(),
            ..cfg.clone()
        };
        let actor = TokenVerifier::new(&public).unwrap().verify(&token).unwrap();
        assert_eq!(actor.user.as_str(), "alice");
        assert_eq!(actor.authentication.method, "jwt/EdDSA");
        assert!(matches!(
            TokenIssuer::new(&public),
            Err(AuthConfigError::NoSigningKey)
        ));
        // Another key pair under the same kid: the signature does not verify.
        let mut other = cfg.clone();
        other.ed25519_keys[0] = Ed25519Key::generate("ed-1");
        let forged = TokenIssuer::new(&other).unwrap().issue("mallory", &[], 60);
        assert_eq!(
            TokenVerifier::new(&public).unwrap().verify(&forged),
            Err(AuthError::BadSignature("ed-1".into()))
        );
    }

    #[test]
    fn an_hs256_token_keyed_with_an_ed25519_public_key_is_refused() {
        let cfg = ed_config();
        let public = hex::decode(&cfg.ed25519_keys[0].public_key).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("ed-1".into());
        let claims = Claims {
            sub: "mallory".into(),
            iss: "iss".into(),
            aud: "aud".into(),
            exp: u64::MAX / 2,
            iat: 0,
            jti: None,
            roles: vec![Role::Admin],
        };
        let confused =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public)).unwrap();
        assert!(matches!(
            TokenVerifier::new(&cfg).unwrap().verify(&confused),
            Err(AuthError::WrongAlgorithm {
                expected: "EdDSA",
                ..
            })
        ));
    }

    #[test]
    fn forged_expired_foreign_and_missing_tokens_are_refused() {
        let cfg = config();
        let verifier = TokenVerifier::new(&cfg).unwrap();
        let issuer = TokenIssuer::new(&cfg).unwrap();
        // Forged: signed with another secret under a known kid.
        let mut forged_cfg = cfg.clone();
        forged_cfg.keys[0].secret = "z".repeat(32);
        let forged = TokenIssuer::new(&forged_cfg)
            .unwrap()
            .issue("mallory", &[Role::Admin], 60);
        assert_eq!(
            verifier.verify(&forged),
            Err(AuthError::BadSignature("k1".into()))
        );
        let mut claims = Claims {
            sub: "alice".into(),
            iss: "iss".into(),
            aud: "aud".into(),
            exp: 1,
            iat: 0,
            jti: None,
            roles: vec![],
        };
        assert_eq!(
            verifier.verify(&issuer.sign(&claims)),
            Err(AuthError::Expired)
        );
        claims.exp = u64::MAX / 2;
        claims.aud = "other".into();
        assert_eq!(
            verifier.verify(&issuer.sign(&claims)),
            Err(AuthError::WrongAudience)
        );
        claims.aud = "aud".into();
        claims.iss = "other".into();
        assert_eq!(
            verifier.verify(&issuer.sign(&claims)),
            Err(AuthError::WrongIssuer)
        );
        // alg=none style token.
        let none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJzdWIiOiJhbGljZSJ9.";
        assert!(verifier.verify(none).is_err());
        assert!(matches!(
            verifier.verify("not-a-jwt"),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(verifier.verify_header(None), Err(AuthError::Missing));
        assert_eq!(
            verifier.verify_header(Some("Basic abc")),
            Err(AuthError::NotBearer)
        );
    }

    #[test]
    fn weak_duplicate_or_broken_keys_are_refused_at_start() {
        let mut cfg = config();
        cfg.keys[1].secret = "short".into();
        assert!(matches!(
            TokenVerifier::new(&cfg),
            Err(AuthConfigError::WeakSecret { index: 1, .. })
        ));
        let mut cfg = config();
        cfg.keys[1].kid = "k1".into();
        assert!(matches!(
            TokenVerifier::new(&cfg),
            Err(AuthConfigError::DuplicateKid { .. })
        ));
        let mut cfg = ed_config();
        cfg.ed25519_keys[1].kid = "ed-1".into();
        assert!(matches!(
            TokenVerifier::new(&cfg),
            Err(AuthConfigError::DuplicateKid { .. })
        ));
        let mut cfg = ed_config();
        cfg.ed25519_keys[0].public_key = "abcd".into();
        assert!(matches!(
            TokenVerifier::new(&cfg),
            Err(AuthConfigError::BadEd25519Key {
                field: "publicKey",
                ..
            })
        ));
        let mut cfg = ed_config();
        cfg.ed25519_keys[0].private_key = cfg.ed25519_keys[1].private_key.clone();
        assert!(matches!(
            TokenVerifier::new(&cfg),
            Err(AuthConfigError::BadEd25519Key {
                field: "privateKey",
                ..
            })
        ));
        let none = AuthConfig {
            keys: Vec::new(),
            ..config()
        };
        assert!(matches!(
            TokenVerifier::new(&none),
            Err(AuthConfigError::NoKeys)
        ));
    }

    #[test]
    fn configs_with_hmac_keys_only_keep_loading_and_secrets_never_print() {
        let cfg: AuthConfig = serde_json::from_str(
            r#"{"issuer":"i","audience":"a","keys":[{"kid":"k","secret":"0123456789abcdef0123456789abcdef"}]}"#,
        )
        .unwrap();
        assert!(TokenVerifier::new(&cfg).is_ok());
        let ed = ed_config();
        let printed = format!(
            "{cfg:?} {ed:?} {:?} {:?}",
            TokenIssuer::new(&ed).unwrap(),
            TokenVerifier::new(&ed).unwrap()
        );
        assert!(
            !printed.contains("0123456789abcdef0123456789abcdef"),
            "{printed}"
        );
        for key in &ed.ed25519_keys {
            assert!(
                !printed.contains(key.private_key.as_deref().unwrap()),
                "{printed}"
            );
        }
        let round: AuthConfig = serde_json::from_str(&serde_json::to_string(&ed).unwrap()).unwrap();
        assert_eq!(
            round.ed25519_keys[0].public_key,
            ed.ed25519_keys[0].public_key
        );
    }
}
