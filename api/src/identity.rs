//! Identity: who sent a command is read from a signed token (a JWT in the
//! `Authorization: Bearer` header), never from a field the caller typed.
//! HMAC-SHA256 keys, each with a key id (`kid`), so keys can rotate: several
//! may be active; removing one revokes every token signed with it.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Active signing keys; tokens name theirs in the `kid` header.
    pub keys: Vec<HmacKey>,
    /// Key id used to issue new tokens (default: the first key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no `Authorization: Bearer <token>` header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("token names no key id (`kid` header)")]
    NoKeyId,
    #[error("token is signed with key `{0}`, which is not active")]
    UnknownKey(String),
    #[error("token refused: {0}")]
    Invalid(String),
    #[error("token subject is not a valid user id: {0}")]
    BadSubject(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("auth.keys is empty: at least one key is needed")]
    NoKeys,
    #[error("auth.keys[{index}] (`{kid}`): secret is {len} bytes; at least {MIN_SECRET_BYTES} are required")]
    WeakSecret {
        index: usize,
        kid: String,
        len: usize,
    },
    #[error("auth.keys[{index}]: key id `{kid}` is listed twice")]
    DuplicateKid { index: usize, kid: String },
    #[error("auth.signingKey `{0}` is not among auth.keys")]
    UnknownSigningKey(String),
}

/// Verifies tokens against the active keys.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
}

impl TokenVerifier {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        check_config(config)?;
        let keys = config
            .keys
            .iter()
            .map(|k| (k.kid.clone(), DecodingKey::from_secret(k.secret.as_bytes())))
            .collect();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.leeway = config.leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        Ok(Self {
            keys,
            validation,
            issuer: config.issuer.clone(),
        })
    }

    /// Reads the `Authorization` header value and returns the verified actor.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Actor, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value.strip_prefix("Bearer ").ok_or(AuthError::NotBearer)?;
        self.verify(token.trim())
    }

    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| AuthError::UnknownKey(kid.clone()))?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let user = UserId::parse(&claims.sub).map_err(|e| AuthError::BadSubject(e.to_string()))?;
        Ok(Actor {
            user,
            roles: claims.roles,
            authentication: Authentication {
                method: "jwt/HS256".into(),
                key_id: Some(kid),
                issuer: Some(self.issuer.clone()),
                token_id: claims.jti,
            },
        })
    }
}

/// Issues tokens (for `signoff dev`, `signoff token issue` and tests).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    kid: String,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    pub fn new(config: &AuthConfig) -> Result<Self, AuthConfigError> {
        check_config(config)?;
        let kid = config
            .signing_key
            .clone()
            .unwrap_or_else(|| config.keys[0].kid.clone());
        let key = config
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| AuthConfigError::UnknownSigningKey(kid.clone()))?;
        Ok(Self {
            key: EncodingKey::from_secret(key.secret.as_bytes()),
            kid,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
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
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("HS256 signing cannot fail")
    }
}

fn check_config(config: &AuthConfig) -> Result<(), AuthConfigError> {
    if config.keys.is_empty() {
        return Err(AuthConfigError::NoKeys);
    }
    for (index, key) in config.keys.iter().enumerate() {
        if key.secret.len() < MIN_SECRET_BYTES {
            return Err(AuthConfigError::WeakSecret {
                index,
                kid: key.kid.clone(),
                len: key.secret.len(),
            });
        }
        if config.keys[..index].iter().any(|k| k.kid == key.kid) {
            return Err(AuthConfigError::DuplicateKid {
                index,
                kid: key.kid.clone(),
            });
        }
    }
    Ok(())
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
        signing_key: None,
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
            signing_key: None,
            leeway_secs: 0,
        }
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
    }

    #[test]
    fn rotated_keys_both_verify_and_a_removed_key_is_revoked() {
        let cfg = config();
        let mut second = cfg.clone();
        second.signing_key = Some("k2".into());
        let token = TokenIssuer::new(&second).unwrap().issue("bob", &[], 60);
        assert!(TokenVerifier::new(&cfg).unwrap().verify(&token).is_ok());
        let mut revoked = cfg.clone();
        revoked.keys.retain(|k| k.kid != "k2");
        assert_eq!(
            TokenVerifier::new(&revoked).unwrap().verify(&token),
            Err(AuthError::UnknownKey("k2".into()))
        );
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
        assert!(matches!(
            verifier.verify(&forged),
            Err(AuthError::Invalid(_))
        ));
        // Expired.
        let mut claims = Claims {
            sub: "alice".into(),
            iss: "iss".into(),
            aud: "aud".into(),
            exp: 1,
            iat: 0,
            jti: None,
            roles: vec![],
        };
        assert!(matches!(
            verifier.verify(&issuer.sign(&claims)),
            Err(AuthError::Invalid(_))
        ));
        // Wrong audience.
        claims.exp = u64::MAX / 2;
        claims.aud = "other".into();
        assert!(matches!(
            verifier.verify(&issuer.sign(&claims)),
            Err(AuthError::Invalid(_))
        ));
        // alg=none style token.
        let none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJzdWIiOiJhbGljZSJ9.";
        assert!(verifier.verify(none).is_err());
        assert_eq!(verifier.verify_header(None), Err(AuthError::Missing));
        assert_eq!(
            verifier.verify_header(Some("Basic abc")),
            Err(AuthError::NotBearer)
        );
    }

    #[test]
    fn weak_or_duplicate_keys_are_refused_at_start() {
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
    }
}
