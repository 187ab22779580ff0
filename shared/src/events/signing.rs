//! Standard Webhooks signatures (standardwebhooks.com): HMAC-SHA256 with the endpoint's key
//! over `{webhook-id}.{webhook-timestamp}.{body}`, the exact bytes sent, written
//! `v1,{base64}` in `webhook-signature`. Consumers verify with any Standard Webhooks
//! library.

use crate::crypto;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The `webhook-signature` value for one message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = Vec::with_capacity(id.len() + body.len() + 24);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    format!("v1,{}", crypto::base64_standard(&crypto::hmac_sha256(key, &signed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> Vec<u8> {
        crypto::from_base64_standard(secret.strip_prefix("whsec_").unwrap()).unwrap()
    }

    /// The reference vectors of the Standard Webhooks libraries' own tests (Python and
    /// JavaScript; Rust).
    #[test]
    fn signs_like_the_reference_libraries() {
        let python = sign(
            &key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(python, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let rust = sign(
            &key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(rust, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }
}
