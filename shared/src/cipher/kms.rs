//! AWS KMS: `Encrypt`/`Decrypt` with the token context as the encryption context. KMS
//! refuses a decrypt under any other context, and CloudTrail records the context with every
//! use of the key.

use super::{Cipher, CipherError, TokenContext};
use crate::domain::Ciphertext;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::DisplayErrorContext;
use aws_sdk_kms::primitives::Blob;

pub struct KmsCipher {
    client: Client,
    key_id: String,
}

impl KmsCipher {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }

    /// Makes sure `alias` names a key, creating a symmetric key and the alias when missing
    /// (the local stack's `LOCAL_BACKEND=aws` and the tests; in AWS the template does).
    pub async fn ensure_key(client: &Client, alias: &str) -> Result<(), CipherError> {
        match client.describe_key().key_id(alias).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => {}
            Err(e) => return Err(CipherError::Unavailable(DisplayErrorContext(&e).to_string())),
        }
        let created = client
            .create_key()
            .description("WhatsApp access tokens (local)")
            .send()
            .await
            .map_err(|e| CipherError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        let key_id = created.key_metadata().map(|m| m.key_id().to_owned()).unwrap_or_default();
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| CipherError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl Cipher for KmsCipher {
    async fn seal_bytes(&self, clear: &[u8], context: TokenContext<'_>) -> Result<Ciphertext, CipherError> {
        let mut request = self.client.encrypt().key_id(&self.key_id).plaintext(Blob::new(clear));
        for (name, value) in context.pairs() {
            request = request.encryption_context(name, value);
        }
        let output = request.send().await.map_err(|e| CipherError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        let blob =
            output.ciphertext_blob().ok_or_else(|| CipherError::Unavailable("KMS returned no ciphertext".into()))?;
        Ok(Ciphertext::from_bytes(blob.as_ref().to_vec()))
    }

    async fn open_bytes(&self, ciphertext: &Ciphertext, context: TokenContext<'_>) -> Result<Vec<u8>, CipherError> {
        let mut request = self.client.decrypt().key_id(&self.key_id).ciphertext_blob(Blob::new(ciphertext.as_bytes()));
        for (name, value) in context.pairs() {
            request = request.encryption_context(name, value);
        }
        let output = request.send().await.map_err(|e| match e.as_service_error() {
            Some(s) if s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception() => CipherError::Refused,
            _ => CipherError::Unavailable(DisplayErrorContext(&e).to_string()),
        })?;
        let plain = output.plaintext().ok_or(CipherError::Refused)?;
        Ok(plain.as_ref().to_vec())
    }
}
