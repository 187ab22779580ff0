//! Bearer-token checking as API Gateway's JWT authorizer does it, for HS256 tokens signed
//! with `LOCAL_JWT_SECRET`: signature and `exp` are checked (no issuer or audience locally)
//! and the claims reach the handlers as the authorizer passes them, every value a string.

use serde_json::{Map, Value, json};
use shared::clock::Timestamp;
use shared::crypto;
use std::collections::HashMap;

pub const DEFAULT_SECRET: &str = "local-development-secret-not-for-production";

#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    UnsupportedAlgorithm,
    BadSignature,
    Expired,
    NotYetValid,
}

pub fn verify(token: &str, secret: &[u8], now: Timestamp) -> Result<HashMap<String, String>, JwtError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = decode_json(header)?;
    // Only HS256: accepting the token's own choice of algorithm is the classic JWT hole.
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    let signature = crypto::from_base64url(signature).ok_or(JwtError::Malformed)?;
    let signed = &token[..header_len(token)];
    let expected = crypto::hmac_sha256(secret, signed.as_bytes());
    if !crypto::constant_time_eq(&signature, &expected) {
        return Err(JwtError::BadSignature);
    }
    let Value::Object(claims) = decode_json(payload)? else {
        return Err(JwtError::Malformed);
    };
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or(JwtError::Malformed)?;
    if now.seconds() >= exp {
        return Err(JwtError::Expired);
    }
    match claims.get("nbf") {
        None => {}
        Some(nbf) => {
            let nbf = nbf.as_i64().ok_or(JwtError::Malformed)?;
            if now.seconds() < nbf {
                return Err(JwtError::NotYetValid);
            }
        }
    }
    // The caller is `sub`; a token whose subject is not a string names nobody.
    let subject = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty());
    if subject.is_none() {
        return Err(JwtError::Malformed);
    }
    Ok(stringify(claims))
}

/// Signs `claims` as an HS256 JWT.
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    let header = crypto::base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = crypto::base64url(&serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{header}.{payload}");
    let signature = crypto::base64url(&crypto::hmac_sha256(secret, signed.as_bytes()));
    format!("{signed}.{signature}")
}

/// A token for `sub`, valid for `seconds`.
pub fn token_for(sub: &str, extra: Map<String, Value>, seconds: i64, secret: &[u8]) -> String {
    let now = Timestamp::now();
    let mut claims = json!({ "sub": sub, "iat": now.seconds(), "exp": now.plus_seconds(seconds).seconds() });
    claims.as_object_mut().expect("an object").extend(extra);
    sign(&claims, secret)
}

fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json(part: &str) -> Result<Value, JwtError> {
    let bytes = crypto::from_base64url(part).ok_or(JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// API Gateway passes every claim as a string; non-string claims become their JSON text.
fn stringify(claims: Map<String, Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_yields_string_claims() {
        let token = token_for("user-1", Map::from_iter([("org_id".into(), json!("org_1"))]), 60, b"k");
        let claims = verify(&token, b"k", Timestamp::now()).unwrap();
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["org_id"], "org_1");
        assert!(claims["exp"].parse::<i64>().is_ok());
    }

    #[test]
    fn tampering_expiry_and_other_algorithms_are_refused() {
        let token = token_for("user-1", Map::new(), 60, b"k");
        assert_eq!(verify(&token, b"other", Timestamp::now()), Err(JwtError::BadSignature));
        let later = Timestamp::now().plus_seconds(61);
        assert_eq!(verify(&token, b"k", later), Err(JwtError::Expired));
        let forged_payload = crypto::base64url(br#"{"sub":"admin","exp":99999999999}"#);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = &forged_payload;
        assert_eq!(verify(&parts.join("."), b"k", Timestamp::now()), Err(JwtError::BadSignature));
        let none_header = crypto::base64url(br#"{"alg":"none"}"#);
        let unsigned = format!("{none_header}.{}.", crypto::base64url(br#"{"sub":"x","exp":99999999999}"#));
        assert_eq!(verify(&unsigned, b"k", Timestamp::now()), Err(JwtError::UnsupportedAlgorithm));
        assert_eq!(verify("not-a-jwt", b"k", Timestamp::now()), Err(JwtError::Malformed));
    }

    #[test]
    fn a_subject_that_is_not_a_string_and_a_future_nbf_are_refused() {
        let later = Timestamp::now().plus_seconds(3600).seconds();
        for claims in
            [json!({ "sub": 42, "exp": later }), json!({ "sub": null, "exp": later }), json!({ "exp": later })]
        {
            assert_eq!(verify(&sign(&claims, b"k"), b"k", Timestamp::now()), Err(JwtError::Malformed), "{claims}");
        }
        let early = json!({ "sub": "u", "exp": later, "nbf": later - 60 });
        assert_eq!(verify(&sign(&early, b"k"), b"k", Timestamp::now()), Err(JwtError::NotYetValid));
        let ready = json!({ "sub": "u", "exp": later, "nbf": Timestamp::now().seconds() - 1 });
        assert!(verify(&sign(&ready, b"k"), b"k", Timestamp::now()).is_ok());
    }
}
